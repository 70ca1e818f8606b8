"""The socket side through real server processes: two uvicorn servers sharing a private Redis (which
these tests stop and start; never the shared one) and a throwaway database.

- A sync thousands of messages behind, read at a normal pace, gets all of it, live messages after.
- A client that stops reading is cut off (4408) and gets everything when it reconnects and syncs.
- While Redis is down a new socket is refused with 1013, not a 500; a quiet room on one server gets
  what was posted on the other during and after the outage, within a few seconds.
"""

import asyncio
import json
import shutil
import socket
import tempfile
import time
import urllib.request

import pytest
import websockets

from tests.realtime.servers import DEMO_PASSWORD, PrivateRedis, Servers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (a private one is started)"),
]


@pytest.fixture(scope="module")
def private_redis():
    directory = tempfile.mkdtemp(prefix="scm-redis-")
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        if server.running():
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def servers(private_redis):
    running = Servers(private_redis.url).start()
    try:
        yield running
    finally:
        running.stop()


def http_json(method, url, body=None, token=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def world(servers):
    a = servers.hosts[0]
    tokens = {name: http_json("POST", f"http://{a}/api/v1/auth/token/", {"username": name, "password": DEMO_PASSWORD})["token"]
              for name in ["acme.buyer", "acme.warehouse", "supa.rep", "supb.rep"]}
    rooms = http_json("GET", f"http://{a}/api/v1/t/acme/rooms/", token=tokens["acme.buyer"])
    by_partner = {r["partner"]["organization"]: r["id"] for r in rooms if r.get("partner")}
    return {"tokens": tokens, "sup-a": by_partner["sup-a"], "sup-b": by_partner["sup-b"]}


def ws_url(host, token):
    return f"ws://{host}/ws/t/acme/?token={token}"


async def receive(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def hello(ws):
    frame = await receive(ws)
    assert frame["type"] == "hello", frame
    return frame


async def messages_until(ws, room, last_seq, timeout=30, synced=False):
    """The room's message frames until `last_seq` (and, with `synced`, the room's synced frame), with
    every other frame kept apart."""
    got, others = [], []
    deadline = time.monotonic() + timeout
    while not got or got[-1]["seq"] < last_seq or (synced and not any(f["type"] == "synced" for f in others)):
        frame = await receive(ws, timeout=max(0.1, deadline - time.monotonic()))
        if frame["type"] == "message" and frame["room"] == room:
            got.append(frame)
        else:
            others.append(frame)
    return got, others


def room_head(servers, world, room):
    page = http_json("GET", f"http://{servers.hosts[0]}/api/v1/t/acme/rooms/?page_size=100", token=world["tokens"]["acme.buyer"])
    rows = page.get("results", page) if isinstance(page, dict) else page
    return next(r["last_seq"] for r in rows if r["id"] == room)


def add_backlog(servers, room, count):
    out = servers.manage_shell(f"from tests.realtime.helpers import backlog; print(backlog({room}, {count}, 'acme.warehouse'))")
    return int(out.strip().splitlines()[-1])


async def drain(ws, until_closed=True):
    """Reads everything a socket gets (a client that keeps up) and returns the message frames."""
    got = []
    try:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "message":
                got.append(frame)
    except websockets.ConnectionClosed:
        return got


# --- a sync thousands behind -------------------------------------------------------------------------

@pytest.mark.parametrize("behind", [2000, 5000])
def test_a_sync_thousands_behind_read_at_a_normal_pace_gets_the_backlog_then_the_live_messages(servers, world, behind):
    a, b = servers.hosts
    tokens, room = world["tokens"], world["sup-a"]
    start = room_head(servers, world, room)
    head = add_backlog(servers, room, behind)
    assert head == start + behind
    live = 30

    async def scenario():
        async with websockets.connect(ws_url(a, tokens["supa.rep"])) as reader, \
                websockets.connect(ws_url(b, tokens["acme.buyer"])) as poster:
            await hello(reader)
            await hello(poster)
            posting = asyncio.ensure_future(drain(poster))
            await reader.send(json.dumps({"type": "sync", "room": room, "after_seq": start}))
            for i in range(live):  # posted on the other server while the sync runs
                await poster.send(json.dumps({"type": "send", "room": room, "body": f"live {i}", "client_id": f"l-{behind}-{i}"}))
                if i % 10 == 0:
                    await asyncio.sleep(0.05)
            got, others = await messages_until(reader, room, head + live, timeout=60, synced=True)
            await poster.close()
            await posting
            return got, others

    got, others = asyncio.run(scenario())
    assert [m["seq"] for m in got] == list(range(start + 1, head + live + 1))  # gapless, in order, once each
    assert [m["body"] for m in got[-live:]] == [f"live {i}" for i in range(live)]
    assert not [f for f in others if f["type"] in ("resync", "error")]
    assert [f["type"] for f in others].count("synced") == 1


# --- a client that stops reading ---------------------------------------------------------------------

def test_a_client_that_stops_reading_is_cut_off_and_gets_everything_when_it_reconnects_and_syncs(servers, world):
    a, b = servers.hosts
    tokens, room = world["tokens"], world["sup-a"]
    start = room_head(servers, world, room)
    # Frames of about 18 KB: the kernel's socket buffers (up to 4 MB here) hold a couple of hundred,
    # the socket's send queue 1,000 more; the rest overflows it.
    total, senders = 1600, 4
    body = "满载 " + "x" * 9000

    async def scenario():
        # A client whose socket buffer is tiny and who reads nothing after its hello.
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        host, port = a.split(":")
        raw.connect((host, int(port)))
        stalled = await websockets.connect(ws_url(a, tokens["supa.rep"]), sock=raw, max_queue=1, ping_interval=None)
        await hello(stalled)
        posters = [await websockets.connect(ws_url(b, tokens["acme.buyer"]), max_queue=None) for _ in range(senders)]
        for poster in posters:
            await hello(poster)
        readers = [asyncio.ensure_future(drain(p)) for p in posters]
        for n, poster in enumerate(posters):
            for i in range(total // senders):
                await poster.send(json.dumps({"type": "send", "room": room, "body": body, "client_id": f"s-{n}-{i}"}))
        # Every fast client gets all of them while the stalled one holds nobody up.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if room_head(servers, world, room) >= start + total:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        for poster in posters:
            await poster.close()
        fast = await readers[0]
        # The stalled client reads again: what was buffered for it, then the close code.
        got = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                frame = json.loads(await asyncio.wait_for(stalled.recv(), 10))
                if frame["type"] == "message":
                    got.append(frame["seq"])
        # It reconnects and syncs from the last seq it has.
        last = got[-1] if got else start
        async with websockets.connect(ws_url(a, tokens["supa.rep"])) as again:
            await hello(again)
            await again.send(json.dumps({"type": "sync", "room": room, "after_seq": last}))
            rest, _others = await messages_until(again, room, start + total, timeout=30)
        return fast, got, closed.value, rest

    fast, got, closed, rest = asyncio.run(scenario())
    assert [m["seq"] for m in fast] == list(range(start + 1, start + total + 1))
    assert closed.rcvd is not None and (closed.rcvd.code, closed.rcvd.reason) == (4408, "slow consumer: reconnect and sync")
    assert got == list(range(start + 1, start + 1 + len(got)))  # what it got before the cut, in order
    assert len(got) < total  # bounded: the queue and the buffers, not everything
    assert [m["seq"] for m in rest] == list(range(start + len(got) + 1, start + total + 1))


# --- Redis goes away and comes back ----------------------------------------------------------------

def test_a_quiet_room_on_the_other_server_gets_what_was_posted_during_and_after_a_redis_outage(servers, world, private_redis):
    a, b = servers.hosts
    tokens, room = world["tokens"], world["sup-b"]

    async def scenario():
        async with websockets.connect(ws_url(a, tokens["acme.buyer"])) as poster, \
                websockets.connect(ws_url(b, tokens["supb.rep"])) as reader:
            await hello(poster)
            await hello(reader)
            await asyncio.sleep(0.5)  # the subscriptions reach Redis
            head = http_json("GET", f"http://{a}/api/v1/t/acme/rooms/{room}/messages/?after_seq=0",
                             token=tokens["acme.buyer"])
            start = max([m["seq"] for m in head.get("results", head)] or [0])

            private_redis.stop()
            # A new socket while Redis is down: refused cleanly, with "try again later".
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with websockets.connect(ws_url(b, tokens["supa.rep"])) as refused:
                    await receive(refused, timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            # A post on server A during the outage reaches the quiet room's socket on server B.
            await poster.send(json.dumps({"type": "send", "room": room, "body": "during the outage 断线中", "client_id": "o-1"}))
            sent = time.monotonic()
            got, _ = await messages_until(reader, room, start + 1, timeout=8)
            assert [(m["seq"], m["body"]) for m in got] == [(start + 1, "during the outage 断线中")]
            during = time.monotonic() - sent

            private_redis.start()
            await poster.send(json.dumps({"type": "send", "room": room, "body": "after the outage 恢复后", "client_id": "o-2"}))
            sent = time.monotonic()
            got, _ = await messages_until(reader, room, start + 2, timeout=8)
            assert [(m["seq"], m["body"]) for m in got] == [(start + 2, "after the outage 恢复后")]
            after = time.monotonic() - sent
            # ... and live delivery through Redis works again, to the old socket (its server's
            # subscription came back by itself) and to a new one: well under a head check's period.
            await asyncio.sleep(3)
            async with websockets.connect(ws_url(b, tokens["acme.warehouse"])) as fresh:
                await hello(fresh)
                await asyncio.sleep(0.5)
                await poster.send(json.dumps({"type": "send", "room": room, "body": "live again", "client_id": "o-3"}))
                sent = time.monotonic()
                got, _ = await messages_until(fresh, room, start + 3, timeout=5)
                assert got[-1]["body"] == "live again"
                got, _ = await messages_until(reader, room, start + 3, timeout=5)
                assert [m["seq"] for m in got] == [start + 3]
                assert time.monotonic() - sent < 1
        return during, after

    during, after = asyncio.run(scenario())
    assert during < 5 and after < 5, (during, after)
    log = servers.log_text()
    assert "Exception in ASGI application" not in log and " 500" not in log, log[-3000:]
