"""Every write of purchase orders: create, update and the ERP's upsert (one or a batch), send,
the supplier's confirmation (per line: accept, change, back-order, reject), the buyer's answer
to changes (line by line), cancel, and the `po_unconfirmed` sweep.

Each write is one transaction, records a PurchaseOrderEvent (the PO's history) and, for a
transition, posts an event card in the supplier's room (texts in orders.cards). Row locks follow
the portal's one lock order (docs/ARCHITECTURE.md; orders.lock_objects): the supplier's room and
the internal room, then the PO, then its lines, then the PO's alert. The upsert posts no card and
locks the POs, then their lines.

Who may: the core enterprise's writers (PO_WRITERS) create, send, cancel and answer changes; the
reps of the PO's supplier confirm. A PO its reader may not see is 404 (Http404) whatever the
action; a visible PO moved by the wrong role is 403 (PermissionDenied); a move its state does not
allow is IllegalTransition (409 with a code).
"""

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.services import alert_raise, alert_recover
from audit.services import audit_transition
from messaging.models import MessageKind
from messaging.services import event_post_many, message_cards_refresh
from orders import cards
from orders.lock_objects import po_rooms_lock, purchase_order_lines_lock, purchase_order_lock, purchase_orders_lock
from orders.models import (
    PO_SUPPLIER_ROLES,
    PO_WRITERS,
    ChangeState,
    IllegalTransition,
    LineAnswer,
    LineChange,
    LineStatus,
    OrderSettings,
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    PurchaseOrderState,
    check_po_transition,
)
from scm_portal.errors import StructuredValidationError
from scm_portal.tenancy.context import check_context
from scm_portal.tenancy.models import Partnership
from scm_portal.tenancy.roles import CORE_ROLES
from scm_portal.tenancy.selectors import tenant_language

S = PurchaseOrderState

NUMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # safe in a URL path segment
RESERVED_NUMBERS = {"batch"}  # purchase-orders/batch/ is the batch endpoint
PRICE_RE = re.compile(r"^\d{1,14}(\.\d{1,4})?$")  # fits DecimalField(18, 4)
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
QUANTITY_MAX = 10**12
LINES_MAX = 500
NOTE_MAX = 2000
BATCH_MAX = 1000
HEADER_FIELDS = frozenset({"number", "supplier", "warehouse", "currency", "note", "lines"})
LINE_FIELDS = frozenset({"line", "sku", "quantity", "unit_price", "requested_date", "promised_date"})
ANSWER_FIELDS = frozenset({"line", "answer", "promised_date", "quantity", "unit_price", "note"})
MISSING = object()  # a field the body left out (the upsert keeps what is stored)

BUYER, SUPPLIER = "buyer", "supplier"
ALERT_KIND = "po_unconfirmed"


# --- who may ---------------------------------------------------------------------------------

def check_purchase_order_actor(*, context, order, side):
    """404 unless the context's user may see the PO (core staff; the supplier's reps once it is
    sent); 403 unless they act on `side` (BUYER: the core's PO writers; SUPPLIER: the PO's
    supplier's reps)."""
    is_supplier = order.supplier_id in context.organizations(PO_SUPPLIER_ROLES)
    if not context.roles & CORE_ROLES and not (is_supplier and order.state != S.DRAFT):
        raise Http404
    if side == BUYER and not context.roles & PO_WRITERS:
        raise PermissionDenied(_("Only the buyer's side may do this with a purchase order."))
    if side == SUPPLIER and not is_supplier:
        raise PermissionDenied(_("Only the supplier of this purchase order may answer it."))


def check_purchase_order_writer(*, tenant, actor, context):
    if not check_context(context, tenant=tenant, user=actor).roles & PO_WRITERS:
        raise PermissionDenied(_("Your role may not write purchase orders."))


# --- checking the ERP's rows -----------------------------------------------------------------

def _date(value, errors, name, *, required):
    if value is MISSING or (value is None and not required):
        if required:
            errors[name] = [_("This field is required.")]
        return None if value is None else MISSING
    if type(value) is not str or not DATE_RE.match(value):
        errors[name] = [_("A date is YYYY-MM-DD.")]
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = [_("No such date.")]
        return None


def _price(value, errors, name="unit_price"):
    """A decimal string ("12.50"); a JSON number would have passed through a float."""
    if type(value) is not str:
        errors[name] = [_("A price is a decimal string such as \"12.50\", not a number.")]
        return None
    if not PRICE_RE.match(value):
        errors[name] = [_("A price is a decimal string with at most 14 digits before the point and 4 after it.")]
        return None
    try:
        return Decimal(value)
    except InvalidOperation:  # the pattern rules it out; kept for safety
        errors[name] = [_("Not a decimal number.")]
        return None


