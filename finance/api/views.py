"""Finance's API under /api/v1/t/{tenant}/: invoices, receivables, financing applications.

Thin: resolve the row through the sealed read path (404 for what the user may not see, 403 for
an action their roles may not take), call the service, answer. A service's FinanceConflict is a
409 with its code, OtpRequired a 403 `otp_required`."""

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from finance import services
from finance.api import serializers as s
from finance.models import FinanceConflict, FinancingApplication, Invoice, OtpRequired, Receivable
from scm_portal.api.errors import Conflict
from scm_portal.api.parsers import JSONParser, MultiPartParser
from scm_portal.api.viewsets import TenantScopedViewSet
from scm_portal.tenancy.totp import totp_verified_at


class FinanceViewSet(TenantScopedViewSet):
    """The finance views' common answer to a service's refusal."""

    def handle_exception(self, exc):
        if isinstance(exc, FinanceConflict):
            exc = Conflict(str(exc), code=exc.code)
        elif isinstance(exc, OtpRequired):
            exc = exceptions.PermissionDenied(str(exc), code="otp_required")
        return super().handle_exception(exc)

    def service_kwargs(self):
        return {"tenant": self.tenant, "actor": self.request.user, "context": self.tenant_context}

    def body(self, serializer_class):
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def state_filter(self, queryset, states):
        state = self.request.query_params.get("state")
        if state is None:
            return queryset
        if state not in states:
            raise exceptions.ValidationError({"state": [_("Unknown state.")]})
        return queryset.filter(state=state)


