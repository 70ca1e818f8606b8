"""A financing application's page is live: acme.finance has it open when acme.cfo approves it
through the API (as another page or an ERP would), and acme.finance's page shows it in core review,
with the approval and its card, without a reload; the approval queue open beside it drops it once
acme.finance has decided, and keeps what they are typing.

The application stands on a PO of its own, made through the REST API from draft to received (the
buyer, sup-a's rep, the warehouse), invoiced by the rep and confirmed by acme.finance: nothing here
depends on the demo's financing or on the other browser tests. States are asserted through data
attributes, never through translated labels.
"""

import secrets
import time
import urllib.error
import urllib.request
from datetime import date, timedelta

import pyotp
import pytest
from playwright.sync_api import expect

from scm_portal.tenancy.demo import DEFAULT_TOTP_SECRET
from tests.e2e.api import api_call, token_for

pytestmark = pytest.mark.e2e

A = "/api/v1/t/acme"


def verify_token(base_url, token):
    """The token passes TOTP. A code this user spent already in this 30-second step (another browser
    test, the same demo user) is refused, as it must be: the next step's code is sent then."""
    for _attempt in range(3):
        try:
            api_call(base_url, "POST", "/api/v1/auth/totp/", {"code": pyotp.TOTP(DEFAULT_TOTP_SECRET).now()}, token=token)
            return
        except urllib.error.HTTPError as error:
            if error.code not in (400, 403, 409):
                raise
        time.sleep(31 - time.time() % 30)
    pytest.fail("the token could not be verified with TOTP")


def requested_application(base_url):
    """An application of sup-a to the bank, awaiting both finance approvers; its id."""
    buyer, rep = token_for(base_url, "acme.buyer"), token_for(base_url, "supa.rep")
    warehouse, finance = token_for(base_url, "acme.warehouse"), token_for(base_url, "acme.finance")
    number = f"PO-LIVE-{secrets.token_hex(3).upper()}"
    api_call(base_url, "PUT", f"{A}/purchase-orders/{number}/", {
        "supplier": "sup-a", "warehouse": "WH-SH", "currency": "CNY",
        "lines": [{"sku": "SKU-1001", "quantity": 100, "unit_price": "50.00",
                   "requested_date": (date.today() + timedelta(days=20)).isoformat()}]}, token=buyer)
    api_call(base_url, "POST", f"{A}/purchase-orders/{number}/send/", {}, token=buyer)
    api_call(base_url, "POST", f"{A}/purchase-orders/{number}/confirm/", {}, token=rep)
    api_call(base_url, "POST", f"{A}/purchase-orders/{number}/ship/", {}, token=rep)
    api_call(base_url, "POST", f"{A}/purchase-orders/{number}/receive/", {}, token=warehouse)
    invoice = api_call(base_url, "POST", f"{A}/invoices/", {
        "purchase_order": number, "number": f"INV-{number}", "amount": "5000.00", "currency": "CNY"}, token=rep)
    api_call(base_url, "POST", f"{A}/receivables/{invoice['receivable']}/confirm/",
             {"due_date": (date.today() + timedelta(days=60)).isoformat()}, token=finance)
    application = api_call(base_url, "POST", f"{A}/financing-applications/", {
        "receivables": [invoice["receivable"]], "amount": "4000.00", "funder": "bank"}, token=rep)
    assert application["state"] == "requested"
    return application["id"]


def test_an_approvers_open_application_page_follows_the_other_approvers_approval(new_context, login, portal_server):
    application_id = requested_application(portal_server)

    # Given acme.finance has the application's page open, live, and their approval queue beside it
    page = new_context().new_page()
    login(page, "acme.finance")
    page.goto(f"/t/acme/financing/{application_id}/")
    expect(page.locator("[data-testid=fa-detail]")).to_have_attribute("data-socket", "open")
    expect(page.locator("[data-testid=fa-state]")).to_have_attribute("data-state", "requested")
    expect(page.locator("[data-testid=fa-approvals] [data-approver]")).to_have_count(0)
    cards_before = page.locator("[data-testid=fa-message][data-kind=event]").count()
    page.evaluate("() => { window.__notReloaded = true; }")

    queue = page.context.new_page()
    queue.goto("/t/acme/financing/approvals/")
    expect(queue.locator("[data-testid=fa-queue]")).to_have_attribute("data-socket", "open")
    item = queue.locator(f"[data-testid=fa-queue-item][data-id='{application_id}']")
    expect(item).to_be_visible()
    queue.evaluate("() => { window.__notReloaded = true; }")

    # When acme.cfo approves it through the API, with their second factor
    cfo = token_for(portal_server, "acme.cfo")
    verify_token(portal_server, cfo)
    api_call(portal_server, "POST", f"{A}/financing-applications/{application_id}/approve/", {}, token=cfo)

    # Then acme.finance's page shows it in core review, with acme.cfo's approval and its card, unreloaded
    expect(page.locator("[data-testid=fa-state]")).to_have_attribute("data-state", "core_review")
    expect(page.locator("[data-testid=fa-approvals] [data-approver='acme.cfo']")).to_have_attribute(
        "data-decision", "approve")
    expect(page.locator("[data-testid=fa-message][data-kind=event]")).not_to_have_count(cards_before)
    assert page.evaluate("() => window.__notReloaded === true")
    expect(page.locator("[data-testid=fa-detail]")).to_have_attribute("data-socket", "open")

    # And the queue shows the new state too (it is still acme.finance's to decide), unreloaded
    expect(item).to_have_attribute("data-state", "core_review")
    assert queue.evaluate("() => window.__notReloaded === true")

    # While acme.finance types a code in the queue's prompt, a message about the application does
    # not wipe it; once they leave it empty again the queue catches up
    prompt = queue.locator("[data-testid=totp-code]")
    prompt.fill("12")
    refreshed = queue.locator("[data-testid=fa-queue]").get_attribute("data-refreshed")
    # (acme.finance writes about it on its page: a message about the application, as a move would be)
    page.locator("[data-testid=fa-comment-form] textarea").fill("我已看过,稍后审批")
    with page.expect_navigation():
        page.locator("[data-testid=fa-comment-form] button[type=submit]").click()
    time.sleep(1.5)
    assert prompt.input_value() == "12"
    assert queue.locator("[data-testid=fa-queue]").get_attribute("data-refreshed") == refreshed
    prompt.fill("")
    queue.locator("[data-testid=fa-queue-title]").click()
    expect(queue.locator(f"[data-testid=fa-queue-item][data-id='{application_id}'] [data-testid=fa-message]",
                         has_text="我已看过,稍后审批")).to_have_count(1)
    assert queue.evaluate("() => window.__notReloaded === true")
