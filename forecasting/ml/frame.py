"""The long-format history frame shared by the selectors and the models.

One row per studio-month, sorted by ``(unique_id, ds)``, Nixtla style (see
``docs/CONTRACTS.md``). The Django selectors build it with studio UUIDs as
``unique_id``; :func:`frame_from_generated` builds it from the synthetic generator with
studio names as ``unique_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.ml.exceptions import FrameError

__all__ = [
    "ANOMALY_FACTOR",
    "ANOMALY_RULE",
    "LEVERS",
    "LEVER_COLUMNS",
    "LEVER_LABELS",
    "METRIC_FIELDS",
    "OPTIONAL_METRICS",
    "OPTIONAL_STATICS",
    "REQUIRED_METRICS",
    "REVENUE_COMPONENTS",
    "STATIC_COLUMNS",
    "STUDIO_TYPES",
    "FrameCheck",
    "check_frame",
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

#: Each lever as a sentence names it ("raise {label} by ...").
LEVER_LABELS: dict[str, str] = {
    "retention_rate": "retention",
    "avg_ticket_price": "average ticket",
    "class_attendance_rate": "class attendance",
    "new_members_monthly": "new members per month",
    "staff_utilization_rate": "staff utilisation",
    "upsell_rate": "upsell rate",
    "total_classes_held": "classes per month",
}

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

#: Metrics every export has (SPEC §11): a frame row without one of them is unusable.
REQUIRED_METRICS: tuple[str, ...] = (
    "total_members",
    "new_members",
    "churned_members",
    "avg_ticket_price",
    "total_classes_held",
    "total_class_attendance",
    "total_revenue",
)
#: Metrics a studio may lack entirely or for some months: missing values, not errors.
OPTIONAL_METRICS: tuple[str, ...] = tuple(
    name for name in METRIC_FIELDS if name not in REQUIRED_METRICS
)
#: Static columns that may be empty (``square_footage`` NaN, ``opening_date`` NaT).
OPTIONAL_STATICS: tuple[str, ...] = ("square_footage", "opening_date")

_SPLITS = frozenset({"train", "validation", "test"})
_SPLIT_MONTHS = 6
_RATE_COLUMNS = frozenset(
    {"retention_rate", "class_attendance_rate", "staff_utilization_rate", "upsell_rate"}
)
# Studios and months named in a problem, at most.
_SHOWN = 5
# An unflagged run of at most _ANOMALY_RUN months whose revenue or member count
# sits beyond ANOMALY_FACTOR times (or below 1/ANOMALY_FACTOR of) both the
# month before the run and the month after it is not the studio's business but
# its bookkeeping (a typo, a month booked twice, a closure nobody flagged) and is
# treated as missing. A genuine month rarely triples or thirds against both of
# its neighbours: the chains of studios.messy have none outside its one-month
# shocks (revenue x0.3-0.6), the generator's none outside its flagged outliers.
_ANOMALY_RUN = 3
#: How far a month must leave its neighbours' level to be set aside.
ANOMALY_FACTOR = 3.0
#: The rule, as the messages that name a set-aside month state it.
ANOMALY_RULE = (
    f"its revenue or members are at least {ANOMALY_FACTOR:g}x, or at most "
    f"1/{ANOMALY_FACTOR:g} of, the months on both sides"
)


def _studio_type_value(raw: Any) -> str | None:
    """Map a studio type label ("Boutique Fitness") or value to the value, else None."""
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return None
    value = str(raw).strip().lower().replace(" ", "_").replace("-", "_")
    return value if value in STUDIO_TYPES else None


def _months(ds: np.ndarray) -> str:
    shown = ", ".join(f"{pd.Timestamp(d):%Y-%m}" for d in ds[:_SHOWN])
    return shown + (f" and {len(ds) - _SHOWN} more" if len(ds) > _SHOWN else "")


@dataclass
class FrameCheck:
    """What :func:`check_frame` found.

    Attributes
    ----------
    frame : pandas.DataFrame or None
        The normalised frame (every studio, gaps filled), or None when a problem
        concerns the whole frame.
    problems : list of str
        Problems of the whole frame (a missing column, a non-numeric column...).
    studio_problems : dict of str to list of str
        Per studio, every problem found in its rows.
    """

    frame: pd.DataFrame | None
    problems: list[str] = field(default_factory=list)
    studio_problems: dict[str, list[str]] = field(default_factory=dict)

    def messages(self) -> list[str]:
        """Every problem as one line, the studio's id first where it has one."""
        return [
            *self.problems,
            *(
                f"studio {uid!r}: {problem}"
                for uid, problems in self.studio_problems.items()
                for problem in problems
            ),
        ]


