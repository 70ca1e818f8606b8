"""Supplier scorecards: how each supplier delivers, per week or month, as the reader may see it.

Five figures (docs/ORDERS.md, "Supplier scorecards", defines each one):
- on-time delivery: due lines whose whole quantity had arrived by the end of their due day (the
  promised date, else the requested date) / due lines;
- fill rate: accepted quantity / ordered quantity of the due lines;
- quality pass rate: quantity received with a passed inspection / quantity received;
- confirmation latency: from the PO's first `sent` to its first `confirmed` in its history,
  median and 90th percentile;
- alert response: from an alert about the supplier being raised to its first human answer
  (acknowledge, start or resolve: `acknowledged_at`, which the lifecycle stamps on the first of
  them), median and 90th percentile, with the alerts still unanswered.

Every figure is one grouped SQL statement over all suppliers and periods at once (PostgreSQL's
`percentile_cont` for the percentiles), so the cost does not grow with the number of POs read in
Python: the scorecards are four statements, eight with their series, however many suppliers
and POs they cover.
Rows are read through the tenancy choke point (`visible_to` with the reader's TenantContext): a
supplier's rep reads only their own organisation's records, whatever suppliers are asked for.

Days are the tenant's days (its time zone): a receipt at 01:00 in Shanghai counts on that day.
"""

import zoneinfo
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce, Least, TruncDate, TruncMonth, TruncWeek

from alerts.models import Alert
from orders.models import (
    LineStatus,
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    PurchaseOrderState,
    Receipt,
)
from scm_portal.tenancy.context import check_context
from scm_portal.tenancy.models import Organization, Partnership
from scm_portal.tenancy.roles import OrganizationKind

BUCKETS = ("week", "month")
RATE_PLACES = Decimal("0.0001")
# Lines no longer owed count for neither on-time delivery nor fill rate.
NOT_OWED = (LineStatus.CANCELLED, LineStatus.REJECTED)
# POs never sent, or called off, owe nothing.
NOT_ISSUED = (PurchaseOrderState.DRAFT, PurchaseOrderState.CANCELLED)


class PercentileCont(Aggregate):
    """PostgreSQL's `percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`: the
    interpolated percentile of a number or an interval (an interval gives a timedelta)."""

    function = "percentile_cont"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)%(filter)s"
    arity = 1

    def __init__(self, expression, fraction, **extra):
        fraction = float(fraction)
        if not 0 <= fraction <= 1:
            raise ValueError("a percentile is a fraction between 0 and 1")
        # Written into the SQL as a literal: a float formatted here, never caller text.
        super().__init__(expression, fraction=repr(fraction), **extra)


def _truncate(bucket, expression, tz):
    if bucket == "week":
        return TruncWeek(expression, tzinfo=tz)
    if bucket == "month":
        return TruncMonth(expression, tzinfo=tz)
    raise ValueError(f"unknown bucket {bucket!r}")


