"""The financing pages' forms. They only parse what a browser sends; every rule about money,
states and who may act is the services' (finance/services.py), so a page and the API refuse alike.

An amount is typed as a decimal ("1250.00"): anything that only looks like a number to a float
parser ("1e3", "1,250", "nan", " 12") is refused here, and a decimal too many for the currency is
refused by the service (finance.money.check_amount), never rounded."""

import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.utils.translation import gettext_lazy as _

from finance.money import MAX_AMOUNT
from finance.services import REASON_MAX

DECIMAL_TEXT = re.compile(r"^[0-9]{1,15}(\.[0-9]{1,8})?$")


class AmountField(forms.Field):
    """A positive decimal amount in plain notation, as a Decimal (its currency's decimals are checked later)."""

    default_error_messages = {
        "invalid": _("Enter the amount as a decimal number, such as 1250.00."),
        "not_positive": _("The amount must be greater than zero."),
        "too_large": _("The amount is too large."),
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        # Not stripped: " 12" is refused, as the API refuses it.
        if not isinstance(value, str) or len(value) > 30 or not DECIMAL_TEXT.match(value):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if amount <= 0:
            raise forms.ValidationError(self.error_messages["not_positive"], code="not_positive")
        if amount > MAX_AMOUNT:
            raise forms.ValidationError(self.error_messages["too_large"], code="too_large")
        return amount


class ApplyForm(forms.Form):
    """Receivables (ids among those offered), an amount and a funder (slug among the tenant's)."""

    receivables = forms.TypedMultipleChoiceField(coerce=int, label=_("Receivables"),
                                                 error_messages={"required": _("Pick at least one receivable.")})
    amount = AmountField(label=_("Amount"))
    funder = forms.ChoiceField(label=_("Funder"))

    def __init__(self, *args, receivables=(), funders=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["receivables"].choices = [(r.pk, str(r.pk)) for r in receivables]
        self.fields["funder"].choices = [(f.slug, f.name) for f in funders]


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX,
                             error_messages={"required": _("Give a reason.")})


class ResolutionForm(forms.Form):
    resolution = forms.CharField(label=_("Resolution"), max_length=REASON_MAX,
                                 error_messages={"required": _("Say how the dispute was settled.")})


class ReceivableConfirmForm(forms.Form):
    due_date = forms.DateField(label=_("Due date"), error_messages={"required": _("Give the due date.")})


class SplitForm(forms.Form):
    """One part of a receivable transferred to a lower-tier supplier (拆分流转)."""

    amount = AmountField(label=_("Amount"))
    to = forms.ChoiceField(label=_("Transfer to"))

    def __init__(self, *args, transferees=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = [(o.slug, o.name) for o in transferees]


class InvoiceForm(forms.Form):
    purchase_order = forms.ChoiceField(label=_("Purchase order"))
    number = forms.CharField(label=_("Invoice number"), max_length=64)
    amount = AmountField(label=_("Amount"))
    scan = forms.FileField(label=_("Invoice scan"), required=False)  # checked and hashed by the service

    def __init__(self, *args, purchase_orders=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purchase_order"].choices = [(po.number, f"{po.number} · {po.currency}") for po in purchase_orders]


class DisburseForm(forms.Form):
    """The Idempotency-Key the page generated when it showed the button: a second submit of the
    same form (a double click, a reload) replays the first disbursement instead of making another."""

    idempotency_key = forms.CharField(max_length=255, error_messages={"required": _("The form lost its key; reload the page.")})


class TotpCodeForm(forms.Form):
    code = forms.RegexField(regex=r"^[0-9]{6}$", label=_("Authenticator code"), max_length=6,
                            error_messages={"invalid": _("Enter the 6-digit code from your authenticator app."),
                                            "required": _("Enter the 6-digit code from your authenticator app.")})


def form_errors(form):
    """The form's errors as one line a page shows."""
    parts = []
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        text = " ".join(str(e) for e in errors)
        parts.append(f"{label}: {text}" if label else text)
    return "; ".join(parts)
