"""A purchase order's audit trail (audit.trails): registered from OrdersConfig.ready().

Its messages: those linked to the PO, and the cards of the alerts raised about it. Its
approvals: the supplier's confirmation and the buyer's answers to change requests."""

from django.utils.translation import gettext_lazy as _

from orders import selectors
from orders.models import PurchaseOrder, PurchaseOrderState
from scm_portal.tenancy.models import Membership

# The PO events that are someone's approval of it.
APPROVAL_ACTIONS = {
    "confirm": _("Confirmed by the supplier"),
    "request_change": _("Changes requested by the supplier"),
    "accept_change": _("Changes accepted"),
    "reject_change": _("Changes rejected"),
}


def _get(tenant, ref):
    return PurchaseOrder.objects.for_tenant(tenant).filter(number=ref).select_related("supplier", "warehouse").first()


def _access(user, context, ref):
    return selectors.purchase_order_get(user, context.tenant, ref, context=context)


def _record(order):
    lines = [
        f"{line.line}. {line.sku.code} {line.sku.name} × {line.quantity} @ {line.unit_price} {order.currency}"
        for line in order.lines.select_related("sku").order_by("line")
    ]
    return {
        "title": order.number,
        "state": order.state,
        "state_label": PurchaseOrderState(order.state).label,
        "fields": [
            (_("Supplier"), order.supplier.name),
            (_("Warehouse"), f"{order.warehouse.code} {order.warehouse.name}"),
            (_("Currency"), order.currency),
            (_("Version"), order.version),
            (_("Created"), order.created_at.isoformat(timespec="seconds")),
            *((_("Line"), text) for text in lines),
        ],
    }


def _events(order):
    return order.events.select_related("actor").order_by("at", "pk")


def _history(order):
    return [
        {"at": event.at, "action": event.action, "from_state": event.from_state, "to_state": event.to_state,
         "actor": event.actor.get_username() if event.actor_id else ""}
        for event in _events(order)
    ]


def _approvals(order):
    events = [e for e in _events(order) if e.action in APPROVAL_ACTIONS]
    organizations = dict(
        Membership.objects.filter(tenant_id=order.tenant_id, user_id__in={e.actor_id for e in events if e.actor_id})
        .order_by("-pk").values_list("user_id", "organization__name")
    )
    return [
        {"at": e.at, "approver": (e.actor.get_full_name() or e.actor.get_username()) if e.actor_id else "",
         "organization": organizations.get(e.actor_id, ""), "stage": str(APPROVAL_ACTIONS[e.action]),
         "decision": e.to_state, "reason": ""}
        for e in events
    ]


def _subjects(order):
    from alerts.models import Alert

    alerts = Alert.objects.filter(tenant_id=order.tenant_id, subject_kind="purchase_order", subject_ref=order.number)
    return [("purchase_order", order.number), *(("alert", str(pk)) for pk in alerts.values_list("pk", flat=True))]


def _search(user, context, q, state, since, until):
    from audit.trails import trail_search_filter

    orders = selectors.purchase_order_list(user, context.tenant, context=context, state=state or None)
    if q:
        orders = orders.filter(number__icontains=q)
    orders = trail_search_filter(orders, at="created_at", since=since, until=until)
    return [
        {"ref": o.number, "title": o.number, "state": o.state, "state_label": PurchaseOrderState(o.state).label,
         "at": o.created_at, "party": o.supplier.name}
        for o in orders[:50]
    ]


def register():
    from audit.trails import register_trail

    register_trail(
        "purchase_order", label=_("Purchase order"), api_segment="purchase-orders", get=_get, access=_access,
        ref=lambda order: order.number, record=_record, history=_history, approvals=_approvals,
        subjects=_subjects, search=_search, states=PurchaseOrderState.choices, order=10,
    )
