"""The auditor reads every message of the rooms they follow (issue 17: "read-only across the
tenant"; the trail holds "every linked message and event", a bot answer included): a card routed to
some core roles only and a bot question with its answer, private to the asker (issue 14), reach the
auditor's API, pages, unread counts, search, record conversations and trails. Nobody else's view
changes: the buyer still does not see the warehouse-only card, the supplier's rep still does not see
another person's bot answer, and the auditor still presses nothing, sees no other tenant and no room
they do not follow. (The socket: tests/realtime/test_auditor_live.py.)"""

import pytest
from django.core.exceptions import PermissionDenied

from alerts import services as alerts
from audit.trails.pdf_verify import trail_json_from_pdf, trail_pdf_verify
from messaging import services as messaging
from messaging.models import Message
from scm_portal.tenancy.access import tenant_context_for
from scm_portal.tenancy.models import Tenant
from scm_portal.tenancy.roles import WHOLE_ROOM_READERS, Role, reads_whole_room
from tests.api_contract import assert_error, user
from tests.audit.trail_world import PO_NUMBER, po_world
from tests.messaging.helpers import post, post_event, room_of

pytestmark = pytest.mark.django_db

ROUTED = "仓库专用：PO-20231026 到货请安排卸货位"
BUYER_QUESTION = "@bot 帮助 审计可见"


def acme():
    return Tenant.objects.get(slug="acme")


@pytest.fixture
def world(demo, settings, tmp_path):
    """PO-20231026 with its conversation (trail_world: supa.rep asked the bot about it, privately),
    a card about it routed to the warehouse only, a warehouse-only low-stock alert of sup-a and a
    buyer's private bot question, all in sup-a's room."""
    settings.MEDIA_ROOT = tmp_path
    order = po_world(demo)
    room = room_of("acme", "sup-a")
    card = post_event(room, body=ROUTED, actions=(), subject_kind="purchase_order", subject_ref=PO_NUMBER,
                      core_audience=("warehouse",))
    alert, _created = alerts.alert_raise(
        tenant=acme(), kind="low_stock", severity=20, dedupe_key="SKU-AUD", title="SKU-AUD 低于安全库存",
        subject_kind="sku", subject_ref="SKU-AUD", partner=demo["organizations"]["sup-a"], core_audience=("warehouse",),
    )
    question = post("acme.buyer", room, BUYER_QUESTION)
    rep_question = Message.objects.get(room=room, body=f"/po {PO_NUMBER}")
    return {
        "order": order, "room": room, "card": card, "alert": alert,
        "alert_card": Message.objects.get(room=room, subject_kind="alert", subject_ref=str(alert.pk)),
        "question": question, "answer": Message.objects.get(room=room, refers_to=question.seq, kind="bot"),
        "rep_question": rep_question,
        "rep_answer": Message.objects.get(room=room, refers_to=rep_question.seq, kind="bot"),
    }


def seqs(api, username, room, query=""):
    api.as_user(user(username))
    response = api.get(f"/api/v1/t/acme/rooms/{room.pk}/messages/{query}")
    assert response.status_code == 200, response.content
    return {m["seq"]: m for m in response.json()["results"]}


def private_seqs(world):
    return {world[k].seq for k in ("question", "answer", "rep_question", "rep_answer")}


def routed_seqs(world):
    return {world["card"].seq, world["alert_card"].seq}


class TestTheRule:
    def test_the_auditor_is_the_whole_room_reader_and_read_only(self):
        assert WHOLE_ROOM_READERS == {Role.AUDITOR}
        assert reads_whole_room({Role.AUDITOR}) and reads_whole_room({Role.AUDITOR, Role.BUYER})
        assert not reads_whole_room({Role.BUYER, Role.WAREHOUSE}) and not reads_whole_room(set())

    @pytest.mark.parametrize("username", ["acme.auditor", "acme.buyer", "acme.warehouse", "supa.rep", "supb.rep"])
    def test_both_forms_of_the_queryset_answer_the_same(self, world, username):
        reader = user(username)
        generic = set(Message.objects.for_tenant(acme()).visible_to(reader).values_list("pk", flat=True))
        in_context = set(Message.objects.for_tenant(acme()).visible_to(reader, context=tenant_context_for(reader, acme()))
                         .values_list("pk", flat=True))
        assert generic == in_context

    def test_the_auditor_reads_every_message_of_the_demo_tenant(self, world):
        """The auditor follows every partner and reads the tenant-wide internal room: every message."""
        reader = user("acme.auditor")
        seen = set(Message.objects.for_tenant(acme()).visible_to(reader, context=tenant_context_for(reader, acme()))
                   .values_list("pk", flat=True))
        assert seen == set(Message.objects.for_tenant(acme()).values_list("pk", flat=True))


