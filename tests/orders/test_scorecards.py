"""Supplier scorecards (orders.scorecards): each figure's definition on hand-made records, the
series per week and month, the reader's visibility, and a query budget that does not grow with
the number of POs."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.models import LineStatus, PurchaseOrderState
from orders.scorecards import (
    supplier_scorecard_bucket_starts,
    supplier_scorecard_list,
    supplier_scorecard_suppliers,
)
from scm_portal.tenancy.access import tenant_context_for
from tests.api_contract import user
from tests.orders.factories_scorecard import SHANGHAI, local, make_alert, make_po, make_receipt

pytestmark = pytest.mark.django_db

# A fixed calendar: Monday 2026-03-02 to Sunday 2026-03-29 are four whole weeks; "today" is after them.
SINCE, UNTIL, TODAY = date(2026, 3, 2), date(2026, 3, 29), date(2026, 4, 10)
WEEK1, WEEK2, WEEK3 = date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)


def cards(username, tenant, suppliers=None, bucket=None, since=SINCE, until=UNTIL, today=TODAY):
    reader = user(username)
    context = tenant_context_for(reader, tenant)
    visible = supplier_scorecard_suppliers(user=reader, tenant=tenant, context=context)
    if suppliers is not None:
        visible = visible.filter(slug__in=suppliers)
    return {
        card["supplier"].slug: card
        for card in supplier_scorecard_list(user=reader, tenant=tenant, context=context, suppliers=visible,
                                            since=since, until=until, bucket=bucket, today=today)
    }


def deliveries(demo):
    """sup-a in acme, four lines due in weeks 1 and 2:
    - due 03-04 (promised; requested 03-01), 100 arrived 03-04 23:30 Shanghai: on time, 100 accepted;
    - due 03-05 (requested), 60 arrived 03-05 and 40 on 03-07: late, 90 accepted 10 rejected;
    - due 03-10, nothing arrived: late, nothing accepted;
    - due 03-11, cancelled: not owed, counted nowhere.
    And a line due 03-20 of a draft PO, never issued: counted nowhere."""
    tenant, sup_a = demo["tenants"]["acme"], demo["organizations"]["sup-a"]
    po = make_po(tenant, sup_a, state=PurchaseOrderState.SHIPPED, lines=[
        {"quantity": 100, "requested": date(2026, 3, 1), "promised": date(2026, 3, 4), "accepted": 100},
        {"quantity": 100, "requested": date(2026, 3, 5), "accepted": 90, "rejected": 10},
        {"quantity": 50, "requested": date(2026, 3, 10)},
        {"quantity": 70, "requested": date(2026, 3, 11), "status": LineStatus.CANCELLED},
    ])
    first, second, *_ = po.lines.order_by("line")
    make_receipt(first, 100, local(date(2026, 3, 4), 23, 30))  # 15:30 UTC: still the 4th in Shanghai
    make_receipt(second, 60, local(date(2026, 3, 5), 9), inspection="pass")
    make_receipt(second, 30, local(date(2026, 3, 7), 9), inspection="pass")
    make_receipt(second, 10, local(date(2026, 3, 7), 9), inspection="fail", lot="L2")
    make_po(tenant, sup_a, state=PurchaseOrderState.DRAFT, lines=[{"quantity": 10, "requested": date(2026, 3, 20)}])
    return tenant, po


class TestDefinitions:
    def test_on_time_and_fill_count_the_due_lines(self, demo):
        tenant, _po = deliveries(demo)
        card = cards("acme.buyer", tenant)["sup-a"]
        assert card["on_time"] == {"rate": Decimal("0.3333"), "lines_due": 3, "lines_on_time": 1}
        assert card["fill"] == {"rate": Decimal("0.7600"), "ordered": 250, "accepted": 190}

    def test_a_line_due_today_or_later_is_not_due_yet(self, demo):
        tenant, _po = deliveries(demo)
        card = cards("acme.buyer", tenant, today=date(2026, 3, 10))["sup-a"]  # the 03-10 line's day is not over
        assert card["on_time"]["lines_due"] == 2 and card["fill"]["ordered"] == 200

    def test_quality_is_by_quantity_received_in_the_period(self, demo):
        tenant, _po = deliveries(demo)
        card = cards("acme.buyer", tenant)["sup-a"]
        assert card["quality"] == {"rate": Decimal("0.9500"), "received": 200, "passed": 190}

    def test_confirmation_latency_runs_from_the_first_sending_to_the_first_confirmation(self, demo):
        tenant, sup_a = demo["tenants"]["acme"], demo["organizations"]["sup-a"]
        for hours in (1, 2, 3, 4, 10):
            sent = local(date(2026, 3, 3), 8)
            make_po(tenant, sup_a, sent_at=sent, confirmed_at=sent + timedelta(hours=hours))
        # Sent, a change requested, sent again and confirmed: from the first sending (20 h).
        sent = local(date(2026, 3, 10), 8)
        make_po(tenant, sup_a, history=[("send", "sent", sent), ("request_change", "change_requested", sent + timedelta(hours=2)),
                                        ("accept_change", "sent", sent + timedelta(hours=5)),
                                        ("confirm", "confirmed", sent + timedelta(hours=20))])
        make_po(tenant, sup_a, state=PurchaseOrderState.SENT, sent_at=local(date(2026, 3, 3)))  # unconfirmed: left out
        make_po(tenant, sup_a, sent_at=local(date(2026, 2, 1)), confirmed_at=local(date(2026, 2, 2)))  # before the period
        card = cards("acme.buyer", tenant, bucket="week")["sup-a"]
        assert card["confirmation"]["count"] == 6
        assert card["confirmation"]["median"] == 3.5 * 3600  # of 1, 2, 3, 4, 10, 20 hours
        assert card["confirmation"]["p90"] == pytest.approx(15 * 3600)  # percentile_cont: 10 + 0.5 * (20 - 10)
        series = {point["start"]: point["confirmation"] for point in card["series"]}
        assert series[WEEK1] == {"count": 5, "median": 3 * 3600, "p90": pytest.approx(7.6 * 3600)}
        assert series[WEEK2] == {"count": 1, "median": 20 * 3600, "p90": 20 * 3600}
        assert series[WEEK3] == {"count": 0, "median": None, "p90": None}

    def test_alert_response_is_the_time_to_the_first_answer(self, demo):
        tenant, sup_a, sup_b = demo["tenants"]["acme"], demo["organizations"]["sup-a"], demo["organizations"]["sup-b"]
        opened = local(date(2026, 3, 12), 9)
        for minutes in (10, 20, 60):
            make_alert(tenant, sup_a, opened, opened + timedelta(minutes=minutes))
        make_alert(tenant, sup_a, opened)  # nobody answered yet
        make_alert(tenant, sup_b, opened, opened + timedelta(minutes=5))
        make_alert(tenant, None, opened, opened + timedelta(minutes=500))  # about no supplier
        result = cards("acme.buyer", tenant)
        assert result["sup-a"]["alert_response"] == {"count": 4, "answered": 3, "median": 1200.0, "p90": 3120.0}
        assert result["sup-b"]["alert_response"] == {"count": 1, "answered": 1, "median": 300.0, "p90": 300.0}

    def test_no_data_is_none_not_zero(self, demo):
        card = cards("acme.buyer", demo["tenants"]["acme"], bucket="month")["sup-b"]
        assert card["on_time"]["rate"] is None and card["fill"]["rate"] is None and card["quality"]["rate"] is None
        assert card["confirmation"]["median"] is None and card["alert_response"]["p90"] is None
        assert [point["start"] for point in card["series"]] == [date(2026, 3, 1)]


class TestSeries:
    def test_weeks_split_each_figure_by_its_own_date(self, demo):
        tenant, _po = deliveries(demo)
        card = cards("acme.buyer", tenant, bucket="week")["sup-a"]
        series = {point["start"]: point for point in card["series"]}
        assert list(series) == [WEEK1, WEEK2, WEEK3, date(2026, 3, 23)]
        assert series[WEEK1]["on_time"] == {"rate": Decimal("0.5000"), "lines_due": 2, "lines_on_time": 1}
        assert series[WEEK2]["on_time"] == {"rate": Decimal("0.0000"), "lines_due": 1, "lines_on_time": 0}
        assert series[WEEK3]["on_time"]["rate"] is None
        assert series[WEEK1]["quality"]["received"] == 200  # received 03-04..03-07 (by receipt date)

    def test_bucket_starts(self):
        assert supplier_scorecard_bucket_starts(date(2026, 3, 4), date(2026, 3, 16), "week") == [
            date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
        assert supplier_scorecard_bucket_starts(date(2025, 11, 30), date(2026, 2, 1), "month") == [
            date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]

    def test_a_week_is_the_tenants_week(self, demo):
        """Sunday 23:30 in Shanghai is Sunday 15:30 UTC: that receipt belongs to the week before Monday."""
        tenant, sup_a = demo["tenants"]["acme"], demo["organizations"]["sup-a"]
        po = make_po(tenant, sup_a, lines=[{"quantity": 5, "requested": date(2026, 3, 8), "accepted": 5}])
        make_receipt(po.lines.get(), 5, local(date(2026, 3, 8), 23, 30))
        series = {p["start"]: p for p in cards("acme.buyer", tenant, bucket="week")["sup-a"]["series"]}
        assert series[WEEK1]["quality"]["received"] == 5 and series[WEEK2]["quality"]["received"] == 0


class TestVisibility:
    def test_core_staff_read_every_supplier_and_a_rep_only_their_own(self, demo):
        tenant = demo["tenants"]["acme"]
        for username in ("acme.buyer", "acme.auditor", "acme.warehouse"):
            assert set(cards(username, tenant)) == {"sup-a", "sup-b"}
        assert list(cards("supa.rep", tenant)) == ["sup-a"]
        assert list(cards("supb.rep", tenant)) == ["sup-b"]
        assert cards("bank.officer", tenant) == {}

    def test_a_rep_asking_for_another_supplier_reads_nothing_of_it(self, demo):
        """Even handed sup-a's organisation, sup-b's rep reads none of its records."""
        tenant, _po = deliveries(demo)
        make_alert(tenant, demo["organizations"]["sup-a"], local(date(2026, 3, 12)), local(date(2026, 3, 13)))
        reader = user("supb.rep")
        context = tenant_context_for(reader, tenant)
        [card] = supplier_scorecard_list(user=reader, tenant=tenant, context=context,
                                         suppliers=[demo["organizations"]["sup-a"]], since=SINCE, until=UNTIL, today=TODAY)
        assert card["on_time"]["lines_due"] == 0 and card["quality"]["received"] == 0
        assert card["alert_response"]["count"] == 0

    def test_another_tenants_records_never_count(self, demo):
        """sup-a also supplies globex: its globex POs are not in acme's scorecard, nor the reverse."""
        deliveries(demo)
        globex, sup_a = demo["tenants"]["globex"], demo["organizations"]["sup-a"]
        po = make_po(globex, sup_a, lines=[{"quantity": 7, "requested": date(2026, 3, 4), "accepted": 7}])
        make_receipt(po.lines.get(), 7, local(date(2026, 3, 3)))
        assert cards("supa.rep", globex)["sup-a"]["quality"]["received"] == 7
        assert cards("supa.rep", demo["tenants"]["acme"])["sup-a"]["quality"]["received"] == 200
        assert cards("globex.buyer", globex)["sup-a"]["on_time"] == {"rate": Decimal("1.0000"), "lines_due": 1, "lines_on_time": 1}


