"""Alert pages: the live board (filters, roles, query budget), the escalation policy editor and KPIs.

Runs on the full demo (`seed_all`): the stock-out story left six open alerts on SKU-1001 in acme,
raised for the warehouse role and sup-a; acme has one escalation policy ("Stock alerts").
"""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts import services
from alerts.views import bar_chart, column_chart, duration_text
from alerts.models import Alert, AlertState, EscalationPolicy, Severity
from tests.alerts.helpers import act
from tests.api_contract import user

pytestmark = pytest.mark.django_db

BOARD = "/t/{tenant}/alerts/"
POLICIES = "/t/{tenant}/alerts/policies/"
KPIS = "/t/{tenant}/alerts/kpis/"


def alert_ids(html):
    return [int(pk) for pk in re.findall(r'data-testid="alert-row" data-alert-id="(\d+)"', html)]


def row_html(html, pk):
    return html.split(f'data-alert-id="{pk}"')[1].split("</tr>")[0]


def get(client, username, url):
    client.force_login(user(username))
    return client.get(url)


def acme_alerts():
    return Alert.objects.filter(tenant__slug="acme")


def raise_alert(tenant, key, partner=None, kind="low_stock", severity=Severity.WARNING, sku="SKU-2001",
                audience=("warehouse",)):
    alert, _created = services.alert_raise(
        tenant=tenant, kind=kind, severity=severity, dedupe_key=key, title=f"Test alert {key}",
        subject_kind="sku", subject_ref=sku, partner=partner, core_audience=audience,
    )
    return alert


# --- the board -------------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["acme.warehouse", "acme.planner", "acme.buyer", "acme.admin", "acme.auditor"])
def test_board_lists_the_tenants_unresolved_alerts_for_core_staff(full_demo, client, username):
    response = get(client, username, BOARD.format(tenant="acme"))
    assert response.status_code == 200
    html = response.content.decode()
    expected = list(acme_alerts().exclude(state="resolved").order_by("-opened_at", "-pk").values_list("pk", flat=True))
    assert alert_ids(html) == expected and len(expected) == 6
    assert 'data-alert-board' in html and 'data-ws-path="/ws/t/acme/"' in html
    assert 'data-testid="nav-alerts"' in html


def test_a_row_shows_severity_state_level_partner_sku_and_the_buttons(full_demo, client):
    low_stock = acme_alerts().get(kind="low_stock")
    html = get(client, "acme.warehouse", BOARD.format(tenant="acme")).content.decode()
    row = row_html(html, low_stock.pk)
    assert 'class="badge severity-warning"' in row
    assert 'data-state="open"' in html.split(f'data-alert-id="{low_stock.pk}"')[1][:40]
    assert 'data-testid="alert-level">0<' in row
    assert "华东零部件有限公司" in row  # the partner's name
    assert 'href="/t/acme/stock/SKU-1001/"' in row
    assert re.findall(r'data-action="(\w+)"', row) == ["ack", "start", "resolve"]


def test_buttons_follow_the_state_and_the_role(full_demo, client):
    first, second = acme_alerts().order_by("pk")[:2]
    act(services.alert_acknowledge, "acme.warehouse", first)
    act(services.alert_start, "acme.warehouse", second)
    html = get(client, "acme.planner", BOARD.format(tenant="acme")).content.decode()
    assert re.findall(r'data-action="(\w+)"', row_html(html, first.pk)) == ["start", "resolve"]
    assert re.findall(r'data-action="(\w+)"', row_html(html, second.pk)) == ["resolve"]
    # an auditor reads the board but has no buttons (the API would refuse them)
    html = get(client, "acme.auditor", BOARD.format(tenant="acme")).content.decode()
    assert alert_ids(html) and "data-action=" not in html
    assert 'data-may-act=""' in html


def test_a_supplier_sees_only_its_own_alerts(full_demo, client):
    tenant = full_demo["tenants"]["acme"]
    sup_b_alert = raise_alert(tenant, "test:b", partner=full_demo["organizations"]["sup-b"])
    internal = raise_alert(tenant, "test:internal", partner=None)
    html = get(client, "supa.rep", BOARD.format(tenant="acme")).content.decode()
    assert set(alert_ids(html)) == set(acme_alerts().filter(partner__slug="sup-a").values_list("pk", flat=True))
    assert re.findall(r'data-action="(\w+)"', html)  # a supplier may act on its own alerts
    html = get(client, "supb.rep", BOARD.format(tenant="acme")).content.decode()
    assert alert_ids(html) == [sup_b_alert.pk]
    assert internal.pk not in alert_ids(get(client, "supa.rep", BOARD.format(tenant="acme")).content.decode())


