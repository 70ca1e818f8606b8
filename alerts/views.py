"""Alert pages under /t/<tenant>/alerts/: the live board, escalation policies and KPIs.

Thin views. Reads go through alerts.selectors and `.for_tenant(t).visible_to(user)`;
alert state changes are made by the board's script through the REST API (the same service
calls and checks as every other client); escalation policies are validated by the API's
EscalationPolicySerializer, so the page and the API accept exactly the same policies.
Charts are inline SVG drawn on the server. Kind labels and what an alert is about (a column
of the board, a chart of the KPIs) come from the kinds' registrations (alerts.registry).
"""

import math
import re
from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from alerts import registry, selectors, services
from alerts.api.serializers import CHANNELS, MAX_LEVELS, EscalationPolicySerializer
from alerts.models import SEVERITY_NAMES, Alert, AlertState, EscalationPolicy, Severity
from scm_portal.charts import nice_ceiling, svg_number
from scm_portal.tenancy.models import Partnership
from scm_portal.tenancy.roles import CORE_ROLE_VALUES, Role, is_core_staff
from scm_portal.tenancy.views import tenant_page

PAGE_SIZE = 50

# What each state lets a person do next (the services refuse anything else).
NEXT_ACTIONS = {
    AlertState.OPEN: ("ack", "start", "resolve"),
    AlertState.ACKNOWLEDGED: ("start", "resolve"),
    AlertState.IN_PROGRESS: ("resolve",),
    AlertState.RESOLVED: (),
}
ACTION_LABELS = {"ack": gettext_lazy("Acknowledge"), "start": gettext_lazy("Start"), "resolve": gettext_lazy("Resolve")}
CHANNEL_LABELS = {
    "in_app": gettext_lazy("In the portal"),
    "wecom": gettext_lazy("WeCom"),
    "dingtalk": gettext_lazy("DingTalk"),
    "feishu": gettext_lazy("Feishu"),
    "email": gettext_lazy("Email"),
    "webhook": gettext_lazy("Webhook"),
}


def kind_labels():
    """{kind: label} of every registered kind (the domain apps register theirs)."""
    return {definition.kind: definition.label for definition in registry.alert_kinds()}


def kind_label(kind):
    return registry.kind_label(kind) if kind else _("Any kind")


def subject_columns(tenant):
    """The board's columns of what alerts are about, one per registered subject. `url`: the
    subject's page with `__ref__` for the reference (the board's script fills it in)."""
    return [
        {"field": subject.field, "label": str(subject.label), "subject_kind": subject.subject_kind,
         "url": subject.url(tenant.slug, "__ref__") if subject.url else ""}
        for subject in registry.alert_subjects()
    ]


def _may_act(roles):
    policy = Alert.access_policy
    return bool(set(roles) & (set(policy.core.get("change", ())) | set(policy.partner.get("change", ()))))


def _decorate(alert, tenant):
    """Display fields of one alert row (the board's script renders live rows the same way)."""
    alert.severity_name = SEVERITY_NAMES.get(alert.severity, str(alert.severity))
    alert.kind_label = kind_label(alert.kind)
    alert.title, alert.body = registry.alert_text(alert)
    alert.subject_cells = []
    for subject in registry.alert_subjects():
        ref = registry.subject_ref(alert, subject)
        url = subject.url(tenant.slug, ref) if ref and subject.url else ""
        alert.subject_cells.append({"field": subject.field, "label": subject.label, "ref": ref or "", "url": url})
    alert.next_actions = NEXT_ACTIONS.get(alert.state, ())
    return alert


# --- the board --------------------------------------------------------------------------------

STATE_FILTERS = [("active", gettext_lazy("Unresolved")), *AlertState.choices, ("all", gettext_lazy("All"))]


class BoardFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=STATE_FILTERS)
    kind = forms.CharField(required=False, max_length=40)
    mine = forms.BooleanField(required=False)


