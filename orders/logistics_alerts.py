"""The alert kinds of logistics, registered from OrdersConfig.ready(), and their texts.

Each kind's title and body are rendered from the alert's payload in the reader's language
(alerts.registry `render`), so the board, the API and the notices show them in each reader's
language; the event card posted when the alert is raised carries them in the tenant's.

- route_deviation: a truck off its planned route for two positions in a row (one per detour);
- abnormal_stop: a truck stationary too long away from the route's stops;
- shipment_late: a shipment whose ETA is past a line's promised date;
- quality_hold: a lot held after a failed inspection at receiving.
"""

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from scm_portal.tenancy.roles import Role

# Core roles told live about each kind (escalation policies add more); the supplier's people
# are told through the alert's partner.
SHIPMENT_ALERT_AUDIENCE = (Role.LOGISTICS,)
QUALITY_ALERT_AUDIENCE = (Role.WAREHOUSE,)


def shipment_url(tenant_slug, ref):
    return reverse("shipments:detail", kwargs={"tenant": tenant_slug, "pk": ref})


def _km(meters):
    return f"{(meters or 0) / 1000:.1f}"


def render_route_deviation(alert):
    p = alert.payload
    title = _("Shipment %(number)s is off its route") % {"number": p.get("shipment_number", "")}
    where = {"km": _km(p.get("distance_m")), "lat": p.get("lat", 0), "lon": p.get("lon", 0), "limit": _km(p.get("threshold_m"))}
    if p.get("distance_m") is None:
        body = _("More than %(limit)s km from the planned route at %(lat).4f, %(lon).4f.") % where
    else:
        body = _("%(km)s km from the planned route at %(lat).4f, %(lon).4f (threshold %(limit)s km).") % where
    return title, body


def render_abnormal_stop(alert):
    p = alert.payload
    title = _("Shipment %(number)s has stopped away from its route's stops") % {"number": p.get("shipment_number", "")}
    body = _("Stationary for %(minutes)d minutes at %(lat).4f, %(lon).4f.") % {
        "minutes": p.get("minutes", 0), "lat": p.get("lat", 0), "lon": p.get("lon", 0)}
    return title, body


def render_shipment_late(alert):
    p = alert.payload
    title = _("Shipment %(number)s will arrive late") % {"number": p.get("shipment_number", "")}
    body = _("ETA %(eta)s is after the promised date %(promised)s of %(order)s line %(line)s.") % {
        "eta": p.get("eta", ""), "promised": p.get("promised_date", ""), "order": p.get("purchase_order", ""),
        "line": p.get("line", "")}
    return title, body


def render_quality_hold(alert):
    p = alert.payload
    title = _("Lot %(lot)s of %(sku)s is on quality hold") % {"lot": p.get("lot", ""), "sku": p.get("sku", "")}
    body = _("%(quantity)s failed inspection at receiving of %(order)s line %(line)s; further receipt of the lot is blocked.") % {
        "quantity": p.get("quantity", ""), "order": p.get("purchase_order", ""), "line": p.get("line", "")}
    return title, body


def register_alert_kinds():
    """Called from OrdersConfig.ready()."""
    from alerts.models import Severity
    from alerts.registry import AlertSubject, register_alert_kind

    shipment = AlertSubject(field="shipment", subject_kind="shipment", label=gettext_lazy("Shipment"),
                            per_label=gettext_lazy("Alerts per shipment"), url=shipment_url)
    hold = AlertSubject(field="quality_hold", subject_kind="quality_hold", label=gettext_lazy("Quality hold"),
                        per_label=gettext_lazy("Alerts per quality hold"))
    register_alert_kind("route_deviation", label=gettext_lazy("Off the planned route"), severity=Severity.WARNING,
                        subject=shipment, render=render_route_deviation)
    register_alert_kind("abnormal_stop", label=gettext_lazy("Abnormal stop"), severity=Severity.WARNING,
                        subject=shipment, render=render_abnormal_stop)
    register_alert_kind("shipment_late", label=gettext_lazy("Shipment late"), severity=Severity.WARNING,
                        subject=shipment, render=render_shipment_late)
    register_alert_kind("quality_hold", label=gettext_lazy("Quality hold"), severity=Severity.CRITICAL,
                        subject=hold, render=render_quality_hold)
