"""A supplier's payout account: GET/PUT bank-account/ and its page, changed only by the supplier's
reps with a fresh second factor; a disbursement keeps the account it paid to."""

import json
from datetime import timedelta

import pytest
from django.test import Client

from finance.models import BankAccount, Disbursement
from scm_portal.tenancy.models import Organization, Tenant
from tests.api_contract import user
from tests.finance.factories import disburse, funder_approved
from tests.finance.test_actions import stale, verify

pytestmark = pytest.mark.django_db

URL = "/api/v1/t/acme/bank-account/"
GOOD = {"account_name": "华东零部件有限公司", "bank_name": "招商银行上海分行", "account_number": "6225 8801 2345 6789"}


def put(api, username, body, url=URL):
    return api.as_user(user(username)).put(url, body, format="json")


def rows():
    return list(BankAccount.objects.values_list("organization_id", "account_name", "bank_name", "account_number",
                                                "updated_by_id"))


def test_the_supplier_sets_its_account_with_a_fresh_second_factor(demo, api):
    verify("supa.rep")
    response = put(api, "supa.rep", GOOD)
    assert response.status_code == 200, response.content
    assert response.json() | {"updated_at": None} == {
        "organization": "sup-a", "account_name": "华东零部件有限公司", "bank_name": "招商银行上海分行",
        "account_number": "6225880123456789", "updated_by": "supa.rep", "updated_at": None}
    changed = put(api, "supa.rep", GOOD | {"account_number": "6225-8801-0000-0001"})
    assert changed.status_code == 200 and changed.json()["account_number"] == "6225880100000001"
    assert BankAccount.objects.count() == 1
    assert api.as_user(user("supa.rep")).get(URL).json()["account_number"] == "6225880100000001"


