"""Stock pages: the stock list (filters, pagination, badges) and the SKU page (chart, figures, alerts).

Runs on the full demo (`seed_all`): acme stocks SKU-1001/1002 (sup-a) in WH-SH and SKU-2001/2002
(sup-b) in WH-SZ; the sales peak left SKU-1001 at 400, under its safety stock of 500.
"""

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory import services
from inventory.models import SKU, Warehouse
from inventory.views import line_chart
from tests.api_contract import user
from tests.inventory.helpers import ingest, movement

pytestmark = pytest.mark.django_db

STOCK = "/t/{tenant}/stock/"
ACME_SKUS = {"SKU-1001", "SKU-1002", "SKU-2001", "SKU-2002"}


def rows(html):
    """(sku, warehouse, status) of each row of the stock table."""
    pattern = r'data-testid="stock-row" data-sku="([^"]+)" data-warehouse="([^"]+)" data-status="([^"]+)"'
    return re.findall(pattern, html)


def skus(html):
    return {sku for sku, _wh, _status in rows(html)}


def get(client, username, url):
    client.force_login(user(username))
    return client.get(url)


# --- the stock list ------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["acme.warehouse", "acme.planner", "acme.buyer", "acme.admin", "acme.auditor"])
def test_core_staff_see_every_level_of_their_tenant(full_demo, client, username):
    response = get(client, username, STOCK.format(tenant="acme"))
    assert response.status_code == 200
    html = response.content.decode()
    assert skus(html) == ACME_SKUS
    assert 'data-testid="nav-stock"' in html


def test_a_supplier_sees_only_the_skus_it_supplies(full_demo, client):
    assert skus(get(client, "supa.rep", STOCK.format(tenant="acme")).content.decode()) == {"SKU-1001", "SKU-1002"}
    assert skus(get(client, "supb.rep", STOCK.format(tenant="acme")).content.decode()) == {"SKU-2001", "SKU-2002"}
    # and in its other customer, that customer's SKUs only
    assert skus(get(client, "supa.rep", STOCK.format(tenant="globex")).content.decode()) == {"GX-5001"}


def test_foreign_tenant_and_anonymous(full_demo, client):
    response = client.get(STOCK.format(tenant="acme"))
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert get(client, "globex.buyer", STOCK.format(tenant="acme")).status_code == 404
    assert get(client, "acme.buyer", STOCK.format(tenant="globex")).status_code == 404
    assert get(client, "supb.rep", STOCK.format(tenant="globex")).status_code == 404
    assert get(client, "acme.buyer", STOCK.format(tenant="nope")).status_code == 404


def test_badges_mark_below_safety_and_reorder_point(full_demo, client):
    tenant = full_demo["tenants"]["acme"]
    # SKU-2001 in WH-SZ: 480 on hand, reorder point 350, safety 200: down to 330
    ingest(tenant, [movement(sku="SKU-2001", warehouse="WH-SZ", delta=-150)])
    html = get(client, "acme.warehouse", STOCK.format(tenant="acme")).content.decode()
    status = {sku: state for sku, _wh, state in rows(html)}
    assert status == {"SKU-1001": "below_safety", "SKU-1002": "ok", "SKU-2001": "at_reorder", "SKU-2002": "ok"}
    assert html.count('data-testid="badge-below-safety"') == 1
    assert html.count('data-testid="badge-reorder"') == 1


@pytest.mark.parametrize(
    "query, expected",
    [
        ("q=1002", {"SKU-1002"}),
        ("q=sku-20", {"SKU-2001", "SKU-2002"}),
        ("q=螺母", {"SKU-1002"}),  # by name
        ("warehouse=WH-SZ", {"SKU-2001", "SKU-2002"}),
        ("warehouse=WH-SH&q=1001", {"SKU-1001"}),
        ("below=1", {"SKU-1001"}),
        ("below=on&warehouse=WH-SZ", set()),
    ],
)
def test_filters(full_demo, client, query, expected):
    response = get(client, "acme.planner", STOCK.format(tenant="acme") + "?" + query)
    assert response.status_code == 200
    html = response.content.decode()
    assert skus(html) == expected
    if not expected:
        assert 'data-testid="stock-empty"' in html and 'data-testid="filter-clear"' in html


def test_filters_offer_the_warehouses_the_user_sees_stock_in(full_demo, client):
    html = get(client, "supb.rep", STOCK.format(tenant="acme")).content.decode()
    select = html.split('data-testid="filter-warehouse"')[1].split("</select>")[0]
    options = re.findall(r'<option value="([^"]*)"', select)
    assert options == ["", "WH-SZ"]


