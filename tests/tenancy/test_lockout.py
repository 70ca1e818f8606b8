"""Login lockout: ten failures lock that user from that address, nobody else, and a forged
X-Forwarded-For neither dodges nor spreads it."""

import pytest
from django.test import override_settings

from tests.api_contract import assert_error

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"


def fail(api, username, ip="10.0.0.1", **extra):
    return api.post(TOKEN, {"username": username, "password": "wrong-password"}, format="json", REMOTE_ADDR=ip, **extra)


def login(api, username, ip="10.0.0.1", **extra):
    return api.post(TOKEN, {"username": username, "password": "demo12345"}, format="json", REMOTE_ADDR=ip, **extra)


def test_ten_failures_lock_the_user_even_with_the_right_password(demo, api):
    for _ in range(9):
        assert_error(fail(api, "acme.buyer"), 400, "invalid_credentials")
    assert_error(fail(api, "acme.buyer"), 429, "locked_out")
    assert_error(login(api, "acme.buyer"), 429, "locked_out")


def test_nine_failures_do_not_lock_and_success_resets(demo, api):
    for _ in range(9):
        fail(api, "acme.buyer")
    assert login(api, "acme.buyer").status_code == 200
    for _ in range(9):
        fail(api, "acme.buyer")
    assert login(api, "acme.buyer").status_code == 200


def test_other_users_behind_the_same_address_are_not_locked(demo, api):
    for _ in range(10):
        fail(api, "acme.buyer")
    assert login(api, "acme.planner").status_code == 200
    assert login(api, "supa.rep").status_code == 200


def test_forged_forwarded_for_does_not_dodge_the_lockout(demo, api):
    for i in range(10):
        fail(api, "acme.buyer", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    assert_error(login(api, "acme.buyer", HTTP_X_FORWARDED_FOR="203.0.113.77"), 429, "locked_out")


def test_forged_forwarded_for_does_not_spread_the_lockout_to_the_victims_address(demo, api):
    # The attacker claims to come from the victim's address; only the attacker's own is locked.
    for _ in range(10):
        fail(api, "acme.buyer", ip="192.0.2.66", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert login(api, "acme.buyer", ip="10.0.0.1").status_code == 200


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_one_trusted_proxy_the_proxy_seen_address_is_used(demo, api):
    proxy = "10.9.9.9"
    for _ in range(10):
        fail(api, "acme.buyer", ip=proxy, HTTP_X_FORWARDED_FOR="forged, 198.51.100.5")
    # Same client behind the proxy: locked, whatever it prepends.
    assert_error(login(api, "acme.buyer", ip=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.5"), 429)
    # Another client behind the same proxy: not locked.
    assert login(api, "acme.buyer", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.6").status_code == 200


def test_login_page_locks_too_and_says_so(demo, client):
    for _ in range(10):
        client.post("/accounts/login/", {"username": "acme.buyer", "password": "bad"}, REMOTE_ADDR="10.0.0.2")
    response = client.post("/accounts/login/", {"username": "acme.buyer", "password": "demo12345"}, REMOTE_ADDR="10.0.0.2")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    other = client.post("/accounts/login/", {"username": "acme.planner", "password": "demo12345"}, REMOTE_ADDR="10.0.0.2")
    assert other.status_code == 302
