from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.models import AuditRecord


class AuditObjectSerializer(serializers.Serializer):
    kind = serializers.CharField()
    ref = serializers.CharField()


class AuditRecordSerializer(serializers.ModelSerializer):
    """One record: `{at, actor, action, object, before, after, hash}` (CONTRACT.md), with its id,
    its place in the tenant's chain (`seq`, `prev_hash`) and the client address of a login."""

    actor = serializers.SerializerMethodField()
    object = serializers.SerializerMethodField()
    before = serializers.JSONField(read_only=True)
    after = serializers.JSONField(read_only=True)

    class Meta:
        model = AuditRecord
        fields = ["id", "seq", "at", "actor", "action", "object", "before", "after", "ip", "prev_hash", "hash"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_actor(self, record):
        return record.actor_label or None  # None: the system (a sweep, an import without a user)

    @extend_schema_field(AuditObjectSerializer(allow_null=True))
    def get_object(self, record):
        if not record.object_kind:
            return None
        return {"kind": record.object_kind, "ref": record.object_ref}


class VerifyRequestSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=["tenant", "room", "record"])
    room = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    kind = serializers.CharField(required=False, max_length=40)
    ref = serializers.CharField(required=False, max_length=100)

    def validate(self, data):
        if data["scope"] == "room" and "room" not in data:
            raise serializers.ValidationError({"room": [_("Give the room's id.")]})
        if data["scope"] == "record" and not (data.get("kind") and data.get("ref")):
            raise serializers.ValidationError({"kind": [_("Give the record's kind and ref.")]})
        return data


class ChainResultSerializer(serializers.Serializer):
    chain = serializers.CharField()
    id = serializers.CharField()
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    broken_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    head = serializers.CharField()


class VerifyResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    scope = serializers.CharField()
    chains = ChainResultSerializer(many=True)
    first_broken = ChainResultSerializer(allow_null=True)


class VerifyPdfRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="a trail PDF exported from the portal (multipart/form-data)")


class VerifyPdfResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    kind = serializers.CharField()
    ref = serializers.CharField()
    tenant = serializers.CharField()
    messages = serializers.IntegerField()
    exported_by = serializers.CharField()
    exported_at = serializers.CharField()
    problems = serializers.ListField(child=serializers.CharField())
