"""`{{ amount|money:currency }}`: an amount with its currency's decimals and thousands separators
("1,250.00", "300" for JPY), rounded half up as finance.money rounds; never through float."""

from decimal import Decimal

from django import template

from finance.money import MoneyError, quantize

register = template.Library()


@register.filter
def money(amount, currency):
    if amount is None or amount == "":
        return ""
    try:
        return f"{quantize(Decimal(amount), currency):,}"
    except (MoneyError, ArithmeticError, ValueError, TypeError):
        return str(amount)


@register.filter
def percent(rate):
    """0.060000 → "6" (a rate as a percentage, without trailing zeros)."""
    try:
        text = f"{Decimal(rate) * 100:.4f}"
    except (ArithmeticError, ValueError, TypeError):
        return str(rate)
    return text.rstrip("0").rstrip(".")
