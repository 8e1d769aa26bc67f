"""Accuracy of the forward model against baselines and the generator's oracle.

Metrics are plain functions on arrays; :func:`evaluate` runs the model through its
public serving API (``states_for_frame`` + ``predict``) on every (base month,
horizon) pair whose target month lies in a split, and :func:`format_report` prints
the result. Errors are fractions (0.05 is 5%).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from forecasting.ml.features import frame_features
from forecasting.ml.frame import validate_frame
from forecasting.ml.model import ForwardModel, PlanSemantics
from forecasting.ml.pairs import build_pairs

__all__ = [
    "METHODS",
    "MODES",
    "business_impact_score",
    "directional_accuracy",
    "evaluate",
    "format_report",
    "interval_coverage",
    "interval_score",
    "mae",
    "mape",
    "mean_relative_width",
    "r2",
    "rmse",
]

Mode = Literal["plain", "what_if"]
#: ``plain``: levers held at the base month's values (a relative plan, the status
#: quo). ``what_if``: the levers the studio actually ran in each projected month
#: (an absolute plan).
MODES: tuple[str, ...] = ("plain", "what_if")
#: Methods compared in the report, the model first.
METHODS: tuple[str, ...] = (
    "model",
    "naive",
    "seasonal_naive",
    "seasonal_naive_scaled",
    "oracle",
)
_SPLITS = {"train": 0, "validation": 1, "test": 2}
# |% error| above which the business impact score counts an error twice.
_IMPACT_THRESHOLD = 0.10


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(actual)) ** 2)))


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(predicted) - np.asarray(actual))))


def _pct_errors(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    actual = np.asarray(actual, dtype=np.float64)
    return np.abs(np.asarray(predicted, dtype=np.float64) - actual) / np.abs(actual)


def mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error, as a fraction (``actual`` must be non-zero)."""
    return float(np.mean(_pct_errors(actual, predicted)))


