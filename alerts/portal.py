"""What alerts contributes to the portal's pages: the Alerts section and the dashboard's panel
of unresolved alerts by state and those addressed to the reader (registered from
AlertsConfig.ready())."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from alerts import selectors
from alerts.models import Alert, AlertState
from scm_portal.dashboard import register_dashboard_panel
from scm_portal.navigation import register_nav_item


def open_alerts_panel(request):
    """Unresolved alerts the reader may see, per state, and those addressed to them (one query)."""
    counts = selectors.alert_counts(user=request.user, tenant=request.tenant, context=request.tenant_context)
    board = reverse("alerts:board", kwargs={"tenant": request.tenant.slug})
    states = [
        {"state": state, "label": AlertState(state).label, "count": counts[state], "url": f"{board}?state={state}"}
        for state in selectors.UNRESOLVED_STATES
    ]
    return {
        "states": states,
        "total": sum(item["count"] for item in states),
        "mine": counts["mine"],
        "mine_url": f"{board}?mine=1",
        "board_url": board,
    }


def register_portal():
    readers = Alert.access_policy.roles("view")
    register_nav_item("alerts", label=_("Alerts"), url_name="alerts:board", roles=readers, order=30)
    register_dashboard_panel("open_alerts", roles=readers, template="alerts/_panel_open_alerts.html",
                             context=open_alerts_panel, order=10)
