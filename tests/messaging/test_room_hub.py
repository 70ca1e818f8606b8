"""The process's room hub: one channel-layer subscription per room, frames handed to the local
sockets in seq order, gaps read from the database once per process and filtered per socket."""

import asyncio
import os

import pytest
from channels.layers import get_channel_layer

import realtime
from realtime import hub as hub_module
from realtime.hub import RoomHub
from tests.messaging.helpers import post
from tests.messaging.test_sockets import a_room, connect, in_db_thread, nothing_arrives

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def held_publishes(monkeypatch):
    """Room publishes are kept here instead of sent, so a test can deliver them as it likes."""
    held = []
    original = realtime._group_send

    def group_send(group, event, urgent=False):
        if group.startswith("room."):
            held.append((group, event))
        else:
            original(group, event, urgent=urgent)

    monkeypatch.setattr(realtime, "_group_send", group_send)
    return held


@pytest.fixture
def gap_reads(monkeypatch):
    calls = []
    original = hub_module._load_events

    async def load_events(room_id, after, upto):
        calls.append((room_id, after, upto))
        return await original(room_id, after, upto)

    monkeypatch.setattr(hub_module, "_load_events", load_events)
    return calls


async def _sockets_past_a_first_message(held_publishes):
    """A buyer's and the supplier rep's sockets in sup-a's room, both past one delivered message
    (so the hub knows the room's head)."""
    room = await a_room("acme", "sup-a")
    buyer, rep = await connect("acme.buyer"), await connect("supa.rep")
    await in_db_thread(post)("acme.buyer", room, "warm-up")
    (group, warm), = held_publishes
    await get_channel_layer().group_send(group, warm)
    for c in (buyer, rep):
        assert (await c.receive_json_from(timeout=5))["body"] == "warm-up"
    held_publishes.clear()
    return room, group, buyer, rep


async def test_the_process_joins_a_room_once_and_leaves_with_its_last_socket(demo_tx):
    room = await a_room("acme", "sup-a")
    buyer, rep = await connect("acme.buyer"), await connect("supa.rep")
    hub = RoomHub.of_loop()
    assert hub.rooms[room.pk].sockets and len(hub.rooms[room.pk].sockets) == 2
    await buyer.disconnect()
    assert len(hub.rooms[room.pk].sockets) == 1
    await rep.disconnect()
    assert room.pk not in hub.rooms


async def test_out_of_order_publishes_are_handed_out_in_seq_order_without_a_database_read(
    demo_tx, held_publishes, gap_reads
):
    room, group, buyer, rep = await _sockets_past_a_first_message(held_publishes)
    layer = get_channel_layer()

    await in_db_thread(post)("acme.buyer", room, "first")
    await in_db_thread(post)("acme.buyer", room, "second")
    (_g1, first), (_g2, second) = held_publishes
    await layer.group_send(group, second)  # the later commit's publish overtakes the earlier one
    await layer.group_send(group, first)
    for c in (buyer, rep):
        got = [await c.receive_json_from(timeout=5) for _ in range(2)]
        assert [f["body"] for f in got] == ["first", "second"]
        assert got[1]["seq"] == got[0]["seq"] + 1
        assert await nothing_arrives(c)
    assert gap_reads == []
    await buyer.disconnect()
    await rep.disconnect()


async def test_a_lost_publish_is_read_once_for_the_process_and_filtered_per_socket(demo_tx, held_publishes, gap_reads):
    room, group, buyer, rep = await _sockets_past_a_first_message(held_publishes)
    layer = get_channel_layer()

    await in_db_thread(post)("acme.buyer", room, "lost chat")
    await in_db_thread(post)("acme.buyer", room, "lost internal note CANARY-5512", internal=True)
    await in_db_thread(post)("acme.buyer", room, "arrives")
    await layer.group_send(group, held_publishes[-1][1])  # only the last publish ever arrives

    buyer_got = [await buyer.receive_json_from(timeout=5) for _ in range(3)]
    assert [f["body"] for f in buyer_got] == ["lost chat", "lost internal note CANARY-5512", "arrives"]
    rep_got = [await rep.receive_json_from(timeout=5) for _ in range(2)]
    assert [f["body"] for f in rep_got] == ["lost chat", "arrives"]  # never the internal note
    assert await nothing_arrives(rep) and await nothing_arrives(buyer)
    assert len(gap_reads) == 1  # one read for both sockets
    await buyer.disconnect()
    await rep.disconnect()


class _Socket:
    """Stands in for a consumer: records what the hub hands it."""

    def __init__(self):
        self.got = []

    def hub_message(self, event):
        self.got.append(event["seq"])

    def hub_read(self, event):
        pass


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: the layers under test are Redis's")
@pytest.mark.parametrize("backend", ["channels_redis.core.RedisChannelLayer", "channels_redis.pubsub.RedisPubSubChannelLayer"])
async def test_the_hub_receives_on_both_redis_layers(backend, settings):
    """The core layer reads a process's own channels from one queue named by the layer's default
    prefix; a hub channel with another prefix would never be read there."""
    import uuid

    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": {
        "hosts": [os.environ["REDIS_URL"]], "prefix": f"hubtest{uuid.uuid4().hex[:8]}"}}}
    channel_layers.backends.clear()
    try:
        hub, socket = RoomHub(), _Socket()
        layer = hub.layer
        # A socket's own channel receiving first, as in a server process.
        consumer_channel = await layer.new_channel()
        consumer = asyncio.create_task(layer.receive(consumer_channel))
        await asyncio.sleep(0.05)
        await hub.join(4242, socket)
        for seq in (1, 2, 3):
            await layer.group_send(realtime.room_group(4242), {"type": "room.message", "room": 4242, "seq": seq})
        for _ in range(20):  # within a second (a channel read in turn with the others waits ~5 s)
            if len(socket.got) == 3:
                break
            await asyncio.sleep(0.05)
        assert socket.got == [1, 2, 3]
        await hub.leave(4242, socket)
        hub.reader.cancel()
        consumer.cancel()
    finally:
        channel_layers.backends.clear()


async def test_a_message_published_in_this_process_reaches_its_sockets_without_the_layer(demo_tx, monkeypatch):
    """The server loop's publisher publishes a room message for every process, then hands it to this
    process's hub without waiting for the layer to bring it back; that copy is then dropped (by seq).
    Another partner's socket hears nothing of it either way."""
    room = await a_room("acme", "sup-a")
    buyer, rep, other = await connect("acme.buyer"), await connect("supa.rep"), await connect("supb.rep")
    layer = get_channel_layer()
    deliver_through_layer = layer.group_send
    held = []

    async def group_send(group, event):  # the layer's delivery is held back
        held.append((group, event))

    monkeypatch.setattr(layer, "group_send", group_send)
    saved_loop = realtime.server_loop()
    realtime.set_server_loop(asyncio.get_running_loop())
    try:
        await in_db_thread(post)("acme.buyer", room, "本地直达")
        for socket in (buyer, rep):
            frame = await socket.receive_json_from(timeout=5)
            assert (frame["type"], frame["seq"], frame["body"]) == ("message", 1, "本地直达")
        assert await nothing_arrives(other)
        (group, event), = held  # it was still published, for the other processes
        assert group == realtime.room_group(room.pk)
        await deliver_through_layer(group, event)
        for socket in (buyer, rep, other):
            assert await nothing_arrives(socket)
    finally:
        realtime.set_server_loop(saved_loop)
    for socket in (buyer, rep, other):
        await socket.disconnect()
