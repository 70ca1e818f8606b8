"""Stock pages: the stock list (filters, pagination) and one SKU (levels, chart, movements, alerts).

Thin views: every read goes through inventory.selectors or `.for_tenant(t).visible_to(user)`;
the chart is drawn on the server as inline SVG (no chart library).
"""


from django import forms
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from alerts.models import SEVERITY_NAMES
from alerts.selectors import alert_list
from inventory import selectors, services
from inventory.models import ReplenishmentRule, StockLevel, StockMovement, Warehouse
from scm_portal.charts import FINE_STEPS, nice_ceiling, svg_number
from scm_portal.tenancy.roles import is_core_staff
from scm_portal.tenancy.views import tenant_page

PAGE_SIZE = 50
HISTORY_DAYS = 30
RECENT_MOVEMENTS = 20
SKU_ALERTS = 20


class StockFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=64, strip=True)
    warehouse = forms.CharField(required=False, max_length=40, strip=True)
    below = forms.BooleanField(required=False)


def _filters(request):
    """The filters of the query string; a value that does not parse is ignored, never a 500."""
    form = StockFilterForm(request.GET)
    form.is_valid()
    return form, {name: form.cleaned_data.get(name) for name in form.fields}


def level_status(level):
    """below_safety, at_reorder (at or under the reorder point, not below safety), ok, or no_rule."""
    if level.safety_stock is None:
        return "no_rule"
    if level.on_hand < level.safety_stock:
        return "below_safety"
    if level.reorder_point and level.on_hand <= level.reorder_point:
        return "at_reorder"
    return "ok"


def may_view_stock(context):
    """Whether the stock pages are for this reader: the roles that may see some stock level (a
    funder or a carrier may not, and is neither linked to them nor let in)."""
    return bool(context.roles & StockLevel.access_policy.roles("view"))


