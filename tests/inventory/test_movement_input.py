"""Movement ingestion input: every kind of bad row is a 400 naming its index and field and changes
nothing; whatever text a valid row carries is stored exactly; overlapping batches never deadlock."""

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone as dt_timezone

import pytest
from django.db import connection, connections
from django.utils import timezone

from inventory.models import StockLevel, StockMovement, Warehouse
from tests.api_contract import assert_error, user
from tests.inventory.helpers import ingest, movement, stock_world, wait_until_a_backend_waits_for_a_lock

pytestmark = pytest.mark.django_db
URL = "/api/v1/t/acme/stock/movements/"
LIMIT = 10**12


def on_hand(tenant):
    return StockLevel.objects.get(tenant=tenant, sku__code="SKU-T1", warehouse__code="WH-T").on_hand


def post_raw(api, rows):
    """Posts rows as JSON with every non-ASCII character escaped, so lone surrogates survive."""
    api.as_user(user("acme.warehouse"))
    return api.post(URL, json.dumps(rows, ensure_ascii=True), content_type="application/json")


def without(key):
    row = movement()
    del row[key]
    return row


def with_(**fields):
    return {**movement(), **fields}


BAD_ROWS = [
    # (case, row, field named in the errors)
    ("unknown field", with_(colour="red"), "colour"),
    ("unknown field: tenant", with_(tenant=2), "tenant"),
    ("external_id missing", without("external_id"), "external_id"),
    ("external_id empty", with_(external_id=""), "external_id"),
    ("external_id too long", with_(external_id="x" * 101), "external_id"),
    ("external_id a number", with_(external_id=17), "external_id"),
    ("external_id null", with_(external_id=None), "external_id"),
    ("external_id with NUL", with_(external_id="a\x00b"), "external_id"),
    ("external_id with a lone surrogate", with_(external_id="a\ud800b"), "external_id"),
    ("sku missing", without("sku"), "sku"),
    ("sku unknown", with_(sku="NOPE"), "sku"),
    ("sku a number", with_(sku=1), "sku"),
    ("sku a list", with_(sku=["SKU-T1"]), "sku"),
    ("sku an object", with_(sku={"code": "SKU-T1"}), "sku"),
    ("sku with NUL", with_(sku="SKU-T1\x00"), "sku"),
    ("sku with a lone surrogate", with_(sku="SKU-\udfff"), "sku"),
    ("warehouse missing", without("warehouse"), "warehouse"),
    ("warehouse unknown", with_(warehouse="NOPE"), "warehouse"),
    ("warehouse of another tenant", with_(warehouse="WH-SH-globex"), "warehouse"),
    ("warehouse a number", with_(warehouse=3), "warehouse"),
    ("warehouse with NUL", with_(warehouse="WH-T\x00"), "warehouse"),
    ("delta missing", without("delta"), "delta"),
    ("delta zero", with_(delta=0), "delta"),
    ("delta a string", with_(delta="5"), "delta"),
    ("delta a float", with_(delta=5.0), "delta"),
    ("delta a fraction", with_(delta=1.5), "delta"),
    ("delta true", with_(delta=True), "delta"),
    ("delta false", with_(delta=False), "delta"),
    ("delta null", with_(delta=None), "delta"),
    ("delta above the limit", with_(delta=LIMIT + 1), "delta"),
    ("delta below the limit", with_(delta=-LIMIT - 1), "delta"),
    ("delta beyond bigint", with_(delta=2**70), "delta"),
    ("reason too long", with_(reason="r" * 51), "reason"),
    ("reason a number", with_(reason=5), "reason"),
    ("reason null", with_(reason=None), "reason"),
    ("reason with NUL", with_(reason="sale\x00"), "reason"),
    ("reason with a lone surrogate", with_(reason="\udc00"), "reason"),
    ("occurred_at missing", without("occurred_at"), "occurred_at"),
    ("occurred_at words", with_(occurred_at="yesterday"), "occurred_at"),
    ("occurred_at empty", with_(occurred_at=""), "occurred_at"),
    ("occurred_at a number", with_(occurred_at=1700000000), "occurred_at"),
    ("occurred_at null", with_(occurred_at=None), "occurred_at"),
    ("occurred_at month 13", with_(occurred_at="2026-13-01T00:00:00+00:00"), "occurred_at"),
    ("occurred_at day 32", with_(occurred_at="2026-01-32T00:00:00"), "occurred_at"),
    ("occurred_at hour 25", with_(occurred_at="2026-01-01T25:00:00"), "occurred_at"),
    ("occurred_at with NUL", with_(occurred_at="2026-01-01T00:00:00\x00"), "occurred_at"),
    ("occurred_at in the future", with_(occurred_at=(timezone.now() + timedelta(days=3)).isoformat()), "occurred_at"),
    ("occurred_at at the end of time", with_(occurred_at="9999-12-31T23:59:59-14:00"), "occurred_at"),
    ("occurred_at before year 1 in UTC", with_(occurred_at="0001-01-01T00:00:00+14:00"), "occurred_at"),
    ("not an object: text", "a movement", "non_field_errors"),
    ("not an object: list", [movement()], "non_field_errors"),
    ("not an object: number", 5, "non_field_errors"),
    ("not an object: null", None, "non_field_errors"),
]


