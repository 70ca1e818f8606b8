"""Retention (issue 17, item 6): messages past their room kind's policy are destroyed by the sweep,
leaving tombstones that keep seq and hash; the chain still verifies; the purge is in the audit log;
sync, search and pages never show the old content; tampering is still found."""

import datetime
import os
from contextlib import contextmanager

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone as django_timezone

from audit import retention
from audit.chain import audit_chain_verify
from audit.models import AuditRecord
from audit.retention_models import RetentionPolicy
from audit.retention_tasks import retention_sweep
from messaging.chain import chain_verify
from messaging.models import Attachment, Message
from scm_portal.tenancy.access import tenant_context_for
from tests.api_contract import user
from tests.messaging.helpers import internal_room, post, room_of

OLD = 40  # days: past a 30-day policy


class _Clock:
    """django.utils.timezone with `now` fixed (messages posted in the past keep valid hashes)."""

    def __init__(self, when):
        self.when = when

    def now(self):
        return self.when

    def __getattr__(self, name):
        return getattr(django_timezone, name)


@contextmanager
def days_ago(monkeypatch, days):
    with monkeypatch.context() as patch:
        patch.setattr("messaging.services.timezone", _Clock(django_timezone.now() - datetime.timedelta(days=days)))
        yield


def set_policy(room_kind, days, username="acme.admin"):
    from scm_portal.tenancy.models import Tenant

    admin, acme = user(username), Tenant.objects.get(slug="acme")
    return retention.retention_policy_set(tenant=acme, actor=admin, context=tenant_context_for(admin, acme),
                                          room_kind=room_kind, days=days)


@pytest.fixture
def chat(demo, monkeypatch, settings, tmp_path):
    """The sup-a room of acme with two old messages (one with a file) and a new one."""
    settings.MEDIA_ROOT = tmp_path
    room = room_of("acme", "sup-a")
    with days_ago(monkeypatch, OLD):
        old = post("acme.buyer", room, "旧的报价 old quote 4711")
        with_file = post("acme.buyer", room, "合同 contract", files=[SimpleUploadedFile("contract.pdf", b"%PDF-1.4 secret",
                                                                                        content_type="application/pdf")])
    new = post("acme.buyer", room, "new message 4712")
    return {"room": room, "old": old, "with_file": with_file, "new": new}


def fresh(message):
    return Message.objects.get(pk=message.pk)


def test_a_message_past_the_policy_is_destroyed_and_leaves_a_tombstone(chat, django_capture_on_commit_callbacks):
    # Given a 30-day policy for partner rooms
    set_policy("partner", 30)
    attachment = Attachment.objects.get(message=chat["with_file"])
    path, digest = attachment.file.path, attachment.sha256
    before = {m.pk: (m.seq, m.prev_hash, m.hash) for m in (chat["old"], chat["with_file"], chat["new"])}
    # When the beat task runs (the files go once it commits)
    with django_capture_on_commit_callbacks(execute=True):
        retention_sweep.delay()
    # Then both old messages are tombstones that keep seq, prev_hash and hash; the new one is intact
    for key in ("old", "with_file"):
        tomb = fresh(chat[key])
        assert tomb.destroyed_at is not None and tomb.body == "" and tomb.payload == {} and tomb.text is None
        assert (tomb.seq, tomb.prev_hash, tomb.hash) == before[tomb.pk]
        assert tomb.destroyed_policy_id == RetentionPolicy.objects.get(room_kind="partner", tenant__slug="acme").pk
    assert fresh(chat["new"]).destroyed_at is None and fresh(chat["new"]).body == "new message 4712"
    # The file is gone; its sha256 stays
    attachment.refresh_from_db()
    assert attachment.sha256 == digest and attachment.name == "" and not attachment.file
    assert not os.path.exists(path)
    # And the room's chain still verifies, through the tombstones
    report = chain_verify(chat["room"])
    assert report.ok, report


def test_the_purge_is_in_the_audit_log_with_seqs_and_hashes(chat):
    set_policy("partner", 30)
    retention_sweep.delay()
    record = AuditRecord.objects.get(tenant__slug="acme", action="retention.purge")
    seqs = [chat["old"].seq, chat["with_file"].seq]
    assert record.actor_id is None and record.object_kind == "room" and record.object_ref == str(chat["room"].pk)
    assert record.after["count"] == 2 and record.after["room_kind"] == "partner" and record.after["days"] == 30
    assert record.after["seq_ranges"] == [[seqs[0], seqs[1]]]
    assert record.after["hashes"] == {str(chat["old"].seq): chat["old"].hash,
                                      str(chat["with_file"].seq): chat["with_file"].hash}
    change = AuditRecord.objects.get(tenant__slug="acme", action="retention_policy.change")
    assert change.before == {"room_kind": "partner", "days": None} and change.after == {"room_kind": "partner", "days": 30}
    assert audit_chain_verify(record.tenant).ok


