"""The financing API of CONTRACT.md end to end, and every bad input's 4xx with nothing changed."""

from datetime import timedelta
from decimal import Decimal

import pyotp
import pytest

from finance.models import Disbursement, FinancingApplication, Invoice, Receivable
from scm_portal.tenancy.demo import DEFAULT_TOTP_SECRET
from tests.api_contract import assert_error, user
from tests.finance.factories import apply, approve, confirmed_receivable, funder_approved, received_po, tenant_today
from tests.finance.test_services import snapshot

pytestmark = pytest.mark.django_db
T = "/api/v1/t/acme/"


def as_user(api, username, verified=False):
    api.as_user(user(username))
    if verified:
        code = pyotp.TOTP(DEFAULT_TOTP_SECRET).now()
        response = api.post("/api/v1/auth/totp/", {"code": code}, format="json")
        assert response.status_code == 200, response.content
    return api


def due(days=90):
    return (tenant_today() + timedelta(days=days)).isoformat()


def test_the_whole_flow_through_the_api(demo, api):
    po = received_po(lines=((10, "125.00"),))
    as_user(api, "supa.rep")
    created = api.post(T + "invoices/", {"purchase_order": po.number, "number": "INV-1", "amount": "1250.00",
                                         "currency": "CNY"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["amount"] == "1250.00" and body["state"] == "submitted"
    receivable_id = body["receivable"]

    as_user(api, "acme.finance")
    confirmed = api.post(T + f"receivables/{receivable_id}/confirm/", {"due_date": due(60)}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["state"] == "confirmed" and confirmed.json()["amount"] == "1250.00"

    as_user(api, "supa.rep")
    listed = api.get(T + "receivables/").json()["results"]
    assert [r["id"] for r in listed] == [receivable_id] and listed[0]["holder"] == "sup-a"
    request = {"receivables": [receivable_id], "amount": "1000.00", "funder": "bank"}
    quote = api.post(T + "financing-applications/quote/", request, format="json")
    assert quote.status_code == 200, quote.content
    quote = quote.json()
    assert quote["days"] == 60 and quote["currency"] == "CNY" and quote["rate"] == "0.060000"
    assert quote["cost"] == str((Decimal("1000.00") * Decimal("0.06") * 60 / 365).quantize(Decimal("0.01")))
    assert not FinancingApplication.objects.exists()
    applied = api.post(T + "financing-applications/", request, format="json")
    assert applied.status_code == 201, applied.content
    application = applied.json()
    assert application["state"] == "requested" and application["cost"] == quote["cost"]
    url = T + f"financing-applications/{application['id']}/"

    # Without 2FA: refused, nothing changed.
    as_user(api, "acme.finance")
    before = snapshot()
    assert_error(api.post(url + "approve/", {}, format="json"), 403, "otp_required")
    assert snapshot() == before
    as_user(api, "acme.finance", verified=True)
    assert api.post(url + "approve/", {}, format="json").json()["state"] == "core_review"
    before = snapshot()
    assert_error(api.post(url + "approve/", {}, format="json"), 409, "already_decided")
    assert snapshot() == before
    as_user(api, "acme.cfo", verified=True)
    assert api.post(url + "approve/", {}, format="json").json()["state"] == "funder_review"

    as_user(api, "bank.officer", verified=True)
    seen = api.get(T + "financing-applications/").json()["results"]
    assert [a["id"] for a in seen] == [application["id"]]
    approved = api.post(url + "approve/", {}, format="json").json()
    assert approved["funder_approved_at"] and [a["approver"] for a in approved["approvals"]] == [
        "acme.finance", "acme.cfo", "bank.officer"]
    assert_error(api.post(url + "disburse/", {}, format="json"), 400, "validation_error")  # no Idempotency-Key
    first = api.post(url + "disburse/", {}, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert first.status_code == 201, first.content
    assert first.json()["state"] == "disbursed" and first.json()["disbursement"]["amount"] == "1000.00"
    again = api.post(url + "disburse/", {}, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert (again.status_code, again.content) == (201, first.content)
    assert_error(api.post(url + "disburse/", {}, format="json", HTTP_IDEMPOTENCY_KEY="pay-2"), 409, "already_disbursed")
    assert Disbursement.objects.count() == 1

    as_user(api, "acme.finance")
    repaid = api.post(url + "repay/", {}, format="json")
    assert repaid.status_code == 200 and repaid.json()["state"] == "repaid"
    assert Receivable.objects.get(pk=receivable_id).state == "settled"


@pytest.mark.parametrize("amount, code", [
    (1250.0, "float_not_allowed"),
    (1250.5, "float_not_allowed"),
    ("1250.001", "too_many_decimals"),
    (1250, "validation_error"),
    ("-1.00", "validation_error"),
])
def test_invoice_amounts_that_are_not_money_are_400(demo, api, amount, code):
    po = received_po(lines=((10, "125.00"),))
    as_user(api, "supa.rep")
    before = snapshot()
    response = api.post(T + "invoices/", {"purchase_order": po.number, "number": "INV-F", "amount": amount,
                                          "currency": "CNY"}, format="json")
    assert_error(response, 400, code)
    assert "amount" in response.json()["error"]["fields"]
    assert snapshot() == before


def test_jpy_refuses_any_decimal(demo, api):
    po = received_po(currency="JPY", lines=((10, "100"),))
    as_user(api, "supa.rep")
    response = api.post(T + "invoices/", {"purchase_order": po.number, "number": "J-1", "amount": "10.5", "currency": "JPY"},
                        format="json")
    assert_error(response, 400, "too_many_decimals")
    ok = api.post(T + "invoices/", {"purchase_order": po.number, "number": "J-1", "amount": "1000", "currency": "JPY"},
                  format="json")
    assert ok.status_code == 201 and ok.json()["amount"] == "1000"


@pytest.mark.parametrize("body, field", [
    ({"purchase_order": "PO-NONE", "number": "I", "amount": "1.00", "currency": "CNY"}, "purchase_order"),
    ({"purchase_order": "{po}", "number": "I", "amount": "99999.00", "currency": "CNY"}, "amount"),
    ({"purchase_order": "{po}", "number": "I", "amount": "1.00", "currency": "USD"}, "currency"),
    ({"purchase_order": "{po}", "number": "I", "amount": "1.00", "currency": "XXX"}, "currency"),
    ({"purchase_order": "{po}", "number": "I", "amount": "1.00", "currency": "CNY", "extra": 1}, "extra"),
    ({"purchase_order": "{po}", "amount": "1.00", "currency": "CNY"}, "number"),
])
def test_bad_invoices_are_400(demo, api, body, field):
    po = received_po()
    body = {k: (po.number if v == "{po}" else v) for k, v in body.items()}
    as_user(api, "supa.rep")
    before = snapshot()
    response = api.post(T + "invoices/", body, format="json")
    assert_error(response, 400)
    assert field in response.json()["error"]["fields"]
    assert snapshot() == before


def test_a_globex_po_is_not_a_field_an_acme_supplier_may_name(demo, api):
    globex_po = received_po(tenant="globex")
    as_user(api, "supa.rep")
    response = api.post(T + "invoices/", {"purchase_order": globex_po.number, "number": "I", "amount": "1.00",
                                          "currency": "CNY"}, format="json")
    assert_error(response, 400)
    assert not Invoice.objects.exists()


def test_who_sees_and_who_may_act(demo, api):
    receivable = confirmed_receivable(supplier="sup-a")
    foreign = confirmed_receivable(tenant="globex")
    # Another supplier, and another tenant's row: 404.
    as_user(api, "supb.rep")
    assert_error(api.get(T + f"receivables/{receivable.pk}/"), 404, "not_found")
    assert api.get(T + "receivables/").json()["results"] == []
    as_user(api, "acme.finance")
    assert_error(api.get(T + f"receivables/{foreign.pk}/"), 404)
    assert_error(api.post(T + f"receivables/{foreign.pk}/split/", {"parts": []}, format="json"), 404)
    # A role that sees but may not act: 403, nothing changed.
    as_user(api, "acme.auditor")
    assert api.get(T + f"receivables/{receivable.pk}/").status_code == 200
    before = snapshot()
    assert_error(api.post(T + f"receivables/{receivable.pk}/confirm/", {"due_date": due()}, format="json"), 403)
    as_user(api, "acme.buyer")
    assert_error(api.get(T + f"receivables/{receivable.pk}/"), 404)
    assert_error(api.post(T + "financing-applications/", {"receivables": [receivable.pk], "amount": "1.00",
                                                         "funder": "bank"}, format="json"), 403)
    as_user(api, "globex.buyer")
    assert_error(api.get(T + "receivables/"), 404)
    assert snapshot() == before


def test_illegal_states_are_409(demo, api):
    receivable = confirmed_receivable()
    as_user(api, "acme.finance")
    assert_error(api.post(T + f"receivables/{receivable.pk}/confirm/", {"due_date": due()}, format="json"),
                 409, "already_decided")
    application = apply([receivable], "900.00")
    as_user(api, "acme.finance")
    assert_error(api.post(T + f"financing-applications/{application.pk}/repay/", {}, format="json"), 409, "illegal_transition")
    as_user(api, "supa.rep")
    assert_error(api.post(T + f"receivables/{receivable.pk}/split/", {"parts": [{"amount": "1.00", "to": "sup-b"}]},
                          format="json"), 409, "illegal_transition")
    assert_error(api.post(T + "financing-applications/", {"receivables": [receivable.pk], "amount": "1.00", "funder": "bank"},
                          format="json"), 409, "not_financeable")


def test_split_through_the_api_and_the_lower_tier_sees_its_part(demo, api):
    receivable = confirmed_receivable("1000.00")
    as_user(api, "supa.rep")
    response = api.post(T + f"receivables/{receivable.pk}/split/",
                        {"parts": [{"amount": "400.00", "to": "sup-b"}]}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["original"]["amount"] == "600.00"
    part = response.json()["parts"][0]
    assert (part["amount"], part["holder"], part["parent"]) == ("400.00", "sup-b", receivable.pk)
    as_user(api, "supb.rep")
    assert [r["id"] for r in api.get(T + "receivables/").json()["results"]] == [part["id"]]
    before = snapshot()
    for parts, code in (([{"amount": 400.0, "to": "sup-a"}], "float_not_allowed"),
                        ([{"amount": "400.001", "to": "sup-a"}], "too_many_decimals"),
                        ([{"amount": "1.00", "to": "globex"}], "validation_error")):
        assert_error(api.post(T + f"receivables/{part['id']}/split/", {"parts": parts}, format="json"), 400, code)
    assert snapshot() == before


@pytest.mark.parametrize("body, code", [
    ({"receivables": ["{r}"], "amount": 900.0, "funder": "bank"}, "float_not_allowed"),
    ({"receivables": ["{r}"], "amount": "900.001", "funder": "bank"}, "too_many_decimals"),
    ({"receivables": ["{r}"], "amount": "900.01", "funder": "bank"}, "validation_error"),  # over 90 %
    ({"receivables": ["{r}"], "amount": "100.00", "funder": "sup-b"}, "validation_error"),  # not a funder
    ({"receivables": ["{r}", "{r}"], "amount": "100.00", "funder": "bank"}, "validation_error"),
    ({"receivables": [], "amount": "100.00", "funder": "bank"}, "validation_error"),
    ({"receivables": [999999], "amount": "100.00", "funder": "bank"}, "validation_error"),
])
@pytest.mark.parametrize("path", ["financing-applications/quote/", "financing-applications/"])
def test_bad_applications_and_quotes_are_400(demo, api, body, code, path):
    receivable = confirmed_receivable("1000.00")
    body = {**body, "receivables": [receivable.pk if r == "{r}" else r for r in body["receivables"]]}
    as_user(api, "supa.rep")
    before = snapshot()
    assert_error(api.post(T + path, body, format="json"), 400, code)
    assert snapshot() == before


def test_second_factor_expires_after_the_setting(demo, api, settings):
    application = apply([confirmed_receivable()], "900.00")
    as_user(api, "acme.finance", verified=True)
    settings.MONEY_OTP_MAX_AGE = 0
    before = snapshot()
    url = T + f"financing-applications/{application.pk}/"
    assert_error(api.post(url + "approve/", {}, format="json"), 403, "otp_required")
    assert_error(api.post(url + "reject/", {"reason": "no"}, format="json"), 403, "otp_required")
    assert snapshot() == before


def test_disburse_needs_the_funders_officer_and_2fa(demo, api):
    application = funder_approved()
    url = T + f"financing-applications/{application.pk}/disburse/"
    as_user(api, "acme.finance", verified=True)
    before = snapshot()
    assert_error(api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k"), 403, "permission_denied")
    as_user(api, "bank.officer")
    assert_error(api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k"), 403, "otp_required")
    assert snapshot() == before


def test_the_maker_and_a_supplier_never_approve(demo, api):
    application = apply([confirmed_receivable()], "900.00")
    approve(application, "acme.finance")
    before = snapshot()
    for username in ("supa.rep", "acme.auditor"):
        as_user(api, username)
        assert_error(api.post(T + f"financing-applications/{application.pk}/approve/", {}, format="json"), 403)
    as_user(api, "supb.rep")
    assert_error(api.post(T + f"financing-applications/{application.pk}/approve/", {}, format="json"), 404)
    assert snapshot() == before


def test_invoice_attachment_is_hashed(demo, api):
    import hashlib

    from django.core.files.uploadedfile import SimpleUploadedFile

    po = received_po()
    as_user(api, "supa.rep")
    invoice = api.post(T + "invoices/", {"purchase_order": po.number, "number": "INV-S", "amount": "10.00",
                                         "currency": "CNY"}, format="json").json()
    content = b"%PDF-1.4 invoice scan"
    response = api.post(T + f"invoices/{invoice['id']}/attachments/",
                        {"file": SimpleUploadedFile("scan.pdf", content, content_type="application/pdf")}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert api.get(T + f"invoices/{invoice['id']}/").json()["attachments"][0]["sha256"] == hashlib.sha256(content).hexdigest()
    as_user(api, "supb.rep")
    assert_error(api.post(T + f"invoices/{invoice['id']}/attachments/",
                          {"file": SimpleUploadedFile("scan.pdf", content)}, format="multipart"), 404)