def _quantity(value, errors, name="quantity"):
    if type(value) is not int or not 0 < value <= QUANTITY_MAX:
        errors[name] = [_("A quantity is a whole number from 1 to %(max)d.") % {"max": QUANTITY_MAX}]
        return None
    return value


def _text(value, errors, name, max_length):
    if type(value) is not str:
        errors[name] = [_("Must be text.")]
        return None
    if len(value) > max_length:
        errors[name] = [_("At most %(max)d characters.") % {"max": max_length}]
        return None
    return value


def _references(tenant, rows):
    """{slug: organisation id} of the tenant's active suppliers, {code: id} of its active
    warehouses and of its SKUs, for the codes the rows name: three queries whatever their number."""
    from inventory.models import SKU, Warehouse

    suppliers, warehouses, skus = set(), set(), set()
    for row in rows:
        if type(row) is not dict:
            continue
        if type(row.get("supplier")) is str:
            suppliers.add(row["supplier"])
        if type(row.get("warehouse")) is str:
            warehouses.add(row["warehouse"])
        if type(row.get("lines")) is list:
            skus.update(line["sku"] for line in row["lines"] if type(line) is dict and type(line.get("sku")) is str)
    return (
        dict(Partnership.objects.for_tenant(tenant).filter(kind="supplier", active=True, organization__slug__in=suppliers)
             .values_list("organization__slug", "organization_id")) if suppliers else {},
        dict(Warehouse.objects.for_tenant(tenant).filter(active=True, code__in=warehouses).values_list("code", "pk"))
        if warehouses else {},
        dict(SKU.objects.for_tenant(tenant).filter(code__in=skus).values_list("code", "pk")) if skus else {},
    )


def _check_line(line, index, skus):
    errors = {}
    if type(line) is not dict:
        return {"non_field_errors": [_("A line is an object.")]}, None
    unknown = set(line) - LINE_FIELDS
    for key in unknown:
        errors[str(key)] = [_("Unknown field.")]
    number = line.get("line", index + 1)
    if type(number) is not int or not 0 < number <= 100_000:
        errors["line"] = [_("A line number is a whole number from 1 to 100000.")]
    sku = line.get("sku", MISSING)
    sku_id = None
    if sku is MISSING:
        errors["sku"] = [_("This field is required.")]
    elif type(sku) is not str or sku not in skus:
        errors["sku"] = [_("No such SKU.")]  # another tenant's SKU is as unknown as a missing one
    else:
        sku_id = skus[sku]
    quantity = _quantity(line.get("quantity", MISSING), errors) if "quantity" in line else None
    if "quantity" not in line:
        errors["quantity"] = [_("This field is required.")]
    price = _price(line["unit_price"], errors) if "unit_price" in line else None
    if "unit_price" not in line:
        errors["unit_price"] = [_("This field is required.")]
    requested = _date(line.get("requested_date", MISSING), errors, "requested_date", required=True)
    promised = _date(line.get("promised_date", MISSING), errors, "promised_date", required=False)
    if errors:
        return errors, None
    return None, (number, sku_id, quantity, price, requested, promised)


def _check_row(row, suppliers, warehouses, skus):
    """(errors, clean row) of one PO of the ERP."""
    if type(row) is not dict:
        return {"non_field_errors": [_("A purchase order is an object.")]}, None
    errors = {}
    for key in set(row) - HEADER_FIELDS:
        errors[str(key)] = [_("Unknown field.")]
    number = row.get("number", MISSING)
    if number is MISSING:
        errors["number"] = [_("This field is required.")]
    elif type(number) is not str or not NUMBER_RE.match(number) or number.lower() in RESERVED_NUMBERS:
        errors["number"] = [_("A number is 1 to 64 letters, digits, dots, dashes or underscores.")]
    supplier = row.get("supplier", MISSING)
    if supplier is MISSING:
        errors["supplier"] = [_("This field is required.")]
    elif type(supplier) is not str or supplier not in suppliers:
        errors["supplier"] = [_("No such supplier.")]
    warehouse = row.get("warehouse", MISSING)
    if warehouse is MISSING:
        errors["warehouse"] = [_("This field is required.")]
    elif type(warehouse) is not str or warehouse not in warehouses:
        errors["warehouse"] = [_("No such warehouse.")]
    currency = row.get("currency", MISSING)
    if currency is MISSING:
        errors["currency"] = [_("This field is required.")]
    elif type(currency) is not str or not CURRENCY_RE.match(currency):
        errors["currency"] = [_("A currency is an ISO 4217 code such as CNY.")]
    note = _text(row["note"], errors, "note", NOTE_MAX) if "note" in row else MISSING
    lines = row.get("lines", MISSING)
    clean_lines = []
    if lines is MISSING:
        errors["lines"] = [_("This field is required.")]
    elif type(lines) is not list or not 0 < len(lines) <= LINES_MAX:
        errors["lines"] = [_("A purchase order has 1 to %(max)d lines.") % {"max": LINES_MAX}]
    else:
        line_errors, seen = {}, set()
        for index, line in enumerate(lines):
            problem, clean = _check_line(line, index, skus)
            if clean is not None and clean[0] in seen:
                problem, clean = {"line": [_("This line number is given twice.")]}, None
            if problem:
                line_errors[str(index)] = problem
            else:
                seen.add(clean[0])
                clean_lines.append(clean)
        if line_errors:
            errors["lines"] = line_errors
    if errors:
        return errors, None
    return None, {"number": number, "supplier_id": suppliers[supplier], "warehouse_id": warehouses[warehouse],
                  "currency": currency, "note": note, "lines": clean_lines}


