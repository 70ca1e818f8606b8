"""What each role's dashboard shows. Domain apps add panels as they arrive."""

from django.utils.translation import gettext_lazy as _

from scm_portal.tenancy.roles import Role

# A panel: a title and the empty state that says what will appear there.
PANELS = {
    "purchase_orders": (
        _("Purchase orders"),
        _("Purchase orders you send to suppliers, and their confirmations and delays, will appear here."),
    ),
    "supplier_orders": (
        _("Orders from this customer"),
        _("Purchase orders this customer sends you will appear here, waiting for your confirmation."),
    ),
    "stock_alerts": (
        _("Stock alerts"),
        _("When stock falls below safety level, the alert appears here at once, with who owns it."),
    ),
    "replenishment": (
        _("Replenishment suggestions"),
        _("Suggested reorder quantities from recent demand will appear here."),
    ),
    "shipments": (
        _("Shipments in transit"),
        _("Trucks on the road, their positions and any deviation from the route will appear here."),
    ),
    "financing_approvals": (
        _("Financing applications to approve"),
        _("Supplier applications for receivables financing will wait here for two approvers."),
    ),
    "financing_funding": (
        _("Financing to disburse"),
        _("Approved financing applications will appear here for disbursement."),
    ),
    "audit": (
        _("Audit trails"),
        _("Exportable trails of purchase orders and financing applications will be listed here."),
    ),
    "conversations": (
        _("Conversations"),
        _("Messages and business events from your partners' rooms will appear here."),
    ),
    "customer_requests": (
        _("Customer requests"),
        _("Questions and requests from distributors will appear here."),
    ),
}

PANELS_BY_ROLE = {
    Role.COORDINATOR: ["conversations", "stock_alerts", "purchase_orders", "shipments"],
    Role.BUYER: ["purchase_orders", "conversations", "stock_alerts"],
    Role.PLANNER: ["replenishment", "stock_alerts"],
    Role.WAREHOUSE: ["stock_alerts", "shipments"],
    Role.LOGISTICS: ["shipments", "conversations"],
    Role.CUSTOMER_SERVICE: ["customer_requests", "conversations"],
    Role.FINANCE_APPROVER: ["financing_approvals"],
    Role.TENANT_ADMIN: [],
    Role.AUDITOR: ["audit"],
    Role.SUPPLIER_REP: ["supplier_orders", "conversations"],
    Role.FUNDER_OFFICER: ["financing_funding"],
    Role.CARRIER_DISPATCHER: ["shipments"],
}


def panels_for_roles(roles):
    """Panels for a set of roles, each once, in the order of the first role that asks for it."""
    seen, panels = set(), []
    for role in sorted(roles, key=lambda r: list(Role).index(Role(r))):
        for key in PANELS_BY_ROLE.get(role, []):
            if key not in seen:
                seen.add(key)
                title, empty = PANELS[key]
                panels.append({"key": key, "title": title, "empty": empty})
    return panels


# What domain apps show in a panel, registered from their AppConfig.ready():
# key -> provider(request) returning [{"text", "url", "note"}] for the reader (empty: the panel's
# empty state). Tenancy names no domain app; the provider reads through its app's selectors.
PANEL_CONTENT = {}


def register_panel_content(key, provider):
    if key not in PANELS:
        raise ValueError(f"No dashboard panel {key!r}")
    PANEL_CONTENT[key] = provider


def panel_items(request, panels):
    """Fills each panel's `items` from its registered provider."""
    for panel in panels:
        provider = PANEL_CONTENT.get(panel["key"])
        panel["items"] = list(provider(request)) if provider is not None else []
    return panels
