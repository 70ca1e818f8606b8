"""The bell in a real browser lists one and the same notice in each reader's language: a browser
asking for English and one asking for Chinese, both logged in as acme.warehouse, open the bell
after a low-stock alert and read its title each in their language (the API's rendering for that
language, which tests/alerts/test_notification_language.py pins to the catalogue)."""

import json
import secrets
import urllib.request
from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from tests.e2e.test_alert_flow import api_call, token_for
from tests.e2e.test_bell_flow import a_level_above_safety

pytestmark = pytest.mark.e2e


def notices_in(base_url, token, language):
    request = urllib.request.Request(
        base_url + "/api/v1/t/acme/notifications/?unread=1&page_size=20",
        headers={"Accept": "application/json", "Accept-Language": language, "Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return {n["id"]: n["text"] for n in json.loads(response.read())["results"]}


def open_bell(new_context, login, locale):
    page = new_context(locale=locale).new_page()
    login(page, "acme.warehouse")
    page.goto("/t/acme/")
    expect(page.locator("[data-testid=bell]")).to_have_attribute("data-socket", "open")
    page.locator("[data-testid=bell-button]").click()
    expect(page.locator("[data-testid=bell-item]").first).to_be_visible()
    return page


def test_each_browser_reads_the_same_notice_in_its_own_language(new_context, login, portal_server):
    token = token_for(portal_server, "acme.warehouse")
    level = a_level_above_safety(portal_server, token)
    api_call(portal_server, "POST", "/api/v1/t/acme/stock/movements/", [{
        "external_id": f"e2e-bell-lang-{secrets.token_hex(6)}", "sku": level["sku"], "warehouse": level["warehouse"],
        "delta": -(level["on_hand"] - level["safety_stock"] + 10), "reason": "e2e",
        "occurred_at": datetime.now(timezone.utc).isoformat()}], token=token)
    english, chinese = notices_in(portal_server, token, "en"), notices_in(portal_server, token, "zh-hans")
    newest = max(english)
    assert level["sku"] in english[newest] and english[newest] != chinese[newest]

    for locale, expected in (("en-US", english[newest]), ("zh-CN", chinese[newest])):
        page = open_bell(new_context, login, locale)
        item = page.locator(f'[data-testid=bell-item][data-notification="{newest}"] a')
        expect(item).to_have_text(expected)
