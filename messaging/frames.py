"""The JSON shape of a message, shared by the API and the socket (one plain function, no
serializer machinery on the hot path)."""

from functools import lru_cache

from messaging.sanitize import render_markdown

# A posted message is framed twice (the socket publish and the HTTP answer), and pages and
# syncs frame the same recent messages again: the HTML is a pure function of the body.
_body_html = lru_cache(maxsize=512)(render_markdown)


def audience_roles(stored):
    return [role for role in stored.split(",") if role]


def audience_value(roles):
    """The stored form of a core audience: ",a,b," (sorted), or "" for everyone."""
    roles = sorted({str(r) for r in roles or ()})
    return f",{','.join(roles)}," if roles else ""


def sender_info(user):
    if user is None:
        return None
    return {"id": user.id, "username": user.username, "name": user.get_full_name() or user.username}


def message_frame(message, attachments=None):
    """`attachments`: prefetched list, or None to read them from the message."""
    if attachments is None:
        attachments = list(message.attachments.all()) if message.pk else []
    subject = {"kind": message.subject_kind, "id": message.subject_ref} if message.subject_kind else None
    return {
        "type": "message",
        "room": message.room_id,
        "seq": message.seq,
        "kind": message.kind,
        "sender": sender_info(message.sender) if message.sender_id else None,
        "body": message.body,
        "body_html": _body_html(message.body),
        "payload": message.payload,
        "actions": message.actions,
        "subject": subject,
        "internal": message.internal,
        "core_audience": audience_roles(message.core_audience),
        "recipient": message.recipient_id,
        "refers_to": message.refers_to,
        "relation": message.relation,
        "client_id": message.client_id,
        "attachments": [
            {"id": a.id, "name": a.name, "size": a.size, "content_type": a.content_type, "sha256": a.sha256}
            for a in attachments
        ],
        "hash": message.hash,
        "created_at": message.created_at.isoformat(),
    }