def check_purchase_order_rows(*, tenant, rows, field="purchase_orders"):
    """Clean rows of the ERP's POs, or a StructuredValidationError naming every bad row by its
    index: `{"<field>": {"3": {"lines": {"0": {"unit_price": [...]}}}}}`. Checked by hand in one
    pass (a serializer per line would cost more than the write)."""
    if not isinstance(rows, list) or not 0 < len(rows) <= BATCH_MAX:
        raise ValidationError({field: _("Send a list of 1 to %(max)d purchase orders.") % {"max": BATCH_MAX}})
    suppliers, warehouses, skus = _references(tenant, rows)
    clean, errors, seen = [], {}, set()
    for index, row in enumerate(rows):
        problem, value = _check_row(row, suppliers, warehouses, skus)
        if value is not None and value["number"] in seen:
            problem, value = {"number": [_("This number is given twice in the batch.")]}, None
        if problem:
            errors[str(index)] = problem
        else:
            seen.add(value["number"])
            clean.append(value)
    if errors:
        raise StructuredValidationError(
            _("%(n)d of %(total)d purchase orders are invalid; nothing was applied.") % {"n": len(errors), "total": len(rows)},
            fields={field: errors},
        )
    return clean


# --- history and cards -------------------------------------------------------------------------

def _event(order, action, from_state, actor, now, **details):
    return PurchaseOrderEvent(tenant_id=order.tenant_id, order=order, action=action, from_state=from_state,
                              to_state=order.state, actor=actor, details=details, at=now)


def _audit(tenant, actor, order, verb, from_state, **details):
    """The transition in the tenant's audit log, as the transaction's last write (after the cards
    and the alert it recovers: the audit chain head is the last lock, docs/ARCHITECTURE.md)."""
    audit_transition(tenant=tenant, actor=actor, object_kind="purchase_order", object_ref=order.number, verb=verb,
                     before_state=from_state, after_state=order.state, version=order.version, **details)


def _post_card(tenant, order, card, room, rooms):
    """The transition's card in the supplier's room (already locked with the others), and the
    buttons of the PO's earlier cards follow its new state (after commit)."""
    message_cards_refresh(tenant=tenant, subject_kind="purchase_order", subject_ref=order.number)
    if room is None:  # no active partnership with the supplier: no room to tell
        return None
    return event_post_many([{
        "tenant": tenant, "room": room, "text": card.text, "payload": card.payload(order),
        "actions": list(card.actions), "subject_kind": "purchase_order", "subject_ref": order.number,
        "subject_state": cards.purchase_order_card_state(order.state, order.supplier_id),
        "kind": MessageKind.EVENT,
    }], locked=rooms)[0]


def _settings(tenant):
    return OrderSettings.objects.filter(tenant=tenant).first() or OrderSettings(tenant=tenant)


def _alert_key(order):
    return f"{ALERT_KIND}:{order.pk}"


def _recover_unconfirmed(tenant, order):
    """The supplier answered (or the PO was cancelled): its `po_unconfirmed` alert recovers."""
    with tenant_language(tenant):
        note = _("Purchase order %(number)s was answered.") % {"number": order.number}
    alert_recover(tenant=tenant, dedupe_key=_alert_key(order), note=note)


