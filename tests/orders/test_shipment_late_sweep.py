"""`shipment_late` is a swept condition: a shipment in transit is checked again by beat once the
day after its earliest promised date has begun (late_check_at), so a truck still on the road then
raises it even though its ETA looked fine; a new ETA raises or recovers it at once; delivery
recovers it. The sweep takes each due shipment FOR UPDATE SKIP LOCKED, after its alert's rooms."""

import zoneinfo
from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert
from orders.models import Shipment
from orders.services.shipments import shipment_alert_late, shipment_lateness
from tests.api_contract import assert_error, user
from tests.messaging.helpers import room_of
from tests.orders.factories_logistics import confirmed_po, logistics_user, ship

pytestmark = pytest.mark.django_db
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.fixture
def world(demo):
    acme, orgs = demo["tenants"]["acme"], demo["organizations"]
    acme.time_zone = "Asia/Shanghai"
    acme.save(update_fields=["time_zone"])
    today = timezone.localdate(timezone=SHANGHAI)
    po = confirmed_po(acme, orgs["sup-a"], promised=today + timedelta(days=3))
    return {"acme": acme, "orgs": orgs, "po": po, "promised": today + timedelta(days=3)}


def late_alerts():
    return list(Alert.objects.filter(kind="shipment_late").order_by("pk"))


def patch(api, username, shipment, body, tenant="acme"):
    return api.as_user(user(username)).patch(f"/api/v1/t/{tenant}/shipments/{shipment.pk}/", body, format="json")


def start_of(day):
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


class TestLateness:
    """shipment_lateness: the rule itself, in the tenant's time zone."""

    class Line:
        def __init__(self, due, line=1, order_id=1):
            self.promised_date, self.requested_date, self.line, self.order_id = due, due, line, order_id

    def test_on_time_is_checked_again_when_the_due_day_is_over(self):
        now = start_of(date(2026, 12, 7)) + timedelta(hours=9)
        late, check_at = shipment_lateness([self.Line(date(2026, 12, 10))], now + timedelta(days=1), SHANGHAI, now)
        assert late is None and check_at == start_of(date(2026, 12, 11))

    def test_an_eta_after_the_promised_day_is_late(self):
        now = start_of(date(2026, 12, 7))
        line = self.Line(date(2026, 12, 10))
        late, check_at = shipment_lateness([line], start_of(date(2026, 12, 11)) + timedelta(hours=1), SHANGHAI, now)
        assert late is line and check_at is None

    def test_late_on_the_eta_day_in_the_tenants_zone_not_utc(self):
        # 2026-12-10 20:00 UTC is 12-11 04:00 in Shanghai: the day after the promised 12-10.
        now = start_of(date(2026, 12, 7))
        eta = datetime(2026, 12, 10, 20, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))
        late, _check = shipment_lateness([self.Line(date(2026, 12, 10))], eta, SHANGHAI, now)
        assert late is not None

    def test_no_eta_counts_from_now(self):
        line = self.Line(date(2026, 12, 10))
        assert shipment_lateness([line], None, SHANGHAI, start_of(date(2026, 12, 10)))[0] is None
        assert shipment_lateness([line], None, SHANGHAI, start_of(date(2026, 12, 11)))[0] is line

    def test_the_earliest_due_line_decides(self):
        now = start_of(date(2026, 12, 7))
        early, later = self.Line(date(2026, 12, 9), line=2), self.Line(date(2026, 12, 20), line=1)
        late, _ = shipment_lateness([later, early], start_of(date(2026, 12, 12)), SHANGHAI, now)
        assert late is early
        assert shipment_lateness([later, early], None, SHANGHAI, now)[1] == start_of(date(2026, 12, 10))


