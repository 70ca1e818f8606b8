"""The alert API's shapes. What an alert is about comes from its kind's registration: each
registered subject (alerts.registry.AlertSubject) is a field of every alert (null when the alert
is about something else) and a `by_<field>` list of the KPIs."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.models import SEVERITY_BY_NAME, SEVERITY_NAME_VALUES, SEVERITY_NAMES, Alert, EscalationPolicy, Notification
from alerts.notices import notification_text
from alerts.registry import alert_subjects, alert_text, subject_ref
from scm_portal.api.serializers import StrictBooleanField, StrictCharField, StrictModelSerializer, StrictSerializer
from scm_portal.tenancy.models import Membership
from scm_portal.tenancy.roles import CORE_ROLE_VALUES

CHANNELS = {"in_app", "wecom", "dingtalk", "feishu", "email", "webhook"}
MAX_LEVELS = 10


class SeverityField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=SEVERITY_NAME_VALUES, **kwargs)

    def to_representation(self, value):
        return SEVERITY_NAMES.get(value, value)

    def to_internal_value(self, data):
        return SEVERITY_BY_NAME[super().to_internal_value(data)]

    def get_default(self):
        # The default is given by name, as clients write it; what the serializer returns is the level.
        default = super().get_default()
        return SEVERITY_BY_NAME[default] if isinstance(default, str) else default


@extend_schema_field(OpenApiTypes.STR)
class SubjectRefField(serializers.Field):
    """An alert's reference to one registered subject, or null."""

    def __init__(self, subject, **kwargs):
        self.subject = subject
        super().__init__(source="*", read_only=True, allow_null=True, **kwargs)

    def to_representation(self, alert):
        return subject_ref(alert, self.subject)


class AlertSerializer(serializers.ModelSerializer):
    severity = SeverityField()
    partner = serializers.CharField(source="partner.slug", allow_null=True, default=None)
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", allow_null=True, default=None)
    started_by = serializers.CharField(source="started_by.username", allow_null=True, default=None)
    resolved_by = serializers.CharField(source="resolved_by.username", allow_null=True, default=None)

    class Meta:
        model = Alert
        # and, before subject_kind, a field per registered subject (get_fields)
        fields = ["id", "kind", "state", "severity", "level", "title", "body", "subject_kind", "subject_ref",
                  "partner", "payload", "cards", "opened_at", "acknowledged_at", "acknowledged_by", "started_at",
                  "started_by", "resolved_at", "resolved_by", "recovered", "next_escalation_at"]

    def get_fields(self):
        fields = {}
        for name, field in super().get_fields().items():
            if name == "subject_kind":  # the registered subjects' fields come first
                fields.update({subject.field: SubjectRefField(subject) for subject in alert_subjects()})
            fields[name] = field
        return fields

    def to_representation(self, alert):
        data = super().to_representation(alert)
        data["title"], data["body"] = alert_text(alert)  # in the reader's language when the kind renders it
        return data


class LevelSerializer(StrictSerializer):
    after_seconds = serializers.IntegerField(min_value=1, max_value=7 * 24 * 3600)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=CORE_ROLE_VALUES), required=False, default=list)
    users = serializers.ListField(child=StrictCharField(max_length=150), required=False, default=list)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=sorted(CHANNELS)), required=False, default=lambda: ["in_app"])

    def validate(self, attrs):
        if not attrs["roles"] and not attrs["users"]:
            raise serializers.ValidationError(_("A level names at least one role or user to tell."))
        return attrs


class EscalationPolicySerializer(StrictModelSerializer):
    name = StrictCharField(max_length=200)
    kind = StrictCharField(max_length=40, required=False, allow_blank=True, default="")
    min_severity = SeverityField(required=False, default="info")
    levels = LevelSerializer(many=True)
    active = StrictBooleanField(required=False, default=True)

    class Meta:
        model = EscalationPolicy
        fields = ["id", "name", "kind", "min_severity", "levels", "active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_levels(self, levels):
        if not levels:
            raise serializers.ValidationError(_("A policy has at least one level."))
        if len(levels) > MAX_LEVELS:
            raise serializers.ValidationError(_("At most %(n)d levels.") % {"n": MAX_LEVELS})
        tenant = self.context["tenant"]
        names = {u for level in levels for u in level["users"]}
        members = set(
            Membership.objects.active().filter(tenant=tenant, user__username__in=names).values_list("user__username", flat=True)
        )
        unknown = sorted(names - members)
        if unknown:
            raise serializers.ValidationError(_("Not members of this tenant: %(names)s.") % {"names": ", ".join(unknown)})
        return levels


class NotificationSerializer(serializers.ModelSerializer):
    text = serializers.SerializerMethodField(help_text="What the notice says, in the reader's language.")

    class Meta:
        model = Notification
        fields = ["id", "kind", "alert", "level", "text", "channels", "created_at", "read_at"]

    def get_text(self, notice) -> str:
        return notification_text(notice)  # the request's language is the active one


class NotificationCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class NotificationReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False,
                                max_length=500, help_text="The notices to mark read; without it, all of them.")


class NotificationReadResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class KpiSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    total = serializers.IntegerField()
    open = serializers.IntegerField()
    time_to_acknowledge = serializers.DictField()
    time_to_resolve = serializers.DictField()
    by_kind = serializers.ListField(child=serializers.DictField())
    by_supplier = serializers.ListField(child=serializers.DictField())
    # and a `by_<field>` per registered subject (get_fields)
    by_day = serializers.ListField(child=serializers.DictField())

    def get_fields(self):
        fields = {}
        for name, field in super().get_fields().items():
            if name == "by_day":
                fields.update({f"by_{subject.field}": serializers.ListField(child=serializers.DictField())
                               for subject in alert_subjects()})
            fields[name] = field
        return fields


