"""Alerts of every kind: the lifecycle they share, escalation policies and in-app notifications.

Domain apps own the rules that raise alerts and register their kinds (alerts.registry); what an
alert does once raised (acknowledge, start, resolve, recover, escalate) is the same for all.
The tables were messaging's until the alerts app was split out (migration alerts/0002 renamed
them; their rows kept their ids).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from scm_portal.tenancy.models import Tenant
from scm_portal.tenancy.querysets import AccessPolicy, TenantQuerySet
from scm_portal.tenancy.roles import CORE_ROLES, PARTNER_ROLES, Role


class Severity(models.IntegerChoices):
    INFO = 10, _("Info")
    WARNING = 20, _("Warning")
    CRITICAL = 30, _("Critical")


SEVERITY_NAMES = {Severity.INFO: "info", Severity.WARNING: "warning", Severity.CRITICAL: "critical"}
SEVERITY_BY_NAME = {name: value for value, name in SEVERITY_NAMES.items()}
SEVERITY_NAME_VALUES = list(SEVERITY_BY_NAME)


class AlertState(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    IN_PROGRESS = "in_progress", _("In progress")
    RESOLVED = "resolved", _("Resolved")


class EscalationPolicy(models.Model):
    """Per tenant and alert kind/severity: who is told next when nobody acknowledges.

    levels: [{"after_seconds": 300, "roles": ["planner"], "users": ["acme.planner"], "channels": ["in_app"]}]
    Level n fires `after_seconds` after level n-1 (level 1: after the alert was raised).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="escalation_policies")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=40, blank=True, default="")  # "" = every kind
    min_severity = models.SmallIntegerField(choices=Severity.choices, default=Severity.INFO)
    levels = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": CORE_ROLES, "add": {Role.TENANT_ADMIN, Role.COORDINATOR}, "change": {Role.TENANT_ADMIN, Role.COORDINATOR}},
    )

    class Meta:
        indexes = [models.Index(fields=["tenant", "kind", "active"])]


class Alert(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=40)
    severity = models.SmallIntegerField(choices=Severity.choices, default=Severity.WARNING)
    state = models.CharField(max_length=20, choices=AlertState.choices, default=AlertState.OPEN)
    level = models.SmallIntegerField(default=0)  # escalation levels fired so far
    dedupe_key = models.CharField(max_length=200)  # one unresolved alert per rule condition
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True, default="")
    subject_kind = models.CharField(max_length=40, blank=True, default="")
    subject_ref = models.CharField(max_length=64, blank=True, default="")
    partner = models.ForeignKey("tenancy.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    core_audience = models.CharField(max_length=300, blank=True, default="")  # roles told live (",warehouse,")
    payload = models.JSONField(default=dict, blank=True)
    cards = models.JSONField(default=list, blank=True)  # [{"room": id, "seq": n}] event cards of this alert
    policy = models.ForeignKey(EscalationPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recovered = models.BooleanField(default=False)  # resolved because the condition cleared by itself

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(
        core={"view": CORE_ROLES, "change": CORE_ROLES - {Role.AUDITOR}},
        partner={"view": PARTNER_ROLES, "change": PARTNER_ROLES},
        partner_field="partner",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "dedupe_key"], condition=~Q(state="resolved"), name="alert_one_unresolved_per_key"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "opened_at"]),
            models.Index(fields=["tenant", "kind", "opened_at"]),
            models.Index(fields=["tenant", "subject_kind", "subject_ref"]),
            # The escalation sweep reads only unacknowledged alerts that are due.
            models.Index(fields=["next_escalation_at"], condition=Q(state="open"), name="alert_due_open"),
        ]

    def __str__(self):
        return f"{self.kind} #{self.pk}"


class _IsLiteral(models.Lookup):
    """`state__is="open"` / `state__is_not="resolved"`: the constant written into the SQL as a
    literal, not a parameter.

    With a parameter, a prepared statement's generic plan cannot tell that a partial index on
    the state applies (alert_one_unresolved_per_key, alert_due_open): it then finds an alert by
    its dedupe key by scanning every alert of the tenant instead."""

    lookup_name = "is"
    prepare_rhs = False
    negated = False

    def as_sql(self, compiler, connection):
        value = str(self.rhs)
        if not value.isidentifier() or not value.isascii():
            raise ValueError(f"{self.lookup_name} takes a constant word, not {value!r}")
        lhs, params = self.process_lhs(compiler, connection)
        return (f"NOT ({lhs} = '{value}')" if self.negated else f"{lhs} = '{value}'"), params


class _IsNotLiteral(_IsLiteral):
    lookup_name = "is_not"
    negated = True


def register_lookups():
    """`state__is` and `state__is_not` on Alert.state; called from AlertsConfig.ready()."""
    state = Alert._meta.get_field("state")
    state.register_lookup(_IsLiteral)
    state.register_lookup(_IsNotLiteral)


class AlertEvent(models.Model):
    """Who did what to an alert, and when (raised, acknowledged, started, resolved, escalated, recovered)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    level = models.SmallIntegerField(default=0)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["tenant", "action", "at"])]


class Notification(models.Model):
    """An in-app notice to one user (an alert raised for them, or escalated to them)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20)  # "alert" | "escalation"
    level = models.SmallIntegerField(default=0)
    channels = models.JSONField(default=list, blank=True)  # where else it should go (outbox, later)
    # What the notice says as a key and parameters (messaging.texts), rendered in each reader's
    # language: alerts.selectors.notification_text. `text` is its rendering in the tenant's
    # language when written, shown as it is for a key nobody registers any more and for the rows
    # written before notices were keyed (keyed_text null).
    keyed_text = models.JSONField(null=True, blank=True)
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(owner_field="user")

    class Meta:
        indexes = [models.Index(fields=["tenant", "user", "read_at"])]
        constraints = [
            # One notice per user, alert, kind and level: a re-run sweep never notifies twice.
            models.UniqueConstraint(fields=["user", "alert", "kind", "level"], name="notification_once"),
        ]
