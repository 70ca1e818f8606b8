"""Checks a trail PDF against the database: `trail_pdf_verify(path)`.

It reads the `trail.json` the PDF embeds and checks, naming each problem:
- every message it lists still exists with that room, seq and hash, and its stored content
  still hashes to that hash (a body changed in SQL is found even when the hash column was left);
- from each room's first listed message up to the room's chain head at export, the chain is
  whole: no seq missing, each link and hash recomputes (a deleted row is found);
- the audit chain head it names still exists with that hash, and so does every audit record it lists;
- the record's state history in the database still begins with the exported one.

Used by `manage.py verify_trail FILE.pdf` and the verify page.
"""

import io
import json
from dataclasses import dataclass, field

from audit.chain import record_hash
from audit.models import AuditRecord
from messaging.chain import message_hash
from audit.trails.build import FORMAT, history_rows
from audit.trails.render import ATTACHMENT_NAME
from messaging.models import GENESIS_HASH, Message
from scm_portal.tenancy.models import Tenant


@dataclass
class TrailPdfReport:
    ok: bool = True
    problems: list = field(default_factory=list)
    kind: str = ""
    ref: str = ""
    tenant: str = ""
    messages: int = 0
    exported_by: str = ""
    exported_at: str = ""

    def fail(self, problem):
        self.ok = False
        self.problems.append(problem)


def trail_json_from_pdf(source):
    """The embedded trail.json of a PDF (a path, bytes or a file object), parsed; ValueError when
    there is none or it does not parse."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        reader = PdfReader(source)
        files = reader.attachments
    except (PyPdfError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a readable PDF: {exc}") from None
    contents = files.get(ATTACHMENT_NAME)
    if not contents:
        raise ValueError(f"the PDF embeds no {ATTACHMENT_NAME}")
    try:
        data = json.loads(contents[0])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{ATTACHMENT_NAME} does not parse: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{ATTACHMENT_NAME} is not a trail of format {FORMAT}")
    return data


def trail_pdf_verify(path):
    """A TrailPdfReport (`.ok`, `.problems`) for the trail PDF at `path` (or its bytes)."""
    report = TrailPdfReport()
    try:
        data = trail_json_from_pdf(path)
    except ValueError as exc:
        report.fail(str(exc))
        return report
    return trail_data_verify(data, report)


def _tombstoned(row):
    return getattr(row, "destroyed_at", None) is not None


def trail_data_verify(data, report=None):
    report = report or TrailPdfReport()
    try:
        report.kind, report.ref, report.tenant = str(data["kind"]), str(data["ref"]), str(data["tenant"])
        messages, heads = list(data["messages"]), data["chain_heads"]
        report.exported_by = str(data["exported_by"]["username"])
        report.exported_at = str(data["exported_at"])
        report.messages = len(messages)
    except (KeyError, TypeError) as exc:
        report.fail(f"the trail lacks {exc}")
        return report
    tenant = Tenant.objects.filter(slug=report.tenant).first()
    if tenant is None:
        report.fail(f"tenant {report.tenant} does not exist")
        return report

    _verify_messages(tenant, messages, heads.get("rooms", []), report)
    _verify_audit(tenant, heads.get("audit") or {}, data.get("audit_records") or [], report)
    _verify_history(tenant, data, report)
    return report


def _room_rows(tenant, room_id, first, last, batch_size=2000):
    """The room's messages with first <= seq <= last, in order, read in batches."""
    after = first - 1
    while after < last:
        batch = list(Message.objects.filter(tenant=tenant, room_id=room_id, seq__gt=after, seq__lte=last)
                     .order_by("seq")[:batch_size])
        if not batch:
            return
        yield from batch
        after = batch[-1].seq


