"""Joining a tenant by invitation, in a real browser: an admin invites, the person accepts.

Uses globex.buyer, whom no other browser test uses: after this test they also work for acme.
"""

import pytest
from playwright.sync_api import expect

from scm_portal.tenancy import demo

pytestmark = pytest.mark.e2e

TENANT_NAMES = dict(demo.TENANTS)


def test_admin_invites_a_person_who_accepts_and_joins(new_context, login, portal_server):
    # Given acme's admin on the members page
    admin = new_context().new_page()
    login(admin, "acme.admin")
    admin.goto("/t/acme/members/")

    # When they invite globex.buyer as a planner of acme
    form = admin.locator("form[data-testid=invite-member]")
    form.locator("input[name=username]").fill("globex.buyer")
    form.locator("select[name=organization]").select_option("acme")
    form.locator("select[name=role]").select_option("planner")
    with admin.expect_navigation():
        form.locator("button[type=submit]").click()

    # Then the invitation waits, and nobody has joined yet
    expect(admin.locator(".flash-success")).to_contain_text("globex.buyer")
    pending = admin.locator("[data-testid=pending-invitations] tr[data-invitation]")
    expect(pending).to_have_count(1)
    expect(pending).to_contain_text("globex.buyer")

    # When globex.buyer logs in, their dashboard says an invitation waits
    person = new_context().new_page()
    login(person, "globex.buyer")
    assert person.url == f"{portal_server}/t/globex/"
    person.locator("[data-testid=invitations-waiting] a").click()
    person.wait_for_url(f"{portal_server}/invitations/")

    # And they accept it
    invitation = person.locator("[data-testid=invitation]")
    expect(invitation).to_have_count(1)
    expect(invitation.locator("h3")).to_have_text(TENANT_NAMES["acme"])
    with person.expect_navigation():
        invitation.locator("[data-testid=accept]").click()

    # Then they are on acme's dashboard, and can switch between both tenants
    assert person.url == f"{portal_server}/t/acme/"
    expect(person.locator("[data-testid=current-tenant]")).to_have_text(TENANT_NAMES["acme"])
    expect(person.locator("details[data-testid=tenant-switcher] a[data-tenant]")).to_have_count(2)
    expect(person.locator("[data-testid=invitations-waiting]")).to_have_count(0)

    # And the admin's list no longer shows it as waiting
    admin.reload()
    expect(admin.locator("[data-testid=pending-invitations] tr[data-invitation]")).to_have_count(0)
