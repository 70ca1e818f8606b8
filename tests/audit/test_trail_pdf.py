"""Acceptance of the PDF trails (issue 17): an auditor exports the trail of a PO and of a
financing application; the Chinese text extracts exactly, each page carries the watermark and a
page number, the embedded JSON verifies against the database, the export is in the audit log."""

import io
import json

import pytest
from pypdf import PdfReader

from audit.models import AuditRecord
from audit.trails.pdf_verify import trail_json_from_pdf, trail_pdf_verify
from tests.api_contract import assert_error, user
from tests.audit.trail_world import CHINESE, INTERNAL, PO_NUMBER, financing_world, pdf_pages_text, po_world, squeeze

pytestmark = pytest.mark.django_db

PO_URL = f"/api/v1/t/acme/purchase-orders/{PO_NUMBER}/trail.pdf"


@pytest.fixture
def order(demo):
    return po_world(demo)


def export(api, username, url):
    response = api.as_user(user(username)).get(url)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    return b"".join(response.streaming_content)


class TestAuditorExportsAPurchaseOrder:
    def test_the_trail_holds_the_conversation_the_approval_and_the_attachment(self, api, order):
        pdf = export(api, "acme.auditor", PO_URL)
        pages = pdf_pages_text(pdf)
        text = squeeze("".join(pages))
        assert squeeze(CHINESE) in text  # the Chinese body extracts as the same characters
        assert INTERNAL in "".join(pages) or squeeze(INTERNAL) in text  # the auditor reads the whole tenant
        assert "华东零部件有限公司" in text  # the sender's organisation
        assert "Confirmedbythesupplier" in text  # the supplier's approval
        assert "质检报告.pdf" in text
        data = trail_json_from_pdf(pdf)
        attachment = next(a for a in data["attachments"] if a["name"] == "质检报告.pdf")
        assert attachment["sha256"] in text
        kinds = {m["kind"] for m in data["messages"]}
        assert {"chat", "bot", "event"} <= kinds  # chat, the bot's answer, the PO's cards
        assert [h["action"] for h in data["history"]][:3] == ["create", "send", "confirm"]
        assert data["chain_heads"]["rooms"] and data["chain_heads"]["audit"]["seq"] >= 1

    def test_every_page_names_the_auditor_and_has_its_number(self, api, order):
        pages = pdf_pages_text(export(api, "acme.auditor", PO_URL))
        for number, page in enumerate(pages, start=1):
            assert "acme.auditor" in page and "周审计" in page
            assert str(number) in page.split()

    def test_the_pdf_verifies_against_the_database(self, api, order):
        pdf = export(api, "acme.auditor", PO_URL)
        report = trail_pdf_verify(io.BytesIO(pdf))
        assert report.ok, report.problems
        assert report.kind == "purchase_order" and report.ref == PO_NUMBER and report.messages >= 5

    def test_the_export_is_in_the_audit_log_and_is_the_head_the_trail_names(self, api, order):
        pdf = export(api, "acme.auditor", PO_URL)
        record = AuditRecord.objects.get(action="trail.export", object_kind="purchase_order", object_ref=PO_NUMBER)
        assert record.actor == user("acme.auditor") and record.after["mode"] == "direct"
        assert trail_json_from_pdf(pdf)["chain_heads"]["audit"] == {"seq": record.seq, "hash": record.hash}

    def test_the_embedded_json_is_the_only_attachment(self, api, order):
        reader = PdfReader(io.BytesIO(export(api, "acme.auditor", PO_URL)))
        assert list(reader.attachments) == ["trail.json"]
        assert json.loads(reader.attachments["trail.json"][0])["exported_by"]["username"] == "acme.auditor"


class TestReaderLanguage:
    def test_a_chinese_reader_gets_a_chinese_trail(self, api, order):
        response = api.as_user(user("acme.auditor")).get(PO_URL, HTTP_ACCEPT_LANGUAGE="zh-hans")
        pdf = b"".join(response.streaming_content)
        text = squeeze("".join(pdf_pages_text(pdf)))
        assert "审批" in text and "状态历史" in text
        assert trail_json_from_pdf(pdf)["language"] == "zh-hans"


