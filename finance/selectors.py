"""Reads of receivables financing for the pages, always scoped through the choke point
(`for_tenant(...).visible_to(user, context=...)`): a supplier's reps see what their organisation
holds or applied for, a funder's officers what was asked of them, the tenant's finance every row."""

import json
from datetime import timedelta

from django.db.models import Exists, OuterRef, Prefetch

from finance.models import (
    FINANCE_APPROVERS,
    FUNDER_ROLES,
    SUPPLIER_ROLES,
    ApplicationState,
    Approval,
    FinancingApplication,
    FinancingDispute,
    FinancingItem,
    Invoice,
    Receivable,
    ReceivableState,
)
from messaging.models import Message, MessageKind
from scm_portal.tenancy.models import Organization, Partnership
from scm_portal.tenancy.roles import OrganizationKind

S = ApplicationState
CORE_REVIEW_STATES = (S.REQUESTED, S.CORE_REVIEW)
# What the repayment calendar lists: paid out, not yet repaid.
OUTSTANDING_STATES = (S.DISBURSED, S.OVERDUE)


def receivable_list(user, tenant, *, context, state=None):
    """The receivables the user may see (the holder's, the parts a holder split off, every one for
    the tenant's finance), the soonest due first."""
    rows = Receivable.objects.for_tenant(tenant).visible_to(user, context=context)
    if state:
        rows = rows.filter(state=state)
    return rows.select_related("holder", "invoice", "parent__holder").order_by("due_date", "pk")


def receivable_list_financeable(user, tenant, *, context):
    """The confirmed receivables the user's supplier organisations hold and may finance now."""
    holders = sorted(context.organizations(SUPPLIER_ROLES))
    if not holders:
        return Receivable.objects.none()
    return (Receivable.objects.for_tenant(tenant).visible_to(user, context=context)
            .filter(holder_id__in=holders, state=ReceivableState.CONFIRMED)
            .select_related("holder", "invoice").order_by("due_date", "pk"))


def receivable_transferees(tenant, *, context):
    """The supplier partners a holder may transfer part of a receivable to: every active supplier
    of the tenant but the user's own organisations."""
    ids = Partnership.objects.for_tenant(tenant).filter(kind=OrganizationKind.SUPPLIER, active=True).values("organization_id")
    return Organization.objects.filter(pk__in=ids).exclude(pk__in=sorted(context.organizations(SUPPLIER_ROLES))).order_by("name")


def financing_funder_list(tenant):
    """The tenant's active funder partners, whom a supplier may apply to."""
    ids = Partnership.objects.for_tenant(tenant).filter(kind=OrganizationKind.FUNDER, active=True).values("organization_id")
    return Organization.objects.filter(pk__in=ids).order_by("name")


def financing_list(user, tenant, *, context, state=None):
    rows = FinancingApplication.objects.for_tenant(tenant).visible_to(user, context=context)
    if state:
        rows = rows.filter(state=state)
    return rows.select_related("supplier", "funder", "created_by").order_by("-pk")


def financing_get(user, tenant, pk, *, context):
    """The application `pk` the user may see, with its parts; None for missing or not theirs."""
    if not isinstance(pk, int) or not 0 < pk < 2**63:
        return None
    rows = FinancingApplication.objects.for_tenant(tenant).visible_to(user, context=context).filter(pk=pk)
    return (rows.select_related("supplier", "funder", "created_by", "disbursement__disbursed_by",
                                "repayment__repaid_by")
            .prefetch_related(_items(), Prefetch("approvals", queryset=Approval.objects.select_related("approver")),
                              Prefetch("disputes", queryset=FinancingDispute.objects.select_related("raised_by", "settled_by")))
            .first())


def _items():
    return Prefetch("items", queryset=FinancingItem.objects.select_related("receivable__invoice").order_by("receivable_id"))


def financing_queue_core(user, tenant, *, context):
    """Applications awaiting a core approval this user may give: in core review, not made by them,
    not decided by them yet. Empty for anyone but the tenant's finance approvers."""
    if not context.roles & FINANCE_APPROVERS:
        return FinancingApplication.objects.none()
    mine = Approval.objects.filter(application=OuterRef("pk"), approver=user)
    return (FinancingApplication.objects.for_tenant(tenant).visible_to(user, context=context)
            .filter(state__in=CORE_REVIEW_STATES).exclude(created_by=user).exclude(Exists(mine))
            .select_related("supplier", "funder", "created_by")
            .prefetch_related(_items(), Prefetch("approvals", queryset=Approval.objects.select_related("approver")))
            .order_by("created_at", "pk"))


