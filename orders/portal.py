"""What orders contributes to the portal's pages: the Purchase orders, Shipments and Scorecards
sections and the dashboard's "POs awaiting me" panel (registered from OrdersConfig.ready()).
Each section is linked only for the roles its page serves (the page answers 403 to the others)."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from orders import selectors
from orders.models import PO_SUPPLIER_ROLES, PO_WRITERS, PurchaseOrder, Shipment
from scm_portal.dashboard import register_dashboard_panel
from scm_portal.navigation import register_nav_item
from scm_portal.tenancy.roles import CORE_ROLES

PO_READERS = PurchaseOrder.access_policy.roles("view")
SHIPMENT_READERS = Shipment.access_policy.roles("view")
SCORECARD_READERS = CORE_ROLES | PO_SUPPLIER_ROLES  # orders.views_scorecards answers 403 to the rest
PANEL_LIMIT = 10


def awaiting_panel(request):
    """The POs waiting for the reader (orders.selectors.purchase_order_list_awaiting, as /pending)."""
    orders = selectors.purchase_order_list_awaiting(request.user, request.tenant, context=request.tenant_context,
                                                    limit=PANEL_LIMIT)
    return {
        "orders": orders[:PANEL_LIMIT],
        "more": len(orders) > PANEL_LIMIT,
        "list_url": reverse("orders:list", kwargs={"tenant": request.tenant.slug}),
        "is_writer": bool(request.tenant_context.roles & PO_WRITERS),
    }


def register_portal():
    register_nav_item("orders", label=_("Purchase orders"), url_name="orders:list", roles=PO_READERS, order=50)
    register_nav_item("shipments", label=_("Shipments"), url_name="shipments:list", roles=SHIPMENT_READERS, order=55)
    register_nav_item("scorecards", label=_("Scorecards"), url_name="scorecards:list", roles=SCORECARD_READERS, order=60)
    register_dashboard_panel("orders_awaiting", roles=PO_WRITERS | PO_SUPPLIER_ROLES,
                             template="orders/_panel_awaiting.html", context=awaiting_panel, order=15)
