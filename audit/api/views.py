"""The audit log and its verification over HTTP: the auditor and the tenant admin only.

A member of the tenant with another role gets 403 (the tenant is theirs, the log is not); anyone
else 404, as for every tenant path."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from audit import selectors, verify
from audit.api import serializers as s
from audit.models import AuditRecord
from messaging.models import Room
from scm_portal.api.pagination import CursorPagination
from scm_portal.api.viewsets import TenantContextMixin, TenantScopedViewSet


class AuditLogPagination(CursorPagination):
    ordering = "-seq"  # a tenant's chain order, served by its (tenant, seq) unique index


def _check_reader(view):
    if not selectors.audit_log_readable(view.tenant_context):
        raise exceptions.PermissionDenied(_("Only the auditor and the tenant administrator read the audit log."))


FILTER_PARAMETERS = [
    OpenApiParameter("object_kind", str, description="purchase_order, financing_application, alert, membership, user, ..."),
    OpenApiParameter("object_ref", str, description="the record's reference: a PO number, an id"),
    OpenApiParameter("action", str, description="purchase_order.confirm; purchase_order. for every action of a kind"),
    OpenApiParameter("actor", str, description="a username"),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="a date (2026-01-31) or an ISO 8601 date and time"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="exclusive; a date counts its whole day"),
]


@extend_schema_view(list=extend_schema(parameters=FILTER_PARAMETERS))
class AuditLogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's audit log, newest first: `{at, actor, action, object, before, after, hash}`."""

    model = AuditRecord
    serializer_class = s.AuditRecordSerializer
    pagination_class = AuditLogPagination

    def check_permissions(self, request):
        super().check_permissions(request)
        _check_reader(self)

    def safely_get_queryset(self, queryset):
        if self.action != "list":
            return queryset
        try:
            filters = selectors.audit_filters_check(self.request.query_params)
        except ValidationError as error:
            raise exceptions.ValidationError(error.message_dict) from None
        return selectors.audit_record_list(user=self.request.user, context=self.tenant_context, **filters)


class AuditVerifyView(TenantContextMixin, APIView):
    """Recomputes hash chains and names the first broken row: `{"scope": "tenant"}` (every room and
    the audit log), `{"scope": "room", "room": id}`, `{"scope": "record", "kind": ..., "ref": ...}`."""

    read_only_roles_may = frozenset({"post"})  # verifying reads and recomputes; it changes nothing

    def check_permissions(self, request):
        super().check_permissions(request)
        _check_reader(self)

    @extend_schema(request=s.VerifyRequestSerializer, responses={200: s.VerifyResultSerializer})
    def post(self, request, tenant=None):
        data = s.VerifyRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scope = data.validated_data["scope"]
        if scope == "tenant":
            report = verify.tenant_verify(self.tenant)
        elif scope == "room":
            room = Room.objects.filter(tenant=self.tenant, pk=data.validated_data["room"]).only("pk", "name").first()
            if room is None:
                raise exceptions.NotFound()
            report = verify.rooms_verify([room])
        else:
            report = verify.record_verify(self.tenant, data.validated_data["kind"], data.validated_data["ref"])
            if report is None:
                raise exceptions.NotFound()
        return Response(report.as_dict())


class AuditVerifyPdfView(TenantContextMixin, APIView):
    """Checks an uploaded trail PDF (multipart `file`) against the database, as `verify_trail
    FILE.pdf` does: `{ok, kind, ref, tenant, messages, exported_by, exported_at, problems}`. Only a
    trail of this tenant: no file, one that embeds no trail, or another tenant's is a 400."""

    parser_classes = (MultiPartParser, *api_settings.DEFAULT_PARSER_CLASSES)  # JSON: a 400 naming `file`
    read_only_roles_may = frozenset({"post"})  # verifying reads and recomputes; it changes nothing

    def check_permissions(self, request):
        super().check_permissions(request)
        _check_reader(self)

    @extend_schema(request={"multipart/form-data": s.VerifyPdfRequestSerializer},
                   responses={200: s.VerifyPdfResultSerializer})
    def post(self, request, tenant=None):
        try:
            report = verify.tenant_pdf_verify(self.tenant, request.FILES.get("file"))
        except ValidationError as refused:
            raise exceptions.ValidationError({"file": refused.messages}) from None
        return Response({"ok": report.ok, "kind": report.kind, "ref": report.ref, "tenant": report.tenant,
                         "messages": report.messages, "exported_by": report.exported_by,
                         "exported_at": report.exported_at, "problems": list(report.problems)})
