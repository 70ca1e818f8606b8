"""The hash chain of a room's messages: canonical form, hashing and verification.

Only columns that never change after insert are hashed (append-only rows), so the chain
never breaks on a legitimate backfill of other data.
"""

import hashlib
from dataclasses import dataclass
from operator import attrgetter

from messaging.canonical import canonical_writer
from messaging.models import GENESIS_HASH, Message

HASHED_FIELDS = (
    "tenant_id", "room_id", "seq", "kind", "sender_id", "body", "payload", "actions",
    "subject_kind", "subject_ref", "internal", "core_audience", "recipient_id", "refers_to", "relation", "client_id",
)


# Hashed only when set: the rows written before a column existed keep the canonical form (and
# the hashes) they were chained with. A keyed message's text is what it says, so it is hashed.
HASHED_WHEN_SET = ("text",)


# The canonical form's columns, in the order `canonical_values` takes them.
CANONICAL_COLUMNS = (*HASHED_FIELDS, *HASHED_WHEN_SET, "created_at")

# THE canonical bytes of a message, from its values in CANONICAL_COLUMNS order: the sorted-key
# JSON of its immutable fields (messaging.canonical). Messages being written and read as models go
# through it (`canonical`), and so do the verifier's streamed rows (audit.verify, in their text form: text=True).
canonical_values = canonical_writer(Message, CANONICAL_COLUMNS, when_set=HASHED_WHEN_SET)
_values_of = attrgetter(*CANONICAL_COLUMNS)


def canonical(message):
    """A stable byte string for a message: sorted-key JSON of its immutable fields."""
    return canonical_values(_values_of(message))


def message_hash(message, prev_hash):
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(message)).hexdigest()


# Who vouches for tombstones: callable(room) -> {seq: hash} of the messages the retention sweep
# destroyed there (audit registers its purge records, audit.retention.retention_witness). A
# tombstone's content can no longer be recomputed; its links still are, and it must be witnessed.
_tombstone_witness = {"fn": None}


def register_tombstone_witness(witness):
    """Called from the audit app's AppConfig.ready()."""
    known = _tombstone_witness["fn"]
    if known is not None and known is not witness:
        raise ValueError("a tombstone witness is registered already")
    _tombstone_witness["fn"] = witness


def tombstones_witnessed(room):
    """{seq: hash} of the room's messages a purge destroyed, as the registered witness names them
    ({} without one)."""
    witness = _tombstone_witness["fn"]
    return witness(room) if witness is not None else {}


def tombstone_problem(*, seq, hash, empty, witnessed):
    """Why a message marked destroyed does not hold as a tombstone, or None: it must be `empty` (no
    body, text, payload or actions) and named, with its hash, by a purge (`witnessed`)."""
    if not empty:
        return "it is marked destroyed but still has content"
    if witnessed.get(seq) != hash:
        return "it is marked destroyed but no purge in the audit log destroyed it"
    return None


def _tombstone_problem(message, witnessed):
    empty = not (message.body or message.text is not None or message.payload or message.actions)
    return tombstone_problem(seq=message.seq, hash=message.hash, empty=empty, witnessed=witnessed)


@dataclass
class ChainReport:
    room_id: int
    checked: int
    ok: bool
    broken_seq: int | None = None
    reason: str = ""
    head: str = GENESIS_HASH


def chain_verify(room, batch_size=2000):
    """Recomputes a room's chain from its first message; names the first broken one."""
    prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    queryset = Message.objects.filter(room=room).order_by("seq")
    last_seq = 0
    witnessed = None  # read once, at the room's first tombstone
    while True:
        batch = list(queryset.filter(seq__gt=last_seq)[:batch_size])
        if not batch:
            break
        for message in batch:
            if message.seq != expected_seq:
                return ChainReport(room.pk, checked, False, expected_seq, f"message {expected_seq} is missing")
            if message.prev_hash != prev:
                return ChainReport(room.pk, checked, False, message.seq, "its link to the previous message does not match")
            if message.destroyed_at is not None:
                if witnessed is None:
                    witnessed = tombstones_witnessed(room)
                problem = _tombstone_problem(message, witnessed)
                if problem:
                    return ChainReport(room.pk, checked, False, message.seq, problem)
            elif message_hash(message, prev) != message.hash:
                return ChainReport(room.pk, checked, False, message.seq, "its content does not match its hash")
            prev = message.hash
            expected_seq += 1
            checked += 1
            last_seq = message.seq
    room.refresh_from_db(fields=["last_seq", "last_hash"])
    if room.last_seq != checked or room.last_hash != prev:
        return ChainReport(room.pk, checked, False, checked + 1 if room.last_seq > checked else checked, "the room's head does not match its last message", prev)
    return ChainReport(room.pk, checked, True, head=prev)
