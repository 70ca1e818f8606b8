"""Verification anyone can run: recomputes the hash chains of rooms and of a tenant's audit log
and names the first broken row. One implementation for `manage.py verify_trail`, the API
(`POST /api/v1/t/<tenant>/audit/verify/`) and the verify page.

Rows are streamed, never loaded as model instances: a room's over a server-side cursor, read as
PostgreSQL can hand them over cheapest (jsonb as text, parsed only when not empty; the time
already in the canonical form's format), the audit log's as `values_list` over Django's
`iterator()`; each row is hashed as it arrives. The bytes hashed are built by the chains' own
one canonical function each (messaging.chain.canonical_values, audit.chain.canonical_values),
the very function that built them when the rows were written (bench/verify_trail.py measures
the walk against hashlib over the same bytes).

A message the retention sweep destroyed (a tombstone) cannot be hashed any more: as in
messaging.chain.chain_verify, its links are checked, it must be empty, and a purge record of the
audit log must name its seq and hash.

`tenant_pdf_verify` checks an uploaded trail PDF for the page and the API
(`POST /api/v1/t/<tenant>/audit/verify/pdf/`), through audit.trails.pdf_verify.
"""

import hashlib
import json
from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError
from django.db import connections, router, transaction
from django.db.models import JSONField
from django.utils.translation import gettext as _

from audit.chain import CANONICAL_COLUMNS as AUDIT_COLUMNS
from audit.chain import canonical_values as audit_canonical_values
from audit.models import AuditChainHead, AuditRecord
from messaging.chain import CANONICAL_COLUMNS as MESSAGE_COLUMNS
from messaging.chain import canonical_values as message_canonical_values
from messaging.chain import tombstone_problem, tombstones_witnessed
from messaging.models import GENESIS_HASH, Message, Room

CHUNK = 5000
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


def _walk(rows, canonical_of, text, seq_index, prev_index, hash_index, tombstone=None, tombstone_index=None):
    """(checked, last hash, broken seq or None, reason) of a chain given as rows in seq order.
    `canonical_of(row, text)`: the chain's canonical function (`text`: the row's form, see
    messaging.canonical). `tombstone(row)`: why a row marked destroyed (row[tombstone_index] true)
    does not hold, or None."""
    prev = GENESIS_HASH
    expected = 1
    for row in rows:
        seq = row[seq_index]
        if seq != expected:
            return expected - 1, prev, expected, f"row {expected} is missing"
        if row[prev_index] != prev:
            return expected - 1, prev, seq, "its link to the previous row does not match"
        if tombstone_index is not None and row[tombstone_index]:
            problem = tombstone(row)
            if problem:
                return expected - 1, prev, seq, problem
            digest = row[hash_index]  # witnessed: the next row's link checks it
        else:
            digest = _sha256(prev.encode() + b"\n" + canonical_of(row, text)).hexdigest()
            if digest != row[hash_index]:
                return expected - 1, prev, seq, "its content does not match its hash"
        prev = digest
        expected += 1
    return expected - 1, prev, None, ""


# --- rooms -----------------------------------------------------------------------------------

# A room's rows: the canonical form's columns (in the order canonical_values takes them), then
# the link, the hash and whether the row is a tombstone.
_M_COLUMNS = (*MESSAGE_COLUMNS, "prev_hash", "hash", "destroyed_at")
_M_SEQ = _M_COLUMNS.index("seq")
_M_PREV, _M_HASH, _M_DESTROYED = len(MESSAGE_COLUMNS), len(MESSAGE_COLUMNS) + 1, len(MESSAGE_COLUMNS) + 2
_M_BODY, _M_TEXT = _M_COLUMNS.index("body"), _M_COLUMNS.index("text")
_M_PAYLOAD, _M_ACTIONS = _M_COLUMNS.index("payload"), _M_COLUMNS.index("actions")
_JSON_COLUMNS = {field.column for field in Message._meta.fields if isinstance(field, JSONField)}