class TestWhoMayExport:
    def test_the_supplier_exports_its_own_po_without_internal_notes(self, api, order):
        pdf = export(api, "supa.rep", PO_URL)
        text = squeeze("".join(pdf_pages_text(pdf)))
        assert squeeze(CHINESE) in text
        assert squeeze(INTERNAL) not in text
        assert all(not m["internal"] for m in trail_json_from_pdf(pdf)["messages"])
        assert trail_json_from_pdf(pdf)["audit_records"] == []  # the audit log is not theirs to read
        assert trail_pdf_verify(pdf).ok

    def test_a_supplier_of_another_organisation_gets_404(self, api, order):
        assert_error(api.as_user(user("supb.rep")).get(PO_URL), 404)
        assert not AuditRecord.objects.filter(action="trail.export").exists()

    def test_another_tenants_user_gets_404(self, api, order):
        assert_error(api.as_user(user("globex.buyer")).get(PO_URL.replace("/acme/", "/globex/")), 404)
        assert_error(api.as_user(user("globex.buyer")).get(PO_URL), 404)

    def test_a_missing_po_is_404_and_anonymous_is_401(self, api, order):
        assert_error(api.as_user(user("acme.auditor")).get(PO_URL.replace(PO_NUMBER, "PO-NOPE")), 404)
        api.credentials()
        assert api.get(PO_URL).status_code == 401


class TestFinancingApplication:
    def test_the_auditor_exports_it_and_it_verifies(self, api, demo):
        application = financing_world(demo)
        pdf = export(api, "acme.auditor", f"/api/v1/t/acme/financing-applications/{application.pk}/trail.pdf")
        pages = pdf_pages_text(pdf)
        text = squeeze("".join(pages))
        assert "融资申请材料已补充" in text
        assert "发票.pdf" in text
        assert all("acme.auditor" in page for page in pages)
        data = trail_json_from_pdf(pdf)
        assert len(data["approvals"]) == 3
        assert {a["approver"] for a in data["approvals"]} >= {"钱财务", "孙总监"}
        assert trail_pdf_verify(pdf).ok
        assert AuditRecord.objects.filter(action="trail.export", object_kind="financing_application",
                                          object_ref=str(application.pk), actor_id=user("acme.auditor").pk).exists()

    def test_the_funder_may_export_it_and_another_supplier_may_not(self, api, demo):
        application = financing_world(demo)
        url = f"/api/v1/t/acme/financing-applications/{application.pk}/trail.pdf"
        assert trail_pdf_verify(export(api, "bank.officer", url)).ok
        assert_error(api.as_user(user("supb.rep")).get(url), 404)
        assert_error(api.as_user(user("acme.buyer")).get(url), 404)  # not a finance reader

    def test_a_dispute_is_in_the_trail_and_a_trail_exported_while_disputed_verifies_once_settled(self, api, demo):
        from finance import services
        from tests.finance import factories

        application = financing_world(demo)
        factories.disburse(application)
        rep, rep_context = factories.ctx("supa.rep")
        services.financing_dispute(tenant=application.tenant, actor=rep, context=rep_context, application=application,
                                   reason="回款金额有争议")
        url = f"/api/v1/t/acme/financing-applications/{application.pk}/trail.pdf"
        pdf = export(api, "acme.auditor", url)
        history = [(r["action"], r["from_state"], r["to_state"], r["actor"]) for r in trail_json_from_pdf(pdf)["history"]]
        assert history[-1] == ("dispute", "disbursed", "disputed", "supa.rep")
        assert "回款金额有争议" in squeeze("".join(pdf_pages_text(pdf)))
        finance, finance_context = factories.ctx("bank.officer")
        services.financing_dispute_settle(tenant=application.tenant, actor=finance, context=finance_context,
                                          application=application, resolution="已核对银行流水")
        assert trail_pdf_verify(pdf).ok  # the history only grew
        pdf = export(api, "acme.auditor", url)
        history = [(r["action"], r["from_state"], r["to_state"], r["actor"]) for r in trail_json_from_pdf(pdf)["history"]]
        assert history[-2:] == [("dispute", "disbursed", "disputed", "supa.rep"),
                                ("settle_dispute", "disputed", "disbursed", "bank.officer")]
        assert "已核对银行流水" in squeeze("".join(pdf_pages_text(pdf)))
        assert trail_pdf_verify(pdf).ok


class TestAlert:
    def test_an_alerts_trail_holds_its_card_and_history(self, api, demo):
        from alerts.services import alert_raise

        alert, *_rest = alert_raise(tenant=demo["tenants"]["acme"], kind="low_stock", severity=30, dedupe_key="t1",
                            title="库存低于安全库存", partner=demo["organizations"]["sup-a"], core_audience=["buyer"],
                            subject_kind="sku", subject_ref="SKU-1001")
        pdf = export(api, "acme.auditor", f"/api/v1/t/acme/alerts/{alert.pk}/trail.pdf")
        data = trail_json_from_pdf(pdf)
        assert data["history"][0]["action"] == "raised"
        assert any(m["kind"] == "event" for m in data["messages"])
        assert trail_pdf_verify(pdf).ok


