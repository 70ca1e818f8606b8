"""Messages: posting, idempotency, validation, visibility, actions, bot, attachments, search."""

import re

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile

from messaging import registry
from messaging.models import ActionPress, Message
from tests.api_contract import assert_error, user
from tests.messaging.helpers import internal_room, post, post_event, room_of

pytestmark = pytest.mark.django_db


def url(room, tail="messages/"):
    return f"/api/v1/t/{room.tenant.slug}/rooms/{room.pk}/{tail}"


async def parts(response):
    """A streamed response's parts, read as Django's ASGI handler reads them."""
    return [part async for part in response]


class TestPosting:
    def test_post_and_read_back_in_seq_order(self, demo, api):
        room = room_of("acme", "sup-a")
        api.as_user(user("supa.rep"))
        for i in range(3):
            response = api.post(url(room), {"body": f"消息 {i}", "client_id": f"c{i}"}, format="json")
            assert response.status_code == 201
            assert response.json()["seq"] == i + 1
        body = api.get(url(room) + "?after_seq=1").json()
        assert [m["seq"] for m in body["results"]] == [2, 3] and body["next"] is None

    def test_pages_after_and_before(self, demo, api):
        room = room_of("acme", "sup-a")
        for i in range(7):
            post("supa.rep", room, f"m{i}")
        api.as_user(user("acme.buyer"))
        first = api.get(url(room) + "?limit=3").json()
        assert [m["seq"] for m in first["results"]] == [1, 2, 3] and "after_seq=3" in first["next"]
        older = api.get(url(room) + "?before_seq=8&limit=3").json()
        assert [m["seq"] for m in older["results"]] == [5, 6, 7] and "before_seq=5" in older["next"]
        oldest = api.get(url(room) + "?before_seq=3&limit=3").json()
        assert [m["seq"] for m in oldest["results"]] == [1, 2] and oldest["next"] is None

    @pytest.mark.parametrize("query", ["after_seq=x", "after_seq=-1", "limit=0", "before_seq=0", "limit=abc"])
    def test_bad_paging_parameters_are_400(self, demo, api, query):
        room = room_of("acme", "sup-a")
        api.as_user(user("acme.buyer"))
        assert_error(api.get(url(room) + "?" + query), 400)

    def test_repeated_client_id_returns_the_first_message(self, demo, api):
        room = room_of("acme", "sup-a")
        api.as_user(user("supa.rep"))
        first = api.post(url(room), {"body": "到货了", "client_id": "same"}, format="json")
        for _ in range(4):
            again = api.post(url(room), {"body": "到货了", "client_id": "same"}, format="json")
            assert again.status_code == 200 and again.json()["seq"] == first.json()["seq"]
        assert Message.objects.filter(room=room).count() == 1

    def test_same_client_id_with_another_body_is_409(self, demo, api):
        room = room_of("acme", "sup-a")
        api.as_user(user("supa.rep"))
        api.post(url(room), {"body": "A", "client_id": "k"}, format="json")
        assert_error(api.post(url(room), {"body": "B", "client_id": "k"}, format="json"), 409, "conflict")
        assert Message.objects.filter(room=room).count() == 1

    def test_client_ids_are_per_sender(self, demo, api):
        room = room_of("acme", "sup-a")
        post("supa.rep", room, "A", client_id="k")
        post("acme.buyer", room, "B", client_id="k")
        assert Message.objects.filter(room=room).count() == 2

    @pytest.mark.parametrize(
        "body, field",
        [
            ({"body": "x" * 10_001}, "body"),
            ({"body": "   "}, "body"),
            ({"body": 12}, "body"),
            ({}, "body"),
            ({"body": "ok", "client_id": "x" * 65}, "client_id"),
            ({"body": "ok", "kind": "event"}, "kind"),
            ({"body": "ok", "subject": {"kind": "nothing", "id": 1}}, "subject"),
            ({"body": "ok", "subject": "PO-1"}, "subject"),
            ({"body": "ok", "refers_to": 99, "relation": "edit"}, "refers_to"),
            ({"body": "ok", "internal": "yes"}, "internal"),
            ({"body": "a\x00b"}, "body"),
        ],
    )
    def test_bad_input_is_400_and_changes_nothing(self, demo, api, body, field):
        room = room_of("acme", "sup-a")
        api.as_user(user("acme.buyer"))
        response = api.post(url(room), body, format="json")
        assert_error(response, 400)
        assert field in response.json()["error"]["fields"], response.json()
        assert not Message.objects.filter(room=room).exists()
        room.refresh_from_db()
        assert room.last_seq == 0

    def test_exactly_ten_thousand_characters_is_accepted(self, demo, api):
        api.as_user(user("acme.buyer"))
        assert api.post(url(room_of("acme", "sup-a")), {"body": "好" * 10_000}, format="json").status_code == 201

    def test_auditor_reads_but_cannot_write(self, demo, api):
        room = room_of("acme", "sup-a")
        api.as_user(user("acme.auditor"))
        assert api.get(url(room)).status_code == 200
        assert_error(api.post(url(room), {"body": "hi"}, format="json"), 403, "permission_denied")

    def test_a_room_the_user_cannot_see_is_404(self, demo, api):
        api.as_user(user("supb.rep"))
        room = room_of("acme", "sup-a")
        assert_error(api.get(url(room)), 404)
        assert_error(api.post(url(room), {"body": "hi"}, format="json"), 404)
        assert not Message.objects.exists()


