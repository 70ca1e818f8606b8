"""Reads of tenancy records, always scoped to the user."""

from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from scm_portal.tenancy.context import check_context
from scm_portal.tenancy.models import (
    Invitation,
    InvitationKind,
    InvitationState,
    Membership,
    Organization,
    Partnership,
    Tenant,
)
from scm_portal.tenancy.roles import PARTNER_ROLES


def tenant_list_for_user(user):
    """Tenants where the user holds at least one active membership, by name."""
    if not user.is_authenticated:
        return Tenant.objects.none()
    return Tenant.objects.filter(memberships__in=Membership.objects.active().filter(user=user)).distinct().order_by("name")


def membership_list_for_user(user):
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.active().filter(user=user).select_related("tenant", "organization").order_by("tenant__slug", "role")


def partnership_list_followed(user, tenant, *, context):
    """Active partners whose events reach this user: those their roles (or they) follow, or their
    own. `context`: the user's TenantContext in `tenant` (their own organisations come from it)."""
    check_context(context, tenant=tenant, user=user)
    visible = Partnership.objects.for_tenant(tenant).visible_to(user, "view", context=context).filter(active=True)
    followed = Q(pk__in=Partnership.objects.for_tenant(tenant).visible_to(user, "follow", context=context).values("pk"))
    own = Q(organization__in=sorted({organization for _role, organization in context.memberships}))
    return visible.filter(followed | own).select_related("organization").order_by("kind", "organization__name")


def tenant_language(tenant):
    """Texts stored for everyone (event cards, alert titles) are written in the tenant's language."""
    from django.utils import translation

    return translation.override(tenant.default_language)


def invitation_list_received(user):
    """Invitations, in any tenant, that `user` may see and answer.

    A member invitation is for the person whose username it names, or whose e-mail address it
    names (case-insensitively). A partner invitation is for the organisation it names; an
    organisation has no administrator role of its own, so its representatives answer for it:
    the users who hold a partner role (supplier rep, funder officer, carrier dispatcher) for it
    in an active membership of any tenant. Nobody else sees the invitation at all."""
    if not user.is_authenticated or not user.is_active:
        return Invitation.objects.none()
    named = Q(invitee=user.username)
    if user.email:
        named |= Q(invitee_email=user.email.strip().lower())
    represented = Membership.objects.active().filter(user=user, role__in=PARTNER_ROLES).values("organization__slug")
    return Invitation.objects.filter(
        (Q(kind=InvitationKind.MEMBER) & named) | Q(kind=InvitationKind.PARTNER, organization_slug__in=represented)
    ).annotate(
        organization_name=Subquery(Organization.objects.filter(slug=OuterRef("organization_slug")).values("name")[:1])
    ).select_related("tenant", "invited_by")


def invitation_filter_pending(queryset, now=None):
    """Those of `queryset` still waiting for an answer (pending and not expired)."""
    return queryset.filter(state=InvitationState.PENDING, expires_at__gt=now or timezone.now())


def invitation_filter_state(queryset, state, now=None):
    """Those of `queryset` whose current state (expiry included) is `state`."""
    now = now or timezone.now()
    if state == InvitationState.PENDING:
        return invitation_filter_pending(queryset, now)
    if state == InvitationState.EXPIRED:
        return queryset.filter(Q(state=InvitationState.EXPIRED) | Q(state=InvitationState.PENDING, expires_at__lte=now))
    return queryset.filter(state=state)


def invitation_list(tenant, user, context=None):
    """A tenant's invitations, as its admins see them (the choke point decides who may)."""
    return (
        Invitation.objects.for_tenant(tenant)
        .visible_to(user, "view", context=context)
        .select_related("invited_by")
        .order_by("-created_at", "-pk")
    )
