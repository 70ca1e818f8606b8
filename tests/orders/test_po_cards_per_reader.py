"""PO cards per reader: what a card says is stored as a key and parameters and read in each
reader's language; its buttons are the ones this reader may press now, and they follow the PO's
state on every card about it (over the API here; live over the socket in
tests/orders/test_po_card_frames.py)."""

import pytest

from messaging.models import Message
from messaging.texts import text_render
from tests.api_contract import user
from tests.messaging.helpers import room_of
from tests.orders.helpers import create, move

pytestmark = pytest.mark.django_db

NUMBER = "PO-20231026"


def frame(api, username, message, language="en"):
    url = f"/api/v1/t/acme/rooms/{message.room_id}/messages/"
    response = api.as_user(user(username)).get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, response.content
    return next(f for f in response.json()["results"] if f["seq"] == message.seq)


def card(key):
    return Message.objects.get(subject_kind="purchase_order", subject_ref=NUMBER, text__key=key)


def buttons(api, username, message):
    return {a["name"]: a["enabled"] for a in frame(api, username, message)["actions"]}


def test_a_sent_card_reads_in_each_readers_language(world, api):
    move("send", create(), "acme.buyer")
    sent = card("orders.po.sent")
    assert sent.room_id == room_of("acme", "sup-a").pk
    assert sent.text["params"]["number"] == NUMBER and sent.payload == {"purchase_order": NUMBER, "state": "sent", "card": sent.text}
    english = frame(api, "supa.rep", sent, "en")
    chinese = frame(api, "supa.rep", sent, "zh-hans")
    assert english["body"] == f"**Purchase order {NUMBER}** was sent by {user('acme.buyer').get_full_name() or 'acme.buyer'}: " \
                              "2 line(s), 1,378.00 CNY. Please confirm it."
    assert chinese["body"].startswith(f"**采购订单 {NUMBER}** 已由 ") and "共 2 行" in chinese["body"]
    assert [a["label"] for a in english["actions"]] == ["Confirm order"]
    assert [a["label"] for a in chinese["actions"]] == ["确认订单"]


def test_the_change_lines_are_nested_texts_in_the_readers_language(world, api):
    order = move("send", create(), "acme.buyer")
    move("confirm", order, "supa.rep", answers=[
        {"line": 1, "promised_date": "2027-01-05", "quantity": 90},
        {"line": 2, "answer": "backorder", "promised_date": "2027-02-01"}])
    changed = card("orders.po.change_requested")
    english = frame(api, "acme.buyer", changed, "en")["body"]
    assert english.endswith("\n\n- Line 1: date 2027-01-05, quantity 90\n- Line 2: back-ordered until 2027-02-01")
    chinese = frame(api, "acme.buyer", changed, "zh-hans")["body"]
    assert "- 第 1 行：交期 2027-01-05" in chinese and "数量 90" in chinese and "- 第 2 行：延期交货至 2027-02-01" in chinese
    assert changed.body == text_render(changed.text, "zh-hans")  # the stored body: the tenant's language
    assert buttons(api, "acme.buyer", changed) == {"po_accept_change": True, "po_reject_change": True}
    assert buttons(api, "supa.rep", changed) == {}  # the buyer's side decides
    assert buttons(api, "supa.rep", card("orders.po.sent")) == {"po_confirm": False}  # back if a change is rejected


def test_the_auditor_and_the_buyer_get_no_confirm_button(world, api):
    move("send", create(), "acme.buyer")
    sent = card("orders.po.sent")
    assert buttons(api, "supa.rep", sent) == {"po_confirm": True}
    assert buttons(api, "acme.auditor", sent) == {}
    assert buttons(api, "acme.buyer", sent) == {}  # not the supplier


def test_the_auditor_gets_no_change_buttons(world, api):
    order = move("send", create(), "acme.buyer")
    move("confirm", order, "supa.rep", answers=[{"line": 1, "promised_date": "2027-01-05"}])
    assert buttons(api, "acme.auditor", card("orders.po.change_requested")) == {}


def test_after_confirm_the_old_cards_button_is_gone(world, api):
    move("confirm", move("send", create(), "acme.buyer"), "supa.rep")
    assert buttons(api, "supa.rep", card("orders.po.sent")) == {}
    assert card("orders.po.sent").actions  # the card still names it; the reader is not offered it


def test_a_rejected_change_brings_confirm_back(world, api):
    order = move("send", create(), "acme.buyer")
    move("confirm", order, "supa.rep", answers=[{"line": 1, "promised_date": "2027-01-05"}])
    move("reject_change", order, "acme.buyer")
    assert buttons(api, "supa.rep", card("orders.po.sent")) == {"po_confirm": True}
    assert buttons(api, "acme.buyer", card("orders.po.change_requested")) == {}
    decided = card("orders.po.changes_decided")
    assert frame(api, "acme.buyer", decided)["body"].endswith("\n\n- Line 1: change rejected")
    assert buttons(api, "supa.rep", decided) == {"po_confirm": True}


def test_a_pressed_buttons_outcome_reads_in_each_language(world, api):
    move("send", create(), "acme.buyer")
    sent = card("orders.po.sent")
    url = f"/api/v1/t/acme/rooms/{sent.room_id}/messages/{sent.seq}/actions/po_confirm/"
    response = api.as_user(user("supa.rep")).post(url, {}, format="json")
    assert response.status_code == 201, response.content
    outcome = Message.objects.get(room_id=sent.room_id, seq=response.json()["outcome_seq"])
    assert outcome.text["key"] == "orders.po.pressed.po_confirm"
    assert frame(api, "acme.buyer", outcome, "en")["body"].endswith(f"confirmed purchase order {NUMBER}.")
    assert frame(api, "acme.buyer", outcome, "zh-hans")["body"].endswith(f"确认了采购订单 {NUMBER}。")


def test_a_cancelled_pos_cards_offer_nothing(world, api):
    order = move("send", create(), "acme.buyer")
    move("confirm", order, "supa.rep", answers=[{"line": 1, "promised_date": "2027-01-05"}])
    move("cancel", order, "acme.buyer")
    assert buttons(api, "supa.rep", card("orders.po.sent")) == {}
    assert buttons(api, "acme.buyer", card("orders.po.change_requested")) == {}
    assert frame(api, "supa.rep", card("orders.po.cancelled"), "zh-hans")["body"].startswith(f"**采购订单 {NUMBER}** 已由 ")


def test_shipping_a_po_refreshes_its_cards_buttons(world, monkeypatch, django_capture_on_commit_callbacks):
    import realtime
    from tests.orders.factories_logistics import ship

    order = move("confirm", move("send", create(), "acme.buyer"), "supa.rep")
    refreshed = []
    monkeypatch.setattr(realtime, "publish_actions", lambda cards: refreshed.append([c.text["key"] for c in cards]))
    with django_capture_on_commit_callbacks(execute=True):
        ship(world["tenants"]["acme"], order)
    # The cards that name a button, for their readers: the sent card, and the shipment's own
    # (posted in the same transaction, "Confirm receipt").
    assert refreshed == [["orders.po.sent", "orders.shipment.dispatched"]]
