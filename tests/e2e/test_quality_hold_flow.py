"""A link button in real browsers: a failed inspection puts a lot on quality hold, and its card in
sup-a's room carries "Release the hold…", a link (a release needs a reason, which a press cannot
carry). acme.warehouse (a receiving role) follows it from the chat page to the PO's release form,
gives a reason, and the hold is released: the PO page shows it, the card's link goes live from the
open room, and the release is a card of its own. sup-a's rep and acme's buyer, who may not release,
see the card with no such button.

The PO is made for the test through the REST API, as the ERP and the supplier would: the buyer
creates and sends it, sup-a's rep confirms and ships it, acme.warehouse receives it with the line
failing inspection. States are asserted through data attributes, never through translated labels.
"""

import secrets

import pytest
from playwright.sync_api import expect

from tests.e2e.api import api_call, token_for

pytestmark = pytest.mark.e2e

RELEASE = "quality_hold_release"  # orders.cards.ACTION_RELEASE_HOLD


def held_lot(base_url):
    """A new PO of sup-a, received with its one line failing inspection: (number, lot, hold id)."""
    buyer, rep, warehouse = (token_for(base_url, name) for name in ("acme.buyer", "supa.rep", "acme.warehouse"))
    number = f"PO-E2E-QH-{secrets.token_hex(3).upper()}"
    lot = f"LOT-E2E-{secrets.token_hex(3).upper()}"
    base = f"/api/v1/t/acme/purchase-orders/{number}/"
    api_call(base_url, "PUT", base, {
        "supplier": "sup-a", "warehouse": "WH-SH", "currency": "CNY",
        "lines": [{"sku": "SKU-1002", "quantity": 300, "unit_price": "0.12", "requested_date": "2027-01-20"}]}, token=buyer)
    api_call(base_url, "POST", base + "send/", {}, token=buyer)
    api_call(base_url, "POST", base + "confirm/", {}, token=rep)
    api_call(base_url, "POST", base + "ship/", {}, token=rep)
    received = api_call(base_url, "POST", base + "receive/",
                        {"lines": [{"line": 1, "inspection": "fail", "lot": lot}]}, token=warehouse)
    assert received["state"] == "received", received
    holds = [h for h in api_call(base_url, "GET", "/api/v1/t/acme/quality-holds/", token=warehouse)["results"]
             if h["lot"] == lot]
    assert len(holds) == 1 and holds[0]["state"] == "held", holds
    return number, lot, holds[0]["id"]


def open_room(new_context, login, username, partner="sup-a"):
    """Logs `username` in and opens acme's room of `partner` from the room list; waits until it is live."""
    page = new_context().new_page()
    login(page, username)
    page.goto("/t/acme/rooms/")
    with page.expect_navigation():
        page.locator(f'li[data-partner="{partner}"] a[data-testid=room-link]').click()
    room = page.locator("[data-chat=room]")
    expect(room).to_have_attribute("data-history", "ready")
    expect(room).to_have_attribute("data-socket", "open")
    expect(room).to_have_attribute("data-synced", "true")
    return page


def cards_of(page, lot):
    return page.locator("[data-testid=chat-log] [data-testid=message]", has_text=lot)


