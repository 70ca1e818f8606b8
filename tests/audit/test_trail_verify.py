"""trail_pdf_verify(): a trail PDF checked against the database. Changed or deleted rows found
behind the app's back are named; an untouched trail passes."""

import re

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


# --- the verify page: an uploaded trail PDF --------------------------------------------------

VERIFY_PAGE = "/t/{tenant}/audit/verify/"


def upload(client, username, content, name="trail.pdf", tenant="acme"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(user(username))
    return client.post(VERIFY_PAGE.format(tenant=tenant),
                       {"scope": "pdf", "pdf": SimpleUploadedFile(name, content, content_type="application/pdf")})


def with_trail(data):
    """A PDF embedding `data` as its trail.json, as an export would."""
    import io
    import json

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_attachment("trail.json", json.dumps(data).encode())
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("username", ["acme.auditor", "acme.admin"])
def test_the_page_says_an_uploaded_trail_matches(exported, client, username):
    response = upload(client, username, exported.read_bytes())
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="verify-pdf-result" data-ok="true"' in html and f'data-ref="{PO_NUMBER}"' in html
    assert 'data-testid="verify-pdf-ok"' in html and 'data-testid="verify-pdf-problem"' not in html


def test_the_page_names_the_changed_message_of_an_uploaded_trail(exported, client):
    message = Message.objects.get(body=CHINESE)
    behind_the_apps_back("UPDATE messaging_message SET body = %s WHERE id = %s", ["请于周六前发货", message.pk])
    html = upload(client, "acme.auditor", exported.read_bytes()).content.decode()
    assert 'data-testid="verify-pdf-result" data-ok="false"' in html and 'data-testid="verify-pdf-broken"' in html
    problems = re.findall(r'data-testid="verify-pdf-problem">([^<]*)<', html)
    assert any(f"message {message.room_id}#{message.seq}: its content was changed" in p for p in problems), problems


def test_a_trail_of_another_tenant_is_refused_unread(exported, client):
    data = trail_json_from_pdf(exported.read_bytes())
    data["tenant"] = "globex"
    response = upload(client, "acme.auditor", with_trail(data))
    html = response.content.decode()
    assert response.status_code == 400 and 'data-testid="verify-error"' in html
    assert "verify-pdf-result" not in html and "globex" not in html.split('data-testid="verify-error"')[1][:300]


@pytest.mark.parametrize("content", [b"", b"not a pdf", b"%PDF-1.4\n%%EOF"])
def test_a_file_that_is_no_trail_is_a_400_on_the_page(demo, client, content):
    response = upload(client, "acme.auditor", content)
    assert response.status_code == 400 and 'data-testid="verify-error"' in response.content.decode()


def test_no_file_is_a_400_on_the_page(demo, client):
    client.force_login(user("acme.auditor"))
    response = client.post(VERIFY_PAGE.format(tenant="acme"), {"scope": "pdf"})
    assert response.status_code == 400 and 'data-testid="verify-error"' in response.content.decode()


def test_a_supplier_may_not_upload(exported, client):
    assert upload(client, "supa.rep", exported.read_bytes()).status_code == 403


# --- the API: POST audit/verify/pdf/ ---------------------------------------------------------

VERIFY_PDF_API = "/api/v1/t/{tenant}/audit/verify/pdf/"


def api_upload(api, username, content, tenant="acme"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return api.as_user(user(username)).post(
        VERIFY_PDF_API.format(tenant=tenant), {"file": SimpleUploadedFile("trail.pdf", content, content_type="application/pdf")},
        format="multipart")


def test_the_api_says_an_uploaded_trail_matches(exported, api):
    response = api_upload(api, "acme.auditor", exported.read_bytes())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True and body["problems"] == []
    assert (body["kind"], body["ref"], body["tenant"], body["exported_by"]) == ("purchase_order", PO_NUMBER, "acme", "acme.auditor")
    assert body["messages"] >= 1


def test_the_api_names_the_changed_message(exported, api):
    message = Message.objects.get(body=CHINESE)
    behind_the_apps_back("UPDATE messaging_message SET body = %s WHERE id = %s", ["请于周六前发货", message.pk])
    body = api_upload(api, "acme.admin", exported.read_bytes()).json()
    assert body["ok"] is False
    assert any(f"message {message.room_id}#{message.seq}: its content was changed" in p for p in body["problems"]), body


def test_the_api_refuses_what_is_no_trail_of_this_tenant(exported, api):
    from tests.api_contract import assert_error

    data = trail_json_from_pdf(exported.read_bytes())
    data["tenant"] = "globex"
    for content in (with_trail(data), b"not a pdf", b""):
        response = api_upload(api, "acme.auditor", content)
        assert_error(response, 400, "validation_error")
        assert "file" in response.json()["error"]["fields"]
    for form in ("multipart", "json"):  # no file at all
        response = api.as_user(user("acme.auditor")).post(VERIFY_PDF_API.format(tenant="acme"), {}, format=form)
        assert_error(response, 400, "validation_error")


def test_the_api_is_the_auditors_and_the_admins_only(exported, api):
    from tests.api_contract import assert_error

    assert_error(api_upload(api, "supa.rep", exported.read_bytes()), 403)
    assert_error(api_upload(api, "acme.buyer", exported.read_bytes()), 403)
    assert_error(api_upload(api, "globex.buyer", exported.read_bytes(), tenant="acme"), 404)
