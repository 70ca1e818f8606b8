"""Every write of receivables financing (finance/models.py has the flow).

Each service is keyword-only, takes `tenant`, `actor` and the actor's `context` (their roles in
the tenant, scm_portal/tenancy/context.py), checks who may do it, then takes its row locks in the
lock order of finance/lock_objects.py and checks the state under them. Refusals:
- django.core.exceptions.PermissionDenied: the actor's roles may not (403);
- finance.models.OtpRequired: a money action without a fresh second factor (403 `otp_required`);
- finance.models.FinanceConflict: the record's state does not allow it now (409 with a code);
- django.core.exceptions.ValidationError: the input is wrong (400).
Nothing is written when one is raised.

Money actions (approve, reject, disburse, and changing bank details) take `verified_at`: when the
caller's token or session last passed TOTP (scm_portal.tenancy.totp.totp_verified_at), checked
against settings.MONEY_OTP_MAX_AGE here, so that every caller (the API, a page, a card's button:
finance.actions) is held to it. Raising and settling a dispute are not money actions
(docs/FINANCE.md, "Disputes").
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_transition
from finance import lock_objects
from finance.models import (
    FINANCE_APPROVERS,
    BankAccount,
    FUNDER_ROLES,
    SUPPLIER_ROLES,
    APPLICATION_TRANSITIONS,
    ApplicationState,
    Approval,
    ApprovalStage,
    Decision,
    Disbursement,
    FinanceConflict,
    FinancingApplication,
    FinancingDispute,
    FinancingItem,
    FinancingTerms,
    Invoice,
    InvoiceAttachment,
    InvoiceState,
    OtpRequired,
    Receivable,
    ReceivableState,
    Repayment,
)
from finance.money import MAX_AMOUNT, MoneyError, check_amount, currency_of, interest, quantize, quantize_down
from scm_portal.errors import StructuredValidationError
from scm_portal.tenancy.context import check_context
from scm_portal.tenancy.models import Partnership
from scm_portal.tenancy.roles import OrganizationKind

S = ApplicationState
REASON_MAX = 2000
MAX_TERM_DAYS = 3660  # a payable is due within ten years: interest and dates stay within what is stored


# --- checks ----------------------------------------------------------------------------------


def check_finance_approver(context):
    if not context.roles & FINANCE_APPROVERS:
        raise PermissionDenied(_("Only the tenant's finance approvers may do this."))


def check_second_factor(verified_at, *, now=None):
    """Refuses (OtpRequired) unless TOTP was passed within settings.MONEY_OTP_MAX_AGE seconds."""
    now = now or timezone.now()
    if verified_at is None or verified_at < now - timedelta(seconds=settings.MONEY_OTP_MAX_AGE):
        raise OtpRequired(_("Verify with your authenticator code first (POST /api/v1/auth/totp/)."))


def check_reason(reason, field="reason"):
    if not isinstance(reason, str) or not reason.strip():
        message = _("Give a reason.") if field == "reason" else _("This field is required.")
        raise ValidationError({field: message})
    if len(reason) > REASON_MAX:
        raise ValidationError({field: _("At most %(n)d characters.") % {"n": REASON_MAX}})
    return reason.strip()


def check_money(amount, currency, field="amount"):
    """`amount` as money of `currency` (finance.money.check_amount); a 400 on `field` otherwise, whose
    code is `too_many_decimals` when that is what is wrong."""
    try:
        return check_amount(amount, currency)
    except MoneyError as error:
        code = error.code if error.code == "too_many_decimals" else "validation_error"
        raise StructuredValidationError(str(error), fields={field: [str(error)]}, code=code) from None


def check_application_transition(application, to_state):
    if to_state not in APPLICATION_TRANSITIONS[S(application.state)]:
        raise FinanceConflict(
            _("Financing application FA-%(id)s is %(state)s; it cannot become %(target)s.") % {
                "id": application.pk, "state": S(application.state).label, "target": S(to_state).label},
        )


def _supplier_orgs(context):
    return context.organizations(SUPPLIER_ROLES)


def _today(tenant):
    return timezone.localdate(timezone=ZoneInfo(tenant.time_zone))


def _partner(tenant, organization, kind, field):
    """`organization` if it is an active partner of `tenant` as `kind`; 400 on `field` otherwise."""
    if organization is None or not Partnership.objects.for_tenant(tenant).filter(
        organization=organization, kind=kind, active=True
    ).exists():
        raise ValidationError({field: _("Not an active %(kind)s of this tenant.") % {"kind": OrganizationKind(kind).label}})
    return organization


# --- cards in the rooms ----------------------------------------------------------------------


def _audit_application(tenant, actor, application, verb, before_state, **details):
    """A financing application's step in the audit log, the last write of its transaction (the
    audit chain head is the last lock, docs/ARCHITECTURE.md)."""
    audit_transition(tenant=tenant, actor=actor, object_kind="financing_application", object_ref=application.pk,
                     verb=verb, before_state=before_state, after_state=application.state,
                     amount=application.amount, currency=application.currency, **details)


def financing_rooms_lock(tenant, *organization_ids, alert_of=None):
    """Locks the partner rooms of these organisations in `tenant` (the supplier's, the funder's), the
    first locks of every write that posts a card; returns them. `alert_of`: a supplier whose
    `financing_overdue` alert the write may recover: the rooms of its cards (the tenant's internal
    room and the supplier's) are locked in the same statement, but not returned (no card of the
    application goes there)."""
    from alerts.lock_objects import alert_room_ids
    from messaging.lock_objects import rooms_lock
    from messaging.models import Room

    ids = list(Room.objects.filter(tenant=tenant, partnership__active=True, partnership__organization_id__in=organization_ids)
               .values_list("pk", flat=True))
    extra = [row["pk"] for row in alert_room_ids(tenant_id=tenant.pk, partner_id=alert_of)] if alert_of else []
    locked = rooms_lock(ids + extra)
    return [locked[pk] for pk in sorted(ids)]


def financing_card_post(tenant, rooms, application, event, **params):
    """An event card about `application` in each of `rooms` (locked by the caller: the supplier's
    room and the funder's room in the tenant), linked to it as subject
    `{"kind": "financing_application", "id": id}`, its text read in each reader's language.

    The card carries the buttons of its moment (finance.cards.CARD_ACTIONS: approve and reject
    while it awaits a decision, disburse once the funder approved), which finance.actions offers
    each reader as they may press them; and, the application having moved on, the buttons of
    every earlier card about it are refreshed for their readers after commit."""
    from finance.cards import CARD_ACTIONS, financing_card_step, financing_card_text
    from messaging.services import event_post_many, message_cards_refresh

    values = {
        "id": application.pk, "supplier": application.supplier.name, "funder": application.funder.name,
        "amount": quantize(application.amount, application.currency), "currency": application.currency,
        "cost": quantize(application.cost, application.currency), "days": application.days,
        "maturity": application.maturity_date.isoformat(), **params,
    }
    text = financing_card_text(event, values)  # a Decimal is stored as the text it shows
    actions = CARD_ACTIONS.get(event, ())
    payload = {"application": application.pk, "event": event, "state": application.state,
               "amount": str(quantize(application.amount, application.currency)), "currency": application.currency}
    if actions:
        decisions = Approval.objects.filter(application=application).count()
        payload["step"] = financing_card_step(application.state, decisions)
    messages = event_post_many([
        {"tenant": tenant, "room": room, "text": text, "payload": payload, "subject_kind": "financing_application",
         "subject_ref": str(application.pk), "actions": actions}
        for room in rooms
    ], locked={room.pk: room for room in rooms})
    message_cards_refresh(tenant=tenant, subject_kind="financing_application", subject_ref=application.pk)
    return messages


# --- payout accounts -------------------------------------------------------------------------

BANK_ACCOUNT_FIELDS = ("account_name", "bank_name", "account_number")


def bank_account_details(account):
    """What a disbursement keeps of the account it paid to."""
    return {name: getattr(account, name) for name in BANK_ACCOUNT_FIELDS}


def bank_account_organization(context, organization=None):
    """The supplier organisation whose payout account the actor manages: `organization` (an id)
    if they are its rep, else their only one; 403 for someone who represents no supplier here, 400
    when they represent several and named none."""
    organizations = _supplier_orgs(context)
    if not organizations:
        raise PermissionDenied(_("Only a supplier's representatives manage its payout account."))
    if organization is None:
        if len(organizations) > 1:
            raise ValidationError({"organization": _("You represent several suppliers here: name one.")})
        return next(iter(organizations))
    if organization not in organizations:
        raise PermissionDenied(_("Only a supplier's representatives manage its payout account."))
    return organization


def _clean_text(value, field, max_length):
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({field: _("This field is required.")})
    value = " ".join(value.split())
    if len(value) > max_length:
        raise ValidationError({field: _("At most %(n)d characters.") % {"n": max_length}})
    return value


def check_account_number(value):
    """The account number as stored: spaces and dashes people type removed, letters in capitals;
    6 to 34 digits or letters (a Chinese account of 16-19 digits, an IBAN)."""
    if not isinstance(value, str):
        raise ValidationError({"account_number": _("Give the account number.")})
    number = "".join(value.split()).replace("-", "").upper()
    if not 6 <= len(number) <= 34 or not number.isascii() or not number.isalnum():
        raise ValidationError({"account_number": _("An account number is 6 to 34 digits or letters.")})
    return number


@transaction.atomic
def bank_account_save(*, tenant, actor, context, account_name, bank_name, account_number, verified_at,
                      organization=None):
    """Sets the payout account of the actor's supplier organisation (creates or replaces it): the
    organisation's reps only, with TOTP verified within settings.MONEY_OTP_MAX_AGE (bank details
    decide where money goes). Returns the account."""
    check_context(context, tenant=tenant, user=actor)
    organization_id = bank_account_organization(context, organization)
    values = {
        "account_name": _clean_text(account_name, "account_name", 200),
        "bank_name": _clean_text(bank_name, "bank_name", 200),
        "account_number": check_account_number(account_number),
    }
    check_second_factor(verified_at)
    account = (BankAccount.objects.for_tenant(tenant).select_for_update(of=("self",))
               .filter(organization_id=organization_id).first())
    if account is None:
        try:
            with transaction.atomic():
                return BankAccount.objects.create(tenant=tenant, organization_id=organization_id, updated_by=actor, **values)
        except IntegrityError:  # created at the same moment by another request: change that one
            account = (BankAccount.objects.for_tenant(tenant).select_for_update(of=("self",))
                       .get(organization_id=organization_id))
    for name, value in values.items():
        setattr(account, name, value)
    account.updated_by = actor
    account.save(update_fields=[*values, "updated_by", "updated_at"])
    return account


# --- invoices and receivables ----------------------------------------------------------------


def invoice_received_value(purchase_order):
    """What has been received and accepted on a PO, at its prices: Σ accepted_quantity × unit_price,
    in the PO's currency's minor units."""
    from orders.models import PurchaseOrderLine

    total = sum(
        (Decimal(q) * p for q, p in PurchaseOrderLine.objects.filter(order=purchase_order)
         .values_list("accepted_quantity", "unit_price")),
        Decimal(0),
    )
    return quantize(total, purchase_order.currency)


def invoice_invoiced_value(purchase_order):
    """What invoices not rejected already claim of a PO."""
    total = (
        Invoice.objects.filter(purchase_order=purchase_order).exclude(state=InvoiceState.REJECTED)
        .aggregate(total=Sum("amount"))["total"]
    )
    return total or Decimal(0)


@transaction.atomic
def invoice_create(*, tenant, actor, context, purchase_order, number, amount, currency):
    """The supplier's invoice against a PO of theirs, with its receivable (pending until finance
    confirms it). The amount may not exceed the PO's received value not yet invoiced."""
    check_context(context, tenant=tenant, user=actor)
    if purchase_order.tenant_id != tenant.pk or purchase_order.supplier_id not in _supplier_orgs(context):
        raise PermissionDenied(_("Only the PO's supplier may invoice it."))
    if not isinstance(number, str) or not number.strip() or len(number) > 64:
        raise ValidationError({"number": _("Give the invoice number (at most 64 characters).")})
    number = number.strip()
    try:
        currency_of(currency)
    except MoneyError as error:
        raise ValidationError({"currency": ValidationError(str(error), code=error.code)}) from None
    amount = check_money(amount, currency)
    po = lock_objects.purchase_order_lock(tenant, purchase_order.pk)
    if currency != po.currency:
        raise ValidationError({"currency": _("The PO is in %(currency)s.") % {"currency": po.currency}})
    available = invoice_received_value(po) - invoice_invoiced_value(po)
    if amount > available:
        raise ValidationError({"amount": ValidationError(
            _("At most %(available)s %(currency)s of this PO is received and not yet invoiced.")
            % {"available": quantize(max(available, Decimal(0)), currency), "currency": currency},
            code="exceeds_received_value",
        )})
    if Invoice.objects.filter(tenant=tenant, supplier=po.supplier, number=number).exists():
        raise FinanceConflict(_("Invoice %(number)s exists already.") % {"number": number}, code="duplicate_invoice")
    invoice = Invoice.objects.create(
        tenant=tenant, supplier=po.supplier, purchase_order=po, number=number, amount=amount, currency=currency,
        created_by=actor,
    )
    invoice.receivable = Receivable.objects.create(
        tenant=tenant, invoice=invoice, holder=po.supplier, amount=amount, currency=currency,
    )
    audit_transition(tenant=tenant, actor=actor, object_kind="invoice", object_ref=invoice.pk, verb="create",
                     before_state=None, after_state=invoice.state, number=number, purchase_order=po.number,
                     amount=amount, currency=currency)
    return invoice


