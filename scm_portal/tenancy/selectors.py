"""Reads of tenancy records, always scoped to the user."""

from django.db.models import Q

from scm_portal.tenancy.models import Membership, Partnership, Tenant
from scm_portal.tenancy.roles import CORE_ROLES


def tenants_for_user(user):
    """Tenants where the user holds at least one active membership, by name."""
    if not user.is_authenticated:
        return Tenant.objects.none()
    return Tenant.objects.filter(memberships__in=Membership.objects.active().filter(user=user)).distinct().order_by("name")


def memberships_for_user(user):
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.active().filter(user=user).select_related("tenant", "organization").order_by("tenant__slug", "role")


def roles_in_tenant(user, tenant):
    """The set of roles the user holds in the tenant (empty when none)."""
    if not user.is_authenticated:
        return frozenset()
    return frozenset(Membership.objects.active().filter(user=user, tenant=tenant).values_list("role", flat=True))


def is_core_staff(roles):
    return bool(set(roles) & CORE_ROLES)


def partnerships_followed(user, tenant):
    """Active partners whose events reach this user: those their roles (or they) follow, or their own."""
    visible = Partnership.objects.for_tenant(tenant).visible_to(user, "view").filter(active=True)
    followed = Q(pk__in=Partnership.objects.for_tenant(tenant).visible_to(user, "follow").values("pk"))
    own = Q(organization__in=Membership.objects.active().filter(user=user, tenant=tenant).values("organization"))
    return visible.filter(followed | own).select_related("organization").order_by("kind", "organization__name")


def tenant_language(tenant):
    """Texts stored for everyone (event cards, alert titles) are written in the tenant's language."""
    from django.utils import translation

    return translation.override(tenant.default_language)