def check_frame(frame: pd.DataFrame, *, require_split: bool = False) -> FrameCheck:
    """Check a history frame against the contract, collecting every problem.

    Missing optional metrics (:data:`OPTIONAL_METRICS`) and empty optional statics
    are not problems: they stay NaN. Missing *months* are not problems either: each
    one becomes a row flagged ``is_gap`` (and ``is_outlier``, so nothing is learned
    from it or about it), with the required metrics interpolated linearly and the
    optional ones left missing, and the split labels are recounted on the calendar
    (last 6 months test, the 6 before validation, the rest train). An unflagged
    run of up to three months whose revenue or members leave the studio's level
    and return (see :func:`_mark_anomalies`) is made a gap in the same way and
    flagged ``is_anomaly``.

    Returns
    -------
    FrameCheck
        ``frame`` is None only when the whole frame is unusable (missing columns,
        no rows, non-numeric values, months that are not month starts).
    """
    if not isinstance(frame, pd.DataFrame):
        return FrameCheck(
            None, [f"expected a pandas DataFrame, got {type(frame).__name__}"]
        )
    required = [
        "unique_id",
        "ds",
        *REQUIRED_METRICS,
        "is_outlier",
        "studio_type",
        "max_capacity",
    ]
    if require_split:
        required.append("split")
    missing = [column for column in required if column not in frame.columns]
    if missing:
        return FrameCheck(None, [f"history frame is missing columns: {missing}"])
    if frame.empty:
        return FrameCheck(None, ["history frame is empty"])

    problems: list[str] = []
    # Column by column into plain arrays, then one DataFrame at the end: assigning
    # columns one at a time into a copy costs more than the checks themselves, and
    # serving validates a history on every request.
    uid = frame["unique_id"].astype(str).to_numpy()
    try:
        ds = pd.to_datetime(frame["ds"]).to_numpy(dtype="datetime64[ns]")
    except (TypeError, ValueError) as exc:
        return FrameCheck(None, [f"ds holds values that are not dates: {exc}"])
    if np.isnat(ds).any():
        return FrameCheck(None, ["ds has empty months"])
    if (ds.astype("datetime64[M]").astype("datetime64[ns]") != ds).any():
        return FrameCheck(
            None, ["ds must hold month starts (the first day of each month)"]
        )
    order = np.lexsort((ds, uid))
    uid, ds = uid[order], ds[order]
    columns: dict[str, Any] = {"unique_id": uid, "ds": ds}
    bad: dict[str, list[str]] = {}

    def studio_problem(mask: np.ndarray, message: str) -> None:
        for studio in pd.unique(uid[mask]):
            months = ds[mask & (uid == studio)]
            bad.setdefault(str(studio), []).append(f"{message} in {_months(months)}")

    numeric = (*METRIC_FIELDS, "max_capacity", "square_footage")
    for column in numeric:
        if column not in frame.columns:
            # An optional metric or static no studio has: missing everywhere.
            columns[column] = np.full(len(uid), np.nan)
            continue
        try:
            values = pd.to_numeric(frame[column]).to_numpy(dtype=np.float64)[order]
        except (TypeError, ValueError) as exc:
            problems.append(f"column {column!r} is not numeric: {exc}")
            continue
        missing_value = ~np.isfinite(values)
        if column in REQUIRED_METRICS and missing_value.any():
            studio_problem(missing_value, f"{column} is empty or not a finite number")
        if column == "max_capacity" and missing_value.any():
            for studio in pd.unique(uid[missing_value]):
                bad.setdefault(str(studio), []).append(
                    "max_capacity (people per class) is empty"
                )
        with np.errstate(invalid="ignore"):
            if (values < 0).any():
                studio_problem(values < 0, f"{column} is negative")
            if column in _RATE_COLUMNS and (values > 1.0).any():
                studio_problem(
                    values > 1.0, f"{column} is above 1 (rates are fractions)"
                )
            if column == "max_capacity" and (values == 0).any():
                studio_problem(values == 0, "max_capacity is 0")
        columns[column] = values
    if problems:
        return FrameCheck(None, problems)

    columns["is_outlier"] = (
        frame["is_outlier"].fillna(False).to_numpy(dtype=bool)[order]
    )
    opening = (
        pd.to_datetime(frame["opening_date"], errors="coerce").to_numpy()[order]
        if "opening_date" in frame.columns
        else np.full(len(uid), np.datetime64("NaT"), dtype="datetime64[ns]")
    )
    columns["opening_date"] = opening
    # Mapped once per distinct value: a chain's frame repeats a handful of them.
    codes, distinct = pd.factorize(
        frame["studio_type"].to_numpy()[order], use_na_sentinel=False
    )
    types = np.array(
        [_studio_type_value(value) for value in distinct] + [None], dtype=object
    )[codes]
    unknown_type = np.array([t is None for t in types])
    if unknown_type.any():
        raw = frame["studio_type"].to_numpy()[order]
        for studio in pd.unique(uid[unknown_type]):
            shown = sorted({str(v) for v in raw[unknown_type & (uid == studio)]})
            bad.setdefault(str(studio), []).append(
                f"studio_type {', '.join(shown)} is not one of {', '.join(STUDIO_TYPES)}"
            )
    columns["studio_type"] = types
    if "split" in frame.columns:
        split = frame["split"].astype(str).to_numpy()[order]
        unknown = set(np.unique(split)) - _SPLITS
        if unknown:
            return FrameCheck(
                None,
                [f"unknown split values {sorted(unknown)}; expected {sorted(_SPLITS)}"],
            )
        columns["split"] = split
    for column in frame.columns:
        if column not in columns:
            values = frame[column].to_numpy()[order]
            columns[column] = (
                values.astype(np.float64) if column.startswith("expected_") else values
            )

    same_studio = uid[1:] == uid[:-1]
    month = ds.astype("datetime64[M]").astype(np.int64)
    step = np.diff(month)
    duplicated = np.concatenate([[False], same_studio & (step == 0)])
    if duplicated.any():
        studio_problem(duplicated, "the month appears more than once")
    for column in STATIC_COLUMNS:
        values = columns[column]
        if column == "studio_type":
            differs = same_studio & (values[1:] != values[:-1])
        else:
            # Equal, or both empty: an empty static is missing, not a change.
            a, b = pd.isna(values[1:]), pd.isna(values[:-1])
            differs = same_studio & ~((a & b) | (~a & ~b & (values[1:] == values[:-1])))
        for studio in pd.unique(uid[1:][differs]):
            shown = pd.unique(values[uid == studio])
            bad.setdefault(str(studio), []).append(
                f"{column} takes several values ({', '.join(map(str, shown[:_SHOWN]))}); "
                "it must be the same in every month"
            )
    out = pd.DataFrame(columns)
    # A frame validated before keeps its gaps (and anomalies) as gaps.
    out["is_gap"] = (
        pd.Series(columns["is_gap"]).fillna(False).to_numpy(dtype=bool)
        if "is_gap" in columns
        else False
    )
    if (same_studio & (step > 1)).any():
        out = _fill_gaps(out)
    out = _mark_anomalies(out)
    return FrameCheck(out, [], bad)


