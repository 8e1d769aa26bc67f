"""Minimal, patchy studio exports from a process unlike :mod:`studios.generator`.

A studio's own booking-system export is the normal input of studiosim (SPEC §11), and
it looks nothing like the demo generator's tidy history. This module simulates such
exports so that the model is measured on data it was not designed around
(``bench/real_data.py``, and the tests of the real-data path). It shares no code and
no parameters with the generator, and breaks on purpose what the generator keeps:

* **members do not follow the stock-flow identity**: members on a freeze drop out of
  the count without churning and come back without joining; transfers between the
  chain's studios move members without a sign-up; a clean-up of the member list
  removes a slice at once; some contracts hold a floor under the count; some systems
  report churn a month late, or count only paid sign-ups as new;
* **retention anywhere in 0.60-0.95**, drifting, with regime shifts;
* **revenue with parts the formula does not know**: workshops (lumpy), gift cards in
  December, a corporate contract that starts one day, refunds; a ticket that is the
  list price for some systems and revenue per member for others; price rises in
  steps; discounts that come and go;
* **seasons of the studio's own**: sign-up peaks in any month, not January;
* **shocks that nobody flagged** (a flood, a renovation);
* **histories of 24-60 months**, some with missing months, optional columns absent
  for some studios and patchy for others, and a few studios that cannot be used
  (too short, no revenue recorded, mostly gaps).

Pure numpy/pandas; the same seed gives the same export.

>>> export = messy_export(n_studios=6, seed=0)
>>> sorted(export.frame.columns)[:3]
['avg_ticket_price', 'churned_members', 'class_attendance_rate']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "MINIMAL_COLUMNS",
    "ODDITIES",
    "OPTIONAL_COLUMNS",
    "MessyExport",
    "messy_export",
    "odd_export",
    "lose_months",
    "recent_months",
    "pop_truth",
    "simulate_chain",
]

#: The columns every export has: what a booking system always knows.
MINIMAL_COLUMNS: tuple[str, ...] = (
    "studio_name",
    "studio_type",
    "max_capacity",
    "month_year",
    "total_members",
    "new_members",
    "churned_members",
    "avg_ticket_price",
    "total_classes_held",
    "total_class_attendance",
    "total_revenue",
)
#: Columns some systems export, for some studios, sometimes.
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "staff_count",
    "staff_utilization_rate",
    "upsell_rate",
    "membership_revenue",
    "class_pack_revenue",
    "retail_revenue",
    "upsell_revenue",
    "square_footage",
    "opening_date",
)
_TYPES = ("yoga", "pilates", "crossfit", "wellness", "boutique_fitness")
# List prices per type (low, high): wider and lower at the bottom than the
# generator's, as exports of discount chains are.
_PRICE = {
    "yoga": (70.0, 170.0),
    "pilates": (120.0, 320.0),
    "crossfit": (110.0, 240.0),
    "wellness": (60.0, 190.0),
    "boutique_fitness": (100.0, 260.0),
}
_UNUSABLE = ("too_short", "no_revenue", "mostly_gaps")


@dataclass(frozen=True)
class MessyExport:
    """A messy export and what is known about it.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per studio-month present in the export, the columns of
        :data:`MINIMAL_COLUMNS` plus whichever :data:`OPTIONAL_COLUMNS` the studio's
        system exported that month (NaN otherwise); ``month_year`` as ``YYYY-MM``.
    unusable : dict of str to str
        Studios made unusable on purpose, and how (``too_short``, ``no_revenue``,
        ``mostly_gaps``).
    identity_breaks : dict of str to list of str
        Per studio, the ways its member count departs from the identity.
    truth : pandas.DataFrame
        ``studio_name``, ``month_year`` and ``expected_total_revenue``: each
        month's revenue without that month's own draws, given the month before
        (an oracle for evaluation; a real export has no such column).
    """

    frame: pd.DataFrame
    unusable: dict[str, str]
    identity_breaks: dict[str, list[str]]
    truth: pd.DataFrame

    def to_csv(self, path: str) -> None:
        """Write the export as a CSV ``import_metrics`` reads (blank = missing)."""
        self.frame.to_csv(path, index=False, float_format="%.6g")


def pop_truth(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Take a simulated studio's ``expected_total_revenue`` out of its export rows,
    as the ``truth`` rows of :class:`MessyExport` (a real export has no oracle)."""
    return pd.DataFrame(
        {
            "studio_name": name,
            "month_year": frame["month_year"],
            "expected_total_revenue": frame.pop("expected_total_revenue"),
        }
    )


