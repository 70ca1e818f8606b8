"""GET /api/v1/t/<tenant>/audit-log/ and POST /api/v1/t/<tenant>/audit/verify/: the auditor and
the tenant admin only; filters, pages and bad input in the contract's error format."""

import pytest
from django.db import connection

from audit.models import AuditRecord
from audit.services import audit_record
from messaging.models import Message, Room
from tests.api_contract import TenantEndpointChecks, assert_error, user
from tests.messaging.helpers import post_as, post_event

pytestmark = pytest.mark.django_db

LOG = "/api/v1/t/{tenant}/audit-log/"
VERIFY = "/api/v1/t/{tenant}/audit/verify/"


class TestAuditLogEndpoint(TenantEndpointChecks):
    path = "audit-log/"
    viewer = "acme.auditor"

    def own_object_id(self, demo):
        return AuditRecord.objects.filter(tenant=demo["tenants"]["acme"]).order_by("-seq").values_list("pk", flat=True)[0]

    def foreign_object_id(self, demo):
        return AuditRecord.objects.filter(tenant=demo["tenants"]["globex"]).values_list("pk", flat=True)[0]


def test_the_record_has_the_contracts_shape(demo, api):
    acme = demo["tenants"]["acme"]
    record = audit_record(tenant=acme, actor=user("acme.buyer"), action="purchase_order.send", object_kind="purchase_order",
                          object_ref="PO-1", before={"state": "draft"}, after={"state": "sent"}, ip="10.1.2.3")
    api.as_user(user("acme.admin"))
    body = api.get(LOG.format(tenant="acme")).json()
    first = body["results"][0]
    assert {"at", "actor", "action", "object", "before", "after", "hash"} <= set(first)
    assert first == {
        "id": record.pk, "seq": record.seq, "at": first["at"], "actor": "acme.buyer", "action": "purchase_order.send",
        "object": {"kind": "purchase_order", "ref": "PO-1"}, "before": {"state": "draft"}, "after": {"state": "sent"},
        "ip": "10.1.2.3", "prev_hash": record.prev_hash, "hash": record.hash,
    }
    system = audit_record(tenant=acme, actor=None, action="auth.logout")
    first = api.get(LOG.format(tenant="acme")).json()["results"][0]
    assert (first["id"], first["actor"], first["object"]) == (system.pk, None, None)


@pytest.mark.parametrize("username", ["supa.rep", "acme.buyer", "bank.officer", "acme.finance", "acme.planner"])
def test_other_roles_of_the_tenant_get_403(demo, api, username):
    api.as_user(user(username))
    own = AuditRecord.objects.filter(tenant=demo["tenants"]["acme"]).values_list("pk", flat=True)[0]
    assert_error(api.get(LOG.format(tenant="acme")), 403, "permission_denied")
    assert_error(api.get(LOG.format(tenant="acme") + f"{own}/"), 403, "permission_denied")
    assert_error(api.post(VERIFY.format(tenant="acme"), {"scope": "tenant"}, format="json"), 403, "permission_denied")


def test_a_tenant_admin_reads_only_their_tenant(demo, api):
    api.as_user(user("acme.admin"))
    rows = api.get(LOG.format(tenant="acme") + "?page_size=200").json()["results"]
    assert rows and set(AuditRecord.objects.filter(pk__in=[r["id"] for r in rows]).values_list("tenant__slug", flat=True)) == {"acme"}
    assert_error(api.get(LOG.format(tenant="globex")), 404, "not_found")


def test_filters(demo, api):
    acme = demo["tenants"]["acme"]
    buyer = user("acme.buyer")
    audit_record(tenant=acme, actor=buyer, action="purchase_order.send", object_kind="purchase_order", object_ref="PO-1")
    audit_record(tenant=acme, actor=buyer, action="purchase_order.cancel", object_kind="purchase_order", object_ref="PO-1")
    audit_record(tenant=acme, actor=None, action="purchase_order.send", object_kind="purchase_order", object_ref="PO-2")
    audit_record(tenant=acme, actor=buyer, action="alert.resolve", object_kind="alert", object_ref="1")
    api.as_user(user("acme.auditor"))

    def listed(query):
        response = api.get(LOG.format(tenant="acme") + "?" + query)
        assert response.status_code == 200, response.content
        return [(r["action"], r["object"]["ref"] if r["object"] else None) for r in response.json()["results"]]

    assert listed("object_kind=purchase_order&object_ref=PO-1") == [("purchase_order.cancel", "PO-1"), ("purchase_order.send", "PO-1")]
    assert listed("action=purchase_order.send") == [("purchase_order.send", "PO-2"), ("purchase_order.send", "PO-1")]
    assert listed("action=purchase_order.") == [("purchase_order.send", "PO-2"), ("purchase_order.cancel", "PO-1"),
                                                ("purchase_order.send", "PO-1")]
    assert listed("actor=acme.buyer&object_kind=purchase_order") == [("purchase_order.cancel", "PO-1"), ("purchase_order.send", "PO-1")]
    assert listed("object_kind=alert&since=2000-01-01&until=2999-12-31") == [("alert.resolve", "1")]
    assert listed("object_kind=alert&until=2000-01-01") == []
    assert listed("object_kind=alert&since=2000-01-01T00:00:00%2B08:00") == [("alert.resolve", "1")]


