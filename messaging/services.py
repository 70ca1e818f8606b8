"""Every write to rooms and messages. `check_*` validates, the rest writes and emits.

Row locks follow the portal's one lock order (docs/ARCHITECTURE.md, "Lock order"), through
messaging.lock_objects: the room rows, then anything of a record. A message insert locks only
its room, so rooms never wait on each other and a tenant is never serialised. A write that
touches several rooms locks them all at once, in id order (rooms_lock), before anything else.
"""

import hashlib
import mimetypes

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import realtime
from messaging import bot, registry
from messaging.chain import message_hash
from messaging.frames import action_availability, audience_value, subject_records
from messaging.lock_objects import room_lock, room_lock_sent, rooms_lock
from messaging.models import ActionPress, Attachment, Message, MessageKind, ReadState, Room, RoomKind
from messaging.texts import Text, check_text, register_text, text_render
from scm_portal.db.templates import InsertTemplate, QueryTemplate, attnames
from scm_portal.api.text import UNSTORABLE_MESSAGE, is_unstorable
from scm_portal.tenancy.context import check_context
from scm_portal.tenancy.roles import CORE_ROLES, is_read_only

BODY_MAX_CHARS = 10_000
CLIENT_ID_MAX = 64
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
ATTACHMENT_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".zip": "application/zip",
}
# Magic numbers of the binary types: a file must be what its name says.
_MAGIC = {
    ".pdf": (b"%PDF",),
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".xlsx": (b"PK\x03\x04",),
    ".docx": (b"PK\x03\x04",),
    ".zip": (b"PK\x03\x04",),
}
RELATIONS = {"edit", "retract", "reply"}


class Conflict(Exception):
    """The request contradicts what is stored (e.g. a reused client_id with another body)."""


def check_may_post(*, tenant, actor, context, internal=False):
    """`context`: the actor's TenantContext in the tenant (the request's, the socket frame's)."""
    roles = check_context(context, tenant=tenant, user=actor).roles
    if not roles or is_read_only(roles):
        raise PermissionDenied(_("Your role may read this room but not write in it."))
    if internal and not roles & CORE_ROLES:
        raise PermissionDenied(_("Only core staff may write internal notes."))


def check_body(body, *, allow_empty=False):
    if not isinstance(body, str):
        raise ValidationError({"body": _("The message must be text.")})
    if not body.strip() and not allow_empty:
        raise ValidationError({"body": _("The message is empty.")})
    if len(body) > BODY_MAX_CHARS:
        raise ValidationError(
            {"body": _("The message is too long (%(n)d characters; at most %(max)d).") % {"n": len(body), "max": BODY_MAX_CHARS}}
        )
    if "\x00" in body:
        raise ValidationError({"body": _("The message contains a NUL character.")})


def check_subject(*, tenant, actor, subject):
    """Resolves {"kind", "id"} to a record the actor may see, or refuses it."""
    if subject is None:
        return "", ""
    if not isinstance(subject, dict) or set(subject) - {"kind", "id"} or "kind" not in subject or "id" not in subject:
        raise ValidationError({"subject": _('A subject is {"kind": ..., "id": ...}.')})
    kind, ref = subject["kind"], subject["id"]
    if not isinstance(ref, (str, int)) or isinstance(ref, bool):
        raise ValidationError({"subject": _("The subject id must be a string or a number.")})
    ref = str(ref)
    entry = registry.SUBJECTS.get(kind) if isinstance(kind, str) else None
    if entry is None:
        raise ValidationError({"subject": _("Unknown subject kind: %(kind)s.") % {"kind": kind}})
    if len(ref) > 64 or entry.resolve(tenant=tenant, user=actor, ref=ref) is None:
        raise ValidationError({"subject": _("No such %(kind)s.") % {"kind": kind}})
    return kind, ref


_MESSAGE_FIELDS = attnames(Message)
# A repeated send: the message this sender already posted with this client_id in the room.
_POSTED = QueryTemplate(
    lambda shape, *, room_id, sender_id, client_id: Message.objects.filter(
        room_id=room_id, sender_id=sender_id, client_id=client_id
    ).values_list(*_MESSAGE_FIELDS)[:1]
)


