"""The tenant dashboard: a registry of panels the apps contribute.

An app registers its panels from its `AppConfig.ready()`:

    register_dashboard_panel("open_alerts", roles=ALERT_READERS, template="alerts/_dashboard_panel.html",
                             context=open_alerts_panel, order=20)

`context(request)` reads through the app's selectors, scoped by `request.tenant_context` (and
`request.user`, `request.tenant`), and returns the template's context; `None` leaves the panel
out for this reader. The dashboard shows a reader the panels one of their roles is named for,
by `order`. Purchase orders and financing add their "awaiting me" panels the same way, without
editing the dashboard. Each panel costs its own queries: tests/tenancy/test_dashboard.py holds
the page to a budget for every role.
"""

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class DashboardPanel:
    name: str  # data-panel="<name>" on the page
    roles: frozenset
    template: str
    context: Callable
    order: int


_PANELS = {}


def register_dashboard_panel(name, *, roles, template, context, order=100):
    """Adds a panel to the dashboard of members holding one of `roles`."""
    if name in _PANELS:
        raise ValueError(f"dashboard panel {name!r} is registered twice")
    _PANELS[name] = DashboardPanel(name=name, roles=frozenset(roles), template=template, context=context, order=order)


def dashboard_panels_for(request):
    """The panels of the reader's dashboard, in order: [{name, template, context}]."""
    roles = request.tenant_context.roles
    panels = []
    for panel in sorted(_PANELS.values(), key=lambda p: (p.order, p.name)):
        if not panel.roles & roles:
            continue
        context = panel.context(request)
        if context is not None:
            panels.append({"name": panel.name, "template": panel.template, "context": context})
    return panels
