"""The socket side of the stock benchmark's alert latency: one websocket, timing `alert` frames.

The same client measures the portal (/ws/t/<tenant>/?token=KEY as a supplier rep) and the bare
baseline (bench/stock_bare_app.py). It talks to bench/stock.py in JSON lines:

    stdin  {"url": "ws://...", "hello": true}                      first line: where to connect
    stdout {"event": "ready", "connect_s": 0.05}
    stdin  {"cmd": "collect", "keys": ["LAT-00001", ...], "timeout": 10}
    stdout {"event": "collected", "arrivals": {"LAT-00001": <time_ns>, ...}, "frames": {...}, "closed": null}
    stdin  {"cmd": "quit"}

An alert frame is keyed by its subject (`{"subject": {"kind": "sku", "id": CODE}}`): the SKU the
movement was posted for. The arrival time is `time.time_ns()` taken as the read loop gets the
frame, before parsing it (same machine and clock as the sender's POST start).
"""

import asyncio
import json
import time

from _client import emit, run, serve_commands, stdin_lines
from websockets.asyncio.client import connect

ALERT_MARK = '"type":"alert"'


class Listener:
    def __init__(self):
        self.arrivals = {}
        self.frames = {}
        self.close_code = None

    async def run(self, ws):
        clock = time.time_ns
        try:
            async for text in ws:
                now = clock()
                if ALERT_MARK in text:
                    frame = json.loads(text)
                    subject = frame.get("subject") or {}
                    self.arrivals.setdefault(subject.get("id"), now)
                    kind = "alert"
                else:
                    kind = json.loads(text).get("type", "?")
                self.frames[kind] = self.frames.get(kind, 0) + 1
        except Exception:
            pass
        self.close_code = ws.close_code

    async def collect(self, keys, timeout):
        deadline = time.monotonic() + timeout
        while any(k not in self.arrivals for k in keys) and time.monotonic() < deadline and self.close_code is None:
            await asyncio.sleep(0.005)
        found = {k: self.arrivals.pop(k) for k in keys if k in self.arrivals}
        return {"event": "collected", "arrivals": found, "frames": dict(self.frames), "closed": self.close_code}


async def main():
    reader = await stdin_lines(2**24)
    config = json.loads(await reader.readline())
    started = time.monotonic()
    ws = await connect(config["url"], proxy=None, open_timeout=30, max_size=2**22)
    if config.get("hello"):
        first = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if first.get("type") != "hello":
            raise RuntimeError(f"expected hello, got {first.get('type')}")
    listener = Listener()
    task = asyncio.create_task(listener.run(ws))
    emit({"event": "ready", "connect_s": round(time.monotonic() - started, 3)})
    await serve_commands(reader, {"collect": lambda c: listener.collect(c["keys"], c["timeout"])})
    await ws.close()
    task.cancel()


if __name__ == "__main__":
    run(main)
