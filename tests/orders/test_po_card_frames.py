"""A PO card's buttons change live: when the PO moves on, every socket that sees its earlier
cards gets an `actions` frame with the buttons its reader is now offered."""

import pytest

from messaging.models import Message
from tests.messaging.helpers import room_of
from tests.messaging.test_sockets import connect, frames_until, in_db_thread
from tests.orders.helpers import create, make_catalogue, move

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def _sent_po(demo):
    make_catalogue(demo)
    order = move("send", create(), "acme.buyer")
    return order, Message.objects.get(subject_ref=order.number, text__key="orders.po.sent")


async def test_confirming_a_po_takes_the_confirm_button_off_its_sent_card_live(demo_tx):
    rep = await connect("supa.rep", headers=[(b"accept-language", b"en")])
    order, sent = await in_db_thread(_sent_po)(demo_tx)
    assert sent.room_id == (await in_db_thread(room_of)("acme", "sup-a")).pk
    is_card = lambda f: f["type"] == "message" and (f["room"], f["seq"]) == (sent.room_id, sent.seq)  # noqa: E731
    card = (await frames_until(rep, is_card))[-1]
    assert [(a["name"], a["label"], a["enabled"]) for a in card["actions"]] == [("po_confirm", "Confirm order", True)]
    assert card["body"].startswith(f"**Purchase order {order.number}** was sent by ")

    await in_db_thread(move)("confirm", order, "supa.rep")
    update = (await frames_until(rep, lambda f: f["type"] == "actions" and (f["room"], f["seq"]) == (sent.room_id, sent.seq)))[-1]
    assert update["actions"] == []

    # a late press over the socket hears why not, in the presser's language
    await rep.send_json_to({"type": "action", "room": sent.room_id, "seq": sent.seq, "action": "po_confirm", "ref": "late"})
    error = (await frames_until(rep, lambda f: f["type"] == "error"))[-1]
    assert error["code"] == "po_state_changed" and error["ref"] == "late"
    assert order.number in error["message"]
    await rep.disconnect()