class TestVisibility:
    def test_internal_notes_are_for_core_staff_only(self, demo, api):
        room = room_of("acme", "sup-a")
        post("supa.rep", room, "公开")
        api.as_user(user("acme.buyer"))
        assert api.post(url(room), {"body": "只给内部看", "internal": True}, format="json").status_code == 201
        api.as_user(user("supa.rep"))
        assert [m["body"] for m in api.get(url(room)).json()["results"]] == ["公开"]
        assert_error(api.post(url(room), {"body": "我也要内部", "internal": True}, format="json"), 403)
        api.as_user(user("acme.warehouse"))
        assert len(api.get(url(room)).json()["results"]) == 2

    def test_bodies_are_sanitised(self, demo, api):
        room = room_of("acme", "sup-a")
        api.as_user(user("supa.rep"))
        payloads = ["<script>alert(1)</script>", "[x](javascript:alert(1))", "<img src=x onerror=alert(1)>",
                    '<a href="javascript:x">y</a>', "<iframe src=//evil>"]
        for p in payloads:
            frame = api.post(url(room), {"body": p}, format="json").json()
            html = frame["body_html"]
            assert set(re.findall(r"<([a-z0-9]+)", html)) <= {"p", "a", "br"}, html
            tags = re.findall(r"<[^>]+>", html)  # real tags only; escaped text is inert
            assert not any(re.search(r"\son[a-z]+=", t) or "javascript:" in t for t in tags), html
            assert frame["body"] == p  # the source is kept as written

    def test_edit_and_retract_are_new_messages_by_the_author(self, demo, api):
        room = room_of("acme", "sup-a")
        original = post("supa.rep", room, "交期 11-30")
        api.as_user(user("acme.buyer"))
        assert_error(api.post(url(room), {"body": "改", "refers_to": original.seq, "relation": "edit"}, format="json"), 400)
        api.as_user(user("supa.rep"))
        edit = api.post(url(room), {"body": "交期 12-02", "refers_to": original.seq, "relation": "edit"}, format="json")
        assert edit.status_code == 201 and edit.json()["refers_to"] == original.seq
        retract = api.post(url(room), {"body": "", "refers_to": original.seq, "relation": "retract"}, format="json")
        assert retract.status_code == 201
        original.refresh_from_db()
        assert original.body == "交期 11-30"  # append-only


class TestSubjects:
    def test_a_registered_subject_links_the_message_and_its_conversation(self, demo, api):
        seen = {}

        def resolve(*, tenant, user, ref):
            return {"ref": ref} if ref == "PO-20231026" and tenant.slug == "acme" else None

        registry.register_subject("test_order", resolve=resolve)
        try:
            room = room_of("acme", "sup-a")
            api.as_user(user("supa.rep"))
            response = api.post(url(room), {"body": "这单何时到?", "subject": {"kind": "test_order", "id": "PO-20231026"}}, format="json")
            assert response.status_code == 201 and response.json()["subject"] == {"kind": "test_order", "id": "PO-20231026"}
            assert_error(api.post(url(room), {"body": "x", "subject": {"kind": "test_order", "id": "PO-1"}}, format="json"), 400)
            conversation = api.get("/api/v1/t/acme/conversations/?kind=test_order&id=PO-20231026").json()["results"]
            assert [m["body"] for m in conversation] == ["这单何时到?"]
            assert_error(api.get("/api/v1/t/acme/conversations/?kind=test_order&id=PO-1"), 404)
            assert_error(api.get("/api/v1/t/acme/conversations/?kind=nope&id=1"), 400)
        finally:
            registry.SUBJECTS.pop("test_order", None)
            seen.clear()


