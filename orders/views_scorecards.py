"""Supplier scorecard pages under /t/<tenant>/scorecards/: the ranking for core staff and one
scorecard per supplier, which the supplier's reps see for their own organisation.

Thin views over orders.scorecards. Charts are inline SVG drawn on the server, as the alert KPI
page draws its own (alerts.views): the geometry is computed here, the template writes the SVG.
"""

import math
from datetime import timedelta

from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alerts.views import duration_text
from orders.scorecards import supplier_scorecard_list, supplier_scorecard_suppliers, supplier_scorecard_today
from scm_portal.charts import nice_ceiling, svg_number
from scm_portal.tenancy.roles import Role, is_core_staff
from scm_portal.tenancy.views import tenant_page

# The page's periods: the last twelve weeks, or the last twelve months, up to today.
PERIODS = {"week": gettext_lazy("12 weeks"), "month": gettext_lazy("12 months")}
DEFAULT_BUCKET = "week"
SORTS = {
    # key: (label, figure, value in the figure, best first is the highest)
    "on_time": (gettext_lazy("On-time delivery"), "on_time", "rate", True),
    "fill": (gettext_lazy("Fill rate"), "fill", "rate", True),
    "quality": (gettext_lazy("Quality pass rate"), "quality", "rate", True),
    "confirmation": (gettext_lazy("Confirmation latency"), "confirmation", "median", False),
    "alerts": (gettext_lazy("Alert response"), "alert_response", "median", False),
}


def page_period(bucket, today):
    """(since, until, bucket) the pages show: the twelve weeks or the twelve months up to `today`;
    a bucket other than week or month is the default."""
    if bucket not in PERIODS:
        bucket = DEFAULT_BUCKET
    if bucket == "week":
        return today - timedelta(days=today.weekday(), weeks=11), today, bucket
    first = today.replace(day=1)  # then eleven months back
    if first.month == 12:
        return first.replace(month=1), today, bucket
    return first.replace(year=first.year - 1, month=first.month + 1), today, bucket


def _period(request, tenant):
    return page_period(request.GET.get("bucket"), supplier_scorecard_today(tenant))


def _readers_roles_allow(context):
    return is_core_staff(context.roles) or Role.SUPPLIER_REP in context.roles


def percent_text(rate):
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _summary(figures):
    """The five figures as the page prints them."""
    confirmation, alerts = figures["confirmation"], figures["alert_response"]
    return {
        "on_time": percent_text(figures["on_time"]["rate"]),
        "fill": percent_text(figures["fill"]["rate"]),
        "quality": percent_text(figures["quality"]["rate"]),
        "confirmation_median": duration_text(confirmation["median"]),
        "confirmation_p90": duration_text(confirmation["p90"]),
        "alerts_median": duration_text(alerts["median"]),
        "alerts_p90": duration_text(alerts["p90"]),
    }


def _has_data(figures):
    return bool(figures["on_time"]["lines_due"] or figures["quality"]["received"] or figures["confirmation"]["count"]
                or figures["alert_response"]["count"])


@tenant_page
def scorecard_list(request):
    """Core staff: every supplier ranked by one figure. A supplier's rep: their own scorecard."""
    context = request.tenant_context
    if not _readers_roles_allow(context):
        return render(request, "403.html", status=403)
    suppliers = list(supplier_scorecard_suppliers(user=request.user, tenant=request.tenant, context=context))
    if not is_core_staff(context.roles) and len(suppliers) == 1:
        return _scorecard_page(request, suppliers[0].slug)  # a rep's section is their own scorecard
    since, until, bucket = _period(request, request.tenant)
    sort = request.GET.get("sort")
    if sort not in SORTS:
        sort = "on_time"
    cards = supplier_scorecard_list(user=request.user, tenant=request.tenant, context=context, suppliers=suppliers,
                                    since=since, until=until)
    _label, figure, value, highest_first = SORTS[sort]

    def order(card):
        number = card[figure][value]
        if number is None:
            return (True, 0, card["supplier"].name)  # without data: last, whichever way the figure sorts
        return (False, -number if highest_first else number, card["supplier"].name)

    rows = []
    for rank, card in enumerate(sorted(cards, key=order), 1):
        rows.append({"rank": rank, "supplier": card["supplier"], "figures": card, "text": _summary(card),
                     "has_data": _has_data(card)})
    return render(request, "orders/scorecard_list.html", {
        "rows": rows, "since": since, "until": until, "bucket": bucket, "periods": PERIODS.items(),
        "sort": sort, "sorts": [(key, label) for key, (label, *_rest) in SORTS.items()],
        "any_data": any(row["has_data"] for row in rows),
    })


