"""Financing pages under /t/<tenant>/financing/: a supplier's receivables, invoices, the application
form with its cost and their applications; the finance approvers' queue and repayment calendar;
the funder's queue; one application with its history and conversation.

Thin views: reads through finance.selectors, writes through finance.services, which hold every
rule (who, which state, money, 2FA), so a page refuses what the API refuses: a page for roles
that have none here is 403, an application the reader may not see 404, a refusal re-renders the
page with the reason (400 bad input, 403 role or missing 2FA, 409 state) and changes nothing.

Every list comes in pages (`?page=`, templates/pagination.html). The application page and the two
queues (one view) keep current over the tenant socket: their `?part=live` is what the page reads
again when a message about an application comes (static/portal/portal.js, Portal.liveParts).
"""

import secrets
from dataclasses import asdict
from types import SimpleNamespace

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from finance import selectors, services
from finance.forms import (
    ApplyForm,
    DisburseForm,
    InvoiceForm,
    ReasonForm,
    ReceivableConfirmForm,
    ResolutionForm,
    SplitForm,
    form_errors,
)
from finance.models import (
    DISPUTABLE_STATES,
    FINANCE_APPROVERS,
    FINANCE_VIEWERS,
    FUNDER_ROLES,
    SUPPLIER_ROLES,
    ApplicationState,
    FinanceConflict,
    FinancingApplication,
    Invoice,
    OtpRequired,
    Receivable,
    ReceivableState,
)
from finance.money import MoneyError, currency_of, quantize
from messaging.sanitize import render_markdown
from messaging.services import message_post
from scm_portal.tenancy.roles import READ_ONLY_ROLES
from scm_portal.tenancy.totp import totp_verified_at
from scm_portal.tenancy.totp_views import totp_status
from scm_portal.tenancy.views import tenant_page

S = ApplicationState
# Rows per page of the lists (applications, receivables, invoices, the calendar) and cards per page
# of the queues (each with its conversation): Django's Paginator, as the portal's other lists page
# (templates/pagination.html); a `?page=` that is not a page answers the nearest one.
PAGE_SIZE = 50
QUEUE_PAGE_SIZE = 20
APPLICATION_READERS = FinancingApplication.access_policy.roles("view")
RECEIVABLE_READERS = Receivable.access_policy.roles("view")
INVOICE_READERS = Invoice.access_policy.roles("view")
MOVES = {"approve", "reject", "disburse", "repay", "withdraw", "comment", "dispute", "settle-dispute"}

# The section's tabs: (name, label, url name, roles that may open it).
TABS = [
    ("applications", gettext_lazy("Applications"), "finance:applications", APPLICATION_READERS),
    ("receivables", gettext_lazy("Receivables"), "finance:receivables", RECEIVABLE_READERS),
    ("invoices", gettext_lazy("Invoices"), "finance:invoices", INVOICE_READERS),
    ("apply", gettext_lazy("Apply for financing"), "finance:apply", SUPPLIER_ROLES),
    ("approvals", gettext_lazy("Approval queue"), "finance:approvals", FINANCE_APPROVERS),
    ("funder", gettext_lazy("Funder queue"), "finance:funder", FUNDER_ROLES),
    ("calendar", gettext_lazy("Repayment calendar"), "finance:calendar", FINANCE_VIEWERS),
]


def _tabs(request, current):
    roles = request.tenant_context.roles
    return [{"name": name, "label": label, "current": name == current,
             "url": reverse(url_name, kwargs={"tenant": request.tenant.slug})}
            for name, label, url_name, allowed in TABS if allowed & roles]


def _allowed(request, roles):
    return bool(request.tenant_context.roles & roles)


def _page(request, template, current, context, status=200):
    context = {"tabs": _tabs(request, current), "money_role": _allowed(request, FINANCE_APPROVERS | FUNDER_ROLES), **context}
    return render(request, template, context, status=status)


def _forbidden(request):
    return render(request, "403.html", status=403)


def _paged(request, rows, size=None):
    """The page of `rows` the request asks for (`?page=`): a number past the last gives the last,
    anything else not a number the first."""
    return Paginator(rows, size or PAGE_SIZE).get_page(request.GET.get("page"))


