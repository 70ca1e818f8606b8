"""Pages: home, tenant picker, the per-role dashboard, partners and members (thin views)."""

import functools
import zoneinfo
from dataclasses import replace

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from scm_portal.dashboard import dashboard_panels_for
from scm_portal.tenancy import services
from scm_portal.tenancy.access import (
    access_invitation,
    access_membership,
    access_partnership,
    access_received_invitation,
    access_received_invitation_by_token,
    access_tenant_context,
)
from scm_portal.tenancy.language import SUPPORTED, activate_request_language
from scm_portal.tenancy.totp import totp_verified_at
from scm_portal.tenancy.models import InvitationKind, Membership, Organization, Partnership
from scm_portal.tenancy.roles import ALL_ROLES, PARTNER_KINDS, Role
from scm_portal.tenancy.selectors import (
    invitation_list,
    invitation_filter_pending,
    invitation_list_received,
    tenant_list_for_user,
)


def tenant_page(view):
    """Resolves /t/<tenant>/ for a page: login required, 404 for non-members, tenant time zone.

    `request.tenant_context` (the tenant and the user's active memberships there, one query) is
    what the page, its templates (`current_roles`) and the services it calls read the user's
    roles from; `request.tenant` is its tenant."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, tenant, *args, **kwargs):
        # The session's TOTP verification, read only by what asks (money actions, their buttons).
        request.tenant_context = replace(access_tenant_context(request.user, tenant),
                                         second_factor=lambda: totp_verified_at(request))
        request.tenant = request.tenant_context.tenant
        if not _language_chosen_here(request):
            activate_request_language(request, request.tenant, request.tenant_context.saved_language)
        try:
            timezone.activate(zoneinfo.ZoneInfo(request.tenant.time_zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        try:
            return view(request, *args, **kwargs)
        finally:
            timezone.deactivate()  # a worker thread serves other tenants next

    return wrapper


def _language_chosen_here(request):
    """The language picked with the page's switcher (its cookie) goes before everything else."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    return chosen in SUPPORTED


@login_required
def home(request):
    tenants = list(tenant_list_for_user(request.user))
    if len(tenants) == 1:
        return redirect("dashboard", tenant=tenants[0].slug)
    if not tenants and invitation_filter_pending(invitation_list_received(request.user)).exists():
        return redirect("invitations")  # a newcomer's way in
    return redirect("tenant-picker")


@login_required
def tenant_picker(request):
    return render(request, "tenancy/tenant_picker.html", {"tenants": list(tenant_list_for_user(request.user))})


@tenant_page
def dashboard(request):
    """The reader's panels (scm_portal.dashboard: each app registers its own, for the roles it names)."""
    roles = request.tenant_context.roles
    context = {
        "panels": dashboard_panels_for(request),
        "roles": [Role(r).label for r in sorted(roles)],
    }
    return render(request, "tenancy/dashboard.html", context)


def _invitation_sent(request, invitation, token, name):
    """The same flash whatever the name is: what the admin typed, and the link to pass on."""
    link = request.build_absolute_uri(reverse("invitation-link", kwargs={"token": token}))
    messages.success(
        request,
        _("Invitation for %(name)s sent. It is valid for %(days)s days; it appears in their invitations, "
          "or pass on this link: %(link)s") % {"name": name, "days": services.INVITATION_LIFETIME.days, "link": link},
    )


def _invitation_revoke(request, tenant):
    invitation = access_invitation(request.user, tenant, request.POST["invitation"], "change")
    try:
        services.invitation_revoke(tenant=tenant, actor=request.user, invitation=invitation)
    except services.InvitationNotAnswerable as exc:
        messages.error(request, exc.message)
        return
    messages.success(request, _("Invitation withdrawn."))


def _pending_invitations(request, kind):
    invitations = invitation_list(request.tenant, request.user, request.tenant_context)
    return list(invitation_filter_pending(invitations.filter(kind=kind))[:100])


@tenant_page
@require_http_methods(["GET", "POST"])
def partners(request):
    tenant = request.tenant
    can_manage = Role.TENANT_ADMIN in request.tenant_context.roles
    if request.method == "POST":
        if not can_manage:
            return render(request, "403.html", status=403)
        try:
            if request.POST.get("partnership"):
                partnership = access_partnership(request.user, tenant, request.POST["partnership"], "change")
                services.partnership_set_active(
                    tenant=tenant, actor=request.user, partnership=partnership, active=request.POST.get("active") == "1"
                )
                messages.success(request, _("Saved."))
            elif request.POST.get("invitation"):
                _invitation_revoke(request, tenant)
            else:
                # An invitation, never a link: the organisation's side accepts it (or nobody does).
                invitation, token = services.invitation_create_partner(
                    tenant=tenant,
                    actor=request.user,
                    organization_slug=request.POST.get("organization", ""),
                    kind=request.POST.get("kind", ""),
                )
                _invitation_sent(request, invitation, token, invitation.organization_slug)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("partners", tenant=tenant.slug)
    queryset = (
        Partnership.objects.for_tenant(tenant).visible_to(request.user, "view", context=request.tenant_context)
        .select_related("organization").order_by("kind", "organization__name")
    )
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    context = {"page": page, "can_manage": can_manage, "kinds": PARTNER_KINDS}
    if can_manage:
        context["invitations"] = _pending_invitations(request, InvitationKind.PARTNER)
    return render(request, "tenancy/partners.html", context)


