"""What finance contributes to the portal's pages: the Financing section and the dashboard's
"financing awaiting me" panel (registered from FinanceConfig.ready()). The section is linked for
the roles its first page serves (finance/views.py answers 403 to the others)."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from finance import selectors
from finance.models import FINANCE_APPROVERS, FUNDER_ROLES, SUPPLIER_ROLES, FinancingApplication
from scm_portal.dashboard import register_dashboard_panel
from scm_portal.navigation import register_nav_item

APPLICATION_READERS = FinancingApplication.access_policy.roles("view")
PANEL_LIMIT = 10


def awaiting_panel(request):
    """What waits for the reader: a supplier's reps, receivables to finance and rejected
    applications; a finance approver, applications awaiting their approval (not theirs, not
    decided by them); a funder's officer, applications awaiting the funder."""
    context = request.tenant_context
    slug = request.tenant.slug
    panel = {"list_url": reverse("finance:applications", kwargs={"tenant": slug})}
    if context.organizations(SUPPLIER_ROLES):
        panel.update(selectors.financing_awaiting_supplier(request.user, request.tenant, context=context, limit=PANEL_LIMIT))
        panel["apply_url"] = reverse("finance:apply", kwargs={"tenant": slug})
    if context.roles & FINANCE_APPROVERS:
        panel["to_approve"] = list(selectors.financing_queue_core(request.user, request.tenant, context=context)
                                   .prefetch_related(None)[:PANEL_LIMIT])
        panel["queue_url"] = reverse("finance:approvals", kwargs={"tenant": slug})
    if context.organizations(FUNDER_ROLES):
        panel["for_funder"] = list(selectors.financing_queue_funder(request.user, request.tenant, context=context)
                                   .prefetch_related(None)[:PANEL_LIMIT])
        panel["funder_url"] = reverse("finance:funder", kwargs={"tenant": slug})
    return panel


def register_portal():
    register_nav_item("financing", label=_("Financing"), url_name="finance:applications", roles=APPLICATION_READERS,
                      order=70)
    register_dashboard_panel("financing_awaiting", roles=SUPPLIER_ROLES | FINANCE_APPROVERS | FUNDER_ROLES,
                             template="finance/_panel_awaiting.html", context=awaiting_panel, order=18)
