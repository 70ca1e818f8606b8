"""The hash chain catches tampering; seq stays gapless and sends idempotent under concurrency."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction

from messaging.chain import chain_verify
from messaging.models import Message, Room
from messaging.services import event_post_many
from tests.api_contract import user
from tests.messaging.helpers import internal_room, post, post_as, post_event, room_of

@pytest.mark.django_db
class TestChain:
    def test_an_untouched_room_verifies(self, demo):
        room = room_of("acme", "sup-a")
        for i in range(5):
            post("supa.rep", room, f"第{i}条")
        post_event(room)
        report = chain_verify(room)
        assert report.ok and report.checked == 6
        room.refresh_from_db()
        assert report.head == room.last_hash == Message.objects.get(room=room, seq=6).hash

    @pytest.mark.parametrize(
        "sql",
        [
            "UPDATE messaging_message SET body = 'tampered' WHERE room_id = %s AND seq = 3",
            "UPDATE messaging_message SET sender_id = NULL WHERE room_id = %s AND seq = 3",
            "UPDATE messaging_message SET created_at = created_at + interval '1 second' WHERE room_id = %s AND seq = 3",
            "DELETE FROM messaging_message WHERE room_id = %s AND seq = 3",
        ],
    )
    def test_tampering_in_sql_names_the_message(self, demo, sql):
        room = room_of("acme", "sup-a")
        for i in range(5):
            post("supa.rep", room, f"第{i}条")
        with connection.cursor() as cursor:
            cursor.execute(sql, [room.pk])
        report = chain_verify(room)
        assert not report.ok and report.broken_seq == 3, report

    def test_a_forged_tail_is_caught_by_the_room_head(self, demo):
        room = room_of("acme", "sup-a")
        for i in range(3):
            post("supa.rep", room, f"第{i}条")
        Message.objects.filter(room=room, seq=3).delete()
        report = chain_verify(room)
        assert not report.ok

    def test_verify_trail_command(self, demo, capsys):
        room = room_of("acme", "sup-a")
        post("supa.rep", room, "ok")
        call_command("verify_trail", "--room", str(room.pk))
        assert "OK, 1 messages" in capsys.readouterr().out
        Message.objects.filter(room=room, seq=1).update(body="changed")
        with pytest.raises(CommandError):
            call_command("verify_trail", "--room", str(room.pk))
        assert "BROKEN at message 1" in capsys.readouterr().out
        with pytest.raises(CommandError):
            call_command("verify_trail", "--room", "999999")
        with pytest.raises(CommandError):
            call_command("verify_trail")
        call_command("verify_trail", "--tenant", "globex")


def _events(rooms, n, tag):
    """n event posts spread over `rooms` in the order given (the room as a Room or an id)."""
    return [{"tenant": rooms[i % len(rooms)].tenant, "room": rooms[i % len(rooms)] if i % 2 else rooms[i % len(rooms)].pk,
             "body": f"{tag} {i}", "payload": {"i": i}, "actions": ["acknowledge"], "subject_kind": "alert",
             "subject_ref": f"A{i}", "core_audience": ["warehouse"]} for i in range(n)]


@pytest.mark.django_db
class TestManyEvents:
    def test_appends_in_the_order_given_and_every_chain_verifies(self, demo):
        a, b, internal = room_of("acme", "sup-a"), room_of("acme", "sup-b"), internal_room("acme")
        post("supa.rep", a, "之前")
        post_event(b)
        before = {r.pk: Room.objects.get(pk=r.pk).last_seq for r in (a, b, internal)}
        with transaction.atomic():
            messages = event_post_many(_events([a, internal, b, a], 10, "批量"))
        assert [m.body for m in messages] == [f"批量 {i}" for i in range(10)]
        for room in (a, b, internal):
            mine = [m for m in messages if m.room_id == room.pk]
            assert [m.seq for m in mine] == list(range(before[room.pk] + 1, before[room.pk] + 1 + len(mine)))
            report = chain_verify(Room.objects.get(pk=room.pk))
            assert report.ok and report.checked == before[room.pk] + len(mine), report
        stored = Message.objects.get(pk=messages[0].pk)
        assert (stored.kind, stored.subject_ref, stored.core_audience, stored.payload) == ("event", "A0", ",warehouse,", {"i": 0})
        assert stored.actions == [{"name": "acknowledge"}]  # its label is rendered per reader
        post("supa.rep", a, "之后")  # a one-by-one append continues the same chain
        assert chain_verify(Room.objects.get(pk=a.pk)).ok

    @pytest.mark.parametrize(
        "change, error",
        [
            ({"room": "globex"}, ValueError),  # another tenant's room
            ({"actions": ["no_such_action"]}, ValueError),
            ({"core_audience": ["supplier_rep"]}, ValueError),
            ({"body": "  "}, Exception),
            ({"room": 999_999_999}, Room.DoesNotExist),
        ],
    )
    def test_refuses_what_event_post_refuses_and_writes_nothing(self, demo, change, error):
        a = room_of("acme", "sup-a")
        posts = _events([a], 3, "x")
        if change.get("room") == "globex":
            change = {"room": internal_room("globex")}
        posts[2].update(change)
        with pytest.raises(error), transaction.atomic():
            event_post_many(posts)
        assert not Message.objects.filter(room=a).exists()
        assert Room.objects.get(pk=a.pk).last_seq == 0


def _in_thread(func, *args):
    try:
        return func(*args)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_parallel_posts_get_gapless_seqs_and_a_valid_chain(self, demo_tx):
        room = room_of("acme", "sup-a")
        rep, buyer = user("supa.rep"), user("acme.buyer")

        def send(i):
            actor = rep if i % 2 else buyer
            return post_as(actor, room, f"并发 {i}", client_id=f"p{i}")[0].seq

        with ThreadPoolExecutor(8) as pool:
            seqs = list(pool.map(lambda i: _in_thread(send, i), range(80)))
        assert sorted(seqs) == list(range(1, 81))
        assert chain_verify(Room.objects.get(pk=room.pk)).ok

    def test_a_retried_send_is_one_message(self, demo_tx):
        room = room_of("acme", "sup-a")
        rep = user("supa.rep")

        def send(_):
            return post_as(rep, room, "一次就好", client_id="retry-1")[0].pk

        with ThreadPoolExecutor(2) as pool:  # two at the same time
            ids = list(pool.map(lambda i: _in_thread(send, i), range(2)))
        ids += [send(0) for _ in range(3)]  # and three later retries
        assert len(set(ids)) == 1
        assert Message.objects.filter(room=room).count() == 1

    def test_two_batch_writers_in_opposite_room_orders_never_deadlock(self, demo_tx):
        rooms = [room_of("acme", "sup-a"), room_of("acme", "sup-b"), internal_room("acme")]
        barrier = threading.Barrier(2)

        def writer(order, tag):
            barrier.wait()
            for i in range(15):
                with transaction.atomic():
                    event_post_many(_events(order, 6, f"{tag}{i}"))

        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(_in_thread, writer, rooms, "上"), pool.submit(_in_thread, writer, rooms[::-1], "下")]
            for future in futures:
                future.result()  # a deadlock would raise here
        for room in rooms:
            report = chain_verify(Room.objects.get(pk=room.pk))
            assert report.ok and report.checked == 2 * 15 * 2, report

    def test_a_busy_room_does_not_hold_up_another(self, demo_tx):
        busy, other = room_of("acme", "sup-a"), room_of("acme", "sup-b")
        locked = threading.Event()
        release = threading.Event()

        def hold_lock():
            with transaction.atomic():
                Room.objects.select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(5)

        holder = threading.Thread(target=_in_thread, args=(hold_lock,))
        holder.start()
        assert locked.wait(5)
        started = time.monotonic()
        post_as(user("supb.rep"), other, "不受影响")
        elapsed = time.monotonic() - started
        release.set()
        holder.join()
        assert elapsed < 2, f"posting to another room waited {elapsed:.2f}s on a lock it should not need"
