"""Features and revenue-formula constants: one module for training and serving.

Everything at base month ``t`` is computed from a studio's rows up to and including
``t`` only (trailing windows and lags, never leads), so the same function gives the
same numbers whether it runs over a whole history for training or over a history cut
at ``t`` for serving. :func:`block_features` is that one function, over a block of
studios with histories of the same length (``(studios, months)`` arrays, every
operation along the months axis); :func:`studio_features` is a block of one studio
(the serving path, once per request) and :func:`frame_features` groups a frame's
studios into blocks (training, evaluation and batch forecasts), with each studio's
numbers the ones it gets alone.

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

from forecasting.ml.frame import LEVER_COLUMNS, LEVERS, METRIC_FIELDS, STUDIO_TYPES

__all__ = [
    "BLOCK_STUDIOS",
    "CONSTANTS",
    "CONTEXT_FEATURES",
    "DEFAULT_ATTENDANCE_SHARE",
    "DEFAULT_WINDOW",
    "FLOW_LIMIT",
    "FLOW_WINDOW",
    "MAX_HORIZON",
    "TARGET_FEATURES",
    "FeatureBlock",
    "StudioFeatures",
    "attendance_share",
    "block_features",
    "frame_feature_blocks",
    "frame_features",
    "member_flow_residual",
    "studio_features",
    "target_features",
]

#: Longest projection the model supports, in months.
MAX_HORIZON = 12

#: Trailing months behind the constants and the reference levers.
DEFAULT_WINDOW = 6

#: Share of revenue the formula cannot attribute that goes with attendance (class
#: packs and drop-ins), for studios that do not report their class-pack revenue,
#: until a model learns it from studios that do (``ForwardModel.attendance_share_``).
#: An assumption: half, between "all of it is retail" and "all of it is drop-ins".
DEFAULT_ATTENDANCE_SHARE = 0.5

_TICKET = LEVERS.index("avg_ticket_price")
_ATTENDANCE = LEVERS.index("class_attendance_rate")
_UPSELL = LEVERS.index("upsell_rate")
_CLASSES = LEVERS.index("total_classes_held")

#: Trailing months behind a studio's member-flow residual.
FLOW_WINDOW = 12
#: Bound on the member-flow residual, per member and month: wide enough for an
#: export that reports no churn (the residual is then the churn rate) or no sign-ups.
FLOW_LIMIT = 0.5

#: Revenue-formula constants, in the order the structural core uses them.
CONSTANTS: tuple[str, ...] = (
    "membership_ratio",  # membership revenue / (members x ticket); 1 when billing is clean
    "revenue_per_attendance",  # class-pack and drop-in revenue per attended class
    "intro_revenue_per_new",  # intro-offer revenue per new member
    "retail_per_member",  # retail and all unattributed revenue, per member
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
    "flow_residual",
    "components_known",
    "members_vs_year",
    "revenue_vs_year",
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
    "seasonal_ratio_years",
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
        Shape (T, len(CONTEXT_FEATURES)); NaN where an input is missing.
    constants : numpy.ndarray
        Shape (T, len(CONSTANTS)): revenue-formula constants.
    levers : numpy.ndarray
        Shape (T, 7): each month's lever values in :data:`LEVERS` order; a month
        without a value holds the last known one (0 before any).
    reference : numpy.ndarray
        Shape (T, 7): the studio's recent lever levels (see
        :func:`_reference_levels`); the status quo the structural core holds
        (0 where the lever is unknown).
    has_data : numpy.ndarray of bool
        Shape (T, 7): whether the studio has data on the lever in the trailing
        reference window.
    known : numpy.ndarray of bool
        Shape (T, 7): whether the lever is modelled for the studio: it has data
        and a revenue effect (the formula's constant it acts through is not 0:
        upsell needs upsell revenue, attendance and classes need revenue that goes
        with attendance). A lever not modelled is held at its base value.
    flow : numpy.ndarray
        Shape (T,): the member-flow residual, the studio's typical change in
        members per member and month that new and churned members do not explain
        (freezes, transfers, corrections); 0 where the identity holds.
    members, log_revenue : numpy.ndarray
        Shape (T,).
    is_gap : numpy.ndarray of bool
        Shape (T,): months inserted for a gap in the history (interpolated).
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
    has_data: np.ndarray
    known: np.ndarray
    flow: np.ndarray
    members: np.ndarray
    log_revenue: np.ndarray
    is_gap: np.ndarray
    month_of_year: np.ndarray
    capacity: float


# Every helper below works along the last axis: one studio's months (T,) or a
# block of studios with histories of equal length (S, T), so the same code
# serves one studio per request and thousands per batch, with the same numbers.


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    n = x.shape[-1]
    if k < n:
        out[..., k:] = x[..., : n - k]
    return out


def _window_sums(values: np.ndarray, window: int) -> np.ndarray:
    """``sum(values[t - window + 1 .. t])`` for every ``t`` (fewer at the start)."""
    csum = np.cumsum(values, axis=-1, dtype=np.float64)
    out = csum.copy()
    out[..., window:] -= csum[..., :-window]
    return out


def _trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the finite ``x[t - window + 1 .. t]``; NaN when none is finite."""
    valid = np.isfinite(x)
    count = _window_sums(valid.astype(np.float64), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            count > 0, _window_sums(np.where(valid, x, 0.0), window) / count, np.nan
        )


