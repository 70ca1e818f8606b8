"""`manage.py verify_trail`: a tenant, rooms, a record, a PDF; a row changed or deleted behind the
app's back is found and named, and the command exits non-zero. The streaming verifier hashes the
same bytes as the chains' own canonical forms."""

import datetime
import hashlib
import io
import json
import sys
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone as django_timezone

from audit import chain as audit_chain
from audit import verify
from audit.models import AuditRecord
from audit.services import audit_record
from audit.verify import _A_COLUMNS, audit_log_verify, message_rows, room_verify
from messaging import chain as message_chain
from messaging.models import Message
from tests.api_contract import user
from tests.messaging.helpers import post, post_event, room_of

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    try:
        call_command("verify_trail", *args, stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


@pytest.fixture
def talk(demo):
    room = room_of("acme", "sup-a")
    post("supa.rep", room, "第一条 hello")
    post_event(room, body="PO-1 已发送", payload={"n": 1, "nested": {"b": 2, "a": [1, "二"]}}, subject_kind="purchase_order",
               subject_ref="PO-1")
    post("acme.buyer", room, "third")
    from messaging.texts import Text

    post_event(room, body=None, text=Text("alerts.state.acknowledged", {"who": "李仓管"}), payload={"alert": 9, "state": "acknowledged"})
    audit_record(tenant=demo["tenants"]["acme"], actor=user("acme.buyer"), action="purchase_order.send",
                 object_kind="purchase_order", object_ref="PO-1", before={"state": "draft"}, after={"state": "sent"})
    return {"room": room, "acme": demo["tenants"]["acme"]}


def _dumps(data):
    """The canonical form as the chains first wrote it: sorted-key JSON of a dict."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def test_the_verifier_hashes_with_the_chains_own_canonical_function(talk, monkeypatch):
    """One canonical function per chain: the streamed rows go through the very function the chain
    wrote the hashes with, and it gives back the stored hashes, row by row."""
    rows = list(message_rows(talk["room"].pk))
    assert len(rows) == 4 and Message.objects.filter(room=talk["room"], text__isnull=False).exists()
    stored = {m.seq: m for m in Message.objects.filter(room=talk["room"])}
    for row in rows:
        message = stored[row[verify._M_SEQ]]
        streamed = message_chain.canonical_values(row, text=True)
        assert streamed == message_chain.canonical(message)
        assert hashlib.sha256(message.prev_hash.encode() + b"\n" + streamed).hexdigest() == message.hash
    records = list(AuditRecord.objects.filter(tenant=talk["acme"]).order_by("seq").values_list(*_A_COLUMNS))
    assert records
    for row in records:
        digest = hashlib.sha256(row[verify._A_PREV].encode() + b"\n" + audit_chain.canonical_values(row)).hexdigest()
        assert digest == row[verify._A_HASH]

    # And the verifier calls those functions, and no other: through them, a room and the log verify
    called = []

    def spy(function):
        def counted(values, text=False):
            called.append((function, text))
            return function(values, text)
        return counted

    monkeypatch.setattr(verify, "message_canonical_values", spy(message_chain.canonical_values))
    monkeypatch.setattr(verify, "audit_canonical_values", spy(audit_chain.canonical_values))
    assert room_verify(talk["room"]).ok and audit_log_verify(talk["acme"]).ok
    assert called.count((message_chain.canonical_values, True)) == 4
    assert called.count((audit_chain.canonical_values, False)) == len(records)
    assert len(called) == 4 + len(records)


def test_the_canonical_form_is_still_sorted_key_json(talk):
    """The function writes JSON itself, for speed: it must stay byte for byte the sorted-key
    json.dumps the existing chains were hashed with, for every kind of value a row may hold."""
    message = Message.objects.filter(room=talk["room"], seq=2).get()
    message.body = 'quotes " and \\ back\\slash, 中文, \u2028, tab\t, \x00 nul, emoji 🚚'
    message.payload = {"b": [1, 2.5, None, True, "二"], "a": {"z": Decimal("1250.00"), "y": datetime.date(2026, 1, 2)}}
    message.actions = [{"name": "po_confirm"}]
    message.text = None
    message.client_id = None
    message.internal = True
    message.kind = "event"
    for text in (None, {"key": "orders.po.confirmed", "params": {"number": "PO-1"}}):
        message.text = text
        data = {name: getattr(message, name) for name in message_chain.HASHED_FIELDS}
        if text is not None:
            data["text"] = text
        data["created_at"] = message.created_at.astimezone(datetime.UTC).isoformat(timespec="microseconds")
        assert message_chain.canonical(message) == _dumps(data)
    record = AuditRecord.objects.filter(tenant=talk["acme"], object_ref="PO-1").get()
    record.before, record.after, record.ip = None, {"amount": Decimal("3.10"), "lines": [{"line": 1}]}, "10.0.0.1"
    data = {name: getattr(record, name) for name in audit_chain.HASHED_FIELDS}
    data["at"] = record.at.astimezone(datetime.UTC).isoformat(timespec="microseconds")
    assert audit_chain.canonical(record) == _dumps(data)


def test_the_time_and_json_text_of_a_row_write_the_same_bytes(talk):
    """The streamed row's text form (the time as PostgreSQL formats it, jsonb as its text) and the
    model's values (a datetime, Python values) give the same bytes."""
    message = Message.objects.filter(room=talk["room"], seq=2).get()
    row = next(r for r in message_rows(talk["room"].pk) if r[verify._M_SEQ] == 2)
    values = list(row)
    for name in ("payload", "actions", "text"):
        index = message_chain.CANONICAL_COLUMNS.index(name)
        assert values[index] is None or isinstance(values[index], str)  # jsonb as its text
        values[index] = getattr(message, name)
    values[message_chain.CANONICAL_COLUMNS.index("created_at")] = message.created_at  # a datetime
    assert message_chain.canonical_values(values) == message_chain.canonical_values(row, text=True)


def test_a_tenant_verifies(talk):
    out, error = run("--tenant", "acme")
    assert error is None, out
    assert f"room {talk['room'].pk} ({talk['room'].name}): OK, 4 messages" in out
    assert "audit log of acme: OK" in out


def test_a_room_keeps_its_old_form(talk):
    out, error = run("--room", str(talk["room"].pk))
    assert error is None and "OK, 4 messages" in out


def test_a_changed_message_body_is_named_and_fails(talk):
    room = talk["room"]
    with connection.cursor() as cursor:  # behind the app's back
        cursor.execute("UPDATE messaging_message SET body = 'forged' WHERE room_id = %s AND seq = 2", [room.pk])
    for args in (("--tenant", "acme"), ("--room", str(room.pk)), ("--record", "purchase_order", "PO-1")):
        out, error = run(*args)
        assert error is not None and error.returncode == 1, args
        assert f"room {room.pk} ({room.name}): BROKEN at message 2: its content does not match its hash" in out
        assert f"room {room.pk} message 2" in str(error)


def test_a_deleted_message_is_found(talk):
    room = talk["room"]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM messaging_message WHERE room_id = %s AND seq = 2", [room.pk])
    out, error = run("--tenant", "acme")
    assert error is not None and "BROKEN at message 2: row 2 is missing" in out


def test_the_last_message_deleted_is_found_by_the_rooms_head(talk):
    room = talk["room"]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM messaging_message WHERE room_id = %s AND seq = 4", [room.pk])
    out, error = run("--room", str(room.pk))
    assert error is not None and "BROKEN at message 4" in out and "head" in out


def test_a_changed_audit_record_is_named(talk):
    acme = talk["acme"]
    seq = AuditRecord.objects.filter(tenant=acme, object_ref="PO-1").values_list("seq", flat=True).get()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditrecord SET after = '{\"state\": \"confirmed\"}' WHERE tenant_id = %s AND seq = %s",
                       [acme.pk, seq])
    out, error = run("--tenant", "acme")
    assert error is not None and f"audit log of acme: BROKEN at audit record {seq}: its content does not match" in out
    assert f"audit record {seq} of acme" in str(error)


