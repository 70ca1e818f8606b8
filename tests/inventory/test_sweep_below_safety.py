"""The sweep's below-safety set: each stock level carries its active rule's safety stock
(StockLevel.rule_safety_stock), kept by every write of a rule or of a new level."""

import importlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.apps import apps
from django.db import connection, connections, transaction

from alerts.models import Alert
from inventory import demo as inventory_demo
from inventory import services
from inventory.models import ReplenishmentRule, StockLevel
from tests.api_contract import user
from tests.inventory.helpers import ingest, movement, stock_world, wait_until_a_backend_waits_for_a_lock

pytestmark = pytest.mark.django_db


def copy_of(tenant, code="SKU-T1", wh="WH-T"):
    return StockLevel.objects.get(tenant=tenant, sku__code=code, warehouse__code=wh).rule_safety_stock


def low_stock():
    return list(Alert.objects.filter(kind="low_stock").order_by("pk"))


def assert_every_copy_true():
    """Every level's copy is its active rule's safety stock, None without one."""
    rules = {(r.tenant_id, r.sku_id, r.warehouse_id): r.safety_stock
             for r in ReplenishmentRule.objects.filter(active=True)}
    levels = list(StockLevel.objects.values_list("tenant_id", "sku_id", "warehouse_id", "rule_safety_stock"))
    assert levels
    wrong = [(t, s, w, copy) for t, s, w, copy in levels if copy != rules.get((t, s, w))]
    assert not wrong, wrong


def second_sku(demo, code="SKU-T2"):
    tenant = demo["tenants"]["acme"]
    return services.sku_create(tenant=tenant, actor=None, code=code, name="第二物料",
                               default_supplier=demo["organizations"]["sup-a"])


def test_a_level_created_below_its_rule_is_raised_by_the_sweep(demo):
    tenant, sku, warehouse, rule = stock_world(demo, safety=500, reorder=0, opening=0)
    ingest(tenant, [movement(delta=100)])  # the first movement: a new level, under the line from the start
    assert not low_stock()  # the inline check sees no crossing (0 -> 100)
    assert copy_of(tenant) == 500
    raised = services.rule_sweep(tenant=tenant)
    assert [a.dedupe_key for a in raised] == [f"low_stock:{rule.pk}"] and raised[0].payload["on_hand"] == 100
    assert services.rule_sweep(tenant=tenant) == []


def test_stock_at_the_line_is_not_below_it(demo):
    tenant, *_ = stock_world(demo, safety=500, reorder=0, opening=0)
    ingest(tenant, [movement(delta=500)])
    assert services.rule_sweep(tenant=tenant) == [] and not low_stock()


def test_a_rule_created_over_stock_already_below_it(demo):
    tenant, _sku, warehouse, _rule = stock_world(demo, safety=0, reorder=0, opening=0)
    sku = second_sku(demo)
    ingest(tenant, [movement(sku="SKU-T2", delta=300)])
    assert copy_of(tenant, "SKU-T2") is None  # no rule yet
    rule = services.rule_upsert(tenant=tenant, actor=user("acme.planner"), sku=sku, warehouse=warehouse,
                                safety_stock=500, reorder_point=0)
    assert copy_of(tenant, "SKU-T2") == 500
    assert [a.dedupe_key for a in services.rule_sweep(tenant=tenant)] == [f"low_stock:{rule.pk}"]


def test_a_rule_raised_over_the_stock_through_the_api(demo, api):
    tenant, _sku, _warehouse, rule = stock_world(demo, safety=100, reorder=0, opening=300)
    assert services.rule_sweep(tenant=tenant) == []
    api.as_user(user("acme.planner"))
    response = api.patch(f"/api/v1/t/acme/replenishment-rules/{rule.pk}/", {"safety_stock": 500}, format="json")
    assert response.status_code == 200, response.content
    assert copy_of(tenant) == 500
    assert len(services.rule_sweep(tenant=tenant)) == 1 and low_stock()[0].payload["on_hand"] == 300


def test_a_deactivated_rule_is_not_swept_even_with_a_stale_copy(demo):
    tenant, sku, warehouse, rule = stock_world(demo, safety=100, reorder=0, opening=300)
    planner = user("acme.planner")
    services.rule_upsert(tenant=tenant, actor=planner, sku=sku, warehouse=warehouse, safety_stock=500, active=False)
    assert copy_of(tenant) is None
    assert services.rule_sweep(tenant=tenant) == []
    # A copy the rule no longer stands behind only costs a lookup: the rule itself decides.
    StockLevel.objects.filter(tenant=tenant).update(rule_safety_stock=10**6)
    assert services.rule_sweep(tenant=tenant) == [] and not low_stock()
    services.rule_upsert(tenant=tenant, actor=planner, sku=sku, warehouse=warehouse, active=True)
    assert copy_of(tenant) == 500
    assert len(services.rule_sweep(tenant=tenant)) == 1


