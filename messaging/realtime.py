"""Telling open sockets what changed. The database is the truth; these only notify.

Group names are derived here from ids, never from client input:
  room.<id>    every socket whose user may see the room
  user.<id>    every socket of one user (access changes, logout)
  tenant.<id>  every socket in a tenant (access changes that touch many users)
Each publish runs after the writing transaction commits.
"""

import asyncio
import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from messaging.frames import message_frame

logger = logging.getLogger(__name__)


def _on_loop(loop):
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def room_group(room_id):
    return f"room.{int(room_id)}"


def user_group(user_id):
    return f"user.{int(user_id)}"


def tenant_group(tenant_id):
    return f"tenant.{int(tenant_id)}"


_server_loop = None


def set_server_loop(loop):
    """Called at server start-up: publishes from plain threads (the embedded scheduler) are
    handed to this loop, where the in-memory channel layer's queues live."""
    global _server_loop
    _server_loop = loop


def _group_send(group, event):
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = _server_loop
        if loop is not None and loop.is_running() and not _on_loop(loop):
            asyncio.run_coroutine_threadsafe(layer.group_send(group, event), loop).result(timeout=5)
        else:
            async_to_sync(layer.group_send)(group, event)
    except Exception:
        # A lost notification is recovered by the client's next sync (seq gap); never fail the write.
        logger.exception("Could not publish %s to %s", event.get("type"), group)


def room_message_event(message, attachments=None):
    """The channel-layer event of one stored message: the frame serialised once (every socket
    forwards the same text, no per-socket JSON work) beside the small routing fields each socket
    checks. `attachments`: [] when the caller knows there are none, to spare the query."""
    frame = message_frame(message, attachments)
    return {
        "type": "room.message",
        "room": message.room_id,
        "seq": message.seq,
        "internal": message.internal,
        "recipient": message.recipient_id,
        "core_audience": frame["core_audience"],
        "text": frame_text(frame),
    }


def publish_message(message, attachments=None):
    event = room_message_event(message, attachments)
    transaction.on_commit(lambda: _group_send(room_group(message.room_id), event))


def frame_text(frame):
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"), cls=DjangoJSONEncoder)


def publish_read(*, room_id, user, seq):
    frame = {"type": "read", "room": room_id, "user": user.id, "username": user.username, "seq": seq}
    transaction.on_commit(lambda: _group_send(room_group(room_id), {"type": "room.read", "frame": frame}))


def publish_access_changed(*, tenant_id, user_ids=None):
    if user_ids is None:
        _group_send(tenant_group(tenant_id), {"type": "access.changed"})
    else:
        for user_id in user_ids:
            _group_send(user_group(user_id), {"type": "access.changed"})


def publish_credential_ended(*, user_id, credential):
    """Closes the sockets authenticated by this session or token (logout, token revoked)."""
    _group_send(user_group(user_id), {"type": "credential.ended", "credential": credential})


def send_to_user(user_id, frame, *, tenant_id, partner_ids=()):
    """A frame for every socket of one user (alerts, notifications). Call after commit.

    Sockets forward it only within `tenant_id`, and, for a partner's people, only when their
    organisation is among `partner_ids` (access as it stands when the frame arrives)."""
    _group_send(user_group(user_id), user_frame_event(frame, tenant_id=tenant_id, partner_ids=partner_ids))


def user_frame_event(frame, *, tenant_id, partner_ids=()):
    """The channel-layer event send_to_user publishes (for publish_many)."""
    return {"type": "user.frame", "frame": frame, "tenant": tenant_id, "partners": list(partner_ids)}


def publish_many(events):
    """Publishes (group, event) pairs after the transaction commits, all in one go: one hop to
    the publishing loop for the lot (a sweep's hundreds of frames), not a blocking hop each.
    Each group gets its events in the order given; groups are sent concurrently."""
    events = list(events)
    if events:
        transaction.on_commit(lambda: _group_send_many(events))


async def _send_all(layer, events):
    by_group = {}
    for group, event in events:
        by_group.setdefault(group, []).append(event)

    async def send_group(group, items):
        for event in items:
            try:
                await layer.group_send(group, event)
            except Exception:
                logger.exception("Could not publish %s to %s", event.get("type"), group)

    await asyncio.gather(*(send_group(group, items) for group, items in by_group.items()))


def _group_send_many(events):
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = _server_loop
        if loop is not None and loop.is_running() and not _on_loop(loop):
            asyncio.run_coroutine_threadsafe(_send_all(layer, events), loop).result(timeout=5 + 0.01 * len(events))
        else:
            async_to_sync(_send_all)(layer, events)
    except Exception:
        # As _group_send: clients recover lost frames on their next sync; never fail the write.
        logger.exception("Could not publish %d events", len(events))
