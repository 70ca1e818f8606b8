"""`kpis/suppliers/`: supplier scorecards over HTTP (orders.scorecards computes them).

`?supplier=<org slug>&since=YYYY-MM-DD&until=YYYY-MM-DD&bucket=week|month&page=N`. Core staff read
every supplier of the tenant (a page of 50, by name), a supplier's rep only their own
organisation: naming another supplier, or one that is no partner, answers 404. Other roles
(a funder's officer) have no scorecards to read: 403. Days are the tenant's days, both ends
included; the default is the last twelve weeks, up to today.
"""

from datetime import date, timedelta

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from orders.scorecards import (
    BUCKETS,
    supplier_scorecard_list,
    supplier_scorecard_suppliers,
    supplier_scorecard_today,
)
from scm_portal.api.params import int_param
from scm_portal.api.viewsets import TenantContextMixin
from scm_portal.tenancy.roles import Role, is_core_staff

PAGE_SIZE = 50
DEFAULT_WEEKS = 12
# Long enough for a three-year trend by month; a week series stays a few hundred points.
MAX_DAYS = {"week": 2 * 366, "month": 3 * 366}
EARLIEST, LATEST = date(1900, 1, 1), date(9000, 1, 1)


def date_param(request, name, default):
    """A day `YYYY-MM-DD` from the query string; 400 naming the field otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:  # 2026-02-30, or not a date at all
        value = None
    if value is None:
        raise exceptions.ValidationError({name: [_("A date as YYYY-MM-DD.")]})
    if not EARLIEST <= value <= LATEST:
        raise exceptions.ValidationError({name: [_("A date between the years 1900 and 9000.")]})
    return value


def check_scorecard_query(request, today):
    """(since, until, bucket) of a request, or a 400 naming each field at fault."""
    bucket = request.query_params.get("bucket") or "week"
    if bucket not in BUCKETS:
        raise exceptions.ValidationError({"bucket": [_("One of: %(choices)s.") % {"choices": ", ".join(BUCKETS)}]})
    until = date_param(request, "until", today)
    since = date_param(request, "since", until - timedelta(days=until.weekday(), weeks=DEFAULT_WEEKS - 1))
    if since > until:
        raise exceptions.ValidationError({"since": [_("since must be on or before until.")],
                                          "until": [_("until must be on or after since.")]})
    if (until - since).days > MAX_DAYS[bucket]:
        raise exceptions.ValidationError({"until": [
            _("At most %(days)d days at a time by %(bucket)s.") % {"days": MAX_DAYS[bucket], "bucket": bucket}]})
    return since, until, bucket


# --- the answer's shape (documents the schema; the figures are shaped by `figures_json`) -----------

class RateSerializer(serializers.Serializer):
    rate = serializers.DecimalField(max_digits=5, decimal_places=4, allow_null=True,
                                    help_text="0 to 1 as a decimal string; null without data")


class OnTimeSerializer(RateSerializer):
    lines_due = serializers.IntegerField()
    lines_on_time = serializers.IntegerField()


class FillSerializer(RateSerializer):
    ordered = serializers.IntegerField()
    accepted = serializers.IntegerField()


class QualitySerializer(RateSerializer):
    received = serializers.IntegerField()
    passed = serializers.IntegerField()


class LatencySerializer(serializers.Serializer):
    count = serializers.IntegerField()
    median_seconds = serializers.IntegerField(allow_null=True)
    p90_seconds = serializers.IntegerField(allow_null=True)


class AlertResponseSerializer(LatencySerializer):
    answered = serializers.IntegerField()


class FiguresSerializer(serializers.Serializer):
    on_time = OnTimeSerializer()
    fill = FillSerializer()
    quality = QualitySerializer()
    confirmation_latency = LatencySerializer()
    alert_response = AlertResponseSerializer()


class PeriodSerializer(FiguresSerializer):
    start = serializers.DateField()


class SupplierScorecardSerializer(FiguresSerializer):
    supplier = serializers.CharField()
    name = serializers.CharField()
    series = PeriodSerializer(many=True)


class SupplierKpiSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    bucket = serializers.ChoiceField(choices=BUCKETS)
    results = SupplierScorecardSerializer(many=True)
    next = serializers.URLField(allow_null=True)


def _whole_seconds(value):
    return None if value is None else round(value)


def figures_json(figures):
    def rate(name):
        return {**figures[name], "rate": None if figures[name]["rate"] is None else str(figures[name]["rate"])}

    def latency(name):
        row = dict(figures[name])
        return {**{k: v for k, v in row.items() if k not in ("median", "p90")},
                "median_seconds": _whole_seconds(row["median"]), "p90_seconds": _whole_seconds(row["p90"])}

    return {"on_time": rate("on_time"), "fill": rate("fill"), "quality": rate("quality"),
            "confirmation_latency": latency("confirmation"), "alert_response": latency("alert_response")}


class SupplierKpiView(TenantContextMixin, APIView):
    """Supplier scorecards: on-time delivery, fill rate, quality pass rate, confirmation latency
    and alert response times, in total and per week or month."""

    @extend_schema(
        parameters=[
            OpenApiParameter("supplier", str, description="An organisation slug: only this supplier."),
            OpenApiParameter("since", OpenApiTypes.DATE, description="First day (default: twelve weeks back)."),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Last day, included (default: today)."),
            OpenApiParameter("bucket", str, enum=list(BUCKETS), description="The series' periods (default: week)."),
            OpenApiParameter("page", int),
        ],
        responses={200: SupplierKpiSerializer},
    )
    def get(self, request, tenant):
        context = self.tenant_context
        if not (is_core_staff(context.roles) or Role.SUPPLIER_REP in context.roles):
            raise exceptions.PermissionDenied()
        since, until, bucket = check_scorecard_query(request, supplier_scorecard_today(self.tenant))
        page = int_param(request, "page", 1, minimum=1, maximum=10**6)
        suppliers = supplier_scorecard_suppliers(user=request.user, tenant=self.tenant, context=context)
        slug = request.query_params.get("supplier")
        if slug:
            suppliers = suppliers.filter(slug=slug[:50])
            if not suppliers.exists():
                raise exceptions.NotFound()
        rows = list(suppliers[(page - 1) * PAGE_SIZE:page * PAGE_SIZE + 1])
        more = len(rows) > PAGE_SIZE
        cards = supplier_scorecard_list(user=request.user, tenant=self.tenant, context=context,
                                        suppliers=rows[:PAGE_SIZE], since=since, until=until, bucket=bucket)
        results = [
            {"supplier": card["supplier"].slug, "name": card["supplier"].name, **figures_json(card),
             "series": [{"start": point["start"].isoformat(), **figures_json(point)} for point in card["series"]]}
            for card in cards
        ]
        next_url = replace_query_param(request.build_absolute_uri(), "page", page + 1) if more else None
        return Response({"since": since.isoformat(), "until": until.isoformat(), "bucket": bucket,
                         "results": results, "next": next_url})
