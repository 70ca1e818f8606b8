"""Retention with legal hold (issue 17, item 6; docs/AUDIT_RETENTION.md).

Per tenant and room kind, messages older than the policy's days are destroyed by the sweep
(`retention_sweep`, beat task `audit.retention_sweep`): each becomes a tombstone that keeps its
seq, prev_hash and hash, so the room's chain still links through it. Never destroyed: a message
under an admin's legal hold (on its room, or on the record it is linked to), or linked to a record
a domain app holds (finance: an open or overdue financing application, and the invoices pledged
to one), registered with `register_legal_hold_source()` from the app's AppConfig.ready().

The content is cleared by the database function retention_tombstone() (migration
audit/0002_retention), which re-checks age and admin holds itself: the app's production role may
not UPDATE messages. Every policy change, hold and purge is an audit record; each purge record
names its room, the seqs destroyed and their hashes, which chain_verify cross-checks (a tombstone
without one was made behind the app's back).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditRecord
from audit.retention_models import (
    RETENTION_DAYS_MAX,
    RETENTION_DAYS_MIN,
    RETENTION_WRITERS,
    LegalHold,
    RetentionPolicy,
)
from audit.services import audit_record
from messaging.models import Message, Room, RoomKind
from messaging.services import message_tombstones_announce
from scm_portal.tenancy.context import check_context

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500  # messages per transaction (and per function call)

# --- domain holds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LegalHoldSource:
    kind: str  # a message subject kind
    holds: object  # callable(*, tenant) -> queryset of subject refs (strings) held now


LEGAL_HOLD_SOURCES: dict[str, LegalHoldSource] = {}


def register_legal_hold_source(kind, *, holds):
    """A domain app holds the messages linked to some of its records (call from AppConfig.ready()):
    `holds(tenant=)` answers a queryset of the held records' subject refs, as strings."""
    known = LEGAL_HOLD_SOURCES.get(kind)
    if known is not None and known.holds is not holds:
        raise ValueError(f"legal hold source {kind!r} is registered twice")
    LEGAL_HOLD_SOURCES[kind] = LegalHoldSource(kind=kind, holds=holds)


def _held(tenant_id):
    """The condition on messages under any hold: an admin's (room or record) or a domain app's."""
    active = LegalHold.objects.filter(tenant_id=tenant_id, released_at__isnull=True)
    held = Q(room_id__in=active.filter(room__isnull=False).values("room_id"))
    for kind, ref in active.filter(room__isnull=True).values_list("subject_kind", "subject_ref"):
        held |= Q(subject_kind=kind, subject_ref=ref)
    for source in LEGAL_HOLD_SOURCES.values():
        held |= Q(subject_kind=source.kind, subject_ref__in=source.holds(tenant=tenant_id))
    return held


# --- reads ----------------------------------------------------------------------------------


def retention_policy_list(*, user, context):
    """One row per room kind (a kind without a row: days None, kept forever), for readers of the
    policies (tenant admin, auditor); PermissionDenied for anyone else."""
    check_context(context, tenant=context.tenant_id, user=user)
    if not context.roles & RetentionPolicy.access_policy.roles("view"):
        raise PermissionDenied
    rows = {p.room_kind: p for p in RetentionPolicy.objects.visible_to(user, "view", context).select_related("updated_by")}
    return [rows.get(kind) or RetentionPolicy(tenant_id=context.tenant_id, room_kind=kind, days=None)
            for kind in RoomKind.values]


def legal_hold_list(*, user, context, active=None):
    check_context(context, tenant=context.tenant_id, user=user)
    if not context.roles & LegalHold.access_policy.roles("view"):
        raise PermissionDenied
    holds = LegalHold.objects.visible_to(user, "view", context).select_related("room", "placed_by", "released_by")
    if active is not None:
        holds = holds.filter(released_at__isnull=active)
    return holds.order_by("-placed_at", "-pk")


def retention_purge_list(*, user, context, limit=50):
    """The latest purges, from the audit log (its readers are the policies' readers)."""
    return AuditRecord.objects.visible_to(user, "view", context).filter(action="retention.purge").order_by("-seq")[:limit]


# --- writes ---------------------------------------------------------------------------------


def _check_writer(context):
    if not context.roles & RETENTION_WRITERS:
        raise PermissionDenied


def check_retention_days(days):
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not RETENTION_DAYS_MIN <= days <= RETENTION_DAYS_MAX:
        raise ValidationError({"days": [_("Keep messages between %(min)d and %(max)d days, or forever (null).")
                                        % {"min": RETENTION_DAYS_MIN, "max": RETENTION_DAYS_MAX}]})
    return days


