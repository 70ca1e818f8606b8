"""The audit log: who did what, when, before → after; append-only, hash-chained per tenant.

A tenant's records form one chain, as a room's messages do: `seq` is gapless and each record's
hash covers the previous one. Writers take the tenant's AuditChainHead row FOR UPDATE, so 50
concurrent writers still make one chain, never a fork. Every hashed column is written once and
never changed (docs/AUDIT.md: the production role may not UPDATE or DELETE these rows).
"""

from django.conf import settings
from django.db import models

from messaging.models import GENESIS_HASH
from scm_portal.tenancy.models import Tenant
from scm_portal.tenancy.querysets import AccessPolicy, TenantQuerySet
from scm_portal.tenancy.roles import Role

# Who may read a tenant's audit log: the auditor and the tenant admin, nobody else.
AUDIT_LOG_READERS = frozenset({Role.AUDITOR, Role.TENANT_ADMIN})


class AuditChainHead(models.Model):
    """The end of a tenant's audit chain; the row every audit write locks (the last lock it takes)."""

    tenant = models.OneToOneField(Tenant, primary_key=True, on_delete=models.PROTECT, related_name="audit_head")
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)


class AuditRecord(models.Model):
    """One audited act. `action` is dotted, `<object kind>.<verb>` ("purchase_order.confirm",
    "membership.create", "auth.login", "trail.export"); `object_kind`/`object_ref` name the record
    as messages' subjects do (kind plus its public reference: a PO number, an id)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    seq = models.BigIntegerField()
    at = models.DateTimeField()
    # No database constraint and no cascade: deleting a user must never touch (UPDATE) the log.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True, default="")  # the username at the time
    action = models.CharField(max_length=80)
    object_kind = models.CharField(max_length=40, blank=True, default="")
    object_ref = models.CharField(max_length=100, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(core={"view": AUDIT_LOG_READERS})

    class Meta:
        ordering = ["tenant", "seq"]
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="audit_record_seq_once")]
        indexes = [
            models.Index(fields=["tenant", "object_kind", "object_ref", "seq"], name="audit_record_object"),
            models.Index(fields=["tenant", "at"], name="audit_record_at"),
        ]

    def __str__(self):
        return f"{self.tenant_id}#{self.seq} {self.action}"


# Retention policies and legal holds live beside the log (audit/retention_models.py).
from audit.retention_models import LegalHold, RetentionPolicy  # noqa: E402,F401
