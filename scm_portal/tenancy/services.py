"""Every write to tenancy records. Keyword-only functions named <entity>_<verb>."""

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from scm_portal.tenancy.models import (
    Invitation,
    InvitationKind,
    InvitationState,
    Membership,
    Organization,
    Partnership,
    Tenant,
    slug_validator,
)
from scm_portal.tenancy.lock_objects import invitation_lock
from scm_portal.tenancy.selectors import invitation_list_received
from scm_portal.tenancy.signals import partnership_saved, send_access_changed_on_commit, send_audited, tenant_created
from scm_portal.tenancy.roles import (
    CORE_ROLES,
    PARTNER_ROLE_KIND,
    OrganizationKind,
    Role,
    role_group_name,
)

# Core roles that follow a partner of each kind: they get its events and see its rooms. Finance
# approvers follow suppliers too: financing is talked through in the supplier's room, and the
# cards addressed to other roles there (core_audience: stock, PO and shipment alerts) stay theirs.
# A change here needs a data migration for the partnerships that exist (see tenancy 0004).
FOLLOWERS_BY_KIND = {
    OrganizationKind.SUPPLIER: [
        Role.COORDINATOR,
        Role.BUYER,
        Role.PLANNER,
        Role.WAREHOUSE,
        Role.LOGISTICS,
        Role.CUSTOMER_SERVICE,
        Role.FINANCE_APPROVER,
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
    was_active = None if created else partnership.active
    if not created and not partnership.active:
        partnership.active = True
        partnership.save(update_fields=["active"])
    for role in FOLLOWERS_BY_KIND[kind]:
        assign_perm("tenancy.follow_partnership", role_group(tenant=tenant, role=role), partnership)
    partnership_saved.send(sender=Partnership, partnership=partnership, created=created)
    send_access_changed_on_commit(tenant_id=tenant.id)
    if was_active is not True:
        send_audited(tenant=tenant, actor=actor, action="partnership.create" if created else "partnership.activate",
                     object_kind="partnership", object_ref=organization.slug,
                     before=None if created else {"active": False}, after={"active": True, "kind": kind})
    return partnership


@transaction.atomic
def partnership_set_active(*, tenant, actor, partnership, active):
    """Deactivating a partnership suspends every membership of that partner in the tenant at once."""
    if partnership.tenant_id != tenant.id:
        raise ValidationError({"partnership": _("Not a partnership of this tenant.")})
    before = {"active": partnership.active}
    partnership.active = active
    partnership.save(update_fields=["active"])
    partnership_saved.send(sender=Partnership, partnership=partnership, created=False)
    send_access_changed_on_commit(tenant_id=tenant.id)
    send_audited(tenant=tenant, actor=actor, action="partnership." + ("activate" if active else "suspend"),
                 object_kind="partnership", object_ref=partnership.organization.slug, before=before,
                 after={"active": active, "kind": partnership.kind})
    return partnership


def partnership_follow(*, tenant, actor, partnership, user, follow=True):
    """Lets one core user follow (or stop following) a partner beyond what their role gives."""
    if follow:
        assign_perm("tenancy.follow_partnership", user, partnership)
    else:
        remove_perm("tenancy.follow_partnership", user, partnership)
    send_access_changed_on_commit(tenant_id=tenant.id, user_ids=[user.id])
    send_audited(tenant=tenant, actor=actor, action="partnership." + ("follow" if follow else "unfollow"),
                 object_kind="partnership", object_ref=partnership.organization.slug, after={"user": user.get_username()})


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
    was_active = None if created else membership.active
    if not created and not membership.active:
        membership.active = True
        membership.save(update_fields=["active"])
    role_group(tenant=tenant, role=role).user_set.add(user)
    send_access_changed_on_commit(tenant_id=tenant.id, user_ids=[user.id])
    if was_active is not True:
        send_audited(tenant=tenant, actor=actor, action="membership.create" if created else "membership.activate",
                     object_kind="membership", object_ref=membership.pk,
                     before=None if created else {"active": False},
                     after={"active": True, "user": user.get_username(), "organization": organization.slug, "role": role})
    return membership


@transaction.atomic
def membership_set_active(*, tenant, actor, membership, active):
    if membership.tenant_id != tenant.id:
        raise ValidationError({"membership": _("Not a membership of this tenant.")})
    if not active and membership.user_id == getattr(actor, "id", None) and membership.role == Role.TENANT_ADMIN:
        raise ValidationError({"active": _("You cannot remove your own administrator role.")})
    before = {"active": membership.active}
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
    send_audited(tenant=tenant, actor=actor, action="membership." + ("activate" if active else "suspend"),
                 object_kind="membership", object_ref=membership.pk, before=before,
                 after={"active": active, "user": membership.user.get_username(), "role": membership.role})
    return membership


# --- invitations ----------------------------------------------------------------------------
# Joining a tenant needs the other side's consent. A tenant admin invites a person (member) or an
# organisation (partner); the invitation records only what the admin typed, so creating one reads
# no user and no foreign organisation and answers the same whatever the name is. The person named,
# or a representative of the organisation named (see selectors.invitation_list_received), accepts.

INVITATION_LIFETIME = timedelta(days=14)


class InvitationNotAnswerable(Exception):
    """The invitation cannot take this answer any more: `code` says why (the API answers 409)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _not_answerable(state):
    messages = {
        InvitationState.ACCEPTED: _("This invitation has already been accepted."),
        InvitationState.DECLINED: _("This invitation has already been declined."),
        InvitationState.REVOKED: _("This invitation has been withdrawn."),
        InvitationState.EXPIRED: _("This invitation has expired."),
    }
    return InvitationNotAnswerable(f"invitation_{state}", messages[state])


def invitation_token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def check_invitee(value):
    """A username or an e-mail address as typed, checked for its form only: (invitee, e-mail or "").

    Never looks the name up, so an unknown user and another tenant's user are treated alike."""
    value = value.strip() if isinstance(value, str) else ""
    message = _("Enter a username or an e-mail address.")
    if not value or len(value) > 254 or not value.isprintable():
        raise ValidationError(message, code="invalid")
    try:
        EmailValidator()(value)
        email = value.lower()
    except ValidationError:
        email = ""
    if not email:
        try:
            UnicodeUsernameValidator()(value)
        except ValidationError:
            raise ValidationError(message, code="invalid") from None
        if len(value) > 150:
            raise ValidationError(message, code="invalid")
    return value, email


def check_organization_slug(value):
    """An organisation code as typed, lower-cased and checked for its form only (never looked up)."""
    value = value.strip().lower() if isinstance(value, str) else ""
    slug_validator(value)
    return value


def _invitation_new(*, tenant, actor, **fields):
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        tenant=tenant,
        invited_by=actor if getattr(actor, "pk", None) else None,
        token_hash=invitation_token_hash(token),
        expires_at=timezone.now() + INVITATION_LIFETIME,
        **fields,
    )
    invitation.full_clean()
    # A new invitation for the same thing replaces a pending one: its link stops working.
    Invitation.objects.for_tenant(tenant).filter(state=InvitationState.PENDING, **fields).update(
        state=InvitationState.REVOKED, answered_at=timezone.now(), answered_by=invitation.invited_by
    )
    invitation.save()
    # The invitation as the admin wrote it; never its token (the link's secret) nor the token's hash.
    send_audited(tenant=tenant, actor=actor, action="invitation.create", object_kind="invitation", object_ref=invitation.pk,
                 after={"state": invitation.state, "kind": invitation.kind, "invitee": invitation.invitee,
                        "organization": invitation.organization_slug, "role": invitation.role,
                        "partner_kind": invitation.partner_kind})
    return invitation, token


@transaction.atomic
def invitation_create_member(*, tenant, actor, invitee, organization, role):
    """Invites a person, by username or e-mail, to hold `role` in `tenant` for `organization`
    (the tenant's own organisation or one of its partners). Returns (invitation, token): the
    token is the link's secret, shown once."""
    invitee, email = check_invitee(invitee)
    if organization.id != tenant.organization_id and not Partnership.objects.for_tenant(tenant).filter(
        organization=organization
    ).exists():
        raise ValidationError({"organization": _("Not an organisation of this tenant.")})
    _validate_membership(tenant=tenant, organization=organization, role=role)
    return _invitation_new(
        tenant=tenant,
        actor=actor,
        kind=InvitationKind.MEMBER,
        invitee=invitee,
        invitee_email=email,
        organization_slug=organization.slug,
        organization=organization,
        role=role,
    )


@transaction.atomic
def invitation_create_partner(*, tenant, actor, organization_slug, kind):
    """Invites the organisation `organization_slug` to work with `tenant` as `kind`, whether or not
    such an organisation exists. Returns (invitation, token)."""
    slug = check_organization_slug(organization_slug)
    if kind not in FOLLOWERS_BY_KIND:
        raise ValidationError({"kind": _("Unknown partner kind.")})
    if slug == tenant.organization.slug:
        raise ValidationError({"organization": _("This is the tenant's own organisation.")})
    return _invitation_new(
        tenant=tenant, actor=actor, kind=InvitationKind.PARTNER, organization_slug=slug, partner_kind=kind
    )


def _answer(invitation, *, state, actor, now):
    before = {"state": invitation.state}
    invitation.state = state
    invitation.answered_at = now
    invitation.answered_by = actor if getattr(actor, "pk", None) else None
    invitation.save(update_fields=["state", "answered_at", "answered_by", "organization"])
    verb = {InvitationState.ACCEPTED: "accept", InvitationState.DECLINED: "decline"}.get(state, "revoke")
    send_audited(tenant=invitation.tenant, actor=actor, action=f"invitation.{verb}", object_kind="invitation",
                 object_ref=invitation.pk, before=before, after={"state": state})


def _mark_expired(invitation, now):
    if invitation.state == InvitationState.PENDING:  # kept, so the lists need not compute it
        Invitation.objects.filter(pk=invitation.pk, state=InvitationState.PENDING).update(state=InvitationState.EXPIRED)


def invitation_accept(*, invitation, actor):
    """The invitee's (or the invited organisation's representative's) yes: creates the membership
    or the partnership (with its room) in one transaction. Accepting twice changes nothing.

    `invitation` must come from selectors.invitation_list_received(actor)."""
    now = timezone.now()
    with transaction.atomic():
        invitation = invitation_lock(invitation)
        state = invitation.current_state(now)
        if state == InvitationState.ACCEPTED:
            return invitation
        if state == InvitationState.PENDING:
            # Checked again under the lock: who may answer can have changed since it was read.
            if not invitation_list_received(actor).filter(pk=invitation.pk).exists():
                raise Http404
            try:
                with transaction.atomic():
                    _invitation_apply(invitation, actor)
                    _answer(invitation, state=InvitationState.ACCEPTED, actor=actor, now=now)
                return invitation
            except ValidationError as exc:
                refused = InvitationNotAnswerable("invitation_invalid", " ".join(exc.messages))
        else:
            if state == InvitationState.EXPIRED:
                _mark_expired(invitation, now)
            refused = _not_answerable(state)
    raise refused


def _invitation_apply(invitation, actor):
    tenant = invitation.tenant
    if invitation.kind == InvitationKind.MEMBER:
        membership_create(
            tenant=tenant, actor=actor, user=actor, organization=invitation.organization, role=invitation.role
        )
        return
    organization = Organization.objects.filter(slug=invitation.organization_slug).first()
    if organization is None:
        raise ValidationError(_("This organisation no longer exists."))
    partnership_create(tenant=tenant, actor=actor, organization=organization, kind=invitation.partner_kind)
    invitation.organization = organization


def invitation_decline(*, invitation, actor):
    """The invitee's no. Declining twice changes nothing."""
    return _invitation_close(invitation=invitation, actor=actor, state=InvitationState.DECLINED)


def invitation_revoke(*, tenant, actor, invitation):
    """A tenant admin withdraws a pending invitation; its link stops working. Revoking twice changes nothing."""
    if invitation.tenant_id != tenant.id:
        raise ValidationError({"invitation": _("Not an invitation of this tenant.")})
    return _invitation_close(invitation=invitation, actor=actor, state=InvitationState.REVOKED)


def _invitation_close(*, invitation, actor, state):
    now = timezone.now()
    with transaction.atomic():
        invitation = invitation_lock(invitation)
        current = invitation.current_state(now)
        if current == state:
            return invitation
        if current == InvitationState.PENDING:
            _answer(invitation, state=state, actor=actor, now=now)
            return invitation
        if current == InvitationState.EXPIRED:
            _mark_expired(invitation, now)
    raise _not_answerable(current)


def user_create(*, username, password, email="", first_name="", last_name=""):
    User = get_user_model()
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


@transaction.atomic
def user_language_set(*, user, language):
    """Saves the user's language (one of settings.LANGUAGES; "" forgets it): what they read the
    portal in when a request names none, and what is rendered for them later (bot answers,
    notifications)."""
    from scm_portal.tenancy.language import SUPPORTED
    from scm_portal.tenancy.models import UserPreferences

    if language != "" and language not in SUPPORTED:
        raise ValidationError({"language": _("Choose one of: %(choices)s.") % {"choices": ", ".join(SUPPORTED)}})
    preferences, _created = UserPreferences.objects.update_or_create(user=user, defaults={"language": language})
    return preferences
