"""Socket frames per reader: each socket's language is resolved at its handshake (`?lang=`, then
Accept-Language, then the user's saved language, then the tenant's); a keyed message is rendered
once per language in the process, its buttons once per reader's memberships, never once per
socket; a card's buttons change live for everyone when its record moves on."""

import asyncio
from types import SimpleNamespace

import pytest
from django.db import transaction

from alerts import services as alert_services
from alerts.models import Alert
from messaging import texts
from messaging.services import event_post
from messaging.texts import Text, text_render
from realtime import room_message_event
from realtime.hub import RoomHub, reader_text
from scm_portal.tenancy.access import tenant_context_for
from scm_portal.tenancy.models import UserPreferences
from tests.alerts.helpers import act
from tests.api_contract import user
from tests.inventory.helpers import ingest, movement, stock_world
from tests.messaging.helpers import room_of
from tests.messaging.test_sockets import a_room, connect, frames_until, in_db_thread, nothing_arrives

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

RESOLVED = Text("alerts.state.resolved", {"who": "李仓管"})


def _notice(room):
    with transaction.atomic():
        return event_post(tenant=room.tenant, room=room, text=RESOLVED)


def _stock_alert(demo):
    tenant, *_rest = stock_world(demo, safety=500, reorder=0)
    ingest(tenant, [movement(delta=-600)])
    return Alert.objects.get(tenant=tenant, kind="low_stock")


async def test_each_socket_reads_a_keyed_message_in_its_own_language(demo_tx):
    room = await a_room("acme", "sup-a")
    await in_db_thread(UserPreferences.objects.create)(user=await in_db_thread(user)("acme.buyer"), language="en")
    english = await connect("supa.rep", headers=[(b"accept-language", b"en-US,en;q=0.9")])
    chinese = await connect("supa.rep", headers=[(b"accept-language", b"zh-CN")])
    tenant_default = await connect("supa.rep", headers=[(b"accept-language", b"fr")])  # acme's: Chinese
    saved = await connect("acme.buyer")  # no header: their saved English
    message = await in_db_thread(_notice)(room)
    zh = await in_db_thread(text_render)(message.text, "zh-hans")
    bodies = {}
    for name, socket in [("en", english), ("zh", chinese), ("default", tenant_default), ("saved", saved)]:
        frame = (await frames_until(socket, lambda f: f["type"] == "message"))[-1]
        assert frame["text"] == {"key": "alerts.state.resolved", "params": {"who": "李仓管"}}
        bodies[name] = frame["body"]
    assert bodies == {"en": "李仓管 resolved the alert.", "zh": zh, "default": zh, "saved": "李仓管 resolved the alert."}
    # a sync reads the stored message in the socket's language too
    await english.send_json_to({"type": "sync", "room": room.pk, "after_seq": message.seq - 1})
    synced = (await frames_until(english, lambda f: f["type"] == "message"))[-1]
    assert synced["seq"] == message.seq and synced["body"] == "李仓管 resolved the alert."
    for socket in (english, chinese, tenant_default, saved):
        await socket.disconnect()


async def test_the_pages_language_in_the_query_goes_before_the_header(demo_tx):
    room = await a_room("acme", "sup-a")
    socket = await connect_with_query("supa.rep", "lang=en", headers=[(b"accept-language", b"zh-CN")])
    await in_db_thread(_notice)(room)
    frame = (await frames_until(socket, lambda f: f["type"] == "message"))[-1]
    assert frame["body"] == "李仓管 resolved the alert."
    await socket.disconnect()


async def connect_with_query(username, query, headers):
    from channels.testing import WebsocketCommunicator

    from scm_portal.asgi import application
    from tests.messaging.test_sockets import token_for

    key = await token_for(username)
    communicator = WebsocketCommunicator(application, f"/ws/t/acme/?token={key}&{query}", headers=headers)
    connected, _code = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return communicator


async def both(socket, first, second):
    """The first frames matching `first` and `second`, in whatever order they arrive."""
    found = {}
    while len(found) < 2:
        frame = await socket.receive_json_from(timeout=5)
        for name, predicate in (("first", first), ("second", second)):
            if name not in found and predicate(frame):
                found[name] = frame
    return found["first"], found["second"]


class _ReaderSocket:
    """Stands in for a consumer: takes its frame as a socket does (realtime.hub.reader_text)."""

    def __init__(self, access):
        self.access = access
        self.got = []

    def hub_message(self, event):
        self.got.append(reader_text(event, self.access))

    def hub_read(self, event):
        pass


def _card_event_and_contexts():
    room = room_of("acme", "sup-a")
    with transaction.atomic():
        card = event_post(tenant=room.tenant, room=room, text=RESOLVED, actions=["acknowledge"])
    rep = user("supa.rep")
    return room.pk, room_message_event(card, attachments=[]), tenant_context_for(rep, room.tenant)


