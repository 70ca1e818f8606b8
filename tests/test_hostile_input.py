"""What a fuzz run once answered 500 to, one test per class, with the answer the contract gives.

tests/test_fuzz.py tries every endpoint and role with hostile input and asks only "no 5xx, and
4xx in the error format"; these pin down the answers themselves: which code, which field, what
is not echoed, and that what is legitimate (an emoji sent as an escaped surrogate pair, a
sensible date) still works.
"""

import base64
import json

import pytest

from tests.api_contract import assert_error, user

pytestmark = pytest.mark.django_db

INVALID_TEXT = "invalid_text"


def post_raw(api, url, text, method="post"):
    return getattr(api, method)(url, data=text.encode(), content_type="application/json")


# --- a NUL in the address, the query string, a header ------------------------------------------


@pytest.mark.parametrize("url, param", [
    ("/api/v1/t/acme/messages/search/?q=%00", "q"),
    ("/api/v1/t/acme/skus/?code=%00", "code"),
    ("/api/v1/t/acme/stock/?sku=%00", "sku"),
    ("/api/v1/t/acme/stock/?warehouse=SKU%00", "warehouse"),
    ("/api/v1/t/acme/replenishment-rules/?sku=%00", "sku"),
])
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(demo, api, url, param):
    api.as_user(user("acme.admin"))
    response = api.get(url)
    assert_error(response, 400, INVALID_TEXT)
    assert list(response.json()["error"]["fields"]) == [param]


def test_a_nul_in_the_path_or_a_header_is_a_400(demo, api):
    assert_error(api.get("/api/v1/me/", HTTP_AUTHORIZATION="Token abc\x00def"), 400, INVALID_TEXT)
    assert_error(api.get("/api/v1/me/", HTTP_COOKIE="sessionid=abc\x00def"), 400, INVALID_TEXT)
    api.as_user(user("acme.admin"))
    assert_error(api.get("/api/v1/t/acme/skus/1%00/"), 400, INVALID_TEXT)
    assert_error(api.get("/api/v1/t/ac%00me/skus/"), 400, INVALID_TEXT)


def test_a_nul_in_a_page_address_or_form_is_the_400_page(demo, client):
    client.force_login(user("acme.warehouse"))
    for response in [
        client.get("/t/acme/stock/%00/"),
        client.get("/t/acme/stock/?q=%00"),
        client.post("/t/acme/partners/", {"organization": "sup\x00b", "kind": "supplier"}),
    ]:
        assert response.status_code == 400
        assert b'data-status="400"' in response.content


