"""The public entry point: :func:`generate` and its result, :class:`GeneratedData`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from studios.generator import outliers
from studios.generator.classes import build_class_types
from studios.generator.cohorts import build_cohorts
from studios.generator.profiles import draw_studios
from studios.generator.simulate import INT_FIELDS, World, WorldState, simulate

__all__ = [
    "DEFAULT_END_MONTH",
    "METRIC_FIELDS",
    "GeneratedData",
    "generate",
    "generate_world",
    "split_of",
]

DEFAULT_END_MONTH = "2026-10"

#: MonthlyMetric fields, in the order of docs/CONTRACTS.md.
METRIC_FIELDS: tuple[str, ...] = (
    "total_members",
    "new_members",
    "churned_members",
    "retention_rate",
    "avg_ticket_price",
    "total_classes_held",
    "total_class_attendance",
    "class_attendance_rate",
    "staff_count",
    "staff_utilization_rate",
    "membership_revenue",
    "class_pack_revenue",
    "intro_offer_revenue",
    "retail_revenue",
    "upsell_revenue",
    "total_revenue",
    "intro_offer_conversions",
    "upsell_rate",
    "average_member_lifetime_months",
)
_MONEY_FIELDS = frozenset(
    {
        "avg_ticket_price",
        "membership_revenue",
        "class_pack_revenue",
        "intro_offer_revenue",
        "retail_revenue",
        "upsell_revenue",
        "total_revenue",
    }
)

# Independent random streams per part, so that, for example, a change to the class
# catalogue does not reshuffle the monthly noise of the same seed.
_STREAMS = ("studios", "outliers", "noise", "cohorts", "classes", "moves")


@dataclass(frozen=True)
class GeneratedData:
    """Synthetic history of a set of studios.

    Attributes
    ----------
    studios : pandas.DataFrame
        One row per studio: name (unique), studio_type, city, state,
        opening_date (``datetime.date``), square_footage, max_capacity.
    metrics : pandas.DataFrame
        One row per studio-month, sorted by studio then month: studio_name,
        month_year (first of month), every MonthlyMetric field, is_outlier,
        outlier_reason, split, and ``expected_<field>`` (noise-free truth, never a
        feature).
    class_types : pandas.DataFrame
        studio_name, class_name, class_price, max_capacity, avg_attendance_rate.
    cohorts : pandas.DataFrame
        studio_name, join_month, cohort_size, retention_month_1/3/6/12 (NaN where
        not yet observable), avg_ltv.
    """

    studios: pd.DataFrame
    metrics: pd.DataFrame
    class_types: pd.DataFrame
    cohorts: pd.DataFrame


def _parse_month(value: str | dt.date | pd.Timestamp) -> pd.Timestamp:
    """The first day of the month of ``value`` (``"YYYY-MM"``, a date or timestamp)."""
    if isinstance(value, str):
        try:
            stamp = pd.Timestamp(dt.datetime.strptime(value.strip()[:7], "%Y-%m"))
        except ValueError as exc:
            raise ValueError(
                f"end_month must look like 'YYYY-MM', got {value!r}"
            ) from exc
    else:
        stamp = pd.Timestamp(value)
    return stamp.normalize().replace(day=1)


def split_of(months: int) -> np.ndarray:
    """Split label of each month of a history of length ``months``.

    The last 6 months are "test", the 6 before them "validation", the rest
    "train" (SPEC §2.8).
    """
    index = np.arange(months)
    return np.where(
        index >= months - 6,
        "test",
        np.where(index >= months - 12, "validation", "train"),
    ).astype(object)


def generate_world(
    n_studios: int = 12,
    months: int = 60,
    seed: int = 0,
    end_month: str | dt.date | pd.Timestamp = DEFAULT_END_MONTH,
) -> tuple[GeneratedData, World, WorldState]:
    """:func:`generate`, plus the world the history came from, at its end.

    Returns
    -------
    data : GeneratedData
        The same frames as :func:`generate` with the same arguments.
    world, state : World, WorldState
        The simulator of these studios (in the order of ``data.studios``) and
        where they stand after the last month, for
        :func:`studios.generator.simulate.run_plan`.
    """
    world_out: list = []
    data = _generate(n_studios, months, seed, end_month, world_out)
    world, state = world_out
    return data, world, state


def generate(
    n_studios: int = 12,
    months: int = 60,
    seed: int = 0,
    end_month: str | dt.date | pd.Timestamp = DEFAULT_END_MONTH,
) -> GeneratedData:
    """Generate a deterministic synthetic history for ``n_studios`` studios.

    Parameters
    ----------
    n_studios : int, default 12
        Number of studios (mixed types, sizes, cities and price points).
    months : int, default 60
        Months of history per studio; every studio has all of them.
    seed : int, default 0
        Seed; the same seed gives identical frames.
    end_month : str, date or Timestamp, default "2026-10"
        Last month of the history (``"YYYY-MM"`` or any date in that month).

    Returns
    -------
    GeneratedData

    Raises
    ------
    ValueError
        If ``n_studios`` or ``months`` is below 1 or ``end_month`` is malformed.
    """
    return _generate(n_studios, months, seed, end_month, None)


def _generate(
    n_studios: int,
    months: int,
    seed: int,
    end_month: str | dt.date | pd.Timestamp,
    world_out: list | None,
) -> GeneratedData:
    if n_studios < 1:
        raise ValueError(f"n_studios must be at least 1, got {n_studios}")
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    end = _parse_month(end_month)
    # Microseconds: what pandas gives for month strings, whatever end_month was.
    month_starts = pd.date_range(end=end, periods=months, freq="MS").as_unit("us")
    streams = dict(
        zip(
            _STREAMS,
            (
                np.random.default_rng(s)
                for s in np.random.SeedSequence(seed).spawn(len(_STREAMS))
            ),
            strict=True,
        )
    )

    params = draw_studios(streams["studios"], n_studios, month_starts[0], months)
    shocks = outliers.draw(streams["outliers"], n_studios, months)
    history = simulate(
        params,
        months,
        month_starts[0].month,
        shocks,
        streams["noise"],
        moves_rng=streams["moves"],
        world_out=world_out,
    )

    studios = pd.DataFrame(
        {
            "name": params.names.astype(str),
            "studio_type": params.types.astype(str),
            "city": params.cities.astype(str),
            "state": params.states.astype(str),
            "opening_date": pd.Series(params.opening_dates, dtype=object),
            "square_footage": params.square_footage.astype(np.int64),
            "max_capacity": params.max_capacity.astype(np.int64),
        }
    )

    columns: dict[str, object] = {
        "studio_name": np.repeat(params.names, months).astype(str),
        "month_year": np.tile(month_starts.values, n_studios),
    }
    for field in METRIC_FIELDS:
        values = history[field].ravel()
        if field in INT_FIELDS:
            values = values.astype(np.int64)
        elif field in _MONEY_FIELDS:
            values = np.round(values, 2)
        columns[field] = values
    columns["is_outlier"] = (shocks.code != outliers.NONE).ravel()
    columns["outlier_reason"] = np.array(outliers.REASONS, dtype=object)[
        shocks.code
    ].ravel()
    columns["split"] = np.tile(split_of(months), n_studios)
    for field in METRIC_FIELDS:
        key = f"expected_{field}"
        if key in history:
            values = history[key].ravel()
            columns[key] = np.round(values, 2) if field in _MONEY_FIELDS else values
    metrics = pd.DataFrame(columns)

    cohorts = build_cohorts(streams["cohorts"], params.names, month_starts, history)
    class_types = build_class_types(
        streams["classes"], params, history["class_attendance_rate"].mean(axis=1)
    )
    return GeneratedData(
        studios=studios, metrics=metrics, class_types=class_types, cohorts=cohorts
    )
