"""Receipts: the warehouse receives a shipped PO line by line, with inspection and lot; passed goods
go into stock through inventory's movements; a failed lot is held, alerted and blocked until released."""

import pytest

from alerts.models import Alert, AlertState
from inventory.models import StockLevel, StockMovement
from messaging.models import Message
from orders.models import PurchaseOrder, PurchaseOrderLine, QualityHold, Receipt
from tests.api_contract import assert_error, user
from tests.orders.factories_logistics import confirmed_po, ship

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(demo):
    acme, orgs = demo["tenants"]["acme"], demo["organizations"]
    po = confirmed_po(acme, orgs["sup-a"])  # line 1: 100 of SKU-L1, line 2: 50 of SKU-L2
    shipment = ship(acme, po)
    return {"acme": acme, "orgs": orgs, "po": po, "shipment": shipment}


def receive_url(po, tenant="acme"):
    return f"/api/v1/t/{tenant}/purchase-orders/{po.number}/receive/"


def receive(api, username, po, body=None, tenant="acme"):
    api.as_user(user(username))
    return api.post(receive_url(po, tenant), body if body is not None else {}, format="json")


def snapshot():
    return (Receipt.objects.count(), QualityHold.objects.count(), StockMovement.objects.count(), Alert.objects.count(),
            list(PurchaseOrderLine.objects.order_by("pk").values_list("received_quantity", "accepted_quantity", "rejected_quantity")),
            list(PurchaseOrder.objects.order_by("pk").values_list("state", flat=True)),
            list(QualityHold.objects.order_by("pk").values_list("state", flat=True)))


def on_hand(tenant, code):
    level = StockLevel.objects.filter(tenant=tenant, sku__code=code).first()
    return level.on_hand if level else 0


def test_an_empty_body_receives_everything_shipped_into_stock(world, api):
    response = receive(api, "acme.warehouse", world["po"])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "received"
    assert [(line["line"], line["accepted_quantity"], line["rejected_quantity"]) for line in body["lines"]] == [(1, 100, 0), (2, 50, 0)]
    assert on_hand(world["acme"], "SKU-L1") == 100 and on_hand(world["acme"], "SKU-L2") == 50
    receipt_ids = list(Receipt.objects.order_by("pk").values_list("pk", flat=True))
    assert set(StockMovement.objects.values_list("external_id", flat=True)) == {f"receipt:{pk}" for pk in receipt_ids}
    assert set(Receipt.objects.values_list("shipment_id", flat=True)) == {world["shipment"].pk}
    world["shipment"].refresh_from_db()
    assert world["shipment"].state == "delivered"
    # Received in full: a second receipt is a 409, and nothing changes.
    before = snapshot()
    assert_error(receive(api, "acme.warehouse", world["po"]), 409, "illegal_transition")
    assert snapshot() == before


def test_partial_receipts_count_per_line(world, api):
    response = receive(api, "acme.warehouse", world["po"], {"lines": [{"line": 1, "quantity": 40, "inspection": "pass", "lot": "L-1"}]})
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "shipped"
    line = PurchaseOrderLine.objects.get(order=world["po"], line=1)
    assert (line.received_quantity, line.accepted_quantity) == (40, 40)
    before = snapshot()
    response = receive(api, "acme.warehouse", world["po"], {"lines": [{"line": 1, "quantity": 61, "inspection": "pass"}]})
    assert_error(response, 400)
    assert response.json()["error"]["fields"]["lines"]["0"]["quantity"]
    assert snapshot() == before
    response = receive(api, "acme.warehouse", world["po"], {"lines": [{"line": 1, "inspection": "pass"}, {"line": 2, "quantity": 50}]})
    assert response.status_code == 201 and response.json()["state"] == "received"