@transaction.atomic
def invoice_attachment_add(*, tenant, actor, context, invoice, upload):
    """Attaches a file (the scan) to a submitted invoice of the actor's organisation, with its SHA-256."""
    from messaging.services import check_attachment  # the one list of accepted types and sizes

    check_context(context, tenant=tenant, user=actor)
    if invoice.tenant_id != tenant.pk or invoice.supplier_id not in _supplier_orgs(context):
        raise PermissionDenied(_("Only the invoice's supplier may attach files to it."))
    checked = check_attachment(upload)
    invoice = lock_objects.invoice_lock(tenant, invoice.pk)
    if invoice.state != InvoiceState.SUBMITTED:
        raise FinanceConflict(_("Files are attached while the invoice is submitted."))
    return InvoiceAttachment.objects.create(tenant=tenant, invoice=invoice, uploaded_by=actor, **checked)


@transaction.atomic
def invoice_reject(*, tenant, actor, context, invoice, reason):
    """Finance refuses the payable: the invoice and its receivable are rejected, with the reason."""
    check_context(context, tenant=tenant, user=actor)
    check_finance_approver(context)
    reason = check_reason(reason)
    invoice = lock_objects.invoice_lock(tenant, invoice.pk)
    if invoice.state != InvoiceState.SUBMITTED:
        raise FinanceConflict(_("The invoice was decided already."), code="already_decided")
    now = timezone.now()
    invoice.state, invoice.reject_reason, invoice.decided_by, invoice.decided_at = InvoiceState.REJECTED, reason, actor, now
    invoice.save(update_fields=["state", "reject_reason", "decided_by", "decided_at"])
    receivables = lock_objects.receivables_lock(tenant, invoice.receivables.values_list("pk", flat=True))
    for receivable in receivables:
        receivable.state = ReceivableState.REJECTED
        receivable.save(update_fields=["state"])
    audit_transition(tenant=tenant, actor=actor, object_kind="invoice", object_ref=invoice.pk, verb="reject",
                     before_state=InvoiceState.SUBMITTED, after_state=invoice.state, number=invoice.number)
    return invoice


