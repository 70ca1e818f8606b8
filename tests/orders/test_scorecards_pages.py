"""Scorecard pages: the ranking for core staff, one scorecard per supplier (its own for a
supplier's rep), the SVG charts, the empty states, and each role's answer."""

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from orders.scorecards import supplier_scorecard_today
from orders.views_scorecards import hours_chart, page_period, percent_text, rate_chart
from tests.api_contract import user
from tests.orders.factories_scorecard import local, make_alert, make_po, make_receipt

pytestmark = pytest.mark.django_db

LIST = "/t/{tenant}/scorecards/"
DETAIL = "/t/{tenant}/scorecards/{supplier}/"


def get(client, username, url):
    client.force_login(user(username))
    return client.get(url)


def recent_records(demo, supplier="sup-a", on_time=True):
    """A line due a week ago, received (on time or a day late), with a confirmation and an alert."""
    tenant, org = demo["tenants"]["acme"], demo["organizations"][supplier]
    due = supplier_scorecard_today(tenant) - timedelta(days=7)
    arrived = due if on_time else due + timedelta(days=1)
    po = make_po(tenant, org, sent_at=local(due - timedelta(days=10), 8), confirmed_at=local(due - timedelta(days=10), 14),
                 lines=[{"quantity": 10, "requested": due, "accepted": 9, "rejected": 1}])
    make_receipt(po.lines.get(), 9, local(arrived, 10))
    make_receipt(po.lines.get(), 1, local(arrived, 10), inspection="fail", lot="LX")
    make_alert(tenant, org, local(due, 9), local(due, 11))
    return po


class TestRanking:
    @pytest.mark.parametrize("username", ["acme.buyer", "acme.planner", "acme.warehouse", "acme.auditor", "acme.admin"])
    def test_core_staff_see_every_supplier_ranked(self, demo, client, username):
        recent_records(demo, "sup-a", on_time=False)
        recent_records(demo, "sup-b", on_time=True)
        response = get(client, username, LIST.format(tenant="acme"))
        assert response.status_code == 200
        html = response.content.decode()
        assert re.findall(r'data-testid="scorecard-row" data-supplier="([\w-]+)"', html) == ["sup-b", "sup-a"]
        assert "100.0%" in html and "0.0%" in html and "90.0%" in html  # on time, late, fill and quality
        assert 'href="/t/acme/scorecards/sup-a/?bucket=week"' in html

    def test_ranking_by_another_figure_and_no_data_last(self, demo, client):
        recent_records(demo, "sup-a")
        html = get(client, "acme.buyer", LIST.format(tenant="acme") + "?sort=confirmation&bucket=month").content.decode()
        assert re.findall(r'data-supplier="([\w-]+)"', html) == ["sup-a", "sup-b"]  # sup-b has no confirmations
        assert 'aria-current="true" data-testid="sort-confirmation"' in html

    def test_unknown_parameters_fall_back_to_the_defaults(self, demo, client):
        for query in ["?sort=nope&bucket=year", "?bucket=WEEK", "?sort=" + "x" * 5000]:
            response = get(client, "acme.buyer", LIST.format(tenant="acme") + query)
            assert response.status_code == 200
            assert 'aria-current="true" data-testid="period-week"' in response.content.decode()

    def test_empty_state_without_any_data(self, demo, client):
        html = get(client, "acme.buyer", LIST.format(tenant="acme")).content.decode()
        assert 'data-testid="scorecards-no-data"' in html and html.count('data-testid="scorecard-row"') == 2

    def test_a_supplier_reps_section_is_their_own_scorecard(self, demo, client):
        response = get(client, "supa.rep", LIST.format(tenant="acme"))
        html = response.content.decode()
        assert response.status_code == 200 and 'data-testid="scorecard-title"' in html
        from scm_portal.tenancy.models import Organization

        assert f"Scorecard of {Organization.objects.get(slug='sup-a').name}" in html
        assert 'data-testid="scorecard-row"' not in html  # no ranking of the other suppliers

    def test_other_roles_get_403_and_other_tenants_404(self, demo, client):
        assert get(client, "bank.officer", LIST.format(tenant="acme")).status_code == 403
        assert get(client, "globex.buyer", LIST.format(tenant="acme")).status_code == 404
        client.logout()
        assert client.get(LIST.format(tenant="acme")).status_code == 302  # to the login page

    def test_query_budget_does_not_grow_with_suppliers_records(self, demo, client):
        client.force_login(user("acme.buyer"))

        def count():
            with CaptureQueriesContext(connection) as queries:
                assert client.get(LIST.format(tenant="acme")).status_code == 200
            return len(queries.captured_queries)

        recent_records(demo)
        few = count()
        for _ in range(10):
            recent_records(demo, "sup-b")
        assert count() == few


