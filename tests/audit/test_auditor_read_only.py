"""The auditor is read-only across the tenant (issue 17, item 5): `acme.auditor` reads the POs,
shipments, invoices, financing applications, alerts, rooms and messages of the whole tenant, in
the API and on the pages, and every write is a 403, with no buttons or forms to write with.

One test walks the whole OpenAPI schema as the auditor, so an endpoint added later is held to it
too: every GET list answers 200, every unsafe method 403 (scm_portal.api.viewsets, the read-only
guard), except the few that touch only the reader's own state, listed here."""

import re

import pytest
from django.utils import timezone

from alerts.models import Alert
from finance.models import FinancingApplication, Invoice
from messaging.models import Message, Room
from orders.models import PurchaseOrder, Shipment, ShipmentLine
from scm_portal.tenancy.access import tenant_context_for
from scm_portal.tenancy.models import Tenant
from tests.api_contract import user
from tests.test_schema_crawler import schema_operations

AUDITOR = "acme.auditor"

# Unsafe operations a read-only reader may send: they change only the reader's own state.
OWN_STATE = {
    ("post", "/api/v1/t/{tenant}/rooms/{id}/read/"),  # the reader's read mark
    ("post", "/api/v1/t/{tenant}/notifications/read/"),  # the reader's own notices
    ("post", "/api/v1/t/{tenant}/audit/verify/"),  # recomputes the chains, changes nothing
    ("post", "/api/v1/t/{tenant}/audit/verify/pdf/"),  # checks a trail PDF, changes nothing
}
# GET lists that need a filter to answer anything: the parameters a reader would send.
LIST_PARAMS = {
    "/api/v1/t/{tenant}/messages/search/": "?q=PO",
    "/api/v1/t/{tenant}/conversations/": "?kind=purchase_order&id={po}",
    "/api/v1/t/{tenant}/bank-account/": "?organization=sup-a",
}


@pytest.fixture
def world(full_demo):
    """The demo world, with a shipment in acme (the demo has POs, invoices, financing, alerts and
    conversations already)."""
    acme = Tenant.objects.get(slug="acme")
    if not Shipment.objects.filter(tenant=acme).exists():
        po = PurchaseOrder.objects.filter(tenant=acme).exclude(lines=None).first()
        line = po.lines.first()
        shipment = Shipment.objects.create(tenant=acme, supplier=po.supplier, carrier="顺丰", tracking_number="SF-1")
        ShipmentLine.objects.create(tenant=acme, shipment=shipment, order_line=line, quantity=1)
    return full_demo


def acme():
    return Tenant.objects.get(slug="acme")


def visible_ids(model, **filters):
    auditor = user(AUDITOR)
    return set(model.objects.for_tenant(acme()).visible_to(auditor, "view", context=tenant_context_for(auditor, acme()))
               .filter(**filters).values_list("pk", flat=True))


def all_ids(model):
    return set(model.objects.for_tenant(acme()).values_list("pk", flat=True))


@pytest.mark.parametrize("model", [PurchaseOrder, Shipment, Invoice, FinancingApplication, Alert, Room])
def test_the_auditor_sees_every_record_of_the_tenant(world, model):
    ids = all_ids(model)
    assert ids, f"the demo has {model.__name__} rows in acme"
    assert visible_ids(model) == ids


def test_the_auditor_sees_every_message_of_the_tenant(world):
    """The auditor follows every partner and reads the internal room, and reads every message of the
    rooms they see (scm_portal.tenancy.roles.reads_whole_room): cards the writer addressed to some
    core roles only (an alert card for the warehouse) and messages addressed to one person (a bot
    question and its answer) included."""
    auditor = user(AUDITOR)
    everything = Message.objects.for_tenant(acme())
    assert everything.exclude(core_audience="").exists()
    seen = set(Message.objects.for_tenant(acme()).visible_to(auditor, "view", context=tenant_context_for(auditor, acme()))
               .values_list("pk", flat=True))
    assert seen == set(everything.values_list("pk", flat=True))


def _fill(path, values):
    def value(match):
        return str(values[match.group(1)])
    return re.sub(r"\{([a-z_]+)\}", value, path)


def _values():
    """An id the auditor sees for every placeholder of the schema's paths."""
    tenant = acme()
    message = Message.objects.for_tenant(tenant).filter(core_audience="", recipient__isnull=True).exclude(actions=[]).first() \
        or Message.objects.for_tenant(tenant).filter(core_audience="", recipient__isnull=True).first()
    po = PurchaseOrder.objects.for_tenant(tenant).order_by("pk").first()
    return {"tenant": "acme", "number": po.number, "room_id": message.room_id, "seq": message.seq,
            "action_name": (message.actions[0]["name"] if message.actions else "acknowledge"), "room_kind": "partner",
            "attachment_id": 1, "po": po.number}


def _id_for(path):
    """The id of a row the auditor sees, for a `{id}` path, from the list beside it."""
    from django.urls import Resolver404, resolve

    collection = path.split("{id}")[0].replace("{tenant}", "acme")
    try:
        cls = getattr(resolve(collection).func, "cls", None)
    except Resolver404:
        return None  # no list beside it (a trail export job is opened from its own link)
    model = getattr(cls, "model", None)
    ids = sorted(visible_ids(model)) if model is not None else []
    return ids[0] if ids else None