@pytest.mark.parametrize("body", [
    {"lines": [{"line": 1, "quantity": 0, "inspection": "pass"}]},
    {"lines": [{"line": 1, "quantity": 5, "inspection": "maybe"}]},
    {"lines": [{"line": 1, "quantity": 5, "inspection": "fail"}]},  # a failed lot needs its name
    {"lines": [{"line": 1, "quantity": 5, "inspection": "pass", "lot": 7}]},
    {"lines": [{"line": 9, "quantity": 5, "inspection": "pass"}]},
    {"lines": [{"line": 1, "quantity": 5}, {"line": 1, "quantity": 5}]},
    {"lines": [{"line": 1, "quantity": 5, "colour": "red"}]},
    {"lines": []},
    {"lines": "all"},
    {"everything": True},
])
def test_bad_receipts_are_400_and_change_nothing(world, api, body):
    before = snapshot()
    assert_error(receive(api, "acme.warehouse", world["po"], body), 400)
    assert snapshot() == before


def test_who_may_receive(world, api):
    before = snapshot()
    assert_error(receive(api, "supa.rep", world["po"]), 403)  # the supplier sees the PO, may not receive it
    assert_error(receive(api, "acme.buyer", world["po"]), 403)
    assert_error(receive(api, "supb.rep", world["po"]), 404)
    assert_error(receive(api, "globex.buyer", world["po"], tenant="globex"), 404)
    assert_error(receive(api, "supa.rep", world["po"], tenant="globex"), 404)
    assert snapshot() == before


@pytest.mark.parametrize("state", ["sent", "confirmed", "draft", "cancelled"])
def test_receiving_an_unshipped_po_is_409(world, api, state):
    po = confirmed_po(world["acme"], world["orgs"]["sup-a"], state=state)
    before = snapshot()
    assert_error(receive(api, "acme.warehouse", po), 409, "illegal_transition")
    assert snapshot() == before


