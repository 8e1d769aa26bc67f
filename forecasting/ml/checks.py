"""What the registry stores about a trained model, and the checks gating activation.

No Django here: the training service passes frames in and stores the returned
JSON-ready dictionaries on the ModelVersion.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from forecasting.ml.evaluation import evaluate
from forecasting.ml.frame import LEVERS
from forecasting.ml.model import ForwardModel
from forecasting.ml.screening import screen_training_frame

__all__ = [
    "EVALUATION_HORIZONS",
    "MONOTONE_LEVERS",
    "activation_checks",
    "coverage_check",
    "evaluation_summary",
    "latest_window",
    "library_versions",
    "lever_monotonicity",
    "truth_columns",
]

#: Horizons stored on every version (months ahead).
EVALUATION_HORIZONS: tuple[int, ...] = (1, 2, 3, 6, 12)
#: Levers whose increase must never lower revenue (SPEC §4). The average ticket is
#: the exception (SPEC §12): a dearer ticket loses members.
MONOTONE_LEVERS: tuple[str, ...] = (
    "retention_rate",
    "class_attendance_rate",
    "new_members_monthly",
    "upsell_rate",
)
_SPLIT_MONTHS = 6
_RATE_LEVERS = {"retention_rate", "class_attendance_rate", "upsell_rate"}
_MAX_CHECK_STUDIOS = 25
_COVERAGE_TOLERANCE = 0.10


def truth_columns(frame: pd.DataFrame) -> list[str]:
    """The generator's noise-free columns: evaluation truth, never features."""
    return [c for c in frame.columns if c.startswith("expected_")]


