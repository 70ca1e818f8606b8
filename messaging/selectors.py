"""Reads of rooms and messages, always through the tenancy choke point."""

from django.db.models import IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from messaging.models import Message, ReadState, Room
from scm_portal.tenancy.context import check_context

PAGE_MAX = 500
# Unread messages are counted up to here (shown as "99+"): the room list costs the same however
# much a user has left unread (a warehouse that never opens the internal room gathers thousands
# of alert cards there).
UNREAD_COUNT_CAP = 100


class _CountUpTo(Subquery):
    """count(*) of a sliced subquery: the database stops reading at the slice's end."""

    template = "(SELECT count(*) FROM (%(subquery)s) AS counted)"
    output_field = IntegerField()


def room_list(user, tenant, *, context):
    """Rooms the user sees in the tenant, with `unread` (see room_list_from). `context`: the
    request's TenantContext: its form of the rule has constants where the generic one has
    membership sub-queries (for every room's count), which took tens of milliseconds to build
    and plan."""
    check_context(context, tenant=tenant, user=user)
    return room_list_from(Room.objects.for_tenant(tenant).visible_to(user, "view", context=context), user, context)


def room_list_from(queryset, user, context):
    """`queryset`'s rooms, most recently active first, with `unread`: messages by others after
    the user's read mark that the user may see, up to UNREAD_COUNT_CAP. Narrows only; the caller
    scopes `queryset` (the API's base scopes after it)."""
    last_read = ReadState.objects.filter(room=OuterRef(OuterRef("pk")), user=user).values("last_read_seq")[:1]
    unread_messages = (
        Message.objects.filter(room=OuterRef("pk"), seq__gt=Coalesce(Subquery(last_read), Value(0)))
        .exclude(sender=user)
        .visible_to(user, context=context)
    )
    return (
        queryset.select_related("partnership__organization")
        .annotate(unread=_CountUpTo(unread_messages.order_by().values("pk")[:UNREAD_COUNT_CAP]))
        .order_by("-last_message_at", "-pk")
    )


def message_list(user, room):
    return (
        Message.objects.filter(room=room)
        .visible_to(user)
        .select_related("sender")
        .prefetch_related("attachments")
    )


def message_list_after(user, room, after_seq=0, limit=100):
    """Messages after `after_seq`, oldest first, at most `limit` (gaps are messages the user may not see)."""
    limit = max(1, min(int(limit), PAGE_MAX))
    return list(message_list(user, room).filter(seq__gt=after_seq).order_by("seq")[:limit])


def message_list_before(user, room, before_seq, limit=50):
    """The `limit` messages before `before_seq`, returned oldest first (for scrolling up)."""
    limit = max(1, min(int(limit), PAGE_MAX))
    page = list(message_list(user, room).filter(seq__lt=before_seq).order_by("-seq")[:limit])
    page.reverse()
    return page


def message_list_about(user, tenant, subject_kind, subject_ref, limit=200):
    """A record's conversation: every message linked to it that the user may see, oldest first."""
    return list(
        Message.objects.for_tenant(tenant)
        .filter(subject_kind=subject_kind, subject_ref=str(subject_ref))
        .visible_to(user)
        .select_related("sender", "room")
        .prefetch_related("attachments")
        .order_by("created_at", "room_id", "seq")[:limit]
    )


def message_search(user, tenant, query, room=None, limit=50):
    """Messages containing `query` (case-insensitive substring: works for Chinese without a tokenizer)."""
    # A tombstone's body is cleared; it is left out by name too, so search never answers one.
    queryset = Message.objects.for_tenant(tenant).visible_to(user).filter(body__icontains=query, destroyed_at__isnull=True)
    if room is not None:
        queryset = queryset.filter(room=room)
    return list(queryset.select_related("sender", "room").prefetch_related("attachments").order_by("-created_at", "-pk")[:limit])


def message_references_hidden(user, messages, context=None):
    """The ids of those of `messages` (messages the user sees) whose reference (refers_to) the
    user does not see (messaging.references): their frames go out without it. One query, none
    when every reference is among `messages`."""
    shown = {(m.room_id, m.seq) for m in messages}
    wanted = {}
    for message in messages:
        if message.refers_to is not None and (message.room_id, message.refers_to) not in shown:
            wanted.setdefault(message.room_id, set()).add(message.refers_to)
    if not wanted:
        return set()
    condition = Q(pk__in=[])
    for room_id, seqs in sorted(wanted.items()):
        condition |= Q(room_id=room_id, seq__in=sorted(seqs))
    seen = set(Message.objects.filter(condition).visible_to(user, context=context).values_list("room_id", "seq"))
    return {m.pk for m in messages
            if m.refers_to is not None and (m.room_id, m.refers_to) not in shown and (m.room_id, m.refers_to) not in seen}


def message_list_between(room_id, after_seq, before_seq):
    """Every message of a room with after_seq < seq < before_seq, for the socket hub's gap fill.

    Not filtered by user: like a live publish, each socket checks every message against its own
    access before forwarding it (realtime.consumers.TenantSocketConsumer.hub_message)."""
    return list(
        Message.objects.filter(room_id=room_id, seq__gt=after_seq, seq__lt=before_seq)
        .select_related("sender")
        .prefetch_related("attachments")
        .order_by("seq")
    )