class TestScorecard:
    @pytest.mark.parametrize("username, supplier", [("acme.buyer", "sup-a"), ("acme.auditor", "sup-b"),
                                                    ("supa.rep", "sup-a"), ("supb.rep", "sup-b")])
    def test_readers_see_the_figures_and_charts(self, demo, client, username, supplier):
        recent_records(demo, supplier)
        response = get(client, username, DETAIL.format(tenant="acme", supplier=supplier))
        assert response.status_code == 200
        html = response.content.decode()
        assert demo["organizations"][supplier].name in html
        for key in ["on-time", "fill", "quality", "confirmation", "alerts"]:
            assert f'data-testid="chart-{key}"' in html, key
        assert "<svg" in html and 'data-testid="scorecard-empty"' not in html
        assert "100.0%" in html and "90.0%" in html and "6 h" in html and "2 h" in html
        assert len(re.findall(r"<tr data-period=", html)) == 12  # twelve weeks
        assert ('data-testid="back-to-ranking"' in html) == username.startswith("acme.")

    def test_months(self, demo, client):
        recent_records(demo)
        html = get(client, "acme.buyer", DETAIL.format(tenant="acme", supplier="sup-a") + "?bucket=month").content.decode()
        assert len(re.findall(r"<tr data-period=", html)) == 12

    def test_empty_states_without_data(self, demo, client):
        html = get(client, "acme.buyer", DETAIL.format(tenant="acme", supplier="sup-b")).content.decode()
        assert 'data-testid="scorecard-empty"' in html
        for key in ["on-time", "fill", "quality", "confirmation", "alerts"]:
            assert f'data-testid="chart-{key}-empty"' in html
        assert "<svg" not in html.split('data-testid="scorecard-figures"')[1]

    def test_another_suppliers_scorecard_is_404_for_a_rep(self, demo, client):
        recent_records(demo, "sup-a")
        assert get(client, "supb.rep", DETAIL.format(tenant="acme", supplier="sup-a")).status_code == 404
        # The same rep, the same supplier, under another tenant: sup-b is no partner of globex.
        assert get(client, "supa.rep", DETAIL.format(tenant="globex", supplier="sup-b")).status_code == 404

    @pytest.mark.parametrize("supplier", ["no-such", "bank", "acme"])
    def test_no_such_supplier_is_404(self, demo, client, supplier):
        assert get(client, "acme.buyer", DETAIL.format(tenant="acme", supplier=supplier)).status_code == 404

    def test_other_roles_get_403_and_other_tenants_404(self, demo, client):
        assert get(client, "bank.officer", DETAIL.format(tenant="acme", supplier="sup-a")).status_code == 403
        assert get(client, "globex.buyer", DETAIL.format(tenant="acme", supplier="sup-a")).status_code == 404

    def test_in_chinese(self, demo, client, settings):
        recent_records(demo)
        client.force_login(user("acme.buyer"))
        html = client.get(DETAIL.format(tenant="acme", supplier="sup-a"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        assert "准时交付率" in html and "供应商评分卡" in html


def test_chart_geometry():
    chart = rate_chart([("03-02", None), ("03-09", 0.5), ("03-16", 1)])
    assert [c["empty"] for c in chart["columns"]] == [True, False, False]
    assert [c["height"] for c in chart["columns"]] == ["0", "73", "146"]  # a fixed 0-100 % scale
    assert [t["label"] for t in chart["ticks"]] == ["0%", "50%", "100%"]
    assert rate_chart([("03-02", None)]) is None and rate_chart([]) is None
    with translation.override("en"):
        hours = hours_chart([("03-02", 3600 * 3), ("03-09", 3600 * 7.5)])
    assert [t["label"] for t in hours["ticks"]] == ["0", "5", "10"] and hours["columns"][1]["value_text"] == "7.5 h"
    assert percent_text(None) == "—"


@pytest.mark.parametrize("bucket, today, since", [
    ("week", date(2026, 3, 18), date(2025, 12, 29)),  # Wednesday: from the Monday eleven weeks before
    ("month", date(2026, 3, 18), date(2025, 4, 1)),
    ("month", date(2026, 12, 31), date(2026, 1, 1)),
    ("month", date(2026, 1, 1), date(2025, 2, 1)),
    ("year", date(2026, 3, 18), date(2025, 12, 29)),  # unknown: by week
])
def test_page_periods_are_twelve_weeks_or_months(bucket, today, since):
    assert page_period(bucket, today)[:2] == (since, today)
