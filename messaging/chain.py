"""The hash chain of a room's messages: canonical form, hashing and verification.

Only columns that never change after insert are hashed (append-only rows), so the chain
never breaks on a legitimate backfill of other data.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

from messaging.models import GENESIS_HASH, Message

HASHED_FIELDS = (
    "tenant_id", "room_id", "seq", "kind", "sender_id", "body", "payload", "actions",
    "subject_kind", "subject_ref", "internal", "core_audience", "recipient_id", "refers_to", "relation", "client_id",
)


# Hashed only when set: the rows written before a column existed keep the canonical form (and
# the hashes) they were chained with. A keyed message's text is what it says, so it is hashed.
HASHED_WHEN_SET = ("text",)


def canonical(message):
    """A stable byte string for a message: sorted-key JSON of its immutable fields."""
    data = {name: getattr(message, name) for name in HASHED_FIELDS}
    for name in HASHED_WHEN_SET:
        value = getattr(message, name)
        if value is not None:
            data[name] = value
    data["created_at"] = message.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


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


def _tombstone_problem(message, witnessed):
    """Why a tombstone does not hold, or None: it must be empty and named, with its hash, by a purge."""
    if message.body or message.text is not None or message.payload or message.actions:
        return "it is marked destroyed but still has content"
    if witnessed.get(message.seq) != message.hash:
        return "it is marked destroyed but no purge in the audit log destroyed it"
    return None


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
                    witness = _tombstone_witness["fn"]
                    witnessed = witness(room) if witness is not None else {}
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
