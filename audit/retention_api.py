"""The retention API under /api/v1/t/{tenant}/ (thin: validation here, writes in audit.retention).

retention-policies/                GET   one row per room kind
retention-policies/{room_kind}/    GET, PUT {"days": 1..36500 | null}
legal-holds/                       GET (?active=true|false), POST {"room": id} or {"subject": {"kind", "id"}}, "reason"
legal-holds/{id}/                  GET
legal-holds/{id}/release/          POST {"reason"}

The tenant admin writes; the auditor reads; every other member gets 403.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import retention
from audit.retention_models import RETENTION_DAYS_MAX, RETENTION_DAYS_MIN, LegalHold, RetentionPolicy
from messaging.models import RoomKind
from scm_portal.api.errors import Conflict
from scm_portal.api.serializers import StrictCharField, StrictSerializer
from scm_portal.api.viewsets import TenantContextMixin, TenantScopedViewSet
from scm_portal.tenancy.security import client_ip


def _ip(request):
    return client_ip(request) or None


def _user(user):
    return user.username if user is not None else None


class RetentionPolicySerializer(serializers.Serializer):
    room_kind = serializers.CharField()
    label = serializers.CharField()
    days = serializers.IntegerField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class RetentionPolicyPageSerializer(serializers.Serializer):
    results = RetentionPolicySerializer(many=True)
    next = serializers.CharField(allow_null=True)


class StrictIntegerField(serializers.IntegerField):
    """A whole number only: "30", 30.0 and true are type errors, not silently converted."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class RetentionPolicyWriteSerializer(StrictSerializer):
    days = StrictIntegerField(allow_null=True, min_value=RETENTION_DAYS_MIN, max_value=RETENTION_DAYS_MAX)


def policy_data(policy):
    return {"room_kind": policy.room_kind, "label": str(RoomKind(policy.room_kind).label), "days": policy.days,
            "updated_by": _user(policy.updated_by) if policy.updated_by_id else None,
            "updated_at": policy.updated_at.isoformat() if policy.updated_at else None}


def _room_kind(value):
    try:
        return retention.check_room_kind(value)
    except ValidationError:
        raise exceptions.ValidationError({"room_kind": [_("Unknown room kind; use one of: %(kinds)s.")
                                                        % {"kinds": ", ".join(RoomKind.values)}]}) from None


def _check_reader(context, model):
    if not context.roles & model.access_policy.roles("view"):
        raise PermissionDenied


class RetentionPolicyListView(TenantContextMixin, APIView):
    @extend_schema(operation_id="t_retention_policies_list", responses={200: RetentionPolicyPageSerializer})
    def get(self, request, tenant):
        rows = retention.retention_policy_list(user=request.user, context=self.tenant_context)
        return Response({"results": [policy_data(p) for p in rows], "next": None})


class RetentionPolicyDetailView(TenantContextMixin, APIView):
    model = RetentionPolicy  # named by its room kind, not by id (the schema crawler probes it)
    @extend_schema(responses={200: RetentionPolicySerializer})
    def get(self, request, tenant, room_kind):
        rows = retention.retention_policy_list(user=request.user, context=self.tenant_context)
        room_kind = _room_kind(room_kind)
        return Response(policy_data(next(p for p in rows if p.room_kind == room_kind)))

    @extend_schema(request=RetentionPolicyWriteSerializer, responses={200: RetentionPolicySerializer})
    def put(self, request, tenant, room_kind):
        _check_reader(self.tenant_context, RetentionPolicy)
        if not self.tenant_context.roles & RetentionPolicy.access_policy.roles("change"):
            raise PermissionDenied
        room_kind = _room_kind(room_kind)
        data = RetentionPolicyWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "days" not in data.validated_data:
            raise exceptions.ValidationError({"days": [_("This field is required.")]})
        policy = retention.retention_policy_set(tenant=self.tenant, actor=request.user, context=self.tenant_context,
                                                room_kind=room_kind, days=data.validated_data["days"],
                                                ip=_ip(request))
        return Response(policy_data(policy))