def _verify_messages(tenant, messages, room_heads, report):
    by_room = {}
    for row in messages:
        by_room.setdefault(int(row["room"]), []).append(row)
    heads = {int(h["room"]): h for h in room_heads}
    for room_id in sorted(set(by_room) | set(heads)):
        listed = {int(r["seq"]): r for r in by_room.get(room_id, [])}
        head = heads.get(room_id)
        if head is None:
            report.fail(f"room {room_id}: no chain head at export")
            continue
        head_seq, head_hash = int(head["seq"]), str(head["hash"])
        start = min(listed) if listed else head_seq
        end = max(head_seq, max(listed, default=0))
        if start <= 1:
            prev = GENESIS_HASH
        else:  # the link into the trail's first message (a row before it missing is not the trail's)
            prev = Message.objects.filter(tenant=tenant, room_id=room_id, seq=start - 1).values_list("hash", flat=True).first()
        expected, at_head = start, None

        def gap(seq):
            if seq in listed:
                report.fail(f"message {room_id}#{seq}: deleted from the database")
            else:
                report.fail(f"room {room_id}: message {room_id}#{seq} is missing from the chain")

        # From the trail's first message to the head at export: each listed message as exported,
        # every row's content hashing to its hash, every link whole, no seq missing.
        for message in _room_rows(tenant, room_id, max(start, 1), end):
            while expected < message.seq:
                gap(expected)
                prev, expected = None, expected + 1
            row = listed.get(message.seq)
            recomputed = None if _tombstoned(message) else message_hash(message, message.prev_hash)
            if row is not None and message.hash != row["hash"]:
                report.fail(f"message {room_id}#{message.seq}: its hash in the database differs from the exported one")
            elif recomputed is not None and recomputed != message.hash:
                what = "its content was changed (it no longer hashes to the exported hash)" if row is not None \
                    else "its content does not match its hash"
                report.fail(f"message {room_id}#{message.seq}: {what}")
            if prev is not None and message.prev_hash != prev and message.seq <= head_seq:
                report.fail(f"message {room_id}#{message.seq}: its link to the previous message does not match")
            if message.seq == head_seq:
                at_head = message.hash
            prev, expected = message.hash, message.seq + 1
        while expected <= end:
            gap(expected)
            expected += 1
        if head_seq and at_head != head_hash:
            report.fail(f"room {room_id}: the chain head at export (seq {head_seq}) is not in the chain")


def _verify_audit(tenant, head, rows, report):
    wanted = {int(r["seq"]): str(r["hash"]) for r in rows}
    if head.get("seq"):
        wanted.setdefault(int(head["seq"]), str(head["hash"]))
        if wanted[int(head["seq"])] != str(head["hash"]):
            report.fail("the audit chain head does not match the audit records listed")
    if not wanted:
        return
    stored = {r.seq: r for r in AuditRecord.objects.filter(tenant=tenant, seq__in=list(wanted))}
    for seq, expected in sorted(wanted.items()):
        record = stored.get(seq)
        if record is None:
            report.fail(f"audit record {seq}: deleted from the database")
        elif record.hash != expected or record_hash(record, record.prev_hash) != expected:
            report.fail(f"audit record {seq}: changed since the export")


def _verify_history(tenant, data, report):
    from audit.trails import trail_kind

    kind = trail_kind(report.kind)
    if kind is None:
        report.fail(f"unknown record kind {report.kind}")
        return
    record = _record_for_verify(kind, tenant, report.ref)
    if record is None:
        report.fail(f"{report.kind} {report.ref} does not exist")
        return
    exported = data.get("history") or []
    current = history_rows(kind, record)
    if current[: len(exported)] != exported:
        for index, row in enumerate(exported):
            if index >= len(current) or current[index] != row:
                report.fail(f"{report.kind} {report.ref}: state history entry {index + 1} "
                            f"({row.get('action', '')} at {row.get('at', '')}) differs from the database")
                break


def _record_for_verify(kind, tenant, ref):
    """The record as the verifier reads it: the tenant's, whoever may see it (the verifier is
    the auditor's tool and the command line's; it shows nothing but the report)."""
    getter = kind.get
    return getter(tenant, ref) if getter is not None else None
