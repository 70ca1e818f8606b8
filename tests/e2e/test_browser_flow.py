"""The main page flow in a real browser: log in, pick a tenant, switch tenants and languages, log out.

Runs against the demo data (`seed_demo`): supa.rep works for two tenants (acme and globex),
acme.buyer for acme only. Language is asserted on <html lang>, not on translated text.
"""

import re

import pytest
from playwright.sync_api import expect

from scm_portal.tenancy import demo

pytestmark = pytest.mark.e2e

TENANT_NAMES = dict(demo.TENANTS)
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}


def path_of(page, base_url):
    assert page.url.startswith(base_url), f"left the portal: {page.url}"
    return page.url[len(base_url):]


def assert_no_horizontal_overflow(page, what):
    # Against the phone's own width: a mobile viewport widens itself to fit wide content,
    # so window.innerWidth would grow along with the overflow.
    phone = PHONE["viewport"]["width"]
    widths = page.evaluate("() => ({scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth})")
    assert widths["scroll"] <= phone, f"{what} overflows horizontally: {widths} > {phone}"
    assert widths["body"] <= phone, f"{what} body overflows horizontally: {widths} > {phone}"


def test_supplier_rep_picks_a_tenant_switches_tenant_and_language_and_logs_out(page, login, portal_server):
    html = page.locator("html")

    # Given supa.rep, a member of acme and globex, logs in
    login(page, "supa.rep")

    # Then the tenant picker offers both tenants, in the default language (Chinese)
    assert path_of(page, portal_server) == "/t/"
    expect(html).to_have_attribute("lang", "zh-hans")
    picker = page.locator("main")
    expect(picker.locator("a[data-tenant]")).to_have_count(2)
    expect(picker.locator("a[data-tenant=acme]")).to_have_text(TENANT_NAMES["acme"])
    expect(picker.locator("a[data-tenant=globex]")).to_have_text(TENANT_NAMES["globex"])
    expect(page.locator("[data-testid=current-tenant]")).to_have_count(0)

    # When they open acme
    with page.expect_navigation() as navigation:
        picker.locator("a[data-tenant=acme]").click()

    # Then acme's dashboard shows acme in the header
    assert navigation.value.status == 200
    assert path_of(page, portal_server) == "/t/acme/"
    expect(page.locator("[data-testid=current-tenant]")).to_have_text(TENANT_NAMES["acme"])
    expect(page.locator("[data-testid=dashboard-title]")).to_be_visible()
    switcher = page.locator("details[data-testid=tenant-switcher]")
    expect(switcher.locator("a[data-tenant=acme]")).to_have_attribute("aria-current", "page")

    # When they switch to globex from the header
    switcher.locator("summary").click()
    expect(switcher).to_have_attribute("open", "")
    switcher.locator("a[data-tenant=globex]").click()
    page.wait_for_url(f"{portal_server}/t/globex/")

    # Then the header names globex, and the switcher marks it as current
    expect(page.locator("[data-testid=current-tenant]")).to_have_text(TENANT_NAMES["globex"])
    expect(switcher.locator("a[data-tenant=globex]")).to_have_attribute("aria-current", "page")
    expect(switcher.locator("a[data-tenant=acme]")).not_to_have_attribute("aria-current", "page")

    # When they switch the language to English
    expect(page.locator("[data-testid=language-zh-hans]")).to_have_count(0)
    page.locator("[data-testid=language-en]").click()

    # Then the same page comes back in English, with the way back to Chinese offered
    expect(html).to_have_attribute("lang", "en")
    assert path_of(page, portal_server) == "/t/globex/"
    expect(page.locator("[data-testid=current-tenant]")).to_have_text(TENANT_NAMES["globex"])
    expect(page.locator("[data-testid=language-en]")).to_have_count(0)

    # And the choice sticks across pages
    page.goto("/t/acme/")
    expect(html).to_have_attribute("lang", "en")

    # When they switch back to Chinese
    page.locator("[data-testid=language-zh-hans]").click()
    expect(html).to_have_attribute("lang", "zh-hans")
    assert path_of(page, portal_server) == "/t/acme/"

    # When they log out
    page.locator("[data-testid=logout]").click()
    page.wait_for_url(re.compile(re.escape(portal_server) + r"/accounts/login/"))

    # Then the tenant pages ask for a login again
    expect(page.locator("[data-testid=logout]")).to_have_count(0)
    page.goto("/t/globex/")
    assert path_of(page, portal_server) == "/accounts/login/?next=/t/globex/"
    expect(page.locator("[data-testid=login-submit]")).to_be_visible()


