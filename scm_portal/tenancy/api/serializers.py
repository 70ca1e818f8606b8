from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from scm_portal.api.serializers import (
    StrictBooleanField,
    StrictCharField,
    StrictModelSerializer,
    StrictSerializer,
    TenantScopedSlugRelatedField,
)
from scm_portal.tenancy import services
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
from scm_portal.tenancy.roles import ALL_ROLES, PARTNER_KIND_CHOICES, Role


class TokenRequestSerializer(StrictSerializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()


class TotpRequestSerializer(StrictSerializer):
    code = serializers.RegexField(r"^[0-9]{6}$", error_messages={"invalid": _("Enter the 6-digit code.")})


class TotpResponseSerializer(serializers.Serializer):
    verified_until = serializers.DateTimeField()


class MeMembershipSerializer(serializers.Serializer):
    tenant = serializers.CharField(source="tenant.slug")
    tenant_name = serializers.CharField(source="tenant.name")
    organization = serializers.CharField(source="organization.slug")
    role = serializers.CharField()


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    email = serializers.EmailField()
    totp_enrolled = serializers.BooleanField()
    language = serializers.ChoiceField(choices=settings.LANGUAGES, help_text="What the user reads the portal in when a request's Accept-Language names no supported language.")
    memberships = MeMembershipSerializer(many=True)


class MeUpdateSerializer(StrictSerializer):
    language = serializers.ChoiceField(choices=settings.LANGUAGES)


class TenantSerializer(serializers.ModelSerializer):
    my_roles = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = ["slug", "name", "default_language", "time_zone", "my_roles"]

    def get_my_roles(self, tenant) -> list[str]:
        return sorted(self.context.get("roles", ()))


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["slug", "name", "kind"]


@extend_schema_field(OpenApiTypes.STR)
class OrganizationSlugField(TenantScopedSlugRelatedField):
    """An organisation of this tenant (its own or a partner), by slug. A malformed slug is refused
    before the database sees it (a NUL byte would be a database error)."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or not slug_validator.regex.match(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class QuietChoiceField(serializers.ChoiceField):
    """A choice whose error does not echo the value (it may hold what JSON cannot encode)."""

    default_error_messages = {"invalid_choice": _("Not one of the allowed values.")}


# A plain string in the schema: an enum here would rename the alerts' StateEnum component.
@extend_schema_field({"type": "string", "description": "pending, accepted, declined, revoked or expired"})
class InvitationStateField(serializers.SerializerMethodField):
    pass


class PartnershipSerializer(serializers.ModelSerializer):
    organization = serializers.CharField(source="organization.slug", read_only=True)
    organization_name = serializers.CharField(source="organization.name", read_only=True)

    class Meta:
        model = Partnership
        fields = ["id", "organization", "organization_name", "kind", "active", "created_at"]
        read_only_fields = fields


def _django_errors(exc):
    return serializers.ValidationError(exc.messages, code=getattr(exc, "code", None) or "invalid")


class PartnerInviteSerializer(StrictSerializer):
    """POST partners/: invites an organisation by its code. The code is checked for its form only."""

    organization = StrictCharField(max_length=50, help_text="The organisation's code (slug), as its people gave it.")
    kind = QuietChoiceField(choices=PARTNER_KIND_CHOICES)

    def validate_organization(self, value):
        try:
            return services.check_organization_slug(value)
        except DjangoValidationError as exc:
            raise _django_errors(exc) from None


class PartnershipUpdateSerializer(StrictModelSerializer):
    active = StrictBooleanField()

    class Meta:
        model = Partnership
        fields = ["active"]


def _membership_organizations(tenant, user):
    # The tenant's own organisation or one of its partners; never another tenant's.
    partner_ids = Partnership.objects.for_tenant(tenant).values("organization_id")
    return Organization.objects.filter(pk__in=partner_ids) | Organization.objects.filter(pk=tenant.organization_id)


class MembershipSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    organization = serializers.CharField(source="organization.slug", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "organization", "role", "active", "created_at"]
        read_only_fields = fields


class MemberInviteSerializer(StrictSerializer):
    """POST memberships/: invites a person by username or e-mail, checked for its form only."""

    user = StrictCharField(max_length=254, help_text="A username or an e-mail address.")
    organization = OrganizationSlugField(slug_field="slug", scope=_membership_organizations)
    role = QuietChoiceField(choices=[(r.value, r.label) for r in Role if r in ALL_ROLES])

    def validate_user(self, value):
        try:
            invitee, _email = services.check_invitee(value)
        except DjangoValidationError as exc:
            raise _django_errors(exc) from None
        return invitee


class InvitationSerializer(serializers.ModelSerializer):
    """An invitation as the tenant's admins see it: only what was typed, never what it resolves to."""

    organization = serializers.CharField(source="organization_slug", read_only=True)
    state = InvitationStateField()
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Invitation
        fields = [
            "id", "kind", "invitee", "organization", "role", "partner_kind", "state",
            "invited_by", "created_at", "expires_at", "answered_at",
        ]
        read_only_fields = fields

    def get_state(self, invitation) -> str:
        return invitation.current_state()


class InvitationCreatedSerializer(InvitationSerializer):
    link = serializers.SerializerMethodField(help_text="The invitation's page for the invitee; shown this once.")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "link"]
        read_only_fields = fields

    def get_link(self, invitation) -> str:
        return self.context["link"]


class ReceivedInvitationSerializer(serializers.ModelSerializer):
    """An invitation as its invitee sees it."""

    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    tenant_name = serializers.CharField(source="tenant.name", read_only=True)
    organization = serializers.CharField(source="organization_slug", read_only=True)
    organization_name = serializers.CharField(read_only=True, allow_null=True, default=None)
    state = InvitationStateField()
    invited_by = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = [
            "id", "kind", "tenant", "tenant_name", "organization", "organization_name", "role", "partner_kind",
            "state", "invited_by", "created_at", "expires_at", "answered_at",
        ]
        read_only_fields = fields

    def get_state(self, invitation) -> str:
        return invitation.current_state()

    def get_invited_by(self, invitation) -> str | None:
        inviter = invitation.invited_by
        return (inviter.get_full_name() or inviter.username) if inviter else None


INVITATION_STATES = [s.value for s in InvitationState]
INVITATION_KINDS = [k.value for k in InvitationKind]


class MembershipUpdateSerializer(StrictModelSerializer):
    active = StrictBooleanField()

    class Meta:
        model = Membership
        fields = ["active"]
