"""The tenant socket: /ws/t/<tenant>/ (protocol in docs/CONTRACT.md, "WebSocket").

The socket only tells; the database is the truth. Per room it delivers messages in seq
order with no gap and no duplicate: a frame that skips ahead is completed from the database
first (an earlier commit's publish may still be on its way), and one already delivered is
dropped. Access is re-checked all along: every forwarded frame against the rooms this user
may see now, that set reloaded when access changes, and the credential and membership
checked every few seconds, so a logout or a lost membership closes the socket in time.
"""

import asyncio
import collections
import logging
import random
from dataclasses import replace
from urllib.parse import parse_qs


from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import close_old_connections
from django.http import Http404
from django.utils import translation

import realtime
from messaging.frames import destroyed_notice
from messaging.references import message_frames, routing_visible
from realtime import UNAVAILABLE, frame_text
from realtime.access_state import access_versions, credential_is_valid, credentials_valid_many, load_socket_access
from realtime.hub import RoomHub, reader_text
from realtime.per_loop import PerLoop
from realtime.protocol import FrameError, decode_frame, error_frame, ref_of
from scm_portal.errors import StateConflict

logger = logging.getLogger(__name__)

# A sync (or a socket's own gap fill) further behind than this is told to reload over HTTP instead.
SYNC_MAX = getattr(settings, "WS_SYNC_MAX", 10_000)
SYNC_PAGE = getattr(settings, "WS_SYNC_PAGE", 200)  # messages per database read of a sync
SYNCS_AT_ONCE = 4  # syncs one socket runs at the same time
# Frames waiting for one socket. The server's send waits while the client is not reading (uvicorn
# stops at its write buffer's high-water mark), so a stalled client fills this queue and is cut off;
# one that stops answering pings is closed by the server (uvicorn's --ws-ping-timeout).
SEND_QUEUE_MAX = getattr(settings, "WS_SEND_QUEUE_MAX", 1000)
# A sync waits this long at most for its client to read before the client is cut off as too slow.
SYNC_STALL_SECONDS = getattr(settings, "WS_SYNC_STALL_SECONDS", 30.0)
POLL_SECONDS = getattr(settings, "WS_ACCESS_POLL_SECONDS", 2.0)
FULL_CHECK_SECONDS = getattr(settings, "WS_FULL_CHECK_SECONDS", 30.0)
ROOMS_CHECK_SECONDS = getattr(settings, "WS_ROOMS_CHECK_SECONDS", 300.0)

