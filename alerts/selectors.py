"""Reads of alerts, always through the tenancy choke point: the lists and the alert KPIs
(time to acknowledge and to resolve, alerts per supplier, per subject, per kind and per day)."""

from statistics import median

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate

from alerts.models import Alert, Notification
from alerts.registry import alert_subjects, subject_kinds
from scm_portal.tenancy.context import check_context


def alert_list(*, user, tenant, context, mine=False):
    """Alerts the user may see, newest first; `mine`: only those addressed to the user
    (their organisation's, or their roles are in its audience). `context`: the user's
    TenantContext in `tenant`, which says both."""
    check_context(context, tenant=tenant, user=user)
    queryset = (
        Alert.objects.for_tenant(tenant).visible_to(user, context=context).select_related("partner")
        .order_by("-opened_at", "-pk")
    )
    if mine:
        # Addressed to me: my roles or organisation, or I was told about it by name (an escalation).
        condition = Q(Exists(Notification.objects.filter(alert=OuterRef("pk"), user=user)))
        for role, organization_id in sorted(context.memberships):
            condition |= Q(core_audience__contains=f",{role},") | Q(partner_id=organization_id)
        queryset = queryset.filter(condition)
    return queryset


def _seconds(pairs):
    values = [(end - start).total_seconds() for start, end in pairs if start and end]
    if not values:
        return {"count": 0, "average": None, "median": None}
    return {"count": len(values), "average": round(sum(values) / len(values), 1), "median": round(median(values), 1)}


def alert_kpis(*, user, tenant, context, since, until):
    """The KPIs of the alerts opened in [since, until) that the user may see (`context`: the user's
    TenantContext in `tenant`). Per registered subject (alerts.registry.AlertSubject) a
    `by_<field>` list: `[{<field>: ref, "count": n}]`."""
    check_context(context, tenant=tenant, user=user)
    alerts = Alert.objects.for_tenant(tenant).visible_to(user, context=context).filter(
        opened_at__gte=since, opened_at__lt=until)
    times = list(alerts.values_list("opened_at", "acknowledged_at", "resolved_at", "recovered"))
    by_partner = list(
        alerts.values("partner__slug", "partner__name").annotate(count=Count("pk")).order_by("-count", "partner__slug")[:20]
    )
    by_subject = {}
    for subject in alert_subjects():
        rows = (
            alerts.filter(kind__in=subject_kinds(subject), subject_kind=subject.subject_kind)
            .values("subject_ref").annotate(count=Count("pk")).order_by("-count", "subject_ref")[:20]
        )
        by_subject[f"by_{subject.field}"] = [{subject.field: r["subject_ref"], "count": r["count"]} for r in rows]
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
        **by_subject,
        "by_day": [{"day": r["day"], "count": r["count"]} for r in by_day],
    }
