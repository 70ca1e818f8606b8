"""The financing pages, per role: a supplier's receivables, invoices, the application form with its
cost and their applications; the approvers' queue (2FA first), the funder's queue (approve, then
disburse exactly once), the repayment calendar, one application, the dashboard panel, and the TOTP
enrolment page. Every refusal shows its reason and changes nothing."""

import re
import time
from datetime import timedelta
from decimal import Decimal

import pyotp
import pytest

from finance.models import Disbursement, FinancingApplication, Invoice
from messaging.models import Message
from scm_portal.tenancy.demo import DEFAULT_TOTP_SECRET
from scm_portal.tenancy.models import TotpDevice
from tests.api_contract import user
from tests.finance.factories import apply, approve, confirmed_receivable, disburse, funder_approved, received_po, tenant_today
from tests.finance.test_services import snapshot

pytestmark = pytest.mark.django_db
F = "/t/acme/financing/"


def login(client, username):
    client.force_login(user(username))
    return client


def code(step_offset=0, secret=DEFAULT_TOTP_SECRET):
    """The authenticator's code, `step_offset` 30-second steps from now (the service accepts ±1)."""
    return pyotp.TOTP(secret).at(int(time.time()) + 30 * step_offset)


def verify(client, step_offset=0, next_url=F):
    response = client.post("/accounts/totp/verify/", {"code": code(step_offset), "next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url
    return response


def page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


def detail(application):
    return f"{F}{application.pk}/"


# --- who may open what ------------------------------------------------------------------------

PAGES = {
    # page: (roles that open it, roles that get 403)
    "": (["supa.rep", "acme.finance", "acme.auditor", "acme.admin", "bank.officer"], ["acme.buyer", "acme.warehouse"]),
    "receivables/": (["supa.rep", "acme.finance", "acme.auditor"], ["bank.officer", "acme.buyer"]),
    "invoices/": (["supa.rep", "supb.rep", "acme.finance", "acme.auditor"], ["bank.officer", "acme.buyer"]),
    "apply/": (["supa.rep", "supb.rep"], ["acme.finance", "bank.officer", "acme.buyer"]),
    "approvals/": (["acme.finance", "acme.cfo"], ["supa.rep", "bank.officer", "acme.auditor", "acme.buyer"]),
    "funder/": (["bank.officer"], ["acme.finance", "supa.rep", "acme.auditor"]),
    "calendar/": (["acme.finance", "acme.auditor", "acme.admin"], ["supa.rep", "bank.officer", "acme.buyer"]),
}


@pytest.mark.parametrize("path", sorted(PAGES))
def test_each_page_opens_for_its_roles_and_is_403_to_the_others(demo, client, path):
    funder_approved()  # something on every page
    allowed, refused = PAGES[path]
    for username in allowed:
        html = page(login(client, username), F + path)
        assert 'data-testid="finance-tabs"' in html
    for username in refused:
        page(login(client, username), F + path, 403)


def test_another_tenant_is_404_and_a_supplier_sees_nothing_of_acme_under_globex(demo, client):
    application = funder_approved()
    for path in ("", "receivables/", "approvals/", f"{application.pk}/"):
        page(login(client, "globex.buyer"), F + path, 404)
    page(login(client, "bank.officer"), "/t/globex/financing/", 404)
    html = page(login(client, "supa.rep"), "/t/globex/financing/")
    assert 'data-testid="fa-empty"' in html and f"FA-{application.pk}" not in html
    page(client, f"/t/globex/financing/{application.pk}/", 404)
    assert 'data-testid="receivables-empty"' in page(client, "/t/globex/financing/receivables/")


def test_an_application_is_404_to_whoever_may_not_see_it(demo, client):
    application = apply([confirmed_receivable()], "500.00")
    for username in ("supa.rep", "acme.finance", "bank.officer", "acme.auditor"):
        assert f"FA-{application.pk}" in page(login(client, username), detail(application))
    page(login(client, "supb.rep"), detail(application), 404)
    page(client, f"{F}999999/", 404)
    page(client, f"{F}99999999999999999999/", 404)
    page(login(client, "acme.buyer"), detail(application), 403)
    assert login(client, "supa.rep").get(detail(application) + "approve/").status_code == 405
    assert client.post(detail(application) + "explode/").status_code == 404


def test_empty_states(demo, client):
    login(client, "supa.rep")
    assert 'data-testid="fa-empty"' in page(client, F)
    assert 'data-testid="receivables-empty"' in page(client, F + "receivables/")
    assert 'data-testid="apply-empty"' in page(client, F + "apply/")
    assert 'data-testid="invoice-no-orders"' in page(client, F + "invoices/")
    login(client, "acme.finance")
    assert 'data-testid="fa-queue-empty"' in page(client, F + "approvals/")
    assert 'data-testid="fa-calendar-empty"' in page(client, F + "calendar/")
    assert 'data-testid="invoices-empty"' in page(client, F + "invoices/")
    assert 'data-testid="fa-queue-empty"' in page(login(client, "bank.officer"), F + "funder/")


# --- invoices and receivables ---------------------------------------------------------------------


def test_the_supplier_invoices_a_received_po_and_finance_confirms_the_payable(demo, client):
    po = received_po(lines=((10, "125.00"),))
    login(client, "supa.rep")
    assert po.number in page(client, F + "invoices/")
    response = client.post(F + "invoices/", {"purchase_order": po.number, "number": "INV-P1", "amount": "1250.00"})
    assert response.status_code == 302
    invoice = Invoice.objects.get(number="INV-P1")
    assert invoice.amount == Decimal("1250.00") and invoice.state == "submitted"
    receivable = invoice.receivables.get()

    login(client, "acme.finance")
    html = page(client, F + "receivables/")
    assert 'data-testid="receivable-confirm"' in html
    due = (tenant_today() + timedelta(days=45)).isoformat()
    assert client.post(F + f"receivables/{receivable.pk}/decide/", {"decision": "confirm", "due_date": due}).status_code == 302
    receivable.refresh_from_db()
    assert receivable.state == "confirmed" and receivable.due_date.isoformat() == due

    html = page(login(client, "supa.rep"), F + "receivables/")
    row = re.search(rf'data-testid="receivable-row" data-id="{receivable.pk}" data-state="confirmed"', html)
    assert row and "1,250.00 CNY" in html and 'data-testid="receivable-finance"' in html


def test_an_invoice_scan_is_kept_with_its_hash_and_a_bad_one_refuses_the_invoice(demo, client):
    import hashlib

    from django.core.files.uploadedfile import SimpleUploadedFile

    po = received_po(lines=((10, "125.00"),))
    login(client, "supa.rep")
    before = snapshot()
    response = client.post(F + "invoices/", {"purchase_order": po.number, "number": "INV-S", "amount": "100.00",
                                             "scan": SimpleUploadedFile("scan.pdf", b"not a pdf at all")})
    assert response.status_code == 400 and "does not match its type" in response.content.decode()
    assert snapshot() == before
    content = b"%PDF-1.4 invoice scan"
    response = client.post(F + "invoices/", {"purchase_order": po.number, "number": "INV-S", "amount": "100.00",
                                             "scan": SimpleUploadedFile("scan.pdf", content)})
    assert response.status_code == 302
    attachment = Invoice.objects.get(number="INV-S").attachments.get()
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert 'data-testid="invoice-attachment"' in page(client, F + "invoices/")


@pytest.mark.parametrize("amount", ["1250.001", "1e3", "1,250", "nan", " 12", "-5", "0", "", "99999999999999999"])
def test_a_bad_invoice_amount_is_refused_with_its_reason(demo, client, amount):
    po = received_po(lines=((10, "125.00"),))
    before = snapshot()
    response = login(client, "supa.rep").post(F + "invoices/", {"purchase_order": po.number, "number": "INV-X", "amount": amount})
    assert response.status_code == 400 and 'data-testid="invoice-error"' in response.content.decode()
    assert snapshot() == before


def test_an_invoice_over_the_received_value_and_a_foreign_po_are_refused(demo, client):
    po = received_po(lines=((10, "125.00"),))
    other = received_po(supplier="sup-b")
    before = snapshot()
    login(client, "supa.rep")
    response = client.post(F + "invoices/", {"purchase_order": po.number, "number": "INV-X", "amount": "1250.01"})
    assert response.status_code == 400 and "received and not yet invoiced" in response.content.decode()
    response = client.post(F + "invoices/", {"purchase_order": other.number, "number": "INV-Y", "amount": "10.00"})
    assert response.status_code == 400
    assert login(client, "acme.finance").post(F + "invoices/", {"purchase_order": po.number, "number": "I",
                                                                "amount": "1.00"}).status_code == 403
    assert snapshot() == before


def test_finance_rejects_an_invoice_with_a_reason_and_bad_decisions_change_nothing(demo, client):
    invoice = received_po(lines=((1, "300.00"),))
    from tests.finance.factories import invoice as make_invoice

    invoice = make_invoice(invoice, "300.00")
    receivable = invoice.receivable
    url = F + f"receivables/{receivable.pk}/decide/"
    before = snapshot()
    login(client, "acme.finance")
    assert client.post(url, {"decision": "reject", "reason": ""}).status_code == 400
    assert client.post(url, {"decision": "confirm", "due_date": "yesterday"}).status_code == 400
    past = (tenant_today() - timedelta(days=1)).isoformat()
    response = client.post(url, {"decision": "confirm", "due_date": past})
    assert response.status_code == 400 and "after today" in response.content.decode()
    assert login(client, "supa.rep").post(url, {"decision": "confirm", "due_date": "2099-01-01"}).status_code == 403
    assert login(client, "supb.rep").post(url, {"decision": "confirm"}).status_code == 404
    assert snapshot() == before
    assert login(client, "acme.finance").post(url, {"decision": "reject", "reason": "金额不符"}).status_code == 302
    invoice.refresh_from_db()
    assert invoice.state == "rejected" and invoice.reject_reason == "金额不符"


def test_a_part_transferred_to_a_lower_tier_shows_to_it_and_to_the_one_who_split_it(demo, client):
    from finance import services
    from scm_portal.tenancy.models import Organization
    from tests.finance.factories import ctx

    original = confirmed_receivable("1000.00")
    rep, context = ctx("supa.rep")
    part, = services.receivable_split(tenant=context.tenant, actor=rep, context=context, receivable=original,
                                      parts=[(Decimal("400.00"), Organization.objects.get(slug="sup-b"))])
    html = page(login(client, "supb.rep"), F + "receivables/")
    assert f'data-id="{part.pk}"' in html and 'data-testid="receivable-part"' in html and "400.00 CNY" in html
    assert f'data-id="{original.pk}"' not in html
    assert f'data-testid="apply-receivable-{part.pk}"' in page(client, F + "apply/")
    html = page(login(client, "supa.rep"), F + "receivables/")
    assert f'data-id="{part.pk}"' in html and "600.00 CNY" in html  # its own, reduced by the part
    assert f'data-testid="apply-receivable-{part.pk}"' not in page(client, F + "apply/")


def test_the_holder_transfers_a_part_on_the_page_and_the_sum_stays_exact(demo, client):
    from finance.models import Receivable

    original = confirmed_receivable("1000.00")
    url = F + f"receivables/{original.pk}/split/"
    login(client, "supa.rep")
    assert 'data-testid="receivable-split-form"' in page(client, F + "receivables/")
    before = snapshot()
    for form, status in (({"amount": "1000.01", "to": "sup-b"}, 400), ({"amount": "0.001", "to": "sup-b"}, 400),
                         ({"amount": "1e2", "to": "sup-b"}, 400), ({"amount": "100.00", "to": "sup-a"}, 400),
                         ({"amount": "100.00", "to": "bank"}, 400), ({"amount": "100.00"}, 400)):
        response = client.post(url, form)
        assert response.status_code == status and 'data-testid="receivables-error"' in response.content.decode(), form
    assert login(client, "supb.rep").post(url, {"amount": "1.00", "to": "sup-a"}).status_code == 404
    assert login(client, "acme.finance").post(url, {"amount": "1.00", "to": "sup-b"}).status_code == 403
    assert snapshot() == before
    assert login(client, "supa.rep").post(url, {"amount": "333.33", "to": "sup-b"}).status_code == 302
    original.refresh_from_db()
    part = Receivable.objects.get(parent=original)
    assert original.amount + part.amount == Decimal("1000.00") and part.holder.slug == "sup-b"
    assert f'data-id="{part.pk}"' in page(login(client, "supb.rep"), F + "receivables/")


# --- applying, the cost first -----------------------------------------------------------------------


def test_the_cost_shows_before_applying_and_the_application_is_made_at_that_cost(demo, client):
    receivable = confirmed_receivable("2000.00", due_in=60)
    login(client, "supa.rep")
    html = page(client, F + f"apply/?receivable={receivable.pk}")
    assert f'value="{receivable.pk}" checked data-testid="apply-receivable-{receivable.pk}"' in html
    assert 'data-testid="apply-submit"' not in html  # no way to apply before a quote
    form = {"receivables": [receivable.pk], "amount": "1000.00", "funder": "bank"}

    # Without JavaScript: the "show the cost" button
    response = client.post(F + "apply/", {**form, "action": "quote"})
    html = response.content.decode()
    expected = (Decimal("1000.00") * Decimal("0.06") * 60 / 365).quantize(Decimal("0.01"))
    assert response.status_code == 200 and f'data-cost="{expected}"' in html and 'data-days="60"' in html
    assert "6%" in html and f"{Decimal('1000.00') - expected:,} CNY" in html and 'data-testid="apply-submit"' in html
    assert not FinancingApplication.objects.exists()

    # With htmx: the quote part alone; a refusal is shown in its place
    response = client.post(F + "apply/quote/", form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and f'data-cost="{expected}"' in response.content.decode()
    assert "<html" not in response.content.decode()
    response = client.post(F + "apply/quote/", {**form, "amount": "1800.01"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="quote-error"' in html and "At most 1800.00" in html
    assert 'data-testid="apply-submit"' not in html
    assert not FinancingApplication.objects.exists()

    response = client.post(F + "apply/", {**form, "action": "apply", "quoted_cost": str(expected)})
    application = FinancingApplication.objects.get()
    assert response.status_code == 302 and response["Location"] == detail(application)
    assert application.cost == expected and application.amount == Decimal("1000.00") and application.state == "requested"
    html = page(client, detail(application))
    assert 'data-state="requested"' in html and 'data-testid="fa-message"' in html  # the card, in the conversation
    assert f'data-id="{application.pk}" data-state="requested"' in page(client, F)


def test_applying_at_a_cost_not_shown_is_refused(demo, client):
    receivable = confirmed_receivable("2000.00")
    before = snapshot()
    form = {"receivables": [receivable.pk], "amount": "1000.00", "funder": "bank", "action": "apply"}
    response = login(client, "supa.rep").post(F + "apply/", {**form, "quoted_cost": "0.01"})
    assert response.status_code == 409 and 'data-testid="quote"' in response.content.decode()
    assert client.post(F + "apply/", form).status_code == 409  # no quote seen at all
    assert snapshot() == before


BAD_AMOUNTS = {
    "1e3": "decimal number", "1,000.00": "decimal number", "NaN": "decimal number", "Infinity": "decimal number",
    " 100": "decimal number", "0x10": "decimal number", "100.": "decimal number", "-100.00": "decimal number",
    "0": "greater than zero", "100.001": "decimal places", "0.005": "decimal places",
    "1800.01": "At most 1800.00", "": "required",
}


@pytest.mark.parametrize("amount", sorted(BAD_AMOUNTS))
def test_bad_amounts_are_refused_with_their_reason_and_nothing_made(demo, client, amount):
    receivable = confirmed_receivable("2000.00")
    before = snapshot()
    form = {"receivables": [receivable.pk], "amount": amount, "funder": "bank"}
    login(client, "supa.rep")
    for action in ("quote", "apply"):
        response = client.post(F + "apply/", {**form, "action": action, "quoted_cost": "1.00"})
        html = response.content.decode()
        assert response.status_code == 400 and 'data-testid="quote-error"' in html, (action, response.status_code)
        assert BAD_AMOUNTS[amount] in html
    response = client.post(F + "apply/quote/", form)
    assert response.status_code == 400
    assert snapshot() == before


def test_missing_foreign_or_pledged_receivables_and_an_unknown_funder_are_refused(demo, client):
    mine = confirmed_receivable("2000.00")
    theirs = confirmed_receivable("2000.00", supplier="sup-b")
    pledged = confirmed_receivable("2000.00")
    apply([pledged], "100.00")
    before = snapshot()
    login(client, "supa.rep")
    assert 'data-testid="quote-error"' in client.post(F + "apply/", {}).content.decode()
    assert 'data-testid="invoice-error"' in client.post(F + "invoices/", {}).content.decode()
    for form in ({"amount": "100.00", "funder": "bank"},
                 {"receivables": [theirs.pk], "amount": "100.00", "funder": "bank"},
                 {"receivables": [pledged.pk], "amount": "100.00", "funder": "bank"},
                 {"receivables": ["x"], "amount": "100.00", "funder": "bank"},
                 {"receivables": [mine.pk], "amount": "100.00", "funder": "sup-b"},
                 {"receivables": [mine.pk], "amount": "100.00"}):
        response = client.post(F + "apply/", {**form, "action": "apply", "quoted_cost": "0.99"})
        assert response.status_code == 400 and 'data-testid="quote-error"' in response.content.decode(), form
    assert snapshot() == before


# --- the approvers' queue, with 2FA -------------------------------------------------------------------


def test_approvers_approve_from_their_queue_after_verifying_and_never_twice(demo, client):
    application = apply([confirmed_receivable("2000.00")], "1000.00")
    queue = F + "approvals/"
    login(client, "acme.finance")
    html = page(client, queue)
    assert f'data-id="{application.pk}"' in html and "1,000.00 CNY" in html and "华东零部件有限公司" in html
    assert 'data-testid="totp-prompt"' in html and 'data-testid="fa-approve"' not in html
    assert 'data-testid="fa-message"' in html  # the conversation: the application's card

    # Unverified: refused with the reason, nothing changed
    before = snapshot()
    response = client.post(detail(application) + "approve/", {"next": queue})
    assert response.status_code == 403 and "authenticator" in response.content.decode()
    assert snapshot() == before

    verify(client, next_url=queue)
    html = page(client, queue)
    assert 'data-testid="fa-approve"' in html and 'data-testid="totp-fresh"' in html
    response = client.post(detail(application) + "approve/", {"next": queue})
    assert response.status_code == 302 and response["Location"] == queue
    application.refresh_from_db()
    assert application.state == "core_review"
    assert f'data-id="{application.pk}"' not in page(client, queue)  # decided: out of my queue

    # The same code again: refused, shown
    response = client.post("/accounts/totp/verify/", {"code": code(), "next": queue}, follow=True)
    assert "wrong or was already used" in response.content.decode()
    # Approving twice: refused
    before = snapshot()
    response = client.post(detail(application) + "approve/")
    assert response.status_code == 409 and 'data-testid="fa-error"' in response.content.decode()
    assert snapshot() == before

    login(client, "acme.cfo")
    verify(client, next_url=queue)
    assert client.post(detail(application) + "approve/", {"next": queue}).status_code == 302
    application.refresh_from_db()
    assert application.state == "funder_review"
    assert [a.approver.username for a in application.approvals.all()] == ["acme.finance", "acme.cfo"]


def test_a_verification_older_than_money_otp_max_age_asks_again(demo, client, settings):
    from django.utils import timezone

    from scm_portal.tenancy.models import TotpVerification
    from scm_portal.tenancy.totp import VERIFICATION_TTL

    application = apply([confirmed_receivable("2000.00")], "1000.00")
    login(client, "acme.finance")
    verify(client)
    assert 'data-testid="fa-approve"' in page(client, detail(application))
    # verified MONEY_OTP_MAX_AGE + 1 minute ago: the session still carries it, money actions do not
    verified_at = timezone.now() - timedelta(seconds=settings.MONEY_OTP_MAX_AGE + 60)
    TotpVerification.objects.filter(user__username="acme.finance").update(expires_at=verified_at + VERIFICATION_TTL)
    html = page(client, detail(application))
    assert 'data-testid="totp-prompt"' in html and 'data-testid="fa-approve"' not in html
    before = snapshot()
    response = client.post(detail(application) + "approve/")
    assert response.status_code == 403 and 'data-testid="totp-prompt"' in response.content.decode()
    assert snapshot() == before


def test_reject_needs_a_reason_and_2fa(demo, client):
    application = apply([confirmed_receivable("2000.00")], "1000.00")
    login(client, "acme.finance")
    before = snapshot()
    assert client.post(detail(application) + "reject/", {"reason": "资料不全"}).status_code == 403
    verify(client)
    response = client.post(detail(application) + "reject/", {"reason": ""})
    assert response.status_code == 400 and "Give a reason" in response.content.decode()
    assert snapshot() == before
    assert client.post(detail(application) + "reject/", {"reason": "资料不全"}).status_code == 302
    application.refresh_from_db()
    assert application.state == "rejected" and application.reason == "资料不全"
    html = page(login(client, "supa.rep"), "/t/acme/")
    assert 'data-testid="financing-rejected"' in html and f"FA-{application.pk}" in html


def test_wrong_roles_on_the_money_forms_are_refused(demo, client):
    application = apply([confirmed_receivable("2000.00")], "1000.00")
    before = snapshot()
    assert login(client, "supa.rep").post(detail(application) + "approve/").status_code == 403
    assert client.post(detail(application) + "repay/").status_code == 403
    assert login(client, "acme.auditor").post(detail(application) + "approve/").status_code == 403
    assert login(client, "supb.rep").post(detail(application) + "approve/").status_code == 404
    assert login(client, "supa.rep").post(f"/t/globex/financing/{application.pk}/withdraw/", {"reason": "x"}).status_code == 404
    assert login(client, "globex.buyer").post(f"/t/globex/financing/{application.pk}/approve/").status_code == 403
    response = login(client, "bank.officer").post(detail(application) + "disburse/", {"idempotency_key": "k"})
    assert response.status_code in (403, 409)
    assert snapshot() == before


def test_a_queue_costs_the_same_queries_for_one_application_or_many(demo, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login(client, "acme.finance")
    client.get(F + "approvals/")  # the session's first read is not the page's cost

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(F + "approvals/").status_code == 200
        return len(captured)

    apply([confirmed_receivable("2000.00")], "100.00")
    one = queries()
    for _ in range(4):
        apply([confirmed_receivable("2000.00")], "100.00")
    assert page(client, F + "approvals/").count('data-testid="fa-queue-item"') == 5
    assert queries() == one


# --- the funder's queue: approve, then disburse exactly once ------------------------------------------


def test_the_funder_approves_and_disburses_once_however_often_the_form_is_sent(demo, client):
    application = apply([confirmed_receivable("2000.00")], "1000.00")
    approve(application, "acme.finance")
    approve(application, "acme.cfo")
    queue = F + "funder/"
    login(client, "bank.officer")
    html = page(client, queue)
    assert f'data-id="{application.pk}"' in html and 'data-testid="totp-prompt"' in html
    verify(client, next_url=queue)
    html = page(client, queue)
    assert 'data-testid="fa-approve"' in html and 'data-testid="fa-disburse"' not in html
    assert client.post(detail(application) + "approve/", {"next": queue}).status_code == 302
    html = page(client, queue)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    assert 'data-testid="fa-disburse"' in html and 'data-testid="fa-ready"' in html

    # A double click: the same form twice
    for _ in range(2):
        response = client.post(detail(application) + "disburse/", {"idempotency_key": key, "next": queue})
        assert response.status_code == 302
    assert Disbursement.objects.filter(application=application).count() == 1
    application.refresh_from_db()
    assert application.state == "disbursed"
    # Another form (another key) once disbursed: refused
    response = client.post(detail(application) + "disburse/", {"idempotency_key": "another"})
    assert response.status_code == 409 and 'data-testid="fa-error"' in response.content.decode()
    response = client.post(detail(application) + "disburse/", {})
    assert response.status_code == 400
    assert Disbursement.objects.count() == 1
    html = page(client, detail(application))
    assert 'data-state="disbursed"' in html and 'data-testid="fa-disbursement"' in html


def test_the_funder_rejects_with_a_reason_and_the_receivables_are_free_again(demo, client):
    application = apply([confirmed_receivable("2000.00")], "1000.00")
    approve(application, "acme.finance")
    approve(application, "acme.cfo")
    login(client, "bank.officer")
    verify(client)
    before = snapshot()
    assert client.post(detail(application) + "reject/", {"reason": ""}).status_code == 400
    assert snapshot() == before
    assert client.post(detail(application) + "reject/", {"reason": "额度不足", "next": F + "funder/"}).status_code == 302
    application.refresh_from_db()
    assert application.state == "rejected" and application.receivables.get().state == "confirmed"
    assert 'data-testid="fa-queue-empty"' in page(client, F + "funder/")


# --- the repayment calendar ---------------------------------------------------------------------------


def test_the_calendar_lists_disbursed_financing_by_week_marks_overdue_and_repays(demo, client):
    due_later = funder_approved()
    disburse(due_later, key="k-later")
    overdue = funder_approved()
    disburse(overdue, key="k-overdue")
    FinancingApplication.objects.filter(pk=overdue.pk).update(maturity_date=tenant_today() - timedelta(days=3))
    login(client, "acme.finance")
    html = page(client, F + "calendar/")
    assert re.search(rf'data-testid="fa-due" data-id="{overdue.pk}" data-overdue="true"', html)
    assert re.search(rf'data-testid="fa-due" data-id="{due_later.pk}" data-overdue="false"', html)
    assert html.index(f'data-id="{overdue.pk}"') < html.index(f'data-id="{due_later.pk}"')
    assert html.count('data-testid="fa-week"') == 2
    assert 'data-testid="fa-repay"' not in page(login(client, "acme.auditor"), F + "calendar/")
    assert login(client, "acme.auditor").post(detail(overdue) + "repay/").status_code == 403
    login(client, "acme.finance")
    response = client.post(detail(overdue) + "repay/", {"next": F + "calendar/"})
    assert response.status_code == 302 and response["Location"] == F + "calendar/"
    overdue.refresh_from_db()
    assert overdue.state == "repaid"
    assert f'data-id="{overdue.pk}"' not in page(client, F + "calendar/")
    assert 'data-testid="fa-repayment"' in page(client, detail(overdue))


# --- the application page and its conversation -----------------------------------------------------


def test_the_application_page_shows_history_approvals_and_a_message_joins_the_conversation(demo, client):
    application = funder_approved()
    disburse(application)
    html = page(login(client, "supa.rep"), detail(application))
    assert 'data-state="disbursed"' in html
    for username in ("acme.finance", "acme.cfo", "bank.officer"):
        assert f'data-approver="{username}" data-decision="approve"' in html
    assert 'data-testid="fa-history"' in html and 'data-testid="fa-disbursement"' in html
    assert client.post(detail(application) + "comment/", {"body": "款项已收到,谢谢"}).status_code == 302
    message = Message.objects.get(kind="chat", subject_kind="financing_application", subject_ref=str(application.pk))
    assert message.sender.username == "supa.rep"
    assert "款项已收到,谢谢" in page(client, detail(application))
    assert client.post(detail(application) + "comment/", {"body": ""}).status_code == 400
    html = page(login(client, "acme.auditor"), detail(application))
    assert "款项已收到,谢谢" in html and 'data-testid="fa-comment-form"' not in html
    assert client.post(detail(application) + "comment/", {"body": "审计留言"}).status_code == 403


def test_the_supplier_withdraws_with_a_reason(demo, client):
    application = apply([confirmed_receivable("2000.00")], "1000.00")
    login(client, "supa.rep")
    assert 'data-testid="fa-withdraw"' in page(client, detail(application))
    assert client.post(detail(application) + "withdraw/", {"reason": ""}).status_code == 400
    assert client.post(detail(application) + "withdraw/", {"reason": "不需要了"}).status_code == 302
    application.refresh_from_db()
    assert application.state == "withdrawn"
    assert client.post(detail(application) + "withdraw/", {"reason": "again"}).status_code == 409


# --- the dashboard ------------------------------------------------------------------------------------


def test_the_dashboard_shows_financing_awaiting_each_reader(demo, client):
    free = confirmed_receivable("3000.00")
    application = apply([confirmed_receivable("2000.00")], "1000.00")
    html = page(login(client, "supa.rep"), "/t/acme/")
    assert 'data-panel="financing_awaiting"' in html and f"?receivable={free.pk}" in html
    assert 'data-testid="financing-awaiting-none"' in page(login(client, "supb.rep"), "/t/acme/")
    html = page(login(client, "acme.finance"), "/t/acme/")
    assert f"FA-{application.pk}" in html and 'data-testid="financing-to-approve"' in html
    assert 'data-testid="financing-awaiting-none"' in page(login(client, "bank.officer"), "/t/acme/")
    approve(application, "acme.finance")
    assert 'data-testid="financing-to-approve"' not in page(login(client, "acme.finance"), "/t/acme/")
    assert f"FA-{application.pk}" in page(login(client, "acme.cfo"), "/t/acme/")
    approve(application, "acme.cfo")
    html = page(login(client, "bank.officer"), "/t/acme/")
    assert 'data-testid="financing-for-funder"' in html and f"FA-{application.pk}" in html
    assert 'data-panel="financing_awaiting"' not in page(login(client, "acme.buyer"), "/t/acme/")


def test_the_financing_pages_in_chinese(demo, client):
    application = apply([confirmed_receivable("2000.00")], "1000.00")
    login(client, "acme.finance")
    html = client.get(F + "approvals/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "审批" in html and "Approval queue" not in html
    html = client.get(detail(application), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "融资" in html


# --- TOTP enrolment ---------------------------------------------------------------------------------


def test_enrolment_shows_a_secret_and_a_first_code_confirms_it(demo, client):
    login(client, "supa.rep")
    html = page(client, "/accounts/totp/")
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', html).group(1)
    assert f"otpauth://totp/SCM%20Portal:supa.rep?secret={secret}" in html.replace("&amp;", "&")
    assert page(client, "/accounts/totp/").count(secret) >= 1  # the same secret until confirmed
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    response = client.post("/accounts/totp/", {"code": wrong})
    assert response.status_code == 400 and 'data-testid="totp-error"' in response.content.decode()
    assert not TotpDevice.objects.filter(user__username="supa.rep").exists()
    assert client.post("/accounts/totp/", {"code": "12ab"}).status_code == 400
    response = client.post("/accounts/totp/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert TotpDevice.objects.get(user__username="supa.rep").secret == secret
    html = page(client, "/accounts/totp/")
    assert 'data-testid="totp-enrolled"' in html and 'data-testid="totp-fresh"' in html and secret not in html


def test_an_enrolled_user_replaces_the_authenticator_only_after_verifying(demo, client):
    login(client, "acme.finance")
    html = page(client, "/accounts/totp/?renew=1")
    assert 'data-testid="totp-secret"' not in html and 'data-testid="totp-verify-form"' in html
    response = client.post("/accounts/totp/", {"code": code(), "renew": "1"})
    assert response.status_code == 400
    assert TotpDevice.objects.get(user__username="acme.finance").secret == DEFAULT_TOTP_SECRET
    verify(client, next_url="/accounts/totp/")
    html = page(client, "/accounts/totp/?renew=1")
    assert 'data-testid="totp-secret"' in html


def test_the_verify_form_refuses_bad_and_reused_codes_and_foreign_next(demo, client):
    login(client, "acme.finance")
    response = client.post("/accounts/totp/verify/", {"code": "abc", "next": F}, follow=True)
    assert "6-digit code" in response.content.decode()
    response = client.post("/accounts/totp/verify/", {"code": code(), "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/accounts/totp/"
    response = client.post("/accounts/totp/verify/", {"code": code(), "next": F}, follow=True)
    assert "wrong or was already used" in response.content.decode()
    assert client.get("/accounts/totp/verify/").status_code == 405
    page(login(client, "supa.rep"), F + "approvals/", 403)
