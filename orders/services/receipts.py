"""Goods receipts against a shipped PO, their inspections, and quality holds.

A receipt line records what arrived, its inspection (pass or fail) and its lot. What passed
goes into stock through inventory's movement batch (external id `receipt:<id>`, so a replay
never books twice); what failed is held: a QualityHold row for the lot (of that SKU), a
`quality_hold` alert for the warehouse role and the supplier, and further receipt of the lot
refused (409 `lot_on_hold`) until someone releases the hold with a reason.

Each receipt posts its card in the supplier's room (accepted and rejected per line and lot), and
one card per lot it puts on hold, whose link opens the PO's page to release it with a reason; a
shipment received in full is delivered and its `shipment_late` alert recovers.

Lock order (docs/ARCHITECTURE.md): the rooms the PO's alerts go to (the tenant's internal room
and the supplier's), then the PO, then its lines (ascending id), then the stock movement batch
(its SKUs and levels), then the alerts.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts import services as alerts
from alerts.lock_objects import alert_room_ids
from alerts.models import Alert
from audit.services import audit_transition
from inventory.services import stock_movement_ingest
from messaging.lock_objects import rooms_lock
from messaging.models import RoomKind
from messaging.services import message_cards_refresh
from orders import cards
from orders.lock_objects import po_rooms_lock
from orders.logistics_alerts import QUALITY_ALERT_AUDIENCE
from orders.models import (
    PO_RECEIVERS,
    Inspection,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    QualityHold,
    QualityHoldState,
    Receipt,
    Shipment,
    ShipmentLine,
    ShipmentState,
    check_po_transition,
)
from orders.services.shipments import (
    CLOSED_LINE_STATUSES,
    QUANTITY_MAX,
    LogisticsConflict,
    purchase_order_cards_post,
    purchase_order_event_record,
    shipment_late_recover,
)
from scm_portal.errors import StructuredValidationError
from scm_portal.tenancy.context import check_context
from scm_portal.tenancy.selectors import tenant_language

RECEIPT_LINES_MAX = 1000
LOT_MAX = 64
REASON_MAX = 2000


def check_receiver(context):
    if not context.roles & PO_RECEIVERS:
        raise PermissionDenied(_("Only the warehouse receives goods."))


def _receipt_rows(lines):
    """[(line number, quantity or None, inspection, lot)] or a ValidationError naming bad rows.
    None (an empty body): everything shipped and not yet received, inspected pass."""
    if lines is None:
        return None
    if not isinstance(lines, list) or not lines:
        raise ValidationError({"lines": [_("lines is a non-empty list of {\"line\", \"quantity\", \"inspection\", \"lot\"}.")]})
    if len(lines) > RECEIPT_LINES_MAX:
        raise ValidationError({"lines": [_("At most %(max)d lines.") % {"max": RECEIPT_LINES_MAX}]})
    rows, errors, seen = [], {}, set()
    for index, row in enumerate(lines):
        if not isinstance(row, dict) or not row.keys() <= {"line", "quantity", "inspection", "lot"}:
            errors[str(index)] = {"non_field_errors": [_("A line is {\"line\", \"quantity\", \"inspection\", \"lot\"}.")]}
            continue
        line, quantity = row.get("line"), row.get("quantity")
        inspection, lot = row.get("inspection", Inspection.PASS), row.get("lot", "")
        row_errors = {}
        if type(line) is not int or line < 1:
            row_errors["line"] = [_("A line number.")]
        if quantity is not None and (type(quantity) is not int or not 0 < quantity <= QUANTITY_MAX):
            row_errors["quantity"] = [_("A whole number above zero.")]
        if inspection not in Inspection.values:
            row_errors["inspection"] = [_("inspection is \"pass\" or \"fail\".")]
        if not isinstance(lot, str) or len(lot) > LOT_MAX or "\x00" in lot:
            row_errors["lot"] = [_("A lot is a text of at most %(max)d characters.") % {"max": LOT_MAX}]
        elif inspection == Inspection.FAIL and not lot.strip():
            row_errors["lot"] = [_("A failed inspection names its lot, so that the lot can be held.")]
        if not row_errors and (line, lot) in seen:
            row_errors["line"] = [_("This line and lot are listed twice.")]
        if row_errors:
            errors[str(index)] = row_errors
            continue
        seen.add((line, lot))
        rows.append((line, quantity, inspection, lot.strip()))
    if errors:
        raise StructuredValidationError(_("Some lines are invalid; nothing was received."), fields={"lines": errors})
    return rows


@transaction.atomic
def receipt_create(*, tenant, actor, context, order, lines=None):
    """Receives goods of `order` (a PO the actor sees); returns the Receipt rows created.

    `lines` [{"line", "quantity", "inspection", "lot"}] (quantity defaults to what is shipped and
    not received); None receives everything shipped, inspected pass. Only PO_RECEIVERS
    (PermissionDenied); the PO must be shipped (IllegalTransition, 409); a quantity past what is
    shipped and not received is a ValidationError; a lot on hold is LogisticsConflict
    `lot_on_hold`. The PO becomes received once every line is received in full (or closed)."""
    check_context(context, tenant=tenant, user=actor)
    check_receiver(context)
    rows = _receipt_rows(lines)
    # Rooms first: the receipt's cards go to the supplier's, a failed inspection raises
    # quality_hold into both, a delivered shipment's shipment_late recovers in both.
    room, rooms = po_rooms_lock(tenant_id=tenant.pk, supplier_id=order.supplier_id)
    order = PurchaseOrder.objects.select_for_update().select_related("warehouse", "supplier").get(pk=order.pk)
    check_po_transition(order, PurchaseOrderState.RECEIVED)  # only a shipped PO is received
    order_lines = {line.line: line for line in PurchaseOrderLine.objects.select_for_update().select_related("sku")
                   .filter(order=order).order_by("pk")}
    if rows is None:
        rows = [(number, None, Inspection.PASS, "") for number, line in sorted(order_lines.items())
                if line.shipped_quantity > line.received_quantity]
        if not rows:
            raise LogisticsConflict(_("Nothing shipped on %(number)s waits to be received.") % {"number": order.number},
                                    code="nothing_to_receive")
    errors, taking, pending = {}, [], {}
    for index, (number, quantity, inspection, lot) in enumerate(rows):
        line = order_lines.get(number)
        if line is None:
            errors[str(index)] = {"line": [_("No such line on %(number)s.") % {"number": order.number}]}
            continue
        open_quantity = line.shipped_quantity - line.received_quantity - pending.get(number, 0)
        quantity = open_quantity if quantity is None else quantity
        if quantity <= 0 or quantity > open_quantity:
            errors[str(index)] = {"quantity": [_("Only %(n)d are shipped and not yet received.") % {"n": max(open_quantity, 0)}]}
            continue
        pending[number] = pending.get(number, 0) + quantity
        taking.append((line, quantity, inspection, lot))
    if errors:
        raise StructuredValidationError(_("Some lines are invalid; nothing was received."), fields={"lines": errors})

    lots = {(line.sku_id, lot) for line, _q, _i, lot in taking if lot}
    if lots:
        held = (QualityHold.objects.for_tenant(tenant).filter(state=QualityHoldState.HELD, sku_id__in={s for s, _l in lots},
                                                              lot__in={lot for _s, lot in lots})
                .values_list("sku_id", "lot", "sku__code"))
        blocked = [(code, lot) for sku_id, lot, code in held if (sku_id, lot) in lots]
        if blocked:
            raise LogisticsConflict(_("Lot %(lot)s of %(sku)s is on quality hold; release it before receiving more of it.")
                                    % {"lot": blocked[0][1], "sku": blocked[0][0]}, code="lot_on_hold")

    now = timezone.now()
    shipment_of = _shipment_of_lines([line for line, *_rest in taking])
    receipts = Receipt.objects.bulk_create([
        Receipt(tenant=tenant, order=order, order_line=line, shipment_id=shipment_of.get(line.pk), quantity=quantity,
                inspection=inspection, lot=lot, received_by=actor, received_at=now)
        for line, quantity, inspection, lot in taking
    ])
    for (line, quantity, inspection, _lot) in taking:
        accepted, rejected = (quantity, 0) if inspection == Inspection.PASS else (0, quantity)
        PurchaseOrderLine.objects.filter(pk=line.pk).update(
            received_quantity=F("received_quantity") + quantity, accepted_quantity=F("accepted_quantity") + accepted,
            rejected_quantity=F("rejected_quantity") + rejected)
        line.received_quantity += quantity
        line.accepted_quantity += accepted
        line.rejected_quantity += rejected
    movements = [
        {"external_id": f"receipt:{receipt.pk}", "sku": line.sku.code, "warehouse": order.warehouse.code,
         "delta": quantity, "reason": "receipt", "occurred_at": now.isoformat()}
        for receipt, (line, quantity, inspection, _lot) in zip(receipts, taking) if inspection == Inspection.PASS
    ]
    if movements:
        stock_movement_ingest(tenant=tenant, actor=actor, rows=movements, source="receipt")
        # The stock rules may have told these rooms of an alert raised or recovered (the rooms are
        # this transaction's already): the cards below follow those messages, so read them again.
        room, rooms = po_rooms_lock(tenant_id=tenant.pk, supplier_id=order.supplier_id)

    from_state = order.state
    done = all(line.received_quantity >= line.quantity or line.status in CLOSED_LINE_STATUSES for line in order_lines.values())
    to_state = PurchaseOrderState.RECEIVED if done else PurchaseOrderState.SHIPPED
    check_po_transition(order, to_state)
    PurchaseOrder.objects.filter(pk=order.pk).update(state=to_state, version=F("version") + 1, updated_at=now)
    order.state = to_state
    purchase_order_event_record(order=order, actor=actor, action="receive", from_state=from_state, to_state=to_state, at=now, details={
        "lines": [{"line": line.line, "quantity": q, "inspection": i, "lot": lot} for line, q, i, lot in taking]})
    delivered = _deliver_shipments(set(shipment_of.values()), now)

    holds = {}  # one hold per lot of a SKU, however many lines of the receipt failed in it
    for receipt, (line, quantity, inspection, lot) in zip(receipts, taking):
        if inspection == Inspection.FAIL and (line.sku_id, lot) not in holds:
            holds[line.sku_id, lot] = QualityHold(
                tenant=tenant, order=order, order_line=line, receipt=receipt, sku=line.sku, lot=lot,
                reason=_("Failed inspection at receiving (%(quantity)d).") % {"quantity": quantity})
    for hold in holds.values():
        hold.save()
    # The cards before the alerts (an alert reads its rooms afresh; the cards post into them as locked).
    purchase_order_cards_post(tenant=tenant, room=room, rooms=rooms, posts=[
        (order, cards.receipt_card(order, actor=actor, shipment_number=_shipment_number(shipment_of), lines=[
            {"line": line.line, "lot": lot, "accepted": quantity if inspection == Inspection.PASS else 0,
             "rejected": 0 if inspection == Inspection.PASS else quantity}
            for line, quantity, inspection, lot in taking]))
    ] + [
        (order, cards.quality_hold_card(order, hold=hold, sku_code=hold.sku.code, line=hold.order_line.line,
                                        quantity=hold.receipt.quantity, url=quality_hold_url(tenant, order, hold)))
        for hold in holds.values()
    ])
    for hold in holds.values():
        quality_hold_alert_raise(tenant=tenant, hold=hold, order=order, quantity=hold.receipt.quantity)
    if delivered:
        shipment_late_recover(tenant=tenant, shipment_ids=delivered)
    # The audit log last (its chain head is the last lock): the PO's receipt, then each new hold.
    audit_transition(tenant=tenant, actor=actor, object_kind="purchase_order", object_ref=order.number, verb="receive",
                     before_state=from_state, after_state=to_state,
                     lines=[{"line": line.line, "quantity": q, "inspection": i, "lot": lot} for line, q, i, lot in taking])
    for hold in holds.values():
        audit_transition(tenant=tenant, actor=actor, object_kind="quality_hold", object_ref=hold.pk, verb="hold",
                         before_state=None, after_state=hold.state, purchase_order=order.number, lot=hold.lot)
    return receipts


def quality_hold_url(tenant, order, hold):
    """Where a hold is released (with a reason): the PO's page, at the hold."""
    return reverse("orders:detail", kwargs={"tenant": tenant.slug, "number": order.number}) + f"#hold-{hold.pk}"


