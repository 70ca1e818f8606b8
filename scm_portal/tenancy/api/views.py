from axes.exceptions import AxesBackendPermissionDenied
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from scm_portal.api.errors import json_error_response
from scm_portal.api.viewsets import TenantContextMixin, TenantListCreateRetrieveUpdateViewSet, TenantScopedViewSet
from scm_portal.tenancy import services, totp
from scm_portal.tenancy.access import access_received_invitation
from scm_portal.tenancy.api import serializers as s
from scm_portal.tenancy.language import activate_request_language, user_language
from scm_portal.tenancy.models import Invitation, Membership, Partnership
from scm_portal.tenancy.roles import PARTNER_KIND_CHOICES
from scm_portal.tenancy.signals import send_user_security_event
from scm_portal.tenancy.selectors import (
    invitation_filter_pending,
    invitation_filter_state,
    invitation_list_received,
    membership_list_for_user,
)


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
        try:
            verification = totp.totp_verify(request=request, user=request.user, code=data.validated_data["code"])
        except ValidationError:
            # After the verification's transaction rolled back, so the record of the failure stays.
            send_user_security_event(user=request.user, action="auth.totp_failed", request=request)
            raise
        return Response({"verified_until": verification.expires_at})


class MeView(APIView):
    """The user and their memberships; PATCH {"language"} saves the language they read in."""

    permission_classes = [IsAuthenticated]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        activate_request_language(request)  # authenticated by now (a token is known only here)

    @extend_schema(responses={200: s.MeSerializer})
    def get(self, request):
        return Response(self._me(request.user))

    @extend_schema(request=s.MeUpdateSerializer, responses={200: s.MeSerializer})
    def patch(self, request):
        data = s.MeUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_language_set(user=request.user, language=data.validated_data["language"])
        return Response(self._me(request.user))

    @staticmethod
    def _me(user):
        memberships = list(membership_list_for_user(user))
        body = {
            "id": user.id,
            "username": user.username,
            "display_name": user.get_full_name() or user.username,
            "email": user.email,
            "totp_enrolled": hasattr(user, "totp_device"),
            # Saved, else what they read without an Accept-Language: their first tenant's default.
            "language": user_language(user, memberships[0].tenant if memberships else None),
            "memberships": memberships,
        }
        return s.MeSerializer(body).data


class TenantDetailView(TenantContextMixin, APIView):
    """The tenant named in the URL, with the caller's roles in it."""

    @extend_schema(responses={200: s.TenantSerializer})
    def get(self, request, tenant=None):
        return Response(s.TenantSerializer(self.tenant, context={"roles": self.roles}).data)


def _invitation_created(view, request, invitation, token):
    """202 with the invitation as typed: the same body whether or not the name exists anywhere."""
    link = request.build_absolute_uri(reverse("invitation-link", kwargs={"token": token}))
    body = s.InvitationCreatedSerializer(invitation, context={**view.get_serializer_context(), "link": link}).data
    return Response(body, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("kind", str, enum=[value for value, _label in PARTNER_KIND_CHOICES]),
]))
class PartnershipViewSet(TenantListCreateRetrieveUpdateViewSet):
    """Partner organisations of the tenant. Core staff see all; a partner sees its own.

    POST invites an organisation: it becomes a partner when one of its representatives accepts."""

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
        if self.action == "create":
            return s.PartnerInviteSerializer
        return s.PartnershipSerializer

    @extend_schema(request=s.PartnerInviteSerializer, responses={202: s.InvitationCreatedSerializer})
    def create(self, request, tenant=None):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, token = services.invitation_create_partner(
            tenant=self.tenant,
            actor=request.user,
            organization_slug=data.validated_data["organization"],
            kind=data.validated_data["kind"],
        )
        return _invitation_created(self, request, invitation, token)

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


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("role", str)]))
class MembershipViewSet(TenantListCreateRetrieveUpdateViewSet):
    """Who holds which role in the tenant. Tenant admins manage all; others see their own.

    POST invites a person: the membership exists once they accept."""

    model = Membership
    serializer_class = s.MembershipSerializer

    def safely_get_queryset(self, queryset):
        queryset = queryset.select_related("organization", "user")
        role = self.request.query_params.get("role")
        if role:
            queryset = queryset.filter(role=role)
        return queryset

    def get_serializer_class(self):
        if self.action == "partial_update":
            return s.MembershipUpdateSerializer
        if self.action == "create":
            return s.MemberInviteSerializer
        return s.MembershipSerializer

    @extend_schema(request=s.MemberInviteSerializer, responses={202: s.InvitationCreatedSerializer})
    def create(self, request, tenant=None):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, token = services.invitation_create_member(
            tenant=self.tenant,
            actor=request.user,
            invitee=data.validated_data["user"],
            organization=data.validated_data["organization"],
            role=data.validated_data["role"],
        )
        return _invitation_created(self, request, invitation, token)

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


