"""The financing cards' buttons (finance.actions): who is offered approve, reject and disburse on
which card (per reader, second factor included), and what a press re-checks when it comes.

The tenant's finance approvers follow the funder's room (scm_portal.tenancy.services
FOLLOWERS_BY_KIND), where the funder's officer is too: that is where both press. They follow the
supplier's room as well, which carries the same cards (tests/finance/test_supplier_room.py); the
supplier is offered no button there."""

import hashlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from finance import actions
from finance.models import Approval, Disbursement, FinancingApplication
from messaging.models import ActionPress, Message, Room
from scm_portal.tenancy import services as tenancy
from scm_portal.tenancy.models import TotpVerification
from scm_portal.tenancy.totp import VERIFICATION_TTL
from tests.api_contract import user
from tests.finance.factories import apply, approve, confirmed_receivable, ctx, finance_approver
from tests.messaging.helpers import room_of

pytestmark = pytest.mark.django_db

APPROVE, REJECT, DISBURSE = "financing_approve", "financing_reject", "financing_disburse"


def verify(username, *, ago=timedelta(0)):
    """The user's API token passed TOTP `ago` before now (as POST auth/totp/ records it)."""
    token, _created = Token.objects.get_or_create(user=user(username))
    credential = "token:" + hashlib.sha256(token.key.encode()).hexdigest()
    TotpVerification.objects.update_or_create(
        credential=credential, defaults={"user": user(username), "expires_at": timezone.now() - ago + VERIFICATION_TTL})


def stale(username):
    """The user's verification is older than MONEY_OTP_MAX_AGE (still valid for login purposes)."""
    verify(username, ago=timedelta(seconds=settings.MONEY_OTP_MAX_AGE + 60))


def card(application, event, org="bank"):
    return Message.objects.get(subject_kind="financing_application", subject_ref=str(application.pk),
                               text__key=f"finance.card.{event}", room=room_of("acme", org))


def cards(application, event):
    return list(Message.objects.filter(subject_kind="financing_application", subject_ref=str(application.pk),
                                       text__key=f"finance.card.{event}").order_by("room_id"))


def frame(api, username, message):
    response = api.as_user(user(username)).get(f"/api/v1/t/acme/rooms/{message.room_id}/messages/")
    assert response.status_code == 200, response.content
    return next(f for f in response.json()["results"] if f["seq"] == message.seq)


def buttons(api, username, message):
    return {a["name"]: a["enabled"] for a in frame(api, username, message)["actions"]}


def press(api, username, message, action, data=None):
    url = f"/api/v1/t/acme/rooms/{message.room_id}/messages/{message.seq}/actions/{action}/"
    return api.as_user(user(username)).post(url, data or {}, format="json")


def snapshot(application):
    application.refresh_from_db()
    return (application.state, application.funder_approved_at, Approval.objects.filter(application=application).count(),
            Disbursement.objects.filter(application=application).count(), ActionPress.objects.count(),
            sorted(Room.objects.filter(tenant=application.tenant).values_list("pk", "last_seq")))


@pytest.fixture
def application(demo):
    return apply([confirmed_receivable()], "900.00")


def test_a_request_card_goes_to_the_suppliers_room_and_the_funders_room(application):
    rooms = {m.room_id for m in cards(application, "requested")}
    assert rooms == {room_of("acme", "sup-a").pk, room_of("acme", "bank").pk}
    for message in cards(application, "requested"):
        assert [a["name"] for a in message.actions] == [APPROVE, REJECT]
        assert message.payload["step"] == "requested:0"


def test_who_is_offered_the_buttons_of_a_request(application, api):
    requested = card(application, "requested")
    verify("acme.finance")
    assert buttons(api, "acme.finance", requested) == {APPROVE: True, REJECT: True}
    # An approver without a fresh second factor sees them greyed, told how to make them pressable.
    stale("acme.cfo")
    greyed = frame(api, "acme.cfo", requested)["actions"]
    assert {a["name"]: a["enabled"] for a in greyed} == {APPROVE: False, REJECT: False}
    assert all(a["hint"] == "Verify with your authenticator code first, then press it." for a in greyed)
    assert next(a for a in greyed if a["name"] == REJECT)["input"] == ["reason"]
    assert buttons(api, "acme.auditor", requested) == {}  # follows the funder's room, decides nothing
    assert buttons(api, "supa.rep", card(application, "requested", org="sup-a")) == {}  # the maker, a supplier
    # The funder's officer decides after the core enterprise: nothing on the request's card yet.
    verify("bank.officer")
    assert buttons(api, "bank.officer", requested) == {}


