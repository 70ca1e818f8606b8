"""`manage.py verify_trail`: a tenant, rooms, a record, a PDF; a row changed or deleted behind the
app's back is found and named, and the command exits non-zero. The streaming verifier hashes the
same bytes as the chains' own canonical forms."""

import io
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.chain import canonical as audit_canonical
from audit.models import AuditRecord
from audit.services import audit_record
from audit.verify import (
    _A_COLUMNS,
    _M_COLUMNS,
    _message_canonical_raw,
    audit_canonical_row,
    audit_log_verify,
    message_canonical_row,
    message_rows,
    room_verify,
)
from messaging.chain import canonical as message_canonical
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


def test_streamed_canonical_bytes_are_the_chains_own(talk):
    raw = {row[_M_COLUMNS.index("seq")]: row for row in message_rows(talk["room"].pk)}
    assert len(raw) == 4 and Message.objects.filter(room=talk["room"], text__isnull=False).exists()
    for message in Message.objects.filter(room=talk["room"]):
        row = Message.objects.filter(pk=message.pk).values_list(*_M_COLUMNS).get()
        assert message_canonical_row(row) == message_canonical(message)
        assert _message_canonical_raw(raw[message.seq]) == message_canonical(message)
    for record in AuditRecord.objects.filter(tenant=talk["acme"]):
        row = AuditRecord.objects.filter(pk=record.pk).values_list(*_A_COLUMNS).get()
        assert audit_canonical_row(row) == audit_canonical(record)


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
