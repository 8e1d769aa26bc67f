"""Features and revenue-formula constants: one module for training and serving.

Everything at base month ``t`` is computed from a studio's rows up to and including
``t`` only (trailing windows and lags, never leads), so the same function gives the
same numbers whether it runs over a whole history for training or over a history cut
at ``t`` for serving. :func:`studio_features` is that one function; the training path
calls it once per studio and the serving path once per request.

Four groups come out of it:

* **context** (:data:`CONTEXT_FEATURES`): the studio's state at ``t`` (members,
  revenue, 3-month averages, momentum, ratios, interactions, statics), the
  correction model's inputs;
* **constants** (:data:`CONSTANTS`): the studio's revenue-formula constants (SPEC
  §2.6) estimated from its recent non-outlier months, used by the structural core;
* **reference levers**: each lever's recent level (12-month mean of non-outlier
  months, carried to ``t + 1`` along its trend), where the structural core runs the
  status quo; the base month's own values carry a month of noise that does not
  persist;
* **target features** (:func:`target_features`): calendar of the target month
  ``t + h`` and the studio's own seasonal ratio for it, read from the history up to
  ``t`` (``t + h - 12 <= t`` because ``h <= 12``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.ml.frame import LEVER_COLUMNS, METRIC_FIELDS, STUDIO_TYPES

__all__ = [
    "CONSTANTS",
    "CONTEXT_FEATURES",
    "DEFAULT_WINDOW",
    "MAX_HORIZON",
    "TARGET_FEATURES",
    "StudioFeatures",
    "frame_features",
    "studio_features",
    "target_features",
]

#: Longest projection the model supports, in months.
MAX_HORIZON = 12

#: Trailing months behind the constants and the reference levers.
DEFAULT_WINDOW = 6

#: Revenue-formula constants, in the order the structural core uses them.
CONSTANTS: tuple[str, ...] = (
    "membership_ratio",  # membership revenue / (members x ticket); 1 when billing is clean
    "revenue_per_attendance",  # class-pack and drop-in revenue per attended class
    "intro_revenue_per_new",  # intro-offer revenue per new member
    "retail_per_member",  # retail revenue per member
    "upsell_value",  # upsell revenue per upselling member
)

CONTEXT_FEATURES: tuple[str, ...] = (
    # the current state and its scale
    "members",
    "log_members",
    "revenue",
    "log_revenue",
    "revenue_prev",
    "month_of_year",
    "year_index",
    "base_month_sin",
    "base_month_cos",
    # the current levers and how far each sits from its own 3-month mean
    *(f"lever_{column}" for column in LEVER_COLUMNS),
    *(f"lever_{column}_vs_reference" for column in LEVER_COLUMNS),
    # derived and interaction features of SPEC §4
    "retention_3m",
    "retention_momentum",
    "revenue_growth_mom",
    "revenue_growth_3m",
    "revenue_growth_yoy",
    "churn_rate",
    "revenue_per_member",
    "class_utilization_3m",
    "ltv_estimate",
    "staff_per_member",
    "retention_x_ticket",
    "attendance_x_classes",
    "upsell_x_members",
    "ticket_trend_6m",
    "member_growth_3m",
    "net_adds_ratio",
    "base_is_outlier",
    "outliers_last_3m",
    # the constants themselves, and where the base month sits against them
    *CONSTANTS,
    "membership_share",
    "structural_gap",
    # studio statics
    "studio_type_code",
    "max_capacity",
    "square_footage",
    "age_months",
)

TARGET_FEATURES: tuple[str, ...] = (
    "horizon",
    "target_month_sin",
    "target_month_cos",
    "target_is_january",
    "target_is_summer",
    "target_is_september",
    "target_is_december",
    "seasonal_ratio",
)


@dataclass(frozen=True)
class StudioFeatures:
    """Features of one studio at every month of its history (T months).

    Row ``t`` of every array depends on rows ``<= t`` only.

    Attributes
    ----------
    ds : numpy.ndarray
        Month starts, datetime64[M], shape (T,).
    context : numpy.ndarray
        Shape (T, len(CONTEXT_FEATURES)).
    constants : numpy.ndarray
        Shape (T, len(CONSTANTS)): revenue-formula constants.
    levers : numpy.ndarray
        Shape (T, 7): each month's lever values in :data:`LEVERS` order.
    reference : numpy.ndarray
        Shape (T, 7): the studio's recent lever levels (see
        :func:`_reference_levels`); the status quo the structural core holds.
    members, log_revenue : numpy.ndarray
        Shape (T,).
    month_of_year : numpy.ndarray
        Shape (T,), 1..12.
    capacity : float
        Studio max capacity.
    """

    ds: np.ndarray
    context: np.ndarray
    constants: np.ndarray
    levers: np.ndarray
    reference: np.ndarray
    members: np.ndarray
    log_revenue: np.ndarray
    month_of_year: np.ndarray
    capacity: float


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


def _window_sums(values: np.ndarray, window: int) -> np.ndarray:
    """``sum(values[t - window + 1 .. t])`` for every ``t`` (fewer at the start)."""
    csum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(1, len(values) + 1)
    return csum[idx] - csum[np.maximum(idx - window, 0)]


def _trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of ``x[t - window + 1 .. t]`` over the months available (at least one)."""
    return _window_sums(x, window) / _window_sums(np.ones_like(x), window)


