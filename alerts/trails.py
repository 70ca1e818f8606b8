"""An alert's audit trail (audit.trails): registered from AlertsConfig.ready(). Its history is
its AlertEvent rows (raised, acknowledged, started, escalated, resolved); its messages are its
cards and what was said about it (subject alert/id)."""

from django.utils.translation import gettext_lazy as _

from alerts import registry
from alerts.models import Alert, AlertState
from scm_portal.db.ids import row_id

STATE_AFTER = {"raise": "open", "raised": "open", "acknowledge": "acknowledged", "acknowledged": "acknowledged",
               "start": "in_progress", "started": "in_progress", "resolve": "resolved", "resolved": "resolved",
               "recovered": "resolved"}


def _get(tenant, ref):
    pk = row_id(ref)
    return None if pk is None else Alert.objects.for_tenant(tenant).filter(pk=pk).first()


def _access(user, context, ref):
    pk = row_id(ref)
    if pk is None:
        return None
    return Alert.objects.for_tenant(context.tenant).visible_to(user, context=context).select_related("partner").filter(pk=pk).first()


def _record(alert):
    return {
        "title": f"#{alert.pk} {alert.title}",
        "state": alert.state,
        "state_label": AlertState(alert.state).label,
        "fields": [
            (_("Kind"), registry.kind_label(alert.kind)),
            (_("Severity"), alert.get_severity_display()),
            (_("Subject"), f"{alert.subject_kind} {alert.subject_ref}".strip() or "—"),
            (_("Partner"), alert.partner.name if alert.partner_id else "—"),
            (_("Opened"), alert.opened_at.isoformat(timespec="seconds")),
        ],
    }


def _history(alert):
    return [
        {"at": event.at, "action": event.action, "from_state": "", "to_state": STATE_AFTER.get(event.action, ""),
         "actor": event.actor.get_username() if event.actor_id else ""}
        for event in alert.events.select_related("actor").order_by("at", "pk")
    ]


def _search(user, context, q, state, since, until):
    from audit.trails import trail_search_filter

    alerts = Alert.objects.for_tenant(context.tenant).visible_to(user, context=context).order_by("-opened_at", "-pk")
    if q:
        pk = row_id(q.lstrip("#"))
        alerts = alerts.filter(pk=pk) if pk is not None else alerts.filter(title__icontains=q)
    alerts = trail_search_filter(alerts, at="opened_at", state=state, since=since, until=until)
    return [
        {"ref": str(a.pk), "title": f"#{a.pk} {a.title}", "state": a.state, "state_label": AlertState(a.state).label,
         "at": a.opened_at, "party": str(registry.kind_label(a.kind))}
        for a in alerts[:50]
    ]


def register():
    from audit.trails import register_trail

    register_trail(
        "alert", label=_("Alert"), api_segment="alerts", get=_get, access=_access, ref=lambda alert: str(alert.pk),
        record=_record, history=_history, search=_search, states=AlertState.choices, order=30,
    )
