"""PO writes take their row locks in the portal's one order (docs/ARCHITECTURE.md, "Lock order"):
the supplier's room and the internal room, then the PO, its lines, its alert. "确认订单" pressed
while the unconfirmed sweep raises the PO's alert waits for the sweep, or the sweep for it;
neither is ever aborted as a deadlock victim (tests/concurrency.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.models import Alert
from messaging.chain import chain_verify
from messaging.models import Message, Room
from orders.models import PurchaseOrder
from orders.services import purchase_orders as services
from tests import concurrency
from tests.api_contract import user
from tests.concurrency import Side, race
from tests.orders.helpers import create, make_catalogue, move, po

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def due_po(demo_tx):
    make_catalogue(demo_tx)
    order = move("send", create(), "acme.buyer")
    PurchaseOrder.objects.filter(pk=order.pk).update(confirm_due_at=timezone.now() - timedelta(minutes=1))
    return order


def press_confirm():
    from rest_framework.authtoken.models import Token

    card = Message.objects.get(subject_ref="PO-20231026", text__key="orders.po.sent")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user('supa.rep'))[0].key}")
    url = f"/api/v1/t/acme/rooms/{card.room_id}/messages/{card.seq}/actions/po_confirm/"
    return lambda: client.post(url)


def assert_chains_valid():
    for room in Room.objects.filter(tenant__slug="acme"):
        assert chain_verify(room).ok, room


def test_the_sweep_goes_first_and_the_press_then_confirms_and_recovers(due_po, monkeypatch):
    reached, release = concurrency.pause(monkeypatch, services, "alert_raise")  # the sweep holds rooms and PO
    sweep = Side(lambda: services.purchase_order_alert_unconfirmed())
    confirm = Side(press_confirm())
    race(sweep, confirm, reached, release)
    assert sweep.outcome() == 1
    assert confirm.outcome().status_code == 201
    assert po().state == "confirmed"
    alert = Alert.objects.get(kind="po_unconfirmed")
    assert alert.state == "resolved" and alert.recovered
    assert_chains_valid()


def test_the_press_goes_first_and_the_sweep_finds_nothing_due(due_po, monkeypatch):
    reached, release = concurrency.pause(monkeypatch, services, "purchase_order_lines_lock")  # rooms and PO held
    confirm = Side(press_confirm())
    sweep = Side(lambda: services.purchase_order_alert_unconfirmed())
    race(confirm, sweep, reached, release)
    assert confirm.outcome().status_code == 201
    assert sweep.outcome() == 0
    assert po().state == "confirmed"
    assert not Alert.objects.filter(kind="po_unconfirmed").exists()
    assert_chains_valid()
