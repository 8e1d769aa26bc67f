"""The long-format history frame shared by the selectors and the models.

One row per studio-month, sorted by ``(unique_id, ds)``, Nixtla style (see
``docs/CONTRACTS.md``). The Django selectors build it with studio UUIDs as
``unique_id``; :func:`frame_from_generated` builds it from the synthetic generator with
studio names as ``unique_id``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forecasting.ml.exceptions import FrameError

__all__ = [
    "LEVERS",
    "LEVER_COLUMNS",
    "METRIC_FIELDS",
    "REVENUE_COMPONENTS",
    "STATIC_COLUMNS",
    "STUDIO_TYPES",
    "frame_from_generated",
    "validate_frame",
]

#: Every numeric MonthlyMetric field, in the contract's order.
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

REVENUE_COMPONENTS: tuple[str, ...] = (
    "membership_revenue",
    "class_pack_revenue",
    "intro_offer_revenue",
    "retail_revenue",
    "upsell_revenue",
)

#: The plan an owner controls; the order is fixed everywhere (CONTRACTS.md).
LEVERS: tuple[str, ...] = (
    "retention_rate",
    "avg_ticket_price",
    "class_attendance_rate",
    "new_members_monthly",
    "staff_utilization_rate",
    "upsell_rate",
    "total_classes_held",
)

#: The MonthlyMetric column holding each lever's historical value.
LEVER_COLUMNS: tuple[str, ...] = tuple(
    "new_members" if lever == "new_members_monthly" else lever for lever in LEVERS
)

STATIC_COLUMNS: tuple[str, ...] = (
    "studio_type",
    "max_capacity",
    "square_footage",
    "opening_date",
)

#: Studio type values (the TextChoices values), in a fixed order for encoding.
STUDIO_TYPES: tuple[str, ...] = (
    "yoga",
    "pilates",
    "crossfit",
    "wellness",
    "boutique_fitness",
)

_SPLITS = frozenset({"train", "validation", "test"})
_RATE_COLUMNS = frozenset(
    {"retention_rate", "class_attendance_rate", "staff_utilization_rate", "upsell_rate"}
)


def _studio_type_value(raw: Any) -> str:
    """Map a studio type label ("Boutique Fitness") or value to the value."""
    value = str(raw).strip().lower().replace(" ", "_").replace("-", "_")
    if value not in STUDIO_TYPES:
        raise FrameError(f"unknown studio_type {raw!r}; expected one of {STUDIO_TYPES}")
    return value


def validate_frame(frame: pd.DataFrame, *, require_split: bool = False) -> pd.DataFrame:
    """Check a history frame against the contract and return a normalised copy.

    Parameters
    ----------
    frame : pandas.DataFrame
        Long-format history: ``unique_id``, ``ds``, every field of
        :data:`METRIC_FIELDS`, ``is_outlier``, the static columns and optionally
        ``split`` and ``expected_<field>`` truth columns.
    require_split : bool, default False
        Whether the ``split`` column must be present (training and evaluation need
        it; serving does not).

    Returns
    -------
    pandas.DataFrame
        A copy sorted by ``(unique_id, ds)`` with a fresh RangeIndex, ``unique_id``
        as str, ``ds`` as month-start Timestamps, numeric fields as float64,
        ``is_outlier`` as bool and ``studio_type`` as the TextChoices value.

    Raises
    ------
    FrameError
        On a missing column, a non-finite or negative metric, a rate outside
        [0, 1], a ``ds`` that is not a month start, a duplicated or missing month
        inside a studio's history, or an unknown split or studio type.
    """
    if not isinstance(frame, pd.DataFrame):
        raise FrameError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    required = ["unique_id", "ds", *METRIC_FIELDS, "is_outlier", *STATIC_COLUMNS]
    if require_split:
        required.append("split")
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise FrameError(f"history frame is missing columns: {missing}")
    if frame.empty:
        raise FrameError("history frame is empty")

    # Column by column into plain arrays, then one DataFrame at the end: assigning
    # columns one at a time into a copy costs more than the checks themselves, and
    # serving validates a history on every request.
    uid = frame["unique_id"].astype(str).to_numpy()
    ds = pd.to_datetime(frame["ds"]).to_numpy(dtype="datetime64[ns]")
    if (ds.astype("datetime64[M]").astype("datetime64[ns]") != ds).any():
        raise FrameError("ds must hold month starts (the first day of each month)")
    order = np.lexsort((ds, uid))
    columns: dict[str, Any] = {"unique_id": uid[order], "ds": ds[order]}
    for column in (*METRIC_FIELDS, "max_capacity", "square_footage"):
        try:
            values = frame[column].to_numpy(dtype=np.float64)[order]
        except (TypeError, ValueError) as exc:
            raise FrameError(f"column {column!r} is not numeric: {exc}") from exc
        if not np.isfinite(values).all():
            raise FrameError(f"column {column!r} has missing or non-finite values")
        if (values < 0).any():
            raise FrameError(f"column {column!r} has negative values")
        if column in _RATE_COLUMNS and (values > 1.0).any():
            raise FrameError(
                f"rate column {column!r} has values above 1 (rates are fractions)"
            )
        columns[column] = values
    if (columns["max_capacity"] <= 0).any():
        raise FrameError("max_capacity must be positive")
    columns["is_outlier"] = frame["is_outlier"].to_numpy(dtype=bool)[order]
    columns["opening_date"] = pd.to_datetime(frame["opening_date"]).to_numpy()[order]
    types = frame["studio_type"].to_numpy()[order]
    columns["studio_type"] = np.array(
        [_studio_type_value(t) for t in types], dtype=object
    )
    if "split" in frame.columns:
        split = frame["split"].astype(str).to_numpy()[order]
        unknown = set(np.unique(split)) - _SPLITS
        if unknown:
            raise FrameError(
                f"unknown split values {sorted(unknown)}; expected {sorted(_SPLITS)}"
            )
        columns["split"] = split
    for column in frame.columns:
        if column not in columns:
            values = frame[column].to_numpy()[order]
            columns[column] = (
                values.astype(np.float64) if column.startswith("expected_") else values
            )

    same_studio = columns["unique_id"][1:] == columns["unique_id"][:-1]
    month = columns["ds"].astype("datetime64[M]").astype(np.int64)
    step = np.diff(month)
    if (same_studio & (step == 0)).any():
        i = int(np.flatnonzero(same_studio & (step == 0))[0]) + 1
        raise FrameError(
            f"duplicated month {pd.Timestamp(columns['ds'][i]):%Y-%m} "
            f"for studio {columns['unique_id'][i]!r}"
        )
    if (same_studio & (step != 1)).any():
        i = int(np.flatnonzero(same_studio & (step != 1))[0]) + 1
        raise FrameError(
            f"studio {columns['unique_id'][i]!r} has a gap before "
            f"{pd.Timestamp(columns['ds'][i]):%Y-%m}: histories must be contiguous months"
        )
    for column in STATIC_COLUMNS:
        values = columns[column]
        if (same_studio & (values[1:] != values[:-1])).any():
            raise FrameError(
                f"static column {column!r} must be constant within a studio"
            )
    return pd.DataFrame(columns)


def frame_from_generated(data: Any) -> pd.DataFrame:
    """Convert the synthetic generator's output to the long-format frame.

    Parameters
    ----------
    data : object
        What ``studios.generator.generate`` returns: ``data.studios`` (one row per
        studio: name, studio_type, city, state, opening_date, square_footage,
        max_capacity) and ``data.metrics`` (studio_name, month_year, every
        MonthlyMetric field, is_outlier, outlier_reason, split and
        ``expected_<field>`` truth columns).

    Returns
    -------
    pandas.DataFrame
        The validated frame; ``unique_id`` is the studio name.
    """
    studios = pd.DataFrame(data.studios)
    metrics = pd.DataFrame(data.metrics)
    statics = studios.loc[:, ["name", *STATIC_COLUMNS]].rename(
        columns={"name": "unique_id"}
    )
    frame = metrics.rename(columns={"studio_name": "unique_id", "month_year": "ds"})
    frame = frame.merge(statics, on="unique_id", how="left", validate="many_to_one")
    if frame["studio_type"].isna().any():
        orphans = sorted(frame.loc[frame["studio_type"].isna(), "unique_id"].unique())
        raise FrameError(f"metrics rows for unknown studios: {orphans[:5]}")
    keep = [
        "unique_id",
        "ds",
        *METRIC_FIELDS,
        "is_outlier",
        *(["outlier_reason"] if "outlier_reason" in frame.columns else []),
        *(["split"] if "split" in frame.columns else []),
        *STATIC_COLUMNS,
        *sorted(c for c in frame.columns if c.startswith("expected_")),
    ]
    return validate_frame(frame.loc[:, keep])
