"""Query budgets: the PO list and the ERP upsert cost the same number of statements whatever the
number of POs and lines (bulk statements, no query per row)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.services import purchase_orders as services
from tests.api_contract import user
from tests.orders.helpers import BASE, body, ctx, move, po

pytestmark = pytest.mark.django_db
URL = BASE.format(tenant="acme")


def rows(prefix, n, lines=5):
    out = []
    for i in range(n):
        po = body(number=f"{prefix}-{i}")
        po["lines"] = [{"line": j + 1, "sku": "SKU-1001" if j % 2 else "SKU-1002", "quantity": 1 + j,
                        "unit_price": "1.50", "requested_date": "2027-01-01"} for j in range(lines)]
        out.append(po)
    return out


def statements(fn):
    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured)


def test_the_upsert_costs_the_same_statements_for_1_or_50_pos(world):
    buyer = ctx("acme.buyer")
    one = statements(lambda: services.purchase_order_upsert_many(**buyer, rows=rows("A", 1)))
    many = statements(lambda: services.purchase_order_upsert_many(**buyer, rows=rows("B", 50)))
    # 3 reads of the references, the POs locked, their inserts, the lines', the history's; and two
    # savepoints with their releases (the service's transaction inside the test's, the retry's)
    assert one == many == 11
    # Sent again unchanged: the references, the POs and their lines locked; nothing written.
    again = statements(lambda: services.purchase_order_upsert_many(**buyer, rows=rows("B", 50)))
    assert again == 9


def test_an_update_of_many_drafts_costs_the_same_as_one(world):
    services.purchase_order_upsert_many(**ctx("acme.buyer"), rows=rows("C", 1) + rows("D", 30))
    changed_one, changed_many = rows("C", 1), rows("D", 30)
    for order in changed_one + changed_many:
        order["lines"][0]["quantity"] = 99
        order["lines"].pop()
        order["lines"].append({"line": 9, "sku": "SKU-1001", "quantity": 1, "unit_price": "2", "requested_date": "2027-01-02"})
    buyer = ctx("acme.buyer")
    one = statements(lambda: services.purchase_order_upsert_many(**buyer, rows=changed_one))
    many = statements(lambda: services.purchase_order_upsert_many(**buyer, rows=changed_many))
    assert one == many == 14  # + the lines removed, changed and added, and the POs' new versions


def test_the_list_costs_the_same_statements_for_a_page_of_1_or_50(world, api):
    services.purchase_order_upsert_many(**ctx("acme.buyer"), rows=rows("L", 1))
    move("send", po("L-0"), "acme.buyer")
    for username in ("acme.buyer", "supa.rep"):
        api.as_user(user(username))
        one = statements(lambda: api.get(URL))
        assert one == 3  # the token's user, the tenant context, the page (with its supplier and warehouse)
    services.purchase_order_upsert_many(**ctx("acme.buyer"), rows=rows("M", 60, lines=1))
    api.as_user(user("acme.buyer"))
    with CaptureQueriesContext(connection) as captured:
        response = api.get(URL)
    assert len(response.json()["results"]) == 50
    assert len(captured) == one