def _anomalous_runs(
    values: np.ndarray, uid: np.ndarray, known: np.ndarray
) -> np.ndarray:
    """Rows in a run of 1.._ANOMALY_RUN known months beyond the factor of both brackets.

    ``values`` in studio order (each studio's months contiguous and ascending);
    ``known`` marks the months that may be judged or bracket a run (neither a
    gap nor a flagged outlier). The others are passed over: a run's brackets are
    the nearest known months on either side, so a closure whose first month the
    system never recorded is judged like one it did. Zero counts as far below
    any positive value.
    """
    rows = np.flatnonzero(known)
    found = np.zeros(len(values), dtype=bool)
    found[rows[_runs_beyond(values[rows], uid[rows])]] = True
    return found


def _runs_beyond(values: np.ndarray, uid: np.ndarray) -> np.ndarray:
    """:func:`_anomalous_runs` on months that are all known."""
    n = len(values)
    with np.errstate(invalid="ignore"):
        x = np.log(np.maximum(values, 1e-9))
    limit = np.log(ANOMALY_FACTOR)
    found = np.zeros(n, dtype=bool)
    for k in range(1, _ANOMALY_RUN + 1):
        if n < k + 2:
            break
        start = np.arange(1, n - k)
        before, after = start - 1, start + k
        high = uid[before] == uid[after]
        low = high.copy()
        with np.errstate(invalid="ignore"):
            for j in range(k):
                run = start + j
                high &= x[run] - x[before] > limit
                high &= x[run] - x[after] > limit
                low &= x[before] - x[run] > limit
                low &= x[after] - x[run] > limit
        for first in start[high | low]:
            found[first : first + k] = True
    return found


