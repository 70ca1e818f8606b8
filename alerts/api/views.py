"""Alerts, escalation policies, notifications and alert KPIs over HTTP."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts import selectors, services
from alerts.api import serializers as s
from alerts.models import Alert, AlertState, EscalationPolicy, Notification
from scm_portal.api.params import datetime_param
from scm_portal.api.viewsets import TenantContextMixin, TenantListCreateRetrieveUpdateViewSet, TenantScopedViewSet


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("state", str, enum=AlertState.values), OpenApiParameter("kind", str),
    OpenApiParameter("mine", str, enum=["1", "true"], description="Only alerts addressed to me."),
]))
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Alerts the user may see; `?state=open&kind=<kind>&mine=1`."""

    model = Alert
    serializer_class = s.AlertSerializer
    action_permissions = {"ack": "change", "start": "change", "resolve": "change"}

    def safely_get_queryset(self, queryset):
        params = self.request.query_params
        # The selector holds the one definition of `mine`; what it returns is scoped again by the base.
        mine = params.get("mine") in {"1", "true"}
        queryset = selectors.alert_list(user=self.request.user, tenant=self.tenant, context=self.tenant_context,
                                        mine=mine)
        queryset = queryset.select_related("acknowledged_by", "started_by", "resolved_by")
        state = params.get("state")
        if state:
            if state not in AlertState.values:
                raise exceptions.ValidationError({"state": [_("Unknown state.")]})
            queryset = queryset.filter(state=state)
        kind = params.get("kind")
        return queryset.filter(kind=kind) if kind else queryset

    def _transition(self, service):
        alert = self.get_object()
        alert = service(tenant=self.tenant, actor=self.request.user, context=self.tenant_context, alert=alert)
        return Response(s.AlertSerializer(alert).data)

    @extend_schema(request=None, responses={200: s.AlertSerializer})
    @action(detail=True, methods=["post"])
    def ack(self, request, tenant=None, pk=None):
        return self._transition(services.alert_acknowledge)

    @extend_schema(request=None, responses={200: s.AlertSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request, tenant=None, pk=None):
        return self._transition(services.alert_start)

    @extend_schema(request=None, responses={200: s.AlertSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, tenant=None, pk=None):
        return self._transition(services.alert_resolve)


class EscalationPolicyViewSet(TenantListCreateRetrieveUpdateViewSet):
    model = EscalationPolicy
    serializer_class = s.EscalationPolicySerializer

    def perform_create(self, serializer):
        serializer.instance = services.escalation_policy_save(
            tenant=self.tenant, actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.escalation_policy_save(
            tenant=self.tenant, actor=self.request.user, policy=serializer.instance, **serializer.validated_data)


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("unread", str, enum=["1", "true"])]))
class NotificationViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """The user's own in-app notices, newest first (what the page header's bell lists).

    GET notifications/count/ answers `{"unread": n}` (counted up to 100: the bell shows 99+);
    POST notifications/read/ marks them read: `{"ids": [...]}` those notices, no body all of them.
    """

    model = Notification
    serializer_class = s.NotificationSerializer
    action_permissions = {"read": "view", "count": "view"}
    read_only_roles_may = frozenset({"read"})  # the reader's own notices

    def safely_get_queryset(self, queryset):
        # The selector holds the one definition of "my notices"; the base scopes it again.
        return selectors.notification_list(user=self.request.user, tenant=self.tenant, context=self.tenant_context,
                                           unread=self.request.query_params.get("unread") in {"1", "true"})

    def _unread(self):
        return selectors.notification_unread_count(user=self.request.user, tenant=self.tenant,
                                                   context=self.tenant_context)

    @extend_schema(responses={200: s.NotificationCountSerializer})
    @action(detail=False, methods=["get"])
    def count(self, request, tenant=None):
        return Response({"unread": self._unread()})

    @extend_schema(request=s.NotificationReadSerializer, responses={200: s.NotificationReadResultSerializer})
    @action(detail=False, methods=["post"])
    def read(self, request, tenant=None):
        serializer = s.NotificationReadSerializer(data=request.data)  # no body: every unread notice
        serializer.is_valid(raise_exception=True)
        marked = services.notification_mark_read(tenant=self.tenant, actor=request.user, context=self.tenant_context,
                                                 ids=serializer.validated_data.get("ids"))
        return Response({"marked": marked, "unread": self._unread()})


class AlertKpiView(TenantContextMixin, APIView):
    """`?since=&until=` (ISO 8601; default the last 30 days)."""

    @extend_schema(
        parameters=[OpenApiParameter("since", OpenApiTypes.DATETIME), OpenApiParameter("until", OpenApiTypes.DATETIME)],
        responses={200: s.KpiSerializer},
    )
    def get(self, request, tenant):
        until = datetime_param(request, "until", timezone.now())
        since = datetime_param(request, "since", until - timedelta(days=30))
        if since >= until or until - since > timedelta(days=366):
            raise exceptions.ValidationError({"since": [_("Choose a period of at most a year; since must be before until.")]})
        data = selectors.alert_kpis(user=request.user, tenant=self.tenant, context=self.tenant_context, since=since,
                                    until=until)
        return Response(s.KpiSerializer(data).data)
