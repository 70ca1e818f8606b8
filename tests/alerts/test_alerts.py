"""The alert lifecycle, escalation (exactly once per level), policies, notifications and KPIs."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts import services
from alerts.models import Alert, AlertEvent, EscalationPolicy, Notification
import realtime
from messaging.chain import chain_verify
from messaging.models import Message, Room
from tests.alerts.helpers import act
from tests.api_contract import TenantCreateChecks, TenantEndpointChecks, assert_error, user
from tests.messaging.helpers import room_of

pytestmark = pytest.mark.django_db


def policy(tenant, levels=None, kind="", min_severity=10):
    return EscalationPolicy.objects.create(
        tenant=tenant, name="p", kind=kind, min_severity=min_severity,
        levels=levels or [{"after_seconds": 60, "roles": ["planner"], "users": [], "channels": ["in_app"]},
                          {"after_seconds": 120, "roles": ["coordinator"], "users": ["acme.admin"], "channels": ["in_app"]}],
    )


def raise_alert(demo, key="k1", severity=20, tenant="acme", partner="sup-a", audience=("warehouse",)):
    alert, created = services.alert_raise(
        tenant=demo["tenants"][tenant], kind="low_stock", severity=severity, dedupe_key=key, title="SKU-9 低于安全库存",
        subject_kind="sku", subject_ref="SKU-9", partner=demo["organizations"][partner], core_audience=audience,
    )
    return alert


class TestLifecycle:
    def test_raise_is_idempotent_per_condition(self, demo):
        first = raise_alert(demo)
        again, created = services.alert_raise(tenant=demo["tenants"]["acme"], kind="low_stock", severity=20,
                                            dedupe_key="k1", title="again")
        assert again.pk == first.pk and not created
        assert Alert.objects.count() == 1

    def test_raising_writes_little_and_hands_the_alert_frame_over_first(
            self, demo, monkeypatch, django_capture_on_commit_callbacks):
        policy(demo["tenants"]["acme"])
        many = []
        urgent_flags = []

        def hand_over(events, urgent=False):
            many.append(events)
            urgent_flags.append(urgent)

        monkeypatch.setattr(realtime, "_group_send_many", hand_over)
        with django_capture_on_commit_callbacks() as callbacks, CaptureQueriesContext(connection) as statements:
            alert = raise_alert(demo)
            assert not many  # nothing before commit
        # Read the open alert and the policy, lock the rooms, the alert row (ON CONFLICT: no
        # savepoint), the audience, the cards (one INSERT, the room heads), the event and the
        # notifications.
        assert len(statements) <= 10, [q["sql"][:80] for q in statements.captured_queries]
        for callback in callbacks:
            callback()
        frames, cards = many  # one hand-over each: the people's alert frames, then the cards
        assert urgent_flags == [True, False]  # the thread waits until the alert frames are out, not the cards
        # One publish for every board that shows the alert: each socket forwards it by the board's rule.
        assert [(g, e["frame"]["id"], e["partners"]) for g, e in frames] == [
            (f"tenant.{alert.tenant_id}", alert.pk, [alert.partner_id])]
        assert [(g, e["seq"]) for g, e in cards] == [(f"room.{c['room']}", c["seq"]) for c in alert.cards]
        stored = [Message.objects.get(room_id=c["room"], seq=c["seq"]) for c in alert.cards]
        assert [m.room.kind for m in stored] == ["partner", "internal"]
        assert all(m.subject_ref == str(alert.pk) and m.payload["alert"] == alert.pk for m in stored)
        assert all(chain_verify(m.room).ok for m in stored)
        assert {n.user.username for n in Notification.objects.filter(alert=alert)} == {"supa.rep", "acme.warehouse"}

    def test_the_open_alert_of_a_condition_is_found_by_its_index_under_a_prepared_plan(self, demo):
        """Prepared statements switch to a generic plan after a few runs: with the state as a
        parameter that plan could not use the partial unique index, and scanned every alert of
        the tenant for each alert raised."""
        tenant = demo["tenants"]["acme"]
        for i in range(300):  # enough alerts for a scan to look worse than the index
            raise_alert(demo, key=f"k{i}", audience=())
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE alerts_alert")
        for n, (query, index) in enumerate([
            (services._OPEN_ALERT._build(None, tenant_id=tenant.pk, key="k7"), "alert_one_unresolved_per_key"),
            (Alert.objects.for_tenant(tenant).filter(dedupe_key="k7", state__is_not="resolved"), "alert_one_unresolved_per_key"),
        ]):
            sql, params = query.query.sql_with_params()
            assert "resolved" not in params and "open" not in params  # the state is in the SQL text
            numbered = sql.replace("%s", "{}").format(*(f"${i + 1}" for i in range(len(params))))
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                cursor.execute(f"PREPARE open_alert_{n} AS {numbered}")
                cursor.execute(connection.ops.compose_sql(
                    f"EXPLAIN EXECUTE open_alert_{n}({', '.join(['%s'] * len(params))})", params))
                plan = "\n".join(row[0] for row in cursor.fetchall())
                cursor.execute(f"DEALLOCATE open_alert_{n}")
            assert f"Index Scan using {index}" in plan, plan
        # The escalation sweep's due alerts: the state in the text too, as the index alert_due_open has it.
        sql, params = Alert.objects.filter(state__is="open", next_escalation_at__lte=timezone.now()).query.sql_with_params()
        assert "= 'open'" in sql and "open" not in params

    def test_ack_start_resolve_over_the_api(self, demo, api):
        alert = raise_alert(demo)
        api.as_user(user("acme.warehouse"))
        base = f"/api/v1/t/acme/alerts/{alert.pk}/"
        assert api.post(base + "ack/").json()["state"] == "acknowledged"
        refused = api.post(base + "ack/")  # not twice: the alert has moved on
        assert_error(refused, 409, "alert_acknowledged")
        assert "already acknowledged by" in refused.json()["error"]["message"]
        assert api.post(base + "start/").json()["state"] == "in_progress"
        body = api.post(base + "resolve/").json()
        assert body["state"] == "resolved" and body["resolved_by"] == "acme.warehouse"
        assert [e.action for e in AlertEvent.objects.filter(alert=alert)] == ["raised", "acknowledged", "in_progress", "resolved"]
        assert_error(api.post(base + "start/"), 409, "alert_resolved")

    def test_a_resolved_condition_can_alert_again(self, demo, api):
        alert = raise_alert(demo)
        act(services.alert_resolve, "acme.warehouse", alert)
        assert raise_alert(demo).pk != alert.pk

    def test_who_may_act(self, demo, api):
        alert = raise_alert(demo)
        for username, status in [("acme.auditor", 403), ("supb.rep", 404), ("globex.buyer", 404)]:
            api.as_user(user(username))
            response = api.post(f"/api/v1/t/acme/alerts/{alert.pk}/ack/")
            assert response.status_code == status, username
        api.as_user(user("supa.rep"))  # the supplier concerned may acknowledge
        assert api.post(f"/api/v1/t/acme/alerts/{alert.pk}/ack/").status_code == 200

    def test_buttons_on_the_card_drive_the_same_lifecycle_and_update_every_room(self, demo, api):
        alert = raise_alert(demo)
        supplier_card = next(r for r in alert.cards if r["room"] == room_of("acme", "sup-a").pk)
        api.as_user(user("acme.warehouse"))
        url = f"/api/v1/t/acme/rooms/{supplier_card['room']}/messages/{supplier_card['seq']}/actions/alert_ack/"
        assert api.post(url).status_code == 201
        alert.refresh_from_db()
        assert alert.state == "acknowledged" and alert.next_escalation_at is None
        internal = next(r for r in alert.cards if r["room"] != supplier_card["room"])
        line = Message.objects.get(room_id=internal["room"], refers_to=internal["seq"], kind="system")
        assert line.payload["state"] == "acknowledged"

    def test_list_filters_and_visibility(self, demo, api):
        raise_alert(demo, key="a")
        raise_alert(demo, key="b", partner="sup-b")
        raise_alert(demo, key="c", tenant="globex")
        api.as_user(user("supa.rep"))
        assert len(api.get("/api/v1/t/acme/alerts/").json()["results"]) == 1
        api.as_user(user("acme.buyer"))
        assert len(api.get("/api/v1/t/acme/alerts/").json()["results"]) == 2
        assert len(api.get("/api/v1/t/acme/alerts/?state=open&kind=low_stock").json()["results"]) == 2
        assert api.get("/api/v1/t/acme/alerts/?mine=1").json()["results"] == []  # buyer is not the audience
        api.as_user(user("acme.warehouse"))
        assert len(api.get("/api/v1/t/acme/alerts/?mine=1").json()["results"]) == 2
        assert_error(api.get("/api/v1/t/acme/alerts/?state=sleeping"), 400)

    def test_notifications_for_the_audience(self, demo, api):
        raise_alert(demo)
        assert set(Notification.objects.values_list("user__username", flat=True)) == {"acme.warehouse", "supa.rep"}
        api.as_user(user("acme.warehouse"))
        assert len(api.get("/api/v1/t/acme/notifications/?unread=1").json()["results"]) == 1
        assert api.post("/api/v1/t/acme/notifications/read/").json() == {"marked": 1, "unread": 0}
        assert api.get("/api/v1/t/acme/notifications/?unread=1").json()["results"] == []


class TestEscalation:
    def test_levels_fire_on_schedule_and_each_only_once(self, demo):
        tenant = demo["tenants"]["acme"]
        policy(tenant)
        alert = raise_alert(demo)
        opened = alert.opened_at
        assert alert.next_escalation_at == opened + timedelta(seconds=60)
        assert services.escalation_sweep(now=opened + timedelta(seconds=59)) == 0
        assert services.escalation_sweep(now=opened + timedelta(seconds=61)) == 1
        assert services.escalation_sweep(now=opened + timedelta(seconds=61)) == 0  # not twice
        alert.refresh_from_db()
        assert alert.level == 1 and set(alert.core_audience.strip(",").split(",")) == {"warehouse", "planner"}
        assert Notification.objects.filter(kind="escalation", level=1).get().user.username == "acme.planner"
        assert services.escalation_sweep(now=opened + timedelta(seconds=61 + 121)) == 1
        alert.refresh_from_db()
        assert alert.level == 2 and alert.next_escalation_at is None
        assert set(Notification.objects.filter(level=2).values_list("user__username", flat=True)) == {"acme.admin"}
        assert services.escalation_sweep(now=opened + timedelta(days=1)) == 0

    def test_acknowledging_stops_the_escalation(self, demo):
        tenant = demo["tenants"]["acme"]
        policy(tenant)
        alert = raise_alert(demo)
        act(services.alert_acknowledge, "acme.warehouse", alert)
        assert services.escalation_sweep(now=timezone.now() + timedelta(hours=1)) == 0
        alert.refresh_from_db()
        assert alert.level == 0

    def test_the_most_specific_policy_applies(self, demo):
        tenant = demo["tenants"]["acme"]
        policy(tenant, levels=[{"after_seconds": 999, "roles": ["planner"]}])
        specific = policy(tenant, kind="low_stock", levels=[{"after_seconds": 30, "roles": ["planner"]}])
        policy(tenant, kind="low_stock", min_severity=30, levels=[{"after_seconds": 5, "roles": ["planner"]}])
        alert = raise_alert(demo, severity=20)
        assert alert.policy_id == specific.pk

    def test_escalation_reaches_the_escalated_roles_cards(self, demo):
        from messaging.selectors import message_list

        tenant = demo["tenants"]["acme"]
        policy(tenant)
        alert = raise_alert(demo)
        room = room_of("acme", "sup-a")
        assert not any(m.kind == "event" for m in message_list(user("acme.planner"), room))
        services.escalation_sweep(now=alert.next_escalation_at)
        assert any(m.payload.get("escalation") for m in message_list(user("acme.planner"), room))

    @pytest.mark.django_db(transaction=True)
    def test_two_sweepers_at_once_escalate_each_alert_once(self, demo_tx):
        tenant = demo_tx["tenants"]["acme"]
        policy(tenant)
        for i in range(40):
            raise_alert(demo_tx, key=f"many-{i}", partner="sup-a" if i % 2 else "sup-b")
        due = timezone.now() + timedelta(seconds=61)
        counts = []
        barrier = threading.Barrier(2)

        def sweep():
            try:
                barrier.wait()
                counts.append(services.escalation_sweep(now=due, batch_size=7))
            finally:
                connections.close_all()

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(counts) == 40
        assert set(Alert.objects.values_list("level", flat=True)) == {1}
        assert Notification.objects.filter(kind="escalation").count() == 40
        # One escalation card under each card of each alert, once; both sweepers' appends chained.
        assert AlertEvent.objects.filter(action="escalated").count() == 40
        cards = Message.objects.filter(payload__escalation=True)
        assert sorted(cards.values_list("payload__alert", "room_id")) == sorted(
            (a.pk, ref["room"]) for a in Alert.objects.all() for ref in a.cards
        )
        for room in Room.objects.filter(tenant=tenant):
            assert chain_verify(room).ok, room


class TestEscalationBatch:
    """A sweep batch is written set-wise: rooms locked once, rows in bulk, frames after commit."""

    def raise_many(self, demo, n, prefix="b"):
        # Alternating partners: cards in sup-a's room, sup-b's room and the internal room.
        return [raise_alert(demo, key=f"{prefix}-{i}", partner="sup-a" if i % 2 else "sup-b") for i in range(n)]

    def test_a_batch_keeps_each_rooms_chain_gapless_and_valid(self, demo):
        tenant = demo["tenants"]["acme"]
        policy(tenant)
        raised = self.raise_many(demo, 12)
        from tests.messaging.helpers import post

        post("supa.rep", room_of("acme", "sup-a"), "在路上")  # the rooms hold other messages too
        heads = {r.pk: r.last_seq for r in Room.objects.filter(tenant=tenant)}
        assert services.escalation_sweep(now=raised[-1].next_escalation_at, batch_size=5) == 12
        rooms = Room.objects.filter(tenant=tenant, pk__in={ref["room"] for a in raised for ref in a.cards})
        assert rooms.count() == 3
        for room in rooms:
            assert chain_verify(room).ok, room
            escalations = list(Message.objects.filter(room=room, payload__escalation=True).order_by("seq"))
            # Gapless after the head the sweep found, in due order, one per alert with a card here.
            assert [m.seq for m in escalations] == list(range(heads[room.pk] + 1, room.last_seq + 1))
            here = [a for a in raised if any(ref["room"] == room.pk for ref in a.cards)]
            assert [m.payload["alert"] for m in escalations] == [a.pk for a in here]
            for message, alert in zip(escalations, here):
                card = next(ref for ref in alert.cards if ref["room"] == room.pk)
                assert (message.refers_to, message.relation, message.payload["level"]) == (card["seq"], "reply", 1)
                assert message.core_audience == ",planner,warehouse," and message.kind == "event"
                assert [a["name"] for a in message.actions] == list(services.LIFECYCLE_ACTIONS)
        assert AlertEvent.objects.filter(action="escalated", level=1).count() == 12
        assert Notification.objects.filter(kind="escalation", level=1, user__username="acme.planner").count() == 12

    def test_a_sweeps_statements_do_not_grow_with_the_alerts_due(self, demo):
        tenant = demo["tenants"]["acme"]
        policy(tenant)
        raised = self.raise_many(demo, 55)
        due = raised[-1].next_escalation_at
        later = due + timedelta(days=1)
        Alert.objects.filter(pk__in=[a.pk for a in raised[5:]]).update(next_escalation_at=later)
        with CaptureQueriesContext(connection) as five:
            assert services.escalation_sweep(now=due) == 5
        Alert.objects.filter(pk__in=[a.pk for a in raised[5:]]).update(next_escalation_at=due)
        with CaptureQueriesContext(connection) as fifty:
            assert services.escalation_sweep(now=due) == 50
        assert len(fifty) == len(five), [q["sql"][:80] for q in fifty.captured_queries]
        assert len(fifty) <= 16, [q["sql"][:80] for q in fifty.captured_queries]

    def test_frames_go_out_after_commit_in_one_go(self, demo, monkeypatch, django_capture_on_commit_callbacks):
        tenant = demo["tenants"]["acme"]
        policy(tenant)
        raised = self.raise_many(demo, 6)
        single, many = [], []
        monkeypatch.setattr(realtime, "_group_send", lambda group, event, urgent=False: single.append((group, event)))
        monkeypatch.setattr(realtime, "_group_send_many", lambda events, urgent=False: many.append(events))
        with django_capture_on_commit_callbacks() as callbacks:
            assert services.escalation_sweep(now=raised[-1].next_escalation_at) == 6
            assert not single and not many  # nothing before commit
        for callback in callbacks:
            callback()
        assert not single  # no publish one at a time
        # One hand-over for the batch (one event loop and Redis connection where there is no
        # publishing loop): its alert frames, then its room messages.
        assert len(many) == 1
        frames = [(g, e) for g, e in many[0] if e["type"] == "user.frame"]
        messages = [(g, e) for g, e in many[0] if e["type"] != "user.frame"]
        assert many[0] == frames + messages
        posted = Message.objects.filter(payload__escalation=True)
        assert sorted((g, e["seq"]) for g, e in messages) == sorted((f"room.{m.room_id}", m.seq) for m in posted)
        assert all(e["type"] == "room.message" for _g, e in messages)
        for alert in raised:
            # One publish per alert, for every board that shows it (the tenant's sockets filter it).
            told = [g for g, e in frames if e["frame"]["id"] == alert.pk]
            assert told == [f"tenant.{tenant.pk}"], alert.pk
            event = next(e for _g, e in frames if e["frame"]["id"] == alert.pk)
            assert event["frame"]["level"] == 1 and event["tenant"] == tenant.pk and event["partners"] == [alert.partner_id]

    def test_a_failing_batch_leaves_everything_as_it_was(self, demo, monkeypatch, django_capture_on_commit_callbacks):
        tenant = demo["tenants"]["acme"]
        policy(tenant)
        raised = self.raise_many(demo, 4)
        heads = {r.pk: (r.last_seq, r.last_hash) for r in Room.objects.filter(tenant=tenant)}

        def boom(*args, **kwargs):
            raise RuntimeError("killed mid-batch")

        monkeypatch.setattr(Notification.objects, "bulk_create", boom)
        with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
            services.escalation_sweep(now=raised[-1].next_escalation_at)
        assert callbacks == []
        assert set(Alert.objects.values_list("level", flat=True)) == {0}
        assert not AlertEvent.objects.filter(action="escalated").exists()
        assert not Message.objects.filter(payload__escalation=True).exists()
        assert {r.pk: (r.last_seq, r.last_hash) for r in Room.objects.filter(tenant=tenant)} == heads
        monkeypatch.undo()
        assert services.escalation_sweep(now=raised[-1].next_escalation_at) == 4  # the next sweep takes them

    def test_a_policy_shortened_since_stops_without_a_card(self, demo):
        tenant = demo["tenants"]["acme"]
        p = policy(tenant)
        first, second = self.raise_many(demo, 2)
        EscalationPolicy.objects.filter(pk=p.pk).update(levels=[])
        assert services.escalation_sweep(now=second.next_escalation_at) == 2
        assert set(Alert.objects.values_list("level", "next_escalation_at")) == {(0, None)}
        assert not Message.objects.filter(payload__escalation=True).exists()


class TestAlertsEndpoint(TenantEndpointChecks):
    path = "alerts/"
    viewer = "acme.warehouse"
    model = Alert

    def foreign_object_id(self, demo):
        return raise_alert(demo, key="f", tenant="globex").pk

    def own_object_id(self, demo):
        return raise_alert(demo, key="o").pk


class TestPoliciesEndpoint(TenantCreateChecks):
    path = "escalation-policies/"
    viewer = "acme.buyer"
    no_role_user = "acme.warehouse"
    model = EscalationPolicy
    create_payload = {"name": "库存", "kind": "low_stock", "min_severity": "warning",
                      "levels": [{"after_seconds": 300, "roles": ["planner"], "users": ["acme.planner"]}]}

    def foreign_object_id(self, demo):
        return policy(demo["tenants"]["globex"]).pk

    def own_object_id(self, demo):
        return policy(demo["tenants"]["acme"]).pk

    def test_admin_creates_and_edits(self, demo, api):
        api.as_user(user("acme.admin"))
        response = api.post(self.url(), self.create_payload, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["min_severity"] == "warning"
        assert response.json()["levels"][0]["channels"] == ["in_app"]
        pk = response.json()["id"]
        assert api.patch(self.url(pk=pk), {"active": False}, format="json").json()["active"] is False

    @pytest.mark.parametrize(
        "levels",
        [
            [],
            [{"after_seconds": 0, "roles": ["planner"]}],
            [{"after_seconds": 10}],
            [{"after_seconds": 10, "roles": ["supplier_rep"]}],
            [{"after_seconds": 10, "users": ["globex.buyer"]}],
            [{"after_seconds": 10, "roles": ["planner"], "channels": ["pigeon"]}],
            [{"after_seconds": 10, "roles": ["planner"], "extra": 1}],
            "soon",
            [{"after_seconds": 10, "roles": ["planner"]}] * 11,
        ],
    )
    def test_bad_levels_are_400(self, demo, api, levels):
        api.as_user(user("acme.admin"))
        response = api.post(self.url(), {**self.create_payload, "levels": levels}, format="json")
        assert_error(response, 400)
        assert not EscalationPolicy.objects.exists()


def test_kpis(demo, api):
    a = raise_alert(demo, key="k-a")
    raise_alert(demo, key="k-b", partner="sup-b")
    Alert.objects.filter(pk=a.pk).update(opened_at=timezone.now() - timedelta(minutes=10))
    act(services.alert_acknowledge, "acme.warehouse", a)
    act(services.alert_resolve, "acme.warehouse", a)
    api.as_user(user("acme.admin"))
    body = api.get("/api/v1/t/acme/kpis/alerts/").json()
    assert body["total"] == 2 and body["open"] == 1
    assert 590 <= body["time_to_acknowledge"]["average"] <= 700 and body["time_to_resolve"]["count"] == 1
    assert {r["supplier"]: r["count"] for r in body["by_supplier"]} == {"sup-a": 1, "sup-b": 1}
    assert body["by_sku"] == [{"sku": "SKU-9", "count": 2}]
    for bad in ["?since=nope", "?since=2026-01-01T00:00:00Z&until=2025-01-01T00:00:00Z", "?since=2020-01-01T00:00:00Z"]:
        assert_error(api.get("/api/v1/t/acme/kpis/alerts/" + bad), 400)
    api.as_user(user("supa.rep"))
    assert api.get("/api/v1/t/acme/kpis/alerts/").json()["total"] == 1  # only what they may see



def test_the_bot_lists_my_open_alerts(demo):
    from tests.messaging.helpers import post

    raise_alert(demo)
    room = room_of("acme", "sup-a")
    post("acme.warehouse", room, "@bot 我的预警")
    answer = Message.objects.get(room=room, kind="bot")
    assert answer.payload["intent"] == "alerts" and "SKU-9" in answer.body


def test_an_alert_escalated_to_me_by_name_is_mine(demo, api):
    tenant = demo["tenants"]["acme"]
    policy(tenant, levels=[{"after_seconds": 1, "roles": [], "users": ["acme.buyer"]}])
    alert = raise_alert(demo)
    api.as_user(user("acme.buyer"))
    assert api.get("/api/v1/t/acme/alerts/?mine=1").json()["results"] == []
    services.escalation_sweep(now=alert.next_escalation_at)
    assert [a["id"] for a in api.get("/api/v1/t/acme/alerts/?mine=1").json()["results"]] == [alert.pk]