def _trailing_ratio(
    num: np.ndarray,
    den: np.ndarray,
    keep: np.ndarray,
    window: int,
    default: float = 0.0,
) -> np.ndarray:
    """Ratio of trailing sums ``sum(num) / sum(den)`` over the last ``window`` months.

    Only months where both are known count. Months where ``keep`` is False
    (outliers, gaps) are left out; when a window holds no kept month the ratio
    falls back to every month of the window, and when that has no denominator
    either, to the whole history so far; ``default`` before any month has one.
    """
    valid = np.isfinite(num) & np.isfinite(den)
    num = np.where(valid, num, 0.0)
    den = np.where(valid, den, 0.0)
    kept = keep * valid
    kept_num, kept_den = (
        _window_sums(num * kept, window),
        _window_sums(den * kept, window),
    )
    all_num, all_den = _window_sums(num, window), _window_sums(den, window)
    long_num, long_den = np.cumsum(num, axis=-1), np.cumsum(den, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(kept_den > 0, kept_num / kept_den, all_num / all_den)
        ratio = np.where(np.isfinite(ratio), ratio, long_num / long_den)
    return np.where(np.isfinite(ratio), ratio, default)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(np.isfinite(out), out, np.nan)


def _safe_log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(x)
    return np.where(np.isfinite(out), out, np.nan)


def _forward_fill(x: np.ndarray) -> np.ndarray:
    """Each missing value replaced by the last known one (NaN before any)."""
    valid = np.isfinite(x)
    positions = np.broadcast_to(np.arange(x.shape[-1]), x.shape)
    last = np.maximum.accumulate(np.where(valid, positions, -1), axis=-1)
    filled = np.take_along_axis(x, np.maximum(last, 0), axis=-1)
    return np.where(last >= 0, filled, np.nan)


def _reference_levels(
    x: np.ndarray, keep: np.ndarray, window: int, trend_span: int
) -> np.ndarray:
    """A lever's recent level, carried forward to the month after ``t``.

    The mean over the non-outlier months of the last ``window`` (a 12-month window
    averages out the seasons) lags a growing studio by half a window, so it is
    moved to ``t + 1`` along the log-linear trend of the last ``trend_span``
    non-outlier months. The trend needs six such months and is bounded to +-5% a
    month; without them the plain mean stands. Months without a value are left
    out; NaN where the window has no value at all.
    """
    n = x.shape[-1]
    k = np.arange(n, dtype=np.float64)
    valid = np.isfinite(x)
    x0 = np.where(valid, x, 0.0)
    kept = keep.astype(np.float64) * valid
    count = _window_sums(kept, window)
    has_kept = count > 0
    kept_count = np.maximum(count, 1.0)
    months = _window_sums(valid.astype(np.float64), window)
    any_month = np.maximum(months, 1.0)
    # A window holding outliers only falls back to all of its months.
    level = np.where(
        has_kept,
        _window_sums(x0 * kept, window) / kept_count,
        _window_sums(x0, window) / any_month,
    )
    centre = np.where(
        has_kept,
        _window_sums(k * kept, window) / kept_count,
        _window_sums(k * valid, window) / any_month,
    )
    level = np.where(months > 0, level, np.nan)

    logx = np.log(np.maximum(x0, 1e-6))
    s0 = _window_sums(kept, trend_span)
    s1 = _window_sums(k * kept, trend_span)
    s2 = _window_sums(k * k * kept, trend_span)
    sy = _window_sums(logx * kept, trend_span)
    sky = _window_sums(k * logx * kept, trend_span)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (sky - s1 * sy / s0) / (s2 - s1 * s1 / s0)
    slope = np.where((s0 >= 6) & np.isfinite(slope), np.clip(slope, -0.05, 0.05), 0.0)
    return level * np.exp(slope * (k + 1.0 - centre))


def _member_scaled_attendance(
    rate: np.ndarray,
    members: np.ndarray,
    keep: np.ndarray,
    follow: float,
    window: int,
    trend_span: int,
) -> np.ndarray:
    """The reference attendance rate at this month's member count.

    The reference rate is a 12-month mean, the rate of the 12-month mean member
    count; where members come to class in proportion to their number (``follow``
    1), a studio that lost a third of its members over the year fills a third
    fewer places than that mean, and a status quo holding it would price visits
    nobody makes (a studio whose revenue is all drop-ins and class packs was
    forecast 40% above its actual revenue for months). So the rate is scaled by
    ``(members / reference members) ** follow``, at most full classes, where both
    counts are known and positive; unchanged elsewhere and with ``follow`` 0. The
    reference members are :func:`_reference_levels`' of the member count over the
    same ``window`` and ``trend_span`` as the rate's (computed only when needed).
    """
    if follow == 0.0:
        return rate
    reference = _reference_levels(
        members[:, None, :], keep[:, None, :], window, trend_span
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = members / reference[:, 0, :]
    usable = np.isfinite(ratio) & (ratio > 0) & np.isfinite(rate)
    scaled = np.minimum(rate * np.where(usable, ratio, 1.0) ** follow, 1.0)
    return np.where(usable, scaled, rate)


def _trailing_median(x: np.ndarray, keep: np.ndarray, window: int) -> np.ndarray:
    """Median of the kept, finite ``x`` over the last ``window`` months (NaN if none).

    The middle of the sorted window (missing values sort last), the mean of the
    two middle values for an even count: what ``numpy.nanmedian`` gives, for
    every window of every studio at once.
    """
    values = np.where(keep & np.isfinite(x), x, np.nan)
    padded = np.concatenate(
        [np.full(values.shape[:-1] + (window - 1,), np.nan), values], axis=-1
    )
    windows = np.sort(
        np.lib.stride_tricks.sliding_window_view(padded, window, axis=-1), axis=-1
    )
    count = np.isfinite(windows).sum(axis=-1)
    low = np.take_along_axis(windows, np.maximum((count - 1) // 2, 0)[..., None], -1)
    high = np.take_along_axis(windows, (count // 2)[..., None], -1)
    return np.where(count > 0, (low[..., 0] + high[..., 0]) / 2.0, np.nan)


def member_flow_residual(
    members: np.ndarray,
    new: np.ndarray,
    retention: np.ndarray,
    keep: np.ndarray,
    window: int = FLOW_WINDOW,
) -> np.ndarray:
    """A studio's member-flow residual at every month, from months up to it.

    Each month's residual is the part of the change in members that the reported
    flows do not explain, per member at the start of the month:
    ``(m_t - (m_{t-1} x retention_t + new_t)) / m_{t-1}``. Freezes, transfers,
    clean-ups of the member list, contract floors and flows counted late all
    leave one. The studio's residual is the median over its last ``window``
    kept months (robust to a one-off clean-up), shrunk towards 0 by
    ``n / (n + 3)`` for ``n`` such months, and bounded to ``+-FLOW_LIMIT``.
    Exactly 0 wherever the identity holds. Arrays are (T,) or (studios, T).
    """
    previous = _lag(members, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = (members - (previous * retention + new)) / previous
    valid = keep & np.isfinite(step)
    median = _trailing_median(step, valid, window)
    count = _window_sums(valid.astype(np.float64), window)
    shrunk = np.where(np.isfinite(median), median, 0.0) * count / (count + 3.0)
    return np.clip(shrunk, -FLOW_LIMIT, FLOW_LIMIT)


def _formula_components(
    col: Mapping[str, np.ndarray], attendance_share: float
) -> dict[str, np.ndarray]:
    """Each month's revenue split over the formula's drivers, known or estimated.

    A reported component is taken as it is. What is not reported is estimated
    from the total: membership revenue as members x ticket (at most the total),
    then the rest of the total that no reported component explains (workshops,
    gift cards, unreported retail or drop-ins...) goes to attendance in
    proportion ``attendance_share`` when class-pack revenue is not reported, and
    to members otherwise (``retail_per_member`` becomes "other revenue per
    member"). Intro offers and upsell count only where reported.
    """
    members = col["total_members"]
    total = col["total_revenue"]
    billed = members * col["avg_ticket_price"]
    membership = col["membership_revenue"]
    membership = np.where(
        np.isfinite(membership), membership, np.minimum(total, billed)
    )
    class_pack = col["class_pack_revenue"]
    class_pack_known = np.isfinite(class_pack)
    intro = np.nan_to_num(col["intro_offer_revenue"], nan=0.0)
    retail = np.nan_to_num(col["retail_revenue"], nan=0.0)
    upsell_known = np.isfinite(col["upsell_revenue"]) & np.isfinite(col["upsell_rate"])
    upsell = np.where(upsell_known, col["upsell_revenue"], 0.0)
    explained = (
        membership
        + np.where(class_pack_known, class_pack, 0.0)
        + intro
        + retail
        + upsell
    )
    rest = np.maximum(total - explained, 0.0)
    to_attendance = np.where(class_pack_known, 0.0, attendance_share * rest)
    return {
        "membership": membership,
        "billed": billed,
        "class_pack": np.where(class_pack_known, class_pack, to_attendance),
        "intro": intro,
        "per_member": retail + rest - to_attendance,
        "upsell": np.where(upsell_known, upsell, np.nan),
        "class_pack_known": class_pack_known.astype(np.float64),
    }


@dataclass(frozen=True)
class FeatureBlock:
    """Features of ``S`` studios whose histories have the same length ``T``.

    The arrays of :class:`StudioFeatures` with a leading studio axis (``ds`` is
    (S, T), ``context`` (S, T, F), ...), ``capacity`` (S,) and the studios' ids;
    :meth:`studio` is one studio's :class:`StudioFeatures` (views, no copy).
    """

    unique_ids: list[str]
    ds: np.ndarray
    context: np.ndarray
    constants: np.ndarray
    levers: np.ndarray
    reference: np.ndarray
    has_data: np.ndarray
    known: np.ndarray
    flow: np.ndarray
    members: np.ndarray
    log_revenue: np.ndarray
    is_gap: np.ndarray
    month_of_year: np.ndarray
    capacity: np.ndarray

    def __len__(self) -> int:
        return len(self.unique_ids)

    def studio(self, i: int) -> StudioFeatures:
        return StudioFeatures(
            ds=self.ds[i],
            context=self.context[i],
            constants=self.constants[i],
            levers=self.levers[i],
            reference=self.reference[i],
            has_data=self.has_data[i],
            known=self.known[i],
            flow=self.flow[i],
            members=self.members[i],
            log_revenue=self.log_revenue[i],
            is_gap=self.is_gap[i],
            month_of_year=self.month_of_year[i],
            capacity=float(self.capacity[i]),
        )


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
    attendance_share: float = DEFAULT_ATTENDANCE_SHARE,
    attendance_follow: float = 0.0,
) -> StudioFeatures:
    """Compute context, constants and reference levers at every month of a history.

    Parameters
    ----------
    columns : mapping of str to numpy.ndarray
        ``ds`` (datetime64, contiguous month starts, ascending), ``is_outlier``,
        optionally ``is_gap``, and every MonthlyMetric field, arrays of equal
        length; the optional metrics may hold NaN.
    studio_type, max_capacity, square_footage, opening_date
        The studio's static columns (``studio_type`` as the TextChoices value;
        ``square_footage`` and ``opening_date`` may be missing).
    window : int, default 6
        Trailing months behind the revenue-formula constants.
    reference_window, trend_span : int, default 12 and 36
        Trailing months behind the reference levers' level and trend (see
        :func:`_reference_levels`). Outlier months are left out of all three.
    attendance_share : float, default DEFAULT_ATTENDANCE_SHARE
        See :func:`_formula_components`.
    attendance_follow : float, default 0
        How class attendance follows the member count (log attendance on log
        members, :attr:`forecasting.ml.response.Responses.follow`): the reference
        attendance rate is scaled by ``(members / reference members) **
        attendance_follow`` (see :func:`_member_scaled_attendance`).

    Returns
    -------
    StudioFeatures
        Row ``t`` of every array depends on rows ``<= t`` only. The numbers are
        :func:`block_features`' for a block of this one studio.
    """
    n = len(columns["ds"])
    block = block_features(
        {
            name: np.asarray(values)[None, :]
            for name, values in columns.items()
            if name in ("ds", "is_outlier", "is_gap", *METRIC_FIELDS)
        }
        | ({} if "is_gap" in columns else {"is_gap": np.zeros((1, n), dtype=bool)}),
        unique_ids=[""],
        studio_type=[studio_type],
        max_capacity=np.array([max_capacity], dtype=np.float64),
        square_footage=np.array(
            [np.nan if pd.isna(square_footage) else float(square_footage)]
        ),
        opening_date=np.array(
            [
                np.datetime64("NaT", "M")
                if pd.isna(opening_date)
                else np.datetime64(
                    pd.Timestamp(opening_date).to_period("M").to_timestamp(), "M"
                )
            ]
        ),
        window=window,
        reference_window=reference_window,
        trend_span=trend_span,
        attendance_share=attendance_share,
        attendance_follow=attendance_follow,
    )
    return block.studio(0)


def block_features(
    columns: Mapping[str, np.ndarray],
    *,
    unique_ids: list[str],
    studio_type: list[str] | np.ndarray,
    max_capacity: np.ndarray,
    square_footage: np.ndarray,
    opening_date: np.ndarray,
    window: int = DEFAULT_WINDOW,
    reference_window: int = 12,
    trend_span: int = 36,
    attendance_share: float = DEFAULT_ATTENDANCE_SHARE,
    attendance_follow: float = 0.0,
) -> FeatureBlock:
    """:func:`studio_features` of ``S`` studios with ``T`` months each, at once.

    ``columns`` holds (S, T) arrays (``ds``, ``is_outlier``, ``is_gap`` and every
    MonthlyMetric field); the statics are (S,) arrays (``square_footage`` NaN and
    ``opening_date``, datetime64[M], NaT where missing). Every operation runs
    along the months axis, so each studio's numbers are the ones it gets alone.
    """
    ds = np.asarray(columns["ds"]).astype("datetime64[M]")
    s, n = ds.shape
    col = {name: np.asarray(columns[name], dtype=np.float64) for name in METRIC_FIELDS}
    outlier = np.asarray(columns["is_outlier"], dtype=bool)
    is_gap = np.asarray(columns["is_gap"], dtype=bool)
    keep = (~outlier & ~is_gap).astype(np.float64)
    max_capacity = np.asarray(max_capacity, dtype=np.float64)
    capacity = max_capacity[:, None]

    members = col["total_members"]
    revenue = col["total_revenue"]
    previous_members = _lag(members, 1)
    # Retention and the attendance rate follow from the required columns where a
    # studio did not report them (the first month's previous count from the flows).
    previous_members[:, 0:1] = (
        members[:, 0:1] - col["new_members"][:, 0:1] + col["churned_members"][:, 0:1]
    )
    derived_retention = np.clip(
        1.0 - _safe_div(col["churned_members"], previous_members), 0.0, 1.0
    )
    retention = np.where(
        np.isfinite(col["retention_rate"]), col["retention_rate"], derived_retention
    )
    col["retention_rate"] = retention
    derived_attendance = np.clip(
        _safe_div(col["total_class_attendance"], col["total_classes_held"] * capacity),
        0.0,
        1.0,
    )
    col["class_attendance_rate"] = np.where(
        np.isfinite(col["class_attendance_rate"]),
        col["class_attendance_rate"],
        derived_attendance,
    )
    ticket = col["avg_ticket_price"]
    log_revenue = np.log(np.maximum(revenue, 1.0))
    month_of_year = (ds.astype(np.int64) % 12 + 1).astype(np.int64)
    angle = 2.0 * np.pi * (month_of_year - 1) / 12.0
    month_index = np.arange(n, dtype=np.float64)

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return _trailing_ratio(num, den, keep, window)

    parts = _formula_components(col, attendance_share)
    constants = np.stack(
        [
            ratio(parts["membership"], parts["billed"]),
            ratio(parts["class_pack"], col["total_class_attendance"]),
            ratio(parts["intro"], col["new_members"]),
            ratio(parts["per_member"], members),
            ratio(parts["upsell"], members * col["upsell_rate"]),
        ],
        axis=-1,
    )
    # Levers on the axis before the months: each lever is a series of its own.
    raw_levers = np.stack([col[c] for c in LEVER_COLUMNS], axis=1)
    reference = np.moveaxis(
        _reference_levels(raw_levers, keep[:, None, :], reference_window, trend_span),
        1,
        2,
    )
    reference[..., _ATTENDANCE] = _member_scaled_attendance(
        reference[..., _ATTENDANCE],
        members,
        keep,
        attendance_follow,
        reference_window,
        trend_span,
    )
    has_data = np.isfinite(reference)
    # A lever moves the forecast only through a constant of the formula; one
    # whose constant this studio's data leaves at 0 (upsell without upsell
    # revenue, attendance where no revenue goes with it) is not modelled either.
    effect = np.ones_like(has_data)
    effect[..., _TICKET] = constants[..., 0] > 0
    effect[..., _ATTENDANCE] = constants[..., 1] > 0
    effect[..., _CLASSES] = constants[..., 1] > 0
    effect[..., _UPSELL] = constants[..., 4] > 0
    known = has_data & effect
    levers = np.moveaxis(_forward_fill(raw_levers), 1, 2)
    levers = np.where(has_data & np.isfinite(levers), levers, 0.0)
    reference = np.where(has_data, reference, 0.0)
    raw_levers = np.moveaxis(raw_levers, 1, 2)
    flow = member_flow_residual(members, col["new_members"], retention, keep > 0)

    retention_3m = _trailing_mean(retention, 3)
    revenue_prev = _lag(revenue, 1)
    revenue_3m = _trailing_mean(revenue, 3)
    # Revenue the formula gives from this month's own levers and the constants: the
    # gap to actual revenue says how unusual the base month was.
    structural_now = (
        constants[..., 0] * members * ticket
        + constants[..., 1] * col["total_class_attendance"]
        + constants[..., 2] * col["new_members"]
        + constants[..., 3] * members
        + constants[..., 4] * members * np.nan_to_num(col["upsell_rate"], nan=0.0)
    )
    opening = np.asarray(opening_date).astype("datetime64[M]")[:, None]
    age_months = np.where(
        np.isnat(opening), np.nan, (ds - opening).astype(np.int64).astype(np.float64)
    )

    def static(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(values, dtype=np.float64)[:, None], (s, n))

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
        **{f"lever_{c}": raw_levers[..., j] for j, c in enumerate(LEVER_COLUMNS)},
        **{
            f"lever_{c}_vs_reference": _safe_div(
                raw_levers[..., j],
                np.where(has_data[..., j], reference[..., j], np.nan),
            )
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
                col["total_class_attendance"], col["total_classes_held"] * capacity
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
        **{name: constants[..., j] for j, name in enumerate(CONSTANTS)},
        "membership_share": _safe_div(col["membership_revenue"], revenue),
        "structural_gap": _safe_log(_safe_div(revenue, structural_now)),
        "flow_residual": flow,
        "components_known": _trailing_mean(parts["class_pack_known"], window),
        # Where the month sits against its own year: members and revenue revert
        # towards their level after a noisy month.
        "members_vs_year": _safe_log(_safe_div(members, _trailing_mean(members, 12))),
        "revenue_vs_year": _safe_log(_safe_div(revenue, _trailing_mean(revenue, 12))),
        "studio_type_code": static([STUDIO_TYPES.index(t) for t in studio_type]),
        "max_capacity": static(max_capacity),
        "square_footage": static(square_footage),
        "age_months": age_months,
    }
    return FeatureBlock(
        unique_ids=list(unique_ids),
        ds=ds,
        context=np.stack([features[name] for name in CONTEXT_FEATURES], axis=-1),
        constants=constants,
        levers=levers,
        reference=reference,
        has_data=has_data,
        known=known,
        flow=flow,
        members=members,
        log_revenue=log_revenue,
        is_gap=is_gap,
        month_of_year=month_of_year,
        capacity=max_capacity,
    )


def target_features(
    base_index: np.ndarray,
    horizon: np.ndarray,
    studio: StudioFeatures,
    offset: np.ndarray | int = 0,
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
    offset : numpy.ndarray of int or int, default 0
        Where each pair's studio starts in ``studio``'s arrays, when they hold
        several studios' months end to end (a flattened
        :class:`FeatureBlock`); positions are still counted within the studio.

    Returns
    -------
    numpy.ndarray
        Shape (len(base_index), len(TARGET_FEATURES)).
    """
    base_index = np.asarray(base_index, dtype=np.int64)
    horizon = np.asarray(horizon, dtype=np.int64)
    offset = np.broadcast_to(np.asarray(offset, dtype=np.int64), base_index.shape)
    target_moy = (studio.month_of_year[offset + base_index] - 1 + horizon) % 12 + 1
    angle = 2.0 * np.pi * (target_moy - 1) / 12.0
    # Same month last year against the base month's own month last year: the
    # studio's seasonal swing from t to t + h, read from history up to t.
    last_year = base_index + horizon - 12
    base_last_year = base_index - 12
    ok = base_last_year >= 0
    seasonal = np.full(base_index.shape, np.nan)
    seasonal[ok] = (
        studio.log_revenue[(offset + last_year)[ok]]
        - studio.log_revenue[(offset + base_last_year)[ok]]
    )
    # The same swing averaged over every earlier year the history holds (up to
    # four): one year's ratio carries that year's noise.
    swings = np.zeros(base_index.shape)
    years = np.zeros(base_index.shape)
    for k in range(1, 5):
        at = base_index - 12 * k
        has = at >= 0
        swings[has] += (
            studio.log_revenue[(offset + at + horizon)[has]]
            - studio.log_revenue[(offset + at)[has]]
        )
        years += has
    with np.errstate(invalid="ignore", divide="ignore"):
        seasonal_years = np.where(years > 0, swings / years, np.nan)
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
            seasonal_years,
        ]
    )


def attendance_share(frame: pd.DataFrame, *, min_months: int = 12) -> float:
    """The share of non-membership revenue that goes with attendance, learned.

    From the ordinary months (no outlier, no gap) that report both membership and
    class-pack revenue: class-pack revenue over everything except membership,
    intro offers and upsell (class packs, retail and what no component names).
    Applied to the studios that do not report class-pack revenue (see
    :func:`_formula_components`). :data:`DEFAULT_ATTENDANCE_SHARE` when fewer than
    ``min_months`` months report both.
    """
    known = (
        frame["membership_revenue"].notna()
        & frame["class_pack_revenue"].notna()
        & ~frame["is_outlier"].astype(bool)
    )
    if "is_gap" in frame.columns:
        known &= ~frame["is_gap"].astype(bool)
    rows = frame.loc[known]
    if len(rows) < min_months:
        return DEFAULT_ATTENDANCE_SHARE
    rest = (
        rows["total_revenue"]
        - rows["membership_revenue"]
        - rows["intro_offer_revenue"].fillna(0.0)
        - rows["upsell_revenue"].fillna(0.0)
    ).clip(lower=0.0)
    total = float(rest.sum())
    if total <= 0:
        return DEFAULT_ATTENDANCE_SHARE
    return float(np.clip(rows["class_pack_revenue"].sum() / total, 0.0, 1.0))


#: Studios whose features are computed together (bounds the memory of a block:
#: about 2,000 x 60 months x 90 features of float64, 90 MB).
BLOCK_STUDIOS = 2_000


def frame_feature_blocks(
    frame: pd.DataFrame,
    *,
    window: int = DEFAULT_WINDOW,
    reference_window: int = 12,
    trend_span: int = 36,
    attendance_share: float = DEFAULT_ATTENDANCE_SHARE,
    attendance_follow: float = 0.0,
    block_studios: int = BLOCK_STUDIOS,
) -> list[FeatureBlock]:
    """The features of every studio of a validated frame, in blocks.

    Studios are grouped by the length of their history (each block's studios
    have the same number of months, so nothing is padded) and computed together
    by :func:`block_features`, at most ``block_studios`` at a time.

    Parameters
    ----------
    frame : pandas.DataFrame
        A frame that passed :func:`forecasting.ml.frame.validate_frame`.
    window, reference_window, trend_span : int
    attendance_share, attendance_follow : float
        Passed through to :func:`block_features`.

    Returns
    -------
    list of FeatureBlock
        Studios in frame order within each block.
    """
    if frame.empty:
        return []
    # The frame is sorted by studio: each studio is a run of rows.
    names = [
        name
        for name in ("ds", "is_outlier", "is_gap", *METRIC_FIELDS)
        if name in frame.columns
    ]
    arrays = {name: frame[name].to_numpy() for name in names}
    if "is_gap" not in arrays:
        arrays["is_gap"] = np.zeros(len(frame), dtype=bool)
    uids = frame["unique_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, uids[1:] != uids[:-1]])
    lengths = np.diff(np.r_[starts, len(uids)])
    statics = {
        name: frame[name].to_numpy()[starts]
        for name in ("studio_type", "max_capacity", "square_footage")
    }
    opening = (
        pd.to_datetime(pd.Series(frame["opening_date"].to_numpy()[starts]))
        .to_numpy()
        .astype("datetime64[M]")
    )
    blocks = []
    for length in np.unique(lengths):
        studios = np.flatnonzero(lengths == length)
        for first in range(0, len(studios), block_studios):
            chosen = studios[first : first + block_studios]
            rows = (starts[chosen][:, None] + np.arange(length)).ravel()
            blocks.append(
                block_features(
                    {
                        name: values[rows].reshape(len(chosen), length)
                        for name, values in arrays.items()
                    },
                    unique_ids=[str(u) for u in uids[starts[chosen]]],
                    studio_type=statics["studio_type"][chosen],
                    max_capacity=statics["max_capacity"][chosen],
                    square_footage=np.asarray(
                        statics["square_footage"][chosen], dtype=np.float64
                    ),
                    opening_date=opening[chosen],
                    window=window,
                    reference_window=reference_window,
                    trend_span=trend_span,
                    attendance_share=attendance_share,
                    attendance_follow=attendance_follow,
                )
            )
    return blocks


def frame_features(
    frame: pd.DataFrame,
    *,
    window: int = DEFAULT_WINDOW,
    reference_window: int = 12,
    trend_span: int = 36,
    attendance_share: float = DEFAULT_ATTENDANCE_SHARE,
    attendance_follow: float = 0.0,
) -> dict[str, StudioFeatures]:
    """:func:`studio_features` of every studio of a validated frame.

    Computed in blocks (:func:`frame_feature_blocks`); the numbers are each
    studio's own.

    Returns
    -------
    dict of str to StudioFeatures
        Keyed by ``unique_id``, in frame order.
    """
    by_uid = {}
    for block in frame_feature_blocks(
        frame,
        window=window,
        reference_window=reference_window,
        trend_span=trend_span,
        attendance_share=attendance_share,
        attendance_follow=attendance_follow,
    ):
        for i, uid in enumerate(block.unique_ids):
            by_uid[uid] = block.studio(i)
    # Frame order: the blocks group studios by history length.
    order = pd.unique(frame["unique_id"].astype(str)) if not frame.empty else []
    return {uid: by_uid[uid] for uid in order}