@tenant_page
def board(request):
    tenant, user = request.tenant, request.user
    form = BoardFilterForm(request.GET)
    form.is_valid()  # a value that does not parse is dropped, never a 500
    state = form.cleaned_data.get("state") or "active"
    kind = form.cleaned_data.get("kind") or ""
    mine = bool(form.cleaned_data.get("mine"))
    alerts = selectors.alert_list(user=user, tenant=tenant, context=request.tenant_context, mine=mine)
    if state == "active":
        alerts = alerts.exclude(state=AlertState.RESOLVED)
    elif state != "all":
        alerts = alerts.filter(state=state)
    if kind:
        alerts = alerts.filter(kind=kind)
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    for alert in page.object_list:
        _decorate(alert, tenant)
    kinds = set(selectors.alert_list(user=user, tenant=tenant, context=request.tenant_context).order_by()
                .values_list("kind", flat=True).distinct())
    kinds = sorted(kinds | {kind} - {""})
    context = {
        "page": page,
        "filters": {"state": state, "kind": kind, "mine": mine},
        "filtered": state != "active" or bool(kind) or mine,
        "state_filters": STATE_FILTERS,
        "kinds": [(k, kind_label(k)) for k in kinds],
        "partners": _partner_names(request),
        "subject_columns": subject_columns(tenant),
        "may_act": _may_act(request.tenant_context.roles),
        "is_core": is_core_staff(request.tenant_context.roles),
        "strings": _board_strings(),
    }
    return render(request, "alerts/board.html", context)


def _partner_names(request):
    """{slug: name} of the partners the user may see (alert frames name a partner by its slug)."""
    partnerships = Partnership.objects.for_tenant(request.tenant).visible_to(request.user, "view",
                                                                             context=request.tenant_context)
    return {p.organization.slug: p.organization.name for p in partnerships.select_related("organization")}


def _board_strings():
    """Labels the board's script needs for rows it draws from socket frames."""
    strings = {f"state.{value}": label for value, label in AlertState.choices}
    strings.update({f"severity.{SEVERITY_NAMES[value]}": label for value, label in Severity.choices})
    strings.update({f"kind.{k}": label for k, label in kind_labels().items()})
    strings.update({f"action.{k}": label for k, label in ACTION_LABELS.items()})
    strings.update({f"label.{subject.field}": subject.label for subject in registry.alert_subjects()})
    return strings


# --- escalation policies -----------------------------------------------------------------------

UNIT_SECONDS = {"s": 1, "min": 60, "h": 3600}
UNIT_LABELS = [("s", gettext_lazy("seconds")), ("min", gettext_lazy("minutes")), ("h", gettext_lazy("hours"))]
USER_SEPARATORS = re.compile(r"[\s,，;；、]+")


def _policy_editor(roles):
    return bool(set(roles) & set(EscalationPolicy.access_policy.core.get("change", ())))


def _policies_visible(request):
    if not request.tenant_context.roles & set(EscalationPolicy.access_policy.core.get("view", ())):
        return None
    return EscalationPolicy.objects.for_tenant(request.tenant).visible_to(request.user, "view",
                                                                          context=request.tenant_context)