def test_the_maker_holding_the_approver_role_is_never_offered_them(application, api):
    tenancy.membership_create(tenant=application.tenant, actor=None, user=user("supa.rep"),
                              organization=application.tenant.organization, role="finance_approver")
    verify("supa.rep")
    assert buttons(api, "supa.rep", card(application, "requested", org="sup-a")) == {}
    before = snapshot(application)
    response = press(api, "supa.rep", card(application, "requested", org="sup-a"), APPROVE)
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert snapshot(application) == before


def test_another_tenants_approver_is_never_offered_them(application):
    finance_approver("globex")
    _who, context = ctx("globex.finance", "globex")
    requested = card(application, "requested")
    record = actions.financing_application_states(tenant_id=application.tenant_id, refs=[application.pk])[str(application.pk)]
    context = type(context)(tenant=context.tenant, user_id=context.user_id, memberships=context.memberships,
                            second_factor=lambda: timezone.now())
    assert actions.approve_available(message=requested, context=context, record=record) is None
    assert actions.reject_available(message=requested, context=context, record=record) is None


def test_the_first_approval_moves_the_buttons_to_its_card_for_the_second_approver(application, api):
    verify("acme.finance")
    verify("acme.cfo")
    response = press(api, "acme.finance", card(application, "requested"), APPROVE)
    assert response.status_code == 201, response.content
    application.refresh_from_db()
    assert application.state == "core_review"
    approved = card(application, "core_approved")
    assert approved.payload["step"] == "core_review:1"
    # The request's card is done for everyone; the new card is the second approver's.
    assert buttons(api, "acme.cfo", card(application, "requested")) == {}
    assert buttons(api, "acme.cfo", approved) == {APPROVE: True, REJECT: True}
    assert buttons(api, "acme.finance", approved) == {}  # decided already
    # The second approval: the funder's turn, on the newest card.
    assert press(api, "acme.cfo", approved, APPROVE).status_code == 201
    second = [m for m in cards(application, "core_approved") if m.payload["step"] == "funder_review:2"]
    assert {m.room_id for m in second} == {room_of("acme", "bank").pk, room_of("acme", "sup-a").pk}
    funder_card = next(m for m in second if m.room_id == room_of("acme", "bank").pk)
    assert buttons(api, "acme.cfo", approved) == {}  # its moment has passed
    verify("bank.officer")
    assert buttons(api, "bank.officer", funder_card) == {APPROVE: True, REJECT: True}
    assert buttons(api, "acme.finance", funder_card) == {} and buttons(api, "acme.cfo", funder_card) == {}
    # The funder approves, then disburses from the card of its approval.
    assert press(api, "bank.officer", funder_card, APPROVE).status_code == 201
    ready = card(application, "funder_approved", org="bank")
    assert buttons(api, "bank.officer", ready) == {DISBURSE: True}
    assert buttons(api, "acme.finance", ready) == {}
    assert buttons(api, "supa.rep", card(application, "funder_approved", org="sup-a")) == {}
    response = press(api, "bank.officer", ready, DISBURSE)
    assert response.status_code == 201, response.content
    application.refresh_from_db()
    assert application.state == "disbursed" and Disbursement.objects.filter(application=application).count() == 1
    assert buttons(api, "bank.officer", ready) == {}
    # Pressed again: the first press answers; nothing is paid twice.
    again = press(api, "bank.officer", ready, DISBURSE)
    assert again.status_code == 200 and again.json()["already_pressed"] is True
    assert Disbursement.objects.filter(application=application).count() == 1


def test_a_second_factor_expired_between_the_card_and_the_press_is_refused(application, api):
    verify("acme.finance")
    requested = card(application, "requested")
    assert buttons(api, "acme.finance", requested) == {APPROVE: True, REJECT: True}
    stale("acme.finance")  # the card stays on screen; the verification grows old
    before = snapshot(application)
    response = press(api, "acme.finance", requested, APPROVE)
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "otp_required"
    assert "authenticator" in response.json()["error"]["message"]
    assert snapshot(application) == before
    # Verified again: the same button goes through.
    verify("acme.finance")
    assert press(api, "acme.finance", requested, APPROVE).status_code == 201


def test_a_press_without_any_verification_is_refused(application, api):
    before = snapshot(application)
    response = press(api, "acme.cfo", card(application, "requested"), APPROVE)
    assert response.status_code == 403 and response.json()["error"]["code"] == "otp_required"
    assert snapshot(application) == before