def _locked(*, tenant, actor, context, order, side):
    """The checks, then the locks in order: the rooms, the PO. Returns (order, supplier room, rooms)."""
    check_context(context, tenant=tenant, user=actor)
    if order.tenant_id != tenant.pk:
        raise Http404
    check_purchase_order_actor(context=context, order=order, side=side)
    room, rooms = po_rooms_lock(tenant_id=tenant.pk, supplier_id=order.supplier_id)
    return purchase_order_lock(tenant_id=tenant.pk, pk=order.pk), room, rooms


def _refuse(order, action):
    raise IllegalTransition(
        _("Purchase order %(number)s is %(state)s; it cannot be %(action)s.") % {
            "number": order.number, "state": S(order.state).label, "action": action},
    )


# --- create, update, upsert --------------------------------------------------------------------

def _line_key(line):
    return (line.line, line.sku_id, line.quantity, line.unit_price, line.requested_date, line.promised_date)


def _same(order, lines, row):
    """Whether the stored PO already says what `row` says (fields the row leaves out are kept)."""
    if (order.warehouse_id, order.currency) != (row["warehouse_id"], row["currency"]):
        return False
    if row["note"] is not MISSING and row["note"] != order.note:
        return False
    if len(lines) != len(row["lines"]):
        return False
    stored = {line.line: line for line in lines}
    for number, sku_id, quantity, price, requested, promised in row["lines"]:
        line = stored.get(number)
        if line is None or (line.sku_id, line.quantity, line.unit_price, line.requested_date) != (sku_id, quantity, price, requested):
            return False
        if promised is not MISSING and promised != line.promised_date:
            return False
    return True


def _upsert(tenant, actor, rows, source, *, create_only=False, field="purchase_orders"):
    """Creates or updates the clean rows' POs with bulk statements; returns [(order, outcome)] in
    the rows' order, outcome "created", "updated" or "unchanged"."""
    now = timezone.now()
    existing = purchase_orders_lock(tenant_id=tenant.pk, numbers=[row["number"] for row in rows])
    stored_lines = {}
    if existing:
        for line in purchase_order_lines_lock(order_ids=[order.pk for order in existing.values()]):
            stored_lines.setdefault(line.order_id, []).append(line)
    conflicts, results = {}, []
    new_orders, changed_orders, new_lines, changed_lines, removed_lines, events = [], [], [], [], [], []
    for index, row in enumerate(rows):
        order = existing.get(row["number"])
        if order is None:
            order = PurchaseOrder(tenant=tenant, number=row["number"], supplier_id=row["supplier_id"],
                                  warehouse_id=row["warehouse_id"], currency=row["currency"],
                                  note="" if row["note"] is MISSING else row["note"], created_by=actor, source=source)
            new_orders.append((order, row))
            results.append((order, "created"))
            continue
        if create_only:
            conflicts[str(index)] = {"number": [_("A purchase order with this number exists already.")]}
            continue
        lines = stored_lines.get(order.pk, [])
        if order.supplier_id != row["supplier_id"]:
            conflicts[str(index)] = {"supplier": [_("The supplier of a purchase order cannot change.")]}
            continue
        if _same(order, lines, row):
            results.append((order, "unchanged"))
            continue
        if order.state != S.DRAFT:
            conflicts[str(index)] = {"state": [_("Purchase order %(number)s is %(state)s; only a draft can be changed.") % {
                "number": order.number, "state": S(order.state).label}]}
            continue
        order.warehouse_id, order.currency = row["warehouse_id"], row["currency"]
        if row["note"] is not MISSING:
            order.note = row["note"]
        order.version += 1
        order.updated_at = now
        changed_orders.append(order)
        stored = {line.line: line for line in lines}
        for number, sku_id, quantity, price, requested, promised in row["lines"]:
            line = stored.pop(number, None)
            if line is None:
                new_lines.append(PurchaseOrderLine(tenant=tenant, order=order, line=number, sku_id=sku_id, quantity=quantity,
                                                   unit_price=price, requested_date=requested,
                                                   promised_date=None if promised is MISSING else promised))
                continue
            before = _line_key(line)
            line.sku_id, line.quantity, line.unit_price, line.requested_date = sku_id, quantity, price, requested
            if promised is not MISSING:
                line.promised_date = promised
            if _line_key(line) != before:
                changed_lines.append(line)
        removed_lines += [line.pk for line in stored.values()]
        events.append(_event(order, "update", order.state, actor, now, version=order.version, source=source))
        results.append((order, "updated"))
    if conflicts:
        raise IllegalTransition(_("%(n)d purchase orders are no longer drafts and cannot be changed; nothing was applied.") % {"n": len(conflicts)},
                                code="po_not_editable", fields={field: conflicts})
    if new_orders:
        PurchaseOrder.objects.bulk_create([order for order, _row in new_orders])
        for order, row in new_orders:
            new_lines += [PurchaseOrderLine(tenant=tenant, order=order, line=number, sku_id=sku_id, quantity=quantity,
                                            unit_price=price, requested_date=requested,
                                            promised_date=None if promised is MISSING else promised)
                          for number, sku_id, quantity, price, requested, promised in row["lines"]]
            events.append(_event(order, "create", "", actor, now, version=1, source=source))
    if removed_lines:
        # Lines of drafts: nothing (shipments, receipts, changes) refers to them yet, so one
        # statement, without the ORM's search for related rows to cascade to.
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {PurchaseOrderLine._meta.db_table} WHERE id = ANY(%s)", [removed_lines])
    if changed_lines:
        PurchaseOrderLine.objects.bulk_update(changed_lines, ["sku", "quantity", "unit_price", "requested_date", "promised_date"])
    if new_lines:
        PurchaseOrderLine.objects.bulk_create(new_lines)
    if changed_orders:
        PurchaseOrder.objects.bulk_update(changed_orders, ["warehouse", "currency", "note", "version", "updated_at"])
    if events:
        PurchaseOrderEvent.objects.bulk_create(events)
    return results


