"""The header's bell in a real browser: an alert raised for the reader rings it live (no reload),
and marking notices read, one or all, brings the count down. And the page scripts print a time
exactly as the server does, in both languages.

Runs against the demo data (`seed_demo`): stock alerts are addressed to acme's warehouse manager
(acme.warehouse), who gets a notice with each. The movement that raises the alert is posted
through the REST API as the ERP would; the bell learns of it over the tenant socket only.
Texts are asserted through data attributes, never through translated labels.
"""

import secrets
from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from tests.e2e.test_alert_flow import api_call, token_for

pytestmark = pytest.mark.e2e


def a_level_above_safety(base_url, token):
    """A stock level over its safety stock whose SKU has no open alert (other tests may have lowered some)."""
    open_skus = {alert["sku"] for alert in api_call(base_url, "GET", "/api/v1/t/acme/alerts/?state=open&page_size=200",
                                                    token=token)["results"]}
    levels = api_call(base_url, "GET", "/api/v1/t/acme/stock/?page_size=200", token=token)["results"]
    for level in levels:
        if level["safety_stock"] and level["on_hand"] > level["safety_stock"] and level["sku"] not in open_skus:
            return level
    pytest.fail("the demo data has no stock level above its safety stock left")


def bell_count(page):
    return int(page.locator("[data-testid=bell-count]").get_attribute("data-count"))


def test_the_bell_rings_live_and_marking_read_brings_it_down(new_context, login, portal_server):
    token = token_for(portal_server, "acme.warehouse")

    # Given acme.warehouse on the dashboard (no socket of its own: the bell opens one)
    page = new_context().new_page()
    login(page, "acme.warehouse")
    page.goto("/t/acme/")
    bell = page.locator("[data-testid=bell]")
    expect(bell).to_have_attribute("data-socket", "open")
    before = bell_count(page)
    assert before == api_call(portal_server, "GET", "/api/v1/t/acme/notifications/count/", token=token)["unread"]
    page.evaluate("() => { window.__notReloaded = true; }")

    # When the ERP books a movement that takes a level under its safety stock
    level = a_level_above_safety(portal_server, token)
    api_call(portal_server, "POST", "/api/v1/t/acme/stock/movements/", [{
        "external_id": f"e2e-bell-{secrets.token_hex(6)}", "sku": level["sku"], "warehouse": level["warehouse"],
        "delta": -(level["on_hand"] - level["safety_stock"] + 10), "reason": "e2e",
        "occurred_at": datetime.now(timezone.utc).isoformat()}], token=token)

    # Then the bell counts one more notice, without a reload
    expect(page.locator("[data-testid=bell-count]")).to_have_attribute("data-count", str(before + 1))
    expect(page.locator("[data-testid=bell-count]")).to_be_visible()
    assert page.evaluate("() => window.__notReloaded === true")

    # When the reader opens the bell, the unread notices are listed, with their time in the page's format
    page.locator("[data-testid=bell-button]").click()
    items = page.locator("[data-testid=bell-item]")
    expect(items.first).to_be_visible()
    assert items.count() == min(before + 1, 20)
    first_time = items.first.locator("time")
    assert first_time.inner_text() == page.evaluate("(iso) => Portal.formatTime(iso)", first_time.get_attribute("datetime"))

    # and marks the newest one read, it leaves the list and the count goes down by one
    newest = items.first.get_attribute("data-notification")
    items.first.locator("[data-testid=bell-read-one]").click()
    expect(page.locator(f'[data-notification="{newest}"]')).to_have_count(0)
    expect(page.locator("[data-testid=bell-count]")).to_have_attribute("data-count", str(before))

    # When they mark all read, the bell falls silent, and stays so after a reload
    if before:
        page.locator("[data-testid=bell-read-all]").click()
    expect(page.locator("[data-testid=bell-count]")).to_have_attribute("data-count", "0")
    expect(page.locator("[data-testid=bell-count]")).to_be_hidden()
    assert api_call(portal_server, "GET", "/api/v1/t/acme/notifications/count/", token=token)["unread"] == 0
    page.reload()
    expect(page.locator("[data-testid=bell-count]")).to_have_attribute("data-count", "0")


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_scripts_print_times_as_the_server_does(new_context, login, locale):
    page = new_context(locale=locale).new_page()
    login(page, "acme.warehouse")
    for url in ("/t/acme/rooms/", "/t/acme/alerts/?state=all"):
        page.goto(url)
        page.wait_for_load_state("load")
        pairs = page.evaluate("""() => Array.from(document.querySelectorAll("main time[datetime]"))
            .filter((t) => t.getAttribute("datetime"))
            .map((t) => [t.textContent.trim(), Portal.formatTime(t.getAttribute("datetime"),
                                                                 t.getAttribute("data-format") || undefined)])""")
        pairs = [(server, script) for server, script in pairs if server]
        assert pairs, f"no times on {url}"
        for server, script in pairs:
            assert server == script, (url, locale, server, script)
        language = page.evaluate("() => document.documentElement.lang")
        assert language == ("en" if locale == "en-US" else "zh-hans")
