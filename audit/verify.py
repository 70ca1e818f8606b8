"""Verification anyone can run: recomputes the hash chains of rooms and of a tenant's audit log
and names the first broken row. One implementation for `manage.py verify_trail`, the API
(`POST /api/v1/t/<tenant>/audit/verify/`) and the verify page.

Rows are streamed, never loaded as model instances: `values_list` over a server-side cursor
(Django's `iterator()`), each row hashed as it arrives. The bytes hashed are exactly those of
messaging.chain.canonical / audit.chain.canonical (tests/audit/test_verify_trail.py holds them
equal); they are built with one reused JSON encoder, which is most of the speed
(bench/verify_trail.py measures it against hashlib over the same bytes).
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC
from json.encoder import encode_basestring

from django.db import connections, router, transaction
from django.db.models import JSONField

from audit.chain import HASHED_FIELDS as AUDIT_FIELDS
from audit.models import AuditChainHead, AuditRecord
from messaging.chain import HASHED_FIELDS as MESSAGE_FIELDS
from messaging.chain import HASHED_WHEN_SET
from messaging.models import GENESIS_HASH, Message, Room

CHUNK = 5000
# The encoder json.dumps(..., sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
# builds for every call, built once.
_encode = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode
_sha256 = hashlib.sha256


@dataclass
class ChainResult:
    chain: str  # "room" or "audit"
    id: str  # the room's id, or the tenant's slug
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""
    head: str = GENESIS_HASH
    name: str = ""

    def describe(self):
        what = f"room {self.id}" + (f" ({self.name})" if self.name else "") if self.chain == "room" else f"audit log of {self.id}"
        row = "message" if self.chain == "room" else "audit record"
        if self.ok:
            return f"{what}: OK, {self.checked} {row}s, head {self.head}"
        return f"{what}: BROKEN at {row} {self.broken_seq}: {self.reason} ({self.checked} {row}s verified before it)"

    def as_dict(self):
        data = asdict(self)
        data.pop("name")
        return data


@dataclass
class VerifyReport:
    scope: str
    chains: list

    @property
    def ok(self):
        return all(chain.ok for chain in self.chains)

    @property
    def first_broken(self):
        return next((chain for chain in self.chains if not chain.ok), None)

    def as_dict(self):
        broken = self.first_broken
        return {"ok": self.ok, "scope": self.scope, "chains": [c.as_dict() for c in self.chains],
                "first_broken": broken.as_dict() if broken else None}


def _walk(rows, canonical_of, seq_index, prev_index, hash_index):
    """(checked, last hash, broken seq or None, reason) of a chain given as rows in seq order."""
    prev = GENESIS_HASH
    expected = 1
    for row in rows:
        seq = row[seq_index]
        if seq != expected:
            return expected - 1, prev, expected, f"row {expected} is missing"
        if row[prev_index] != prev:
            return expected - 1, prev, seq, "its link to the previous row does not match"
        digest = _sha256(prev.encode() + b"\n" + canonical_of(row)).hexdigest()
        if digest != row[hash_index]:
            return expected - 1, prev, seq, "its content does not match its hash"
        prev = digest
        expected += 1
    return expected - 1, prev, None, ""


# --- rooms -----------------------------------------------------------------------------------

_M_COLUMNS = (*MESSAGE_FIELDS, *HASHED_WHEN_SET, "created_at", "prev_hash", "hash")
_M_SEQ = _M_COLUMNS.index("seq")
_M_PREV, _M_HASH = len(_M_COLUMNS) - 2, len(_M_COLUMNS) - 1
_M_FIELDS = len(MESSAGE_FIELDS)
_M_WHEN_SET = tuple(enumerate(HASHED_WHEN_SET, start=_M_FIELDS))
_M_CREATED = _M_FIELDS + len(HASHED_WHEN_SET)
_JSON_COLUMNS = {field.column for field in Message._meta.fields if isinstance(field, JSONField)}
_M_JSON = tuple(i for i, name in enumerate(_M_COLUMNS[:_M_CREATED]) if name in _JSON_COLUMNS)


def message_canonical_row(row):
    """messaging.chain.canonical(message) from a values_list row of _M_COLUMNS."""
    data = dict(zip(MESSAGE_FIELDS, row))
    for index, name in _M_WHEN_SET:
        value = row[index]
        if value is not None:
            data[name] = value
    data["created_at"] = row[_M_CREATED].astimezone(UTC).isoformat(timespec="microseconds")
    return _encode(data).encode()


def _json_text(text):
    """A jsonb column read as text, as Python reads it (the commonest values without parsing)."""
    if text is None:
        return None
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return json.loads(text)


def _message_select():
    """The room's rows for the chain, as PostgreSQL can hand them over cheapest: jsonb as text
    (parsed only when not empty) and the time already in the canonical form's ISO format."""
    table = Message._meta.db_table
    columns = []
    for name in _M_COLUMNS:
        if name in _JSON_COLUMNS:
            columns.append(f'"{name}"::text')
        elif name == "created_at":
            columns.append("""to_char("created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00'""")
        else:
            columns.append(f'"{name}"')
    return f'SELECT {", ".join(columns)} FROM "{table}" WHERE "room_id" = %s ORDER BY "seq"'


_MESSAGE_SELECT = _message_select()


