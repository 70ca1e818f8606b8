"""The purchase-order services: the lifecycle, per-line answers, the buyer's decisions, roles,
and the history and cards each transition leaves."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from messaging.models import Message
from orders.models import IllegalTransition, LineChange, PurchaseOrderEvent
from tests.messaging.helpers import room_of
from tests.orders.helpers import create, move, snapshot

pytestmark = pytest.mark.django_db


def cards_of(number, tenant="acme"):
    return list(Message.objects.filter(tenant__slug=tenant, subject_kind="purchase_order", subject_ref=number,
                                       kind="event").order_by("seq"))


def test_draft_sent_confirmed_with_history_and_cards(world):
    order = create()
    assert order.state == "draft" and order.lines.count() == 2
    assert cards_of(order.number) == []  # a draft is the buyer's own
    order = move("send", order, "acme.buyer")
    assert order.state == "sent" and order.confirm_due_at is not None
    sent_card = cards_of(order.number)[-1]
    assert sent_card.room_id == room_of("acme", "sup-a").pk
    assert [a["name"] for a in sent_card.actions] == ["po_confirm"]
    assert sent_card.text["key"] == "orders.po.sent"
    assert "PO-20231026" in sent_card.body
    order = move("confirm", order, "supa.rep")
    assert order.state == "confirmed" and order.confirm_due_at is None and order.confirmed_at
    assert list(order.lines.values_list("status", flat=True)) == ["accepted", "accepted"]
    assert list(order.lines.order_by("line").values_list("promised_date", flat=True)) == [
        datetime.date(2026, 12, 20), datetime.date(2026, 12, 22)]
    assert [e.action for e in PurchaseOrderEvent.objects.filter(order=order)] == ["create", "send", "confirm"]
    last = cards_of(order.number)[-1]
    assert last.text["key"] == "orders.po.confirmed" and last.actions == []


def test_a_proposed_date_accepted_becomes_the_promised_date(world):
    order = move("send", create(), "acme.buyer")
    order = move("confirm", order, "supa.rep", answers=[{"line": 1, "promised_date": "2027-01-05"}])
    assert order.state == "change_requested"
    change = LineChange.objects.get(order=order)
    assert (change.answer, change.promised_date, change.state) == ("change", datetime.date(2027, 1, 5), "pending")
    card = cards_of(order.number)[-1]
    assert [a["name"] for a in card.actions] == ["po_accept_change", "po_reject_change"]
    assert "2027-01-05" in card.body
    order = move("accept_change", order, "acme.buyer")
    assert order.state == "confirmed"
    line1, line2 = order.lines.order_by("line")
    assert line1.promised_date == datetime.date(2027, 1, 5) and line1.status == "accepted"
    assert line2.promised_date == datetime.date(2026, 12, 22)


def test_a_quantity_change_and_a_backorder_are_handled_the_same_way(world):
    order = move("send", create(), "acme.buyer")
    order = move("confirm", order, "supa.rep", answers=[
        {"line": 1, "answer": "change", "quantity": 80, "unit_price": "12.40"},
        {"line": 2, "answer": "backorder", "promised_date": "2027-02-01"}])
    assert order.state == "change_requested"
    order = move("accept_change", order, "acme.buyer", lines=[1])
    assert order.state == "change_requested"  # line 2 still pending
    order = move("accept_change", order, "acme.buyer", lines=[2])
    assert order.state == "confirmed"
    line1, line2 = order.lines.order_by("line")
    assert (line1.quantity, line1.unit_price, line1.status) == (80, Decimal("12.40"), "accepted")
    assert (line2.status, line2.promised_date) == ("backordered", datetime.date(2027, 2, 1))


def test_a_rejected_change_sends_the_line_back_to_the_supplier(world):
    order = move("send", create(), "acme.buyer")
    order = move("confirm", order, "supa.rep", answers=[{"line": 2, "answer": "reject"}])
    order = move("reject_change", order, "acme.buyer")
    assert order.state == "sent" and order.confirm_due_at is not None
    assert [a["name"] for a in cards_of(order.number)[-1].actions] == ["po_confirm"]
    line1, line2 = order.lines.order_by("line")
    assert (line1.status, line2.status) == ("accepted", "open")
    with pytest.raises(ValidationError):  # line 1 is answered already
        move("confirm", order, "supa.rep", answers=[{"line": 1, "answer": "reject"}])
    order = move("confirm", order, "supa.rep")
    assert order.state == "confirmed"


def test_every_line_rejected_and_accepted_cancels_the_po(world):
    order = move("send", create(), "acme.buyer")
    order = move("confirm", order, "supa.rep", answers=[{"line": 1, "answer": "reject"}, {"line": 2, "answer": "reject"}])
    assert move("accept_change", order, "acme.buyer").state == "cancelled"


def test_cancel_withdraws_pending_changes(world):
    order = move("send", create(), "acme.buyer")
    order = move("confirm", order, "supa.rep", answers=[{"line": 1, "promised_date": "2027-01-05"}])
    order = move("cancel", order, "acme.buyer", reason="ERP closed it")
    assert order.state == "cancelled"
    assert list(LineChange.objects.filter(order=order).values_list("state", flat=True)) == ["withdrawn"]
    assert cards_of(order.number)[-1].text["key"] == "orders.po.cancelled"


@pytest.mark.parametrize("service, username, kwargs", [
    ("confirm", "acme.buyer", {}),          # the buyer cannot confirm on the supplier's behalf
    ("confirm", "acme.warehouse", {}),
    ("cancel", "supa.rep", {}),
    ("accept_change", "supa.rep", {}),
])
def test_wrong_role_is_403_and_nothing_changes(world, service, username, kwargs):
    order = move("send", create(), "acme.buyer")
    before = snapshot(order)
    with pytest.raises(PermissionDenied):
        move(service, order, username, **kwargs)
    assert snapshot(order) == before


def test_other_supplier_or_tenant_is_404(world):
    order = move("send", create(), "acme.buyer")
    before = snapshot(order)
    with pytest.raises(Http404):
        move("confirm", order, "supb.rep")
    with pytest.raises(Http404):
        move("confirm", order, "globex.buyer", tenant="globex")
    assert snapshot(order) == before


def test_a_supplier_does_not_see_a_draft(world):
    order = create()
    with pytest.raises(Http404):
        move("confirm", order, "supa.rep")


@pytest.mark.parametrize("service, username", [("send", "acme.buyer"), ("accept_change", "acme.buyer"),
                                                ("reject_change", "acme.buyer")])
def test_illegal_transition_is_refused_with_a_code(world, service, username):
    order = move("confirm", move("send", create(), "acme.buyer"), "supa.rep")
    before = snapshot(order)
    with pytest.raises(IllegalTransition) as refused:
        move(service, order, username)
    assert refused.value.code == "illegal_transition"
    assert snapshot(order) == before


def test_confirming_twice_is_illegal(world):
    order = move("confirm", move("send", create(), "acme.buyer"), "supa.rep")
    with pytest.raises(IllegalTransition):
        move("confirm", order, "supa.rep")


@pytest.mark.parametrize("answers", [
    [{"line": 9}],
    [{"line": 1, "answer": "maybe"}],
    [{"line": 1, "answer": "accept", "promised_date": "2027-01-01"}],
    [{"line": 1, "answer": "change"}],
    [{"line": 1, "quantity": 0}],
    [{"line": 1, "unit_price": 12.5}],
    [{"line": 1, "unit_price": "1.23456"}],
    [{"line": 1, "promised_date": "2027-02-30"}],
    [{"line": 1, "answer": "reject", "quantity": 3}],
    [{"line": 1}, {"line": 1}],
    [{"line": 1, "colour": "red"}],
    ["accept"],
    {"line": 1},
])
def test_bad_answers_are_refused_and_nothing_changes(world, answers):
    order = move("send", create(), "acme.buyer")
    before = snapshot(order)
    with pytest.raises(ValidationError):
        move("confirm", order, "supa.rep", answers=answers)
    assert snapshot(order) == before


def test_update_changes_a_draft_whole_and_refuses_a_sent_po(world):
    from tests.orders.helpers import body, ctx
    from orders.services import purchase_orders as services

    order = create()
    changed = body(note="加急")
    changed["lines"] = changed["lines"][:1]
    changed["lines"][0]["quantity"] = 7
    order = services.purchase_order_update(**ctx("acme.buyer"), order=order, data=changed)
    assert (order.note, order.version) == ("加急", 2)
    assert list(order.lines.values_list("line", "quantity")) == [(1, 7)]
    with pytest.raises(PermissionDenied):
        services.purchase_order_update(**ctx("acme.warehouse"), order=order, data=changed)
    order = move("send", order, "acme.buyer")
    before = snapshot(order)
    changed["lines"][0]["quantity"] = 8
    with pytest.raises(IllegalTransition) as refused:
        services.purchase_order_update(**ctx("acme.buyer"), order=order, data=changed)
    assert refused.value.code == "po_not_editable"
    assert snapshot(order) == before
