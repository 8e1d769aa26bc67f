"""A second export process, unlike both :mod:`studios.generator` and :mod:`studios.messy`.

:mod:`studios.messy` breaks the generator's rules on purpose, but it was written by
the same hands that wrote the model, and shares a view of how a studio works
(members converge to a market, retention drives churn). This process takes none of
that view: the member count is a **log random walk** with a drift, a volatility of
its own per studio and rare jumps, and the bookkeeping around it is another
system's: "new" counts gross sign-ups (reactivations included) and "churned" counts
cancellations as they were filed, so ``members(t-1) + new - churned`` misses by a
few percent every month. Prices are whole dollars that rise once a year at most,
with rare discounted months; the timetable is nearly fixed; attendance is a fill
rate of the rooms that follows the members loosely; revenue is members x price x
a collection rate of 0.9-1.1, plus an occasional lump. Sizes run from a dozen
members to a 3,000-member box, histories from 20 to 72 months (the shortest are
too short to learn from), and about 5% of months are missing. Only the minimal
columns are exported.

The expected revenue of each month given the month before (the member count's
drift applied, no draw of this month's own) is kept as an oracle for evaluation.

>>> export = walk_export(n_studios=4, seed=0)
>>> sorted(export.frame.columns)[:3]
['avg_ticket_price', 'churned_members', 'max_capacity']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from studios.messy import MessyExport, simulate_chain

__all__ = ["walk_export"]

_LENGTHS = (20, 30, 36, 48, 60, 72)


def _studio(
    rng: np.random.Generator, name: str, studio_type: str, months: pd.DatetimeIndex
) -> tuple[pd.DataFrame, list[str]]:
    size = float(np.exp(rng.uniform(np.log(12.0), np.log(3000.0))))
    drift = rng.normal(0.004, 0.01)
    volatility = rng.uniform(0.01, 0.06)
    ticket = float(round(rng.uniform(49.0, 260.0)))
    timetable = rng.uniform(20.0, 500.0)
    capacity = int(rng.integers(6, 60))
    fill = rng.uniform(0.3, 0.9)
    cancel_rate = rng.uniform(0.02, 0.25)
    members = size
    rows = []
    for t, month in enumerate(months):
        previous = members
        jump = rng.normal(0.0, 0.15) if rng.random() < 0.03 else 0.0
        members = max(3.0, members * np.exp(drift + volatility * rng.normal() + jump))
        if t > 0 and rng.random() < 0.05:
            continue  # a month the system lost
        cancelled = int(rng.poisson(cancel_rate * previous))
        signed_up = members - previous + cancelled + rng.normal(0, 0.05 * previous + 1)
        signed_up = 0 if rng.random() < 0.04 else max(0, int(round(signed_up)))
        if t % 12 == 11 and rng.random() < 0.5:
            ticket = float(round(ticket * rng.uniform(1.02, 1.10)))
        price = ticket * (0.8 if rng.random() < 0.05 else 1.0)
        held = int(max(4, timetable * rng.uniform(0.93, 1.05)))
        places = held * capacity
        busy = fill * rng.uniform(0.85, 1.1) * min(1.0, members / size + 0.3)
        lump = rng.uniform(500.0, 5000.0) if rng.random() < 0.1 else 0.0
        revenue = members * price * rng.uniform(0.9, 1.1) + lump
        expected_members = previous * np.exp(drift + 0.5 * volatility**2)
        rows.append(
            {
                "studio_name": name,
                "studio_type": studio_type,
                "max_capacity": capacity,
                "month_year": month.strftime("%Y-%m"),
                "total_members": int(round(members)),
                "new_members": signed_up,
                "churned_members": cancelled,
                "avg_ticket_price": round(price, 2),
                "total_classes_held": held,
                "total_class_attendance": int(min(places, places * busy)),
                "total_revenue": round(revenue, 2),
                "expected_total_revenue": expected_members * price + 0.1 * 2750.0,
            }
        )
    breaks = [
        "gross sign-ups and filed cancellations (the identity misses every month)"
    ]
    return pd.DataFrame(rows), breaks


def walk_export(
    n_studios: int = 30, *, seed: int = 0, end_month: str = "2026-09"
) -> MessyExport:
    """Simulate a chain's minimal export by the random-walk process above.

    Parameters
    ----------
    n_studios : int, default 30
    seed : int, default 0
    end_month : str, default "2026-09"
        Last month of every studio's export.

    Returns
    -------
    MessyExport
        ``unusable`` names the studios whose history is too short to learn from
        (20 months); ``truth`` holds the oracle.
    """
    # Its shortest studios have 20 months, with a lost month or two at most.
    return simulate_chain(
        n_studios,
        seed=seed,
        end_month=end_month,
        label="Walk",
        length=lambda rng: int(rng.choice(_LENGTHS)),
        studio=_studio,
        min_months=21,
    )