def test_the_auditor_walks_the_whole_api_read_only(world, api, client):
    api.as_user(user(AUDITOR))
    values = _values()
    operations = [(p, m) for p, m in schema_operations(client) if "{tenant}" in p]
    assert len(operations) > 50
    reads = writes = 0
    for path, method in operations:
        filled = dict(values)
        if "{id}" in path:
            found = _id_for(path)
            if found is None:
                continue  # nothing of that kind in the demo for the auditor to open (invitations, memberships)
            filled["id"] = found
        url = _fill(path, filled)
        if method == "get":
            params = LIST_PARAMS.get(path, "").format(po=values["po"])
            response = api.get(url + params)
            if path.endswith("/attachments/{attachment_id}/") or path.endswith("/bank-account/"):
                assert response.status_code in (200, 404), url  # a file or a payout account, when the demo has one
                continue
            assert response.status_code == 200, f"GET {url}{params} answered {response.status_code}"
            reads += 1
        else:
            body = {"body": "x", "reason": "x", "days": 30, "room": 1}
            response = getattr(api, method)(url, body, format="json")
            if (method, path) in OWN_STATE:
                assert response.status_code < 300 or response.status_code == 400, url
                continue
            assert response.status_code == 403, f"{method.upper()} {url} answered {response.status_code}"
            writes += 1
    assert reads >= 30 and writes >= 40, (reads, writes)


def test_nothing_was_written_by_the_walk(world, api, client):
    before = {m.__name__: m.objects.count() for m in (Message, PurchaseOrder, Invoice, FinancingApplication, Alert)}
    test_the_auditor_walks_the_whole_api_read_only(world, api, client)
    assert before == {m.__name__: m.objects.count() for m in (Message, PurchaseOrder, Invoice, FinancingApplication, Alert)}


def test_a_member_with_a_writing_role_besides_auditor_may_still_write(world, api):
    """The guard is for readers whose every role is read-only."""
    from scm_portal.tenancy.models import Membership
    from scm_portal.tenancy.roles import Role

    auditor = user(AUDITOR)
    Membership.objects.create(user=auditor, tenant=acme(), organization=acme().organization, role=Role.BUYER)
    api.as_user(auditor)
    room = Room.objects.for_tenant(acme()).filter(kind="internal").first()
    assert api.post(f"/api/v1/t/acme/rooms/{room.pk}/messages/", {"body": "as a buyer"}, format="json").status_code == 201


# --- pages ------------------------------------------------------------------------------------

MAIN_FORMS = re.compile(r'<form[^>]*method="post"', re.IGNORECASE)


def main_of(html):
    return html.split("<main", 1)[1].split("</main>", 1)[0]


def test_the_auditor_reads_every_page_without_write_forms(world, client):
    client.force_login(user(AUDITOR))
    tenant = acme()
    po = PurchaseOrder.objects.for_tenant(tenant).order_by("pk").first()
    shipment = Shipment.objects.for_tenant(tenant).order_by("pk").first()
    pages = ["/t/acme/", "/t/acme/orders/", f"/t/acme/orders/{po.number}/", "/t/acme/shipments/",
             f"/t/acme/shipments/{shipment.pk}/", "/t/acme/alerts/", "/t/acme/rooms/", "/t/acme/retention/",
             "/t/acme/retention/holds/", "/t/acme/stock/", "/t/acme/partners/", "/t/acme/scorecards/"]
    pages += [f"/t/acme/rooms/{pk}/" for pk in sorted(all_ids(Room))]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, f"{url} answered {response.status_code}"
        main = main_of(response.content.decode())
        assert not MAIN_FORMS.search(main), f"{url} offers the auditor a form that writes"
        assert not re.search(r'data-action="(ack|start|resolve)"', main), f"{url} offers the auditor alert buttons"
    # a room: read-only, no compose box
    room_page = client.get(f"/t/acme/rooms/{min(all_ids(Room))}/").content.decode()
    assert 'data-testid="read-only"' in room_page and 'data-testid="chat-compose"' not in room_page


def test_the_auditors_page_writes_are_refused(world, client):
    client.force_login(user(AUDITOR))
    po = PurchaseOrder.objects.for_tenant(acme()).filter(state="draft").first() or \
        PurchaseOrder.objects.for_tenant(acme()).first()
    before = (po.state, timezone.now())
    for url, data in [(f"/t/acme/orders/{po.number}/send/", {}), (f"/t/acme/orders/{po.number}/cancel/", {}),
                      ("/t/acme/retention/", {"room_kind": "partner", "days": "30"}),
                      ("/t/acme/retention/holds/", {"target": "room", "room": "1", "reason": "x"})]:
        response = client.post(url, data)
        assert response.status_code in (403, 404, 405), f"{url} answered {response.status_code}"
    po.refresh_from_db()
    assert po.state == before[0]
