"""A hand-over of frames goes to Redis as one pipeline of PUBLISH per shard, with what
channels_redis' RedisPubSubChannelLayer.group_send would publish: every member of each group gets
its frames, in the order handed over. Needs REDIS_URL (CI sets it)."""

import asyncio
import os
import secrets

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer

from messaging import realtime

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: the pub/sub layer is Redis")


def layer():
    return RedisPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]], prefix=f"test{secrets.token_hex(4)}")


async def received(layer, channel, count):
    return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]


def test_the_pubsub_layer_internals_the_batches_use_are_there():
    # If channels_redis moves them, the batches would silently fall back to one group_send per
    # frame: this says so instead.
    async def check():
        pubsub = layer()
        try:
            batches = realtime._pubsub_batches(pubsub, [("room.1", {"type": "x"})])
            assert batches is not None and len(batches) == 1
            [(channel, payload)] = next(iter(batches.values()))
            assert channel == pubsub._get_layer()._get_group_channel_name("room.1")
            assert pubsub.deserialize(payload) == {"type": "x"}
        finally:
            await pubsub.flush()

    asyncio.run(check())


def test_a_hand_over_reaches_every_member_in_order():
    async def scenario():
        pubsub = layer()
        try:
            one, two = await pubsub.new_channel(), await pubsub.new_channel()
            await pubsub.group_add("room.1", one)
            await pubsub.group_add("room.1", two)
            await pubsub.group_add("user.7", two)
            events = [("room.1", {"type": "room.message", "seq": 1}), ("user.7", {"type": "user.frame", "n": 1}),
                      ("room.1", {"type": "room.message", "seq": 2}), ("room.1", {"type": "room.message", "seq": 3})]
            await realtime._send_all(pubsub, events)
            got_one = await received(pubsub, one, 3)
            got_two = await received(pubsub, two, 4)
            assert [e["seq"] for e in got_one] == [1, 2, 3]
            assert [e.get("seq", e.get("n")) for e in got_two] == [1, 1, 2, 3]
            assert [e["type"] for e in got_two] == ["room.message", "user.frame", "room.message", "room.message"]
            # A group nobody is in: published all the same, received by no one.
            await realtime._send_all(pubsub, [("room.404", {"type": "room.message", "seq": 9})])
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(pubsub.receive(one), 0.3)
        finally:
            await pubsub.flush()

    asyncio.run(scenario())


def test_other_layers_still_get_one_group_send_per_frame():
    from channels.layers import InMemoryChannelLayer

    assert realtime._pubsub_batches(InMemoryChannelLayer(), [("room.1", {"type": "x"})]) is None


def test_this_process_hands_out_once_the_publish_is_written_before_redis_answers(monkeypatch):
    """A local socket does not wait for Redis's answer, and the other processes do not wait for the
    local hand-out: while it runs, a subscriber elsewhere can already read the message, and the
    answer has not been read yet."""
    import redis

    order = []
    answers = realtime._ShardWriter.answers

    async def recorded_answers(self, count):
        await answers(self, count)
        order.append("answered")

    monkeypatch.setattr(realtime._ShardWriter, "answers", recorded_answers)

    async def scenario():
        pubsub = layer()
        other = redis.Redis.from_url(os.environ["REDIS_URL"]).pubsub()  # another process's view: a blocking client
        try:
            channel = pubsub._get_layer()._get_group_channel_name("room.1")
            other.subscribe(channel)
            assert other.get_message(timeout=2)["type"] == "subscribe"

            def hand_out():
                # Still inside the loop's step: Redis must already have the PUBLISH to deliver it.
                message = other.get_message(ignore_subscribe_messages=True, timeout=2)
                order.append(("elsewhere", pubsub.deserialize(message["data"])["seq"] if message else None))
                order.append("local")

            await realtime._send_all(pubsub, [("room.1", {"type": "room.message", "seq": 1})], on_written=hand_out)
            assert order == [("elsewhere", 1), "local", "answered"]
        finally:
            other.close()
            await pubsub.flush()

    asyncio.run(scenario())


def test_a_lost_redis_connection_is_logged_and_the_next_publish_reconnects(caplog):
    async def scenario():
        pubsub = layer()
        try:
            one = await pubsub.new_channel()
            await pubsub.group_add("room.1", one)
            await realtime._send_all(pubsub, [("room.1", {"type": "room.message", "seq": 1})])
            assert (await received(pubsub, one, 1))[0]["seq"] == 1
            shard = next(iter(realtime._pubsub_batches(pubsub, [("room.1", {"type": "x"})])))
            writer = realtime._shard_writer(shard)
            writer.connection._writer.transport.abort()  # the connection drops under the writer
            await asyncio.sleep(0.05)
            handed = []
            await realtime._send_all(pubsub, [("room.1", {"type": "room.message", "seq": 2})], on_written=lambda: handed.append(1))
            assert handed == [1]  # this process's sockets are served whatever Redis did
            await realtime._send_all(pubsub, [("room.1", {"type": "room.message", "seq": 3})])
            # seq 2 went to a dead connection: lost, and said so (the sockets' seq checks and the
            # clients' sync recover it); seq 3 went out on a new connection.
            assert [e["seq"] for e in await received(pubsub, one, 1)] == [3]
            assert "Could not publish 1 events" in caplog.text  # the write to the dropped connection failed
        finally:
            await pubsub.flush()

    asyncio.run(scenario())


def test_a_publish_from_outside_any_server_loop_leaves_no_redis_connection_open(monkeypatch):
    """Without a server loop (a management command) each publish runs on a loop of its own: the
    publishing connection it opens is closed with it, not left for the garbage collector."""
    import redis

    pubsub = layer()
    monkeypatch.setattr(realtime, "get_channel_layer", lambda *a: pubsub)
    monkeypatch.setattr(realtime, "_server_loop", None)
    admin = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        before = admin.info("clients")["connected_clients"]
        for seq in range(5):
            realtime._group_send("room.1", {"type": "room.message", "seq": seq})
        assert admin.info("clients")["connected_clients"] <= before + 1  # the layer's own, at most
    finally:
        admin.close()