def simulate_chain(
    n_studios: int,
    *,
    seed: int,
    end_month: str,
    label: str,
    length: Callable[[np.random.Generator], int],
    studio: Callable[
        [np.random.Generator, str, str, pd.DatetimeIndex],
        tuple[pd.DataFrame, list[str]],
    ],
    min_months: int = 0,
) -> MessyExport:
    """A chain of studios simulated one after the other from one generator.

    The ``i``-th studio is of type ``_TYPES[i % 5]`` and named ``"{label} {i+1:03d}
    {type}"``; ``length(rng)`` draws how many months up to ``end_month`` it
    exports and ``studio(rng, name, type, months)`` simulates its rows (with
    ``expected_total_revenue``, taken out as the truth) and how its member count
    departs from the identity. A studio exported with fewer than ``min_months``
    rows is named ``too_short``.
    """
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(end_month).to_period("M").to_timestamp()
    frames, truths, unusable, breaks = [], [], {}, {}
    for i in range(n_studios):
        studio_type = _TYPES[i % len(_TYPES)]
        name = f"{label} {i + 1:03d} {studio_type.replace('_', ' ')}"
        months = pd.date_range(end=end, periods=length(rng), freq="MS")
        frame, breaks[name] = studio(rng, name, studio_type, months)
        if len(frame) < min_months:
            unusable[name] = "too_short"
        truths.append(pop_truth(frame, name))
        frames.append(frame)
    return MessyExport(
        frame=pd.concat(frames, ignore_index=True),
        unusable=unusable,
        identity_breaks=breaks,
        truth=pd.concat(truths, ignore_index=True),
    )


def lose_months(
    frame: pd.DataFrame, rng: np.random.Generator, rate: float
) -> pd.DataFrame:
    """A simulated studio's rows less the months its system lost, each with
    probability ``rate``, never the first or the last."""
    lost = rng.random(len(frame)) < rate
    lost[[0, -1]] = False
    return frame[~lost].reset_index(drop=True)


def recent_months(
    export: MessyExport, low: int, high: int, *, seed: int = 0
) -> MessyExport:
    """The export as a system with a shorter memory writes it: each studio's last
    ``low`` to ``high`` calendar months (drawn per studio), as from a booking system
    the chain moved to two years ago. A studio already shorter keeps what it has;
    the truth rows stay (the evaluation reads them by studio and month)."""
    if not 1 <= low <= high:
        raise ValueError(f"need 1 <= low <= high, got {low} and {high}")
    rng = np.random.default_rng(seed)
    frame = export.frame
    month = pd.PeriodIndex(frame["month_year"], freq="M")
    last = (
        month.to_series(index=frame.index)
        .groupby(frame["studio_name"])
        .transform("max")
    )
    names = frame["studio_name"].unique()
    keep_months = pd.Series(rng.integers(low, high + 1, size=len(names)), index=names)
    age = (last - month.to_series(index=frame.index)).map(lambda d: d.n)
    kept = frame[age.to_numpy() < frame["studio_name"].map(keep_months).to_numpy()]
    return MessyExport(
        kept.reset_index(drop=True),
        export.unusable,
        export.identity_breaks,
        export.truth,
    )