def financing_queue_funder(user, tenant, *, context):
    """Applications awaiting the user's funder: its approval, then its disbursement."""
    funders = sorted(context.organizations(FUNDER_ROLES))
    if not funders:
        return FinancingApplication.objects.none()
    return (FinancingApplication.objects.for_tenant(tenant).visible_to(user, context=context)
            .filter(state=S.FUNDER_REVIEW, funder_id__in=funders)
            .select_related("supplier", "funder", "created_by")
            .prefetch_related(_items(), Prefetch("approvals", queryset=Approval.objects.select_related("approver")))
            .order_by("funder_approved_at", "created_at", "pk"))


def financing_calendar(user, tenant, *, context):
    """Paid-out applications not yet repaid, by maturity date."""
    return (FinancingApplication.objects.for_tenant(tenant).visible_to(user, context=context)
            .filter(state__in=OUTSTANDING_STATES).select_related("supplier", "funder").order_by("maturity_date", "pk"))


def financing_calendar_weeks(applications, today):
    """[(monday, [applications])] grouped by the week of their maturity date, each marked
    `is_overdue` (overdue, or past maturity and not yet swept)."""
    weeks = {}
    for application in applications:
        application.is_overdue = application.state == S.OVERDUE or application.maturity_date < today
        monday = application.maturity_date - timedelta(days=application.maturity_date.weekday())
        weeks.setdefault(monday, []).append(application)
    return sorted(weeks.items())


def financing_conversation(application, user, *, context, limit=200):
    """The messages linked to the application (its cards, and the chat about it) that the user may
    read, in order; each reader sees the rooms they may see."""
    return financing_conversations([application], user, context=context, limit=limit)[application.pk]


def financing_conversations(applications, user, *, context, limit=200):
    """{application id: its conversation} for several applications (a queue) in one query.

    A transition's card goes to the supplier's room and the funder's; a reader of both (the
    tenant's finance approvers) is shown it once, in the first room it was posted to."""
    refs = {str(a.pk): a.pk for a in applications}
    found = {pk: [] for pk in refs.values()}
    if not refs:
        return found
    messages = (Message.objects.for_tenant(context.tenant).visible_to(user, context=context)
                .filter(subject_kind="financing_application", subject_ref__in=sorted(refs))
                .select_related("sender", "room").order_by("created_at", "room_id", "seq"))
    shown = set()
    for message in messages[:limit * len(refs)]:
        if message.kind == MessageKind.EVENT and message.text is not None:
            card = (message.subject_ref, json.dumps([message.text, message.payload], sort_keys=True, default=str))
            if card in shown:
                continue
            shown.add(card)
        found[refs[message.subject_ref]].append(message)
    return {pk: rows[:limit] for pk, rows in found.items()}


def financing_room(application, user, *, context):
    """The partner room the user writes about the application in: the supplier's when they see it,
    else the funder's; None when they see neither."""
    from messaging.models import Room, RoomKind

    rooms = {room.partnership.organization_id: room for room in
             Room.objects.for_tenant(context.tenant).visible_to(user, context=context)
             .filter(kind=RoomKind.PARTNER, partnership__organization_id__in=[application.supplier_id, application.funder_id])
             .select_related("partnership")}
    return rooms.get(application.supplier_id) or rooms.get(application.funder_id)


def invoice_list(user, tenant, *, context):
    return (Invoice.objects.for_tenant(tenant).visible_to(user, context=context)
            .select_related("purchase_order", "supplier").prefetch_related("attachments").order_by("-pk"))


def invoice_purchase_orders_open(user, tenant, *, context, limit=100):
    """POs of the user's supplier organisations with something received (to invoice against)."""
    from orders.models import PurchaseOrder, PurchaseOrderLine

    suppliers = sorted(context.organizations(SUPPLIER_ROLES))
    if not suppliers:
        return []
    received = PurchaseOrderLine.objects.filter(order=OuterRef("pk"), accepted_quantity__gt=0)
    return list(PurchaseOrder.objects.for_tenant(tenant).visible_to(user, context=context)
                .filter(supplier_id__in=suppliers).filter(Exists(received)).order_by("-pk")[:limit])


# --- the dashboard's "financing awaiting me" ------------------------------------------------------


def financing_awaiting_supplier(user, tenant, *, context, limit=10):
    """A supplier's to-dos: confirmed receivables to finance, and applications rejected to act on."""
    suppliers = sorted(context.organizations(SUPPLIER_ROLES))
    financeable = list(receivable_list_financeable(user, tenant, context=context)[:limit])
    rejected = list(FinancingApplication.objects.for_tenant(tenant).visible_to(user, context=context)
                    .filter(supplier_id__in=suppliers, state=S.REJECTED).order_by("-updated_at", "-pk")[:limit])
    return {"financeable": financeable, "rejected": rejected}