def _shipment_number(shipment_of):
    """The number of the one shipment a receipt's lines came on, or None (none, or several)."""
    ids = set(shipment_of.values())
    if len(ids) != 1:
        return None
    return Shipment.objects.filter(pk=ids.pop()).values_list("number", flat=True).first()


def _shipment_of_lines(lines):
    """{order line id: the in-transit shipment that carried it (the oldest)}."""
    found = {}
    for line_id, shipment_id in (ShipmentLine.objects.filter(order_line_id__in=[line.pk for line in lines],
                                                             shipment__state=ShipmentState.IN_TRANSIT)
                                 .order_by("shipment_id").values_list("order_line_id", "shipment_id")):
        found.setdefault(line_id, shipment_id)
    return found


def _deliver_shipments(shipment_ids, now):
    """A shipment whose every line is received in full is delivered (positions stop counting, the
    late sweep leaves it); returns the ids of those delivered now."""
    delivered = []
    for shipment_id in sorted(shipment_ids):
        lines = ShipmentLine.objects.filter(shipment_id=shipment_id).select_related("order_line")
        if all(sl.order_line.received_quantity >= sl.order_line.shipped_quantity for sl in lines):
            if Shipment.objects.filter(pk=shipment_id, state=ShipmentState.IN_TRANSIT).update(
                    state=ShipmentState.DELIVERED, late_check_at=None, updated_at=now):
                delivered.append(shipment_id)
    return delivered