@pytest.mark.parametrize("case, row, field", BAD_ROWS, ids=[case for case, _row, _field in BAD_ROWS])
def test_each_kind_of_bad_row_is_400_naming_index_and_field_and_changes_nothing(demo, api, case, row, field):
    tenant, *_ = stock_world(demo, opening=100)
    rows = [movement(delta=1), movement(delta=2), row, movement(delta=3)]
    before = StockMovement.objects.count()
    response = post_raw(api, rows)
    assert_error(response, 400, "validation_error")
    errors = response.json()["error"]["fields"]["rows"]
    assert list(errors) == ["2"], case
    assert field in errors["2"] and all(isinstance(m, str) and m for m in errors["2"][field]), case
    assert StockMovement.objects.count() == before and on_hand(tenant) == 100


def test_several_bad_fields_of_one_row_are_all_named(demo, api):
    stock_world(demo)
    row = {"external_id": "", "sku": "NOPE", "warehouse": None, "delta": 0, "reason": 7, "occurred_at": "no", "x": 1}
    errors = post_raw(api, [row])
    assert_error(errors, 400, "validation_error")
    assert set(errors.json()["error"]["fields"]["rows"]["0"]) == {
        "external_id", "sku", "warehouse", "delta", "reason", "occurred_at", "x"}


def test_an_inactive_warehouse_takes_no_movements(demo, api):
    tenant, *_ = stock_world(demo, opening=100)
    Warehouse.objects.filter(tenant=tenant, code="WH-T").update(active=False)
    response = post_raw(api, [movement()])
    assert_error(response, 400, "validation_error")
    assert "warehouse" in response.json()["error"]["fields"]["rows"]["0"]


def test_the_limits_themselves_are_accepted(demo, api):
    tenant, *_ = stock_world(demo, opening=0, safety=0, reorder=0)
    rows = [
        movement(delta=LIMIT, external_id="e" * 100, reason="r" * 50),
        movement(delta=-LIMIT),
        {**movement(delta=1), "reason": ""},
        {key: value for key, value in movement(delta=1).items() if key != "reason"},  # reason is optional
    ]
    response = post_raw(api, rows)
    assert response.status_code == 201 and response.json() == {"created": 4, "duplicates": 0}
    assert on_hand(tenant) == 2
    assert StockMovement.objects.get(external_id="e" * 100).reason == "r" * 50


@pytest.mark.parametrize("body", ["[", "{\"external_id\": }", "NaN", "[1, 2,]"])
def test_malformed_json_is_400(demo, api, body):
    stock_world(demo)
    api.as_user(user("acme.warehouse"))
    before = StockMovement.objects.count()
    response = api.post(URL, body, content_type="application/json")
    assert_error(response, 400)
    assert StockMovement.objects.count() == before