def test_a_deleted_audit_record_is_found(talk):
    acme = talk["acme"]
    audit_record(tenant=acme, actor=None, action="alert.resolve", object_kind="alert", object_ref="1")
    seq = AuditRecord.objects.filter(tenant=acme, object_ref="PO-1").values_list("seq", flat=True).get()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditrecord WHERE tenant_id = %s AND seq = %s", [acme.pk, seq])
    out, error = run("--record", "alert", "1", "--tenant", "acme")
    assert error is not None and f"BROKEN at audit record {seq}: row {seq} is missing" in out
    report = audit_log_verify(acme)
    assert not report.ok and report.broken_seq == seq


def test_a_forged_link_is_found(talk):
    room = talk["room"]
    Message.objects.filter(room=room, seq=3).update(prev_hash="0" * 64)
    report = room_verify(room)
    assert not report.ok and report.broken_seq == 3 and "link" in report.reason


@pytest.mark.parametrize("args,message", [
    ((), "Give one of"),
    (("--room", "999999"), "No such room: 999999"),
    (("--tenant", "nope"), "No such tenant"),
    (("--record", "purchase_order", "PO-NONE"), "Nothing links to purchase_order PO-NONE"),
    (("--record", "purchase_order", "PO-1", "--tenant", "nope"), "No such tenant"),
    (("x.pdf", "--tenant", "acme"), "Give one of"),
])
def test_bad_arguments(talk, args, message):
    _out, error = run(*args)
    assert error is not None and message in str(error)