def _upsert_retrying(tenant, actor, rows, source, **kwargs):
    """Two writers creating the same number at once: the loser's insert fails on the unique
    number; it runs again, and finds the PO the other one created (then locked)."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _upsert(tenant, actor, rows, source, **kwargs)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def purchase_order_upsert_many(*, tenant, actor, context, rows, source="erp"):
    """The ERP's batch: up to 1,000 POs, all or nothing. Each is created (draft) or updated
    (a draft only; a sent PO answers 409 `po_not_editable` unless the row says what is stored).
    Idempotent on the number: a row that says what is stored writes nothing, not even history.
    Returns [(order, "created" | "updated" | "unchanged")] in the rows' order."""
    check_purchase_order_writer(tenant=tenant, actor=actor, context=context)
    clean = check_purchase_order_rows(tenant=tenant, rows=rows)
    return _upsert_retrying(tenant, actor, clean, source)


def _one_row(tenant, data, number=None):
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": _("A purchase order is an object.")})
    if number is not None:
        if "number" in data and data["number"] != number:
            raise ValidationError({"number": _("The number in the body differs from the one in the path.")})
        data = {**data, "number": number}
    try:
        return check_purchase_order_rows(tenant=tenant, rows=[data])[0]
    except StructuredValidationError as error:
        raise StructuredValidationError(_("The purchase order is invalid; nothing was applied."),
                                        fields=error.fields["purchase_orders"]["0"]) from None


def _one_result(tenant, actor, row, source, **kwargs):
    try:
        return _upsert_retrying(tenant, actor, [row], source, field="row", **kwargs)[0]
    except IllegalTransition as refused:
        raise IllegalTransition(str(refused), code=refused.code, fields=refused.fields["row"]["0"]) from None


@transaction.atomic
def purchase_order_upsert(*, tenant, actor, context, number, data, source="erp"):
    """PUT purchase-orders/{number}/: one PO with all its lines, created or updated (see
    purchase_order_upsert_many). Returns (order, outcome)."""
    check_purchase_order_writer(tenant=tenant, actor=actor, context=context)
    return _one_result(tenant, actor, _one_row(tenant, data, number), source)


@transaction.atomic
def purchase_order_create(*, tenant, actor, context, data, source="api"):
    """A new PO in draft; its number must be new in the tenant (409 `po_exists` otherwise)."""
    check_purchase_order_writer(tenant=tenant, actor=actor, context=context)
    row = _one_row(tenant, data)
    try:
        order, _outcome = _one_result(tenant, actor, row, source, create_only=True)
    except IllegalTransition as refused:
        raise IllegalTransition(str(refused), code="po_exists", fields=refused.fields) from None
    return order


@transaction.atomic
def purchase_order_update(*, tenant, actor, context, order, data, source="api"):
    """Changes a draft PO (its header and lines, as given whole); its supplier stays."""
    check_context(context, tenant=tenant, user=actor)
    check_purchase_order_actor(context=context, order=order, side=BUYER)
    order, _outcome = _one_result(tenant, actor, _one_row(tenant, data, order.number), source)
    return order


# --- transitions -------------------------------------------------------------------------------

