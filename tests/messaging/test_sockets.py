"""The tenant socket through the real ASGI stack (origin check, auth, routing, consumer)."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from messaging.models import Message
from scm_portal.asgi import application
from tests.api_contract import user
from tests.messaging.helpers import post, post_event, room_of

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://testserver")


def in_db_thread(func):
    """sync_to_async that closes the thread's connection afterwards (so the test DB can be dropped)."""

    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return sync_to_async(run)


@in_db_thread
def token_for(username):
    return Token.objects.get_or_create(user=user(username))[0].key


@in_db_thread
def a_room(tenant, org):
    return room_of(tenant, org)


async def connect(username, tenant="acme", headers=None):
    key = await token_for(username)
    communicator = WebsocketCommunicator(application, f"/ws/t/{tenant}/?token={key}", headers=headers or [])
    connected, code = await communicator.connect(timeout=5)
    assert connected, f"{username} could not connect ({code})"
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return communicator


async def frames_until(communicator, predicate, timeout=5):
    seen = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        seen.append(frame)
        if predicate(frame):
            return seen


async def nothing_arrives(communicator, wait=0.3):
    return await communicator.receive_nothing(timeout=wait)


async def test_a_message_reaches_every_permitted_socket_and_no_other(demo_tx):
    room = await a_room("acme", "sup-a")
    buyer, rep = await connect("acme.buyer"), await connect("supa.rep")
    supb, globex_rep = await connect("supb.rep"), await connect("supa.rep", tenant="globex")
    globex_buyer = await connect("globex.buyer", tenant="globex")
    await in_db_thread(post)("acme.warehouse", room, "CANARY-7731 到货延迟")
    for communicator in (buyer, rep):
        frame = await communicator.receive_json_from(timeout=5)
        assert frame["type"] == "message" and "CANARY-7731" in frame["body"] and frame["room"] == room.pk
    for communicator in (supb, globex_rep, globex_buyer):
        assert await nothing_arrives(communicator)
    for c in (buyer, rep, supb, globex_rep, globex_buyer):
        await c.disconnect()


async def test_internal_notes_and_bot_replies_reach_only_their_audience(demo_tx):
    room = await a_room("acme", "sup-a")
    buyer, rep = await connect("acme.buyer"), await connect("supa.rep")
    await in_db_thread(post)("acme.warehouse", room, "内部: 这家供应商上次延迟了", internal=True)
    assert (await buyer.receive_json_from(timeout=5))["internal"] is True
    assert await nothing_arrives(rep)
    await in_db_thread(post)("supa.rep", room, "/help")
    got = [await rep.receive_json_from(timeout=5) for _ in range(2)]
    assert [f["kind"] for f in got] == ["chat", "bot"]
    assert await nothing_arrives(buyer)  # the question and the bot's answer were the asker's
    await buyer.disconnect()
    await rep.disconnect()


async def test_reconnect_and_sync_gets_exactly_the_missed_messages_in_order(demo_tx):
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")
    await in_db_thread(post)("acme.buyer", room, "before")
    first = await rep.receive_json_from(timeout=5)
    await rep.disconnect()  # the connection dies

    @in_db_thread
    def post_many():
        for i in range(500):
            post("acme.buyer", room, f"missed {i}")

    await post_many()
    rep = await connect("supa.rep")
    await rep.send_json_to({"type": "sync", "room": room.pk, "after_seq": first["seq"]})
    frames = await frames_until(rep, lambda f: f["type"] == "synced", timeout=10)
    messages = [f for f in frames if f["type"] == "message"]
    assert [m["seq"] for m in messages] == list(range(first["seq"] + 1, first["seq"] + 501))
    assert [m["body"] for m in messages] == [f"missed {i}" for i in range(500)]
    # live messages continue after the sync, with no duplicate
    await in_db_thread(post)("acme.buyer", room, "live")
    live = await rep.receive_json_from(timeout=5)
    assert live["seq"] == first["seq"] + 501 and live["body"] == "live"
    assert await nothing_arrives(rep)
    await rep.disconnect()