@tenant_page
def stock_list(request):
    if not may_view_stock(request.tenant_context):
        return render(request, "403.html", status=403)
    form, params = _filters(request)
    visible = selectors.stock_level_list(request.user, request.tenant, context=request.tenant_context)
    levels = visible
    if params["q"]:
        levels = levels.filter(Q(sku__code__icontains=params["q"]) | Q(sku__name__icontains=params["q"]))
    if params["warehouse"]:
        levels = levels.filter(warehouse__code=params["warehouse"])
    if params["below"]:
        levels = selectors.stock_level_filter_below_safety(levels)
    page = Paginator(levels.order_by("sku__code", "warehouse__code", "pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    for level in page.object_list:
        level.status = level_status(level)
    # The tenant's warehouses for core staff; a supplier (who may not list warehouses) gets
    # those its own SKUs are stocked in.
    tenant_warehouses = Warehouse.objects.for_tenant(request.tenant).visible_to(request.user,
                                                                                context=request.tenant_context)
    warehouses = list(tenant_warehouses.order_by("code").values_list("code", "name")) or list(
        visible.order_by("warehouse__code").values_list("warehouse__code", "warehouse__name").distinct()
    )
    context = {
        "form": form,
        "filters": params,
        "filtered": any(params.values()),
        "page": page,
        "warehouses": warehouses,
    }
    return render(request, "inventory/stock_list.html", context)


@tenant_page
def sku_detail(request, code):
    tenant, user, tenant_context = request.tenant, request.user, request.tenant_context
    if not may_view_stock(tenant_context):
        return render(request, "403.html", status=403)
    sku = selectors.sku_get(user, tenant, code, context=tenant_context)
    if sku is None:
        raise Http404
    levels = list(
        selectors.stock_level_list(user, tenant, sku_code=sku.code, context=tenant_context).order_by("warehouse__code"))
    # The stock_level_list selector shows a level's rule lines to whoever may see the level; the
    # demand figures are computed from the same rules (those of the levels listed here).
    rules = list(
        ReplenishmentRule.objects.for_tenant(tenant)
        .filter(pk__in=[level.rule_id for level in levels if level.rule_id], sku=sku)
        .select_related("warehouse")
    )
    on_hand = {(sku.pk, level.warehouse_id): level.on_hand for level in levels}
    stats = services.rule_demand_stats(tenant=tenant, rules=rules, levels=on_hand)
    rules_by_pk = {rule.pk: rule for rule in rules}
    warehouses = []
    for level in levels:
        level.status = level_status(level)
        rule = rules_by_pk.get(level.rule_id)
        history = selectors.stock_level_history(tenant, sku, level.warehouse, days=HISTORY_DAYS)
        warehouses.append({
            "level": level,
            "rule": rule,
            "stats": stats.get(rule.pk) if rule else None,
            "history": history,
            "chart": line_chart(history, safety=level.safety_stock, reorder=level.reorder_point),
        })
    show_movements = is_core_staff(tenant_context.roles)
    movements = []
    if show_movements:
        movements = list(
            StockMovement.objects.for_tenant(tenant).visible_to(user, context=tenant_context).filter(sku=sku)
            .select_related("warehouse").order_by("-occurred_at", "-pk")[:RECENT_MOVEMENTS]
        )
    about_sku = alert_list(user=user, tenant=tenant, context=tenant_context).filter(
        subject_kind="sku", subject_ref=sku.code)
    alerts = list(about_sku[:SKU_ALERTS])
    for alert in alerts:
        alert.severity_name = SEVERITY_NAMES.get(alert.severity, "")
    context = {
        "sku": sku,
        "warehouses": warehouses,
        "show_movements": show_movements,
        "movements": movements,
        "alerts": alerts,
        "history_days": HISTORY_DAYS,
    }
    return render(request, "inventory/sku_detail.html", context)


# --- the chart --------------------------------------------------------------------------------

CHART = {"width": 640, "height": 240, "left": 56, "right": 16, "top": 14, "bottom": 30}
LINE_LABELS = {"safety": _("Safety stock"), "reorder": _("Reorder point")}






def line_chart(points, safety=None, reorder=None):
    """Geometry of a daily stock line with horizontal lines for safety stock and reorder point."""
    if not points:
        return None
    width, height = CHART["width"], CHART["height"]
    left, right, top, bottom = CHART["left"], CHART["right"], CHART["top"], CHART["bottom"]
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [value for _day, value in points]
    lines = [(kind, value) for kind, value in (("safety", safety), ("reorder", reorder)) if value]
    high = nice_ceiling(max(values + [value for _kind, value in lines] + [1]) * 1.05, FINE_STEPS)
    low = min(0, min(values))
    if low < 0:
        low = -nice_ceiling(-low, FINE_STEPS)
    span = high - low

    def x(index):
        return left + (plot_w * index / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    def y(value):
        return top + plot_h * (high - value) / span

    coords = [(x(i), y(value)) for i, (_day, value) in enumerate(points)]
    baseline = y(max(low, 0))
    ticks = [low + span * i / 4 for i in range(5)]
    last_index = len(points) - 1
    x_ticks = sorted({0, last_index // 2, last_index})
    return {
        "width": width,
        "height": height,
        "plot_left": left,
        "plot_right": svg_number(width - right),
        "series": " ".join(f"{svg_number(cx)},{svg_number(cy)}" for cx, cy in coords),
        "area": f"M{svg_number(coords[0][0])},{svg_number(baseline)} "
                + " ".join(f"L{svg_number(cx)},{svg_number(cy)}" for cx, cy in coords)
                + f" L{svg_number(coords[-1][0])},{svg_number(baseline)} Z",
        "last": {"x": svg_number(coords[-1][0]), "y": svg_number(coords[-1][1]), "value": values[-1]},
        "lines": [
            # the reorder point's label above its line, the safety stock's below: both stay legible
            {"kind": kind, "label": LINE_LABELS[kind], "value": value, "y": svg_number(y(value)),
             "label_y": svg_number(y(value) - 5 if kind == "reorder" else y(value) + 14)}
            for kind, value in lines
        ],
        "y_ticks": [
            {"y": svg_number(y(value)), "text_y": svg_number(y(value) + 4), "label": f"{round(value):d}"} for value in ticks
        ],
        "x_ticks": [
            {"x": svg_number(x(i)), "label": points[i][0].strftime("%m-%d"),
             "anchor": "start" if i == 0 else "end" if i == last_index else "middle"}
            for i in x_ticks
        ],
        "axis_y": svg_number(height - bottom),
        "label_y": svg_number(height - bottom + 18),
        "first_day": points[0][0],
        "last_day": points[-1][0],
        "min": min(values),
        "max": max(values),
    }

