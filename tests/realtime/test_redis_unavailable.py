"""While Redis is unreachable a new socket is refused cleanly: accepted, then closed with 1013 ("try
again later", which the client retries with backoff), one warning logged, no traceback, no 500."""

import logging

import pytest
import redis.exceptions
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from realtime import consumers
from realtime.hub import RoomHub
from scm_portal.asgi import application
from tests.messaging.test_sockets import a_room, connect, token_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def refused(username="supa.rep"):
    key = await token_for(username)
    communicator = WebsocketCommunicator(application, f"/ws/t/acme/?token={key}")
    connected, _ = await communicator.connect(timeout=10)
    assert connected  # accepted, so that the client sees the close code ...
    output = await communicator.receive_output(timeout=10)
    assert output["type"] == "websocket.close" and output["code"] == consumers.CLOSE_TRY_AGAIN, output
    assert output.get("reason") == consumers.TRY_AGAIN_REASON
    await communicator.wait(timeout=5)


def no_tracebacks(caplog):
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text
    assert any("unavailable" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


async def test_a_channel_layer_that_cannot_connect_refuses_the_handshake_with_1013(demo_tx, settings, caplog):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                                           "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}}
    channel_layers.backends.clear()
    try:
        with caplog.at_level(logging.WARNING):
            await refused()
        no_tracebacks(caplog)
    finally:
        channel_layers.backends.clear()


async def test_a_cache_that_cannot_connect_refuses_the_handshake_with_1013(demo_tx, monkeypatch, caplog):
    def unreachable(**kwargs):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(consumers, "access_versions", unreachable)
    with caplog.at_level(logging.WARNING):
        await refused()
    no_tracebacks(caplog)


async def test_a_room_the_hub_could_not_join_is_joined_by_the_next_socket(demo_tx, monkeypatch, caplog):
    room = await a_room("acme", "sup-a")
    layer_group_add = RoomHub.of_loop().layer.group_add
    calls = []

    async def failing_group_add(group, channel):
        calls.append(group)
        if group == f"room.{room.pk}":
            raise redis.exceptions.ConnectionError("Connection refused.")
        return await layer_group_add(group, channel)

    hub = RoomHub.of_loop()
    monkeypatch.setattr(hub.layer, "group_add", failing_group_add)
    with caplog.at_level(logging.WARNING):
        await refused()
    assert room.pk not in hub.rooms  # no half-joined room left behind
    monkeypatch.setattr(hub.layer, "group_add", layer_group_add)
    rep = await connect("supa.rep")
    assert rep and room.pk in hub.rooms and len(hub.rooms[room.pk].sockets) == 1
    await rep.disconnect()
    assert not hub.rooms  # the refused socket left nothing behind either
