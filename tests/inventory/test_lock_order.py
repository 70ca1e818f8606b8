"""Inventory's writes in the portal's one lock order (docs/ARCHITECTURE.md, "Lock order"): a
movement batch locks its SKUs and levels and no room, and records its crossings; its alerts come
in a second transaction (rooms, SKUs, the crossings, then the alerts), or, inside a caller's
transaction, after the rooms it locks first; the replenish button takes the alert's rooms, the
SKU, its level, then the alert.
The races with other apps' writes are in tests/test_lock_order.py."""

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from alerts.models import Alert
from inventory import services
from inventory.models import SKU, ReplenishmentRequest, ReplenishmentRule, RuleCrossing, StockLevel
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
def test_inside_a_transaction_a_batch_sends_its_room_and_sku_locks_before_its_statement(demo):
    """Inside a caller's transaction (here the test's) both parts share it: the rooms first."""
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
    assert not RuleCrossing.objects.exists()  # no outbox inside a transaction
    assert "inventory_rulecrossing" not in queries[levels]["sql"]


@pytest.mark.django_db(transaction=True)
def test_a_batch_holds_no_room_during_its_statement_and_its_alerts_hold_no_level(demo_tx, monkeypatch):
    tenant, sku, warehouse, rule = stock_world(demo_tx, safety=500, reorder=800, opening=1000)
    ingest(tenant, [movement(delta=-300)])  # 700: the reorder alert is open
    reorder = Alert.objects.get(kind="reorder_point")
    level = StockLevel.objects.get(sku=sku, warehouse=warehouse)
    moved, go_on = pause(monkeypatch, movements, "_ingest_postgresql", after=True)  # its levels moved
    raising, raise_now = pause(monkeypatch, rules, "rule_check_moves")  # its alerts' transaction
    batch = Side(lambda: ingest(tenant, [movement(delta=-300)]))  # 400: below safety
    batch.start()
    try:
        assert moved.wait(10)
        assert not held(Room, room_of("acme", "sup-a").pk) and not held(Room, internal_room("acme").pk)
        assert held(SKU, sku.pk) and held(StockLevel, level.pk)
        assert RuleCrossing.objects.count() == 0  # written, not yet committed
        go_on.set()
        assert raising.wait(10)  # the batch committed; its alerts' transaction holds their rooms
        assert held(Room, room_of("acme", "sup-a").pk) and held(Room, internal_room("acme").pk)
        assert not held(Room, room_of("acme", "sup-b").pk)
        assert held(SKU, sku.pk) and not held(StockLevel, level.pk) and not held(Alert, reorder.pk)
        crossing = RuleCrossing.objects.get()
        assert (crossing.rule_id, crossing.old, crossing.new) == (rule.pk, 700, 400) and held(RuleCrossing, crossing.pk)
    finally:
        go_on.set()
        raise_now.set()
    assert batch.outcome() == {"created": 1, "duplicates": 0}
    assert Alert.objects.filter(kind="low_stock").count() == 1 and not RuleCrossing.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_batches_crossing_lines_do_not_wait_for_each_others_rooms(demo_tx, monkeypatch):
    """Two batches of one tenant whose alerts go to the same rooms: while the first is inside its
    statement (levels moved, not committed), the second runs to its end, alert raised. When each
    locked its rooms before its statement, the second waited for the first's commit."""
    tenant, _sku, warehouse, _rule = stock_world(demo_tx, safety=500, reorder=0, opening=600)
    admin = user("acme.admin")
    other = services.sku_create(tenant=tenant, actor=admin, code="SKU-T2", name="测试物料2",
                                default_supplier=demo_tx["organizations"]["sup-a"])
    services.rule_upsert(tenant=tenant, actor=admin, sku=other, warehouse=warehouse, safety_stock=500, reorder_point=0)
    ingest(tenant, [movement(sku="SKU-T2", delta=600)])
    moved, go_on = pause(monkeypatch, movements, "_ingest_postgresql", after=True)
    first = Side(lambda: ingest(tenant, [movement(delta=-200)]))  # SKU-T1: 600 → 400
    first.start()
    try:
        assert moved.wait(10)
        second = Side(lambda: ingest(tenant, [movement(sku="SKU-T2", delta=-200)]))  # SKU-T2: 600 → 400
        second.start()
        assert second.outcome() == {"created": 1, "duplicates": 0}  # while the first is still in its statement
        assert first.is_alive()
        assert list(Alert.objects.filter(kind="low_stock").values_list("subject_ref", flat=True)) == ["SKU-T2"]
    finally:
        go_on.set()
    assert first.outcome() == {"created": 1, "duplicates": 0}
    assert sorted(Alert.objects.filter(kind="low_stock").values_list("subject_ref", flat=True)) == ["SKU-T1", "SKU-T2"]
    assert not RuleCrossing.objects.exists()


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


@pytest.mark.django_db(transaction=True)
def test_a_batch_crossing_no_line_takes_no_room_lock(demo_tx, monkeypatch):
    """Rules moved without a line crossed, a step reference moved: no statement locks a room."""
    tenant, *_ = stock_world(demo_tx, safety=500, reorder=800, step=100, opening=1000)
    with CaptureQueriesContext(connection) as queries:
        assert ingest(tenant, [movement(delta=50)]) == {"created": 1, "duplicates": 0}  # restock: the step reference moves
        assert ingest(tenant, [movement(delta=-20)]) == {"created": 1, "duplicates": 0}  # 1,030: less than a step
    assert not any('FOR UPDATE OF "messaging_room"' in q["sql"] for q in queries.captured_queries)
    assert ReplenishmentRule.objects.get().step_reference == 1050
    assert not Alert.objects.exists() and not RuleCrossing.objects.exists()


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
