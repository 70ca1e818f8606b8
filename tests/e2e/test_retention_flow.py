"""Retention in a real browser: the tenant admin sets a policy and places and releases a legal
hold; the auditor reads both pages without a form; an open chat page shows a message the sweep
destroys as destroyed, live."""

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, serve_portal

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


# --- An open chat page hears of a purge --------------------------------------------------------

OLD_TEXT = "三天前的旧报价 retention-e2e"
# Run by `manage.py shell` against the server's database: a message the buyer wrote in sup-a's room
# three days ago (the clock moved back while it is posted, so its hash covers its real time).
WRITE_OLD_MESSAGE = f"""
import datetime
from unittest import mock
from django.contrib.auth import get_user_model
from django.utils import timezone
from messaging.models import Room
from messaging.services import message_post
from scm_portal.tenancy.access import tenant_context_for
room = Room.objects.get(tenant__slug="acme", partnership__organization__slug="sup-a")
buyer = get_user_model().objects.get(username="acme.buyer")
then = timezone.now() - datetime.timedelta(days=3)
with mock.patch("django.utils.timezone.now", return_value=then):
    message, _created = message_post(tenant=room.tenant, actor=buyer, context=tenant_context_for(buyer, room.tenant),
                                     room=room, body={OLD_TEXT!r})
print(room.pk, message.seq)
"""


@pytest.fixture(scope="module")
def sweeping_portal():
    """A portal server of its own (its own database) whose embedded scheduler runs the retention
    sweep every second, in the server process, as `make run` does hourly."""
    with serve_portal(EMBEDDED_SCHEDULER="1", RETENTION_SWEEP_SECONDS="1") as served:
        yield served


def _api(base_url, method, path, body=None, token=None):
    request = urllib.request.Request(
        base_url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_an_open_chat_page_shows_a_message_destroyed_by_the_sweep_without_a_reload(browser, sweeping_portal):
    base_url, manage = sweeping_portal
    # Given a message the buyer wrote three days ago in sup-a's room
    room_id, seq = (int(v) for v in manage("shell", "-c", WRITE_OLD_MESSAGE).split()[-2:])

    # And the buyer's chat page of that room open, live and showing it
    context = browser.new_context(base_url=base_url, locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.locator("input[name=username]").fill("acme.buyer")
        page.locator("input[name=password]").fill(DEMO_PASSWORD)
        with page.expect_navigation():
            page.locator("[data-testid=login-submit]").click()
        page.goto(f"/t/acme/rooms/{room_id}/")
        room = page.locator("[data-chat=room]")
        expect(room).to_have_attribute("data-socket", "open")
        expect(room).to_have_attribute("data-synced", "true")
        old = page.locator(f"[data-testid=chat-log] #msg-{seq}")
        expect(old).to_contain_text(OLD_TEXT)
        page.evaluate("window.sameDocument = true")  # gone if the page reloads

        # When the tenant admin keeps partner rooms' messages for one day (the sweep runs every second)
        token = _api(base_url, "POST", "/api/v1/auth/token/", {"username": "acme.admin", "password": DEMO_PASSWORD})["token"]
        _api(base_url, "PUT", "/api/v1/t/acme/retention-policies/partner/", {"days": 1}, token=token)

        # Then the open page replaces the message with the notice, in Chinese, without a reload
        expect(old).to_have_attribute("data-destroyed", "true", timeout=20_000)
        expect(old.locator(".msg-body")).to_have_text("此消息已按保留策略销毁。")
        expect(page.locator("[data-testid=chat-log]")).not_to_contain_text(OLD_TEXT)
        assert page.evaluate("window.sameDocument") is True
        # And the room's newer messages are untouched
        expect(page.locator("[data-testid=chat-log] [data-destroyed=true]")).to_have_count(1)
    finally:
        context.close()