@transaction.atomic
def receivable_confirm(*, tenant, actor, context, receivable, due_date):
    """Finance confirms the payable (确权): the receivable is owed on `due_date` (after today)."""
    check_context(context, tenant=tenant, user=actor)
    check_finance_approver(context)
    if not isinstance(due_date, date):
        raise ValidationError({"due_date": _("Give a date.")})
    if due_date <= _today(tenant):
        raise ValidationError({"due_date": _("The due date must be after today.")})
    if due_date > _today(tenant) + timedelta(days=MAX_TERM_DAYS):
        raise ValidationError({"due_date": _("The due date is at most ten years away.")})
    invoice = lock_objects.invoice_lock(tenant, receivable.invoice_id)
    receivable = lock_objects.receivables_lock(tenant, [receivable.pk])[0]
    if receivable.state != ReceivableState.PENDING or invoice.state != InvoiceState.SUBMITTED:
        raise FinanceConflict(_("This receivable was decided already."), code="already_decided")
    now = timezone.now()
    invoice.state, invoice.decided_by, invoice.decided_at = InvoiceState.CONFIRMED, actor, now
    invoice.save(update_fields=["state", "decided_by", "decided_at"])
    receivable.state, receivable.due_date = ReceivableState.CONFIRMED, due_date
    receivable.confirmed_by, receivable.confirmed_at = actor, now
    receivable.save(update_fields=["state", "due_date", "confirmed_by", "confirmed_at"])
    audit_transition(tenant=tenant, actor=actor, object_kind="receivable", object_ref=receivable.pk, verb="confirm",
                     before_state=ReceivableState.PENDING, after_state=receivable.state, due_date=due_date,
                     invoice=invoice.number, amount=receivable.amount)
    return receivable


