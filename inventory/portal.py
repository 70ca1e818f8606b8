"""What inventory contributes to the portal's pages: the Stock section and the dashboard's
panels of stock below safety and of replenishment requests (registered from
InventoryConfig.ready()). Only the roles that may see stock are linked to it (inventory.views
answers 403 to the others)."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from inventory import selectors
from inventory.models import ReplenishmentRequest, StockLevel
from scm_portal.dashboard import register_dashboard_panel
from scm_portal.navigation import register_nav_item
from scm_portal.tenancy.roles import is_core_staff

PANEL_REQUESTS = 5


def below_safety_panel(request):
    """How many of the stock levels the reader may see are under their safety stock (one query)."""
    levels = selectors.stock_level_list(request.user, request.tenant, context=request.tenant_context)
    stock = reverse("inventory:stock", kwargs={"tenant": request.tenant.slug})
    return {"count": selectors.stock_level_filter_below_safety(levels).order_by().count(),
            "url": f"{stock}?below=1", "stock_url": stock}


def replenishment_panel(request):
    """The newest replenishment requests still `requested` that the reader may see, and how many (two queries)."""
    requests = selectors.replenishment_request_list(request.user, request.tenant, context=request.tenant_context,
                                                    state="requested")
    return {
        "requests": list(requests[:PANEL_REQUESTS]),
        "count": requests.order_by().count(),
        "is_core": is_core_staff(request.tenant_context.roles),
    }


def register_portal():
    register_nav_item("stock", label=_("Stock"), url_name="inventory:stock",
                      roles=StockLevel.access_policy.roles("view"), order=40)
    register_dashboard_panel("stock_below_safety", roles=StockLevel.access_policy.roles("view"),
                             template="inventory/_panel_below_safety.html", context=below_safety_panel, order=30)
    register_dashboard_panel("replenishment_requests", roles=ReplenishmentRequest.access_policy.roles("view"),
                             template="inventory/_panel_replenishment.html", context=replenishment_panel, order=40)
