"""Member cohorts: one per studio and month, the members who joined that month."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["COHORT_MONTHS", "build_cohorts"]

#: Months after joining at which cohort retention is reported.
COHORT_MONTHS: tuple[int, ...] = (1, 3, 6, 12)


def build_cohorts(
    rng: np.random.Generator,
    names: np.ndarray,
    month_starts: pd.DatetimeIndex,
    history: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Build the cohort table from a simulated history.

    A cohort's survival to month ``k`` follows the studio's realised monthly
    retention over the ``k`` months after joining (about ``r ** k``); the number of
    survivors is drawn binomially step by step (1, 3, 6, 12 months), so the
    fractions never increase with ``k`` and small cohorts are noisier. A fraction is
    NaN when month ``join + k`` lies past the end of the history.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the binomial draws.
    names : ndarray
        Studio names, shape ``(n,)``.
    month_starts : pandas.DatetimeIndex
        First day of each history month.
    history : dict of str to ndarray
        Output of :func:`studios.generator.simulate.simulate`.

    Returns
    -------
    pandas.DataFrame
        Columns studio_name, join_month, cohort_size, retention_month_1/3/6/12,
        avg_ltv.
    """
    size = history["new_members"]
    n, months = size.shape
    log_retention = np.log(np.clip(history["retention_rate"], 1e-9, 1.0))
    # cumulative[:, t] = sum of log retention over months 0..t-1 (0 at t = 0).
    cumulative = np.concatenate(
        [np.zeros((n, 1)), np.cumsum(log_retention, axis=1)], axis=1
    )
    join = np.arange(months)

    frame: dict[str, object] = {
        "studio_name": np.repeat(names, months),
        "join_month": np.tile(month_starts.values, n),
        "cohort_size": size.ravel(),
    }
    survivors = size.astype(np.int64)
    survival_prev = np.ones((n, months))
    for k in COHORT_MONTHS:
        observable = np.broadcast_to(join + k <= months - 1, (n, months))
        end = np.minimum(join + k, months - 1)
        # Survival over months join+1 .. join+k: cumulative[:, end + 1] - cumulative[:, join + 1].
        survival = np.exp(cumulative[:, end + 1] - cumulative[:, join + 1])
        step = np.where(observable, survival / survival_prev, 0.0)
        survivors = rng.binomial(survivors, np.clip(step, 0.0, 1.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            fraction = np.where(observable & (size > 0), survivors / size, np.nan)
        frame[f"retention_month_{k}"] = fraction.ravel()
        survival_prev = survival

    # Lifetime value at joining: the month's ticket times the expected lifetime.
    frame["avg_ltv"] = np.round(
        history["avg_ticket_price"] * history["average_member_lifetime_months"], 2
    ).ravel()
    return pd.DataFrame(frame)
