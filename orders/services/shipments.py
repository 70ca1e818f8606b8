"""Shipments (advance ship notices, 送货单): created by the supplier over one PO or over lines and
part quantities of several POs of the same supplier.

Lock order (docs/ARCHITECTURE.md): the rooms a `shipment_late` alert's cards would go to (only
when the ETA is already past a line's promised date), then the POs (ascending id), then their
lines (ascending id); the alert last.
"""

import zoneinfo
from collections import defaultdict
from datetime import UTC, datetime

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
from messaging.services import message_cards_refresh
from orders import geo
from orders.logistics_alerts import SHIPMENT_ALERT_AUDIENCE
from orders.models import (
    PO_SUPPLIER_ROLES,
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


def _late_line(lines, eta, tz):
    """The first line whose promised (else requested) date is before the ETA's date, or None."""
    if eta is None:
        return None
    eta_date = timezone.localtime(eta, tz).date()
    for line in lines:
        due = line.promised_date or line.requested_date
        if due and eta_date > due:
            return line
    return None


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


@transaction.atomic
def shipment_create(*, tenant, actor, context, purchase_order=None, lines=None, carrier="", tracking_number="",
                    route=None, eta=None):
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
    if errors:
        raise ValidationError(errors)
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

    # Will the ETA be late? Read before any lock, so the alert's rooms are locked first.
    po_ids = sorted(po.pk for po in visible.values())
    tz = _tenant_zone(tenant)
    late_guess = _late_line(PurchaseOrderLine.objects.filter(order_id__in=po_ids), eta, tz)
    if late_guess is not None:
        list(rooms_locked(alert_room_ids(tenant_id=tenant.pk, partner_id=supplier_id)))
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
        tenant=tenant, supplier_id=supplier_id, carrier=carrier, tracking_number=tracking_number,
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

    late = _late_line([line for line, _q in shipping], eta, tz)
    if late is not None:
        shipment_late_raise(tenant=tenant, shipment=shipment, line=late, order=orders[late.order_id], tz=tz)
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


def shipment_late_raise(*, tenant, shipment, line, order, tz):
    """The `shipment_late` alert of a shipment (its rooms locked by the caller first)."""
    with tenant_language(tenant):
        return alerts.alert_raise(
            tenant=tenant, kind="shipment_late", dedupe_key=f"shipment_late:{shipment.pk}",
            subject_kind="shipment", subject_ref=shipment.pk, partner=shipment.supplier,
            core_audience=SHIPMENT_ALERT_AUDIENCE,
            payload={"shipment": shipment.pk, "shipment_number": shipment.number,
                     "eta": timezone.localtime(shipment.eta, tz).date().isoformat(),
                     "promised_date": (line.promised_date or line.requested_date).isoformat(),
                     "purchase_order": order.number, "line": line.line},
        )


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