@transaction.atomic
def receivable_split(*, tenant, actor, context, receivable, parts):
    """Transfers parts of a confirmed receivable to lower-tier suppliers (拆分流转). `parts`:
    [(amount, organisation)], each organisation an active supplier partner of the tenant other than
    the holder. Each part becomes a confirmed receivable held by it, with `parent` set and the same
    due date; the original is reduced by the parts (to zero, `transferred`, when they are all of it).
    Returns the new receivables."""
    check_context(context, tenant=tenant, user=actor)
    if receivable.holder_id not in _supplier_orgs(context):
        raise PermissionDenied(_("Only the receivable's holder may split it."))
    if not parts or len(parts) > 50:
        raise ValidationError({"parts": _("Give between 1 and 50 parts.")})
    checked = []
    for index, (amount, organization) in enumerate(parts):
        amount = check_money(amount, receivable.currency, field=f"parts[{index}].amount")
        _partner(tenant, organization, OrganizationKind.SUPPLIER, f"parts[{index}].to")
        if organization.pk == receivable.holder_id:
            raise ValidationError({f"parts[{index}].to": _("A part goes to another supplier than the holder.")})
        checked.append((amount, organization))
    original = lock_objects.receivables_lock(tenant, [receivable.pk])[0]
    if original.state != ReceivableState.CONFIRMED:
        raise FinanceConflict(_("Only a confirmed receivable that is not pledged can be split."))
    total = sum((amount for amount, _org in checked), Decimal(0))
    if total > original.amount:
        raise ValidationError({"parts": ValidationError(
            _("The parts come to %(total)s; the receivable is %(amount)s.") % {
                "total": quantize(total, original.currency), "amount": quantize(original.amount, original.currency)},
            code="exceeds_amount",
        )})
    original.amount -= total
    if original.amount == 0:
        original.state = ReceivableState.TRANSFERRED
    original.save(update_fields=["amount", "state"])
    now = timezone.now()
    parts = Receivable.objects.bulk_create([
        Receivable(tenant=tenant, invoice_id=original.invoice_id, parent=original, holder=organization, amount=amount,
                   currency=original.currency, due_date=original.due_date, state=ReceivableState.CONFIRMED,
                   confirmed_by=original.confirmed_by, confirmed_at=now)
        for amount, organization in checked
    ])
    audit_transition(tenant=tenant, actor=actor, object_kind="receivable", object_ref=original.pk, verb="split",
                     before_state=ReceivableState.CONFIRMED, after_state=original.state, amount=original.amount,
                     parts=[{"id": part.pk, "amount": part.amount, "to": organization.slug}
                            for part, (_amount, organization) in zip(parts, checked)])
    return parts


# --- financing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    amount: Decimal
    currency: str
    annual_rate: Decimal
    advance_rate: Decimal
    days: int
    cost: Decimal
    maturity_date: date
    receivables_amount: Decimal
    limit: Decimal  # the most that may be borrowed against these receivables


def financing_terms(tenant, funder):
    """(annual rate, advance rate) for `funder` in `tenant`: its own terms, the tenant's default
    row, or the settings."""
    rows = {t.funder_id: t for t in FinancingTerms.objects.for_tenant(tenant).filter(Q(funder=funder) | Q(funder__isnull=True))}
    terms = rows.get(funder.pk) or rows.get(None)
    if terms is not None:
        return terms.annual_rate, terms.advance_rate
    return Decimal(settings.FINANCING_DEFAULT_RATE), Decimal(settings.FINANCING_ADVANCE_RATE)


def _receivables_for(tenant, context, ids, *, lock):
    """The receivables `ids` the actor's organisations hold, confirmed and not matured; 400 otherwise."""
    if not isinstance(ids, (list, tuple)) or not ids or len(ids) > 100 or len(set(ids)) != len(ids):
        raise ValidationError({"receivables": _("Give between 1 and 100 distinct receivables.")})
    if lock:
        rows = lock_objects.receivables_lock(tenant, ids)
    else:
        rows = list(Receivable.objects.for_tenant(tenant).filter(pk__in=ids).order_by("pk"))
    holders = _supplier_orgs(context)
    rows = [r for r in rows if r.holder_id in holders]
    if len(rows) != len(ids):
        raise ValidationError({"receivables": _("Some of these receivables are not yours or do not exist.")})
    if any(r.state != ReceivableState.CONFIRMED for r in rows):
        raise FinanceConflict(_("Only confirmed receivables that are not pledged can be financed."), code="not_financeable")
    if len({r.holder_id for r in rows}) != 1 or len({r.currency for r in rows}) != 1:
        raise ValidationError({"receivables": _("The receivables must have one holder and one currency.")})
    return rows