async def test_a_client_too_far_behind_is_told_to_resync(demo_tx, monkeypatch):
    from realtime import consumers

    monkeypatch.setattr(consumers, "SYNC_MAX", 5)
    room = await a_room("acme", "sup-a")

    @in_db_thread
    def post_many():
        for i in range(8):
            post("acme.buyer", room, f"m{i}")

    await post_many()
    rep = await connect("supa.rep")
    await rep.send_json_to({"type": "sync", "room": room.pk, "after_seq": 0})
    frame = await rep.receive_json_from(timeout=5)
    assert frame == {"type": "resync", "room": room.pk, "reason": "too_far_behind", "last_seq": 8}
    await rep.disconnect()


async def test_send_over_the_socket_is_idempotent(demo_tx):
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")
    for _ in range(3):
        await rep.send_json_to({"type": "send", "room": room.pk, "body": "收到", "client_id": "ws-1"})
    frames = []
    while len([f for f in frames if f["type"] == "ack"]) < 3:
        frames.append(await rep.receive_json_from(timeout=5))
    acks = [f for f in frames if f["type"] == "ack"]
    assert [a["created"] for a in acks] == [True, False, False] and len({a["seq"] for a in acks}) == 1
    await in_db_thread(lambda: None)()
    assert await in_db_thread(Message.objects.filter(room=room).count)() == 1
    await rep.send_json_to({"type": "send", "room": room.pk, "body": "不同", "client_id": "ws-1"})
    error = await frames_until(rep, lambda f: f["type"] == "error")
    assert error[-1]["code"] == "conflict" and error[-1]["ref"] == "ws-1"
    await rep.disconnect()


async def test_bad_frames_get_error_frames_and_the_socket_stays_up(demo_tx):
    room = await a_room("acme", "sup-a")
    foreign = await a_room("globex", "sup-a")
    rep = await connect("supa.rep")
    cases = [
        ("not json", "bad_json"),
        (json.dumps([1, 2]), "bad_frame"),
        (json.dumps({"no": "type"}), "bad_frame"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "sync", "room": 999999, "after_seq": 0}), "unknown_room"),
        (json.dumps({"type": "sync", "room": foreign.pk, "after_seq": 0}), "unknown_room"),
        (json.dumps({"type": "sync", "room": "1", "after_seq": 0}), "unknown_room"),
        (json.dumps({"type": "sync", "room": room.pk, "after_seq": -5}), "validation_error"),
        (json.dumps({"type": "send", "room": room.pk, "body": "x" * 10_001, "client_id": "big"}), "validation_error"),
        (json.dumps({"type": "send", "room": room.pk, "body": 5}), "validation_error"),
        (json.dumps({"type": "send", "room": room.pk, "body": "hi", "sender": 1}), "unknown_field"),
        (json.dumps({"type": "read", "room": room.pk, "seq": 50}), "validation_error"),
        (json.dumps({"type": "action", "room": room.pk, "seq": 1, "action": "acknowledge"}), "not_found"),
        ("x" * 70_000, "bad_frame"),
    ]
    for text, code in cases:
        await rep.send_to(text_data=text)
        frame = await rep.receive_json_from(timeout=5)
        assert frame["type"] == "error" and frame["code"] == code, (text[:60], frame)
    await rep.send_json_to({"type": "action", "room": room.pk, "seq": 9, "action": "acknowledge", "ref": "btn-9"})
    assert (await rep.receive_json_from(timeout=5))["ref"] == "btn-9"  # errors name the frame they answer
    await rep.send_json_to({"type": "ping"})
    assert (await rep.receive_json_from(timeout=5))["type"] == "pong"
    assert await in_db_thread(Message.objects.count)() == 0
    await rep.disconnect()


async def test_an_action_pressed_over_the_socket_updates_everyone(demo_tx):
    room = await a_room("acme", "sup-a")
    card = await in_db_thread(post_event)(room, "检验不合格: 批次 B-17")
    buyer, rep = await connect("acme.buyer"), await connect("supa.rep")
    await rep.send_json_to({"type": "action", "room": room.pk, "seq": card.seq, "action": "acknowledge"})
    rep_frames = await frames_until(rep, lambda f: f["type"] == "action_result")
    assert rep_frames[-1]["already_pressed"] is False
    outcome = await buyer.receive_json_from(timeout=5)
    assert outcome["kind"] == "system" and outcome["refers_to"] == card.seq
    await buyer.send_json_to({"type": "action", "room": room.pk, "seq": card.seq, "action": "acknowledge"})
    result = await frames_until(buyer, lambda f: f["type"] == "action_result")
    assert result[-1]["already_pressed"] is True and result[-1]["pressed_by"] == "supa.rep"
    await buyer.disconnect()
    await rep.disconnect()


