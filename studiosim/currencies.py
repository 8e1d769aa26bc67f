"""What a US dollar is worth in a studio's currency, as the operator sets it.

The tactics catalogue prices in US dollars (``optimization.tactics``); a studio
counts money in its own currency (``Studio.currency``). ``CURRENCY_RATES`` (see
``studiosim/settings.py``) says how many units of each currency a dollar buys.
"""

from __future__ import annotations

from django.conf import settings

__all__ = ["dollar_rate"]


def dollar_rate(currency: str) -> float | None:
    """Units of ``currency`` a US dollar buys: 1 for US dollars, the operator's
    ``CURRENCY_RATES`` entry otherwise, None when it lists none."""
    if currency == "USD":
        return 1.0
    return settings.CURRENCY_RATES.get(currency)
