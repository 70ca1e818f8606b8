"""Reads of purchase orders, always scoped: the core's staff see every PO of their tenant, a
supplier's reps the POs addressed to them once sent (a draft is the buyer's own)."""

from messaging.models import Message
from orders.models import PO_SUPPLIER_ROLES, PurchaseOrder, PurchaseOrderState
from scm_portal.tenancy.roles import CORE_ROLES


def purchase_order_filter_visible(queryset, *, context):
    """Drafts stay out for readers who are not core staff."""
    if context.roles & CORE_ROLES:
        return queryset
    return queryset.exclude(state=PurchaseOrderState.DRAFT)


def purchase_order_list_from(queryset, *, context, state=None, supplier=None):
    """The list's shaping of a queryset the caller scoped: filters and the newest first."""
    queryset = purchase_order_filter_visible(queryset, context=context)
    if state:
        queryset = queryset.filter(state=state)
    if supplier:
        queryset = queryset.filter(supplier__slug=supplier)
    return queryset.select_related("supplier", "warehouse").order_by("-pk")


def purchase_order_list(user, tenant, *, context, state=None, supplier=None):
    visible = PurchaseOrder.objects.for_tenant(tenant).visible_to(user, context=context)
    return purchase_order_list_from(visible, context=context, state=state, supplier=supplier)


def purchase_order_get(user, tenant, number, *, context):
    """The PO of this number the user may see, or None."""
    visible = PurchaseOrder.objects.for_tenant(tenant).visible_to(user, context=context)
    return purchase_order_filter_visible(visible, context=context).filter(number=number).select_related(
        "supplier", "warehouse").first()


def purchase_order_conversation(order, user, *, context, limit=200):
    """The messages linked to the PO (subject purchase_order/number) that the user may read, in
    order: its cards, the button presses under them and the chat about it."""
    messages = (Message.objects.for_tenant(context.tenant).visible_to(user, context=context)
                .filter(subject_kind="purchase_order", subject_ref=order.number)
                .select_related("sender", "room").order_by("created_at", "room_id", "seq"))
    return list(messages[:limit])


LIST_FIELDS = ("pk", "number", "state", "supplier__slug", "warehouse__code", "currency", "version", "created_at",
               "sent_at", "confirmed_at")


def purchase_order_list_rows(queryset):
    """The list's columns as plain rows: a page of 50 read without building 150 model objects."""
    return queryset.values(*LIST_FIELDS)


def purchase_order_list_awaiting(user, tenant, *, context, limit=10):
    """The POs waiting for this reader, oldest first: the one definition behind the dashboard's
    "POs awaiting me" and the bot's /pending.

    - a supplier's reps: the POs sent to their organisation, to confirm (or answer per line);
    - the buyer's side (PO_WRITERS): the change requests to answer and the drafts to send.

    A reader with both sides' roles gets both. Each PO carries `first_due` (the earliest
    promised, else requested, date of its lines not cancelled) and `awaiting` (AWAITING_SEND,
    AWAITING_CONFIRM or AWAITING_ANSWER: what the reader is to do). One query; `limit` + 1 rows
    at most, so a caller can tell that more wait."""
    from django.db.models import Min, Q
    from django.db.models.functions import Coalesce

    from orders.models import PO_WRITERS, LineStatus

    wanted = Q(pk__in=[])
    organizations = sorted(context.organizations(PO_SUPPLIER_ROLES))
    if organizations:
        wanted |= Q(supplier_id__in=organizations, state=PurchaseOrderState.SENT)
    if context.roles & PO_WRITERS:
        wanted |= Q(state__in=[PurchaseOrderState.CHANGE_REQUESTED, PurchaseOrderState.DRAFT])
    if not organizations and not context.roles & PO_WRITERS:
        return []
    rows = list(
        purchase_order_filter_visible(PurchaseOrder.objects.for_tenant(tenant).visible_to(user, context=context),
                                      context=context)
        .filter(wanted).select_related("supplier")
        .annotate(first_due=Min(Coalesce("lines__promised_date", "lines__requested_date"),
                                filter=~Q(lines__status=LineStatus.CANCELLED)))
        .order_by("pk")[:limit + 1]
    )
    for order in rows:
        order.awaiting = AWAITING_BY_STATE[order.state]
    return rows


AWAITING_SEND, AWAITING_CONFIRM, AWAITING_ANSWER = "send", "confirm", "answer"
# What the reader of "POs awaiting me" is to do with a PO, by its state (the selector keeps a sent
# PO for its supplier's reps only, and drafts and change requests for the buyer's side only).
AWAITING_BY_STATE = {
    PurchaseOrderState.DRAFT: AWAITING_SEND,
    PurchaseOrderState.SENT: AWAITING_CONFIRM,
    PurchaseOrderState.CHANGE_REQUESTED: AWAITING_ANSWER,
}
