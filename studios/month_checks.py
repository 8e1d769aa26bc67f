"""Checks on a studio's latest month that both the import and the forecasts make.

Pure Python (no Django, no numpy), so the importer (this layer) and the forecasting
model (the layer above) apply the same rule to the same figures.

A month exported before it ended is the commonest slip in a studio's own export:
the system is read on the 15th, and the month's revenue, visits and sign-ups are
half of a month while the member count (a stock) is whole. Forecasts start from
the latest month, and a half month pulls them down: on 20 messy studios, a base
month at half its revenue took the next six months' plain forecasts down by a
median 11-18% (an ad-hoc check on ``bench/real_data.py``'s chain, 2026-12-07).
Nothing in the figures proves a month unfinished (a studio can have a bad month),
so it is a warning and a note, never a correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

__all__ = [
    "MEMBERS_HELD",
    "UNFINISHED_MIN_MONTHS",
    "UNFINISHED_SHARE",
    "unfinished_month",
]

#: Revenue at most this share of both the month before and the median of the
#: months before it marks a month as possibly unfinished. Measured on every month
#: of the benchmarks' outside chains taken as if it were the latest (messy 40,
#: walk 30, drop-in 20, growing 24 and odd 16, seeds as in ``bench/real_data.py``;
#: 4,454 months with six before them): 0.36% of whole months are flagged (0-0.53%
#: by chain), 88.9% of the same months cut to half (83-96%), 47.1% cut to 0.7.
UNFINISHED_SHARE = 0.75
#: ... while the member count is at least this share of the month before's.
MEMBERS_HELD = 0.9
#: Recorded months before the latest that the rule needs.
UNFINISHED_MIN_MONTHS = 6


def unfinished_month(
    revenue_before: Sequence[float],
    revenue: float,
    members_before: float | None,
    members: float,
    *,
    money: str = "$",
) -> str | None:
    """Why a latest month looks exported before it ended, or None.

    Parameters
    ----------
    revenue_before : sequence of float
        The recorded revenue of the months before it, oldest first (the last 12
        are read; the last is the month before, which must be the previous
        calendar month for the comparison to hold).
    revenue, members : float
        The month's own revenue and member count.
    members_before : float or None
        The member count of the month before (None when unknown).

    Returns
    -------
    str or None
        A clause such as "its revenue ($24,000) is 0.50x the month before
        ($48,000) and 0.49x the median of the 12 months before it ($49,000) while
        its member count held up (0.99x the month before)", for the caller to put in context; None
        when the month does not look unfinished or there are fewer than
        :data:`UNFINISHED_MIN_MONTHS` months before it.
    """
    before = [float(x) for x in revenue_before if x == x][-12:]  # NaN != NaN
    if len(before) < UNFINISHED_MIN_MONTHS or revenue != revenue:
        return None
    last, middle = before[-1], median(before)
    if (
        last <= 0
        or middle <= 0
        or revenue > UNFINISHED_SHARE * min(last, middle)
        or not members_before
        or members_before <= 0
        or members < MEMBERS_HELD * members_before
    ):
        return None
    return (
        f"its revenue ({money}{revenue:,.0f}) is {revenue / last:.2f}x the month "
        f"before ({money}{last:,.0f}) and {revenue / middle:.2f}x the median of the "
        f"{len(before)} months before it ({money}{middle:,.0f}) while its member "
        f"count held up ({members / members_before:.2f}x the month before)"
    )
