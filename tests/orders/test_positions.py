"""GPS positions: validation, who may post, out-of-order fixes, and the rules they feed
(route_deviation once per detour, abnormal_stop), set-based per batch."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertState
from messaging.models import Message
from orders.models import OrderSettings, Position, Shipment
from tests.api_contract import assert_error, user
from tests.orders.factories_logistics import confirmed_po, logistics_user, ship, straight_route

pytestmark = pytest.mark.django_db

ON_ROUTE_LAT, DETOUR_LAT = 31.20, 31.30  # the detour runs ≈ 11 km north of the route


@pytest.fixture
def world(demo):
    acme, orgs = demo["tenants"]["acme"], demo["organizations"]
    shipment = ship(acme, confirmed_po(acme, orgs["sup-a"]), route=straight_route(), carrier="顺丰")
    return {"acme": acme, "orgs": orgs, "shipment": shipment, "start": timezone.now() - timedelta(hours=6)}


def url(shipment, tenant="acme"):
    return f"/api/v1/t/{tenant}/shipments/{shipment.pk}/positions/"


def fixes(start, points, minutes=5):
    """[{"lat", "lon", "at"}] one every `minutes` from `start`, over `points` [(lat, lon)]."""
    return [{"lat": lat, "lon": lon, "at": (start + timedelta(minutes=minutes * i)).isoformat()}
            for i, (lat, lon) in enumerate(points)]


def moving(lat, lon_from, count, step=0.02):
    return [(lat, lon_from + step * i) for i in range(count)]


def post(api, username, shipment, body, tenant="acme"):
    api.as_user(user(username))
    return api.post(url(shipment, tenant), body, format="json")


def state():
    return (Position.objects.count(), list(Shipment.objects.order_by("pk").values_list(
        "last_position_at", "off_route_streak", "deviating", "stop_since")), Alert.objects.count())


def test_one_position_and_a_list(world, api):
    shipment, start = world["shipment"], world["start"]
    response = post(api, "supa.rep", shipment, {"lat": 31.2, "lon": 121.5, "at": start.isoformat()})
    assert response.status_code == 201 and response.json() == {"created": 1}
    response = post(api, "supa.rep", shipment, fixes(start + timedelta(minutes=5), moving(31.2, 121.52, 10)))
    assert response.json() == {"created": 10}
    shipment.refresh_from_db()
    assert shipment.last_position_at == start + timedelta(minutes=50)
    assert (shipment.last_lat, shipment.last_lon) == (31.2, pytest.approx(121.52 + 0.18))
    listed = api.get(url(shipment)).json()["results"]
    assert len(listed) == 11 and listed[0]["at"] > listed[-1]["at"]


def test_out_of_order_positions_are_kept_and_the_latest_is_last(world, api):
    shipment, start = world["shipment"], world["start"]
    late = fixes(start + timedelta(hours=1), [(31.2, 121.9)])
    early = fixes(start, [(31.2, 121.5), (31.2, 121.6)])
    assert post(api, "supa.rep", shipment, late).status_code == 201
    assert post(api, "supa.rep", shipment, early).status_code == 201
    shipment.refresh_from_db()
    assert Position.objects.filter(shipment=shipment).count() == 3
    assert shipment.last_position_at == start + timedelta(hours=1) and shipment.last_lon == 121.9
    # Within one batch too, whatever the order of the rows.
    batch = fixes(start + timedelta(hours=2), [(31.2, 122.0), (31.2, 122.1)])
    assert post(api, "supa.rep", shipment, list(reversed(batch))).status_code == 201
    shipment.refresh_from_db()
    assert shipment.last_lon == 122.1


@pytest.mark.parametrize("row, field", [
    ({"lat": 90.5, "lon": 121, "at": "2026-01-01T00:00:00Z"}, "lat"),
    ({"lat": 31, "lon": -181, "at": "2026-01-01T00:00:00Z"}, "lon"),
    ({"lat": "31", "lon": 121, "at": "2026-01-01T00:00:00Z"}, "lat"),
    ({"lat": True, "lon": 121, "at": "2026-01-01T00:00:00Z"}, "lat"),
    ({"lat": 31, "lon": 121, "at": "yesterday"}, "at"),
    ({"lat": 31, "lon": 121, "at": "2999-01-01T00:00:00Z"}, "at"),
    ({"lat": 31, "lon": 121}, "at"),
    ({"lat": 31, "lon": 121, "at": "2026-01-01T00:00:00Z", "speed": 80}, "speed"),
])
def test_a_bad_row_is_named_and_nothing_is_stored(world, api, row, field):
    good = fixes(world["start"], [(31.2, 121.5), (31.2, 121.6)])
    before = state()
    response = post(api, "supa.rep", world["shipment"], [*good, row])
    assert_error(response, 400)
    assert field in response.json()["error"]["fields"]["rows"]["2"]
    assert state() == before


@pytest.mark.parametrize("body", [[], "here", 42, [1, 2], {"rows": []}])
def test_a_body_that_is_no_position_is_a_400(world, api, body):
    before = state()
    assert_error(post(api, "supa.rep", world["shipment"], body), 400)
    assert state() == before


def test_too_many_positions_is_a_400(world, api):
    before = state()
    rows = fixes(world["start"], [(31.2, 121.5)] * 5001, minutes=0)
    assert_error(post(api, "supa.rep", world["shipment"], rows), 400)
    assert state() == before


def test_who_may_post(world, api):
    shipment, rows = world["shipment"], fixes(world["start"], [(31.2, 121.5)])
    before = state()
    assert_error(post(api, "acme.buyer", shipment, rows), 403)  # sees it, may not move it
    assert_error(post(api, "acme.auditor", shipment, rows), 403)
    assert_error(post(api, "supb.rep", shipment, rows), 404)
    assert_error(post(api, "globex.buyer", shipment, rows, tenant="globex"), 404)
    assert_error(post(api, "supa.rep", shipment, rows, tenant="globex"), 404)
    assert state() == before
    logistics_user(world["acme"])
    assert post(api, "acme.logistics", shipment, rows).status_code == 201
    api.as_user(user("supb.rep"))
    assert_error(api.get(url(shipment)), 404)


def test_a_delivered_shipment_takes_no_positions(world, api):
    shipment = world["shipment"]
    Shipment.objects.filter(pk=shipment.pk).update(state="delivered")
    before = state()
    assert_error(post(api, "supa.rep", shipment, fixes(world["start"], [(31.2, 121.5)])), 409, "shipment_closed")
    assert state() == before


def _route_alerts(kind="route_deviation"):
    return list(Alert.objects.filter(kind=kind).order_by("pk"))


def test_a_detour_of_six_positions_raises_exactly_one_alert_shown_in_the_suppliers_room(world, api):
    shipment, start = world["shipment"], world["start"]
    on = moving(ON_ROUTE_LAT, 121.45, 4)
    detour = moving(DETOUR_LAT, 121.55, 6)
    back = moving(ON_ROUTE_LAT, 121.70, 3)
    rows = fixes(start, on + detour + back)
    # Posted as they come, one at a time: the rules see each.
    for row in rows[:7]:
        assert post(api, "supa.rep", shipment, row).status_code == 201
    alerts = _route_alerts()
    assert len(alerts) == 1 and alerts[0].state == AlertState.OPEN
    assert post(api, "supa.rep", shipment, rows[7:10]).status_code == 201  # still off: the same alert
    assert len(_route_alerts()) == 1
    shipment.refresh_from_db()
    assert shipment.deviating and shipment.off_route_streak == 6
    assert post(api, "supa.rep", shipment, rows[10:]).status_code == 201  # back on the route
    alert = Alert.objects.get(kind="route_deviation")
    assert alert.state == AlertState.RESOLVED and alert.recovered
    assert alert.subject_kind == "shipment" and alert.subject_ref == str(shipment.pk)
    assert alert.partner == world["orgs"]["sup-a"] and "logistics" in alert.core_audience
    assert alert.payload["threshold_m"] == 5000 and (alert.payload["distance_m"] or 5001) > 5000
    card = Message.objects.get(subject_kind="alert", subject_ref=str(alert.pk), room__partnership__organization__slug="sup-a",
                               refers_to__isnull=True)
    assert shipment.number in card.body
    # A second detour later is a second alert.
    again = fixes(start + timedelta(hours=2), moving(DETOUR_LAT, 121.9, 2))
    assert post(api, "supa.rep", shipment, again).status_code == 201
    assert len(_route_alerts()) == 2


def test_a_detour_in_one_batch_is_one_alert_and_a_single_stray_fix_none(world, api):
    shipment, start = world["shipment"], world["start"]
    one_stray = moving(ON_ROUTE_LAT, 121.45, 3) + [(DETOUR_LAT, 121.52)] + moving(ON_ROUTE_LAT, 121.55, 3)
    assert post(api, "supa.rep", world["shipment"], fixes(start, one_stray)).status_code == 201
    assert _route_alerts() == []
    detour = moving(DETOUR_LAT, 121.7, 6) + moving(ON_ROUTE_LAT, 121.85, 2)
    assert post(api, "supa.rep", shipment, fixes(start + timedelta(hours=1), detour)).status_code == 201
    alerts = _route_alerts()
    assert len(alerts) == 1 and alerts[0].recovered


def test_the_tenants_threshold_decides(world, api):
    OrderSettings.objects.create(tenant=world["acme"], route_deviation_meters=20_000)
    rows = fixes(world["start"], moving(DETOUR_LAT, 121.5, 6))  # 11 km off: within 20 km
    assert post(api, "supa.rep", world["shipment"], rows).status_code == 201
    assert _route_alerts() == []
    world["shipment"].refresh_from_db()
    assert world["shipment"].route_margin_meters == 20_000  # the index was rebuilt for it


def test_an_abnormal_stop_away_from_the_stops_raises_once_and_recovers(world, api):
    shipment, start = world["shipment"], world["start"]
    stood = [(ON_ROUTE_LAT, 121.9 + 0.0003 * (i % 2)) for i in range(16)]  # 75 minutes within a few metres
    assert post(api, "supa.rep", shipment, fixes(start, stood)).status_code == 201
    alerts = _route_alerts("abnormal_stop")
    assert len(alerts) == 1 and alerts[0].payload["minutes"] >= 60
    assert post(api, "supa.rep", shipment, fixes(start + timedelta(hours=2), [(ON_ROUTE_LAT, 122.0)])).status_code == 201
    alert = Alert.objects.get(kind="abnormal_stop")
    assert alert.state == AlertState.RESOLVED and alert.recovered


def test_standing_at_a_stop_is_no_abnormal_stop(world, api):
    at_origin = [(31.2001, 121.4001)] * 20  # the route's first point is a stop
    assert post(api, "supa.rep", world["shipment"], fixes(world["start"], at_origin)).status_code == 201
    assert _route_alerts("abnormal_stop") == []


def test_bulk_positions_of_several_shipments(world, api, demo):
    acme, orgs, start = world["acme"], world["orgs"], world["start"]
    other = ship(acme, confirmed_po(acme, orgs["sup-a"], lines=((5, "SKU-L9"),)), route=straight_route())
    foreign = ship(acme, confirmed_po(acme, orgs["sup-b"], lines=((5, "SKU-L8"),)), username="supb.rep")
    rows = [{"shipment": world["shipment"].pk, **row} for row in fixes(start, moving(DETOUR_LAT, 121.5, 3))]
    rows += [{"shipment": other.pk, **row} for row in fixes(start, moving(ON_ROUTE_LAT, 121.5, 3))]
    api.as_user(user("supa.rep"))
    bulk = "/api/v1/t/acme/shipments/positions/"
    before = state()
    response = api.post(bulk, [*rows, {"shipment": foreign.pk, "lat": 31, "lon": 121, "at": start.isoformat()}], format="json")
    assert_error(response, 400)
    assert "shipment" in response.json()["error"]["fields"]["rows"]["6"]
    assert_error(api.post(bulk, [{"lat": 31, "lon": 121, "at": start.isoformat()}], format="json"), 400)
    assert state() == before
    assert api.post(bulk, rows, format="json").json() == {"created": 6}
    assert [a.subject_ref for a in _route_alerts()] == [str(world["shipment"].pk)]
    api.as_user(user("acme.buyer"))
    assert_error(api.post(bulk, rows, format="json"), 403)


def test_a_batch_is_set_based(world, api, django_assert_max_num_queries):
    shipment, start = world["shipment"], timezone.now() - timedelta(hours=10)
    rows = fixes(start, moving(ON_ROUTE_LAT, 121.41, 500, step=0.0019), minutes=1)
    api.as_user(user("supa.rep"))
    api.post(url(shipment), rows[:1], format="json")  # warm: token, caches
    # token and user, tenant context, the shipment's visibility (view, change), its state,
    # its changeability, the settings, the cells, the lock, the insert, the update, savepoints.
    with django_assert_max_num_queries(16):
        response = api.post(url(shipment), rows[1:], format="json")
    assert response.json() == {"created": 499}


def test_a_shipment_changed_between_the_read_and_the_lock_is_read_again(world, api, monkeypatch):
    """The rules run on the state read unlocked (to lock the alerts' rooms first); a shipment
    another writer moved before the lock (its row version differs) is read again, and the rules
    run on what it now is: here a newer position arrived meanwhile, so this batch's older fixes
    are stored but no longer move the truck."""
    from orders.services import positions

    shipment, start = world["shipment"], world["start"]
    newer = start + timedelta(hours=1)
    original, calls = positions._run_rules, []

    def run_rules_then_another_writer(*args, **kwargs):
        original(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            Shipment.objects.filter(pk=shipment.pk).update(last_position_at=newer, last_lat=31.2, last_lon=121.9)

    monkeypatch.setattr(positions, "_run_rules", run_rules_then_another_writer)
    response = post(api, "supa.rep", shipment, fixes(start, moving(DETOUR_LAT, 121.5, 3)))
    assert response.status_code == 201, response.content
    assert len(calls) == 2  # read again after the lock, the rules run again
    shipment.refresh_from_db()
    assert shipment.last_position_at == newer and shipment.last_lon == 121.9 and not shipment.deviating
    assert Position.objects.filter(shipment=shipment).count() == 3
    assert not Alert.objects.filter(kind="route_deviation").exists()


def test_an_unchanged_shipment_is_not_read_again(world, api, monkeypatch):
    from orders.services import positions

    calls = []
    original = positions._states
    monkeypatch.setattr(positions, "_states", lambda *a, **k: calls.append(1) or original(*a, **k))
    response = post(api, "supa.rep", world["shipment"], fixes(world["start"], moving(ON_ROUTE_LAT, 121.5, 3)))
    assert response.status_code == 201, response.content
    assert len(calls) == 1