def test_the_400_page_before_any_middleware_is_in_the_browsers_language(demo, client):
    chinese = client.get("/t/acme/stock/%00/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    english = client.get("/t/acme/stock/%00/", HTTP_ACCEPT_LANGUAGE="en")
    assert chinese.status_code == english.status_code == 400
    assert "请求无效" in chinese.content.decode()
    assert "Bad request" in english.content.decode()


# --- a NUL or lone surrogate in a body -----------------------------------------------------------


@pytest.mark.parametrize("body", [
    '{"\\ud800": "x", "username": "acme.admin", "password": "demo12345"}',
    '{"username": "\\ud800", "password": "demo12345"}',
    '{"username": "acme.admin", "password": "a\\udfffb"}',
    '{"username": "acme\\u0000admin", "password": "demo12345"}',
])
def test_a_surrogate_or_nul_in_a_login_is_a_400_that_does_not_echo_it(db, api, body):
    response = post_raw(api, "/api/v1/auth/token/", body)
    assert_error(response, 400, INVALID_TEXT)
    assert b"\\ud" not in response.content and b"\\u0000" not in response.content
    response.content.decode("utf-8")  # what was answered is text


def test_the_error_points_at_the_field_but_never_names_a_bad_key(demo, api):
    api.as_user(user("acme.admin"))
    url = "/api/v1/t/acme/escalation-policies/"
    response = post_raw(api, url, '{"name": "P", "levels": [{"after_seconds": 60, "users": ["a\\u0000"]}]}')
    assert_error(response, 400, INVALID_TEXT)
    message = response.json()["error"]["message"]
    assert response.json()["error"]["fields"] == {"levels": {"0": {"users": {"0": [message]}}}}
    response = post_raw(api, url, '{"name": "P", "levels": [{"after_seconds": 60, "\\udc00": 1}]}')
    assert_error(response, 400, INVALID_TEXT)
    assert response.json()["error"]["fields"] == {"levels": {"0": [response.json()["error"]["message"]]}}


@pytest.mark.parametrize("field", ["default_supplier", "code", "name"])
def test_a_nul_in_a_slug_or_text_field_is_a_400(demo, api, field):
    api.as_user(user("acme.admin"))
    body = {"code": "NEW-1", "name": "New", "default_supplier": "sup-a", field: "sup\x00a"}
    response = api.post("/api/v1/t/acme/skus/", body, format="json")
    assert_error(response, 400, INVALID_TEXT)
    assert list(response.json()["error"]["fields"]) == [field]


def test_a_nul_in_a_rule_or_a_movement_is_a_400(demo, api):
    api.as_user(user("acme.admin"))
    for body in [{"sku": "SKU-1001\x00", "warehouse": "WH-SH"},
                 {"sku": "SKU-1001", "warehouse": "WH-SH", "supplier": "\x00"}]:
        assert_error(api.post("/api/v1/t/acme/replenishment-rules/", body, format="json"), 400, INVALID_TEXT)
    movement = {"external_id": "m\x00", "sku": "SKU-1001", "warehouse": "WH-SH", "delta": 1,
                "occurred_at": "2024-01-01T00:00:00Z"}
    response = api.post("/api/v1/t/acme/stock/movements/", [movement], format="json")
    assert_error(response, 400, "validation_error")  # as the batch names every bad row
    assert list(response.json()["error"]["fields"]) == ["rows"]
    assert list(response.json()["error"]["fields"]["rows"]["0"]) == ["external_id"]


def test_a_nul_in_an_upload_is_a_400(demo, api):
    from messaging.models import Room

    room = Room.objects.filter(tenant__slug="acme", partnership__organization__slug="sup-a").first()
    api.as_user(user("supa.rep"))
    url = f"/api/v1/t/acme/rooms/{room.pk}/attachments/"
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api.post(url, {"file": SimpleUploadedFile("a.txt", b"data"), "client_id": "c\x00"}, format="multipart")
    assert_error(response, 400, INVALID_TEXT)
    assert list(response.json()["error"]["fields"]) == ["client_id"]


def test_an_escaped_surrogate_pair_is_an_ordinary_character(demo, api):
    from messaging.models import Room

    room = Room.objects.filter(tenant__slug="acme", partnership__organization__slug="sup-a").first()
    api.as_user(user("supa.rep"))
    body = json.dumps({"body": "货到了 😀", "client_id": "emoji-1"}, ensure_ascii=True)
    assert "\\ud83d\\ude00" in body
    response = post_raw(api, f"/api/v1/t/acme/rooms/{room.pk}/messages/", body)
    assert response.status_code == 201, response.content
    assert response.json()["body"] == "货到了 😀"


# --- nesting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, url", [
    ("post", "/api/v1/auth/token/"),
    ("post", "/api/v1/t/acme/escalation-policies/"),
    ("patch", "/api/v1/t/acme/memberships/{membership}/"),
    ("post", "/api/v1/t/acme/stock/movements/"),
])
def test_json_nested_5000_deep_is_a_400(demo, api, method, url):
    from scm_portal.tenancy.models import Membership

    url = url.format(membership=Membership.objects.filter(tenant__slug="acme").first().pk)
    api.as_user(user("acme.admin"))
    for text in ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000, '{"name": ' + "[" * 40 + "]" * 40 + "}"]:
        assert_error(post_raw(api, url, text, method), 400, "too_deep")


def test_a_body_nested_as_deep_as_the_api_needs_is_accepted(demo, api):
    api.as_user(user("acme.admin"))
    body = {"name": "Deep enough", "min_severity": "warning", "levels": [{"after_seconds": 60, "roles": ["warehouse"]}]}
    assert api.post("/api/v1/t/acme/escalation-policies/", body, format="json").status_code == 201


# --- dates and numbers in the query string ----------------------------------------------------


