"""PO cards' buttons (checked when pressed, whoever the card reached) and the `po_unconfirmed`
alert: raised once by the sweep past the tenant's time, recovered when the supplier answers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert
from messaging.models import Message
from orders.models import OrderSettings
from orders.services.purchase_orders import purchase_order_alert_unconfirmed
from tests.api_contract import assert_error, user
from tests.messaging.helpers import room_of
from tests.orders.helpers import create, move, po, snapshot

pytestmark = pytest.mark.django_db


def last_card(number):
    return Message.objects.filter(subject_kind="purchase_order", subject_ref=number, kind="event").latest("created_at", "seq")


def press(api, username, message, action):
    url = f"/api/v1/t/acme/rooms/{message.room_id}/messages/{message.seq}/actions/{action}/"
    return api.as_user(user(username)).post(url, {}, format="json")


def test_the_supplier_confirms_by_button(world, api):
    move("send", create(), "acme.buyer")
    card = last_card("PO-20231026")
    response = press(api, "supa.rep", card, "po_confirm")
    assert response.status_code == 201, response.content
    assert po().state == "confirmed"
    outcome = Message.objects.get(room_id=card.room_id, seq=response.json()["outcome_seq"])
    assert "PO-20231026" in outcome.body and outcome.subject_ref == "PO-20231026"


def test_a_buyer_in_the_room_may_not_press_confirm(world, api):
    order = move("send", create(), "acme.buyer")
    before = snapshot(order)
    assert_error(press(api, "acme.buyer", last_card("PO-20231026"), "po_confirm"), 403)
    assert snapshot(order) == before


def test_a_stale_card_answers_why_not(world, api):
    move("confirm", move("send", create(), "acme.buyer"), "supa.rep")
    sent_card = Message.objects.filter(subject_ref="PO-20231026", text__key="orders.po.sent").get()
    before = snapshot(po())
    response = press(api, "supa.rep", sent_card, "po_confirm")
    assert_error(response, 409)
    assert response.json()["error"]["code"] == "po_state_changed"
    assert "PO-20231026" in response.json()["error"]["message"]
    assert snapshot(po()) == before


def test_the_buyer_answers_changes_by_button(world, api):
    order = move("send", create(), "acme.buyer")
    move("confirm", order, "supa.rep", answers=[{"line": 1, "promised_date": "2027-01-05"}])
    card = last_card("PO-20231026")
    assert_error(press(api, "supa.rep", card, "po_accept_change"), 403)
    assert press(api, "acme.buyer", card, "po_accept_change").status_code == 201
    assert po().state == "confirmed"
    assert str(po().lines.get(line=1).promised_date) == "2027-01-05"


def test_the_sweep_raises_po_unconfirmed_once_and_confirming_recovers_it(world):
    tenant = world["tenants"]["acme"]
    OrderSettings.objects.create(tenant=tenant, po_unconfirmed_after=timedelta(hours=1))
    order = move("send", create(), "acme.buyer")
    assert order.confirm_due_at - order.sent_at == timedelta(hours=1)
    assert purchase_order_alert_unconfirmed() == 0  # not due yet
    later = timezone.now() + timedelta(hours=2)
    assert purchase_order_alert_unconfirmed(now=later) == 1
    assert purchase_order_alert_unconfirmed(now=later) == 0  # once
    alert = Alert.objects.get(kind="po_unconfirmed")
    assert (alert.subject_kind, alert.subject_ref, alert.partner.slug) == ("purchase_order", "PO-20231026", "sup-a")
    assert "PO-20231026" in alert.title
    assert room_of("acme", "sup-a").pk in [card["room"] for card in alert.cards]
    move("confirm", order, "supa.rep")
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.recovered


def test_the_sweep_task_is_scheduled(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["po-unconfirmed"]
    from scm_portal.celery import app

    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


def test_the_po_subject_links_messages_only_for_those_who_may_see_it(world, api):
    from tests.messaging.helpers import post

    move("send", create(), "acme.buyer")
    room = room_of("acme", "sup-a")
    message = post("supa.rep", room, "交期可以提前吗?", subject={"kind": "purchase_order", "id": "PO-20231026"})
    assert message.subject_ref == "PO-20231026"
    from django.core.exceptions import ValidationError

    create(number="PO-DRAFT")
    with pytest.raises(ValidationError):  # a draft is not the supplier's to see
        post("supa.rep", room, "?", subject={"kind": "purchase_order", "id": "PO-DRAFT"})
