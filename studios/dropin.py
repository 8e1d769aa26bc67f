"""A third export process: drop-in studios with strong seasons of their own.

:mod:`studios.messy` and :mod:`studios.walk` are membership businesses: revenue is
mostly members times a price. Many studios are not: a hot-yoga room in a tourist
town, a climbing-and-yoga hall, a studio that sells class packs to visitors. Their
export looks the same (the seven minimal columns), but revenue is mostly **visits
paid one by one** (drop-ins and packs, at a price per visit of their own), a small
member base pays a monthly fee, and the year has a **strong season** of the
studio's own (peak anywhere, visits up to 1.6x the trough), which the timetable
follows. The visitor trade drifts on its own (a new hotel, a competitor), apart
from the members. The stock-flow identity holds (the system is a simple one);
about 3% of months are missing. Only the minimal columns are exported.

The expected revenue of each month given the month before (the season and the
drifts known, no draw of this month's own) is kept as an oracle for evaluation.

>>> export = dropin_export(n_studios=4, seed=0)
>>> sorted(export.frame.columns)[:3]
['avg_ticket_price', 'churned_members', 'max_capacity']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from studios.messy import MessyExport, lose_months, simulate_chain

__all__ = ["dropin_export"]


def _studio(
    rng: np.random.Generator, name: str, studio_type: str, months: pd.DatetimeIndex
) -> pd.DataFrame:
    members = float(rng.uniform(15, 90))
    retention = rng.uniform(0.85, 0.97)
    fee = float(round(rng.uniform(80.0, 190.0)))
    capacity = int(rng.integers(10, 31))
    timetable = rng.uniform(80.0, 260.0)
    per_visit = rng.uniform(16.0, 32.0)
    peak = rng.uniform(0.0, 12.0)
    amplitude = rng.uniform(0.1, 0.45)
    visitors = rng.uniform(300.0, 1600.0)
    trend = rng.normal(0.003, 0.01)
    rows = []
    for month in months:
        season = 1.0 + amplitude * np.cos(2.0 * np.pi * (month.month - peak) / 12.0)
        expected_new = max(1.0, (1.0 - retention) * members * 1.02 * season)
        new = int(rng.poisson(expected_new))
        churned = int(rng.binomial(int(members), 1.0 - retention))
        expected_members = members + expected_new - (1.0 - retention) * members
        members = max(3.0, members + new - churned)
        visitors *= np.exp(trend + rng.normal(0.0, 0.03))
        expected_visits = visitors * np.exp(trend) * season
        held = int(timetable * season * rng.lognormal(0.0, 0.03))
        places = held * capacity * 0.95
        # Members come about four times a month; visitors fill what is left.
        room = max(0.0, places - 4.0 * members)
        visits = min(room, expected_visits * rng.lognormal(0.0, 0.06))
        attendance = int(min(places, visits + 4.0 * members))
        revenue = members * fee + visits * per_visit * rng.lognormal(0.0, 0.03)
        rows.append(
            {
                "studio_name": name,
                "studio_type": studio_type,
                "max_capacity": capacity,
                "month_year": month.strftime("%Y-%m"),
                "total_members": int(round(members)),
                "new_members": new,
                "churned_members": churned,
                "avg_ticket_price": fee,
                "total_classes_held": held,
                "total_class_attendance": attendance,
                "total_revenue": round(revenue, 2),
                "expected_total_revenue": round(
                    expected_members * fee + min(room, expected_visits) * per_visit,
                    2,
                ),
            }
        )
    return pd.DataFrame(rows)


def dropin_export(
    n_studios: int = 20, *, seed: int = 0, end_month: str = "2026-09"
) -> MessyExport:
    """Simulate a chain's minimal export by the drop-in process above.

    Parameters
    ----------
    n_studios : int, default 20
    seed : int, default 0
    end_month : str, default "2026-09"
        Last month of every studio's export.

    Returns
    -------
    MessyExport
        Every studio is usable (30-60 months); ``truth`` holds the oracle.
    """
    return simulate_chain(
        n_studios,
        seed=seed,
        end_month=end_month,
        label="Dropin",
        length=lambda rng: int(rng.integers(30, 61)),
        studio=lambda rng, name, studio_type, months: (
            lose_months(_studio(rng, name, studio_type, months), rng, 0.03),
            [],
        ),
    )