def test_board_of_another_tenant_is_404(full_demo, client):
    assert get(client, "globex.buyer", BOARD.format(tenant="acme")).status_code == 404
    assert get(client, "acme.warehouse", BOARD.format(tenant="globex")).status_code == 404
    assert get(client, "supb.rep", BOARD.format(tenant="globex")).status_code == 404
    client.logout()
    assert client.get(BOARD.format(tenant="acme")).status_code == 302


def test_filters_by_state_kind_and_mine(full_demo, client):
    tenant = full_demo["tenants"]["acme"]
    low_stock = acme_alerts().get(kind="low_stock")
    reorder = acme_alerts().get(kind="reorder_point")
    act(services.alert_acknowledge, "acme.warehouse", low_stock)
    act(services.alert_resolve, "acme.warehouse", reorder)
    planner_alert = raise_alert(tenant, "test:planner", audience=("planner",), kind="velocity")
    url = BOARD.format(tenant="acme")
    client.force_login(user("acme.warehouse"))

    def ids(query):
        response = client.get(url + query)
        assert response.status_code == 200
        return set(alert_ids(response.content.decode()))

    everything = set(acme_alerts().values_list("pk", flat=True))
    assert ids("") == everything - {reorder.pk}  # unresolved by default
    assert ids("?state=all") == everything
    assert ids("?state=resolved") == {reorder.pk}
    assert ids("?state=acknowledged") == {low_stock.pk}
    assert ids("?state=open&kind=step_drop") == set(acme_alerts().filter(kind="step_drop").values_list("pk", flat=True))
    assert ids("?kind=velocity") == {planner_alert.pk}
    # "mine": addressed to the warehouse role, not the planner's alert
    assert ids("?mine=1") == everything - {reorder.pk, planner_alert.pk}
    # The planner: its own alert, and the stock alerts (addressed to every role that replenishes)
    client.force_login(user("acme.planner"))
    assert ids("?mine=1") == everything - {reorder.pk}
    assert ids("?mine=1&kind=low_stock") == {low_stock.pk}
    client.force_login(user("acme.auditor"))  # sees the board; no alert is addressed to the auditor
    assert ids("?mine=1") == set() and ids("") == everything - {reorder.pk}
    assert b'data-testid="board-empty"' in client.get(url + "?mine=1&kind=low_stock").content


@pytest.mark.parametrize(
    "query",
    ["state=bogus", "state=", "kind=" + "k" * 300, "mine=perhaps", "page=zzz", "page=0", "page=100000",
     "state=open&state=resolved", "kind=%3Cscript%3E"],
)
def test_bad_board_filters_never_fail(full_demo, client, query):
    response = get(client, "acme.warehouse", BOARD.format(tenant="acme") + "?" + query)
    assert response.status_code == 200
    assert b"<script>" not in response.content.split(b"alert-partners")[0].split(b"</form>")[0]


def test_a_nul_in_a_board_filter_is_the_400_page(full_demo, client):
    # refused before the page (scm_portal/api/middleware.py): no text with a NUL reaches a query
    response = get(client, "acme.warehouse", BOARD.format(tenant="acme") + "?kind=%00")
    assert response.status_code == 400 and b'data-status="400"' in response.content


def test_board_query_count_does_not_grow_with_the_alerts(full_demo, client):
    tenant = full_demo["tenants"]["acme"]
    client.force_login(user("acme.warehouse"))
    url = BOARD.format(tenant="acme")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert len(alert_ids(client.get(url).content.decode())) == 6
    for number in range(60):
        partner = full_demo["organizations"]["sup-a" if number % 2 else "sup-b"]
        raise_alert(tenant, f"test:many:{number}", partner=partner, sku=f"SKU-{number}")
    with CaptureQueriesContext(connection) as many:
        assert len(alert_ids(client.get(url).content.decode())) == 50
    assert len(many) == len(few) <= 10, [q["sql"] for q in many.captured_queries]