def check_room_kind(room_kind):
    if room_kind not in RoomKind.values:
        raise ValidationError({"room_kind": [_("Unknown room kind; use one of: %(kinds)s.")
                                             % {"kinds": ", ".join(RoomKind.values)}]})
    return room_kind


def retention_policy_set(*, tenant, actor, context, room_kind, days, ip=None):
    """Sets how many days a room kind's messages are kept (None: forever); audited as
    `retention_policy.change` with the days before and after."""
    check_context(context, tenant=tenant, user=actor)
    _check_writer(context)
    check_room_kind(room_kind)
    check_retention_days(days)
    with transaction.atomic():
        policy = RetentionPolicy.objects.select_for_update().filter(tenant=tenant, room_kind=room_kind).first()
        before = policy.days if policy is not None else None
        if policy is None:
            RetentionPolicy.objects.bulk_create(
                [RetentionPolicy(tenant=tenant, room_kind=room_kind, days=None, updated_at=timezone.now())],
                ignore_conflicts=True)
            policy = RetentionPolicy.objects.select_for_update().get(tenant=tenant, room_kind=room_kind)
        policy.days, policy.updated_by, policy.updated_at = days, actor, timezone.now()
        policy.save(update_fields=["days", "updated_by", "updated_at"])
        if before != days:
            audit_record(tenant=tenant, actor=actor, action="retention_policy.change", object_kind="retention_policy",
                         object_ref=room_kind, before={"room_kind": room_kind, "days": before},
                         after={"room_kind": room_kind, "days": days}, ip=ip)
    return policy


def _check_reason(reason, field="reason"):
    reason = (reason or "").strip() if isinstance(reason, str) else reason
    if not isinstance(reason, str) or not reason or len(reason) > 2000:
        raise ValidationError({field: [_("Give a reason (1 to 2,000 characters).")]})
    return reason


def legal_hold_place(*, tenant, actor, context, reason, room=None, subject_kind="", subject_ref="", ip=None):
    """Holds a room's messages, or a record's (`subject_kind`, `subject_ref`), until released.
    `room` is a Room the caller resolved through access_room (the actor sees it)."""
    check_context(context, tenant=tenant, user=actor)
    _check_writer(context)
    reason = _check_reason(reason)
    subject_kind, subject_ref = (subject_kind or "").strip(), str(subject_ref or "").strip()
    if (room is None) == (not (subject_kind and subject_ref)):
        raise ValidationError({"room": [_("Hold either a room or a record (subject kind and id), not both.")]})
    if room is not None and room.tenant_id != tenant.pk:
        raise ValidationError({"room": [_("Unknown room.")]})
    if room is None:
        from messaging import registry

        if subject_kind not in registry.SUBJECTS:
            raise ValidationError({"subject_kind": [_("Unknown subject kind.")]})
        if len(subject_ref) > 64:
            raise ValidationError({"subject_ref": [_("At most 64 characters.")]})
    with transaction.atomic():
        hold = LegalHold.objects.create(tenant=tenant, room=room, subject_kind=subject_kind if room is None else "",
                                        subject_ref=subject_ref if room is None else "", reason=reason,
                                        placed_by=actor, placed_at=timezone.now())
        audit_record(tenant=tenant, actor=actor, action="legal_hold.place", object_kind="legal_hold", object_ref=hold.pk,
                     after=_hold_state(hold), ip=ip)
    return hold


def legal_hold_release(*, tenant, actor, context, hold, reason, ip=None):
    check_context(context, tenant=tenant, user=actor)
    _check_writer(context)
    reason = _check_reason(reason)
    with transaction.atomic():
        hold = LegalHold.objects.select_for_update().get(pk=hold.pk, tenant=tenant)
        if hold.released_at is not None:
            raise ValidationError({"hold": [_("This hold is released already.")]}, code="already_released")
        before = _hold_state(hold)
        hold.released_at, hold.released_by, hold.release_reason = timezone.now(), actor, reason
        hold.save(update_fields=["released_at", "released_by", "release_reason"])
        audit_record(tenant=tenant, actor=actor, action="legal_hold.release", object_kind="legal_hold",
                     object_ref=hold.pk, before=before, after=_hold_state(hold), ip=ip)
    return hold


def _hold_state(hold):
    return {"room": hold.room_id, "subject_kind": hold.subject_kind, "subject_ref": hold.subject_ref,
            "reason": hold.reason, "released": hold.released_at is not None, "release_reason": hold.release_reason}


# --- the sweep ------------------------------------------------------------------------------


def _seq_ranges(seqs):
    """[[first, last], ...] of sorted seqs."""
    ranges = []
    for seq in seqs:
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    return ranges


