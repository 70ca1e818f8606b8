"""Alert writes take their row locks in one order (docs/ARCHITECTURE.md, "Lock order"): the
rooms holding the alert's cards (in id order), then the alert. A button pressed while the sweep
escalates the same alert waits for the sweep, or the sweep for it; neither is ever aborted as a
deadlock victim.

Each test pauses one side right after its first lock, runs the other until PostgreSQL shows it
waiting for a lock (or it is done), then lets the first side go on (tests/concurrency.py): the
interleaving that deadlocked when the sweep locked the alert before its rooms and a press its
room before the alert. The pairs with other apps are in tests/test_lock_order.py.
"""

import pytest
from rest_framework.test import APIClient

from alerts import services
from alerts.models import Alert, AlertEvent
from messaging.chain import chain_verify
from messaging.models import Message, Room
from tests import concurrency
from tests.alerts.test_alerts import policy, raise_alert
from tests.api_contract import assert_error, user
from tests.concurrency import Side, race
from tests.messaging.helpers import internal_room, room_of

pytestmark = pytest.mark.django_db(transaction=True)


def pause(monkeypatch, name, after=False):
    """The first call of alerts.services.<name> stops (before it runs, or after) until released."""
    return concurrency.pause(monkeypatch, services, name, after=after)


def press(username, card, action="alert_ack"):
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user(username))[0].key}")
    url = f"/api/v1/t/acme/rooms/{card['room']}/messages/{card['seq']}/actions/{action}/"
    return lambda: client.post(url)


def card_in(alert, room):
    return next(ref for ref in alert.cards if ref["room"] == room.pk)


def events(alert):
    return list(AlertEvent.objects.filter(alert=alert).order_by("pk").values_list("action", "level"))


def assert_chains_valid(tenant):
    for room in Room.objects.filter(tenant=tenant):
        assert chain_verify(room).ok, room


@pytest.fixture
def due_alert(demo_tx):
    policy(demo_tx["tenants"]["acme"])
    alert = raise_alert(demo_tx)
    assert len(alert.cards) == 2  # the supplier's room and the internal room
    return alert


def test_the_sweep_goes_first_and_the_press_then_acknowledges(due_alert, monkeypatch):
    reached, release = pause(monkeypatch, "_escalate_batch")  # the sweep holds its locks
    sweep = Side(lambda: services.escalation_sweep(now=due_alert.next_escalation_at))
    ack = Side(press("acme.warehouse", card_in(due_alert, room_of("acme", "sup-a"))))
    race(sweep, ack, reached, release)

    assert sweep.outcome() == 1
    assert ack.outcome().status_code == 201
    alert = Alert.objects.get(pk=due_alert.pk)
    assert (alert.state, alert.level, alert.next_escalation_at) == ("acknowledged", 1, None)
    assert events(alert) == [("raised", 0), ("escalated", 1), ("acknowledged", 1)]
    escalations = Message.objects.filter(payload__alert=alert.pk, payload__escalation=True)
    assert sorted(escalations.values_list("room_id", flat=True)) == sorted(ref["room"] for ref in alert.cards)
    assert_chains_valid(alert.tenant)


def test_the_press_goes_first_and_the_sweep_leaves_the_alert_alone(due_alert, monkeypatch):
    reached, release = pause(monkeypatch, "_lock")  # the press holds its room(s), not yet the alert
    ack = Side(press("acme.warehouse", card_in(due_alert, room_of("acme", "sup-a"))))
    sweep = Side(lambda: services.escalation_sweep(now=due_alert.next_escalation_at))
    race(ack, sweep, reached, release)

    assert ack.outcome().status_code == 201
    assert sweep.outcome() == 0
    alert = Alert.objects.get(pk=due_alert.pk)
    assert (alert.state, alert.level, alert.next_escalation_at) == ("acknowledged", 0, None)
    assert events(alert) == [("raised", 0), ("acknowledged", 0)]
    assert not Message.objects.filter(payload__escalation=True).exists()
    assert_chains_valid(alert.tenant)


def test_two_presses_on_two_cards_of_one_alert_the_second_is_a_clean_409(due_alert, monkeypatch):
    reached, release = pause(monkeypatch, "_lock")
    first = Side(press("acme.warehouse", card_in(due_alert, room_of("acme", "sup-a"))))
    second = Side(press("acme.warehouse", card_in(due_alert, internal_room("acme"))))
    race(first, second, reached, release)

    assert first.outcome().status_code == 201
    assert_error(second.outcome(), 409, "alert_acknowledged")  # "already acknowledged by …"
    alert = Alert.objects.get(pk=due_alert.pk)
    assert alert.state == "acknowledged" and alert.acknowledged_by.username == "acme.warehouse"
    assert events(alert) == [("raised", 0), ("acknowledged", 0)]
    assert_chains_valid(alert.tenant)


def test_recovery_while_a_button_is_pressed_resolves_after_it(due_alert, monkeypatch):
    reached, release = pause(monkeypatch, "_lock")
    ack = Side(press("acme.warehouse", card_in(due_alert, room_of("acme", "sup-a"))))
    recover = Side(lambda: services.alert_recover(tenant=due_alert.tenant, dedupe_key=due_alert.dedupe_key, note="回升"))
    race(ack, recover, reached, release)

    assert ack.outcome().status_code == 201
    assert recover.outcome().pk == due_alert.pk
    alert = Alert.objects.get(pk=due_alert.pk)
    assert alert.state == "resolved" and alert.recovered and alert.acknowledged_by.username == "acme.warehouse"
    assert events(alert) == [("raised", 0), ("acknowledged", 0), ("recovered", 0)]
    assert_chains_valid(alert.tenant)


def test_raising_an_alert_in_the_same_rooms_as_a_sweep(due_alert, monkeypatch):
    # The new alert holds its rooms and its row, its cards are posted, its event and notices not yet.
    reached, release = pause(monkeypatch, "event_post_many", after=True)
    raised = Side(lambda: services.alert_raise(
        tenant=due_alert.tenant, kind="low_stock", severity=20, dedupe_key="k2", title="SKU-10 低于安全库存",
        partner=due_alert.partner, core_audience=("warehouse",)))
    sweep = Side(lambda: services.escalation_sweep(now=due_alert.next_escalation_at))
    race(raised, sweep, reached, release)

    new, created = raised.outcome()
    assert created and len(new.cards) == 2
    assert sweep.outcome() == 1
    assert Alert.objects.get(pk=due_alert.pk).level == 1 and Alert.objects.get(pk=new.pk).level == 0
    assert_chains_valid(due_alert.tenant)
