"""The portal's one lock order across apps (docs/ARCHITECTURE.md, "Lock order"): each pair of
paths that lock rows of more than one app, run against each other in both orders.

Each test pauses one side once it holds its first locks, runs the other until PostgreSQL shows it
waiting for a lock (or it is done), then lets both finish (tests/concurrency.py). Taken out of
order, the two would deadlock there and PostgreSQL would abort one of them (DeadlockDetected);
in order, one waits for the other and the outcome is the one of running them one after the other.
A movement batch used to lock its SKUs and stock levels before alert_raise locked its rooms: both
tests of a batch against the replenish button deadlocked then. Run outside a transaction, as the
API runs it, a batch raises its alerts in a second transaction (rooms → SKUs → its crossings →
the alerts): the tests pause it there.

The pairs inside one app are in tests/alerts/test_lock_order.py (buttons, the sweep, raising),
tests/inventory/test_lock_order.py and tests/messaging/test_chain_and_concurrency.py.
"""

from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied

from alerts import services as alert_services
from alerts.models import Alert
from inventory import services as inventory
from inventory.models import ReplenishmentRequest, ReplenishmentRule, StockLevel
from inventory.services import rules
from messaging import services as messaging
from messaging.models import Message
from scm_portal.tenancy import services as tenancy
from scm_portal.tenancy.models import Partnership
from tests.alerts.test_alerts import policy
from tests.alerts.test_lock_order import assert_chains_valid, card_in, events, press
from tests.api_contract import assert_error, user
from tests.concurrency import Side, pause, race
from tests.inventory.helpers import ingest, movement, stock_world
from tests.messaging.helpers import post_as, room_of

pytestmark = pytest.mark.django_db(transaction=True)


def stock_at_700(demo, with_policy=False):
    """SKU-T1 of sup-a in WH-T (safety 500, reorder point 800, max 2,000) brought from 1,000 to
    700 on hand: its reorder alert is open, with cards in sup-a's room and the internal room and
    the "安排补货" button on them."""
    if with_policy:
        policy(demo["tenants"]["acme"])
    tenant, sku, warehouse, rule = stock_world(demo, safety=500, reorder=800, max_level=2000, opening=1000)
    ingest(tenant, [movement(delta=-300)])
    alert = Alert.objects.get(kind="reorder_point")
    assert len(alert.cards) == 2
    return SimpleNamespace(tenant=tenant, sku=sku, warehouse=warehouse, rule=rule, alert=alert,
                           card=card_in(alert, room_of("acme", "sup-a")))


def batch(stock, delta):
    """A movement batch of one row on the SKU, as the ERP sends it (run later, in a Side)."""
    rows = [movement(delta=delta)]
    return lambda: inventory.stock_movement_ingest(tenant=stock.tenant, actor=user("acme.warehouse"), rows=rows)


def on_hand(stock):
    return StockLevel.objects.get(sku=stock.sku, warehouse=stock.warehouse).on_hand


def replenish(stock):
    return press("acme.warehouse", stock.card, "inventory_replenish")


# --- a movement batch raising an alert in a room, and a write in that room -------------------------

def test_a_batch_raising_an_alert_then_a_replenish_press_in_its_room(demo_tx, monkeypatch):
    stock = stock_at_700(demo_tx)
    # The batch has moved the level (committed) and holds the rooms of its alerts, its SKU and its
    # crossing (its second transaction); its alert is not raised yet.
    reached, release = pause(monkeypatch, rules, "rule_check_moves")
    ingesting = Side(batch(stock, -300))
    pressing = Side(replenish(stock))
    race(ingesting, pressing, reached, release)

    assert ingesting.outcome() == {"created": 1, "duplicates": 0}
    assert pressing.outcome().status_code == 201
    assert on_hand(stock) == 400 and Alert.objects.filter(kind="low_stock").count() == 1
    request = ReplenishmentRequest.objects.get()
    assert (request.quantity, request.alert_id) == (1600, stock.alert.pk)  # worked out after the batch: 2,000 − 400
    assert_chains_valid(stock.tenant)


