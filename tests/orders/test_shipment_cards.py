"""Shipping and receiving post their own PO cards in the supplier's room: a shipment dispatched
(with "Confirm receipt" for the receiving roles while the PO is shipped), a receipt per line and
lot (accepted and rejected), and a quality hold (a link to the PO's page, where the hold is
released with a reason). Each reads in the reader's language, is linked to the PO (and the
shipment), and its buttons follow the per-reader rules and the PO's state."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message
from orders.models import PurchaseOrder, QualityHold, Receipt
from tests.api_contract import assert_error, user
from tests.messaging.helpers import room_of
from tests.orders.factories_logistics import confirmed_po, ship

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(demo):
    acme, orgs = demo["tenants"]["acme"], demo["organizations"]
    po = confirmed_po(acme, orgs["sup-a"])  # line 1: 100 of SKU-L1, line 2: 50 of SKU-L2
    return {"acme": acme, "orgs": orgs, "po": po}


def cards_of(po, key):
    return list(Message.objects.filter(subject_kind="purchase_order", subject_ref=po.number, text__key=key).order_by("seq"))


def frame(api, username, message, language="en"):
    url = f"/api/v1/t/acme/rooms/{message.room_id}/messages/"
    response = api.as_user(user(username)).get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, response.content
    return next(f for f in response.json()["results"] if f["seq"] == message.seq)


def buttons(api, username, message):
    return {a["name"]: a["enabled"] for a in frame(api, username, message)["actions"]}


def press(api, username, message, action):
    url = f"/api/v1/t/acme/rooms/{message.room_id}/messages/{message.seq}/actions/{action}/"
    return api.as_user(user(username)).post(url, {}, format="json")


def receive(api, po, lines, username="acme.warehouse"):
    return api.as_user(user(username)).post(f"/api/v1/t/acme/purchase-orders/{po.number}/receive/", {"lines": lines},
                                            format="json")


class TestDispatched:
    def test_one_card_in_the_suppliers_room_linked_to_the_po_and_the_shipment(self, world, api):
        eta = timezone.now() + timedelta(days=2)
        shipment = ship(world["acme"], world["po"], carrier="顺丰速运", eta=eta.isoformat())
        [card] = cards_of(world["po"], "orders.shipment.dispatched")
        assert card.room_id == room_of("acme", "sup-a").pk and card.kind == "event"
        assert card.payload["shipment"] == shipment.pk and card.payload["shipment_number"] == shipment.number
        assert card.payload["purchase_order"] == world["po"].number and card.payload["state"] == "shipped"
        english = frame(api, "supa.rep", card, "en")["body"]
        assert english.startswith(f"**Shipment {shipment.number}** of purchase order {world['po'].number} was dispatched by ")
        assert "Carrier: 顺丰速运" in english and "\n\n- Line 1: 100 shipped\n- Line 2: 50 shipped" in english
        chinese = frame(api, "supa.rep", card, "zh-hans")["body"]
        assert f"**运单 {shipment.number}**" in chinese and "- 第 1 行：发运 100" in chinese

    def test_without_carrier_or_eta_the_card_says_so(self, world, api):
        ship(world["acme"], world["po"])
        [card] = cards_of(world["po"], "orders.shipment.dispatched")
        assert "Carrier: not given; ETA: not given." in frame(api, "supa.rep", card, "en")["body"]

    def test_a_shipment_over_two_pos_posts_one_card_per_po(self, world, api):
        from orders.services.shipments import shipment_create
        from tests.orders.factories_logistics import context_of

        po2 = confirmed_po(world["acme"], world["orgs"]["sup-a"], lines=((30, "SKU-L3"),))
        actor, context = context_of("supa.rep", world["acme"])
        shipment = shipment_create(tenant=world["acme"], actor=actor, context=context, lines=[
            {"purchase_order": world["po"].number, "line": 1, "quantity": 40},
            {"purchase_order": po2.number, "line": 1, "quantity": 30}])
        [first] = cards_of(world["po"], "orders.shipment.dispatched")
        [second] = cards_of(po2, "orders.shipment.dispatched")
        assert first.payload["shipment"] == second.payload["shipment"] == shipment.pk
        assert frame(api, "supa.rep", first)["body"].endswith("- Line 1: 40 shipped")
        assert frame(api, "supa.rep", second)["body"].endswith("- Line 1: 30 shipped")

    def test_confirm_receipt_is_offered_to_the_receiving_roles_only(self, world, api):
        ship(world["acme"], world["po"])
        [card] = cards_of(world["po"], "orders.shipment.dispatched")
        assert buttons(api, "acme.warehouse", card) == {"po_receive": True}
        for reader in ("supa.rep", "acme.buyer", "acme.auditor"):
            assert buttons(api, reader, card) == {}, reader
        labels = {"en": "Confirm receipt", "zh-hans": "确认收货"}
        for language, label in labels.items():
            assert [a["label"] for a in frame(api, "acme.warehouse", card, language)["actions"]] == [label]


class TestConfirmReceipt:
    def test_the_press_receives_everything_shipped_and_the_button_goes(self, world, api):
        ship(world["acme"], world["po"])
        [card] = cards_of(world["po"], "orders.shipment.dispatched")
        response = press(api, "acme.warehouse", card, "po_receive")
        assert response.status_code == 201, response.content
        po = PurchaseOrder.objects.get(pk=world["po"].pk)
        assert po.state == "received"
        assert sorted(Receipt.objects.filter(order=po).values_list("quantity", "inspection")) == [(50, "pass"), (100, "pass")]
        assert buttons(api, "acme.warehouse", card) == {}  # received: nothing left to confirm
        [received] = cards_of(po, "orders.receipt.received_shipment")
        body = frame(api, "supa.rep", received)["body"]
        assert "The purchase order is received in full." in body
        assert "- Line 1: 100 accepted, 0 rejected" in body and "- Line 2: 50 accepted, 0 rejected" in body
        assert buttons(api, "acme.warehouse", received) == {}
        outcome = Message.objects.get(room_id=card.room_id, refers_to=card.seq, kind="system")
        assert frame(api, "supa.rep", outcome)["body"].endswith(f"received the goods shipped on purchase order {po.number}.")

    def test_the_supplier_or_buyer_may_not_press_it(self, world, api):
        ship(world["acme"], world["po"])
        [card] = cards_of(world["po"], "orders.shipment.dispatched")
        for username in ("supa.rep", "acme.buyer", "acme.auditor"):
            assert_error(press(api, username, card, "po_receive"), 403)
        assert not Receipt.objects.exists()
        assert PurchaseOrder.objects.get(pk=world["po"].pk).state == "shipped"

    def test_another_tenants_user_cannot_reach_the_card(self, world, api):
        ship(world["acme"], world["po"])
        [card] = cards_of(world["po"], "orders.shipment.dispatched")
        assert press(api, "globex.buyer", card, "po_receive").status_code == 404
        assert not Receipt.objects.exists()

    def test_a_late_press_after_the_goods_were_received_is_409(self, world, api):
        ship(world["acme"], world["po"])
        [card] = cards_of(world["po"], "orders.shipment.dispatched")
        assert receive(api, world["po"], [{"line": 1}, {"line": 2}]).status_code == 201
        before = Receipt.objects.count()
        assert_error(press(api, "acme.warehouse", card, "po_receive"), 409)
        assert Receipt.objects.count() == before

    def test_a_partial_receipt_keeps_the_button_on_its_card(self, world, api):
        ship(world["acme"], world["po"])
        assert receive(api, world["po"], [{"line": 1, "quantity": 60}]).status_code == 201
        [received] = cards_of(world["po"], "orders.receipt.received_shipment")
        assert "More of it is still to be received." in frame(api, "supa.rep", received)["body"]
        assert buttons(api, "acme.warehouse", received) == {"po_receive": True}
        [dispatched] = cards_of(world["po"], "orders.shipment.dispatched")
        assert buttons(api, "acme.warehouse", dispatched) == {"po_receive": True}


class TestQualityHoldCard:
    @pytest.fixture
    def held(self, world, api):
        ship(world["acme"], world["po"])
        response = receive(api, world["po"], [{"line": 1, "quantity": 100, "inspection": "fail", "lot": "LOT-9"},
                                              {"line": 2, "quantity": 50, "lot": "LOT-OK"}])
        assert response.status_code == 201, response.content
        return QualityHold.objects.get()

    def test_the_receipt_card_shows_accepted_and_rejected_per_lot(self, world, api, held):
        [received] = cards_of(world["po"], "orders.receipt.received_shipment")
        body = frame(api, "supa.rep", received)["body"]
        assert "- Line 1, lot LOT-9: 0 accepted, 100 rejected" in body and "- Line 2, lot LOT-OK: 50 accepted, 0 rejected" in body
        assert received.payload["receipt"] == [{"line": 1, "lot": "LOT-9", "accepted": 0, "rejected": 100},
                                               {"line": 2, "lot": "LOT-OK", "accepted": 50, "rejected": 0}]
        chinese = frame(api, "supa.rep", received, "zh-hans")["body"]
        assert "- 第 1 行，批次 LOT-9：合格 0，不合格 100" in chinese

    def test_the_hold_card_links_to_the_pos_page_for_the_receiving_roles(self, world, api, held):
        [card] = cards_of(world["po"], "orders.hold.held")
        assert card.room_id == room_of("acme", "sup-a").pk and card.payload["quality_hold"] == held.pk
        body = frame(api, "supa.rep", card)["body"]
        assert "lot LOT-9 of SKU-L1 failed inspection" in body and "(100 held)" in body
        [link] = frame(api, "acme.warehouse", card)["actions"]
        assert link["name"] == "quality_hold_release" and link["enabled"]
        assert link["url"] == f"/t/acme/orders/{world['po'].number}/#hold-{held.pk}"
        for reader in ("supa.rep", "acme.buyer", "acme.auditor"):
            assert buttons(api, reader, card) == {}, reader
        zh = frame(api, "acme.warehouse", card, "zh-hans")
        assert zh["actions"][0]["label"] == "解除质量冻结…" and "质量冻结" in zh["body"]

    def test_the_link_is_not_pressed(self, world, api, held):
        [card] = cards_of(world["po"], "orders.hold.held")
        assert_error(press(api, "acme.warehouse", card, "quality_hold_release"), 400)
        assert QualityHold.objects.get().state == "held"

    def test_releasing_on_the_page_needs_a_reason_and_the_link_goes(self, world, api, client, held,
                                                                   django_capture_on_commit_callbacks, monkeypatch):
        import realtime

        url = f"/t/acme/orders/{world['po'].number}/release-hold/"
        client.force_login(user("acme.warehouse"))
        page = client.get(f"/t/acme/orders/{world['po'].number}/").content.decode()
        assert f'id="hold-{held.pk}"' in page and 'data-testid="release-hold-form"' in page
        assert client.post(url, {"hold": held.pk, "reason": "  "}).status_code == 400
        assert client.post(url, {"hold": "x", "reason": "ok"}).status_code == 404
        assert client.post(url, {"hold": held.pk + 999, "reason": "ok"}).status_code == 404
        assert QualityHold.objects.get().state == "held"
        refreshed = []
        monkeypatch.setattr(realtime, "publish_actions", lambda cards: refreshed.append([c.text["key"] for c in cards]))
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url, {"hold": held.pk, "reason": "复检合格 / passed re-inspection"})
        assert response.status_code == 302
        hold = QualityHold.objects.get()
        assert hold.state == "released" and hold.release_reason == "复检合格 / passed re-inspection"
        assert any("orders.hold.held" in keys for keys in refreshed)  # its link re-rendered: gone
        [card] = cards_of(world["po"], "orders.hold.held")
        assert buttons(api, "acme.warehouse", card) == {}
        [released] = cards_of(world["po"], "orders.hold.released")
        body = frame(api, "supa.rep", released)["body"]
        assert "lot LOT-9 of SKU-L1" in body and "Reason: 复检合格 / passed re-inspection" in body
        assert "passed re-inspection" in client.get(f"/t/acme/orders/{world['po'].number}/").content.decode()
        # Released already: a second release is refused, nothing changes.
        assert client.post(url, {"hold": held.pk, "reason": "again"}).status_code == 409
        assert len(cards_of(world["po"], "orders.hold.released")) == 1

    def test_only_the_receiving_roles_release_and_others_tenants_see_nothing(self, world, client, held):
        url = f"/t/acme/orders/{world['po'].number}/release-hold/"
        client.force_login(user("supa.rep"))
        page = client.get(f"/t/acme/orders/{world['po'].number}/").content.decode()
        assert f'id="hold-{held.pk}"' in page and 'data-testid="release-hold-form"' not in page  # the supplier sees it
        assert client.post(url, {"hold": held.pk, "reason": "mine"}).status_code == 403
        client.force_login(user("acme.buyer"))
        assert client.post(url, {"hold": held.pk, "reason": "mine"}).status_code == 403
        client.force_login(user("supb.rep"))
        assert client.post(url, {"hold": held.pk, "reason": "mine"}).status_code == 404
        client.force_login(user("globex.buyer"))
        assert client.post(url, {"hold": held.pk, "reason": "mine"}).status_code == 404
        assert client.get(url).status_code in (404, 405)
        assert QualityHold.objects.get().state == "held"

    def test_the_hold_of_another_po_is_not_released_through_this_one(self, world, client, held):
        other = confirmed_po(world["acme"], world["orgs"]["sup-a"], lines=((5, "SKU-L9"),))
        client.force_login(user("acme.warehouse"))
        response = client.post(f"/t/acme/orders/{other.number}/release-hold/", {"hold": held.pk, "reason": "x"})
        assert response.status_code == 404
        assert QualityHold.objects.get().state == "held"

    def test_the_api_release_posts_the_card_too(self, world, api, held):
        response = api.as_user(user("acme.warehouse")).post(f"/api/v1/t/acme/quality-holds/{held.pk}/release/",
                                                              {"reason": "复检合格"}, format="json")
        assert response.status_code == 200, response.content
        assert len(cards_of(world["po"], "orders.hold.released")) == 1