@pytest.mark.parametrize("verification", ["none", "stale"])
def test_without_a_fresh_second_factor_nothing_changes(demo, api, verification):
    verify("supa.rep")
    put(api, "supa.rep", GOOD)
    before = rows()
    if verification == "stale":
        stale("supa.rep")
    else:
        from scm_portal.tenancy.models import TotpVerification

        TotpVerification.objects.all().delete()
    response = put(api, "supa.rep", GOOD | {"account_number": "99998888777766"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "otp_required"
    assert rows() == before


@pytest.mark.parametrize("body, field", [
    (GOOD | {"account_number": "12345"}, "account_number"),  # too short
    (GOOD | {"account_number": "6225 8801 2345 678X!"}, "account_number"),
    (GOOD | {"account_number": "６２２５８８０１２３４５"}, "account_number"),  # full-width digits
    (GOOD | {"account_name": "   "}, "account_name"),
    (GOOD | {"bank_name": "x" * 201}, "bank_name"),
    ({k: v for k, v in GOOD.items() if k != "bank_name"}, "bank_name"),
    (GOOD | {"iban": "x"}, "iban"),
    (GOOD | {"account_number": 6225880123456789}, "account_number"),
])
def test_bad_details_are_refused_with_nothing_changed(demo, api, body, field):
    verify("supa.rep")
    response = put(api, "supa.rep", body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert rows() == []


def test_only_the_suppliers_reps_change_it(demo, api):
    for username in ("acme.finance", "bank.officer", "acme.admin"):
        verify(username)
        response = put(api, username, GOOD)
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied", username
    verify("supb.rep")
    response = put(api, "supb.rep", GOOD, url=URL + "?organization=sup-a")  # another supplier's
    assert response.status_code == 403
    verify("globex.buyer")
    assert put(api, "globex.buyer", GOOD).status_code == 404  # not a member of acme
    assert rows() == []


def test_who_sees_it(demo, api):
    verify("supa.rep")
    put(api, "supa.rep", GOOD)
    assert api.as_user(user("acme.finance")).get(URL + "?organization=sup-a").status_code == 200
    assert api.as_user(user("acme.finance")).get(URL).status_code == 400  # names no supplier
    assert api.as_user(user("acme.buyer")).get(URL).status_code == 403  # neither a supplier nor finance
    assert api.as_user(user("supb.rep")).get(URL + "?organization=sup-a").status_code == 404
    assert api.as_user(user("supb.rep")).get(URL).status_code == 404  # has none
    assert api.as_user(user("bank.officer")).get(URL + "?organization=sup-a").status_code == 404
    assert api.as_user(user("acme.buyer")).get(URL + "?organization=nope").status_code == 404


def test_a_disbursement_keeps_the_account_it_paid_to(demo, api):
    verify("supa.rep")
    put(api, "supa.rep", GOOD)
    application = funder_approved()
    disbursement, _replayed = disburse(application)
    paid_to = {"account_name": "华东零部件有限公司", "bank_name": "招商银行上海分行", "account_number": "6225880123456789"}
    assert disbursement.paid_to == paid_to
    assert json.loads(bytes(disbursement.response_body))["disbursement"]["paid_to"] == paid_to
    # A later change moves future payouts, never this one.
    put(api, "supa.rep", GOOD | {"account_number": "6225880100000001"})
    stored = Disbursement.objects.get(pk=disbursement.pk)
    assert stored.paid_to == paid_to and stored.bank_account.account_number == "6225880100000001"
    response = api.as_user(user("bank.officer")).get(f"/api/v1/t/acme/financing-applications/{application.pk}/")
    assert response.json()["disbursement"]["paid_to"] == paid_to


def test_a_disbursement_without_an_account_on_file_says_so(demo):
    disbursement, _replayed = disburse(funder_approved())
    assert disbursement.paid_to is None and disbursement.bank_account is None


def test_the_database_refuses_a_malformed_number(demo):
    from django.db import IntegrityError, transaction

    tenant = Tenant.objects.get(slug="acme")
    with pytest.raises(IntegrityError), transaction.atomic():
        BankAccount.objects.create(tenant=tenant, organization=Organization.objects.get(slug="sup-a"), account_name="a",
                                   bank_name="b", account_number="12 34", updated_by=user("supa.rep"))


# --- the page ------------------------------------------------------------------------------------

PAGE = "/t/acme/financing/bank-account/"


def browser(username):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user(username))
    return client


def verify_session(client, username, *, ago=timedelta(0)):
    """The browser session passed TOTP `ago` before now."""
    import hashlib

    from django.utils import timezone

    from scm_portal.tenancy.models import TotpVerification
    from scm_portal.tenancy.totp import VERIFICATION_TTL

    credential = "session:" + hashlib.sha256(client.session.session_key.encode()).hexdigest()
    TotpVerification.objects.update_or_create(
        credential=credential, defaults={"user": user(username), "expires_at": timezone.now() - ago + VERIFICATION_TTL})


def test_the_page_shows_and_changes_the_account(demo):
    client = browser("supa.rep")
    page = client.get(PAGE)
    assert page.status_code == 200
    assert b'data-testid="bank-account-none"' in page.content and b'data-testid="verify-first"' in page.content
    verify_session(client, "supa.rep")
    page = client.get(PAGE)
    assert b'data-testid="verify-first"' not in page.content
    response = client.post(PAGE, GOOD)
    assert response.status_code == 302
    page = client.get(PAGE)
    assert "6225880123456789" in page.content.decode() and "招商银行上海分行" in page.content.decode()
    assert b"The payout account is saved." in page.content


def test_the_page_refuses_a_change_without_a_fresh_second_factor(demo):
    client = browser("supa.rep")
    response = client.post(PAGE, GOOD)
    assert response.status_code == 403
    assert b"authenticator" in response.content and b'data-testid="form-error"' in response.content
    assert rows() == []
    from django.conf import settings

    verify_session(client, "supa.rep", ago=timedelta(seconds=settings.MONEY_OTP_MAX_AGE + 1))
    assert client.post(PAGE, GOOD).status_code == 403 and rows() == []


def test_the_page_shows_bad_input(demo):
    client = browser("supa.rep")
    verify_session(client, "supa.rep")
    response = client.post(PAGE, GOOD | {"account_number": "12"})
    assert response.status_code == 400 and b"6 to 34 digits" in response.content
    assert rows() == []


def test_the_page_in_chinese(demo):
    client = browser("supa.rep")
    page = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "收款账户" in page.content.decode()


def test_the_page_is_for_suppliers_only(demo):
    assert browser("acme.finance").get(PAGE).status_code == 403
    assert browser("bank.officer").get(PAGE).status_code == 403
    assert browser("globex.buyer").get(PAGE).status_code == 404
