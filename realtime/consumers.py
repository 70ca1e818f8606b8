"""The tenant socket: /ws/t/<tenant>/ (protocol in docs/CONTRACT.md, "WebSocket").

The socket only tells; the database is the truth. Per room it delivers messages in seq
order with no gap and no duplicate: a frame that skips ahead is completed from the database
first (an earlier commit's publish may still be on its way), and one already delivered is
dropped. Access is re-checked all along: every forwarded frame against the rooms this user
may see now, that set reloaded when access changes, and the credential and membership
checked every few seconds, so a logout or a lost membership closes the socket in time.
"""

import asyncio
import json
import logging
import random

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import close_old_connections
from django.http import Http404

import realtime
from messaging.frames import message_frame
from realtime import frame_text
from realtime.access_state import access_versions, credential_is_valid, credentials_valid_many, load_socket_access
from realtime.hub import RoomHub
from realtime.per_loop import PerLoop
from realtime.protocol import FrameError, decode_frame, error_frame, ref_of

logger = logging.getLogger(__name__)

SYNC_MAX = 2000  # a client further behind than this is told to resync over HTTP
SYNC_PAGE = 500
# Frames waiting for one socket. The server's send waits while the client is not reading (uvicorn
# stops at its write buffer's high-water mark), so a stalled client fills this queue and is cut off;
# one that stops answering pings is closed by the server (uvicorn's --ws-ping-timeout).
SEND_QUEUE_MAX = getattr(settings, "WS_SEND_QUEUE_MAX", 1000)
POLL_SECONDS = getattr(settings, "WS_ACCESS_POLL_SECONDS", 2.0)
FULL_CHECK_SECONDS = getattr(settings, "WS_FULL_CHECK_SECONDS", 30.0)
ROOMS_CHECK_SECONDS = getattr(settings, "WS_ROOMS_CHECK_SECONDS", 300.0)

# Close codes (4000-4999 are the application's)
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_SLOW = 4408


def db(func):
    """Runs ORM work in a worker thread without serialising all sockets on one thread.

    Connections are closed inside the call: Django keys them by context, so a cleanup
    outside the call's context (as DatabaseSyncToAsync does) would miss them."""

    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(run, thread_sensitive=False)


class TenantSocketConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message):
        """As Channels' dispatch, without its `aclose_old_connections()` before every handler: that
        is a hop to the process's one thread-sensitive worker thread, shared by every socket, for
        every frame of every socket. Every database call here goes through db(), which
        closes its connection itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        scope = self.scope
        self.user = scope.get("user")
        self.access = None
        self.last_seq = {}  # room id -> highest seq delivered (or known to be invisible)
        self.groups_joined = set()
        self.rooms_joined = set()  # rooms whose events the process's RoomHub hands to this socket
        self.gap_filling = {}  # room id -> events held while this socket fills a gap of its own
        self.tasks = []
        self.closing = False
        if scope.get("origin_refused") or (scope.get("cookie_auth") and not self._has_origin()):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        slug = scope["url_route"]["kwargs"]["tenant"]
        self.access = await db(load_socket_access)(self.user, tenant_slug=slug)
        if self.access is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.user_id = self.user.id
        self.versions = await db(access_versions)(tenant_id=self.access.tenant_id, user_id=self.user_id)
        await self.accept()
        self.queue = asyncio.Queue(maxsize=SEND_QUEUE_MAX)
        self.in_flight = None  # a send started by hub_message that had to wait; the writer waits for it
        self.writer_busy = False
        self.server_send = scope.get("portal_server_send") or self.base_send  # frames skip the middleware (scm_portal.asgi)
        await self._sync_groups()
        self.tasks = [asyncio.create_task(self._writer())]
        _AccessPoller.of_loop().add(self)
        await self._enqueue({"type": "hello", "user": self.user_id, "tenant": slug, "rooms": sorted(self.access.room_ids)})

    def _has_origin(self):
        return any(k == b"origin" for k, _v in self.scope.get("headers", []))

    async def disconnect(self, code):
        self.closing = True
        _AccessPoller.of_loop().discard(self)
        for task in self.tasks:
            task.cancel()
        if getattr(self, "in_flight", None) is not None:
            self.in_flight.cancel()
        for group in list(self.groups_joined):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined.clear()
        hub = RoomHub.of_loop()
        for room in list(self.rooms_joined):
            await hub.leave(room, self)
        self.rooms_joined.clear()

    # --- outgoing: one bounded queue and one writer per socket ---------------------------------
    async def _writer(self):
        try:
            while True:
                self.writer_busy = False
                item = await self.queue.get()
                self.writer_busy = True
                if self.in_flight is not None:
                    await self.in_flight  # keep the order: a direct send that had to wait goes first
                    self.in_flight = None
                # Live messages arrive already serialised (realtime.publish_message); others are dicts.
                await self._send_text(item if isinstance(item, str) else frame_text(item))
        except asyncio.CancelledError:
            pass
        except Exception:  # the client went away mid-send
            logger.debug("socket writer stopped", exc_info=True)

    async def _send_now(self, text):
        try:
            await self._send_text(text)
        except Exception:  # the client went away mid-send; the writer's next send ends it
            logger.debug("direct socket send failed", exc_info=True)

    async def _send_text(self, text):
        # Straight to the server (as AsyncWebsocketConsumer.send does, minus the layers of calls).
        await self.server_send({"type": "websocket.send", "text": text})

    async def _enqueue(self, frame):
        if self.closing:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            await self._cut_off()

    def _cut_off_soon(self):
        """_cut_off from plain (non-async) code: nothing more is queued meanwhile."""
        self.closing = True
        self.tasks.append(asyncio.create_task(self._cut_off()))

    async def _cut_off(self):
        """A client that cannot keep up is told to resync and closed; others never wait for it."""
        self.closing = True
        while not self.queue.empty():
            self.queue.get_nowait()
        try:
            await asyncio.wait_for(
                self._send_text(json.dumps({"type": "resync", "reason": "slow_consumer"})), timeout=1.0
            )
        except Exception:
            pass
        await self.close(code=CLOSE_SLOW)

    async def _error(self, code, message, ref=None):
        await self._enqueue(error_frame(code, message, ref))

    # --- access ----------------------------------------------------------------------------------
    async def _sync_groups(self):
        """The user's and tenant's groups on this socket's channel; rooms through the process's hub."""
        wanted = {realtime.user_group(self.user_id), realtime.tenant_group(self.access.tenant_id)}
        for group in wanted - self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in self.groups_joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = wanted
        hub = RoomHub.of_loop()
        rooms = set(self.access.room_ids)
        for room in rooms - self.rooms_joined:
            await hub.join(room, self)
        for room in self.rooms_joined - rooms:
            await hub.leave(room, self)
        self.rooms_joined = rooms

    async def _recheck(self, full=False):
        if full:
            valid = await db(credential_is_valid)(self.user, self.scope.get("auth_kind"), self.scope.get("auth_secret"))
            if not valid:
                await self.close(code=CLOSE_UNAUTHENTICATED)
                self.closing = True
                return
        access = await db(load_socket_access)(self.user, tenant_id=self.access.tenant_id)
        if access is None:
            self.closing = True
            await self.close(code=CLOSE_FORBIDDEN)
            return
        added = access.room_ids - self.access.room_ids
        removed = self.access.room_ids - access.room_ids
        self.access = access
        await self._sync_groups()
        for room in removed:
            self.last_seq.pop(room, None)
        if added or removed:
            await self._enqueue({"type": "rooms", "rooms": sorted(access.room_ids)})

    async def credential_lost(self):
        """Called by the process's poller when this socket's token or session is gone."""
        if not self.closing:
            self.closing = True
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def versions_changed(self, versions):
        """Called by the process's poller when this socket's counters moved."""
        if not self.closing:
            self.versions = versions
            await self._recheck(full=True)

    async def access_changed(self, event):
        await self._recheck(full=True)

    async def credential_ended(self, event):
        if event.get("credential") == self.scope.get("credential"):
            self.closing = True
            await self.close(code=CLOSE_UNAUTHENTICATED)

    # --- incoming frames ------------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        try:
            frame = decode_frame(text_data, bytes_data)
        except FrameError as exc:
            await self._error(exc.code, exc.message, ref=exc.ref)
            return
        handler = {"sync": self._on_sync, "send": self._on_send, "read": self._on_read, "action": self._on_action,
                   "ping": self._on_ping}.get(frame["type"])
        ref = ref_of(frame)
        if handler is None:
            await self._error("unknown_type", f"Unknown frame type: {frame['type'][:40]}", ref=ref)
            return
        room = frame.get("room")
        if frame["type"] != "ping" and (not isinstance(room, int) or isinstance(room, bool) or room not in self.access.room_ids):
            await self._error("unknown_room", "No such room.", ref=ref)
            return
        try:
            await handler(frame)
        except Http404:
            await self._error("not_found", "Not found.", ref=ref)
        except PermissionDenied as exc:
            await self._error("permission_denied", str(exc) or "Not allowed.", ref=ref)
        except ValidationError as exc:
            fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
            first = next(iter(fields.values()))[0]
            await self._error("validation_error", first, ref=ref)
        except FrameError as exc:
            await self._error(exc.code, exc.message, ref=ref)
        except Exception:
            # A bug or an outage, not the client's doing: logged in full, and the socket stays up.
            logger.exception("socket frame %r failed", frame["type"])
            await self._error("server_error", "The server could not handle this frame; try again.", ref=ref)

    async def _on_ping(self, frame):
        await self._enqueue({"type": "pong"})

    async def _on_sync(self, frame):
        after = frame.get("after_seq", 0)
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            await self._error("validation_error", "after_seq must be a non-negative integer.")
            return
        room_id = frame["room"]
        head, pages = await db(_load_sync)(self.user, self.access, room_id, after)
        if head - after > SYNC_MAX:
            self.last_seq[room_id] = head
            await self._enqueue({"type": "resync", "room": room_id, "reason": "too_far_behind", "last_seq": head})
            return
        for page in pages:
            for item in page:
                await self._enqueue(item)
        # Live frames forwarded while the sync read the database may already be past `head`.
        self.last_seq[room_id] = max(head, self.last_seq.get(room_id) or 0)
        await self._enqueue({"type": "synced", "room": room_id, "last_seq": head})

    async def _on_send(self, frame):
        from messaging.services import Conflict

        client_id = frame.get("client_id")
        unknown = set(frame) - {"type", "room", "body", "client_id", "subject", "internal", "ref"}
        if unknown:
            await self._error("unknown_field", f"Unknown fields: {', '.join(sorted(unknown))[:100]}", ref=client_id)
            return
        try:
            seq, created = await db(_post)(self.user, self.access, frame)
        except Conflict as exc:
            await self._error("conflict", str(exc), ref=client_id)
            return
        await self._enqueue({"type": "ack", "room": frame["room"], "client_id": client_id, "seq": seq, "created": created})

    async def _on_read(self, frame):
        await db(_read)(self.user, self.access, frame["room"], frame.get("seq"))

    async def _on_action(self, frame):
        press = await db(_press)(self.user, self.access, frame["room"], frame.get("seq"), frame.get("action"))
        await self._enqueue({"type": "action_result", "room": frame["room"], "ref": ref_of(frame), **press})

    # --- room events, handed over by the process's RoomHub (plain calls: no task per socket) ------
    def hub_message(self, event):
        if self.closing:
            return
        room_id = event["room"]
        held = self.gap_filling.get(room_id)
        if held is not None:
            held.append(event)
            return
        if room_id not in self.access.room_ids:
            return  # access lost since the room was joined: never forward
        seq = event["seq"]
        last = self.last_seq.get(room_id)
        if last is not None and seq <= last:
            return  # already delivered (by sync or gap fill)
        if last is not None and seq > last + 1:
            # The hub hands out every seq in order, so this socket's own mark is off (rare):
            # complete it from the database, holding later events meanwhile.
            self.gap_filling[room_id] = [event]
            self.tasks.append(asyncio.create_task(self._fill_own_gap(room_id, last, seq)))
            return
        self.last_seq[room_id] = seq
        if event.get("internal") and not self.access.is_core:
            return
        audience = event.get("core_audience")
        if audience and self.access.is_core and not self.access.roles & set(audience):
            return
        if event.get("recipient") not in (None, self.user_id):
            return
        if not self.writer_busy and self.queue.empty() and (self.in_flight is None or self.in_flight.done()):
            # Nothing waiting for this socket: write now, without waking its writer task. The
            # server's send waits only when the client has stopped reading, so the eager task
            # usually finishes right here; otherwise later frames queue behind it.
            task = asyncio.Task(self._send_now(event["text"]), loop=asyncio.get_running_loop(), eager_start=True)
            self.in_flight = None if task.done() else task
            return
        try:
            self.queue.put_nowait(event["text"])
        except asyncio.QueueFull:
            self._cut_off_soon()

    async def _fill_own_gap(self, room_id, last, seq):
        try:
            missing = await db(_load_range)(self.user, self.access, room_id, last, seq - 1)
            for item in missing:
                await self._enqueue(item)
            self.last_seq[room_id] = seq - 1
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("socket gap fill failed")
        finally:
            held = self.gap_filling.pop(room_id, [])
        for event in held:
            self.hub_message(event)

    def hub_read(self, event):
        if not self.closing and event["frame"]["room"] in self.access.room_ids:
            try:
                self.queue.put_nowait(event["frame"])
            except asyncio.QueueFull:
                self._cut_off_soon()

    # --- events from the channel layer --------------------------------------------------------------
    async def user_frame(self, event):
        # Checked against this socket's access as it stands now (no database round trip):
        # the frame's tenant, and for a partner's people, their organisation.
        if event.get("tenant") != self.access.tenant_id:
            return
        if not self.access.is_core and not self.access.partner_ids & set(event.get("partners") or ()):
            return
        await self._enqueue(event["frame"])


class _AccessPoller(PerLoop):
    """One task per event loop watches the access of every socket in the process:

    - every POLL_SECONDS, the change counters of all sockets with one MGET (a socket whose
      counters moved reloads its rooms and checks its credential);
    - every FULL_CHECK_SECONDS, every socket's token or session with one or two queries in all;
    - as a safety net, each socket's rooms every ROOMS_CHECK_SECONDS, spread out at random.
    """

    def __init__(self):
        self.sockets = {}  # socket -> when its rooms are next reloaded (safety net)
        self.task = None

    def add(self, consumer):
        loop = asyncio.get_running_loop()
        self.sockets[consumer] = loop.time() + random.uniform(0.5, 1.0) * ROOMS_CHECK_SECONDS
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self.run())

    def discard(self, consumer):
        self.sockets.pop(consumer, None)

    async def run(self):
        loop = asyncio.get_running_loop()
        next_credentials = loop.time() + FULL_CHECK_SECONDS
        while self.sockets:
            await asyncio.sleep(POLL_SECONDS)
            sockets = [s for s in self.sockets if not s.closing and s.access is not None]
            if not sockets:
                continue
            try:
                await self._poll(loop, sockets, check_credentials=loop.time() >= next_credentials)
            except Exception:
                logger.exception("socket access poll failed")
            if loop.time() >= next_credentials:
                next_credentials = loop.time() + FULL_CHECK_SECONDS

    async def _poll(self, loop, sockets, check_credentials):
        from realtime.access_state import access_versions_many

        current = await db(access_versions_many)([(s.access.tenant_id, s.user.id) for s in sockets])
        moved = set()
        for s, versions in zip(sockets, current):
            if versions != s.versions:
                moved.add(s)
                asyncio.create_task(s.versions_changed(versions))
        if check_credentials:
            valid = await db(credentials_valid_many)(
                [(s.user.id, s.scope.get("auth_kind"), s.scope.get("auth_secret")) for s in sockets]
            )
            for s, ok in zip(sockets, valid):
                if not ok:
                    asyncio.create_task(s.credential_lost())
        now = loop.time()
        for s in sockets:
            due = self.sockets.get(s)
            if due is not None and now >= due:
                self.sockets[s] = now + ROOMS_CHECK_SECONDS
                if s not in moved:
                    asyncio.create_task(s._recheck(full=False))


# --- database work, run in worker threads ------------------------------------------------------------

def _room(user, access, room_id):
    """The user's tenant context and the room, both checked against the database now (the socket's
    own view of its access may be up to a poll old)."""
    from messaging.models import Room
    from scm_portal.tenancy.access import access_tenant_context_and_row

    return access_tenant_context_and_row(user, access.tenant_id, Room, room_id)


def _load_sync(user, access, room_id, after):
    from messaging.selectors import messages_after

    _context, room = _room(user, access, room_id)
    head = room.last_seq
    if head - after > SYNC_MAX:
        return head, []
    pages, cursor = [], after
    while cursor < head:
        batch = [m for m in messages_after(user, room, cursor, SYNC_PAGE) if m.seq <= head]
        if not batch:
            break
        pages.append([message_frame(m, list(m.attachments.all())) for m in batch])
        cursor = batch[-1].seq
    return head, pages


def _load_range(user, access, room_id, after, upto):
    from messaging.selectors import messages_after

    _context, room = _room(user, access, room_id)
    return [message_frame(m, list(m.attachments.all())) for m in messages_after(user, room, after, upto - after) if m.seq <= upto]


def _post(user, access, frame):
    from messaging.services import message_post

    context, room = _room(user, access, frame["room"])
    internal = frame.get("internal", False)
    if not isinstance(internal, bool):
        raise ValidationError({"internal": "internal must be true or false."})
    message, created = message_post(
        tenant=context.tenant, actor=user, room=room, body=frame.get("body"), client_id=frame.get("client_id"),
        subject=frame.get("subject"), internal=internal, roles=context.roles,
    )
    return message.seq, created


def _read(user, access, room_id, seq):
    from messaging.services import room_read

    context, room = _room(user, access, room_id)
    room_read(tenant=context.tenant, user=user, room=room, seq=seq)


def _press(user, access, room_id, seq, action):
    from messaging.access import access_message
    from messaging.services import action_press

    context, room = _room(user, access, room_id)
    if not isinstance(action, str):
        raise ValidationError({"action": "action must be a string."})
    message = access_message(user, room, seq)
    press, created = action_press(tenant=context.tenant, actor=user, room=room, message=message, action=action)
    return {"seq": message.seq, "action": action, "already_pressed": not created, "outcome_seq": press.outcome_seq,
            "pressed_by": press.actor.username}
