"""The bare baseline: a `websockets` server that relays every frame it receives to all connected
listeners, nothing else (no auth, no channel layer, no database, no per-socket queue).

    python bench/ws_bare_broadcaster.py PORT

Listeners connect to `/`; senders connect to `/send` and only send (a sender is not a listener,
as the portal's HTTP sender is not a socket of the room).

Same event loop as the portal's uvicorn (uvloop when installed), the websockets library's
defaults otherwise, and like the portal (bench/_common.py PORTAL_SERVER_ARGS) no permessage-deflate,
so both do the same work per frame.
"""

import asyncio
import sys

from websockets.asyncio.server import broadcast, serve

CLIENTS = set()


async def handler(ws):
    if ws.request.path.startswith("/send"):
        async for message in ws:
            broadcast(CLIENTS, message)
        return
    await listen(ws)


async def listen(ws):
    """A listener: gets every frame relayed until it goes away."""
    CLIENTS.add(ws)
    try:
        await ws.wait_closed()
    finally:
        CLIENTS.discard(ws)


async def main(port):
    async with serve(handler, "127.0.0.1", port, max_size=2**22, backlog=2048, compression=None) as server:
        await server.serve_forever()


def run_loop(coroutine):
    """Runs on uvloop when installed, as the portal's uvicorn does."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


if __name__ == "__main__":
    run_loop(main(int(sys.argv[1])))