def _trailing_ratio(
    num: np.ndarray, den: np.ndarray, keep: np.ndarray, window: int
) -> np.ndarray:
    """Ratio of trailing sums ``sum(num) / sum(den)`` over the last ``window`` months.

    Months where ``keep`` is False (outliers) are left out; when a window holds no
    kept month the ratio falls back to every month of the window, and when the
    denominator is zero it falls back to the longest trailing history, so the result
    is always defined once one month has a positive denominator (0 before that).
    """
    kept_num, kept_den = (
        _window_sums(num * keep, window),
        _window_sums(den * keep, window),
    )
    all_num, all_den = _window_sums(num, window), _window_sums(den, window)
    long_num, long_den = np.cumsum(num), np.cumsum(den)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(kept_den > 0, kept_num / kept_den, all_num / all_den)
        ratio = np.where(np.isfinite(ratio), ratio, long_num / long_den)
    return np.where(np.isfinite(ratio), ratio, 0.0)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(np.isfinite(out), out, np.nan)


def _safe_log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(x)
    return np.where(np.isfinite(out), out, np.nan)


def _reference_levels(
    x: np.ndarray, keep: np.ndarray, window: int, trend_span: int
) -> np.ndarray:
    """A lever's recent level, carried forward to the month after ``t``.

    The mean over the non-outlier months of the last ``window`` (a 12-month window
    averages out the seasons) lags a growing studio by half a window, so it is
    moved to ``t + 1`` along the log-linear trend of the last ``trend_span``
    non-outlier months. The trend needs six such months and is bounded to +-5% a
    month; without them the plain mean stands.
    """
    n = len(x)
    k = np.arange(n, dtype=np.float64)
    kept = keep.astype(np.float64)
    count = _window_sums(kept, window)
    has_kept = count > 0
    kept_count = np.maximum(count, 1.0)
    months = _window_sums(np.ones(n), window)
    # A window holding outliers only falls back to all of its months.
    level = np.where(
        has_kept,
        _window_sums(x * kept, window) / kept_count,
        _window_sums(x, window) / months,
    )
    centre = np.where(
        has_kept,
        _window_sums(k * kept, window) / kept_count,
        _window_sums(k, window) / months,
    )

    logx = np.log(np.maximum(x, 1e-6))
    s0 = _window_sums(kept, trend_span)
    s1 = _window_sums(k * kept, trend_span)
    s2 = _window_sums(k * k * kept, trend_span)
    sy = _window_sums(logx * kept, trend_span)
    sky = _window_sums(k * logx * kept, trend_span)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (sky - s1 * sy / s0) / (s2 - s1 * s1 / s0)
    slope = np.where((s0 >= 6) & np.isfinite(slope), np.clip(slope, -0.05, 0.05), 0.0)
    return level * np.exp(slope * (k + 1.0 - centre))