def _many_records(tenant, supplier, count, start_day):
    for index in range(count):
        day = start_day + timedelta(days=index % 20)
        po = make_po(tenant, supplier, sent_at=local(day, 8), confirmed_at=local(day, 9 + index % 5), lines=[
            {"quantity": 10, "requested": day, "accepted": 10}, {"quantity": 5, "requested": day, "accepted": 4, "rejected": 1}])
        for line in po.lines.all():
            make_receipt(line, line.received_quantity, local(day, 10))
        make_alert(tenant, supplier, local(day, 8), local(day, 8 + index % 3))


@pytest.mark.parametrize("bucket", [None, "week"])
def test_query_budget_does_not_grow_with_the_number_of_pos(demo, bucket):
    tenant = demo["tenants"]["acme"]
    reader = user("acme.buyer")
    context = tenant_context_for(reader, tenant)

    def run():
        suppliers = list(supplier_scorecard_suppliers(user=reader, tenant=tenant, context=context))
        with CaptureQueriesContext(connection) as queries:
            result = supplier_scorecard_list(user=reader, tenant=tenant, context=context, suppliers=suppliers,
                                             since=SINCE, until=UNTIL, bucket=bucket, today=TODAY)
        return result, len(queries.captured_queries)

    _many_records(tenant, demo["organizations"]["sup-a"], 3, SINCE)
    few, few_queries = run()
    _many_records(tenant, demo["organizations"]["sup-a"], 30, SINCE)
    _many_records(tenant, demo["organizations"]["sup-b"], 30, SINCE)
    many, many_queries = run()
    assert few_queries == many_queries == (4 if bucket is None else 8)
    by_slug = {card["supplier"].slug: card for card in many}
    assert by_slug["sup-a"]["on_time"]["lines_due"] == 66 and by_slug["sup-b"]["quality"]["received"] == 450


def test_alert_response_follows_the_alert_lifecycle(demo):
    """Through the alerts services: raised, then acknowledged by a person; the scorecard's answer
    time is the one the alert's history records."""
    from alerts import services as alert_services
    from alerts.models import AlertEvent

    tenant, sup_a = demo["tenants"]["acme"], demo["organizations"]["sup-a"]
    alert, _created = alert_services.alert_raise(tenant=tenant, kind="low_stock", dedupe_key="scorecard:lifecycle",
                                                 title="low", partner=sup_a, core_audience=("warehouse",))
    acker = user("acme.warehouse")
    alert_services.alert_acknowledge(tenant=tenant, actor=acker, context=tenant_context_for(acker, tenant), alert=alert)
    alert.refresh_from_db()
    answered_at = AlertEvent.objects.get(alert=alert, action="acknowledged").at
    today = alert.opened_at.astimezone(SHANGHAI).date()
    card = cards("acme.buyer", tenant, since=today, until=today, today=today)["sup-a"]
    assert card["alert_response"]["count"] == 1 and card["alert_response"]["answered"] == 1
    assert card["alert_response"]["median"] == pytest.approx((answered_at - alert.opened_at).total_seconds())