def _quote(tenant, receivables, amount, funder):
    currency = receivables[0].currency
    amount = check_money(amount, currency)
    maturity = min(r.due_date for r in receivables)
    days = currency_of(currency).day_count.days(_today(tenant), maturity)
    if days < 1:
        raise FinanceConflict(_("A receivable is due today or earlier."), code="matured")
    rate, advance = financing_terms(tenant, funder)
    outstanding = sum((r.amount for r in receivables), Decimal(0))
    if outstanding > MAX_AMOUNT:
        raise ValidationError({"receivables": _("Together these receivables are too large for one application.")})
    limit = quantize_down(advance * outstanding, currency)
    if amount > limit:
        raise ValidationError({"amount": ValidationError(
            _("At most %(limit)s %(currency)s (%(advance)s of %(outstanding)s).") % {
                "limit": limit, "currency": currency, "advance": f"{advance:.2%}",
                "outstanding": quantize(outstanding, currency)},
            code="exceeds_advance_limit",
        )})
    return Quote(amount=amount, currency=currency, annual_rate=rate, advance_rate=advance, days=days,
                 cost=interest(amount, rate, days, currency), maturity_date=maturity,
                 receivables_amount=outstanding, limit=limit)


def financing_quote(*, tenant, actor, context, receivables, amount, funder):
    """What financing `amount` against `receivables` (ids) from `funder` would cost: the rate ×
    days to maturity under the currency's day count. Writes nothing."""
    check_context(context, tenant=tenant, user=actor)
    if not _supplier_orgs(context):
        raise PermissionDenied(_("Only a supplier's representatives apply for financing."))
    _partner(tenant, funder, OrganizationKind.FUNDER, "funder")
    return _quote(tenant, _receivables_for(tenant, context, receivables, lock=False), amount, funder)


@transaction.atomic
def financing_apply(*, tenant, actor, context, receivables, amount, funder):
    """The holder applies to `funder` (an active funder partner) for `amount` against confirmed
    receivables (ids): at most the advance rate × their amount. They are pledged to it; the
    application is `requested`, priced as financing_quote prices it."""
    check_context(context, tenant=tenant, user=actor)
    if not _supplier_orgs(context):
        raise PermissionDenied(_("Only a supplier's representatives apply for financing."))
    _partner(tenant, funder, OrganizationKind.FUNDER, "funder")
    if not isinstance(receivables, (list, tuple)):
        raise ValidationError({"receivables": _("Give between 1 and 100 distinct receivables.")})
    holders = Receivable.objects.for_tenant(tenant).filter(pk__in=[r for r in receivables if isinstance(r, int)])
    holder_ids = set(holders.values_list("holder_id", flat=True)) & _supplier_orgs(context)
    rooms = financing_rooms_lock(tenant, *holder_ids, funder.pk)  # rooms first, then the receivables
    rows = _receivables_for(tenant, context, receivables, lock=True)
    quote = _quote(tenant, rows, amount, funder)
    application = FinancingApplication.objects.create(
        tenant=tenant, supplier_id=rows[0].holder_id, funder=funder, created_by=actor, amount=quote.amount,
        currency=quote.currency, receivables_amount=quote.receivables_amount, annual_rate=quote.annual_rate,
        advance_rate=quote.advance_rate, days=quote.days, cost=quote.cost, maturity_date=quote.maturity_date,
    )
    FinancingItem.objects.bulk_create([
        FinancingItem(tenant=tenant, application=application, receivable=r, amount=r.amount) for r in rows
    ])
    Receivable.objects.filter(pk__in=[r.pk for r in rows]).update(state=ReceivableState.PLEDGED)
    financing_card_post(tenant, rooms, application, "requested")
    _audit_application(tenant, actor, application, "apply", None, receivables=[r.pk for r in rows],
                       funder=funder.slug)
    return application


def _stage_of(application, context):
    """The stage the actor decides at: the funder's officer at `funder`, a finance approver at `core`."""
    if application.funder_id in context.organizations(FUNDER_ROLES):
        return ApprovalStage.FUNDER
    if context.roles & FINANCE_APPROVERS:
        return ApprovalStage.CORE
    raise PermissionDenied(_("Only the tenant's finance approvers and the funder's officers decide on financing."))


def _release(tenant, application):
    """Gives the receivables of a closed application back to their holder (application locked)."""
    items = FinancingItem.objects.filter(application=application, released=False)
    rows = lock_objects.receivables_lock(tenant, items.values_list("receivable_id", flat=True))
    items.update(released=True)
    Receivable.objects.filter(pk__in=[r.pk for r in rows], state=ReceivableState.PLEDGED).update(state=ReceivableState.CONFIRMED)


def _organization_for(context, stage, application):
    if stage == ApprovalStage.FUNDER:
        return application.funder_id
    return context.tenant.organization_id


