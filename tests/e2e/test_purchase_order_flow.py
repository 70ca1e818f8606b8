"""A purchase order in real browsers: the buyer sends it, sup-a's rep confirms it in the supplier
portal, and the buyer's open page shows the confirmation live (over its socket, no reload).

Runs against the demo data (`seed_demo`); the draft PO is created through the REST API with
acme.buyer's token, as the ERP would. States are asserted through data attributes, never
through translated labels.
"""

import secrets

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD
from tests.e2e.api import api_call

pytestmark = pytest.mark.e2e


def test_buyer_sends_supplier_confirms_in_the_portal_and_the_buyers_page_updates_live(new_context, login, portal_server):
    token = api_call(portal_server, "POST", "/api/v1/auth/token/", {"username": "acme.buyer", "password": DEMO_PASSWORD})["token"]
    number = f"PO-E2E-{secrets.token_hex(3).upper()}"
    api_call(portal_server, "PUT", f"/api/v1/t/acme/purchase-orders/{number}/", {
        "supplier": "sup-a", "warehouse": "WH-SH", "currency": "CNY",
        "lines": [{"sku": "SKU-1001", "quantity": 500, "unit_price": "0.35", "requested_date": "2027-01-15"}]},
        token=token)

    # Given the buyer has the draft open, live
    buyer = new_context().new_page()
    login(buyer, "acme.buyer")
    buyer.goto(f"/t/acme/orders/{number}/")
    expect(buyer.locator("[data-testid=po-detail]")).to_have_attribute("data-socket", "open")
    expect(buyer.locator("[data-testid=po-state]")).to_have_attribute("data-state", "draft")

    # When the buyer sends it
    buyer.locator("[data-testid=po-send]").click()
    buyer.wait_for_load_state()
    expect(buyer.locator("[data-testid=po-state]")).to_have_attribute("data-state", "sent")
    expect(buyer.locator("[data-testid=po-detail]")).to_have_attribute("data-socket", "open")
    buyer.evaluate("() => { window.__notReloaded = true; }")

    # Then sup-a's rep finds it in the portal and confirms it there
    supplier = new_context().new_page()
    login(supplier, "supa.rep")
    supplier.goto("/t/acme/orders/")
    supplier.locator(f"[data-testid=po-row][data-number='{number}'] a").click()
    expect(supplier.locator("[data-testid=po-state]")).to_have_attribute("data-state", "sent")
    expect(supplier.locator("[data-testid=po-message]").first).to_be_visible()  # the sent card, in the conversation
    supplier.locator("[data-testid=po-confirm]").click()
    supplier.wait_for_load_state()
    expect(supplier.locator("[data-testid=po-state]")).to_have_attribute("data-state", "confirmed")

    # And the buyer's page shows it confirmed without a reload, with the confirmation in the conversation
    expect(buyer.locator("[data-testid=po-state]")).to_have_attribute("data-state", "confirmed")
    assert buyer.evaluate("() => window.__notReloaded === true")
    expect(buyer.locator("[data-testid=po-line]").first).to_have_attribute("data-status", "accepted")
    assert buyer.locator("[data-testid=po-message]").count() >= 2