@tenant_page
@require_http_methods(["GET", "POST"])
def members(request):
    tenant = request.tenant
    if Role.TENANT_ADMIN not in request.tenant_context.roles:
        return render(request, "403.html", status=403)
    if request.method == "POST":
        try:
            if request.POST.get("membership"):
                membership = access_membership(request.user, tenant, request.POST["membership"], "change")
                services.membership_set_active(
                    tenant=tenant, actor=request.user, membership=membership, active=request.POST.get("active") == "1"
                )
                messages.success(request, _("Saved."))
            elif request.POST.get("invitation"):
                _invitation_revoke(request, tenant)
            else:
                # An invitation, never a membership: the person named accepts it (or nobody does).
                organization = (
                    Organization.objects.filter(
                        Q(pk=tenant.organization_id)
                        | Q(pk__in=Partnership.objects.for_tenant(tenant).values("organization_id"))
                    )
                    .filter(slug=request.POST.get("organization", ""))
                    .first()
                )
                if organization is None:
                    raise ValidationError({"organization": _("Not an organisation of this tenant.")})
                invitation, token = services.invitation_create_member(
                    tenant=tenant,
                    actor=request.user,
                    invitee=request.POST.get("username", ""),
                    organization=organization,
                    role=request.POST.get("role", ""),
                )
                _invitation_sent(request, invitation, token, invitation.invitee)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("members", tenant=tenant.slug)
    queryset = (
        Membership.objects.for_tenant(tenant).visible_to(request.user, "view", context=request.tenant_context)
        .select_related("user", "organization").order_by("organization__name", "user__username", "role")
    )
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    organizations = [tenant.organization] + [
        p.organization for p in Partnership.objects.for_tenant(tenant).filter(active=True).select_related("organization")
    ]
    roles = [(r.value, r.label) for r in Role if r in ALL_ROLES]
    context = {
        "page": page,
        "organizations": organizations,
        "roles": roles,
        "invitations": _pending_invitations(request, InvitationKind.MEMBER),
    }
    return render(request, "tenancy/members.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def invitations(request, token=None):
    """The invitations addressed to the user, from any tenant, to accept or decline.

    /invitations/<token>/ (the link an admin passes on) shows that one, to the person it names only."""
    if request.method == "POST":
        invitation = access_received_invitation(request.user, request.POST.get("invitation"))
        answer = request.POST.get("answer")
        try:
            if answer == "accept":
                invitation = services.invitation_accept(invitation=invitation, actor=request.user)
            elif answer == "decline":
                services.invitation_decline(invitation=invitation, actor=request.user)
        except services.InvitationNotAnswerable as exc:
            messages.error(request, exc.message)
            return redirect("invitations")
        if answer == "accept" and invitation.kind == InvitationKind.MEMBER:
            messages.success(request, _("Welcome to %(tenant)s.") % {"tenant": invitation.tenant.name})
            return redirect("dashboard", tenant=invitation.tenant.slug)
        if answer == "accept":
            messages.success(
                request,
                _("%(organization)s is now a partner of %(tenant)s; their administrators can now invite your colleagues.")
                % {"organization": invitation.organization.name, "tenant": invitation.tenant.name},
            )
        elif answer == "decline":
            messages.success(request, _("Invitation declined."))
        return redirect("invitations")
    if token is not None:
        shown = [access_received_invitation_by_token(request.user, token)]
    else:
        received = invitation_list_received(request.user)
        shown = list(invitation_filter_pending(received).order_by("-created_at", "-pk")[:100])
    for invitation in shown:
        invitation.local_expires_at = _in_time_zone(invitation.expires_at, invitation.tenant.time_zone)
    return render(request, "tenancy/invitations.html", {"invitations": shown, "by_link": token is not None})


def _in_time_zone(moment, name):
    """`moment` in the inviting tenant's time zone (this page belongs to no tenant)."""
    try:
        return timezone.localtime(moment, zoneinfo.ZoneInfo(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return moment