# Close codes (4000-4999 are the application's)
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_SLOW = 4408
SLOW_REASON = "slow consumer: reconnect and sync"
CLOSE_TRY_AGAIN = 1013  # RFC 6455 "Try Again Later": Redis (channel layer or cache) is unreachable
TRY_AGAIN_REASON = "try again later"



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
    async def __call__(self, scope, receive, send):
        """Channels' consumer, refusing the handshake cleanly (close 1013, "try again later") when
        the channel layer cannot open this socket's channel: Redis is down. Without this the
        server answered the handshake with a 500 and logged a traceback per attempt."""
        try:
            await super().__call__(scope, receive, send)
        except UNAVAILABLE as exc:
            if getattr(self, "channel_receive", None) is not None:
                # Past the handshake (the layer failed later): the connection ends; the client reconnects.
                logger.warning("socket ended: the channel layer is unavailable (%s)", exc)
                return
            logger.warning("socket refused: the channel layer is unavailable (%s)", exc)
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN, "reason": TRY_AGAIN_REASON})

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
        # room id -> live events held while this socket delivers the room's backlog itself (a sync,
        # a gap); `room_jobs` counts the jobs running or waiting for the room, `room_locks` orders them.
        self.holding = {}
        self.room_jobs = {}
        self.room_locks = {}
        self.tasks = []
        self.closing = False
        self.accepted = False
        if scope.get("origin_refused") or (scope.get("cookie_auth") and not self._has_origin()):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        slug = scope["url_route"]["kwargs"]["tenant"]
        self.access = await db(load_socket_access)(self.user, tenant_slug=slug, accept_language=self._asked_language(),
                                                   credential=self._credential())
        if self.access is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.user_id = self.user.id
        try:
            self.versions = await db(access_versions)(tenant_id=self.access.tenant_id, user_id=self.user_id)
        except UNAVAILABLE as exc:
            await self._try_again_later(exc)
            return
        await self.accept()
        self.accepted = True
        self.queue = asyncio.Queue(maxsize=SEND_QUEUE_MAX)
        self.drained = asyncio.Event()  # set by the writer when the queue has room for a sync's next frames
        self.sync_slots = asyncio.Semaphore(SYNCS_AT_ONCE)
        self.in_flight = None  # a send started by hub_message that had to wait; the writer waits for it
        self.writer_busy = False
        self.server_send = scope.get("portal_server_send") or self.base_send  # frames skip the middleware (scm_portal.asgi)
        try:
            await self._sync_groups()
        except UNAVAILABLE as exc:
            await self._try_again_later(exc)
            return
        self.tasks.append(asyncio.create_task(self._writer()))
        _AccessPoller.of_loop().add(self)
        await self._enqueue({"type": "hello", "user": self.user_id, "tenant": slug, "rooms": sorted(self.access.room_ids)})

    async def _try_again_later(self, exc):
        """Redis is unreachable: the client is told to come back (1013), with one log line, no traceback."""
        logger.warning("socket refused: Redis is unavailable (%s)", exc)
        self.closing = True
        if not self.accepted:
            await self.accept()
            self.accepted = True
        await self.close(code=CLOSE_TRY_AGAIN, reason=TRY_AGAIN_REASON)

    def _asked_language(self):
        """The handshake's language: `?lang=` (the page's own, which a browser socket cannot send
        as a header), else its Accept-Language header."""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        asked = (query.get("lang") or [""])[0]
        if asked:
            return asked
        return next((v.decode("latin-1") for k, v in self.scope.get("headers", []) if k == b"accept-language"), None)

    def _has_origin(self):
        return any(k == b"origin" for k, _v in self.scope.get("headers", []))

    async def disconnect(self, code):
        self.closing = True
        _AccessPoller.of_loop().discard(self)
        for task in self.tasks:
            task.cancel()
        if getattr(self, "in_flight", None) is not None:
            self.in_flight.cancel()
        hub = RoomHub.of_loop()
        for room in list(self.rooms_joined):
            await hub.leave(room, self)
        self.rooms_joined.clear()
        for group in list(self.groups_joined):
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except UNAVAILABLE as exc:  # the layer drops this channel's subscriptions with its connection
                logger.warning("socket group_discard failed: Redis is unavailable (%s)", exc)
                break
        self.groups_joined.clear()

    # --- outgoing: one bounded queue and one writer per socket ---------------------------------
    async def _writer(self):
        queue, drained = self.queue, self.drained
        try:
            while True:
                self.writer_busy = False
                item = await queue.get()
                self.writer_busy = True
                if queue.qsize() < SEND_QUEUE_MAX // 4:
                    drained.set()
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

    async def _put(self, item):
        """Queues one frame of a backlog (a sync, a gap) with back-pressure: while the queue holds
        half its size or more, waits for the writer, so live frames always find room. A client that
        reads nothing for SYNC_STALL_SECONDS is cut off. Returns False once the socket is closing."""
        while not self.closing and self.queue.qsize() >= SEND_QUEUE_MAX // 2:
            self.drained.clear()
            try:
                await asyncio.wait_for(self.drained.wait(), SYNC_STALL_SECONDS)
            except TimeoutError:
                await self._cut_off()
        if self.closing:
            return False
        self.queue.put_nowait(item)
        return True

    def _cut_off_soon(self):
        """_cut_off from plain (non-async) code: nothing more is queued meanwhile."""
        self.closing = True
        self._spawn(self._cut_off())

    async def _cut_off(self):
        """A client that cannot keep up is closed with 4408 ("reconnect and sync"); the others never
        wait for it. What was queued for it is dropped, and no frame goes first: it would only wait
        behind the ones the client is not reading, and the close code says it all. The close itself
        goes out when the client reads again, or the connection ends (uvicorn's ping timeout)."""
        if getattr(self, "cut_off", False):
            return
        self.cut_off = self.closing = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.drained.set()
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        if self.in_flight is not None:
            self.in_flight.cancel()
        try:
            await self.close(code=CLOSE_SLOW, reason=SLOW_REASON)
        except Exception:  # the client is gone already
            logger.debug("slow consumer close failed", exc_info=True)

    def _spawn(self, coro):
        self.tasks = [t for t in self.tasks if not t.done()]
        task = asyncio.create_task(coro)
        self.tasks.append(task)
        return task

    async def _error(self, code, message, ref=None):
        await self._enqueue(error_frame(code, message, ref))

    # --- access ----------------------------------------------------------------------------------
    async def _sync_groups(self):
        """The user's and tenant's groups on this socket's channel; rooms through the process's hub.
        Each join is recorded as it succeeds, so a failure halfway leaves nothing behind on leaving."""
        wanted = {realtime.user_group(self.user_id), realtime.tenant_group(self.access.tenant_id)}
        for group in wanted - self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)
        for group in self.groups_joined - wanted:
            self.groups_joined.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)
        hub = RoomHub.of_loop()
        rooms = set(self.access.room_ids)
        for room in rooms - self.rooms_joined:
            await hub.join(room, self, head=self.access.heads.get(room))
            self.rooms_joined.add(room)
        for room in self.rooms_joined - rooms:
            self.rooms_joined.discard(room)
            await hub.leave(room, self)

    def _credential(self):
        return (self.scope.get("auth_kind"), self.scope.get("auth_secret"))

    async def _recheck(self, full=False):
        if self.closing:
            return
        if full:
            valid = await db(credential_is_valid)(self.user, self.scope.get("auth_kind"), self.scope.get("auth_secret"))
            if not valid:
                await self.close(code=CLOSE_UNAUTHENTICATED)
                self.closing = True
                return
        access = await db(load_socket_access)(self.user, tenant_id=self.access.tenant_id, language=self.access.language,
                                              credential=self._credential())
        if access is None:
            self.closing = True
            await self.close(code=CLOSE_FORBIDDEN)
            return
        added = access.room_ids - self.access.room_ids
        removed = self.access.room_ids - access.room_ids
        self.access = access
        try:
            await self._sync_groups()
        except UNAVAILABLE as exc:  # a room it could not join would stay silent: reconnect later instead
            await self._try_again_later(exc)
            return
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
        await self._answering(handler(frame), ref)

    async def _answering(self, work, ref):
        """Awaits a frame's work; whatever it raises becomes an error frame for the sender."""
        try:
            return await work
        except asyncio.CancelledError:
            raise
        except Http404:
            await self._error("not_found", "Not found.", ref=ref)
        except StateConflict as exc:
            await self._error(exc.code, exc.message, ref=ref)
        except PermissionDenied as exc:
            # A refusal with its own code (`otp_required`: verify with TOTP first) keeps it.
            await self._error(getattr(exc, "code", None) or "permission_denied", str(exc) or "Not allowed.", ref=ref)
        except ValidationError as exc:
            fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
            first = next(iter(fields.values()))[0]
            await self._error("validation_error", first, ref=ref)
        except FrameError as exc:
            await self._error(exc.code, exc.message, ref=ref)
        except Exception:
            # A bug or an outage, not the client's doing: logged in full, and the socket stays up.
            logger.exception("socket frame failed")
            await self._error("server_error", "The server could not handle this frame; try again.", ref=ref)

    async def _on_ping(self, frame):
        await self._enqueue({"type": "pong"})

    async def _on_sync(self, frame):
        after = frame.get("after_seq", 0)
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            await self._error("validation_error", "after_seq must be a non-negative integer.", ref=ref_of(frame))
            return
        # Runs beside the frames that follow (a long sync must not hold up a ping or a send), a few
        # at a time: beyond that the socket reads no more frames until one is done. The room's live
        # events are held from now on, and follow the backlog.
        await self.sync_slots.acquire()
        room_id = frame["room"]
        self._hold(room_id)
        self._spawn(self._run_sync(room_id, after, ref_of(frame)))

    async def _run_sync(self, room_id, after, ref):
        try:
            done = await self._answering(self._room_job(room_id, self._sync_backlog(room_id, after)), ref)
            if done:
                await self._enqueue({"type": "synced", "room": room_id, "last_seq": self.last_seq.get(room_id) or 0})
        finally:
            self.sync_slots.release()

    async def _sync_backlog(self, room_id, after):
        head = await db(_room_head)(self.user, self.access, room_id)
        outcome = await self._page_in(room_id, after, head)
        self.last_seq[room_id] = max(self.last_seq.get(room_id) or 0, head)
        return outcome == PAGED

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
        press = await db(_press)(self.user, self.access, frame["room"], frame.get("seq"), frame.get("action"),
                                 frame.get("data"))
        await self._enqueue({"type": "action_result", "room": frame["room"], "ref": ref_of(frame), **press})

    # --- a room's backlog, delivered by this socket itself (a sync, a gap) -------------------------
    def _hold(self, room_id):
        """From now on the room's live events wait in `holding` until the job now queued has run."""
        held = self.holding.get(room_id)
        if held is None:
            held = self.holding[room_id] = collections.deque()
        self.room_jobs[room_id] = self.room_jobs.get(room_id, 0) + 1
        return held

    async def _room_job(self, room_id, work=None):
        """Runs `work` (delivering part of the room's backlog) after the room's earlier jobs, then
        the events held meanwhile, in seq order, completing any gap before each from the database.
        The caller has _hold() the room. Returns what `work` returned (True without work)."""
        lock = self.room_locks.setdefault(room_id, asyncio.Lock())
        result = True
        try:
            async with lock:
                if work is not None:
                    result = await work
                    work = None
                await self._deliver_held(room_id)
        finally:
            if work is not None:
                work.close()  # cancelled while waiting for the lock: never started
            # No await since the last held event was taken: nothing can have been added unseen.
            jobs = self.room_jobs.get(room_id, 1) - 1
            if jobs > 0:
                self.room_jobs[room_id] = jobs
            else:
                self.room_jobs.pop(room_id, None)
                for event in self.holding.pop(room_id, ()):
                    # Only when the job failed: the live path takes over from the held events, and
                    # what the job could not deliver is left to the client's next sync (retrying
                    # here could loop on a room whose access is being withdrawn).
                    if "gap_upto" not in event:
                        last = self.last_seq.get(room_id)
                        if last is not None:
                            self.last_seq[room_id] = max(last, event["seq"] - 1)
                        self.hub_message(event)
        return result

    async def _gap_job(self, room_id):
        try:
            await self._room_job(room_id)
        except Http404:
            logger.debug("socket gap fill: room %s is no longer visible", room_id)
        except Exception:
            logger.exception("socket gap fill failed")

    async def _deliver_held(self, room_id):
        held = self.holding[room_id]
        while held and not self.closing:
            event = held.popleft()
            last = self.last_seq.get(room_id)
            upto = event.get("gap_upto")
            if upto is not None:  # the hub skipped these (realtime.hub): read them here
                if last is None:
                    last = self.last_seq[room_id] = event["after"]
                if upto > last and await self._page_in(room_id, last, upto) == CLOSED:
                    return
                self.last_seq[room_id] = max(self.last_seq.get(room_id) or 0, upto)
                continue
            seq = event["seq"]
            if last is not None and seq <= last:
                continue
            if last is not None and seq > last + 1 and await self._page_in(room_id, last, seq - 1) == CLOSED:
                return
            self.last_seq[room_id] = seq
            if self._forwardable(event) and not await self._put(self._text_of(event)):
                return

    async def _page_in(self, room_id, after, upto):
        """Queues the messages after `after` up to `upto` that this user may see, SYNC_PAGE per
        database read (each re-checks access), waiting for the client between pages. Too far behind:
        a resync frame instead (the client reloads over HTTP)."""
        if upto - after > SYNC_MAX:
            self.last_seq[room_id] = max(self.last_seq.get(room_id) or 0, upto)
            await self._enqueue({"type": "resync", "room": room_id, "reason": "too_far_behind", "last_seq": upto})
            return RESYNC
        cursor = after
        while cursor < upto:
            frames, cursor = await db(_load_page)(self.user, self.access, room_id, cursor, upto, SYNC_PAGE)
            for frame in frames:
                if not await self._put(frame):
                    return CLOSED
        return PAGED

    def _forwardable(self, event):
        """hub_message's rule, for held events (kept inline there: it runs per socket per message)."""
        if event["room"] not in self.access.room_ids:
            return False
        if event.get("internal") and not self.access.is_core:
            return False
        if self.access.whole_room:
            return True
        audience = event.get("core_audience")
        if audience and self.access.is_core and not self.access.roles & set(audience):
            return False
        return event.get("recipient") in (None, self.user_id)

    def _text_of(self, event):
        """The message's text for this reader (realtime.hub.reader_text): in its language, with its
        buttons, and without its reference when the reader does not see the message it refers to
        (messaging.references; `ref` is there only when some reader may not)."""
        ref = event.get("ref")
        hidden = ref is not None and not routing_visible(ref, is_core=self.access.is_core, roles=self.access.roles,
                                                         user_id=self.user_id, whole_room=self.access.whole_room)
        return reader_text(event, self.access, reference_hidden=hidden)

    # --- room events, handed over by the process's RoomHub (plain calls: no task per socket) ------
    def hub_message(self, event):
        if self.closing:
            return
        room_id = event["room"]
        held = self.holding.get(room_id)
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
            self._hold(room_id).append(event)
            self._spawn(self._gap_job(room_id))
            return
        self.last_seq[room_id] = seq
        # The same rule as _forwardable(), inline on this hot path.
        access = self.access
        if event.get("internal") and not access.is_core:
            return
        if not access.whole_room:
            audience = event.get("core_audience")
            if audience and access.is_core and not access.roles & set(audience):
                return
            if event.get("recipient") not in (None, self.user_id):
                return
        text = event["text"] if "ref" not in event and "render" not in event else self._text_of(event)
        if not self.writer_busy and self.queue.empty() and (self.in_flight is None or self.in_flight.done()):
            # Nothing waiting for this socket: write now, without waking its writer task. The
            # server's send waits only when the client has stopped reading, so the eager task
            # usually finishes right here; otherwise later frames queue behind it.
            task = asyncio.Task(self._send_now(text), loop=asyncio.get_running_loop(), eager_start=True)
            self.in_flight = None if task.done() else task
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._cut_off_soon()

    def hub_actions(self, event):
        """A card's buttons changed (messaging.services.message_cards_refresh): this reader's
        `actions` frame, if the card is one this socket may see."""
        if self.closing or not self._forwardable(event):
            return
        try:
            self.queue.put_nowait(reader_text(event, self.access))
        except asyncio.QueueFull:
            self._cut_off_soon()

    def hub_destroyed(self, event):
        """Retention destroyed messages of the room (realtime.publish_destroyed): a `destroyed` frame
        naming those this reader sees, with the notice that replaces them in the reader's language
        (rendered once per language for all the process's sockets). Access as it stands now: the
        room, and each message's routing, as for the messages themselves."""
        if self.closing or event["room"] not in self.access.room_ids:
            return
        access = self.access
        seqs = [row["seq"] for row in event["messages"]
                if routing_visible(row, is_core=access.is_core, roles=access.roles, user_id=self.user_id,
                                   whole_room=access.whole_room)]
        if not seqs:
            return
        notices = event.setdefault("notices", {})
        notice = notices.get(access.language)
        if notice is None:
            notice = notices[access.language] = destroyed_notice(access.language or None)
        try:
            self.queue.put_nowait({"type": "destroyed", "room": event["room"], "seqs": seqs, "body": notice})
        except asyncio.QueueFull:
            self._cut_off_soon()

    def hub_gap(self, room_id, after, upto):
        """The hub skipped the room's messages after `after` up to `upto` (too many to read for every
        socket at once): this socket reads those it may see, paced like a sync."""
        if self.closing or room_id not in self.access.room_ids:
            return
        marker = {"room": room_id, "after": after, "gap_upto": upto}
        if room_id in self.holding:
            self.holding[room_id].append(marker)
            return
        self._hold(room_id).append(marker)
        self._spawn(self._gap_job(room_id))

    def hub_read(self, event):
        if not self.closing and event["frame"]["room"] in self.access.room_ids:
            try:
                self.queue.put_nowait(event["frame"])
            except asyncio.QueueFull:
                self._cut_off_soon()

    # --- events from the channel layer --------------------------------------------------------------
    async def user_frame(self, event):
        if self._may_receive(event):
            await self._enqueue(self._user_frame_of(event))

    def hub_user_frame(self, event):
        """A user frame the process's hub read again (realtime.recovered_frame_events): its publish
        was lost, as the room messages it came with were."""
        if self.closing or not self._may_receive(event):
            return
        try:
            self.queue.put_nowait(self._user_frame_of(event))
        except asyncio.QueueFull:
            self._cut_off_soon()

    def _may_receive(self, event):
        # Checked against this socket's access as it stands now (no database round trip):
        # the frame's tenant, and for a partner's people, their organisation.
        if event.get("tenant") != self.access.tenant_id:
            return False
        return self.access.is_core or bool(self.access.partner_ids & set(event.get("partners") or ()))

    def _user_frame_of(self, event):
        frame, titles = event["frame"], event.get("titles")
        if titles and self.access.language in titles:  # an alert's title, in this socket's language
            frame = {**frame, "title": titles[self.access.language]}
        return frame