def _seasonal(month: np.ndarray, peak: float, amplitude: float) -> np.ndarray:
    return 1.0 + amplitude * np.cos(2.0 * np.pi * (month - peak) / 12.0)


def _studio(
    rng: np.random.Generator, name: str, months: pd.DatetimeIndex
) -> tuple[pd.DataFrame, list[str], dict[str, object]]:
    n = len(months)
    moy = months.month.to_numpy()
    studio_type = str(rng.choice(_TYPES))
    capacity = int(rng.integers(8, 41))
    breaks: list[str] = []

    # --- members: a market the studio converges to, drifting retention --------
    market = float(rng.lognormal(np.log(260.0), 0.55))
    market_trend = rng.uniform(-0.01, 0.025) / 12.0
    members = market * rng.uniform(0.3, 1.05)
    r_level = rng.uniform(0.60, 0.95)
    r_dev = 0.0
    shift_at = int(rng.integers(6, n)) if rng.random() < 0.5 else -1
    shift = rng.normal(0.0, 0.04)
    new_peak, new_amp = rng.uniform(0, 12), rng.uniform(0.03, 0.30)
    freeze = rng.uniform(0.02, 0.10) if rng.random() < 0.5 else 0.0
    freeze_peak = rng.uniform(5, 9)
    transfers = rng.random() < 0.35
    cleanups = rng.random() < 0.4
    floor = members * rng.uniform(0.5, 0.8) if rng.random() < 0.2 else 0.0
    churn_lag = rng.random() < 0.3
    paid_new_only = rng.uniform(0.6, 0.85) if rng.random() < 0.2 else 1.0
    for flag, label in (
        (freeze > 0, "freezes"),
        (transfers, "transfers"),
        (cleanups, "list clean-ups"),
        (floor > 0, "contract floor"),
        (churn_lag, "churn reported a month late"),
        (paid_new_only < 1, "only paid sign-ups counted as new"),
    ):
        if flag:
            breaks.append(label)

    # --- money and schedule ---------------------------------------------------
    low, high = _PRICE[studio_type]
    price = rng.uniform(low, high)
    next_rise = int(rng.integers(4, 20))
    discount_level = rng.uniform(0.0, 0.15)
    ticket_is_revenue_per_member = rng.random() < 0.3
    classes_base = rng.uniform(60, 420)
    next_schedule = int(rng.integers(6, 18))
    visits = rng.uniform(2.5, 8.0)
    drop_in_price = rng.uniform(14.0, 35.0)
    drop_in_share = rng.uniform(0.05, 0.30)
    retail = rng.uniform(1.0, 12.0)
    upsell_base = rng.uniform(0.08, 0.35)
    upsell_value = rng.uniform(20.0, 70.0)
    workshop_rate = rng.uniform(0.0, 0.25)
    gift_card = rng.uniform(0.0, 0.08)
    corporate = rng.uniform(1000, 6000) if rng.random() < 0.25 else 0.0
    corporate_from = int(rng.integers(0, n))
    shock_at = int(rng.integers(3, n)) if rng.random() < 0.15 else -1
    staff = int(rng.integers(4, 26))

    rows = []
    previous_churn = None
    for t in range(n):
        market *= 1.0 + market_trend
        r_dev = 0.7 * r_dev + rng.normal(0.0, 0.012)
        if t == shift_at:
            r_level = float(np.clip(r_level + shift, 0.6, 0.95))
        retention = float(np.clip(r_level + r_dev, 0.55, 0.97))
        expected_new = (1 - retention) * market + 0.1 * (market - members)
        expected_new = max(2.0, expected_new) * _seasonal(moy[t], new_peak, new_amp)
        if rng.random() < 0.06:  # a promotion nobody flagged
            expected_new *= rng.uniform(1.4, 2.2)
        new = int(rng.poisson(expected_new * rng.lognormal(0.0, 0.10)))
        churned = int(rng.binomial(int(round(members)), 1.0 - retention))
        # What this month would be without its draws, given last month: the
        # oracle a forecaster could at best reach (evaluation only).
        expected_members = max(
            members + expected_new * 1.05 - members * (1 - retention), 5.0
        )
        members = members + new - churned
        if transfers and rng.random() < 0.12:
            members += rng.integers(-12, 16)
        if cleanups and rng.random() < 0.025:
            members *= rng.uniform(0.85, 0.95)
        if t == shock_at:
            new = int(new * 0.2)
        members = max(members, 5.0)
        frozen = freeze * _seasonal(moy[t], freeze_peak, 0.8) * rng.lognormal(0, 0.2)
        active = members * (1.0 - frozen)
        reported_members = int(round(max(active, floor)))
        reported_churn = previous_churn if churn_lag and previous_churn else churned
        previous_churn = churned
        reported_new = int(round(new * paid_new_only))

        if t == next_rise:
            price *= rng.uniform(1.04, 1.12)
            next_rise = t + int(rng.integers(10, 26))
        discount_level = float(np.clip(discount_level + rng.normal(0, 0.01), 0.0, 0.25))
        realised = price * (1.0 - discount_level)
        if t == next_schedule:
            classes_base *= rng.uniform(0.85, 1.2)
            next_schedule = t + int(rng.integers(8, 20))
        season = (0.85 if moy[t] == 12 else 1.0) * (
            1.0 - rng.uniform(0.0, 0.12) * (moy[t] in (7, 8))
        )
        classes = int(max(10, round(classes_base * season * rng.lognormal(0, 0.03))))
        demand = active * visits * season * rng.lognormal(0, 0.05)
        demand *= 1.0 + drop_in_share
        attendance = int(min(demand, classes * capacity * 0.97))
        if t == shock_at:
            attendance = int(attendance * 0.3)
        drop_ins = attendance * drop_in_share / (1 + drop_in_share)

        membership = active * realised + members * frozen * 0.1 * price
        class_pack = drop_ins * drop_in_price
        retail_revenue = active * retail * rng.lognormal(0, 0.15)
        upsell_rate = float(np.clip(upsell_base * rng.lognormal(0, 0.08), 0, 1))
        upsell_revenue = active * upsell_rate * upsell_value * rng.lognormal(0, 0.05)
        unknown = 0.0
        if rng.random() < workshop_rate:
            unknown += rng.uniform(800, 7000)
        if moy[t] == 12:
            unknown += gift_card * membership
        if corporate and t >= corporate_from:
            unknown += corporate
        if rng.random() < 0.05:
            unknown -= rng.uniform(300, 2500)  # refunds
        total = membership + class_pack + retail_revenue + upsell_revenue + unknown
        expected_frozen = freeze * _seasonal(moy[t], freeze_peak, 0.8) * 1.02
        expected_active = expected_members * (1.0 - expected_frozen)
        expected_total = (
            expected_active * realised
            + expected_members * expected_frozen * 0.1 * price
            + class_pack * expected_active / max(active, 1.0)
            + expected_active * (retail * 1.011 + upsell_base * upsell_value)
            + workshop_rate * 3900.0
            + (gift_card * membership if moy[t] == 12 else 0.0)
            + (corporate if corporate and t >= corporate_from else 0.0)
            - 0.05 * 1400.0
        )
        if t == shock_at:
            total *= rng.uniform(0.3, 0.6)
            membership *= 0.5
        total = max(total, 0.0)
        ticket = (
            total / max(reported_members, 1)
            if ticket_is_revenue_per_member
            else (realised * rng.lognormal(0, 0.01))
        )
        utilisation = float(np.clip(classes / (staff * 18.0), 0.3, 1.0))
        rows.append(
            {
                "total_members": reported_members,
                "new_members": reported_new,
                "churned_members": int(reported_churn),
                "avg_ticket_price": round(ticket, 2),
                "total_classes_held": classes,
                "total_class_attendance": attendance,
                "total_revenue": round(total, 2),
                "staff_count": staff,
                "staff_utilization_rate": round(utilisation, 4),
                "upsell_rate": round(upsell_rate, 4),
                "membership_revenue": round(membership, 2),
                "class_pack_revenue": round(class_pack, 2),
                "retail_revenue": round(retail_revenue, 2),
                "upsell_revenue": round(upsell_revenue, 2),
                "expected_total_revenue": round(max(expected_total, 0.0), 2),
            }
        )
    frame = pd.DataFrame(rows)
    frame.insert(0, "month_year", months.strftime("%Y-%m"))
    statics = {
        "studio_name": name,
        "studio_type": studio_type,
        "max_capacity": capacity,
        "square_footage": int(rng.integers(1200, 9000)),
        "opening_date": (months[0] - pd.DateOffset(months=int(rng.integers(0, 60))))
        .date()
        .isoformat(),
    }
    return frame, breaks, statics


