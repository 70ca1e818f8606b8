"""API token authentication: one compiled statement for a valid token, DRF's answers otherwise."""

import pytest
from rest_framework.authtoken.models import Token

from scm_portal.api.authentication import TokenAuthentication
from tests.api_contract import assert_error, user

pytestmark = pytest.mark.django_db


def test_a_valid_token_loads_the_user_and_the_token_in_one_statement(demo, django_assert_num_queries):
    buyer = user("acme.buyer")
    token = Token.objects.create(user=buyer)
    with django_assert_num_queries(1):
        found_user, found_token = TokenAuthentication().authenticate_credentials(token.key)
    assert found_user == buyer and found_user.username == "acme.buyer" and found_user.is_active
    assert found_user.password == buyer.password and found_user.date_joined == buyer.date_joined
    assert isinstance(found_token, Token) and found_token.key == token.key and found_token.user is found_user
    assert found_token.created == token.created


def test_refusals_are_drfs(demo, api):
    assert_error(api.get("/api/v1/t/acme/rooms/", HTTP_AUTHORIZATION="Token not-a-token"), 401)
    refused = api.get("/api/v1/t/acme/rooms/", HTTP_AUTHORIZATION="Token nope")
    assert "Invalid token" in refused.json()["error"]["message"]
    buyer = user("acme.buyer")
    token = Token.objects.create(user=buyer)
    assert api.get("/api/v1/t/acme/rooms/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    buyer.is_active = False
    buyer.save()
    response = api.get("/api/v1/t/acme/rooms/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert_error(response, 401)
    assert "inactive" in response.json()["error"]["message"]
