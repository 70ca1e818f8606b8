"""finance/money.py: minor units, ROUND_HALF_UP, day counts, exact splits, and the JSON field."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rest_framework import serializers

from finance.money import (
    CURRENCIES,
    MoneyError,
    MoneyField,
    allocate,
    check_amount,
    interest,
    money_str,
    quantize,
)

CURRENCY_UNITS = st.sampled_from(["CNY", "USD", "JPY"])


def amounts(currency, max_units=10**12):
    """Amounts of `currency` in its minor units, at least one unit."""
    quantum = CURRENCIES[currency].quantum
    return st.integers(min_value=1, max_value=max_units).map(lambda units: Decimal(units) * quantum)


def test_minor_units_and_conventions():
    assert CURRENCIES["CNY"].minor_units == 2 and CURRENCIES["CNY"].day_count.basis == 365
    assert CURRENCIES["USD"].minor_units == 2 and CURRENCIES["USD"].day_count.basis == 360
    assert CURRENCIES["EUR"].day_count.basis == 360
    assert CURRENCIES["JPY"].minor_units == 0 and CURRENCIES["JPY"].day_count.basis == 365


def test_rounding_is_half_up_not_half_even():
    assert quantize(Decimal("0.125"), "CNY") == Decimal("0.13")  # half-even would give 0.12
    assert quantize(Decimal("2.5"), "JPY") == Decimal("3")  # half-even would give 2
    assert quantize(Decimal("-0.125"), "USD") == Decimal("-0.13")
    assert money_str(Decimal("300"), "JPY") == "300"
    assert money_str(Decimal("12.5"), "CNY") == "12.50"


def test_interest_follows_the_currencys_day_count():
    # 1,000,000 at 6 % for 90 days: ACT/365 for CNY, ACT/360 for USD.
    assert interest(Decimal("1000000.00"), Decimal("0.06"), 90, "CNY") == Decimal("14794.52")
    assert interest(Decimal("1000000.00"), Decimal("0.06"), 90, "USD") == Decimal("15000.00")
    assert interest(Decimal("1000000"), Decimal("0.06"), 90, "JPY") == Decimal("14795")  # 14794.52 → 14795
    assert CURRENCIES["CNY"].day_count.days(date(2026, 1, 1), date(2026, 3, 1)) == 59


@pytest.mark.parametrize("amount, currency, code", [
    ("10.005", "CNY", "too_many_decimals"),
    ("10.5", "JPY", "too_many_decimals"),
    ("0", "CNY", "not_positive"),
    ("-1", "USD", "not_positive"),
    ("1", "XXX", "unknown_currency"),
    ("NaN", "CNY", "invalid"),
])
def test_check_amount_refuses(amount, currency, code):
    with pytest.raises(MoneyError) as caught:
        check_amount(Decimal(amount), currency)
    assert caught.value.code == code


def test_check_amount_accepts_trailing_zeros():
    assert check_amount(Decimal("10.500"), "CNY") == Decimal("10.50")
    assert check_amount(Decimal("300.00"), "JPY") == Decimal("300")


class Body(serializers.Serializer):
    amount = MoneyField()


@pytest.mark.parametrize("value, code", [
    (1250.5, "float_not_allowed"),
    (1250.0, "float_not_allowed"),
    (1250, "invalid"),
    (True, "invalid"),
    ("1e3", "invalid"),
    ("abc", "invalid"),
    ("", "invalid"),
    (" 12", "invalid"),
    ("Infinity", "invalid"),
    ("-5.00", "not_positive"),
    ("1" * 20, "too_large"),
])
def test_money_field_refuses(value, code):
    body = Body(data={"amount": value})
    assert not body.is_valid()
    assert body.errors["amount"][0].code == code


def test_money_field_reads_strings_as_decimal():
    body = Body(data={"amount": "1250.00"})
    assert body.is_valid(), body.errors
    assert body.validated_data["amount"] == Decimal("1250.00")
    assert isinstance(body.validated_data["amount"], Decimal)


@given(data=st.data(), currency=CURRENCY_UNITS)
def test_allocation_sums_exactly(data, currency):
    total = data.draw(amounts(currency))
    weights = data.draw(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12)
                        .filter(lambda ws: sum(ws) > 0))
    parts = allocate(total, weights, currency)
    assert sum(parts) == total
    assert all(p >= 0 and check_amount(p, currency, allow_zero=True) == p for p in parts)
    # No part is more than one minor unit away from its exact share.
    quantum = CURRENCIES[currency].quantum
    for part, weight in zip(parts, weights):
        assert abs(part - total * weight / sum(weights)) < quantum