@pytest.mark.parametrize("query", [
    "since=0001-01-01T00:00:00",
    "until=0001-01-01T00:00:00",
    "since=0001-01-01T00:00:00%2B01:00&until=0001-01-02T00:00:00%2B01:00",
    "since=9999-12-30T00:00:00&until=9999-12-31T23:59:59",
    "since=2024-02-30T00:00:00",
    "until=2024-01-01T00:00:00%2B25:00",
])
def test_kpi_dates_off_the_calendar_are_a_400(demo, api, query):
    api.as_user(user("acme.buyer"))
    response = api.get(f"/api/v1/t/acme/kpis/alerts/?{query}")
    assert_error(response, 400, "validation_error")
    assert set(response.json()["error"]["fields"]) <= {"since", "until"}


def test_kpi_dates_in_any_offset_still_work(demo, api):
    api.as_user(user("acme.buyer"))
    response = api.get("/api/v1/t/acme/kpis/alerts/?since=2024-01-01T00:00:00%2B08:00&until=2024-03-01T00:00:00-05:00")
    assert response.status_code == 200, response.content
    assert response.json()["since"].startswith("2023-12-31T16:00:00")


@pytest.mark.parametrize("param", ["after_seq", "before_seq", "limit"])
def test_a_sequence_number_past_int64_is_a_400(demo, api, param):
    from messaging.models import Room

    room = Room.objects.filter(tenant__slug="acme", partnership__organization__slug="sup-a").first()
    api.as_user(user("supa.rep"))
    response = api.get(f"/api/v1/t/acme/rooms/{room.pk}/messages/?{param}={2**63}")
    assert_error(response, 400, "validation_error")
    assert list(response.json()["error"]["fields"]) == [param]


@pytest.mark.parametrize("position", ["abc", "\x00", "1.5"])
def test_a_forged_cursor_is_an_invalid_cursor(demo, api, position):
    api.as_user(user("acme.buyer"))
    cursor = base64.b64encode(f"p={position}".encode()).decode()
    assert_error(api.get("/api/v1/t/acme/partners/", {"cursor": cursor}), 404)


# --- escalation policies: defaults, and levels given whole ---------------------------------------


def _policy(api):
    body = {"name": "Stock", "levels": [{"after_seconds": 60, "roles": ["warehouse"]}]}
    response = api.post("/api/v1/t/acme/escalation-policies/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_policy_without_min_severity_gets_the_default(demo, api):
    api.as_user(user("acme.admin"))
    assert _policy(api)["min_severity"] == "info"


@pytest.mark.parametrize("level, field", [
    ({"roles": ["warehouse"]}, "after_seconds"),
    ({"after_seconds": 60}, "non_field_errors"),  # nobody to tell
    ({"after_seconds": 60, "roles": [], "users": []}, "non_field_errors"),
])
def test_a_patched_level_is_checked_whole(demo, api, level, field):
    api.as_user(user("acme.admin"))
    policy = _policy(api)
    response = api.patch(f"/api/v1/t/acme/escalation-policies/{policy['id']}/", {"levels": [level]}, format="json")
    assert_error(response, 400, "validation_error")
    assert field in response.json()["error"]["fields"]["levels"]["0"]


def test_a_patched_level_gets_the_defaults_a_new_one_gets(demo, api):
    api.as_user(user("acme.admin"))
    policy = _policy(api)
    patch = {"levels": [{"after_seconds": 120, "users": ["acme.warehouse"]}]}
    response = api.patch(f"/api/v1/t/acme/escalation-policies/{policy['id']}/", patch, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["levels"] == [
        {"after_seconds": 120, "roles": [], "users": ["acme.warehouse"], "channels": ["in_app"]}
    ]


# --- the same edge under ASGI (the served portal's handler) ---------------------------------------


@pytest.mark.parametrize("method, url, data, expect", [
    ("get", "/api/v1/t/acme/stock/?sku=%00", None, b'"code":"invalid_text"'),
    ("get", "/t/acme/stock/%00/", None, b'data-status="400"'),
    ("post", "/t/acme/partners/", {"organization": "a\x00b", "kind": "supplier"}, b'data-status="400"'),
])
def test_the_edge_answers_under_asgi_before_the_session_is_read(method, url, data, expect):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    send = async_to_sync(getattr(AsyncClient(raise_request_exception=False), method))
    response = send(url, data) if data else send(url)
    assert response.status_code == 400
    assert expect in response.content.replace(b" ", b"")
