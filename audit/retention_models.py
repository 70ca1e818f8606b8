"""Retention: how long a tenant keeps each kind of room's messages, and the legal holds that stop
the destruction (docs/AUDIT_RETENTION.md).

A policy row per (tenant, room kind); `days` null keeps that kind's messages forever. The row is
kept when its days change (a tombstone names the policy that destroyed it). A legal hold is on a
room, or on a record (a message subject: kind and reference); it is released, never deleted.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from messaging.models import Room, RoomKind
from scm_portal.tenancy.models import Tenant
from scm_portal.tenancy.querysets import AccessPolicy, TenantQuerySet
from scm_portal.tenancy.roles import Role

RETENTION_READERS = frozenset({Role.TENANT_ADMIN, Role.AUDITOR})
RETENTION_WRITERS = frozenset({Role.TENANT_ADMIN})
RETENTION_DAYS_MIN = 1
RETENTION_DAYS_MAX = 36500  # a hundred years: beyond it, keep forever (days null)


class RetentionPolicy(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    room_kind = models.CharField(max_length=20, choices=RoomKind.choices)
    days = models.PositiveIntegerField(null=True, blank=True)  # null: kept forever
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    updated_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(core={"view": RETENTION_READERS, "change": RETENTION_WRITERS})

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "room_kind"], name="retention_policy_once_per_kind"),
            models.CheckConstraint(
                condition=Q(days__isnull=True) | Q(days__gte=RETENTION_DAYS_MIN, days__lte=RETENTION_DAYS_MAX),
                name="retention_policy_days_range",
            ),
        ]

    def __str__(self):
        return f"{self.tenant_id}:{self.room_kind}={self.days}"


class LegalHold(models.Model):
    """An admin's hold: on a room (every message in it), or on a record (every message linked to it)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    subject_kind = models.CharField(max_length=40, blank=True, default="")
    subject_ref = models.CharField(max_length=64, blank=True, default="")
    reason = models.TextField()
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    release_reason = models.TextField(blank=True, default="")

    objects = TenantQuerySet.as_manager()
    access_policy = AccessPolicy(core={"view": RETENTION_READERS, "add": RETENTION_WRITERS,
                                       "release": RETENTION_WRITERS})

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(room__isnull=False, subject_kind="", subject_ref="")
                           | (Q(room__isnull=True) & ~Q(subject_kind="") & ~Q(subject_ref=""))),
                name="legal_hold_room_or_record",
            ),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True, released_by__isnull=True, release_reason="")
                | (Q(released_at__isnull=False) & ~Q(release_reason="")),
                name="legal_hold_release_has_reason",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="legal_hold_has_reason"),
        ]
        indexes = [
            models.Index(fields=["tenant", "subject_kind", "subject_ref"], condition=Q(released_at__isnull=True),
                         name="legal_hold_active_record"),
            models.Index(fields=["room"], condition=Q(released_at__isnull=True), name="legal_hold_active_room"),
        ]

    @property
    def active(self):
        return self.released_at is None

    def target_label(self):
        if self.room_id:
            return _("Room %(name)s") % {"name": self.room.name}
        return f"{self.subject_kind} {self.subject_ref}"

    def __str__(self):
        return f"hold {self.pk}"
