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


class _RoomState:
    __slots__ = ("sockets", "head", "pending", "filling")

    def __init__(self):
        self.sockets = set()
        self.head = None  # highest seq handed to the sockets (None: nothing since the hub joined)
        self.pending = {}  # seq -> event that arrived ahead of a gap
        self.filling = None  # the task waiting for / reading the gap


class RoomHub(PerLoop):
    """The process's room subscriptions (one hub per event loop)."""

    def __init__(self):
        self.layer = get_channel_layer()
        self.channel = None
        self.rooms = {}
        self.reader = None
        self.lock = asyncio.Lock()
        realtime.set_local_receiver(asyncio.get_running_loop(), self.deliver_local)

    async def _ensure_channel(self):
        if self.channel is None:
            # The layer's default prefix: the core Redis layer reads all of a process's own
            # channels from one queue named by that prefix, so another prefix is never read.
            self.channel = await self.layer.new_channel()
        if self.reader is None or self.reader.done():
            self.reader = asyncio.create_task(self._read())

    async def join(self, room_id, socket):
        async with self.lock:
            state = self.rooms.get(room_id)
            if state is None:
                await self._ensure_channel()
                state = self.rooms[room_id] = _RoomState()
                await self.layer.group_add(realtime.room_group(room_id), self.channel)
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
                await self.layer.group_discard(realtime.room_group(room_id), self.channel)

    def deliver_local(self, events):
        """Room messages this process publishes, handed to its own sockets as soon as the channel
        layer has taken them (realtime._LoopPublisher), not when the layer brings them back: those
        copies are then dropped by seq, as already handed out (or these are, if a copy won)."""
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
            except Exception:
                logger.exception("room hub: could not hand out %s", event.get("type"))

    def _on_read(self, event):
        state = self.rooms.get(event["frame"]["room"])
        if state is not None:
            for socket in list(state.sockets):
                socket.hub_read(event)

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
                state.filling = asyncio.create_task(self._fill_gap(event["room"], state))
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

    async def _fill_gap(self, room_id, state):
        """Waits a moment for out-of-order publishes, then reads what is still missing, once."""
        try:
            await asyncio.sleep(REORDER_WAIT_SECONDS)
            while state.pending:
                upto = min(state.pending)
                if upto > state.head + 1:
                    events = await _load_events(room_id, state.head, upto)
                    if self.rooms.get(room_id) is not state:
                        return
                    for event in events:
                        if event["seq"] > state.head:
                            self._hand_out(state, event)
                    state.head = max(state.head, upto - 1)  # nothing more is stored below `upto`
                self._drain(state)
                if state.pending and min(state.pending) <= state.head:
                    state.pending = {s: e for s, e in state.pending.items() if s > state.head}
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


async def _load_events(room_id, after, upto):
    from realtime.consumers import db

    return await db(_room_events_between)(room_id, after, upto)


def _room_events_between(room_id, after, upto):
    from messaging.selectors import message_list_between

    return [realtime.room_message_event(m, list(m.attachments.all())) for m in message_list_between(room_id, after, upto)]
