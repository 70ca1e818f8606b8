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
from messaging.models import Room, RoomKind


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


def alert_rooms_lock(*, tenant_id, partner_id=None):
    """Locks the rooms a new alert's cards go to, in ascending id (as rooms_lock does), in one
    statement; returns them as they now are, the partner's room first, then the internal room."""
    rooms = Room.objects.select_for_update(of=("self",)).filter(
        pk__in=alert_room_ids(tenant_id=tenant_id, partner_id=partner_id)).order_by("pk")
    return sorted(rooms, key=lambda room: (room.kind == RoomKind.INTERNAL, room.pk))


def alerts_locked(alerts, *, skip_locked=False):
    """`alerts` (a query of alerts) locked FOR UPDATE in ascending id order, as a query (the
    caller may add select_related and filters). Only for a holder of their card rooms."""
    return alerts.select_for_update(of=("self",), skip_locked=skip_locked).order_by("pk")


def alert_lock(alert_id, *, tenant=None):
    """Locks one alert (of `tenant`, when named), its card rooms already locked by the caller;
    returns it as it now is, with its tenant, policy and partner."""
    alerts = Alert.objects.for_tenant(tenant) if tenant is not None else Alert.objects.all()
    return alerts_locked(alerts.filter(pk=alert_id)).select_related("tenant", "policy", "partner").get()
