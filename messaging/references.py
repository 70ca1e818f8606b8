"""A message's reference (`refers_to`: the seq in its room it replies to, edits or retracts), as
each reader may see it.

A reply can be seen by more people than the message it answers: a public reply to an internal
note, an escalation card addressed to more roles than the card it follows, a system line under a
card its reader was never shown. A reader who does not see the referenced message gets the
reply with `refers_to: null` (the page says "in reply to a message you cannot see"): never a
seq to follow or count. Edits and retractions are seen by exactly the readers of the message
they change (messaging.services.message_post), so theirs never hides.

Pages and the API ask the database with the reader's own visibility rule
(selectors.message_references_hidden). A live socket cannot ask per frame: a published message
carries the routing fields of its reference (`ref`) and a second text without it, and each
socket picks one with the rule below, as it checks the message's own routing.
"""

from django.db.models import Q

from messaging.frames import audience_roles, message_frame, subject_records


def routing(message):
    """The fields that decide, within a room, who sees `message` (MessageQuerySet.visible_to)."""
    return {"internal": message.internal, "core_audience": audience_roles(message.core_audience),
            "recipient": message.recipient_id}


def routing_is_public(fields):
    return not fields["internal"] and not fields["core_audience"] and fields["recipient"] is None


def routing_visible(fields, *, is_core, roles, user_id, whole_room):
    """Whether a reader of the room sees a message with these routing fields: the socket's form
    of MessageQuerySet.visible_to (the room itself is checked by the caller). `whole_room`: the
    reader reads every message of the room (roles.reads_whole_room(roles): the auditor), which
    the caller has worked out once."""
    if fields["internal"] and not is_core:
        return False
    if whole_room:
        return True
    audience = fields["core_audience"]
    if audience and is_core and not roles & set(audience):
        return False
    return fields["recipient"] in (None, user_id)


def without_reference(frame):
    """The frame as a reader who does not see the message it refers to gets it."""
    return {**frame, "refers_to": None}


def reference_routings(messages):
    """{(room id, seq): routing} of the messages `messages` refer to whose readers may differ from
    theirs, for publishing. Not filtered by user: like the messages, each socket checks them
    against its own access. One query at most; none when every reference is among `messages`."""
    from messaging.models import Message

    known = {(m.room_id, m.seq): m for m in messages}
    found, wanted = {}, {}
    for message in messages:
        if message.refers_to is None:
            continue
        key = (message.room_id, message.refers_to)
        if key in known:
            found[key] = routing(known[key])
        else:
            wanted.setdefault(message.room_id, set()).add(message.refers_to)
    if wanted:
        condition = Q(pk__in=[])
        for room_id, seqs in sorted(wanted.items()):
            condition |= Q(room_id=room_id, seq__in=sorted(seqs))
        for original in Message.objects.filter(condition).only("room_id", "seq", "internal", "core_audience", "recipient_id"):
            found[(original.room_id, original.seq)] = routing(original)
    return found


def reference_of(message, routings):
    """The routing of `message`'s reference when some reader of `message` may not see it, else None."""
    if message.refers_to is None:
        return None
    fields = routings.get((message.room_id, message.refers_to))
    if fields is None or routing_is_public(fields) or fields == routing(message):
        return None
    return fields


def message_frames(user, messages, context=None, language=None):
    """The frames of `messages` (prefetched attachments; messages the user sees) for this reader:
    texts in `language` (None: the active one), buttons for `context` (the reader's TenantContext), and a
    reference the user does not see left out (the API's pages, search, a socket's sync)."""
    from messaging.selectors import message_references_hidden

    hidden = message_references_hidden(user, messages, context)
    records = subject_records(messages)
    frames = []
    for message in messages:
        frame = message_frame(message, list(message.attachments.all()), language=language, context=context,
                              records=records)
        frames.append(without_reference(frame) if message.pk in hidden else frame)
    return frames
