"""One definition of "POs awaiting me" (orders.selectors.purchase_order_list_awaiting), read by the
dashboard panel and the bot's /pending alike: a supplier's reps, the POs sent to their
organisation (to confirm); the buyer's side, the change requests (to answer) and the drafts (to
send). Never another supplier's or another tenant's."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import Message
from orders.models import PurchaseOrderState as S
from orders.selectors import purchase_order_list_awaiting
from scm_portal.tenancy.access import tenant_context_for
from tests.api_contract import user
from tests.messaging.helpers import post, room_of
from tests.orders.factories_scorecard import make_po

pytestmark = pytest.mark.django_db
LINE = [{"quantity": 1, "requested": date(2026, 5, 5)}]
EVERY_STATE = [S.DRAFT, S.SENT, S.CHANGE_REQUESTED, S.CONFIRMED, S.SHIPPED, S.RECEIVED, S.CANCELLED]


@pytest.fixture
def pos(demo):
    """A PO of each state for sup-a and sup-b in acme, and a sent one of globex for sup-a."""
    acme, globex = demo["tenants"]["acme"], demo["tenants"]["globex"]
    for org in ("sup-a", "sup-b"):
        for state in EVERY_STATE:
            make_po(acme, demo["organizations"][org], number=f"PO-{org[-1].upper()}-{state}", state=state, lines=LINE)
    make_po(globex, demo["organizations"]["sup-a"], number="PO-G-sent", state=S.SENT, lines=LINE)
    return demo


def awaiting(username, tenant="acme", limit=50):
    from scm_portal.tenancy.models import Tenant

    tenant = Tenant.objects.get(slug=tenant)
    reader = user(username)
    return {po.number: po.awaiting
            for po in purchase_order_list_awaiting(reader, tenant, context=tenant_context_for(reader, tenant), limit=limit)}


def test_a_supplier_rep_awaits_the_pos_sent_to_them(pos):
    assert awaiting("supa.rep") == {"PO-A-sent": "confirm"}
    assert awaiting("supb.rep") == {"PO-B-sent": "confirm"}
    assert awaiting("supa.rep", "globex") == {"PO-G-sent": "confirm"}


def test_the_buyers_side_awaits_change_requests_and_drafts(pos):
    expected = {"PO-A-change_requested": "answer", "PO-A-draft": "send", "PO-B-change_requested": "answer",
                "PO-B-draft": "send"}
    assert awaiting("acme.buyer") == expected
    assert awaiting("acme.admin") == expected  # a tenant admin writes POs too
    assert awaiting("globex.buyer", "globex") == {}


def test_readers_who_answer_nothing_await_nothing(pos):
    for username in ("acme.warehouse", "acme.auditor", "acme.planner", "bank.officer"):
        assert awaiting(username) == {}, username


def test_oldest_first_with_the_first_due_date_and_a_limit(pos):
    from scm_portal.tenancy.models import Tenant

    acme = Tenant.objects.get(slug="acme")
    reader = user("acme.buyer")
    rows = purchase_order_list_awaiting(reader, acme, context=tenant_context_for(reader, acme), limit=3)
    assert len(rows) == 4  # one more than the limit: the caller tells that more wait
    assert [po.pk for po in rows] == sorted(po.pk for po in rows)
    assert rows[0].first_due == date(2026, 5, 5)


def test_one_query_whatever_the_number(pos):
    from scm_portal.tenancy.models import Tenant

    acme = Tenant.objects.get(slug="acme")
    reader = user("acme.buyer")
    context = tenant_context_for(reader, acme)
    with CaptureQueriesContext(connection) as captured:
        rows = purchase_order_list_awaiting(reader, acme, context=context)
        [(po.supplier.name, po.first_due) for po in rows]
    assert len(captured) == 1


def test_the_dashboard_and_the_bot_list_the_same_pos(pos, client):
    acme = pos["tenants"]["acme"]
    acme.default_language = "en"
    acme.save(update_fields=["default_language"])
    for username, room in (("acme.buyer", room_of("acme", "sup-a")), ("supa.rep", room_of("acme", "sup-a")),
                           ("supb.rep", room_of("acme", "sup-b"))):
        expected = set(awaiting(username))
        client.force_login(user(username))
        page = client.get("/t/acme/").content.decode()
        post(username, room, "/pending")
        answer = Message.objects.filter(room=room, kind="bot", recipient=user(username)).order_by("-seq").first().body
        every = {f"PO-{org}-{state}" for org in "AB" for state in EVERY_STATE} | {"PO-G-sent"}
        assert {number for number in every if f">{number}<" in page} == expected, username
        assert {number for number in every if f"**{number}**" in answer} == expected, username


def test_the_bot_says_what_each_waits_for(pos):
    acme = pos["tenants"]["acme"]
    acme.default_language = "zh-hans"
    acme.save(update_fields=["default_language"])
    room = room_of("acme", "sup-a")
    post("acme.buyer", room, "@bot 我的待确认订单")
    answer = Message.objects.filter(room=room, kind="bot").order_by("-seq").first().body
    assert "等待发送的草稿订单" in answer and "PO-A-draft" in answer and "PO-A-change_requested" in answer


def test_a_long_list_on_the_dashboard_links_to_the_rest(demo, client):
    acme, sup_a = demo["tenants"]["acme"], demo["organizations"]["sup-a"]
    for index in range(12):
        make_po(acme, sup_a, number=f"PO-S{index:02d}", state=S.SENT, lines=LINE)
    client.force_login(user("supa.rep"))
    page = client.get("/t/acme/").content.decode()
    assert page.count(">PO-S") == 10 and 'data-testid="orders-awaiting-more"' in page
    assert ">PO-S00<" in page and ">PO-S11<" not in page  # the oldest first