def _not_answerable(exc):
    return json_error_response(exc.code, exc.message, status.HTTP_409_CONFLICT)


_STATE_FILTER = OpenApiParameter("state", str, enum=s.INVITATION_STATES, description="Only invitations in this state.")
_KIND_FILTER = OpenApiParameter("kind", str, enum=s.INVITATION_KINDS, description="Only member or partner invitations.")


@extend_schema_view(list=extend_schema(parameters=[_STATE_FILTER, _KIND_FILTER]))
class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's invitations, for its admins: list, read, revoke. Created by POST memberships/ and partners/."""

    model = Invitation
    serializer_class = s.InvitationSerializer
    http_method_names = ["get", "post", "head", "options"]
    action_permissions = {"revoke": "change"}

    def safely_get_queryset(self, queryset):
        queryset = queryset.select_related("invited_by")
        state = self.request.query_params.get("state")
        if state:
            if state not in s.INVITATION_STATES:
                raise exceptions.ValidationError({"state": [_("Unknown state.")]})
            queryset = invitation_filter_state(queryset, state)
        kind = self.request.query_params.get("kind")
        if kind:
            if kind not in s.INVITATION_KINDS:
                raise exceptions.ValidationError({"kind": [_("Unknown kind.")]})
            queryset = queryset.filter(kind=kind)
        return queryset

    @extend_schema(request=None, responses={200: s.InvitationSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, tenant=None, pk=None):
        invitation = self.get_object()
        try:
            invitation = services.invitation_revoke(tenant=self.tenant, actor=request.user, invitation=invitation)
        except services.InvitationNotAnswerable as exc:
            return _not_answerable(exc)
        return Response(s.InvitationSerializer(invitation, context=self.get_serializer_context()).data)


class ReceivedInvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The caller's own invitations, from any tenant: those naming them, or an organisation they
    represent. The list holds the pending ones; accept or decline each."""

    serializer_class = s.ReceivedInvitationSerializer
    permission_classes = [IsAuthenticated]
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        received = invitation_list_received(self.request.user)
        return invitation_filter_pending(received) if self.action == "list" else received

    def get_object(self):
        return access_received_invitation(self.request.user, self.kwargs.get("pk"))

    def _answered(self, request, pk):
        invitation = access_received_invitation(request.user, pk)  # read again, with its names
        return Response(s.ReceivedInvitationSerializer(invitation, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={200: s.ReceivedInvitationSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        try:
            services.invitation_accept(invitation=self.get_object(), actor=request.user)
        except services.InvitationNotAnswerable as exc:
            return _not_answerable(exc)
        return self._answered(request, pk)

    @extend_schema(request=None, responses={200: s.ReceivedInvitationSerializer})
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        try:
            services.invitation_decline(invitation=self.get_object(), actor=request.user)
        except services.InvitationNotAnswerable as exc:
            return _not_answerable(exc)
        return self._answered(request, pk)
