"""The outbox of a movement batch's crossings (inventory.models.RuleCrossing): run outside a
transaction, as the API runs it, a batch commits its levels and its crossings, then raises their
alerts in a second transaction that deletes them; what that one leaves (it failed, or the process
died) the beat sweep raises, once."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from alerts.models import Alert, AlertEvent
from inventory import services
from inventory.models import ReplenishmentRule, RuleCrossing, StockLevel
from inventory.services import rules
from messaging.models import Message
from tests.api_contract import user
from tests.inventory.helpers import ingest, movement, stock_world

pytestmark = pytest.mark.django_db(transaction=True)

LATER = timedelta(minutes=5)  # the sweep's `now`: the crossings left are due by then


def crash_the_alerts_transaction(monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(rules, "rule_check_moves", crash)


def low_stock_state():
    """What a raise leaves: the alerts, their events and cards."""
    alerts = list(Alert.objects.filter(kind="low_stock"))
    return (len(alerts), AlertEvent.objects.filter(alert__in=alerts).count(),
            Message.objects.filter(subject_kind="alert").count())


def test_a_batch_answers_after_its_alerts_and_leaves_no_crossing(demo_tx):
    tenant, *_ = stock_world(demo_tx, safety=500, reorder=0, opening=600)
    assert ingest(tenant, [movement(delta=-200)]) == {"created": 1, "duplicates": 0}
    assert low_stock_state() == (1, 1, 2)  # raised before the answer: one alert, its event, two cards
    assert not RuleCrossing.objects.exists()


def test_a_crossing_left_by_a_failed_second_transaction_is_raised_by_the_sweep_once(demo_tx, monkeypatch):
    tenant, sku, warehouse, rule = stock_world(demo_tx, safety=500, reorder=0, opening=600)
    with monkeypatch.context() as patched:
        crash_the_alerts_transaction(patched)
        assert ingest(tenant, [movement(delta=-200)]) == {"created": 1, "duplicates": 0}  # the movements stand
    assert StockLevel.objects.get(sku=sku, warehouse=warehouse).on_hand == 400
    assert low_stock_state() == (0, 0, 0)
    crossing = RuleCrossing.objects.get()
    assert (crossing.rule_id, crossing.old, crossing.new) == (rule.pk, 600, 400)

    assert services.rule_crossing_sweep() == 0  # not yet due: a batch's own is raised by it
    assert services.rule_crossing_sweep(now=timezone.now() + LATER) == 1
    assert low_stock_state() == (1, 1, 2)
    alert = Alert.objects.get(kind="low_stock")
    assert alert.payload["on_hand"] == 400 and alert.partner.slug == "sup-a"
    assert not RuleCrossing.objects.exists()

    assert services.rule_crossing_sweep(now=timezone.now() + LATER) == 0  # never twice
    assert low_stock_state() == (1, 1, 2)


def test_a_crossing_raised_again_is_a_no_op(demo_tx):
    """Should a crossing be raised twice (it never is: its raise deletes it in the same
    transaction), the alert's dedupe key makes the second raise nothing."""
    tenant, _sku, _warehouse, rule = stock_world(demo_tx, safety=500, reorder=0, opening=600)
    ingest(tenant, [movement(delta=-200)])
    before = low_stock_state()
    RuleCrossing.objects.create(tenant=tenant, rule=rule, old=600, new=400, created_at=timezone.now())
    assert services.rule_crossing_raise(tenant=tenant, rule_ids=[rule.pk]) == 1
    assert low_stock_state() == before == (1, 1, 2)


def test_the_next_batch_raises_what_an_earlier_one_left_in_order(demo_tx, monkeypatch):
    """A rule's crossings are raised in the order they were made: the step reference counts on."""
    tenant, _sku, _warehouse, rule = stock_world(demo_tx, safety=0, reorder=0, step=100, opening=1000)
    with monkeypatch.context() as patched:
        crash_the_alerts_transaction(patched)
        ingest(tenant, [movement(delta=-100)])  # 900: one step, left pending
    assert RuleCrossing.objects.count() == 1
    ingest(tenant, [movement(delta=-100)])  # 800: raises both, the earlier first
    boundaries = sorted(a.payload["boundary"] for a in Alert.objects.filter(kind="step_drop"))
    assert boundaries == [800, 900]
    assert ReplenishmentRule.objects.get(pk=rule.pk).step_reference == 800
    assert not RuleCrossing.objects.exists()


def test_a_crossing_of_a_rule_deactivated_since_raises_nothing(demo_tx, monkeypatch):
    tenant, sku, warehouse, _rule = stock_world(demo_tx, safety=500, reorder=0, opening=600)
    with monkeypatch.context() as patched:
        crash_the_alerts_transaction(patched)
        ingest(tenant, [movement(delta=-200)])
    services.rule_upsert(tenant=tenant, actor=user("acme.admin"), sku=sku, warehouse=warehouse, active=False)
    assert services.rule_crossing_sweep(now=timezone.now() + LATER) == 1
    assert low_stock_state() == (0, 0, 0) and not RuleCrossing.objects.exists()


def test_a_claim_without_rooms_that_owes_an_alert_is_run_again_with_them(demo_tx, monkeypatch):
    """The batch judged it owed no alert (its statement's view), but the crossing claimed does:
    the claim is rolled back and made again, rooms first."""
    tenant, _sku, _warehouse, rule = stock_world(demo_tx, safety=500, reorder=0, opening=600)
    RuleCrossing.objects.create(tenant=tenant, rule=rule, old=600, new=400, created_at=timezone.now())
    calls = []
    original = rules._crossings_raise

    def recording(*args):
        calls.append(args[4])  # with rooms?
        return original(*args)

    monkeypatch.setattr(rules, "_crossings_raise", recording)
    assert services.rule_crossing_raise(tenant=tenant, rule_ids=[rule.pk], rooms=False) == 1
    assert calls == [False, True]
    assert low_stock_state() == (1, 1, 2) and not RuleCrossing.objects.exists()


def test_the_sweep_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["stock-rule-crossings"]
    assert entry["task"] == "inventory.rule_crossings_sweep"
    assert entry["schedule"] <= rules.CROSSING_SWEEP_AFTER.total_seconds()