PAGED, RESYNC, CLOSED = "paged", "resync", "closed"


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
            except UNAVAILABLE as exc:  # Redis (the cache) is down: the next poll tries again
                logger.warning("socket access poll failed: Redis is unavailable (%s)", exc)
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
    from scm_portal.tenancy.totp import totp_verified_at_for

    context, room = access_tenant_context_and_row(user, access.tenant_id, Room, room_id)
    # The socket's TOTP verification as it is now, read only if something asks (a money button
    # rendered in a sync page, or pressed).
    credential = getattr(access, "credential", ())
    return replace(context, second_factor=lambda: totp_verified_at_for(user, *credential) if credential else None), room


def _room_head(user, access, room_id):
    _context, room = _room(user, access, room_id)
    return room.last_seq


def _load_page(user, access, room_id, after, upto, limit):
    """One page of a sync: the frames of the messages after `after` up to `upto` the user may see,
    at most `limit` read, and where the next page starts (`upto` when there is none)."""
    from messaging.selectors import message_list_after

    context, room = _room(user, access, room_id)
    batch = list(message_list_after(user, room, after, limit))
    frames = [frame for frame in message_frames(user, batch, context, language=access.language) if frame["seq"] <= upto]
    following = batch[-1].seq if len(batch) == limit and batch[-1].seq < upto else upto
    return frames, following