async def test_a_room_of_100_sockets_in_two_languages_renders_a_message_twice(demo_tx):
    room_id, event, context = await in_db_thread(_card_event_and_contexts)()
    assert "render" in event
    hub = RoomHub.of_loop()
    sockets = []
    for i in range(100):
        language = "en" if i % 2 else "zh-hans"
        access = SimpleNamespace(language=language, context=context, reader_key=f"{language}|supplier_rep:x")
        sockets.append(_ReaderSocket(access))
        await hub.join(room_id, sockets[-1], head=event["seq"] - 1)
    before = texts.render_count
    hub.deliver_local([(f"room.{room_id}", event)])
    assert texts.render_count - before == 2  # once per language, not once per socket
    english = {id(s.got[0]) for s in sockets if s.access.language == "en"}
    assert len(english) == 1  # every English socket forwards the one serialised frame
    assert all(len(s.got) == 1 for s in sockets)
    en_frame, zh_frame = sockets[1].got[0], sockets[0].got[0]
    assert '"body":"李仓管 resolved the alert."' in en_frame and '"label":"Acknowledge receipt"' in en_frame
    assert en_frame != zh_frame and "resolved the alert" not in zh_frame
    for socket in sockets:
        await hub.leave(room_id, socket)


async def test_a_chat_message_is_one_frame_for_everyone_without_rendering(demo_tx):
    from tests.messaging.helpers import post

    room = await a_room("acme", "sup-a")
    message = await in_db_thread(post)("acme.buyer", room, "hello")
    event = await in_db_thread(room_message_event)(message, [])
    assert "render" not in event
    access = SimpleNamespace(language="en", context=None, reader_key="en|x")
    before = texts.render_count
    assert reader_text(event, access) is event["text"]
    assert texts.render_count == before


async def test_a_resolved_alerts_buttons_disappear_live_for_everyone(demo_tx):
    room = await a_room("acme", "sup-a")
    warehouse = await connect("acme.warehouse", headers=[(b"accept-language", b"en")])
    rep = await connect("supa.rep", headers=[(b"accept-language", b"zh-hans")])
    alert = await in_db_thread(_stock_alert)(demo_tx)
    card_seq = next(ref["seq"] for ref in alert.cards if ref["room"] == room.pk)
    is_alert = lambda f: f["type"] == "alert" and f["id"] == alert.pk  # noqa: E731
    is_card = lambda f: f["type"] == "message" and (f["room"], f["seq"]) == (room.pk, card_seq)  # noqa: E731
    told, card = await both(warehouse, is_alert, is_card)
    assert told["title"] == "SKU-T1 in WH-T is below safety stock: 400 < 500"  # the live board, in English
    told_rep, rep_card = await both(rep, is_alert, is_card)
    assert told_rep["title"] == alert.title != told["title"]  # and in Chinese
    assert [(a["name"], a["enabled"]) for a in card["actions"]] == [
        ("alert_ack", True), ("alert_start", True), ("alert_resolve", True), ("inventory_replenish", True)]
    assert card["actions"][0]["label"] == "Acknowledge"
    assert [a["name"] for a in rep_card["actions"]] == ["alert_ack", "alert_start", "alert_resolve"]  # no 安排补货

    await in_db_thread(act)(alert_services.alert_start, "acme.warehouse", alert)
    update = (await frames_until(warehouse, lambda f: f["type"] == "actions" and (f["room"], f["seq"]) == (room.pk, card_seq)))[-1]
    assert update["room"] == room.pk
    assert {a["name"]: a["enabled"] for a in update["actions"]} == {
        "alert_ack": False, "alert_start": False, "alert_resolve": True, "inventory_replenish": True}

    await in_db_thread(act)(alert_services.alert_resolve, "acme.warehouse", await in_db_thread(Alert.objects.get)(pk=alert.pk))
    for socket in (warehouse, rep):
        update = (await frames_until(socket, lambda f: f["type"] == "actions" and (f["room"], f["seq"]) == (room.pk, card_seq)
                                     and not any(a["name"] == "alert_resolve" for a in f["actions"])))[-1]
        assert update["actions"] == []

    # a late press on the socket hears who resolved it
    await rep.send_json_to({"type": "action", "room": room.pk, "seq": card_seq, "action": "alert_ack", "ref": "late"})
    error = (await frames_until(rep, lambda f: f["type"] == "error"))[-1]
    assert error["code"] == "alert_resolved" and error["ref"] == "late"
    assert "已由" in error["message"]  # in the presser's language
    for socket in (warehouse, rep):
        await socket.disconnect()


async def test_the_actions_frame_goes_only_to_sockets_that_see_the_card(demo_tx):
    other = await connect("supb.rep")
    alert = await in_db_thread(_stock_alert)(demo_tx)
    await in_db_thread(act)(alert_services.alert_resolve, "acme.warehouse", alert)
    await asyncio.sleep(0.2)
    assert await nothing_arrives(other)
    await other.disconnect()