@transaction.atomic
def purchase_order_send(*, tenant, actor, context, order):
    """draft → sent: the PO reaches the supplier's room with "确认订单"; the unconfirmed timer starts."""
    order, room, rooms = _locked(tenant=tenant, actor=actor, context=context, order=order, side=BUYER)
    if order.state != S.DRAFT:
        _refuse(order, _("sent"))
    check_po_transition(order, S.SENT)
    now = timezone.now()
    order.state, order.sent_at = S.SENT, now
    order.confirm_due_at = now + _settings(tenant).po_unconfirmed_after
    order.version += 1
    order.save(update_fields=["state", "sent_at", "confirm_due_at", "version", "updated_at"])
    lines = list(order.lines.all())
    _event(order, "send", S.DRAFT, actor, now).save()
    _post_card(tenant, order, cards.purchase_order_sent_card(order, actor=actor, lines=lines), room, rooms)
    _audit(tenant, actor, order, "send", S.DRAFT)
    return order


def _check_answers(lines, answers):
    """{line number: (answer, promised_date, quantity, unit_price, note)} for the open lines
    answered; open lines not named are accepted. A StructuredValidationError names bad answers."""
    if answers is None:
        answers = []
    if not isinstance(answers, list) or len(answers) > LINES_MAX:
        raise ValidationError({"lines": _("Answer with a list of lines.")})
    by_number = {line.line: line for line in lines}
    errors, clean = {}, {}
    for index, answer in enumerate(answers):
        problem = {}
        if type(answer) is not dict:
            errors[str(index)] = {"non_field_errors": [_("An answer is an object.")]}
            continue
        for key in set(answer) - ANSWER_FIELDS:
            problem[str(key)] = [_("Unknown field.")]
        number = answer.get("line")
        line = by_number.get(number) if type(number) is int else None
        if line is None:
            problem["line"] = [_("No such line.")]
        elif number in clean:
            problem["line"] = [_("This line is answered twice.")]
        elif line.status != LineStatus.OPEN:
            problem["line"] = [_("This line is answered already.")]
        promised = _date(answer.get("promised_date", MISSING), problem, "promised_date", required=False)
        quantity = _quantity(answer["quantity"], problem) if answer.get("quantity") is not None else None
        price = _price(answer["unit_price"], problem) if answer.get("unit_price") is not None else None
        note = _text(answer["note"], problem, "note", NOTE_MAX) if "note" in answer else ""
        promised = None if promised is MISSING else promised
        has_change = promised is not None or quantity is not None or price is not None
        kind = answer.get("answer", LineAnswer.CHANGE if has_change else LineAnswer.ACCEPT)
        if kind not in LineAnswer.values:
            problem["answer"] = [_("An answer is accept, change, backorder or reject.")]
        elif kind == LineAnswer.ACCEPT and has_change:
            problem["answer"] = [_("An accepted line takes no changes; answer \"change\" to propose them.")]
        elif kind == LineAnswer.CHANGE and not has_change and "promised_date" not in problem:
            problem["answer"] = [_("A change proposes a date, a quantity or a unit price.")]
        elif kind in (LineAnswer.BACKORDER, LineAnswer.REJECT) and (quantity is not None or price is not None):
            problem["answer"] = [_("A back-order or a rejection proposes no quantity or price.")]
        elif kind == LineAnswer.REJECT and promised is not None:
            problem["answer"] = [_("A rejection proposes no date.")]
        if problem:
            errors[str(index)] = problem
        else:
            clean[number] = (kind, promised, quantity, price, note or "")
    if errors:
        raise StructuredValidationError(_("Some answers are invalid; nothing was applied."), fields={"lines": errors})
    return clean