class TestTheApi:
    def test_the_auditor_lists_the_routed_cards_and_the_private_questions_and_answers(self, world, api):
        room = world["room"]
        listed = seqs(api, "acme.auditor", room, "?limit=500")
        assert routed_seqs(world) | private_seqs(world) <= set(listed)
        assert listed[world["card"].seq]["core_audience"] == ["warehouse"]
        assert listed[world["answer"].seq]["recipient"] == user("acme.buyer").pk
        # Paging backwards and forwards answers the same.
        before = seqs(api, "acme.auditor", room, "?before_seq=1000000&limit=500")
        after = seqs(api, "acme.auditor", room, "?after_seq=0&limit=500")
        assert set(before) == set(after) == set(listed)

    def test_a_reply_to_a_private_question_keeps_its_link_for_the_auditor(self, world, api):
        listed = seqs(api, "acme.auditor", world["room"], f"?before_seq={world['answer'].seq + 1}&limit=1")
        assert listed[world["answer"].seq]["refers_to"] == world["question"].seq

    def test_the_buyer_still_does_not_see_the_warehouse_only_cards(self, world, api):
        listed = seqs(api, "acme.buyer", world["room"], "?limit=500")
        assert not routed_seqs(world) & set(listed)
        assert {world["question"].seq, world["answer"].seq} <= set(listed)  # their own question
        assert not {world["rep_question"].seq, world["rep_answer"].seq} & set(listed)

    def test_the_warehouse_sees_its_cards_and_no_one_elses_bot_answer(self, world, api):
        listed = seqs(api, "acme.warehouse", world["room"], "?limit=500")
        assert routed_seqs(world) <= set(listed)
        assert not private_seqs(world) & set(listed)

    def test_the_supplier_rep_still_does_not_see_another_persons_bot_answer(self, world, api):
        listed = seqs(api, "supa.rep", world["room"], "?limit=500")
        assert {world["rep_question"].seq, world["rep_answer"].seq} <= set(listed)
        assert not {world["question"].seq, world["answer"].seq} & set(listed)
        # The partner side of the room sees cards routed among the core staff (as before).
        assert routed_seqs(world) <= set(listed)

    def test_a_single_message_is_readable_as_listed(self, world, api):
        api.as_user(user("acme.auditor"))
        room, answer = world["room"], world["answer"]
        response = api.get(f"/api/v1/t/acme/rooms/{room.pk}/messages/?after_seq={answer.seq - 1}&limit=1")
        assert [m["seq"] for m in response.json()["results"]] == [answer.seq]

    def test_unread_counts_include_them(self, world, api):
        api.as_user(user("acme.auditor"))
        rooms = api.get("/api/v1/t/acme/rooms/").json()
        rooms = rooms["results"] if isinstance(rooms, dict) else rooms
        unread = next(r["unread"] for r in rooms if r["id"] == world["room"].pk)
        expected = Message.objects.filter(room=world["room"]).exclude(sender=user("acme.auditor")).count()
        assert unread == min(expected, 100)
        api.as_user(user("acme.buyer"))
        rooms = api.get("/api/v1/t/acme/rooms/").json()
        rooms = rooms["results"] if isinstance(rooms, dict) else rooms
        assert next(r["unread"] for r in rooms if r["id"] == world["room"].pk) < unread

    def test_search_finds_another_persons_private_question(self, world, api):
        api.as_user(user("acme.auditor"))
        found = api.get("/api/v1/t/acme/messages/search/", {"q": "审计可见"}).json()["results"]
        assert [m["seq"] for m in found] == [world["question"].seq]
        api.as_user(user("supa.rep"))
        assert api.get("/api/v1/t/acme/messages/search/", {"q": "审计可见"}).json()["results"] == []

    def test_the_records_conversation_holds_them(self, world, api):
        api.as_user(user("acme.auditor"))
        response = api.get("/api/v1/t/acme/conversations/", {"kind": "purchase_order", "id": PO_NUMBER})
        got = {m["seq"] for m in response.json()["results"]}
        assert {world["card"].seq, world["rep_question"].seq} <= got
        api.as_user(user("acme.buyer"))
        response = api.get("/api/v1/t/acme/conversations/", {"kind": "purchase_order", "id": PO_NUMBER})
        assert not {world["card"].seq, world["rep_question"].seq} & {m["seq"] for m in response.json()["results"]}

    def test_the_auditor_is_offered_no_button_on_the_cards_they_now_read(self, world, api):
        listed = seqs(api, "acme.auditor", world["room"], "?limit=500")
        assert world["alert_card"].actions  # the card has buttons (for the warehouse)
        assert listed[world["alert_card"].seq]["actions"] == []
        assert all(not a.get("enabled") for m in listed.values() for a in m["actions"])
        warehouse = seqs(api, "acme.warehouse", world["room"], "?limit=500")
        assert any(a["enabled"] for a in warehouse[world["alert_card"].seq]["actions"])

    def test_and_may_press_none(self, world, api):
        api.as_user(user("acme.auditor"))
        card = world["alert_card"]
        for action in [a["name"] for a in card.actions]:
            response = api.post(f"/api/v1/t/acme/rooms/{world['room'].pk}/messages/{card.seq}/actions/{action}/")
            assert_error(response, 403)
        with pytest.raises(PermissionDenied):  # the service refuses too, whatever the caller
            reader = user("acme.auditor")
            messaging.action_press(tenant=acme(), actor=reader, room=world["room"], message=card,
                                   action=card.actions[0]["name"], context=tenant_context_for(reader, acme()))


