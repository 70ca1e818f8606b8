"""Language per reader and buttons per reader (issue 14, items 10 and 11), over HTTP and pages.

What a card, notice or bot answer says is stored as a key and parameters (hashed with the
message), rendered in each reader's language: Accept-Language when it names a supported
language, else the user's saved language, else the tenant's default. A card's buttons are the
ones this reader may press now."""

import html
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import translation

from alerts import services as alert_services
from alerts.models import Alert
from messaging.chain import canonical, chain_verify
from messaging.models import Message, Room
from messaging.services import event_post
from messaging.texts import Text, text_render
from scm_portal.tenancy.models import UserPreferences
from tests.alerts.helpers import act
from tests.api_contract import assert_error, user
from tests.inventory.helpers import ingest, movement, stock_world
from tests.messaging.helpers import internal_room, post, room_of

pytestmark = pytest.mark.django_db


def messages_url(room):
    return f"/api/v1/t/{room.tenant.slug}/rooms/{room.pk}/messages/"


def frame_of(api, room, seq, **headers):
    response = api.get(messages_url(room), **headers)
    assert response.status_code == 200, response.content
    return next(f for f in response.json()["results"] if f["seq"] == seq)


def low_stock_alert(demo):
    """A real stock alert of acme (SKU-T1 in WH-T under its safety stock), with its two cards."""
    tenant, _sku, _warehouse, _rule = stock_world(demo, safety=500, reorder=0)
    ingest(tenant, [movement(delta=-600)])
    return Alert.objects.get(tenant=tenant, kind="low_stock")


def card_of(alert, room):
    seq = next(ref["seq"] for ref in alert.cards if ref["room"] == room.pk)
    return Message.objects.get(room=room, seq=seq)


def notice(room, who="李仓管"):
    with transaction.atomic():
        return event_post(tenant=room.tenant, room=room, text=Text("alerts.state.resolved", {"who": who}))


class TestStoredForm:
    def test_a_keyed_message_stores_and_hashes_its_key_and_parameters(self, demo):
        room = room_of("acme", "sup-a")
        message = notice(room)
        stored = Message.objects.get(pk=message.pk)
        assert stored.text == {"key": "alerts.state.resolved", "params": {"who": "李仓管"}}
        # `body` keeps the tenant's rendering (acme reads Chinese), for search and the trail
        assert stored.body == text_render(stored.text, "zh-hans") != text_render(stored.text, "en")
        assert b'"text":{"key":"alerts.state.resolved"' in canonical(stored)
        assert chain_verify(Room.objects.get(pk=room.pk)).ok

    def test_changing_a_stored_parameter_breaks_the_chain_there(self, demo):
        room = room_of("acme", "sup-a")
        post("acme.buyer", room, "before")
        message = notice(room)
        Message.objects.filter(pk=message.pk).update(text={"key": "alerts.state.resolved", "params": {"who": "someone else"}})
        report = chain_verify(Room.objects.get(pk=room.pk))
        assert not report.ok and report.broken_seq == message.seq

    def test_a_chat_message_is_hashed_as_before_without_a_text(self, demo):
        message = post("acme.buyer", room_of("acme", "sup-a"), "你好")
        assert message.text is None and b'"text"' not in canonical(message)

    def test_nested_texts_and_lists_render_in_the_readers_language(self, demo):
        text = Text("alerts.bot.list", {"lines": [
            Text("alerts.bot.line", {"id": 7, "state": Text("alerts.state_label.open"), "title": "SKU-1"}),
            Text("alerts.bot.line", {"id": 8, "state": Text("alerts.state_label.resolved"), "title": "SKU-2"}),
        ]})
        english = text_render(text, "en")
        assert english == "Open alerts for you:\n\n- #7 [Open] SKU-1\n- #8 [Resolved] SKU-2"
        with translation.override("zh-hans"):
            open_label = str(Alert._meta.get_field("state").choices[0][1])
        assert f"[{open_label}]" in text_render(text, "zh-hans") and open_label != "Open"

    def test_a_key_nobody_registers_shows_the_stored_body(self, demo):
        assert text_render({"key": "gone.away", "params": {}}, "en", fallback="what was stored") == "what was stored"

    def test_event_post_takes_text_or_body_never_both_nor_an_unregistered_key(self, demo):
        room = room_of("acme", "sup-a")
        before = Room.objects.get(pk=room.pk).last_seq
        with pytest.raises(TypeError):
            event_post(tenant=room.tenant, room=room, body="x", text=Text("alerts.state.resolved", {"who": "a"}))
        with pytest.raises(TypeError):
            event_post(tenant=room.tenant, room=room)
        with pytest.raises(ValueError):
            event_post(tenant=room.tenant, room=room, text=Text("no.such.key"))
        assert Room.objects.get(pk=room.pk).last_seq == before