class TestActions:
    def test_a_button_is_pressed_once_and_the_outcome_is_posted(self, demo, api):
        room = room_of("acme", "sup-a")
        card = post_event(room, "库存低于安全库存")
        api.as_user(user("supa.rep"))
        first = api.post(url(room, f"messages/{card.seq}/actions/acknowledge/"))
        assert first.status_code == 201 and first.json()["already_pressed"] is False
        api.as_user(user("acme.buyer"))
        second = api.post(url(room, f"messages/{card.seq}/actions/acknowledge/"))
        assert second.status_code == 200 and second.json()["already_pressed"] is True
        assert second.json()["pressed_by"] == "supa.rep"
        assert ActionPress.objects.count() == 1
        outcome = Message.objects.get(room=room, seq=first.json()["outcome_seq"])
        assert outcome.kind == "system" and outcome.refers_to == card.seq

    def test_permission_is_checked_at_press_time(self, demo, api):
        room = room_of("acme", "sup-a")
        card = post_event(room)
        api.as_user(user("acme.auditor"))  # sees the card, may not act
        assert_error(api.post(url(room, f"messages/{card.seq}/actions/acknowledge/")), 403)
        api.as_user(user("supb.rep"))  # does not see the room at all
        assert_error(api.post(url(room, f"messages/{card.seq}/actions/acknowledge/")), 404)
        assert not ActionPress.objects.exists()

    def test_handler_denial_changes_nothing(self, demo, api):
        def deny(**kwargs):
            raise PermissionDenied("只有仓库可以确认收货")

        registry.register_action("test_receive", label="确认收货", handler=deny)
        try:
            room = room_of("acme", "sup-a")
            card = post_event(room, actions=["test_receive"])
            api.as_user(user("acme.buyer"))
            response = api.post(url(room, f"messages/{card.seq}/actions/test_receive/"))
            assert_error(response, 403)
            room.refresh_from_db()
            assert room.last_seq == card.seq and not ActionPress.objects.exists()
        finally:
            registry.ACTIONS.pop("test_receive", None)

    @pytest.mark.parametrize("path", ["messages/1/actions/nope/", "messages/99/actions/acknowledge/", "messages/x/actions/acknowledge/"])
    def test_unknown_actions_and_messages(self, demo, api, path):
        room = room_of("acme", "sup-a")
        post_event(room)
        api.as_user(user("acme.buyer"))
        response = api.post(url(room, path))
        assert response.status_code in (400, 404)
        assert not ActionPress.objects.exists()

    def test_event_post_refuses_unregistered_actions_and_foreign_rooms(self, demo):
        room = room_of("acme", "sup-a")
        with pytest.raises(ValueError):
            post_event(room, actions=["launch_missiles"])
        with pytest.raises(ValueError):
            from django.db import transaction

            from messaging.services import event_post

            with transaction.atomic():
                event_post(tenant=demo["tenants"]["globex"], room=room, body="x")
        assert not Message.objects.exists()

    def test_event_rolled_back_with_its_transaction_leaves_no_trace(self, demo):
        from django.db import transaction

        from messaging.services import event_post

        room = room_of("acme", "sup-a")
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                event_post(tenant=room.tenant, room=room, body="never")
                raise RuntimeError
        room.refresh_from_db()
        assert room.last_seq == 0 and not Message.objects.exists()


class TestBot:
    def test_help_answers_the_asker_only(self, demo, api):
        room = room_of("acme", "sup-a")
        api.as_user(user("supa.rep"))
        api.post(url(room), {"body": "/help"}, format="json")
        mine = api.get(url(room)).json()["results"]
        assert [m["kind"] for m in mine] == ["chat", "bot"]
        assert "/help" in mine[1]["body"] and mine[1]["refers_to"] == mine[0]["seq"]
        api.as_user(user("acme.buyer"))
        assert api.get(url(room)).json()["results"] == []  # the question is the asker's too

    @pytest.mark.parametrize("question", ["@bot 帮助", "@bot help", "/HELP"])
    def test_help_in_chinese_and_english(self, demo, question):
        room = room_of("acme", "sup-a")
        post("supa.rep", room, question)
        answer = Message.objects.get(room=room, kind="bot")
        assert answer.payload["intent"] == "help"

    @pytest.mark.parametrize("question", ["/frobnicate", "@bot 今天天气怎么样"])
    def test_unknown_questions_get_a_helpful_answer(self, demo, question):
        room = room_of("acme", "sup-a")
        post("supa.rep", room, question)
        answer = Message.objects.get(room=room, kind="bot")
        assert answer.payload["intent"] == "unknown" and "/help" in answer.body

    def test_plain_messages_do_not_wake_the_bot(self, demo):
        room = room_of("acme", "sup-a")
        post("supa.rep", room, "email me at a@bot.com? no, robot")
        assert not Message.objects.filter(kind="bot").exists()


