"""A publish that never arrives (Redis down or restarting, a dropped message) in a quiet room: no later
message reveals the gap, so each process checks the heads of the rooms it serves every few seconds
and delivers what it missed from the database."""

import asyncio
import json

import pytest

import realtime
from realtime import hub as hub_module
from tests.messaging.helpers import post
from tests.messaging.test_sockets import a_room, connect, in_db_thread, nothing_arrives
from tests.realtime.helpers import backlog

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lost_publishes(monkeypatch):
    """Every room publish is lost (what Redis being down does to them)."""
    lost = []
    original = realtime._group_send

    def group_send(group, event, urgent=False):
        if group.startswith("room."):
            lost.append(event)
        else:
            original(group, event, urgent=urgent)

    monkeypatch.setattr(realtime, "_group_send", group_send)
    return lost


@pytest.fixture
def quick_head_checks(monkeypatch):
    monkeypatch.setattr(hub_module, "HEAD_CHECK_SECONDS", 0.2)


async def test_a_lost_publish_in_a_quiet_room_arrives_from_the_head_check(demo_tx, lost_publishes, quick_head_checks):
    room = await a_room("acme", "sup-a")
    await in_db_thread(post)("acme.buyer", room, "before anyone connected")
    buyer, rep, other = await connect("acme.buyer"), await connect("supa.rep"), await connect("supb.rep")
    await in_db_thread(post)("acme.warehouse", room, "CANARY-lost 没有发布")
    await in_db_thread(post)("acme.warehouse", room, "内部 lost note", internal=True)
    assert len(lost_publishes) == 3
    buyer_got = [await buyer.receive_json_from(timeout=3) for _ in range(2)]
    assert [(f["seq"], f["body"]) for f in buyer_got] == [(2, "CANARY-lost 没有发布"), (3, "内部 lost note")]
    rep_got = await rep.receive_json_from(timeout=3)
    assert (rep_got["seq"], rep_got["body"]) == (2, "CANARY-lost 没有发布")  # never the internal note
    for socket in (buyer, rep, other):
        assert await nothing_arrives(socket, wait=0.6)  # once each, and nothing for other rooms' people
    for socket in (buyer, rep, other):
        await socket.disconnect()


async def test_a_long_run_of_lost_publishes_is_read_by_each_socket_at_its_clients_pace(
    demo_tx, lost_publishes, quick_head_checks, monkeypatch
):
    monkeypatch.setattr(hub_module, "FILL_MAX", 50)
    reads = []
    original = hub_module._load_events

    async def load_events(room_id, after, upto):
        reads.append((after, upto))
        return await original(room_id, after, upto)

    monkeypatch.setattr(hub_module, "_load_events", load_events)
    room = await a_room("acme", "sup-a")
    buyer, rep = await connect("acme.buyer"), await connect("supa.rep")
    head = await in_db_thread(backlog)(room.pk, 700, "acme.warehouse", prefix="missed")
    await in_db_thread(post)("acme.warehouse", room, "内部 after the run", internal=True)
    for socket, last in ((buyer, head + 1), (rep, head)):
        got = []
        while not got or got[-1] < last:
            frame = await socket.receive_json_from(timeout=5)
            assert frame["type"] == "message", frame
            got.append(frame["seq"])
        assert got == list(range(1, last + 1))
        assert await nothing_arrives(socket, wait=0.5)
    assert reads == []  # too many to read once for everyone: each socket paged them itself
    await buyer.disconnect()
    await rep.disconnect()


async def test_live_messages_go_on_while_a_socket_reads_what_it_missed(demo_tx, quick_head_checks, monkeypatch):
    """Messages posted while a socket pages a long gap are held and follow it: no gap, no repeat."""
    monkeypatch.setattr(hub_module, "FILL_MAX", 50)
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")
    head = await in_db_thread(backlog)(room.pk, 1500, "acme.warehouse", prefix="missed")

    @in_db_thread
    def live():
        for i in range(20):
            post("acme.buyer", room, f"live {i}")

    poster = asyncio.ensure_future(live())
    got = []
    while len(got) < head + 20:
        output = await rep.receive_output(timeout=10)
        assert output["type"] == "websocket.send", output
        got.append(json.loads(output["text"])["seq"])
    await poster
    assert got == list(range(1, head + 21))
    assert await nothing_arrives(rep, wait=0.5)
    await rep.disconnect()


async def test_the_head_check_reads_nothing_while_publishes_arrive(demo_tx, monkeypatch):
    """A busy room's head is always a little ahead of what the hub handed out (publishes in flight):
    only a room still behind what the database held at the previous check is read."""
    monkeypatch.setattr(hub_module, "HEAD_CHECK_SECONDS", 0.05)
    reads = []
    original = hub_module._load_events

    async def load_events(room_id, after, upto):
        reads.append((after, upto))
        return await original(room_id, after, upto)

    monkeypatch.setattr(hub_module, "_load_events", load_events)
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")

    @in_db_thread
    def busy():
        for i in range(60):
            post("acme.buyer", room, f"busy {i}")

    poster = asyncio.ensure_future(busy())
    got = [(await rep.receive_json_from(timeout=5))["seq"] for _ in range(60)]
    await poster
    assert got == list(range(1, 61))
    await asyncio.sleep(0.3)
    assert reads == []
    await rep.disconnect()
