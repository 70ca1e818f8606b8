from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from scm_portal.tenancy.querysets import AccessPolicy, TenantQuerySet
from scm_portal.tenancy.roles import (
    ALL_ROLES,
    CORE_ROLES,
    PARTNER_KIND_CHOICES,
    PARTNER_ROLES,
    OrganizationKind,
    Role,
)

slug_validator = RegexValidator(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$", _("Use lowercase letters, digits and hyphens."))


class Organization(models.Model):
    """A company: the core enterprise behind a tenant, or a partner working for one or more tenants."""

    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=OrganizationKind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.name


class Tenant(models.Model):
    """A core enterprise and everything it runs with its partners."""

    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    organization = models.OneToOneField(Organization, on_delete=models.PROTECT, related_name="tenant")
    default_language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="zh-hans")
    time_zone = models.CharField(max_length=64, default="Asia/Shanghai")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.name


class UserPreferences(models.Model):
    """A person's own settings, the same in every tenant: their language (empty: none chosen, the
    request's Accept-Language or the tenant's default decides)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences")
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "user preferences"


class Partnership(models.Model):
    """An organisation working with a tenant as supplier, funder, carrier or distributor."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="partnerships")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="partnerships")
    kind = models.CharField(max_length=20, choices=PARTNER_KIND_CHOICES)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": CORE_ROLES, "change": {Role.TENANT_ADMIN}, "add": {Role.TENANT_ADMIN}},
        partner={"view": PARTNER_ROLES},
        partner_field="organization",
        object_permissions=frozenset({"follow"}),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "organization", "kind"], name="partnership_unique_per_kind"),
        ]
        indexes = [models.Index(fields=["tenant", "kind", "active"])]
        # "follow": the core staff (groups or users) who follow this partner get its events.
        permissions = [("follow_partnership", "Follows this partner")]

    def __str__(self):
        return f"{self.organization} → {self.tenant} ({self.kind})"


class PartnershipUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Partnership, on_delete=models.CASCADE)


class PartnershipGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Partnership, on_delete=models.CASCADE)


class MembershipQuerySet(TenantQuerySet):
    def active(self):
        """Active memberships; a partner's only while its partnership with the tenant is active."""
        live_partnership = Partnership.objects.filter(
            tenant=OuterRef("tenant"), organization=OuterRef("organization"), active=True
        )
        return self.filter(active=True, user__is_active=True).filter(
            Q(role__in=CORE_ROLES) | Q(Exists(live_partnership))
        )


class Membership(models.Model):
    """A user's role in a tenant, on behalf of an organisation (the core one or a partner)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=30, choices=[(r.value, r.label) for r in Role if r in ALL_ROLES])
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": {Role.TENANT_ADMIN}, "change": {Role.TENANT_ADMIN}, "add": {Role.TENANT_ADMIN}},
        owner_field="user",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user", "organization", "role"], name="membership_unique"),
        ]
        indexes = [models.Index(fields=["user", "tenant", "active"]), models.Index(fields=["tenant", "role"])]

    def __str__(self):
        return f"{self.user} @ {self.tenant} as {self.role}"

    @property
    def is_core(self):
        return self.role in CORE_ROLES


class TotpDevice(models.Model):
    """A user's TOTP enrolment, required before money actions (see CONTRACT: 2FA)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device")
    secret = models.CharField(max_length=64)
    confirmed = models.BooleanField(default=True)
    last_used_step = models.BigIntegerField(default=0)  # refuses replay of a code already used
    created_at = models.DateTimeField(auto_now_add=True)


class TotpVerification(models.Model):
    """Marks an API token or a session as TOTP-verified until `expires_at`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    credential = models.CharField(max_length=128, unique=True)  # "token:<key hash>" or "session:<key hash>"
    expires_at = models.DateTimeField()


class InvitationKind(models.TextChoices):
    MEMBER = "member", _("Member")
    PARTNER = "partner", _("Partner organisation")


class InvitationState(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    REVOKED = "revoked", _("Revoked")
    EXPIRED = "expired", _("Expired")


class Invitation(models.Model):
    """A tenant admin's offer to a person (member) or an organisation (partner) to join the tenant.

    Nothing joins a tenant without the other side's consent: the invitation names what the admin
    typed, unresolved, and only the person it names (or a representative of the organisation)
    sees and answers it. So creating one never tells the admin whether the name exists.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    kind = models.CharField(max_length=10, choices=InvitationKind.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # member: the username or e-mail as typed; matched against a username exactly, an e-mail case-insensitively
    invitee = models.CharField(max_length=254, blank=True)
    invitee_email = models.CharField(max_length=254, blank=True)  # lower-cased, when `invitee` is an e-mail
    # member: the tenant's organisation or one of its partners the user will act for;
    # partner: the slug of the organisation invited, as typed (the row is set when it accepts)
    organization_slug = models.CharField(max_length=50)
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=30, blank=True)  # member: the membership's role
    partner_kind = models.CharField(max_length=20, blank=True)  # partner: the partnership's kind
    token_hash = models.CharField(max_length=64, unique=True)  # sha256 of the link's token; the token is never stored
    state = models.CharField(max_length=10, choices=InvitationState.choices, default=InvitationState.PENDING)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": {Role.TENANT_ADMIN}, "change": {Role.TENANT_ADMIN}, "add": {Role.TENANT_ADMIN}},
    )

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "state", "kind"]),
            models.Index(fields=["invitee", "state"]),
            models.Index(fields=["invitee_email", "state"]),
            models.Index(fields=["organization_slug", "state"]),
        ]

    def __str__(self):
        return f"{self.kind} invitation to {self.tenant}: {self.invitee or self.organization_slug}"

    @property
    def role_label(self):
        return Role(self.role).label if self.role in Role.values else self.role

    @property
    def partner_kind_label(self):
        return OrganizationKind(self.partner_kind).label if self.partner_kind in OrganizationKind.values else ""

    def current_state(self, now=None):
        """The state as of `now`: a pending invitation past its expiry is expired."""
        if self.state == InvitationState.PENDING and self.expires_at <= (now or timezone.now()):
            return InvitationState.EXPIRED
        return self.state

    def current_state_label(self):
        return InvitationState(self.current_state()).label