def test_a_replenish_press_then_a_batch_raising_an_alert_in_its_room(demo_tx, monkeypatch):
    stock = stock_at_700(demo_tx)
    reached, release = pause(monkeypatch, rules, "skus_lock")  # the press holds the alert's card rooms
    pressing = Side(replenish(stock))
    ingesting = Side(batch(stock, -300))
    race(pressing, ingesting, reached, release)

    assert pressing.outcome().status_code == 201
    assert ingesting.outcome() == {"created": 1, "duplicates": 0}
    # The batch's statement locks no room: it moved the level while the press held its rooms, and
    # only its alerts' transaction waited for them. The press read the level after: 2,000 − 400.
    assert ReplenishmentRequest.objects.get().quantity == 1600
    low = Alert.objects.get(kind="low_stock")
    outcome = Message.objects.get(payload__action="inventory_replenish")
    assert card_in(low, room_of("acme", "sup-a"))["seq"] > outcome.seq  # the batch's card came after the press
    assert_chains_valid(stock.tenant)


@pytest.mark.parametrize("first", ["batch", "post"])
def test_a_batch_raising_an_alert_and_a_chat_post_in_its_room(demo_tx, monkeypatch, first):
    stock = stock_at_700(demo_tx)
    room = room_of("acme", "sup-a")
    posting = Side(lambda: post_as(user("supa.rep"), room, "到货时间?")[0])
    ingesting = Side(batch(stock, -300))
    if first == "batch":
        reached, release = pause(monkeypatch, rules, "rule_check_moves")
        race(ingesting, posting, reached, release)
    else:
        reached, release = pause(monkeypatch, messaging, "_lock_room_and_find_post", after=True)
        race(posting, ingesting, reached, release)

    chat = posting.outcome()
    assert ingesting.outcome() == {"created": 1, "duplicates": 0}
    card = card_in(Alert.objects.get(kind="low_stock"), room)
    assert (card["seq"] < chat.seq) == (first == "batch")
    seqs = list(Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert Message.objects.get(room=room, seq=card["seq"]).subject_kind == "alert"
    assert_chains_valid(stock.tenant)


# --- an alert button against the alert-first paths: recovery by a batch, the escalation sweep -------

def test_an_acknowledge_press_then_a_batch_recovering_the_alert(demo_tx, monkeypatch):
    stock = stock_at_700(demo_tx)
    reached, release = pause(monkeypatch, alert_services, "_lock")  # the press holds the card rooms
    pressing = Side(press("acme.warehouse", stock.card))
    recovering = Side(batch(stock, +200))  # back over the reorder point: recovers the alert
    race(pressing, recovering, reached, release)

    assert pressing.outcome().status_code == 201
    assert recovering.outcome() == {"created": 1, "duplicates": 0}
    alert = Alert.objects.get(pk=stock.alert.pk)
    assert alert.state == "resolved" and alert.recovered and alert.acknowledged_by.username == "acme.warehouse"
    assert events(alert) == [("raised", 0), ("acknowledged", 0), ("recovered", 0)]
    assert_chains_valid(stock.tenant)


def test_a_batch_recovering_the_alert_then_an_acknowledge_press(demo_tx, monkeypatch):
    stock = stock_at_700(demo_tx)
    reached, release = pause(monkeypatch, rules, "rule_check_moves")
    recovering = Side(batch(stock, +200))
    pressing = Side(press("acme.warehouse", stock.card))
    race(recovering, pressing, reached, release)

    assert recovering.outcome() == {"created": 1, "duplicates": 0}
    assert_error(pressing.outcome(), 409, "alert_resolved")  # resolved meanwhile: "the condition cleared by itself"
    alert = Alert.objects.get(pk=stock.alert.pk)
    assert alert.state == "resolved" and alert.recovered and alert.acknowledged_by is None
    assert events(alert) == [("raised", 0), ("recovered", 0)]
    assert_chains_valid(stock.tenant)


def test_the_escalation_sweep_then_a_batch_recovering_the_alert(demo_tx, monkeypatch):
    stock = stock_at_700(demo_tx, with_policy=True)
    reached, release = pause(monkeypatch, alert_services, "_escalate_batch")  # the sweep holds rooms and alert
    sweeping = Side(lambda: alert_services.escalation_sweep(now=stock.alert.next_escalation_at))
    recovering = Side(batch(stock, +200))
    race(sweeping, recovering, reached, release)

    assert sweeping.outcome() == 1
    assert recovering.outcome() == {"created": 1, "duplicates": 0}
    alert = Alert.objects.get(pk=stock.alert.pk)
    assert (alert.state, alert.recovered, alert.level) == ("resolved", True, 1)
    assert events(alert) == [("raised", 0), ("escalated", 1), ("recovered", 1)]
    assert_chains_valid(stock.tenant)


def test_a_batch_recovering_the_alert_then_the_escalation_sweep(demo_tx, monkeypatch):
    stock = stock_at_700(demo_tx, with_policy=True)
    reached, release = pause(monkeypatch, rules, "rule_check_moves")
    recovering = Side(batch(stock, +200))
    sweeping = Side(lambda: alert_services.escalation_sweep(now=stock.alert.next_escalation_at))
    race(recovering, sweeping, reached, release)

    assert recovering.outcome() == {"created": 1, "duplicates": 0}
    assert sweeping.outcome() == 0  # no longer due once the batch let go
    alert = Alert.objects.get(pk=stock.alert.pk)
    assert (alert.state, alert.recovered, alert.level) == ("resolved", True, 0)
    assert events(alert) == [("raised", 0), ("recovered", 0)]
    assert not Message.objects.filter(payload__escalation=True).exists()
    assert_chains_valid(stock.tenant)


# --- the replenish button against a rule write on its SKU (against a batch: above) ------------------

def rule_write(stock, **values):
    return lambda: inventory.rule_upsert(tenant=stock.tenant, actor=user("acme.planner"), sku=stock.sku,
                                         warehouse=stock.warehouse, **values)


def test_a_replenish_press_then_a_rule_write_on_its_sku(demo_tx, monkeypatch):
    stock = stock_at_700(demo_tx)
    reached, release = pause(monkeypatch, rules, "stock_levels_lock")  # the press has read the rule under its SKU's lock
    pressing = Side(replenish(stock))
    writing = Side(rule_write(stock, max_level=3000))
    race(pressing, writing, reached, release)

    assert pressing.outcome().status_code == 201
    assert writing.outcome().max_level == 3000
    assert ReplenishmentRequest.objects.get().quantity == 1300  # the rule as it stood: 2,000 − 700
    assert ReplenishmentRule.objects.get(pk=stock.rule.pk).max_level == 3000


def test_a_rule_write_then_a_replenish_press_on_its_sku(demo_tx, monkeypatch):
    stock = stock_at_700(demo_tx)
    reached, release = pause(monkeypatch, rules, "skus_lock", after=True)  # the rule write holds the SKU
    writing = Side(rule_write(stock, max_level=3000))
    pressing = Side(replenish(stock))
    race(writing, pressing, reached, release)

    assert writing.outcome().max_level == 3000
    assert pressing.outcome().status_code == 201
    assert ReplenishmentRequest.objects.get().quantity == 2300  # the rule written first: 3,000 − 700
    assert_chains_valid(stock.tenant)


# --- tenancy: a partnership suspended while its room is posted in ----------------------------------

@pytest.mark.parametrize("first", ["post", "suspension"])
def test_a_partnership_suspended_while_its_room_is_posted_in(demo_tx, monkeypatch, first):
    """They lock no row in common (the suspension writes the partnership; a post its room and the
    message): neither waits for the other, and the post, checked before the suspension committed,
    stands before it. After it, the partner's people may not post."""
    tenant = demo_tx["tenants"]["acme"]
    room = room_of("acme", "sup-a")
    partnership = Partnership.objects.get(tenant=tenant, organization__slug="sup-a")
    posting = Side(lambda: post_as(user("supa.rep"), room, "发货了")[0])
    suspending = Side(lambda: tenancy.partnership_set_active(tenant=tenant, actor=user("acme.admin"),
                                                             partnership=partnership, active=False))
    if first == "post":
        reached, release = pause(monkeypatch, messaging, "_lock_room_and_find_post", after=True)
        race(posting, suspending, reached, release)
    else:
        reached, release = pause(monkeypatch, tenancy, "send_access_changed_on_commit")  # the partnership row is written
        race(suspending, posting, reached, release)

    assert posting.outcome().body == "发货了"
    assert suspending.outcome().active is False
    assert not Partnership.objects.get(pk=partnership.pk).active
    with pytest.raises(PermissionDenied):
        post_as(user("supa.rep"), room, "还在吗?")
    assert_chains_valid(tenant)