def _post(user, access, frame):
    from messaging.services import message_post

    context, room = _room(user, access, frame["room"])
    internal = frame.get("internal", False)
    if not isinstance(internal, bool):
        raise ValidationError({"internal": "internal must be true or false."})
    with translation.override(access.language):  # the bot answers in the asker's language
        message, created = message_post(
            tenant=context.tenant, actor=user, context=context, room=room, body=frame.get("body"),
            client_id=frame.get("client_id"), subject=frame.get("subject"), internal=internal,
        )
    return message.seq, created


def _read(user, access, room_id, seq):
    from messaging.services import room_read

    context, room = _room(user, access, room_id)
    room_read(tenant=context.tenant, user=user, room=room, seq=seq)


def _press(user, access, room_id, seq, action, data=None):
    from messaging.access import access_message
    from messaging.services import action_press

    context, room = _room(user, access, room_id)
    if not isinstance(action, str):
        raise ValidationError({"action": "action must be a string."})
    message = access_message(user, room, seq)
    with translation.override(access.language):  # a refusal in the presser's language
        press, created = action_press(tenant=context.tenant, actor=user, room=room, message=message, action=action,
                                      context=context, data=data)
    return {"seq": message.seq, "action": action, "already_pressed": not created, "outcome_seq": press.outcome_seq,
            "pressed_by": press.actor.username}
