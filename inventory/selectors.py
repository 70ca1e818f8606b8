"""Reads of stock, always through the tenancy choke point."""

from datetime import timedelta

from django.db.models import F, OuterRef, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from inventory.models import SKU, ReplenishmentRequest, ReplenishmentRule, StockLevel, StockMovement
from scm_portal.tenancy.context import check_context


def stock_level_list(user, tenant, sku_code=None, warehouse_code=None, *, context):
    """Stock levels the user may see (`context`: the user's TenantContext in `tenant`), with their
    rule's lines (None when there is no rule)."""
    check_context(context, tenant=tenant, user=user)
    visible = StockLevel.objects.for_tenant(tenant).visible_to(user, context=context)
    return stock_level_list_from(visible, sku_code, warehouse_code)


def stock_level_filter_below_safety(queryset):
    """The levels of `stock_level_list` under their rule's safety stock (the stock page's `below`)."""
    return queryset.filter(safety_stock__isnull=False, on_hand__lt=F("safety_stock"))


def replenishment_request_list(user, tenant, *, context, state=None):
    """Replenishment requests the user may see (core staff all, a supplier those addressed to
    it), newest first, with their SKU, warehouse and supplier."""
    check_context(context, tenant=tenant, user=user)
    requests = ReplenishmentRequest.objects.for_tenant(tenant).visible_to(user, context=context)
    if state:
        requests = requests.filter(state=state)
    return requests.select_related("sku", "warehouse", "supplier").order_by("-created_at", "-pk")


def stock_level_list_from(queryset, sku_code=None, warehouse_code=None):
    """`queryset`'s stock levels with their rule's lines, of one SKU and warehouse if given.
    Narrows only; the caller scopes `queryset` (the API's base scopes after it)."""
    rule = ReplenishmentRule.objects.filter(tenant_id=OuterRef("tenant_id"), sku_id=OuterRef("sku_id"), warehouse_id=OuterRef("warehouse_id"))
    queryset = queryset.select_related("sku", "warehouse").annotate(
        safety_stock=Subquery(rule.values("safety_stock")[:1]),
        reorder_point=Subquery(rule.values("reorder_point")[:1]),
        max_level=Subquery(rule.values("max_level")[:1]),
        rule_id=Subquery(rule.values("pk")[:1]),
    )
    if sku_code:
        queryset = queryset.filter(sku__code=sku_code)
    if warehouse_code:
        queryset = queryset.filter(warehouse__code=warehouse_code)
    return queryset


def sku_get(user, tenant, code, *, context):
    check_context(context, tenant=tenant, user=user)
    return SKU.objects.for_tenant(tenant).visible_to(user, context=context).filter(code=code).first()


def stock_level_history(tenant, sku, warehouse, days=30):
    """Daily closing stock for the last `days` days, rebuilt backwards from today's level."""
    level = StockLevel.objects.for_tenant(tenant).filter(sku=sku, warehouse=warehouse).values_list("on_hand", flat=True).first() or 0
    today = timezone.localdate()
    since = timezone.now() - timedelta(days=days)
    daily = {
        row["day"]: row["net"]
        for row in StockMovement.objects.for_tenant(tenant)
        .filter(sku=sku, warehouse=warehouse, occurred_at__gte=since)
        .annotate(day=TruncDate("occurred_at", tzinfo=timezone.get_current_timezone()))  # the tenant's days
        .values("day").annotate(net=Sum("delta"))
    }
    points, running = [], level
    for offset in range(days):
        day = today - timedelta(days=offset)
        points.append((day, running))
        running -= daily.get(day, 0)
    return list(reversed(points))