def quality_hold_alert_raise(*, tenant, hold, order, quantity):
    """The `quality_hold` alert of a hold, to the warehouse role and the supplier (rooms locked first)."""
    with tenant_language(tenant):
        return alerts.alert_raise(
            tenant=tenant, kind="quality_hold", dedupe_key=f"quality_hold:{hold.pk}", subject_kind="quality_hold",
            subject_ref=hold.pk, partner=order.supplier, core_audience=QUALITY_ALERT_AUDIENCE,
            payload={"quality_hold": hold.pk, "lot": hold.lot, "sku": hold.sku.code, "quantity": quantity,
                     "purchase_order": order.number, "line": hold.order_line.line},
        )


@transaction.atomic
def quality_hold_release(*, tenant, actor, context, hold, reason):
    """Releases a held lot with a reason (PO_RECEIVERS only); its alert recovers."""
    check_context(context, tenant=tenant, user=actor)
    check_receiver(context)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > REASON_MAX or "\x00" in reason:
        raise ValidationError({"reason": [_("Say why the hold is released (at most %(max)d characters).") % {"max": REASON_MAX}]})
    key = f"quality_hold:{hold.pk}"
    alert_cards = (Alert.objects.for_tenant(tenant).filter(dedupe_key=key).exclude(state="resolved")
                   .values_list("cards", flat=True).first())
    # The rooms before the hold, in one statement: the PO's (its card goes to the supplier's) and
    # those of the alert's cards.
    po_room_ids = list(alert_room_ids(tenant_id=tenant.pk, partner_id=hold.order.supplier_id).values_list("pk", flat=True))
    rooms = rooms_lock({*po_room_ids, *(ref["room"] for ref in alert_cards or ())})
    room = next((rooms[pk] for pk in po_room_ids if rooms[pk].kind == RoomKind.PARTNER), None)
    hold = QualityHold.objects.select_for_update(of=("self",)).select_related("order", "order_line", "sku").get(pk=hold.pk)
    if hold.state != QualityHoldState.HELD:
        raise LogisticsConflict(_("This lot is not on hold."), code="not_on_hold")
    now = timezone.now()
    hold.state, hold.release_reason, hold.released_by, hold.released_at = QualityHoldState.RELEASED, reason.strip(), actor, now
    hold.save(update_fields=["state", "release_reason", "released_by", "released_at"])
    order = hold.order
    # The hold card's "Release the hold…" goes; the release is on the record, in the supplier's room.
    message_cards_refresh(tenant=tenant, subject_kind="purchase_order", subject_ref=order.number)
    purchase_order_cards_post(tenant=tenant, room=room, rooms=rooms, posts=[
        (order, cards.quality_hold_released_card(order, hold=hold, sku_code=hold.sku.code, actor=actor))])
    with tenant_language(tenant):
        note = _("Lot %(lot)s released from quality hold: %(reason)s") % {"lot": hold.lot, "reason": hold.release_reason}
        alerts.alert_recover(tenant=tenant, dedupe_key=key, note=note)
    audit_transition(tenant=tenant, actor=actor, object_kind="quality_hold", object_ref=hold.pk, verb="release",
                     before_state=QualityHoldState.HELD, after_state=hold.state, lot=hold.lot)
    return hold
