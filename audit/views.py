"""The auditor's pages under /t/<tenant>/audit/: the audit log (filters, pages of 50) and
verification of the hash chains and of uploaded trail PDFs. For the auditor and the tenant admin only (403 for the other
members, as the navigation promises: audit.portal)."""

from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from audit import selectors, verify
from messaging.models import Room
from scm_portal.api.params import INT64_MAX
from scm_portal.tenancy.views import tenant_page

PAGE_SIZE = 50


def _refused(request):
    return render(request, "403.html", status=403)


def _before(raw):
    """The keyset of the next page: a seq, or None (anything else is the first page)."""
    if raw and raw.isascii() and raw.isdigit() and len(raw) < 19 and 0 < int(raw) <= INT64_MAX:
        return int(raw)
    return None


@tenant_page
def log(request):
    if not selectors.audit_log_readable(request.tenant_context):
        return _refused(request)
    params = {name: request.GET.get(name, "") for name in selectors.FILTERS}
    errors, records, older = {}, [], None
    try:
        filters = selectors.audit_filters_check(params)
    except ValidationError as error:
        errors = {name: " ".join(messages) for name, messages in error.message_dict.items()}
    if not errors:
        rows = selectors.audit_record_list(user=request.user, context=request.tenant_context, **filters)
        before = _before(request.GET.get("before"))
        if before is not None:
            rows = rows.filter(seq__lt=before)
        records = list(rows[:PAGE_SIZE + 1])
        if len(records) > PAGE_SIZE:
            records = records[:PAGE_SIZE]
            older = records[-1].seq
    query = "&".join(f"{name}={value}" for name, value in request.GET.items() if name in selectors.FILTERS and value)
    context = {
        "records": records,
        "older": older,
        "filters": params,
        "errors": errors,
        "filtered": any(params.values()),
        "kinds": selectors.audit_record_kinds(user=request.user, context=request.tenant_context),
        "query": query,
    }
    return render(request, "audit/log.html", context, status=400 if errors else 200)


@tenant_page
@require_http_methods(["GET", "POST"])
def verify_page(request):
    if not selectors.audit_log_readable(request.tenant_context):
        return _refused(request)
    tenant = request.tenant
    rooms = list(Room.objects.filter(tenant=tenant).order_by("pk").only("pk", "name"))
    report, pdf_report, error, status = None, None, "", 200
    form = {"scope": "tenant", "room": "", "kind": "", "ref": ""}
    if request.method == "POST":
        form = {name: request.POST.get(name, "").strip()[:100] for name in form}
        scope = form["scope"]
        if scope == "pdf":
            try:
                pdf_report = verify.tenant_pdf_verify(tenant, request.FILES.get("pdf"))
            except ValidationError as refused:
                error, status = " ".join(refused.messages), 400
        elif scope == "tenant":
            report = verify.tenant_verify(tenant)
        elif scope == "room":
            room = next((r for r in rooms if str(r.pk) == form["room"]), None)
            if room is None:
                error, status = _("Choose a room of this tenant."), 400
            else:
                report = verify.rooms_verify([room])
        elif scope == "record":
            if not form["kind"] or not form["ref"]:
                error, status = _("Give the record's kind and reference."), 400
            else:
                report = verify.record_verify(tenant, form["kind"], form["ref"])
                if report is None:
                    error, status = _("Nothing of this tenant links to that record."), 404
        else:
            error, status = _("Choose what to verify."), 400
    context = {"rooms": rooms, "form": form, "report": report, "pdf_report": pdf_report, "error": error,
               "kinds": ["purchase_order", "financing_application", "alert", "shipment", "invoice"]}
    return render(request, "audit/verify.html", context, status=status)