def _lock_room_and_find_post(room, actor, client_id):
    """Locks the room, then finds the actor's earlier message with this client_id (None if there is
    none, or no client_id): the lookup runs once the lock is held."""
    using = router.db_for_write(Room)
    locked = room_lock_sent(room.pk, using)
    found = []
    if client_id is not None:
        found = _POSTED.rows(using=using, room_id=room.pk, sender_id=actor.pk, client_id=client_id)
    return locked(), (Message.from_db(using, _MESSAGE_FIELDS, found[0]) if found else None)


def _append(room, **fields):
    """Appends one message to a locked room: next seq, chain link, room head, publish on commit."""
    message = Message(
        tenant_id=room.tenant_id,
        room=room,
        seq=room.last_seq + 1,
        prev_hash=room.last_hash,
        created_at=timezone.now(),
        **fields,
    )
    message.hash = message_hash(message, room.last_hash)
    room.last_seq, room.last_hash, room.last_message_at = message.seq, message.hash, message.created_at
    using = router.db_for_write(Message)
    _rooms_advance([room])
    _MESSAGE_INSERT.insert([message], using=using)
    return message


# Every message goes in through this statement, built once per row count (not per message).
_MESSAGE_INSERT = InsertTemplate(Message)


def _publish(message, attachments=None, reference=None):
    """`reference`: the message `message` refers to, when the caller holds it (spares reading it)."""
    realtime.publish_message(message, attachments, reference=reference)
    return message


def _check_reference(*, room, actor, refers_to, relation, context):
    if refers_to is None and not relation:
        return None
    if relation not in RELATIONS or not isinstance(refers_to, int) or isinstance(refers_to, bool):
        raise ValidationError({"refers_to": _("A reference needs a message seq and a relation: edit, retract or reply.")})
    original = Message.objects.filter(room=room, seq=refers_to).visible_to(actor, context=context).first()
    if original is None:
        raise ValidationError({"refers_to": _("No such message in this room.")})
    if relation in {"edit", "retract"} and (original.sender_id != actor.id or original.kind != MessageKind.CHAT):
        raise ValidationError({"refers_to": _("Only the author may edit or retract their own chat message.")})
    return original


@transaction.atomic
def message_post(
    *, tenant, actor, context, room, body, client_id=None, subject=None, internal=False, refers_to=None, relation="",
    files=(),
):
    """Posts a chat message; returns (message, created). Idempotent on (room, actor, client_id).

    `context`: the actor's TenantContext in the tenant; the write and the bot's answer are
    checked against it."""
    check_may_post(tenant=tenant, actor=actor, context=context, internal=internal)
    check_body(body, allow_empty=bool(files) or relation == "retract")
    if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= CLIENT_ID_MAX):
        raise ValidationError({"client_id": _("client_id is a string of 1 to %(max)d characters.") % {"max": CLIENT_ID_MAX}})
    subject_kind, subject_ref = check_subject(tenant=tenant, actor=actor, subject=subject)
    checked_files = [check_attachment(f) for f in files]

    room, existing = _lock_room_and_find_post(room, actor, client_id)
    if existing is not None:
        if existing.body != body or existing.subject_kind != subject_kind or existing.subject_ref != subject_ref:
            raise Conflict(_("This client_id was already used for a different message."))
        return existing, False
    original = _check_reference(room=room, actor=actor, refers_to=refers_to, relation=relation, context=context)
    recipient_id = None
    if relation in {"edit", "retract"}:
        # An edit or a retraction is seen by exactly those who see the message it changes: a
        # public edit of an internal note, or of a private question to the bot, would show it.
        internal, recipient_id = original.internal, original.recipient_id
        question = False
    else:
        # A question to the bot is the asker's own, like its answer (recipient: only they see it).
        question = bot.is_query(body)
        if question:
            recipient_id = actor.pk
    payload = {}
    if checked_files:
        payload["attachments"] = [{"name": f["name"], "sha256": f["sha256"], "size": f["size"]} for f in checked_files]
    fields = dict(
        kind=MessageKind.CHAT,
        sender=actor,
        body=body,
        payload=payload,
        subject_kind=subject_kind,
        subject_ref=subject_ref,
        internal=internal,
        recipient_id=recipient_id,
        refers_to=refers_to,
        relation=relation or "",
        client_id=client_id,
    )
    # Under the room lock nothing else can post with this client_id: no savepoint needed.
    message = _append(room, **fields)
    attachments = [
        Attachment.objects.create(tenant_id=tenant.id, message=message, file=f["file"], name=f["name"],
                                  content_type=f["content_type"], size=f["size"], sha256=f["sha256"])
        for f in checked_files
    ]
    _publish(message, attachments, reference=original)
    if question:  # the bot answers inside the same transaction
        bot.answer(tenant=tenant, asker=actor, room=room, question=message, context=context)
    return message, True