def test_a_double_press_approves_once(application, api):
    verify("acme.finance")
    requested = card(application, "requested")
    first = press(api, "acme.finance", requested, APPROVE)
    second = press(api, "acme.finance", requested, APPROVE)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["already_pressed"] is True and second.json()["outcome_seq"] == first.json()["outcome_seq"]
    assert Approval.objects.filter(application=application).count() == 1


def test_the_second_approver_pressing_the_pressed_card_gets_the_first_press(application, api):
    """A card's button is pressed once: the second approver presses the first approval's card."""
    verify("acme.finance")
    verify("acme.cfo")
    assert press(api, "acme.finance", card(application, "requested"), APPROVE).status_code == 201
    before = snapshot(application)
    response = press(api, "acme.cfo", card(application, "requested"), APPROVE)
    assert response.status_code == 200 and response.json()["pressed_by"] == "acme.finance"
    assert snapshot(application) == before


def test_a_stale_card_pressed_after_the_core_review_is_a_conflict(application, api):
    verify("acme.cfo")
    approve(application, "acme.cfo")
    first = card(application, "core_approved")
    approve(application, "acme.finance")  # the second approval, through the API's service
    assert buttons(api, "acme.cfo", first) == {}
    before = snapshot(application)
    response = press(api, "acme.cfo", first, APPROVE)
    assert response.status_code == 409, response.content
    assert snapshot(application) == before


def test_reject_takes_a_reason(application, api):
    verify("acme.cfo")
    requested = card(application, "requested")
    before = snapshot(application)
    for data in ({}, {"reason": "   "}, {"reason": "x" * 2001}, {"reason": "ok", "amount": "1"}):
        response = press(api, "acme.cfo", requested, REJECT, data)
        assert response.status_code == 400, (data, response.content)
    assert snapshot(application) == before
    response = press(api, "acme.cfo", requested, REJECT, {"reason": "发票与合同不符"})
    assert response.status_code == 201, response.content
    application.refresh_from_db()
    assert (application.state, application.reason) == ("rejected", "发票与合同不符")
    assert buttons(api, "acme.finance", requested) == {}


def test_an_approve_press_carries_no_fields(application, api):
    verify("acme.finance")
    before = snapshot(application)
    response = press(api, "acme.finance", card(application, "requested"), APPROVE, {"reason": "why not"})
    assert response.status_code == 400
    assert snapshot(application) == before


def test_a_late_press_after_a_rejection_is_a_conflict(application, api):
    verify("acme.finance")
    verify("acme.cfo")
    requested = card(application, "requested")
    assert press(api, "acme.cfo", requested, REJECT, {"reason": "no"}).status_code == 201
    before = snapshot(application)
    response = press(api, "acme.finance", card(application, "requested"), APPROVE)
    assert response.status_code == 409, response.content
    assert snapshot(application) == before


def test_the_funder_pressing_before_its_turn_is_a_conflict(application, api):
    verify("bank.officer")
    before = snapshot(application)
    response = press(api, "bank.officer", card(application, "requested"), APPROVE)
    assert response.status_code == 409
    assert snapshot(application) == before


def test_every_transition_refreshes_the_cards_buttons(application, monkeypatch, django_capture_on_commit_callbacks):
    import realtime

    refreshed = []
    monkeypatch.setattr(realtime, "publish_actions", lambda found: refreshed.append(sorted(c.text["key"] for c in found)))
    with django_capture_on_commit_callbacks(execute=True):
        approve(application, "acme.finance")
    assert refreshed == [sorted(["finance.card.requested"] * 2 + ["finance.card.core_approved"] * 2)]


def test_the_socket_renders_money_buttons_per_person():
    """Two approvers with the same memberships share every frame but a money card's: realtime's
    ReaderFrames keys those per person and second factor."""
    from realtime.hub import ReaderFrames

    event = {"render": {"stored_actions": [{"name": APPROVE}], "frame": {}, "tenant": 1, "stored_text": None,
                        "core_audience_value": "", "record": None}, "type": "room.message"}
    assert ReaderFrames(event)._personal() is True
    event["render"]["stored_actions"] = [{"name": "acknowledge"}]
    assert ReaderFrames(event)._personal() is False


def test_the_application_states_loader_reads_each_application_once(application, django_assert_num_queries):
    approve(application, "acme.finance")
    with django_assert_num_queries(1):
        states = actions.financing_application_states(tenant_id=application.tenant_id, refs=[application.pk, "x", 0])
    assert states == {str(application.pk): {
        "state": "core_review", "supplier": application.supplier_id, "funder": application.funder_id,
        "maker": application.created_by_id, "decided": [user("acme.finance").pk], "funder_approved": False,
        "step": "core_review:1"}}
    assert FinancingApplication.objects.count() == 1
