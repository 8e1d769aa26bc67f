"""How numbers read to a person: money, percentages, counts; shared by the admin
and the owner pages so a figure looks the same everywhere."""

from __future__ import annotations

import math
from decimal import Decimal

__all__ = [
    "CURRENCY_SYMBOLS",
    "LEVER_UNITS",
    "currency_prefix",
    "format_count",
    "format_lever",
    "format_money",
    "format_percent",
    "format_signed_percent",
]

#: Currencies written with a symbol; any other code is written before the amount
#: ("CHF 1,200").
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "AUD": "A$", "CAD": "C$"}

EMPTY = "—"


def currency_prefix(currency: str) -> str:
    """What goes before an amount of ``currency``: ``$``, or ``CHF `` for a
    currency without a symbol here."""
    symbol = CURRENCY_SYMBOLS.get(currency)
    return symbol if symbol else f"{currency} "


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
    amount = f"{abs(number):,.{places}f}"
    sign = "-" if number < 0 and float(amount.replace(",", "")) != 0 else ""
    return f"{sign}{currency_prefix(currency)}{amount}"


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


#: The unit of each lever's value (by its service name): "rate" (a fraction),
#: "money" or "count" (per month).
LEVER_UNITS = {
    "retention_rate": "rate",
    "avg_ticket_price": "money",
    "class_attendance_rate": "rate",
    "new_members_monthly": "count",
    "staff_utilization_rate": "rate",
    "upsell_rate": "rate",
    "total_classes_held": "count",
}


def format_lever(lever: str, value: object, currency: str = "USD") -> str | None:
    """A lever's value in its unit (``94.2%``, ``$143.82``, ``15``); None when
    ``lever`` is not a lever's name."""
    unit = LEVER_UNITS.get(lever)
    if unit == "rate":
        return format_percent(value)
    if unit == "money":
        return format_money(value, currency, places=2)
    if unit == "count":
        return format_count(value)
    return None