@transaction.atomic
def purchase_order_confirm(*, tenant, actor, context, order, answers=None):
    """The supplier's answer. No answers (or only accepts): every open line is accepted and the
    PO is confirmed. A change (date, quantity or price), a back-order or a rejection of a line
    becomes a pending LineChange and the PO `change_requested`, for the buyer to decide."""
    order, room, rooms = _locked(tenant=tenant, actor=actor, context=context, order=order, side=SUPPLIER)
    if order.state != S.SENT:
        _refuse(order, _("confirmed"))
    lines = purchase_order_lines_lock(order_ids=[order.pk])
    clean = _check_answers(lines, answers)
    now = timezone.now()
    changes, accepted = [], []
    for line in lines:
        if line.status != LineStatus.OPEN:
            continue
        kind, promised, quantity, price, note = clean.get(line.line, (LineAnswer.ACCEPT, None, None, None, ""))
        if kind == LineAnswer.ACCEPT:
            line.status = LineStatus.ACCEPTED
            line.promised_date = line.promised_date or line.requested_date
            accepted.append(line)
        else:
            line.status = LineStatus.CHANGE_REQUESTED
            accepted.append(line)
            changes.append(LineChange(tenant=tenant, order=order, line=line, answer=kind, promised_date=promised,
                                      quantity=quantity, unit_price=price, note=note, requested_by=actor))
    if accepted:
        PurchaseOrderLine.objects.bulk_update(accepted, ["status", "promised_date"])
    from_state = order.state
    to_state = S.CHANGE_REQUESTED if changes else S.CONFIRMED
    check_po_transition(order, to_state)
    order.state, order.confirm_due_at = to_state, None
    if to_state == S.CONFIRMED:
        order.confirmed_at = now
    order.version += 1
    order.save(update_fields=["state", "confirm_due_at", "confirmed_at", "version", "updated_at"])
    if changes:
        LineChange.objects.bulk_create(changes)
    _event(order, "request_change" if changes else "confirm", from_state, actor, now,
           changes=[{"line": c.line.line, "answer": c.answer} for c in changes]).save()
    card = (cards.purchase_order_change_requested_card(order, actor=actor, changes=changes) if changes
            else cards.purchase_order_confirmed_card(order, actor=actor))
    _post_card(tenant, order, card, room, rooms)
    _recover_unconfirmed(tenant, order)
    _audit(tenant, actor, order, "request_change" if changes else "confirm", from_state,
           changes=[{"line": c.line.line, "answer": c.answer} for c in changes])
    return order


def _decide(*, tenant, actor, context, order, lines, accept):
    order, room, rooms = _locked(tenant=tenant, actor=actor, context=context, order=order, side=BUYER)
    if order.state != S.CHANGE_REQUESTED:
        _refuse(order, _("decided on"))
    all_lines = purchase_order_lines_lock(order_ids=[order.pk])
    by_pk = {line.pk: line for line in all_lines}
    pending = list(LineChange.objects.filter(order=order, state=ChangeState.PENDING).order_by("pk"))
    for change in pending:
        change.line = by_pk[change.line_id]
    if lines is None:
        chosen = pending
    else:
        if not isinstance(lines, list) or not lines or any(type(n) is not int for n in lines) or len(lines) > LINES_MAX:
            raise ValidationError({"lines": _("Name the lines by their numbers, e.g. [1, 3].")})
        by_number = {change.line.line: change for change in pending}
        unknown = sorted({n for n in lines if n not in by_number})
        if unknown:
            raise ValidationError({"lines": _("No pending change on line(s) %(lines)s.") % {
                "lines": ", ".join(map(str, unknown))}})
        chosen = [by_number[n] for n in sorted(set(lines))]
    now = timezone.now()
    for change in chosen:
        line = change.line
        change.state = ChangeState.ACCEPTED if accept else ChangeState.REJECTED
        change.decided_by, change.decided_at = actor, now
        if not accept:
            line.status = LineStatus.OPEN  # the supplier answers it again
        elif change.answer == LineAnswer.CHANGE:
            line.status = LineStatus.ACCEPTED
            line.promised_date = change.promised_date or line.promised_date or line.requested_date
            line.quantity = change.quantity or line.quantity
            line.unit_price = change.unit_price if change.unit_price is not None else line.unit_price
        elif change.answer == LineAnswer.BACKORDER:
            line.status = LineStatus.BACKORDERED
            line.promised_date = change.promised_date or line.promised_date
        else:
            line.status = LineStatus.REJECTED
    LineChange.objects.bulk_update(chosen, ["state", "decided_by", "decided_at"])
    PurchaseOrderLine.objects.bulk_update([c.line for c in chosen], ["status", "promised_date", "quantity", "unit_price"])
    still_pending = len(pending) - len(chosen)
    from_state = order.state
    if not still_pending:
        statuses = {line.status for line in all_lines}
        if LineStatus.OPEN in statuses:
            order.state = S.SENT  # rejected changes go back to the supplier
            order.confirm_due_at = now + _settings(tenant).po_unconfirmed_after
        elif statuses == {LineStatus.REJECTED}:
            order.state = S.CANCELLED  # nothing of it is left to deliver
        else:
            order.state, order.confirmed_at = S.CONFIRMED, now
        check_po_transition(PurchaseOrder(number=order.number, state=from_state), order.state)
    order.version += 1
    order.save(update_fields=["state", "confirm_due_at", "confirmed_at", "version", "updated_at"])
    decisions = [(c.line.line, "accepted" if accept else "rejected") for c in chosen]
    _event(order, "accept_change" if accept else "reject_change", from_state, actor, now,
           lines=[line for line, _d in decisions]).save()
    card = cards.purchase_order_changes_decided_card(order, actor=actor, decisions=decisions, pending=still_pending)
    _post_card(tenant, order, card, room, rooms)
    _audit(tenant, actor, order, "accept_change" if accept else "reject_change", from_state,
           lines=[line for line, _d in decisions])
    return order


