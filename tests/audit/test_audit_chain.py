"""The audit log's chain: one gapless chain per tenant, tampering found, no fork under 50 writers."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from audit.chain import audit_chain_verify
from audit.models import AuditChainHead, AuditRecord
from audit.services import audit_record
from scm_portal.tenancy.roles import Role
from tests.factories import make_member, make_tenant


@pytest.fixture
def acme(db):
    return make_tenant("acme")


def test_records_chain_per_tenant_and_verify(acme):
    # Given two tenants with records interleaved
    other = make_tenant("globex")
    buyer = make_member(acme, Role.BUYER)
    first = audit_record(tenant=acme, actor=buyer, action="purchase_order.send", object_kind="purchase_order",
                         object_ref="PO-1", before={"state": "draft"}, after={"state": "sent", "total": Decimal("1.50")})
    audit_record(tenant=other, actor=None, action="auth.login")
    second = audit_record(tenant=acme, actor=None, action="financing_application.overdue")
    # Then each tenant has its own gapless chain, linked and verifiable
    assert second.seq == first.seq + 1  # (the member's membership is the tenant's first record)
    assert second.prev_hash == first.hash
    assert first.actor_label == buyer.username and second.actor_label == ""
    assert AuditRecord.objects.get(pk=first.pk).after == {"state": "sent", "total": "1.50"}
    report = audit_chain_verify(acme)
    assert report.ok and report.checked == second.seq and report.head == second.hash
    assert audit_chain_verify(other).ok


def test_changed_record_is_named(acme):
    for n in range(3):
        audit_record(tenant=acme, actor=None, action="alert.resolve", object_kind="alert", object_ref=str(n))
    with connection.cursor() as cursor:  # behind the app's back
        cursor.execute("UPDATE audit_auditrecord SET after = '{\"state\": \"forged\"}' WHERE tenant_id = %s AND seq = 2", [acme.pk])
    report = audit_chain_verify(acme)
    assert not report.ok and report.broken_seq == 2 and "content" in report.reason


def test_deleted_record_is_found(acme):
    for n in range(3):
        audit_record(tenant=acme, actor=None, action="alert.resolve", object_kind="alert", object_ref=str(n))
    AuditRecord.objects.filter(tenant=acme, seq=2).delete()
    report = audit_chain_verify(acme)
    assert not report.ok and report.broken_seq == 2 and "missing" in report.reason


def test_deleted_last_record_is_found(acme):
    for n in range(2):
        audit_record(tenant=acme, actor=None, action="alert.resolve", object_kind="alert", object_ref=str(n))
    AuditRecord.objects.filter(tenant=acme, seq=2).delete()
    report = audit_chain_verify(acme)
    assert not report.ok and "head" in report.reason


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_writers_make_one_chain():
    tenant = make_tenant("acme")
    start = threading.Barrier(50)
    errors = []

    def write(n):
        try:
            start.wait(10)
            audit_record(tenant=tenant, actor=None, action="alert.acknowledge", object_kind="alert", object_ref=str(n))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert list(AuditRecord.objects.filter(tenant=tenant).values_list("seq", flat=True)) == list(range(1, 51))
    assert AuditChainHead.objects.get(tenant=tenant).last_seq == 50
    assert audit_chain_verify(tenant).ok
