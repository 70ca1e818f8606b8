"""Who sees what, live on the tenant socket: alert frames on every board that shows the alert, bot
questions for the asker alone, and reply links only to messages the reader sees (live and synced)."""

import time

import pytest

from alerts import services as alerts
from alerts.models import EscalationPolicy
from tests.alerts.helpers import act
from tests.messaging.helpers import post
from tests.messaging.test_sockets import a_room, connect, frames_until, in_db_thread, nothing_arrives

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def frames_within(communicator, seconds):
    """Every frame that arrives within `seconds` (polling: a receive timeout would kill the app)."""
    frames, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not await communicator.receive_nothing(timeout=0.05, interval=0.01):
            frames.append(await communicator.receive_json_from())
    return frames


async def alert_frames(communicator, seconds=1.0):
    return [f for f in await frames_within(communicator, seconds) if f["type"] == "alert"]


@in_db_thread
def raise_alert(demo, partner, key, audience=("warehouse",)):
    alert, _created = alerts.alert_raise(
        tenant=demo["tenants"]["acme"], kind="low_stock", severity=20, dedupe_key=key, title=f"{key} 低于安全库存",
        subject_kind="sku", subject_ref=key, partner=demo["organizations"][partner], core_audience=audience,
    )
    return alert


BOARDS = ["acme.buyer", "acme.planner", "acme.warehouse", "acme.auditor", "supa.rep", "supb.rep"]


async def test_an_alert_is_live_on_every_board_that_shows_it_and_no_other(demo_tx):
    # Given the boards of acme's staff and both suppliers' reps, and sup-a's rep in globex
    sockets = {name: await connect(name) for name in BOARDS}
    outside = [await connect("supa.rep", tenant="globex"), await connect("globex.buyer", tenant="globex")]

    @in_db_thread
    def add_policy():
        EscalationPolicy.objects.create(tenant=demo_tx["tenants"]["acme"], name="p",
                                        levels=[{"after_seconds": 60, "roles": ["planner"]}])

    await add_policy()

    # When an alert about sup-a is raised, addressed to the warehouse only
    alert = await raise_alert(demo_tx, "sup-a", "SKU-A")

    # Then every core board and sup-a's rep get it live; sup-b's rep and globex do not
    for name in ["acme.buyer", "acme.planner", "acme.warehouse", "acme.auditor", "supa.rep"]:
        got = await alert_frames(sockets[name])
        assert [(f["id"], f["state"]) for f in got] == [(alert.pk, "open")], name
    assert await alert_frames(sockets["supb.rep"], 0.3) == []
    for communicator in outside:
        assert await nothing_arrives(communicator)

    # When the warehouse acknowledges it, every board that shows it moves on
    await in_db_thread(act)(alerts.alert_acknowledge, "acme.warehouse", alert)
    for name in ["acme.buyer", "acme.planner", "acme.warehouse", "acme.auditor", "supa.rep"]:
        got = await alert_frames(sockets[name])
        assert [(f["id"], f["state"]) for f in got] == [(alert.pk, "acknowledged")], name
    assert await alert_frames(sockets["supb.rep"], 0.3) == []

    # When an alert about sup-b is raised and escalates, sup-a's rep hears of neither
    other = await raise_alert(demo_tx, "sup-b", "SKU-B")

    @in_db_thread
    def sweep():
        return alerts.escalation_sweep(now=other.next_escalation_at)

    assert await sweep() == 1
    for name in ["acme.buyer", "acme.auditor", "supb.rep"]:
        got = await alert_frames(sockets[name])
        assert [(f["id"], f["level"]) for f in got] == [(other.pk, 0), (other.pk, 1)], name
    assert await alert_frames(sockets["supa.rep"], 0.3) == []
    for communicator in [*sockets.values(), *outside]:
        await communicator.disconnect()


async def test_a_bot_question_reaches_the_askers_sockets_only_live_and_synced(demo_tx):
    room = await a_room("acme", "sup-a")
    rep, buyer = await connect("supa.rep"), await connect("acme.buyer")
    question = await in_db_thread(post)("supa.rep", room, "@bot 帮助")
    got = [await rep.receive_json_from(timeout=5) for _ in range(2)]
    assert [(f["kind"], f["recipient"]) for f in got] == [("chat", question.sender_id), ("bot", question.sender_id)]
    assert await nothing_arrives(buyer)
    await buyer.send_json_to({"type": "sync", "room": room.pk, "after_seq": 0})
    synced = await frames_until(buyer, lambda f: f["type"] == "synced")
    assert [f for f in synced if f["type"] == "message"] == []
    await rep.disconnect()
    await buyer.disconnect()