def messy_export(
    n_studios: int = 40,
    *,
    seed: int = 0,
    end_month: str = "2026-10",
    unusable: int = 3,
) -> MessyExport:
    """Simulate a chain's minimal, patchy export.

    Parameters
    ----------
    n_studios : int, default 40
        Studios in the export, the unusable ones included.
    seed : int, default 0
    end_month : str, default "2026-10"
        Last month of the export (most studios end there; a few closed earlier).
    unusable : int, default 3
        How many studios are made unusable on purpose, cycling through too short,
        no revenue recorded and mostly gaps (0 for none).

    Returns
    -------
    MessyExport
    """
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(end_month).to_period("M").to_timestamp()
    parts, truths, unusable_by_name, breaks_by_name = [], [], {}, {}
    for i in range(n_studios):
        name = f"Studio {i + 1:03d} {rng.choice(['North', 'South', 'East', 'West', 'Central'])}"
        length = int(rng.integers(24, 61))
        last = (
            end
            if rng.random() > 0.08
            else end - pd.DateOffset(months=int(rng.integers(1, 6)))
        )
        how = _UNUSABLE[i % 3] if i < unusable else None
        if how == "too_short":
            length = int(rng.integers(5, 11))
        months = pd.date_range(end=last, periods=length, freq="MS")
        frame, breaks, statics = _studio(rng, name, months)
        if how == "no_revenue":
            frame["total_revenue"] = 0.0
        truths.append(pop_truth(frame, name))
        # The system's optional columns: absent, patchy or complete per studio.
        kind = rng.choice(["absent", "patchy", "complete"], p=[0.4, 0.3, 0.3])
        optional = [c for c in OPTIONAL_COLUMNS if c in frame.columns]
        if kind == "absent":
            frame[optional] = np.nan
        elif kind == "patchy":
            frame[optional] = frame[optional].mask(
                rng.random((len(frame), len(optional))) < 0.35
            )
        for key in ("square_footage", "opening_date"):
            frame[key] = (
                statics[key] if kind != "absent" and rng.random() < 0.6 else np.nan
            )
        frame.insert(0, "max_capacity", statics["max_capacity"])
        frame.insert(0, "studio_type", statics["studio_type"])
        frame.insert(0, "studio_name", name)
        # Missing months: a few scattered ones, or most of them.
        if how == "mostly_gaps":
            keep = rng.random(len(frame)) < 0.35
            keep[-1] = True
            frame = frame[keep]
        elif rng.random() < 0.3:
            inner = np.arange(1, len(frame) - 1)
            drop = rng.choice(inner, size=int(rng.integers(1, 3)), replace=False)
            frame = frame.drop(index=frame.index[drop])
        parts.append(frame)
        if how:
            unusable_by_name[name] = how
        breaks_by_name[name] = breaks
    columns = [*MINIMAL_COLUMNS, *OPTIONAL_COLUMNS]
    frame = pd.concat(parts, ignore_index=True).loc[:, columns]
    return MessyExport(
        frame, unusable_by_name, breaks_by_name, pd.concat(truths, ignore_index=True)
    )


