"""Finance's API bodies. Money in and out as strings in the currency's minor units
(finance/money.py): a JSON float is a 400 `float_not_allowed`, a decimal too many a 400
`too_many_decimals`. Relations are resolved among the request's tenant and user only."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from finance.models import ApplicationState, FinancingApplication, Invoice, Receivable, ReceivableState
from finance.money import CURRENCY_CHOICES, MoneyError, MoneyField, check_amount, money_str, money_validation_error
from orders.models import PurchaseOrder
from scm_portal.api.serializers import StrictCharField, StrictSerializer, TenantScopedSlugRelatedField
from scm_portal.tenancy.models import Organization, Partnership


def _visible_pos(tenant, user):
    return PurchaseOrder.objects.for_tenant(tenant).visible_to(user)


def _partners(kind):
    def scope(tenant, user):
        ids = Partnership.objects.for_tenant(tenant).filter(kind=kind, active=True).values("organization_id")
        return Organization.objects.filter(pk__in=ids)
    return scope


@extend_schema_field(OpenApiTypes.STR)  # a decimal string in the currency's minor units
class Money(serializers.Field):
    """An amount out: a string with the currency's decimals, read from `<source>` and the object's `currency`."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return (super().get_attribute(instance), instance.currency)

    def to_representation(self, value):
        amount, currency = value
        return money_str(amount, currency)


def checked_amount(attrs, currency, field="amount"):
    try:
        return check_amount(attrs[field], currency)
    except MoneyError as error:
        raise money_validation_error(field, error) from None


# --- invoices ----------------------------------------------------------------------------------


class InvoiceAttachmentOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()


class InvoiceSerializer(serializers.ModelSerializer):
    purchase_order = serializers.CharField(source="purchase_order.number")
    supplier = serializers.CharField(source="supplier.slug")
    amount = Money()
    receivable = serializers.SerializerMethodField()
    attachments = InvoiceAttachmentOut(many=True)

    class Meta:
        model = Invoice
        fields = ["id", "purchase_order", "supplier", "number", "amount", "currency", "state", "reject_reason",
                  "receivable", "attachments", "created_at"]

    def get_receivable(self, invoice) -> int | None:
        # The one made with the invoice (its parts, once split, have `parent` set).
        roots = [r.pk for r in invoice.receivables.all() if r.parent_id is None]
        return roots[0] if roots else None


class InvoiceCreateSerializer(StrictSerializer):
    purchase_order = TenantScopedSlugRelatedField(slug_field="number", scope=_visible_pos)
    number = StrictCharField(max_length=64)
    amount = MoneyField()
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES)

    def validate(self, attrs):
        attrs["amount"] = checked_amount(attrs, attrs["currency"])
        return attrs


class ReasonSerializer(StrictSerializer):
    reason = StrictCharField(max_length=2000)


class ResolutionSerializer(StrictSerializer):
    resolution = StrictCharField(max_length=2000)


class InvoiceAttachmentUploadSerializer(StrictSerializer):
    file = serializers.FileField()


# --- receivables -------------------------------------------------------------------------------


class ReceivableSerializer(serializers.ModelSerializer):
    amount = Money()
    holder = serializers.CharField(source="holder.slug")

    class Meta:
        model = Receivable
        fields = ["id", "invoice", "amount", "currency", "due_date", "state", "holder", "parent", "confirmed_at"]


class ReceivableConfirmSerializer(StrictSerializer):
    due_date = serializers.DateField()


class SplitPartSerializer(StrictSerializer):
    amount = MoneyField()
    to = TenantScopedSlugRelatedField(slug_field="slug", scope=_partners("supplier"))


class SplitSerializer(StrictSerializer):
    parts = SplitPartSerializer(many=True, allow_empty=False, max_length=50)


# --- financing ---------------------------------------------------------------------------------


class ApplySerializer(StrictSerializer):
    receivables = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
                                        allow_empty=False, max_length=100)
    amount = MoneyField()
    funder = TenantScopedSlugRelatedField(slug_field="slug", scope=_partners("funder"))

    def validate_receivables(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError(_("Name each receivable once."))
        return value


class QuoteSerializer(serializers.Serializer):
    amount = serializers.SerializerMethodField()
    currency = serializers.CharField()
    rate = serializers.SerializerMethodField()
    advance_rate = serializers.SerializerMethodField()
    days = serializers.IntegerField()
    cost = serializers.SerializerMethodField()
    maturity_date = serializers.DateField()
    limit = serializers.SerializerMethodField()
    day_count = serializers.SerializerMethodField()

    def get_amount(self, quote) -> str:
        return money_str(quote.amount, quote.currency)

    def get_cost(self, quote) -> str:
        return money_str(quote.cost, quote.currency)

    def get_limit(self, quote) -> str:
        return money_str(quote.limit, quote.currency)

    def get_rate(self, quote) -> str:
        return str(quote.annual_rate)

    def get_advance_rate(self, quote) -> str:
        return str(quote.advance_rate)

    def get_day_count(self, quote) -> str:
        from finance.money import currency_of

        return currency_of(quote.currency).day_count.name


class ApprovalOut(serializers.Serializer):
    approver = serializers.CharField(source="approver.username")
    stage = serializers.CharField()
    decision = serializers.CharField()
    reason = serializers.CharField()
    at = serializers.DateTimeField()


class DisputeOut(serializers.Serializer):
    from_state = serializers.CharField()
    reason = serializers.CharField()
    raised_by = serializers.CharField(source="raised_by.username")
    raised_at = serializers.DateTimeField()
    resolution = serializers.CharField()
    settled_by = serializers.CharField(source="settled_by.username", allow_null=True, read_only=True)
    settled_at = serializers.DateTimeField(allow_null=True)


class ItemOut(serializers.Serializer):
    receivable = serializers.IntegerField(source="receivable_id")
    amount = serializers.SerializerMethodField()
    released = serializers.BooleanField()

    def get_amount(self, item) -> str:
        return money_str(item.amount, item.application.currency)


class ApplicationSerializer(serializers.ModelSerializer):
    supplier = serializers.CharField(source="supplier.slug")
    funder = serializers.CharField(source="funder.slug")
    created_by = serializers.CharField(source="created_by.username")
    amount = Money()
    cost = Money()
    receivables_amount = Money()
    rate = serializers.CharField(source="annual_rate")
    advance_rate = serializers.CharField()
    receivables = ItemOut(source="items", many=True)
    approvals = ApprovalOut(many=True)
    disputes = DisputeOut(many=True)
    disbursement = serializers.SerializerMethodField()

    class Meta:
        model = FinancingApplication
        fields = ["id", "state", "supplier", "funder", "created_by", "amount", "currency", "receivables_amount", "rate",
                  "advance_rate", "days", "cost", "maturity_date", "reason", "receivables", "approvals", "disputes",
                  "disbursement", "funder_approved_at", "disbursed_at", "repaid_at", "overdue_at", "created_at"]

    def get_disbursement(self, application) -> dict | None:
        d = getattr(application, "disbursement", None)
        if d is None:
            return None
        return {"amount": money_str(d.amount, d.currency), "currency": d.currency, "at": d.at.isoformat(),
                "by": d.disbursed_by.username, "paid_to": d.paid_to}


class EmptySerializer(StrictSerializer):
    """A body that carries nothing (an empty object, or none)."""


STATE_FILTERS = {"receivables": ReceivableState.values, "applications": ApplicationState.values}
