"""Disputes of a paid-out financing application: who raises and who settles one, the state it
returns to, repayment refused while disputed, the cards, the audit records, the overdue alert, the
API's answers (409, 403, 404, 400 with nothing changed), the page's forms, the trail's history and
the rules the database holds past the ORM."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from alerts.models import Alert
from audit.models import AuditRecord
from finance import services
from finance.models import FinanceConflict, FinancingApplication, FinancingDispute, Repayment
from messaging.models import Message
from messaging.texts import text_render
from tests.api_contract import assert_error, user
from tests.finance.factories import apply, confirmed_receivable, ctx, disburse, funder_approved
from tests.finance.test_services import snapshot
from tests.messaging.helpers import room_of

pytestmark = pytest.mark.django_db
T = "/api/v1/t/acme/financing-applications/"
F = "/t/acme/financing/"


def disbursed():
    application = funder_approved()
    disburse(application)
    return FinancingApplication.objects.get(pk=application.pk)


def repaid():
    application = disbursed()
    repay(application)
    return FinancingApplication.objects.get(pk=application.pk)


def overdue():
    application = disbursed()
    assert services.financing_overdue_sweep(today=application.maturity_date + timedelta(days=1)) == 1
    return FinancingApplication.objects.get(pk=application.pk)


def call(service, username, application, **kwargs):
    actor, context = ctx(username)
    return service(tenant=context.tenant, actor=actor, context=context,
                   application=FinancingApplication.objects.get(pk=application.pk), **kwargs)


def repay(application, username="acme.finance"):
    return call(services.financing_repay, username, application)


def dispute(application, username="supa.rep", reason="回款金额不符 / the repayment was short"):
    return call(services.financing_dispute, username, application, reason=reason)


def settle(application, username="acme.finance", resolution="Checked the bank statement: paid in full."):
    return call(services.financing_dispute_settle, username, application, resolution=resolution)


def refused(error, service, *args, **kwargs):
    before = snapshot()
    with pytest.raises(error) as caught:
        service(*args, **kwargs)
    assert snapshot() == before
    return caught.value


# --- the services -------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [disbursed, overdue, repaid])
@pytest.mark.parametrize("raiser", ["supa.rep", "acme.finance", "bank.officer"])
def test_a_paid_out_application_is_disputed_and_settled_back_to_where_it_was(demo, start, raiser):
    application = start()
    was = application.state
    application = dispute(application, raiser)
    assert application.state == "disputed"
    open_dispute = FinancingDispute.objects.get(application=application)
    assert (open_dispute.from_state, open_dispute.raised_by, open_dispute.settled_at) == (was, user(raiser), None)
    assert open_dispute.raised_for.slug == {"supa.rep": "sup-a", "acme.finance": "acme", "bank.officer": "bank"}[raiser]
    settler = "bank.officer" if raiser == "acme.finance" else "acme.finance"
    application = settle(application, settler)
    assert application.state == was
    open_dispute.refresh_from_db()
    assert open_dispute.settled_by == user(settler) and open_dispute.resolution.startswith("Checked")
    assert open_dispute.settled_at >= open_dispute.raised_at
    # It can be contested again, and settled again: one open at a time.
    dispute(application, "acme.cfo", reason="again")
    assert FinancingDispute.objects.filter(application=application, settled_at__isnull=True).count() == 1
    assert settle(application, "acme.cfo").state == was
    assert FinancingDispute.objects.filter(application=application).count() == 2


@pytest.mark.parametrize("username", ["acme.buyer", "acme.auditor", "acme.admin", "supb.rep"])
def test_who_may_not_raise_a_dispute(demo, username):
    application = disbursed()
    refused(PermissionDenied, dispute, application, username)


@pytest.mark.parametrize("username", ["supa.rep", "acme.buyer", "acme.auditor", "supb.rep"])
def test_the_applicant_raises_a_dispute_but_never_settles_one(demo, username):
    application = dispute(disbursed(), "bank.officer")
    refused(PermissionDenied, call, services.financing_dispute_settle, username, application, resolution="fine")
    assert FinancingApplication.objects.get(pk=application.pk).state == "disputed"


@pytest.mark.parametrize("state_of", ["requested", "core_review", "funder_review", "rejected", "withdrawn"])
def test_only_a_paid_out_application_is_disputed(demo, state_of):
    application = apply([confirmed_receivable()], "900.00")
    if state_of == "core_review":
        application = call(services.financing_approve, "acme.finance", application, verified_at=timezone.now())
    elif state_of == "funder_review":
        application = funder_approved()
    elif state_of == "rejected":
        application = call(services.financing_reject, "acme.finance", application, reason="no", verified_at=timezone.now())
    elif state_of == "withdrawn":
        application = call(services.financing_withdraw, "supa.rep", application, reason="later")
    assert application.state == state_of
    error = refused(FinanceConflict, dispute, application, "acme.finance")
    assert error.code == "illegal_transition"


def test_a_disputed_application_is_not_disputed_twice_nor_repaid_and_settling_needs_a_dispute(demo):
    application = disbursed()
    assert refused(FinanceConflict, settle, application).code == "illegal_transition"
    dispute(application)
    assert refused(FinanceConflict, dispute, application, "bank.officer").code == "illegal_transition"
    error = refused(FinanceConflict, repay, application)
    assert error.code == "disputed" and "disputed" in str(error)
    assert not Repayment.objects.filter(application=application).exists()
    settle(application)
    repay(application)
    assert FinancingApplication.objects.get(pk=application.pk).state == "repaid"


@pytest.mark.parametrize("text", ["", "   ", None, 12, "x" * 2001])
def test_a_reason_and_a_resolution_are_required(demo, text):
    application = disbursed()
    assert "reason" in refused(ValidationError, dispute, application, reason=text).message_dict
    dispute(application)
    assert "resolution" in refused(ValidationError, settle, application, resolution=text).message_dict


def test_each_step_is_a_card_in_both_rooms_and_an_audit_record(demo):
    application = dispute(repaid(), "bank.officer", reason="款项未到账")
    settle(application, "acme.cfo", resolution="到账确认")
    rooms = {room_of("acme", "sup-a").pk, room_of("acme", "bank").pk}
    for key in ("finance.card.disputed", "finance.card.dispute_settled"):
        cards = Message.objects.filter(subject_kind="financing_application", subject_ref=str(application.pk), text__key=key)
        assert {card.room_id for card in cards} == rooms, key
        assert all(card.actions == [] for card in cards)
    raised = Message.objects.filter(text__key="finance.card.disputed").first()
    assert raised.payload["state"] == "disputed"
    assert "款项未到账" in text_render(raised.text, "en") and f"FA-{application.pk}" in text_render(raised.text, "en")
    assert "款项未到账" in text_render(raised.text, "zh-hans")
    settled = Message.objects.filter(text__key="finance.card.dispute_settled").first()
    assert settled.payload["state"] == "repaid" and "到账确认" in text_render(settled.text, "en")
    records = list(AuditRecord.objects.filter(object_kind="financing_application", object_ref=str(application.pk),
                                              action__in=["financing_application.dispute",
                                                          "financing_application.settle_dispute"])
                   .order_by("seq").values_list("action", "before", "after", "actor__username"))
    assert [(a, b["state"], c["state"], who) for a, b, c, who in records] == [
        ("financing_application.dispute", "repaid", "disputed", "bank.officer"),
        ("financing_application.settle_dispute", "disputed", "repaid", "acme.cfo"),
    ]
    assert records[0][2]["reason"] == "款项未到账" and records[1][2]["resolution"] == "到账确认"


def test_disputing_an_overdue_application_leaves_its_alert_open_until_repaid(full_demo):
    application = overdue()
    alert = Alert.objects.get(kind="financing_overdue", subject_ref=str(application.pk))
    dispute(application)
    alert.refresh_from_db()
    assert alert.state != "resolved" and not alert.recovered
    settle(application)
    alert.refresh_from_db()
    assert alert.state != "resolved"
    assert FinancingApplication.objects.get(pk=application.pk).state == "overdue"
    repay(application)
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.recovered is True


def test_the_overdue_sweep_passes_a_disputed_application_by_until_it_is_settled(full_demo):
    application = dispute(disbursed())
    late = application.maturity_date + timedelta(days=1)
    assert services.financing_overdue_sweep(today=late) == 0
    assert FinancingApplication.objects.get(pk=application.pk).state == "disputed"
    assert not Alert.objects.filter(kind="financing_overdue").exists()
    settle(application)
    assert services.financing_overdue_sweep(today=late) == 1
    assert FinancingApplication.objects.get(pk=application.pk).state == "overdue"


# --- the API --------------------------------------------------------------------------------------


def test_dispute_and_settle_through_the_api(demo, api):
    application = disbursed()
    url = f"{T}{application.pk}/"
    api.as_user(user("supa.rep"))
    response = api.post(url + "dispute/", {"reason": "金额有误"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "disputed"
    assert [(d["from_state"], d["reason"], d["raised_by"], d["settled_by"], d["settled_at"]) for d in body["disputes"]] == [
        ("disbursed", "金额有误", "supa.rep", None, None)]
    # The applicant may not settle it; a second dispute is a conflict; repayment waits.
    assert_error(api.post(url + "settle-dispute/", {"resolution": "ok"}, format="json"), 403)
    assert_error(api.post(url + "dispute/", {"reason": "again"}, format="json"), 409, "illegal_transition")
    api.as_user(user("acme.finance"))
    before = snapshot()
    assert_error(api.post(url + "repay/", {}, format="json"), 409, "disputed")
    assert snapshot() == before
    response = api.post(url + "settle-dispute/", {"resolution": "核对无误"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "disbursed" and body["disputes"][0]["settled_by"] == "acme.finance"
    assert body["disputes"][0]["resolution"] == "核对无误"
    assert_error(api.post(url + "settle-dispute/", {"resolution": "again"}, format="json"), 409, "illegal_transition")
    assert api.get(T + "?state=disputed").json()["results"] == []


def test_an_application_not_paid_out_is_a_409(demo, api):
    application = apply([confirmed_receivable()], "900.00")
    api.as_user(user("acme.finance"))
    before = snapshot()
    assert_error(api.post(f"{T}{application.pk}/dispute/", {"reason": "x"}, format="json"), 409, "illegal_transition")
    assert snapshot() == before


@pytest.mark.parametrize("username, status", [
    ("acme.auditor", 403),  # reads it, may not write
    ("acme.admin", 403),  # reads it, is no finance approver
    ("supb.rep", 404),  # another supplier's application
    ("acme.buyer", 404),  # no finance reader
    ("globex.buyer", 404),
])
def test_who_gets_403_and_404(demo, api, username, status):
    application = disbursed()
    api.as_user(user(username))
    before = snapshot()
    for path, body in (("dispute/", {"reason": "x"}), ("settle-dispute/", {"resolution": "x"})):
        assert_error(api.post(f"{T}{application.pk}/{path}", body, format="json"), status)
    assert snapshot() == before
    assert_error(api.post(f"{T}999999999/dispute/", {"reason": "x"}, format="json"), 404)


@pytest.mark.parametrize("path, payload, field", [
    ("dispute/", {}, "reason"),
    ("dispute/", {"reason": ""}, "reason"),
    ("dispute/", {"reason": 5}, "reason"),
    ("dispute/", {"reason": ["x"]}, "reason"),
    ("dispute/", {"reason": "x" * 2001}, "reason"),
    ("dispute/", {"reason": "x", "extra": 1}, "extra"),
    ("dispute/", {"resolution": "x"}, "resolution"),
    ("settle-dispute/", {}, "resolution"),
    ("settle-dispute/", {"resolution": "   "}, "resolution"),
    ("settle-dispute/", {"resolution": None}, "resolution"),
    ("settle-dispute/", {"reason": "x"}, "reason"),
])
def test_bad_input_is_a_400_and_changes_nothing(demo, api, path, payload, field):
    application = disbursed()
    if path == "settle-dispute/":
        dispute(application)
    api.as_user(user("acme.finance"))
    before = snapshot()
    response = api.post(f"{T}{application.pk}/{path}", payload, format="json")
    assert_error(response, 400)
    assert field in response.json()["error"]["fields"], response.json()
    assert snapshot() == before


def test_a_body_that_is_not_an_object_is_a_400(demo, api):
    application = disbursed()
    api.as_user(user("acme.finance"))
    for raw in ('"x"', "[1]", "{", "null"):
        response = api.post(f"{T}{application.pk}/dispute/", raw, content_type="application/json")
        assert_error(response, 400)
    assert FinancingApplication.objects.get(pk=application.pk).state == "disbursed"


# --- the page ---------------------------------------------------------------------------------------


def test_the_page_offers_the_forms_to_who_may_and_they_work(demo, client):
    application = disbursed()
    detail = f"{F}{application.pk}/"
    client.force_login(user("acme.buyer"))
    assert client.get(detail).status_code == 403
    for username in ("acme.auditor", "acme.admin"):
        client.force_login(user(username))
        html = client.get(detail).content.decode()
        assert 'data-testid="fa-dispute-form"' not in html and 'data-testid="fa-settle-form"' not in html
    client.force_login(user("supa.rep"))
    html = client.get(detail).content.decode()
    assert 'data-testid="fa-dispute-form"' in html and 'data-testid="fa-settle-form"' not in html
    # An empty reason re-renders the page with the reason, 400, nothing changed
    response = client.post(detail + "dispute/", {"reason": ""})
    assert response.status_code == 400 and 'data-testid="fa-error"' in response.content.decode()
    response = client.post(detail + "dispute/", {"reason": "回款未到"})
    assert response.status_code == 302 and response["Location"] == detail
    html = client.get(detail).content.decode()
    assert 'data-state="disputed"' in html and 'data-testid="fa-open-dispute"' in html and "回款未到" in html
    assert 'data-testid="fa-dispute-form"' not in html and 'data-testid="fa-settle-form"' not in html
    # The applicant posting a settlement anyway: 403, nothing changed
    before = snapshot()
    response = client.post(detail + "settle-dispute/", {"resolution": "done"})
    assert response.status_code == 403 and snapshot() == before
    client.force_login(user("bank.officer"))
    html = client.get(detail).content.decode()
    assert 'data-testid="fa-settle-form"' in html
    assert client.post(detail + "settle-dispute/", {"resolution": ""}).status_code == 400
    response = client.post(detail + "settle-dispute/", {"resolution": "银行流水核对无误"})
    assert response.status_code == 302
    html = client.get(detail).content.decode()
    assert 'data-state="disbursed"' in html and "银行流水核对无误" in html  # in the history
    assert FinancingDispute.objects.get(application=application).settled_by == user("bank.officer")
    # A second settlement from a stale form: 409 with the reason
    response = client.post(detail + "settle-dispute/", {"resolution": "again"})
    assert response.status_code == 409 and 'data-testid="fa-error"' in response.content.decode()


# --- the trail's history ------------------------------------------------------------------------------


def test_the_trail_history_holds_each_dispute_and_settlement(demo):
    from audit.trails import trail_kind
    from audit.trails.build import history_rows

    application = dispute(overdue(), "bank.officer")
    kind = trail_kind("financing_application")
    rows = history_rows(kind, FinancingApplication.objects.get(pk=application.pk))
    assert [(r["action"], r["from_state"], r["to_state"], r["actor"]) for r in rows][-2:] == [
        ("overdue", "", "overdue", ""), ("dispute", "overdue", "disputed", "bank.officer")]
    exported = rows
    settle(application, "acme.finance")
    rows = history_rows(kind, FinancingApplication.objects.get(pk=application.pk))
    assert rows[: len(exported)] == exported  # a trail exported while disputed still verifies
    assert (rows[-1]["action"], rows[-1]["from_state"], rows[-1]["to_state"], rows[-1]["actor"]) == (
        "settle_dispute", "disputed", "overdue", "acme.finance")


# --- the database, past the ORM ----------------------------------------------------------------------


def db_refuses(sql, params=(), *, deferred=False):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        if deferred:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def insert_dispute(application, username, organization, from_state="disbursed", settled=False):
    columns = "tenant_id, application_id, from_state, reason, raised_by_id, raised_for_id, raised_at, resolution"
    values = "%s, %s, %s, 'r', %s, %s, now(), ''"
    params = [application.tenant_id, application.pk, from_state, user(username).pk, organization.pk]
    if settled:
        columns += ", settled_by_id, settled_for_id, settled_at"
        values += ", %s, %s, now()"
        params += [user(username).pk, organization.pk]
    return f"INSERT INTO finance_financingdispute ({columns}) VALUES ({values})", params


def test_the_database_holds_the_dispute_rules(demo):
    application = disbursed()
    acme_org, sup_a, sup_b = (demo["organizations"][slug] for slug in ("acme", "sup-a", "sup-b"))
    # disputed without an open dispute (checked at commit)
    db_refuses("UPDATE finance_financingapplication SET state = 'disputed' WHERE id = %s", [application.pk], deferred=True)
    # an open dispute while not disputed (checked at commit)
    db_refuses(*insert_dispute(application, "acme.finance", acme_org), deferred=True)
    # raised by someone who may not, or for another organisation than theirs
    db_refuses(*insert_dispute(application, "acme.buyer", acme_org))
    db_refuses(*insert_dispute(application, "supb.rep", sup_b))
    db_refuses(*insert_dispute(application, "supa.rep", acme_org))
    # raised settled, from a state it may not come from, without a reason
    db_refuses(*insert_dispute(application, "acme.finance", acme_org, settled=True))
    db_refuses(*insert_dispute(application, "acme.finance", acme_org, from_state="requested"))
    dispute(application, "supa.rep")
    open_id = FinancingDispute.objects.get().pk
    db_refuses("UPDATE finance_financingdispute SET reason = '' WHERE id = %s", [open_id])
    db_refuses("UPDATE finance_financingdispute SET from_state = 'repaid' WHERE id = %s", [open_id])
    # settled by the applicant's rep, or without a resolution
    db_refuses("UPDATE finance_financingdispute SET settled_by_id = %s, settled_for_id = %s, settled_at = now(), "
               "resolution = 'ok' WHERE id = %s", [user("supa.rep").pk, sup_a.pk, open_id])
    db_refuses("UPDATE finance_financingdispute SET settled_by_id = %s, settled_for_id = %s, settled_at = now() "
               "WHERE id = %s", [user("acme.finance").pk, acme_org.pk, open_id])
    # settled back to another state than the one it came from
    db_refuses("UPDATE finance_financingapplication SET state = 'repaid', repaid_at = now() WHERE id = %s", [application.pk])
    # a second open dispute
    db_refuses(*insert_dispute(application, "bank.officer", demo["organizations"]["bank"]))
    settle(application)
    db_refuses("UPDATE finance_financingdispute SET resolution = 'rewritten' WHERE id = %s", [open_id])
    # disputed from a state it may not: the trigger, past the ORM's checks
    fresh = apply([confirmed_receivable()], "900.00")
    db_refuses("UPDATE finance_financingapplication SET state = 'disputed' WHERE id = %s", [fresh.pk])
    assert FinancingApplication.objects.get(pk=application.pk).state == "disbursed"
    assert FinancingDispute.objects.get().resolution.startswith("Checked")