def _message_select():
    """The room's rows for the chain, as PostgreSQL can hand them over cheapest: jsonb as text
    (canonical_values parses it only when not empty) and the time already in the canonical form's
    ISO format (messaging.canonical.canonical_time)."""
    table = Message._meta.db_table
    columns = []
    for name in _M_COLUMNS:
        if name in _JSON_COLUMNS:
            columns.append(f'"{name}"::text')
        elif name == "created_at":
            columns.append("""to_char("created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00'""")
        elif name == "destroyed_at":
            columns.append('"destroyed_at" IS NOT NULL')
        else:
            columns.append(f'"{name}"')
    return f'SELECT {", ".join(columns)} FROM "{table}" WHERE "room_id" = %s ORDER BY "seq"'


_MESSAGE_SELECT = _message_select()




def _tombstone_of(room):
    """The room's tombstone check over rows of _MESSAGE_SELECT (its purges read at the first one)."""
    witnessed = None

    def problem(row):
        nonlocal witnessed
        if witnessed is None:
            witnessed = tombstones_witnessed(room)
        # As chain_verify reads a tombstone's model: no body, no text, payload and actions empty.
        empty = (not row[_M_BODY] and row[_M_TEXT] is None
                 and not any(row[i] is not None and json.loads(row[i]) for i in (_M_PAYLOAD, _M_ACTIONS)))
        return tombstone_problem(seq=row[_M_SEQ], hash=row[_M_HASH], empty=empty, witnessed=witnessed)

    return problem


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
        # A row of _MESSAGE_SELECT is in the text form: jsonb as text, the time formatted.
        checked, prev, broken, reason = _walk(rows, message_canonical_values, True, _M_SEQ, _M_PREV, _M_HASH,
                                              _tombstone_of(room), _M_DESTROYED)
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

# The audit log's rows: the canonical form's columns (in the order canonical_values takes them),
# then the link and the hash.
_A_COLUMNS = (*AUDIT_COLUMNS, "prev_hash", "hash")
_A_SEQ = _A_COLUMNS.index("seq")
_A_PREV, _A_HASH = len(AUDIT_COLUMNS), len(AUDIT_COLUMNS) + 1


def audit_log_verify(tenant):
    rows = (AuditRecord.objects.filter(tenant=tenant).order_by("seq").values_list(*_A_COLUMNS)
            .iterator(chunk_size=CHUNK))
    checked, prev, broken, reason = _walk(rows, audit_canonical_values, False, _A_SEQ, _A_PREV, _A_HASH)
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
    chains = [room_verify(room) for room in Room.objects.filter(tenant=tenant).order_by("pk").only("pk", "name", "tenant_id")]
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
    rooms = Room.objects.filter(pk__in=room_ids).order_by("pk").only("pk", "name", "tenant_id")
    return VerifyReport("record", [*(room_verify(room) for room in rooms), audit_log_verify(tenant)])


# --- a trail PDF -----------------------------------------------------------------------------

PDF_MAX_BYTES = 100 * 2**20  # an uploaded trail PDF (a trail of 10,000 messages is a few MB)


def tenant_pdf_verify(tenant, upload):
    """An uploaded trail PDF (a file object with `size`) checked against the database, for the verify
    page and the API: its audit.trails.pdf_verify.TrailPdfReport. Only a trail of `tenant` is
    checked (another tenant's would tell about that tenant): ValidationError, with the reason, for
    no file, one too large, one that embeds no trail, or another tenant's."""
    if upload is None or not upload.size:
        raise ValidationError(_("Choose a trail PDF to upload."))
    if upload.size > PDF_MAX_BYTES:
        raise ValidationError(_("The file is larger than %(max)d MB.") % {"max": PDF_MAX_BYTES // 2**20})
    try:
        from audit.trails.pdf_verify import TrailPdfReport, trail_data_verify, trail_json_from_pdf
    except ImportError:  # an installation without the trails app
        raise ValidationError(_("PDF verification is unavailable in this installation.")) from None
    try:
        data = trail_json_from_pdf(upload)
    except ValueError:
        raise ValidationError(_("This file is not a trail PDF exported by the portal (it embeds no readable trail).")) from None
    if str(data.get("tenant", "")) != tenant.slug:
        raise ValidationError(_("This trail was exported from another tenant; verify it there."))
    return trail_data_verify(data, TrailPdfReport())