@transaction.atomic
def financing_approve(*, tenant, actor, context, application, verified_at):
    """One approval. Core stage: a finance approver of the tenant, not the maker, once each; the
    first moves the application to core_review, the second (another person) to funder_review.
    Funder stage: the funder's officer, in funder_review; disbursing comes next."""
    check_context(context, tenant=tenant, user=actor)
    stage = _stage_of(application, context)
    if stage == ApprovalStage.CORE and application.created_by_id == actor.pk:
        raise PermissionDenied(_("The maker of an application may not approve it."))
    check_second_factor(verified_at)
    rooms = financing_rooms_lock(tenant, application.supplier_id, application.funder_id)
    application = lock_objects.application_lock(tenant, application.pk)
    if Approval.objects.filter(application=application, approver=actor).exists():
        raise FinanceConflict(_("You have decided on this application already."), code="already_decided")
    now = timezone.now()
    before_state = application.state
    if stage == ApprovalStage.CORE:
        if application.state not in (S.REQUESTED, S.CORE_REVIEW):
            raise FinanceConflict(_("This application is not in core review."))
        Approval.objects.create(tenant=tenant, application=application, approver=actor, organization_id=tenant.organization_id,
                                stage=stage, decision=Decision.APPROVE, at=now)
        approvers = Approval.objects.filter(application=application, stage=stage, decision=Decision.APPROVE).count()
        target = S.FUNDER_REVIEW if approvers >= 2 else S.CORE_REVIEW
        check_application_transition(application, target)
        application.state = target
        application.save(update_fields=["state", "updated_at"])
        financing_card_post(tenant, rooms, application, "core_approved", approver=actor.get_full_name() or actor.username,
                            count=approvers)
    else:
        if application.state != S.FUNDER_REVIEW:
            raise FinanceConflict(_("This application is not in funder review."))
        Approval.objects.create(tenant=tenant, application=application, approver=actor, organization_id=application.funder_id,
                                stage=stage, decision=Decision.APPROVE, at=now)
        application.funder_approved_at = now
        application.save(update_fields=["funder_approved_at", "updated_at"])
        financing_card_post(tenant, rooms, application, "funder_approved")
    _audit_application(tenant, actor, application, "approve", before_state, stage=stage)
    return application


@transaction.atomic
def financing_reject(*, tenant, actor, context, application, reason, verified_at):
    """A finance approver (in core review) or the funder's officer (in funder review) refuses the
    application; its receivables are free to finance again."""
    check_context(context, tenant=tenant, user=actor)
    stage = _stage_of(application, context)
    if stage == ApprovalStage.CORE and application.created_by_id == actor.pk:
        raise PermissionDenied(_("The maker of an application may not decide on it."))
    reason = check_reason(reason)
    check_second_factor(verified_at)
    rooms = financing_rooms_lock(tenant, application.supplier_id, application.funder_id)
    application = lock_objects.application_lock(tenant, application.pk)
    allowed = (S.REQUESTED, S.CORE_REVIEW) if stage == ApprovalStage.CORE else (S.FUNDER_REVIEW,)
    if application.state not in allowed:
        raise FinanceConflict(_("This application is not awaiting your decision."))
    if Approval.objects.filter(application=application, approver=actor).exists():
        raise FinanceConflict(_("You have decided on this application already."), code="already_decided")
    if stage == ApprovalStage.FUNDER and application.funder_approved_at is not None:
        raise FinanceConflict(_("The funder has approved this application already."), code="already_decided")
    Approval.objects.create(tenant=tenant, application=application, approver=actor,
                            organization_id=_organization_for(context, stage, application), stage=stage,
                            decision=Decision.REJECT, reason=reason, at=timezone.now())
    before_state = application.state
    application.state, application.reason = S.REJECTED, reason
    application.save(update_fields=["state", "reason", "updated_at"])
    _release(tenant, application)
    financing_card_post(tenant, rooms, application, "rejected", approver=actor.get_full_name() or actor.username,
                        reason=reason)
    _audit_application(tenant, actor, application, "reject", before_state, stage=stage, reason=reason)
    return application


@transaction.atomic
def financing_withdraw(*, tenant, actor, context, application, reason):
    """The applicant takes the application back before it is disbursed."""
    check_context(context, tenant=tenant, user=actor)
    if application.supplier_id not in _supplier_orgs(context):
        raise PermissionDenied(_("Only the applicant may withdraw an application."))
    reason = check_reason(reason)
    rooms = financing_rooms_lock(tenant, application.supplier_id, application.funder_id)
    application = lock_objects.application_lock(tenant, application.pk)
    check_application_transition(application, S.WITHDRAWN)
    before_state = application.state
    application.state, application.reason = S.WITHDRAWN, reason
    application.save(update_fields=["state", "reason", "updated_at"])
    _release(tenant, application)
    financing_card_post(tenant, rooms, application, "withdrawn", reason=reason)
    _audit_application(tenant, actor, application, "withdraw", before_state, reason=reason)
    return application


