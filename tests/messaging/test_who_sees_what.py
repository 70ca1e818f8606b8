"""Who sees what in a room, over the API: bot questions are the asker's alone, a reply never names
a message its reader cannot see, and a stock alert's cards reach every role it is addressed to."""

import pytest

from alerts import services as alerts
from alerts.models import Alert, EscalationPolicy, Notification
from messaging.models import Message
from scm_portal.tenancy import services as tenancy
from tests.alerts.helpers import act
from tests.api_contract import user
from tests.inventory.helpers import ingest, movement, stock_world
from tests.messaging.helpers import internal_room, post, room_of

pytestmark = pytest.mark.django_db


def url(room, tail="messages/"):
    return f"/api/v1/t/{room.tenant.slug}/rooms/{room.pk}/{tail}"


def listed(api, username, room, query=""):
    api.as_user(user(username))
    response = api.get(url(room) + query)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def unread(api, username, room):
    api.as_user(user(username))
    rooms = api.get(f"/api/v1/t/{room.tenant.slug}/rooms/").json()
    return next(r["unread"] for r in (rooms["results"] if isinstance(rooms, dict) else rooms) if r["id"] == room.pk)


def searched(api, username, tenant, text):
    api.as_user(user(username))
    response = api.get(f"/api/v1/t/{tenant}/messages/search/", {"q": text})
    assert response.status_code == 200, response.content
    return response.json()["results"]


class TestBotQuestionsArePrivate:
    @pytest.mark.parametrize("question", ["/help", "@bot 帮助", "请问 @bot 怎么用"])
    def test_a_question_and_its_answer_are_the_askers_alone(self, demo, api, question):
        room = room_of("acme", "sup-a")
        before = {n: unread(api, n, room) for n in ("acme.buyer", "acme.planner")}
        api.as_user(user("supa.rep"))
        asked = api.post(url(room), {"body": question}, format="json")
        assert asked.status_code == 201 and asked.json()["recipient"] == user("supa.rep").pk

        # The asker reads both; nobody else reads, finds or counts either, but the auditor, who reads
        # every message of the rooms they follow (docs/AUDIT.md).
        mine = listed(api, "supa.rep", room)
        assert [(m["kind"], m["recipient"]) for m in mine] == [("chat", user("supa.rep").pk), ("bot", user("supa.rep").pk)]
        for other in ("acme.buyer", "acme.planner", "acme.warehouse"):
            assert listed(api, other, room) == [], other
            assert listed(api, other, room, f"?before_seq={room.last_seq + 10}") == [], other
            assert searched(api, other, "acme", question) == [], other
        assert "chat" in [m["kind"] for m in searched(api, "supa.rep", "acme", question)]
        assert {n: unread(api, n, room) for n in before} == before
        assert [m["seq"] for m in listed(api, "acme.auditor", room)] == [m["seq"] for m in mine]

    def test_an_internal_question_is_private_too_and_answered(self, demo, api):
        room = room_of("acme", "sup-a")
        question = post("acme.buyer", room, "/help", internal=True)
        assert question.recipient_id == user("acme.buyer").pk
        answer = Message.objects.get(room=room, kind="bot")
        assert answer.recipient_id == user("acme.buyer").pk and answer.refers_to == question.seq
        assert listed(api, "acme.planner", room) == []

    def test_an_edit_or_retraction_is_seen_by_the_readers_of_what_it_changes(self, demo, api):
        room = room_of("acme", "sup-a")
        question = post("supa.rep", room, "/help")
        edit = post("supa.rep", room, "/help 再问一次", refers_to=question.seq, relation="edit")
        retract = post("supa.rep", room, "", refers_to=question.seq, relation="retract")
        assert edit.recipient_id == retract.recipient_id == user("supa.rep").pk
        note = post("acme.buyer", room, "内部：交期有风险", internal=True)
        public_edit = post("acme.buyer", room, "交期没问题", refers_to=note.seq, relation="edit", internal=False)
        assert public_edit.internal is True
        assert [m["seq"] for m in listed(api, "acme.planner", room)] == [note.seq, public_edit.seq]
        assert [m["seq"] for m in listed(api, "supa.rep", room, f"?after_seq={question.seq}")] == [
            question.seq + 1, edit.seq, retract.seq]  # the bot's answer, the edit, the retraction
        # An edit is not a new question: the bot answered the question once.
        assert Message.objects.filter(room=room, kind="bot").count() == 1


