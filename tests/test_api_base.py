"""The API's common behaviour: error format, malformed input, auth endpoints, schema."""

import pytest
from rest_framework.authtoken.models import Token

from tests.api_contract import assert_error, user

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_a_json_404(demo, api):
    api.as_user(user("acme.buyer"))
    assert_error(api.get("/api/v1/nothing-here/"), 404, "not_found")


def test_method_not_allowed_is_a_json_405(demo, api):
    api.as_user(user("acme.buyer"))
    assert_error(api.delete("/api/v1/me/"), 405, "method_not_allowed")
    assert_error(api.put("/api/v1/t/acme/partners/1/", {}, format="json"), 405, "method_not_allowed")


def test_malformed_json_is_a_400_and_changes_nothing(demo, api):
    from scm_portal.tenancy.models import Partnership

    api.as_user(user("acme.admin"))
    before = Partnership.objects.count()
    response = api.post("/api/v1/t/acme/partners/", data='{"organization": "sup-b",', content_type="application/json")
    assert_error(response, 400, "parse_error")
    assert Partnership.objects.count() == before


@pytest.mark.parametrize("body", ['["a", "list"]', '"a string"', "42", "null"])
def test_a_body_that_is_not_an_object_is_a_400(demo, api, body):
    api.as_user(user("acme.admin"))
    assert_error(api.post("/api/v1/t/acme/partners/", data=body, content_type="application/json"), 400)


def test_unsupported_media_type_is_a_415(demo, api):
    api.as_user(user("acme.admin"))
    response = api.post("/api/v1/t/acme/partners/", data="organization=sup-b", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_invalid_cursor_is_a_404_in_the_error_format(demo, api):
    api.as_user(user("acme.buyer"))
    assert_error(api.get("/api/v1/t/acme/partners/?cursor=garbage"), 404)


def test_non_numeric_id_is_a_404(demo, api):
    api.as_user(user("acme.buyer"))
    assert_error(api.get("/api/v1/t/acme/partners/abc/"), 404)


def test_pagination_pages_through_every_row_once(demo, api):
    api.as_user(user("acme.buyer"))
    seen, url = [], "/api/v1/t/acme/partners/?page_size=1"
    while url:
        body = api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 3


class TestTokenEndpoint:
    def test_good_credentials_give_a_token(self, demo, api):
        response = api.post("/api/v1/auth/token/", {"username": "acme.buyer", "password": "demo12345"}, format="json")
        assert response.status_code == 200
        assert response.json()["token"] == Token.objects.get(user__username="acme.buyer").key

    def test_bad_password_is_a_400(self, demo, api):
        response = api.post("/api/v1/auth/token/", {"username": "acme.buyer", "password": "nope"}, format="json")
        assert_error(response, 400, "invalid_credentials")
        assert not Token.objects.filter(user__username="acme.buyer").exists()

    @pytest.mark.parametrize(
        "body",
        [{}, {"username": "acme.buyer"}, {"username": ["acme.buyer"], "password": "demo12345"}, {"username": "a", "password": "b", "otp": 1}],
    )
    def test_malformed_bodies_are_400(self, demo, api, body):
        assert_error(api.post("/api/v1/auth/token/", body, format="json"), 400)

    def test_token_authenticates_later_requests(self, demo, api):
        token = api.post("/api/v1/auth/token/", {"username": "supa.rep", "password": "demo12345"}, format="json").json()["token"]
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert api.get("/api/v1/me/").json()["username"] == "supa.rep"

    def test_bad_token_is_a_401(self, demo, api):
        api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
        assert_error(api.get("/api/v1/me/"), 401, "authentication_failed")


class TestMe:
    def test_lists_memberships_across_tenants(self, demo, api):
        api.as_user(user("supa.rep"))
        body = api.get("/api/v1/me/").json()
        assert sorted((m["tenant"], m["organization"], m["role"]) for m in body["memberships"]) == [
            ("acme", "sup-a", "supplier_rep"),
            ("globex", "sup-a", "supplier_rep"),
        ]

    def test_anonymous_is_401(self, db, api):
        assert_error(api.get("/api/v1/me/"), 401, "not_authenticated")

    def test_suspended_membership_is_not_listed(self, demo, api):
        from scm_portal.tenancy.models import Membership

        Membership.objects.filter(user__username="supa.rep", tenant__slug="globex").update(active=False)
        api.as_user(user("supa.rep"))
        assert [m["tenant"] for m in api.get("/api/v1/me/").json()["memberships"]] == ["acme"]


def test_tenant_detail_shows_my_roles(demo, api):
    api.as_user(user("acme.finance"))
    body = api.get("/api/v1/t/acme/").json()
    assert body["slug"] == "acme" and body["my_roles"] == ["finance_approver"] and body["default_language"] == "zh-hans"


def test_schema_and_docs_are_served(demo, client):
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    assert "/api/v1/t/{tenant}/partners/" in schema.json()["paths"]
    assert client.get("/api/v1/docs/").status_code == 200


def test_docs_page_loads_no_asset_from_a_cdn(demo, client):
    html = client.get("/api/v1/docs/").content.decode()
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html, "the docs page must work offline"
