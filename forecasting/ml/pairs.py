"""Training and evaluation pairs: (studio, base month t, horizon h, target t + h).

Fitting, calibration and evaluation all read the same table, built from
:func:`forecasting.ml.features.studio_features` (the serving path's features), so a
pair's features are exactly what :meth:`ForwardModel.make_state` would compute at
its base month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.ml.features import (
    CONTEXT_FEATURES,
    TARGET_FEATURES,
    StudioFeatures,
    target_features,
)
from forecasting.ml.structural import structural_path

__all__ = [
    "PAIR_FEATURES",
    "Pairs",
    "build_pairs",
    "pair_feature_matrix",
    "status_quo_path",
]

#: Columns of the correction model's design matrix.
PAIR_FEATURES: tuple[str, ...] = (
    *CONTEXT_FEATURES,
    *TARGET_FEATURES,
    "status_quo_growth",
    "status_quo_member_growth",
    "seasonal_naive_gap",
)

_SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}


def status_quo_path(
    studio: StudioFeatures, base_index: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Structural members and revenue when the reference levers hold for ``horizon``.

    Parameters
    ----------
    studio : StudioFeatures
        The studio's features.
    base_index : numpy.ndarray of int
        Base-month row positions, shape (n,).
    horizon : int
        Months to project.

    Returns
    -------
    members, revenue : numpy.ndarray
        Shape (n, horizon) each.
    """
    plan = np.repeat(studio.reference[base_index][:, None, :], horizon, axis=1)
    return structural_path(
        studio.members[base_index],
        plan,
        studio.constants[base_index],
        studio.capacity,
        studio.flow[base_index],
    )


def pair_feature_matrix(
    studio: StudioFeatures,
    base_index: np.ndarray,
    horizon: np.ndarray,
    status_quo_revenue: np.ndarray,
    status_quo_members: np.ndarray,
    offset: np.ndarray | int = 0,
) -> np.ndarray:
    """Design matrix of the correction model for pairs of one studio.

    Parameters
    ----------
    studio : StudioFeatures
        The studio's features.
    base_index, horizon : numpy.ndarray of int
        Base-month row positions and horizons, equal shapes.
    status_quo_revenue, status_quo_members : numpy.ndarray
        Structural revenue and members of each pair under the status quo (the
        reference levers held); they depend on history up to ``t`` only.
    offset : numpy.ndarray of int or int, default 0
        Where each pair's studio starts in ``studio``'s arrays when they hold
        several studios end to end (see
        :func:`forecasting.ml.features.target_features`).

    Returns
    -------
    numpy.ndarray
        Shape (len(base_index), len(PAIR_FEATURES)).
    """
    base_index = np.asarray(base_index, dtype=np.int64)
    offset = np.broadcast_to(np.asarray(offset, dtype=np.int64), base_index.shape)
    at = offset + base_index
    context = studio.context[at]
    revenue = np.exp(studio.log_revenue[at])
    members = studio.members[at]
    # The target's month last year against the status quo (the seasonal naive
    # forecast, as a correction); read from history up to t since h <= 12.
    last_year = base_index + horizon - 12
    seasonal_naive = np.full(len(base_index), np.nan)
    known = last_year >= 0
    seasonal_naive[known] = studio.log_revenue[(offset + last_year)[known]]
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.log(status_quo_revenue / revenue)
        member_growth = np.log(status_quo_members / members)
        naive_gap = seasonal_naive - np.log(status_quo_revenue)
    # A studio with no revenue or an empty status quo has no growth to speak of:
    # missing, which every learner handles, rather than an infinity.
    growth = np.where(np.isfinite(growth), growth, np.nan)
    member_growth = np.where(np.isfinite(member_growth), member_growth, np.nan)
    naive_gap = np.where(np.isfinite(naive_gap), naive_gap, np.nan)
    return np.column_stack(
        [
            context,
            target_features(base_index, horizon, studio, offset),
            growth,
            member_growth,
            naive_gap,
        ]
    )