class TestReplyLinks:
    def test_a_public_reply_to_an_internal_note_names_no_seq_to_the_partner(self, demo, api):
        room = room_of("acme", "sup-a")
        note = post("acme.buyer", room, "内部：先别答应", internal=True)
        api.as_user(user("acme.buyer"))
        posted = api.post(url(room), {"body": "好的，按原计划", "refers_to": note.seq, "relation": "reply"}, format="json")
        assert posted.status_code == 201 and posted.json()["refers_to"] == note.seq
        reply = posted.json()["seq"]

        # The partner reads the reply, as a reply to a message they cannot see: no seq.
        for query in ("", f"?before_seq={reply + 1}&limit=1", f"?after_seq={note.seq}"):
            seen = {m["seq"]: m for m in listed(api, "supa.rep", room, query)}
            assert note.seq not in seen
            assert seen[reply]["refers_to"] is None and seen[reply]["relation"] == "reply", query
        assert [m["refers_to"] for m in searched(api, "supa.rep", "acme", "按原计划")] == [None]

        # Core staff see the note, and so the link, even when the note is off the page.
        for query in ("", f"?before_seq={reply + 1}&limit=1"):
            seen = {m["seq"]: m for m in listed(api, "acme.planner", room, query)}
            assert seen[reply]["refers_to"] == note.seq, query
        assert [m["refers_to"] for m in searched(api, "acme.planner", "acme", "按原计划")] == [note.seq]

        # A repeated send answers the partner-visible form to no one but its author, who sees the note.
        again = api.post(url(room), {"body": "好的，按原计划", "refers_to": note.seq, "relation": "reply",
                                     "client_id": "r-1"}, format="json")
        replay = api.post(url(room), {"body": "好的，按原计划", "refers_to": note.seq, "relation": "reply",
                                      "client_id": "r-1"}, format="json")
        assert again.status_code == 201 and replay.status_code == 200 and replay.json()["refers_to"] == note.seq

    def test_an_escalation_card_names_the_first_card_only_to_those_who_see_it(self, demo, api):
        tenant = demo["tenants"]["acme"]
        EscalationPolicy.objects.create(tenant=tenant, name="p", levels=[{"after_seconds": 60, "roles": ["planner"]}])
        alert, _created = alerts.alert_raise(
            tenant=tenant, kind="low_stock", severity=20, dedupe_key="k", title="SKU-9 低于安全库存",
            subject_kind="sku", subject_ref="SKU-9", partner=demo["organizations"]["sup-a"], core_audience=("warehouse",),
        )
        alerts.escalation_sweep(now=alert.next_escalation_at)
        act(alerts.alert_acknowledge, "acme.warehouse", alert)
        for card in alert.cards:
            room = room_of("acme", "sup-a") if card["room"] == room_of("acme", "sup-a").pk else internal_room("acme")
            planner = [m for m in listed(api, "acme.planner", room) if m["subject"] == {"kind": "alert", "id": str(alert.pk)}]
            assert card["seq"] not in {m["seq"] for m in planner}  # the first card was the warehouse's
            # The escalation card and the acknowledgement under the first card: no seq for the planner.
            assert len(planner) == 2 and all(m["refers_to"] is None and m["relation"] == "reply" for m in planner)
            warehouse = [m for m in listed(api, "acme.warehouse", room) if m["subject"] == {"kind": "alert", "id": str(alert.pk)}]
            assert [m["refers_to"] for m in warehouse] == [None, card["seq"], card["seq"]]


class TestStockAlertAudience:
    def test_every_role_that_may_replenish_and_logistics_see_the_cards_in_the_suppliers_room(self, demo, api):
        tenant, acme = demo["tenants"]["acme"], demo["organizations"]["acme"]
        for username, role in (("acme.logistics", "logistics"), ("acme.coordinator", "coordinator"),
                               ("acme.service", "customer_service")):
            tenancy.membership_create(tenant=tenant, actor=None, user=tenancy.user_create(username=username, password="x"),
                                      organization=acme, role=role)
        stock_world(demo, safety=500, reorder=0, opening=600)
        ingest(tenant, [movement(delta=-200)])
        room = room_of("acme", "sup-a")
        addressed = ("acme.warehouse", "acme.buyer", "acme.planner", "acme.logistics", "acme.coordinator")
        for username in (*addressed, "supa.rep"):
            cards = [m for m in listed(api, username, room) if m["kind"] == "event" and m["payload"].get("kind") == "low_stock"]
            assert len(cards) == 1, username
            # Buttons are per reader: the replenishers are offered "安排补货"; logistics, told of the
            # card, and the supplier are not (it is not theirs to press).
            actions = {a["name"] for a in cards[0]["actions"]}
            assert ("inventory_replenish" in actions) == (username not in ("supa.rep", "acme.logistics")), username
        for username in addressed:
            assert any(m["payload"].get("kind") == "low_stock" for m in listed(api, username, internal_room("acme"))), username
        # Roles a stock alert is not addressed to follow the room, but not its stock cards.
        assert not [m for m in listed(api, "acme.service", room) if m["payload"].get("kind") == "low_stock"]
        alert = Alert.objects.get(kind="low_stock")
        told = set(Notification.objects.filter(alert=alert).values_list("user__username", flat=True))
        assert told == {*addressed, "supa.rep"}
