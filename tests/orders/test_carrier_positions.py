"""A carrier's dispatchers post the positions of the shipments assigned to their carrier
organisation, and only those: another carrier's shipment, an unassigned one or another tenant's
is a 404 (a row error in a bulk post), and nothing is stored. The supplier assigns the carrier
partner when it ships (`carrier_organization`, a carrier partner's slug of the tenant)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import demo_logistics
from orders.models import Position, Shipment
from scm_portal.tenancy import services
from scm_portal.tenancy.roles import OrganizationKind, Role
from tests.api_contract import assert_error, user
from tests.factories import make_member
from tests.orders.factories_logistics import confirmed_po, ship, straight_route

pytestmark = pytest.mark.django_db


def carrier_org(tenant, slug, name):
    org = services.organization_get_or_create(slug=slug, name=name, kind=OrganizationKind.CARRIER)
    services.partnership_create(tenant=tenant, actor=None, organization=org, kind=OrganizationKind.CARRIER)
    return org


@pytest.fixture
def world(demo):
    acme, globex, orgs = demo["tenants"]["acme"], demo["tenants"]["globex"], demo["organizations"]
    sf, db = carrier_org(acme, "carrier-sf", "顺丰速运"), carrier_org(acme, "carrier-db", "德邦物流")
    make_member(acme, Role.CARRIER_DISPATCHER, username="sf.dispatch", organization=sf)
    make_member(acme, Role.CARRIER_DISPATCHER, username="db.dispatch", organization=db)
    return {
        "acme": acme, "globex": globex, "orgs": orgs, "sf": sf, "db": db,
        "mine": ship(acme, confirmed_po(acme, orgs["sup-a"]), route=straight_route(), carrier_organization="carrier-sf"),
        "theirs": ship(acme, confirmed_po(acme, orgs["sup-a"]), route=straight_route(), carrier_organization="carrier-db"),
        "unassigned": ship(acme, confirmed_po(acme, orgs["sup-a"]), route=straight_route()),
    }


def fix(minutes_ago=5, lat=31.2, lon=121.5):
    return {"lat": lat, "lon": lon, "at": (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()}


def post_positions(api, username, shipment, body, tenant="acme"):
    return api.as_user(user(username)).post(f"/api/v1/t/{tenant}/shipments/{shipment.pk}/positions/", body, format="json")


def post_bulk(api, username, rows, tenant="acme"):
    return api.as_user(user(username)).post(f"/api/v1/t/{tenant}/shipments/positions/", rows, format="json")


def test_shipping_assigns_the_carrier_partner(world, api):
    mine = world["mine"]
    assert mine.carrier_organization_id == world["sf"].pk and mine.carrier == "顺丰速运"  # its name when none is given
    body = api.as_user(user("supa.rep")).get(f"/api/v1/t/acme/shipments/{mine.pk}/").json()
    assert body["carrier_organization"] == "carrier-sf"
    assert api.get(f"/api/v1/t/acme/shipments/{world['unassigned'].pk}/").json()["carrier_organization"] is None


@pytest.mark.parametrize("value", ["carrier-nope", "sup-b", 7, ["carrier-sf"], "x" * 60])
def test_an_unknown_or_wrong_kind_of_carrier_is_a_400_and_ships_nothing(world, api, value):
    po = confirmed_po(world["acme"], world["orgs"]["sup-a"])
    before = Shipment.objects.count()
    response = api.as_user(user("supa.rep")).post("/api/v1/t/acme/shipments/", {
        "purchase_order": po.number, "carrier_organization": value}, format="json")
    assert_error(response, 400)
    assert "carrier_organization" in response.json()["error"]["fields"]
    assert Shipment.objects.count() == before


def test_another_tenants_carrier_is_unknown(world, api):
    carrier_org(world["globex"], "carrier-gx", "GX Freight")
    po = confirmed_po(world["acme"], world["orgs"]["sup-a"])
    response = api.as_user(user("supa.rep")).post(f"/api/v1/t/acme/purchase-orders/{po.number}/ship/",
                                                  {"carrier_organization": "carrier-gx"}, format="json")
    assert_error(response, 400)
    response = api.post(f"/api/v1/t/acme/purchase-orders/{po.number}/ship/", {"carrier_organization": "carrier-db"},
                        format="json")
    assert response.status_code == 201 and response.json()["carrier_organization"] == "carrier-db"


def test_the_dispatcher_posts_positions_of_its_shipments(world, api):
    response = post_positions(api, "sf.dispatch", world["mine"], [fix(10), fix(5, lon=121.6)])
    assert response.status_code == 201, response.content
    assert response.json() == {"created": 2}
    shipment = Shipment.objects.get(pk=world["mine"].pk)
    assert shipment.last_lon == 121.6
    response = post_bulk(api, "sf.dispatch", [{"shipment": world["mine"].pk, **fix(1)}])
    assert response.status_code == 201, response.content
    assert Position.objects.filter(shipment=world["mine"]).count() == 3


def test_the_dispatcher_sees_only_its_shipments(world, api):
    api.as_user(user("sf.dispatch"))
    listed = [row["id"] for row in api.get("/api/v1/t/acme/shipments/").json()["results"]]
    assert listed == [world["mine"].pk]
    assert api.get(f"/api/v1/t/acme/shipments/{world['mine'].pk}/positions/").status_code == 200
    for other in ("theirs", "unassigned"):
        assert_error(api.get(f"/api/v1/t/acme/shipments/{world[other].pk}/"), 404)


def test_another_carriers_or_an_unassigned_shipment_is_404_and_stores_nothing(world, api):
    for other in ("theirs", "unassigned"):
        assert_error(post_positions(api, "sf.dispatch", world[other], [fix()]), 404)
    response = post_bulk(api, "sf.dispatch", [{"shipment": world["mine"].pk, **fix(2)},
                                              {"shipment": world["theirs"].pk, **fix(1)}])
    assert_error(response, 400)
    assert set(response.json()["error"]["fields"]["rows"]) == {"1"}
    assert not Position.objects.exists()


def test_another_tenant_is_404(world, api):
    assert_error(post_positions(api, "sf.dispatch", world["mine"], [fix()], tenant="globex"), 404)
    assert_error(post_positions(api, "globex.buyer", world["mine"], [fix()]), 404)
    assert not Position.objects.exists()


def test_bad_positions_from_a_dispatcher_are_400(world, api):
    for body in ([{"lat": 91, "lon": 121.5, "at": fix()["at"]}], [{"lat": 31.2, "lon": 121.5}], "x", []):
        assert_error(post_positions(api, "sf.dispatch", world["mine"], body), 400)
    assert not Position.objects.exists()


def test_the_dispatcher_may_update_its_shipments_eta_but_not_ship(world, api):
    eta = (timezone.now() + timedelta(days=1)).isoformat()
    response = api.as_user(user("sf.dispatch")).patch(f"/api/v1/t/acme/shipments/{world['mine'].pk}/", {"eta": eta},
                                                      format="json")
    assert response.status_code == 200, response.content
    assert_error(api.patch(f"/api/v1/t/acme/shipments/{world['theirs'].pk}/", {"eta": eta}, format="json"), 404)
    po = confirmed_po(world["acme"], world["orgs"]["sup-a"])
    assert api.post("/api/v1/t/acme/shipments/", {"purchase_order": po.number}, format="json").status_code in (403, 404)
    assert Shipment.objects.count() == 3


def test_a_closed_shipment_takes_no_positions(world, api):
    Shipment.objects.filter(pk=world["mine"].pk).update(state="delivered")
    assert_error(post_positions(api, "sf.dispatch", world["mine"], [fix()]), 409, "shipment_closed")


def test_the_supplier_and_the_dispatcher_see_the_shipment_page_others_do_not(world, client):
    url = f"/t/acme/shipments/{world['mine'].pk}/"
    client.force_login(user("sf.dispatch"))
    assert client.get(url).status_code == 200
    assert client.get(f"/t/acme/shipments/{world['theirs'].pk}/").status_code == 404
    page = client.get("/t/acme/shipments/").content.decode()
    assert world["mine"].number in page and world["theirs"].number not in page
    client.force_login(user("db.dispatch"))
    assert client.get(url).status_code == 404


def test_the_demo_has_a_carrier_and_its_dispatcher_posts_the_late_trucks_positions(demo, api):
    demo_logistics.seed(demo)
    late = Shipment.objects.get(lines__order_line__order__number=demo_logistics.LATE_PO)
    assert late.carrier_organization.slug == demo_logistics.CARRIER[0]
    dispatcher = user(demo_logistics.DISPATCHER[0])
    assert dispatcher.password == user("supa.rep").password  # one demo password for every login
    response = post_positions(api, demo_logistics.DISPATCHER[0], late, [fix(1, lat=31.08, lon=121.18)])
    assert response.status_code == 201, response.content
    hold_shipment = Shipment.objects.get(lines__order_line__order__number=demo_logistics.HOLD_PO)
    assert_error(post_positions(api, demo_logistics.DISPATCHER[0], hold_shipment, [fix()]), 404)
    demo_logistics.seed(demo)  # idempotent with the carrier too
    assert Shipment.objects.filter(carrier_organization__slug=demo_logistics.CARRIER[0]).count() == 1


def test_the_carrier_rule_adds_to_the_others_with_or_without_a_context(world):
    """Core staff still see every shipment, the supplier its own, a dispatcher its carrier's: read
    through a TenantContext and through the plain membership condition alike."""
    from scm_portal.tenancy.access import tenant_context_for

    everything = {world[k].pk for k in ("mine", "theirs", "unassigned")}
    expected = {"acme.buyer": everything, "supa.rep": everything, "supb.rep": set(), "sf.dispatch": {world["mine"].pk},
                "db.dispatch": {world["theirs"].pk}, "globex.buyer": set()}
    for username, pks in expected.items():
        reader = user(username)
        plain = set(Shipment.objects.for_tenant(world["acme"]).visible_to(reader).values_list("pk", flat=True))
        in_context = set(Shipment.objects.for_tenant(world["acme"]).visible_to(
            reader, context=tenant_context_for(reader, world["acme"])).values_list("pk", flat=True))
        assert plain == in_context == pks, username
    assert set(Shipment.objects.visible_to(user("sf.dispatch"), "change").values_list("pk", flat=True)) == {world["mine"].pk}