@dataclass
class Pairs:
    """Every (studio, base month, horizon) pair of a frame, as flat arrays.

    Attributes
    ----------
    studio : numpy.ndarray of int
        Index into ``uids``.
    uids : list of str
        Studio ids.
    base_index, horizon : numpy.ndarray of int
        Base-month row position within the studio and months ahead.
    base_ds : numpy.ndarray of datetime64[M]
        Base month.
    X : numpy.ndarray of float32
        Correction features, shape (n, len(PAIR_FEATURES)): float32, half the
        memory of a fit's largest arrays (the learners bin or scale them; a served
        forecast's rows are built in float64 by ``pair_feature_matrix``).
    actual, base_revenue : numpy.ndarray
        Target-month and base-month revenue.
    expected : numpy.ndarray
        The generator's noise-free target revenue (NaN when the frame lacks it).
    status_quo, what_if : numpy.ndarray
        Structural revenue under the status quo (reference levers held) and under
        the levers the studio actually ran in months ``t+1..t+h``.
    status_quo_members, what_if_members, actual_members : numpy.ndarray
        Members the same way, and the actual members.
    target_split : numpy.ndarray of int
        0 train, 1 validation, 2 test, -1 unknown.
    target_from_end : numpy.ndarray of int
        Months between the target month and the last month of its studio's
        history (0 for the last month).
    target_outlier, base_outlier : numpy.ndarray of bool
    base_gap : numpy.ndarray of bool
        Whether the base month was inserted for a gap (never a base month).
    path_outlier : numpy.ndarray of bool
        Whether any projected month ``t+1..t+h`` is a flagged outlier.
    seasonal_naive, seasonal_naive_scaled : numpy.ndarray
        Same month last year, unscaled and scaled by the year-on-year growth of
        the trailing 12 months (NaN when the history is too short).
    """

    studio: np.ndarray
    uids: list[str]
    base_index: np.ndarray
    horizon: np.ndarray
    base_ds: np.ndarray
    X: np.ndarray
    actual: np.ndarray
    base_revenue: np.ndarray
    expected: np.ndarray
    status_quo: np.ndarray
    what_if: np.ndarray
    status_quo_members: np.ndarray
    what_if_members: np.ndarray
    actual_members: np.ndarray
    target_split: np.ndarray
    target_from_end: np.ndarray
    target_outlier: np.ndarray
    base_outlier: np.ndarray
    base_gap: np.ndarray
    path_outlier: np.ndarray
    seasonal_naive: np.ndarray
    seasonal_naive_scaled: np.ndarray

    def subset(self, mask: np.ndarray) -> Pairs:
        """Return the pairs where ``mask`` is True."""
        return Pairs(
            **{
                name: (value if name == "uids" else value[mask])
                for name, value in self.__dict__.items()
            }
        )


