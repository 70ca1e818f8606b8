"""The auditor reads every message of the rooms they follow on the socket too, live and synced (the
socket's form of MessageQuerySet.visible_to: SocketAccess.whole_room): a card routed to the warehouse
only, another person's private bot question and its answer, and the link of a reply to one. Nobody
else's frames change: the buyer gets no warehouse-only card, the supplier's rep no bot answer of
another person's."""

import time

import pytest

from alerts import services as alerts
from messaging.models import Message
from realtime.access_state import load_socket_access
from tests.api_contract import user
from tests.messaging.helpers import post, post_event
from tests.messaging.test_sockets import a_room, connect, frames_until, in_db_thread

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def messages_within(communicator, seconds=1.0):
    """The message frames that arrive within `seconds` (polling: a receive timeout would end the app)."""
    frames, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not await communicator.receive_nothing(timeout=0.05, interval=0.01):
            frames.append(await communicator.receive_json_from())
    return [f for f in frames if f["type"] == "message"]


@in_db_thread
def routed_and_private(demo, room):
    """A warehouse-only card, a warehouse-only low-stock alert of sup-a (its card lands in the room),
    the buyer's private bot question (and the bot's answer) and the buyer's public reply to it."""
    card = post_event(room, body="仓库专用卡片", actions=(), core_audience=("warehouse",))
    alerts.alert_raise(tenant=demo["tenants"]["acme"], kind="low_stock", severity=20, dedupe_key="SKU-LIVE",
                       title="SKU-LIVE 低于安全库存", subject_kind="sku", subject_ref="SKU-LIVE",
                       partner=demo["organizations"]["sup-a"], core_audience=("warehouse",))
    question = post("acme.buyer", room, "@bot 帮助")
    reply = post("acme.buyer", room, "公开补充", refers_to=question.seq, relation="reply")
    rows = {m.seq: m for m in Message.objects.filter(room=room, seq__gte=card.seq)}
    answer = next(m for m in rows.values() if m.kind == "bot")
    alert_card = next(m for m in rows.values() if m.subject_kind == "alert")
    return {"card": card.seq, "alert_card": alert_card.seq, "question": question.seq, "answer": answer.seq,
            "reply": reply.seq, "all": sorted(rows)}


async def test_the_auditors_socket_gets_the_routed_cards_and_private_questions_live_and_synced(demo_tx):
    room = await a_room("acme", "sup-a")
    sockets = {name: await connect(name) for name in ("acme.auditor", "acme.buyer", "acme.warehouse", "supa.rep")}
    outside = await connect("supa.rep", tenant="globex")

    # When a routed card, a warehouse-only alert card, a private question, its answer and a reply arrive
    seqs = await routed_and_private(demo_tx, room)
    routed, private = {seqs["card"], seqs["alert_card"]}, {seqs["question"], seqs["answer"]}
    live = {name: {f["seq"]: f for f in await messages_within(s) if f["room"] == room.pk} for name, s in sockets.items()}

    # Then the auditor gets every one of them, the reply with its link to the private question
    assert set(live["acme.auditor"]) == set(seqs["all"])
    assert live["acme.auditor"][seqs["reply"]]["refers_to"] == seqs["question"]
    assert live["acme.auditor"][seqs["answer"]]["recipient"] == live["acme.auditor"][seqs["question"]]["recipient"]
    # with no button to press on the alert card
    assert all(not a.get("enabled") for f in live["acme.auditor"].values() for a in f["actions"])
    assert live["acme.auditor"][seqs["alert_card"]]["actions"] == []
    # And nobody else's frames changed
    assert set(live["acme.buyer"]) == set(seqs["all"]) - routed
    assert set(live["acme.warehouse"]) == set(seqs["all"]) - private
    assert any(a["enabled"] for a in live["acme.warehouse"][seqs["alert_card"]]["actions"])
    assert set(live["supa.rep"]) == set(seqs["all"]) - private
    assert live["supa.rep"][seqs["reply"]]["refers_to"] is None
    assert await messages_within(outside, 0.3) == []

    # And a sync answers the auditor the same (the buyer's leaves the routed cards out)
    for name, expected in (("acme.auditor", set(seqs["all"])), ("acme.buyer", set(seqs["all"]) - routed),
                           ("supa.rep", set(seqs["all"]) - private)):
        socket = sockets[name]
        await socket.send_json_to({"type": "sync", "room": room.pk, "after_seq": seqs["card"] - 1})
        synced = [f for f in await frames_until(socket, lambda f: f["type"] == "synced") if f["type"] == "message"]
        assert {f["seq"] for f in synced} == expected, name
        if name == "acme.auditor":
            assert next(f for f in synced if f["seq"] == seqs["reply"])["refers_to"] == seqs["question"]
    for socket in [*sockets.values(), outside]:
        await socket.disconnect()


@in_db_thread
def socket_access(username, tenant="acme"):
    return load_socket_access(user(username), tenant_slug=tenant)


async def test_the_whole_room_check_is_worked_out_once_per_socket(demo_tx):
    assert (await socket_access("acme.auditor")).whole_room is True
    for username in ("acme.buyer", "acme.warehouse", "acme.admin", "supa.rep"):
        assert (await socket_access(username)).whole_room is False, username