def _level_row(level):
    """A stored level as the form shows it (whole minutes or hours when it divides evenly)."""
    seconds = level.get("after_seconds") or 0
    unit = "h" if seconds and seconds % 3600 == 0 else "min" if seconds and seconds % 60 == 0 else "s"
    return {
        "after": str(seconds // UNIT_SECONDS[unit]) if seconds else "",
        "unit": unit,
        "roles": list(level.get("roles", [])),
        "users": ", ".join(level.get("users", [])),
        "channels": list(level.get("channels", ["in_app"])),
        "errors": [],
        "field_errors": {},
    }


def _blank_row():
    return {"after": "", "unit": "min", "roles": [], "users": "", "channels": ["in_app"],
            "errors": [], "field_errors": {}}


def _rows_from_post(post):
    """The level rows filled in, and how many were left empty."""
    try:
        count = max(0, min(int(post.get("level_count", "0")), MAX_LEVELS + 5))
    except ValueError:
        count = 0
    rows, blank = [], 0
    for index in range(count):
        prefix = f"level-{index}-"
        row = {
            "after": post.get(prefix + "after", "").strip()[:12],
            "unit": post.get(prefix + "unit", "min") if post.get(prefix + "unit") in UNIT_SECONDS else "min",
            "roles": post.getlist(prefix + "roles"),
            "users": post.get(prefix + "users", "").strip()[:2000],
            "channels": post.getlist(prefix + "channels"),
            "errors": [],
            "field_errors": {},
        }
        if row["after"] or row["roles"] or row["users"]:
            rows.append(row)
        else:
            blank += 1  # an untouched row is left out
    return rows, blank


def _level_data(row):
    after = row["after"]
    level = {
        "after_seconds": int(after) * UNIT_SECONDS[row["unit"]] if re.fullmatch(r"\d{1,9}", after) else after,
        "roles": row["roles"],
        "users": [name for name in USER_SEPARATORS.split(row["users"]) if name],
    }
    if row["channels"]:
        level["channels"] = row["channels"]
    return level


def _messages(value):
    """Error texts out of DRF's nested error structure, flattened."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in _messages(item)]
    if isinstance(value, list):
        return [text for item in value for text in _messages(item)]
    return [str(value)]


def _apply_errors(errors, rows):
    """Spreads the serializer's errors over the form: per field, per level row, and the rest."""
    top_level = ("name", "kind", "min_severity", "active")
    field_errors = {name: _messages(errors[name]) for name in top_level if name in errors}
    general = _messages(errors.get("non_field_errors", []))
    level_errors = errors.get("levels")
    if isinstance(level_errors, dict):  # {index: errors} or {"non_field_errors": [...]}
        level_errors = [level_errors.get(i, level_errors.get(str(i), {})) for i in range(len(rows))] if any(
            str(k).isdigit() for k in level_errors) else _messages(level_errors)
    if isinstance(level_errors, list):
        if level_errors and all(isinstance(item, dict) for item in level_errors):
            for row, row_errors in zip(rows, level_errors):
                row["field_errors"] = {k: _messages(v) for k, v in row_errors.items() if k != "non_field_errors"}
                row["errors"] = _messages(row_errors.get("non_field_errors", []))
        else:
            field_errors["levels"] = _messages(level_errors)
    known = {"name", "kind", "min_severity", "active", "levels", "non_field_errors"}
    general += [text for name, value in errors.items() if name not in known for text in _messages(value)]
    return field_errors, general


def _form_context(request, policy, values, rows, field_errors=None, general_errors=None):
    kinds = [("", _("Any kind"))] + list(kind_labels().items())
    if values["kind"] and values["kind"] not in dict(kinds):
        kinds.append((values["kind"], values["kind"]))
    if len(rows) < MAX_LEVELS:
        rows = rows + [_blank_row()]
    for number, row in enumerate(rows, 1):
        row["number"] = number
    return {
        "policy": policy,
        "values": values,
        "rows": rows,
        "level_count": len(rows),
        "max_levels": MAX_LEVELS,
        "kinds": kinds,
        "severities": [(SEVERITY_NAMES[value], label) for value, label in Severity.choices],
        "core_roles": [(role.value, role.label) for role in Role if role.value in CORE_ROLE_VALUES],
        "channels": [(c, CHANNEL_LABELS.get(c, c)) for c in sorted(CHANNELS, key=lambda c: (c != "in_app", c))],
        "units": UNIT_LABELS,
        "may_edit": _policy_editor(request.tenant_context.roles),
        "field_errors": field_errors or {},
        "general_errors": general_errors or [],
        "has_errors": bool(field_errors or general_errors or any(r["errors"] or r["field_errors"] for r in rows)),
    }


def _level_summary(level):
    seconds = level.get("after_seconds") or 0
    return {
        "after": duration_text(seconds),
        "roles": [Role(r).label if r in Role.values else r for r in level.get("roles", [])],
        "users": level.get("users", []),
        "channels": [CHANNEL_LABELS.get(c, c) for c in level.get("channels", [])],
    }


@tenant_page
def policy_list(request):
    policies = _policies_visible(request)
    if policies is None:
        return render(request, "403.html", status=403)
    rows = []
    for policy in policies.order_by("-active", "kind", "min_severity", "pk"):
        rows.append({
            "policy": policy,
            "kind_label": kind_label(policy.kind),
            "severity_name": SEVERITY_NAMES.get(policy.min_severity, ""),
            "levels": [_level_summary(level) for level in policy.levels or [] if isinstance(level, dict)],
        })
    may_edit = _policy_editor(request.tenant_context.roles)
    return render(request, "alerts/policies.html", {"rows": rows, "may_edit": may_edit})


@tenant_page
@require_http_methods(["GET", "POST"])
def policy_edit(request, pk=None):
    """Creates (pk None) or edits a policy; read-only for roles that may not change policies."""
    policies = _policies_visible(request)
    if policies is None:
        return render(request, "403.html", status=403)
    policy = None
    if pk is not None:
        policy = policies.filter(pk=pk).first()
        if policy is None:
            raise Http404
    elif not _policy_editor(request.tenant_context.roles):
        return render(request, "403.html", status=403)

    if request.method == "GET":
        if policy is None:
            values = {"name": "", "kind": "", "min_severity": "info", "active": True}
            rows = []
        else:
            values = {"name": policy.name, "kind": policy.kind, "active": policy.active,
                      "min_severity": SEVERITY_NAMES.get(policy.min_severity, "info")}
            rows = [_level_row(level) for level in policy.levels or [] if isinstance(level, dict)]
        return render(request, "alerts/policy_form.html", _form_context(request, policy, values, rows))

    action = "change" if policy is not None else "add"
    if policy is not None and not EscalationPolicy.objects.for_tenant(request.tenant).visible_to(
            request.user, action, context=request.tenant_context).filter(pk=policy.pk).exists():
        return render(request, "403.html", status=403)
    post = request.POST
    values = {
        "name": post.get("name", "").strip(),
        "kind": post.get("kind", "").strip(),
        "min_severity": post.get("min_severity", ""),
        "active": post.get("active") == "1",
    }
    rows, blank = _rows_from_post(post)
    if "add_level" in post:  # one more empty level (the form adds one), nothing saved yet
        rows += [_blank_row() for _i in range(min(blank, MAX_LEVELS - len(rows) - 1))]
        return render(request, "alerts/policy_form.html", _form_context(request, policy, values, rows))
    data = {**values, "levels": [_level_data(row) for row in rows]}
    serializer = EscalationPolicySerializer(policy, data=data, context={"tenant": request.tenant, "request": request})
    if not serializer.is_valid():
        field_errors, general = _apply_errors(serializer.errors, rows)
        context = _form_context(request, policy, values, rows, field_errors, general)
        return render(request, "alerts/policy_form.html", context, status=400)
    saved = services.escalation_policy_save(tenant=request.tenant, actor=request.user, policy=policy, **serializer.validated_data)
    messages.success(request, _("Escalation policy “%(name)s” saved.") % {"name": saved.name})
    return redirect("alerts:policies", tenant=request.tenant.slug)


# --- KPIs ----------------------------------------------------------------------------------------

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30


def duration_text(seconds):
    """"45 s", "12 min", "3 h 20 min", "2 d 4 h" (None: "—")."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    minutes = seconds // 60
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes} if minutes else _("%(h)d h") % {"h": hours}
    days, hours = divmod(hours, 24)
    return _("%(d)d d %(h)d h") % {"d": days, "h": hours} if hours else _("%(d)d d") % {"d": days}


@tenant_page
def kpi_page(request):
    try:
        days = int(request.GET.get("days", DEFAULT_PERIOD))
    except (TypeError, ValueError):
        days = DEFAULT_PERIOD
    if days not in PERIODS:
        days = DEFAULT_PERIOD
    until = timezone.now()
    since = until - timedelta(days=days)
    data = selectors.alert_kpis(user=request.user, tenant=request.tenant, context=request.tenant_context, since=since,
                                until=until)
    partners = _partner_names(request)
    counts_by_day = {row["day"]: row["count"] for row in data["by_day"]}
    first_day, last_day = timezone.localdate(since), timezone.localdate(until)
    days_shown = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
    day_rows = [
        {"label": day.strftime("%m-%d"), "count": counts_by_day.get(day, 0), "title": day.isoformat()}
        for day in days_shown
    ]
    supplier_rows = [
        {"label": row["name"] or partners.get(row["supplier"]) or row["supplier"] or _("No partner"),
         "count": row["count"]}
        for row in data["by_supplier"]
    ]
    subject_charts = [
        {"field": subject.field, "title": subject.per_label,
         "chart": bar_chart([{"label": row[subject.field], "count": row["count"]} for row in data[f"by_{subject.field}"]])}
        for subject in registry.alert_subjects()
    ]
    kind_rows = [{"label": str(kind_label(row["kind"])), "count": row["count"]} for row in data["by_kind"]]
    tta, ttr = data["time_to_acknowledge"], data["time_to_resolve"]
    context = {
        "days": days,
        "periods": PERIODS,
        "kpis": data,
        "tta": {**tta, "average_text": duration_text(tta["average"]), "median_text": duration_text(tta["median"])},
        "ttr": {**ttr, "average_text": duration_text(ttr["average"]), "median_text": duration_text(ttr["median"])},
        "day_chart": column_chart(day_rows),
        "supplier_chart": bar_chart(supplier_rows),
        "subject_charts": subject_charts,
        "kind_chart": bar_chart(kind_rows),
        "is_core": is_core_staff(request.tenant_context.roles),
    }
    return render(request, "alerts/kpis.html", context)


# --- charts (geometry for inline SVG) -----------------------------------------------------------





def _short(label, length=24):
    label = str(label)
    return label if len(label) <= length else label[: length - 1] + "…"


def bar_chart(rows, width=320):
    """Horizontal bars, one per row: the label above its bar, the count after it (reads on a phone)."""
    if not rows:
        return None
    row_height, bar_height, right = 36, 12, 40
    top = nice_ceiling(max(row["count"] for row in rows))
    bars = []
    for index, row in enumerate(rows):
        y = index * row_height
        length = (width - right) * row["count"] / top
        bars.append({
            "label": _short(row["label"]), "full_label": row["label"], "count": row["count"],
            "label_y": svg_number(y + 13), "bar_y": svg_number(y + 18), "bar_width": svg_number(max(length, 2)),
            "count_x": svg_number(max(length, 2) + 5), "count_y": svg_number(y + 18 + bar_height - 1),
        })
    return {"width": width, "height": len(rows) * row_height, "bar_height": bar_height, "bars": bars}


def column_chart(rows, width=480, height=180):
    """Vertical bars per day with a few date labels under them."""
    if not rows:
        return None
    left, right, top_pad, bottom = 32, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = nice_ceiling(max([row["count"] for row in rows] + [1]))
    slot = plot_w / len(rows)
    gap = min(4, slot * 0.2)
    label_every = max(1, math.ceil(len(rows) / 6))
    columns = []
    for index, row in enumerate(rows):
        bar_h = plot_h * row["count"] / top
        columns.append({
            "x": svg_number(left + index * slot + gap / 2), "y": svg_number(top_pad + plot_h - bar_h),
            "width": svg_number(max(slot - gap, 1)), "height": svg_number(bar_h), "count": row["count"], "title": row["title"],
            # every few days, and the last day unless it would crowd the label before it
            "label": row["label"] if index % label_every == 0 or (
                index == len(rows) - 1 and index % label_every >= label_every / 2) else "",
            "label_x": svg_number(left + index * slot + slot / 2),
        })
    tick_y = [top_pad + plot_h * (1 - i / 2) for i in range(3)]
    ticks = [{"y": svg_number(y), "text_y": svg_number(y + 4), "label": top * i // 2} for i, y in enumerate(tick_y)]
    return {"width": width, "height": height, "columns": columns, "ticks": ticks, "left": left,
            "right": svg_number(width - right), "label_y": svg_number(height - 6)}