def _this_page(request):
    """The page's own address for the forms' `next` (its page number and filters kept), never the
    live part's (`?part=live`), which the page's script reads."""
    params = request.GET.copy()
    params.pop("part", None)
    return request.path + ("?" + params.urlencode() if params else "")


def _live(request):
    return request.GET.get("part") == "live"


def error_text(error):
    """One line for a page out of a service's refusal."""
    if isinstance(error, ValidationError):
        fields = getattr(error, "fields", None)
        if fields:
            return "; ".join(" ".join(str(m) for m in items) for items in fields.values())
        if hasattr(error, "error_dict"):
            return "; ".join(" ".join(items) for items in error.message_dict.values())
        return " ".join(error.messages)
    if isinstance(error, PermissionDenied):
        return str(error) or _("Your role does not allow this.")
    return str(error)


def error_status(error):
    if isinstance(error, (ValidationError, MoneyError)):
        return 400
    if isinstance(error, (PermissionDenied, OtpRequired)):
        return 403
    return 409


REFUSALS = (ValidationError, MoneyError, PermissionDenied, OtpRequired, FinanceConflict)


def _who(request):
    return {"tenant": request.tenant, "actor": request.user, "context": request.tenant_context}


# --- applications ------------------------------------------------------------------------------


@tenant_page
def application_list_page(request):
    if not _allowed(request, APPLICATION_READERS):
        return _forbidden(request)
    state = request.GET.get("state", "")
    if state not in S.values:
        state = ""
    context = request.tenant_context
    page = _paged(request, selectors.financing_list(request.user, request.tenant, context=context, state=state or None))
    return _page(request, "finance/application_list.html", "applications", {
        "applications": page.object_list, "page": page, "states": S.choices, "state": state,
        "is_supplier": bool(context.organizations(SUPPLIER_ROLES)),
    })


def _history(application):
    """The application's steps in order: (at, label, who, note)."""
    steps = [(application.created_at, _("Applied"), application.created_by, "")]
    for approval in application.approvals.all():
        label = (_("Approved") if approval.decision == "approve" else _("Rejected")) + f" ({approval.get_stage_display()})"
        steps.append((approval.at, label, approval.approver, approval.reason))
    disbursement = getattr(application, "disbursement", None)
    if disbursement is not None:
        steps.append((disbursement.at, _("Disbursed"), disbursement.disbursed_by, ""))
    if application.overdue_at:
        steps.append((application.overdue_at, _("Overdue"), None, ""))
    repayment = getattr(application, "repayment", None)
    if repayment is not None:
        steps.append((repayment.at, _("Repaid"), repayment.repaid_by, ""))
    if application.state == S.WITHDRAWN:
        steps.append((application.updated_at, _("Withdrawn"), None, application.reason))
    for dispute in application.disputes.all():
        steps.append((dispute.raised_at, _("Disputed"), dispute.raised_by, dispute.reason))
        if dispute.settled_at is not None:
            steps.append((dispute.settled_at, _("Dispute settled"), dispute.settled_by, dispute.resolution))
    return sorted(steps, key=lambda step: step[0])


def decision_flags(request, application):
    """What the reader may do to the application now (the services check it again when they do)."""
    context = request.tenant_context
    user = request.user
    decided = any(a.approver_id == user.pk for a in application.approvals.all())
    approver = bool(context.roles & FINANCE_APPROVERS)
    funder = application.funder_id in context.organizations(FUNDER_ROLES)
    core_turn = approver and application.state in selectors.CORE_REVIEW_STATES
    core_turn = core_turn and application.created_by_id != user.pk and not decided
    funder_turn = funder and application.state == S.FUNDER_REVIEW
    return {
        "may_approve": core_turn or (funder_turn and application.funder_approved_at is None and not decided),
        "may_reject": core_turn or (funder_turn and application.funder_approved_at is None and not decided),
        "may_disburse": funder_turn and application.funder_approved_at is not None,
        "may_repay": approver and application.state in selectors.OUTSTANDING_STATES,
        "may_withdraw": (application.supplier_id in context.organizations(SUPPLIER_ROLES)
                         and application.state in (S.REQUESTED, S.CORE_REVIEW, S.FUNDER_REVIEW)),
        "may_dispute": (application.state in DISPUTABLE_STATES
                        and (approver or funder or application.supplier_id in context.organizations(SUPPLIER_ROLES))),
        "may_settle": application.state == S.DISPUTED and (approver or funder),
    }