def test_text_is_stored_exactly(demo, api):
    tenant, *_ = stock_world(demo, opening=0, safety=0, reorder=0)
    texts = ['quo"te', "back\\slash", "\\\"", "com,ma", "{braces}", " spaced ", "NULL", "", "tab\tnew\nline",
             "仓库出库", "emoji 📦", "\\N", "'single'", "semi;colon", "\u00a0nbsp"]
    rows = [movement(delta=1, external_id=f"ext-{t}" if t else "ext-empty", reason=t) for t in texts]
    response = post_raw(api, rows)
    assert response.status_code == 201 and response.json()["created"] == len(texts)
    stored = dict(StockMovement.objects.filter(tenant=tenant).values_list("external_id", "reason"))
    assert stored == {row["external_id"]: row["reason"] for row in rows}


def test_times_are_stored_exactly_naive_ones_in_the_tenants_zone(demo, api):
    tenant, *_ = stock_world(demo, opening=0, safety=0, reorder=0)
    rows = {
        "utc": ("2026-01-02T03:04:05.123456+00:00", datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        "z": ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        "offset": ("2026-01-02T03:04:05.000001-05:30",
                   datetime(2026, 1, 2, 8, 34, 5, 1, tzinfo=UTC)),
        "naive": ("2026-01-02T08:00:00", datetime(2026, 1, 2, tzinfo=UTC)),  # acme: Asia/Shanghai, UTC+8
        "space": ("2026-01-02 08:00:00+08:00", datetime(2026, 1, 2, tzinfo=UTC)),
        "old": ("1900-01-01T00:00:00+00:00", datetime(1900, 1, 1, tzinfo=UTC)),
        "first": ("0001-01-01T12:00:00+00:00", datetime(1, 1, 1, 12, tzinfo=UTC)),
        "odd offset": ("2026-01-02T03:04:05+05:45:30", datetime(2026, 1, 1, 21, 18, 35, tzinfo=UTC)),
        # offsets PostgreSQL's parser refuses (beyond ±15:59, fractions of a second) are still times
        "wide offset": ("2026-01-02T03:04:05+23:00", datetime(2026, 1, 1, 4, 4, 5, tzinfo=UTC)),
        "fractional offset": ("2026-01-02T03:04:05+01:00:00.5", datetime(2026, 1, 2, 2, 4, 4, 500000, tzinfo=UTC)),
        "first day": ("0001-01-02T23:00:00+14:00", datetime(1, 1, 2, 9, tzinfo=UTC)),
    }
    body = [movement(delta=1, external_id=f"t-{name}") | {"occurred_at": raw} for name, (raw, _when) in rows.items()]
    response = post_raw(api, body)
    assert response.status_code == 201, response.json()
    stored = dict(StockMovement.objects.filter(tenant=tenant).values_list("external_id", "occurred_at"))
    assert {key: value.astimezone(dt_timezone.utc) for key, value in stored.items()} == {
        f"t-{name}": when for name, (_raw, when) in rows.items()}


def test_within_a_batch_the_first_of_an_external_id_counts(demo, api):
    tenant, *_ = stock_world(demo, opening=0, safety=0, reorder=0)
    rows = [movement(delta=5, external_id="b"), movement(delta=7, external_id="a"),
            movement(delta=100, external_id="b"), movement(delta=200, external_id="a")]
    response = post_raw(api, rows)
    assert response.json() == {"created": 2, "duplicates": 2}
    assert on_hand(tenant) == 12
    assert dict(StockMovement.objects.filter(tenant=tenant).values_list("external_id", "delta")) == {"a": 7, "b": 5}


def test_a_replay_mixed_with_new_rows_applies_only_the_new(demo, api):
    tenant, *_ = stock_world(demo, opening=0, safety=0, reorder=0)
    first = [movement(delta=1, external_id=f"r-{i}") for i in range(10)]
    assert post_raw(api, first).json() == {"created": 10, "duplicates": 0}
    second = first[::2] + [movement(delta=10, external_id=f"n-{i}") for i in range(3)]
    assert post_raw(api, second).json() == {"created": 3, "duplicates": 5}
    assert on_hand(tenant) == 40


def test_a_batch_is_two_statements_on_postgresql(demo, django_assert_num_queries):
    tenant, *_ = stock_world(demo, opening=0, safety=0, reorder=0)
    from inventory import services

    rows = [movement(delta=1, external_id=f"q-{i}") for i in range(1000)]
    # Two round trips, inside a savepoint of the test's transaction: the code lookup (sent with
    # the switch to generic plans), then the write, sent with its locks in the portal's lock order
    # (the rooms its alerts may post to, then its SKUs FOR KEY SHARE: see test_lock_order.py),
    # SET CONSTRAINTS (so the write checks its foreign keys rather than the commit) and the
    # switch back.
    with django_assert_num_queries(9):
        result = services.stock_movement_ingest(tenant=tenant, actor=None, rows=rows)
    assert result == {"created": 1000, "duplicates": 0}
    assert on_hand(tenant) == 1000
    with connection.cursor() as cursor:  # what follows in the transaction (rules, alerts) plans as usual
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "auto"


def test_the_schema_documents_the_movements_endpoint(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/t/{tenant}/stock/movements/"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["type"] == "array"
    movement_schema = schema["components"]["schemas"][body["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(movement_schema["properties"]) == {"external_id", "sku", "warehouse", "delta", "reason", "occurred_at"}
    assert set(movement_schema["required"]) == {"external_id", "sku", "warehouse", "delta", "occurred_at"}
    properties = movement_schema["properties"]
    assert (properties["delta"]["minimum"], properties["delta"]["maximum"]) == (-LIMIT, LIMIT)
    assert properties["external_id"]["maxLength"] == 100 and properties["reason"]["maxLength"] == 50
    assert "minLength" not in properties["reason"]  # an empty reason is accepted
    assert properties["occurred_at"]["format"] == "date-time"
    assert "201" in operation["responses"]


@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_in_different_orders_neither_deadlock_nor_double_count(demo_tx):
    tenant, *_ = stock_world(demo_tx, opening=0, safety=0, reorder=0)
    threads, rounds = 6, 4
    shared = [movement(delta=1000, external_id=f"shared-{i}") for i in range(300)]
    start = threading.Barrier(threads)

    def batch(n):
        try:
            rows = shared[:]
            random.Random(n).shuffle(rows)  # the same ids, each batch in its own order
            rows += [movement(delta=1, external_id=f"own{n}-{i}") for i in range(100)]
            start.wait()
            return [ingest(tenant, rows) for _round in range(rounds)]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(threads) as pool:
        results = [r for batch_results in pool.map(batch, range(threads)) for r in batch_results]
    assert sum(r["created"] for r in results) == 300 + threads * 100
    assert on_hand(tenant) == 300 * 1000 + threads * 100


@pytest.mark.django_db(transaction=True)
def test_the_same_ids_in_another_order_wait_rather_than_deadlock(demo_tx):
    """Batch A holds x and goes on to take y while batch B, with y and x, is waiting: B must wait
    for x before it takes y (ids are taken in one order), or A and B deadlock. A's two statements
    stand in for two single-statement batches interleaving inside the database."""
    from django.db import transaction

    tenant, *_ = stock_world(demo_tx, opening=0, safety=0, reorder=0)
    x, y = movement(delta=1, external_id="x"), movement(delta=10, external_id="y")
    a_holds_x = threading.Event()

    def batch_a():
        try:
            with transaction.atomic():
                ingest(tenant, [x])
                a_holds_x.set()
                wait_until_a_backend_waits_for_a_lock("batch B")
                return ingest(tenant, [y])
        finally:
            connections.close_all()

    def batch_b():
        try:
            a_holds_x.wait(10)
            return ingest(tenant, [y, x])
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(batch_a), pool.submit(batch_b)
        assert a.result(30) == {"created": 1, "duplicates": 0}
        assert b.result(30) == {"created": 0, "duplicates": 2}
    assert on_hand(tenant) == 11
