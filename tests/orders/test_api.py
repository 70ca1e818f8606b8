"""The purchase-order API: shapes, the ERP upsert and batch, transitions, and every refusal
(400 for bad input, 404 across tenants and organisations, 403 for the wrong role, 409 for a
move the state does not allow), each leaving everything as it was."""

import pytest

from orders.models import PurchaseOrder, PurchaseOrderEvent, PurchaseOrderLine
from tests.api_contract import assert_error, user
from tests.orders.helpers import BASE, body, create, move, po, snapshot

pytestmark = pytest.mark.django_db
URL = BASE.format(tenant="acme")


def as_(api, username):
    return api.as_user(user(username))


def counts():
    return PurchaseOrder.objects.count(), PurchaseOrderLine.objects.count(), PurchaseOrderEvent.objects.count()


def test_post_creates_a_draft_and_get_answers_the_contract_shape(world, api):
    response = as_(api, "acme.buyer").post(URL, body(), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["state"] == "draft" and data["number"] == "PO-20231026" and data["supplier"] == "sup-a"
    assert data["lines"][0] == {"line": 1, "sku": "SKU-1001", "quantity": 100, "shipped_quantity": 0,
                                "received_quantity": 0, "unit_price": "12.50", "requested_date": "2026-12-20",
                                "promised_date": None, "status": "open", "pending_change": None}
    assert data["lines"][1]["unit_price"] == "3.20"
    assert [h["action"] for h in data["history"]] == ["create"]
    assert api.get(URL + "PO-20231026/").json() == data


def test_post_with_a_taken_number_is_409(world, api):
    create()
    before = counts()
    assert_error(as_(api, "acme.buyer").post(URL, body(), format="json"), 409, "po_exists")
    assert counts() == before


@pytest.mark.parametrize("change, field", [
    ({"lines": [{"sku": "SKU-1001", "quantity": 1, "unit_price": 12.5, "requested_date": "2026-12-20"}]}, "lines"),
    ({"lines": [{"sku": "SKU-1001", "quantity": 1, "unit_price": "12.12345", "requested_date": "2026-12-20"}]}, "lines"),
    ({"lines": [{"sku": "SKU-1001", "quantity": 1, "unit_price": "-1", "requested_date": "2026-12-20"}]}, "lines"),
    ({"lines": [{"sku": "SKU-1001", "quantity": 0, "unit_price": "1", "requested_date": "2026-12-20"}]}, "lines"),
    ({"lines": [{"sku": "SKU-1001", "quantity": 1.0, "unit_price": "1", "requested_date": "2026-12-20"}]}, "lines"),
    ({"lines": [{"sku": "SKU-1001", "quantity": 1, "unit_price": "1", "requested_date": "2026-02-30"}]}, "lines"),
    ({"lines": [{"sku": "NOPE", "quantity": 1, "unit_price": "1", "requested_date": "2026-12-20"}]}, "lines"),
    ({"lines": [{"sku": "GX-5001", "quantity": 1, "unit_price": "1", "requested_date": "2026-12-20"}]}, "lines"),
    ({"lines": []}, "lines"),
    ({"supplier": "nope"}, "supplier"),
    ({"supplier": "bank"}, "supplier"),        # a partner, but not a supplier
    ({"warehouse": "GX-BJ"}, "warehouse"),     # globex's warehouse
    ({"currency": "cny"}, "currency"),
    ({"number": "PO 1/2"}, "number"),
    ({"number": "batch"}, "number"),
    ({"colour": "red"}, "colour"),
])
def test_bad_bodies_are_400_and_nothing_is_written(world, api, change, field):
    before = counts()
    response = as_(api, "acme.buyer").post(URL, body(**change), format="json")
    assert_error(response, 400)
    assert field in response.json()["error"]["fields"]
    assert counts() == before


def test_a_foreign_reference_is_answered_like_an_unknown_one(world, api):
    as_(api, "acme.buyer")
    foreign = api.post(URL, body(warehouse="GX-BJ"), format="json").json()["error"]["fields"]
    unknown = api.post(URL, body(warehouse="NO-SUCH"), format="json").json()["error"]["fields"]
    assert foreign == unknown


def test_only_writers_create(world, api):
    before = counts()
    for username in ("supa.rep", "acme.warehouse", "acme.auditor"):
        assert_error(as_(api, username).post(URL, body(), format="json"), 403)
        assert_error(api.put(URL + "PO-20231026/", body(), format="json"), 403)
    assert counts() == before


def test_put_upserts_and_is_idempotent(world, api):
    as_(api, "acme.buyer")
    first = api.put(URL + "PO-20231026/", body(), format="json")
    assert first.status_code == 201, first.content
    again = api.put(URL + "PO-20231026/", body(), format="json")
    assert again.status_code == 200
    order = po()
    assert order.version == 1 and order.events.count() == 1  # no second version, no second event
    changed = body()
    changed["lines"][0]["quantity"] = 120
    changed["lines"].append({"sku": "SKU-1002", "quantity": 5, "unit_price": "1.00", "requested_date": "2026-12-30"})
    response = api.put(URL + "PO-20231026/", changed, format="json")
    assert response.status_code == 200
    assert [line["quantity"] for line in response.json()["lines"]] == [120, 40, 5]
    assert po().version == 2 and po().events.count() == 2
    shorter = body(lines=body()["lines"][:1])
    assert len(api.put(URL + "PO-20231026/", shorter, format="json").json()["lines"]) == 1


def test_put_with_another_number_in_the_body_is_400(world, api):
    assert_error(as_(api, "acme.buyer").put(URL + "PO-1/", body(number="PO-2"), format="json"), 400)
    assert not PurchaseOrder.objects.exists()


def test_put_changing_a_sent_po_is_409_but_the_same_body_is_fine(world, api):
    move("send", create(), "acme.buyer")
    as_(api, "acme.buyer")
    assert api.put(URL + "PO-20231026/", body(), format="json").status_code == 200
    before = snapshot(po())
    changed = body()
    changed["lines"][0]["quantity"] = 1
    assert_error(api.put(URL + "PO-20231026/", changed, format="json"), 409, "po_not_editable")
    assert_error(api.put(URL + "PO-20231026/", body(supplier="sup-b"), format="json"), 409, "po_not_editable")
    assert snapshot(po()) == before


def test_batch_is_all_or_nothing_with_row_errors(world, api):
    as_(api, "acme.buyer")
    rows = [body(number=f"PO-B{i}") for i in range(5)]
    rows[3]["lines"][1]["unit_price"] = 3.2
    before = counts()
    response = api.post(URL + "batch/", rows, format="json")
    assert_error(response, 400, "validation_error")
    assert set(response.json()["error"]["fields"]["purchase_orders"]) == {"3"}
    assert "unit_price" in response.json()["error"]["fields"]["purchase_orders"]["3"]["lines"]["1"]
    assert counts() == before
    rows[3]["lines"][1]["unit_price"] = "3.20"
    response = api.post(URL + "batch/", {"purchase_orders": rows}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 5
    response = api.post(URL + "batch/", rows, format="json")
    assert (response.json()["created"], response.json()["unchanged"]) == (0, 5)
    assert PurchaseOrderEvent.objects.count() == 5


def test_batch_limits_and_duplicates(world, api):
    as_(api, "acme.buyer")
    assert_error(api.post(URL + "batch/", [], format="json"), 400)
    assert_error(api.post(URL + "batch/", [body()] * 1001, format="json"), 400)
    response = api.post(URL + "batch/", [body(), body()], format="json")
    assert set(response.json()["error"]["fields"]["purchase_orders"]) == {"1"}
    assert_error(as_(api, "supa.rep").post(URL + "batch/", [body()], format="json"), 403)
    assert not PurchaseOrder.objects.exists()


def test_lifecycle_over_http(world, api):
    create()
    assert as_(api, "acme.buyer").post(URL + "PO-20231026/send/").json()["state"] == "sent"
    response = as_(api, "supa.rep").post(URL + "PO-20231026/confirm/",
                                          {"lines": [{"line": 1, "promised_date": "2027-01-05"}]}, format="json")
    assert response.json()["state"] == "change_requested"
    assert response.json()["lines"][0]["pending_change"]["promised_date"] == "2027-01-05"
    response = as_(api, "acme.buyer").post(URL + "PO-20231026/accept-change/", {"lines": [1]}, format="json")
    assert response.json()["state"] == "confirmed"
    assert response.json()["lines"][0]["promised_date"] == "2027-01-05"
    assert [h["action"] for h in response.json()["history"]] == ["create", "send", "request_change", "accept_change"]


def test_confirm_with_an_empty_body_accepts_every_line(world, api):
    move("send", create(), "acme.buyer")
    response = as_(api, "supa.rep").post(URL + "PO-20231026/confirm/")
    assert response.status_code == 200 and response.json()["state"] == "confirmed"


def test_refusals_over_http(world, api):
    order = move("send", create(), "acme.buyer")
    before = snapshot(order)
    assert_error(as_(api, "acme.buyer").post(URL + "PO-20231026/confirm/"), 403)      # on the supplier's behalf
    assert_error(as_(api, "supb.rep").post(URL + "PO-20231026/confirm/"), 404)        # another supplier
    assert_error(as_(api, "supb.rep").get(URL + "PO-20231026/"), 404)
    assert_error(as_(api, "globex.buyer").get(URL + "PO-20231026/"), 404)             # another tenant
    assert_error(api.get(BASE.format(tenant="globex") + "PO-20231026/"), 404)
    assert_error(as_(api, "acme.buyer").post(URL + "PO-20231026/send/"), 409, "illegal_transition")
    assert_error(api.post(URL + "PO-20231026/accept-change/"), 409, "illegal_transition")
    assert_error(api.post(URL + "PO-20231026/cancel/", {"why": "x"}, format="json"), 400, "unknown_field")
    assert_error(as_(api, "supa.rep").post(URL + "PO-20231026/confirm/", {"lines": [{"line": 1, "unit_price": 1.5}]},
                                            format="json"), 400)
    assert_error(api.post(URL + "PO-20231026/confirm/", ["x"], format="json"), 400)
    assert_error(api.post(URL + "NO-SUCH/confirm/"), 404)
    assert snapshot(order) == before


def test_the_same_supplier_under_another_tenant_sees_nothing_of_it(world, api):
    move("send", create(), "acme.buyer")
    as_(api, "supa.rep")  # sup-a also supplies globex
    assert_error(api.get(BASE.format(tenant="globex") + "PO-20231026/"), 404)
    assert api.get(BASE.format(tenant="globex")).json()["results"] == []
    assert_error(api.post(BASE.format(tenant="globex") + "PO-20231026/confirm/"), 404)


def test_list_filters_and_pages(world, api):
    for i in range(3):
        create(number=f"PO-A{i}")
    create(number="PO-B0", supplier="sup-b", lines=[{"sku": "SKU-1001", "quantity": 1, "unit_price": "1",
                                                      "requested_date": "2026-12-20"}])
    move("send", po("PO-A1"), "acme.buyer")
    move("send", po("PO-B0"), "acme.buyer")
    as_(api, "acme.buyer")
    assert [r["number"] for r in api.get(URL).json()["results"]] == ["PO-B0", "PO-A2", "PO-A1", "PO-A0"]
    assert [r["number"] for r in api.get(URL + "?state=sent").json()["results"]] == ["PO-B0", "PO-A1"]
    assert [r["number"] for r in api.get(URL + "?supplier=sup-a").json()["results"]] == ["PO-A2", "PO-A1", "PO-A0"]
    page = api.get(URL + "?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    assert [r["number"] for r in api.get(page["next"]).json()["results"]] == ["PO-A1", "PO-A0"]
    assert_error(api.get(URL + "?state=nope"), 400)
    # A supplier's reps see their own sent POs only (no drafts, nothing of sup-b).
    assert [r["number"] for r in as_(api, "supa.rep").get(URL).json()["results"]] == ["PO-A1"]
    assert [r["number"] for r in as_(api, "supb.rep").get(URL).json()["results"]] == ["PO-B0"]