def _cards(request, applications):
    """Applications as the queues and the detail page show them, with the reader's buttons and the
    conversation (one query for all of them)."""
    conversations = selectors.financing_conversations(applications, request.user, context=request.tenant_context)
    for application in applications:
        application.flags = decision_flags(request, application)
        application.conversation = [(m, render_markdown(m.body)) for m in conversations[application.pk]]
        application.net = quantize(application.amount - application.cost, application.currency)
        application.idempotency_key = secrets.token_urlsafe(24)  # a fresh Idempotency-Key per form shown
    return applications


def _application_or_404(request, pk):
    application = selectors.financing_get(request.user, request.tenant, pk, context=request.tenant_context)
    if application is None:
        raise Http404
    return application


def _detail(request, application, error=None, status=200):
    """The application's page; with `?part=live`, only its live part (state, summary, buttons,
    history, conversation), which the page re-reads when a message about the application comes
    (static/portal/portal.js, Portal.liveParts)."""
    context = request.tenant_context
    _cards(request, [application])
    application.open_dispute = next((d for d in application.disputes.all() if d.settled_at is None), None)
    template = "finance/_application_live.html" if _live(request) and not error else "finance/application_detail.html"
    return _page(request, template, "applications", {
        "application": application, "error": error, "history": _history(application),
        "items": list(application.items.all()), "approvals": list(application.approvals.all()),
        "disbursement": getattr(application, "disbursement", None),
        "repayment": getattr(application, "repayment", None),
        # the comment form, for those who may write (an auditor reads only)
        "room": (selectors.financing_room(application, request.user, context=context)
                 if context.roles - READ_ONLY_ROLES else None),
        "totp": totp_status(request),
        "next_url": reverse("finance:detail", kwargs={"tenant": request.tenant.slug, "pk": application.pk}),
    }, status=status)


@tenant_page
def application_detail_page(request, pk):
    if not _allowed(request, APPLICATION_READERS):
        return _forbidden(request)
    return _detail(request, _application_or_404(request, pk))


def _next(request, application):
    """Back to the page the form was on (a queue, the calendar), else the application."""
    target = request.POST.get("next", "")
    prefix = f"/t/{request.tenant.slug}/financing/"
    if target.startswith(prefix) and "//" not in target and "\\" not in target:
        return target
    return reverse("finance:detail", kwargs={"tenant": request.tenant.slug, "pk": application.pk})


