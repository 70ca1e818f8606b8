"""The auditor's trail flow in a real browser against the real server (uvicorn): Records in the
navigation, search a PO, open its trail, export the PDF (rendered in the server's sandbox child)."""

import io

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_the_auditor_finds_a_po_opens_its_trail_and_exports_the_pdf(page, login):
    login(page, "acme.auditor")
    page.goto("/t/acme/")
    page.locator("[data-testid=nav-records]").click()
    expect(page.locator("[data-testid=records-page]")).to_be_visible()
    page.locator("[data-testid=records-q]").fill("PO-20231026")
    page.locator("[data-testid=records-search] button[type=submit]").click()
    rows = page.locator("[data-testid=record-row]")
    expect(rows).to_have_count(1)
    rows.first.locator("a").first.click()
    expect(page.locator("[data-testid=trail-page]")).to_be_visible()
    assert page.locator("[data-testid=trail-message]").count() >= 1
    with page.expect_download() as download_info:
        page.locator("[data-testid=trail-export]").click()
    download = download_info.value
    assert download.suggested_filename == "trail-PO-20231026.pdf"
    pdf = open(download.path(), "rb").read()
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    assert "trail.json" in reader.attachments
    assert all("acme.auditor" in p.extract_text() for p in reader.pages)