class TestRenderedPerReader:
    def test_the_api_renders_a_notice_in_the_requests_language(self, demo, api):
        room = room_of("acme", "sup-a")
        message = notice(room)
        api.as_user(user("acme.buyer"))
        english = frame_of(api, room, message.seq, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
        chinese = frame_of(api, room, message.seq, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
        assert english["body"] == "李仓管 resolved the alert."
        assert chinese["body"] == text_render(message.text, "zh-hans") != english["body"]
        assert english["text"] == chinese["text"] == message.text  # one stored form

    def test_without_a_supported_accept_language_the_saved_language_then_the_tenants(self, demo, api):
        room = room_of("acme", "sup-a")
        message = notice(room)
        buyer = user("acme.buyer")
        api.as_user(buyer)
        chinese = text_render(message.text, "zh-hans")
        # no supported language named: the tenant's default (acme: Chinese)
        assert frame_of(api, room, message.seq, HTTP_ACCEPT_LANGUAGE="fr-FR,de;q=0.5")["body"] == chinese
        assert frame_of(api, room, message.seq, HTTP_ACCEPT_LANGUAGE="")["body"] == chinese
        # the user's saved language goes before the tenant's ...
        UserPreferences.objects.create(user=buyer, language="en")
        assert frame_of(api, room, message.seq, HTTP_ACCEPT_LANGUAGE="fr")["body"] == "李仓管 resolved the alert."
        # ... and a supported Accept-Language before both, by its q order
        assert frame_of(api, room, message.seq, HTTP_ACCEPT_LANGUAGE="fr, zh-hans;q=0.8, en;q=0.5")["body"] == chinese

    def test_an_alert_card_and_the_alert_api_read_in_each_language(self, demo, api):
        alert = low_stock_alert(demo)
        room = room_of("acme", "sup-a")
        card = card_of(alert, room)
        api.as_user(user("acme.warehouse"))
        english = frame_of(api, room, card.seq, HTTP_ACCEPT_LANGUAGE="en")
        chinese = frame_of(api, room, card.seq, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert "SKU-T1 in WH-T is below safety stock: 400 < 500" in english["body"]
        assert "Suggested reorder" in english["body"]
        assert chinese["body"] != english["body"] and "SKU-T1" in chinese["body"] and "below safety" not in chinese["body"]
        labels = {a["name"]: a["label"] for a in english["actions"]}
        assert labels["alert_ack"] == "Acknowledge" and labels["inventory_replenish"] == "Arrange replenishment"
        assert "/" not in "".join(a["label"] for a in chinese["actions"])  # no more "确认 / Acknowledge"
        title_en = api.get(f"/api/v1/t/acme/alerts/{alert.pk}/", HTTP_ACCEPT_LANGUAGE="en").json()["title"]
        title_zh = api.get(f"/api/v1/t/acme/alerts/{alert.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()["title"]
        assert title_en == "SKU-T1 in WH-T is below safety stock: 400 < 500" and title_zh == alert.title != title_en

    def test_the_board_page_reads_in_the_pages_language(self, demo, client):
        alert = low_stock_alert(demo)
        client.force_login(user("acme.warehouse"))
        english = client.get("/t/acme/alerts/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        chinese = client.get("/t/acme/alerts/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        assert "SKU-T1 in WH-T is below safety stock: 400 &lt; 500" in english
        assert html.escape(alert.title) in chinese and "below safety stock" not in chinese

    def test_the_room_page_asks_the_api_and_socket_in_its_own_language(self, demo, client):
        client.force_login(user("acme.buyer"))
        page = client.get(f"/t/acme/rooms/{room_of('acme', 'sup-a').pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert '<html lang="en"' in page
        source = (Path(__file__).resolve().parents[2] / "static" / "portal" / "portal.js").read_text(encoding="utf-8")
        assert 'init.headers["Accept-Language"] = document.documentElement.lang' in source
        assert '"lang=" + encodeURIComponent(lang)' in source

    def test_a_bot_answer_is_stored_keyed_and_reads_in_the_askers_language(self, demo, api):
        room = room_of("acme", "sup-a")
        api.as_user(user("acme.buyer"))
        response = api.post(messages_url(room), {"body": "/help", "client_id": "h1"}, format="json",
                            HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 201
        answer = Message.objects.get(room=room, kind="bot", refers_to=response.json()["seq"])
        assert answer.text["key"] == "messaging.bot.help"
        assert answer.body.startswith("I can answer these questions")  # asked in English
        chinese = frame_of(api, room, answer.seq, HTTP_ACCEPT_LANGUAGE="zh-hans")["body"]
        assert not chinese.startswith("I can answer") and "`/stock SKU-1001`" in chinese


class TestMyLanguage:
    def test_get_and_patch(self, demo, api):
        buyer = user("acme.buyer")
        api.as_user(buyer)
        assert api.get("/api/v1/me/").json()["language"] == "zh-hans"  # none saved: acme's default
        response = api.patch("/api/v1/me/", {"language": "en"}, format="json")
        assert response.status_code == 200 and response.json()["language"] == "en"
        assert UserPreferences.objects.get(user=buyer).language == "en"
        assert api.get("/api/v1/me/").json()["language"] == "en"

    @pytest.mark.parametrize("body", [
        {"language": "fr"}, {"language": "EN"}, {"language": ""}, {"language": None}, {"language": 5},
        {"language": ["en"]}, {"language": {"code": "en"}}, {"language": "en\x00"}, {}, {"language": "en", "theme": "dark"},
        ["en"], "en",
    ])
    def test_bad_inputs_are_400_and_change_nothing(self, demo, api, body):
        buyer = user("acme.buyer")
        UserPreferences.objects.create(user=buyer, language="zh-hans")
        api.as_user(buyer)
        response = api.patch("/api/v1/me/", body, format="json")
        assert_error(response, 400)
        assert UserPreferences.objects.get(user=buyer).language == "zh-hans"

    def test_anonymous_is_401(self, demo, api):
        assert_error(api.patch("/api/v1/me/", {"language": "en"}, format="json"), 401)
        assert not UserPreferences.objects.exists()


def alert_for_all_core_staff(demo):
    """An alert whose cards every core role sees (no core audience), in sup-a's room and the internal one."""
    alert, _created = alert_services.alert_raise(
        tenant=demo["tenants"]["acme"], kind="low_stock", dedupe_key="everyone", title="SKU-9 低于安全库存",
        subject_kind="sku", subject_ref="SKU-9", partner=demo["organizations"]["sup-a"])
    return alert


class TestButtonsPerReader:
    def test_each_reader_is_offered_only_what_they_may_press(self, demo, api):
        stock_world(demo, safety=500, reorder=0, supplier="sup-b")
        ingest(demo["tenants"]["acme"], [movement(delta=-600)])
        stock = Alert.objects.get(kind="low_stock")
        everyone = alert_for_all_core_staff(demo)
        sup_a, sup_b, internal = room_of("acme", "sup-a"), room_of("acme", "sup-b"), internal_room("acme")
        offered = {}
        for username, alert, room in [("acme.warehouse", stock, sup_b), ("supb.rep", stock, sup_b),
                                      ("acme.auditor", everyone, internal), ("acme.auditor", everyone, sup_a),
                                      ("acme.buyer", everyone, sup_a), ("supa.rep", everyone, sup_a)]:
            api.as_user(user(username))
            actions = frame_of(api, room, card_of(alert, room).seq)["actions"]
            assert all(a["enabled"] for a in actions)
            offered[username, alert.pk, room.pk] = [a["name"] for a in actions]
        lifecycle = ["alert_ack", "alert_start", "alert_resolve"]
        assert offered["acme.warehouse", stock.pk, sup_b.pk] == [*lifecycle, "inventory_replenish"]
        assert offered["supb.rep", stock.pk, sup_b.pk] == lifecycle  # no "安排补货": not the supplier's to arrange
        assert offered["acme.auditor", everyone.pk, internal.pk] == offered["acme.auditor", everyone.pk, sup_a.pk] == []
        assert offered["acme.buyer", everyone.pk, sup_a.pk] == offered["supa.rep", everyone.pk, sup_a.pk] == lifecycle

    def test_a_button_not_offered_is_refused_403_and_nothing_happens(self, demo, api):
        stock_world(demo, safety=500, reorder=0, supplier="sup-b")
        ingest(demo["tenants"]["acme"], [movement(delta=-600)])
        stock, everyone = Alert.objects.get(kind="low_stock"), alert_for_all_core_staff(demo)
        sup_a, sup_b = room_of("acme", "sup-a"), room_of("acme", "sup-b")
        heads = {room.pk: room.last_seq for room in Room.objects.all()}
        api.as_user(user("supb.rep"))
        assert_error(api.post(messages_url(sup_b) + f"{card_of(stock, sup_b).seq}/actions/inventory_replenish/"), 403)
        api.as_user(user("acme.auditor"))
        assert_error(api.post(messages_url(sup_a) + f"{card_of(everyone, sup_a).seq}/actions/alert_ack/"), 403)
        assert set(Alert.objects.values_list("state", flat=True)) == {"open"}
        assert heads == {room.pk: room.last_seq for room in Room.objects.all()}

    def test_the_built_in_acknowledge_is_not_offered_to_the_auditor(self, demo, api):
        room = room_of("acme", "sup-a")
        with transaction.atomic():
            card = event_post(tenant=room.tenant, room=room, body="到货", actions=["acknowledge"])
        api.as_user(user("acme.auditor"))
        assert frame_of(api, room, card.seq)["actions"] == []
        api.as_user(user("supa.rep"))
        assert frame_of(api, room, card.seq)["actions"] == [{"name": "acknowledge", "label": "Acknowledge receipt", "enabled": True}]

    def test_buttons_follow_the_alerts_state_and_are_gone_once_resolved(self, demo, api):
        alert = low_stock_alert(demo)
        room = room_of("acme", "sup-a")
        card = card_of(alert, room)
        api.as_user(user("acme.warehouse"))
        act(alert_services.alert_start, "acme.warehouse", alert)
        actions = {a["name"]: a["enabled"] for a in frame_of(api, room, card.seq)["actions"]}
        assert actions == {"alert_ack": False, "alert_start": False, "alert_resolve": True, "inventory_replenish": True}
        act(alert_services.alert_resolve, "acme.warehouse", Alert.objects.get(pk=alert.pk))
        assert frame_of(api, room, card.seq)["actions"] == []  # after a reload too: read from the database

    def test_a_stale_press_says_who_moved_the_alert_on(self, demo, api):
        alert = low_stock_alert(demo)
        room = room_of("acme", "sup-a")
        card = card_of(alert, room)
        warehouse = user("acme.warehouse")
        act(alert_services.alert_resolve, "acme.warehouse", alert)
        head = Room.objects.get(pk=room.pk).last_seq
        api.as_user(user("supa.rep"))
        response = api.post(messages_url(room) + f"{card.seq}/actions/alert_resolve/", HTTP_ACCEPT_LANGUAGE="en")
        assert_error(response, 409, "alert_resolved")
        who = warehouse.get_full_name() or warehouse.username
        assert response.json()["error"]["message"] == f"This alert was already resolved by {who}."
        assert Room.objects.get(pk=room.pk).last_seq == head  # no outcome line


def test_a_text_missing_a_parameter_renders_without_an_error(demo):
    assert text_render(Text("alerts.state.resolved"), "en") == "{who} resolved the alert."
    broken = text_render(Text("inventory.velocity.title", {"sku": "S", "wh": "W", "recent": 1, "hours": 2}), "en")
    assert broken.startswith("{sku} in {wh} is being used unusually fast")  # no usual: the template as written