def r2(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Coefficient of determination, ``1 - SS_res / SS_tot``; NaN if ``actual`` is constant."""
    actual = np.asarray(actual, dtype=np.float64)
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((actual - np.asarray(predicted)) ** 2)) / ss_tot


def directional_accuracy(
    actual: np.ndarray, predicted: np.ndarray, base: np.ndarray
) -> float:
    """Share of cases where the predicted direction of change from the base month's
    actual value matches the actual direction (a forecast of "no change" matches
    only an actual "no change")."""
    base = np.asarray(base, dtype=np.float64)
    return float(
        np.mean(
            np.sign(np.asarray(predicted) - base) == np.sign(np.asarray(actual) - base)
        )
    )


def business_impact_score(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean |% error| with every |% error| above 10% counted double, as a fraction."""
    errors = _pct_errors(actual, predicted)
    return float(np.mean(np.where(errors > _IMPACT_THRESHOLD, 2.0 * errors, errors)))


def interval_coverage(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> float:
    """Share of actual values inside ``[lower, upper]``."""
    actual = np.asarray(actual)
    return float(np.mean((np.asarray(lower) <= actual) & (actual <= np.asarray(upper))))


def mean_relative_width(
    lower: np.ndarray, upper: np.ndarray, predicted: np.ndarray
) -> float:
    """Mean of ``(upper - lower) / predicted``."""
    return float(
        np.mean((np.asarray(upper) - np.asarray(lower)) / np.asarray(predicted))
    )


def interval_score(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, coverage: float
) -> float:
    """Mean interval score of central intervals at ``coverage``, relative to the
    actual value (lower is better).

    Gneiting and Raftery's score, ``(upper - lower) + (2 / alpha) x`` the
    distance by which the actual value falls outside, with ``alpha = 1 -
    coverage``, divided by the actual value so studios of every size count
    alike. It rewards narrow intervals and penalises misses, so it tells a
    width that follows how hard each forecast is from one that is right only
    on average: two sets of intervals can both cover 80% and score apart.
    """
    actual = np.asarray(actual, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    alpha = 1.0 - coverage
    miss = np.clip(lower - actual, 0.0, None) + np.clip(actual - upper, 0.0, None)
    return float(np.mean((upper - lower + (2.0 / alpha) * miss) / actual))


def _metrics(
    actual: np.ndarray,
    predicted: np.ndarray,
    base: np.ndarray,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    coverage: float = 0.8,
) -> dict[str, float]:
    return {
        "rmse": rmse(actual, predicted),
        "mae": mae(actual, predicted),
        "mape": mape(actual, predicted),
        "r2": r2(actual, predicted),
        "directional_accuracy": directional_accuracy(actual, predicted, base),
        "business_impact": business_impact_score(actual, predicted),
        "coverage": np.nan
        if lower is None
        else interval_coverage(actual, lower, upper),
        "relative_width": (
            np.nan if lower is None else mean_relative_width(lower, upper, predicted)
        ),
        "interval_score": (
            np.nan if lower is None else interval_score(actual, lower, upper, coverage)
        ),
    }


def evaluate(
    model: ForwardModel,
    frame: pd.DataFrame,
    *,
    split: str = "test",
    mode: Mode = "plain",
    horizons: Iterable[int] = range(1, 13),
    coverage: float = 0.8,
    exclude_outlier_paths: bool = True,
    plan: PlanSemantics | None = None,
) -> pd.DataFrame:
    """Score the model and the baselines on every pair whose target is in ``split``.

    A pair is a base month ``t`` and a horizon ``h`` with the target month
    ``t + h`` in ``split``, whose base month has the model's ``min_history`` and,
    by default, whose projected months ``t+1..t+h`` hold no flagged outlier month
    (a closure nobody could foresee at ``t``). The model and naive are scored on
    every such pair; a baseline that needs more history (a year for the seasonal
    naive, two for the scaled one) or truth columns (the oracle) on those where it
    exists, which with 60-month histories is every pair of the validation and
    test splits (compare the ``n`` column).

    Methods: ``model``; ``naive`` (the base month's revenue); ``seasonal_naive``
    (the target month's revenue a year earlier, unscaled); ``seasonal_naive_scaled``
    (the same, times the year-on-year growth of the last 12 months' revenue);
    ``oracle`` (the generator's noise-free ``expected_total_revenue``, where the
    frame has it).

    Parameters
    ----------
    model : ForwardModel
        A fitted model.
    frame : pandas.DataFrame
        Long-format history with a ``split`` column.
    split : {"train", "validation", "test"}, default "test"
    mode : {"plain", "what_if"}, default "plain"
        ``plain`` holds the levers at the base month's values (relative plan);
        ``what_if`` passes the levers the studio actually ran in each projected
        month (absolute plan).
    horizons : iterable of int, default 1..12
    coverage : float, default 0.8
        Nominal coverage of the model's intervals.
    exclude_outlier_paths : bool, default True
        Leave out pairs whose projected months include a flagged outlier.
    plan : {"relative", "absolute"}, optional
        Read the levers with these semantics instead of the mode's own (relative
        for ``plain``, absolute for ``what_if``); for comparing the two.

    Returns
    -------
    pandas.DataFrame
        One row per (horizon, method): mode, plan, split, horizon, method, n, rmse, mae,
        mape, r2, directional_accuracy, business_impact, coverage, relative_width,
        interval_score (the last three for the model only), ratio_to_oracle (the method's MAPE
        over the oracle's) and members_mape (the member-count forecast's MAPE, for
        the model and naive).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {tuple(_SPLITS)}, got {split!r}")
    if plan is None:
        plan = "relative" if mode == "plain" else "absolute"
    horizons = sorted({int(h) for h in horizons})
    if not horizons or horizons[0] < 1 or horizons[-1] > model.max_horizon:
        raise ValueError(f"horizons must lie in 1..{model.max_horizon}")
    frame = validate_frame(frame, require_split=True)
    features = frame_features(frame, **model._feature_params())
    pairs = build_pairs(
        frame,
        features,
        max_horizon=max(horizons),
        min_history=model.min_history,
    )
    # A percentage error needs revenue in the target month; a base month inserted
    # for a gap is never served.
    keep = (
        (pairs.target_split == _SPLITS[split])
        & np.isin(pairs.horizon, horizons)
        & (pairs.actual > 0)
        & ~pairs.base_gap
    )
    if exclude_outlier_paths:
        keep &= ~pairs.path_outlier
    pairs = pairs.subset(keep)
    if len(pairs.actual) == 0:
        raise ValueError(f"no pairs with a target in the {split!r} split")

    wanted: dict[str, list[int]] = {}
    for sid, b in zip(pairs.studio, pairs.base_index, strict=True):
        wanted.setdefault(pairs.uids[sid], []).append(int(b))
    states = model.states_for_frame(frame, base_months=wanted)
    levers = {uid: features[uid].levers for uid in wanted}
    base_members = np.array(
        [
            features[pairs.uids[sid]].members[b]
            for sid, b in zip(pairs.studio, pairs.base_index, strict=True)
        ]
    )

    predicted = np.empty(len(pairs.actual))
    members = np.empty_like(predicted)
    lower = np.empty_like(predicted)
    upper = np.empty_like(predicted)
    order = np.lexsort((pairs.horizon, pairs.base_index, pairs.studio))
    key_of = np.stack([pairs.studio, pairs.base_index], axis=1)
    start = 0
    while start < len(order):
        sid, b = key_of[order[start]]
        stop = start
        while stop < len(order) and (key_of[order[stop]] == (sid, b)).all():
            stop += 1
        rows = order[start:stop]
        uid = pairs.uids[sid]
        state = states[(uid, pd.Timestamp(features[uid].ds[b]))]
        horizon = int(pairs.horizon[rows].max())
        if mode == "plain":
            path = state.levers[None, :]
        else:
            path = levers[uid][b + 1 : b + 1 + horizon][None, :, :]
        result = model.predict(state, path, horizon, coverage, plan=plan)
        cols = pairs.horizon[rows] - 1
        predicted[rows] = result.revenue[0, cols]
        members[rows] = result.members[0, cols]
        lower[rows] = result.revenue_lower[0, cols]
        upper[rows] = result.revenue_upper[0, cols]
        start = stop

    records = []
    for h in horizons:
        at = pairs.horizon == h
        if not at.any():
            continue
        candidates = {
            "model": (predicted, lower, upper),
            "naive": (pairs.base_revenue, None, None),
            "seasonal_naive": (pairs.seasonal_naive, None, None),
            "seasonal_naive_scaled": (pairs.seasonal_naive_scaled, None, None),
            "oracle": (pairs.expected, None, None),
        }
        members_forecast = {"model": members, "naive": base_members}
        # A percentage error of the member count needs members in the target
        # month (a studio may report none while it still sells drop-ins).
        has_members = pairs.actual_members > 0
        rows_h = {}
        for method, (values, lo, hi) in candidates.items():
            # A baseline is scored where it exists (a year of history for the
            # seasonal naive, two for the scaled one, truth columns for the
            # oracle); with full histories that is every pair.
            defined = at & np.isfinite(values)
            if not defined.any():
                continue
            rows_h[method] = {
                "mode": mode,
                "plan": plan,
                "split": split,
                "horizon": h,
                "method": method,
                "n": int(defined.sum()),
                **_metrics(
                    pairs.actual[defined],
                    values[defined],
                    pairs.base_revenue[defined],
                    None if lo is None else lo[defined],
                    None if hi is None else hi[defined],
                    coverage,
                ),
                "members_mape": (
                    mape(
                        pairs.actual_members[defined & has_members],
                        members_forecast[method][defined & has_members],
                    )
                    if method in members_forecast and (defined & has_members).any()
                    else np.nan
                ),
            }
        oracle_mape = rows_h["oracle"]["mape"] if "oracle" in rows_h else np.nan
        for row in rows_h.values():
            row["ratio_to_oracle"] = row["mape"] / oracle_mape
            records.append(row)
    return pd.DataFrame.from_records(records)


def format_report(df: pd.DataFrame) -> str:
    """A readable table per mode and split: one line per horizon and method.

    Percentages are the metrics of :func:`evaluate`; "Members" is the MAPE of the
    member-count forecast.

    Parameters
    ----------
    df : pandas.DataFrame
        One or more :func:`evaluate` results, concatenated.

    Returns
    -------
    str
    """
    header = (
        f"{'h':>3} {'method':<22}{'n':>6}{'MAPE':>8}{'RMSE':>10}{'MAE':>10}{'R2':>7}"
        f"{'DirAcc':>8}{'Impact':>8}{'Cover':>7}{'Width':>7}{'/oracle':>8}{'Members':>9}"
    )

    def pct(value: float, digits: int = 1) -> str:
        return "" if pd.isna(value) else f"{100 * value:.{digits}f}%"

    blocks = []
    for (mode, plan, split), block in df.groupby(["mode", "plan", "split"], sort=False):
        lines = [f"== {mode} forecasts ({plan} plan), {split} split ==", header]
        for _, row in block.iterrows():
            ratio = (
                ""
                if pd.isna(row["ratio_to_oracle"])
                else f"{row['ratio_to_oracle']:.2f}x"
            )
            lines.append(
                f"{row['horizon']:>3} {row['method']:<22}{row['n']:>6}"
                f"{pct(row['mape'], 2):>8}{row['rmse']:>10.0f}{row['mae']:>10.0f}"
                f"{row['r2']:>7.3f}{pct(row['directional_accuracy']):>8}"
                f"{pct(row['business_impact']):>8}{pct(row['coverage']):>7}"
                f"{pct(row['relative_width']):>7}{ratio:>8}{pct(row['members_mape'], 2):>9}"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