def test_a_second_sweep_destroys_nothing_more_and_audits_nothing(chat):
    set_policy("partner", 30)
    assert retention.retention_sweep_tenant(tenant_id=chat["room"].tenant_id) == 2
    assert retention.retention_sweep_tenant(tenant_id=chat["room"].tenant_id) == 0
    assert AuditRecord.objects.filter(action="retention.purge").count() == 1


def test_no_policy_or_a_longer_one_keeps_everything(chat):
    assert retention.retention_sweep_tenant(tenant_id=chat["room"].tenant_id) == 0  # no policy: forever
    set_policy("partner", 60)
    set_policy("internal", 1)  # another kind's policy does not reach partner rooms
    assert retention.retention_sweep_tenant(tenant_id=chat["room"].tenant_id) == 0
    assert not Message.objects.filter(destroyed_at__isnull=False).exists()
    set_policy("partner", None)  # back to forever
    assert retention.retention_sweep_tenant(tenant_id=chat["room"].tenant_id) == 0


def test_sweep_batches_by_id_and_audits_each_batch(chat, monkeypatch):
    room = chat["room"]
    with days_ago(monkeypatch, OLD):
        for n in range(5):
            post("acme.buyer", room, f"more {n}")
    set_policy("partner", 30)
    assert retention.retention_sweep_tenant(tenant_id=room.tenant_id, batch=3) == 7
    purges = AuditRecord.objects.filter(action="retention.purge").order_by("seq")
    assert [p.after["count"] for p in purges] == [3, 3, 1]
    assert chain_verify(room).ok


def test_sync_search_and_pages_never_show_the_old_content(chat, api, client):
    set_policy("partner", 30)
    retention_sweep.delay()
    room = chat["room"]
    api.as_user(user("acme.buyer"))
    # sync (after_seq) and the page before
    frames = api.get(f"/api/v1/t/acme/rooms/{room.pk}/messages/?after_seq=0").json()["results"]
    by_seq = {f["seq"]: f for f in frames}
    tomb = by_seq[chat["old"].seq]
    assert tomb["destroyed"] is True and tomb["body"] == "This message was destroyed under the retention policy."
    assert tomb["hash"] == chat["old"].hash and tomb["attachments"] == [] and tomb["payload"] == {}
    assert by_seq[chat["with_file"].seq]["attachments"] == []
    text = api.get(f"/api/v1/t/acme/rooms/{room.pk}/messages/?before_seq={chat['new'].seq}").content.decode()
    assert "4711" not in text and "contract" not in text and "destroyed under the retention policy" in text
    # search: the old words are not found, the new ones still are
    assert api.get("/api/v1/t/acme/messages/search/?q=4711").json()["results"] == []
    assert api.get("/api/v1/t/acme/messages/search/?q=contract").json()["results"] == []
    assert [f["seq"] for f in api.get("/api/v1/t/acme/messages/search/?q=4712").json()["results"]] == [chat["new"].seq]
    # the file cannot be downloaded any more
    attachment = Attachment.objects.get(message=chat["with_file"])
    assert api.get(f"/api/v1/t/acme/rooms/{room.pk}/attachments/{attachment.pk}/").status_code == 404
    # in Chinese too
    zh = api.get(f"/api/v1/t/acme/rooms/{room.pk}/messages/?after_seq=0", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert {f["body"] for f in zh["results"] if f.get("destroyed")} == {"此消息已按保留策略销毁。"}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_socket_sync_shows_tombstones_not_content(settings, tmp_path, monkeypatch):
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from scm_portal.asgi import application
    from scm_portal.tenancy import demo as demo_data

    settings.MEDIA_ROOT = tmp_path

    @sync_to_async
    def given():
        demo_data.seed()
        room = room_of("acme", "sup-a")
        with days_ago(monkeypatch, OLD):
            old = post("acme.buyer", room, "socket secret 4713")
        set_policy("partner", 30)
        retention.retention_sweep_tenant(tenant_id=room.tenant_id)
        from rest_framework.authtoken.models import Token

        token, _ = Token.objects.get_or_create(user=user("acme.buyer"))
        return room, old, token.key

    room, old, token = await given()
    communicator = WebsocketCommunicator(application, f"/ws/t/acme/?token={token}",
                                         headers=[(b"origin", b"http://testserver")])
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "sync", "room": room.pk, "after_seq": old.seq - 1})
    seen = []
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        if frame.get("type") == "message":
            seen.append(frame)
            if frame["seq"] == old.seq:
                break
    await communicator.disconnect()
    assert seen[0]["seq"] == old.seq and seen[0]["destroyed"] is True and "4713" not in str(seen)


