"""One client process of the ws_fanout harness: holds its share of a room's sockets and times deliveries.

The same harness measures the portal and the bare broadcaster. It talks to bench/ws_fanout.py
in JSON lines:

    stdin  {"urls": [...], "hello": true, "connect_concurrency": 50}   first line: whom to connect
    stdout {"event": "ready", "connected": N, "failed": 0, "connect_s": 1.2}
    stdin  {"cmd": "wait", "phase": "s", "expect": 200, "timeout": 30}
    stdout {"event": "waited", "phase": "s", "count": ..., "want": ...}     every socket has 200, or timed out
    stdin  {"cmd": "dump", "settle": 2, "timeout": 15}
    stdout {"event": "dump", "phases": {"s": {"idx": [...], "lat_us": [...], ...}}, "closed": [...]}
    stdin  {"cmd": "quit"}

"dump" first waits until nothing has arrived for `settle` seconds, so late deliveries count
(with their latency) instead of being reported missing.

A timed message carries `b|<phase>|<index>|<send time_ns>|` at the start of its body; a socket
records `time.time_ns()` the moment its read loop gets the frame (same machine, same clock as
the sender) and pulls the send time out of the raw text without parsing the JSON, so the
harness spends as little as possible per delivery. "hello" (portal only): a socket counts as
connected once the server's hello frame arrived, i.e. after it joined its room groups.
"""

import asyncio
import json
import time

from _client import emit, run, serve_commands, stdin_lines
from websockets.asyncio.client import connect

MARK = '"body":"b|'
MARK_LEN = len(MARK)


class Phase:
    __slots__ = ("idx", "lat_us", "first_ns", "last_ns", "count")

    def __init__(self):
        self.idx, self.lat_us, self.first_ns, self.last_ns, self.count = [], [], None, None, 0


class Harness:
    def __init__(self, config):
        self.urls = config["urls"]
        self.wait_hello = config.get("hello", False)
        self.concurrency = asyncio.Semaphore(config.get("connect_concurrency", 50))
        self.phases = {}
        self.connected = 0
        self.failed = []
        self.closed = []  # (socket number, close code) of sockets that ended while we listened
        self.sockets = []
        self.ready_count = 0
        self.all_ready = asyncio.Event()

    def record(self, text, now):
        i = text.find(MARK)
        if i < 0:
            return
        i += MARK_LEN
        j = text.index("|", i)
        k = text.index("|", j + 1)
        m = text.index("|", k + 1)
        phase = self.phases.get(text[i:j])
        if phase is None:
            phase = self.phases[text[i:j]] = Phase()
        phase.idx.append(int(text[j + 1:k]))
        phase.lat_us.append((now - int(text[k + 1:m])) // 1000)
        if phase.first_ns is None:
            phase.first_ns = now
        phase.last_ns = now
        phase.count += 1

    def _settled(self):
        self.ready_count += 1
        if self.ready_count == len(self.urls):
            self.all_ready.set()

    async def run_socket(self, number, url):
        ws = None
        try:
            async with self.concurrency:
                ws = await connect(url, proxy=None, open_timeout=60, max_queue=256, max_size=2**22)
                if self.wait_hello:
                    first = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if first.get("type") != "hello":
                        raise RuntimeError(f"expected hello, got {first.get('type')}")
            self.sockets.append(ws)
            self.connected += 1
        except Exception as exc:
            self.failed.append(f"{type(exc).__name__}: {exc}"[:200])
            self._settled()
            if ws is not None:
                await ws.close()
            return
        self._settled()
        record = self.record
        clock = time.time_ns
        try:
            async for text in ws:
                record(text, clock())
        except Exception:
            pass
        self.closed.append((number, ws.close_code))

    async def wait(self, phase_name, expect, timeout):
        """Waits until every socket got `expect` messages of the phase, or the timeout."""
        want = expect * self.connected
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            phase = self.phases.get(phase_name)
            if phase is not None and phase.count >= want:
                break
            await asyncio.sleep(0.01)
        phase = self.phases.get(phase_name)
        return {"event": "waited", "phase": phase_name, "count": phase.count if phase else 0, "want": want}

    async def dump(self, settle, timeout):
        deadline = time.monotonic() + timeout
        total = -1
        while time.monotonic() < deadline:
            now_total = sum(p.count for p in self.phases.values())
            if now_total == total:
                break
            total = now_total
            await asyncio.sleep(settle)
        phases = {name: {"idx": p.idx, "lat_us": p.lat_us, "first_ns": p.first_ns, "last_ns": p.last_ns, "count": p.count}
                  for name, p in self.phases.items()}
        return {"event": "dump", "phases": phases, "closed": self.closed[:20], "n_closed": len(self.closed)}


async def main():
    reader = await stdin_lines(2**26)
    config = json.loads(await reader.readline())
    harness = Harness(config)
    started = time.monotonic()
    tasks = [asyncio.create_task(harness.run_socket(n, url)) for n, url in enumerate(harness.urls)]
    await harness.all_ready.wait()
    emit({"event": "ready", "connected": harness.connected, "failed": len(harness.failed),
          "errors": harness.failed[:5], "connect_s": round(time.monotonic() - started, 3)})
    await serve_commands(reader, {
        "wait": lambda c: harness.wait(c["phase"], c["expect"], c["timeout"]),
        "dump": lambda c: harness.dump(c["settle"], c["timeout"]),
    })
    closing = [asyncio.create_task(ws.close()) for ws in harness.sockets]
    if closing:
        await asyncio.wait(closing, timeout=5)
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    run(main)
