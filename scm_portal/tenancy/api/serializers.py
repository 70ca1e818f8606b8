from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from scm_portal.api.serializers import (
    StrictBooleanField,
    StrictCharField,
    StrictModelSerializer,
    StrictSerializer,
    TenantScopedSlugRelatedField,
)
from scm_portal.tenancy.models import Membership, Organization, Partnership, Tenant
from scm_portal.tenancy.roles import ALL_ROLES, PARTNER_KINDS, Role


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
    memberships = MeMembershipSerializer(many=True)


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


def _partner_organizations(tenant, user):
    # Any non-core organisation may become a partner; the service refuses core ones.
    return Organization.objects.exclude(kind="core")


class PartnershipSerializer(StrictModelSerializer):
    organization = TenantScopedSlugRelatedField(slug_field="slug", scope=_partner_organizations)
    organization_name = serializers.CharField(source="organization.name", read_only=True)
    kind = serializers.ChoiceField(choices=[(k.value, k.label) for k in PARTNER_KINDS])

    class Meta:
        model = Partnership
        fields = ["id", "organization", "organization_name", "kind", "active", "created_at"]
        read_only_fields = ["id", "created_at"]


class PartnershipUpdateSerializer(StrictModelSerializer):
    active = StrictBooleanField()

    class Meta:
        model = Partnership
        fields = ["active"]


def _membership_organizations(tenant, user):
    # The tenant's own organisation or one of its partners; never another tenant's.
    partner_ids = Partnership.objects.for_tenant(tenant).values("organization_id")
    return Organization.objects.filter(pk__in=partner_ids) | Organization.objects.filter(pk=tenant.organization_id)


class MembershipSerializer(StrictModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.filter(is_active=True))
    organization = TenantScopedSlugRelatedField(slug_field="slug", scope=_membership_organizations)
    role = serializers.ChoiceField(choices=[(r.value, r.label) for r in Role if r in ALL_ROLES])

    class Meta:
        model = Membership
        fields = ["id", "user", "organization", "role", "active", "created_at"]
        read_only_fields = ["id", "active", "created_at"]


class MembershipUpdateSerializer(StrictModelSerializer):
    active = StrictBooleanField()

    class Meta:
        model = Membership
        fields = ["active"]