class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FinanceViewSet):
    """GET, POST invoices/; POST invoices/{id}/reject/ (finance); POST invoices/{id}/attachments/ (the supplier)."""

    model = Invoice
    serializer_class = s.InvoiceSerializer
    action_permissions = {"reject": "reject", "attachments": "view"}

    def safely_get_queryset(self, queryset):
        return queryset.select_related("purchase_order", "supplier").prefetch_related("receivables", "attachments")

    @extend_schema(request=s.InvoiceCreateSerializer, responses={201: s.InvoiceSerializer})
    def create(self, request, tenant=None):
        data = self.body(s.InvoiceCreateSerializer)
        invoice = services.invoice_create(**self.service_kwargs(), **data)
        return Response(s.InvoiceSerializer(self.get_queryset().get(pk=invoice.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ReasonSerializer, responses={200: s.InvoiceSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, tenant=None, pk=None):
        invoice = self.get_object()
        services.invoice_reject(**self.service_kwargs(), invoice=invoice, reason=self.body(s.ReasonSerializer)["reason"])
        return Response(s.InvoiceSerializer(self.get_queryset().get(pk=invoice.pk)).data)

    @extend_schema(request={"multipart/form-data": s.InvoiceAttachmentUploadSerializer}, responses={201: s.InvoiceAttachmentOut})
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, JSONParser])
    def attachments(self, request, tenant=None, pk=None):
        invoice = self.get_object()
        upload = self.body(s.InvoiceAttachmentUploadSerializer)["file"]
        attachment = services.invoice_attachment_add(**self.service_kwargs(), invoice=invoice, upload=upload)
        return Response(s.InvoiceAttachmentOut(attachment).data, status=status.HTTP_201_CREATED)


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("state", str, description="Only this state.")]))
class ReceivableViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FinanceViewSet):
    """GET receivables/ (those the user may see); POST receivables/{id}/confirm/ (finance),
    receivables/{id}/split/ (the holder)."""

    model = Receivable
    serializer_class = s.ReceivableSerializer
    action_permissions = {"confirm": "confirm", "split": "split"}

    def safely_get_queryset(self, queryset):
        return self.state_filter(queryset.select_related("holder"), s.STATE_FILTERS["receivables"])

    @extend_schema(request=s.ReceivableConfirmSerializer, responses={200: s.ReceivableSerializer})
    @action(detail=True, methods=["post"])
    def confirm(self, request, tenant=None, pk=None):
        receivable = self.get_object()
        receivable = services.receivable_confirm(**self.service_kwargs(), receivable=receivable,
                                                 due_date=self.body(s.ReceivableConfirmSerializer)["due_date"])
        return Response(s.ReceivableSerializer(self.get_queryset().get(pk=receivable.pk)).data)

    @extend_schema(request=s.SplitSerializer, responses={201: s.ReceivableSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def split(self, request, tenant=None, pk=None):
        receivable = self.get_object()
        parts = self.body(s.SplitSerializer)["parts"]
        created = services.receivable_split(**self.service_kwargs(), receivable=receivable,
                                            parts=[(part["amount"], part["to"]) for part in parts])
        rows = Receivable.objects.filter(pk__in=[r.pk for r in created]).select_related("holder").order_by("pk")
        return Response({"original": s.ReceivableSerializer(self.get_queryset().get(pk=receivable.pk)).data,
                         "parts": s.ReceivableSerializer(rows, many=True).data}, status=status.HTTP_201_CREATED)


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("state", str, description="Only this state.")]))
class FinancingApplicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FinanceViewSet):
    """GET, POST financing-applications/; POST .../quote/ (the cost before applying);
    POST .../{id}/approve/, reject/ (finance, then the funder; 2FA), disburse/ (the funder;
    2FA; Idempotency-Key), repay/ (finance), withdraw/ (the applicant), dispute/ (finance, the
    funder, the applicant), settle-dispute/ (finance, the funder)."""

    model = FinancingApplication
    serializer_class = s.ApplicationSerializer
    action_permissions = {"quote": "add", "approve": "approve", "reject": "reject", "disburse": "disburse",
                          "repay": "repay", "withdraw": "withdraw", "dispute": "dispute",
                          "settle_dispute": "settle_dispute"}

    def safely_get_queryset(self, queryset):
        queryset = queryset.select_related("supplier", "funder", "created_by", "disbursement__disbursed_by")
        queryset = queryset.prefetch_related("items__application", "approvals__approver",
                                             "disputes__raised_by", "disputes__settled_by")
        return self.state_filter(queryset, s.STATE_FILTERS["applications"])

    def answer(self, application, status_code=status.HTTP_200_OK):
        return Response(s.ApplicationSerializer(self.get_queryset().get(pk=application.pk)).data, status=status_code)

    @extend_schema(request=s.ApplySerializer, responses={201: s.ApplicationSerializer})
    def create(self, request, tenant=None):
        data = self.body(s.ApplySerializer)
        application = services.financing_apply(**self.service_kwargs(), **data)
        return self.answer(application, status.HTTP_201_CREATED)

    @extend_schema(request=s.ApplySerializer, responses={200: s.QuoteSerializer})
    @action(detail=False, methods=["post"])
    def quote(self, request, tenant=None):
        data = self.body(s.ApplySerializer)
        return Response(s.QuoteSerializer(services.financing_quote(**self.service_kwargs(), **data)).data)

    @extend_schema(request=None, responses={200: s.ApplicationSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, tenant=None, pk=None):
        application = self.get_object()
        self.body(s.EmptySerializer)
        application = services.financing_approve(**self.service_kwargs(), application=application,
                                                 verified_at=totp_verified_at(request))
        return self.answer(application)

    @extend_schema(request=s.ReasonSerializer, responses={200: s.ApplicationSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, tenant=None, pk=None):
        application = self.get_object()
        reason = self.body(s.ReasonSerializer)["reason"]
        application = services.financing_reject(**self.service_kwargs(), application=application, reason=reason,
                                                verified_at=totp_verified_at(request))
        return self.answer(application)

    @extend_schema(request=s.ReasonSerializer, responses={200: s.ApplicationSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, tenant=None, pk=None):
        application = self.get_object()
        reason = self.body(s.ReasonSerializer)["reason"]
        return self.answer(services.financing_withdraw(**self.service_kwargs(), application=application, reason=reason))

    @extend_schema(request=None, responses={201: s.ApplicationSerializer},
                   parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)])
    @action(detail=True, methods=["post"])
    def disburse(self, request, tenant=None, pk=None):
        """Exactly once: a retry with the same Idempotency-Key gets the first answer byte for byte;
        another key once disbursed, or this key with another request, is a 409."""
        application = self.get_object()
        body = self.body(s.EmptySerializer)
        key = request.headers.get("Idempotency-Key")
        if not key:
            raise exceptions.ValidationError(
                {"Idempotency-Key": [exceptions.ErrorDetail(_("Send an Idempotency-Key header."), code="idempotency_key_required")]}
            )
        disbursement, _replayed = services.financing_disburse(
            **self.service_kwargs(), application=application, idempotency_key=key, body=dict(body),
            verified_at=totp_verified_at(request),
        )
        return HttpResponse(bytes(disbursement.response_body), status=disbursement.response_status,
                            content_type="application/json")

    @extend_schema(request=None, responses={200: s.ApplicationSerializer})
    @action(detail=True, methods=["post"])
    def repay(self, request, tenant=None, pk=None):
        application = self.get_object()
        self.body(s.EmptySerializer)
        services.financing_repay(**self.service_kwargs(), application=application)
        return self.answer(application)

    @extend_schema(request=s.ReasonSerializer, responses={200: s.ApplicationSerializer})
    @action(detail=True, methods=["post"])
    def dispute(self, request, tenant=None, pk=None):
        """Contests a disbursed, overdue or repaid application: it is `disputed` (and not repaid)
        until the dispute is settled."""
        application = self.get_object()
        reason = self.body(s.ReasonSerializer)["reason"]
        return self.answer(services.financing_dispute(**self.service_kwargs(), application=application, reason=reason))

    @extend_schema(request=s.ResolutionSerializer, responses={200: s.ApplicationSerializer})
    @action(detail=True, methods=["post"], url_path="settle-dispute")
    def settle_dispute(self, request, tenant=None, pk=None):
        """Settles the open dispute: the application returns to the state it was disputed from."""
        application = self.get_object()
        resolution = self.body(s.ResolutionSerializer)["resolution"]
        return self.answer(services.financing_dispute_settle(**self.service_kwargs(), application=application,
                                                             resolution=resolution))