def supplier_scorecard_bucket_starts(since, until, bucket):
    """The first day of every week (Monday) or month from the one holding `since` to the one
    holding `until`: the periods a series shows, those without data included."""
    if bucket == "week":
        start = since - timedelta(days=since.weekday())
        return [start + timedelta(weeks=i) for i in range((until - start).days // 7 + 1)]
    starts, current = [], since.replace(day=1)
    while current <= until:
        starts.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return starts


def supplier_scorecard_suppliers(*, user, tenant, context):
    """The supplier organisations whose scorecards the user may read, by name: every supplier
    partner of the tenant for core staff, their own organisation for a supplier's rep, none for
    anyone else."""
    check_context(context, tenant=tenant, user=user)
    partnerships = Partnership.objects.for_tenant(tenant).visible_to(user, "view", context=context).filter(
        kind=OrganizationKind.SUPPLIER)
    return Organization.objects.filter(pk__in=partnerships.values("organization_id")).order_by("name", "slug")


def _rate(numerator, denominator):
    if not denominator:
        return None
    return (Decimal(numerator or 0) / Decimal(denominator)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def _seconds(value):
    return None if value is None else value.total_seconds()


def _empty_figures():
    return {
        "on_time": {"rate": None, "lines_due": 0, "lines_on_time": 0},
        "fill": {"rate": None, "ordered": 0, "accepted": 0},
        "quality": {"rate": None, "received": 0, "passed": 0},
        "confirmation": {"count": 0, "median": None, "p90": None},
        "alert_response": {"count": 0, "answered": 0, "median": None, "p90": None},
    }


def _grouped(queryset, supplier_field, bucket, date_field, tz):
    """`queryset` grouped by supplier, and by the week or month of `date_field` when `bucket`
    (in `tz`; None for a date): its `values()` before the aggregates are annotated."""
    if bucket is None:
        return queryset.values(scored_supplier=F(supplier_field))
    return queryset.values(scored_supplier=F(supplier_field), scored_period=_truncate(bucket, date_field, tz))


def _period_key(value, tz):
    """A bucket's first day as a date, whether PostgreSQL truncated a date or a timestamp."""
    if isinstance(value, datetime):
        return value.astimezone(tz).date()
    return value


def _delivery_rows(*, user, tenant, context, supplier_ids, since, until, today, tz, bucket):
    """On-time delivery and fill rate, from the lines due in the period (one statement)."""
    arrived_by_due_day = (
        Receipt.objects.filter(order_line=OuterRef("pk"))
        .annotate(day=TruncDate("received_at", tzinfo=tz))
        .filter(day__lte=OuterRef("due"))
        .order_by()
        .values("order_line")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    lines = (
        PurchaseOrderLine.objects.for_tenant(tenant).visible_to(user, context=context)
        .filter(order__supplier_id__in=supplier_ids)
        .exclude(status__in=NOT_OWED).exclude(order__state__in=NOT_ISSUED)
        .annotate(due=Coalesce("promised_date", "requested_date"))
        # Due in the period, and the due day is over: until then nothing is late yet.
        .filter(due__gte=since, due__lte=until, due__lt=today)
        .annotate(on_time_quantity=Coalesce(Subquery(arrived_by_due_day), 0))
        .order_by()
    )
    return _grouped(lines, "order__supplier_id", bucket, "due", None).annotate(
        lines_due=Count("pk"),
        lines_on_time=Count("pk", filter=Q(on_time_quantity__gte=F("quantity"))),
        ordered=Sum("quantity"),
        # More than ordered never fills more than the line.
        accepted=Sum(Least("accepted_quantity", "quantity")),
    )


def _quality_rows(*, user, tenant, context, supplier_ids, start, end, tz, bucket):
    receipts = (
        Receipt.objects.for_tenant(tenant).visible_to(user, context=context)
        .filter(order__supplier_id__in=supplier_ids, received_at__gte=start, received_at__lt=end)
        .order_by()
    )
    return _grouped(receipts, "order__supplier_id", bucket, "received_at", tz).annotate(
        received=Sum("quantity"),
        passed=Coalesce(Sum("quantity", filter=Q(inspection="pass")), 0),
    )


def _confirmation_rows(*, user, tenant, context, supplier_ids, start, end, tz, bucket):
    """POs confirmed in the period, from their history: the first `sent` and the first
    `confirmed` (a PO sent again after a change request keeps its first sending)."""

    def first(to_state):
        return Subquery(
            PurchaseOrderEvent.objects.filter(order=OuterRef("pk"), to_state=to_state)
            .order_by("at", "pk").values("at")[:1]
        )

    orders = (
        PurchaseOrder.objects.for_tenant(tenant).visible_to(user, context=context)
        .filter(supplier_id__in=supplier_ids)
        .annotate(first_sent=first(PurchaseOrderState.SENT), first_confirmed=first(PurchaseOrderState.CONFIRMED))
        .filter(first_sent__isnull=False, first_confirmed__gte=start, first_confirmed__lt=end)
        .annotate(latency=ExpressionWrapper(F("first_confirmed") - F("first_sent"), output_field=DurationField()))
        .order_by()
    )
    return _grouped(orders, "supplier_id", bucket, "first_confirmed", tz).annotate(
        count=Count("pk"),
        median=PercentileCont("latency", 0.5, output_field=DurationField()),
        p90=PercentileCont("latency", 0.9, output_field=DurationField()),
    )


def _alert_rows(*, user, tenant, context, supplier_ids, start, end, tz, bucket):
    """Alerts about each supplier (their `partner`) raised in the period, and how soon a person
    first answered them."""
    answered = Q(acknowledged_at__isnull=False)
    alerts = (
        Alert.objects.for_tenant(tenant).visible_to(user, context=context)
        .filter(partner_id__in=supplier_ids, opened_at__gte=start, opened_at__lt=end)
        .annotate(response=ExpressionWrapper(F("acknowledged_at") - F("opened_at"), output_field=DurationField()))
        .order_by()
    )
    return _grouped(alerts, "partner_id", bucket, "opened_at", tz).annotate(
        count=Count("pk"),
        answered=Count("pk", filter=answered),
        median=PercentileCont("response", 0.5, filter=answered, output_field=DurationField()),
        p90=PercentileCont("response", 0.9, filter=answered, output_field=DurationField()),
    )


def _fill(figures, delivery, quality, confirmation, alerts):
    if delivery is not None:
        figures["on_time"] = {"rate": _rate(delivery["lines_on_time"], delivery["lines_due"]),
                              "lines_due": delivery["lines_due"], "lines_on_time": delivery["lines_on_time"]}
        figures["fill"] = {"rate": _rate(delivery["accepted"], delivery["ordered"]),
                           "ordered": delivery["ordered"], "accepted": delivery["accepted"]}
    if quality is not None:
        figures["quality"] = {"rate": _rate(quality["passed"], quality["received"]),
                              "received": quality["received"], "passed": quality["passed"]}
    if confirmation is not None:
        figures["confirmation"] = {"count": confirmation["count"], "median": _seconds(confirmation["median"]),
                                   "p90": _seconds(confirmation["p90"])}
    if alerts is not None:
        figures["alert_response"] = {"count": alerts["count"], "answered": alerts["answered"],
                                     "median": _seconds(alerts["median"]), "p90": _seconds(alerts["p90"])}
    return figures


def supplier_scorecard_list(*, user, tenant, context, suppliers, since, until, bucket=None, today=None):
    """The scorecards of `suppliers` (Organizations, from `supplier_scorecard_suppliers`) over the
    tenant's days `since` to `until` (dates, both included), in their order.

    Each: `{"supplier": org, **figures, "series": [{"start": date, **figures}]}` where figures are
    `on_time`, `fill`, `quality` (`rate`: a Decimal of 0..1 with four places, None without data,
    and the counts behind it), `confirmation` and `alert_response` (`median`, `p90` in seconds,
    None without data, and the counts). `series` (one entry per week or month of `bucket`, empty
    ones included) is given only with a `bucket`. `today`: the tenant's today (lines due today or
    later are not due yet)."""
    check_context(context, tenant=tenant, user=user)
    if bucket is not None and bucket not in BUCKETS:
        raise ValueError(f"unknown bucket {bucket!r}")
    tz = zoneinfo.ZoneInfo(tenant.time_zone)
    suppliers = list(suppliers)
    supplier_ids = [s.pk for s in suppliers]
    if today is None:
        today = supplier_scorecard_today(tenant)
    start = datetime.combine(since, time.min, tz)
    end = datetime.combine(until + timedelta(days=1), time.min, tz)
    window = dict(user=user, tenant=tenant, context=context, supplier_ids=supplier_ids, tz=tz)

    def read(bucket):
        """{(supplier id, period or None): row} of each figure's statement."""
        def keyed(rows):
            return {
                (row["scored_supplier"], _period_key(row["scored_period"], tz) if bucket else None): row
                for row in rows
            }

        return (
            keyed(_delivery_rows(**window, since=since, until=until, today=today, bucket=bucket)),
            keyed(_quality_rows(**window, start=start, end=end, bucket=bucket)),
            keyed(_confirmation_rows(**window, start=start, end=end, bucket=bucket)),
            keyed(_alert_rows(**window, start=start, end=end, bucket=bucket)),
        )

    totals = read(None)
    periods = read(bucket) if bucket else None
    starts = supplier_scorecard_bucket_starts(since, until, bucket) if bucket else []
    cards = []
    for supplier in suppliers:
        card = {"supplier": supplier, **_fill(_empty_figures(), *(rows.get((supplier.pk, None)) for rows in totals))}
        if bucket:
            card["series"] = [
                {"start": day, **_fill(_empty_figures(), *(rows.get((supplier.pk, day)) for rows in periods))}
                for day in starts
            ]
        cards.append(card)
    return cards


def supplier_scorecard_today(tenant):
    """The tenant's today (its time zone)."""
    return datetime.now(zoneinfo.ZoneInfo(tenant.time_zone)).date()

