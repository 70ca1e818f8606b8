"""Reads of alerts, always through the tenancy choke point: the lists and the alert KPIs
(time to acknowledge and to resolve, alerts per supplier, per subject, per kind and per day)."""

from statistics import median

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate

from alerts.models import Alert, AlertState, Notification
from alerts.registry import alert_subjects, subject_kinds
from scm_portal.tenancy.context import check_context

UNRESOLVED_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED, AlertState.IN_PROGRESS)
NOTIFICATION_COUNT_CAP = 100


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
        queryset = queryset.filter(_addressed_to(user, context))
    return queryset


def _addressed_to(user, context):
    """Addressed to me: my roles or organisation, or I was told about it by name (an escalation)."""
    condition = Q(Exists(Notification.objects.filter(alert=OuterRef("pk"), user=user)))
    for role, organization_id in sorted(context.memberships):
        condition |= Q(core_audience__contains=f",{role},") | Q(partner_id=organization_id)
    return condition


def alert_counts(*, user, tenant, context):
    """How many unresolved alerts the user may see, per state, and how many of them are addressed
    to the user (as `alert_list(mine=True)` has them): one query, for the dashboard."""
    alerts = alert_list(user=user, tenant=tenant, context=context).exclude(state=AlertState.RESOLVED).order_by()
    per_state = {state: Count("pk", filter=Q(state=state)) for state in UNRESOLVED_STATES}
    return alerts.aggregate(**per_state, mine=Count("pk", filter=_addressed_to(user, context)))


def notification_list(*, user, tenant, context, unread=False):
    """The user's own in-app notices in `tenant`, newest first (`unread`: not yet marked read)."""
    check_context(context, tenant=tenant, user=user)
    notices = Notification.objects.for_tenant(tenant).visible_to(user, context=context).filter(user=user)
    if unread:
        notices = notices.filter(read_at__isnull=True)
    return notices.order_by("-created_at", "-pk")


def notification_unread_count(*, user, tenant, context):
    """What the header's bell counts: the user's unread in-app notices (`Notification`) in
    `tenant`: an alert raised for one of the user's roles or their organisation, or escalated to
    them. Chat messages do not ring the bell: each room shows its own unread count (the room list,
    the dashboard's rooms panel), and every chat line is not a call for this person's attention.
    Counted up to NOTIFICATION_COUNT_CAP (the bell says "99+" from 100 on), so a page costs the
    same however many the user left unread."""
    unread = notification_list(user=user, tenant=tenant, context=context, unread=True).order_by()
    return unread.values("pk")[:NOTIFICATION_COUNT_CAP].count()


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
