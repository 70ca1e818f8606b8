"""Query budget of the rule checks of a movement batch (rule_check_moves): what they cost in
statements, and that the cost does not grow with the rules a batch moves.

Counted on the test's connection, inside the test's transaction. A change that adds a statement
here changes the budget, on purpose."""

import pytest

from inventory import services
from inventory.models import SKU, ReplenishmentRule
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
