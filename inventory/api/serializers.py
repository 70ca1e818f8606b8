from rest_framework import serializers

from inventory.models import SKU, ReplenishmentRequest, ReplenishmentRule, Warehouse
from inventory.services import DELTA_LIMIT
from scm_portal.api.serializers import (
    StrictBooleanField,
    StrictCharField,
    StrictModelSerializer,
    TenantScopedSlugRelatedField,
)
from scm_portal.tenancy.models import Organization, Partnership


def _suppliers(tenant, user):
    return Organization.objects.filter(pk__in=Partnership.objects.for_tenant(tenant).filter(kind="supplier").values("organization_id"))


def _skus(tenant, user):
    return SKU.objects.for_tenant(tenant)


def _warehouses(tenant, user):
    return Warehouse.objects.for_tenant(tenant)


class WarehouseSerializer(StrictModelSerializer):
    code = StrictCharField(max_length=40)
    name = StrictCharField(max_length=200)

    class Meta:
        model = Warehouse
        fields = ["id", "code", "name", "active"]
        read_only_fields = ["id", "active"]


class SKUSerializer(StrictModelSerializer):
    code = StrictCharField(max_length=64)
    name = StrictCharField(max_length=200)
    unit = StrictCharField(max_length=20, required=False, default="pcs")
    default_supplier = TenantScopedSlugRelatedField(slug_field="slug", scope=_suppliers, required=False, allow_null=True)

    class Meta:
        model = SKU
        fields = ["id", "code", "name", "unit", "default_supplier"]
        read_only_fields = ["id"]


class StockLevelSerializer(serializers.Serializer):
    sku = serializers.CharField(source="sku.code")
    sku_name = serializers.CharField(source="sku.name")
    unit = serializers.CharField(source="sku.unit")
    warehouse = serializers.CharField(source="warehouse.code")
    on_hand = serializers.IntegerField()
    safety_stock = serializers.IntegerField(allow_null=True)
    reorder_point = serializers.IntegerField(allow_null=True)
    max_level = serializers.IntegerField(allow_null=True)
    below_safety_stock = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()

    def get_below_safety_stock(self, level) -> bool:
        return level.safety_stock is not None and level.on_hand < level.safety_stock


class MovementResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class MovementSerializer(serializers.Serializer):
    """One movement: documentation of the body only. The batch is checked in one pass by
    inventory.services.movements.check_movement_rows (a serializer per row would cost more than the write)."""

    external_id = serializers.CharField(max_length=100)
    sku = serializers.CharField(max_length=64)
    warehouse = serializers.CharField(max_length=40)
    delta = serializers.IntegerField(min_value=-DELTA_LIMIT, max_value=DELTA_LIMIT, help_text="Not zero.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=50)
    occurred_at = serializers.DateTimeField(help_text="ISO 8601; without an offset, in the tenant's time zone.")


class RuleSerializer(StrictModelSerializer):
    sku = TenantScopedSlugRelatedField(slug_field="code", scope=_skus)
    warehouse = TenantScopedSlugRelatedField(slug_field="code", scope=_warehouses)
    supplier = TenantScopedSlugRelatedField(slug_field="slug", scope=_suppliers, required=False, allow_null=True)
    active = StrictBooleanField(required=False, default=True)
    velocity_factor = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=1, required=False, allow_null=True)

    class Meta:
        model = ReplenishmentRule
        fields = ["id", "sku", "warehouse", "supplier", "safety_stock", "reorder_point", "max_level", "step",
                  "velocity_factor", "velocity_window_hours", "lead_time_days", "active", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        extra_kwargs = {
            "safety_stock": {"min_value": 0},
            "reorder_point": {"min_value": 0},
            "max_level": {"min_value": 0},
            "step": {"min_value": 1},
            "velocity_window_hours": {"min_value": 1, "max_value": 168},
            "lead_time_days": {"min_value": 0, "max_value": 365},
        }


class RuleUpdateSerializer(RuleSerializer):
    """A rule's SKU and warehouse are fixed; PATCH changes its lines."""

    sku = serializers.CharField(source="sku.code", read_only=True)
    warehouse = serializers.CharField(source="warehouse.code", read_only=True)

    class Meta(RuleSerializer.Meta):
        read_only_fields = ["id", "sku", "warehouse", "updated_at"]


class ReplenishmentRequestSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")
    warehouse = serializers.CharField(source="warehouse.code")
    supplier = serializers.CharField(source="supplier.slug", allow_null=True, default=None)
    requested_by = serializers.CharField(source="requested_by.username")

    class Meta:
        model = ReplenishmentRequest
        fields = ["id", "sku", "warehouse", "supplier", "quantity", "alert_id", "state", "requested_by", "created_at"]


