"""Row locks on rooms, in the portal's one lock order (docs/ARCHITECTURE.md, "Lock order").

Rooms come second in that order: after tenant-level rows, before any record (a SKU, a PO), its
lines (stock levels) and the alerts about them. A write that locks a room and anything of a
record locks the room first, even when it starts from the record; a write that takes several
rooms takes them all in one statement, in ascending id, before its other row locks. A room is locked FOR UPDATE by
every write that appends to it (its head: the next seq and the chain link), so a message insert
waits for its room only, and rooms never wait on each other.
"""

from django.db import router

from messaging.models import Room
from scm_portal.db.templates import QueryTemplate, attnames

ROOM_FIELDS = attnames(Room)

# Every post takes this lock: its SQL is compiled once, not per message.
_ROOM_LOCK = QueryTemplate(lambda shape, *, pk: Room.objects.select_for_update().filter(pk=pk).values_list(*ROOM_FIELDS))


def rooms_locked(ids):
    """The rooms `ids` (a list of ids, or a query answering ids) locked FOR UPDATE in ascending id
    order, as a values_list of ROOM_FIELDS: one statement, for a QueryTemplate or a pipeline."""
    return Room.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk").values_list(*ROOM_FIELDS)


def room_from_row(row, using):
    return Room.from_db(using, ROOM_FIELDS, row)


def room_lock_sent(pk, using):
    """Sends the lock of one room; the function returned answers the Room as it is now (raises
    Room.DoesNotExist when there is none). Inside scm_portal.db.templates.pipeline() it shares its
    round trip with what is sent after it."""
    fetch = _ROOM_LOCK.send(using=using, pk=pk)

    def room():
        rows = fetch()
        if not rows:
            raise Room.DoesNotExist("Room matching query does not exist.")
        return room_from_row(rows[0], using)

    return room


def room_lock(room):
    """Locks one room; returns it as it is now."""
    return room_lock_sent(room.pk, router.db_for_write(Room))()


def rooms_lock(room_ids):
    """Locks these rooms in ascending id order, the one order of every write that takes several;
    returns {id: Room} as they are now. Inside the caller's transaction, before any record's lock."""
    ids = sorted(set(room_ids))
    if not ids:
        return {}
    using = router.db_for_write(Room)
    if len(ids) == 1:  # most writes: the compiled single-room lock
        return {ids[0]: room_lock_sent(ids[0], using)()}
    rooms = {room.pk: room for room in (room_from_row(row, using) for row in rooms_locked(ids).using(using))}
    if len(rooms) != len(ids):
        raise Room.DoesNotExist(f"rooms_lock: no room {sorted(set(ids) - set(rooms))}")
    return rooms
