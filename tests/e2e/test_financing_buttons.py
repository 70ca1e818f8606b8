"""The financing card's buttons in a real browser: an approver sees "Reject financing" greyed
until their session passes TOTP, then presses it, types the reason in the prompt, and the
application is rejected with it; the buttons leave the card.

Runs against the demo data (`seed_demo`): sup-a's application of 24,000.00 CNY to the bank is
awaiting the two finance approvers; its card is in the bank's room, which the approvers follow.
Texts are asserted through data attributes, never through translated labels.
"""

import time

import pyotp
import pytest
from playwright.sync_api import expect

from scm_portal.tenancy.demo import DEFAULT_TOTP_SECRET
from tests.e2e.api import api_call, token_for

pytestmark = pytest.mark.e2e

REASON = "发票与合同不符（e2e）"


def verify_session(page):
    """The page's session passes TOTP (through the API, as the chat's own script would call it). A
    code used already in this 30-second step (another test, the same user) is refused: the next
    step's code is taken then."""
    for _attempt in range(3):
        status = page.evaluate(
            "(code) => Portal.api('POST', '/api/v1/auth/totp/', {code: code}).then(() => 200, (error) => error.status)",
            pyotp.TOTP(DEFAULT_TOTP_SECRET).now(),
        )
        if status == 200:
            return
        time.sleep(31 - time.time() % 30)
    pytest.fail("the session could not be verified with TOTP")


def test_an_approver_verifies_then_rejects_from_the_card_with_a_reason(new_context, login, portal_server):
    token = token_for(portal_server, "acme.cfo")
    rooms = api_call(portal_server, "GET", "/api/v1/t/acme/rooms/", token=token)
    room = next(r for r in rooms if (r["partner"] or {}).get("organization") == "bank")
    waiting = api_call(portal_server, "GET", "/api/v1/t/acme/financing-applications/?state=requested", token=token)["results"]
    application = next(a for a in waiting if a["amount"] == "24000.00")
    frames = api_call(portal_server, "GET", f"/api/v1/t/acme/rooms/{room['id']}/messages/?after_seq=0", token=token)["results"]
    seq = next(f["seq"] for f in frames if f["subject"] == {"kind": "financing_application", "id": str(application["id"])}
               and (f["text"] or {}).get("key") == "finance.card.requested")

    # Given acme.cfo has the bank's room open, their session not verified
    page = new_context().new_page()
    login(page, "acme.cfo")
    page.goto(f"/t/acme/rooms/{room['id']}/")
    expect(page.locator("[data-testid=chat-room]")).to_have_attribute("data-socket", "open")
    card = page.locator(f"[data-testid=chat-log] [data-seq='{seq}']")
    reject = card.locator("button[data-action=financing_reject]")
    expect(reject).to_be_disabled()
    assert reject.get_attribute("title")  # the hint: verify first
    expect(card.locator("button[data-action=financing_approve]")).to_be_disabled()

    # When they verify and come back to the room, the buttons are theirs to press
    verify_session(page)
    page.reload()
    expect(page.locator("[data-testid=chat-room]")).to_have_attribute("data-socket", "open")
    reject = card.locator("button[data-action=financing_reject]")
    expect(reject).to_be_enabled()

    # and press "Reject financing", giving the reason the prompt asks for
    page.once("dialog", lambda dialog: dialog.accept(REASON))
    reject.click()

    # Then the application is rejected with that reason, and the card offers nothing any more
    expect(card.locator("button[data-action=financing_reject]")).to_have_count(0)
    expect(card.locator("button[data-action=financing_approve]")).to_have_count(0)
    deadline = time.monotonic() + 10
    while True:
        found = api_call(portal_server, "GET", f"/api/v1/t/acme/financing-applications/{application['id']}/", token=token)
        if found["state"] == "rejected" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (found["state"], found["reason"]) == ("rejected", REASON)
