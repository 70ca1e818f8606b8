"""The buttons of purchase-order cards and what a press does.

A card reaching someone never grants them the action: each handler checks the presser's roles
against their TenantContext when the button is pressed (through the same services as the API),
and a card whose PO has moved on answers with why not.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils.translation import gettext as _

from alerts.lock_objects import alert_room_ids
from messaging import registry
from orders import cards
from orders.models import IllegalTransition, PurchaseOrder
from orders.services import purchase_orders as services
from scm_portal.tenancy.selectors import tenant_language


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


def _pressed(action, service):
    def handler(*, tenant, actor, message, room, context):
        order = _order_of(tenant, message)
        try:
            order = service(tenant=tenant, actor=actor, context=context, order=order)
        except Http404:
            raise PermissionDenied(_("You may not act on this purchase order.")) from None
        except IllegalTransition as refused:
            raise ValidationError({"action": str(refused)}, code=refused.code) from None
        # The service posted its card (and maybe its alert's recovery) in the pressed room, which
        # action_press holds locked and appends the outcome to next: read its head as it now is.
        room.refresh_from_db(fields=["last_seq", "last_hash", "last_message_at"])
        with tenant_language(tenant):
            text = cards.purchase_order_press_text(action, actor=actor, order=order)
        return {"message": text, "data": {"purchase_order": order.number, "state": order.state}}

    return handler


def register_actions():
    """The PO card buttons; called from OrdersConfig.ready()."""
    services_of = {
        cards.ACTION_CONFIRM: services.purchase_order_confirm,
        cards.ACTION_ACCEPT_CHANGE: services.purchase_order_accept_change,
        cards.ACTION_REJECT_CHANGE: services.purchase_order_reject_change,
    }
    for action, service in services_of.items():
        registry.register_action(action, label=cards.ACTION_LABELS[action], rooms=_card_rooms,
                                 handler=_pressed(action, service))
