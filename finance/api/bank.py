"""GET, PUT bank-account/: a supplier organisation's payout account in the tenant.

GET: the organisation's reps see theirs (`?organization=<slug>` when they represent several), the
tenant's finance viewers any supplier's (`?organization=<slug>` required: 400 without); 404 when there is none
or it is not theirs to see. PUT `{"account_name", "bank_name", "account_number"}`: the
organisation's reps, with TOTP verified within settings.MONEY_OTP_MAX_AGE (403 `otp_required`
otherwise); creates or replaces it. Writes go through finance.services.bank_account_save."""

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from finance import services
from finance.models import FINANCE_VIEWERS, SUPPLIER_ROLES, BankAccount
from scm_portal.api.parsers import JSONParser
from scm_portal.api.serializers import StrictSerializer
from scm_portal.api.viewsets import TenantContextMixin
from scm_portal.tenancy.models import Organization


class StringField(serializers.CharField):
    """A JSON string only: a number is refused, not turned into text (an account number sent as a
    number has lost its leading zeros)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class BankAccountIn(StrictSerializer):
    account_name = StringField(max_length=200)
    bank_name = StringField(max_length=200)
    account_number = StringField(max_length=64)


class BankAccountOut(serializers.Serializer):
    organization = serializers.CharField(source="organization.slug")
    account_name = serializers.CharField()
    bank_name = serializers.CharField()
    account_number = serializers.CharField()
    updated_by = serializers.CharField(source="updated_by.username")
    updated_at = serializers.DateTimeField()


ORGANIZATION = OpenApiParameter("organization", str, description="The supplier's slug (when it is not implied).")


class BankAccountView(TenantContextMixin, APIView):
    parser_classes = [JSONParser]

    def _organization_id(self, request):
        slug = request.query_params.get("organization")
        if slug is None:
            return None
        found = Organization.objects.filter(slug=slug).values_list("pk", flat=True).first() if isinstance(slug, str) else None
        if found is None:
            raise Http404
        return found

    @extend_schema(parameters=[ORGANIZATION], responses={200: BankAccountOut})
    def get(self, request, tenant):
        organization_id = self._organization_id(request)
        if organization_id is None:
            # Implied only for a supplier's rep (their one organisation); the tenant's finance
            # viewers read any supplier's, and must name it.
            if self.tenant_context.roles & FINANCE_VIEWERS and not self.tenant_context.organizations(SUPPLIER_ROLES):
                raise ValidationError({"organization": _("Name the supplier: ?organization=<slug>.")})
            organization_id = services.bank_account_organization(self.tenant_context)
        account = (
            BankAccount.objects.for_tenant(self.tenant).visible_to(request.user, context=self.tenant_context)
            .select_related("organization", "updated_by").filter(organization_id=organization_id).first()
        )
        if account is None:
            raise Http404
        return Response(BankAccountOut(account).data)

    @extend_schema(parameters=[ORGANIZATION], request=BankAccountIn, responses={200: BankAccountOut})
    def put(self, request, tenant):
        data = BankAccountIn(data=request.data)
        data.is_valid(raise_exception=True)
        account = services.bank_account_save(
            tenant=self.tenant, actor=request.user, context=self.tenant_context,
            organization=self._organization_id(request), verified_at=self.tenant_context.second_factor_at,
            **data.validated_data,
        )
        account = BankAccount.objects.select_related("organization", "updated_by").get(pk=account.pk)
        return Response(BankAccountOut(account).data)