class TestAttachments:
    PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

    def upload(self, api, room, name, content, **extra):
        return api.post(url(room, "attachments/"), {"file": SimpleUploadedFile(name, content), **extra}, format="multipart")

    def test_upload_stores_the_sha256_and_serves_it_safely(self, demo, api):
        import hashlib

        room = room_of("acme", "sup-a")
        api.as_user(user("supa.rep"))
        response = self.upload(api, room, "质检报告.png", self.PNG, body="质检报告")
        assert response.status_code == 201, response.content
        attachment = response.json()["attachments"][0]
        assert attachment["sha256"] == hashlib.sha256(self.PNG).hexdigest()
        assert response.json()["payload"]["attachments"][0]["sha256"] == attachment["sha256"]  # in the chain
        download = api.get(url(room, f"attachments/{attachment['id']}/"))
        assert download.status_code == 200
        assert download["Content-Disposition"].startswith("attachment")
        assert download["X-Content-Type-Options"] == "nosniff"
        assert download.is_async and b"".join(async_to_sync(parts)(download)) == self.PNG
        api.as_user(user("supb.rep"))
        assert_error(api.get(url(room, f"attachments/{attachment['id']}/")), 404)

    def test_attachment_of_an_internal_note_is_hidden_from_partners(self, demo, api):
        room = room_of("acme", "sup-a")
        from tests.messaging.helpers import post

        message = post("acme.buyer", room, "内部报价", internal=True, files=[SimpleUploadedFile("q.txt", b"price list")])
        attachment = message.attachments.get()
        api.as_user(user("supa.rep"))
        assert_error(api.get(url(room, f"attachments/{attachment.pk}/")), 404)

    @pytest.mark.parametrize(
        "name, content",
        [("evil.html", b"<script>"), ("run.exe", b"MZ"), ("fake.png", b"GIF89a"), ("empty.txt", b""), ("noext", b"x")],
    )
    def test_refused_files(self, demo, api, name, content):
        room = room_of("acme", "sup-a")
        api.as_user(user("supa.rep"))
        assert_error(self.upload(api, room, name, content), 400)
        assert not Message.objects.exists()

    def test_too_large(self, demo, api, settings):
        from messaging import services

        room = room_of("acme", "sup-a")
        api.as_user(user("supa.rep"))
        original = services.ATTACHMENT_MAX_BYTES
        services.ATTACHMENT_MAX_BYTES = 10
        try:
            assert_error(self.upload(api, room, "big.txt", b"x" * 11), 400)
        finally:
            services.ATTACHMENT_MAX_BYTES = original


class TestSearch:
    def test_finds_chinese_substrings_in_visible_rooms_only(self, demo, api):
        post("supa.rep", room_of("acme", "sup-a"), "螺丝钉M6缺货，预计下周补货")
        post("supb.rep", room_of("acme", "sup-b"), "纸箱缺货")
        post("acme.buyer", room_of("acme", "sup-a"), "缺货内部说明", internal=True)
        api.as_user(user("supa.rep"))
        found = api.get("/api/v1/t/acme/messages/search/?q=缺货").json()["results"]
        assert [m["body"] for m in found] == ["螺丝钉M6缺货，预计下周补货"]
        api.as_user(user("acme.buyer"))
        found = api.get("/api/v1/t/acme/messages/search/?q=缺货").json()["results"]
        assert len(found) == 3
        room = room_of("acme", "sup-b")
        found = api.get(f"/api/v1/t/acme/messages/search/?q=缺货&room={room.pk}").json()["results"]
        assert [m["body"] for m in found] == ["纸箱缺货"]

    @pytest.mark.parametrize("query", ["", "q=", "q=" + "x" * 201, "q=a&room=abc"])
    def test_bad_queries_are_400(self, demo, api, query):
        api.as_user(user("acme.buyer"))
        assert_error(api.get("/api/v1/t/acme/messages/search/?" + query), 400)

    def test_searching_a_foreign_room_is_404(self, demo, api):
        api.as_user(user("acme.buyer"))
        assert_error(api.get(f"/api/v1/t/acme/messages/search/?q=a&room={room_of('globex', 'sup-a').pk}"), 404)


def test_internal_room_is_closed_to_partners(demo, api):
    room = internal_room("acme")
    api.as_user(user("supa.rep"))
    assert_error(api.get(url(room)), 404)
