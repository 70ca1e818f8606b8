"""Shipment pages: the list and one shipment with its SVG map (planned route, track, stops,
detour points), its lines with the receiving result and its alerts; scoped like the API."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from orders.services.positions import position_ingest
from tests.api_contract import user
from tests.orders.factories_logistics import confirmed_po, context_of, ship, straight_route

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(demo):
    acme, orgs = demo["tenants"]["acme"], demo["organizations"]
    shipment = ship(acme, confirmed_po(acme, orgs["sup-a"]), route=straight_route(), carrier="顺丰 <script>")
    start = timezone.now() - timedelta(hours=3)
    rows = [{"lat": lat, "lon": 121.45 + 0.05 * i, "at": (start + timedelta(minutes=5 * i)).isoformat()}
            for i, lat in enumerate([31.2, 31.2, 31.3, 31.3, 31.3, 31.2])]
    actor, context = context_of("supa.rep", acme)
    position_ingest(tenant=acme, actor=actor, context=context, rows=rows, shipment=shipment)
    return {"acme": acme, "orgs": orgs, "shipment": shipment}


def get(client, username, path):
    client.force_login(user(username))
    return client.get(path)


@pytest.mark.parametrize("username", ["acme.buyer", "acme.warehouse", "supa.rep"])
def test_the_list_shows_the_shipment(world, client, username):
    response = get(client, username, "/t/acme/shipments/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-shipment="{world["shipment"].pk}"' in html
    assert world["shipment"].number in html
    assert 'data-testid="off-route"' not in html  # back on the route by the last position


def test_another_supplier_lists_nothing_and_gets_404_on_the_page(world, client):
    response = get(client, "supb.rep", "/t/acme/shipments/")
    assert response.status_code == 200 and 'data-testid="shipments-empty"' in response.content.decode()
    assert get(client, "supb.rep", f"/t/acme/shipments/{world['shipment'].pk}/").status_code == 404
    assert get(client, "globex.buyer", f"/t/acme/shipments/{world['shipment'].pk}/").status_code == 404
    assert get(client, "supa.rep", f"/t/globex/shipments/{world['shipment'].pk}/").status_code == 404
    assert get(client, "supa.rep", "/t/acme/shipments/999999/").status_code == 404
    assert get(client, "supa.rep", "/t/acme/shipments/__ref__/").status_code == 404
    assert get(client, "supa.rep", "/t/acme/shipments/99999999999999999999999/").status_code == 404


def test_anonymous_is_sent_to_log_in(world, client):
    response = client.get("/t/acme/shipments/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("username", ["acme.buyer", "supa.rep"])
def test_the_detail_draws_route_track_stops_and_the_detour(world, client, username):
    response = get(client, username, f"/t/acme/shipments/{world['shipment'].pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    svg = re.search(r'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 800 480".*?</svg>', html, re.S).group(0)
    route = re.search(r'data-testid="map-route" points="([^"]+)"', svg).group(1).split()
    track = re.search(r'data-testid="map-track" points="([^"]+)"', svg).group(1).split()
    assert len(route) == 11 and len(track) == 6
    assert svg.count('data-testid="map-stop"') == 2
    assert svg.count('data-testid="map-deviation"') == 1  # the detour's alert, where it was seen
    assert 'data-testid="map-last"' in svg
    # North is up: the detour's fixes are drawn above the route.
    route_y = float(route[0].split(",")[1])
    assert float(track[2].split(",")[1]) < route_y
    assert 'data-kind="route_deviation"' in html
    assert "顺丰 &lt;script&gt;" in html and "顺丰 <script>" not in html
    assert 'data-testid="note-pdf"' in html


def test_the_detail_shows_the_receiving_result(world, client, api):
    api.as_user(user("acme.warehouse"))
    po = world["shipment"].lines.first().order_line.order
    api.post(f"/api/v1/t/acme/purchase-orders/{po.number}/receive/",
             {"lines": [{"line": 1, "quantity": 10, "inspection": "fail", "lot": "X-1"}, {"line": 2, "quantity": 50}]},
             format="json")
    html = get(client, "supa.rep", f"/t/acme/shipments/{world['shipment'].pk}/").content.decode()
    assert re.findall(r'data-testid="accepted">(\d+)<', html) == ["0", "50"]
    assert re.findall(r'data-testid="rejected">(\d+)<', html) == ["10", "0"]


def test_a_shipment_without_route_or_positions(world, client, demo):
    bare = ship(world["acme"], confirmed_po(world["acme"], world["orgs"]["sup-a"], lines=((3, "SKU-L7"),)))
    html = get(client, "acme.buyer", f"/t/acme/shipments/{bare.pk}/").content.decode()
    assert 'data-testid="map-route"' not in html and "No planned route and no positions yet." in html
