"""A fourth export process: a growing chain, studios opening, the chain moving together.

:mod:`studios.messy`, :mod:`studios.walk` and :mod:`studios.dropin` simulate studios
one by one, each with a history of its own. A real chain's export is also shaped by
what the chain does: it opens studios, raises prices everywhere at once, closes
everywhere at once, and changes booking systems. This process does that:

* **studios open during the export**: a young studio's export starts at its opening
  month with a few founding members, sells at a founding discount for six months,
  and ramps towards the size of its market over one to two years (some of them too
  young to learn from, 12-17 months, which can still be forecast); the others are
  mature;
* **the chain moves together**: one price rise of 6-10% in every studio in the same
  January (churn up the month after), two months closed everywhere at once (revenue
  from online classes only, no class held, half the members frozen out of the count
  and back over the three months after: the member count leaves the identity
  ``members(t-1) + new - churned``), and a season the whole chain shares (January's
  sign-ups, the summer's dip in visits), stronger in some studios than in others;
* **billing and systems**: a quarter of the studios bill their annual members once a
  year, in January (a January worth up to two and a half ordinary months), and a third move
  to a new booking system mid-history that counts frozen members too (the member
  count steps up by 8-20% for good, without a sign-up);
* only the minimal columns are exported, and about 2% of months are missing.

The expected revenue of each month given the month before (this month's own draws
left out) is kept as an oracle for evaluation.

>>> export = expansion_export(n_studios=4, seed=0)
>>> sorted(export.frame.columns)[:3]
['avg_ticket_price', 'churned_members', 'max_capacity']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from studios.messy import MessyExport, lose_months, pop_truth

__all__ = ["expansion_export"]

_TYPES = ("yoga", "pilates", "crossfit", "wellness", "boutique_fitness")
# Sign-ups by calendar month, the chain's common season (January's resolutions,
# September's return, the summer's lull); visits dip in July and August.
_SIGN_UP_SEASON = np.array(
    [1.45, 1.15, 1.05, 1.0, 0.95, 0.85, 0.75, 0.75, 1.2, 1.0, 0.9, 0.7]
)
_VISIT_SEASON = np.array(
    [1.08, 1.04, 1.02, 1.0, 0.98, 0.95, 0.86, 0.86, 1.02, 1.02, 1.0, 0.94]
)
_FOUNDING_MONTHS = 6
_FOUNDING_DISCOUNT = 0.8
_ANNUAL_DISCOUNT = 0.85


def _revenue(
    active: float,
    visits: float,
    list_price: float,
    annual: float,
    january: bool,
    closed: bool,
) -> tuple[float, float]:
    """Member fees and paid visits of a month: annual members pay in January, a
    closed month earns a third of the fees (online classes) and no visit."""
    fees = active * list_price * (1.0 - annual)
    if january:
        fees += active * list_price * annual * 12 * _ANNUAL_DISCOUNT
    if closed:
        return 0.3 * fees, 0.0
    return fees, visits


def _studio(
    rng: np.random.Generator,
    name: str,
    studio_type: str,
    months: pd.DatetimeIndex,
    *,
    young: bool,
    price_rise: pd.Timestamp,
    closed: pd.DatetimeIndex,
) -> tuple[pd.DataFrame, list[str]]:
    n = len(months)
    market = rng.uniform(90.0, 420.0)
    ramp = rng.uniform(4.0, 14.0)
    retention = rng.uniform(0.88, 0.97)
    price = float(round(rng.uniform(85.0, 230.0)))
    rise = rng.uniform(0.06, 0.10)
    strength = rng.uniform(0.4, 1.5)  # how strongly the chain's season shows here
    visits_per_member = rng.uniform(3.0, 6.0)
    capacity = int(rng.integers(12, 37))
    fill = rng.uniform(0.55, 0.8)
    per_visit = rng.uniform(18.0, 32.0)
    visitors = rng.uniform(0.05, 0.3) * market * visits_per_member
    annual = rng.uniform(0.08, 0.18) if rng.random() < 0.25 else 0.0
    migration = (
        int(rng.integers(n // 3, 2 * n // 3))
        if n >= 24 and rng.random() < 1 / 3
        else -1
    )
    counted = 1.0 + rng.uniform(0.08, 0.2)  # frozen members the new system counts
    breaks = []
    if migration >= 0:
        breaks.append(f"new booking system from {months[migration]:%Y-%m}")
    if any(month in closed for month in months):
        breaks.append("members frozen through the closure")

    members = rng.uniform(5.0, 25.0) if young else market * rng.uniform(0.85, 1.05)
    frozen_share = 0.0
    rows = []
    for t, month in enumerate(months):
        age = t if young else 120
        season_new = 1.0 + strength * (_SIGN_UP_SEASON[month.month - 1] - 1.0)
        season_visits = 1.0 + strength * (_VISIT_SEASON[month.month - 1] - 1.0)
        is_closed = month in closed
        if is_closed and frozen_share == 0.0:
            frozen_share = 0.5
        elif not is_closed and frozen_share > 0.0:
            frozen_share = max(0.0, frozen_share - 0.5 / 3)
        target = market * (1.0 - np.exp(-(age + 1) / ramp)) if young else market
        gap = max(0.0, target - members)
        expected_new = max(
            1.0, ((1.0 - retention) * members + 0.25 * gap) * season_new
        ) * (0.2 if is_closed else 1.0)
        churn_rate = (
            (1.0 - retention)
            * (1.3 if month == price_rise + pd.DateOffset(months=1) else 1.0)
            * (2.0 if is_closed else 1.0)
        )
        new = int(rng.poisson(expected_new))
        churned = int(rng.binomial(int(round(members)), min(churn_rate, 1.0)))
        expected_members = members + expected_new - churn_rate * members
        members = max(2.0, members + new - churned)
        visitors *= np.exp(rng.normal(0.002, 0.02))

        list_price = price * (1.0 + rise if month >= price_rise else 1.0)
        if young and age < _FOUNDING_MONTHS:
            list_price *= _FOUNDING_DISCOUNT
        level = counted if 0 <= migration <= t else 1.0

        active = members * (1.0 - frozen_share)
        held = (
            0
            if is_closed
            else int(
                round(
                    max(
                        20.0,
                        (active * visits_per_member + visitors) / (capacity * fill),
                    )
                    * rng.lognormal(0.0, 0.03)
                )
            )
        )
        places = held * capacity
        member_visits = active * visits_per_member * season_visits
        drop_ins = visitors * season_visits * rng.lognormal(0.0, 0.08)
        attendance = min(places, member_visits * rng.lognormal(0.0, 0.04) + drop_ins)
        paid_visits = max(0.0, attendance - min(places, member_visits))
        billing = (list_price, annual, month.month == 1, is_closed)
        fees, visits = _revenue(active, paid_visits * per_visit, *billing)
        expected_active = expected_members * (1.0 - frozen_share)
        expected_member_visits = expected_active * visits_per_member * season_visits
        expected_paid = max(
            0.0,
            min(places, expected_member_visits + visitors * season_visits)
            - min(places, expected_member_visits),
        )
        expected_fees, expected_visits = _revenue(
            expected_active, expected_paid * per_visit, *billing
        )
        rows.append(
            {
                "studio_name": name,
                "studio_type": studio_type,
                "max_capacity": capacity,
                "month_year": month.strftime("%Y-%m"),
                "total_members": int(round(active * level)),
                "new_members": new,
                "churned_members": churned,
                "avg_ticket_price": round(list_price * rng.lognormal(0.0, 0.015), 2),
                "total_classes_held": held,
                "total_class_attendance": int(attendance),
                "total_revenue": round((fees + visits) * rng.lognormal(0.0, 0.02), 2),
                "expected_total_revenue": round(expected_fees + expected_visits, 2),
            }
        )
    return pd.DataFrame(rows), breaks


def expansion_export(
    n_studios: int = 24, *, seed: int = 0, end_month: str = "2026-09"
) -> MessyExport:
    """Simulate a growing chain's minimal export by the process above.

    Parameters
    ----------
    n_studios : int, default 24
    seed : int, default 0
    end_month : str, default "2026-09"
        Last month of every studio's export.

    Returns
    -------
    MessyExport
        ``unusable`` names the studios opened too recently to learn from (fewer
        than 18 months: ``too_short``); ``identity_breaks`` the closure's freeze
        and the booking-system moves; ``truth`` holds the oracle.
    """
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(end_month).to_period("M").to_timestamp()
    # The chain's events: a price rise in a January 14-30 months before the end,
    # and two months closed everywhere 18-40 months before it.
    januaries = [
        m for m in pd.date_range(end=end, periods=31, freq="MS")[:-14] if m.month == 1
    ]
    price_rise = januaries[int(rng.integers(len(januaries)))]
    first_closed = end - pd.DateOffset(months=int(rng.integers(18, 41)))
    closed = pd.date_range(first_closed, periods=2, freq="MS")
    frames, truths, breaks, unusable = [], [], {}, {}
    for i in range(n_studios):
        studio_type = _TYPES[i % len(_TYPES)]
        name = f"Branch {i + 1:03d} {studio_type.replace('_', ' ')}"
        young = i % 3 == 2
        length = int(rng.integers(12, 41)) if young else int(rng.integers(36, 61))
        months = pd.date_range(end=end, periods=length, freq="MS")
        frame, how = _studio(
            rng,
            name,
            studio_type,
            months,
            young=young,
            price_rise=price_rise,
            closed=closed,
        )
        frame = lose_months(frame, rng, 0.02)
        if length < 18:
            unusable[name] = "too_short"
        breaks[name] = how
        truths.append(pop_truth(frame, name))
        frames.append(frame)
    return MessyExport(
        frame=pd.concat(frames, ignore_index=True),
        unusable=unusable,
        identity_breaks=breaks,
        truth=pd.concat(truths, ignore_index=True),
    )
