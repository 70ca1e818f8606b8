"""The trail PDFs in the API: `purchase-orders/{number}/trail.pdf`, `financing-applications/{id}/
trail.pdf`, `alerts/{id}/trail.pdf` (each routed by its own app with `trail_pdf_view`), and the
background exports of large trails, `trail-exports/{id}/` and `trail-exports/{id}/file.pdf`.

A small trail answers 200 with the PDF, streamed from the rendered file. A trail of more than
LARGE_TRAIL messages answers 202 with the export job ({id, state, progress, url, file}); its file
is its requester's only."""

from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.trails.access import access_trail_export
from audit.trails.models import ExportState, TrailExport
from audit.trails.sandbox import RenderError
from audit.trails.services import trail_access, trail_export
from scm_portal.api.viewsets import TenantContextMixin
from scm_portal.tenancy.security import client_ip


class RenderFailed(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "render_failed"
    default_detail = gettext_lazy("The PDF could not be rendered in time; try again later.")


ExportSerializer = inline_serializer("TrailExport", {
    "id": serializers.IntegerField(),
    "kind": serializers.CharField(),
    "ref": serializers.CharField(),
    "state": serializers.ChoiceField(choices=ExportState.choices),
    "progress": serializers.IntegerField(),
    "messages": serializers.IntegerField(),
    "url": serializers.CharField(),
    "file": serializers.CharField(allow_null=True),
    "error": serializers.CharField(),
})


def export_json(job, tenant_slug):
    url = reverse("api:trail-export", kwargs={"tenant": tenant_slug, "pk": job.pk})
    done = job.state == ExportState.DONE
    return {
        "id": job.pk, "kind": job.kind, "ref": job.ref, "state": job.state, "progress": job.percent,
        "messages": job.messages, "url": url,
        "file": reverse("api:trail-export-file", kwargs={"tenant": tenant_slug, "pk": job.pk}) if done else None,
        "error": job.error,
    }


def _pdf_response(pdf, filename):
    response = FileResponse(iter([pdf]) if isinstance(pdf, bytes) else pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def safe_filename(text):
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in str(text))[:80] or "trail"


class TrailPdfView(TenantContextMixin, APIView):
    """GET: the record's audit trail as a PDF (200), or its background export (202)."""

    kind = None  # the registered trail kind
    model = None  # what the URL's ref names (the schema crawler probes with its rows)
    lookup_field = "pk"

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY, 202: ExportSerializer})
    def get(self, request, tenant=None, **kwargs):
        ref = str(kwargs.get(self.lookup_field))
        kind, record = trail_access(kind=self.kind, ref=ref, user=request.user, context=self.tenant_context)
        try:
            mode, result = trail_export(tenant=self.tenant, actor=request.user, context=self.tenant_context,
                                        kind=kind, record=record, ip=client_ip(request))
        except RenderError as exc:
            raise RenderFailed() from exc
        if mode == "job":
            result.refresh_from_db()
            return Response(export_json(result, self.tenant.slug), status=status.HTTP_202_ACCEPTED,
                            headers={"Location": reverse("api:trail-export", kwargs={"tenant": self.tenant.slug, "pk": result.pk})})
        return _pdf_response(result, f"trail-{safe_filename(kind.ref(record))}.pdf")


def trail_pdf_view(kind, *, model, lookup_field="pk"):
    """The view of `kind`'s trail.pdf route (each domain app routes its own)."""
    view = type(f"{model.__name__}TrailPdfView", (TrailPdfView,), {"kind": kind, "model": model, "lookup_field": lookup_field})
    return view.as_view()


class TrailExportView(TenantContextMixin, APIView):
    """GET: a background export of the requester's own (404 for anyone else)."""

    model = TrailExport

    @extend_schema(responses={200: ExportSerializer})
    def get(self, request, tenant=None, pk=None):
        job = access_trail_export(request.user, self.tenant, pk)
        return Response(export_json(job, self.tenant.slug))


class TrailExportFileView(TenantContextMixin, APIView):
    """GET: the finished PDF of the requester's own export (404 for anyone else, 409 not ready)."""

    model = TrailExport

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, tenant=None, pk=None):
        job = access_trail_export(request.user, self.tenant, pk)
        if job.state != ExportState.DONE or not job.file:
            from scm_portal.errors import StateConflict

            raise StateConflict(_("The export is not ready yet."), code="export_not_ready")
        return _pdf_response(job.file.open("rb"), f"trail-{safe_filename(job.ref)}.pdf")
