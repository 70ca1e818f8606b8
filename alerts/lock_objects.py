"""Row locks on alerts, in the portal's one lock order (docs/ARCHITECTURE.md, "Lock order").

An alert comes last: after the rooms, and after the domain's records and lines it is about (a
write learns which alerts it raises or recovers only once it has changed them). And every write
that locks an alert holds the rooms of all its cards first (alert.cards, fixed when it is
raised), in one rooms_lock with any other room it writes to: the buttons on its cards
(action_press locks the rooms the action names), the lifecycle services, recovery, the
escalation sweep. So the lock of an alert only ever waits for a writer that is done with every
room it needs.

Where a new alert's cards go (alert_room_ids) is decided here, once: the tenant's internal room
and the partner's room. A domain write that may raise alerts later in its transaction locks
those rooms with its first locks (inventory.lock_objects.stock_alert_rooms_lock_sent).
"""

from django.db.models import Q

from alerts.models import Alert
from messaging.lock_objects import room_from_row, rooms_locked
from messaging.models import Room, RoomKind
from scm_portal.db.templates import QueryTemplate


def alert_room_ids(*, tenant_id, partner_id=None, partners=None):
    """The ids of the rooms an alert's cards go to, as a query: the tenant's first internal room
    for everyone, and the room of each active partnership of the partner `partner_id` (or of
    `partners`, a query answering organisation ids, for the alerts of several partners)."""
    internal = Room.objects.filter(tenant_id=tenant_id, kind=RoomKind.INTERNAL, team_role="").order_by("pk").values("pk")[:1]
    wanted = Q(pk__in=internal)
    if partner_id is not None:
        partner_rooms = Room.objects.filter(tenant_id=tenant_id, partnership__active=True, partnership__organization_id=partner_id)
        wanted |= Q(pk__in=partner_rooms.values("pk"))
    if partners is not None:
        partner_rooms = Room.objects.filter(tenant_id=tenant_id, partnership__active=True, partnership__organization_id__in=partners)
        wanted |= Q(pk__in=partner_rooms.values("pk"))
    return Room.objects.filter(wanted).values("pk")


def _alert_rooms_query(shape, *, tenant_id, partner_id=None):
    return rooms_locked(alert_room_ids(tenant_id=tenant_id, partner_id=partner_id))


# Sent for every alert raised: compiled once per shape (with or without a partner).
_ALERT_ROOMS_LOCK = QueryTemplate(_alert_rooms_query)


def alert_rooms_lock_sent(tenant_id, partner_id, using):
    """Locks the rooms a new alert's cards go to (ascending id, as rooms_lock does) by one read,
    sent; the function returned answers them, the partner's room first, then the internal room
    (see scm_portal.db.templates.pipeline)."""
    params = {"tenant_id": tenant_id}
    if partner_id:
        params["partner_id"] = partner_id
    fetch = _ALERT_ROOMS_LOCK.send(shape=bool(partner_id), using=using, **params)

    def rooms():
        found = [room_from_row(row, using) for row in fetch()]
        return sorted(found, key=lambda room: (room.kind == RoomKind.INTERNAL, room.pk))

    return rooms


def alerts_locked(alerts, *, skip_locked=False):
    """`alerts` (a query of alerts) locked FOR UPDATE in ascending id order, as a query (the
    caller may add select_related and filters). Only for a holder of their card rooms."""
    return alerts.select_for_update(of=("self",), skip_locked=skip_locked).order_by("pk")


def alert_lock(alert_id, *, tenant=None):
    """Locks one alert (of `tenant`, when named), its card rooms already locked by the caller;
    returns it as it now is, with its tenant, policy and partner."""
    alerts = Alert.objects.for_tenant(tenant) if tenant is not None else Alert.objects.all()
    return alerts_locked(alerts.filter(pk=alert_id)).select_related("tenant", "policy", "partner").get()
