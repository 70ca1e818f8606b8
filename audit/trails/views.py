"""The auditor's pages: search records, a record's trail (the PDF's content as a page), its
export (a small trail downloads at once, a large one becomes a job whose progress the page
polls), and the job's file, its requester's only. Nothing here writes but the export's audit
record: no page offers the auditor a form that changes anything."""

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy

from audit.trails import build, trail_kind, trail_kinds
from audit.trails.access import access_trail_export
from audit.trails.api import safe_filename
from audit.trails.build import trail_build
from audit.trails.models import ExportState
from audit.trails.portal import RECORDS_READERS
from audit.trails.render import display_context
from audit.trails.sandbox import RenderError
from audit.trails.services import trail_access, trail_export, trail_export_list
from scm_portal.tenancy.security import client_ip
from scm_portal.tenancy.views import tenant_page


class RecordSearchForm(forms.Form):
    kind = forms.CharField(required=False, max_length=40)
    q = forms.CharField(required=False, max_length=100, label=gettext_lazy("Number or id"))
    state = forms.CharField(required=False, max_length=40)
    since = forms.DateField(required=False, label=gettext_lazy("From"))
    until = forms.DateField(required=False, label=gettext_lazy("To"))


@tenant_page
def records(request):
    if not request.tenant_context.roles & RECORDS_READERS:
        raise PermissionDenied
    kinds = trail_kinds()
    form = RecordSearchForm(request.GET)
    form.is_valid()  # a value that does not parse is dropped, never a 500
    data = form.cleaned_data
    kind = trail_kind(data.get("kind") or "") or (kinds[0] if kinds else None)
    state = data.get("state") or ""
    if kind is not None and state not in dict(kind.states):
        state = ""
    rows = []
    if kind is not None:
        rows = kind.search(request.user, request.tenant_context, (data.get("q") or "").strip(), state,
                           data.get("since"), data.get("until"))
    return render(request, "audit/records.html", {
        "kinds": kinds, "kind": kind, "rows": rows, "form": form, "state": state,
        "filters": {"q": data.get("q") or "", "since": data.get("since"), "until": data.get("until")},
        "filtered": any([data.get("q"), state, data.get("since"), data.get("until")]),
        "exports": trail_export_list(request.user, request.tenant),
    })


@tenant_page
def trail_page(request, kind, ref):
    kind, record = trail_access(kind=kind, ref=ref, user=request.user, context=request.tenant_context)
    trail = trail_build(kind, record, user=request.user, context=request.tenant_context)
    context = display_context(trail, time_zone=request.tenant.time_zone)
    context.update({"kind": kind, "ref": str(kind.ref(record)), "large": len(trail["messages"]) > build.LARGE_TRAIL})
    return render(request, "audit/trail_page.html", context)


@tenant_page
def trail_export_page(request, kind, ref):
    """The export (a link, GET like the API's trail.pdf): the PDF itself for a small trail; for a
    large one, the job's page, which shows its progress."""
    kind, record = trail_access(kind=kind, ref=ref, user=request.user, context=request.tenant_context)
    try:
        mode, result = trail_export(tenant=request.tenant, actor=request.user, context=request.tenant_context,
                                    kind=kind, record=record, ip=client_ip(request))
    except RenderError:
        return render(request, "audit/trail_export_failed.html", {"kind": kind, "ref": str(kind.ref(record))}, status=503)
    if mode == "job":
        return redirect("trails:export", tenant=request.tenant.slug, pk=result.pk)
    response = FileResponse(iter([result]), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="trail-{safe_filename(kind.ref(record))}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


@tenant_page
def export_status(request, pk):
    job = access_trail_export(request.user, request.tenant, pk)
    kind = trail_kind(job.kind)
    template = "audit/trail_export_progress.html" if request.headers.get("HX-Request") else "audit/trail_export.html"
    return render(request, template, {"job": job, "kind": kind, "done": job.state == ExportState.DONE,
                                      "finished": job.state in (ExportState.DONE, ExportState.FAILED)})


@tenant_page
def export_file(request, pk):
    job = access_trail_export(request.user, request.tenant, pk)
    if job.state != ExportState.DONE or not job.file:
        raise Http404
    response = FileResponse(job.file.open("rb"), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="trail-{safe_filename(job.ref)}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


