"""Warehouses, SKUs, stock levels and movements, and the replenishment rules that raise alerts."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from scm_portal.tenancy.models import Organization, Tenant
from scm_portal.tenancy.querysets import AccessPolicy, TenantQuerySet
from scm_portal.tenancy.roles import CORE_ROLES, Role

STOCK_WRITERS = {Role.WAREHOUSE, Role.COORDINATOR, Role.TENANT_ADMIN}
CATALOGUE_WRITERS = {Role.WAREHOUSE, Role.PLANNER, Role.BUYER, Role.COORDINATOR, Role.TENANT_ADMIN}
RULE_WRITERS = {Role.PLANNER, Role.WAREHOUSE, Role.COORDINATOR, Role.TENANT_ADMIN}


class Warehouse(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="warehouses")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(core={"view": CORE_ROLES, "add": CATALOGUE_WRITERS, "change": CATALOGUE_WRITERS})

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="warehouse_code_unique")]

    def __str__(self):
        return self.code


class SKU(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="skus")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=20, default="pcs")
    default_supplier = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    # A supplier sees the SKUs it supplies to this tenant.
    access_policy = AccessPolicy(
        core={"view": CORE_ROLES, "add": CATALOGUE_WRITERS, "change": CATALOGUE_WRITERS},
        partner={"view": {Role.SUPPLIER_REP}},
        partner_field="default_supplier",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="sku_code_unique")]

    def __str__(self):
        return self.code


class StockLevel(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="levels")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="levels")
    on_hand = models.BigIntegerField(default=0)
    # The safety stock of the level's active rule (None without one): a copy kept by a trigger on
    # the rules and by the movement batch that creates the level (inventory/services/movements.py), so the
    # periodic sweep finds the levels below safety in this table alone instead of joining every
    # rule. Never indexed, like on_hand: the movements' updates stay HOT.
    rule_safety_stock = models.BigIntegerField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": CORE_ROLES},
        partner={"view": {Role.SUPPLIER_REP}},
        partner_field="sku__default_supplier",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "sku", "warehouse"], name="stock_level_unique")]


class StockMovement(models.Model):
    # No index of its own: the unique (tenant, external_id) one leads with tenant_id, and each
    # index more is paid by every movement inserted.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    external_id = models.CharField(max_length=100)
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="movements")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="movements")
    delta = models.BigIntegerField()
    reason = models.CharField(max_length=50, blank=True, default="")
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=20, default="api")  # api | erp | page | demo
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(core={"view": CORE_ROLES, "add": STOCK_WRITERS})

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "external_id"], name="movement_external_id_unique")]
        indexes = [models.Index(fields=["tenant", "sku", "warehouse", "occurred_at"])]


class ReplenishmentRule(models.Model):
    """Lines for one SKU in one warehouse, and how loudly to say when stock crosses them."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="rules")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="rules")
    supplier = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    safety_stock = models.BigIntegerField(default=0)
    reorder_point = models.BigIntegerField(default=0)
    max_level = models.BigIntegerField(null=True, blank=True)
    step = models.BigIntegerField(null=True, blank=True)  # alert each time stock falls by this many
    step_reference = models.BigIntegerField(null=True, blank=True)  # the level the next step is counted from
    velocity_factor = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)  # e.g. 3.00
    velocity_window_hours = models.PositiveIntegerField(default=1)
    lead_time_days = models.PositiveIntegerField(default=7)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    # The supplier of the rule, or else of the SKU, sees it (as it sees the stock lines it sets).
    access_policy = AccessPolicy(
        core={"view": CORE_ROLES, "add": RULE_WRITERS, "change": RULE_WRITERS},
        partner={"view": {Role.SUPPLIER_REP}},
        partner_field=("supplier", "sku__default_supplier"),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sku", "warehouse"], name="rule_unique_per_sku_warehouse"),
            models.CheckConstraint(condition=Q(safety_stock__gte=0) & Q(reorder_point__gte=0), name="rule_lines_not_negative"),
            models.CheckConstraint(condition=Q(step__isnull=True) | Q(step__gt=0), name="rule_step_positive"),
        ]
        # The sweep's velocity check reads the few rules with a factor, not a scan of all of them.
        indexes = [
            models.Index(fields=["tenant"], condition=Q(velocity_factor__isnull=False), name="rule_velocity_tenant"),
        ]


class ReplenishmentRequest(models.Model):
    """What "安排补货 / Arrange replenishment" creates until purchase orders exist."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+")
    supplier = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    quantity = models.BigIntegerField()
    alert_id = models.BigIntegerField(null=True, blank=True)
    state = models.CharField(max_length=20, default="requested")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": CORE_ROLES}, partner={"view": {Role.SUPPLIER_REP}}, partner_field="supplier"
    )


class RuleCrossing(models.Model):
    """A stock level moved across one of its rule's lines (or owing it a step check): written by
    the movement batch that moved it, in the batch's own transaction, and deleted by whoever
    raises its alerts (inventory.services.rules.rule_crossing_raise), in a second transaction
    right after it, or by the beat sweep when that one never ran (rule_crossing_sweep). An
    outbox: the batch's statement holds no room lock, the alerts are raised under their rooms'
    locks (docs/ARCHITECTURE.md, "Lock order"). Normally empty: a row lives for the instant
    between the batch's commit and its alerts'."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    rule = models.ForeignKey(ReplenishmentRule, on_delete=models.CASCADE, related_name="+")
    old = models.BigIntegerField()  # the level before the batch
    new = models.BigIntegerField()  # and after it
    created_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()
