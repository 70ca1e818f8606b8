"""Shipments (advance ship notices, 送货单): created by the supplier over one PO or over lines and
part quantities of several POs of the same supplier.

Each shipment posts one card per PO it carries in the supplier's room (orders.cards), and is
checked for `shipment_late` when it is created, when its ETA changes, and by the beat sweep
(`shipment_alert_late`, at `late_check_at`); delivery recovers it (orders.services.receipts).
A shipment may be assigned to a carrier partner, whose dispatchers post its positions.

Lock order (docs/ARCHITECTURE.md): the supplier's room and the internal room (where its cards and
its `shipment_late` alert's cards go), then the POs (ascending id), then their lines (ascending
id); the alert last.
"""

import zoneinfo
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from alerts import services as alerts
from alerts.lock_objects import alert_room_ids
from audit.services import audit_transition
from messaging.lock_objects import rooms_locked
from messaging.models import MessageKind
from messaging.services import event_post_many, message_cards_refresh
from orders import cards, geo
from orders.lock_objects import po_rooms_lock
from orders.logistics_alerts import SHIPMENT_ALERT_AUDIENCE
from orders.models import (
    PO_SUPPLIER_ROLES,
    QualityHold,
    QualityHoldState,
    ShipmentState,
    IllegalTransition,
    LineStatus,
    OrderSettings,
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    PurchaseOrderState,
    RouteCell,
    Shipment,
    ShipmentLine,
    check_po_transition,
)
from scm_portal.errors import StructuredValidationError
from scm_portal.tenancy.context import check_context
from scm_portal.tenancy.models import Partnership
from scm_portal.tenancy.roles import OrganizationKind
from scm_portal.tenancy.selectors import tenant_language

ROUTE_POINTS_MAX = 20_000
SHIPMENT_LINES_MAX = 1_000
SHIPPABLE_STATES = (PurchaseOrderState.CONFIRMED, PurchaseOrderState.SHIPPED)
CLOSED_LINE_STATUSES = (LineStatus.REJECTED, LineStatus.CANCELLED)
QUANTITY_MAX = 10**12
ETA_EARLIEST, ETA_LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


class LogisticsConflict(Exception):
    """A request the record's state refuses (a lot on hold, nothing left to ship); 409 with `code`."""

    def __init__(self, message, *, code):
        super().__init__(message)
        self.code = code


def _is_number(value):
    return type(value) in (int, float)  # not bool, not a string


def check_route(route):
    """The planned route as [(lat, lon, stop)], or a ValidationError naming the bad point."""
    if route in (None, ""):
        return []
    if not isinstance(route, list):
        raise ValidationError({"route": [_("The route is a list of points {\"lat\", \"lon\"}.")]})
    if len(route) > ROUTE_POINTS_MAX:
        raise ValidationError({"route": [_("A route has at most %(max)d points.") % {"max": ROUTE_POINTS_MAX}]})
    points, errors = [], {}
    for index, point in enumerate(route):
        if not isinstance(point, dict) or not point.keys() <= {"lat", "lon", "stop"}:
            errors[str(index)] = [_("A point is {\"lat\", \"lon\"} (and \"stop\": true for a stop).")]
            continue
        lat, lon, stop = point.get("lat"), point.get("lon"), point.get("stop", False)
        if not _is_number(lat) or not -90 <= lat <= 90:
            errors[str(index)] = [_("lat is a number from -90 to 90.")]
        elif not _is_number(lon) or not -180 <= lon <= 180:
            errors[str(index)] = [_("lon is a number from -180 to 180.")]
        elif type(stop) is not bool:
            errors[str(index)] = [_("stop is true or false.")]
        else:
            points.append((float(lat), float(lon), stop))
    if errors:
        raise StructuredValidationError(_("Some points of the route are invalid."), fields={"route": errors})
    return points


def _check_text(value, field, limit, errors):
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        errors[field] = [_("A text of at most %(max)d characters.") % {"max": limit}]
        return ""
    return value


def _check_eta(value, errors):
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = parse_datetime(value) if isinstance(value, str) else None
        except ValueError:
            when = None
    if when is not None and not timezone.is_aware(when):
        when = timezone.make_aware(when)
    # A date far outside any delivery (year 1, year 9999) could not be shown in every time zone.
    if when is None or not ETA_EARLIEST <= when <= ETA_LATEST:
        errors["eta"] = [_("eta is an ISO 8601 date and time.")]
        return None
    return when


