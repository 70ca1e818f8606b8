"""The socket side: telling open sockets what changed. The database is the truth; sockets only tell.

Here, the publisher that services call after commit (`publish_message`, `publish_many`, ...) and
the channel-layer group names. Beside it: `consumers` (the tenant socket, /ws/t/<tenant>/),
`hub` (one room subscription per server process), `auth` and `routing` (the socket's middleware
and route), `access_state` (what a socket may receive, and the change counters it polls).

Group names are derived here from ids, never from client input:
  room.<id>    every socket whose user may see the room
  user.<id>    every socket of one user (access changes, logout)
  tenant.<id>  every socket in a tenant (access changes that touch many users)
Each publish runs after the writing transaction commits.
"""

import asyncio
import collections
import json
import logging
import threading

import redis.exceptions
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from messaging.frames import message_frame, subject_records
from messaging.references import reference_of, reference_routings, without_reference
from messaging.references import routing as reference_routing

logger = logging.getLogger(__name__)

# What Redis (the channel layer, the cache) being unreachable looks like from here.
UNAVAILABLE = (OSError, asyncio.TimeoutError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


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


def server_loop():
    """The loop publishes are handed to (the server's, or a worker's publisher loop), or None."""
    return _server_loop


def set_server_loop(loop):
    """Called at server start-up: publishes from plain threads (the embedded scheduler) are
    handed to this loop, where the in-memory channel layer's queues live."""
    global _server_loop
    _server_loop = loop


# How long a thread that hands over an urgent publish waits for it to be sent (see _group_send_many).
URGENT_PUBLISH_WAIT_SECONDS = getattr(settings, "URGENT_PUBLISH_WAIT_SECONDS", 0.005)


def _group_send(group, event, urgent=False):
    _group_send_many([(group, event)], urgent=urgent)


def _group_send_many(events, urgent=False):
    """Publishes (group, event) pairs. From a request or task thread they are handed to the server
    loop's publisher, which sends them in the order handed over. A lost publish is recovered by the
    client's next sync; a write never fails for it.

    The thread goes on at once, unless `urgent`: then it waits (up to URGENT_PUBLISH_WAIT_SECONDS)
    until the loop has sent them. Otherwise the thread's next Python work (the rest of the request)
    holds the GIL while the loop waits for it at each of its steps: every time the loop blocks on a
    socket it gives the GIL up, and a busy thread takes it back first. An alert frame then reached
    its socket only once the request had ended, about 1 ms later than when the thread waits."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = _server_loop
        if loop is not None and loop.is_running():
            if _on_loop(loop):
                _publisher_of(loop).put(layer, events)
            elif urgent:
                sent = threading.Event()
                loop.call_soon_threadsafe(_publisher_of(loop).put, layer, events, sent)
                sent.wait(URGENT_PUBLISH_WAIT_SECONDS)
            else:
                loop.call_soon_threadsafe(_publisher_of(loop).put, layer, events)
        else:
            async_to_sync(_send_all)(layer, events)
    except Exception:
        logger.exception("Could not publish %d events", len(events))


# loop -> a callable taking a batch of (group, event): the process's room hub on that loop hands
# its room messages to its own sockets once they are published (see RoomHub.deliver_local).
_local_receivers = {}


def set_local_receiver(loop, receiver):
    for ended in [k for k in _local_receivers if k.is_closed()]:
        del _local_receivers[ended]
    _local_receivers[loop] = receiver


class _LoopPublisher:
    """One per server loop: sends the batches handed to it one after another (so publishes keep
    the order they were made in), each batch's groups concurrently.

    Each batch is published for every process, this one included, with the layer's group_send,
    then handed to this process's own sockets (the loop's local receiver) once the group_sends
    have returned: the copy that comes back through the layer is dropped as already handed out.
    The other processes never wait for this process's fan-out, and a local socket never waits for
    the layer to bring the message back."""

    def __init__(self):
        self.pending = collections.deque()
        self.task = None
        self.idle = None

    def put(self, layer, events, sent=None):  # on the loop; `sent`: a threading.Event set once they are out
        if self.idle is None:
            self.idle = asyncio.Event()
        self.pending.append((layer, events, sent))
        self.idle.clear()
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self):
        loop = asyncio.get_running_loop()
        while self.pending:
            layer, events, sent = self.pending.popleft()
            await _send_all(layer, events)
            _hand_out(loop, events, sent)
        self.idle.set()

    async def wait_idle(self):
        if self.idle is not None:
            await self.idle.wait()


def _hand_out(loop, events, sent):
    """A published batch to this process's own sockets, then tells a waiting thread it is out."""
    receiver = _local_receivers.get(loop)
    if receiver is not None:
        try:
            receiver(events)
        except Exception:
            logger.exception("Could not hand %d events to this process's sockets", len(events))
    if sent is not None:
        sent.set()