@pytest.mark.parametrize(
    "query",
    ["page=abc", "page=-1", "page=99999", "q=" + "x" * 500, "warehouse=" + "W" * 300, "below=maybe", "below=",
     "warehouse=NOPE", "q=%27%22%3C"],
)
def test_bad_filter_values_never_fail(full_demo, client, query):
    response = get(client, "acme.buyer", STOCK.format(tenant="acme") + "?" + query)
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["?q=%00", "?warehouse=W%00", "%00/", "SKU-1001%00/"])
def test_a_nul_in_the_address_is_the_400_page(full_demo, client, path):
    # refused before the page (scm_portal/api/middleware.py): no text with a NUL reaches a query
    response = get(client, "acme.buyer", STOCK.format(tenant="acme") + path)
    assert response.status_code == 400 and b'data-status="400"' in response.content


def test_empty_state_without_stock(demo, client):
    html = get(client, "acme.buyer", STOCK.format(tenant="acme")).content.decode()
    assert 'data-testid="stock-empty"' in html and 'data-testid="stock-table"' not in html


def _more_stock(tenant, count):
    admin = user("acme.admin")
    warehouse = Warehouse.objects.get(tenant=tenant, code="WH-SH")
    rows = []
    for number in range(count):
        code = f"SKU-X{number:03d}"
        sku = services.sku_create(tenant=tenant, actor=admin, code=code, name=f"物料 {number}")
        services.rule_upsert(tenant=tenant, actor=admin, sku=sku, warehouse=warehouse, safety_stock=10,
                             reorder_point=20)
        rows.append(movement(sku=code, warehouse="WH-SH", delta=5 + number))
    ingest(tenant, rows)


def test_pagination_keeps_the_filters(full_demo, client):
    _more_stock(full_demo["tenants"]["acme"], 60)
    html = get(client, "acme.warehouse", STOCK.format(tenant="acme") + "?warehouse=WH-SH").content.decode()
    assert len(rows(html)) == 50
    next_link = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    assert "warehouse=WH-SH" in next_link and "page=2" in next_link
    second = client.get(STOCK.format(tenant="acme") + next_link).content.decode()
    assert len(rows(second)) == 62 - 50  # SKU-1001, SKU-1002 and 60 more in WH-SH
    assert not set(rows(html)) & set(rows(second))


def test_stock_list_query_count_does_not_grow_with_the_rows(full_demo, client):
    client.force_login(user("acme.warehouse"))
    url = STOCK.format(tenant="acme")
    client.get(url)  # warm up (session, content types)
    with CaptureQueriesContext(connection) as few:
        assert len(rows(client.get(url).content.decode())) == 4
    _more_stock(full_demo["tenants"]["acme"], 60)
    with CaptureQueriesContext(connection) as many:
        assert len(rows(client.get(url).content.decode())) == 50
    assert len(many) == len(few) <= 10, [q["sql"] for q in many.captured_queries]


# --- the SKU page ----------------------------------------------------------------------------------

def test_sku_page_shows_levels_lines_chart_movements_and_alerts(full_demo, client):
    response = get(client, "acme.warehouse", STOCK.format(tenant="acme") + "SKU-1001/")
    assert response.status_code == 200
    html = response.content.decode()
    section = html.split('data-testid="sku-warehouse" data-warehouse="WH-SH"')[1]
    assert 'data-status="below_safety"' in html
    assert re.search(r'data-testid="on-hand">400\b', section)
    assert re.search(r'data-testid="safety-stock">500<', section)
    assert re.search(r'data-testid="reorder-point">800<', section)
    assert 'data-testid="days-of-cover"' in section and 'data-testid="suggested-quantity"' in section
    # the chart: a 30-point line, with the safety stock and reorder point drawn across it
    assert 'data-testid="stock-chart"' in html
    points = re.search(r'<polyline class="chart-series" points="([^"]+)"', html).group(1).split()
    assert len(points) == 30
    assert 'data-testid="chart-line-safety" data-value="500"' in html
    assert 'data-testid="chart-line-reorder" data-value="800"' in html
    # movements (the peak today) and the alerts the rules raised
    assert html.count('data-testid="movement-row"') == 20
    assert "大促出库" in html
    alerts = html.split('data-testid="sku-alerts"')[1].split("</section>")[0]
    assert "below safety stock" in alerts or "低于安全库存" in alerts


def test_sku_page_suggestion_matches_the_service(full_demo, client):
    from inventory.models import ReplenishmentRule

    tenant = full_demo["tenants"]["acme"]
    rule = ReplenishmentRule.objects.get(tenant=tenant, sku__code="SKU-1002")
    stats = services.rule_demand_stats(tenant=tenant, rules=[rule])[rule.pk]
    html = get(client, "acme.planner", STOCK.format(tenant="acme") + "SKU-1002/").content.decode()
    assert re.search(rf'data-testid="suggested-quantity">{stats["suggested_quantity"]}\b', html)
    assert re.search(rf'data-testid="days-of-cover">{stats["days_of_cover"]}\b', html)


