from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from inventory import selectors, services
from inventory.api import serializers as s
from inventory.models import SKU, ReplenishmentRequest, ReplenishmentRule, StockLevel, StockMovement, Warehouse
from scm_portal.api.parsers import BodyRefused
from scm_portal.api.viewsets import TenantListCreateRetrieveUpdateViewSet, TenantScopedViewSet


class WarehouseViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = Warehouse
    serializer_class = s.WarehouseSerializer

    def perform_create(self, serializer):
        serializer.instance = services.warehouse_create(tenant=self.tenant, actor=self.request.user, **serializer.validated_data)


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("code", str, description="Only this SKU.")]))
class SKUViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = SKU
    serializer_class = s.SKUSerializer

    def safely_get_queryset(self, queryset):
        queryset = queryset.select_related("default_supplier")
        code = self.request.query_params.get("code")
        return queryset.filter(code=code) if code else queryset

    def perform_create(self, serializer):
        serializer.instance = services.sku_create(tenant=self.tenant, actor=self.request.user, **serializer.validated_data)


class StockViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """GET stock/?sku=CODE&warehouse=CODE; POST stock/movements/ (one object or a list up to 5,000)."""

    model = StockLevel
    serializer_class = s.StockLevelSerializer
    action_permissions = {"movements": "add"}

    def safely_get_queryset(self, queryset):
        params = self.request.query_params
        return selectors.stock_level_list_from(queryset, params.get("sku"), params.get("warehouse"))

    @extend_schema(parameters=[OpenApiParameter("sku", str), OpenApiParameter("warehouse", str)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.MovementSerializer(many=True), responses={201: s.MovementResultSerializer})
    @action(detail=False, methods=["post"], url_path="movements")
    def movements(self, request, tenant=None):
        try:
            rows = request.data
        except BodyRefused as refused:  # named like every other bad row: {"rows": {index: {field: [...]}}}
            raise refused.in_row_errors("rows") from None
        result = services.stock_movement_ingest(tenant=self.tenant, actor=request.user, rows=rows)
        return Response(result, status=status.HTTP_201_CREATED)

    def roles_allow(self, permission):
        if self.action == "movements":
            return bool(StockMovement.access_policy.core["add"] & set(self.roles))
        return super().roles_allow(permission)


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("sku", str, description="Only this SKU's rules.")]))
class RuleViewSet(TenantListCreateRetrieveUpdateViewSet):
    model = ReplenishmentRule
    serializer_class = s.RuleSerializer

    def safely_get_queryset(self, queryset):
        queryset = queryset.select_related("sku", "warehouse", "supplier").order_by("sku__code", "warehouse__code")
        sku = self.request.query_params.get("sku")
        return queryset.filter(sku__code=sku) if sku else queryset

    def get_serializer_class(self):
        return s.RuleUpdateSerializer if self.action == "partial_update" else s.RuleSerializer

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.rule_upsert(tenant=self.tenant, actor=self.request.user, **data)

    def perform_update(self, serializer):
        rule = serializer.instance
        serializer.instance = services.rule_upsert(
            tenant=self.tenant, actor=self.request.user, sku=rule.sku, warehouse=rule.warehouse, **serializer.validated_data
        )


class ReplenishmentRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = ReplenishmentRequest
    serializer_class = s.ReplenishmentRequestSerializer

    def safely_get_queryset(self, queryset):
        return queryset.select_related("sku", "warehouse", "supplier", "requested_by")
