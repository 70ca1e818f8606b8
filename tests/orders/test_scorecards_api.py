"""`GET /api/v1/t/{tenant}/kpis/suppliers/`: the scorecards over HTTP, who reads which supplier,
and every bad query's 400 with its fields."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.models import PurchaseOrder
from tests.api_contract import assert_error, user
from tests.orders.factories_scorecard import local, make_alert, make_po, make_receipt

pytestmark = pytest.mark.django_db

URL = "/api/v1/t/{tenant}/kpis/suppliers/"
PERIOD = "?since=2026-03-02&until=2026-03-29"


def kpis(api, username, query="", tenant="acme"):
    api.as_user(user(username))
    return api.get(URL.format(tenant=tenant) + query)


def records(demo):
    tenant, sup_a = demo["tenants"]["acme"], demo["organizations"]["sup-a"]
    po = make_po(tenant, sup_a, sent_at=local(date(2026, 3, 2), 8), confirmed_at=local(date(2026, 3, 2), 10), lines=[
        {"quantity": 100, "requested": date(2026, 3, 4), "accepted": 80, "rejected": 20}])
    make_receipt(po.lines.get(), 80, local(date(2026, 3, 4), 9))
    make_receipt(po.lines.get(), 20, local(date(2026, 3, 4), 9), inspection="fail", lot="L9")
    make_alert(tenant, sup_a, local(date(2026, 3, 5), 9), local(date(2026, 3, 5), 9, 30))
    return po


def test_core_staff_read_every_supplier_with_totals_and_series(demo, api):
    records(demo)
    response = kpis(api, "acme.buyer", PERIOD)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["since"], body["until"], body["bucket"], body["next"]) == ("2026-03-02", "2026-03-29", "week", None)
    by_slug = {row["supplier"]: row for row in body["results"]}
    assert set(by_slug) == {"sup-a", "sup-b"}
    sup_a = by_slug["sup-a"]
    assert sup_a["on_time"] == {"rate": "1.0000", "lines_due": 1, "lines_on_time": 1}
    assert sup_a["fill"] == {"rate": "0.8000", "ordered": 100, "accepted": 80}
    assert sup_a["quality"] == {"rate": "0.8000", "received": 100, "passed": 80}
    assert sup_a["confirmation_latency"] == {"count": 1, "median_seconds": 7200, "p90_seconds": 7200}
    assert sup_a["alert_response"] == {"count": 1, "answered": 1, "median_seconds": 1800, "p90_seconds": 1800}
    assert [point["start"] for point in sup_a["series"]] == ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"]
    assert sup_a["series"][0]["quality"]["rate"] == "0.8000" and sup_a["series"][1]["quality"]["rate"] is None
    assert by_slug["sup-b"]["on_time"]["rate"] is None and by_slug["sup-b"]["confirmation_latency"]["median_seconds"] is None


def test_one_supplier_by_month(demo, api):
    records(demo)
    body = kpis(api, "acme.auditor", PERIOD + "&supplier=sup-a&bucket=month").json()
    assert [row["supplier"] for row in body["results"]] == ["sup-a"]
    assert [point["start"] for point in body["results"][0]["series"]] == ["2026-03-01"]


def test_a_supplier_rep_reads_only_their_own(demo, api):
    records(demo)
    body = kpis(api, "supa.rep", PERIOD).json()
    assert [row["supplier"] for row in body["results"]] == ["sup-a"]
    assert body["results"][0]["quality"]["received"] == 100
    assert kpis(api, "supa.rep", PERIOD + "&supplier=sup-a").status_code == 200
    # sup-b's rep: sup-a's scorecard does not exist for them, and their own shows none of sup-a's records.
    assert_error(kpis(api, "supb.rep", PERIOD + "&supplier=sup-a"), 404, "not_found")
    own = kpis(api, "supb.rep", PERIOD).json()["results"]
    assert [row["supplier"] for row in own] == ["sup-b"] and own[0]["quality"]["received"] == 0


def test_unknown_foreign_or_other_kind_of_partner_is_404(demo, api):
    for slug in ["no-such", "bank", "acme", "x" * 300]:  # nobody, a funder, the tenant itself, too long
        assert_error(kpis(api, "acme.buyer", f"?supplier={slug}"), 404, "not_found")


def test_another_tenant_is_404_and_its_records_stay_there(demo, api):
    records(demo)
    assert_error(kpis(api, "globex.buyer", tenant="acme"), 404, "not_found")
    assert_error(kpis(api, "supb.rep", tenant="globex"), 404, "not_found")
    globex = kpis(api, "supa.rep", PERIOD, tenant="globex").json()["results"]
    assert [row["supplier"] for row in globex] == ["sup-a"] and globex[0]["quality"]["received"] == 0


def test_roles_without_scorecards_get_403(demo, api):
    assert_error(kpis(api, "bank.officer"), 403)


def test_anonymous_gets_401(demo, api):
    assert_error(api.get(URL.format(tenant="acme")), 401, "not_authenticated")


@pytest.mark.parametrize("query, fields", [
    ("?since=nope", {"since"}),
    ("?until=2026-02-30", {"until"}),
    ("?since=2026-3-1", {"since"}),
    ("?since=2026-03-01T00:00:00Z", {"since"}),
    ("?since=0001-01-01", {"since"}),
    ("?since=2026-03-10&until=2026-03-01", {"since", "until"}),
    ("?since=2020-01-01&until=2026-01-01", {"until"}),
    ("?since=2020-01-01&until=2026-01-01&bucket=month", {"until"}),
    ("?bucket=day", {"bucket"}),
    ("?page=0", {"page"}),
    ("?page=abc", {"page"}),
])
def test_bad_queries_are_400_naming_their_fields(demo, api, query, fields):
    response = kpis(api, "acme.buyer", query)
    assert_error(response, 400, "validation_error")
    assert set(response.json()["error"]["fields"]) == fields
    assert PurchaseOrder.objects.count() == 0  # a read: nothing written, nothing else to check


def test_a_single_day_is_a_period(demo, api):
    records(demo)
    body = kpis(api, "acme.buyer", "?since=2026-03-04&until=2026-03-04&supplier=sup-a").json()
    assert body["results"][0]["quality"]["received"] == 100 and len(body["results"][0]["series"]) == 1


def test_defaults_are_the_last_twelve_weeks_to_today(demo, api):
    body = kpis(api, "acme.buyer").json()
    until, since = date.fromisoformat(body["until"]), date.fromisoformat(body["since"])
    assert since.weekday() == 0 and timedelta(weeks=11) <= until - since < timedelta(weeks=12)
    assert len(body["results"][0]["series"]) == 12


def test_pages_of_fifty_suppliers(demo, api):
    from tests.factories import make_partner

    tenant = demo["tenants"]["acme"]
    for index in range(50):
        make_partner(tenant, f"extra-{index:02d}")
    first = kpis(api, "acme.buyer", PERIOD).json()
    assert len(first["results"]) == 50 and "page=2" in first["next"]
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None
    names = {row["supplier"] for row in first["results"]} | {row["supplier"] for row in second["results"]}
    assert len(names) == 52


def test_query_budget_is_flat(demo, api):
    api.as_user(user("acme.buyer"))

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert api.get(URL.format(tenant="acme") + PERIOD).status_code == 200
        return len(queries.captured_queries)

    records(demo)
    few = count()
    for _ in range(20):
        records(demo)
    assert count() == few