@pytest.mark.parametrize(
    "origin, expect",
    [(b"http://evil.example", False), (b"http://testserver", True), (b"null", False)],
)
async def test_origin_is_validated(demo_tx, origin, expect):
    key = await token_for("supa.rep")
    communicator = WebsocketCommunicator(application, f"/ws/t/acme/?token={key}", headers=[(b"origin", origin)])
    connected, _code = await communicator.connect(timeout=5)
    assert connected is expect
    await communicator.disconnect()


async def test_anonymous_and_bad_tokens_and_foreign_tenants_are_refused(demo_tx):
    for path in ["/ws/t/acme/", "/ws/t/acme/?token=nope"]:
        communicator = WebsocketCommunicator(application, path, headers=[ORIGIN])
        connected, code = await communicator.connect(timeout=5)
        assert not connected
    key = await token_for("acme.buyer")
    for tenant in ["globex", "nope"]:
        communicator = WebsocketCommunicator(application, f"/ws/t/{tenant}/?token={key}")
        connected, code = await communicator.connect(timeout=5)
        assert not connected


async def test_a_cookie_session_needs_an_origin(demo_tx):
    from django.test import Client

    @in_db_thread
    def session_cookie():
        client = Client()
        client.force_login(user("supa.rep"))
        return client.cookies["sessionid"].value

    cookie = await session_cookie()
    headers = [(b"cookie", f"sessionid={cookie}".encode())]
    without = WebsocketCommunicator(application, "/ws/t/acme/", headers=headers)
    assert (await without.connect(timeout=5))[0] is False
    with_origin = WebsocketCommunicator(application, "/ws/t/acme/", headers=headers + [ORIGIN])
    assert (await with_origin.connect(timeout=5))[0] is True
    await with_origin.disconnect()


@in_db_thread
def revoke_membership(username, tenant="acme"):
    from scm_portal.tenancy import services
    from scm_portal.tenancy.models import Membership

    membership = Membership.objects.get(user__username=username, tenant__slug=tenant)
    services.membership_set_active(tenant=membership.tenant, actor=user("acme.admin"), membership=membership, active=False)


async def test_losing_the_membership_closes_the_socket_within_five_seconds(demo_tx):
    rep = await connect("supa.rep")
    await revoke_membership("supa.rep")
    output = await rep.receive_output(timeout=5)
    assert output["type"] == "websocket.close"


async def test_a_send_is_checked_against_the_membership_as_it_is_now(demo_tx, monkeypatch):
    """The socket's own view of its rooms may be a poll old; a send is checked in the database when
    it arrives. Here the socket is never told of the change, and its send is still refused."""
    import realtime

    monkeypatch.setattr(realtime, "publish_access_changed", lambda **kwargs: None)
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")
    await revoke_membership("supa.rep")
    await rep.send_json_to({"type": "send", "room": room.pk, "body": "撤销后", "client_id": "after"})
    error = await frames_until(rep, lambda f: f["type"] in ("error", "ack"))
    assert (error[-1]["type"], error[-1]["code"], error[-1]["ref"]) == ("error", "not_found", "after")
    assert not await in_db_thread(Message.objects.filter(room=room).exists)()
    await rep.disconnect()


async def test_frames_go_to_the_server_without_passing_the_session_middleware(demo_tx, monkeypatch):
    """The session middleware wraps the server's send for HTTP responses only; a socket's frames
    skip its wrapper (one per frame per socket)."""
    from channels.sessions import InstanceSessionWrapper

    wrapped = []
    original = InstanceSessionWrapper.send

    async def send(self, message):
        wrapped.append(message["type"])
        return await original(self, message)

    monkeypatch.setattr(InstanceSessionWrapper, "send", send)
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")
    await in_db_thread(post)("acme.buyer", room, "直达")
    assert (await rep.receive_json_from(timeout=5))["body"] == "直达"
    assert "websocket.send" not in wrapped and "websocket.accept" in wrapped
    await rep.disconnect()