def build_pairs(
    frame: pd.DataFrame,
    features: dict[str, StudioFeatures],
    *,
    max_horizon: int,
    min_history: int,
) -> Pairs:
    """Build every pair whose base month has ``min_history`` months of history.

    Parameters
    ----------
    frame : pandas.DataFrame
        A validated history frame.
    features : dict of str to StudioFeatures
        :func:`forecasting.ml.features.frame_features` of the same frame.
    max_horizon : int
        Largest horizon.
    min_history : int
        Months of history a base month needs (itself included).

    Returns
    -------
    Pairs

    Raises
    ------
    ValueError
        If no studio has a single pair.
    """
    parts: dict[str, list[np.ndarray]] = {
        name: [] for name in Pairs.__dataclass_fields__ if name != "uids"
    }
    uids: list[str] = []
    for uid, group in frame.groupby("unique_id", sort=False):
        studio = features[str(uid)]
        n_months = len(group)
        if n_months < min_history + 1:
            continue
        sid = len(uids)
        uids.append(str(uid))
        revenue = group["total_revenue"].to_numpy(dtype=np.float64)
        outlier = group["is_outlier"].to_numpy(dtype=bool)
        split = (
            group["split"].map(_SPLIT_CODES).to_numpy(dtype=np.int64)
            if "split" in group.columns
            else np.full(n_months, -1)
        )
        expected = (
            group["expected_total_revenue"].to_numpy(dtype=np.float64)
            if "expected_total_revenue" in group.columns
            else np.full(n_months, np.nan)
        )

        base = np.arange(min_history - 1, n_months - 1)
        # Full 12-month paths for every base month; entries past the end of the
        # history are NaN and dropped below.
        padded = np.vstack(
            [studio.levers, np.full((max_horizon, studio.levers.shape[1]), np.nan)]
        )
        ahead = np.stack([padded[base + k] for k in range(1, max_horizon + 1)], axis=1)
        sq_members, sq_revenue = status_quo_path(studio, base, max_horizon)
        # A month without a realised value of a lever runs on the base month's.
        ahead = np.where(np.isfinite(ahead), ahead, studio.levers[base][:, None, :])
        wi_members, wi_revenue = structural_path(
            studio.members[base],
            ahead,
            studio.constants[base],
            studio.capacity,
            studio.flow[base],
        )

        bb, hh = np.meshgrid(base, np.arange(1, max_horizon + 1), indexing="ij")
        valid = (bb + hh) < n_months
        b, h = bb[valid], hh[valid]
        target = b + h
        row, col = np.searchsorted(base, b), h - 1

        last_year = b + h - 12
        seasonal = np.where(last_year >= 0, revenue[np.maximum(last_year, 0)], np.nan)
        # Year-on-year growth of the trailing 12 months: a whole year, so neither the
        # season nor one noisy month sets the scale.
        csum = np.concatenate([[0.0], np.cumsum(revenue)])
        has_two_years = b >= 23
        recent = csum[b + 1] - csum[np.maximum(b - 11, 0)]
        year_before = csum[np.maximum(b - 11, 0)] - csum[np.maximum(b - 23, 0)]
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.where(has_two_years, seasonal * recent / year_before, np.nan)

        parts["studio"].append(np.full(len(b), sid))
        parts["base_index"].append(b)
        parts["horizon"].append(h)
        parts["base_ds"].append(studio.ds[b])
        # Training rows are stored in float32 (half the memory of a fit; the
        # boosted learners bin their inputs anyway); served rows stay float64.
        parts["X"].append(
            pair_feature_matrix(
                studio, b, h, sq_revenue[row, col], sq_members[row, col]
            ).astype(np.float32)
        )
        parts["actual"].append(revenue[target])
        parts["base_revenue"].append(revenue[b])
        parts["expected"].append(expected[target])
        parts["status_quo"].append(sq_revenue[row, col])
        parts["what_if"].append(wi_revenue[row, col])
        parts["status_quo_members"].append(sq_members[row, col])
        parts["what_if_members"].append(wi_members[row, col])
        parts["actual_members"].append(studio.members[target])
        parts["target_split"].append(split[target])
        parts["target_from_end"].append(n_months - 1 - target)
        parts["target_outlier"].append(outlier[target])
        parts["base_outlier"].append(outlier[b])
        parts["base_gap"].append(studio.is_gap[b])
        outliers_before = np.concatenate([[0], np.cumsum(outlier)])
        parts["path_outlier"].append(
            outliers_before[target + 1] > outliers_before[b + 1]
        )
        parts["seasonal_naive"].append(seasonal)
        parts["seasonal_naive_scaled"].append(scaled)
    if not uids:
        raise ValueError(
            f"no studio has the {min_history + 1} months of history a pair needs"
        )
    return Pairs(
        uids=uids, **{name: np.concatenate(values) for name, values in parts.items()}
    )
