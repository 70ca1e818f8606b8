"""Builds the ws_fanout world in a fresh, migrated database and prints it as JSON.

One tenant `bench` with a coordinator who sends, and per room size N a supplier organisation
with N supplier reps: the supplier's partner room (created with the partnership) then has
exactly N members besides the core staff who follow the supplier. Everyone gets an API token.

Run by bench/ws_fanout.py from the portal's directory, with DJANGO_SETTINGS_MODULE and
DATABASE_URL set:
    python bench/ws_fanout_setup.py 10,100,1000
"""

import json
import os
import sys

sys.path.insert(0, os.getcwd())  # the portal being measured (see ws_fanout --server-root)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.base")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from messaging.models import Room  # noqa: E402
from scm_portal.tenancy.roles import OrganizationKind, Role  # noqa: E402
from scm_portal.tenancy.services import (  # noqa: E402
    membership_create,
    organization_create,
    partnership_create,
    tenant_create,
    user_create,
)

TENANT = "bench"


def build(sizes):
    with transaction.atomic():
        tenant = tenant_create(slug=TENANT, name="Bench Manufacturing")
        # Tokens authenticate every bench user; no password is ever checked (and none is hashed).
        sender = user_create(username="bench.sender", password=None)
        membership_create(tenant=tenant, actor=None, user=sender, organization=tenant.organization, role=Role.COORDINATOR)
        world = {"tenant": TENANT, "sender_token": Token.objects.create(user=sender).key, "rooms": {}}
        for n in sizes:
            org = organization_create(slug=f"bench-sup-{n}", name=f"Bench Supplier {n}", kind=OrganizationKind.SUPPLIER)
            partnership = partnership_create(tenant=tenant, actor=None, organization=org, kind=OrganizationKind.SUPPLIER)
            room = Room.objects.get(partnership=partnership)
            users = [user_create(username=f"bench.s{n}.{i:04d}", password=None) for i in range(n)]
            for user in users:
                membership_create(tenant=tenant, actor=None, user=user, organization=org, role=Role.SUPPLIER_REP)
            tokens = Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users])
            world["rooms"][str(n)] = {"id": room.id, "tokens": [t.key for t in tokens]}
    return world


if __name__ == "__main__":
    sizes = sorted({int(s) for s in sys.argv[1].split(",")})
    print(json.dumps(build(sizes)))