def test_the_po_page_shows_the_notice(demo, monkeypatch, client, settings, tmp_path):
    """A record's conversation on its page (the PO's) shows a tombstone's notice."""
    from tests.finance.factories import received_po

    po = received_po()
    room = room_of("acme", "sup-a")
    with days_ago(monkeypatch, OLD):
        post("acme.buyer", room, "PO secret 4714", subject={"kind": "purchase_order", "id": po.number})
    set_policy("partner", 30)
    retention.retention_sweep_tenant(tenant_id=room.tenant_id)
    client.force_login(user("acme.buyer"))
    html = client.get(f"/t/acme/orders/{po.number}/").content.decode()
    assert "4714" not in html and "destroyed under the retention policy" in html


# --- tampering ------------------------------------------------------------------------------


def test_tampering_with_a_live_message_is_still_found_after_a_purge(chat):
    set_policy("partner", 30)
    retention_sweep.delay()
    Message.objects.filter(pk=chat["new"].pk).update(body="changed behind the app's back")
    report = chain_verify(chat["room"])
    assert not report.ok and report.broken_seq == chat["new"].seq


def test_a_message_marked_destroyed_behind_the_apps_back_is_found(chat):
    """No purge in the audit log destroyed it: the cross-check names it."""
    Message.objects.filter(pk=chat["new"].pk).update(body="", destroyed_at=django_timezone.now())
    report = chain_verify(chat["room"])
    assert not report.ok and report.broken_seq == chat["new"].seq
    assert "no purge" in report.reason


def test_a_tombstone_given_content_back_is_found(chat):
    set_policy("partner", 30)
    retention_sweep.delay()
    Message.objects.filter(pk=chat["old"].pk).update(body="forged")
    report = chain_verify(chat["room"])
    assert not report.ok and report.broken_seq == chat["old"].seq


def test_a_changed_tombstone_hash_breaks_the_link(chat):
    set_policy("partner", 30)
    retention_sweep.delay()
    Message.objects.filter(pk=chat["old"].pk).update(hash="f" * 64)
    report = chain_verify(chat["room"])
    assert not report.ok and report.broken_seq == chat["old"].seq  # the witness names another hash


# --- the database function ------------------------------------------------------------------


def test_the_function_rechecks_age_and_holds_whatever_ids_it_is_given(chat):
    """Handed a new message's id, or one under an admin hold, it destroys nothing."""
    set_policy("partner", 30)
    tenant_id = chat["room"].tenant_id
    assert retention.retention_tombstone(tenant_id=tenant_id, message_ids=[chat["new"].pk]) == []
    admin = user("acme.admin")
    retention.legal_hold_place(tenant=chat["room"].tenant, actor=admin, context=tenant_context_for(admin, chat["room"].tenant),
                               reason="litigation", room=chat["room"])
    assert retention.retention_tombstone(tenant_id=tenant_id, message_ids=[chat["old"].pk]) == []
    # another tenant's id for this tenant: nothing
    assert retention.retention_tombstone(tenant_id=tenant_id + 1000, message_ids=[chat["old"].pk]) == []
    assert not Message.objects.filter(destroyed_at__isnull=False).exists()


@pytest.mark.django_db
def test_a_role_without_update_on_messages_destroys_only_through_the_function(chat):
    """The production shape: the app's role may not UPDATE messages; EXECUTE on the function is
    what lets it destroy, and only what the function re-checks."""
    set_policy("partner", 30)
    role = f"retention_app_{connection.connection.info.backend_pid}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cursor.execute(f"GRANT SELECT, INSERT ON messaging_message, messaging_attachment TO {role}")
        cursor.execute(f"GRANT EXECUTE ON FUNCTION retention_tombstone(bigint, bigint[]) TO {role}")
        cursor.execute("SAVEPOINT before_role")
        cursor.execute(f"SET LOCAL ROLE {role}")
        with pytest.raises(Exception, match="permission denied"):
            cursor.execute("UPDATE messaging_message SET body = '' WHERE id = %s", [chat["old"].pk])
        cursor.execute("ROLLBACK TO SAVEPOINT before_role")
        cursor.execute(f"SET LOCAL ROLE {role}")
        cursor.execute("SELECT seq FROM retention_tombstone(%s, %s)",
                       [chat["room"].tenant_id, [chat["old"].pk, chat["new"].pk]])
        assert [row[0] for row in cursor.fetchall()] == [chat["old"].seq]
        cursor.execute("RESET ROLE")
    assert fresh(chat["old"]).destroyed_at is not None and fresh(chat["new"]).destroyed_at is None


def test_the_retention_sweep_is_scheduled():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["retention"]["task"] == "audit.retention_sweep"


def test_internal_rooms_follow_their_own_policy(demo, monkeypatch):
    room = internal_room("acme")
    with days_ago(monkeypatch, 3):
        old = post("acme.buyer", room, "internal note")
    set_policy("internal", 2)
    assert retention.retention_sweep_tenant(tenant_id=room.tenant_id) >= 1
    assert fresh(old).destroyed_at is not None
    assert chain_verify(room).ok