def retention_tombstone(*, tenant_id, message_ids):
    """Calls the database's retention_tombstone(): rows (message_id, room_id, seq, hash, policy_id,
    files) of the messages it destroyed (those it re-checked as due and not held)."""
    if not message_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT message_id, room_id, seq, hash, policy_id, files FROM retention_tombstone(%s, %s)",
                       [tenant_id, list(message_ids)])
        return cursor.fetchall()


def _delete_files(paths):
    for path in paths:
        try:
            default_storage.delete(path)
        except OSError:  # gone already, or the storage refuses: the row no longer names it
            logger.warning("retention: could not delete attachment file %s", path)


def retention_purge_batch(*, tenant_id, room_kind, after_id=0, now=None, batch=SWEEP_BATCH):
    """One transaction of the sweep for a tenant's rooms of one kind: the next `batch` due messages
    after message id `after_id` (SKIP LOCKED), destroyed, one audit record per room. Answers
    (destroyed count, the last id looked at or None when there are no more)."""
    policy = RetentionPolicy.objects.filter(tenant_id=tenant_id, room_kind=room_kind, days__isnull=False).first()
    if policy is None:
        return 0, None
    now = now or timezone.now()
    cutoff = now - timedelta(days=policy.days)
    with transaction.atomic():
        due = (Message.objects.filter(tenant_id=tenant_id, room__kind=room_kind, destroyed_at__isnull=True,
                                      created_at__lt=cutoff, pk__gt=after_id)
               .exclude(_held(tenant_id)))
        ids = list(due.order_by("pk").select_for_update(skip_locked=True, of=("self",))
                   .values_list("pk", flat=True)[:batch])
        if not ids:
            return 0, None
        rows = retention_tombstone(tenant_id=tenant_id, message_ids=ids)
        by_room = {}
        files = []
        for _message_id, room_id, seq, digest, policy_id, paths in rows:
            by_room.setdefault(room_id, []).append((seq, digest, policy_id))
            files += paths or []
        for room_id, destroyed in sorted(by_room.items()):
            destroyed.sort()
            audit_record(
                tenant=tenant_id, actor=None, action="retention.purge", object_kind="room", object_ref=room_id,
                after={"room": room_id, "room_kind": room_kind, "policy": policy.pk, "days": policy.days,
                       "cutoff": cutoff.isoformat(), "count": len(destroyed),
                       "seq_ranges": _seq_ranges([seq for seq, _d, _p in destroyed]),
                       "hashes": {str(seq): digest for seq, digest, _p in destroyed}})
        transaction.on_commit(lambda: _delete_files(files))
        # Open pages of these rooms replace the messages with the notice, live (one frame per room).
        message_tombstones_announce(message_ids=[row[0] for row in rows])
    return len(rows), ids[-1]


def retention_sweep_tenant(*, tenant_id, now=None, batch=SWEEP_BATCH):
    """Destroys every due, unheld message of a tenant, batch by batch; answers the count."""
    total = 0
    for room_kind in RetentionPolicy.objects.filter(tenant_id=tenant_id, days__isnull=False).values_list(
            "room_kind", flat=True):
        after_id = 0
        while after_id is not None:
            count, after_id = retention_purge_batch(tenant_id=tenant_id, room_kind=room_kind, after_id=after_id,
                                                    now=now, batch=batch)
            total += count
    return total


def retention_tenant_ids():
    """The tenants with a policy that destroys something."""
    return sorted(set(RetentionPolicy.objects.filter(days__isnull=False).values_list("tenant_id", flat=True)))


def retention_witness(room):
    """{seq: hash} of a room's messages destroyed by the sweep, from the purge records of the audit
    log: what messaging.chain.chain_verify checks a tombstone against."""
    witnessed = {}
    records = AuditRecord.objects.filter(tenant_id=room.tenant_id, action="retention.purge", object_kind="room",
                                         object_ref=str(room.pk)).values_list("after", flat=True)
    for after in records:
        for seq, digest in ((after or {}).get("hashes") or {}).items():
            witnessed[int(seq)] = digest
    return witnessed


def retention_room_get(*, tenant, room_id):
    """A room of the tenant, for a hold (None when there is none): the tenant admin holds any room
    of the tenant, including partner rooms they do not follow and so do not read."""
    try:
        room_id = int(room_id)
    except (TypeError, ValueError):
        return None
    if not 0 < room_id < 2**63:
        return None
    return Room.objects.for_tenant(tenant).filter(pk=room_id).first()


def retention_room_list(*, tenant):
    return Room.objects.for_tenant(tenant).order_by("kind", "name")
