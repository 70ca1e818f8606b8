from rest_framework import serializers

from scm_portal.api.serializers import StrictBooleanField, StrictCharField, StrictSerializer
from scm_portal.tenancy.roles import CORE_ROLE_VALUES


class RoomSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    partner = serializers.SerializerMethodField()
    team_role = serializers.CharField()
    last_seq = serializers.IntegerField()
    last_hash = serializers.CharField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    unread = serializers.IntegerField(required=False, help_text="Unread messages, counted up to 100 (100 means 100 or more).")

    def get_partner(self, room) -> dict | None:
        if room.partnership_id is None:
            return None
        org = room.partnership.organization
        return {"organization": org.slug, "name": org.name, "kind": room.partnership.kind}


class RoomCreateSerializer(StrictSerializer):
    name = StrictCharField(max_length=200)
    team_role = serializers.ChoiceField(choices=CORE_ROLE_VALUES, required=False, allow_blank=True, default="")


class SubjectSerializer(StrictSerializer):
    kind = serializers.CharField(max_length=40)
    id = serializers.JSONField()


class MessageCreateSerializer(StrictSerializer):
    body = StrictCharField(allow_blank=True, trim_whitespace=False, max_length=None)
    client_id = StrictCharField(max_length=64, required=False, allow_null=True)
    subject = SubjectSerializer(required=False, allow_null=True)
    internal = StrictBooleanField(required=False, default=False)
    refers_to = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    relation = serializers.ChoiceField(choices=["edit", "retract", "reply"], required=False, allow_blank=True, default="")


class ReadSerializer(StrictSerializer):
    seq = serializers.IntegerField(min_value=0)


class ActionSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    enabled = serializers.BooleanField()


class MessageFrameSerializer(serializers.Serializer):
    """Documents the message shape (messaging.frames.message_frame builds it)."""

    type = serializers.CharField()
    room = serializers.IntegerField()
    seq = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["chat", "event", "bot", "system"])
    sender = serializers.DictField(allow_null=True)
    body = serializers.CharField(help_text="In the request's language when the message is keyed (see `text`).")
    body_html = serializers.CharField()
    text = serializers.DictField(allow_null=True, help_text='The stored form of a card, notice or bot answer: {"key", "params"}.')
    payload = serializers.DictField()
    actions = ActionSerializer(many=True, help_text="Only the buttons this reader may press; `enabled: false` when the record's state no longer allows it.")
    subject = serializers.DictField(allow_null=True)
    internal = serializers.BooleanField()
    recipient = serializers.IntegerField(allow_null=True)
    refers_to = serializers.IntegerField(allow_null=True)
    relation = serializers.CharField()
    client_id = serializers.CharField(allow_null=True)
    attachments = serializers.ListField(child=serializers.DictField())
    hash = serializers.CharField()
    created_at = serializers.DateTimeField()
    destroyed = serializers.BooleanField(required=False, help_text="Present and true on a tombstone: destroyed under "
                                         "the retention policy; `body` says so, and the old content is gone.")
    destroyed_at = serializers.DateTimeField(required=False)


class MessagePageSerializer(serializers.Serializer):
    results = MessageFrameSerializer(many=True)
    next = serializers.CharField(allow_null=True)


class ActionPressSerializer(serializers.Serializer):
    """The fields a button takes, when it takes any (its frame's `input`): a reject's reason."""

    reason = serializers.CharField(required=False, max_length=2000)


class ActionResultSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    action = serializers.CharField()
    already_pressed = serializers.BooleanField()
    pressed_by = serializers.CharField()
    outcome_seq = serializers.IntegerField(allow_null=True)


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    body = serializers.CharField(required=False, allow_blank=True, default="")
    client_id = serializers.CharField(max_length=64, required=False, allow_null=True)


class ChainSerializer(serializers.Serializer):
    room = serializers.IntegerField()
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    broken_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    head = serializers.CharField()
