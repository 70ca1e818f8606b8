"""Inventory's writes in the portal's one lock order (docs/ARCHITECTURE.md, "Lock order"): a
movement batch locks the rooms its alerts may post to before its SKUs and levels, its alerts
after them; the replenish button takes the alert's rooms, the SKU, its level, then the alert.
The races with other apps' writes are in tests/test_lock_order.py."""

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from alerts.models import Alert
from inventory import services
from inventory.models import SKU, ReplenishmentRequest, StockLevel
from inventory.services import movements, rules
from messaging.models import Room
from tests.alerts.test_lock_order import card_in, press
from tests.api_contract import assert_error, user
from tests.concurrency import Side, pause, race
from tests.inventory.helpers import ingest, movement, stock_world
from tests.messaging.helpers import internal_room, room_of


def held(model, pk):
    """Whether another transaction holds a lock on this row that FOR UPDATE waits for."""
    try:
        with transaction.atomic():
            list(model.objects.select_for_update(nowait=True).filter(pk=pk).values_list("pk"))
    except OperationalError:
        return True
    return False


def statement_index(queries, *fragments):
    return next(i for i, q in enumerate(queries) if all(f in q["sql"] for f in fragments))


@pytest.mark.django_db
def test_a_batch_sends_its_room_and_sku_locks_before_its_statement(demo):
    tenant, *_ = stock_world(demo, safety=500, reorder=800, opening=1000)
    with CaptureQueriesContext(connection) as queries:
        ingest(tenant, [movement(delta=-300)])  # raises the reorder alert
    queries = queries.captured_queries
    rooms = statement_index(queries, 'FROM "messaging_room"', 'FOR UPDATE OF "messaging_room"')
    skus = statement_index(queries, "FROM inventory_sku", "FOR KEY SHARE")
    levels = statement_index(queries, "INSERT INTO inventory_stockmovement")
    raised = statement_index(queries, 'INSERT INTO "alerts_alert"')
    assert rooms < skus < levels < raised
    assert not any("FOR KEY SHARE" in q["sql"] for q in queries[:rooms])  # the code lookup locks nothing


@pytest.mark.django_db(transaction=True)
def test_a_batch_holds_the_rooms_its_alerts_may_post_to_from_the_start(demo_tx, monkeypatch):
    tenant, sku, warehouse, rule = stock_world(demo_tx, safety=500, reorder=800, opening=1000)
    ingest(tenant, [movement(delta=-300)])  # 700: the reorder alert is open
    reorder = Alert.objects.get(kind="reorder_point")
    reached, release = pause(monkeypatch, movements, "_ingest_postgresql", after=True)  # its levels moved
    batch = Side(lambda: ingest(tenant, [movement(delta=-1)]))
    batch.start()
    assert reached.wait(10)
    try:
        assert held(Room, room_of("acme", "sup-a").pk) and held(Room, internal_room("acme").pk)
        assert not held(Room, room_of("acme", "sup-b").pk)
        assert held(SKU, sku.pk) and not held(Alert, reorder.pk)  # an alert comes after the levels
        assert held(StockLevel, StockLevel.objects.get(sku=sku, warehouse=warehouse).pk)
    finally:
        release.set()
    assert batch.outcome() == {"created": 1, "duplicates": 0}


@pytest.mark.django_db(transaction=True)
def test_a_batch_without_rules_locks_no_room(demo_tx, monkeypatch):
    tenant, sku, warehouse, rule = stock_world(demo_tx, opening=1000)
    services.sku_create(tenant=tenant, actor=user("acme.admin"), code="SKU-FREE", name="无规则",
                        default_supplier=demo_tx["organizations"]["sup-a"])
    reached, release = pause(monkeypatch, movements, "_ingest_postgresql", after=True)
    batch = Side(lambda: ingest(tenant, [movement(sku="SKU-FREE", delta=5)]))
    batch.start()
    assert reached.wait(10)
    try:
        assert not held(Room, room_of("acme", "sup-a").pk) and not held(Room, internal_room("acme").pk)
        assert held(SKU, SKU.objects.get(code="SKU-FREE").pk) and not held(SKU, sku.pk)
    finally:
        release.set()
    assert batch.outcome() == {"created": 1, "duplicates": 0}


@pytest.mark.django_db
def test_replenishment_is_arranged_once_per_alert(demo, api):
    """The button locks the alert (holding the rooms of all its cards): a press on its other card
    finds the request made rather than ordering the stock twice."""
    tenant, *_ = stock_world(demo, safety=500, reorder=0, max_level=2000, opening=600)
    ingest(tenant, [movement(delta=-200)])
    alert = Alert.objects.get(kind="low_stock")
    api.as_user(user("acme.warehouse"))
    for room, status in ((room_of("acme", "sup-a"), 201), (internal_room("acme"), 409)):
        ref = card_in(alert, room)
        response = api.post(f"/api/v1/t/acme/rooms/{ref['room']}/messages/{ref['seq']}/actions/inventory_replenish/")
        assert response.status_code == status, response.content
    assert_error(response, 409, "replenishment_arranged")
    request = ReplenishmentRequest.objects.get()
    assert str(request.pk) in str(response.json()["error"])


@pytest.mark.django_db(transaction=True)
def test_two_presses_on_the_two_cards_of_an_alert_make_one_request(demo_tx, monkeypatch):
    tenant, *_ = stock_world(demo_tx, safety=500, reorder=0, max_level=2000, opening=600)
    ingest(tenant, [movement(delta=-200)])
    alert = Alert.objects.get(kind="low_stock")
    reached, release = pause(monkeypatch, rules, "replenishment_request_create", after=True)
    first = Side(press("acme.warehouse", card_in(alert, room_of("acme", "sup-a")), "inventory_replenish"))
    second = Side(press("acme.warehouse", card_in(alert, internal_room("acme")), "inventory_replenish"))
    race(first, second, reached, release)
    assert first.outcome().status_code == 201
    assert_error(second.outcome(), 409, "replenishment_arranged")
    assert ReplenishmentRequest.objects.count() == 1