class TestSweep:
    def test_a_truck_still_on_the_road_after_the_promised_day_raises_once(self, world):
        shipment = ship(world["acme"], world["po"], eta=(timezone.now() + timedelta(days=1)).isoformat())
        assert late_alerts() == []
        shipment.refresh_from_db()
        assert shipment.late_check_at == start_of(world["promised"] + timedelta(days=1))
        assert shipment_alert_late() == 0  # not due yet
        assert shipment_alert_late(now=shipment.late_check_at - timedelta(seconds=1)) == 0
        assert shipment_alert_late(now=shipment.late_check_at) == 1
        assert shipment_alert_late(now=shipment.late_check_at + timedelta(hours=1)) == 0  # once
        [alert] = late_alerts()
        assert (alert.subject_kind, alert.subject_ref, alert.partner.slug) == ("shipment", str(shipment.pk), "sup-a")
        assert alert.payload["promised_date"] == world["promised"].isoformat()
        assert alert.payload["eta"] == (world["promised"] + timedelta(days=1)).isoformat()  # it cannot arrive sooner
        assert room_of("acme", "sup-a").pk in [card["room"] for card in alert.cards]
        shipment.refresh_from_db()
        assert shipment.late_check_at is None

    def test_a_delivered_shipment_is_left_and_a_late_one_recovers_on_delivery(self, world, api):
        shipment = ship(world["acme"], world["po"], eta=(timezone.now() + timedelta(days=1)).isoformat())
        response = api.as_user(user("acme.warehouse")).post(f"/api/v1/t/acme/purchase-orders/{world['po'].number}/receive/",
                                                            {}, format="json")
        assert response.status_code == 201, response.content
        shipment.refresh_from_db()
        assert shipment.state == "delivered" and shipment.late_check_at is None
        assert shipment_alert_late(now=timezone.now() + timedelta(days=30)) == 0
        assert late_alerts() == []

        # Late, then delivered: the alert recovers.
        po = confirmed_po(world["acme"], world["orgs"]["sup-a"], promised=world["promised"])
        late = ship(world["acme"], po, eta=(timezone.now() + timedelta(days=30)).isoformat())
        [alert] = late_alerts()
        assert alert.subject_ref == str(late.pk) and alert.state == "open"
        response = api.as_user(user("acme.warehouse")).post(f"/api/v1/t/acme/purchase-orders/{po.number}/receive/", {},
                                                            format="json")
        assert response.status_code == 201, response.content
        alert.refresh_from_db()
        assert alert.state == "resolved" and alert.recovered

    def test_the_sweep_is_scheduled(self, settings):
        entry = settings.CELERY_BEAT_SCHEDULE["shipment-late"]
        from scm_portal.celery import app

        app.loader.import_default_modules()
        assert entry["task"] == "orders.shipment_late_sweep" and entry["task"] in app.tasks

    def test_the_task_runs_the_sweep(self, world):
        from orders.tasks import shipment_late_sweep

        shipment = ship(world["acme"], world["po"])
        Shipment.objects.filter(pk=shipment.pk).update(late_check_at=timezone.now() - timedelta(minutes=1))
        # Due, but not late yet by the rule (the promised day is ahead): checked, nothing raised, due again later.
        assert shipment_late_sweep.apply().get() == 0
        shipment.refresh_from_db()
        assert shipment.late_check_at == start_of(world["promised"] + timedelta(days=1))


class TestEtaUpdate:
    def test_a_later_eta_raises_and_a_fixed_one_recovers(self, world, api):
        shipment = ship(world["acme"], world["po"], eta=(timezone.now() + timedelta(days=1)).isoformat())
        response = patch(api, "supa.rep", shipment, {"eta": (timezone.now() + timedelta(days=9)).isoformat()})
        assert response.status_code == 200, response.content
        [alert] = late_alerts()
        assert alert.state == "open" and alert.subject_ref == str(shipment.pk)
        shipment.refresh_from_db()
        assert shipment.late_check_at is None
        # The same late ETA again: still one alert.
        assert patch(api, "supa.rep", shipment, {"eta": (timezone.now() + timedelta(days=8)).isoformat()}).status_code == 200
        assert len(late_alerts()) == 1
        response = patch(api, "supa.rep", shipment, {"eta": (timezone.now() + timedelta(days=2)).isoformat()})
        assert response.status_code == 200, response.content
        assert response.json()["eta"] is not None
        alert.refresh_from_db()
        assert alert.state == "resolved" and alert.recovered
        shipment.refresh_from_db()
        assert shipment.late_check_at == start_of(world["promised"] + timedelta(days=1))

    def test_the_logistics_role_may_update_it_the_buyer_may_not(self, world, api):
        shipment = ship(world["acme"], world["po"])
        logistics_user(world["acme"])
        assert patch(api, "acme.logistics", shipment, {"eta": None}).status_code == 200
        before = Shipment.objects.filter(pk=shipment.pk).values_list("eta", "late_check_at").get()
        assert_error(patch(api, "acme.buyer", shipment, {"eta": timezone.now().isoformat()}), 403)
        assert_error(patch(api, "acme.auditor", shipment, {"eta": timezone.now().isoformat()}), 403)
        assert_error(patch(api, "supb.rep", shipment, {"eta": timezone.now().isoformat()}), 404)
        assert_error(patch(api, "globex.buyer", shipment, {"eta": timezone.now().isoformat()}, tenant="globex"), 404)
        assert_error(patch(api, "globex.buyer", shipment, {"eta": timezone.now().isoformat()}), 404)
        assert Shipment.objects.filter(pk=shipment.pk).values_list("eta", "late_check_at").get() == before

    @pytest.mark.parametrize("body, field", [
        ({}, "eta"),
        ({"eta": "next tuesday"}, "eta"),
        ({"eta": "0001-01-01T00:00:00Z"}, "eta"),
        ({"eta": 12}, "eta"),
        ({"eta": None, "carrier": "x"}, "carrier"),
    ])
    def test_bad_input_is_a_400_and_changes_nothing(self, world, api, body, field):
        shipment = ship(world["acme"], world["po"], eta=(timezone.now() + timedelta(days=1)).isoformat())
        before = Shipment.objects.filter(pk=shipment.pk).values_list("eta", "late_check_at").get()
        response = patch(api, "supa.rep", shipment, body)
        assert_error(response, 400)
        assert field in response.json()["error"]["fields"]
        assert Shipment.objects.filter(pk=shipment.pk).values_list("eta", "late_check_at").get() == before
        assert late_alerts() == []

    def test_a_delivered_shipment_takes_no_new_eta(self, world, api):
        shipment = ship(world["acme"], world["po"])
        Shipment.objects.filter(pk=shipment.pk).update(state="delivered")
        assert_error(patch(api, "supa.rep", shipment, {"eta": timezone.now().isoformat()}), 409, "shipment_closed")


