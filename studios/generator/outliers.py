"""Outlier months: a shared pandemic wave, facility closures and major promotions.

Each studio gets 2 or 3 flagged months (SPEC §2.5). An outlier is a deterministic
shock to the expectations of that month; the usual noise is drawn around the
shocked expectation, and the stock-flow identity holds as in any other month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NONE", "PANDEMIC", "CLOSURE", "PROMOTION", "REASONS", "Shocks", "draw"]

NONE, PANDEMIC, CLOSURE, PROMOTION = 0, 1, 2, 3
#: outlier_reason value of each code.
REASONS: tuple[str, ...] = ("", "pandemic", "closure", "promotion")

# Share of studios hit by the pandemic wave (two consecutive calendar months, the
# same for all of them).
_PANDEMIC_SHARE = 0.4
_PANDEMIC_MONTHS = 2
_GAP = 2  # months kept free around each outlier
# Enough months for the pandemic and one more shock, or three shocks, with the gaps.
_MIN_TRAIN_WINDOW = 12

# Multipliers on the month's expectations, one row per code:
# new members, churn, classes held, attendance rate, ticket, upsell rate, retail.
_MULTIPLIERS = np.array(
    [
        [1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00],  # regular month
        [0.45, 2.00, 0.75, 0.65, 0.97, 0.60, 0.60],  # pandemic: fear, cancellations
        [0.30, 1.60, 0.30, 0.80, 0.70, 0.50, 0.40],  # closure: dues credited back
        # promotion: discounted sign-ups; its marketing would bring 2.5x an ordinary
        # month's, but the extra saturates with the local market (simulate: the
        # same as a plan's extra marketing), so a grown studio sees about 1.6-1.8x
        [2.50, 0.90, 1.00, 1.05, 0.95, 1.10, 1.10],
    ]
)


@dataclass(frozen=True)
class Shocks:
    """Outlier codes and the multipliers they imply, each of shape ``(n, months)``."""

    code: np.ndarray
    new: np.ndarray
    churn: np.ndarray
    classes: np.ndarray
    attendance: np.ndarray
    ticket: np.ndarray
    upsell: np.ndarray
    retail: np.ndarray


def _eligible(months: int) -> np.ndarray:
    """Months that may carry an outlier.

    Outliers stay out of the first month (it has no in-window previous month) and,
    when at least _MIN_TRAIN_WINDOW training months remain for them, out of the last
    12 months (validation and test), so that evaluation measures models on regular
    months. Shorter histories fall back to any month but the first, and the
    shortest may get fewer than two outliers.
    """
    eligible = np.zeros(months, dtype=bool)
    if months - 12 - 1 >= _MIN_TRAIN_WINDOW:
        eligible[1 : months - 12] = True
    else:
        eligible[1:] = True
    return eligible


def _block_around(allowed: np.ndarray, shocked: np.ndarray) -> None:
    """Disallow, in place, every month within _GAP months of a shocked month."""
    months = allowed.shape[1]
    for offset in range(-_GAP, _GAP + 1):
        lo, hi = max(offset, 0), months + min(offset, 0)
        allowed[:, lo - offset : hi - offset] &= ~shocked[:, lo:hi]


def draw(rng: np.random.Generator, n: int, months: int) -> Shocks:
    """Place 2-3 outlier months per studio.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n, months : int
        Number of studios and length of the history.

    Returns
    -------
    Shocks
    """
    code = np.zeros((n, months), dtype=np.int64)
    eligible = _eligible(months)
    candidates = np.flatnonzero(eligible)

    hit = np.zeros(n, dtype=bool)
    if len(candidates) > _PANDEMIC_MONTHS:
        first = int(rng.choice(candidates[: len(candidates) - _PANDEMIC_MONTHS + 1]))
        hit = rng.random(n) < _PANDEMIC_SHARE
        code[hit, first : first + _PANDEMIC_MONTHS] = PANDEMIC

    # Studios hit by the pandemic get one more outlier, the others two or three.
    # Shocks are kept at least _GAP months apart so that one never lands on the
    # aftermath of another (a closure in the middle of the pandemic would be a
    # different, compound event).
    n_other = np.where(hit, 1, rng.integers(2, 4, n))
    keys = rng.random((n, months))
    allowed = np.broadcast_to(eligible, (n, months)).copy()
    _block_around(allowed, code != NONE)
    kind = np.where(rng.random((n, months)) < 0.5, CLOSURE, PROMOTION)
    rows = np.arange(n)
    for round_ in range(int(n_other.max(initial=0))):
        candidates = np.where(allowed, keys, -1.0)
        pick = np.argmax(candidates, axis=1)
        take = (round_ < n_other) & (candidates[rows, pick] >= 0)
        code[rows[take], pick[take]] = kind[rows[take], pick[take]]
        chosen = np.zeros((n, months), dtype=bool)
        chosen[rows[take], pick[take]] = True
        _block_around(allowed, chosen)

    m = _MULTIPLIERS[code]
    return Shocks(
        code=code,
        new=m[..., 0],
        churn=m[..., 1],
        classes=m[..., 2],
        attendance=m[..., 3],
        ticket=m[..., 4],
        upsell=m[..., 5],
        retail=m[..., 6],
    )