async def connect_with_session(username):
    """A browser-like socket: logged in through the session cookie. Returns (client, cookie, socket)."""
    from django.test import Client

    client = Client()

    @in_db_thread
    def login():
        client.force_login(user(username))
        return client.cookies["sessionid"].value

    cookie = await login()
    communicator = WebsocketCommunicator(application, "/ws/t/acme/", headers=[(b"cookie", f"sessionid={cookie}".encode()), ORIGIN])
    assert (await communicator.connect(timeout=5))[0]
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return client, cookie, communicator


async def test_logging_out_closes_the_sessions_sockets(demo_tx):
    client, _cookie, communicator = await connect_with_session("supa.rep")
    await in_db_thread(client.post)("/accounts/logout/")
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close"


async def test_a_slow_consumer_is_cut_off_with_the_slow_consumer_close_code(demo_tx, monkeypatch):
    from realtime import consumers

    monkeypatch.setattr(consumers, "SEND_QUEUE_MAX", 5)
    stuck = asyncio.Event()  # never set: the rep's client stops reading
    original_send = consumers.TenantSocketConsumer._send_text

    async def send_text(self, text):
        if self.user.username == "supa.rep" and '"type":"hello"' not in text:
            await stuck.wait()
        return await original_send(self, text)

    monkeypatch.setattr(consumers.TenantSocketConsumer, "_send_text", send_text)
    room = await a_room("acme", "sup-a")
    rep = await connect("supa.rep")
    fast = await connect("acme.buyer")

    @in_db_thread
    def burst():
        for i in range(20):
            post("acme.warehouse", room, f"burst {i}")

    await burst()
    # The fast client gets everything, in order, unaffected by the stuck one.
    got = [(await fast.receive_json_from(timeout=5))["body"] for _ in range(20)]
    assert got == [f"burst {i}" for i in range(20)]
    # The stuck one is closed with the "slow consumer" code; on reconnect it syncs from its last seq.
    output = await rep.receive_output(timeout=5)
    assert output["type"] == "websocket.close" and output.get("code") == consumers.CLOSE_SLOW
    assert output.get("reason") == "slow consumer: reconnect and sync"
    await fast.disconnect()


async def test_a_revoked_token_or_expired_session_closes_its_sockets_at_the_next_credential_check(demo_tx, monkeypatch):
    """No event is published for these: the process's periodic check (one query per kind for every
    socket) finds them, and only their sockets close."""
    import datetime

    from django.contrib.sessions.models import Session

    from realtime import consumers

    monkeypatch.setattr(consumers, "POLL_SECONDS", 0.1)
    monkeypatch.setattr(consumers, "FULL_CHECK_SECONDS", 0.3)
    _client, cookie, browser = await connect_with_session("supa.rep")
    doomed, kept = await connect("acme.warehouse"), await connect("acme.buyer")

    @in_db_thread
    def revoke_and_expire():
        Token.objects.filter(user__username="acme.warehouse").delete()
        Session.objects.filter(session_key=cookie).update(expire_date=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))

    await revoke_and_expire()
    for communicator in (doomed, browser):
        output = await communicator.receive_output(timeout=5)
        assert output["type"] == "websocket.close" and output.get("code") == consumers.CLOSE_UNAUTHENTICATED
    assert await nothing_arrives(kept, wait=0.8)  # still open and quiet
    await kept.send_json_to({"type": "ping"})
    assert (await kept.receive_json_from(timeout=5))["type"] == "pong"
    await kept.disconnect()


async def test_credentials_are_checked_for_many_sockets_in_two_queries(demo_tx):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from realtime.access_state import credentials_valid_many

    @in_db_thread
    def check():
        client = Client()
        client.force_login(user("supa.rep"))
        session = client.cookies["sessionid"].value
        tokens = {name: Token.objects.get_or_create(user=user(name))[0].key for name in ("acme.buyer", "acme.warehouse", "supb.rep")}
        buyer = user("acme.buyer").id
        items = [(user(name).id, "token", key) for name, key in tokens.items()]
        items += [(user("supa.rep").id, "session", session), (buyer, "session", session)]  # not the buyer's session
        items += [(buyer, "token", tokens["supb.rep"]), (buyer, "token", "nope"), (buyer, None, None)]
        with CaptureQueriesContext(connection) as queries:
            valid = credentials_valid_many(items)
        return valid, len(queries.captured_queries)

    valid, queries = await check()
    assert valid == [True, True, True, True, False, False, False, False]
    assert queries == 2
