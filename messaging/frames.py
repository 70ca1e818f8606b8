"""The JSON shape of a message, shared by the API and the socket (one plain function, no
serializer machinery on the hot path)."""

from contextlib import nullcontext
from functools import lru_cache

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from messaging import registry
from messaging.sanitize import render_markdown
from messaging.texts import text_render
from scm_portal.tenancy.roles import CORE_ROLES, is_read_only

# A posted message is framed twice (the socket publish and the HTTP answer), and pages and
# syncs frame the same recent messages again: the HTML is a pure function of the body.
_body_html = lru_cache(maxsize=512)(render_markdown)
body_html = _body_html


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


def destroyed_notice(language=None):
    """What a tombstone says in place of its content (docs/AUDIT_RETENTION.md)."""
    with translation.override(language) if language else nullcontext():
        return str(_("This message was destroyed under the retention policy."))


def message_body(message, language=None):
    """What the message says in `language` (None: the active one): its text rendered when it has
    one (messaging.texts), else its body as written; a tombstone's notice once it is destroyed."""
    if message.destroyed_at is not None:
        return destroyed_notice(language)
    if message.text is None:
        return message.body
    return text_render(message.text, language, fallback=message.body)


def _may_write(message, context):
    """The default of a button without `available`: whoever may write in the room (not a
    read-only auditor; in an internal note, only core staff)."""
    roles = context.roles
    if not roles or is_read_only(roles):
        return False
    return not message.internal or bool(roles & CORE_ROLES)


def action_availability(message, name, context, record):
    """"enabled" | "disabled" | "gone" | None (not this reader's) for this reader: the registered
    action's `available` (messaging.registry.Action), or the default rule; an action nobody
    registers any more is not offered. A read-only reader (the auditor, who reads every card of
    their rooms) is offered none, whatever the action's own rule says."""
    entry = registry.ACTIONS.get(name)
    if entry is None or is_read_only(context.roles):
        return None
    if entry.available is None:
        return "enabled" if _may_write(message, context) else None
    return entry.available(message=message, context=context, record=record)


def message_actions(message, *, context=None, record=None, language=None):
    """The message's buttons as this reader sees them: [{"name", "label", "enabled"}, and "url" for
    a link button, "input" (the fields a press carries) and "hint" (why a disabled one is) where
    they apply], labels in
    `language`. Without a `context` (no reader known), every stored button, enabled."""
    if not message.actions:
        return []
    with translation.override(language) if language else nullcontext():
        found = []
        for stored in message.actions:
            name = stored["name"]
            entry = registry.ACTIONS.get(name)
            if context is None:
                state = "enabled" if entry is not None else None
            else:
                state = action_availability(message, name, context, record)
            if state is None or state == "gone":
                continue
            label = str(entry.label) if entry is not None else stored.get("label", name)
            button = {"name": name, "label": label, "enabled": state == "enabled"}
            if entry is not None and entry.url is not None:
                button["url"] = entry.url(message=message)  # a link button: opens the page
            if entry is not None and entry.inputs:
                button["input"] = list(entry.inputs)  # the fields a press carries (a reason)
            if state == "disabled" and entry is not None and entry.hint:
                button["hint"] = str(entry.hint)  # why it is greyed, and how to make it pressable
            found.append(button)
        return found


def subject_records(messages):
    """{(subject_kind, subject_ref): record} for the messages with buttons, from each subject
    kind's `state` loader (one query per kind), for the buttons' `available`."""
    wanted, records = {}, {}
    for message in messages:
        if message.actions and message.subject_kind:
            known = getattr(message, "subject_state", None)  # handed to event_post by its writer
            if known is not None:
                records[(message.subject_kind, message.subject_ref)] = known
            else:
                wanted.setdefault((message.tenant_id, message.subject_kind), set()).add(message.subject_ref)
    for (tenant_id, kind), refs in wanted.items():
        entry = registry.SUBJECTS.get(kind)
        if entry is not None and entry.state is not None:
            for ref, record in entry.state(tenant_id=tenant_id, refs=sorted(refs)).items():
                records[(kind, str(ref))] = record
    return records


def message_frame(message, attachments=None, *, language=None, context=None, records=None):
    """The message as one reader sees it: its text in `language` (None: the active language), its
    buttons for `context` (the reader's TenantContext; None: every stored button), with `records`
    (subject_records' answer; read here when None and needed).

    `attachments`: prefetched list, or None to read them from the message."""
    if message.destroyed_at is not None:
        return tombstone_frame(message, language=language)
    if attachments is None:
        attachments = list(message.attachments.all()) if message.pk else []
    body = message_body(message, language)
    if context is not None and message.actions and records is None:
        records = subject_records([message])
    record = (records or {}).get((message.subject_kind, message.subject_ref))
    return _frame(
        message, body=body, text=message.text,  # the stored form: key and parameters
        payload=message.payload,
        actions=message_actions(message, context=context, record=record, language=language),
        attachments=[
            {"id": a.id, "name": a.name, "size": a.size, "content_type": a.content_type, "sha256": a.sha256}
            for a in attachments
        ],
    )


def _frame(message, *, body, text, payload, actions, attachments):
    """A message's frame: its place in the room and its routing, with what it says."""
    return {
        "type": "message",
        "room": message.room_id,
        "seq": message.seq,
        "kind": message.kind,
        "sender": sender_info(message.sender) if message.sender_id else None,
        "body": body,
        "body_html": _body_html(body),
        "text": text,
        "payload": payload,
        "actions": actions,
        "subject": {"kind": message.subject_kind, "id": message.subject_ref} if message.subject_kind else None,
        "internal": message.internal,
        "core_audience": audience_roles(message.core_audience),
        "recipient": message.recipient_id,
        "refers_to": message.refers_to,
        "relation": message.relation,
        "client_id": message.client_id,
        "attachments": attachments,
        "hash": message.hash,
        "created_at": message.created_at.isoformat(),
    }


def tombstone_frame(message, *, language=None):
    """A destroyed message as every reader sees it: its place in the room (seq, hash, sender, time,
    subject) and the notice, never its old content, buttons or files."""
    frame = _frame(message, body=destroyed_notice(language), text=None, payload={}, actions=[], attachments=[])
    frame.update(destroyed=True, destroyed_at=message.destroyed_at.isoformat())
    return frame