def studio_features(
    columns: Mapping[str, np.ndarray],
    *,
    studio_type: str,
    max_capacity: float,
    square_footage: float,
    opening_date: pd.Timestamp,
    window: int = DEFAULT_WINDOW,
    reference_window: int = 12,
    trend_span: int = 36,
) -> StudioFeatures:
    """Compute context, constants and reference levers at every month of a history.

    Parameters
    ----------
    columns : mapping of str to numpy.ndarray
        ``ds`` (datetime64, contiguous month starts, ascending), ``is_outlier`` and
        every MonthlyMetric field, arrays of equal length.
    studio_type, max_capacity, square_footage, opening_date
        The studio's static columns (``studio_type`` as the TextChoices value).
    window : int, default 6
        Trailing months behind the revenue-formula constants.
    reference_window, trend_span : int, default 12 and 36
        Trailing months behind the reference levers' level and trend (see
        :func:`_reference_levels`). Outlier months are left out of all three.

    Returns
    -------
    StudioFeatures
        Row ``t`` of every array depends on rows ``<= t`` only.
    """
    ds = np.asarray(columns["ds"], dtype="datetime64[M]")
    n = len(ds)
    col = {name: np.asarray(columns[name], dtype=np.float64) for name in METRIC_FIELDS}
    outlier = np.asarray(columns["is_outlier"], dtype=bool)
    keep = (~outlier).astype(np.float64)

    members = col["total_members"]
    revenue = col["total_revenue"]
    retention = col["retention_rate"]
    ticket = col["avg_ticket_price"]
    log_revenue = np.log(np.maximum(revenue, 1.0))
    month_of_year = (ds.astype(np.int64) % 12 + 1).astype(np.int64)
    angle = 2.0 * np.pi * (month_of_year - 1) / 12.0
    month_index = np.arange(n, dtype=np.float64)

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return _trailing_ratio(num, den, keep, window)

    constants = np.column_stack(
        [
            ratio(col["membership_revenue"], members * ticket),
            ratio(col["class_pack_revenue"], col["total_class_attendance"]),
            ratio(col["intro_offer_revenue"], col["new_members"]),
            ratio(col["retail_revenue"], members),
            ratio(col["upsell_revenue"], members * col["upsell_rate"]),
        ]
    )
    levers = np.column_stack([col[c] for c in LEVER_COLUMNS])
    reference = np.column_stack(
        [
            _reference_levels(levers[:, j], keep, reference_window, trend_span)
            for j in range(levers.shape[1])
        ]
    )

    retention_3m = _trailing_mean(retention, 3)
    revenue_prev = _lag(revenue, 1)
    revenue_3m = _trailing_mean(revenue, 3)
    # Revenue the formula gives from this month's own levers and the constants: the
    # gap to actual revenue says how unusual the base month was.
    structural_now = (
        constants[:, 0] * members * ticket
        + constants[:, 1] * col["total_class_attendance"]
        + constants[:, 2] * col["new_members"]
        + constants[:, 3] * members
        + constants[:, 4] * members * col["upsell_rate"]
    )
    opening = np.datetime64(
        pd.Timestamp(opening_date).to_period("M").to_timestamp(), "M"
    )
    age_months = (ds - opening).astype(np.int64).astype(np.float64)

    features = {
        "members": members,
        "log_members": np.log(np.maximum(members, 1.0)),
        "revenue": revenue,
        "log_revenue": log_revenue,
        "revenue_prev": revenue_prev,
        "month_of_year": month_of_year.astype(np.float64),
        # Age in whole years, not the position in the data set: histories start
        # wherever a studio's records start.
        "year_index": np.floor(age_months / 12.0),
        "base_month_sin": np.sin(angle),
        "base_month_cos": np.cos(angle),
        **{f"lever_{c}": levers[:, j] for j, c in enumerate(LEVER_COLUMNS)},
        **{
            f"lever_{c}_vs_reference": _safe_div(levers[:, j], reference[:, j])
            for j, c in enumerate(LEVER_COLUMNS)
        },
        "retention_3m": retention_3m,
        "retention_momentum": retention_3m - _lag(retention_3m, 3),
        "revenue_growth_mom": _safe_div(revenue, revenue_prev) - 1.0,
        "revenue_growth_3m": _safe_div(revenue_3m, _lag(revenue_3m, 3)) - 1.0,
        "revenue_growth_yoy": _safe_div(revenue_3m, _lag(revenue_3m, 12)) - 1.0,
        "churn_rate": _safe_div(col["churned_members"], _lag(members, 1)),
        "revenue_per_member": _safe_div(revenue, members),
        "class_utilization_3m": _trailing_mean(
            _safe_div(
                col["total_class_attendance"], col["total_classes_held"] * max_capacity
            ),
            3,
        ),
        "ltv_estimate": _safe_div(revenue, members)
        * col["average_member_lifetime_months"],
        "staff_per_member": _safe_div(col["staff_count"], members),
        "retention_x_ticket": retention * ticket,
        "attendance_x_classes": col["class_attendance_rate"]
        * col["total_classes_held"],
        "upsell_x_members": col["upsell_rate"] * members,
        "ticket_trend_6m": _safe_div(ticket, _lag(ticket, 6)) - 1.0,
        "member_growth_3m": _safe_div(members, _lag(members, 3)) - 1.0,
        "net_adds_ratio": _safe_div(
            col["new_members"] - col["churned_members"], members
        ),
        "base_is_outlier": outlier.astype(np.float64),
        "outliers_last_3m": _trailing_mean(outlier.astype(np.float64), 3)
        * np.minimum(month_index + 1, 3),
        **{name: constants[:, j] for j, name in enumerate(CONSTANTS)},
        "membership_share": _safe_div(col["membership_revenue"], revenue),
        "structural_gap": _safe_log(_safe_div(revenue, structural_now)),
        "studio_type_code": np.full(n, float(STUDIO_TYPES.index(studio_type))),
        "max_capacity": np.full(n, float(max_capacity)),
        "square_footage": np.full(n, float(square_footage)),
        "age_months": age_months,
    }
    return StudioFeatures(
        ds=ds,
        context=np.column_stack([features[name] for name in CONTEXT_FEATURES]),
        constants=constants,
        levers=levers,
        reference=reference,
        members=members,
        log_revenue=log_revenue,
        month_of_year=month_of_year,
        capacity=float(max_capacity),
    )


