"""trail_pdf_verify(): a trail PDF checked against the database. Changed or deleted rows found
behind the app's back are named; an untouched trail passes."""

import pytest
from django.db import connection

from audit.trails.pdf_verify import trail_json_from_pdf, trail_pdf_verify
from messaging.models import Message
from tests.api_contract import user
from tests.audit.trail_world import CHINESE, PO_NUMBER, po_world

pytestmark = pytest.mark.django_db

URL = f"/api/v1/t/acme/purchase-orders/{PO_NUMBER}/trail.pdf"


def behind_the_apps_back(sql, params=()):
    """SQL as someone with database access would run it: no triggers, no constraints checked."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


@pytest.fixture
def exported(api, demo, tmp_path):
    po_world(demo)
    response = api.as_user(user("acme.auditor")).get(URL)
    path = tmp_path / "trail.pdf"
    path.write_bytes(b"".join(response.streaming_content))
    return path


def test_an_untouched_trail_passes(exported):
    report = trail_pdf_verify(exported)
    assert report.ok and report.problems == []


def test_a_body_changed_in_sql_fails_naming_the_message(exported):
    message = Message.objects.get(body=CHINESE)
    behind_the_apps_back("UPDATE messaging_message SET body = %s WHERE id = %s", ["请于周六前发货", message.pk])
    report = trail_pdf_verify(exported)
    assert not report.ok
    assert any(f"message {message.room_id}#{message.seq}" in p and "changed" in p for p in report.problems), report.problems


def test_a_body_and_hash_rewritten_together_still_fails(exported):
    from messaging.chain import message_hash

    message = Message.objects.get(body=CHINESE)
    message.body = "请于周六前发货"
    new_hash = message_hash(message, message.prev_hash)
    behind_the_apps_back("UPDATE messaging_message SET body = %s, hash = %s WHERE id = %s", [message.body, new_hash, message.pk])
    report = trail_pdf_verify(exported)
    assert not report.ok
    assert any(f"{message.room_id}#{message.seq}" in p for p in report.problems)


def test_a_deleted_message_is_found(exported):
    message = Message.objects.get(body=CHINESE)
    behind_the_apps_back("DELETE FROM messaging_attachment WHERE message_id = %s", [message.pk])
    behind_the_apps_back("DELETE FROM messaging_message WHERE id = %s", [message.pk])
    report = trail_pdf_verify(exported)
    assert not report.ok
    assert f"message {message.room_id}#{message.seq}: deleted from the database" in report.problems


def test_a_deleted_message_the_trail_did_not_list_breaks_the_chain(api, demo, tmp_path):
    """The supplier's trail leaves the internal note out; deleting it still shows as a gap."""
    po_world(demo)
    pdf = b"".join(api.as_user(user("supa.rep")).get(URL).streaming_content)
    note = Message.objects.get(internal=True, subject_ref=PO_NUMBER)
    assert all(m["seq"] != note.seq for m in trail_json_from_pdf(pdf)["messages"])
    behind_the_apps_back("DELETE FROM messaging_message WHERE id = %s", [note.pk])
    report = trail_pdf_verify(pdf)
    assert not report.ok
    assert any(f"{note.room_id}#{note.seq} is missing from the chain" in p for p in report.problems), report.problems


def test_a_changed_state_history_is_found(exported):
    behind_the_apps_back("UPDATE orders_purchaseorderevent SET to_state = 'cancelled' WHERE action = 'send'")
    report = trail_pdf_verify(exported)
    assert not report.ok
    assert any("state history entry 2" in p for p in report.problems), report.problems


def test_history_that_went_on_after_the_export_is_not_a_problem(exported):
    from tests.orders.helpers import move, po

    move("cancel", po(), "acme.buyer")
    assert trail_pdf_verify(exported).ok


def test_a_changed_export_record_is_found(exported):
    head = trail_json_from_pdf(exported.read_bytes())["chain_heads"]["audit"]
    behind_the_apps_back("UPDATE audit_auditrecord SET actor_label = 'someone' WHERE seq = %s", [head["seq"]])
    report = trail_pdf_verify(exported)
    assert not report.ok and any(f"audit record {head['seq']}" in p for p in report.problems)


@pytest.mark.parametrize("content", [b"", b"not a pdf", b"%PDF-1.4\n%%EOF"])
def test_a_file_that_is_no_trail_is_a_problem_not_an_error(tmp_path, content, db):
    path = tmp_path / "x.pdf"
    path.write_bytes(content)
    report = trail_pdf_verify(path)
    assert not report.ok and report.problems


def test_a_pdf_without_a_trail_is_named(tmp_path, db):
    from weasyprint import HTML

    path = tmp_path / "plain.pdf"
    HTML(string="<p>hello</p>").write_pdf(path)
    report = trail_pdf_verify(path)
    assert report.problems == ["the PDF embeds no trail.json"]