def financing_request_hash(*, actor, application, body):
    """What an Idempotency-Key is bound to: who asks, for which application, with what body."""
    canonical = json.dumps({"actor": actor.pk, "application": application.pk, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _disbursement_body(application, disbursement):
    """The answer to a disbursement, as bytes: stored with it and replayed byte for byte."""
    body = {
        "id": application.pk, "state": application.state, "amount": str(quantize(application.amount, application.currency)),
        "currency": application.currency, "disbursement": {
            "amount": str(quantize(disbursement.amount, disbursement.currency)),
            "currency": disbursement.currency, "at": disbursement.at.isoformat(), "by": disbursement.disbursed_by.username,
            "paid_to": disbursement.paid_to,
        },
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _replay(tenant, key, request_hash):
    """The stored disbursement under `key`, if the same request made it; 409 if another did."""
    found = Disbursement.objects.for_tenant(tenant).filter(idempotency_key=key).first()
    if found is None:
        return None
    if found.request_hash != request_hash:
        raise FinanceConflict(_("This Idempotency-Key was used for another request."), code="idempotency_key_reused")
    return found


def financing_disburse(*, tenant, actor, context, application, idempotency_key, body=None, verified_at):
    """The funder's officer pays out an application the funder has approved: exactly once.

    Returns (disbursement, replayed). A retry with the same Idempotency-Key and the same request
    gets the stored disbursement (its `response_body` is the first answer, byte for byte); the same
    key with another request, or another key once disbursed, is a 409. Under concurrency the
    application's row lock orders the callers; the one-to-one key and the key's unique constraint
    hold even so."""
    check_context(context, tenant=tenant, user=actor)
    if application.funder_id not in context.organizations(FUNDER_ROLES):
        raise PermissionDenied(_("Only the funder's officers disburse."))
    if not isinstance(idempotency_key, str) or not idempotency_key.strip() or len(idempotency_key) > 255:
        raise ValidationError({"idempotency_key": ValidationError(_("Send an Idempotency-Key header (at most 255 characters)."),
                                                                  code="idempotency_key_required")})
    check_second_factor(verified_at)
    request_hash = financing_request_hash(actor=actor, application=application, body=body or {})
    found = _replay(tenant, idempotency_key, request_hash)
    if found is not None:
        return found, True
    try:
        with transaction.atomic():
            return _disburse(tenant, actor, application, idempotency_key, request_hash)
    except IntegrityError:
        # Another request took this key at the same moment (for another application): theirs stands.
        found = _replay(tenant, idempotency_key, request_hash)
        if found is not None:
            return found, True
        raise


def _disburse(tenant, actor, application, key, request_hash):
    rooms = financing_rooms_lock(tenant, application.supplier_id, application.funder_id)
    application = lock_objects.application_lock(tenant, application.pk)
    found = _replay(tenant, key, request_hash)  # committed while this waited for the lock
    if found is not None:
        return found, True
    if Disbursement.objects.filter(application=application).exists():
        raise FinanceConflict(_("This application is disbursed already."), code="already_disbursed")
    if application.state != S.FUNDER_REVIEW or application.funder_approved_at is None:
        raise FinanceConflict(_("The funder approves the application before disbursing it."))
    now = timezone.now()
    check_application_transition(application, S.DISBURSED)
    application.state, application.disbursed_at = S.DISBURSED, now
    # Paid to the supplier's payout account as it is now (a copy: a later change does not move it).
    account = BankAccount.objects.for_tenant(tenant).filter(organization_id=application.supplier_id).first()
    disbursement = Disbursement(
        tenant=tenant, application=application, idempotency_key=key, request_hash=request_hash, amount=application.amount,
        currency=application.currency, disbursed_by=actor, at=now, response_status=201, bank_account=account,
        paid_to=bank_account_details(account) if account is not None else None,
    )
    # The row is never changed once written (migration 0002): the answer goes in with it.
    disbursement.response_body = _disbursement_body(application, disbursement)
    disbursement.save(force_insert=True)
    application.save(update_fields=["state", "disbursed_at", "updated_at"])
    financing_card_post(tenant, rooms, application, "disbursed")
    _audit_application(tenant, actor, application, "disburse", S.FUNDER_REVIEW, disbursement=disbursement.pk)
    return disbursement, False


@transaction.atomic
def financing_repay(*, tenant, actor, context, application):
    """The core enterprise repays a disbursed (or overdue) application in full; its receivables
    are settled."""
    check_context(context, tenant=tenant, user=actor)
    check_finance_approver(context)
    # With the rooms of its overdue alert's cards, which a repayment of an overdue one recovers.
    rooms = financing_rooms_lock(tenant, application.supplier_id, application.funder_id, alert_of=application.supplier_id)
    application = lock_objects.application_lock(tenant, application.pk)
    if application.state == S.DISPUTED:
        raise FinanceConflict(_("Financing application FA-%(id)s is disputed: settle the dispute before repaying it.")
                              % {"id": application.pk}, code="disputed")
    check_application_transition(application, S.REPAID)
    was_overdue = application.state == S.OVERDUE
    before_state = application.state
    now = timezone.now()
    repayment = Repayment.objects.create(tenant=tenant, application=application, amount=application.amount,
                                         currency=application.currency, repaid_by=actor, at=now)
    application.state, application.repaid_at = S.REPAID, now
    application.save(update_fields=["state", "repaid_at", "updated_at"])
    items = FinancingItem.objects.filter(application=application, released=False)
    rows = lock_objects.receivables_lock(tenant, items.values_list("receivable_id", flat=True))
    Receivable.objects.filter(pk__in=[r.pk for r in rows]).update(state=ReceivableState.SETTLED)
    financing_card_post(tenant, rooms, application, "repaid")
    if was_overdue:
        _overdue_alert_recover(tenant, application)
    _audit_application(tenant, actor, application, "repay", before_state, repayment=repayment.pk)
    return repayment


# --- disputes ----------------------------------------------------------------------------------


def _dispute_party(application, context, *, settling):
    """The organisation the actor acts for in a dispute of `application`: the funder (its
    officer), the tenant's own (a finance approver), or, raising only, the applicant (its rep);
    403 for anyone else."""
    if application.funder_id in context.organizations(FUNDER_ROLES):
        return application.funder_id
    if context.roles & FINANCE_APPROVERS:
        return context.tenant.organization_id
    if not settling and application.supplier_id in _supplier_orgs(context):
        return application.supplier_id
    if settling:
        raise PermissionDenied(_("Only the tenant's finance approvers and the funder's officers settle a dispute."))
    raise PermissionDenied(_("Only the tenant's finance approvers, the funder's officers and the applicant dispute financing."))


@transaction.atomic
def financing_dispute(*, tenant, actor, context, application, reason):
    """Contests a disbursed, overdue or repaid application (its repayment, or the receivable
    behind it), with a reason: it becomes `disputed`, and is not repaid until the dispute is
    settled. The tenant's finance approvers, the funder's officers and the applicant's reps may
    raise one. Not a money action: no money moves and no payout detail changes (docs/FINANCE.md).
    An overdue application stays overdue underneath: its `financing_overdue` alert stays open."""
    check_context(context, tenant=tenant, user=actor)
    party = _dispute_party(application, context, settling=False)
    reason = check_reason(reason)
    rooms = financing_rooms_lock(tenant, application.supplier_id, application.funder_id)
    application = lock_objects.application_lock(tenant, application.pk)
    check_application_transition(application, S.DISPUTED)
    before_state = application.state
    # The dispute first: the database lets the application become disputed only with it open.
    dispute = FinancingDispute.objects.create(tenant=tenant, application=application, from_state=before_state,
                                              reason=reason, raised_by=actor, raised_for_id=party, raised_at=timezone.now())
    application.state = S.DISPUTED
    application.save(update_fields=["state", "updated_at"])
    financing_card_post(tenant, rooms, application, "disputed", who=actor.get_full_name() or actor.username, reason=reason)
    _audit_application(tenant, actor, application, "dispute", before_state, reason=reason, dispute=dispute.pk)
    return application


@transaction.atomic
def financing_dispute_settle(*, tenant, actor, context, application, resolution):
    """Settles the open dispute of an application with a resolution: a finance approver of the
    tenant or the funder's officer. The application returns to the state it was disputed from."""
    check_context(context, tenant=tenant, user=actor)
    party = _dispute_party(application, context, settling=True)
    resolution = check_reason(resolution, field="resolution")
    rooms = financing_rooms_lock(tenant, application.supplier_id, application.funder_id)
    application = lock_objects.application_lock(tenant, application.pk)
    if application.state != S.DISPUTED:
        raise FinanceConflict(_("Financing application FA-%(id)s is %(state)s, not disputed: there is nothing to settle.") % {
            "id": application.pk, "state": S(application.state).label})
    dispute = lock_objects.dispute_open_lock(tenant, application.pk)
    check_application_transition(application, dispute.from_state)
    dispute.resolution, dispute.settled_by, dispute.settled_for_id = resolution, actor, party
    dispute.settled_at = max(timezone.now(), dispute.raised_at)
    dispute.save(update_fields=["resolution", "settled_by", "settled_for", "settled_at"])
    application.state = dispute.from_state
    application.save(update_fields=["state", "updated_at"])
    financing_card_post(tenant, rooms, application, "dispute_settled", who=actor.get_full_name() or actor.username,
                        resolution=resolution)
    _audit_application(tenant, actor, application, "settle_dispute", S.DISPUTED, resolution=resolution, dispute=dispute.pk)
    return application


def _overdue_alert_recover(tenant, application):
    """Repaid after all: its `financing_overdue` alert is resolved (recovered), its cards say so.
    The caller holds the rooms of the alert's cards (financing_rooms_lock(alert_of=)): every lock
    of an alert is taken by a holder of all its cards' rooms (docs/ARCHITECTURE.md)."""
    from alerts.services import alert_recover
    from messaging.texts import Text

    alert_recover(tenant=tenant, dedupe_key=financing_overdue_alert_key(application),
                  note=Text("finance.overdue.repaid", {"id": application.pk}))


def financing_overdue_alert_key(application):
    """The dedupe key of an application's `financing_overdue` alert."""
    return f"financing_overdue:{application.pk}"


def financing_overdue_sweep(*, today=None, batch=100):
    """Marks disbursed applications past maturity overdue and raises `financing_overdue` for each.

    Per tenant and supplier: the rooms first (the lock order), in one statement: those the alert's
    cards go to (the internal room, the supplier's) and the funders' rooms, where the application's
    `overdue` card goes with the supplier's; then the due applications FOR UPDATE SKIP LOCKED (one
    being repaid right now is skipped, and the next sweep sees it repaid). Returns how many it
    marked."""
    from alerts.services import alert_raise

    marked = 0
    due = FinancingApplication.objects.filter(state=S.DISBURSED)
    groups = due.values_list("tenant_id", "supplier_id").distinct().order_by("tenant_id", "supplier_id")
    for tenant_id, supplier_id in list(groups):
        with transaction.atomic():
            from scm_portal.tenancy.models import Tenant

            tenant = Tenant.objects.get(pk=tenant_id)
            day = today or _today(tenant)
            funders = set(due.filter(tenant_id=tenant_id, supplier_id=supplier_id, maturity_date__lt=day)
                          .values_list("funder_id", flat=True))
            if not funders:
                continue
            financing_rooms_lock(tenant, supplier_id, *sorted(funders), alert_of=supplier_id)
            rows = list(
                due.filter(tenant_id=tenant_id, supplier_id=supplier_id, maturity_date__lt=day)
                .select_for_update(of=("self",), skip_locked=True).select_related("supplier", "funder").order_by("pk")[:batch]
            )
            # A funder that became due only after the rooms were locked: its room waits for the next sweep.
            rows = [application for application in rows if application.funder_id in funders]
            now = timezone.now()
            for application in rows:
                application.state, application.overdue_at = S.OVERDUE, now
                application.save(update_fields=["state", "overdue_at", "updated_at"])
                # Its rooms are held already: read again (as they are now, after the previous
                # application's card and alert), the card first, then the alert (which reads its own).
                financing_card_post(tenant, financing_rooms_lock(tenant, supplier_id, application.funder_id), application,
                                    "overdue")
                alert_raise(
                    tenant=tenant, kind="financing_overdue", dedupe_key=financing_overdue_alert_key(application),
                    subject_kind="financing_application", subject_ref=str(application.pk), partner=application.supplier,
                    core_audience=sorted(FINANCE_APPROVERS),
                    payload={"application": application.pk, "amount": str(quantize(application.amount, application.currency)),
                             "currency": application.currency, "maturity_date": application.maturity_date.isoformat()},
                )
            for application in rows:  # the system's act, after the alerts: the audit head is the last lock
                _audit_application(tenant, None, application, "overdue", S.DISBURSED)
            marked += len(rows)
    return marked