@tenant_page
def scorecard_detail(request, supplier):
    return _scorecard_page(request, supplier)


def _scorecard_page(request, supplier):
    context = request.tenant_context
    if not _readers_roles_allow(context):
        return render(request, "403.html", status=403)
    found = supplier_scorecard_suppliers(user=request.user, tenant=request.tenant, context=context).filter(
        slug=supplier[:50]).first()
    if found is None:
        raise Http404  # no partner of the tenant, or not the reader's to see
    since, until, bucket = _period(request, request.tenant)
    [card] = supplier_scorecard_list(user=request.user, tenant=request.tenant, context=context, suppliers=[found],
                                     since=since, until=until, bucket=bucket)
    series = card["series"]
    labels = [_period_label(point["start"], bucket) for point in series]
    charts = [
        {"key": "on-time", "title": _("On-time delivery"),
         "chart": rate_chart([(label, point["on_time"]["rate"]) for label, point in zip(labels, series)])},
        {"key": "fill", "title": _("Fill rate"),
         "chart": rate_chart([(label, point["fill"]["rate"]) for label, point in zip(labels, series)])},
        {"key": "quality", "title": _("Quality pass rate"),
         "chart": rate_chart([(label, point["quality"]["rate"]) for label, point in zip(labels, series)])},
        {"key": "confirmation", "title": _("Confirmation latency (median, hours)"),
         "chart": hours_chart([(label, point["confirmation"]["median"]) for label, point in zip(labels, series)])},
        {"key": "alerts", "title": _("Alert response (median, hours)"),
         "chart": hours_chart([(label, point["alert_response"]["median"]) for label, point in zip(labels, series)])},
    ]
    table = [{"label": label, "start": point["start"], "figures": point, "text": _summary(point)}
             for label, point in zip(labels, series)]
    return render(request, "orders/scorecard.html", {
        "supplier": found, "card": card, "text": _summary(card), "has_data": _has_data(card), "charts": charts,
        "table": table, "since": since, "until": until, "bucket": bucket, "periods": PERIODS.items(),
        "is_core": is_core_staff(context.roles),
    })


def _period_label(start, bucket):
    return start.strftime("%m-%d") if bucket == "week" else start.strftime("%Y-%m")


# --- charts (geometry for inline SVG) -----------------------------------------------------------

WIDTH, HEIGHT = 480, 180
LEFT, RIGHT, TOP_PAD, BOTTOM = 40, 8, 10, 24






def period_chart(points, top, tick_text, value_text):
    """Columns, one per period: `points` are (label, value or None); a period without data has no
    column, only a dash, so it never reads as a zero. None when no period has data."""
    if not points or all(value is None for _label, value in points):
        return None
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP_PAD - BOTTOM
    slot = plot_w / len(points)
    gap = min(6, slot * 0.25)
    label_every = max(1, math.ceil(len(points) / 6))
    columns = []
    for index, (label, value) in enumerate(points):
        height = 0 if value is None else plot_h * min(value, top) / top
        columns.append({
            "x": svg_number(LEFT + index * slot + gap / 2), "y": svg_number(TOP_PAD + plot_h - height),
            "width": svg_number(max(slot - gap, 1)), "height": svg_number(height),
            "empty": value is None, "title": label, "value_text": "—" if value is None else value_text(value),
            "label": label if index % label_every == 0 else "", "label_x": svg_number(LEFT + index * slot + slot / 2),
            "dash_y": svg_number(TOP_PAD + plot_h - 3),
        })
    tick_ys = [TOP_PAD + plot_h * (1 - i / 2) for i in range(3)]
    ticks = [{"y": svg_number(y), "text_y": svg_number(y + 4), "label": tick_text(top * i / 2)}
             for i, y in enumerate(tick_ys)]
    return {"width": WIDTH, "height": HEIGHT, "columns": columns, "ticks": ticks, "left": LEFT,
            "right": svg_number(WIDTH - RIGHT), "label_y": svg_number(HEIGHT - 6)}


def rate_chart(points):
    """Rates on a fixed 0–100 % scale."""
    return period_chart([(label, None if rate is None else float(rate) * 100) for label, rate in points], 100,
                        lambda tick: f"{tick:.0f}%", lambda value: f"{value:.1f}%")


def hours_chart(points):
    """Durations (seconds) in hours, on a scale that fits the longest."""
    hours = [(label, None if seconds is None else seconds / 3600) for label, seconds in points]
    top = nice_ceiling(max((value for _label, value in hours if value is not None), default=0), whole=False)
    return period_chart(hours, top, lambda tick: f"{tick:g}",
                        lambda value: _("%(hours).1f h") % {"hours": value})