def test_a_pdf_without_the_pdf_checker_says_so(talk, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "audit.trails.pdf_verify", None)  # an installation without it
    _out, error = run(str(tmp_path / "trail.pdf"))
    assert error is not None and "PDF verification unavailable" in str(error) and error.returncode == 2


def test_a_pdf_is_handed_to_the_pdf_checker(talk, monkeypatch, tmp_path):
    import types

    seen = []

    class Report:
        def __init__(self, ok, problems):
            self.ok, self.problems = ok, problems

    module = types.ModuleType("audit.trails.pdf_verify")
    module.trail_pdf_verify = lambda path: seen.append(path) or Report(path.endswith("good.pdf"), [] if path.endswith("good.pdf") else ["message 2 differs"])
    monkeypatch.setitem(sys.modules, "audit.trails.pdf_verify", module)
    out, error = run(str(tmp_path / "good.pdf"))
    assert error is None and "OK" in out
    out, error = run(str(tmp_path / "bad.pdf"))
    assert error is not None and error.returncode == 1 and "message 2 differs" in out
    assert seen == [str(tmp_path / "good.pdf"), str(tmp_path / "bad.pdf")]


# --- tombstones (retention) -------------------------------------------------------------------

@pytest.fixture
def purged(talk, monkeypatch):
    """The talk's room with two messages 40 days old, destroyed by the retention sweep."""
    from audit.retention_tasks import retention_sweep
    from tests.audit.test_retention import days_ago, set_policy

    room = talk["room"]
    with days_ago(monkeypatch, 40):
        old = [post("acme.buyer", room, "旧的报价 old quote"), post("supa.rep", room, "old answer")]
    post("acme.buyer", room, "after the old ones")
    set_policy("partner", 30)
    retention_sweep.delay()
    assert all(Message.objects.get(pk=m.pk).destroyed_at is not None for m in old)
    return {**talk, "old": old}


def test_a_tenant_with_tombstones_still_verifies(purged):
    out, error = run("--tenant", "acme")
    assert error is None, out
    assert f"room {purged['room'].pk} ({purged['room'].name}): OK, 7 messages" in out


def test_a_tombstone_given_content_back_is_named(purged):
    tomb = purged["old"][0]
    Message.objects.filter(pk=tomb.pk).update(body="forged")
    report = room_verify(purged["room"])
    assert not report.ok and report.broken_seq == tomb.seq and "still has content" in report.reason


def test_a_message_marked_destroyed_behind_the_apps_back_is_named(purged):
    live = Message.objects.filter(room=purged["room"], destroyed_at__isnull=True).order_by("-seq").first()
    Message.objects.filter(pk=live.pk).update(body="", destroyed_at=django_timezone.now())
    report = room_verify(purged["room"])
    assert not report.ok and report.broken_seq == live.seq and "no purge" in report.reason


def test_a_changed_tombstone_hash_is_named(purged):
    tomb = purged["old"][1]
    Message.objects.filter(pk=tomb.pk).update(hash="f" * 64)
    report = room_verify(purged["room"])
    assert not report.ok and report.broken_seq == tomb.seq