class TestWhatTheAuditorStillDoesNotSee:
    def test_a_room_they_do_not_follow(self, world, api):
        """A team room of the warehouse: the auditor reads nothing there, a private question neither."""
        team = messaging.room_create_internal(tenant=acme(), actor=user("acme.admin"), name="仓库班组",
                                              team_role=Role.WAREHOUSE)
        post("acme.warehouse", team, "/help")
        post("acme.warehouse", team, "班组内部")
        reader = user("acme.auditor")
        assert not Message.objects.for_tenant(acme()).visible_to(reader).filter(room=team).exists()
        assert not Message.objects.for_tenant(acme()).visible_to(
            reader, context=tenant_context_for(reader, acme())).filter(room=team).exists()
        api.as_user(reader)
        assert_error(api.get(f"/api/v1/t/acme/rooms/{team.pk}/messages/"), 404)

    def test_another_tenant(self, world, api):
        globex = Tenant.objects.get(slug="globex")
        room = room_of("globex", "sup-a")
        post("supa.rep", room, "/help")
        reader = user("acme.auditor")
        assert not Message.objects.for_tenant(globex).visible_to(reader).exists()
        assert not Message.objects.filter(room=room).visible_to(reader).exists()
        api.as_user(reader)
        assert_error(api.get(f"/api/v1/t/globex/rooms/{room.pk}/messages/"), 404)


class TestPages:
    def test_the_po_page_shows_the_auditor_the_routed_card_and_the_private_question(self, world, client):
        client.force_login(user("acme.auditor"))
        html = client.get(f"/t/acme/orders/{PO_NUMBER}/").content.decode()
        assert ROUTED in html and f"/po {PO_NUMBER}" in html
        client.force_login(user("acme.buyer"))
        html = client.get(f"/t/acme/orders/{PO_NUMBER}/").content.decode()
        assert ROUTED not in html and f"/po {PO_NUMBER}" not in html

    def test_the_trail_page_shows_them(self, world, client):
        client.force_login(user("acme.auditor"))
        html = client.get(f"/t/acme/audit/trails/purchase_order/{PO_NUMBER}/").content.decode()
        assert ROUTED in html and f"/po {PO_NUMBER}" in html


def export(api, username, url):
    response = api.as_user(user(username)).get(url)
    assert response.status_code == 200, response.content[:300]
    return b"".join(response.streaming_content)


class TestTrails:
    def test_the_po_trail_holds_the_routed_card_and_the_private_bot_question_and_answer(self, world, api):
        pdf = export(api, "acme.auditor", f"/api/v1/t/acme/purchase-orders/{PO_NUMBER}/trail.pdf")
        data = trail_json_from_pdf(pdf)
        listed = {(m["room"], m["seq"]) for m in data["messages"]}
        room = world["room"].pk
        for key in ("card", "rep_question", "rep_answer"):
            assert (room, world[key].seq) in listed, key
        assert {m["kind"] for m in data["messages"] if m["seq"] == world["rep_answer"].seq} == {"bot"}
        assert trail_pdf_verify(pdf).ok

    def test_the_alert_trail_holds_the_warehouse_only_card(self, world, api):
        alert = world["alert"]
        data = trail_json_from_pdf(export(api, "acme.auditor", f"/api/v1/t/acme/alerts/{alert.pk}/trail.pdf"))
        assert (world["room"].pk, world["alert_card"].seq) in {(m["room"], m["seq"]) for m in data["messages"]}

    def test_the_suppliers_trail_of_its_po_still_leaves_out_the_others_private_messages(self, world, api):
        post("acme.buyer", world["room"], f"/po {PO_NUMBER} 采购问", subject={"kind": "purchase_order", "id": PO_NUMBER})
        data = trail_json_from_pdf(export(api, "supa.rep", f"/api/v1/t/acme/purchase-orders/{PO_NUMBER}/trail.pdf"))
        buyer_messages = [m for m in data["messages"] if m["sender"] == "acme.buyer" and "采购问" in m["text"]]
        assert buyer_messages == []
        assert world["rep_answer"].seq in {m["seq"] for m in data["messages"]}  # their own answer