class TestLockOrder:
    """The sweep and a receipt take the alert's rooms before the shipment: whichever goes first,
    the other waits, and neither is a deadlock victim (tests/concurrency.py)."""

    @pytest.fixture
    def due(self, demo_tx):
        from orders.models import PurchaseOrderLine

        acme, orgs = demo_tx["tenants"]["acme"], demo_tx["organizations"]
        po = confirmed_po(acme, orgs["sup-a"])
        shipment = ship(acme, po)
        # The promised day is over and the truck is still on the road: due and late.
        PurchaseOrderLine.objects.filter(order=po).update(promised_date=timezone.localdate() - timedelta(days=2))
        Shipment.objects.filter(pk=shipment.pk).update(late_check_at=timezone.now() - timedelta(minutes=1))
        return po, shipment

    @staticmethod
    def receive(po):
        from rest_framework.authtoken.models import Token
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user('acme.warehouse'))[0].key}")
        return lambda: client.post(f"/api/v1/t/acme/purchase-orders/{po.number}/receive/", {}, format="json")

    @staticmethod
    def assert_chains_valid():
        from messaging.chain import chain_verify
        from messaging.models import Room

        for room in Room.objects.filter(tenant__slug="acme"):
            assert chain_verify(room).ok, room

    @pytest.mark.django_db(transaction=True)
    def test_the_sweep_goes_first_and_delivery_then_recovers(self, due, monkeypatch):
        from orders.services import shipments
        from tests import concurrency
        from tests.concurrency import Side, race

        po, shipment = due
        reached, release = concurrency.pause(monkeypatch, shipments, "shipment_late_raise")  # rooms and shipment held
        sweep = Side(lambda: shipment_alert_late())
        receipt = Side(self.receive(po))
        race(sweep, receipt, reached, release)
        assert sweep.outcome() == 1
        assert receipt.outcome().status_code == 201
        [alert] = late_alerts()
        assert alert.state == "resolved" and alert.recovered
        self.assert_chains_valid()

    @pytest.mark.django_db(transaction=True)
    def test_delivery_goes_first_and_the_sweep_finds_nothing_due(self, due, monkeypatch):
        from orders.services import receipts
        from tests import concurrency
        from tests.concurrency import Side, race

        po, shipment = due
        reached, release = concurrency.pause(monkeypatch, receipts, "_deliver_shipments")  # rooms, PO, lines held
        receipt = Side(self.receive(po))
        sweep = Side(lambda: shipment_alert_late())
        race(receipt, sweep, reached, release)
        assert receipt.outcome().status_code == 201
        assert sweep.outcome() == 0
        assert late_alerts() == []
        shipment.refresh_from_db()
        assert shipment.state == "delivered"
        self.assert_chains_valid()
