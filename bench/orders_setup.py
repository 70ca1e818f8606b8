"""Builds the orders benchmark's world in a migrated database holding the demo data (seed_demo),
and prints it as JSON. Run by bench/orders.py with DJANGO_SETTINGS_MODULE and DATABASE_URL set:

    python bench/orders_setup.py LIST_POS UPSERT_SKUS

In tenant acme: LIST_POS purchase orders `BPO-nnnnnnn` (half sup-a's, half sup-b's, every state
but draft), written by one INSERT … SELECT over generate_series (the list reads no lines, so
they get none), then ANALYZE; and UPSERT_SKUS SKUs `BSKU-nnnnn` for the upsert's lines. Also API
tokens for supa.rep (the supplier's list) and acme.buyer (the ERP's upsert).
"""

import json
import os
import sys

sys.path.insert(0, os.getcwd())  # the portal measured: run from its checkout (--server-root)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.base")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from inventory.models import SKU, Warehouse  # noqa: E402
from orders.models import PurchaseOrder  # noqa: E402
from scm_portal.tenancy.models import Organization, Tenant  # noqa: E402


def build(list_pos, upsert_skus):
    tenant = Tenant.objects.get(slug="acme")
    sup_a, sup_b = Organization.objects.get(slug="sup-a"), Organization.objects.get(slug="sup-b")
    warehouse = Warehouse.objects.get(tenant=tenant, code="WH-SH")
    with transaction.atomic():
        SKU.objects.bulk_create([SKU(tenant=tenant, code=f"BSKU-{i:05d}", name=f"零件 {i}", default_supplier=sup_a)
                                 for i in range(upsert_skus)])
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"""
            INSERT INTO {PurchaseOrder._meta.db_table}
                (tenant_id, number, supplier_id, warehouse_id, currency, state, note, sent_at, source, version,
                 created_at, updated_at)
            SELECT %s, 'BPO-' || lpad(g::text, 7, '0'), CASE WHEN g %% 2 = 0 THEN %s ELSE %s END, %s, 'CNY',
                   (ARRAY['sent', 'confirmed', 'shipped', 'received', 'change_requested', 'cancelled'])[1 + g %% 6],
                   '', now() - make_interval(secs => %s - g), 'bench', 1,
                   now() - make_interval(secs => %s - g), now()
            FROM generate_series(1, %s) AS g""", [tenant.pk, sup_a.pk, sup_b.pk, warehouse.pk, list_pos, list_pos, list_pos])
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {PurchaseOrder._meta.db_table}")
    users = get_user_model().objects.filter(username__in=["supa.rep", "acme.buyer"])
    return {
        "tenant": tenant.slug, "tenant_id": tenant.pk, "sup_a": sup_a.pk, "warehouse": warehouse.code,
        "skus": [f"BSKU-{i:05d}" for i in range(upsert_skus)],
        "tokens": {u.username: Token.objects.get_or_create(user=u)[0].key for u in users},
        "pos": PurchaseOrder.objects.filter(tenant=tenant).count(),
    }


if __name__ == "__main__":
    print(json.dumps(build(int(sys.argv[1]), int(sys.argv[2]))))
