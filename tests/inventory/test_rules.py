"""Replenishment rules turn stock changes into alerts: crossings, steps, recovery, sweeps."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from alerts.models import Alert
from inventory import services
from inventory.models import ReplenishmentRequest, ReplenishmentRule
from messaging.models import Message
from tests.api_contract import assert_error, user
from tests.inventory.helpers import ingest, movement, stock_world
from tests.messaging.helpers import room_of

pytestmark = pytest.mark.django_db


def alerts(kind=None):
    queryset = Alert.objects.order_by("pk")
    return list(queryset.filter(kind=kind) if kind else queryset)


def test_falling_below_safety_stock_raises_one_alert_not_a_storm(demo):
    tenant, *_ = stock_world(demo, safety=500, reorder=0, opening=600)
    for _ in range(5):
        ingest(tenant, [movement(delta=-40)])  # 560, 520, 480 (crossing), 440, 400
    low = alerts("low_stock")
    assert len(low) == 1 and low[0].state == "open" and low[0].payload["on_hand"] == 480
    assert low[0].partner.slug == "sup-a" and low[0].core_audience == ",buyer,coordinator,logistics,planner,warehouse,"


def test_a_hundred_step_falling_by_350_raises_three_alerts(demo):
    tenant, *_ = stock_world(demo, safety=0, reorder=0, step=100, opening=1000)
    ingest(tenant, [movement(delta=-350)])
    steps = alerts("step_drop")
    assert len(steps) == 3
    assert sorted(a.payload["boundary"] for a in steps) == [700, 800, 900]
    ingest(tenant, [movement(delta=-40)])  # 610: no new boundary (next is 600)
    assert len(alerts("step_drop")) == 3
    ingest(tenant, [movement(delta=-20)])  # 590: crosses 600
    assert len(alerts("step_drop")) == 4


def test_steps_count_from_the_new_height_after_a_restock(demo):
    tenant, sku, warehouse, rule = stock_world(demo, safety=0, reorder=0, step=100, opening=1000)
    ingest(tenant, [movement(delta=-150)])  # 850: one alert (900)
    ingest(tenant, [movement(delta=+500)])  # 1350: the reference moves up
    ingest(tenant, [movement(delta=-120)])  # 1230: crosses 1250
    assert sorted(a.payload["boundary"] for a in alerts("step_drop")) == [900, 1250]


def test_one_batch_with_many_movements_is_one_crossing(demo):
    tenant, *_ = stock_world(demo, safety=500, reorder=0, opening=1000)
    ingest(tenant, [movement(delta=-100) for _ in range(8)])  # 1000 -> 200
    assert len(alerts("low_stock")) == 1


def test_stock_back_above_the_line_recovers_the_alert(demo):
    tenant, *_ = stock_world(demo, safety=500, reorder=800, opening=1000)
    ingest(tenant, [movement(delta=-700)])  # 300
    assert {a.kind for a in alerts()} == {"low_stock"}  # below safety: reorder point is moot
    ingest(tenant, [movement(delta=+400)])  # 700: above safety again
    low = alerts("low_stock")[0]
    assert low.state == "resolved" and low.recovered and low.next_escalation_at is None
    ingest(tenant, [movement(delta=-300)])  # 400: a new crossing, a new alert
    assert len(alerts("low_stock")) == 2


def test_reorder_point_alert_suggests_a_quantity(demo):
    tenant, *_ = stock_world(demo, safety=100, reorder=400, max_level=1000, opening=600)
    ingest(tenant, [movement(delta=-250)])  # 350 <= 400
    alert = alerts("reorder_point")[0]
    assert alert.payload["suggested_quantity"] == 650  # up to the maximum level


def test_a_batch_crossing_many_lines_reads_demand_once(demo):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inventory.models import SKU

    tenant, sku, warehouse, _rule = stock_world(demo, safety=100, reorder=0, max_level=1000, opening=0)
    admin = user("acme.admin")
    codes = [f"SKU-D{i}" for i in range(6)]
    for code in codes:
        other = SKU.objects.create(tenant=tenant, code=code, name=code, default_supplier=sku.default_supplier)
        services.rule_upsert(tenant=tenant, actor=admin, sku=other, warehouse=warehouse, safety_stock=100, max_level=1000)
    # SKU-D0 also gave out 1,000 three days ago.
    ingest(tenant, [movement(sku=code, delta=1000, reason="opening") for code in codes]
           + [movement(sku="SKU-D0", delta=1000, reason="opening"),
              movement(sku="SKU-D0", delta=-1000, occurred_at=timezone.now() - timedelta(days=3))])
    with CaptureQueriesContext(connection) as statements:
        ingest(tenant, [movement(sku=code, delta=-950) for code in codes])  # every one to 50, under 100
    assert len(alerts("low_stock")) == 6
    consumption_reads = [q for q in statements.captured_queries
                         if q["sql"].startswith("SELECT") and "SUM(" in q["sql"] and "stockmovement" in q["sql"]]
    assert len(consumption_reads) == 1, [q["sql"][:120] for q in statements.captured_queries]
    by_sku = {a.subject_ref: a.payload for a in alerts("low_stock")}
    assert by_sku["SKU-D0"]["days_of_cover"] == round(50 / (1950 / 14), 1)  # its own demand, not another's
    assert {by_sku[code]["days_of_cover"] for code in codes[1:]} == {round(50 / (950 / 14), 1)}
    assert {p["on_hand"] for p in by_sku.values()} == {50}
    assert {p["suggested_quantity"] for p in by_sku.values()} == {950}  # up to the maximum level


def test_alert_cards_reach_the_supplier_room_and_the_internal_room(demo):
    tenant, *_ = stock_world(demo, safety=500, reorder=0, opening=600)
    ingest(tenant, [movement(delta=-200)])
    alert = alerts("low_stock")[0]
    from messaging.models import Room

    rooms = {ref["room"] for ref in alert.cards}
    assert rooms == {room_of("acme", "sup-a").pk, Room.objects.get(tenant=tenant, kind="internal").pk}
    card = Message.objects.get(room=room_of("acme", "sup-a"), seq=alert.cards[0]["seq"])
    assert {a["name"] for a in card.actions} == {"alert_ack", "alert_start", "alert_resolve", "inventory_replenish"}


def test_the_supplier_and_the_staff_who_replenish_see_the_card(demo):
    from messaging.selectors import message_list

    tenant, *_ = stock_world(demo, safety=500, reorder=0, opening=600)
    ingest(tenant, [movement(delta=-200)])
    room = room_of("acme", "sup-a")

    def sees(username):
        return any(m.kind == "event" for m in message_list(user(username), room))

    assert sees("supa.rep") and sees("acme.warehouse") and sees("acme.buyer") and sees("acme.planner")
    # A finance approver follows the room but is not addressed; supb.rep is another supplier's.
    assert not sees("acme.finance") and not sees("supb.rep")
    assert sees("acme.auditor")  # the auditor reads whole rooms (roles.reads_whole_room)


def test_the_sweep_raises_what_inline_checks_could_not(demo):
    tenant, sku, warehouse, rule = stock_world(demo, safety=100, reorder=0, opening=300)
    ReplenishmentRule.objects.filter(pk=rule.pk).update(safety_stock=500)  # the line moved above the stock
    assert services.rule_sweep(tenant=tenant)
    assert len(alerts("low_stock")) == 1
    assert services.rule_sweep(tenant=tenant) == []  # and only once


def test_velocity_anomaly_against_its_own_baseline(demo):
    tenant, sku, warehouse, rule = stock_world(demo, safety=0, reorder=0, opening=100_000)
    ReplenishmentRule.objects.filter(pk=rule.pk).update(velocity_factor=3, velocity_window_hours=1)
    now = timezone.now()
    history = [movement(delta=-10, occurred_at=now - timedelta(hours=h)) for h in range(2, 7 * 24)]
    ingest(tenant, history)  # ~10 an hour for a week
    ingest(tenant, [movement(delta=-15, occurred_at=now - timedelta(minutes=10))])
    services.rule_sweep(tenant=tenant)
    assert not alerts("velocity")  # 15 in the last hour: normal
    ingest(tenant, [movement(delta=-80, occurred_at=now - timedelta(minutes=5))])
    services.rule_sweep(tenant=tenant)
    assert len(alerts("velocity")) == 1  # 95 in the last hour against ~10


def test_arrange_replenishment_button(demo, api):
    tenant, *_ = stock_world(demo, safety=500, reorder=0, max_level=2000, opening=600)
    ingest(tenant, [movement(delta=-200)])
    alert = alerts("low_stock")[0]
    ref = next(r for r in alert.cards if r["room"] == room_of("acme", "sup-a").pk)
    url = f"/api/v1/t/acme/rooms/{ref['room']}/messages/{ref['seq']}/actions/inventory_replenish/"
    api.as_user(user("supa.rep"))
    assert_error(api.post(url), 403)  # a supplier cannot order for the customer
    api.as_user(user("acme.warehouse"))
    response = api.post(url)
    assert response.status_code == 201, response.content
    request = ReplenishmentRequest.objects.get()
    assert request.quantity == 1600 and request.supplier.slug == "sup-a" and request.alert_id == alert.pk


class TestRulesEndpoint:
    def test_create_update_and_validation(self, demo, api):
        stock_world(demo, opening=0)
        from inventory.models import SKU, Warehouse

        services.sku_create(tenant=demo["tenants"]["acme"], actor=None, code="SKU-R", name="r")
        api.as_user(user("acme.planner"))
        body = {"sku": "SKU-R", "warehouse": "WH-T", "safety_stock": 10, "reorder_point": 20, "step": 5}
        response = api.post("/api/v1/t/acme/replenishment-rules/", body, format="json")
        assert response.status_code == 201, response.content
        pk = response.json()["id"]
        assert api.patch(f"/api/v1/t/acme/replenishment-rules/{pk}/", {"safety_stock": 15}, format="json").json()["safety_stock"] == 15
        for bad in [{"safety_stock": -1}, {"step": 0}, {"max_level": 5}, {"sku": "SKU-T1"}, {"safety_stock": "many"}]:
            assert_error(api.patch(f"/api/v1/t/acme/replenishment-rules/{pk}/", bad, format="json"), 400)
        assert ReplenishmentRule.objects.get(pk=pk).safety_stock == 15
        assert SKU.objects.exists() and Warehouse.objects.exists()

    def test_foreign_sku_is_400_and_roles_are_checked(self, demo, api):
        stock_world(demo, opening=0)
        services.sku_create(tenant=demo["tenants"]["globex"], actor=None, code="GX-R", name="r")
        api.as_user(user("acme.planner"))
        body = {"sku": "GX-R", "warehouse": "WH-T", "safety_stock": 1, "reorder_point": 2}
        assert_error(api.post("/api/v1/t/acme/replenishment-rules/", body, format="json"), 400)
        api.as_user(user("acme.buyer"))
        assert_error(api.post("/api/v1/t/acme/replenishment-rules/", {**body, "sku": "SKU-T1"}, format="json"), 403)


class TestStockBot:
    @pytest.mark.parametrize("question", ["/stock SKU-T1", "@bot SKU-T1 还有多少库存", "@bot how much stock of SKU-T1 is left?"])
    def test_answers_in_chinese_and_english(self, demo, question):
        from tests.messaging.helpers import post

        stock_world(demo, opening=600)
        room = room_of("acme", "sup-a")
        post("supa.rep", room, question)
        answer = Message.objects.get(room=room, kind="bot")
        assert answer.payload["intent"] == "stock" and "600" in answer.body

    def test_answers_only_what_the_asker_may_see(self, demo):
        from tests.messaging.helpers import post

        stock_world(demo, opening=600)
        room = room_of("acme", "sup-b")
        post("supb.rep", room, "/stock SKU-T1")  # sup-a's SKU
        answer = Message.objects.get(room=room, kind="bot")
        assert "600" not in answer.body and answer.recipient.username == "supb.rep"


def test_the_skus_supplier_sees_its_rules(demo, api):
    stock_world(demo, opening=0)  # the rule names no supplier; the SKU's default supplier is sup-a
    api.as_user(user("supa.rep"))
    assert [r["sku"] for r in api.get("/api/v1/t/acme/replenishment-rules/").json()["results"]] == ["SKU-T1"]
    api.as_user(user("supb.rep"))
    assert api.get("/api/v1/t/acme/replenishment-rules/").json()["results"] == []


def test_stock_history_uses_the_tenants_days(demo, settings):
    import zoneinfo
    from datetime import datetime

    from django.utils import timezone as tz

    from inventory.selectors import stock_level_history

    tenant, sku, warehouse, rule = stock_world(demo, opening=0, safety=0, reorder=0)
    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    today = tz.now().astimezone(shanghai).date()
    early = datetime.combine(today, datetime.min.time(), shanghai).replace(hour=2)  # 02:00 local = 18:00 UTC the day before
    ingest(tenant, [movement(delta=100, occurred_at=early - timedelta(days=1))])
    with tz.override(shanghai):
        points = dict(stock_level_history(tenant, sku, warehouse, days=3))
    assert points[today - timedelta(days=1)] == 100 and points[today - timedelta(days=2)] == 0


@pytest.mark.django_db(transaction=True)
def test_a_movement_raising_an_alert_keeps_its_statement_budget(demo_tx):
    """What the alert frame waits for, two transactions (the outbox): BEGIN, the code lookup, the
    write (with its SKUs' lock, no room) recording its crossing, COMMIT; then BEGIN, the rooms its
    alerts may post to, the SKUs and the claim of the crossing (locked and deleted; sent together),
    the rules with their demand, the alert's reads with its rooms' locks, the alert row, its cards
    with their rooms' heads, event and notifications, COMMIT. 24 statements: the outbox added the
    first COMMIT and the second BEGIN, the second SKU lock and the claim (20 when the batch raised
    in its own transaction). psycopg's pipeline mode sends the statements of each
    group without waiting for each answer; how often it then waits is its own affair."""
    from django.test.utils import CaptureQueriesContext

    tenant, *_ = stock_world(demo_tx, safety=500, reorder=0, opening=600)
    actor = user("acme.warehouse")
    with CaptureQueriesContext(connection) as queries:
        services.stock_movement_ingest(tenant=tenant, actor=actor, rows=[movement(delta=-200)])
    assert len(alerts("low_stock")) == 1 and Message.objects.filter(subject_kind="alert").count() == 2
    assert len(queries.captured_queries) == 24, [q["sql"][:100] for q in queries.captured_queries]