def test_a_failed_inspection_holds_the_lot_alerts_and_blocks_it_until_released(world, api):
    acme, po = world["acme"], world["po"]
    response = receive(api, "acme.warehouse", po, {"lines": [
        {"line": 1, "quantity": 30, "inspection": "fail", "lot": "LOT-9"},
        {"line": 1, "quantity": 20, "inspection": "pass", "lot": "LOT-8"},
    ]})
    assert response.status_code == 201, response.content
    hold = QualityHold.objects.get()
    assert (hold.lot, hold.sku.code, hold.state) == ("LOT-9", "SKU-L1", "held")
    line = PurchaseOrderLine.objects.get(order=po, line=1)
    assert (line.received_quantity, line.accepted_quantity, line.rejected_quantity) == (50, 20, 30)
    assert on_hand(acme, "SKU-L1") == 20  # only what passed
    alert = Alert.objects.get(kind="quality_hold")
    assert alert.partner == world["orgs"]["sup-a"] and "warehouse" in alert.core_audience
    assert alert.subject_kind == "quality_hold" and alert.subject_ref == str(hold.pk)
    assert Message.objects.filter(subject_kind="alert", subject_ref=str(alert.pk), room__partnership__organization__slug="sup-a").exists()

    # The supplier sees the receiving result per line.
    api.as_user(user("supa.rep"))
    shipment = api.get(f"/api/v1/t/acme/shipments/{world['shipment'].pk}/").json()
    assert [(row["line"], row["accepted_quantity"], row["rejected_quantity"]) for row in shipment["lines"]] == [(1, 20, 30), (2, 0, 0)]
    holds = api.get("/api/v1/t/acme/quality-holds/").json()["results"]
    assert [(h["id"], h["lot"], h["state"], h["purchase_order"], h["line"]) for h in holds] == [(hold.pk, "LOT-9", "held", po.number, 1)]

    # More of the held lot: 409, nothing changes.
    before = snapshot()
    response = receive(api, "acme.warehouse", po, {"lines": [{"line": 1, "quantity": 5, "inspection": "pass", "lot": "LOT-9"}]})
    assert_error(response, 409, "lot_on_hold")
    assert snapshot() == before

    release = f"/api/v1/t/acme/quality-holds/{hold.pk}/release/"
    api.as_user(user("supa.rep"))
    assert_error(api.post(release, {"reason": "我们检查过了"}, format="json"), 403)
    api.as_user(user("supb.rep"))
    assert_error(api.post(release, {"reason": "x"}, format="json"), 404)
    api.as_user(user("globex.buyer"))
    assert_error(api.post(f"/api/v1/t/globex/quality-holds/{hold.pk}/release/", {"reason": "x"}, format="json"), 404)
    api.as_user(user("acme.warehouse"))
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": 5}, {"why": "x"}):
        assert_error(api.post(release, body, format="json"), 400)
    assert snapshot() == before

    response = api.post(release, {"reason": "复检合格 / re-inspected, passed"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "released"
    hold.refresh_from_db()
    assert hold.release_reason == "复检合格 / re-inspected, passed" and hold.released_by == user("acme.warehouse")
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.recovered
    assert_error(api.post(release, {"reason": "again"}, format="json"), 409, "not_on_hold")
    # The lot may come in again.
    response = receive(api, "acme.warehouse", po, {"lines": [{"line": 1, "quantity": 5, "inspection": "pass", "lot": "LOT-9"}]})
    assert response.status_code == 201, response.content


def test_quality_holds_are_scoped(world, api):
    receive(api, "acme.warehouse", world["po"], {"lines": [{"line": 2, "quantity": 5, "inspection": "fail", "lot": "B-1"}]})
    hold = QualityHold.objects.get()
    for username, expected in (("acme.warehouse", [hold.pk]), ("acme.auditor", [hold.pk]), ("supa.rep", [hold.pk]),
                               ("supb.rep", [])):
        api.as_user(user(username))
        assert [h["id"] for h in api.get("/api/v1/t/acme/quality-holds/").json()["results"]] == expected, username
    api.as_user(user("globex.buyer"))
    assert_error(api.get("/api/v1/t/acme/quality-holds/"), 404)
    assert_error(api.get(f"/api/v1/t/globex/quality-holds/{hold.pk}/"), 404)


def test_two_lines_failing_in_one_lot_of_a_sku_make_one_hold(demo, api):
    acme, orgs = demo["tenants"]["acme"], demo["organizations"]
    po = confirmed_po(acme, orgs["sup-a"], lines=((10, "SKU-L5"), (10, "SKU-L5")))
    ship(acme, po)
    response = receive(api, "acme.warehouse", po, {"lines": [{"line": 1, "inspection": "fail", "lot": "DUP"},
                                                             {"line": 2, "inspection": "fail", "lot": "DUP"}]})
    assert response.status_code == 201, response.content
    assert QualityHold.objects.filter(lot="DUP").count() == 1
    assert Alert.objects.filter(kind="quality_hold").count() == 1


def test_a_receipt_that_recovers_a_stock_alert_posts_its_card_after_the_alerts_notice(demo, api):
    """The receipt's stock movement recovers the SKU's low_stock alert, whose notice goes into the
    supplier's room inside the receipt's transaction; the receipt's card follows it there (it once
    took the room's seq from before the notice: a 500 on a duplicate seq)."""
    from inventory.models import Warehouse
    from tests.inventory.helpers import ingest, movement, stock_world
    from tests.messaging.helpers import room_of

    # Given SKU-T1 of sup-a is below its safety stock at WH-T, its low_stock alert open
    stock_world(demo, safety=500, reorder=0, opening=600)
    acme = demo["tenants"]["acme"]
    ingest(acme, [movement(delta=-200)])
    assert Alert.objects.get(kind="low_stock").state != AlertState.RESOLVED
    # and a PO of 300 of it to WH-T, shipped
    po = confirmed_po(acme, demo["organizations"]["sup-a"], lines=((300, "SKU-T1"),),
                      warehouse=Warehouse.objects.get(tenant=acme, code="WH-T"))
    ship(acme, po)

    # When the warehouse receives it
    response = receive(api, "acme.warehouse", po)

    # Then it is received, the alert recovers, and the room holds the notice, then the receipt's card
    assert response.status_code == 201, response.content
    assert Alert.objects.get(kind="low_stock").state == AlertState.RESOLVED
    room = room_of("acme", "sup-a")
    seqs = list(Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and room.last_seq == seqs[-1]
    last = list(Message.objects.filter(room=room).order_by("-seq")[:2])
    assert (last[0].subject_kind, last[0].subject_ref) == ("purchase_order", po.number)
    assert (last[1].subject_kind, last[1].text["key"]) == ("alert", "inventory.recovered.low_stock")
