"""The dashboard: real figures per role from the panels the apps register (scm_portal.dashboard),
read through their selectors, within a query budget, and empty states that suit the reader."""

import re

import pytest

from alerts.models import Alert, AlertState, Notification
from alerts.services import alert_acknowledge
from inventory.models import SKU, ReplenishmentRequest, Warehouse
from messaging.models import Room
from scm_portal.dashboard import dashboard_panels_for, register_dashboard_panel
from scm_portal.tenancy.access import tenant_context_for
from scm_portal.tenancy.models import Organization, Tenant
from tests.alerts.helpers import act
from tests.api_contract import user
from tests.messaging.helpers import post, room_of

pytestmark = pytest.mark.django_db

# Every demo reader of acme, the panels they get and those they must not.
PANELS = {
    "acme.buyer": ({"open_alerts", "unread_rooms", "stock_below_safety", "replenishment_requests", "partners"},
                   {"administration"}),
    "acme.warehouse": ({"open_alerts", "unread_rooms", "stock_below_safety", "replenishment_requests"},
                       {"administration"}),
    "acme.planner": ({"open_alerts", "stock_below_safety", "replenishment_requests"}, {"administration"}),
    "acme.finance": ({"open_alerts", "unread_rooms"}, {"administration"}),
    "acme.auditor": ({"open_alerts", "unread_rooms", "stock_below_safety", "replenishment_requests"},
                     {"administration"}),
    "acme.admin": ({"administration", "open_alerts", "unread_rooms", "partners"}, set()),
    "supa.rep": ({"open_alerts", "unread_rooms", "stock_below_safety", "replenishment_requests", "partners"},
                 {"administration"}),
    "supb.rep": ({"open_alerts", "unread_rooms", "replenishment_requests"}, {"administration"}),
    # A funder sees no stock: neither panel nor page.
    "bank.officer": ({"open_alerts", "unread_rooms", "partners"},
                     {"stock_below_safety", "replenishment_requests", "administration"}),
}

# Queries per dashboard, per role, on the full demo: the session, the user, the tenant context, the
# header (tenants, bell, invitations) and each panel's own, whatever the number of rows.
# (6 for the page and its header; 1 each for the open alerts, the unread rooms and the partners; 1 for
# stock below safety and 2 for the replenishment requests where the role sees stock; 2 for the
# administration figures.)
QUERY_BUDGET = {
    # +1 for the buyers', the admin's and the suppliers' "POs awaiting me" (one query);
    # "financing awaiting me": +1 for a finance approver and a funder, +2 for a supplier
    "acme.buyer": 13, "acme.warehouse": 12, "acme.planner": 12, "acme.finance": 13, "acme.auditor": 12,
    "acme.admin": 15, "supa.rep": 15, "supb.rep": 15, "bank.officer": 10,
}


def figure(html, testid):
    match = re.search(rf'data-testid="{testid}" data-count="(\d+)"', html)
    assert match, f"no figure {testid} on the page"
    return int(match.group(1))


def panels_on(html):
    return set(re.findall(r'data-panel="([a-z_]+)"', html))


@pytest.mark.parametrize("username", sorted(PANELS))
def test_each_role_gets_its_panels_with_no_placeholder(full_demo, client, username):
    client.force_login(user(username))
    html = client.get("/t/acme/").content.decode()
    present, absent = PANELS[username]
    assert present <= panels_on(html), present - panels_on(html)
    assert not absent & panels_on(html), absent & panels_on(html)
    assert "will appear here" not in html and "will be shown here" not in html


@pytest.mark.parametrize("username", sorted(QUERY_BUDGET))
def test_dashboard_query_budget_per_role(full_demo, client, django_assert_max_num_queries, username):
    client.force_login(user(username))
    client.get("/t/acme/")  # the session's first read (language, messages) is not the page's cost
    with django_assert_max_num_queries(QUERY_BUDGET[username]):
        assert client.get("/t/acme/").status_code == 200


def test_alert_figures_are_the_unresolved_alerts_by_state_and_those_addressed_to_me(full_demo, client):
    acme = Tenant.objects.get(slug="acme")
    warehouse = user("acme.warehouse")
    unresolved = Alert.objects.filter(tenant=acme).exclude(state=AlertState.RESOLVED)
    assert unresolved.filter(state=AlertState.OPEN).count() >= 2, "the demo raises stock alerts"
    client.force_login(warehouse)

    html = client.get("/t/acme/").content.decode()
    assert figure(html, "alerts-open") == unresolved.filter(state=AlertState.OPEN).count()
    assert figure(html, "alerts-acknowledged") == unresolved.filter(state=AlertState.ACKNOWLEDGED).count()
    addressed = unresolved.filter(core_audience__contains=",warehouse,") | unresolved.filter(
        pk__in=Notification.objects.filter(user=warehouse).values("alert_id"))
    assert figure(html, "alerts-mine") == addressed.distinct().count() > 0
    assert 'href="/t/acme/alerts/?mine=1"' in html and 'href="/t/acme/alerts/?state=open"' in html

    # When one is acknowledged, it moves from one figure to the other
    before_open, before_acked = figure(html, "alerts-open"), figure(html, "alerts-acknowledged")
    act(alert_acknowledge, "acme.warehouse", unresolved.filter(state=AlertState.OPEN).first())
    html = client.get("/t/acme/").content.decode()
    assert figure(html, "alerts-open") == before_open - 1
    assert figure(html, "alerts-acknowledged") == before_acked + 1


def test_a_reader_without_alerts_gets_the_empty_state(full_demo, client):
    client.force_login(user("bank.officer"))
    html = client.get("/t/acme/").content.decode()
    assert 'data-testid="alerts-none"' in html and 'data-testid="alerts-open"' not in html


