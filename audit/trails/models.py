"""A trail export that renders in the background (a large trail): its state and progress, shown
on the page that polls it, and the finished file, downloadable by its requester only."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from scm_portal.tenancy.models import Tenant
from scm_portal.tenancy.querysets import TenantQuerySet


class ExportState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RENDERING = "rendering", _("Rendering")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


class TrailExport(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=40)  # a registered trail kind: "purchase_order", ...
    ref = models.CharField(max_length=100)
    language = models.CharField(max_length=10)
    state = models.CharField(max_length=10, choices=ExportState.choices, default=ExportState.QUEUED)
    chunks_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    messages = models.PositiveIntegerField(default=0)
    audit_seq = models.BigIntegerField(null=True, blank=True)  # the `trail.export` audit record
    file = models.FileField(upload_to="trails/%Y/%m/", blank=True, default="")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    error = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Only its requester sees an export and downloads its file: read through
    # audit.trails.services.access_trail_export (tenant and requester), never by id alone.
    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["tenant", "requested_by", "-created_at"], name="trail_export_mine")]

    @property
    def percent(self):
        if self.state == ExportState.DONE:
            return 100
        if not self.chunks_total:
            return 0
        return min(99, int(100 * self.chunks_done / self.chunks_total))