@transaction.atomic
def purchase_order_accept_change(*, tenant, actor, context, order, lines=None):
    """The buyer accepts the supplier's pending changes, all of them or those of `lines` (line
    numbers): a proposed date becomes the line's promised date, a quantity or price its own; a
    back-ordered line stays to deliver later, a rejected one is dropped. Once none is pending the
    PO is confirmed (or back with the supplier, when one was rejected)."""
    return _decide(tenant=tenant, actor=actor, context=context, order=order, lines=lines, accept=True)


@transaction.atomic
def purchase_order_reject_change(*, tenant, actor, context, order, lines=None):
    """The buyer rejects pending changes (all, or those of `lines`): each line is open again, and
    once none is pending the PO goes back to the supplier (sent) for a new answer."""
    return _decide(tenant=tenant, actor=actor, context=context, order=order, lines=lines, accept=False)


@transaction.atomic
def purchase_order_cancel(*, tenant, actor, context, order, reason=""):
    """The buyer cancels a PO not yet shipped; pending changes are withdrawn."""
    if not isinstance(reason, str) or len(reason) > NOTE_MAX:
        raise ValidationError({"reason": _("A reason is text of at most %(max)d characters.") % {"max": NOTE_MAX}})
    order, room, rooms = _locked(tenant=tenant, actor=actor, context=context, order=order, side=BUYER)
    if order.state not in (S.DRAFT, S.SENT, S.CHANGE_REQUESTED, S.CONFIRMED):  # shipped goods are received, not cancelled
        _refuse(order, _("cancelled"))
    check_po_transition(order, S.CANCELLED)
    purchase_order_lines_lock(order_ids=[order.pk])
    now = timezone.now()
    from_state = order.state
    order.state, order.confirm_due_at = S.CANCELLED, None
    order.version += 1
    order.save(update_fields=["state", "confirm_due_at", "version", "updated_at"])
    order.lines.update(status=LineStatus.CANCELLED)
    LineChange.objects.filter(order=order, state=ChangeState.PENDING).update(
        state=ChangeState.WITHDRAWN, decided_by=actor, decided_at=now)
    _event(order, "cancel", from_state, actor, now, reason=reason).save()
    if from_state != S.DRAFT:  # the supplier never saw a draft
        _post_card(tenant, order, cards.purchase_order_cancelled_card(order, actor=actor), room, rooms)
        _recover_unconfirmed(tenant, order)
    _audit(tenant, actor, order, "cancel", from_state)
    return order


# --- the unconfirmed sweep ---------------------------------------------------------------------

def purchase_order_alert_unconfirmed(*, now=None, batch_size=200):
    """Raises `po_unconfirmed` for every PO sent and still unconfirmed past its tenant's
    po_unconfirmed_after (its confirm_due_at), once: the timer is cleared as the alert is raised.

    Each PO in its own transaction, in the lock order: its rooms (where the alert's cards go),
    then the PO FOR UPDATE SKIP LOCKED (a PO being confirmed right now is left to that writer;
    if it is still due, the next sweep takes it), then the alert. Safe on several workers."""
    now = now or timezone.now()
    due = list(PurchaseOrder.objects.filter(confirm_due_at__lte=now, state=S.SENT)
               .order_by("confirm_due_at").values_list("pk", "tenant_id", "supplier_id")[:batch_size])
    raised = 0
    for pk, tenant_id, supplier_id in due:
        with transaction.atomic():
            po_rooms_lock(tenant_id=tenant_id, supplier_id=supplier_id)
            order = (PurchaseOrder.objects.filter(pk=pk, confirm_due_at__lte=now, state=S.SENT)
                     .select_for_update(of=("self",), skip_locked=True).select_related("tenant", "supplier").first())
            if order is None:
                continue
            with tenant_language(order.tenant):
                alert_raise(tenant=order.tenant, kind=ALERT_KIND, dedupe_key=_alert_key(order), subject_kind="purchase_order",
                            subject_ref=order.number, partner=order.supplier, core_audience=sorted(PO_WRITERS),
                            payload={"purchase_order": order.number})
            order.confirm_due_at = None
            order.save(update_fields=["confirm_due_at"])
            raised += 1
    return raised