def test_a_receiver_follows_the_hold_cards_link_and_releases_it_and_others_get_no_button(new_context, login, portal_server):
    number, lot, hold_id = held_lot(portal_server)

    # Given sup-a's rep and acme's buyer, who may not release, have the room open: they see the hold's cards, no link
    rep = open_room(new_context, login, "supa.rep")
    buyer = open_room(new_context, login, "acme.buyer")
    for page in (rep, buyer):
        expect(cards_of(page, lot).first).to_be_visible()
        # (the quality_hold alert's own card may carry the alert's buttons: acknowledging is theirs)
        expect(page.locator(f"[data-action-link={RELEASE}]")).to_have_count(0)
        expect(page.locator(f"[data-action={RELEASE}]")).to_have_count(0)

    # And acme.warehouse, who may, sees "Release the hold…" on the hold's card as a link to the PO's page
    warehouse = open_room(new_context, login, "acme.warehouse")
    link = cards_of(warehouse, lot).locator(f"a[data-action-link={RELEASE}]")
    expect(link).to_have_count(1)
    expect(link).to_be_visible()
    expect(link).not_to_have_attribute("aria-disabled", "true")
    expect(link).to_have_attribute("href", f"/t/acme/orders/{number}/#hold-{hold_id}")

    # (a second page of theirs keeps the room open, to watch the card change live)
    watcher = open_room(new_context, login, "acme.warehouse")
    expect(cards_of(watcher, lot).locator(f"a[data-action-link={RELEASE}]")).to_have_count(1)

    # When they follow it, they land on the PO's page at the hold, with its release form
    with warehouse.expect_navigation():
        link.click()
    assert warehouse.url.endswith(f"/t/acme/orders/{number}/#hold-{hold_id}"), warehouse.url
    hold = warehouse.locator(f"#hold-{hold_id}")
    expect(hold).to_have_attribute("data-state", "held")
    form = hold.locator("[data-testid=release-hold-form]")
    expect(form).to_be_visible()

    # And submit the form with a reason
    reason = f"复检合格 re-inspected {secrets.token_hex(3)}"
    form.locator("input[name=reason]").fill(reason)
    with warehouse.expect_navigation():
        form.locator("[data-testid=release-hold]").click()

    # Then the PO page shows the hold released, with the reason and no form left
    hold = warehouse.locator(f"#hold-{hold_id}")
    expect(hold).to_have_attribute("data-state", "released")
    expect(hold).to_contain_text(reason)
    expect(hold.locator("[data-testid=release-hold-form]")).to_have_count(0)
    stored = api_call(portal_server, "GET", f"/api/v1/t/acme/quality-holds/{hold_id}/",
                      token=token_for(portal_server, "acme.warehouse"))
    assert stored["state"] == "released" and stored["release_reason"] == reason, stored

    # And in the rooms still open (no reload) the release is a card of its own about the PO, with its
    # reason (beside the quality_hold alert's recovery note), and the hold card's link is gone
    for page in (rep, watcher):
        expect(cards_of(page, reason).filter(has_text=number)).to_have_count(1)
    expect(cards_of(watcher, lot).locator(f"[data-action-link={RELEASE}]")).to_have_count(0)

    # And back in the room the card's link is gone for the warehouse too
    warehouse.goto("/t/acme/rooms/")
    with warehouse.expect_navigation():
        warehouse.locator('li[data-partner="sup-a"] a[data-testid=room-link]').click()
    expect(warehouse.locator("[data-chat=room]")).to_have_attribute("data-history", "ready")
    expect(cards_of(warehouse, reason).filter(has_text=number)).to_have_count(1)
    expect(cards_of(warehouse, lot).first).to_be_visible()
    expect(cards_of(warehouse, lot).locator(f"[data-action-link={RELEASE}]")).to_have_count(0)


def test_a_user_who_may_not_release_finds_no_form_on_the_po_page(new_context, login, portal_server):
    number, _lot, hold_id = held_lot(portal_server)
    for username in ("acme.buyer", "supa.rep"):
        page = new_context().new_page()
        login(page, username)
        page.goto(f"/t/acme/orders/{number}/#hold-{hold_id}")
        expect(page.locator(f"#hold-{hold_id}")).to_have_attribute("data-state", "held")
        expect(page.locator("[data-testid=release-hold-form]")).to_have_count(0)


def test_a_greyed_link_button_cannot_be_followed(new_context, login, portal_server):
    """A link button the server offers greyed ("disabled") is shown without an address: an
    aria-disabled link would still open its page. The history the room loads is rewritten in the
    browser to offer the release greyed, as a record's state may."""
    _number, lot, _hold_id = held_lot(portal_server)
    page = new_context().new_page()

    def greyed(route):
        response = route.fetch()
        data = response.json()
        for frame in data.get("results", []):
            for action in frame.get("actions") or []:
                if action.get("name") == RELEASE:
                    action["enabled"] = False
        route.fulfill(response=response, json=data)

    page.route("**/messages/?before_seq=*", greyed)
    login(page, "acme.warehouse")
    page.goto("/t/acme/rooms/")
    with page.expect_navigation():
        page.locator('li[data-partner="sup-a"] a[data-testid=room-link]').click()
    expect(page.locator("[data-chat=room]")).to_have_attribute("data-history", "ready")
    link = cards_of(page, lot).locator(f"a[data-action-link={RELEASE}]")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("aria-disabled", "true")
    assert link.get_attribute("href") is None
    expect(link).to_be_disabled()
    before = page.url
    link.click(force=True)  # pressed all the same: it goes nowhere
    page.wait_for_timeout(300)
    assert page.url == before
