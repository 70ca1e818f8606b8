"""One tenant context per request: pages, the API and sockets read the user's memberships in the
tenant once (a TenantContext) and hand it to every service and selector that asks what the user
may do there; no service reads memberships again, and one of another tenant or person is refused.
"""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from alerts import services as alert_services
from alerts.models import Alert, AlertState
from inventory.models import ReplenishmentRequest
from messaging import selectors as messaging_selectors
from messaging import services as messaging_services
from messaging.models import ActionPress, Message
from scm_portal.tenancy.access import access_tenant_context, tenant_context_for
from scm_portal.tenancy.context import TenantContext, check_context
from scm_portal.tenancy.models import UserPreferences
from tests.api_contract import user
from tests.inventory.helpers import ingest, movement, stock_world
from tests.messaging.helpers import internal_room, post_event, room_of


def membership_reads(queries, someone, tenant):
    """The statements among `queries` that read `someone`'s memberships in `tenant`: they name the
    membership table, the user and the tenant (by id or slug), as a context read, a roles lookup
    or the generic visibility rule (membership EXISTS inside a query of the tenant's rows) do.
    The page header's lists across all of the user's tenants (the tenant switcher, the
    invitations badge) name no tenant and are not counted."""
    by_user = re.compile(rf'"user_id" = {someone.pk}\b')
    in_tenant = re.compile(rf'"tenant_id" = {tenant.pk}\b|"slug" = \'{re.escape(tenant.slug)}\'')
    return [
        q["sql"] for q in queries.captured_queries
        if "tenancy_membership" in q["sql"] and by_user.search(q["sql"]) and in_tenant.search(q["sql"])
    ]


def raise_alert(tenant, partner, key="ctx", audience=("warehouse",)):
    alert, _created = alert_services.alert_raise(
        tenant=tenant, kind="low_stock", severity=20, dedupe_key=key, title="SKU-1001 低于安全库存",
        subject_kind="sku", subject_ref="SKU-1001", partner=partner, core_audience=audience,
    )
    return alert


def card_in(alert, room):
    return next(ref for ref in alert.cards if ref["room"] == room.pk)


# --- one read per request, on every surface ----------------------------------------------------

