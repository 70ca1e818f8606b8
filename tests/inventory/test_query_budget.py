"""Query budget of the rule checks of a movement batch (rule_check_moves, and the second
transaction that raises a batch's crossings, rule_crossing_raise): what they cost in statements,
and that the cost does not grow with the rules a batch moves.

Counted on the test's connection, inside the test's transaction. A change that adds a statement
here changes the budget, on purpose."""

import pytest
from django.utils import timezone

from alerts.models import Alert
from inventory import services
from inventory.models import SKU, ReplenishmentRule, RuleCrossing
from tests.alerts.test_query_budget import RAISE_NEW
from tests.inventory.helpers import stock_world

pytestmark = pytest.mark.django_db


def rules_on(demo, n, **lines):
    """`n` SKUs of sup-a in WH-T, each with a rule (`lines`: safety_stock, reorder_point, step)."""
    tenant, sku, warehouse, _rule = stock_world(demo, opening=0, safety=0, reorder=0)
    skus = SKU.objects.bulk_create(
        [SKU(tenant=tenant, code=f"B-{i}", name="b", default_supplier=sku.default_supplier) for i in range(n)])
    rules = ReplenishmentRule.objects.bulk_create(
        [ReplenishmentRule(tenant=tenant, sku=s, warehouse=warehouse, **lines) for s in skus])
    return tenant, rules


@pytest.mark.parametrize("n", [1, 40])
def test_a_batch_moving_rules_without_crossing_a_line(demo, django_assert_num_queries, n):
    """The rules with their SKUs, warehouses and suppliers (one read), then the step references
    set (one UPDATE: counted from the old level, 1,000, as none had one): whatever the number of rules."""
    tenant, rules = rules_on(demo, n, safety_stock=100, reorder_point=0, step=500)
    with django_assert_num_queries(2):
        raised = services.rule_check_moves(tenant, {rule.pk: (1000, 900) for rule in rules})
    assert raised == []
    assert set(ReplenishmentRule.objects.filter(pk__in=[r.pk for r in rules]).values_list("step_reference", flat=True)) == {1000}


@pytest.mark.parametrize("n", [1, 5])
def test_a_batch_crossing_safety_lines(demo, django_assert_num_queries, n):
    """The rules (one read) and the recent demand of those crossing (one read, for all of them),
    then alert_raise's own budget for each alert raised, and nothing else per rule."""
    tenant, rules = rules_on(demo, n, safety_stock=100, reorder_point=0)
    with django_assert_num_queries(2 + n * RAISE_NEW):
        raised = services.rule_check_moves(tenant, {rule.pk: (150, 50) for rule in rules})
    assert sorted(a.kind for a in raised) == ["low_stock"] * n


@pytest.mark.parametrize("n", [1, 5])
def test_raising_a_batchs_crossings(demo, django_assert_num_queries, n):
    """A batch's second transaction (rule_crossing_raise), here a savepoint: the rooms' lock, the
    SKUs' and the claim of the crossings (locked and deleted in one statement; the three sent
    together), then rule_check_moves' reads (the rules, the recent demand of those crossing) and
    alert_raise's own budget for each alert raised; nothing else per crossing."""
    tenant, rules = rules_on(demo, n, safety_stock=100, reorder_point=0)
    RuleCrossing.objects.bulk_create(
        [RuleCrossing(tenant=tenant, rule=rule, old=150, new=50, created_at=timezone.now()) for rule in rules])
    with django_assert_num_queries(7 + n * RAISE_NEW):
        done = services.rule_crossing_raise(tenant=tenant, rule_ids=[r.pk for r in rules],
                                            sku_ids=[r.sku_id for r in rules], warehouse_ids=[r.warehouse_id for r in rules])
    assert done == n and not RuleCrossing.objects.exists()
    assert Alert.objects.filter(kind="low_stock").count() == n


def test_a_batch_whose_crossings_only_move_step_references(demo, django_assert_num_queries):
    """No alert owed: no room locked (the SKUs' lock and the claim, sent together), the rules,
    the step references written (one UPDATE)."""
    tenant, rules = rules_on(demo, 3, safety_stock=0, reorder_point=0, step=100)
    RuleCrossing.objects.bulk_create(
        [RuleCrossing(tenant=tenant, rule=rule, old=1000, new=1050, created_at=timezone.now()) for rule in rules])
    with django_assert_num_queries(6) as queries:
        done = services.rule_crossing_raise(tenant=tenant, rule_ids=[r.pk for r in rules], rooms=False,
                                            sku_ids=[r.sku_id for r in rules], warehouse_ids=[r.warehouse_id for r in rules])
    assert done == 3 and not any('"messaging_room"' in q["sql"] for q in queries.captured_queries)
    assert set(ReplenishmentRule.objects.filter(pk__in=[r.pk for r in rules]).values_list("step_reference", flat=True)) == {1050}
