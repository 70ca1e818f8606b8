"""Retention in a real browser: the tenant admin sets a policy and places and releases a legal
hold; the auditor reads both pages without a form."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_admin_sets_a_policy_and_holds_a_room_and_the_auditor_reads_them(new_context, login):
    # Given acme's admin, who follows the Retention link
    admin = new_context().new_page()
    login(admin, "acme.admin")
    admin.locator("[data-testid=nav-retention]").click()
    admin.wait_for_url("**/t/acme/retention/")

    # When they keep partner rooms' messages for 180 days
    row = admin.locator("tr[data-testid=retention-row][data-room-kind=partner]")
    row.locator("input[name=days]").fill("180")
    with admin.expect_navigation():
        row.locator("button[type=submit]").click()
    expect(admin.locator("tr[data-testid=retention-row][data-room-kind=partner]")).to_have_attribute("data-days", "180")

    # And place a hold on the first room, with a reason
    admin.locator("[data-testid=subnav-holds]").click()
    form = admin.locator("form[data-testid=hold-form]")
    form.locator("select[name=room]").select_option(index=1)
    form.locator("textarea[name=reason]").fill("诉讼保全 e2e")
    with admin.expect_navigation():
        form.locator("[data-testid=hold-place]").click()
    held = admin.locator("tr[data-testid=hold-row][data-active=true]", has_text="诉讼保全 e2e")
    expect(held).to_have_count(1)

    # Then the auditor reads the policy and the hold, with no form to change them
    auditor = new_context().new_page()
    login(auditor, "acme.auditor")
    auditor.goto("/t/acme/retention/")
    expect(auditor.locator("tr[data-testid=retention-row][data-room-kind=partner]")).to_have_attribute("data-days", "180")
    expect(auditor.locator("main form")).to_have_count(0)
    auditor.goto("/t/acme/retention/holds/")
    expect(auditor.locator("tr[data-testid=hold-row]", has_text="诉讼保全 e2e")).to_have_count(1)
    expect(auditor.locator("main form")).to_have_count(0)

    # When the admin releases the hold with a reason, it shows as released
    release = held.locator("form[data-testid=hold-release-form]")
    release.locator("input[name=reason]").fill("结案")
    with admin.expect_navigation():
        release.locator("button[type=submit]").click()
    expect(admin.locator("tr[data-testid=hold-row][data-active=false]", has_text="结案")).to_have_count(1)
