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
from messaging.services import message_post
from tests.api_contract import user
from tests.messaging.helpers import post, post_event, room_of

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks across threads need PostgreSQL (CI runs it)"
)


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
        if "interval" in sql and connection.vendor != "postgresql":
            sql = "UPDATE messaging_message SET created_at = datetime(created_at, '+1 second') WHERE room_id = %s AND seq = 3"
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


def _in_thread(func, *args):
    try:
        return func(*args)
    finally:
        connections.close_all()


@on_postgres
@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_parallel_posts_get_gapless_seqs_and_a_valid_chain(self, demo_tx):
        room = room_of("acme", "sup-a")
        rep, buyer = user("supa.rep"), user("acme.buyer")

        def send(i):
            actor = rep if i % 2 else buyer
            return message_post(tenant=room.tenant, actor=actor, room=room, body=f"并发 {i}", client_id=f"p{i}")[0].seq

        with ThreadPoolExecutor(8) as pool:
            seqs = list(pool.map(lambda i: _in_thread(send, i), range(80)))
        assert sorted(seqs) == list(range(1, 81))
        assert chain_verify(Room.objects.get(pk=room.pk)).ok

    def test_a_retried_send_is_one_message(self, demo_tx):
        room = room_of("acme", "sup-a")
        rep = user("supa.rep")

        def send(_):
            return message_post(tenant=room.tenant, actor=rep, room=room, body="一次就好", client_id="retry-1")[0].pk

        with ThreadPoolExecutor(2) as pool:  # two at the same time
            ids = list(pool.map(lambda i: _in_thread(send, i), range(2)))
        ids += [send(0) for _ in range(3)]  # and three later retries
        assert len(set(ids)) == 1
        assert Message.objects.filter(room=room).count() == 1

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
        message_post(tenant=other.tenant, actor=user("supb.rep"), room=other, body="不受影响")
        elapsed = time.monotonic() - started
        release.set()
        holder.join()
        assert elapsed < 2, f"posting to another room waited {elapsed:.2f}s on a lock it should not need"
