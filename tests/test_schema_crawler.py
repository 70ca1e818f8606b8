"""Walks every path of the OpenAPI schema with another tenant's slug and ids.

Whatever endpoints later work adds, none may answer 2xx to a user of acme for globex's
tenant or objects, and no answer may carry globex data (checked with canary strings).
"""

import re

import pytest
from django.apps import apps
from django.urls import resolve

from scm_portal.tenancy import services
from tests.api_contract import user
from tests.factories import OrganizationFactory

CANARY = "CANARY-GLOBEX-7f3a"


@pytest.fixture
def world(full_demo):
    demo = full_demo
    globex = demo["tenants"]["globex"]
    canary_org = OrganizationFactory(slug="canary-org", name=CANARY)
    services.partnership_create(tenant=globex, actor=None, organization=canary_org, kind="supplier")
    # Invitations of globex, naming the canary (what an acme user must never read).
    services.invitation_create_member(tenant=globex, actor=None, invitee=CANARY, organization=globex.organization, role="buyer")
    services.invitation_create_partner(tenant=globex, actor=None, organization_slug=CANARY.lower(), kind="supplier")
    # Messages (and so read states, attachments) in every globex room, carrying the canary.
    from messaging.models import Room
    from tests.messaging.helpers import post_as

    for room in Room.objects.filter(tenant=globex):
        post_as(demo["users"]["globex.buyer"], room, f"{CANARY} in {room.name}")
    # An alert (with its cards and notifications) and a replenishment request in globex.
    from inventory.models import SKU, Warehouse
    from inventory.services import replenishment_request_create
    from alerts.services import alert_raise

    alert_raise(tenant=globex, kind="low_stock", severity=30, dedupe_key="canary", title=CANARY,
                partner=demo["organizations"]["sup-a"], core_audience=["buyer"], subject_kind="sku", subject_ref="GX-5001")
    from scm_portal.tenancy.access import tenant_context_for

    buyer = demo["users"]["globex.buyer"]
    replenishment_request_create(tenant=globex, actor=buyer, context=tenant_context_for(buyer, globex),
                                 sku=SKU.objects.get(tenant=globex), warehouse=Warehouse.objects.get(tenant=globex),
                                 quantity=7)
    # A PO of globex with a line, a change request and its history, naming the canary.
    from orders.models import OrderSettings
    from orders.services import purchase_orders as po_services
    from django.utils import timezone

    OrderSettings.objects.create(tenant=globex)
    as_buyer = {"tenant": globex, "actor": buyer, "context": tenant_context_for(buyer, globex)}
    po = po_services.purchase_order_create(**as_buyer, data={
        "number": "PO-CANARY", "supplier": "sup-a", "warehouse": "GX-BJ", "currency": "CNY", "note": CANARY,
        "lines": [{"sku": "GX-5001", "quantity": 5, "unit_price": "1.00", "requested_date": "2026-01-01"}]})
    po = po_services.purchase_order_send(**as_buyer, order=po)
    rep = demo["users"]["supa.rep"]
    po = po_services.purchase_order_confirm(tenant=globex, actor=rep, context=tenant_context_for(rep, globex), order=po,
                                            answers=[{"line": 1, "promised_date": "2026-02-01", "note": CANARY}])
    line = po.lines.get()
    from orders.models import Position, QualityHold, Receipt, Shipment, ShipmentLine

    shipment = Shipment.objects.create(tenant=globex, supplier=po.supplier, carrier=CANARY, tracking_number=CANARY)
    ShipmentLine.objects.create(tenant=globex, shipment=shipment, order_line=line, quantity=1)
    Position.objects.create(tenant=globex, shipment=shipment, lat=31.2, lon=121.5, at=timezone.now())
    from orders.models import RouteCell

    RouteCell.objects.create(tenant=globex, shipment=shipment, cell=0, segments=b"")
    line.shipped_quantity = 1
    line.save()
    receipt = Receipt.objects.create(tenant=globex, order=po, order_line=line, shipment=shipment, quantity=1,
                                     inspection="fail", lot=CANARY, received_by=buyer, received_at=timezone.now())
    QualityHold.objects.create(tenant=globex, order=po, order_line=line, receipt=receipt, sku=line.sku, lot=CANARY,
                               reason=CANARY)
    # Financing in globex: an invoice named by the canary, its receivable, an application through
    # to repayment (approvals, the disbursement, the repayment), the tenant's terms.
    from tests.finance.factories import tenant_financing_flow

    tenant_financing_flow("globex", CANARY)
    # Retention in globex: a policy, and a legal hold whose reason is the canary.
    from audit.retention_models import LegalHold, RetentionPolicy

    RetentionPolicy.objects.create(tenant=globex, room_kind="partner", days=30, updated_at=timezone.now())
    LegalHold.objects.create(tenant=globex, room=Room.objects.filter(tenant=globex).first(), reason=CANARY,
                             placed_by=buyer, placed_at=timezone.now())
    # And its audit log: the policy's change, naming the canary.
    from audit.services import audit_record

    audit_record(tenant=globex, actor=None, action="retention_policy.change", object_kind="retention_policy",
                 object_ref="partner", before={"days": None}, after={"days": 30, "note": CANARY})
    return demo


