"""Receivables financing in real browsers, across four people: sup-a's rep applies and sees the cost
before applying; acme's two finance approvers each verify with their authenticator and approve
from their queue; the bank's officer verifies, approves and disburses; the supplier's application
page then shows it disbursed, with every step in its conversation; the supplier disputes it on
that page and the bank's officer settles the dispute on theirs.

Runs against the demo data (`seed_demo`): sup-a holds a confirmed receivable not yet financed
(finance/demo.py), and the money approvers are enrolled with the demo TOTP secret. Each approver
has their own device, so the same 30-second code serves each of them once. States are asserted
through data attributes, never through translated labels.
"""

import re
import time

import pyotp
import pytest
from playwright.sync_api import expect

from scm_portal.tenancy.demo import DEFAULT_TOTP_SECRET

pytestmark = pytest.mark.e2e


def verify_second_factor(page):
    """Enters the authenticator's current code in the page's prompt; the page comes back verified.
    A code this user spent already in this 30-second step (another browser test, the same demo
    user) is refused, as it must be: the next step's code is entered then."""
    for _attempt in range(3):
        page.locator("[data-testid=totp-code]").fill(pyotp.TOTP(DEFAULT_TOTP_SECRET).now())
        with page.expect_navigation():
            page.locator("[data-testid=totp-submit]").click()
        if page.locator("[data-testid=totp-fresh]").count():
            return
        time.sleep(31 - time.time() % 30)
    expect(page.locator("[data-testid=totp-fresh]")).to_be_visible()


def approve_from_queue(page, queue, application_id, button="fa-approve"):
    item = page.locator(f"[data-testid=fa-queue-item][data-id='{application_id}']")
    expect(item).to_be_visible()
    with page.expect_navigation():
        item.locator(f"[data-testid={button}]").click()
    page.wait_for_load_state()
    assert page.url.endswith(queue)


def test_supplier_applies_two_approvers_and_the_bank_approve_and_disburse(new_context, login, portal_server):
    # Given sup-a's rep on the application form
    supplier = new_context().new_page()
    login(supplier, "supa.rep")
    supplier.goto("/t/acme/financing/apply/")
    expect(supplier.locator("[data-testid=quote-none]")).to_be_visible()
    expect(supplier.locator("[data-testid=apply-submit]")).to_have_count(0)  # no applying before a cost

    # When they pick the receivable and type the amount, the cost appears (htmx, no reload)
    supplier.evaluate("() => { window.__notReloaded = true; }")
    supplier.locator("[data-testid=apply-receivables] input[type=checkbox]").first.check()
    supplier.locator("[data-testid=apply-amount]").fill("10000.00")
    quote = supplier.locator("[data-testid=quote]")
    expect(quote).to_be_visible()
    assert supplier.evaluate("() => window.__notReloaded === true")
    cost = quote.get_attribute("data-cost")
    assert re.fullmatch(r"\d+\.\d\d", cost) and float(cost) > 0
    assert int(quote.get_attribute("data-days")) > 0
    expect(supplier.locator("[data-testid=quote-net]")).to_be_visible()

    # And apply at that cost
    with supplier.expect_navigation():
        supplier.locator("[data-testid=apply-submit]").click()
    match = re.search(r"/t/acme/financing/(\d+)/$", supplier.url)
    assert match, supplier.url
    application_id = match.group(1)
    expect(supplier.locator("[data-testid=fa-state]")).to_have_attribute("data-state", "requested")
    expect(supplier.locator("[data-testid=fa-cost]")).to_contain_text(f"{float(cost):,.2f}")

    # Then acme's two finance approvers approve it, each after their own second factor
    for username, state in (("acme.finance", "core_review"), ("acme.cfo", "funder_review")):
        approver = new_context().new_page()
        login(approver, username)
        approver.goto("/t/acme/financing/approvals/")
        item = approver.locator(f"[data-testid=fa-queue-item][data-id='{application_id}']")
        expect(item).to_be_visible()
        expect(item.locator("[data-testid=fa-approve]")).to_have_count(0)  # 2FA first
        expect(item.locator("[data-testid=fa-summary]")).to_contain_text("10,000.00")
        verify_second_factor(approver)
        approve_from_queue(approver, "/t/acme/financing/approvals/", application_id)
        expect(approver.locator(f"[data-testid=fa-queue-item][data-id='{application_id}']")).to_have_count(0)
        approver.goto(f"/t/acme/financing/{application_id}/")
        expect(approver.locator("[data-testid=fa-state]")).to_have_attribute("data-state", state)

    # And the bank's officer approves and disburses it
    bank = new_context().new_page()
    login(bank, "bank.officer")
    bank.goto("/t/acme/financing/funder/")
    verify_second_factor(bank)
    approve_from_queue(bank, "/t/acme/financing/funder/", application_id)
    expect(bank.locator(f"[data-testid=fa-queue-item][data-id='{application_id}'] [data-testid=fa-ready]")).to_be_visible()
    approve_from_queue(bank, "/t/acme/financing/funder/", application_id, button="fa-disburse")
    expect(bank.locator(f"[data-testid=fa-queue-item][data-id='{application_id}']")).to_have_count(0)

    # Finally the supplier's application page shows it disbursed, every step in its conversation
    supplier.goto(f"/t/acme/financing/{application_id}/")
    expect(supplier.locator("[data-testid=fa-state]")).to_have_attribute("data-state", "disbursed")
    expect(supplier.locator("[data-testid=fa-disbursement]")).to_contain_text("10,000.00")
    for username in ("acme.finance", "acme.cfo", "bank.officer"):
        expect(supplier.locator(f"[data-testid=fa-approvals] [data-approver='{username}']")).to_have_attribute(
            "data-decision", "approve")
    # requested, two core approvals, the funder's approval, disbursed
    assert supplier.locator("[data-testid=fa-message][data-kind=event]").count() >= 5

    # And when the supplier disputes it on its page, it is disputed until the bank settles it
    supplier.locator("[data-testid=fa-dispute-reason]").fill("到账金额与放款金额不符")
    with supplier.expect_navigation():
        supplier.locator("[data-testid=fa-dispute-submit]").click()
    expect(supplier.locator("[data-testid=fa-state]")).to_have_attribute("data-state", "disputed")
    expect(supplier.locator("[data-testid=fa-open-dispute]")).to_contain_text("到账金额与放款金额不符")
    expect(supplier.locator("[data-testid=fa-settle-form]")).to_have_count(0)  # the applicant does not settle
    bank.goto(f"/t/acme/financing/{application_id}/")
    bank.locator("[data-testid=fa-settle-resolution]").fill("银行流水核对无误")
    with bank.expect_navigation():
        bank.locator("[data-testid=fa-settle-submit]").click()
    expect(bank.locator("[data-testid=fa-state]")).to_have_attribute("data-state", "disbursed")
    expect(bank.locator("[data-testid=fa-history]")).to_contain_text("银行流水核对无误")