@pytest.mark.parametrize("query,field", [
    ("since=yesterday", "since"),
    ("until=2026-02-30", "until"),
    ("since=0001-01-01", "since"),
    ("since=2026-03-01&until=2026-02-01", "until"),
    ("action=DROP TABLE", "action"),
    ("object_kind=purchase-order", "object_kind"),
    ("actor=" + "x" * 151, "actor"),
    ("object_ref=a%00b", "object_ref"),
])
def test_bad_filters_are_400_naming_the_field(demo, api, query, field):
    api.as_user(user("acme.auditor"))
    response = api.get(LOG.format(tenant="acme") + "?" + query)
    assert_error(response, 400)  # "validation_error"; NUL is refused before the view ("invalid_text")
    assert field in response.json()["error"]["fields"]


def test_pages_follow_the_chain_newest_first(demo, api):
    acme = demo["tenants"]["acme"]
    for n in range(5):
        audit_record(tenant=acme, actor=None, action="alert.resolve", object_kind="alert", object_ref=str(n))
    api.as_user(user("acme.auditor"))
    url, seen = LOG.format(tenant="acme") + "?object_kind=alert&page_size=2", []
    while url:
        body = api.get(url).json()
        seen += [int(r["object"]["ref"]) for r in body["results"]]
        url = body["next"]
    assert seen == [4, 3, 2, 1, 0]
    assert_error(api.get(LOG.format(tenant="acme") + "?cursor=not-a-cursor"), 404)


class TestVerifyEndpoint:
    def test_the_whole_tenant_verifies(self, demo, api):
        room = Room.objects.filter(tenant=demo["tenants"]["acme"]).first()
        post_as(user("acme.buyer"), room, "你好")
        api.as_user(user("acme.auditor"))
        response = api.post(VERIFY.format(tenant="acme"), {"scope": "tenant"}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["ok"] is True and body["first_broken"] is None
        chains = {(c["chain"], c["id"]) for c in body["chains"]}
        assert ("audit", "acme") in chains
        assert {str(r) for r in Room.objects.filter(tenant=demo["tenants"]["acme"]).values_list("pk", flat=True)} == \
            {c["id"] for c in body["chains"] if c["chain"] == "room"}

    def test_a_changed_message_is_named(self, demo, api):
        room = Room.objects.filter(tenant=demo["tenants"]["acme"]).first()
        for text in ("one", "two", "three"):
            post_as(user("acme.buyer"), room, text)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE messaging_message SET body = 'forged' WHERE room_id = %s AND seq = 2", [room.pk])
        api.as_user(user("acme.admin"))
        body = api.post(VERIFY.format(tenant="acme"), {"scope": "room", "room": room.pk}, format="json").json()
        assert body["ok"] is False
        assert (body["first_broken"]["chain"], body["first_broken"]["id"], body["first_broken"]["broken_seq"]) == ("room", str(room.pk), 2)

    def test_a_record_scope(self, demo, api):
        acme = demo["tenants"]["acme"]
        room = Room.objects.filter(tenant=acme).first()
        post_event(room, body="PO-77 sent", subject_kind="purchase_order", subject_ref="PO-77")
        audit_record(tenant=acme, actor=None, action="purchase_order.send", object_kind="purchase_order", object_ref="PO-77")
        api.as_user(user("acme.auditor"))
        body = api.post(VERIFY.format(tenant="acme"), {"scope": "record", "kind": "purchase_order", "ref": "PO-77"},
                        format="json").json()
        assert body["ok"] is True and body["scope"] == "record"
        assert [(c["chain"], c["id"]) for c in body["chains"]] == [("room", str(room.pk)), ("audit", "acme")]
        AuditRecord.objects.filter(tenant=acme, object_ref="PO-77").delete()  # the last record: the head no longer matches
        body = api.post(VERIFY.format(tenant="acme"), {"scope": "tenant"}, format="json").json()
        assert body["ok"] is False and body["first_broken"]["chain"] == "audit"
        assert_error(api.post(VERIFY.format(tenant="acme"), {"scope": "record", "kind": "purchase_order", "ref": "PO-NONE"},
                              format="json"), 404, "not_found")

    @pytest.mark.parametrize("payload", [
        {}, {"scope": "galaxy"}, {"scope": "room"}, {"scope": "room", "room": "abc"}, {"scope": "room", "room": -1},
        {"scope": "record", "kind": "purchase_order"}, {"scope": "record", "ref": "x"}, {"scope": ["tenant"]},
        {"scope": "record", "kind": "k" * 41, "ref": "x"},
    ])
    def test_bad_requests_are_400(self, demo, api, payload):
        api.as_user(user("acme.auditor"))
        assert_error(api.post(VERIFY.format(tenant="acme"), payload, format="json"), 400)

    def test_a_room_of_another_tenant_is_404(self, demo, api):
        foreign = Room.objects.filter(tenant=demo["tenants"]["globex"]).first()
        api.as_user(user("acme.auditor"))
        assert_error(api.post(VERIFY.format(tenant="acme"), {"scope": "room", "room": foreign.pk}, format="json"), 404)
        assert_error(api.post(VERIFY.format(tenant="globex"), {"scope": "tenant"}, format="json"), 404)

    def test_anonymous_is_401(self, demo, api):
        assert_error(api.post(VERIFY.format(tenant="acme"), {"scope": "tenant"}, format="json"), 401)


def test_messages_linked_to_a_record_bring_their_rooms(demo):
    from audit.verify import record_verify

    acme = demo["tenants"]["acme"]
    room = Room.objects.filter(tenant=acme).order_by("pk").last()
    post_as(user("acme.buyer"), room, "hello")
    Message.objects.filter(room=room).update(subject_kind="purchase_order", subject_ref="PO-88")
    report = record_verify(acme, "purchase_order", "PO-88")
    # The update above changed hashed columns: the room's chain is found broken at its first message.
    assert [c.chain for c in report.chains] == ["room", "audit"]
    assert not report.ok and report.first_broken.id == str(room.pk) and report.first_broken.broken_seq == 1