def _encoder_for(field):
    """The JSON text of one column's value, as the canonical form's encoder writes it, without
    building a dict: ints, strings and booleans directly, jsonb text parsed only when not empty."""
    if isinstance(field, JSONField):
        return lambda text: "null" if text is None else text if text == "{}" or text == "[]" else _encode(json.loads(text))
    internal = field.get_internal_type()
    if internal in ("BooleanField",):
        return lambda value: "null" if value is None else "true" if value else "false"
    if internal in ("CharField", "TextField"):
        return lambda value: "null" if value is None else encode_basestring(value)
    if internal in ("IntegerField", "BigIntegerField", "ForeignKey", "PositiveIntegerField", "SmallIntegerField"):
        return lambda value: "null" if value is None else int.__repr__(value)
    return _encode  # anything else: the encoder itself


def _message_plan():
    """[(prefix, column index, encoder, when set only)] in the canonical form's (sorted) key order."""
    fields = {field.attname: field for field in Message._meta.fields}
    keys = sorted([*MESSAGE_FIELDS, *HASHED_WHEN_SET, "created_at"])
    plan = []
    for position, key in enumerate(keys):
        prefix = ("{" if position == 0 else ",") + encode_basestring(key) + ":"
        encoder = encode_basestring if key == "created_at" else _encoder_for(fields[key])
        plan.append((prefix, _M_COLUMNS.index(key), encoder, key in HASHED_WHEN_SET))
    if plan[0][3]:
        raise ValueError("the first key of the canonical form must always be present")
    return plan


_M_PLAN = _message_plan()


def _message_canonical_raw(row):
    """messaging.chain.canonical(message) from a row of _MESSAGE_SELECT."""
    parts = []
    for prefix, index, encoder, when_set in _M_PLAN:
        value = row[index]
        if when_set and value is None:
            continue
        parts.append(prefix)
        parts.append(encoder(value))
    parts.append("}")
    return "".join(parts).encode()


def message_rows(room_id):
    """The room's rows in seq order, streamed through a server-side cursor in batches."""
    with transaction.atomic(using=router.db_for_read(Message)):
        conn = connections[router.db_for_read(Message)]
        with conn.connection.cursor(name=f"verify_room_{room_id}") as cursor:
            cursor.itersize = CHUNK
            cursor.execute(_MESSAGE_SELECT, [room_id])
            yield from cursor


def room_verify(room):
    rows = message_rows(room.pk)
    try:
        checked, prev, broken, reason = _walk(rows, _message_canonical_raw, _M_SEQ, _M_PREV, _M_HASH)
    finally:
        rows.close()  # a chain broken early: the cursor and its transaction end here
    result = ChainResult("room", str(room.pk), broken is None, checked, broken, reason, prev, room.name)
    if broken is None:
        last_seq, last_hash = Room.objects.filter(pk=room.pk).values_list("last_seq", "last_hash").get()
        if (last_seq, last_hash) != (checked, prev):
            result.ok = False
            result.broken_seq = checked + 1 if last_seq > checked else checked
            result.reason = "the room's head does not match its last message (the last rows were deleted?)"
    return result


# --- the audit log ---------------------------------------------------------------------------

_A_COLUMNS = (*AUDIT_FIELDS, "at", "prev_hash", "hash")
_A_SEQ = _A_COLUMNS.index("seq")
_A_AT = len(AUDIT_FIELDS)
_A_PREV, _A_HASH = _A_AT + 1, _A_AT + 2


def audit_canonical_row(row):
    """audit.chain.canonical(record) from a values_list row of _A_COLUMNS."""
    data = dict(zip(AUDIT_FIELDS, row))
    data["at"] = row[_A_AT].astimezone(UTC).isoformat(timespec="microseconds")
    return _encode(data).encode()


def audit_log_verify(tenant):
    rows = (AuditRecord.objects.filter(tenant=tenant).order_by("seq").values_list(*_A_COLUMNS)
            .iterator(chunk_size=CHUNK))
    checked, prev, broken, reason = _walk(rows, audit_canonical_row, _A_SEQ, _A_PREV, _A_HASH)
    result = ChainResult("audit", tenant.slug, broken is None, checked, broken, reason, prev)
    if broken is None:
        head = AuditChainHead.objects.filter(tenant=tenant).values_list("last_seq", "last_hash").first() or (0, GENESIS_HASH)
        if head != (checked, prev):
            result.ok = False
            result.broken_seq = checked + 1 if head[0] > checked else checked
            result.reason = "the chain's head does not match its last record (the last rows were deleted?)"
    return result


# --- scopes ----------------------------------------------------------------------------------

def tenant_verify(tenant):
    """Every room of the tenant, then its audit log."""
    chains = [room_verify(room) for room in Room.objects.filter(tenant=tenant).order_by("pk").only("pk", "name")]
    chains.append(audit_log_verify(tenant))
    return VerifyReport("tenant", chains)


def rooms_verify(rooms):
    return VerifyReport("room", [room_verify(room) for room in rooms])


def record_verify(tenant, kind, ref):
    """A record's trail: the rooms of every message linked to it, and the tenant's audit log (its
    records are links of that one chain, so the chain is checked whole). None when nothing of the
    tenant names the record."""
    room_ids = sorted(set(Message.objects.filter(tenant=tenant, subject_kind=kind, subject_ref=str(ref))
                          .values_list("room_id", flat=True).distinct()))
    audited = AuditRecord.objects.filter(tenant=tenant, object_kind=kind, object_ref=str(ref)).exists()
    if not room_ids and not audited:
        return None
    rooms = Room.objects.filter(pk__in=room_ids).order_by("pk").only("pk", "name")
    return VerifyReport("record", [*(room_verify(room) for room in rooms), audit_log_verify(tenant)])
