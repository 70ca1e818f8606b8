"""What tenancy contributes to the portal's pages: the Dashboard, Partners and Members sections
and the administration and partner panels of the dashboard (registered from TenancyConfig.ready())."""

from django.utils.translation import gettext_lazy as _

from scm_portal.dashboard import register_dashboard_panel
from scm_portal.navigation import register_nav_item
from scm_portal.tenancy.models import Membership, Partnership
from scm_portal.tenancy.roles import ALL_ROLES, Role, is_core_staff
from scm_portal.tenancy.selectors import partnership_list_followed

PANEL_PARTNERS = 20


def administration_panel(request):
    tenant = request.tenant
    return {
        "member_count": Membership.objects.for_tenant(tenant).active().values("user").distinct().count(),
        "partner_count": Partnership.objects.for_tenant(tenant).filter(active=True).count(),
    }


def partners_panel(request):
    partners = partnership_list_followed(request.user, request.tenant, context=request.tenant_context)
    return {"partners": list(partners[:PANEL_PARTNERS]), "is_core": is_core_staff(request.tenant_context.roles)}


def register_portal():
    register_nav_item("dashboard", label=_("Dashboard"), url_name="dashboard", roles=ALL_ROLES, order=10)
    register_nav_item("partners", label=_("Partners"), url_name="partners", roles=ALL_ROLES, order=80)
    register_nav_item("members", label=_("Members"), url_name="members", roles={Role.TENANT_ADMIN}, order=90)
    register_dashboard_panel("administration", roles={Role.TENANT_ADMIN}, template="tenancy/_panel_administration.html",
                             context=administration_panel, order=5)
    register_dashboard_panel("partners", roles=ALL_ROLES, template="tenancy/_panel_partners.html",
                             context=partners_panel, order=90)
