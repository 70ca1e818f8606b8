"""Movement ingestion: idempotent, all-or-nothing with row-level errors, exact under concurrency."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from inventory.models import SKU, StockLevel, StockMovement, Warehouse
from tests.api_contract import TenantCreateChecks, assert_error, user
from tests.inventory.helpers import ingest, movement, stock_world

pytestmark = pytest.mark.django_db
URL = "/api/v1/t/acme/stock/movements/"


def on_hand(tenant, code="SKU-T1", wh="WH-T"):
    return StockLevel.objects.get(tenant=tenant, sku__code=code, warehouse__code=wh).on_hand


class TestIngestion:
    def test_one_object_or_a_list(self, demo, api):
        tenant, *_ = stock_world(demo, opening=0)
        api.as_user(user("acme.warehouse"))
        response = api.post(URL, movement(delta=10), format="json")
        assert response.status_code == 201 and response.json() == {"created": 1, "duplicates": 0}
        response = api.post(URL, [movement(delta=5), movement(delta=-3)], format="json")
        assert response.json() == {"created": 2, "duplicates": 0}
        assert on_hand(tenant) == 12

    def test_replaying_a_batch_changes_nothing(self, demo, api):
        tenant, *_ = stock_world(demo, opening=0)
        batch = [movement(delta=7, external_id=f"erp-{i}") for i in range(50)]
        api.as_user(user("acme.warehouse"))
        assert api.post(URL, batch, format="json").json() == {"created": 50, "duplicates": 0}
        assert api.post(URL, batch, format="json").json() == {"created": 0, "duplicates": 50}
        assert on_hand(tenant) == 350
        assert StockMovement.objects.filter(tenant=tenant).count() == 50

    def test_duplicates_inside_one_batch_count_once(self, demo):
        tenant, *_ = stock_world(demo, opening=0)
        result = ingest(tenant, [movement(delta=4, external_id="x"), movement(delta=4, external_id="x")])
        assert result == {"created": 1, "duplicates": 1} and on_hand(tenant) == 4

    def test_a_bad_row_rejects_the_batch_with_row_level_errors(self, demo, api):
        tenant, *_ = stock_world(demo, opening=100)
        rows = [
            movement(delta=1),
            movement(sku="NOPE"),
            movement(delta=0),
            {**movement(), "delta": "5"},
            {**movement(), "occurred_at": "yesterday"},
            {**movement(), "colour": "red"},
            movement(warehouse="WH-SH-globex"),
            "not an object",
            {**movement(), "external_id": ""},
            {**movement(), "delta": True},
            {**movement(), "occurred_at": (timezone.now() + timedelta(days=3)).isoformat()},
        ]
        api.as_user(user("acme.warehouse"))
        before = StockMovement.objects.count()
        response = api.post(URL, rows, format="json")
        assert_error(response, 400, "validation_error")
        errors = response.json()["error"]["fields"]["rows"]
        assert set(errors) == {str(i) for i in range(1, 11)}
        assert "sku" in errors["1"] and "delta" in errors["2"] and "delta" in errors["3"]
        assert "occurred_at" in errors["4"] and "colour" in errors["5"] and "warehouse" in errors["6"]
        assert "non_field_errors" in errors["7"] and "external_id" in errors["8"] and "delta" in errors["9"]
        assert "occurred_at" in errors["10"]
        assert StockMovement.objects.count() == before and on_hand(tenant) == 100

    @pytest.mark.parametrize("body", [[], {}, "text", 5, None])
    def test_empty_or_non_movement_bodies_are_400(self, demo, api, body):
        stock_world(demo)
        api.as_user(user("acme.warehouse"))
        assert_error(api.post(URL, body, format="json"), 400)

    def test_more_than_5000_rows_is_400(self, demo, api):
        stock_world(demo)
        api.as_user(user("acme.warehouse"))
        response = api.post(URL, [movement(external_id=f"big-{i}") for i in range(5001)], format="json")
        assert_error(response, 400)
        assert not StockMovement.objects.filter(external_id__startswith="big-").exists()

    def test_a_full_batch_of_5000_is_applied(self, demo):
        tenant, *_ = stock_world(demo, opening=0, safety=0, reorder=0)
        result = ingest(tenant, [movement(delta=1, external_id=f"full-{i}") for i in range(5000)])
        assert result == {"created": 5000, "duplicates": 0} and on_hand(tenant) == 5000

    def test_another_tenants_codes_are_unknown_here(self, demo):
        tenant, *_ = stock_world(demo)
        globex = demo["tenants"]["globex"]
        from inventory import services

        services.warehouse_create(tenant=globex, actor=user("globex.buyer"), code="GX-ONLY", name="x")
        with pytest.raises(Exception):
            ingest(tenant, [movement(warehouse="GX-ONLY")])

    def test_roles_without_stock_writing_get_403(self, demo, api):
        stock_world(demo)
        for username in ["acme.buyer", "acme.auditor", "supa.rep"]:
            api.as_user(user(username))
            assert_error(api.post(URL, movement(), format="json"), 403)

    def test_external_ids_are_per_tenant(self, demo):
        tenant, *_ = stock_world(demo, opening=0)
        from inventory import services

        globex = demo["tenants"]["globex"]
        services.warehouse_create(tenant=globex, actor=user("globex.buyer"), code="WH-T", name="x")
        services.sku_create(tenant=globex, actor=user("globex.buyer"), code="SKU-T1", name="x")
        ingest(tenant, [movement(delta=2, external_id="shared")])
        services.stock_movement_ingest(tenant=globex, actor=user("globex.buyer"), rows=[movement(delta=3, external_id="shared")])
        assert on_hand(tenant) == 2 and on_hand(globex) == 3

    def test_ingest_query_count_does_not_grow_with_the_batch(self, demo, django_assert_max_num_queries):
        tenant, *_ = stock_world(demo, opening=0, safety=0, reorder=0)
        with django_assert_max_num_queries(12):
            ingest(tenant, [movement(delta=1, external_id=f"q-{i}") for i in range(1500)])


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_on_the_same_sku_give_exact_totals(demo_tx):
    tenant, *_ = stock_world(demo_tx, opening=0, safety=0, reorder=0)

    def batch(n):
        try:
            rows = [movement(delta=(1 if i % 2 else -1) * (i % 7 + 1), external_id=f"c{n}-{i}") for i in range(400)]
            # and overlapping ids between threads: each applied once
            rows += [movement(delta=1000, external_id=f"shared-{i}") for i in range(5)]
            ingest(tenant, rows)
            return sum(r["delta"] for r in rows[:400])
        finally:
            connections.close_all()

    with ThreadPoolExecutor(6) as pool:
        sums = list(pool.map(batch, range(12)))
    assert on_hand(tenant) == sum(sums) + 5 * 1000
    assert StockMovement.objects.filter(tenant=tenant).count() == 12 * 400 + 5


class TestWarehousesEndpoint(TenantCreateChecks):
    path = "warehouses/"
    viewer = "acme.buyer"
    no_role_user = "acme.auditor"
    model = Warehouse
    create_payload = {"code": "WH-NEW", "name": "新仓"}

    def foreign_object_id(self, demo):
        from inventory import services

        return services.warehouse_create(tenant=demo["tenants"]["globex"], actor=None, code="GX-1", name="x").pk

    def own_object_id(self, demo):
        from inventory import services

        return services.warehouse_create(tenant=demo["tenants"]["acme"], actor=None, code="AC-1", name="x").pk


class TestSkusEndpoint(TenantCreateChecks):
    path = "skus/"
    viewer = "acme.buyer"
    no_role_user = "acme.auditor"
    model = SKU
    create_payload = {"code": "SKU-NEW", "name": "新物料", "default_supplier": "sup-a"}

    def foreign_object_id(self, demo):
        from inventory import services

        return services.sku_create(tenant=demo["tenants"]["globex"], actor=None, code="GX-1", name="x").pk

    def own_object_id(self, demo):
        from inventory import services

        return services.sku_create(tenant=demo["tenants"]["acme"], actor=None, code="AC-1", name="x").pk


@pytest.mark.parametrize(
    "body, field",
    [
        ({"code": "SKU-1", "name": "x", "default_supplier": "bank"}, "default_supplier"),
        ({"code": "SKU-1", "name": "x", "default_supplier": "globex"}, "default_supplier"),
        ({"code": 5, "name": "x"}, "code"),
        ({"name": "x"}, "code"),
        ({"code": "SKU-1", "name": "x", "tenant": 2}, "tenant"),
    ],
)
def test_sku_bad_input(demo, api, body, field):
    api.as_user(user("acme.buyer"))
    response = api.post("/api/v1/t/acme/skus/", body, format="json")
    assert_error(response, 400)
    assert field in response.json()["error"]["fields"]
    assert not SKU.objects.exists()


def test_duplicate_sku_code_is_400(demo, api):
    api.as_user(user("acme.buyer"))
    assert api.post("/api/v1/t/acme/skus/", {"code": "SKU-1", "name": "x"}, format="json").status_code == 201
    assert_error(api.post("/api/v1/t/acme/skus/", {"code": "SKU-1", "name": "y"}, format="json"), 400)


def test_supplier_sees_only_its_skus_and_stock(demo, api):
    tenant, *_ = stock_world(demo)
    from inventory import services

    services.sku_create(tenant=tenant, actor=None, code="SKU-B", name="b", default_supplier=demo["organizations"]["sup-b"])
    api.as_user(user("supa.rep"))
    assert [r["code"] for r in api.get("/api/v1/t/acme/skus/").json()["results"]] == ["SKU-T1"]
    stock = api.get("/api/v1/t/acme/stock/").json()["results"]
    assert [(r["sku"], r["on_hand"]) for r in stock] == [("SKU-T1", 1000)]
    api.as_user(user("supb.rep"))
    assert api.get("/api/v1/t/acme/stock/?sku=SKU-T1").json()["results"] == []


def test_stock_endpoint_filters_and_lines(demo, api):
    stock_world(demo)
    api.as_user(user("acme.warehouse"))
    rows = api.get("/api/v1/t/acme/stock/?sku=SKU-T1&warehouse=WH-T").json()["results"]
    assert rows == [rows[0]] and rows[0]["on_hand"] == 1000 and rows[0]["safety_stock"] == 500
    assert rows[0]["below_safety_stock"] is False
    assert api.get("/api/v1/t/acme/stock/?sku=NOPE").json()["results"] == []


def test_rule_checks_are_one_query_per_batch_not_per_sku(demo, django_assert_max_num_queries):
    from inventory import services
    from inventory.models import ReplenishmentRule

    tenant, sku, warehouse, rule = stock_world(demo, opening=0, safety=0, reorder=0)
    skus = SKU.objects.bulk_create([SKU(tenant=tenant, code=f"R-{i}", name="r") for i in range(300)])
    ReplenishmentRule.objects.bulk_create(
        [ReplenishmentRule(tenant=tenant, sku=s, warehouse=warehouse, safety_stock=5, reorder_point=10) for s in skus]
    )
    services.stock_movement_ingest(tenant=tenant, actor=None, rows=[movement(sku=s.code, delta=100) for s in skus])
    with django_assert_max_num_queries(12):  # 300 rules touched, none crossed
        ingest(tenant, [movement(sku=s.code, delta=-1) for s in skus])