def latest_window(frame: pd.DataFrame, *, months: int) -> pd.DataFrame:
    """Each studio's latest ``months`` months, with split labels recomputed.

    The last 6 months are test, the 6 before validation, the rest train (SPEC
    §2.8), so a window of at least 13 months keeps every split non-empty.
    """
    if months < 2 * _SPLIT_MONTHS + 1:
        raise ValueError(f"a window needs at least {2 * _SPLIT_MONTHS + 1} months")
    ordered = frame.sort_values(["unique_id", "ds"])
    from_end = ordered.groupby("unique_id").cumcount(ascending=False)
    window = ordered[from_end < months].copy()
    position = from_end[from_end < months]
    window["split"] = np.select(
        [position < _SPLIT_MONTHS, position < 2 * _SPLIT_MONTHS],
        ["test", "validation"],
        "train",
    )
    return window.reset_index(drop=True)


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose formats and numerics the artifacts depend on."""
    versions = {"python": platform.python_version()}
    for package in ("numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "xgboost"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    # JSON has no NaN or infinity (the database refuses them): no figure, None.
    clean = table.replace({np.nan: None, np.inf: None, -np.inf: None})
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in clean.to_dict("records")
    ]


def _pick(table: pd.DataFrame, **where: Any) -> pd.Series | None:
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= (table[column] == value).to_numpy()
    rows = table[mask]
    return None if rows.empty else rows.iloc[0]


def evaluation_summary(
    model: ForwardModel,
    frame: pd.DataFrame,
    *,
    horizons: tuple[int, ...] = EVALUATION_HORIZONS,
) -> dict[str, Any]:
    """Evaluate in both modes on validation and test; a JSON-ready summary.

    Studios a model cannot learn from (see
    :func:`forecasting.ml.screening.screen_training_frame`) cannot be scored
    either, and are left out. Returns ``{"table": [...], "headline": {...}}``:
    the table has one record per mode, split, horizon and method (model, naive,
    seasonal_naive, oracle); the headline holds the figures the API quotes (plain
    forecast, test split, month 1) and the ratio to the oracle.
    """
    horizons = tuple(h for h in horizons if h <= model.max_horizon)
    frame = screen_training_frame(frame, min_months=model.min_training_months).frame
    tables = [
        evaluate(model, frame, split=split, mode=mode, horizons=horizons)
        for mode in ("plain", "what_if")
        for split in ("validation", "test")
    ]
    table = pd.concat(tables, ignore_index=True)
    headline: dict[str, Any] = {}
    model_h1 = _pick(table, mode="plain", split="test", horizon=1, method="model")
    if model_h1 is not None:
        headline.update(
            test_mape_h1=model_h1["mape"],
            test_rmse_h1=model_h1["rmse"],
            test_r2_h1=model_h1["r2"],
            test_directional_accuracy_h1=model_h1["directional_accuracy"],
            test_coverage_h1=model_h1["coverage"],
            test_ratio_to_oracle_h1=model_h1.get("ratio_to_oracle"),
        )
    for method in ("naive", "seasonal_naive", "oracle"):
        row = _pick(table, mode="plain", split="test", horizon=1, method=method)
        if row is not None:
            headline[f"{method}_test_mape_h1"] = row["mape"]
    what_if = _pick(table, mode="what_if", split="test", horizon=1, method="model")
    if what_if is not None:
        headline["what_if_test_mape_h1"] = what_if["mape"]
    return {
        "horizons": list(horizons),
        "table": _records(table),
        "headline": {
            k: (None if v is None or not np.isfinite(v) else float(v))
            for k, v in headline.items()
        },
    }


def lever_monotonicity(
    model: ForwardModel, frame: pd.DataFrame, *, horizon: int = 12
) -> tuple[bool, str]:
    """Raise each monotone lever alone from far below to far above its base value.

    For up to 25 studios at their last month (those with members and revenue in
    it: a studio closed at its end has nothing for a lever to move), each of the
    five monotone levers is swept over 0.25x..4x its base value (rates up to 1.0)
    with the others held; predicted revenue must never fall at any horizon, and
    must rise overall.
    """
    horizon = min(horizon, model.max_horizon)
    studios = sorted(frame["unique_id"].unique())[:_MAX_CHECK_STUDIOS]
    factors = np.array([0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0])
    failures = []
    for uid in studios:
        history = frame[frame["unique_id"] == uid]
        state = model.make_state(history, history["ds"].max())
        if state.members <= 0 or state.revenue <= 0:
            continue  # closed at its last month: no member or sale for a lever to move
        for lever in MONOTONE_LEVERS:
            index = LEVERS.index(lever)
            if not state.known[index]:
                continue  # not modelled for this studio: held at its base value
            base = float(state.levers[index])
            values = base * factors if base > 0 else factors
            if lever in _RATE_LEVERS:
                values = np.unique(np.clip(values, 0.0, 1.0))
            plans = np.repeat(state.levers[None, :], len(values), axis=0)
            plans[:, index] = values
            revenue = model.predict(state, plans, horizon).revenue
            steps = np.diff(revenue, axis=0)
            if (steps < -1e-6 * np.abs(revenue[:-1])).any() or not (
                revenue[-1] > revenue[0]
            ).all():
                failures.append(f"{lever} at studio {uid}")
    if failures:
        return False, "revenue fell or stayed flat when raising " + ", ".join(
            failures[:5]
        )
    return True, (
        f"{len(MONOTONE_LEVERS)} levers x {len(studios)} studios x {horizon} months: "
        "revenue never falls as a lever rises, including far outside the data"
    )


def activation_checks(
    model: ForwardModel, frame: pd.DataFrame, metrics: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The checks a version must pass to be activated without a forced reason.

    * ``lever_monotonicity``: see :func:`lever_monotonicity`;
    * ``beats_baselines``: on the validation split, plain forecast, the model's
      MAPE is below naive's and seasonal-naive's at every stored horizon;
    * ``interval_coverage``: see :func:`coverage_check`.
    """
    table = pd.DataFrame(metrics["table"])
    checks: dict[str, dict[str, Any]] = {}
    passed, detail = lever_monotonicity(model, frame.drop(columns=truth_columns(frame)))
    checks["lever_monotonicity"] = {"passed": passed, "detail": detail}

    losing = []
    for horizon in metrics["horizons"]:
        ours = _pick(
            table, mode="plain", split="validation", horizon=horizon, method="model"
        )
        for baseline in ("naive", "seasonal_naive"):
            theirs = _pick(
                table,
                mode="plain",
                split="validation",
                horizon=horizon,
                method=baseline,
            )
            if ours is None or theirs is None:
                continue
            if not ours["mape"] < theirs["mape"]:
                losing.append(
                    f"h={horizon}: {ours['mape']:.2%} vs {baseline} {theirs['mape']:.2%}"
                )
    checks["beats_baselines"] = {
        "passed": not losing,
        "detail": "; ".join(losing)
        or "validation MAPE below naive and seasonal-naive at every horizon",
    }

    passed, detail = coverage_check(table, metrics["horizons"])
    checks["interval_coverage"] = {"passed": passed, "detail": detail}
    return checks


def coverage_check(table: pd.DataFrame, horizons: list[int]) -> tuple[bool, str]:
    """Whether the nominal 80% intervals of plain forecasts cover within 10 points
    of 80% of the test months at every stored horizon; ``(passed, detail)``.

    ``table`` is the evaluation table (one row per mode, split, horizon and method,
    with ``n`` and ``coverage``). The detail names each horizon's coverage and
    number of test forecasts, the failing ones only when some fail: with 12
    studios a horizon has 72 or fewer, and its coverage a standard error of
    about 5 points. Fails when no horizon has a coverage to check.
    """
    measured, off = [], []
    for horizon in horizons:
        ours = _pick(table, mode="plain", split="test", horizon=horizon, method="model")
        if ours is None or pd.isna(ours["coverage"]):
            continue
        text = f"h={horizon}: {ours['coverage']:.0%} of {int(ours['n'])}"
        measured.append(text)
        # Rounded, so that exactly 10 points away (70% of 240) is within.
        if round(abs(ours["coverage"] - 0.8), 9) > _COVERAGE_TOLERANCE:
            off.append(text)
    if not measured:
        return False, "no test pairs to measure coverage on"
    return not off, "80% intervals cover " + ", ".join(off or measured) + " on test"