class LegalHoldSubjectSerializer(StrictSerializer):
    kind = StrictCharField(max_length=40)
    id = serializers.CharField(max_length=64)  # a PO number or a numeric id

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("id"), int) and not isinstance(data.get("id"), bool):
            data = {**data, "id": str(data["id"])}
        return super().to_internal_value(data)


class LegalHoldSerializer(serializers.ModelSerializer):
    room_name = serializers.SerializerMethodField()
    subject = serializers.SerializerMethodField()
    placed_by = serializers.SerializerMethodField()
    released_by = serializers.SerializerMethodField()
    active = serializers.BooleanField(read_only=True)

    class Meta:
        model = LegalHold
        fields = ["id", "room", "room_name", "subject", "reason", "placed_by", "placed_at", "active", "released_at",
                  "released_by", "release_reason"]
        read_only_fields = fields

    def get_room_name(self, hold) -> str | None:
        return hold.room.name if hold.room_id else None

    def get_subject(self, hold) -> dict | None:
        return {"kind": hold.subject_kind, "id": hold.subject_ref} if hold.subject_kind else None

    def get_placed_by(self, hold) -> str:
        return _user(hold.placed_by)

    def get_released_by(self, hold) -> str | None:
        return _user(hold.released_by) if hold.released_by_id else None


class LegalHoldCreateSerializer(StrictSerializer):
    room = StrictIntegerField(required=False, min_value=1)
    subject = LegalHoldSubjectSerializer(required=False)
    reason = StrictCharField(max_length=2000)

    def validate(self, attrs):
        if ("room" in attrs) == ("subject" in attrs):
            raise serializers.ValidationError({"room": [_("Hold either a room or a record (subject), not both.")]})
        return attrs


class ReleaseSerializer(StrictSerializer):
    reason = StrictCharField(max_length=2000)


class LegalHoldViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = LegalHold
    serializer_class = LegalHoldSerializer
    action_permissions = {"release": "release"}

    def check_permissions(self, request):
        super().check_permissions(request)
        if not self.roles_allow("view"):
            raise exceptions.PermissionDenied()
        if self.action in ("create", "release") and not self.roles_allow("add"):
            raise exceptions.PermissionDenied()

    @extend_schema(parameters=[OpenApiParameter("active", str, enum=["true", "false"])])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def safely_get_queryset(self, queryset):
        active = self.request.query_params.get("active")
        if active not in (None, "true", "false"):
            raise exceptions.ValidationError({"active": [_("Use true or false.")]})
        if active is not None:
            queryset = queryset.filter(released_at__isnull=active == "true")
        return queryset.select_related("room", "placed_by", "released_by").order_by("-placed_at", "-pk")

    @extend_schema(request=LegalHoldCreateSerializer, responses={201: LegalHoldSerializer})
    def create(self, request, tenant=None):
        data = LegalHoldCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        room = None
        if "room" in values:
            room = retention.retention_room_get(tenant=self.tenant, room_id=values["room"])
            if room is None:
                raise exceptions.ValidationError({"room": [_("Unknown room.")]})
        subject = values.get("subject") or {}
        hold = retention.legal_hold_place(tenant=self.tenant, actor=request.user, context=self.tenant_context,
                                          reason=values["reason"], room=room, subject_kind=subject.get("kind", ""),
                                          subject_ref=subject.get("id", ""), ip=_ip(request))
        return Response(LegalHoldSerializer(hold).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReleaseSerializer, responses={200: LegalHoldSerializer})
    @action(detail=True, methods=["post"])
    def release(self, request, tenant=None, pk=None):
        hold = self.get_object()
        data = ReleaseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if hold.released_at is not None:
            raise Conflict(_("This hold is released already."))
        hold = retention.legal_hold_release(tenant=self.tenant, actor=request.user, context=self.tenant_context,
                                            hold=hold, reason=data.validated_data["reason"], ip=_ip(request))
        return Response(LegalHoldSerializer(hold).data)