def test_board_pagination(full_demo, client):
    tenant = full_demo["tenants"]["acme"]
    for number in range(55):
        raise_alert(tenant, f"test:page:{number}")
    client.force_login(user("acme.warehouse"))
    first = client.get(BOARD.format(tenant="acme") + "?kind=low_stock").content.decode()
    next_link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "kind=low_stock" in next_link
    second = client.get(BOARD.format(tenant="acme") + next_link).content.decode()
    assert len(alert_ids(first)) == 50 and len(alert_ids(second)) == 56 - 50
    assert 'data-page="2"' in second


# --- escalation policies ------------------------------------------------------------------------

def policy_form(name="夜班升级", kind="low_stock", severity="warning", active=True, levels=()):
    data = {"name": name, "kind": kind, "min_severity": severity, "level_count": str(len(levels) + 1)}
    if active:
        data["active"] = "1"
    for index, level in enumerate(levels):
        for key, value in level.items():
            data[f"level-{index}-{key}"] = value
    return data


def test_policy_list_for_editors_and_readers(full_demo, client):
    html = get(client, "acme.admin", POLICIES.format(tenant="acme")).content.decode()
    assert html.count('data-testid="policy"') == 1 and 'data-testid="policy-new"' in html
    html = get(client, "acme.warehouse", POLICIES.format(tenant="acme")).content.decode()
    assert html.count('data-testid="policy"') == 1
    assert 'data-testid="policy-new"' not in html and 'data-testid="policies-read-only"' in html
    # a reader sees the form disabled and without a save button
    policy = EscalationPolicy.objects.get(tenant__slug="acme")
    html = get(client, "acme.warehouse", POLICIES.format(tenant="acme") + f"{policy.pk}/").content.decode()
    assert "<fieldset disabled>" in html and 'data-testid="policy-save"' not in html


def test_partners_and_other_tenants_get_no_policies(full_demo, client):
    assert get(client, "supa.rep", POLICIES.format(tenant="acme")).status_code == 403
    assert get(client, "globex.buyer", POLICIES.format(tenant="acme")).status_code == 404
    globex_policy = EscalationPolicy.objects.get(tenant__slug="globex")
    assert get(client, "acme.admin", POLICIES.format(tenant="acme") + f"{globex_policy.pk}/").status_code == 404
    assert get(client, "acme.admin", POLICIES.format(tenant="acme") + "999999/").status_code == 404


