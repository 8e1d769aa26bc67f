"""A fifth export process, written as a hold-out: measured before any model change.

The other outside processes (:mod:`studios.messy`, :mod:`studios.walk`,
:mod:`studios.dropin`, :mod:`studios.expansion`) were each written to expose a
weakness, and the model was then changed on them. This one was written in the
thirteenth session from what a franchise's studios do, and its first figures were
taken on the model as it stood (``docs/real-data.md``, "A hold-out process"):

* **members return towards a level of their own** (a quarter of the gap a month)
  that drifts, and for three studios in ten drops for good by 10-25% in one month
  (a competitor opens next door); January brings members and summer takes them,
  by an amplitude of the studio's own, and churn is a third higher in June-August;
* **"new" and "churned" are another system's counts**: the member count misses
  ``members(t-1) + new - churned`` by about 3% of members a month, and a quarter of
  the studios export the member count at the *start* of the month (a month late);
* **prices rise in January** (0-8%, seven years in ten) and the exported average
  ticket is revenue per member after intro offers: it dips in months when many join;
* **four studios in ten bill weekly**: their membership revenue follows the number
  of Mondays in the month (4 or 5: a quarter more in a five-Monday month), which
  neither last month nor last year's same month knows;
* drop-in visits paid one by one (0-30% of visits), retail, and a refund month now
  and then;
* studios of 14-60 months (those under 18 months cannot be trained on) and about
  3% of months missing; only the minimal columns are exported.

The expected revenue of each month given the month before (this month's own draws
left out) is kept as an oracle for evaluation.

>>> export = franchise_export(n_studios=4, seed=0)
>>> sorted(export.frame.columns)[:3]
['avg_ticket_price', 'churned_members', 'max_capacity']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from studios.messy import MessyExport, simulate_chain

__all__ = ["franchise_export", "mondays"]

_LENGTHS = (14, 18, 26, 36, 48, 60)
# Log change of the member count by calendar month (January to December) at an
# amplitude of 1; each studio scales it by 0.3-1.5.
_SEASON = np.array(
    [0.04, 0.01, 0.0, 0.0, -0.005, -0.015, -0.015, -0.015, 0.02, 0.005, 0.0, -0.02]
)
_SUMMER = (6, 7, 8)


def mondays(month: pd.Timestamp) -> int:
    """How many Mondays ``month`` has (4 or 5): a weekly-billed studio's billing runs."""
    days = pd.date_range(month, month + pd.offsets.MonthEnd(0), freq="D")
    return int((days.day_of_week == 0).sum())


def _studio(
    rng: np.random.Generator, name: str, studio_type: str, months: pd.DatetimeIndex
) -> tuple[pd.DataFrame, list[str]]:
    level = rng.normal(np.log(250.0), 0.8)  # log of the members the studio tends to
    drift = rng.normal(0.003, 0.006)
    drop_at = int(rng.integers(6, len(months))) if rng.random() < 0.3 else -1
    drop = rng.uniform(0.10, 0.25)
    amplitude = rng.uniform(0.3, 1.5)
    volatility = rng.uniform(0.01, 0.04)
    churn = rng.uniform(0.03, 0.12)
    late_count = rng.random() < 0.25
    weekly = rng.random() < 0.4
    price = rng.uniform(60.0, 220.0)
    timetable = rng.uniform(40.0, 400.0)
    capacity = int(rng.integers(8, 40))
    fill = rng.uniform(0.4, 0.85)
    dropin_share = rng.uniform(0.0, 0.3)
    dropin_price = rng.uniform(15.0, 30.0)
    log_members = level + rng.normal(0.0, 0.2)
    previous = float(np.exp(log_members))
    rows = []
    for t, month in enumerate(months):
        level += drift
        if t == drop_at:
            level += np.log(1.0 - drop)
        if month.month == 1 and t > 0 and rng.random() < 0.7:
            price *= 1.0 + rng.uniform(0.0, 0.08)
        expected_log = (
            log_members
            + 0.25 * (level - log_members)
            + amplitude * _SEASON[month.month - 1]
        )
        log_members = expected_log + rng.normal(0.0, volatility)
        members = float(np.exp(log_members))
        rate = min(0.9, churn * (1.3 if month.month in _SUMMER else 1.0))
        churned = int(rng.binomial(int(round(previous)), rate))
        joined = members - previous + churned + rng.normal(0.0, 0.03 * previous)
        joined = max(0, int(round(joined)))
        ticket = price * (1.0 - 0.3 * min(1.0, joined / max(members, 1.0)))
        held = timetable * (0.9 if month.month in (8, 12) else 1.0)
        held = int(max(4, held * rng.uniform(0.97, 1.03)))
        season = 1.1 if month.month == 1 else 0.9 if month.month in _SUMMER else 1.0
        busy = fill * min(1.0, np.sqrt(members / np.exp(level))) * season
        visits = int(
            min(held * capacity, held * capacity * busy * rng.uniform(0.95, 1.05))
        )
        billing = mondays(month) * 12.0 / 52.0 if weekly else 1.0
        dropins = visits * dropin_share * dropin_price
        refund = 0.95 if rng.random() < 0.03 else 1.0
        retail = abs(rng.normal(0.02, 0.01)) * members * price
        revenue = (
            members * ticket * billing * rng.uniform(0.97, 1.0)
            + dropins * rng.uniform(0.9, 1.1)
        ) * refund + retail
        expected_members = float(np.exp(expected_log + 0.5 * volatility**2))
        expected = (
            expected_members * ticket * billing * 0.985
            + dropins
            + 0.02 * expected_members * price
        )
        reported = previous if late_count else members
        previous = members
        if 0 < t < len(months) - 1 and rng.random() < 0.03:
            continue  # a month the system lost
        rows.append(
            {
                "studio_name": name,
                "studio_type": studio_type,
                "max_capacity": capacity,
                "month_year": month.strftime("%Y-%m"),
                "total_members": int(round(reported)),
                "new_members": joined,
                "churned_members": churned,
                "avg_ticket_price": round(ticket, 2),
                "total_classes_held": held,
                "total_class_attendance": visits,
                "total_revenue": round(revenue, 2),
                "expected_total_revenue": expected,
            }
        )
    how = ["sign-ups and cancellations counted by another system (misses about 3%)"]
    if late_count:
        how.append("members counted at the start of the month (a month late)")
    return pd.DataFrame(rows), how


def franchise_export(
    n_studios: int = 30, *, seed: int = 0, end_month: str = "2026-09"
) -> MessyExport:
    """Simulate a franchise's minimal export by the process above.

    Parameters
    ----------
    n_studios : int, default 30
    seed : int, default 0
    end_month : str, default "2026-09"
        Last month of every studio's export.

    Returns
    -------
    MessyExport
        ``unusable`` names the studios exported with fewer than 18 months
        (``too_short``: they can still be forecast); ``identity_breaks`` the
        bookkeeping of each; ``truth`` holds the oracle.
    """
    return simulate_chain(
        n_studios,
        seed=seed,
        end_month=end_month,
        label="Franchise",
        length=lambda rng: int(rng.choice(_LENGTHS)),
        studio=_studio,
        min_months=18,
    )
