"""The buttons of purchase-order cards: who is offered them, and what a press does.

Who sees a button is decided per reader from the PO's state and the reader's memberships
(`available`, no query per reader); a card reaching someone never grants them the action: each
handler checks the presser's roles against their TenantContext when the button is pressed
(through the same services as the API), and a card whose PO has moved on answers 409 with why not.
"""

from django.contrib.postgres.aggregates import ArrayAgg
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, Value
from django.http import Http404
from django.utils.translation import gettext as _

from alerts.lock_objects import alert_room_ids
from messaging import registry
from orders import cards
from orders.models import PO_RECEIVERS, PO_SUPPLIER_ROLES, PO_WRITERS, IllegalTransition, PurchaseOrder, QualityHoldState
from orders.models import PurchaseOrderState as S
from orders.services import purchase_orders as services
from orders.services.receipts import receipt_create
from orders.services.shipments import LogisticsConflict
from scm_portal.errors import StateConflict


def _order_of(tenant, message):
    order = None
    if message.subject_kind == "purchase_order":
        order = PurchaseOrder.objects.for_tenant(tenant).filter(number=message.subject_ref).first()
    if order is None:
        raise ValidationError({"action": _("This purchase order no longer exists.")})
    return order


def _card_rooms(*, tenant, message):
    """The rooms a PO write locks (the supplier's and the internal room, where its alert's cards
    sit): action_press locks them with the pressed room, in id order."""
    supplier_id = (PurchaseOrder.objects.for_tenant(tenant).filter(number=message.subject_ref)
                   .values_list("supplier_id", flat=True).first())
    if supplier_id is None:
        return []
    return [row["pk"] for row in alert_room_ids(tenant_id=tenant.pk, partner_id=supplier_id)]


def purchase_order_states(*, tenant_id, refs):
    """The `purchase_order` subject's state loader: {number: {"state", "supplier", "held"}}, one
    query (`held`: the ids of the PO's quality holds still held)."""
    held = ArrayAgg("quality_holds__pk", filter=Q(quality_holds__state=QualityHoldState.HELD), default=Value([]))
    rows = (PurchaseOrder.objects.for_tenant(tenant_id).filter(number__in=[str(ref) for ref in refs])
            .annotate(held=held).values_list("number", "state", "supplier_id", "held"))
    return {number: cards.purchase_order_card_state(state, supplier_id, held)
            for number, state, supplier_id, held in rows}


def _confirm_available(*, message, context, record):
    """"Confirm order": the PO's supplier's reps only; pressable while the PO waits for them."""
    if record is None or record.get("supplier") not in context.organizations(PO_SUPPLIER_ROLES):
        return None
    if record["state"] == S.SENT:
        return "enabled"
    # Waiting for the buyer's decision: a rejected change brings the PO back to them.
    return "disabled" if record["state"] == S.CHANGE_REQUESTED else "gone"


def _decide_available(*, message, context, record):
    """Accept / reject changes: the buyer's side (PO_WRITERS), while changes are pending."""
    if record is None or not context.roles & PO_WRITERS:
        return None
    return "enabled" if record["state"] == S.CHANGE_REQUESTED else "gone"


def _receive_available(*, message, context, record):
    """"Confirm receipt": the receiving roles (PO_RECEIVERS), while the PO is shipped."""
    if record is None or not context.roles & PO_RECEIVERS:
        return None
    return "enabled" if record["state"] == S.SHIPPED else "gone"


def _release_available(*, message, context, record):
    """"Release the hold…" (a link to the PO's page): the receiving roles, while the card's hold is held."""
    if record is None or not context.roles & PO_RECEIVERS:
        return None
    return "enabled" if message.payload.get("quality_hold") in record.get("held", ()) else "gone"


def _release_url(*, message):
    return message.payload.get("url") or ""


def _receive(*, tenant, actor, context, order):
    """A press of "Confirm receipt": everything shipped and not yet received, inspected pass."""
    try:
        receipt_create(tenant=tenant, actor=actor, context=context, order=order)
    except LogisticsConflict as refused:  # nothing left to receive: pressed late
        raise StateConflict(str(refused), code=refused.code) from None
    return PurchaseOrder.objects.get(pk=order.pk)


def _pressed(action, service):
    def handler(*, tenant, actor, message, room, context):
        order = _order_of(tenant, message)
        try:
            order = service(tenant=tenant, actor=actor, context=context, order=order)
        except Http404:
            raise PermissionDenied(_("You may not act on this purchase order.")) from None
        except IllegalTransition as refused:
            # A late press of a card whose PO has moved on (its button already gone for others).
            raise StateConflict(refused, code="po_state_changed") from None
        # The service posted its card (and maybe its alert's recovery) in the pressed room, which
        # action_press holds locked and appends the outcome to next: read its head as it now is.
        room.refresh_from_db(fields=["last_seq", "last_hash", "last_message_at"])
        return {"message": cards.purchase_order_press_text(action, actor=actor, order=order),
                "data": {"purchase_order": order.number, "state": order.state}}

    return handler


def register_actions():
    """The PO card buttons and texts, and the `purchase_order` subject's state; called from
    OrdersConfig.ready()."""
    cards.register_texts()
    services_of = {
        cards.ACTION_CONFIRM: (services.purchase_order_confirm, _confirm_available),
        cards.ACTION_ACCEPT_CHANGE: (services.purchase_order_accept_change, _decide_available),
        cards.ACTION_REJECT_CHANGE: (services.purchase_order_reject_change, _decide_available),
        cards.ACTION_RECEIVE: (_receive, _receive_available),
    }
    for action, (service, available) in services_of.items():
        registry.register_action(action, label=cards.ACTION_LABELS[action], rooms=_card_rooms,
                                 handler=_pressed(action, service), available=available)
    registry.register_action(cards.ACTION_RELEASE_HOLD, label=cards.ACTION_LABELS[cards.ACTION_RELEASE_HOLD],
                             url=_release_url, available=_release_available)