class TestFont:
    def test_without_wenquanyi_the_pinned_noto_wheel_is_used(self, monkeypatch):
        from audit.trails import fonts

        fonts.trail_font.cache_clear()
        monkeypatch.setattr(fonts, "WQY_PATHS", ("/nonexistent/wqy.ttc",))
        monkeypatch.delenv("TRAIL_FONT", raising=False)
        try:
            font = fonts.trail_font()
            assert font.name == "Noto Sans CJK" and font.path.is_file()
        finally:
            fonts.trail_font.cache_clear()

    def test_without_any_cjk_font_the_message_says_what_to_install(self, monkeypatch):
        from audit.trails import fonts

        fonts.trail_font.cache_clear()
        monkeypatch.setattr(fonts, "WQY_PATHS", ())
        monkeypatch.setattr(fonts, "NOTO_PACKAGE", "no_such_font_package")
        try:
            with pytest.raises(fonts.FontMissing, match="requirements.txt"):
                fonts.trail_font()
        finally:
            fonts.trail_font.cache_clear()

    @pytest.mark.parametrize("preferred", ["wqy", "noto"])
    def test_chinese_extracts_exactly_in_either_font(self, order, preferred, monkeypatch):
        from audit.trails import fonts
        from audit.trails.build import trail_build
        from audit.trails.render import trail_pdf_bytes
        from audit.trails.services import trail_access
        from scm_portal.tenancy.access import tenant_context_for

        auditor = user("acme.auditor")
        context = tenant_context_for(auditor, order.tenant)
        kind, record = trail_access(kind="purchase_order", ref=PO_NUMBER, user=auditor, context=context)
        trail = trail_build(kind, record, user=auditor, context=context, language="zh-hans")
        fonts.trail_font.cache_clear()
        monkeypatch.setenv("TRAIL_FONT", preferred)
        try:
            font = fonts.trail_font()
            pdf = trail_pdf_bytes(trail, time_zone="Asia/Shanghai")
        finally:
            fonts.trail_font.cache_clear()
        assert font.name == {"wqy": "WenQuanYi Micro Hei", "noto": "Noto Sans CJK"}[preferred]
        assert squeeze(CHINESE) in squeeze("".join(pdf_pages_text(pdf)))
        reader = PdfReader(io.BytesIO(pdf))
        # WenQuanYi is TrueType (embedded as FontFile2), Noto Sans CJK is CFF-based (FontFile3).
        embedded = set()
        for page in reader.pages:
            for font_ref in page["/Resources"]["/Font"].values():
                for descendant in font_ref.get_object().get("/DescendantFonts", []):
                    embedded |= {k for k in descendant.get_object()["/FontDescriptor"] if k.startswith("/FontFile")}
        assert embedded == {"/FontFile2" if preferred == "wqy" else "/FontFile3"}, embedded

    def test_the_delivery_note_sets_chinese_in_the_font(self, order):
        from orders.delivery_note import delivery_note_pdf
        from orders.models import Shipment
        from orders.services import shipments
        from tests.orders.helpers import ctx

        shipment = shipments.shipment_create(**ctx("supa.rep"), purchase_order=PO_NUMBER, carrier="顺丰速运")
        shipment = Shipment.objects.select_related("supplier").get(pk=shipment.pk)
        pdf = delivery_note_pdf(shipment, lines=list(shipment.lines.select_related("order_line__order", "order_line__sku")),
                                tenant=order.tenant)
        text = squeeze("".join(pdf_pages_text(pdf)))
        assert "顺丰速运" in text and "华东零部件有限公司" in text


def test_without_any_cjk_font_an_export_is_a_503_not_a_500(api, order, monkeypatch):
    from audit.trails import fonts

    fonts.trail_font.cache_clear()
    monkeypatch.setattr(fonts, "WQY_PATHS", ())
    monkeypatch.setattr(fonts, "NOTO_PACKAGE", "no_such_font_package")
    try:
        assert_error(api.as_user(user("acme.auditor")).get(PO_URL), 503, "render_failed")
    finally:
        fonts.trail_font.cache_clear()