def test_admin_creates_a_policy(full_demo, client):
    client.force_login(user("acme.admin"))
    assert client.get(POLICIES.format(tenant="acme") + "new/").status_code == 200
    data = policy_form(levels=[
        {"after": "10", "unit": "min", "roles": ["planner", "coordinator"], "users": "",
         "channels": ["in_app", "wecom"]},
        {"after": "1", "unit": "h", "roles": [], "users": "acme.admin, acme.buyer", "channels": ["email"]},
    ])
    data["level-0-roles"] = ["planner", "coordinator"]
    response = client.post(POLICIES.format(tenant="acme") + "new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = EscalationPolicy.objects.get(tenant__slug="acme", name="夜班升级")
    assert policy.kind == "low_stock" and policy.min_severity == Severity.WARNING and policy.active
    assert policy.levels == [
        {"after_seconds": 600, "roles": ["planner", "coordinator"], "users": [], "channels": ["in_app", "wecom"]},
        {"after_seconds": 3600, "roles": [], "users": ["acme.admin", "acme.buyer"], "channels": ["email"]},
    ]
    html = client.get(response.url).content.decode()
    assert "夜班升级" in html


def test_admin_edits_a_policy(full_demo, client):
    policy = EscalationPolicy.objects.get(tenant__slug="acme")
    client.force_login(user("acme.admin"))
    form = client.get(POLICIES.format(tenant="acme") + f"{policy.pk}/").content.decode()
    assert 'name="level-0-after" value="5"' in form  # 300 s shown as 5 minutes
    assert 'name="level-1-after" value="15"' in form
    data = policy_form(name="库存预警升级（新）", kind="", severity="critical", active=False, levels=[
        {"after": "90", "unit": "s", "roles": ["planner"], "users": "", "channels": ["in_app"]},
    ])
    response = client.post(POLICIES.format(tenant="acme") + f"{policy.pk}/", data)
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.name == "库存预警升级（新）" and policy.min_severity == Severity.CRITICAL and not policy.active
    assert policy.levels == [{"after_seconds": 90, "roles": ["planner"], "users": [], "channels": ["in_app"]}]


@pytest.mark.parametrize(
    "levels, message",
    [
        ([], "A policy has at least one level."),
        ([{"after": "5", "unit": "min", "channels": ["in_app"]}], "A level names at least one role or user to tell."),
        ([{"after": "5", "unit": "min", "users": "supa.rep nobody.here"}], "Not members of this tenant: nobody.here."),
        ([{"after": "abc", "unit": "min", "roles": "planner"}], "A valid integer is required."),
        ([{"after": "", "unit": "min", "roles": "planner"}], "A valid integer is required."),
        ([{"after": "999999", "unit": "h", "roles": "planner"}], "Ensure this value is less than or equal to 604800."),
    ],
)
def test_invalid_policies_are_not_saved_and_say_why(full_demo, client, levels, message):
    client.force_login(user("acme.admin"))
    before = list(EscalationPolicy.objects.values_list("pk", "name", "levels"))
    response = client.post(POLICIES.format(tenant="acme") + "new/", policy_form(levels=levels))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="form-errors"' in html
    assert message in html
    assert list(EscalationPolicy.objects.values_list("pk", "name", "levels")) == before


def test_invalid_top_level_fields(full_demo, client):
    client.force_login(user("acme.admin"))
    levels = [{"after": "5", "unit": "min", "roles": "planner"}]
    data = policy_form(name="", severity="loud", levels=levels)
    response = client.post(POLICIES.format(tenant="acme") + "new/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field may not be blank." in html and "is not a valid choice." in html
    # what was typed is kept
    assert 'name="level-0-after" value="5"' in html


def test_add_a_level_saves_nothing(full_demo, client):
    client.force_login(user("acme.admin"))
    data = policy_form(levels=[{"after": "5", "unit": "min", "roles": "planner"}])
    data["add_level"] = "1"
    count = EscalationPolicy.objects.count()
    response = client.post(POLICIES.format(tenant="acme") + "new/", data)
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="policy-level"') == 3  # the filled one and two empty
    assert EscalationPolicy.objects.count() == count


def test_only_admins_and_coordinators_may_write_policies(full_demo, client):
    policy = EscalationPolicy.objects.get(tenant__slug="acme")
    levels = [{"after": "5", "unit": "min", "roles": "planner"}]
    for username in ["acme.warehouse", "acme.planner", "acme.auditor"]:
        client.force_login(user(username))
        assert client.post(POLICIES.format(tenant="acme") + "new/", policy_form(levels=levels)).status_code == 403
        edit = POLICIES.format(tenant="acme") + f"{policy.pk}/"
        assert client.post(edit, policy_form(levels=levels)).status_code == 403
        assert client.get(POLICIES.format(tenant="acme") + "new/").status_code == 403
    client.force_login(user("supa.rep"))
    assert client.post(POLICIES.format(tenant="acme") + "new/", policy_form(levels=levels)).status_code == 403
    assert EscalationPolicy.objects.filter(tenant__slug="acme").count() == 1
    policy.refresh_from_db()
    assert policy.name == "库存预警升级 / Stock alerts"


# --- KPIs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["", "?days=7", "?days=30", "?days=90", "?days=365", "?days=abc", "?days=-1"])
def test_kpi_page_renders_for_every_period(full_demo, client, query):
    response = get(client, "acme.warehouse", KPIS.format(tenant="acme") + query)
    assert response.status_code == 200
    html = response.content.decode()
    chosen = query.split("=")[1] if query[-2:] in {"=7", "30", "90"} else "30"
    assert f'aria-current="true" data-testid="period-{chosen}"' in html
    assert 'data-testid="chart-per-day"' in html


def test_kpi_figures_and_charts(full_demo, client):
    tenant = full_demo["tenants"]["acme"]
    low_stock = acme_alerts().get(kind="low_stock")
    Alert.objects.filter(pk=low_stock.pk).update(opened_at=timezone.now() - timedelta(minutes=10))
    act(services.alert_acknowledge, "acme.warehouse", low_stock)
    raise_alert(tenant, "test:kpi:b", partner=full_demo["organizations"]["sup-b"], sku="SKU-2001")
    html = get(client, "acme.planner", KPIS.format(tenant="acme") + "?days=7").content.decode()
    assert re.search(r'data-testid="kpi-total"><header>[^<]+</header><p class="kpi-value">7<', html)
    assert re.search(r'data-testid="tta-average">10 min<', html)
    suppliers = dict(re.findall(r'class="chart-bar" data-label="([^"]+)" data-count="(\d+)"',
                                html.split('data-testid="chart-per-supplier"')[1].split("</svg>")[0]))
    assert suppliers == {"华东零部件有限公司": "6", "南方包装材料厂": "1"}
    skus = dict(re.findall(r'class="chart-bar" data-label="([^"]+)" data-count="(\d+)"',
                           html.split('data-testid="chart-per-sku"')[1].split("</svg>")[0]))
    assert skus == {"SKU-1001": "6", "SKU-2001": "1"}
    days = re.findall(r'data-day="([\d-]+)" data-count="(\d+)"', html)
    assert len(days) == 8 and sum(int(count) for _day, count in days) == 7
    # a supplier's KPIs count its own alerts only
    html = get(client, "supb.rep", KPIS.format(tenant="acme")).content.decode()
    assert re.search(r'data-testid="kpi-total"><header>[^<]+</header><p class="kpi-value">1<', html)


def test_kpi_page_of_another_tenant_is_404(full_demo, client):
    assert get(client, "globex.buyer", KPIS.format(tenant="acme")).status_code == 404


def test_kpi_page_without_alerts(demo, client):
    html = get(client, "acme.buyer", KPIS.format(tenant="acme")).content.decode()
    assert "kpi-value\">0<" in html and 'data-testid="chart-per-supplier"' not in html


# --- helpers --------------------------------------------------------------------------------------

def test_duration_text():
    assert duration_text(None) == "—"
    assert duration_text(42.4) == "42 s"
    assert duration_text(600) == "10 min"
    assert duration_text(3600) == "1 h"
    assert duration_text(3600 + 25 * 60) == "1 h 25 min"
    assert duration_text(2 * 86400 + 3 * 3600) == "2 d 3 h"


def test_chart_geometry_scales_to_the_largest_value():
    bars = bar_chart([{"label": "a" * 40, "count": 10}, {"label": "b", "count": 5}])
    assert float(bars["bars"][0]["bar_width"]) == 2 * float(bars["bars"][1]["bar_width"])
    assert bars["bars"][0]["label"].endswith("…") and bars["bars"][0]["full_label"] == "a" * 40
    assert bar_chart([]) is None
    columns = column_chart([{"label": "01-01", "count": 0, "title": "2024-01-01"},
                            {"label": "01-02", "count": 4, "title": "2024-01-02"}])
    assert columns["columns"][0]["height"] == "0" and float(columns["columns"][1]["height"]) > 0


def test_alert_state_labels_cover_every_state():
    from alerts.views import NEXT_ACTIONS, _board_strings

    strings = _board_strings()
    assert {f"state.{state}" for state in AlertState.values} <= set(strings)
    assert set(NEXT_ACTIONS) == set(AlertState.values)


def test_a_coordinator_may_write_policies(full_demo, client):
    from scm_portal.tenancy import services as tenancy_services
    from tests.factories import UserFactory

    coordinator = UserFactory(username="acme.coordinator")
    tenancy_services.membership_create(tenant=full_demo["tenants"]["acme"], actor=None, user=coordinator,
                                       organization=full_demo["organizations"]["acme"], role="coordinator")
    client.force_login(coordinator)
    assert b'data-testid="policy-new"' in client.get(POLICIES.format(tenant="acme")).content
    levels = [{"after": "30", "unit": "s", "users": "acme.coordinator"}]
    response = client.post(POLICIES.format(tenant="acme") + "new/", policy_form(name="协调员策略", levels=levels))
    assert response.status_code == 302
    assert EscalationPolicy.objects.get(name="协调员策略").levels[0]["users"] == ["acme.coordinator"]
