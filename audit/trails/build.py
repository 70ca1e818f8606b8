"""What a trail holds, read once from the database as plain JSON-able data: the record, its state
history, approvals, attachments, every linked message in order (with its room, seq and hash), the
record's audit records (for readers of the audit log) and the chain heads at export.

The same dict is rendered to HTML (the page, the PDF) and embedded in the PDF as trail.json;
`trail_pdf_verify()` checks that JSON against the database.
"""

from datetime import UTC, datetime

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone, translation

from audit.models import AUDIT_LOG_READERS, AuditChainHead, AuditRecord
from messaging.models import GENESIS_HASH, Attachment, Message, MessageKind, Room
from messaging.texts import text_render
from scm_portal.tenancy.models import Membership

FORMAT = "scm-portal-trail/1"
# Above this many messages a trail renders in chunks as a background job (small ones stream).
LARGE_TRAIL = 500
CHUNK_MESSAGES = 500


def iso(value):
    """A datetime as the JSON holds it: UTC, microseconds (as the chains hash them)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(value):
    return datetime.fromisoformat(value) if value else None


def trail_messages(kind, record, *, user, context):
    """The messages linked to the record that the exporting user may read, in order, and the
    answers, edits and retractions of those messages (a bot's answer to a question about the PO
    is linked through the question it answers).

    What the user may read is MessageQuerySet.visible_to, as on every page, in the API and on the
    socket: the auditor (a whole-room reader, scm_portal.tenancy.roles.reads_whole_room) reads every
    message of the rooms they follow, internal notes, cards routed to other core roles and other
    people's bot questions and answers included; everyone else what they see in the rooms."""
    subjects = kind.subjects_of(record)
    linked = Q(pk__in=[])
    for subject_kind, subject_ref in subjects:
        linked |= Q(subject_kind=subject_kind, subject_ref=str(subject_ref))
    answers = Exists(Message.objects.filter(linked, room_id=OuterRef("room_id"), seq=OuterRef("refers_to")))
    messages = Message.objects.for_tenant(context.tenant).visible_to(user, context=context)
    return (messages.filter(linked | (Q(refers_to__isnull=False) & Q(answers)))
            .select_related("sender", "room").order_by("created_at", "room_id", "seq"))


def trail_message_count(kind, record, *, user, context):
    return trail_messages(kind, record, user=user, context=context).count()


def history_rows(kind, record):
    """The record's state history in the form the JSON holds and the verifier compares."""
    return [
        {"at": iso(row["at"]), "action": str(row.get("action", "")), "from_state": str(row.get("from_state") or ""),
         "to_state": str(row.get("to_state") or ""), "actor": str(row.get("actor") or "")}
        for row in kind.history(record)
    ]


def _organizations(tenant, user_ids):
    """The organisation each sender acts for in the tenant (their first membership there)."""
    names = {}
    rows = (Membership.objects.filter(tenant=tenant, user_id__in=user_ids)
            .order_by("user_id", "-active", "pk").values_list("user_id", "organization__name"))
    for user_id, name in rows:
        names.setdefault(user_id, name)
    return names


def _tombstone(message):
    """When retention destroyed the message's body (seq and hash kept), else None."""
    return getattr(message, "destroyed_at", None)


def _message_text(message, language):
    if message.text:
        return text_render(message.text, language, fallback=message.body)
    return message.body


def _user_label(user):
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


KIND_LABELS = dict(MessageKind.choices)


def trail_build(kind, record, *, user, context, export_record=None, language=None):
    """The trail as a JSON-able dict (see the module doc). `export_record`: the `trail.export`
    audit record this export wrote (it is the audit chain head the trail names)."""
    language = language or translation.get_language()
    tenant = context.tenant
    ref = str(kind.ref(record))
    with translation.override(language):
        state_labels = {str(value): str(label) for value, label in kind.states}
        record_data = kind.record(record)
        record_data = {
            "title": str(record_data.get("title", "")),
            "state": str(record_data.get("state", "")),
            "state_label": str(record_data.get("state_label", "")),
            "fields": [[str(label), "" if value is None else str(value)] for label, value in record_data.get("fields", [])],
        }
        approvals = [
            {key: (iso(value) if key == "at" else ("" if value is None else str(value))) for key, value in row.items()}
            for row in (kind.approvals(record) if kind.approvals else [])
        ]
        messages = list(trail_messages(kind, record, user=user, context=context))
        organizations = _organizations(tenant, {m.sender_id for m in messages if m.sender_id})
        message_rows = []
        for message in messages:
            tombstone = _tombstone(message)
            message_rows.append({
                "room": message.room_id,
                "room_name": message.room.name,
                "seq": message.seq,
                "hash": message.hash,
                "prev_hash": message.prev_hash,
                "kind": message.kind,
                "kind_label": str(KIND_LABELS.get(message.kind, message.kind)),
                "sender": message.sender.get_username() if message.sender_id else "",
                "sender_name": _user_label(message.sender) if message.sender_id else "",
                "organization": organizations.get(message.sender_id, "") if message.sender_id else "",
                "at": iso(message.created_at),
                "internal": message.internal,
                "relation": message.relation,
                "refers_to": message.refers_to,
                "tombstone": iso(tombstone) if tombstone else None,
                "text": "" if tombstone else _message_text(message, language),
            })
        attachments = [
            {"name": a.name, "sha256": a.sha256, "size": a.size, "source": f"{a.message.room_id}#{a.message.seq}"}
            for a in Attachment.objects.filter(message__in=[m.pk for m in messages]).select_related("message")
            .order_by("message__created_at", "pk")
        ]
        if kind.attachments:
            attachments += [
                {"name": str(a["name"]), "sha256": str(a["sha256"]), "size": int(a.get("size") or 0),
                 "source": str(a.get("source", ""))}
                for a in kind.attachments(record)
            ]
    rooms = sorted({m.room_id for m in messages})
    room_heads = [
        {"room": pk, "seq": last_seq, "hash": last_hash}
        for pk, last_seq, last_hash in Room.objects.filter(pk__in=rooms).order_by("pk").values_list("pk", "last_seq", "last_hash")
    ]
    audit_rows = []
    if context.roles & AUDIT_LOG_READERS:
        audit_rows = [
            {"seq": r.seq, "at": iso(r.at), "action": r.action, "actor": r.actor_label, "hash": r.hash,
             "before": r.before, "after": r.after}
            for r in AuditRecord.objects.for_tenant(tenant).filter(object_kind=kind.kind, object_ref=ref).order_by("seq")
        ]
    if export_record is not None:
        audit_head = {"seq": export_record.seq, "hash": export_record.hash}
    else:
        head = AuditChainHead.objects.filter(tenant=tenant).values_list("last_seq", "last_hash").first()
        audit_head = {"seq": head[0], "hash": head[1]} if head else {"seq": 0, "hash": GENESIS_HASH}
    return {
        "format": FORMAT,
        "tenant": tenant.slug,
        "kind": kind.kind,
        "kind_label": str(kind.label),
        "ref": ref,
        "exported_by": {"id": user.pk, "username": user.get_username(), "name": _user_label(user)},
        "exported_at": iso(export_record.at if export_record is not None else timezone.now()),
        "language": language,
        "record": record_data,
        "state_labels": state_labels,
        "history": history_rows(kind, record),
        "approvals": approvals,
        "attachments": attachments,
        "messages": message_rows,
        "audit_records": audit_rows,
        "chain_heads": {"rooms": room_heads, "audit": audit_head},
    }
