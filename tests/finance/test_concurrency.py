"""Disbursement exactly once under concurrency: 50 disburse calls at once, on their own
connections to PostgreSQL, through the API."""

import threading

import pyotp
import pytest
from django.db import connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from finance.models import Disbursement, FinancingApplication
from scm_portal.tenancy.demo import DEFAULT_TOTP_SECRET
from tests.api_contract import user
from tests.concurrency import Side
from tests.finance.factories import funder_approved

CALLS = 50


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_disburse_calls_make_one_disbursement(demo_tx):
    # Given an application the funder approved, and the officer's token verified with TOTP
    application = funder_approved()
    token, _created = Token.objects.get_or_create(user=user("bank.officer"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.post("/api/v1/auth/totp/", {"code": pyotp.TOTP(DEFAULT_TOTP_SECRET).now()}, format="json").status_code == 200
    url = f"/api/v1/t/acme/financing-applications/{application.pk}/disburse/"
    start = threading.Barrier(CALLS)

    def call(key):
        def work():
            one = APIClient()
            one.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
            start.wait(30)
            response = one.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY=key)
            return key, response.status_code, response.content
        return work

    # When 50 calls arrive at once: half retry one key, half bring keys of their own
    keys = ["retry" if i % 2 else f"other-{i}" for i in range(CALLS)]
    sides = [Side(call(key)) for key in keys]
    for side in sides:
        side.start()
    answers = [side.outcome() for side in sides]
    connections.close_all()

    # Then one disbursement; every caller with the winning key got the same bytes, the rest 409
    assert Disbursement.objects.filter(application=application).count() == 1
    winner = Disbursement.objects.get(application=application)
    assert FinancingApplication.objects.get(pk=application.pk).state == "disbursed"
    won = [a for a in answers if a[1] == 201]
    assert won and {key for key, _s, _c in won} == {winner.idempotency_key}
    assert {content for _k, _s, content in won} == {bytes(winner.response_body)}
    assert all(status == 409 for key, status, _c in answers if key != winner.idempotency_key)
    assert len(won) == keys.count(winner.idempotency_key)
