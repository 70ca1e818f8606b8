"""The hash chain of a tenant's audit records: canonical form, hashing and verification.

The same construction as a room's message chain (messaging/chain.py): sha256(prev_hash "\n"
canonical JSON of the record's write-once columns).
"""

import hashlib
from dataclasses import dataclass
from operator import attrgetter

from audit.models import AuditChainHead, AuditRecord
from messaging.canonical import canonical_writer
from messaging.models import GENESIS_HASH

HASHED_FIELDS = (
    "tenant_id", "seq", "actor_id", "actor_label", "action", "object_kind", "object_ref", "before", "after", "ip",
)


# The canonical form's columns, in the order `canonical_values` takes them.
CANONICAL_COLUMNS = (*HASHED_FIELDS, "at")

# THE canonical bytes of an audit record, from its values in CANONICAL_COLUMNS order (`at` a
# datetime, or its canonical text): the sorted-key JSON of its write-once columns
# (messaging.canonical). Records being written go through it (`canonical`), and so do the
# verifier's streamed rows (audit.verify).
canonical_values = canonical_writer(AuditRecord, CANONICAL_COLUMNS)
_values_of = attrgetter(*CANONICAL_COLUMNS)


def canonical(record):
    return canonical_values(_values_of(record))


def record_hash(record, prev_hash):
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(record)).hexdigest()


@dataclass
class AuditChainReport:
    tenant_id: int
    checked: int
    ok: bool
    broken_seq: int | None = None
    reason: str = ""
    head: str = GENESIS_HASH


def audit_chain_verify(tenant, batch_size=5000):
    """Recomputes a tenant's audit chain from its first record; names the first broken one (a
    changed record, a deleted one, or a head that does not match the last record)."""
    prev = GENESIS_HASH
    expected_seq = 1
    queryset = AuditRecord.objects.filter(tenant=tenant).order_by("seq")
    last_seq = 0
    while True:
        batch = list(queryset.filter(seq__gt=last_seq)[:batch_size])
        if not batch:
            break
        for record in batch:
            if record.seq != expected_seq:
                return AuditChainReport(tenant.pk, expected_seq - 1, False, expected_seq, f"record {expected_seq} is missing", prev)
            if record.prev_hash != prev:
                return AuditChainReport(tenant.pk, expected_seq - 1, False, record.seq, "its link to the previous record does not match", prev)
            if record_hash(record, prev) != record.hash:
                return AuditChainReport(tenant.pk, expected_seq - 1, False, record.seq, "its content does not match its hash", prev)
            prev = record.hash
            expected_seq += 1
            last_seq = record.seq
    checked = expected_seq - 1
    head = AuditChainHead.objects.filter(tenant=tenant).values_list("last_seq", "last_hash").first() or (0, GENESIS_HASH)
    if head != (checked, prev):
        broken = checked + 1 if head[0] > checked else checked
        return AuditChainReport(tenant.pk, checked, False, broken, "the chain's head does not match its last record", prev)
    return AuditChainReport(tenant.pk, checked, True, head=prev)