def _mark_anomalies(frame: pd.DataFrame) -> pd.DataFrame:
    """Treat the unflagged months that leave a studio's level and return as missing.

    Such a month (see :data:`ANOMALY_FACTOR`) becomes a gap: its required
    metrics are interpolated from the months around it, its optional ones are
    missing, and it is flagged ``is_outlier`` and ``is_anomaly``, so nothing is
    learned from it and no feature of a later month reads it (a revenue typo
    x25 otherwise made every forecast of the next year 1.4x too high). A run at
    the start or the end of a history has no month on one side and is never
    judged: the latest month cannot be told from a change of level. Nor is a
    month whose calendar month in another year is also off: a season.
    """
    # Marked when the frame was validated before (NaN in a row since inserted).
    previous = (
        frame["is_anomaly"].fillna(False).to_numpy(dtype=bool)
        if "is_anomaly" in frame.columns
        else np.zeros(len(frame), dtype=bool)
    )
    uid = frame["unique_id"].to_numpy()
    known = ~(
        frame["is_gap"].to_numpy(dtype=bool) | frame["is_outlier"].to_numpy(dtype=bool)
    )
    found = np.zeros(len(frame), dtype=bool)
    for column in ("total_revenue", "total_members"):
        found |= _anomalous_runs(frame[column].to_numpy(dtype=np.float64), uid, known)
    # The same calendar month as far off in another year is a season (a studio
    # that closes every August, bills its annual fees every January), for the
    # model to learn, not a typo: any other year, since a season near the factor
    # crosses it in some years only, and a year may be missing.
    rows = np.flatnonzero(found)
    month = frame["ds"].to_numpy().astype("datetime64[M]").astype(np.int64) % 12
    calendar = pd.DataFrame({"uid": uid[rows], "month": month[rows]})
    recurring = np.zeros(len(frame), dtype=bool)
    recurring[rows] = (
        calendar.groupby(["uid", "month"])["uid"].transform("size").to_numpy() > 1
    )
    found &= ~recurring
    if not found.any():
        frame["is_anomaly"] = previous
        return frame
    frame = frame.copy()
    required = list(REQUIRED_METRICS)
    # The missing months of a studio with a run were interpolated from it (a
    # closure's unrecorded first month from its second): they are interpolated
    # again, from the months that remain.
    affected = np.isin(uid, uid[found])
    redo = found | (affected & frame["is_gap"].to_numpy(dtype=bool) & ~previous)
    blanked = frame[required].mask(np.repeat(redo[:, None], len(required), axis=1))
    # Every run and gap is bracketed by known months of its own studio, so a
    # linear interpolation down the frame never reaches across studios; only
    # those rows take its values.
    frame.loc[redo, required] = blanked.interpolate(
        method="linear", limit_area="inside"
    ).loc[redo]
    frame.loc[found, list(OPTIONAL_METRICS)] = np.nan
    frame.loc[found, ["is_gap", "is_outlier"]] = True
    if "outlier_reason" in frame.columns:
        frame.loc[found, "outlier_reason"] = "anomaly"
    frame["is_anomaly"] = previous | found
    return frame