def test_rooms_with_unread_messages_are_listed_until_read(full_demo, client, api):
    room = room_of("acme", "sup-a")
    post("supa.rep", room, "ASN for PO-1 is on its way")
    reader = user("acme.buyer")
    client.force_login(reader)
    html = client.get("/t/acme/").content.decode()
    listed = re.search(rf'<li data-room="{room.pk}">.*?data-count="(\d+)"', html, re.S)
    assert listed and int(listed.group(1)) >= 1
    assert f'href="/t/acme/rooms/{room.pk}/"' in html

    # When the reader reads the room up to its last message, it leaves the panel
    room.refresh_from_db()
    assert api.as_user(reader).post(f"/api/v1/t/acme/rooms/{room.pk}/read/", {"seq": room.last_seq},
                                    format="json").status_code in (200, 204)
    html = client.get("/t/acme/").content.decode()
    assert f'<li data-room="{room.pk}">' not in html


def test_no_room_of_another_reader_is_listed(full_demo, client):
    post("supa.rep", room_of("acme", "sup-a"), "for acme only")
    client.force_login(user("supb.rep"))
    html = client.get("/t/acme/").content.decode()
    assert f'data-room="{room_of("acme", "sup-a").pk}"' not in html


def _request_for(supplier_slug, code="SKU-1001"):
    acme = Tenant.objects.get(slug="acme")
    sku = SKU.objects.get(tenant=acme, code=code)
    return ReplenishmentRequest.objects.create(
        tenant=acme, sku=sku, warehouse=Warehouse.objects.filter(tenant=acme).order_by("pk").first(),
        supplier=Organization.objects.get(slug=supplier_slug), quantity=500, requested_by=user("acme.warehouse"))


def test_replenishment_requests_show_to_core_staff_and_the_supplier_asked(full_demo, client):
    request = _request_for("sup-a")
    _request_for("sup-b", code=SKU.objects.filter(tenant__slug="acme", default_supplier__slug="sup-b").first().code)
    waiting = ReplenishmentRequest.objects.filter(tenant__slug="acme", state="requested")
    for username, expected in (("acme.planner", waiting.count()), ("supa.rep", waiting.filter(supplier__slug="sup-a").count())):
        client.force_login(user(username))
        html = client.get("/t/acme/").content.decode()
        assert figure(html, "replenishment-count") == expected, username
        assert f'href="/t/acme/stock/{request.sku.code}/"' in html, username
    assert waiting.count() > waiting.filter(supplier__slug="sup-a").count() >= 1
    client.force_login(user("supb.rep"))
    html = client.get("/t/acme/").content.decode()
    assert figure(html, "replenishment-count") == 1 and f'href="/t/acme/stock/{request.sku.code}/"' not in html
    client.force_login(user("bank.officer"))
    assert 'data-panel="replenishment_requests"' not in client.get("/t/acme/").content.decode()


def test_a_supplier_asked_for_nothing_gets_its_empty_state(full_demo, client):
    _request_for("sup-a")
    client.force_login(user("supb.rep"))
    html = client.get("/t/acme/").content.decode()
    assert 'data-testid="replenishment-none"' in html and "No replenishment requested from you." in html


def test_empty_states_suit_a_read_only_reader(demo, client):
    client.force_login(user("acme.auditor"))
    html = client.get("/t/acme/").content.decode()
    assert 'data-testid="read-only-badge"' in html
    assert "No replenishment requests." in html and "Arrange replenishment" not in html
    client.force_login(user("acme.planner"))
    html = client.get("/t/acme/").content.decode()
    assert "Arrange replenishment" in html and 'data-testid="read-only-badge"' not in html


def test_a_room_invites_a_first_message_only_from_those_who_may_post(demo, client):
    room = Room.objects.get(tenant__slug="acme", kind="internal")
    client.force_login(user("acme.auditor"))
    html = client.get(f"/t/acme/rooms/{room.pk}/").content.decode()
    assert "Say hello" not in html and "No messages in this room yet." in html
    client.force_login(user("acme.buyer"))
    assert "Say hello" in client.get(f"/t/acme/rooms/{room.pk}/").content.decode()


def test_dashboard_in_chinese(full_demo, client):
    client.force_login(user("acme.warehouse"))
    html = client.get("/t/acme/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'lang="zh-hans"' in html
    assert "未解决的预警" in html and "发给我的" in html and "低于安全库存" in html


def test_a_panel_registered_by_another_app_joins_for_its_roles_only(demo, rf):
    """What the orders and finance apps do in their ready(): no edit of the dashboard."""
    from scm_portal import dashboard

    calls = []

    def pos_awaiting_me(request):
        calls.append(request.user.username)
        return {"count": 3}

    register_dashboard_panel("pos_awaiting_me", roles={"buyer"}, template="x.html", context=pos_awaiting_me, order=1)
    try:
        acme = Tenant.objects.get(slug="acme")
        for username, shown in (("acme.buyer", True), ("acme.warehouse", False)):
            request = rf.get("/t/acme/")
            request.user = user(username)
            request.tenant = acme
            request.tenant_context = tenant_context_for(request.user, acme)
            names = [p["name"] for p in dashboard_panels_for(request)]
            assert ("pos_awaiting_me" in names) is shown
            if shown:
                assert names[0] == "pos_awaiting_me"
        assert calls == ["acme.buyer"]
        with pytest.raises(ValueError):
            register_dashboard_panel("pos_awaiting_me", roles={"buyer"}, template="x.html", context=pos_awaiting_me)
    finally:
        dashboard._PANELS.pop("pos_awaiting_me")
