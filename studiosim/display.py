"""How numbers read to a person: money, percentages, counts; shared by the admin
and the owner pages so a figure looks the same everywhere."""

from __future__ import annotations

import math
from decimal import Decimal

__all__ = [
    "CURRENCY_SYMBOLS",
    "format_count",
    "format_money",
    "format_percent",
    "format_signed_percent",
]

#: Currencies written with a symbol; any other code is written before the amount
#: ("CHF 1,200").
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "AUD": "A$", "CAD": "C$"}

EMPTY = "—"


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def format_money(value: object, currency: str = "USD", *, places: int = 0) -> str:
    """``$88,491`` (``places`` decimals; negative as ``-$1,200``); ``—`` when
    there is no number."""
    number = _number(value)
    if number is None:
        return EMPTY
    symbol = CURRENCY_SYMBOLS.get(currency)
    amount = f"{abs(number):,.{places}f}"
    sign = "-" if number < 0 and float(amount.replace(",", "")) != 0 else ""
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{currency} {amount}"


def format_percent(fraction: object, *, places: int = 1) -> str:
    """A fraction as a percentage: ``0.9422`` -> ``94.2%``."""
    number = _number(fraction)
    return EMPTY if number is None else f"{number:.{places}%}"


def format_signed_percent(fraction: object, *, places: int = 1) -> str:
    """A change as a signed percentage: ``0.083`` -> ``+8.3%``."""
    number = _number(fraction)
    return EMPTY if number is None else f"{number:+.{places}%}"


def format_count(value: object, *, places: int = 0) -> str:
    """``1,234``; an expected (fractional) count keeps ``places`` decimals."""
    number = _number(value)
    return EMPTY if number is None else f"{number:,.{places}f}"
