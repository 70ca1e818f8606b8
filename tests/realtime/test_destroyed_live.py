"""Retention's sweep tells the open sockets (issue 17, item 6; docs/AUDIT_RETENTION.md): after a
purge commits, every socket of a room it touched gets one `destroyed` frame per room and batch,
naming the seqs this reader saw, with the notice in the socket's language; a socket outside the
room, or a reader who never saw those messages, gets nothing."""

import time

import pytest

from audit import retention
from messaging.frames import destroyed_notice
from messaging.models import Message
from scm_portal.tenancy.models import Tenant
from tests.audit.test_retention import days_ago, set_policy
from tests.messaging.helpers import internal_room, post, room_of
from tests.messaging.test_sockets import a_room, connect, frames_until, in_db_thread, nothing_arrives

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

EN = [(b"accept-language", b"en")]
ZH = [(b"accept-language", b"zh-hans")]


async def frames_within(communicator, seconds=1.0):
    frames, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not await communicator.receive_nothing(timeout=0.05, interval=0.01):
            frames.append(await communicator.receive_json_from())
    return frames


@pytest.fixture
def old_world(demo_tx, monkeypatch):
    """In acme: sup-a's room with an old chat line, an old internal note and an old private bot question
    (with its answer) of sup-a's rep, and a new line; the internal room with an old line."""
    room, internal = room_of("acme", "sup-a"), internal_room("acme")
    with days_ago(monkeypatch, 40):
        chat = post("acme.buyer", room, "旧报价 4711")
        note = post("acme.buyer", room, "旧内部备注", internal=True)
        question = post("supa.rep", room, "/help")
        inside = post("acme.buyer", internal, "旧的内部群消息")
    new = post("acme.buyer", room, "新消息")
    answer = Message.objects.get(room=room, refers_to=question.seq, kind="bot")
    return {"room": room, "internal": internal, "chat": chat.seq, "note": note.seq, "question": question.seq,
            "answer": answer.seq, "inside": inside.seq, "new": new.seq}


@in_db_thread
def sweep():
    set_policy("partner", 30)
    set_policy("internal", 30)
    return retention.retention_sweep_tenant(tenant_id=Tenant.objects.get(slug="acme").pk)


async def test_a_sweep_sends_each_socket_of_the_room_one_destroyed_frame_with_what_it_saw(old_world):
    room, internal = old_world["room"], old_world["internal"]
    sockets = {
        "acme.buyer": await connect("acme.buyer", headers=EN),
        "acme.auditor": await connect("acme.auditor", headers=EN),
        "supa.rep": await connect("supa.rep", headers=EN),
        "acme.warehouse": await connect("acme.warehouse", headers=ZH),
        "supb.rep": await connect("supb.rep", headers=EN),
    }
    outside = await connect("supa.rep", tenant="globex")

    # When the sweep destroys the old messages of both rooms
    assert await sweep() == 5

    got = {}
    for name, socket in sockets.items():
        frames = [f for f in await frames_within(socket) if f["type"] == "destroyed"]
        got[name] = {f["room"]: f for f in frames}
        assert len(got[name]) == len(frames), f"{name}: one frame per room"
    everything = [old_world[k] for k in ("chat", "note", "question", "answer")]
    english, chinese = destroyed_notice("en"), destroyed_notice("zh-hans")
    assert chinese == "此消息已按保留策略销毁。"

    def frame(room_id, seqs, body=english):
        return {"type": "destroyed", "room": room_id, "seqs": seqs, "body": body}

    # Then the buyer hears of its rooms' old messages it saw (not the rep's private question), once per room
    assert got["acme.buyer"] == {room.pk: frame(room.pk, [old_world["chat"], old_world["note"]]),
                                 internal.pk: frame(internal.pk, [old_world["inside"]])}
    # The auditor, of every one of them
    assert got["acme.auditor"] == {room.pk: frame(room.pk, everything),
                                   internal.pk: frame(internal.pk, [old_world["inside"]])}
    # The supplier's rep, of its room's public line and its own question and answer; no internal note
    assert got["supa.rep"] == {room.pk: frame(room.pk, [old_world["chat"], old_world["question"], old_world["answer"]])}
    # A Chinese socket reads the notice in Chinese
    assert got["acme.warehouse"] == {room.pk: frame(room.pk, [old_world["chat"], old_world["note"]], chinese),
                                     internal.pk: frame(internal.pk, [old_world["inside"]], chinese)}
    # And sockets outside the rooms hear nothing
    assert got["supb.rep"] == {}
    assert await nothing_arrives(outside)

    # A sync afterwards answers the tombstones, with the same notice
    buyer = sockets["acme.buyer"]
    await buyer.send_json_to({"type": "sync", "room": room.pk, "after_seq": old_world["chat"] - 1})
    synced = {f["seq"]: f for f in await frames_until(buyer, lambda f: f["type"] == "synced") if f["type"] == "message"}
    assert synced[old_world["chat"]]["destroyed"] is True and synced[old_world["chat"]]["body"] == english
    assert synced[old_world["new"]].get("destroyed") is None

    # A second sweep destroys nothing and tells nobody
    assert await sweep() == 0
    assert [f for f in await frames_within(buyer, 0.5) if f["type"] == "destroyed"] == []
    for socket in [*sockets.values(), outside]:
        await socket.disconnect()


async def test_one_frame_per_room_and_batch_however_many_messages(demo_tx, monkeypatch):
    room = await a_room("acme", "sup-a")

    @in_db_thread
    def old_lines():
        with days_ago(monkeypatch, 40):
            return [post("acme.buyer", room, f"旧 {i}").seq for i in range(5)]

    seqs = await old_lines()
    rep = await connect("supa.rep", headers=EN)

    @in_db_thread
    def sweep_in_batches():
        set_policy("partner", 30)
        return retention.retention_sweep_tenant(tenant_id=room.tenant_id, batch=3)

    assert await sweep_in_batches() == 5
    frames = [f for f in await frames_within(rep) if f["type"] == "destroyed"]
    assert [f["seqs"] for f in frames] == [seqs[:3], seqs[3:]]
    await rep.disconnect()