def test_sku_page_for_a_supplier_shows_its_sku_without_the_movements(full_demo, client):
    response = get(client, "supa.rep", STOCK.format(tenant="acme") + "SKU-1001/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="stock-chart"' in html
    assert 'data-testid="sku-movements"' not in html
    assert 'data-testid="suggested-quantity"' in html


@pytest.mark.parametrize(
    "username, tenant, code",
    [
        ("supb.rep", "acme", "SKU-1001"),  # another supplier's SKU
        ("supa.rep", "acme", "SKU-2001"),
        ("acme.buyer", "acme", "GX-5001"),  # globex's SKU under acme
        ("acme.buyer", "acme", "NOPE"),
        ("acme.buyer", "globex", "GX-5001"),  # not a member of globex
        ("globex.buyer", "acme", "SKU-1001"),
    ],
)
def test_sku_page_is_404_when_the_user_may_not_see_the_sku(full_demo, client, username, tenant, code):
    assert get(client, username, STOCK.format(tenant=tenant) + f"{code}/").status_code == 404


def test_sku_page_without_stock_or_rule(full_demo, client):
    tenant = full_demo["tenants"]["acme"]
    SKU.objects.create(tenant=tenant, code="SKU-NEW", name="新物料")
    response = get(client, "acme.buyer", STOCK.format(tenant="acme") + "SKU-NEW/")
    assert response.status_code == 200
    assert b'data-testid="sku-no-stock"' in response.content


def test_sku_page_query_count_is_bounded(full_demo, client):
    client.force_login(user("acme.warehouse"))
    url = STOCK.format(tenant="acme") + "SKU-1001/"
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    assert len(queries) <= 16, [q["sql"] for q in queries.captured_queries]


# --- the chart geometry ----------------------------------------------------------------------------

def test_line_chart_places_the_lines_and_never_localises_numbers():
    from django.utils import translation

    start = date(2024, 1, 1)
    points = [(start + timedelta(days=i), value) for i, value in enumerate([1000, 800, 600, 450, 300])]
    with translation.override("zh-hans"):
        chart = line_chart(points, safety=500, reorder=800)
    assert len(chart["series"].split()) == 5
    assert all(re.fullmatch(r"-?\d+(\.\d)?,-?\d+(\.\d)?", point) for point in chart["series"].split())
    lines = {line["kind"]: float(line["y"]) for line in chart["lines"]}
    ys = [float(point.split(",")[1]) for point in chart["series"].split()]
    # SVG y grows downwards: the reorder line (800) sits where the second point (800) is, safety lower
    assert lines["reorder"] == pytest.approx(ys[1])
    assert lines["reorder"] < lines["safety"] < ys[4]
    assert [tick["label"] for tick in chart["x_ticks"]] == ["01-01", "01-03", "01-05"]


def test_line_chart_with_negative_stock_and_without_rule():
    points = [(date(2024, 1, 1) + timedelta(days=i), value) for i, value in enumerate([10, -30])]
    chart = line_chart(points)
    assert chart["lines"] == []
    assert int(chart["y_ticks"][0]["label"]) < 0
    assert line_chart([]) is None


@pytest.mark.parametrize("code", ["AB/12", "物料 001", "X?#%"])
def test_unusual_sku_codes_link_and_resolve(full_demo, client, code):
    tenant = full_demo["tenants"]["acme"]
    sku = services.sku_create(tenant=tenant, actor=user("acme.admin"), code=code, name="特殊编码",
                              default_supplier=full_demo["organizations"]["sup-a"])
    warehouse = Warehouse.objects.get(tenant=tenant, code="WH-SH")
    services.rule_upsert(tenant=tenant, actor=user("acme.admin"), sku=sku, warehouse=warehouse, safety_stock=10,
                         reorder_point=20)
    ingest(tenant, [movement(sku=code, warehouse="WH-SH", delta=50)])
    ingest(tenant, [movement(sku=code, warehouse="WH-SH", delta=-45)])  # below safety: an alert links to it too
    html = get(client, "acme.warehouse", STOCK.format(tenant="acme")).content.decode()
    link = re.search(rf'data-sku="{re.escape(code)}"[^>]*>\s*<td[^>]*><a href="([^"]+)"', html).group(1)
    response = client.get(link)
    assert response.status_code == 200
    assert response.context["sku"].code == code
    board = client.get("/t/acme/alerts/").content.decode()
    assert link in board
