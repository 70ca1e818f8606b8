"""Writing the audit log. `audit_record()` is the one way in; call it inside the transaction of
the act it records, so the record and the act commit (or roll back) together."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from audit.chain import record_hash
from audit.models import AuditChainHead, AuditRecord


def _jsonable(value):
    """What JSON stores and answers back (Decimal and dates as strings), so the hash computed now is
    the hash recomputed from the stored row later."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _head_locked(tenant_id):
    """The tenant's chain head, locked FOR UPDATE; created on a tenant's first record.

    The head is the last lock any transaction takes (docs/ARCHITECTURE.md, "Lock order"): nothing
    is locked after it, so it can make writers of a tenant wait for each other, never deadlock."""
    head = AuditChainHead.objects.select_for_update().filter(tenant_id=tenant_id).first()
    if head is None:
        AuditChainHead.objects.bulk_create([AuditChainHead(tenant_id=tenant_id)], ignore_conflicts=True)
        head = AuditChainHead.objects.select_for_update().get(tenant_id=tenant_id)
    return head


def audit_record(*, tenant, actor, action, object_kind="", object_ref="", before=None, after=None, ip=None):
    """Appends one record to the tenant's audit chain. `actor` is a user or None (the system: a
    sweep, an ERP import without a user); `before`/`after` are JSON-able dicts of what changed."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    # No savepoint of its own: a record that fails to insert fails the act's transaction anyway.
    with transaction.atomic(savepoint=False):
        head = _head_locked(tenant_id)
        record = AuditRecord(
            tenant_id=tenant_id,
            seq=head.last_seq + 1,
            at=timezone.now(),
            actor_id=user.pk if user else None,
            actor_label=user.get_username() if user else "",
            action=action,
            object_kind=object_kind,
            object_ref=str(object_ref),
            before=_jsonable(before),
            after=_jsonable(after),
            ip=ip,
            prev_hash=head.last_hash,
        )
        record.hash = record_hash(record, head.last_hash)
        record.save(force_insert=True)
        AuditChainHead.objects.filter(pk=head.pk).update(last_seq=record.seq, last_hash=record.hash)
    return record


def audit_transition(*, tenant, actor, object_kind, object_ref, verb, before_state, after_state, **details):
    """A record's state transition ("purchase_order.confirm": sent → confirmed): `before` and
    `after` are the states, `details` the few key fields that go with the new state. Called as
    the last write of the transition's transaction: the chain head is the last lock it takes."""
    return audit_record(
        tenant=tenant, actor=actor, action=f"{object_kind}.{verb}", object_kind=object_kind, object_ref=object_ref,
        before=None if before_state is None else {"state": before_state},
        after={"state": after_state, **details},
    )