@tenant_page
def application_move_page(request, pk, move):
    if move not in MOVES:
        raise Http404
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not _allowed(request, APPLICATION_READERS):
        return _forbidden(request)
    application = _application_or_404(request, pk)
    who = {**_who(request), "application": application}
    try:
        if move == "approve":
            services.financing_approve(**who, verified_at=totp_verified_at(request))
            messages.success(request, _("You approved FA-%(id)s.") % {"id": application.pk})
        elif move == "reject":
            form = ReasonForm(request.POST)
            if not form.is_valid():
                raise ValidationError(form_errors(form))
            services.financing_reject(**who, reason=form.cleaned_data["reason"], verified_at=totp_verified_at(request))
            messages.success(request, _("You rejected FA-%(id)s.") % {"id": application.pk})
        elif move == "withdraw":
            form = ReasonForm(request.POST)
            if not form.is_valid():
                raise ValidationError(form_errors(form))
            services.financing_withdraw(**who, reason=form.cleaned_data["reason"])
            messages.success(request, _("You withdrew FA-%(id)s.") % {"id": application.pk})
        elif move == "disburse":
            form = DisburseForm(request.POST)
            if not form.is_valid():
                raise ValidationError(form_errors(form))
            _disbursement, replayed = services.financing_disburse(
                **who, idempotency_key=form.cleaned_data["idempotency_key"], body={},
                verified_at=totp_verified_at(request))
            if not replayed:
                messages.success(request, _("FA-%(id)s is disbursed.") % {"id": application.pk})
        elif move == "repay":
            services.financing_repay(**who)
            messages.success(request, _("FA-%(id)s is repaid.") % {"id": application.pk})
        elif move == "dispute":
            form = ReasonForm(request.POST)
            if not form.is_valid():
                raise ValidationError(form_errors(form))
            services.financing_dispute(**who, reason=form.cleaned_data["reason"])
            messages.success(request, _("You disputed FA-%(id)s.") % {"id": application.pk})
        elif move == "settle-dispute":
            form = ResolutionForm(request.POST)
            if not form.is_valid():
                raise ValidationError(form_errors(form))
            services.financing_dispute_settle(**who, resolution=form.cleaned_data["resolution"])
            messages.success(request, _("The dispute on FA-%(id)s is settled.") % {"id": application.pk})
        else:
            room = selectors.financing_room(application, request.user, context=request.tenant_context)
            if room is None:
                raise PermissionDenied(_("You may not write about this application."))
            message_post(**_who(request), room=room, body=request.POST.get("body", ""),
                         subject={"kind": "financing_application", "id": application.pk})
    except REFUSALS as error:
        return _detail(request, _application_or_404(request, pk), error=error_text(error), status=error_status(error))
    return redirect(_next(request, application))


# --- queues and the calendar ----------------------------------------------------------------------


# The two queues: (roles that may open it, the selector of what awaits the reader, the tab).
QUEUES = {
    "approvals": (FINANCE_APPROVERS, selectors.financing_queue_core, "approvals"),
    "funder": (FUNDER_ROLES, selectors.financing_queue_funder, "funder"),
}


@tenant_page
def queue_page(request, queue):
    """Applications awaiting the reader, one card each with its amounts, buttons and conversation:
    `approvals`, a finance approver's (not theirs, not decided by them yet); `funder`, a funder's
    officer's (its approval, then the disbursement). With `?part=live`, only the cards (the page
    re-reads them when a message about any application comes)."""
    if queue not in QUEUES:
        raise Http404
    roles, rows_of, tab = QUEUES[queue]
    if not _allowed(request, roles):
        return _forbidden(request)
    page = _paged(request, rows_of(request.user, request.tenant, context=request.tenant_context), QUEUE_PAGE_SIZE)
    template = "finance/_queue_live.html" if _live(request) else "finance/queue.html"
    return _page(request, template, tab, {
        "applications": _cards(request, list(page.object_list)), "page": page, "totp": totp_status(request),
        "queue": queue, "next_url": _this_page(request),
    })


@tenant_page
def repayment_calendar_page(request):
    if not _allowed(request, FINANCE_VIEWERS):
        return _forbidden(request)
    today = timezone.localdate()  # the tenant's: tenant_page activated its time zone
    page = _paged(request, selectors.financing_calendar(request.user, request.tenant, context=request.tenant_context))
    return _page(request, "finance/calendar.html", "calendar", {
        "weeks": selectors.financing_calendar_weeks(list(page.object_list), today), "today": today, "page": page,
        "may_repay": _allowed(request, FINANCE_APPROVERS), "next_url": _this_page(request),
    })


# --- receivables and invoices -------------------------------------------------------------------


@tenant_page
def receivable_list_page(request):
    if not _allowed(request, RECEIVABLE_READERS):
        return _forbidden(request)
    return _receivables(request)


