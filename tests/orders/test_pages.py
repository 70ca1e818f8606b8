"""The purchase-order pages, per role: the buyers' list and detail, the supplier's portal view of
the same, and the forms (send, confirm per line, accept / reject changes, cancel, a message)."""

import pytest

from messaging.models import Message
from tests.api_contract import user
from tests.orders.helpers import create, move, po, snapshot

pytestmark = pytest.mark.django_db
LIST = "/t/acme/orders/"


def login(client, username):
    client.force_login(user(username))
    return client


def detail(number="PO-20231026", tenant="acme"):
    return f"/t/{tenant}/orders/{number}/"


def test_the_buyer_lists_every_po_and_the_supplier_only_its_sent_ones(world, client):
    move("send", create(), "acme.buyer")
    create(number="PO-DRAFT")
    create(number="PO-SUPB", supplier="sup-b")
    page = login(client, "acme.buyer").get(LIST).content.decode()
    assert all(n in page for n in ("PO-20231026", "PO-DRAFT", "PO-SUPB"))
    page = login(client, "supa.rep").get(LIST).content.decode()
    assert "PO-20231026" in page and "PO-DRAFT" not in page and "PO-SUPB" not in page
    assert "PO-20231026" not in login(client, "supb.rep").get(LIST).content.decode()
    assert login(client, "acme.buyer").get(LIST + "?state=draft").content.decode().count('data-testid="po-row"') == 2
    assert client.get(LIST + "?state=bogus&before=x").status_code == 200  # a filter that does not parse is ignored


def test_detail_is_404_for_another_supplier_tenant_or_a_draft(world, client):
    move("send", create(), "acme.buyer")
    create(number="PO-DRAFT")
    assert login(client, "supb.rep").get(detail()).status_code == 404
    assert login(client, "globex.buyer").get(detail()).status_code == 404
    assert login(client, "supa.rep").get(detail(tenant="globex")).status_code == 404
    assert login(client, "supa.rep").get(detail("PO-DRAFT")).status_code == 404
    assert login(client, "acme.buyer").get(detail("NO-SUCH")).status_code == 404


def test_the_buyer_sends_and_the_supplier_confirms_in_the_portal_with_a_new_date(world, client):
    create()
    login(client, "acme.buyer")
    page = client.get(detail()).content.decode()
    assert 'data-testid="po-send"' in page and 'data-testid="po-confirm"' not in page
    assert client.post(detail() + "send/").status_code == 302
    assert po().state == "sent"
    login(client, "supa.rep")
    page = client.get(detail()).content.decode()
    assert 'data-testid="po-confirm"' in page and 'data-testid="po-send"' not in page
    assert "po-conversation" in page and "PO-20231026" in page
    response = client.post(detail() + "confirm/", {"answer_1": "change", "promised_date_1": "2027-01-05", "answer_2": "accept"})
    assert response.status_code == 302
    assert po().state == "change_requested"
    login(client, "acme.buyer")
    page = client.get(detail()).content.decode()
    assert 'data-testid="po-accept-change"' in page and "2027-01-05" in page
    assert client.post(detail() + "accept-change/", {"line": ["1"]}).status_code == 302
    assert po().state == "confirmed" and str(po().lines.get(line=1).promised_date) == "2027-01-05"


def test_the_buyer_rejects_changes_and_cancels(world, client):
    move("confirm", move("send", create(), "acme.buyer"), "supa.rep", answers=[{"line": 2, "answer": "backorder"}])
    login(client, "acme.buyer")
    assert client.post(detail() + "reject-change/").status_code == 302
    assert po().state == "sent"
    assert client.post(detail() + "cancel/", {"reason": "不需要了"}).status_code == 302
    assert po().state == "cancelled"


def test_wrong_roles_on_the_forms_are_403_and_change_nothing(world, client):
    order = move("send", create(), "acme.buyer")
    before = snapshot(order)
    assert login(client, "acme.buyer").post(detail() + "confirm/").status_code == 403
    assert login(client, "supa.rep").post(detail() + "cancel/").status_code == 403
    assert login(client, "acme.warehouse").post(detail() + "send/").status_code == 403
    assert login(client, "supb.rep").post(detail() + "confirm/").status_code == 404
    assert snapshot(order) == before


def test_illegal_moves_are_409_and_bad_answers_400_with_the_reason_shown(world, client):
    order = move("send", create(), "acme.buyer")
    before = snapshot(order)
    response = login(client, "acme.buyer").post(detail() + "send/")
    assert response.status_code == 409 and 'data-testid="po-error"' in response.content.decode()
    response = login(client, "supa.rep").post(detail() + "confirm/", {"answer_1": "change", "unit_price_1": "1.23456"})
    assert response.status_code == 400 and "unit_price" in response.content.decode()
    response = client.post(detail() + "confirm/", {"answer_1": "maybe"})
    assert response.status_code == 400
    response = client.post(detail() + "confirm/", {"answer_1": "change", "quantity_1": "-3"})
    assert response.status_code == 400
    assert client.get(detail() + "confirm/").status_code == 405
    assert client.post(detail() + "explode/").status_code == 404
    assert snapshot(order) == before


def test_a_message_about_the_po_joins_its_conversation(world, client):
    move("send", create(), "acme.buyer")
    login(client, "supa.rep")
    assert client.post(detail() + "comment/", {"body": "能否提前两天交货?"}).status_code == 302
    message = Message.objects.get(kind="chat", subject_ref="PO-20231026")
    assert message.sender.username == "supa.rep"
    assert "能否提前两天交货?" in client.get(detail()).content.decode()
    assert "能否提前两天交货?" in login(client, "acme.buyer").get(detail() + "?part=live").content.decode()
    assert login(client, "supa.rep").post(detail() + "comment/", {"body": ""}).status_code == 400


def test_the_dashboards_show_the_pos_awaiting_me(world, client):
    move("send", create(), "acme.buyer")
    create(number="PO-DRAFT")
    move("confirm", move("send", create(number="PO-CHG"), "acme.buyer"), "supa.rep",
         answers=[{"line": 1, "promised_date": "2027-01-05"}])
    page = login(client, "acme.buyer").get("/t/acme/").content.decode()
    assert "PO-DRAFT" in page and "PO-CHG" in page and "PO-20231026" not in page  # a sent PO waits for the supplier
    page = login(client, "supa.rep").get("/t/acme/").content.decode()
    assert "PO-20231026" in page and "PO-DRAFT" not in page and "PO-CHG" not in page
    assert "PO-20231026" not in login(client, "supb.rep").get("/t/acme/").content.decode()
