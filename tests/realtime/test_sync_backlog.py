"""A sync far behind is paged from the database with back-pressure: a client that reads at a normal
pace gets the whole backlog in order, and the live messages posted meanwhile follow it, each once,
with no gap (seq on the wire is 1, 2, 3, ... for the room)."""

import asyncio
import threading

import pytest

from realtime import consumers
from tests.messaging.helpers import post
from tests.messaging.test_sockets import a_room, connect, in_db_thread, nothing_arrives
from tests.realtime.helpers import backlog

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reading_pace(monkeypatch):
    """The client reads at a normal pace: the server's send to it takes a moment now and then, as a
    real connection's does when its buffer is full (the test client's own never is)."""
    original = consumers.TenantSocketConsumer._send_text
    sent = {"n": 0}

    async def send_text(self, text):
        sent["n"] += 1
        if sent["n"] % 50 == 0:
            await asyncio.sleep(0.002)
        return await original(self, text)

    monkeypatch.setattr(consumers.TenantSocketConsumer, "_send_text", send_text)


async def room_frames_until_done(communicator, room_id, expected_last, timeout=60):
    """Every frame until the room's messages reach `expected_last` and `synced` came; fails on a close."""
    messages, synced, others = [], None, []
    deadline = asyncio.get_running_loop().time() + timeout
    while synced is None or not messages or messages[-1]["seq"] < expected_last:
        output = await communicator.receive_output(timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
        assert output["type"] == "websocket.send", f"the socket was closed: {output}"
        import json

        frame = json.loads(output["text"])
        if frame["type"] == "message" and frame["room"] == room_id:
            messages.append(frame)
        elif frame["type"] == "synced" and frame["room"] == room_id:
            synced = frame
        else:
            others.append(frame)
    return messages, synced, others


@pytest.mark.parametrize("behind", [2000, 5000])
async def test_a_client_thousands_behind_gets_the_backlog_and_the_live_messages_in_order(demo_tx, reading_pace, behind):
    room = await a_room("acme", "sup-a")
    head = await in_db_thread(backlog)(room.pk, behind, "acme.buyer")
    rep = await connect("supa.rep")

    live_count, posting_done = 40, threading.Event()

    @in_db_thread
    def post_live():
        for i in range(live_count):
            post("acme.warehouse", room, f"live {i}")
        posting_done.set()

    await rep.send_json_to({"type": "sync", "room": room.pk, "after_seq": 0})
    poster = asyncio.ensure_future(post_live())
    messages, synced, others = await room_frames_until_done(rep, room.pk, head + live_count)
    await poster
    seqs = [m["seq"] for m in messages]
    assert seqs == list(range(1, head + live_count + 1))  # gapless, in order, each once
    assert [m["body"] for m in messages[:behind]] == [f"backlog {i}" for i in range(behind)]
    assert [m["body"] for m in messages[behind:]] == [f"live {i}" for i in range(live_count)]
    assert synced["last_seq"] >= head
    assert not [f for f in others if f["type"] in ("resync", "error")]
    assert await nothing_arrives(rep)
    await rep.disconnect()


async def test_a_sync_never_fills_the_send_queue_past_its_share(demo_tx, monkeypatch):
    """The queue keeps room for live frames: the sync waits for the writer rather than fill it."""
    monkeypatch.setattr(consumers, "SEND_QUEUE_MAX", 100)
    room = await a_room("acme", "sup-a")
    head = await in_db_thread(backlog)(room.pk, 600, "acme.buyer")
    original = consumers.TenantSocketConsumer._send_text
    deepest = {"n": 0}

    async def send_text(self, text):
        deepest["n"] = max(deepest["n"], self.queue.qsize())
        await asyncio.sleep(0.0005)
        return await original(self, text)

    monkeypatch.setattr(consumers.TenantSocketConsumer, "_send_text", send_text)
    rep = await connect("supa.rep")
    await rep.send_json_to({"type": "sync", "room": room.pk, "after_seq": 0})
    messages, _synced, _others = await room_frames_until_done(rep, room.pk, head)
    assert [m["seq"] for m in messages] == list(range(1, head + 1))
    assert 0 < deepest["n"] <= 50
    await rep.disconnect()


async def test_other_frames_are_answered_while_a_long_sync_runs(demo_tx, reading_pace):
    room = await a_room("acme", "sup-a")
    head = await in_db_thread(backlog)(room.pk, 3000, "acme.buyer")
    rep = await connect("supa.rep")
    await rep.send_json_to({"type": "sync", "room": room.pk, "after_seq": 0})
    await rep.send_json_to({"type": "ping"})
    import json

    seen = 0
    while True:
        frame = json.loads((await rep.receive_output(timeout=10))["text"])
        if frame["type"] == "pong":
            break
        seen += frame["type"] == "message"
    assert seen < head  # the pong did not wait for the whole backlog
    messages, _synced, _others = await room_frames_until_done(rep, room.pk, head)
    assert messages[-1]["seq"] == head
    await rep.disconnect()


async def test_a_flood_of_syncs_is_answered_a_few_at_a_time(demo_tx):
    """Syncs run beside the socket's other frames, but never more than a few at once: a client that
    sends hundreds gets them all answered, in order, without the server taking them all on at once."""
    from realtime.hub import RoomHub

    room = await a_room("acme", "sup-a")
    head = await in_db_thread(backlog)(room.pk, 300, "acme.buyer")
    rep = await connect("supa.rep")
    socket = next(s for s in RoomHub.of_loop().rooms[room.pk].sockets if s.user.username == "supa.rep")
    for _ in range(40):
        await rep.send_json_to({"type": "sync", "room": room.pk, "after_seq": head - 5})
    await rep.send_json_to({"type": "ping"})
    busiest, synced, pong = 0, 0, False
    while synced < 40 or not pong:
        busiest = max(busiest, sum(not t.done() for t in socket.tasks))
        frame = await rep.receive_json_from(timeout=10)
        synced += frame["type"] == "synced"
        pong = pong or frame["type"] == "pong"
        if frame["type"] == "message":
            assert head - 5 < frame["seq"] <= head
    assert busiest <= consumers.SYNCS_AT_ONCE + 1  # the syncs and the writer
    await rep.disconnect()
