"""What the benchmarks' socket-client processes share: JSON lines in on stdin (a config line, then
commands), JSON lines out on stdout, and the same event loop as the server (uvloop when installed)."""

import asyncio
import json
import sys


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def stdin_lines(limit):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def serve_commands(reader, handlers):
    """Answers each command line {"cmd": name, ...} with `await handlers[name](command)` until
    "quit" or the end of input."""
    while True:
        line = await reader.readline()
        if not line:
            return
        command = json.loads(line)
        if command["cmd"] == "quit":
            return
        emit(await handlers[command["cmd"]](command))


def run(main):
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
