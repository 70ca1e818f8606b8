"""Alert KPIs: time to acknowledge and to resolve, alerts per supplier, per SKU and per day."""

from statistics import median

from django.db.models import Count
from django.db.models.functions import TruncDate

from messaging.models import Alert


def _seconds(pairs):
    values = [(end - start).total_seconds() for start, end in pairs if start and end]
    if not values:
        return {"count": 0, "average": None, "median": None}
    return {"count": len(values), "average": round(sum(values) / len(values), 1), "median": round(median(values), 1)}


def alert_kpis(user, tenant, since, until):
    alerts = Alert.objects.for_tenant(tenant).visible_to(user).filter(opened_at__gte=since, opened_at__lt=until)
    times = list(alerts.values_list("opened_at", "acknowledged_at", "resolved_at", "recovered"))
    by_partner = list(
        alerts.values("partner__slug", "partner__name").annotate(count=Count("pk")).order_by("-count", "partner__slug")[:20]
    )
    by_sku = list(
        alerts.filter(subject_kind="sku").values("subject_ref").annotate(count=Count("pk")).order_by("-count", "subject_ref")[:20]
    )
    by_day = list(alerts.annotate(day=TruncDate("opened_at")).values("day").annotate(count=Count("pk")).order_by("day"))
    by_kind = list(alerts.values("kind").annotate(count=Count("pk")).order_by("-count", "kind"))
    return {
        "since": since,
        "until": until,
        "total": len(times),
        "open": sum(1 for _o, _a, resolved, _r in times if resolved is None),
        "time_to_acknowledge": _seconds((opened, acked) for opened, acked, _res, _rec in times),
        "time_to_resolve": _seconds((opened, resolved) for opened, _ack, resolved, recovered in times if not recovered),
        "by_kind": by_kind,
        "by_supplier": [{"supplier": r["partner__slug"], "name": r["partner__name"], "count": r["count"]} for r in by_partner],
        "by_sku": [{"sku": r["subject_ref"], "count": r["count"]} for r in by_sku],
        "by_day": [{"day": r["day"], "count": r["count"]} for r in by_day],
    }