def test_the_copy_follows_every_write_of_a_rule(demo):
    tenant, sku, warehouse, rule = stock_world(demo, safety=100, reorder=0, opening=300)
    assert copy_of(tenant) == 100
    services.rule_upsert(tenant=tenant, actor=None, sku=sku, warehouse=warehouse, safety_stock=200)
    assert copy_of(tenant) == 200
    rules = ReplenishmentRule.objects.filter(pk=rule.pk)
    rules.update(safety_stock=250)  # outside the services: the database keeps the copy
    assert copy_of(tenant) == 250
    rules.update(active=False)
    assert copy_of(tenant) is None
    rules.update(active=True)
    assert copy_of(tenant) == 250
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {ReplenishmentRule._meta.db_table} SET safety_stock = 260 WHERE id = %s", [rule.pk])
    assert copy_of(tenant) == 260
    rules.update(step_reference=42)  # what a movement batch writes to a rule: the copy stands
    assert copy_of(tenant) == 260
    rules.get().delete()
    assert copy_of(tenant) is None
    ReplenishmentRule.objects.bulk_create(
        [ReplenishmentRule(tenant=tenant, sku=sku, warehouse=warehouse, safety_stock=70)])
    assert copy_of(tenant) == 70
    assert_every_copy_true()


def test_a_rule_moved_to_another_warehouse_takes_its_copy_along(demo):
    tenant, sku, warehouse, rule = stock_world(demo, safety=100, reorder=0, opening=300)
    other = services.warehouse_create(tenant=tenant, actor=None, code="WH-T2", name="二号仓")
    ingest(tenant, [movement(warehouse="WH-T2", delta=50)])
    assert copy_of(tenant, wh="WH-T2") is None
    ReplenishmentRule.objects.filter(pk=rule.pk).update(warehouse=other)
    assert copy_of(tenant) is None and copy_of(tenant, wh="WH-T2") == 100


def test_levels_a_batch_creates_copy_only_an_active_rule(demo):
    tenant, sku, warehouse, _rule = stock_world(demo, safety=100, reorder=0, opening=0)
    inactive = second_sku(demo, "SKU-T3")
    services.rule_upsert(tenant=tenant, actor=None, sku=inactive, warehouse=warehouse, safety_stock=40, active=False)
    second_sku(demo, "SKU-T4")  # no rule at all
    ingest(tenant, [movement(delta=10), movement(sku="SKU-T3", delta=10), movement(sku="SKU-T4", delta=10)])
    assert (copy_of(tenant), copy_of(tenant, "SKU-T3"), copy_of(tenant, "SKU-T4")) == (100, None, None)
    ingest(tenant, [movement(delta=5), movement(sku="SKU-T3", delta=5)])  # existing levels: the copy stands
    assert (copy_of(tenant), copy_of(tenant, "SKU-T3")) == (100, None)
    assert_every_copy_true()


def test_the_demo_data_and_the_migration_fill_agree_with_the_rules(demo):
    inventory_demo.seed(demo)
    assert StockLevel.objects.filter(rule_safety_stock__isnull=False).exists()
    assert_every_copy_true()  # rule_upsert and the ingestion built them
    fill = importlib.import_module("inventory.migrations.0003_level_rule_safety_stock")
    StockLevel.objects.update(rule_safety_stock=None)
    fill.fill_rule_safety_stock(apps, None)
    assert_every_copy_true()


def _first_write_holds_until_the_second_waits(first, second):
    """Runs `first` in a transaction that commits only once `second`, started after it, waits."""
    first_done = threading.Event()

    def run_first():
        try:
            with transaction.atomic():
                first()
                first_done.set()
                wait_until_a_backend_waits_for_a_lock("the second writer")
        finally:
            connections.close_all()

    def run_second():
        try:
            assert first_done.wait(10)
            second()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(run_first), pool.submit(run_second)
        a.result(30)
        b.result(30)


def _batch_creating_the_level(tenant, sku, warehouse):
    ingest(tenant, [movement(sku="SKU-T2", delta=100)])


def _rule_through_the_service(tenant, sku, warehouse):
    services.rule_upsert(tenant=tenant, actor=None, sku=sku, warehouse=warehouse, safety_stock=500)


def _rule_outside_the_services(tenant, sku, warehouse):
    ReplenishmentRule.objects.create(tenant=tenant, sku=sku, warehouse=warehouse, safety_stock=500)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first, second, swept", [
    # A batch creating the level of a rule being written reads the new rule.
    (_rule_through_the_service, _batch_creating_the_level, True),
    # A rule written while a batch creates its level reaches the level.
    (_batch_creating_the_level, _rule_through_the_service, True),
    # A rule written outside the services waits for the batch too (the trigger's SKU lock).
    (_batch_creating_the_level, _rule_outside_the_services, False),
], ids=["batch_after_rule", "rule_after_batch", "raw_rule_after_batch"])
def test_a_rule_write_and_a_batch_creating_its_level_never_miss_each_other(demo_tx, first, second, swept):
    tenant, _sku, warehouse, _rule = stock_world(demo_tx, safety=0, reorder=0, opening=0)
    sku = second_sku(demo_tx)
    _first_write_holds_until_the_second_waits(lambda: first(tenant, sku, warehouse), lambda: second(tenant, sku, warehouse))
    assert copy_of(tenant, "SKU-T2") == 500
    if swept:
        assert len(services.rule_sweep(tenant=tenant)) == 1

