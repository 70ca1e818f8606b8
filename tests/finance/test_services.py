"""finance.services: invoices against received value, confirmation, split, quote and apply, four
eyes, disbursement exactly once, repayment and the overdue sweep."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from alerts.models import Alert
from alerts.registry import alert_texts
from finance import services
from finance.models import (
    Approval,
    Disbursement,
    FinanceConflict,
    FinancingApplication,
    FinancingDispute,
    FinancingTerms,
    Invoice,
    OtpRequired,
    Receivable,
    Repayment,
)
from messaging.texts import text_render
from scm_portal.tenancy.models import Organization
from tests.finance.factories import (
    apply,
    approve,
    confirmed_receivable,
    ctx,
    disburse,
    funder_approved,
    invoice,
    received_po,
    tenant_today,
)

pytestmark = pytest.mark.django_db


def snapshot():
    """Every finance row, to show that a refusal changed nothing."""
    return [
        list(model.objects.order_by("pk").values())
        for model in (Invoice, Receivable, FinancingApplication, Approval, Disbursement, Repayment, FinancingDispute)
    ]


# --- invoices ----------------------------------------------------------------------------------


def test_an_invoice_may_claim_the_received_value_not_yet_invoiced(demo):
    # 10 × 100.00 ordered, 7 accepted: 700.00 may be invoiced, in parts.
    po = received_po(lines=((10, "100.00"),), accepted=[7])
    first = invoice(po, "400.00")
    assert first.receivable.amount == Decimal("400.00") and first.receivable.state == "pending"
    assert first.receivable.holder.slug == "sup-a"
    before = snapshot()
    with pytest.raises(ValidationError) as caught:
        invoice(po, "300.01")
    assert "amount" in caught.value.message_dict
    assert snapshot() == before
    invoice(po, "300.00")


def test_a_rejected_invoice_frees_its_value(demo):
    po = received_po(lines=((2, "50.00"),))
    inv = invoice(po, "100.00")
    actor, context = ctx("acme.finance")
    services.invoice_reject(tenant=po.tenant, actor=actor, context=context, invoice=inv, reason="wrong price")
    inv.refresh_from_db()
    assert inv.state == "rejected" and inv.reject_reason == "wrong price"
    assert inv.receivables.get().state == "rejected"
    invoice(po, "100.00")


@pytest.mark.parametrize("username, error", [("supb.rep", PermissionDenied), ("acme.buyer", PermissionDenied)])
def test_only_the_pos_supplier_invoices_it(demo, username, error):
    po = received_po()
    before = snapshot()
    with pytest.raises(error):
        invoice(po, "10.00", username=username)
    assert snapshot() == before


@pytest.mark.parametrize("amount, currency", [("10.001", "CNY"), ("0", "CNY"), ("10.00", "USD"), ("1.00", "XYZ")])
def test_an_invoice_in_the_wrong_money_is_refused(demo, amount, currency):
    po = received_po()
    actor, context = ctx("supa.rep")
    before = snapshot()
    with pytest.raises(ValidationError):
        services.invoice_create(tenant=po.tenant, actor=actor, context=context, purchase_order=po, number="X-1",
                                amount=Decimal(amount), currency=currency)
    assert snapshot() == before


def test_an_invoice_number_is_unique_per_supplier(demo):
    po = received_po(lines=((10, "10.00"),))
    invoice(po, "10.00", number="INV-A")
    with pytest.raises(FinanceConflict):
        invoice(po, "10.00", number="INV-A")


def test_jpy_invoices_have_no_decimals(demo):
    po = received_po(currency="JPY", lines=((3, "1000"),))
    assert invoice(po, "3000").amount == Decimal("3000")
    with pytest.raises(ValidationError):
        invoice(received_po(currency="JPY", lines=((3, "1000"),)), "2999.5")


def test_confirm_needs_a_finance_approver_and_a_future_date(demo):
    po = received_po()
    inv = invoice(po, "100.00")
    for username in ("acme.buyer", "supa.rep"):
        actor, context = ctx(username)
        with pytest.raises(PermissionDenied):
            services.receivable_confirm(tenant=po.tenant, actor=actor, context=context, receivable=inv.receivable,
                                        due_date=tenant_today() + timedelta(days=30))
    actor, context = ctx("acme.finance")
    with pytest.raises(ValidationError):
        services.receivable_confirm(tenant=po.tenant, actor=actor, context=context, receivable=inv.receivable,
                                    due_date=tenant_today() - timedelta(days=1))
    receivable = services.receivable_confirm(tenant=po.tenant, actor=actor, context=context, receivable=inv.receivable,
                                             due_date=tenant_today() + timedelta(days=30))
    assert receivable.state == "confirmed"
    assert Invoice.objects.get(pk=inv.pk).state == "confirmed"
    with pytest.raises(FinanceConflict):
        services.receivable_confirm(tenant=po.tenant, actor=actor, context=context, receivable=inv.receivable,
                                    due_date=tenant_today() + timedelta(days=30))


# --- split -------------------------------------------------------------------------------------


def test_a_split_keeps_the_sum_and_the_lower_tier_holds_and_sees_its_part(demo):
    receivable = confirmed_receivable("1000.00")
    actor, context = ctx("supa.rep")
    sup_b = Organization.objects.get(slug="sup-b")
    parts = services.receivable_split(tenant=context.tenant, actor=actor, context=context, receivable=receivable,
                                      parts=[(Decimal("333.33"), sup_b), (Decimal("0.01"), sup_b)])
    receivable.refresh_from_db()
    assert receivable.amount == Decimal("666.66")
    assert receivable.amount + sum(p.amount for p in parts) == Decimal("1000.00")
    assert {p.parent_id for p in parts} == {receivable.pk} and {p.holder.slug for p in parts} == {"sup-b"}
    supb, supb_context = ctx("supb.rep")
    seen = set(Receivable.objects.visible_to(supb, context=supb_context).values_list("pk", flat=True))
    assert seen == {p.pk for p in parts}
    # sup-a sees its own and the parts it split off.
    supa_seen = set(Receivable.objects.visible_to(actor, context=context).values_list("pk", flat=True))
    assert {receivable.pk, *(p.pk for p in parts)} <= supa_seen
    # The lower tier finances its part.
    application = apply([parts[0]], "299.99", username="supb.rep")
    assert application.supplier.slug == "sup-b"


def test_a_whole_transfer_leaves_the_original_at_zero(demo):
    receivable = confirmed_receivable("500.00")
    actor, context = ctx("supa.rep")
    services.receivable_split(tenant=context.tenant, actor=actor, context=context, receivable=receivable,
                              parts=[(Decimal("500.00"), Organization.objects.get(slug="sup-b"))])
    receivable.refresh_from_db()
    assert (receivable.amount, receivable.state) == (Decimal("0"), "transferred")


@pytest.mark.parametrize("parts", [
    [("600.00", "sup-b")],  # more than the receivable
    [("100.001", "sup-b")],  # more decimals than CNY
    [("100.00", "sup-a")],  # to the holder itself
    [("100.00", "bank")],  # not a supplier
    [("100.00", "canary-none")],  # not a partner
])
def test_bad_splits_are_refused_with_nothing_changed(demo, parts):
    receivable = confirmed_receivable("500.00")
    actor, context = ctx("supa.rep")
    parts = [(Decimal(a), Organization.objects.filter(slug=s).first()) for a, s in parts]
    before = snapshot()
    with pytest.raises(ValidationError):
        services.receivable_split(tenant=context.tenant, actor=actor, context=context, receivable=receivable, parts=parts)
    assert snapshot() == before


def test_only_the_holder_splits(demo):
    receivable = confirmed_receivable("500.00")
    actor, context = ctx("supb.rep")
    with pytest.raises(PermissionDenied):
        services.receivable_split(tenant=context.tenant, actor=actor, context=context, receivable=receivable,
                                  parts=[(Decimal("1.00"), Organization.objects.get(slug="sup-b"))])


# --- quote and apply ---------------------------------------------------------------------------


def test_the_quote_prices_what_apply_records(demo):
    receivable = confirmed_receivable("10000.00", due_in=73)
    FinancingTerms.objects.create(tenant=receivable.tenant, funder=Organization.objects.get(slug="bank"),
                                  annual_rate=Decimal("0.05"), advance_rate=Decimal("0.8"))
    actor, context = ctx("supa.rep")
    quote = services.financing_quote(tenant=context.tenant, actor=actor, context=context, receivables=[receivable.pk],
                                     amount=Decimal("8000.00"), funder=Organization.objects.get(slug="bank"))
    days = (receivable.due_date - services._today(receivable.tenant)).days
    assert quote.days == days
    assert quote.cost == (Decimal("8000.00") * Decimal("0.05") * days / 365).quantize(Decimal("0.01"))
    assert quote.limit == Decimal("8000.00")
    assert FinancingApplication.objects.count() == 0  # a quote writes nothing
    application = apply([receivable], "8000.00")
    assert (application.cost, application.days, application.annual_rate) == (quote.cost, quote.days, Decimal("0.05"))
    assert Receivable.objects.get(pk=receivable.pk).state == "pledged"


def test_usd_quotes_count_360_days(demo):
    receivable = confirmed_receivable("1000.00", currency="USD", due_in=90)
    actor, context = ctx("supa.rep")
    quote = services.financing_quote(tenant=context.tenant, actor=actor, context=context, receivables=[receivable.pk],
                                     amount=Decimal("900.00"), funder=Organization.objects.get(slug="bank"))
    assert quote.cost == (Decimal("900.00") * Decimal("0.06") * quote.days / 360).quantize(Decimal("0.01"))


def test_apply_refuses_more_than_the_advance_rate(demo):
    receivable = confirmed_receivable("1000.00")
    before = snapshot()
    with pytest.raises(ValidationError):
        apply([receivable], "900.01")  # default advance rate 90 %
    assert snapshot() == before


def test_the_funder_must_be_a_funder_partner(demo):
    receivable = confirmed_receivable("1000.00")
    before = snapshot()
    with pytest.raises(ValidationError):
        apply([receivable], "100.00", funder="sup-b")
    assert snapshot() == before


def test_a_pledged_receivable_is_not_financed_twice(demo):
    receivable = confirmed_receivable("1000.00")
    apply([receivable], "100.00")
    with pytest.raises(FinanceConflict):
        apply([Receivable.objects.get(pk=receivable.pk)], "100.00")


def test_another_suppliers_receivable_is_refused(demo):
    receivable = confirmed_receivable("1000.00", supplier="sup-b")
    with pytest.raises(ValidationError):
        apply([receivable], "100.00", username="supa.rep")


# --- four eyes ---------------------------------------------------------------------------------


def test_two_distinct_core_approvers_then_the_funder(demo):
    application = apply([confirmed_receivable()], "900.00")
    application = approve(application, "acme.finance")
    assert application.state == "core_review"
    before = snapshot()
    with pytest.raises(FinanceConflict) as caught:
        approve(application, "acme.finance")  # the same approver twice
    assert caught.value.code == "already_decided"
    assert snapshot() == before
    with pytest.raises(FinanceConflict):
        approve(application, "bank.officer")  # the funder's turn has not come
    application = approve(application, "acme.cfo")
    assert application.state == "funder_review"
    application = approve(application, "bank.officer")
    assert application.funder_approved_at is not None
    disbursement, replayed = disburse(application)
    assert not replayed and disbursement.amount == Decimal("900.00")
    assert FinancingApplication.objects.get(pk=application.pk).state == "disbursed"


@pytest.mark.parametrize("username", ["supa.rep", "acme.buyer", "acme.admin", "supb.rep"])
def test_others_never_approve(demo, username):
    application = apply([confirmed_receivable()], "900.00")
    before = snapshot()
    with pytest.raises(PermissionDenied):
        approve(application, username)
    assert snapshot() == before


def test_a_money_action_without_a_fresh_second_factor_is_refused(demo, settings):
    settings.MONEY_OTP_MAX_AGE = 600
    application = apply([confirmed_receivable()], "900.00")
    actor, context = ctx("acme.finance")
    before = snapshot()
    for verified_at in (None, timezone.now() - timedelta(seconds=601)):
        with pytest.raises(OtpRequired):
            services.financing_approve(tenant=context.tenant, actor=actor, context=context, application=application,
                                       verified_at=verified_at)
        with pytest.raises(OtpRequired):
            services.financing_reject(tenant=context.tenant, actor=actor, context=context, application=application,
                                      reason="no", verified_at=verified_at)
    assert snapshot() == before
    services.financing_approve(tenant=context.tenant, actor=actor, context=context, application=application,
                               verified_at=timezone.now() - timedelta(seconds=590))


def test_reject_and_withdraw_free_the_receivables(demo):
    receivable = confirmed_receivable()
    application = apply([receivable], "900.00")
    actor, context = ctx("acme.cfo")
    services.financing_reject(tenant=context.tenant, actor=actor, context=context, application=application,
                              reason="too much", verified_at=timezone.now())
    assert Receivable.objects.get(pk=receivable.pk).state == "confirmed"
    application = apply([Receivable.objects.get(pk=receivable.pk)], "800.00")
    actor, context = ctx("supa.rep")
    services.financing_withdraw(tenant=context.tenant, actor=actor, context=context, application=application, reason="later")
    assert FinancingApplication.objects.get(pk=application.pk).state == "withdrawn"
    assert Receivable.objects.get(pk=receivable.pk).state == "confirmed"


# --- disbursement and after --------------------------------------------------------------------


def test_disbursement_is_exactly_once_and_a_retry_replays(demo):
    application = funder_approved()
    first, replayed = disburse(application, key="k-1")
    again, replayed_again = disburse(application, key="k-1")
    assert not replayed and replayed_again
    assert again.pk == first.pk and bytes(again.response_body) == bytes(first.response_body)
    with pytest.raises(FinanceConflict) as caught:
        disburse(application, key="k-2")
    assert caught.value.code == "already_disbursed"
    assert Disbursement.objects.count() == 1


def test_a_key_reused_for_another_application_is_a_conflict(demo):
    first = funder_approved()
    second = funder_approved()
    disburse(first, key="shared")
    with pytest.raises(FinanceConflict) as caught:
        disburse(second, key="shared")
    assert caught.value.code == "idempotency_key_reused"
    assert FinancingApplication.objects.get(pk=second.pk).state == "funder_review"


def test_disbursing_before_the_funder_approves_is_a_conflict(demo):
    application = apply([confirmed_receivable()], "900.00")
    for username in ("acme.finance", "acme.cfo"):
        application = approve(application, username)
    with pytest.raises(FinanceConflict):
        disburse(application)
    assert not Disbursement.objects.exists()


def test_repay_settles_the_receivables(demo):
    application = funder_approved()
    disburse(application)
    actor, context = ctx("acme.finance")
    repayment = services.financing_repay(tenant=context.tenant, actor=actor, context=context, application=application)
    assert repayment.amount == Decimal("900.00")
    assert FinancingApplication.objects.get(pk=application.pk).state == "repaid"
    assert set(Receivable.objects.filter(items__application=application).values_list("state", flat=True)) == {"settled"}
    with pytest.raises(FinanceConflict):
        services.financing_repay(tenant=context.tenant, actor=actor, context=context, application=application)


def test_the_sweep_marks_overdue_once_and_raises_an_alert(full_demo):
    application = funder_approved()
    disburse(application)
    assert services.financing_overdue_sweep(today=application.maturity_date) == 0  # due today: not yet
    assert services.financing_overdue_sweep(today=application.maturity_date + timedelta(days=1)) == 1
    application.refresh_from_db()
    assert application.state == "overdue" and application.overdue_at is not None
    alert = Alert.objects.get(kind="financing_overdue")
    assert alert.subject_ref == str(application.pk) and alert.partner.slug == "sup-a"
    assert f"FA-{application.pk}" in alert.title
    title, body = alert_texts(alert)  # the kind's texts, read per language
    assert text_render(title, "en") == f"Financing FA-{application.pk} is overdue"
    assert text_render(title, "zh-hans") == f"融资 FA-{application.pk} 已逾期"
    assert text_render(body, "en").endswith(f"was due on {application.maturity_date.isoformat()} and is not repaid.")
    assert services.financing_overdue_sweep(today=application.maturity_date + timedelta(days=2)) == 0
    # Overdue is still repaid.
    actor, context = ctx("acme.finance")
    services.financing_repay(tenant=context.tenant, actor=actor, context=context, application=application)
    assert FinancingApplication.objects.get(pk=application.pk).state == "repaid"


def test_every_transition_is_a_card_in_the_supplier_and_funder_rooms(demo):
    from messaging.models import Message

    application = funder_approved()
    disburse(application)
    actor, context = ctx("acme.finance")
    services.financing_repay(tenant=context.tenant, actor=actor, context=context, application=application)
    cards = Message.objects.filter(subject_kind="financing_application", subject_ref=str(application.pk)).order_by("pk")
    rooms = {}
    for card in cards:
        rooms.setdefault(card.room.partnership.organization.slug, []).append(card.payload["event"])
    expected = ["requested", "core_approved", "core_approved", "funder_approved", "disbursed", "repaid"]
    assert rooms == {"sup-a": expected, "bank": expected}
    repaid = cards.last()
    assert repaid.text["key"] == "finance.card.repaid" and repaid.text["params"]["id"] == application.pk
    assert text_render(repaid.text, "en") == f"Financing FA-{application.pk} was repaid: {repaid.payload['amount']} CNY."
    assert text_render(repaid.text, "zh-hans") == f"融资 FA-{application.pk} 已还款：{repaid.payload['amount']} CNY。"
    # A refused step posts nothing.
    with pytest.raises(FinanceConflict):
        disburse(application, key="another")
    assert cards.count() == 2 * len(expected)


def test_the_demo_seeds_a_receivable_and_an_application_awaiting_approval_once(full_demo):
    from finance import demo as finance_demo

    assert set(Receivable.objects.filter(holder__slug="sup-a").values_list("state", flat=True)) == {"confirmed", "pledged"}
    application = FinancingApplication.objects.get()
    assert (application.state, application.supplier.slug, application.funder.slug) == ("requested", "sup-a", "bank")
    before = snapshot()
    finance_demo.seed(full_demo)
    assert snapshot() == before


def test_a_due_date_past_ten_years_is_refused(demo):
    po = received_po()
    inv = invoice(po, "100.00")
    actor, context = ctx("acme.finance")
    before = snapshot()
    with pytest.raises(ValidationError):
        services.receivable_confirm(tenant=po.tenant, actor=actor, context=context, receivable=inv.receivable,
                                    due_date=tenant_today().replace(year=9999))
    assert snapshot() == before