def target_features(
    base_index: np.ndarray,
    horizon: np.ndarray,
    studio: StudioFeatures,
) -> np.ndarray:
    """Features of the target months ``base_index + horizon``.

    Parameters
    ----------
    base_index : numpy.ndarray of int
        Row positions of the base months in ``studio``.
    horizon : numpy.ndarray of int
        Months ahead, 1..12, same shape as ``base_index``.
    studio : StudioFeatures
        The studio's features; only rows ``<= base_index`` are read.

    Returns
    -------
    numpy.ndarray
        Shape (len(base_index), len(TARGET_FEATURES)).
    """
    base_index = np.asarray(base_index, dtype=np.int64)
    horizon = np.asarray(horizon, dtype=np.int64)
    target_moy = (studio.month_of_year[base_index] - 1 + horizon) % 12 + 1
    angle = 2.0 * np.pi * (target_moy - 1) / 12.0
    # Same month last year against the base month's own month last year: the
    # studio's seasonal swing from t to t + h, read from history up to t.
    last_year = base_index + horizon - 12
    base_last_year = base_index - 12
    ok = base_last_year >= 0
    seasonal = np.full(base_index.shape, np.nan)
    seasonal[ok] = (
        studio.log_revenue[last_year[ok]] - studio.log_revenue[base_last_year[ok]]
    )
    return np.column_stack(
        [
            horizon.astype(np.float64),
            np.sin(angle),
            np.cos(angle),
            (target_moy == 1).astype(np.float64),
            ((target_moy >= 6) & (target_moy <= 8)).astype(np.float64),
            (target_moy == 9).astype(np.float64),
            (target_moy == 12).astype(np.float64),
            seasonal,
        ]
    )


def frame_features(
    frame: pd.DataFrame,
    *,
    window: int = DEFAULT_WINDOW,
    reference_window: int = 12,
    trend_span: int = 36,
) -> dict[str, StudioFeatures]:
    """Run :func:`studio_features` over every studio of a validated frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        A frame that passed :func:`forecasting.ml.frame.validate_frame`.
    window, reference_window, trend_span : int
        Passed through to :func:`studio_features`.

    Returns
    -------
    dict of str to StudioFeatures
        Keyed by ``unique_id``, in frame order.
    """
    out: dict[str, StudioFeatures] = {}
    for uid, group in frame.groupby("unique_id", sort=False):
        first = group.iloc[0]
        out[str(uid)] = studio_features(
            {
                name: group[name].to_numpy()
                for name in ("ds", "is_outlier", *METRIC_FIELDS)
            },
            studio_type=first["studio_type"],
            max_capacity=first["max_capacity"],
            square_footage=first["square_footage"],
            opening_date=first["opening_date"],
            window=window,
            reference_window=reference_window,
            trend_span=trend_span,
        )
    return out
