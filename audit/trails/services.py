"""Exporting a trail: who may, the `trail.export` audit record every export writes, and the two
ways a PDF is made (a small trail streams at once; a large one is a background job).

Who may export a record's trail: whoever may see the record (its app's `access`): the auditor
(the whole tenant, read-only; the trail then holds every linked message), the tenant admin, the
record's core staff, and on the partner side the PO's supplier, the application's applicant
and funder, the alert's organisation. Each trail holds only what its exporter may read in the
rooms (no internal notes for a partner), so exporting never shows more than reading does.
"""

import hashlib
import math

from django.core.files import File
from django.db import transaction
from django.http import Http404
from django.utils import timezone, translation

from audit.models import AuditRecord
from audit.services import audit_record
from audit.trails import trail_kind
from audit.trails import build
from audit.trails.build import trail_build, trail_message_count
from audit.trails.models import ExportState, TrailExport
from audit.trails.render import trail_pdf_bytes, trail_pdf_to_file
from scm_portal.tenancy.context import check_context

EXPORT_ACTION = "trail.export"


def trail_access(*, kind, ref, user, context):
    """(TrailKind, record) if `kind` is registered and the user may see record `ref`; 404 otherwise
    (the same answer for "missing" and "not yours")."""
    trail = trail_kind(kind) if isinstance(kind, str) else kind
    if trail is None or not isinstance(ref, str) or not 0 < len(ref) <= 100:
        raise Http404
    record = trail.access(user, context, ref)
    if record is None:
        raise Http404
    return trail, record


def trail_export_list(user, tenant, limit=20):
    """The user's own recent exports in the tenant, newest first."""
    return list(TrailExport.objects.for_tenant(tenant).filter(requested_by=user).order_by("-created_at", "-pk")[:limit])


def _record_export(*, tenant, actor, kind, record, mode, messages, ip, export=None):
    after = {"messages": messages, "mode": mode, "language": translation.get_language()}
    if export is not None:
        after["export"] = export.pk
    return audit_record(tenant=tenant, actor=actor, action=EXPORT_ACTION, object_kind=kind.kind,
                        object_ref=str(kind.ref(record)), after=after, ip=ip)


def trail_export(*, tenant, actor, context, kind, record, ip=None, force_job=False):
    """Exports the trail of `record`: ("pdf", bytes) for a small trail, ("job", TrailExport) for
    one of more than LARGE_TRAIL messages (rendered by a Celery task; its file is the requester's
    only). Either way one `trail.export` audit record is written first; it is the audit chain head
    the trail names."""
    check_context(context, tenant=tenant, user=actor)
    count = trail_message_count(kind, record, user=actor, context=context)
    if count > build.LARGE_TRAIL or force_job:
        return "job", _export_job(tenant=tenant, actor=actor, kind=kind, record=record, count=count, ip=ip)
    export = _record_export(tenant=tenant, actor=actor, kind=kind, record=record, mode="direct", messages=count, ip=ip)
    trail = trail_build(kind, record, user=actor, context=context, export_record=export)
    return "pdf", trail_pdf_bytes(trail, time_zone=tenant.time_zone)


@transaction.atomic
def _export_job(*, tenant, actor, kind, record, count, ip):
    from audit.trails.tasks import trail_export_render

    job = TrailExport.objects.create(
        tenant=tenant, requested_by=actor, kind=kind.kind, ref=str(kind.ref(record)),
        language=translation.get_language(), messages=count, chunks_total=max(1, math.ceil(count / build.CHUNK_MESSAGES)),
    )
    export = _record_export(tenant=tenant, actor=actor, kind=kind, record=record, mode="job", messages=count, ip=ip,
                            export=job)
    TrailExport.objects.filter(pk=job.pk).update(audit_seq=export.seq)
    job.audit_seq = export.seq
    transaction.on_commit(lambda: trail_export_render.delay(job.pk))
    return job


def trail_export_run(export_id):
    """The background render of an export job (tasks.trail_export_render); idempotent: a job
    already done or failed is left as it is."""
    from scm_portal.tenancy.access import tenant_context_for

    job = TrailExport.objects.select_related("tenant", "requested_by").filter(pk=export_id).first()
    if job is None or job.state in (ExportState.DONE, ExportState.FAILED):
        return
    TrailExport.objects.filter(pk=job.pk).update(state=ExportState.RENDERING)
    tenant, user = job.tenant, job.requested_by
    context = tenant_context_for(user, tenant)
    try:
        # Access is checked again: a membership lost since the request makes no file.
        kind, record = trail_access(kind=job.kind, ref=job.ref, user=user, context=context)
    except Http404:
        _fail(job, "the record is no longer visible to the requester")
        return
    export = AuditRecord.objects.filter(tenant=tenant, seq=job.audit_seq).first()

    def progress(done, total):
        TrailExport.objects.filter(pk=job.pk).update(chunks_done=done, chunks_total=total)

    with translation.override(job.language):
        trail = trail_build(kind, record, user=user, context=context, export_record=export, language=job.language)
    try:
        path, _result = trail_pdf_to_file(trail, time_zone=tenant.time_zone, on_progress=progress)
    except Exception as exc:  # noqa: BLE001 — the job shows why; the worker goes on
        _fail(job, str(exc))
        return
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        with path.open("rb") as handle:
            job.file.save(f"trail-{job.pk}.pdf", File(handle), save=False)
    finally:
        path.unlink(missing_ok=True)
    TrailExport.objects.filter(pk=job.pk).update(
        state=ExportState.DONE, file=job.file.name, sha256=digest, chunks_done=job.chunks_total or 1,
        finished_at=timezone.now())


def _fail(job, reason):
    TrailExport.objects.filter(pk=job.pk).update(state=ExportState.FAILED, error=reason[:300], finished_at=timezone.now())
