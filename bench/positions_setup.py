"""Builds the positions benchmark's world in a migrated database holding the demo data (seed_demo),
and prints it as JSON. Run by bench/positions.py with DJANGO_SETTINGS_MODULE and DATABASE_URL set:

    python bench/positions_setup.py SHIPMENTS ROUTE_POINTS

In tenant acme: SHIPMENTS shipments of sup-a in transit, each with the same planned route of
ROUTE_POINTS points along the Suzhou–Shanghai corridor and its route index (built once by
orders.geo for the tenant's threshold, then copied per shipment with set-based SQL, as
shipment_create would have written it for each).
"""

import json
import os
import sys

sys.path.insert(0, os.getcwd())  # the portal measured: run from its checkout (--server-root)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.base")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from orders import geo  # noqa: E402
from orders.models import OrderSettings, RouteCell, Shipment  # noqa: E402
from scm_portal.tenancy.models import Organization, Tenant  # noqa: E402

TENANT = "acme"
START, END = (31.30, 120.62), (31.23, 121.47)


def route(points):
    (lat1, lon1), (lat2, lon2) = START, END
    return [(lat1 + (lat2 - lat1) * i / (points - 1), lon1 + (lon2 - lon1) * i / (points - 1)) for i in range(points)]


def build(shipments, points):
    tenant = Tenant.objects.get(slug=TENANT)
    supplier = Organization.objects.get(slug="sup-a")
    margin = OrderSettings(tenant=tenant).route_deviation_meters
    line = route(points)
    cell_deg, cells = geo.route_cells(line, margin)
    route_json = json.dumps([{"lat": lat, "lon": lon} for lat, lon in line])
    stops = json.dumps([list(line[0]), list(line[-1])])
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            f"""INSERT INTO {Shipment._meta.db_table} (tenant_id, number, supplier_id, carrier, tracking_number, route, eta,
                    state, last_lat, last_lon, last_position_at, stops, route_cell_deg, route_margin_meters,
                    off_route_streak, deviating, stop_lat, stop_lon, stop_since, stop_alerted, created_at, updated_at)
                SELECT %s, 'BENCH-' || lpad(g::text, 6, '0'), %s, 'bench', '', %s::jsonb, NULL, 'in_transit', NULL, NULL,
                       NULL, %s::jsonb, %s, %s, 0, false, NULL, NULL, NULL, false, now(), now()
                FROM generate_series(1, %s) g""",
            [tenant.id, supplier.id, route_json, stops, cell_deg, margin, shipments])
        cur.execute("CREATE TEMP TABLE bench_cells (cell bigint, segments bytea) ON COMMIT DROP")
        with cur.copy("COPY bench_cells (cell, segments) FROM STDIN") as copy:
            for key, segments in cells.items():
                copy.write_row((key, geo.pack(segments)))
        cur.execute(
            f"""INSERT INTO {RouteCell._meta.db_table} (tenant_id, shipment_id, cell, segments)
                SELECT s.tenant_id, s.id, c.cell, c.segments FROM {Shipment._meta.db_table} s CROSS JOIN bench_cells c
                WHERE s.tenant_id = %s AND s.number LIKE 'BENCH-%%'""", [tenant.id])
        cur.execute(f"SELECT id FROM {Shipment._meta.db_table} WHERE tenant_id = %s AND number LIKE 'BENCH-%%' ORDER BY id",
                    [tenant.id])
        ids = [row[0] for row in cur.fetchall()]
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE orders_shipment")
        cur.execute("VACUUM ANALYZE orders_routecell")
    return {"tenant_id": tenant.id, "shipments": ids, "route": line, "cells_per_shipment": len(cells),
            "threshold_m": margin}


if __name__ == "__main__":
    print(json.dumps(build(int(sys.argv[1]), int(sys.argv[2]))))
