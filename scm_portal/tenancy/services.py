"""Every write to tenancy records. Keyword-only functions named <entity>_<verb>."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from scm_portal.tenancy.models import Membership, Organization, Partnership, Tenant
from scm_portal.tenancy.signals import partnership_saved, send_access_changed_on_commit, tenant_created
from scm_portal.tenancy.roles import (
    CORE_ROLES,
    PARTNER_ROLE_KIND,
    OrganizationKind,
    Role,
    role_group_name,
)

# Core roles that follow a partner of each kind: they get its events and see its rooms.
FOLLOWERS_BY_KIND = {
    OrganizationKind.SUPPLIER: [
        Role.COORDINATOR,
        Role.BUYER,
        Role.PLANNER,
        Role.WAREHOUSE,
        Role.LOGISTICS,
        Role.CUSTOMER_SERVICE,
        Role.AUDITOR,
    ],
    OrganizationKind.FUNDER: [Role.COORDINATOR, Role.FINANCE_APPROVER, Role.AUDITOR],
    OrganizationKind.CARRIER: [Role.COORDINATOR, Role.LOGISTICS, Role.AUDITOR],
    OrganizationKind.DISTRIBUTOR: [Role.COORDINATOR, Role.CUSTOMER_SERVICE, Role.AUDITOR],
}


def organization_create(*, slug, name, kind):
    org = Organization(slug=slug, name=name, kind=kind)
    org.full_clean()
    org.save()
    return org


def organization_get_or_create(*, slug, name, kind):
    org = Organization.objects.filter(slug=slug).first()
    if org is None:
        return organization_create(slug=slug, name=name, kind=kind)
    if org.kind != kind:
        raise ValidationError({"kind": _("Organisation %(slug)s exists with another kind.") % {"slug": slug}})
    return org


def role_group(*, tenant, role):
    group, _created = Group.objects.get_or_create(name=role_group_name(tenant.id, role))
    return group


@transaction.atomic
def tenant_create(*, slug, name, organization=None, default_language="zh-hans", time_zone="Asia/Shanghai"):
    """A tenant with its core organisation and one guardian group per role."""
    if organization is None:
        organization = organization_get_or_create(slug=slug, name=name, kind=OrganizationKind.CORE)
    if organization.kind != OrganizationKind.CORE:
        raise ValidationError({"organization": _("A tenant's organisation must be a core enterprise.")})
    tenant = Tenant(
        slug=slug, name=name, organization=organization, default_language=default_language, time_zone=time_zone
    )
    tenant.full_clean()
    tenant.save()
    for role in Role:
        role_group(tenant=tenant, role=role)
    tenant_created.send(sender=Tenant, tenant=tenant)
    return tenant


@transaction.atomic
def partnership_create(*, tenant, actor, organization, kind):
    """Makes `organization` a partner of `tenant`; the core roles that follow that kind follow it."""
    if organization.kind == OrganizationKind.CORE:
        raise ValidationError({"organization": _("A core enterprise cannot be a partner.")})
    if kind not in FOLLOWERS_BY_KIND:
        raise ValidationError({"kind": _("Unknown partner kind.")})
    partnership, created = Partnership.objects.get_or_create(tenant=tenant, organization=organization, kind=kind)
    if not created and not partnership.active:
        partnership.active = True
        partnership.save(update_fields=["active"])
    for role in FOLLOWERS_BY_KIND[kind]:
        assign_perm("tenancy.follow_partnership", role_group(tenant=tenant, role=role), partnership)
    partnership_saved.send(sender=Partnership, partnership=partnership, created=created)
    send_access_changed_on_commit(tenant_id=tenant.id)
    return partnership


@transaction.atomic
def partnership_set_active(*, tenant, actor, partnership, active):
    """Deactivating a partnership suspends every membership of that partner in the tenant at once."""
    if partnership.tenant_id != tenant.id:
        raise ValidationError({"partnership": _("Not a partnership of this tenant.")})
    partnership.active = active
    partnership.save(update_fields=["active"])
    partnership_saved.send(sender=Partnership, partnership=partnership, created=False)
    send_access_changed_on_commit(tenant_id=tenant.id)
    return partnership


def partnership_follow(*, tenant, actor, partnership, user, follow=True):
    """Lets one core user follow (or stop following) a partner beyond what their role gives."""
    if follow:
        assign_perm("tenancy.follow_partnership", user, partnership)
    else:
        remove_perm("tenancy.follow_partnership", user, partnership)
    send_access_changed_on_commit(tenant_id=tenant.id, user_ids=[user.id])


def _validate_membership(*, tenant, organization, role):
    if role not in CORE_ROLES and role not in PARTNER_ROLE_KIND:
        raise ValidationError({"role": _("Unknown role.")})
    if role in CORE_ROLES:
        if organization.id != tenant.organization_id:
            raise ValidationError({"organization": _("Core roles belong to the tenant's own organisation.")})
        return
    kind = PARTNER_ROLE_KIND[role]
    if not Partnership.objects.filter(tenant=tenant, organization=organization, kind=kind, active=True).exists():
        raise ValidationError(
            {"organization": _("This organisation is not an active %(kind)s of the tenant.") % {"kind": kind.label}}
        )


@transaction.atomic
def membership_create(*, tenant, actor, user, organization, role):
    """Gives `user` `role` in `tenant` on behalf of `organization` (idempotent)."""
    _validate_membership(tenant=tenant, organization=organization, role=role)
    membership, created = Membership.objects.get_or_create(
        tenant=tenant, user=user, organization=organization, role=role
    )
    if not created and not membership.active:
        membership.active = True
        membership.save(update_fields=["active"])
    role_group(tenant=tenant, role=role).user_set.add(user)
    send_access_changed_on_commit(tenant_id=tenant.id, user_ids=[user.id])
    return membership


@transaction.atomic
def membership_set_active(*, tenant, actor, membership, active):
    if membership.tenant_id != tenant.id:
        raise ValidationError({"membership": _("Not a membership of this tenant.")})
    if not active and membership.user_id == getattr(actor, "id", None) and membership.role == Role.TENANT_ADMIN:
        raise ValidationError({"active": _("You cannot remove your own administrator role.")})
    membership.active = active
    membership.save(update_fields=["active"])
    group = role_group(tenant=tenant, role=membership.role)
    if active:
        group.user_set.add(membership.user)
    elif not Membership.objects.filter(
        tenant=tenant, user=membership.user, role=membership.role, active=True
    ).exists():
        group.user_set.remove(membership.user)
    send_access_changed_on_commit(tenant_id=tenant.id, user_ids=[membership.user_id])
    return membership


def user_create(*, username, password, email="", first_name="", last_name=""):
    User = get_user_model()
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user