def order_settings_for(tenant):
    """The tenant's OrderSettings, or the defaults (unsaved) when it has none."""
    return OrderSettings.objects.filter(tenant=tenant).first() or OrderSettings(tenant=tenant)


def _wanted_lines(purchase_order, lines):
    """[(po number, line number or None, quantity or None)]: None line means every open line of the PO."""
    if (purchase_order is None) == (lines is None):
        raise ValidationError({"purchase_order": [_("Name one purchase_order, or give lines.")]})
    if purchase_order is not None:
        if not isinstance(purchase_order, str) or not purchase_order:
            raise ValidationError({"purchase_order": [_("A purchase order number.")]})
        return [(purchase_order, None, None)]
    if not isinstance(lines, list) or not lines:
        raise ValidationError({"lines": [_("lines is a non-empty list of {\"purchase_order\", \"line\", \"quantity\"}.")]})
    if len(lines) > SHIPMENT_LINES_MAX:
        raise ValidationError({"lines": [_("At most %(max)d lines.") % {"max": SHIPMENT_LINES_MAX}]})
    wanted, errors, seen = [], {}, set()
    for index, row in enumerate(lines):
        if not isinstance(row, dict) or not row.keys() <= {"purchase_order", "line", "quantity"}:
            errors[str(index)] = {"non_field_errors": [_("A line is {\"purchase_order\", \"line\", \"quantity\"}.")]}
            continue
        row_errors = {}
        number, line, quantity = row.get("purchase_order"), row.get("line"), row.get("quantity")
        if not isinstance(number, str) or not number:
            row_errors["purchase_order"] = [_("A purchase order number.")]
        if type(line) is not int or line < 1:
            row_errors["line"] = [_("A line number.")]
        if type(quantity) is not int or not 0 < quantity <= QUANTITY_MAX:
            row_errors["quantity"] = [_("A whole number above zero.")]
        if not row_errors and (number, line) in seen:
            row_errors["line"] = [_("This line is listed twice.")]
        if row_errors:
            errors[str(index)] = row_errors
            continue
        seen.add((number, line))
        wanted.append((number, line, quantity))
    if errors:
        raise StructuredValidationError(_("Some lines are invalid; nothing was shipped."), fields={"lines": errors})
    return wanted


def shipment_lateness(lines, eta, tz, now):
    """(the line it is late for, or None; when to check again, or None) of a shipment in transit
    carrying `lines` (PO lines), arriving at `eta` (None: not given).

    A shipment cannot arrive before now: it is late once the later of its ETA and now falls on a
    day (in the tenant's time zone `tz`) after a line's promised (else requested) date. Not late
    yet, it is checked again when the earliest such date is over (the start of the next day), even
    if nobody touches it: that is the `shipment_late` sweep's due time."""
    dues = sorted(((line.promised_date or line.requested_date), line.order_id, line.line, line) for line in lines
                  if line.promised_date or line.requested_date)
    if not dues:
        return None, None
    arrival = max(eta, now) if eta is not None else now
    arrival_date = timezone.localtime(arrival, tz).date()
    for due, _order, _line, line in dues:
        if arrival_date > due:
            return line, None
    return None, datetime.combine(dues[0][0] + timedelta(days=1), time.min, tzinfo=tz)


