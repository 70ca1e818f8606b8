"""The auditor's pages: the audit log (filters, pages, bad input) and verification of the chains,
for the auditor and the tenant admin only; in English and Chinese."""

import re

import pytest
from django.db import connection

from audit.models import AuditRecord
from audit.services import audit_record
from tests.api_contract import user
from tests.messaging.helpers import post, room_of

pytestmark = pytest.mark.django_db

LOG = "/t/{tenant}/audit/log/"
VERIFY = "/t/{tenant}/audit/verify/"


def get(client, username, url):
    client.force_login(user(username))
    return client.get(url)


def seqs(html):
    return [int(s) for s in re.findall(r'data-testid="audit-row" data-seq="(\d+)"', html)]


@pytest.mark.parametrize("username", ["acme.auditor", "acme.admin"])
def test_readers_see_the_log_newest_first_and_the_nav_item(demo, client, username):
    acme = demo["tenants"]["acme"]
    audit_record(tenant=acme, actor=user("acme.buyer"), action="purchase_order.send", object_kind="purchase_order",
                 object_ref="PO-7", before={"state": "draft"}, after={"state": "sent"})
    response = get(client, username, LOG.format(tenant="acme"))
    assert response.status_code == 200
    html = response.content.decode()
    shown = seqs(html)
    assert shown == sorted(shown, reverse=True) and shown[0] == AuditRecord.objects.filter(tenant=acme).latest("seq").seq
    assert 'data-testid="nav-audit_log"' in html and "purchase_order.send" in html and "PO-7" in html
    assert "acme.buyer" in html


@pytest.mark.parametrize("username", ["acme.buyer", "supa.rep", "bank.officer", "acme.warehouse"])
def test_other_members_get_403_and_no_nav_item(demo, client, username):
    assert get(client, username, LOG.format(tenant="acme")).status_code == 403
    assert client.get(VERIFY.format(tenant="acme")).status_code == 403
    assert client.post(VERIFY.format(tenant="acme"), {"scope": "tenant"}).status_code == 403
    dashboard = client.get("/t/acme/").content.decode()
    assert 'data-testid="nav-audit_log"' not in dashboard


def test_another_tenant_is_404_and_anonymous_goes_to_login(demo, client):
    assert get(client, "acme.auditor", LOG.format(tenant="globex")).status_code == 404
    client.logout()
    response = client.get(LOG.format(tenant="acme"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_filters_and_older_pages(demo, client):
    acme = demo["tenants"]["acme"]
    for n in range(55):
        audit_record(tenant=acme, actor=None, action="alert.resolve", object_kind="alert", object_ref=str(n))
    audit_record(tenant=acme, actor=user("acme.buyer"), action="purchase_order.cancel", object_kind="purchase_order",
                 object_ref="PO-9")
    html = get(client, "acme.auditor", LOG.format(tenant="acme") + "?object_kind=alert").content.decode()
    first = seqs(html)
    assert len(first) == 50 and "purchase_order.cancel" not in html
    older = re.search(r'data-testid="audit-older" href="\?([^"]+)"', html).group(1).replace("&amp;", "&")
    second = seqs(client.get(LOG.format(tenant="acme") + "?" + older).content.decode())
    assert len(second) == 5 and max(second) < min(first)
    html = client.get(LOG.format(tenant="acme") + "?actor=acme.buyer&action=purchase_order.").content.decode()
    assert len(seqs(html)) == 1 and "PO-9" in html
    html = client.get(LOG.format(tenant="acme") + "?object_kind=alert&until=2000-01-01").content.decode()
    assert seqs(html) == [] and 'data-testid="audit-empty"' in html
    assert client.get(LOG.format(tenant="acme") + "?before=abc").status_code == 200  # a bad page key: the first page


@pytest.mark.parametrize("query,field", [
    ("since=tomorrow", "since"), ("until=2026-13-01", "until"), ("since=2026-03-01&until=2026-02-01", "until"),
    ("action=<script>", "action"), ("object_kind=a-b", "object_kind"),
])
def test_bad_filters_are_400_with_the_field_named(demo, client, query, field):
    response = get(client, "acme.auditor", LOG.format(tenant="acme") + "?" + query)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'data-testid="error-{field}"' in html and "<script>" not in html


def test_the_log_in_chinese(demo, client):
    client.force_login(user("acme.auditor"))
    html = client.get(LOG.format(tenant="acme"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "审计日志" in html


class TestVerifyPage:
    def test_the_tenant_verifies(self, demo, client):
        post("supa.rep", room_of("acme", "sup-a"), "你好")
        response = get(client, "acme.auditor", VERIFY.format(tenant="acme"))
        assert response.status_code == 200 and 'data-testid="verify-form"' in response.content.decode()
        html = client.post(VERIFY.format(tenant="acme"), {"scope": "tenant"}).content.decode()
        assert 'data-testid="verify-ok"' in html and 'data-chain="audit"' in html

    def test_a_changed_message_is_named(self, demo, client):
        room = room_of("acme", "sup-a")
        for text in ("a", "b"):
            post("supa.rep", room, text)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE messaging_message SET body = 'x' WHERE room_id = %s AND seq = 2", [room.pk])
        client.force_login(user("acme.admin"))
        html = client.post(VERIFY.format(tenant="acme"), {"scope": "room", "room": str(room.pk)}).content.decode()
        assert 'data-testid="verify-broken"' in html
        assert f"conversation #{room.pk}, message 2" in html

    def test_a_record(self, demo, client):
        audit_record(tenant=demo["tenants"]["acme"], actor=None, action="purchase_order.send", object_kind="purchase_order",
                     object_ref="PO-5")
        client.force_login(user("acme.auditor"))
        html = client.post(VERIFY.format(tenant="acme"), {"scope": "record", "kind": "purchase_order", "ref": "PO-5"}).content.decode()
        assert 'data-testid="verify-ok"' in html

    @pytest.mark.parametrize("data,status", [
        ({"scope": "galaxy"}, 400), ({"scope": "room", "room": "abc"}, 400), ({"scope": "room", "room": "999999"}, 400),
        ({"scope": "record", "kind": "purchase_order", "ref": ""}, 400),
        ({"scope": "record", "kind": "purchase_order", "ref": "PO-NOPE"}, 404), ({}, 400),
    ])
    def test_bad_input(self, demo, client, data, status):
        client.force_login(user("acme.auditor"))
        response = client.post(VERIFY.format(tenant="acme"), data)
        assert response.status_code == status and 'data-testid="verify-error"' in response.content.decode()

    def test_a_room_of_another_tenant_is_not_offered_nor_verified(self, demo, client):
        foreign = room_of("globex", "sup-a")
        client.force_login(user("acme.auditor"))
        assert f'value="{foreign.pk}"' not in client.get(VERIFY.format(tenant="acme")).content.decode()
        assert client.post(VERIFY.format(tenant="acme"), {"scope": "room", "room": str(foreign.pk)}).status_code == 400
