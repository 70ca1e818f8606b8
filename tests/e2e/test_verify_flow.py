"""The auditor's verify page in a real browser against the real server (uvicorn): the tenant's
chains verify, a PO's trail PDF exported from the portal and uploaded again matches the database;
then a message body changed in SQL behind the portal's back is named, by the tenant's verification
and by the same PDF.

Runs against the demo data (`seed_demo`): PO-20231026 (sup-a) has its cards in acme's sup-a room.
Results are asserted through data attributes, never through translated labels.
"""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

PO = "PO-20231026"


def open_verify_page(page):
    page.goto("/t/acme/audit/log/")
    page.locator("[data-testid=subnav-audit-verify]").click()
    expect(page.locator("[data-testid=audit-verify-title]")).to_be_visible()


def verify_tenant(page):
    page.locator("[data-testid=scope-tenant]").check()
    with page.expect_navigation():
        page.locator("[data-testid=verify-submit]").click()
    result = page.locator("[data-testid=verify-result]")
    expect(result).to_be_visible()
    return result


def verify_pdf(page, path):
    page.locator("[data-testid=scope-pdf]").check()
    page.locator("[data-testid=verify-pdf]").set_input_files(path)
    with page.expect_navigation():
        page.locator("[data-testid=verify-submit]").click()
    result = page.locator("[data-testid=verify-pdf-result]")
    expect(result).to_be_visible()
    return result


def export_trail(page, tmp_path):
    page.goto(f"/t/acme/audit/trails/purchase_order/{PO}/")
    expect(page.locator("[data-testid=trail-page]")).to_be_visible()
    with page.expect_download() as download_info:
        page.locator("[data-testid=trail-export]").click()
    download = download_info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    return path


def test_the_auditor_verifies_the_tenant_and_a_trail_pdf_and_a_forged_body_is_named(
        page, login, portal_database, tmp_path):
    # Given the auditor on the verify page
    login(page, "acme.auditor")
    open_verify_page(page)

    # When they verify the whole tenant, every chain verifies
    result = verify_tenant(page)
    expect(result).to_have_attribute("data-ok", "true")
    expect(page.locator("[data-testid=verify-ok]")).to_be_visible()
    chains = page.locator("[data-testid=verify-chain]")
    assert chains.count() >= 2  # the rooms, then the audit log
    expect(page.locator("[data-testid=verify-chain][data-ok=false]")).to_have_count(0)
    expect(page.locator("[data-testid=verify-chain][data-chain=audit]")).to_have_count(1)

    # And a PO's trail PDF, exported and uploaded back, matches the database
    pdf = export_trail(page, tmp_path)
    assert pdf.name == f"trail-{PO}.pdf" and pdf.read_bytes().startswith(b"%PDF")
    open_verify_page(page)
    result = verify_pdf(page, pdf)
    expect(result).to_have_attribute("data-ok", "true")
    expect(result).to_have_attribute("data-kind", "purchase_order")
    expect(result).to_have_attribute("data-ref", PO)
    expect(page.locator("[data-testid=verify-pdf-problem]")).to_have_count(0)

    # When someone with database access changes a body of the PO's conversation behind the portal's back
    with portal_database.connect() as conn:
        room_id, seq, body = conn.execute(
            "SELECT m.room_id, m.seq, m.body FROM messaging_message m JOIN tenancy_tenant t ON t.id = m.tenant_id "
            "WHERE t.slug = 'acme' AND m.subject_kind = 'purchase_order' AND m.subject_ref = %s "
            "ORDER BY m.room_id, m.seq LIMIT 1", [PO]).fetchone()
        conn.execute("UPDATE messaging_message SET body = body || ' 已篡改 forged' WHERE room_id = %s AND seq = %s",
                     [room_id, seq])
    try:
        # Then the tenant's verification names that room and that message
        open_verify_page(page)
        result = verify_tenant(page)
        expect(result).to_have_attribute("data-ok", "false")
        broken = page.locator("[data-testid=verify-broken]")
        expect(broken).to_have_attribute("data-chain", "room")
        expect(broken).to_have_attribute("data-id", str(room_id))
        expect(broken).to_have_attribute("data-seq", str(seq))
        expect(broken).to_contain_text(f"#{room_id}")
        row = page.locator(f"[data-testid=verify-chain][data-chain=room][data-id='{room_id}']")
        expect(row).to_have_attribute("data-ok", "false")
        expect(row).to_have_attribute("data-broken-seq", str(seq))
        expect(page.locator("[data-testid=verify-chain][data-ok=false]")).to_have_count(1)

        # And the same PDF no longer matches, naming the changed message
        result = verify_pdf(page, pdf)
        expect(result).to_have_attribute("data-ok", "false")
        expect(page.locator("[data-testid=verify-pdf-problem]", has_text=f"message {room_id}#{seq}:")).to_have_count(1)

        # And a file that is no trail is refused with a reason, not a crash
        junk = tmp_path / "junk.pdf"
        junk.write_bytes(b"%PDF-1.4 not really a trail")
        page.locator("[data-testid=scope-pdf]").check()
        page.locator("[data-testid=verify-pdf]").set_input_files(junk)
        with page.expect_navigation():
            page.locator("[data-testid=verify-submit]").click()
        expect(page.locator("[data-testid=verify-error]")).to_be_visible()
        expect(page.locator("[data-testid=verify-pdf-result]")).to_have_count(0)
    finally:
        # The other browser tests share this database: put the body back as it was
        with portal_database.connect() as conn:
            conn.execute("UPDATE messaging_message SET body = %s WHERE room_id = %s AND seq = %s", [body, room_id, seq])