def tenant_models():
    return [m for m in apps.get_models() if hasattr(m, "access_policy") and any(f.name == "tenant" for f in m._meta.fields)]


def foreign_ids(model, tenant_slug, lookup="pk"):
    return sorted(model.objects.filter(tenant__slug=tenant_slug).values_list(lookup, flat=True))


def lookup_of(url):
    """The field a detail URL names its object by (a PO by its number, most by id)."""
    cls = getattr(resolve(url).func, "cls", None)
    field = getattr(cls, "lookup_field", "pk") if getattr(cls, "model", None) is not None else "pk"
    return "pk" if field == "id" else field


def model_of(url):
    """The model behind a detail URL (ids are per model, so each path is probed with its own)."""
    cls = getattr(resolve(url).func, "cls", None)
    return getattr(cls, "parent_model", None) or getattr(cls, "model", None)


def schema_operations(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    for path, item in schema["paths"].items():
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method


def fill(path, tenant, object_id):
    path = path.replace("{tenant}", tenant)
    return re.sub(r"\{[a-z_]+\}", str(object_id), path)


@pytest.mark.parametrize("username", ["acme.admin", "acme.buyer", "supb.rep"])
def test_no_path_gives_another_tenants_data(world, api, client, username):
    operations = list(schema_operations(client))
    tenant_paths = [(p, m) for p, m in operations if "{tenant}" in p]
    assert len(tenant_paths) >= 5, "the crawler found too few tenant paths; is the schema served?"
    assert all(foreign_ids(m, "globex") for m in tenant_models()), "globex has rows of every model to probe with"

    api.as_user(user(username))
    checked = 0
    for path, method in tenant_paths:
        has_id = re.search(r"\{(?!tenant\})[a-z_]+\}", path) is not None
        probes = [fill(path, "globex", 1)]
        if has_id:
            model = model_of(fill(path, "acme", 1))
            assert model is not None, f"{path} has an id but no model to probe it with"
            lookup = lookup_of(fill(path, "acme", 1))
            probes += [fill(path, "acme", pk) for pk in foreign_ids(model, "globex", lookup)]
        for url in probes:
            response = getattr(api, method)(url, {}, format="json")
            checked += 1
            assert not 200 <= response.status_code < 300, f"{method.upper()} {url} answered {response.status_code}"
            assert response.status_code < 500, f"{method.upper()} {url} answered {response.status_code}"
            assert CANARY not in response.content.decode(), f"{method.upper()} {url} leaked globex data"
    assert checked >= len(tenant_paths)


def test_lists_under_own_tenant_never_carry_foreign_rows(world, api, client):
    api.as_user(user("acme.admin"))
    for path, method in schema_operations(client):
        if method == "get" and "{tenant}" in path and not re.search(r"\{(?!tenant\})[a-z_]+\}", path):
            # q= feeds the search endpoint the canary itself; other lists ignore it.
            response = api.get(fill(path, "acme", 0) + f"?q={CANARY}")
            assert response.status_code in (200, 400), path  # 400: a required filter is missing
            assert CANARY not in response.content.decode(), path