PAGES = [
    ("acme.admin", "/t/acme/"),
    ("acme.admin", "/t/acme/partners/"),
    ("acme.admin", "/t/acme/members/"),
    ("acme.buyer", "/t/acme/rooms/"),
    ("acme.buyer", "/t/acme/rooms/{internal}/"),
    ("supa.rep", "/t/acme/rooms/{sup_a}/"),
    ("acme.warehouse", "/t/acme/alerts/?mine=1"),
    ("acme.admin", "/t/acme/alerts/policies/"),
    ("acme.planner", "/t/acme/alerts/kpis/"),
    ("supa.rep", "/t/acme/stock/"),
    ("acme.warehouse", "/t/acme/stock/SKU-1001/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("username, path", PAGES)
def test_a_page_reads_the_users_memberships_once(full_demo, client, username, path):
    acme, reader = full_demo["tenants"]["acme"], user(username)
    path = path.format(internal=internal_room("acme").pk, sup_a=room_of("acme", "sup-a").pk)
    client.force_login(reader)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, path
    assert len(membership_reads(queries, reader, acme)) == 1, membership_reads(queries, reader, acme)


@pytest.mark.django_db
def test_the_pages_menu_reads_the_roles_from_the_pages_context(full_demo, client):
    for username, shown in [("acme.admin", True), ("acme.buyer", False)]:
        client.force_login(user(username))
        html = client.get("/t/acme/stock/").content.decode()  # no link to members but the menu's
        assert ('href="/t/acme/members/"' in html) is shown, username


@pytest.mark.django_db
@pytest.mark.parametrize("username, path", [
    ("acme.warehouse", "alerts/?mine=1"),
    ("supa.rep", "alerts/?mine=1"),
    ("acme.buyer", "rooms/"),
    ("supa.rep", "stock/"),
    ("acme.planner", "kpis/alerts/"),
])
def test_an_api_list_reads_them_once(full_demo, api, username, path):
    acme, reader = full_demo["tenants"]["acme"], user(username)
    api.as_user(reader)
    with CaptureQueriesContext(connection) as queries:
        response = api.get(f"/api/v1/t/acme/{path}")
    assert response.status_code == 200, response.content
    assert len(membership_reads(queries, reader, acme)) == 1, membership_reads(queries, reader, acme)


def _alert_ack(world):
    alert = raise_alert(world["tenants"]["acme"], world["organizations"]["sup-a"])
    return "acme.warehouse", f"alerts/{alert.pk}/ack/", None


def _alert_card_button(world):
    room = room_of("acme", "sup-a")
    ref = card_in(raise_alert(world["tenants"]["acme"], world["organizations"]["sup-a"]), room)
    return "acme.warehouse", f"rooms/{room.pk}/messages/{ref['seq']}/actions/alert_start/", None


def _acknowledge_button(world):
    room = room_of("acme", "sup-a")
    return "supa.rep", f"rooms/{room.pk}/messages/{post_event(room).seq}/actions/acknowledge/", None


def _replenish_button(world):
    tenant, *_ = stock_world(world, safety=500, reorder=0, max_level=2000, opening=600)
    ingest(tenant, [movement(delta=-200)])
    room = room_of("acme", "sup-a")
    alert = Alert.objects.get(tenant=tenant, kind="low_stock", subject_ref="SKU-T1")
    ref = card_in(alert, room)
    return "acme.warehouse", f"rooms/{room.pk}/messages/{ref['seq']}/actions/inventory_replenish/", None


def _bot_question(world):
    return "acme.warehouse", f"rooms/{internal_room('acme').pk}/messages/", {"body": "/alerts", "client_id": "q"}


@pytest.mark.django_db
@pytest.mark.parametrize("setup", [_alert_ack, _alert_card_button, _acknowledge_button, _replenish_button,
                                   _bot_question])
def test_an_api_action_reads_them_once(full_demo, api, setup):
    username, path, body = setup(full_demo)
    acme, actor = full_demo["tenants"]["acme"], user(username)
    api.as_user(actor)
    with CaptureQueriesContext(connection) as queries:
        response = api.post(f"/api/v1/t/acme/{path}", body, format="json")
    assert response.status_code in (200, 201), response.content
    assert len(membership_reads(queries, actor, acme)) == 1, membership_reads(queries, actor, acme)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["send", "bot", "acknowledge", "alert_button"])
def test_a_socket_frame_reads_them_once(full_demo, kind):
    """The socket reads the user's context for every frame it acts on (a membership lost since it
    connected is refused at once), and the services it calls read nothing more."""
    from realtime.access_state import load_socket_access
    from realtime.consumers import _post, _press

    acme = full_demo["tenants"]["acme"]
    partner_room, internal = room_of("acme", "sup-a"), internal_room("acme")
    actor = user("acme.warehouse" if kind in ("bot", "alert_button") else "supa.rep")
    if kind == "acknowledge":
        card_seq = post_event(partner_room).seq
    elif kind == "alert_button":
        card_seq = card_in(raise_alert(acme, full_demo["organizations"]["sup-a"]), partner_room)["seq"]
    access = load_socket_access(actor, tenant_id=acme.pk)  # when the socket connected
    with CaptureQueriesContext(connection) as queries:
        if kind == "send":
            _post(actor, access, {"room": partner_room.pk, "body": "周四发货", "client_id": "s"})
        elif kind == "bot":
            _post(actor, access, {"room": internal.pk, "body": "@bot 我的预警", "client_id": "b"})
        else:
            _press(actor, access, partner_room.pk, card_seq, "acknowledge" if kind == "acknowledge" else "alert_ack")
    assert len(membership_reads(queries, actor, acme)) == 1, membership_reads(queries, actor, acme)
    if kind == "bot":
        assert Message.objects.filter(room=internal, kind="bot", recipient=actor).exists()


# --- a context is the actor's, in the tenant: anything else is refused ---------------------------

def wrong_context(kind, actor, tenant, world):
    if kind == "another_user":  # a tenant admin's: more than the actor may do
        return access_tenant_context(user("acme.admin"), tenant.slug)
    if kind == "another_tenant":
        return tenant_context_for(actor, world["tenants"]["globex"])
    return None


WRONG = [("another_user", ValueError), ("another_tenant", ValueError), ("none", TypeError)]


@pytest.mark.django_db
@pytest.mark.parametrize("kind, error", WRONG)
def test_message_services_refuse_a_context_that_is_not_the_actors_in_the_tenant(demo, kind, error):
    acme, supa, room = demo["tenants"]["acme"], user("supa.rep"), room_of("acme", "sup-a")
    card = post_event(room)
    before = Message.objects.count()
    context = wrong_context(kind, supa, acme, demo)
    with pytest.raises(error):
        messaging_services.check_may_post(tenant=acme, actor=supa, context=context)
    with pytest.raises(error):
        messaging_services.message_post(tenant=acme, actor=supa, context=context, room=room, body="越权")
    with pytest.raises(error):
        messaging_services.action_press(tenant=acme, actor=supa, context=context, room=room, message=card,
                                        action="acknowledge")
    with pytest.raises(error):
        messaging_selectors.room_list(supa, acme, context=context)
    assert Message.objects.count() == before and not ActionPress.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("kind, error", WRONG)
def test_alert_and_stock_services_refuse_a_context_that_is_not_the_actors_in_the_tenant(demo, kind, error):
    from alerts.selectors import alert_list
    from inventory.services import replenishment_request_create

    tenant, sku, warehouse, _rule = stock_world(demo)
    warehouse_manager = user("acme.warehouse")
    alert = raise_alert(tenant, demo["organizations"]["sup-a"])
    context = wrong_context(kind, warehouse_manager, tenant, demo)
    for service in (alert_services.alert_acknowledge, alert_services.alert_start, alert_services.alert_resolve):
        with pytest.raises(error):
            service(tenant=tenant, actor=warehouse_manager, context=context, alert=alert)
    with pytest.raises(error):
        alert_services.check_may_change(tenant=tenant, actor=warehouse_manager, context=context, alert=alert)
    with pytest.raises(error):
        replenishment_request_create(tenant=tenant, actor=warehouse_manager, context=context, sku=sku,
                                     warehouse=warehouse, quantity=5)
    with pytest.raises(error):
        alert_list(user=warehouse_manager, tenant=tenant, context=context, mine=True)
    alert.refresh_from_db()
    assert alert.state == AlertState.OPEN and not ReplenishmentRequest.objects.exists()


@pytest.mark.django_db
def test_the_right_context_is_accepted_and_decides(demo):
    """The same calls with the actor's own context: the roles in it decide, not a re-read."""
    from django.core.exceptions import PermissionDenied

    from inventory.services import replenishment_request_create

    tenant, sku, warehouse, _rule = stock_world(demo)
    acme_admin, supa = user("acme.admin"), user("supa.rep")
    own = access_tenant_context(supa, "acme")
    assert check_context(own, tenant=tenant, user=supa) is own
    with pytest.raises(PermissionDenied):  # a supplier does not arrange the customer's replenishment
        replenishment_request_create(tenant=tenant, actor=supa, context=own, sku=sku, warehouse=warehouse, quantity=5)
    # A context holds what was read with it: one without the role is refused even for an admin...
    bare = TenantContext(tenant=tenant, user_id=acme_admin.pk, memberships=frozenset())
    with pytest.raises(PermissionDenied):
        messaging_services.check_may_post(tenant=tenant, actor=acme_admin, context=bare)
    # ...and a user without a membership gets an empty one from tenant_context_for.
    outsider = tenant_context_for(user("globex.buyer"), tenant)
    assert outsider.memberships == frozenset() and outsider.tenant == tenant
    with pytest.raises(PermissionDenied):
        messaging_services.check_may_post(tenant=tenant, actor=user("globex.buyer"), context=outsider)


# --- a socket re-checks every frame: a membership revoked meanwhile is refused -----------------------

@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_button_pressed_over_the_socket_after_the_membership_is_revoked_is_refused(demo_tx, monkeypatch):
    import realtime
    from tests.messaging.test_sockets import a_room, connect, frames_until, in_db_thread, revoke_membership

    monkeypatch.setattr(realtime, "publish_access_changed", lambda **kwargs: None)  # the socket is never told
    room = await a_room("acme", "sup-a")
    card = await in_db_thread(post_event)(room)
    rep = await connect("supa.rep")
    await revoke_membership("supa.rep")
    await rep.send_json_to({"type": "action", "room": room.pk, "seq": card.seq, "action": "acknowledge", "ref": "r1"})
    answer = await frames_until(rep, lambda f: f["type"] in ("error", "action_result"))
    assert (answer[-1]["type"], answer[-1]["code"], answer[-1]["ref"]) == ("error", "not_found", "r1")
    assert not await in_db_thread(ActionPress.objects.exists)()
    await rep.disconnect()


# --- nothing else reads a user's memberships in a tenant ------------------------------------------

# Where reading a user's own memberships is the job: building the context, managing memberships,
# the choke point's generic rule (reads across tenants, and the reference the context form is
# tested against), the user's tenants across all tenants, and the socket's own access check.
MAY_READ_A_USERS_MEMBERSHIPS = {
    "scm_portal/tenancy/access.py": None,  # anywhere in it
    "scm_portal/tenancy/services.py": None,
    "scm_portal/tenancy/querysets.py": {"AccessPolicy.condition"},
    "messaging/models.py": {"RoomAccessPolicy.condition", "MessageQuerySet.visible_to"},
    "scm_portal/tenancy/selectors.py": {"tenant_list_for_user", "membership_list_for_user", "invitation_list_received"},
    "realtime/access_state.py": {"load_socket_access"},
}
USER_KEYWORDS = {"user", "user_id", "user__pk", "user__id"}


def _membership_reads_by_user(tree):
    """(enclosing function, line) of every `Membership...filter/get/exclude(user=...)` in `tree`."""
    found = []

    def visit(node, scope):
        for child in ast.iter_child_nodes(node):
            name = scope
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{scope}.{child.name}" if scope else child.name
            if (
                isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                and child.func.attr in {"filter", "get", "exclude", "get_or_create"}
                and any(k.arg in USER_KEYWORDS for k in child.keywords)
                and any(isinstance(n, ast.Name) and n.id == "Membership" for n in ast.walk(child.func.value))
            ):
                found.append((scope, child.lineno))
            visit(child, name)

    visit(tree, "")
    return found


def test_only_the_context_builders_read_a_users_memberships():
    root = Path(settings.BASE_DIR)
    packages = [p.parent for p in root.glob("*/apps.py")] + [root / "scm_portal", root / "realtime"]
    offenders = []
    for package in sorted(set(packages)):
        for path in sorted(package.rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if "/migrations/" in relative:
                continue
            allowed = MAY_READ_A_USERS_MEMBERSHIPS.get(relative, set())
            for scope, line in _membership_reads_by_user(ast.parse(path.read_text(), relative)):
                if allowed is not None and scope not in allowed:
                    offenders.append(f"{relative}:{line} ({scope})")
    assert not offenders, "read the TenantContext the caller hands over instead: " + ", ".join(offenders)


def test_the_guard_finds_what_it_looks_for():
    source = (
        "def roles(user, tenant):\n"
        "    return Membership.objects.active().filter(user=user, tenant=tenant).values_list('role')\n"
        "class C:\n"
        "    def m(self):\n"
        "        return Membership.objects.filter(tenant=t).filter(user_id=1)\n"
        "def others(tenant):\n"
        "    return Membership.objects.filter(tenant=tenant, role='buyer')\n"
    )
    assert _membership_reads_by_user(ast.parse(source)) == [("roles", 2), ("C.m", 5)]


# --- the reader's saved language comes with the context -------------------------------------------

def preference_reads(queries):
    """Statements of their own on the preferences table (the context's LEFT JOIN to it is not one)."""
    return [q["sql"] for q in queries.captured_queries if 'FROM "tenancy_userpreferences"' in q["sql"]]


@pytest.mark.django_db
def test_the_context_carries_the_saved_language_in_its_one_statement(demo, django_assert_num_queries):
    buyer = user("acme.buyer")
    with django_assert_num_queries(1):
        assert access_tenant_context(buyer, "acme").saved_language == ""  # none chosen
    UserPreferences.objects.create(user=buyer, language="en")
    with django_assert_num_queries(1):
        context = access_tenant_context(buyer, "acme")
    assert context.saved_language == "en" and context.roles == {"buyer"}
    assert tenant_context_for(buyer, context.tenant).saved_language is None  # not read there: asked when needed


@pytest.mark.django_db
def test_an_api_request_without_accept_language_reads_no_preferences_of_its_own(demo, django_assert_num_queries):
    buyer = user("acme.buyer")
    token = Token.objects.create(user=buyer)
    api = APIClient()  # no Accept-Language: the saved language decides, else the tenant's (acme: Chinese)
    headers = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    # The token with its user, then the tenant context with the saved language: two statements.
    with django_assert_num_queries(2):
        response = api.get("/api/v1/t/acme/", **headers)
    assert response.status_code == 200 and response["Content-Language"] == "zh-hans"
    UserPreferences.objects.create(user=buyer, language="en")
    with django_assert_num_queries(2):
        response = api.get("/api/v1/t/acme/", **headers)
    assert response.status_code == 200 and response["Content-Language"] == "en"
    with CaptureQueriesContext(connection) as queries:
        refused = api.get("/api/v1/t/acme/alerts/999999999/", **headers)
    assert refused.status_code == 404 and refused["Content-Language"] == "en"
    assert preference_reads(queries) == []
    # A named language still goes first.
    assert api.get("/api/v1/t/acme/", HTTP_ACCEPT_LANGUAGE="zh-hans", **headers)["Content-Language"] == "zh-hans"


@pytest.mark.django_db
def test_a_page_reads_the_saved_language_with_its_context(demo):
    buyer = user("acme.buyer")
    UserPreferences.objects.create(user=buyer, language="en")
    browser = Client()  # no Accept-Language, no language cookie
    browser.force_login(buyer)
    with CaptureQueriesContext(connection) as queries:
        response = browser.get("/t/acme/rooms/")
    assert response.status_code == 200 and response["Content-Language"] == "en"
    assert preference_reads(queries) == []