def _receivables(request, error=None, status=200):
    context = request.tenant_context
    page = _paged(request, selectors.receivable_list(request.user, request.tenant, context=context))
    rows = list(page.object_list)
    mine = context.organizations(SUPPLIER_ROLES)
    for row in rows:
        row.outstanding = row.amount if row.state in (ReceivableState.CONFIRMED, ReceivableState.PLEDGED) else 0
        row.transferred_to_other = row.holder_id not in mine and row.parent_id is not None and bool(mine)
    return _page(request, "finance/receivables.html", "receivables", {
        "receivables": rows, "page": page, "error": error, "may_confirm": _allowed(request, FINANCE_APPROVERS),
        "transferees": list(selectors.receivable_transferees(request.tenant, context=context)) if mine else [],
        "may_apply": bool(mine), "pending": ReceivableState.PENDING, "confirmed": ReceivableState.CONFIRMED,
    }, status=status)


@tenant_page
def receivable_confirm_page(request, pk):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not _allowed(request, RECEIVABLE_READERS):
        return _forbidden(request)
    receivable = selectors.receivable_list(request.user, request.tenant, context=request.tenant_context).filter(pk=pk).first()
    if receivable is None:
        raise Http404
    try:
        if request.POST.get("decision") == "reject":
            form = ReasonForm(request.POST)
            if not form.is_valid():
                raise ValidationError(form_errors(form))
            services.invoice_reject(**_who(request), invoice=receivable.invoice, reason=form.cleaned_data["reason"])
            messages.success(request, _("Invoice %(number)s is rejected.") % {"number": receivable.invoice.number})
        else:
            form = ReceivableConfirmForm(request.POST)
            if not form.is_valid():
                raise ValidationError(form_errors(form))
            services.receivable_confirm(**_who(request), receivable=receivable, due_date=form.cleaned_data["due_date"])
            messages.success(request, _("Receivable %(id)s is confirmed.") % {"id": receivable.pk})
    except REFUSALS as error:
        return _receivables(request, error=error_text(error), status=error_status(error))
    return redirect("finance:receivables", tenant=request.tenant.slug)


