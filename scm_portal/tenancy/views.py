"""Pages: home, tenant picker, the per-role dashboard, partners and members (thin views)."""

import functools
import zoneinfo

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from scm_portal.api.errors import api_not_found, api_server_error
from scm_portal.tenancy import services
from scm_portal.tenancy.access import access_membership, access_partnership, access_tenant
from scm_portal.tenancy.dashboard import panels_for_roles
from scm_portal.tenancy.models import Membership, Organization, Partnership
from scm_portal.tenancy.roles import ALL_ROLES, PARTNER_KINDS, Role
from scm_portal.tenancy.selectors import is_core_staff, partnerships_followed, roles_in_tenant, tenants_for_user


def tenant_page(view):
    """Resolves /t/<tenant>/ for a page: login required, 404 for non-members, tenant time zone."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, tenant, *args, **kwargs):
        request.tenant = access_tenant(request.user, tenant)
        request.roles = roles_in_tenant(request.user, request.tenant)
        try:
            timezone.activate(zoneinfo.ZoneInfo(request.tenant.time_zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        try:
            return view(request, *args, **kwargs)
        finally:
            timezone.deactivate()  # a worker thread serves other tenants next

    return wrapper


@login_required
def home(request):
    tenants = list(tenants_for_user(request.user))
    if len(tenants) == 1:
        return redirect("dashboard", tenant=tenants[0].slug)
    return redirect("tenant-picker")


@login_required
def tenant_picker(request):
    return render(request, "tenancy/tenant_picker.html", {"tenants": list(tenants_for_user(request.user))})


@tenant_page
def dashboard(request):
    tenant, roles = request.tenant, request.roles
    context = {
        "panels": panels_for_roles(roles),
        "roles": [Role(r).label for r in sorted(roles)],
        "partners": list(partnerships_followed(request.user, tenant)[:20]),
        "is_core": is_core_staff(roles),
        "is_admin": Role.TENANT_ADMIN in roles,
    }
    if Role.TENANT_ADMIN in roles:
        context["member_count"] = Membership.objects.for_tenant(tenant).active().values("user").distinct().count()
        context["partner_count"] = Partnership.objects.for_tenant(tenant).filter(active=True).count()
    return render(request, "tenancy/dashboard.html", context)


@tenant_page
@require_http_methods(["GET", "POST"])
def partners(request):
    tenant = request.tenant
    can_manage = Role.TENANT_ADMIN in request.roles
    if request.method == "POST":
        if not can_manage:
            return render(request, "403.html", status=403)
        try:
            if request.POST.get("partnership"):
                partnership = access_partnership(request.user, tenant, request.POST["partnership"], "change")
                services.partnership_set_active(
                    tenant=tenant, actor=request.user, partnership=partnership, active=request.POST.get("active") == "1"
                )
            else:
                org = Organization.objects.exclude(kind="core").filter(slug=request.POST.get("organization", "")).first()
                if org is None:
                    raise ValidationError({"organization": _("No such organisation.")})
                services.partnership_create(tenant=tenant, actor=request.user, organization=org, kind=request.POST.get("kind", ""))
            messages.success(request, _("Saved."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("partners", tenant=tenant.slug)
    queryset = (
        Partnership.objects.for_tenant(tenant).visible_to(request.user, "view").select_related("organization")
        .order_by("kind", "organization__name")
    )
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "tenancy/partners.html",
        {"page": page, "can_manage": can_manage, "kinds": PARTNER_KINDS},
    )


@tenant_page
@require_http_methods(["GET", "POST"])
def members(request):
    tenant = request.tenant
    if Role.TENANT_ADMIN not in request.roles:
        return render(request, "403.html", status=403)
    if request.method == "POST":
        try:
            if request.POST.get("membership"):
                membership = access_membership(request.user, tenant, request.POST["membership"], "change")
                services.membership_set_active(
                    tenant=tenant, actor=request.user, membership=membership, active=request.POST.get("active") == "1"
                )
            else:
                user = get_user_model().objects.filter(username=request.POST.get("username", ""), is_active=True).first()
                org = Organization.objects.filter(slug=request.POST.get("organization", "")).first()
                if user is None:
                    raise ValidationError({"username": _("No such user.")})
                if org is None:
                    raise ValidationError({"organization": _("No such organisation.")})
                services.membership_create(
                    tenant=tenant, actor=request.user, user=user, organization=org, role=request.POST.get("role", "")
                )
            messages.success(request, _("Saved."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("members", tenant=tenant.slug)
    queryset = (
        Membership.objects.for_tenant(tenant).visible_to(request.user, "view").select_related("user", "organization")
        .order_by("organization__name", "user__username", "role")
    )
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    organizations = [tenant.organization] + [
        p.organization for p in Partnership.objects.for_tenant(tenant).filter(active=True).select_related("organization")
    ]
    roles = [(r.value, r.label) for r in Role if r in ALL_ROLES]
    return render(request, "tenancy/members.html", {"page": page, "organizations": organizations, "roles": roles})


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return api_not_found(request, exception)
    return render(request, "404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return api_server_error(request)
    return render(request, "500.html", status=500)
