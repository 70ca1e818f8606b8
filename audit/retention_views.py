"""Retention pages under /t/<tenant>/retention/: the policies per room kind and the legal holds.

The tenant admin gets the forms; the auditor reads the same pages without them; everyone else 403.
Writes go through audit.retention, as the API's do.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from audit import retention
from audit.retention_models import RETENTION_DAYS_MAX, RETENTION_DAYS_MIN, RETENTION_READERS, RETENTION_WRITERS
from messaging import registry
from scm_portal.tenancy.security import client_ip
from scm_portal.tenancy.views import tenant_page


def _roles(request):
    roles = request.tenant_context.roles
    if not roles & RETENTION_READERS:
        raise PermissionDenied
    return bool(roles & RETENTION_WRITERS)


def _errors(exc):
    if hasattr(exc, "message_dict"):
        return [text for texts in exc.message_dict.values() for text in texts]
    return list(exc.messages)


@tenant_page
@require_http_methods(["GET", "POST"])
def retention_page(request):
    may_edit = _roles(request)
    errors, status = [], 200
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied
        room_kind = request.POST.get("room_kind", "")
        raw = request.POST.get("days", "").strip()
        try:
            if raw and not raw.isdigit():
                raise ValidationError({"days": [_("Keep messages between %(min)d and %(max)d days, or forever (null).")
                                                 % {"min": RETENTION_DAYS_MIN, "max": RETENTION_DAYS_MAX}]})
            retention.retention_policy_set(tenant=request.tenant, actor=request.user, context=request.tenant_context,
                                           room_kind=room_kind, days=int(raw) if raw else None,
                                           ip=client_ip(request) or None)
        except ValidationError as exc:
            errors, status = _errors(exc), 400
        else:
            return redirect("audit-retention:policies", tenant=request.tenant.slug)
    policies = retention.retention_policy_list(user=request.user, context=request.tenant_context)
    purges = list(retention.retention_purge_list(user=request.user, context=request.tenant_context, limit=20))
    return render(request, "audit/retention.html", {
        "policies": policies, "purges": purges, "may_edit": may_edit, "errors": errors,
        "days_min": RETENTION_DAYS_MIN, "days_max": RETENTION_DAYS_MAX, "section": "policies",
    }, status=status)


def _hold_form_context(request, may_edit, errors=(), values=None, status=200):
    holds = list(retention.legal_hold_list(user=request.user, context=request.tenant_context)[:200])
    rooms = list(retention.retention_room_list(tenant=request.tenant)) if may_edit else []
    return render(request, "audit/holds.html", {
        "holds": holds, "may_edit": may_edit, "errors": list(errors), "values": values or {},
        "rooms": rooms, "subject_kinds": sorted(registry.SUBJECTS), "section": "holds",
    }, status=status)


@tenant_page
@require_http_methods(["GET", "POST"])
def holds_page(request):
    may_edit = _roles(request)
    if request.method == "GET":
        return _hold_form_context(request, may_edit)
    if not may_edit:
        raise PermissionDenied
    values = {name: request.POST.get(name, "").strip() for name in ("target", "room", "subject_kind", "subject_ref",
                                                                     "reason")}
    try:
        room = None
        if values["target"] == "room":
            room = retention.retention_room_get(tenant=request.tenant, room_id=values["room"])
            if room is None:
                raise ValidationError({"room": [_("Unknown room.")]})
            kind, ref = "", ""
        else:
            kind, ref = values["subject_kind"], values["subject_ref"]
        retention.legal_hold_place(tenant=request.tenant, actor=request.user, context=request.tenant_context,
                                   reason=values["reason"], room=room, subject_kind=kind, subject_ref=ref,
                                   ip=client_ip(request) or None)
    except ValidationError as exc:
        return _hold_form_context(request, may_edit, _errors(exc), values, status=400)
    return redirect("audit-retention:holds", tenant=request.tenant.slug)


@tenant_page
@require_http_methods(["POST"])
def hold_release(request, pk):
    if not _roles(request):
        raise PermissionDenied
    hold = retention.legal_hold_list(user=request.user, context=request.tenant_context).filter(pk=pk).first()
    if hold is None:
        raise Http404
    try:
        retention.legal_hold_release(tenant=request.tenant, actor=request.user, context=request.tenant_context,
                                     hold=hold, reason=request.POST.get("reason", ""), ip=client_ip(request) or None)
    except ValidationError as exc:
        return _hold_form_context(request, True, _errors(exc), status=400)
    return redirect("audit-retention:holds", tenant=request.tenant.slug)
