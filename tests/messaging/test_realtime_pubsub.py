"""Publishing through channels_redis' RedisPubSubChannelLayer, the production layer: every member
of each group gets its frames, in the order handed over, through the layer's own group_send.
Needs REDIS_URL (CI sets it)."""

import asyncio
import os
import secrets
from urllib.parse import urlsplit

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer

import realtime

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: the pub/sub layer is Redis")


def layer():
    return RedisPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]], prefix=f"test{secrets.token_hex(4)}")


async def received(layer, channel, count):
    return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]


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
            assert sorted(e.get("seq", e.get("n")) for e in got_two) == [1, 1, 2, 3]
            assert [e["seq"] for e in got_two if e["type"] == "room.message"] == [1, 2, 3]  # each group in order
            # A group nobody is in: published all the same, received by no one.
            await realtime._send_all(pubsub, [("room.404", {"type": "room.message", "seq": 9})])
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(pubsub.receive(one), 0.3)
        finally:
            await pubsub.flush()

    asyncio.run(scenario())


def test_a_publish_that_fails_is_logged_and_never_raises(caplog):
    """A write never fails for a lost publish: the clients' next sync recovers it."""

    class Refusing:
        async def group_send(self, group, event):
            raise ConnectionError("Redis went away")

    asyncio.run(realtime._send_all(Refusing(), [("room.1", {"type": "room.message", "seq": 1}), ("room.2", {"type": "x"})]))
    assert caplog.text.count("Could not publish") == 2


def test_a_publish_from_outside_any_server_loop_leaves_no_redis_connection_open(monkeypatch):
    """Without a server loop (a management command) each publish runs on a loop of its own: the
    connection the layer opens for it is closed with that loop, not left for the garbage collector."""
    pubsub = layer()
    monkeypatch.setattr(realtime, "get_channel_layer", lambda *a: pubsub)
    monkeypatch.setattr(realtime, "_server_loop", None)
    before = redis_connections_of_this_process()
    for seq in range(5):
        realtime._group_send("room.1", {"type": "room.message", "seq": seq})
    assert redis_connections_of_this_process() <= before + 1  # the layer's own, at most


def redis_connections_of_this_process():
    """This process's open connections to REDIS_URL's port: the server's own client count would
    also count whatever other processes (another test worker) connect meanwhile."""
    import psutil

    port = urlsplit(os.environ["REDIS_URL"]).port or 6379
    return sum(
        1 for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status in (psutil.CONN_ESTABLISHED, psutil.CONN_CLOSE_WAIT)
    )