_publishers = {}


def _publisher_of(loop):
    publisher = _publishers.get(loop)
    if publisher is None:
        for ended in [k for k in _publishers if k.is_closed()]:
            del _publishers[ended]
        publisher = _publishers[loop] = _LoopPublisher()
    return publisher


def flush_publishes(timeout=5.0):
    """Waits until everything handed to the server loop so far has been sent (shutdown, tests)."""
    loop = _server_loop
    if loop is None or not loop.is_running() or _on_loop(loop):
        return
    asyncio.run_coroutine_threadsafe(_publisher_of(loop).wait_idle(), loop).result(timeout)


def room_message_event(message, attachments=None, reference=None, records=None):
    """The channel-layer event of one stored message: the frame serialised once (every socket
    forwards the same text, no per-socket JSON work) beside the small routing fields each socket
    checks. `attachments`: [] when the caller knows there are none, to spare the query.

    `reference`: the routing fields of the message this one refers to, when some of its readers
    may not see that one (messaging.references.reference_of): the event then carries them as
    `ref` and a second text without the reference, which those readers get.

    A message that reads differently per reader (a keyed text, buttons) also carries what its
    readers' frames are made from (`render`): each process's room hub renders it once per language
    and buttons once per reader's memberships (realtime.hub.ReaderFrames), never once per socket.
    `records`: subject_records' answer for a batch (read here when None and needed)."""
    frame = message_frame(message, attachments)
    event = {
        "type": "room.message",
        "room": message.room_id,
        "seq": message.seq,
        "internal": message.internal,
        "recipient": message.recipient_id,
        "core_audience": frame["core_audience"],
        "text": frame_text(frame),
    }
    if reference is not None:
        event["ref"] = reference
        event["text_unreferenced"] = frame_text(without_reference(frame))
    if message.text is not None or message.actions:
        event["render"] = _render_parts(message, frame, records)
    return event


def _render_parts(message, frame, records):
    if message.actions and records is None:
        records = subject_records([message])
    return {
        "frame": frame,
        "tenant": message.tenant_id,
        "stored_text": message.text,
        "stored_actions": message.actions,
        "core_audience_value": message.core_audience,
        "record": (records or {}).get((message.subject_kind, message.subject_ref)),
    }


def room_actions_event(message, records):
    """The channel-layer event telling a card's readers its buttons changed (`actions` frames)."""
    event = room_message_event(message, attachments=[], records=records)
    event["type"] = "room.actions"
    event.pop("text")  # every reader's frame is built from `render`
    return event


def publish_actions(messages):
    """`actions` frames for these cards (messaging.services.message_cards_refresh), now: call it
    after commit. One read of their records for all of them."""
    messages = list(messages)
    if messages:
        records = subject_records(messages)
        _group_send_many([(room_group(m.room_id), room_actions_event(m, records)) for m in messages])


def room_message_events(messages, attachments=None):
    """room_message_event of each of `messages` (one room's or several), their references read
    at most once for all. `attachments`: as for room_message_event, or None to read each's."""
    routings = reference_routings(messages)
    records = subject_records(messages)
    return [
        room_message_event(m, list(m.attachments.all()) if attachments is None else attachments,
                           reference_of(m, routings), records)
        for m in messages
    ]


def publish_message(message, attachments=None, reference=None):
    """A posted message, after commit: urgent (someone is waiting for it; see _group_send_many).
    `reference`: the message it refers to, when the caller has it (None: read if it has one)."""
    if message.refers_to is None:
        routings = {}
    elif reference is not None:
        routings = {(reference.room_id, reference.seq): reference_routing(reference)}
    else:
        routings = reference_routings([message])
    event = room_message_event(message, attachments, reference_of(message, routings))
    transaction.on_commit(lambda: _group_send(room_group(message.room_id), event, urgent=True))


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


