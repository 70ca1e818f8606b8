"""Demo logistics for acme (called from orders/demo.py's `seed(ctx)`): two stories of sup-a.

- PO-20261128 (2,000 M6 screws, promised for tomorrow) ships as ASN with an ETA three days out,
  so it is late (`shipment_late`); its truck left the Suzhou–Shanghai route six positions ago
  and is still off it (`route_deviation`, open).
- PO-20261130 (800 M8 nuts) shipped and was received today: the lot LOT-20261130-A failed
  inspection, so it is on quality hold (`quality_hold`) and further receipt of it is blocked.

The late shipment is assigned to the carrier partner `carrier-sf` (顺丰速运, created here with its
dispatcher `carrier.dispatch`, who shares the demo users' password): its dispatchers see it and
post its positions, and no other shipment.

Each story's PO is created here through the ORM, confirmed, with its lines (the PO lifecycle's
services are not needed); a story whose PO exists already is skipped, so a second run changes
nothing. Warehouse WH-SH and SKUs SKU-1001/SKU-1002 are looked up by code, or created as the
inventory demo names them (that demo finds them then). No stock moves: the failed lot never
enters stock, so the stock story of the inventory demo stays as it is told there.
"""

from datetime import timedelta

from django.utils import timezone

from inventory.demo import SKUS, WAREHOUSES
from inventory.models import SKU, Warehouse
from orders.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderState, Shipment
from orders.services.positions import position_ingest
from orders.services.receipts import receipt_create
from orders.services.shipments import shipment_create
from scm_portal.tenancy.access import tenant_context_for

LATE_PO, HOLD_PO = "PO-20261128", "PO-20261130"
HELD_LOT = "LOT-20261130-A"
# Suzhou to the Shanghai warehouse, west to east; the truck turned south after the fourth fix.
ROUTE = [(31.300, 120.620), (31.290, 120.800), (31.270, 121.000), (31.250, 121.200), (31.230, 121.470)]
ON_ROUTE = [(31.299, 120.640), (31.292, 120.760), (31.282, 120.880), (31.272, 120.990)]
DETOUR = [(31.200, 121.020), (31.150, 121.050), (31.120, 121.080), (31.100, 121.120), (31.090, 121.150),
          (31.080, 121.180)]


def _warehouse(tenant, code):
    name = dict(WAREHOUSES["acme"])[code]
    return Warehouse.objects.for_tenant(tenant).get_or_create(tenant=tenant, code=code, defaults={"name": name})[0]


def _sku(tenant, code, orgs):
    _code, name, unit, supplier = next(row for row in SKUS["acme"] if row[0] == code)
    return SKU.objects.for_tenant(tenant).get_or_create(
        tenant=tenant, code=code, defaults={"name": name, "unit": unit, "default_supplier": orgs[supplier]})[0]


def _confirmed_po(tenant, number, supplier, warehouse, lines, promised, buyer):
    """A confirmed PO with `lines` [(sku, quantity, unit price)], all promised for `promised`."""
    now = timezone.now()
    order = PurchaseOrder.objects.create(
        tenant=tenant, number=number, supplier=supplier, warehouse=warehouse, currency="CNY",
        state=PurchaseOrderState.CONFIRMED, created_by=buyer, sent_at=now - timedelta(days=3),
        confirmed_at=now - timedelta(days=2), source="demo")
    for index, (sku, quantity, price) in enumerate(lines, start=1):
        PurchaseOrderLine.objects.create(
            tenant=tenant, order=order, line=index, sku=sku, quantity=quantity, unit_price=price,
            requested_date=promised, promised_date=promised, status="accepted")
    return order


def _fixes(points, start, minutes=6):
    return [{"lat": lat, "lon": lon, "at": (start + timedelta(minutes=minutes * i)).isoformat()}
            for i, (lat, lon) in enumerate(points)]