def test_single_tenant_buyer_lands_on_their_dashboard_and_cannot_open_another_tenant(page, login, portal_server):
    # Given acme.buyer, a member of acme only, logs in
    login(page, "acme.buyer")

    # Then they land on acme's dashboard directly, with no tenant switcher
    assert path_of(page, portal_server) == "/t/acme/"
    expect(page.locator("[data-testid=current-tenant]")).to_have_text(TENANT_NAMES["acme"])
    expect(page.locator("[data-testid=tenant-switcher]")).to_have_count(0)

    # When they open globex's dashboard, or a tenant that does not exist
    foreign = page.goto("/t/globex/")
    foreign_text = page.locator("main").inner_text()
    missing = page.goto("/t/no-such-tenant/")
    missing_text = page.locator("main").inner_text()

    # Then both answer the same 404 page, which names no tenant
    assert foreign.status == 404, f"/t/globex/ answered {foreign.status}"
    assert missing.status == 404, f"/t/no-such-tenant/ answered {missing.status}"
    assert foreign_text == missing_text
    expect(page.locator("main h1")).to_have_text("404")
    expect(page.locator("[data-testid=current-tenant]")).to_have_count(0)
    assert TENANT_NAMES["globex"] not in page.content()

    # And their own tenant still works
    own = page.goto("/t/acme/")
    assert own.status == 200


def test_default_language_is_chinese_for_browsers_asking_for_an_unsupported_one(new_context, portal_server):
    page = new_context(locale="fr-FR").new_page()
    response = page.goto("/accounts/login/")
    assert response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("[data-testid=language-en]")).to_be_visible()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_dashboard_fits_a_phone_screen(new_context, login, portal_server, language):
    page = new_context(**PHONE).new_page()
    login(page, "supa.rep")
    if language != "zh-hans":
        page.locator(f"[data-testid=language-{language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)

    assert_no_horizontal_overflow(page, "the tenant picker")

    response = page.goto("/t/acme/")
    assert response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("[data-testid=current-tenant]")).to_be_visible()
    expect(page.locator("[data-testid=logout]")).to_be_visible()
    assert page.evaluate("window.innerWidth") == PHONE["viewport"]["width"]
    assert_no_horizontal_overflow(page, "the dashboard")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_tenant_switcher_opens_within_a_phone_screen(new_context, login, portal_server, language):
    page = new_context(**PHONE, locale="zh-CN" if language == "zh-hans" else "en-US").new_page()
    login(page, "supa.rep")
    page.goto("/t/acme/")
    expect(page.locator("html")).to_have_attribute("lang", language)

    switcher = page.locator("details[data-testid=tenant-switcher]")
    switcher.locator("summary").click()
    for slug in ("acme", "globex"):
        link = switcher.locator(f"a[data-tenant={slug}]")
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["viewport"]["width"], (
            f"the tenant switcher's {slug} entry opens past the edge of a phone screen: {box}"
        )
    assert_no_horizontal_overflow(page, "the dashboard with the tenant switcher open")


def test_login_page_fits_a_phone_screen(new_context, portal_server):
    page = new_context(**PHONE).new_page()
    response = page.goto("/accounts/login/")
    assert response.status == 200
    assert_no_horizontal_overflow(page, "the login page")
