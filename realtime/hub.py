"""One room subscription per server process, handing each room event to the local sockets.

Without it every socket joins `room.<id>` on the channel layer itself, so a message to a room of
1,000 sockets in one process costs 1,000 channel-layer deliveries (a queue put, a message decode
and a consumer dispatch each) before any socket writes a byte. With it the process joins each
room group once, on one channel of its own, and a message costs one delivery plus a cheap
in-process call per local socket, which checks the frame against that socket's access and queues
the already-serialised text.

The hub also keeps each room's events in seq order for its sockets: with several server
processes publishes can arrive out of order, so a frame that skips ahead waits briefly for the
missing ones, and if they do not come (a lost publish), they are read once from the database for
the whole process rather than once per socket.
"""

import asyncio
import logging

from channels.layers import get_channel_layer
from django.conf import settings

import realtime
from realtime.per_loop import PerLoop

logger = logging.getLogger(__name__)

# How long a frame that skips ahead waits for the missing seqs before the database is asked.
REORDER_WAIT_SECONDS = getattr(settings, "WS_REORDER_WAIT_SECONDS", 0.05)
# Every this often the hub reads the heads (last seq) of the rooms it serves, one query for all. A
# room where the hub has still not handed out what the database held at the previous check (so not
# a publish in flight) missed a publish: Redis was down, restarting, or dropped it. What it missed is
# then read from the database once for the process, as for a gap: within one to two periods.
HEAD_CHECK_SECONDS = getattr(settings, "WS_HEAD_CHECK_SECONDS", 1.5)
# A gap longer than this is not read for every socket at once: each socket reads it itself, paced
# by its client like a sync (TenantSocketConsumer.hub_gap).
FILL_MAX = getattr(settings, "WS_HUB_FILL_MAX", 200)


class _RoomState:
    __slots__ = ("sockets", "head", "pending", "filling", "checked")

    def __init__(self, head=None):
        self.sockets = set()
        self.head = head  # highest seq handed to the sockets, or the room's head when the hub joined it
        self.pending = {}  # seq -> event that arrived ahead of a gap
        self.filling = None  # the task waiting for / reading the gap
        self.checked = None  # the room's head in the database at the last head check