def _tenant_zone(tenant):
    try:
        return zoneinfo.ZoneInfo(tenant.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_current_timezone()


def purchase_order_event_record(*, order, actor, action, from_state, to_state, details, at):
    """The PO's history row for a logistics step (ship, receive), inside the step's transaction.
    The PO's event card in the supplier's room is posted by the PO lifecycle's cards beside this
    (orders.cards); its earlier cards' buttons are refreshed here."""
    PurchaseOrderEvent.objects.create(tenant_id=order.tenant_id, order=order, action=action, from_state=from_state,
                                      to_state=to_state, actor=actor, details=details, at=at)
    if from_state != to_state:  # the buttons of the PO's cards follow its state (after commit)
        message_cards_refresh(tenant=order.tenant_id, subject_kind="purchase_order", subject_ref=order.number)


def _check_carrier_organization(tenant, value, errors):
    """The id of the tenant's active carrier partner of this slug, or None (not given)."""
    if value in (None, ""):
        return None, ""
    found = None
    if isinstance(value, str) and len(value) <= 50:
        found = (Partnership.objects.for_tenant(tenant).filter(kind=OrganizationKind.CARRIER, active=True,
                                                                organization__slug=value)
                 .values_list("organization_id", "organization__name").first())
    if found is None:  # another tenant's carrier is as unknown as a missing one
        errors["carrier_organization"] = [_("No such carrier: name a carrier partner of this tenant by its slug.")]
        return None, ""
    return found


def _eta_text(eta, tz):
    return timezone.localtime(eta, tz).strftime("%Y-%m-%d %H:%M") if eta is not None else None


def _quality_hold_ids_held(order_ids):
    """{PO id: [ids of its quality holds still held]} (the PO cards' `held`, orders.cards)."""
    held = defaultdict(list)
    for order_id, pk in (QualityHold.objects.filter(order_id__in=list(order_ids), state=QualityHoldState.HELD)
                         .values_list("order_id", "pk")):
        held[order_id].append(pk)
    return held


def purchase_order_cards_post(*, tenant, posts, room, rooms):
    """Event cards about POs [(order, Card)] in the supplier's `room` (locked with `rooms` by the
    caller, before any record), their subject the PO; the buttons of the PO's earlier cards follow
    its new state (after commit). Nothing is posted without a room (no active partnership)."""
    if room is None or not posts:
        return []
    held = _quality_hold_ids_held({order.pk for order, _card in posts})
    return event_post_many([{
        "tenant": tenant, "room": room, "text": card.text, "payload": card.payload(order),
        "actions": list(card.actions), "subject_kind": "purchase_order", "subject_ref": order.number,
        "subject_state": cards.purchase_order_card_state(order.state, order.supplier_id, held.get(order.pk, ())),
        "kind": MessageKind.EVENT,
    } for order, card in posts], locked=rooms)


@transaction.atomic
def shipment_create(*, tenant, actor, context, purchase_order=None, lines=None, carrier="", tracking_number="",
                    route=None, eta=None, carrier_organization=None):
    """Creates a shipment of one PO's open lines (their remaining quantities) or of `lines`
    [{"purchase_order", "line", "quantity"}] of POs of one supplier; returns it.

    Only reps of the POs' supplier create one (PermissionDenied for anyone else who sees the
    POs; a PO the actor may not see is Http404 when named alone, a row error among lines). Each
    PO must be confirmed or shipped (IllegalTransition); a quantity past what remains unshipped
    is a ValidationError. The POs move confirmed → shipped; each line counts what it shipped."""
    from django.http import Http404

    check_context(context, tenant=tenant, user=actor)
    errors = {}
    carrier = _check_text(carrier, "carrier", 200, errors)
    tracking_number = _check_text(tracking_number, "tracking_number", 100, errors)
    eta = _check_eta(eta, errors)
    carrier_id, carrier_name = _check_carrier_organization(tenant, carrier_organization, errors)
    if errors:
        raise ValidationError(errors)
    carrier = carrier or carrier_name
    points = check_route(route)
    wanted = _wanted_lines(purchase_order, lines)

    numbers = sorted({number for number, _line, _quantity in wanted})
    visible = {po.number: po for po in PurchaseOrder.objects.for_tenant(tenant).visible_to(actor, "view", context=context)
               .filter(number__in=numbers)}
    missing = [n for n in numbers if n not in visible]
    if missing:
        if purchase_order is not None:
            raise Http404
        raise StructuredValidationError(_("Some lines are invalid; nothing was shipped."), fields={"lines": {
            str(i): {"purchase_order": [_("No such purchase order.")]}
            for i, (number, _line, _q) in enumerate(wanted) if number in missing}})
    supplier_ids = {po.supplier_id for po in visible.values()}
    my_suppliers = context.organizations(PO_SUPPLIER_ROLES)
    if not supplier_ids <= set(my_suppliers):
        raise PermissionDenied(_("Only the supplier's representatives create its shipments."))
    if len(supplier_ids) > 1:
        raise ValidationError({"lines": [_("A shipment covers purchase orders of one supplier only.")]})
    supplier_id = supplier_ids.pop()

    # The rooms first (lock order): the supplier's, where the POs' cards go, and the internal room,
    # where a `shipment_late` alert's cards would go with it.
    po_ids = sorted(po.pk for po in visible.values())
    tz = _tenant_zone(tenant)
    room, rooms = po_rooms_lock(tenant_id=tenant.pk, supplier_id=supplier_id)
    orders = {po.pk: po for po in PurchaseOrder.objects.select_for_update().filter(pk__in=po_ids).order_by("pk")}
    order_lines = list(PurchaseOrderLine.objects.select_for_update().filter(order_id__in=po_ids).order_by("pk"))
    for po in orders.values():
        if po.state not in SHIPPABLE_STATES:
            check_po_transition(po, PurchaseOrderState.SHIPPED)  # raises IllegalTransition, named by state
            raise IllegalTransition(_("Purchase order %(number)s cannot be shipped now.") % {"number": po.number})
    by_key = {(orders[line.order_id].number, line.line): line for line in order_lines}

    shipping = []  # (order line, quantity)
    if purchase_order is not None:
        for line in order_lines:
            remaining = line.quantity - line.shipped_quantity
            if remaining > 0 and line.status not in CLOSED_LINE_STATUSES:
                shipping.append((line, remaining))
        if not shipping:
            raise LogisticsConflict(_("Every line of %(number)s is shipped already.") % {"number": purchase_order},
                                    code="nothing_to_ship")
    else:
        row_errors = {}
        for index, (number, line_no, quantity) in enumerate(wanted):
            line = by_key.get((number, line_no))
            if line is None:
                row_errors[str(index)] = {"line": [_("No such line on %(number)s.") % {"number": number}]}
            elif line.status in CLOSED_LINE_STATUSES:
                row_errors[str(index)] = {"line": [_("This line is closed.")]}
            elif quantity > line.quantity - line.shipped_quantity:
                row_errors[str(index)] = {"quantity": [_("Only %(n)d remain unshipped.") % {"n": line.quantity - line.shipped_quantity}]}
            else:
                shipping.append((line, quantity))
        if row_errors:
            raise StructuredValidationError(_("Some lines are invalid; nothing was shipped."), fields={"lines": row_errors})

    settings = order_settings_for(tenant)
    now = timezone.now()
    stops = [[lat, lon] for index, (lat, lon, stop) in enumerate(points) if stop or index in (0, len(points) - 1)]
    shipment = Shipment.objects.create(
        tenant=tenant, supplier_id=supplier_id, carrier=carrier, carrier_organization_id=carrier_id,
        tracking_number=tracking_number,
        route=[{"lat": lat, "lon": lon, **({"stop": True} if stop else {})} for lat, lon, stop in points],
        eta=eta, created_by=actor, stops=stops,
    )
    shipment.number = f"ASN-{shipment.pk:06d}"
    Shipment.objects.filter(pk=shipment.pk).update(number=shipment.number)
    route_index_build(shipment, [(lat, lon) for lat, lon, _stop in points], settings.route_deviation_meters)
    ShipmentLine.objects.bulk_create([ShipmentLine(tenant=tenant, shipment=shipment, order_line=line, quantity=q)
                                      for line, q in shipping])
    for line, quantity in shipping:
        PurchaseOrderLine.objects.filter(pk=line.pk).update(shipped_quantity=F("shipped_quantity") + quantity)
        line.shipped_quantity += quantity
    shipped_by_order = defaultdict(list)
    for line, quantity in shipping:
        shipped_by_order[line.order_id].append({"line": line.line, "quantity": quantity})
    from_states = {}
    for order_id, shipped in sorted(shipped_by_order.items()):
        po = orders[order_id]
        check_po_transition(po, PurchaseOrderState.SHIPPED)
        from_state = from_states[order_id] = po.state
        PurchaseOrder.objects.filter(pk=po.pk).update(state=PurchaseOrderState.SHIPPED, version=F("version") + 1,
                                                      updated_at=now)
        po.state = PurchaseOrderState.SHIPPED
        purchase_order_event_record(order=po, actor=actor, action="ship", from_state=from_state, to_state=po.state,
                 details={"shipment": shipment.pk, "shipment_number": shipment.number, "lines": shipped}, at=now)

    # One card per PO in the supplier's room, before any alert (which reads the rooms afresh).
    purchase_order_cards_post(tenant=tenant, room=room, rooms=rooms, posts=[
        (orders[order_id], cards.shipment_dispatched_card(orders[order_id], shipment=shipment, actor=actor,
                                                          lines=shipped, eta=_eta_text(eta, tz)))
        for order_id, shipped in sorted(shipped_by_order.items())])
    shipment_late_check(tenant=tenant, shipment=shipment, lines=[line for line, _q in shipping],
                        orders={order_id: orders[order_id].number for order_id in shipped_by_order}, tz=tz, now=now)
    shipment_audit(tenant=tenant, actor=actor, shipment=shipment, orders=orders, shipped_by_order=shipped_by_order,
                   from_states=from_states)
    return shipment


def shipment_audit(*, tenant, actor, shipment, orders, shipped_by_order, from_states):
    """The shipment and each PO's move to shipped in the audit log: the transaction's last writes."""
    for order_id, shipped in sorted(shipped_by_order.items()):
        audit_transition(tenant=tenant, actor=actor, object_kind="purchase_order", object_ref=orders[order_id].number,
                         verb="ship", before_state=from_states[order_id], after_state=PurchaseOrderState.SHIPPED,
                         shipment=shipment.number, lines=shipped)
    audit_transition(tenant=tenant, actor=actor, object_kind="shipment", object_ref=shipment.number, verb="create",
                     before_state=None, after_state=shipment.state, carrier=shipment.carrier,
                     purchase_orders=[orders[order_id].number for order_id in sorted(shipped_by_order)])


def _late_key(shipment):
    return f"shipment_late:{shipment.pk}"


def shipment_late_check(*, tenant, shipment, lines, orders, tz, now):
    """Raises the shipment's `shipment_late` when it is late, recovers it when it is no longer
    (an ETA fixed), and sets when the sweep checks it next. The shipment row locked by the caller
    (or just created), after the rooms of its alert. `orders`: {PO id: number} of the lines."""
    late, check_at = shipment_lateness(lines, shipment.eta, tz, now)
    Shipment.objects.filter(pk=shipment.pk).update(late_check_at=check_at)
    shipment.late_check_at = check_at
    if late is not None:
        shipment_late_raise(tenant=tenant, shipment=shipment, line=late, number=orders[late.order_id], tz=tz, now=now)
    else:
        with tenant_language(tenant):
            note = _("Shipment %(number)s is expected on time again.") % {"number": shipment.number}
        alerts.alert_recover(tenant=tenant, dedupe_key=_late_key(shipment), note=note)


def shipment_late_raise(*, tenant, shipment, line, number, tz, now):
    """The `shipment_late` alert of a shipment (its rooms locked by the caller first)."""
    arrival = max(shipment.eta, now) if shipment.eta is not None else now
    with tenant_language(tenant):
        return alerts.alert_raise(
            tenant=tenant, kind="shipment_late", dedupe_key=_late_key(shipment),
            subject_kind="shipment", subject_ref=shipment.pk, partner=shipment.supplier,
            core_audience=SHIPMENT_ALERT_AUDIENCE,
            payload={"shipment": shipment.pk, "shipment_number": shipment.number,
                     "eta": timezone.localtime(arrival, tz).date().isoformat(),
                     "promised_date": (line.promised_date or line.requested_date).isoformat(),
                     "purchase_order": number, "line": line.line},
        )


def shipment_late_recover(*, tenant, shipment_ids):
    """Delivered shipments are no longer late: their `shipment_late` alerts recover and the sweep
    leaves them (rooms locked by the caller first: receiving locks the PO's)."""
    Shipment.objects.filter(pk__in=list(shipment_ids)).update(late_check_at=None)
    for shipment_id, number in (Shipment.objects.filter(pk__in=list(shipment_ids)).order_by("pk")
                                .values_list("pk", "number")):
        with tenant_language(tenant):
            note = _("Shipment %(number)s was delivered.") % {"number": number}
        alerts.alert_recover(tenant=tenant, dedupe_key=f"shipment_late:{shipment_id}", note=note)


def _shipment_lines(shipment_id):
    """The PO lines a shipment carries, with their order's number."""
    lines = list(PurchaseOrderLine.objects.filter(shipment_lines__shipment_id=shipment_id).select_related("order")
                 .order_by("pk"))
    return lines, {line.order_id: line.order.number for line in lines}


@transaction.atomic
def shipment_eta_update(*, tenant, actor, context, shipment, eta):
    """A new ETA for a shipment in transit (None clears it): whoever may change the shipment (its
    supplier's reps, its carrier's dispatchers, the core's logistics roles; PermissionDenied for a
    role that only sees it). `shipment_late` is raised or recovered at once by the new ETA."""
    check_context(context, tenant=tenant, user=actor)
    errors = {}
    eta = _check_eta(eta, errors)
    if errors:
        raise ValidationError(errors)
    if not Shipment.objects.for_tenant(tenant).visible_to(actor, "change", context=context).filter(pk=shipment.pk).exists():
        raise PermissionDenied(_("Your role may not change this shipment."))
    rooms_lock_ids = alert_room_ids(tenant_id=tenant.pk, partner_id=shipment.supplier_id)
    list(rooms_locked(rooms_lock_ids))  # the late alert's rooms, then the shipment
    shipment = Shipment.objects.select_for_update(of=("self",)).select_related("supplier").get(pk=shipment.pk)
    if shipment.state != ShipmentState.IN_TRANSIT:
        raise LogisticsConflict(_("Shipment %(number)s is no longer in transit.") % {"number": shipment.number},
                                code="shipment_closed")
    now = timezone.now()
    shipment.eta = eta
    shipment.save(update_fields=["eta", "updated_at"])
    lines, orders = _shipment_lines(shipment.pk)
    shipment_late_check(tenant=tenant, shipment=shipment, lines=lines, orders=orders, tz=_tenant_zone(tenant), now=now)
    return shipment


def shipment_alert_late(*, now=None, batch_size=200):
    """The `shipment_late` sweep: every shipment in transit whose check is due (late_check_at,
    the day after its earliest due date began) is checked again and, still undelivered, raises
    its alert once (the check is then cleared).

    Each shipment in its own transaction, in the lock order: its alert's rooms, then the shipment
    FOR UPDATE SKIP LOCKED (one being received or updated right now is left to that writer; if it
    is still due, the next sweep takes it), then the alert. Safe on several workers."""
    now = now or timezone.now()
    due = list(Shipment.objects.filter(late_check_at__lte=now, state=ShipmentState.IN_TRANSIT)
               .order_by("late_check_at").values_list("pk", "tenant_id", "supplier_id")[:batch_size])
    raised = 0
    for pk, tenant_id, supplier_id in due:
        with transaction.atomic():
            list(rooms_locked(alert_room_ids(tenant_id=tenant_id, partner_id=supplier_id)))
            shipment = (Shipment.objects.filter(pk=pk, late_check_at__lte=now, state=ShipmentState.IN_TRANSIT)
                        .select_for_update(of=("self",), skip_locked=True).select_related("tenant", "supplier").first())
            if shipment is None:
                continue
            lines, orders = _shipment_lines(pk)
            tenant = shipment.tenant
            late, check_at = shipment_lateness(lines, shipment.eta, _tenant_zone(tenant), now)
            Shipment.objects.filter(pk=pk).update(late_check_at=check_at)
            if late is not None:
                shipment_late_raise(tenant=tenant, shipment=shipment, line=late, number=orders[late.order_id],
                                    tz=_tenant_zone(tenant), now=now)
                raised += 1
    return raised


def route_index_build(shipment, points, margin_m):
    """(Re)builds the shipment's route index (RouteCell rows) for detours of `margin_m` metres."""
    RouteCell.objects.filter(shipment=shipment).delete()
    if len(points) >= 2:
        cell_deg, cells = geo.route_cells(points, margin_m)
    elif points:  # a route of one point: a degenerate segment
        cell_deg, cells = geo.route_cells([points[0], points[0]], margin_m)
    else:
        cell_deg, cells = None, {}
    RouteCell.objects.bulk_create(
        [RouteCell(tenant_id=shipment.tenant_id, shipment=shipment, cell=key, segments=geo.pack(segments))
         for key, segments in cells.items()], batch_size=2000)
    Shipment.objects.filter(pk=shipment.pk).update(route_cell_deg=cell_deg, route_margin_meters=margin_m)
    shipment.route_cell_deg, shipment.route_margin_meters = cell_deg, margin_m