def check_attachment(upload):
    name = (getattr(upload, "name", "") or "").rsplit("/", 1)[-1][:255]
    ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if ext not in ATTACHMENT_TYPES:
        raise ValidationError({"file": _("This file type is not accepted. Accepted: %(types)s.") % {"types": ", ".join(sorted(ATTACHMENT_TYPES))}})
    size = upload.size
    if size > ATTACHMENT_MAX_BYTES:
        raise ValidationError(
            {"file": _("The file is larger than %(mb)d MB.") % {"mb": ATTACHMENT_MAX_BYTES // (1024 * 1024)}}
        )
    if size == 0:
        raise ValidationError({"file": _("The file is empty.")})
    digest = hashlib.sha256()
    head = b""
    for chunk in upload.chunks():
        if not head:
            head = chunk[:16]
        digest.update(chunk)
    upload.seek(0)
    magic = _MAGIC.get(ext)
    if magic and not head.startswith(magic):
        raise ValidationError({"file": _("The file's content does not match its type.")})
    return {"file": upload, "name": name, "content_type": ATTACHMENT_TYPES[ext] or mimetypes.guess_type(name)[0], "size": size, "sha256": digest.hexdigest()}


def event_post(*, tenant, room, body=None, text=None, payload=None, actions=(), subject_kind="", subject_ref="",
               internal=False, recipient=None, sender=None, kind=MessageKind.EVENT, refers_to=None, relation="",
               core_audience=(), body_language=None):
    """Posts an event card (or a bot/system message) inside the caller's transaction.

    `text`: what it says, a messaging.texts.Text (key and parameters): stored and hashed as such,
    rendered for each reader in their language; `body` then holds its rendering in
    `body_language` (default: the tenant's), which search and the trail read. `body`: a text
    written once for everyone (markdown), instead of `text`.

    Domain apps call this from their services; the socket publish and notifications happen
    only when that transaction commits, and not at all if it rolls back.
    """
    post = {"tenant": tenant, "room": room, "body": body, "text": text, "payload": payload, "actions": actions,
            "subject_kind": subject_kind, "subject_ref": subject_ref, "internal": internal, "recipient": recipient,
            "sender": sender, "kind": kind, "refers_to": refers_to, "relation": relation, "core_audience": core_audience,
            "body_language": body_language}
    return event_post_many([post])[0]


EVENT_FIELDS = {"body", "text", "payload", "actions", "subject_kind", "subject_ref", "internal", "recipient", "sender",
                "kind", "refers_to", "relation", "core_audience", "body_language", "subject_state"}


def _keyed_body(post):
    """(stored text, body) of a post: its Text's stored form and its rendering for `body`."""
    text, body = post.get("text"), post.get("body")
    if (text is None) == (body is None):
        raise TypeError("event_post: give either text= (a messaging.texts.Text) or body=")
    if text is None:
        return None, body
    check_text(text)
    language = post.get("body_language") or post["tenant"].default_language
    return text.stored(), text_render(text, language)[:BODY_MAX_CHARS]


def event_post_many(posts, *, locked=None, publish_along=()):
    """Posts many event cards inside the caller's transaction, as event_post would one by one.

    `posts`: dicts of event_post's keyword arguments, `room` a Room or a room id. Every room is
    locked once, all in id order (two callers never deadlock on each other), its messages take
    the next seqs and chain links in the order given, all rows go in with one INSERT and each
    room head moves once; everything is published after commit in one go. Returns the messages
    in the order given.

    `locked`: rooms_lock's answer when the caller locked the rooms first (because it locks other
    rows after them); every post's room must be among them.

    `publish_along`: (group, event) pairs the caller publishes after commit too (a sweep's alert
    frames): they go out with the messages, in one hand-over (realtime.publish_messages).

    A post's `subject_state`: its subject's state as its subject kind's `state` loader would read
    it (messaging.registry.Subject), when the caller has it in hand (a record just written): the
    buttons of its frames are then decided without reading it again after commit.
    """
    if not posts:
        realtime.publish_messages([], along=publish_along)
        return []
    checked, states = [], []
    actions_cache = {}
    for post in posts:
        unknown = set(post) - EVENT_FIELDS - {"tenant", "room"}
        if unknown:
            raise TypeError(f"event_post_many: unexpected fields {sorted(unknown)}")
        core_audience = post.get("core_audience", ())
        if set(core_audience) - CORE_ROLES:
            raise ValueError(f"event_post: not core roles: {sorted(set(core_audience) - CORE_ROLES)}")
        text, body = _keyed_body(post)
        check_body(body)
        actions = tuple(a if isinstance(a, str) else (a["name"], a.get("label")) for a in post.get("actions", ()))
        if actions not in actions_cache:
            action_list = []
            for action in actions:
                name, label = (action, None) if isinstance(action, str) else action
                if name not in registry.ACTIONS:
                    raise ValueError(f"event_post: action {name!r} is not registered")
                # Only the name: its label is the registered one, in each reader's language.
                action_list.append({"name": name, "label": str(label)} if label else {"name": name})
            actions_cache[actions] = action_list
        room = post["room"]
        if isinstance(room, Room) and room.tenant_id is not None and room.tenant_id != post["tenant"].id:
            raise ValueError("event_post: the room belongs to another tenant")  # refused before locking it
        checked.append((post["tenant"], room.pk if isinstance(room, Room) else int(room), {
            "kind": post.get("kind", MessageKind.EVENT),
            "sender": post.get("sender"),
            "body": body,
            "text": text,
            "payload": post.get("payload") or {},
            "actions": [dict(a) for a in actions_cache[actions]],
            "subject_kind": post.get("subject_kind", ""),
            "subject_ref": str(post.get("subject_ref") or ""),
            "internal": post.get("internal", False),
            "recipient": post.get("recipient"),
            "refers_to": post.get("refers_to"),
            "relation": post.get("relation", ""),
            "core_audience": audience_value(core_audience),
        }))
        states.append(post.get("subject_state"))
    room_ids = {room_id for _tenant, room_id, _fields in checked}
    if locked is not None and room_ids - set(locked):
        # Locking them now would take a room after the caller's other rows: refuse instead.
        raise ValueError(f"event_post_many: rooms not locked by the caller: {sorted(room_ids - set(locked))}")
    with transaction.atomic(savepoint=False):  # an error here fails the caller's transaction anyway
        rooms = {pk: locked[pk] for pk in sorted(room_ids)} if locked is not None else rooms_lock(room_ids)
        now = timezone.now()
        messages = []
        for tenant, room_id, fields in checked:
            room = rooms[room_id]
            if room.tenant_id != tenant.id:
                raise ValueError("event_post: the room belongs to another tenant")
            message = Message(tenant_id=room.tenant_id, room=room, seq=room.last_seq + 1, prev_hash=room.last_hash,
                              created_at=now, **fields)
            message.hash = message_hash(message, room.last_hash)
            room.last_seq, room.last_hash, room.last_message_at = message.seq, message.hash, now
            messages.append(message)
        for message, state in zip(messages, states):
            if state is not None:
                message.subject_state = state  # not stored: read by messaging.frames.subject_records
        _rooms_advance(rooms.values())  # first: inside a caller's pipeline(), the INSERT's answer then waits for both
        _MESSAGE_INSERT.insert(messages, using=router.db_for_write(Message))
    realtime.publish_messages(messages, along=publish_along)
    return messages


def _rooms_advance(rooms):
    """Moves each room's head to its last message: one statement per room (a bulk
    UPDATE with CASE arms costs more Python to build than the few rooms a write touches)."""
    connection = transaction.get_connection(router.db_for_write(Room))
    table, ops = connection.ops.quote_name(Room._meta.db_table), connection.ops
    sql = f"UPDATE {table} SET last_seq = %s, last_hash = %s, last_message_at = %s WHERE id = %s"
    params = [(room.last_seq, room.last_hash, ops.adapt_datetimefield_value(room.last_message_at), room.pk) for room in rooms]
    with connection.cursor() as cursor:
        if len(params) == 1:
            cursor.execute(sql, params[0])
        else:
            cursor.executemany(sql, params)


@transaction.atomic
def room_read(*, tenant, user, room, seq):
    """Marks the room read up to `seq` (never backwards); returns the read state."""
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValidationError({"seq": _("seq must be a non-negative integer.")})
    if seq > room.last_seq:
        raise ValidationError({"seq": _("The room has no message %(seq)d yet.") % {"seq": seq}})
    state, _created = ReadState.objects.select_for_update().get_or_create(
        room=room, user=user, defaults={"tenant_id": tenant.id, "last_read_seq": 0}
    )
    if seq > state.last_read_seq:
        state.last_read_seq = seq
        state.save(update_fields=["last_read_seq", "updated_at"])
        realtime.publish_read(room_id=room.id, user=user, seq=seq)
    return state


INPUT_MAX = 2000


def check_action_input(entry, data):
    """The press's input for an action that takes some (registry.Action.inputs): each field a
    non-empty string of at most INPUT_MAX characters, stripped; nothing else. 400 otherwise."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ValidationError({"data": _("Send the button's fields as an object.")})
    unknown = set(data) - set(entry.inputs)
    if unknown:
        raise ValidationError({name: _("This button takes no such field.") for name in sorted(unknown, key=str)})
    checked = {}
    for name in entry.inputs:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValidationError({name: _("This button needs it: fill it in.")})
        if len(value) > INPUT_MAX:
            raise ValidationError({name: _("At most %(n)d characters.") % {"n": INPUT_MAX}})
        if is_unstorable(value):  # a socket frame's text is not checked by the API's parsers
            raise ValidationError({name: UNSTORABLE_MESSAGE})
        checked[name] = value.strip()
    return checked


@transaction.atomic
def action_press(*, tenant, actor, room, message, action, context, data=None):
    """Presses an action button: permission checked now, handler run once, outcome posted.

    Returns (press, created). A second press of the same button is answered with the first
    press, never run again. `context`: the presser's TenantContext in the tenant, handed to the
    handler, which checks the presser's roles against it. A button this reader is not offered
    (the action's `available`) is refused with 403 before anything is locked; one the record's
    state no longer allows is refused by its handler (StateConflict: 409, "already resolved by …").

    An action whose handler also writes to other rooms names them when it is registered
    (`register_action(..., rooms=)`); they are locked with the pressed room, in id order, before
    the handler locks anything else (the alert buttons: every room holding a card of the alert).

    `data`: the fields a button takes (`register_action(..., inputs=)`: a reject's reason), handed
    to its handler as `data`; a press of a button without inputs carries none.
    """
    check_context(context, tenant=tenant, user=actor)
    if action not in {a["name"] for a in message.actions}:
        raise ValidationError({"action": _("This message has no such action.")})
    entry = registry.ACTIONS.get(action)
    if entry is None:
        raise ValidationError({"action": _("This action is no longer available.")})
    if entry.handler is None:  # a link button: its page does the step, with the input it needs
        raise ValidationError({"action": _("This button opens a page; it is not pressed.")})
    record = subject_records([message]).get((message.subject_kind, message.subject_ref))
    if action_availability(message, action, context, record) is None:
        raise PermissionDenied(_("Your role may not press this button."))
    # Fields the button takes (a reason): checked before anything is locked; none for the others.
    extra = {"data": check_action_input(entry, data)} if entry.inputs else {}
    if data and not entry.inputs:
        raise ValidationError({"data": _("This button takes no fields.")})
    others = set(entry.rooms(tenant=tenant, message=message)) - {room.pk} if entry.rooms else set()
    # Lock order (docs/ARCHITECTURE.md): the rooms first, like every message write; the handler
    # then locks the record it acts on.
    room = rooms_lock({room.pk, *others})[room.pk] if others else room_lock(room)
    existing = ActionPress.objects.filter(message=message, action=action).select_related("actor").first()
    if existing is not None:
        return existing, False
    # Errors speak the presser's language; the outcome line is keyed, read in each reader's.
    result = entry.handler(tenant=tenant, actor=actor, message=message, room=room, context=context, **extra) or {}
    said = result.get("message") or Text("messaging.action.pressed", {
        "who": actor.get_full_name() or actor.username, "label": Text(registry.action_text_key(action))})
    if isinstance(said, Text):
        text, body = check_text(said).stored(), text_render(said, tenant.default_language)
    else:
        text, body = None, str(said)
    outcome = _append(room, kind=MessageKind.SYSTEM, sender=actor, body=body, text=text,
                      payload={"action": action, "result": result.get("data", {})},
                      subject_kind=message.subject_kind, subject_ref=message.subject_ref, internal=message.internal,
                      core_audience=message.core_audience, refers_to=message.seq, relation="reply")
    press = ActionPress.objects.create(
        tenant_id=tenant.id, message=message, action=action, actor=actor, outcome_seq=outcome.seq, result=result.get("data", {})
    )
    _publish(outcome, attachments=[], reference=message)
    return press, True


def message_cards_refresh(*, tenant, subject_kind, subject_ref):
    """The record `subject_kind` `subject_ref` moved on: after commit, every card about it that has
    buttons is re-rendered for its readers and sent live as an `actions` frame
    (`{"type": "actions", "room", "seq", "actions": [...]}`, per reader, as the message's own
    `actions`). Domain services call it in the transaction of every transition of a record whose
    cards carry buttons; a reload shows the same, read from the database."""
    tenant_id = getattr(tenant, "pk", tenant)

    def refresh():
        cards = list(
            Message.objects.for_tenant(tenant_id).filter(subject_kind=subject_kind, subject_ref=str(subject_ref))
            .exclude(actions=[]).select_related("sender").order_by("room_id", "seq")
        )
        realtime.publish_actions(cards)

    transaction.on_commit(refresh, robust=True)


def message_tombstones_announce(*, message_ids):
    """Tells the open sockets that these messages were destroyed (retention's sweep: call it in the
    transaction that made the tombstones). After commit, each room whose messages are among them
    gets one `destroyed` frame (`{"type": "destroyed", "room", "seqs": [...], "body": notice}`) on
    every socket that sees them, so an open page replaces them with the notice without a reload."""
    tombstones = list(Message.objects.filter(pk__in=list(message_ids), destroyed_at__isnull=False)
                      .only("room_id", "seq", "internal", "core_audience", "recipient_id").order_by("room_id", "seq"))
    realtime.publish_destroyed(tombstones)
    return tombstones


def _acknowledge(*, tenant, actor, message, room, context):
    """The built-in "Acknowledge" button on any event: the receiver confirms they saw it."""
    check_may_post(tenant=tenant, actor=actor, context=context, internal=message.internal)
    return {"message": Text("messaging.acknowledged", {"who": actor.get_full_name() or actor.username})}


def register_actions():
    """The built-in "Acknowledge" button and messaging's own texts; called from MessagingConfig.ready()."""
    register_text("messaging.action.pressed", gettext_lazy("{who} pressed “{label}”."))
    register_text("messaging.acknowledged", gettext_lazy("{who} acknowledged."))
    registry.register_action("acknowledge", label=gettext_lazy("Acknowledge receipt"), handler=_acknowledge)


@transaction.atomic
def room_create_for_partnership(*, partnership):
    """The partner's room in the tenant, created with the partnership (idempotent)."""
    room = Room.objects.filter(partnership=partnership).first()
    if room is None:
        room = Room.objects.create(
            tenant_id=partnership.tenant_id, kind=RoomKind.PARTNER, partnership=partnership, name=partnership.organization.name
        )
    return room


@transaction.atomic
def room_create_internal(*, tenant, actor, name, team_role=""):
    if team_role and team_role not in CORE_ROLES:
        raise ValidationError({"team_role": _("A team room belongs to a core role.")})
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError({"name": _("A room needs a name of at most 200 characters.")})
    return Room.objects.create(tenant=tenant, kind=RoomKind.INTERNAL, name=name, team_role=team_role)
