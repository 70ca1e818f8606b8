"""The auditor's pages: search records, open a trail, export it; a large trail's export job with
its progress (polled with htmx) and its file, downloadable by its requester only; the API's 202
for a large trail."""

import re

import pytest

from audit.models import AuditRecord
from audit.trails import build
from audit.trails.models import ExportState, TrailExport
from audit.trails.pdf_verify import trail_pdf_verify
from tests.api_contract import assert_error, user
from tests.audit.trail_world import CHINESE, INTERNAL, PO_NUMBER, pdf_pages_text, po_world

pytestmark = pytest.mark.django_db

RECORDS = "/t/acme/audit/trails/"
TRAIL = f"/t/acme/audit/trails/purchase_order/{PO_NUMBER}/"


@pytest.fixture
def order(demo, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return po_world(demo)


def page(client, username, url, **kwargs):
    client.force_login(user(username))
    return client.get(url, **kwargs)


def write_controls(html):
    """What could change something in the page's content (the header's log-out and language forms
    aside): a form that is not a GET search, a button outside one, a text area."""
    content = html.split("<main", 1)[-1]
    forms = re.findall(r"<form[^>]*>", content, flags=re.I)
    buttons = [b for b in re.findall(r"<button[^>]*>", content, flags=re.I) if 'type="submit"' not in b]
    return [f for f in forms if 'method="get"' not in f] + buttons + re.findall(r"<textarea", content, flags=re.I)


class TestRecordsPage:
    def test_the_auditor_is_linked_to_it_and_finds_the_po(self, client, order):
        dashboard = page(client, "acme.auditor", "/t/acme/").content.decode()
        assert 'data-testid="nav-records"' in dashboard
        html = client.get(RECORDS, {"kind": "purchase_order", "q": "20231026"}).content.decode()
        assert PO_NUMBER in html and 'data-testid="record-row"' in html
        assert TRAIL in html

    def test_filters_by_state_and_date(self, client, order):
        client.force_login(user("acme.auditor"))
        assert PO_NUMBER in client.get(RECORDS, {"kind": "purchase_order", "state": "confirmed"}).content.decode()
        assert PO_NUMBER not in client.get(RECORDS, {"kind": "purchase_order", "state": "draft"}).content.decode()
        assert PO_NUMBER not in client.get(RECORDS, {"kind": "purchase_order", "until": "2000-01-01"}).content.decode()

    @pytest.mark.parametrize("params", [{"since": "not-a-date"}, {"kind": "nope"}, {"state": "<x>"}, {"q": "x" * 500},
                                        {"kind": "financing_application", "q": "FA-abc"}, {"kind": "alert", "q": "#99999999999999999999"}])
    def test_bad_filters_are_dropped_never_a_500(self, client, order, params):
        assert page(client, "acme.auditor", RECORDS, data=params).status_code == 200

    def test_every_kind_is_searchable(self, client, order):
        client.force_login(user("acme.auditor"))
        for kind in ("purchase_order", "financing_application", "alert"):
            assert client.get(RECORDS, {"kind": kind}).status_code == 200

    @pytest.mark.parametrize("username", ["acme.buyer", "supa.rep", "bank.officer"])
    def test_others_may_not_open_it(self, client, order, username):
        assert page(client, username, RECORDS).status_code == 403

    def test_the_tenant_admin_may(self, client, order):
        assert page(client, "acme.admin", RECORDS).status_code == 200

    def test_the_auditor_gets_no_write_control(self, client, order):
        assert write_controls(page(client, "acme.auditor", RECORDS).content.decode()) == []
        assert write_controls(client.get(TRAIL).content.decode()) == []

    def test_it_speaks_chinese(self, client, order):
        html = page(client, "acme.auditor", RECORDS, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        assert "记录" in html and "导出 PDF" in html


class TestTrailPage:
    def test_the_auditor_reads_the_whole_trail(self, client, order):
        html = page(client, "acme.auditor", TRAIL).content.decode()
        assert CHINESE in html and INTERNAL in html and "质检报告.pdf" in html
        assert 'data-testid="trail-export"' in html

    def test_the_supplier_reads_its_po_without_internal_notes(self, client, order):
        html = page(client, "supa.rep", TRAIL).content.decode()
        assert CHINESE in html and INTERNAL not in html

    @pytest.mark.parametrize("url", [TRAIL, TRAIL.replace(PO_NUMBER, "PO-NOPE"), "/t/acme/audit/trails/nope/1/"])
    def test_another_supplier_gets_404(self, client, order, url):
        assert page(client, "supb.rep", url).status_code == 404

    def test_the_export_link_downloads_the_pdf_and_records_it(self, client, order):
        response = page(client, "acme.auditor", TRAIL + "trail.pdf")
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        pdf = b"".join(response.streaming_content)
        assert trail_pdf_verify(pdf).ok
        assert AuditRecord.objects.filter(action="trail.export", actor_id=user("acme.auditor").pk).count() == 1

    def test_the_page_is_the_same_content_as_the_pdf(self, client, order):
        html = page(client, "acme.auditor", TRAIL).content.decode()
        assert html.count('data-testid="trail-message"') == len(
            build.trail_messages(build_kind(), order, user=user("acme.auditor"), context=_ctx("acme.auditor")))


def build_kind():
    from audit.trails import trail_kind

    return trail_kind("purchase_order")


def _ctx(username):
    from scm_portal.tenancy.access import tenant_context_for
    from scm_portal.tenancy.models import Tenant

    return tenant_context_for(user(username), Tenant.objects.get(slug="acme"))


@pytest.fixture
def large(monkeypatch, order):
    """A "large" trail without thousands of rows: the thresholds lowered (3 messages, chunks of 2)."""
    monkeypatch.setattr(build, "LARGE_TRAIL", 3)
    monkeypatch.setattr(build, "CHUNK_MESSAGES", 2)
    return order


class TestLargeTrail:
    def test_the_export_becomes_a_job_whose_page_shows_progress_then_the_file(self, client, large,
                                                                              django_capture_on_commit_callbacks):
        client.force_login(user("acme.auditor"))
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.get(TRAIL + "trail.pdf")
        job = TrailExport.objects.get()
        assert response.status_code == 302 and response["Location"] == f"/t/acme/audit/trails/exports/{job.pk}/"
        queued = client.get(response["Location"]).content.decode()
        assert 'hx-get="/t/acme/audit/trails/exports/' in queued and 'data-state="queued"' in queued
        assert job.chunks_total >= 3 and job.audit_seq
        for callback in callbacks:
            callback()  # the Celery task (eager in tests)
        job.refresh_from_db()
        assert job.state == ExportState.DONE and job.chunks_done == job.chunks_total and job.percent == 100
        partial = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
        assert 'data-state="done"' in partial and "hx-get" not in partial and 'data-testid="export-download"' in partial
        download = client.get(f"/t/acme/audit/trails/exports/{job.pk}/file.pdf")
        pdf = b"".join(download.streaming_content)
        assert trail_pdf_verify(pdf).ok
        pages = pdf_pages_text(pdf)
        assert len(pages) >= 3
        # Page numbers run on across the chunks: 1, 2, 3, ...
        for number, text in enumerate(pages, start=1):
            assert text.rstrip().endswith(str(number)) or f"\n{number}\n" in text or text.split()[-1] == str(number), (number, text[-80:])
        record = AuditRecord.objects.get(seq=job.audit_seq, tenant=large.tenant)
        assert record.action == "trail.export" and record.after["mode"] == "job" and record.after["export"] == job.pk

    def test_the_file_is_its_requesters_only(self, client, large, django_capture_on_commit_callbacks):
        client.force_login(user("acme.auditor"))
        with django_capture_on_commit_callbacks(execute=True):
            client.get(TRAIL + "trail.pdf")
        job = TrailExport.objects.get()
        for username in ("acme.admin", "supa.rep", "globex.buyer"):
            client.force_login(user(username))
            assert client.get(f"/t/acme/audit/trails/exports/{job.pk}/").status_code == 404
            assert client.get(f"/t/acme/audit/trails/exports/{job.pk}/file.pdf").status_code == 404

    def test_the_api_answers_202_and_serves_the_file_to_the_requester(self, api, large, django_capture_on_commit_callbacks):
        client = api.as_user(user("acme.auditor"))
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.get(f"/api/v1/t/acme/purchase-orders/{PO_NUMBER}/trail.pdf")
        assert response.status_code == 202
        body = response.json()
        assert body["state"] == "queued" and body["file"] is None and response["Location"] == body["url"]
        assert_error(client.get(body["url"] + "file.pdf"), 409, "export_not_ready")
        for callback in callbacks:
            callback()
        body = client.get(body["url"]).json()
        assert body["state"] == "done" and body["progress"] == 100
        pdf = b"".join(client.get(body["file"]).streaming_content)
        assert trail_pdf_verify(pdf).ok
        other = api.as_user(user("acme.admin"))
        assert_error(other.get(body["url"]), 404)
        assert_error(other.get(body["file"]), 404)

    def test_a_requester_who_lost_access_gets_a_failed_job_not_a_file(self, client, large,
                                                                      django_capture_on_commit_callbacks):
        from scm_portal.tenancy.models import Membership

        client.force_login(user("supa.rep"))
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            client.get(TRAIL + "trail.pdf")
        Membership.objects.filter(user=user("supa.rep"), tenant__slug="acme").update(active=False)
        for callback in callbacks:
            callback()
        job = TrailExport.objects.get()
        assert job.state == ExportState.FAILED and not job.file