CARRIER, DISPATCHER = ("carrier-sf", "顺丰速运（演示）"), ("carrier.dispatch", "冯调度")


def _carrier(tenant, users):
    """The carrier partner of acme and its dispatcher (idempotent). The dispatcher shares the demo
    users' password: its hash is copied from supa.rep's, so every demo login stays one password."""
    from django.contrib.auth import get_user_model

    from scm_portal.tenancy import services
    from scm_portal.tenancy.roles import OrganizationKind, Role

    slug, name = CARRIER
    carrier = services.organization_get_or_create(slug=slug, name=name, kind=OrganizationKind.CARRIER)
    services.partnership_create(tenant=tenant, actor=None, organization=carrier, kind=OrganizationKind.CARRIER)
    username, display = DISPATCHER
    User = get_user_model()
    dispatcher = User.objects.filter(username=username).first()
    if dispatcher is None:
        dispatcher = User(username=username, first_name=display, email=f"{username}@example.com")
    dispatcher.password = users["supa.rep"].password
    dispatcher.save()
    services.membership_create(tenant=tenant, actor=None, user=dispatcher, organization=carrier,
                               role=Role.CARRIER_DISPATCHER)
    users[username] = dispatcher
    return carrier


def seed(ctx):
    tenant, orgs, users = ctx["tenants"]["acme"], ctx["organizations"], ctx["users"]
    carrier = orgs[CARRIER[0]] = _carrier(tenant, users)
    supplier, rep, buyer, warehouse_user = orgs["sup-a"], users["supa.rep"], users["acme.buyer"], users["acme.warehouse"]
    rep_context = tenant_context_for(rep, tenant)
    warehouse = _warehouse(tenant, "WH-SH")
    today = timezone.localdate()

    if not PurchaseOrder.objects.for_tenant(tenant).filter(number=LATE_PO).exists():
        _confirmed_po(tenant, LATE_PO, supplier, warehouse, [(_sku(tenant, "SKU-1001", orgs), 2000, "0.1200")],
                      today + timedelta(days=1), buyer)
        shipment = shipment_create(
            tenant=tenant, actor=rep, context=rep_context, purchase_order=LATE_PO, carrier="顺丰速运",
            carrier_organization=carrier.slug,
            tracking_number="SF1402288123", route=[{"lat": lat, "lon": lon} for lat, lon in ROUTE],
            eta=timezone.now() + timedelta(days=3))
        start = timezone.now() - timedelta(minutes=6 * (len(ON_ROUTE) + len(DETOUR)) + 5)
        # The carrier's dispatcher reports the truck's positions.
        dispatcher = users[DISPATCHER[0]]
        position_ingest(tenant=tenant, actor=dispatcher, context=tenant_context_for(dispatcher, tenant),
                        shipment=shipment, rows=_fixes(ON_ROUTE + DETOUR, start))
    else:  # a demo seeded before the carrier existed: the late shipment is assigned to it now
        Shipment.objects.for_tenant(tenant).filter(lines__order_line__order__number=LATE_PO,
                                                   carrier_organization=None).update(carrier_organization=carrier)

    if not PurchaseOrder.objects.for_tenant(tenant).filter(number=HOLD_PO).exists():
        order = _confirmed_po(tenant, HOLD_PO, supplier, warehouse, [(_sku(tenant, "SKU-1002", orgs), 800, "0.0800")],
                              today + timedelta(days=2), buyer)
        shipment_create(tenant=tenant, actor=rep, context=rep_context, purchase_order=HOLD_PO, carrier="德邦物流",
                        tracking_number="DB77120931", route=[{"lat": lat, "lon": lon} for lat, lon in ROUTE],
                        eta=timezone.now() + timedelta(hours=2))
        receipt_create(tenant=tenant, actor=warehouse_user, context=tenant_context_for(warehouse_user, tenant),
                       order=order, lines=[{"line": 1, "quantity": 800, "inspection": "fail", "lot": HELD_LOT}])
