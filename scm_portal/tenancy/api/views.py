from axes.exceptions import AxesBackendPermissionDenied
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from scm_portal.api.errors import json_error_response
from scm_portal.api.viewsets import TenantContextMixin, TenantListCreateRetrieveUpdateViewSet
from scm_portal.tenancy import services, totp
from scm_portal.tenancy.api import serializers as s
from scm_portal.tenancy.models import Membership, Partnership
from scm_portal.tenancy.selectors import memberships_for_user


class TokenView(APIView):
    """Exchanges a username and password for an API token (lockout applies)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=s.TokenRequestSerializer, responses={200: s.TokenResponseSerializer})
    def post(self, request):
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = authenticate(
                request=request,
                username=data.validated_data["username"],
                password=data.validated_data["password"],
            )
        except AxesBackendPermissionDenied:
            user = None
        if getattr(request, "axes_locked_out", False):
            return json_error_response(
                "locked_out",
                _("Too many failed logins for this account from your address. Try again in an hour."),
                status.HTTP_429_TOO_MANY_REQUESTS,
            )
        if user is None or not user.is_active:
            return json_error_response(
                "invalid_credentials", _("Unable to log in with these credentials."), status.HTTP_400_BAD_REQUEST
            )
        # Same signal as a page login: records last_login and resets the lockout counter.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class TotpVerifyView(APIView):
    """Marks the caller's token (or session) as verified for money actions."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.TotpRequestSerializer, responses={200: s.TotpResponseSerializer})
    def post(self, request):
        data = s.TotpRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        verification = totp.totp_verify(request=request, user=request.user, code=data.validated_data["code"])
        return Response({"verified_until": verification.expires_at})


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: s.MeSerializer})
    def get(self, request):
        user = request.user
        body = {
            "id": user.id,
            "username": user.username,
            "display_name": user.get_full_name() or user.username,
            "email": user.email,
            "totp_enrolled": hasattr(user, "totp_device"),
            "memberships": list(memberships_for_user(user)),
        }
        return Response(s.MeSerializer(body).data)


class TenantDetailView(TenantContextMixin, APIView):
    """The tenant named in the URL, with the caller's roles in it."""

    @extend_schema(responses={200: s.TenantSerializer})
    def get(self, request, tenant=None):
        return Response(s.TenantSerializer(self.tenant, context={"roles": self.roles}).data)


class PartnershipViewSet(TenantListCreateRetrieveUpdateViewSet):
    """Partner organisations of the tenant. Core staff see all; a partner sees its own."""

    model = Partnership
    serializer_class = s.PartnershipSerializer

    def safely_get_queryset(self, queryset):
        queryset = queryset.select_related("organization")
        kind = self.request.query_params.get("kind")
        if kind:
            queryset = queryset.filter(kind=kind)
        return queryset

    def get_serializer_class(self):
        if self.action == "partial_update":
            return s.PartnershipUpdateSerializer
        return s.PartnershipSerializer

    @extend_schema(request=s.PartnershipSerializer, responses={201: s.PartnershipSerializer})
    def create(self, request, tenant=None):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        partnership = services.partnership_create(
            tenant=self.tenant,
            actor=request.user,
            organization=data.validated_data["organization"],
            kind=data.validated_data["kind"],
        )
        if "active" in data.validated_data and not data.validated_data["active"]:
            services.partnership_set_active(tenant=self.tenant, actor=request.user, partnership=partnership, active=False)
        return Response(s.PartnershipSerializer(partnership, context=self.get_serializer_context()).data, status=201)

    @extend_schema(request=s.PartnershipUpdateSerializer, responses={200: s.PartnershipSerializer})
    def partial_update(self, request, tenant=None, pk=None):
        partnership = self.get_object()
        data = s.PartnershipUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "active" in data.validated_data:
            services.partnership_set_active(
                tenant=self.tenant, actor=request.user, partnership=partnership, active=data.validated_data["active"]
            )
        return Response(s.PartnershipSerializer(partnership, context=self.get_serializer_context()).data)


class MembershipViewSet(TenantListCreateRetrieveUpdateViewSet):
    """Who holds which role in the tenant. Tenant admins manage all; others see their own."""

    model = Membership
    serializer_class = s.MembershipSerializer

    def safely_get_queryset(self, queryset):
        queryset = queryset.select_related("organization", "user")
        role = self.request.query_params.get("role")
        if role:
            queryset = queryset.filter(role=role)
        return queryset

    @extend_schema(request=s.MembershipSerializer, responses={201: s.MembershipSerializer})
    def create(self, request, tenant=None):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_create(tenant=self.tenant, actor=request.user, **data.validated_data)
        return Response(s.MembershipSerializer(membership, context=self.get_serializer_context()).data, status=201)

    @extend_schema(request=s.MembershipUpdateSerializer, responses={200: s.MembershipSerializer})
    def partial_update(self, request, tenant=None, pk=None):
        membership = self.get_object()
        data = s.MembershipUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "active" in data.validated_data:
            services.membership_set_active(
                tenant=self.tenant, actor=request.user, membership=membership, active=data.validated_data["active"]
            )
        return Response(s.MembershipSerializer(membership, context=self.get_serializer_context()).data)
