"""Access helpers for rooms and messages: the same 404 for missing and not-yours."""

from django.http import Http404

from messaging.models import Attachment, Message, Room
from scm_portal.tenancy.access import access_in_context


def access_room(user, tenant, room_id, context=None):
    """`context`: the request's TenantContext for `tenant`, when the caller has one (API views)."""
    try:
        room_id = int(room_id)
    except (TypeError, ValueError):
        raise Http404 from None
    if context is not None:
        if context.tenant_id != tenant.pk:
            raise ValueError("access_room: the tenant context is for another tenant")
        return access_in_context(Room, user, context, room_id)
    room = Room.objects.for_tenant(tenant).visible_to(user, "view").filter(pk=room_id).first()
    if room is None:
        raise Http404
    return room


def access_message(user, room, seq):
    try:
        seq = int(seq)
    except (TypeError, ValueError):
        raise Http404 from None
    message = Message.objects.filter(room=room, seq=seq).visible_to(user).select_related("sender").first()
    if message is None:
        raise Http404
    return message


def access_attachment(user, room, attachment_id):
    try:
        attachment_id = int(attachment_id)
    except (TypeError, ValueError):
        raise Http404 from None
    # A destroyed message's files are gone (its sha256 stays on the row, for the trail).
    attachment = (Attachment.objects.filter(pk=attachment_id, message__room=room, message__destroyed_at__isnull=True)
                  .select_related("message").first())
    if attachment is None or not Message.objects.filter(pk=attachment.message_id).visible_to(user).exists():
        raise Http404
    return attachment
