"""Money: Decimal amounts in a currency's minor units, rounded ROUND_HALF_UP, and interest by the
currency's day-count convention.

Amounts are Decimal end to end and travel as strings in JSON. An amount with more decimals than
its currency has is refused, never rounded silently (a client that sends "10.005" CNY has a bug
worth hearing about); what the portal computes (interest, an advance) is rounded half up to the
minor unit, the rule Chinese and most commercial banks use, not Python's default half-even.

Currencies and their conventions (the money-market basis of each; interest = amount × annual
rate × days / basis, days counted actually between the two dates):

| currency | minor units | day count |
|---|---|---|
| CNY | 2 | ACT/365 |
| HKD | 2 | ACT/365 |
| GBP | 2 | ACT/365 |
| USD | 2 | ACT/360 |
| EUR | 2 | ACT/360 |
| CHF | 2 | ACT/360 |
| JPY | 0 | ACT/365 |
| KRW | 0 | ACT/365 |

A currency not listed here is refused (400) rather than guessed.
"""

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@dataclass(frozen=True)
class DayCount:
    name: str  # "ACT/365"
    basis: int  # days in the year of the convention

    def days(self, start, end):
        """Days counted between two dates (ACT: the actual calendar days)."""
        return (end - start).days


ACT_360 = DayCount("ACT/360", 360)
ACT_365 = DayCount("ACT/365", 365)


@dataclass(frozen=True)
class Currency:
    code: str
    minor_units: int
    day_count: DayCount

    @property
    def quantum(self):
        return Decimal(1).scaleb(-self.minor_units)  # 0.01 for 2, 1 for 0


CURRENCIES = {
    c.code: c
    for c in (
        Currency("CNY", 2, ACT_365),
        Currency("HKD", 2, ACT_365),
        Currency("GBP", 2, ACT_365),
        Currency("USD", 2, ACT_360),
        Currency("EUR", 2, ACT_360),
        Currency("CHF", 2, ACT_360),
        Currency("JPY", 0, ACT_365),
        Currency("KRW", 0, ACT_365),
    )
}
CURRENCY_CHOICES = sorted(CURRENCIES)

# The widest amount the models store (max_digits=18, decimal_places=4): 14 digits before the point.
MAX_AMOUNT = Decimal("99999999999999")


class MoneyError(ValueError):
    """An amount that cannot be money in its currency; `code` names why."""

    def __init__(self, message, *, code):
        super().__init__(message)
        self.code = code


def currency_of(code):
    """The Currency for an ISO 4217 code; MoneyError `unknown_currency` for one not supported."""
    currency = CURRENCIES.get(code) if isinstance(code, str) else None
    if currency is None:
        raise MoneyError(_("This currency is not supported."), code="unknown_currency")
    return currency


def decimals_of(amount):
    """How many digits `amount` has after the point (0 for 12 and for 12.00's integral value 1.2E+1)."""
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def quantize(amount, currency):
    """`amount` rounded to the currency's minor unit, half up (12.345 CNY → 12.35; 0.5 JPY → 1)."""
    return Decimal(amount).quantize(currency_of(currency).quantum, rounding=ROUND_HALF_UP)


def quantize_down(amount, currency):
    """`amount` cut to the currency's minor unit (for a ceiling such as the most one may borrow)."""
    return Decimal(amount).quantize(currency_of(currency).quantum, rounding=ROUND_DOWN)


def check_amount(amount, currency, *, allow_zero=False):
    """`amount` (a Decimal) as money of `currency`: finite, positive (or zero when allowed), no more
    decimals than the currency has, within what is stored. Returns it quantized to the minor
    unit (same value); MoneyError otherwise."""
    cur = currency_of(currency)
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise MoneyError(_("Enter a valid amount."), code="invalid")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise MoneyError(_("The amount must be greater than zero."), code="not_positive")
    if decimals_of(amount) > cur.minor_units:
        raise MoneyError(
            _("%(currency)s has %(units)d decimal places; this amount has more.") % {"currency": cur.code, "units": cur.minor_units},
            code="too_many_decimals",
        )
    if amount > MAX_AMOUNT:
        raise MoneyError(_("The amount is too large."), code="too_large")
    return amount.quantize(cur.quantum)


def money_str(amount, currency):
    """The JSON form: a string with exactly the currency's decimals ("1250.00", "300" for JPY)."""
    return str(quantize(amount, currency))


def interest(amount, annual_rate, days, currency):
    """Interest on `amount` for `days` at `annual_rate` (0.06 = 6 %) under the currency's day count,
    rounded half up to the minor unit."""
    cur = currency_of(currency)
    raw = Decimal(amount) * Decimal(annual_rate) * Decimal(days) / Decimal(cur.day_count.basis)
    return raw.quantize(cur.quantum, rounding=ROUND_HALF_UP)


def allocate(amount, weights, currency):
    """`amount` shared out by `weights` in the currency's minor units, the parts summing to it
    exactly: each part rounded down, then the minor units left over go one each to the parts
    with the largest remainders (ties to the earlier part)."""
    cur = currency_of(currency)
    weights = [Decimal(w) for w in weights]
    total_weight = sum(weights)
    if not weights or total_weight <= 0 or any(w < 0 for w in weights):
        raise MoneyError(_("Weights must be non-negative with a positive sum."), code="invalid")
    units = int((Decimal(amount) / cur.quantum).to_integral_value(rounding=ROUND_HALF_UP))
    exact = [Decimal(units) * w / total_weight for w in weights]
    parts = [int(e.to_integral_value(rounding=ROUND_DOWN)) for e in exact]
    left = units - sum(parts)
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return [Decimal(p) * cur.quantum for p in parts]


@extend_schema_field(OpenApiTypes.STR)  # a decimal string, e.g. "1250.00"
class MoneyField(serializers.Field):
    """A decimal amount as a JSON string ("1250.00").

    A JSON number with a fraction (a float in the parsed body) is refused with the code
    `float_not_allowed`: binary floating point has already lost cents by the time it arrives. An
    integer or anything else that is not a string is refused as `invalid`. The currency's
    decimals are checked where the currency is known (the serializer's validate(), with
    `check_amount`): `too_many_decimals`."""

    default_error_messages = {
        "float_not_allowed": _("Send amounts as strings (\"1250.00\"), not as JSON numbers."),
        "invalid": _("Enter the amount as a decimal string, such as \"1250.00\"."),
        "not_positive": _("The amount must be greater than zero."),
        "too_large": _("The amount is too large."),
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, float):
            self.fail("float_not_allowed")
        if not isinstance(data, str) or not data or len(data) > 40 or data.strip() != data:
            self.fail("invalid")
        try:
            amount = Decimal(data)
        except InvalidOperation:
            self.fail("invalid")
        if not amount.is_finite() or "e" in data.lower():
            self.fail("invalid")
        if amount <= 0:
            self.fail("not_positive")
        if amount > MAX_AMOUNT:
            self.fail("too_large")
        return amount

    def to_representation(self, value):
        return str(value)


def money_validation_error(field, error):
    """A MoneyError as the serializer's ValidationError on `field`, keeping its code."""
    return serializers.ValidationError({field: [serializers.ErrorDetail(str(error), code=error.code)]})