class RoomHub(PerLoop):
    """The process's room subscriptions (one hub per event loop)."""

    def __init__(self):
        self.layer = get_channel_layer()
        self.channel = None
        self.rooms = {}
        self.reader = None
        self.watcher = None
        self.lock = asyncio.Lock()
        realtime.set_local_receiver(asyncio.get_running_loop(), self.deliver_local)

    async def _ensure_channel(self):
        if self.channel is None:
            # The layer's default prefix: the core Redis layer reads all of a process's own
            # channels from one queue named by that prefix, so another prefix is never read.
            self.channel = await self.layer.new_channel()
        if self.reader is None or self.reader.done():
            self.reader = asyncio.create_task(self._read())
        if self.watcher is None or self.watcher.done():
            self.watcher = asyncio.create_task(self._watch_heads())

    async def join(self, room_id, socket, head=None):
        """`head`: the room's last seq as the socket's access was loaded (where tracking starts)."""
        async with self.lock:
            state = self.rooms.get(room_id)
            if state is None:
                await self._ensure_channel()
                state = self.rooms[room_id] = _RoomState(head)
                try:
                    await self.layer.group_add(realtime.room_group(room_id), self.channel)
                except BaseException:
                    del self.rooms[room_id]  # not subscribed: the next join tries again
                    raise
            elif state.head is None:
                state.head = head
            state.sockets.add(socket)

    async def leave(self, room_id, socket):
        async with self.lock:
            state = self.rooms.get(room_id)
            if state is None:
                return
            state.sockets.discard(socket)
            if not state.sockets:
                del self.rooms[room_id]
                if state.filling is not None:
                    state.filling.cancel()
                try:
                    await self.layer.group_discard(realtime.room_group(room_id), self.channel)
                except Exception as exc:  # Redis is down: the subscription goes with the connection
                    logger.warning("room hub: could not leave room %s (%s)", room_id, exc)

    def deliver_local(self, events):
        """Room messages this process publishes, handed to its own sockets as soon as the channel
        layer has taken them (realtime._LoopPublisher), not when the layer brings them back: those
        copies are then dropped by seq, as already handed out (or these are, if a copy won).
        Button updates (`room.actions`) come only through the layer: they carry no seq to drop a
        second copy by, and nobody is waiting on them."""
        for group, event in events:
            if event.get("type") == "room.message" and event.get("room") in self.rooms \
                    and group == realtime.room_group(event["room"]):
                self._on_message(event)

    # --- events from the channel layer -----------------------------------------------------------
    async def _read(self):
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("room hub: channel layer receive failed")
                await asyncio.sleep(0.5)
                continue
            try:
                kind = event.get("type")
                if kind == "room.message":
                    self._on_message(event)
                elif kind == "room.read":
                    self._on_read(event)
                elif kind == "room.actions":
                    self._on_actions(event)
                elif kind == "room.destroyed":
                    self._on_destroyed(event)
            except Exception:
                logger.exception("room hub: could not hand out %s", event.get("type"))

    def _on_read(self, event):
        state = self.rooms.get(event["frame"]["room"])
        if state is not None:
            for socket in list(state.sockets):
                socket.hub_read(event)

    def _on_actions(self, event):
        state = self.rooms.get(event["room"])
        if state is not None:
            for socket in list(state.sockets):
                socket.hub_actions(event)

    def _on_destroyed(self, event):
        state = self.rooms.get(event["room"])
        if state is not None:
            for socket in list(state.sockets):
                socket.hub_destroyed(event)

    def _on_message(self, event):
        state = self.rooms.get(event["room"])
        if state is None:
            return
        seq = event["seq"]
        if state.head is not None and seq <= state.head:
            return  # already handed out (a gap fill got there first)
        if state.head is not None and seq > state.head + 1:
            state.pending[seq] = event
            if state.filling is None:
                state.filling = asyncio.create_task(self._fill(event["room"], state, REORDER_WAIT_SECONDS))
            return
        self._hand_out(state, event)
        self._drain(state)

    def _hand_out(self, state, event):
        state.head = event["seq"]
        for socket in list(state.sockets):
            socket.hub_message(event)

    def _drain(self, state):
        while state.pending and state.head is not None and state.head + 1 in state.pending:
            self._hand_out(state, state.pending.pop(state.head + 1))

    async def _fill(self, room_id, state, wait, target=0):
        """Waits `wait` for publishes in flight, then hands out, in order, whatever is still missing
        before the events held in `pending` and up to `target`: read once from the database for the
        whole process (each socket filters it by its own access), or for a long gap, read by each
        socket itself."""
        try:
            await asyncio.sleep(wait)
            while self.rooms.get(room_id) is state:
                self._drain(state)
                state.pending = {s: e for s, e in state.pending.items() if s > state.head}
                goal = min(state.pending) - 1 if state.pending else target
                if goal <= state.head:
                    break
                after = state.head
                if goal - after > FILL_MAX:
                    for socket in list(state.sockets):
                        socket.hub_gap(room_id, after, goal)
                    state.head = goal
                    continue
                events, recovered = await _load_events(room_id, after, goal + 1)
                if self.rooms.get(room_id) is not state:
                    return
                for event in events:
                    if event["seq"] > state.head:
                        self._hand_out(state, event)
                state.head = max(state.head, goal)  # nothing more is stored up to `goal`
                for event in recovered:  # e.g. the alert frames published with the missed cards
                    for socket in list(state.sockets):
                        socket.hub_user_frame(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The sockets' own seq checks still fill the gap from the database, per socket.
            logger.exception("room hub: gap fill failed for room %s", room_id)
            for seq in sorted(state.pending):
                self._hand_out(state, state.pending.pop(seq))
        finally:
            if self.rooms.get(room_id) is state:
                state.filling = None

    # --- the rooms' heads, checked against the database ------------------------------------------
    async def _watch_heads(self):
        while True:
            await asyncio.sleep(HEAD_CHECK_SECONDS)
            if not self.rooms:
                continue
            try:
                await self.check_heads()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("room hub: head check failed (%s)", exc)

    async def check_heads(self):
        """Reads the heads of the rooms this process serves; a room the hub is still behind since
        the previous check is caught up from the database."""
        from realtime.consumers import db

        heads = await db(_room_heads)(list(self.rooms))
        for room_id, head in heads.items():
            state = self.rooms.get(room_id)
            if state is None:
                continue
            if state.head is None:
                state.head = head  # joined without a head: tracking starts here
            elif state.checked is not None and state.head < state.checked and state.filling is None:
                state.filling = asyncio.create_task(self._fill(room_id, state, 0, target=head))
            state.checked = head


class ReaderFrames:
    """The frames of one message (or one button update) for its different readers, each built
    once in this process: the text rendered once per language, the buttons once per reader key
    (language and memberships: realtime.access_state.SocketAccess.reader_key). A socket's share
    is then a dict lookup."""

    __slots__ = ("event", "parts", "texts", "bodies", "message", "personal")

    def __init__(self, event):
        self.event = event
        self.parts = event["render"]
        self.texts = {}  # (reader key, reference hidden) -> serialised frame
        self.bodies = {}  # language -> (body, body_html)
        self.message = None
        self.personal = None  # whether its buttons are decided per person (computed once)

    def text_for(self, access, reference_hidden=False):
        key = (access.reader_key, reference_hidden)
        if self._personal():
            # Buttons decided per person (registry.Action.personal): this reader's own frame.
            context = access.context
            key += (context.user_id, context.second_factor_at) if context is not None else (None, None)
        text = self.texts.get(key)
        if text is None:
            text = self.texts[key] = self._build(access, reference_hidden)
        return text

    def _personal(self):
        if self.personal is None:
            from messaging import registry

            self.personal = any(getattr(registry.ACTIONS.get(a.get("name")), "personal", False)
                                for a in self.parts.get("stored_actions") or ())
        return self.personal

    def _build(self, access, reference_hidden):
        from messaging.references import without_reference

        from messaging.frames import body_html, message_actions
        from messaging.texts import text_render

        parts, language = self.parts, access.language
        frame = dict(parts["frame"])
        actions = message_actions(self._message(), context=access.context, record=parts["record"], language=language)
        if self.event["type"] == "room.actions":
            return realtime.frame_text({"type": "actions", "room": frame["room"], "seq": frame["seq"], "actions": actions})
        if parts["stored_text"] is not None:
            body = self.bodies.get(language)
            if body is None:
                rendered = text_render(parts["stored_text"], language, fallback=frame["body"])
                body = self.bodies[language] = (rendered, body_html(rendered))
            frame["body"], frame["body_html"] = body
        frame["actions"] = actions
        return realtime.frame_text(without_reference(frame) if reference_hidden else frame)

    def _message(self):
        """The message as the buttons' `available` reads it (built from the event: no database)."""
        if self.message is None:
            from messaging.models import Message

            frame, parts = self.parts["frame"], self.parts
            subject = frame.get("subject") or {}
            self.message = Message(
                tenant_id=parts["tenant"], room_id=frame["room"], seq=frame["seq"], kind=frame["kind"],
                body=frame["body"], text=parts["stored_text"], payload=frame["payload"],
                actions=parts["stored_actions"], subject_kind=subject.get("kind", ""), subject_ref=subject.get("id", ""),
                internal=frame["internal"], core_audience=parts["core_audience_value"], recipient_id=frame["recipient"],
                refers_to=frame["refers_to"], relation=frame["relation"],
            )
        return self.message


def reader_text(event, access, reference_hidden=False):
    """The serialised frame of a room event for the socket with `access`: the shared one, or, for
    a message that reads differently per reader, this reader's (ReaderFrames, cached on the event).
    `reference_hidden`: the reader does not see the message this one refers to (its copy leaves
    the reference out: messaging.references)."""
    frames = event.get("frames")
    if frames is None:
        if "render" not in event:
            return event["text_unreferenced"] if reference_hidden else event["text"]
        frames = event["frames"] = ReaderFrames(event)
    return frames.text_for(access, reference_hidden)


async def _load_events(room_id, after, upto):
    from realtime.consumers import db

    return await db(_room_events_between)(room_id, after, upto)


def _room_events_between(room_id, after, upto):
    """The room events of the messages after `after` and before `upto`, and the frames of the records
    they are about (realtime.recovered_frame_events): their publishes were lost with the messages'."""
    from messaging.selectors import message_list_between

    messages = message_list_between(room_id, after, upto)
    return realtime.room_message_events(messages), realtime.recovered_frame_events(messages)


def _room_heads(room_ids):
    """{room id: last seq} for the rooms a process serves: one indexed query, by primary key. Not
    filtered by user: the heads go no further than the hub, and each socket checks every message
    it forwards against its own access."""
    from messaging.models import Room

    heads = {}
    for start in range(0, len(room_ids), 5000):
        heads.update(Room.objects.filter(pk__in=room_ids[start:start + 5000]).values_list("pk", "last_seq"))
    return heads
