"""Test helpers for the socket side."""

from django.db import transaction
from django.utils import timezone

from messaging.chain import message_hash
from messaging.models import Message, MessageKind, Room
from tests.api_contract import user


def backlog(room_id, count, username, prefix="backlog"):
    """Appends `count` chat messages to a room in one statement, chained as message_post chains them
    (no publish: they are what a reconnecting client missed). Returns the room's new head."""
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room_id)
        sender, now, messages = user(username), timezone.now(), []
        for i in range(count):
            message = Message(tenant_id=room.tenant_id, room=room, seq=room.last_seq + 1, prev_hash=room.last_hash,
                              created_at=now, kind=MessageKind.CHAT, sender=sender, body=f"{prefix} {i}")
            message.hash = message_hash(message, room.last_hash)
            room.last_seq, room.last_hash, room.last_message_at = message.seq, message.hash, now
            messages.append(message)
        Message.objects.bulk_create(messages, batch_size=1000)
        room.save(update_fields=["last_seq", "last_hash", "last_message_at"])
    return room.last_seq
