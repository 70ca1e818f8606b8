"""A client that stops reading is cut off within a bounded queue and time, with the close code and
reason that tell it to reconnect and sync; the server keeps no more than the queue for it."""

import asyncio

import pytest

from realtime import consumers
from realtime.hub import RoomHub
from tests.messaging.helpers import post
from tests.messaging.test_sockets import a_room, connect, in_db_thread
from tests.realtime.helpers import backlog

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stalled(monkeypatch):
    """supa.rep's client reads its hello, then nothing: every later send to it waits forever."""
    never = asyncio.Event()
    original = consumers.TenantSocketConsumer._send_text
    deepest = {"n": 0}

    async def send_text(self, text):
        if self.user.username == "supa.rep" and '"type":"hello"' not in text:
            deepest["n"] = max(deepest["n"], self.queue.qsize())
            await never.wait()
        return await original(self, text)

    monkeypatch.setattr(consumers.TenantSocketConsumer, "_send_text", send_text)
    return deepest


def rep_socket(room_id):
    return next(s for s in RoomHub.of_loop().rooms[room_id].sockets if s.user.username == "supa.rep")


async def test_live_traffic_to_a_stalled_client_fills_its_queue_and_it_is_closed_4408(demo_tx, stalled, monkeypatch):
    monkeypatch.setattr(consumers, "SEND_QUEUE_MAX", 20)
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")
    socket = rep_socket(room.pk)
    depths = []

    @in_db_thread
    def burst():
        for i in range(60):
            post("acme.warehouse", room, f"burst {i}")

    poster = asyncio.ensure_future(burst())
    while not poster.done():
        depths.append(socket.queue.qsize())
        await asyncio.sleep(0.005)
    output = await rep.receive_output(timeout=5)
    assert (output["type"], output["code"], output["reason"]) == ("websocket.close", 4408, "slow consumer: reconnect and sync")
    assert max(depths) <= 20  # never more than the queue, however much more was sent
    assert socket.queue.qsize() == 0 and socket.closing  # what was queued is dropped; nothing more is queued
    for i in range(5):
        await in_db_thread(post)("acme.warehouse", room, f"after {i}")
    assert socket.queue.qsize() == 0


async def test_a_sync_to_a_client_that_stops_reading_is_cut_off_in_bounded_time(demo_tx, stalled, monkeypatch):
    monkeypatch.setattr(consumers, "SEND_QUEUE_MAX", 100)
    monkeypatch.setattr(consumers, "SYNC_STALL_SECONDS", 0.5)
    room = await a_room("acme", "sup-a")
    await in_db_thread(backlog)(room.pk, 1000, "acme.buyer")
    rep = await connect("supa.rep")
    socket = rep_socket(room.pk)
    started = asyncio.get_running_loop().time()
    await rep.send_json_to({"type": "sync", "room": room.pk, "after_seq": 0})
    output = await rep.receive_output(timeout=5)
    assert (output["type"], output["code"]) == ("websocket.close", 4408)
    assert asyncio.get_running_loop().time() - started < 3
    assert stalled["n"] <= 50  # the sync filled half the queue at most, then waited for the client
    assert socket.queue.qsize() == 0