def _fill_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Insert a flagged row for every missing month inside a studio's history.

    ``frame`` is in studio order (each studio's rows contiguous, months
    ascending). Vectorised over the whole frame: each row is followed by the
    months missing before its studio's next row, which carry the studio's
    statics, linearly interpolated required metrics, nothing else, and the
    flags ``is_gap`` and ``is_outlier``; the split labels of a studio with a gap
    are recounted on its calendar. A duplicated month (a problem reported
    elsewhere) is kept as it is.
    """
    n = len(frame)
    uid = frame["unique_id"].to_numpy()
    month = frame["ds"].to_numpy().astype("datetime64[M]").astype(np.int64)
    same = uid[1:] == uid[:-1]
    missing = np.zeros(n, dtype=np.int64)
    missing[:-1] = np.where(same, np.maximum(np.diff(month) - 1, 0), 0)
    counts = 1 + missing
    source = np.repeat(np.arange(n), counts)
    offset = np.arange(len(source)) - np.repeat(np.cumsum(counts) - counts, counts)
    new = offset > 0
    out = frame.iloc[source].reset_index(drop=True)
    out["ds"] = (
        (month[source] + offset).astype("datetime64[M]").astype("datetime64[ns]")
    )
    keep = {
        "unique_id",
        "ds",
        "studio_type",
        "max_capacity",
        "square_footage",
        "opening_date",
        "split",
    }
    for column in out.columns:
        if column in keep:
            continue
        if out[column].dtype == bool:
            out[column] = out[column].to_numpy() & ~new
        else:
            out.loc[new, column] = np.nan
    required = list(REQUIRED_METRICS)
    # Each inserted run lies between two rows of its own studio, so a linear
    # interpolation down the frame never reaches across studios; only the
    # inserted rows take its values.
    out.loc[new, required] = (
        out[required].interpolate(method="linear", limit_area="inside").loc[new]
    )
    out["is_gap"] = out["is_gap"].to_numpy(dtype=bool) | new
    out["is_outlier"] = out["is_outlier"].to_numpy(dtype=bool) | new
    if "outlier_reason" in out.columns:
        out.loc[new, "outlier_reason"] = "gap"
    if "split" in out.columns:
        out_uid = out["unique_id"].to_numpy()
        gappy = np.isin(out_uid, uid[:-1][missing[:-1] > 0])
        ends = np.r_[out_uid[1:] != out_uid[:-1], True]
        # months to the studio's last row: a reversed running count per studio
        position = np.arange(len(out))
        last = np.minimum.accumulate(np.where(ends, position, len(out))[::-1])[::-1]
        from_end = last - position
        recounted = np.select(
            [from_end < _SPLIT_MONTHS, from_end < 2 * _SPLIT_MONTHS],
            ["test", "validation"],
            "train",
        )
        out["split"] = np.where(gappy, recounted, out["split"].to_numpy())
    return out


def validate_frame(frame: pd.DataFrame, *, require_split: bool = False) -> pd.DataFrame:
    """Check a history frame against the contract and return a normalised copy.

    Parameters
    ----------
    frame : pandas.DataFrame
        Long-format history: ``unique_id``, ``ds``, the required metrics
        (:data:`REQUIRED_METRICS`), any of the optional ones, ``is_outlier``, the
        static columns and optionally ``split`` and ``expected_<field>`` truth
        columns.
    require_split : bool, default False
        Whether the ``split`` column must be present (training and evaluation need
        it; serving does not).

    Returns
    -------
    pandas.DataFrame
        A copy sorted by ``(unique_id, ds)`` with a fresh RangeIndex, ``unique_id``
        as str, ``ds`` as month-start Timestamps, numeric fields as float64 (NaN
        where an optional value is missing), ``is_outlier`` as bool,
        ``studio_type`` as the TextChoices value, and ``is_gap`` marking the rows
        inserted for missing months (see :func:`check_frame`).

    Raises
    ------
    FrameError
        Listing every problem (see :func:`check_frame`): a missing column, a
        missing or non-finite required metric, a negative value, a rate above 1,
        a ``ds`` that is not a month start, a duplicated month, a static column
        that changes or is empty where it is required, an unknown split or
        studio type.
    """
    checked = check_frame(frame, require_split=require_split)
    messages = checked.messages()
    if messages:
        raise FrameError("; ".join(messages))
    return checked.frame


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