def user_frame_event(frame, *, tenant_id, partner_ids=(), titles=None):
    """The channel-layer event send_to_user publishes (for publish_many). `titles`: {language:
    title} when the frame's `title` reads differently per language (each socket shows its own)."""
    event = {"type": "user.frame", "frame": frame, "tenant": tenant_id, "partners": list(partner_ids)}
    if titles:
        event["titles"] = titles
    return event


# subject kind -> loader(refs) -> [user.frame events]: the live frames of the records that room
# messages with that subject are about (an alert's cards and notices). When a process's hub reads
# room messages it never received (a publish lost while Redis was down), the frames published with
# them were lost too: the hub reads these again and hands them to the room's sockets, each of which
# forwards them by its own rule (TenantSocketConsumer.user_frame). Registered by the apps in ready().
_RECOVERABLE = {}


def register_recoverable_subject(subject_kind, loader):
    _RECOVERABLE[subject_kind] = loader


def recovered_frame_events(messages):
    """The user.frame events for the records `messages` (read from the database, not received) are
    about, one per record, for the subject kinds registered with register_recoverable_subject."""
    refs = {}
    for message in messages:
        if message.subject_kind in _RECOVERABLE:
            refs.setdefault(message.subject_kind, set()).add(message.subject_ref)
    events = []
    for kind, wanted in sorted(refs.items()):
        events += _RECOVERABLE[kind](sorted(wanted))
    return events


def publish_messages(messages, along=()):
    """Publishes stored messages after commit; their frames are built then, so the transaction
    and any frame handed over before (an alert's) do not wait for the markdown rendering.

    `along`: other (group, event) pairs to publish in the same hand-over, ahead of the messages'
    (a sweep's live alert frames): one hand-over to the publishing loop, or, in a process without
    one, one event loop and one Redis connection for the lot instead of one each."""
    messages, along = list(messages), list(along)
    if messages or along:
        transaction.on_commit(
            lambda: _group_send_many(
                along + [(room_group(e["room"]), e) for e in room_message_events(messages, attachments=[])]
            ),
            robust=True,
        )


def room_destroyed_events(tombstones):
    """(group, event) pairs telling the rooms' sockets that these messages were destroyed (retention):
    one `room.destroyed` event per room, naming each tombstone's seq with the routing fields that
    decide who sees it (messaging.references.routing), which each socket checks against its own
    access before it forwards the `destroyed` frame (TenantSocketConsumer.hub_destroyed)."""
    by_room = {}
    for message in tombstones:
        by_room.setdefault(message.room_id, []).append({"seq": message.seq, **reference_routing(message)})
    return [
        (room_group(room_id), {"type": "room.destroyed", "room": room_id,
                               "messages": sorted(rows, key=lambda row: row["seq"])})
        for room_id, rows in sorted(by_room.items())
    ]


def publish_destroyed(tombstones):
    """After the transaction that destroyed `tombstones` commits: a `destroyed` frame to every open
    socket of their rooms that sees them (one event per room, however many messages)."""
    publish_many(room_destroyed_events(tombstones))


def publish_many(events, urgent=False):
    """Publishes (group, event) pairs after the transaction commits, all in one go: one hand-over
    to the publishing loop for the lot (a sweep's hundreds of frames). Each group gets its events
    in the order given; groups are sent concurrently. `urgent`: the committing thread waits until
    they are sent (see _group_send_many)."""
    events = list(events)
    if events:
        transaction.on_commit(lambda: _group_send_many(events, urgent=urgent))


async def _send_all(layer, events):
    """Publishes the events with the layer's group_send, each group's in the order given and the
    groups concurrently. Never raises: a lost publish is recovered by the clients' next sync."""
    by_group = {}
    for group, event in events:
        by_group.setdefault(group, []).append(event)

    async def send_group(group, items):
        for event in items:
            try:
                await layer.group_send(group, event)
            except UNAVAILABLE as exc:  # the sockets' head checks and the clients' syncs recover it
                logger.warning("Could not publish %s to %s: Redis is unavailable (%s)", event.get("type"), group, exc)
            except Exception:
                logger.exception("Could not publish %s to %s", event.get("type"), group)

    if len(by_group) == 1:
        await send_group(*next(iter(by_group.items())))
    else:
        await asyncio.gather(*(send_group(group, items) for group, items in by_group.items()))