@tenant_page
def receivable_split_page(request, pk):
    """The holder transfers part of a confirmed receivable to a lower-tier supplier."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not _allowed(request, RECEIVABLE_READERS):
        return _forbidden(request)
    context = request.tenant_context
    receivable = selectors.receivable_list(request.user, request.tenant, context=context).filter(pk=pk).first()
    if receivable is None:
        raise Http404
    transferees = list(selectors.receivable_transferees(request.tenant, context=context))
    form = SplitForm(request.POST, transferees=transferees)
    try:
        if not form.is_valid():
            raise ValidationError(form_errors(form))
        to = next(o for o in transferees if o.slug == form.cleaned_data["to"])
        services.receivable_split(**_who(request), receivable=receivable, parts=[(form.cleaned_data["amount"], to)])
    except REFUSALS as error:
        return _receivables(request, error=error_text(error), status=error_status(error))
    messages.success(request, _("%(amount)s %(currency)s of receivable %(id)s is transferred to %(to)s.") % {
        "amount": form.cleaned_data["amount"], "currency": receivable.currency, "id": receivable.pk, "to": to.name})
    return redirect("finance:receivables", tenant=request.tenant.slug)


@tenant_page
def invoice_list_page(request):
    if not _allowed(request, INVOICE_READERS):
        return _forbidden(request)
    context = request.tenant_context
    orders = selectors.invoice_purchase_orders_open(request.user, request.tenant, context=context)
    posted = request.method == "POST"
    form = InvoiceForm(request.POST if posted else None, request.FILES if posted else None, purchase_orders=orders)
    error, status = None, 200
    if request.method == "POST":
        if not context.organizations(SUPPLIER_ROLES):
            return _forbidden(request)
        try:
            if not form.is_valid():
                raise ValidationError(form_errors(form))
            order = next(po for po in orders if po.number == form.cleaned_data["purchase_order"])
            with transaction.atomic():  # a scan refused refuses the invoice with it
                invoice = services.invoice_create(**_who(request), purchase_order=order,
                                                  number=form.cleaned_data["number"], amount=form.cleaned_data["amount"],
                                                  currency=order.currency)
                if form.cleaned_data.get("scan"):
                    services.invoice_attachment_add(**_who(request), invoice=invoice, upload=form.cleaned_data["scan"])
        except REFUSALS as refusal:
            error, status = error_text(refusal), error_status(refusal)
        else:
            messages.success(request, _("Invoice %(number)s is submitted; finance confirms it next.") % {"number": invoice.number})
            return redirect("finance:invoices", tenant=request.tenant.slug)
    page = _paged(request, selectors.invoice_list(request.user, request.tenant, context=context))
    return _page(request, "finance/invoices.html", "invoices", {
        "invoices": page.object_list, "page": page, "form": form, "orders": orders, "error": error,
        "may_issue": bool(context.organizations(SUPPLIER_ROLES)),
    }, status=status)


# --- applying, with the cost first ---------------------------------------------------------------


def _apply_form(request, data=None):
    context = request.tenant_context
    receivables = list(selectors.receivable_list_financeable(request.user, request.tenant, context=context)[:200])
    funders = list(selectors.financing_funder_list(request.tenant))
    return ApplyForm(data, receivables=receivables, funders=funders), receivables, funders


def _quote(request, form, funders):
    """The service's quote for a valid form (or the refusal's text): (quote, error, status)."""
    if not form.is_valid():
        return None, form_errors(form), 400
    funder = next(f for f in funders if f.slug == form.cleaned_data["funder"])  # the form took one of them
    try:
        quote = services.financing_quote(**_who(request), receivables=form.cleaned_data["receivables"],
                                         amount=form.cleaned_data["amount"], funder=funder)
    except REFUSALS as error:
        return None, error_text(error), error_status(error)
    shown = SimpleNamespace(**asdict(quote))
    shown.net = quantize(quote.amount - quote.cost, quote.currency)
    shown.rate_percent = f"{quote.annual_rate * 100:.4f}".rstrip("0").rstrip(".")
    shown.day_count = currency_of(quote.currency).day_count.name
    return shown, None, 200


@tenant_page
def apply_page(request):
    """GET: the form. POST `action=quote`: the form with the cost (without JavaScript); POST
    `action=apply`: applies, when the cost shown (`quoted_cost`) is still what it costs."""
    if not request.tenant_context.organizations(SUPPLIER_ROLES):
        return _forbidden(request)
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    form, receivables, funders = _apply_form(request, request.POST if request.method == "POST" else None)
    quote = error = None
    status = 200
    if request.method == "POST":
        quote, error, status = _quote(request, form, funders)
        if quote is not None and request.POST.get("action") == "apply":
            if request.POST.get("quoted_cost") != str(quote.cost):
                error, status = _("Check the cost below before applying: it is not the one you saw."), 409
            else:
                try:
                    application = services.financing_apply(
                        **_who(request), receivables=form.cleaned_data["receivables"], amount=quote.amount,
                        funder=next(f for f in funders if f.slug == form.cleaned_data["funder"]))
                except REFUSALS as refusal:
                    quote, error, status = None, error_text(refusal), error_status(refusal)
                else:
                    messages.success(request, _("FA-%(id)s is submitted to %(funder)s.") % {
                        "id": application.pk, "funder": application.funder.name})
                    return redirect("finance:detail", tenant=request.tenant.slug, pk=application.pk)
    chosen = request.POST.getlist("receivables") if request.method == "POST" else request.GET.getlist("receivable")
    selected = {int(value) for value in chosen if value.isdigit() and len(value) < 19}
    return _page(request, "finance/apply.html", "apply", {
        "form": form, "receivables": receivables, "funders": funders, "quote": quote, "error": error,
        "selected": selected, "chosen_funder": request.POST.get("funder", funders[0].slug if funders else ""),
        "amount": request.POST.get("amount", ""),
    }, status=status)


@tenant_page
def quote_page(request):
    """The quote part of the form, for htmx to refresh as the supplier changes it (always 200 to
    htmx, so the reason shows in place; 400 and the like to anything else)."""
    if not request.tenant_context.organizations(SUPPLIER_ROLES):
        return _forbidden(request)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form, _receivables, funders = _apply_form(request, request.POST)
    quote, error, status = _quote(request, form, funders)
    if request.headers.get("HX-Request") == "true":
        status = 200
    return render(request, "finance/_quote.html", {"quote": quote, "error": error}, status=status)