#: The oddities of :func:`odd_export`, one per studio in this order.
ODDITIES: tuple[str, ...] = (
    "closed_three_months",  # members, flows, classes and revenue 0 mid-history
    "closed_at_end",  # the same for its last two months
    "large",  # forty times the members, classes and revenue
    "tiny",  # a fortieth of the members and revenue
    "constant",  # the same figures every month
    "no_attendance",  # attendance never tracked (0)
    "no_classes",  # an online membership: no classes, no attendance
    "no_price",  # the ticket never exported (0)
    "no_churn",  # cancellations never exported (0)
    "no_sign_ups",  # sign-ups never exported (0)
    "typo",  # one month's revenue booked x25, eight months before the end
)


def odd_export(n_studios: int = 16, *, seed: int = 11) -> MessyExport:
    """A messy export whose first studios each carry one oddity of real exports.

    :func:`messy_export` without unusable studios, then studio ``i`` gets
    ``ODDITIES[i]`` (the minimal columns only: the optional ones are dropped).
    What an importer and a model must survive without a refusal or an error, and
    forecast as well as the data allows.

    Returns
    -------
    MessyExport
        ``identity_breaks`` also lists each studio's oddity; ``truth`` is missing
        for the studios with one.
    """
    export = messy_export(n_studios, seed=seed, unusable=0)
    frame = export.frame.loc[:, list(MINIMAL_COLUMNS)].copy()
    numeric = list(MINIMAL_COLUMNS[4:])
    frame[numeric] = frame[numeric].astype(np.float64)
    names = list(dict.fromkeys(frame["studio_name"]))
    flows = ["total_members", "new_members", "churned_members"]
    use = ["total_classes_held", "total_class_attendance", "total_revenue"]
    counts = [*flows, "total_class_attendance"]
    breaks = {name: list(found) for name, found in export.identity_breaks.items()}
    for name, oddity in zip(names, ODDITIES, strict=False):
        rows = frame.index[frame["studio_name"] == name]
        if oddity == "closed_three_months":
            frame.loc[rows[10:13], [*flows, *use]] = 0
            frame.loc[rows[13], "churned_members"] = 0
        elif oddity == "closed_at_end":
            frame.loc[rows[-2:], [*flows, *use]] = 0
        elif oddity == "large":
            frame.loc[rows, [*counts, "total_classes_held", "total_revenue"]] *= 40
        elif oddity == "tiny":
            frame.loc[rows, counts] = (frame.loc[rows, counts] / 40).round()
            frame.loc[rows, "total_revenue"] /= 40
        elif oddity == "constant":
            frame.loc[rows, [*flows, "avg_ticket_price", *use]] = frame.loc[
                rows[0], [*flows, "avg_ticket_price", *use]
            ].to_numpy()
        elif oddity == "no_attendance":
            frame.loc[rows, "total_class_attendance"] = 0
        elif oddity == "no_classes":
            frame.loc[rows, ["total_classes_held", "total_class_attendance"]] = 0
        elif oddity == "no_price":
            frame.loc[rows, "avg_ticket_price"] = 0
        elif oddity == "no_churn":
            frame.loc[rows, "churned_members"] = 0
        elif oddity == "no_sign_ups":
            frame.loc[rows, "new_members"] = 0
        elif oddity == "typo":
            frame.loc[rows[-8], "total_revenue"] *= 25
        breaks[name].append(oddity.replace("_", " "))
    # The world's expectation no longer describes a studio the oddity changed.
    truth = export.truth.copy()
    odd = truth["studio_name"].isin(names[: len(ODDITIES)])
    truth.loc[odd, "expected_total_revenue"] = np.nan
    return MessyExport(frame, {}, breaks, truth)
