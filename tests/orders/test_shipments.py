"""Shipments (ASN): created by the PO's supplier, over one PO or lines of several; quantities,
states, roles and tenants checked; the delivery note printed with its barcode."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert
from orders.models import PurchaseOrder, PurchaseOrderEvent, PurchaseOrderLine, RouteCell, Shipment, ShipmentLine
from tests.api_contract import assert_error, user
from tests.orders.factories_logistics import confirmed_po, logistics_user, straight_route

pytestmark = pytest.mark.django_db
URL = "/api/v1/t/{tenant}/shipments/"


@pytest.fixture
def world(demo):
    acme, orgs = demo["tenants"]["acme"], demo["organizations"]
    return {
        "acme": acme, "globex": demo["tenants"]["globex"], "orgs": orgs,
        "po": confirmed_po(acme, orgs["sup-a"]),
        "po2": confirmed_po(acme, orgs["sup-a"], lines=((30, "SKU-L3"),)),
        "po_b": confirmed_po(acme, orgs["sup-b"], lines=((10, "SKU-L4"),)),
    }


def counts():
    return (Shipment.objects.count(), ShipmentLine.objects.count(),
            list(PurchaseOrderLine.objects.order_by("pk").values_list("shipped_quantity", flat=True)),
            list(PurchaseOrder.objects.order_by("pk").values_list("state", flat=True)))


def post(api, username, body, tenant="acme"):
    api.as_user(user(username))
    return api.post(URL.format(tenant=tenant), body, format="json")


def test_supplier_ships_a_whole_po_with_route_and_eta(world, api):
    eta = (timezone.now() + timedelta(days=2)).isoformat()
    response = post(api, "supa.rep", {"purchase_order": world["po"].number, "carrier": "顺丰", "tracking_number": "SF123",
                                      "route": straight_route(), "eta": eta})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"].startswith("ASN-") and body["supplier"] == "sup-a" and body["state"] == "in_transit"
    assert [(line["line"], line["quantity"]) for line in body["lines"]] == [(1, 100), (2, 50)]
    po = PurchaseOrder.objects.get(pk=world["po"].pk)
    assert po.state == "shipped"
    assert list(po.lines.order_by("line").values_list("shipped_quantity", flat=True)) == [100, 50]
    assert PurchaseOrderEvent.objects.filter(order=po, action="ship", from_state="confirmed", to_state="shipped").count() == 1
    shipment = Shipment.objects.get(pk=body["id"])
    assert RouteCell.objects.filter(shipment=shipment).exists()
    assert shipment.stops == [[31.2, 121.4], [31.2, 122.4]]
    assert not Alert.objects.filter(kind="shipment_late").exists()  # the ETA is before the promised date


def test_lines_over_several_pos_of_one_supplier_count_per_line(world, api):
    po, po2 = world["po"], world["po2"]
    response = post(api, "supa.rep", {"lines": [{"purchase_order": po.number, "line": 1, "quantity": 40},
                                                {"purchase_order": po2.number, "line": 1, "quantity": 30}]})
    assert response.status_code == 201, response.content
    assert PurchaseOrderLine.objects.get(order=po, line=1).shipped_quantity == 40
    assert PurchaseOrderLine.objects.get(order=po, line=2).shipped_quantity == 0
    # A second, partial shipment of the same PO: shipped → shipped, counted on.
    response = post(api, "supa.rep", {"lines": [{"purchase_order": po.number, "line": 1, "quantity": 60}]})
    assert response.status_code == 201, response.content
    assert PurchaseOrderLine.objects.get(order=po, line=1).shipped_quantity == 100
    # Nothing of line 1 remains: one more unit is a 400 naming the row, and nothing changes.
    before = counts()
    response = post(api, "supa.rep", {"lines": [{"purchase_order": po.number, "line": 1, "quantity": 1}]})
    assert_error(response, 400)
    assert "0" in response.json()["error"]["fields"]["lines"]
    assert counts() == before


@pytest.mark.parametrize("body", [
    {"lines": [{"purchase_order": "PO-X", "line": 1, "quantity": 0}]},
    {"lines": [{"purchase_order": "PO-X", "line": "1", "quantity": 5}]},
    {"lines": []},
    {"lines": "all"},
    {},
    {"purchase_order": "P", "lines": []},
    {"purchase_order": 12},
    {"purchase_order": "{po}", "route": [{"lat": 91, "lon": 0}]},
    {"purchase_order": "{po}", "route": [{"lat": 1, "lon": "2"}]},
    {"purchase_order": "{po}", "route": "north"},
    {"purchase_order": "{po}", "eta": "tomorrow"},
    {"purchase_order": "{po}", "eta": "0001-01-01T00:00:00Z"},
    {"purchase_order": "{po}", "eta": "9999-12-31T23:59:59-12:00"},
    {"purchase_order": "{po}", "carrier": ["x"]},
    {"purchase_order": "{po}", "colour": "red"},
])
def test_bad_input_is_a_400_and_changes_nothing(world, api, body):
    body = {k: (v.replace("{po}", world["po"].number) if isinstance(v, str) else v) for k, v in body.items()}
    before = counts()
    assert_error(post(api, "supa.rep", body), 400)
    assert counts() == before


def test_quantity_past_remaining_names_the_row(world, api):
    before = counts()
    response = post(api, "supa.rep", {"lines": [{"purchase_order": world["po"].number, "line": 2, "quantity": 51}]})
    assert_error(response, 400)
    assert response.json()["error"]["fields"]["lines"]["0"]["quantity"]
    assert counts() == before


def test_mixing_suppliers_is_a_400(world, api, demo):
    # A rep of both suppliers (so both POs are visible to them) still may not mix them.
    from tests.factories import make_member

    both = make_member(world["acme"], "supplier_rep", username="both.rep", organization=world["orgs"]["sup-a"])
    from scm_portal.tenancy import services

    services.membership_create(tenant=world["acme"], actor=None, user=both, organization=world["orgs"]["sup-b"],
                               role="supplier_rep")
    before = counts()
    response = post(api, "both.rep", {"lines": [{"purchase_order": world["po"].number, "line": 1, "quantity": 1},
                                                {"purchase_order": world["po_b"].number, "line": 1, "quantity": 1}]})
    assert_error(response, 400)
    assert counts() == before


def test_unconfirmed_po_is_409(world, api):
    sent = confirmed_po(world["acme"], world["orgs"]["sup-a"], state="sent")
    before = counts()
    assert_error(post(api, "supa.rep", {"purchase_order": sent.number}), 409, "illegal_transition")
    assert counts() == before


def test_fully_shipped_po_is_409_nothing_to_ship(world, api):
    assert post(api, "supa.rep", {"purchase_order": world["po"].number}).status_code == 201
    before = counts()
    assert_error(post(api, "supa.rep", {"purchase_order": world["po"].number}), 409, "nothing_to_ship")
    assert counts() == before


@pytest.mark.parametrize("username", ["acme.buyer", "acme.warehouse", "acme.admin"])
def test_core_staff_may_not_create_a_shipment(world, api, username):
    before = counts()
    assert_error(post(api, username, {"purchase_order": world["po"].number}), 403)
    assert counts() == before


def test_another_supplier_or_tenant_gets_404(world, api):
    before = counts()
    assert_error(post(api, "supb.rep", {"purchase_order": world["po"].number}), 404)
    assert_error(post(api, "globex.buyer", {"purchase_order": world["po"].number}), 404)
    # sup-a's rep under globex: the acme PO does not exist there.
    assert_error(post(api, "supa.rep", {"purchase_order": world["po"].number}, tenant="globex"), 404)
    assert counts() == before


def test_ship_endpoint_of_a_po_with_partial_lines(world, api):
    api.as_user(user("supa.rep"))
    url = f"/api/v1/t/acme/purchase-orders/{world['po'].number}/ship/"
    response = api.post(url, {"lines": [{"line": 2, "quantity": 20}], "carrier": "德邦"}, format="json")
    assert response.status_code == 201, response.content
    assert [(line["line"], line["quantity"]) for line in response.json()["lines"]] == [(2, 20)]
    before = counts()
    assert_error(api.post(url, {"lines": [{"line": 2, "quantity": 31}]}, format="json"), 400)
    assert_error(api.post(url, {"lines": [{"line": 9, "quantity": 1}]}, format="json"), 400)
    assert_error(api.post(url, {"wheels": 18}, format="json"), 400)
    assert counts() == before
    # The whole rest.
    response = api.post(url, {}, format="json")
    assert response.status_code == 201, response.content
    assert [(line["line"], line["quantity"]) for line in response.json()["lines"]] == [(1, 100), (2, 30)]


def test_ship_endpoint_roles_and_tenants(world, api):
    url = "/api/v1/t/{tenant}/purchase-orders/{number}/ship/"
    before = counts()
    api.as_user(user("acme.buyer"))
    assert_error(api.post(url.format(tenant="acme", number=world["po"].number), {}, format="json"), 403)
    api.as_user(user("supb.rep"))
    assert_error(api.post(url.format(tenant="acme", number=world["po"].number), {}, format="json"), 404)
    api.as_user(user("supa.rep"))
    assert_error(api.post(url.format(tenant="globex", number=world["po"].number), {}, format="json"), 404)
    assert_error(api.post(url.format(tenant="acme", number="PO-NOPE"), {}, format="json"), 404)
    assert counts() == before


def test_late_eta_raises_one_shipment_late_alert_in_the_suppliers_room(world, api):
    eta = (timezone.now() + timedelta(days=30)).isoformat()  # promised in 10 days
    response = post(api, "supa.rep", {"purchase_order": world["po"].number, "eta": eta})
    assert response.status_code == 201, response.content
    alert = Alert.objects.get(kind="shipment_late")
    assert alert.subject_kind == "shipment" and alert.subject_ref == str(response.json()["id"])
    assert alert.partner == world["orgs"]["sup-a"] and "logistics" in alert.core_audience
    from messaging.models import Message

    rooms = set(Message.objects.filter(subject_kind="alert", subject_ref=str(alert.pk)).values_list("room__partnership__organization__slug", flat=True))
    assert "sup-a" in rooms


def test_list_and_detail_are_scoped(world, api):
    shipment_id = post(api, "supa.rep", {"purchase_order": world["po"].number}).json()["id"]
    logistics_user(world["acme"])
    for username in ("supa.rep", "acme.buyer", "acme.logistics"):
        api.as_user(user(username))
        listed = api.get(URL.format(tenant="acme")).json()["results"]
        assert [row["id"] for row in listed] == [shipment_id], username
        assert api.get(URL.format(tenant="acme") + f"{shipment_id}/").status_code == 200
    api.as_user(user("supb.rep"))
    assert api.get(URL.format(tenant="acme")).json()["results"] == []
    assert_error(api.get(URL.format(tenant="acme") + f"{shipment_id}/"), 404)
    api.as_user(user("globex.buyer"))
    assert_error(api.get(URL.format(tenant="globex") + f"{shipment_id}/"), 404)
    api.as_user(user("supa.rep"))
    assert_error(api.get(URL.format(tenant="globex") + f"{shipment_id}/"), 404)


def test_delivery_note_pdf_with_barcode(world, api):
    shipment_id = post(api, "supa.rep", {"purchase_order": world["po"].number, "carrier": "<b>Evil</b>"}).json()["id"]
    api.as_user(user("acme.warehouse"))
    response = api.get(URL.format(tenant="acme") + f"{shipment_id}/note.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    api.as_user(user("supb.rep"))
    assert_error(api.get(URL.format(tenant="acme") + f"{shipment_id}/note.pdf"), 404)


def test_delivery_note_html_escapes_and_fetches_only_static_files(world, api, tmp_path):
    from orders.delivery_note import StaticFilesOnlyFetcher, delivery_note_html

    shipment_id = post(api, "supa.rep", {"purchase_order": world["po"].number, "carrier": '<img src="http://x/">'}).json()["id"]
    shipment = Shipment.objects.select_related("supplier").get(pk=shipment_id)
    html = delivery_note_html(shipment, lines=list(shipment.lines.select_related("order_line__order", "order_line__sku")),
                              tenant=world["acme"])
    assert '<img src="http://x/">' not in html and "&lt;img" in html
    assert "<svg" in html and shipment.number in html
    fetcher = StaticFilesOnlyFetcher()
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    for url in ("http://127.0.0.1/", "https://example.com/x.css", secret.as_uri(), "file:///etc/passwd",
                "data:text/plain,hi"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    from django.conf import settings

    css = next(iter(settings.STATICFILES_DIRS)) / "portal" / "portal.css"
    response = fetcher.fetch(css.as_uri())
    assert response.read() == css.read_bytes()