async def test_a_reply_names_its_seq_only_to_readers_of_what_it_answers_live_and_synced(demo_tx):
    room = await a_room("acme", "sup-a")
    rep, planner = await connect("supa.rep"), await connect("acme.planner")
    note = await in_db_thread(post)("acme.buyer", room, "内部：先别答应", internal=True)
    assert (await planner.receive_json_from(timeout=5))["seq"] == note.seq

    # When the buyer answers the note in public
    reply = await in_db_thread(post)("acme.buyer", room, "按原计划", refers_to=note.seq, relation="reply")

    # Then core staff get the link, the partner the reply without the note's seq
    assert (await planner.receive_json_from(timeout=5))["refers_to"] == note.seq
    live = await rep.receive_json_from(timeout=5)
    assert live["seq"] == reply.seq and live["refers_to"] is None and live["relation"] == "reply"
    assert str(note.seq) not in {str(v) for k, v in live.items() if k != "seq" and isinstance(v, int)}

    # And a sync answers the same
    await rep.send_json_to({"type": "sync", "room": room.pk, "after_seq": 0})
    synced = [f for f in await frames_until(rep, lambda f: f["type"] == "synced") if f["type"] == "message"]
    assert [(f["seq"], f["refers_to"]) for f in synced] == [(reply.seq, None)]
    await planner.send_json_to({"type": "sync", "room": room.pk, "after_seq": 0})
    synced = [f for f in await frames_until(planner, lambda f: f["type"] == "synced") if f["type"] == "message"]
    assert [(f["seq"], f["refers_to"]) for f in synced] == [(note.seq, None), (reply.seq, note.seq)]
    await rep.disconnect()
    await planner.disconnect()


async def test_an_escalation_card_names_the_first_card_only_to_those_who_saw_it(demo_tx):
    room = await a_room("acme", "sup-a")

    @in_db_thread
    def add_policy():
        EscalationPolicy.objects.create(tenant=demo_tx["tenants"]["acme"], name="p",
                                        levels=[{"after_seconds": 60, "roles": ["planner"]}])

    await add_policy()
    alert = await raise_alert(demo_tx, "sup-a", "SKU-E")
    card = next(c["seq"] for c in alert.cards if c["room"] == room.pk)
    warehouse, planner = await connect("acme.warehouse"), await connect("acme.planner")

    @in_db_thread
    def sweep():
        return alerts.escalation_sweep(now=alert.next_escalation_at)

    assert await sweep() == 1

    def escalation_in_room(frames):
        return [f for f in frames if f["type"] == "message" and f["room"] == room.pk and f["payload"].get("escalation")]

    assert [f["refers_to"] for f in escalation_in_room(await frames_within(warehouse, 1.0))] == [card]
    assert [f["refers_to"] for f in escalation_in_room(await frames_within(planner, 1.0))] == [None]
    await warehouse.disconnect()
    await planner.disconnect()


async def test_the_hubs_gap_fill_keeps_the_reference_per_reader(demo_tx, monkeypatch):
    """A publish lost on the way (Redis down, a dropped message): the process's hub reads the gap from
    the database once for all its sockets, and each still gets its own form of a reply."""
    import realtime

    room = await a_room("acme", "sup-a")
    rep, planner = await connect("supa.rep"), await connect("acme.planner")
    note = await in_db_thread(post)("acme.buyer", room, "内部备注", internal=True)
    assert (await planner.receive_json_from(timeout=5))["seq"] == note.seq
    lost = []
    monkeypatch.setattr(realtime, "_group_send", lambda group, event, urgent=False: lost.append(event))
    reply = await in_db_thread(post)("acme.buyer", room, "回复", refers_to=note.seq, relation="reply")
    monkeypatch.undo()
    assert [e["seq"] for e in lost] == [reply.seq]
    after = await in_db_thread(post)("acme.buyer", room, "之后")  # skips ahead: the hub fills the gap
    got_rep = [await rep.receive_json_from(timeout=5) for _ in range(2)]
    got_planner = [await planner.receive_json_from(timeout=5) for _ in range(2)]
    assert [(f["seq"], f["refers_to"]) for f in got_rep] == [(reply.seq, None), (after.seq, None)]
    assert [(f["seq"], f["refers_to"]) for f in got_planner] == [(reply.seq, note.seq), (after.seq, None)]
    await rep.disconnect()
    await planner.disconnect()


async def test_alert_frames_lost_with_their_cards_arrive_from_the_head_check(demo_tx, monkeypatch):
    """Redis down while an alert is raised: its cards' and its frame's publishes are lost. Each process's
    head check reads the missed cards from the database, and with them the alert's frame as it now
    stands, for every board among the room's sockets that shows the alert."""
    import realtime
    from realtime import hub as hub_module

    monkeypatch.setattr(hub_module, "HEAD_CHECK_SECONDS", 0.2)
    sockets = {name: await connect(name) for name in ("acme.buyer", "acme.auditor", "supa.rep", "supb.rep")}
    lost, original = [], realtime._group_send_many

    def group_send_many(events, urgent=False):
        kept = [(g, e) for g, e in events if not g.startswith(("room.", "tenant."))]
        lost.extend(e for g, e in events if g.startswith(("room.", "tenant.")))
        if kept:
            original(kept, urgent=urgent)

    monkeypatch.setattr(realtime, "_group_send_many", group_send_many)
    alert = await raise_alert(demo_tx, "sup-a", "SKU-L")
    assert {e["type"] for e in lost} == {"room.message", "user.frame"}
    for name in ("acme.buyer", "acme.auditor", "supa.rep"):
        got = await alert_frames(sockets[name], 2.0)
        assert alert.pk in {f["id"] for f in got} and all(f["state"] == "open" for f in got), name
    assert await alert_frames(sockets["supb.rep"], 0.5) == []
    for communicator in sockets.values():
        await communicator.disconnect()
