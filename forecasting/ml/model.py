"""The forward model: levers -> revenue, members and retention per projected month.

Design (``forecasting/ml/README.md`` has the measurements behind each choice):

* a **structural core** (:mod:`forecasting.ml.structural`) rolls members forward by
  retention and new members and applies the revenue formula with the studio's own
  constants; it is non-negative and non-decreasing in every lever, at any value;
* the **status quo** is the structural path of the studio's *reference* levers (each
  lever's recent level, see :mod:`forecasting.ml.features`), not of the base month's
  raw values, which carry a month of noise that does not persist;
* a learned **multiplicative correction** ``exp(g(context, horizon))``, one global
  LightGBM model over all studios, fitted on ``log(actual / structural status quo)``.
  It carries what a flat plan cannot know: the season ahead, growth, the drift of
  the formula's constants. ``g`` never sees the plan, so the forecast keeps the
  core's monotone, unbounded lever response; the members get their own ``g``;
* **conformal intervals** on the log scale (:mod:`forecasting.ml.calibration`), for
  any coverage chosen at predict time.

A plan is read in one of two ways, chosen per call:

``"relative"`` (the default: owners, the optimizer, lever impact analysis)
    Each lever's change from the base month is applied to the studio's reference
    level: ``lever = reference + (plan - base month)``, clipped to its domain. A
    plan equal to the base month is the status quo and gets the model's best
    forecast, season included; raising a lever by x moves the forecast by the
    formula's effect of x.
``"absolute"``
    The plan is what the studio realises month by month (for instance last
    quarter's actual figures, to explain an outcome): revenue is the structural core
    on the plan itself, without the correction.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightgbm
import numpy as np
import pandas as pd
import sklearn
import xgboost

from forecasting.ml.calibration import HorizonConformal
from forecasting.ml.corrections import (
    LightGBMCorrection,
    MLPCorrection,
    RidgeCorrection,
    WeightedEnsemble,
    XGBForestCorrection,
    learner_from_spec,
)
from forecasting.ml.exceptions import (
    ArtifactIntegrityError,
    FrameError,
    InsufficientHistoryError,
    LeverError,
    NotFittedError,
)
from forecasting.ml.features import (
    DEFAULT_WINDOW,
    MAX_HORIZON,
    StudioFeatures,
    frame_features,
    studio_features,
)
from forecasting.ml.frame import LEVERS, METRIC_FIELDS, validate_frame
from forecasting.ml.pairs import (
    PAIR_FEATURES,
    Pairs,
    build_pairs,
    pair_feature_matrix,
    status_quo_path,
)
from forecasting.ml.structural import LEVER_INDEX, structural_path

__all__ = [
    "CORRECTIONS",
    "ForecastResult",
    "ForwardModel",
    "PlanSemantics",
    "StudioState",
]

#: The values of ForwardModel's ``correction`` parameter.
CORRECTIONS: tuple[str, ...] = ("ensemble", "lightgbm", "none", "mlp", "ensemble_mlp")

PlanSemantics = Literal["relative", "absolute"]
_SEMANTICS: tuple[str, ...] = ("relative", "absolute")
_RATE_LEVERS = tuple(
    LEVER_INDEX[name]
    for name in (
        "retention_rate",
        "class_attendance_rate",
        "staff_utilization_rate",
        "upsell_rate",
    )
)
# Upper bound of each lever once shifted by a relative plan: rates stay fractions.
_LEVER_CEILING = np.array(
    [1.0 if i in _RATE_LEVERS else np.inf for i in range(len(LEVERS))]
)
# Studios whose residuals the cross-conformal calibration scores, at most (see
# ForwardModel._calibration_residuals); whole folds are scored until it is reached.
_CALIBRATION_STUDIOS = 200
# The confidence score's tolerance: the chance of landing within +-10% of actual.
_CONFIDENCE_TOLERANCE = float(np.log(1.10))
_FORMAT_VERSION = 1
#: Bound on a learned log-correction: a factor beyond e^+-1 (x0.37..x2.7) of the
#: structural forecast is never a plausible month, whatever a learner says.
_G_LIMIT = 1.0
_MANIFEST = "model.json"


@dataclass(frozen=True)
class StudioState:
    """Everything :meth:`ForwardModel.predict` needs about one studio at a base month.

    Attributes
    ----------
    unique_id : str
        Studio id.
    base_month : pandas.Timestamp
        The last month of history used.
    members, revenue : float
        Members and total revenue in the base month.
    capacity : float
        Studio max capacity (people per class).
    levers : numpy.ndarray
        Shape (7,): the base month's lever values in :data:`LEVERS` order. A
        relative plan equal to them is the status quo.
    reference : numpy.ndarray
        Shape (7,): the studio's recent lever levels (the mean of the non-outlier
        months among the last ``reference_window``, carried to the first projected
        month along their trend), where the structural core runs the status quo.
    constants : numpy.ndarray
        Shape (5,): the studio's revenue-formula constants at the base month.
    revenue_correction, members_correction : numpy.ndarray
        Shape (max_horizon,): ``g`` per horizon, on the log scale.
    """

    unique_id: str
    base_month: pd.Timestamp
    members: float
    revenue: float
    capacity: float
    levers: np.ndarray
    reference: np.ndarray
    constants: np.ndarray
    revenue_correction: np.ndarray
    members_correction: np.ndarray


@dataclass(frozen=True)
class ForecastResult:
    """Forecast for ``n`` plans over ``horizon`` months; every array is (n, horizon).

    Attributes
    ----------
    revenue, members : numpy.ndarray
        Point forecasts (members at the end of each month).
    retention : numpy.ndarray
        The retention the forecast assumes: the plan's own under an absolute plan;
        under a relative plan the studio's reference retention shifted by the plan's
        change, which is what the member roll-forward used.
    revenue_lower, revenue_upper : numpy.ndarray
        Conformal interval at ``coverage``.
    confidence : numpy.ndarray
        Calibrated probability that actual revenue lands within +-10% of
        ``revenue``: the share of the calibration forecasts at the same horizon and
        plan semantics that did (see :meth:`HorizonConformal.within`).
    months : pandas.DatetimeIndex
        The projected months.
    coverage : float
        Nominal coverage of the interval.
    base_revenue : float
        Revenue in the base month.
    plan : str
        The plan semantics used.
    """

    revenue: np.ndarray
    members: np.ndarray
    retention: np.ndarray
    revenue_lower: np.ndarray
    revenue_upper: np.ndarray
    confidence: np.ndarray
    months: pd.DatetimeIndex
    coverage: float
    base_revenue: float
    plan: str

    @property
    def total_revenue(self) -> np.ndarray:
        """Revenue summed over the projected months, shape (n,)."""
        return self.revenue.sum(axis=1)

    @property
    def growth_rate(self) -> np.ndarray:
        """Last projected month's revenue against the base month's, shape (n,)."""
        return self.revenue[:, -1] / self.base_revenue - 1.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _month_start(value: Any) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InsufficientHistoryError(f"base month {value!r} is not a month") from exc
    return stamp.to_period("M").to_timestamp()


class ForwardModel:
    """Global forward model over all studios (scikit-learn conventions).

    Parameters
    ----------
    max_horizon : int, default 12
        Longest projection, 1..12 months.
    correction : {"ensemble", "lightgbm", "none", "mlp", "ensemble_mlp"}, default "ensemble"
        The learner of the multiplicative correction ``g``: the validation-weighted
        ensemble of LightGBM, an XGBoost random forest and a ridge model, LightGBM
        alone, or no correction (structural core only); "mlp" is a multilayer
        perceptron (64-32-16) alone and "ensemble_mlp" the ensemble with it as a
        fourth member. The README compares them.
    correct_members : bool, default True
        Whether members get their own learned correction (status-quo drift of the
        member count, e.g. the January sign-ups a flat plan does not contain).
    window : int, default 6
        Trailing months behind a studio's revenue-formula constants.
    reference_window, trend_span : int, default 12 and 36
        Trailing months behind the reference levers: their level and the trend
        that carries it to the first projected month. Outlier months are left out.
    min_history : int, default 3
        Months of history a base month needs (itself included).
    calibration_folds : int, default 4
        Studio folds of the cross-conformal calibration: the residuals of every
        clean train- and validation-split pair of a studio come from a correction
        fitted without that studio. Folds are scored until 200 studios are, so
        thousands of studios cost one extra fit, not four. 0 or 1 calibrates on
        the validation pairs alone, scored by the final correction (plain split
        conformal).
    n_estimators, learning_rate, num_leaves, min_child_samples : int or float
        LightGBM settings of the correction.
    random_state : int, default 0
        Seed of every learner.
    n_jobs : int, default 1
        Threads for training; predictions do not depend on it.
    """

    def __init__(
        self,
        *,
        max_horizon: int = MAX_HORIZON,
        correction: Literal[
            "lightgbm", "ensemble", "none", "mlp", "ensemble_mlp"
        ] = "ensemble",
        correct_members: bool = True,
        window: int = DEFAULT_WINDOW,
        reference_window: int = 12,
        trend_span: int = 36,
        min_history: int = 3,
        calibration_folds: int = 4,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.max_horizon = max_horizon
        self.correction = correction
        self.correct_members = correct_members
        self.window = window
        self.reference_window = reference_window
        self.trend_span = trend_span
        self.min_history = min_history
        self.calibration_folds = calibration_folds
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ config
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters, as scikit-learn's ``get_params`` returns them."""
        return {
            "max_horizon": self.max_horizon,
            "correction": self.correction,
            "correct_members": self.correct_members,
            "window": self.window,
            "reference_window": self.reference_window,
            "trend_span": self.trend_span,
            "min_history": self.min_history,
            "calibration_folds": self.calibration_folds,
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "random_state": self.random_state,
            "n_jobs": self.n_jobs,
        }

    def _check_params(self) -> None:
        if not 1 <= self.max_horizon <= MAX_HORIZON:
            raise ValueError(
                f"max_horizon must be in 1..{MAX_HORIZON}, got {self.max_horizon}"
            )
        if self.correction not in CORRECTIONS:
            raise ValueError(f"unknown correction {self.correction!r}")
        if self.min_history < 1 or self.window < 1:
            raise ValueError("min_history and window must be at least 1")

    def _lightgbm(self) -> LightGBMCorrection:
        return LightGBMCorrection(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )

    def _mlp(self) -> MLPCorrection:
        return MLPCorrection(random_state=self.random_state, n_jobs=self.n_jobs)

    def _feature_params(self) -> dict[str, int]:
        return {
            "window": self.window,
            "reference_window": self.reference_window,
            "trend_span": self.trend_span,
        }

    def _check_fitted(self) -> None:
        if not hasattr(self, "calibration_"):
            raise NotFittedError(
                "this ForwardModel is not fitted; call fit() or load() first"
            )

    # --------------------------------------------------------------------- fit
    def fit(self, frame: pd.DataFrame) -> ForwardModel:
        """Fit the global corrections on train pairs, then calibrate the intervals.

        Training pairs are (base month t, horizon h) with the target month ``t + h``
        in the train split; the validation pairs weight the ensemble and calibrate
        absolute plans; relative plans are calibrated cross-conformally (see
        ``calibration_folds``). Pairs whose projected months include a flagged
        outlier month are left out throughout: a one-off shock is not something to
        learn to predict.

        Parameters
        ----------
        frame : pandas.DataFrame
            Long-format history of every studio with a ``split`` column.

        Returns
        -------
        ForwardModel
            ``self``.
        """
        self._check_params()
        frame = validate_frame(frame, require_split=True)
        features = frame_features(frame, **self._feature_params())
        pairs = build_pairs(
            frame, features, max_horizon=self.max_horizon, min_history=self.min_history
        )
        # Log ratios need positive revenue and members on both sides.
        clean = (
            ~pairs.path_outlier
            & (pairs.actual > 0)
            & (pairs.status_quo > 0)
            & (pairs.what_if > 0)
            & (pairs.actual_members > 0)
            & (pairs.status_quo_members > 0)
        )
        train = pairs.subset(clean & (pairs.target_split == 0))
        val = pairs.subset(clean & (pairs.target_split == 1))
        if len(train.actual) == 0 or len(val.actual) == 0:
            raise ValueError(
                "fit needs pairs with a target in the train split (at least "
                f"{self.min_history} months into a history) and in the validation "
                "split, outside outlier months; with the last 12 months held out for "
                f"validation and test, histories need {self.min_history + 13}+ months"
            )

        y_train = np.log(train.actual / train.status_quo)
        y_val = np.log(val.actual / val.status_quo)
        self.correction_ = self._fit_correction(train.X, y_train, val.X, y_val)
        if self.correct_members:
            members_model = self._lightgbm()
            self.members_correction_ = members_model.fit(
                train.X, np.log(train.actual_members / train.status_quo_members)
            )
        else:
            self.members_correction_ = None

        # Relative forecasts are calibrated cross-conformally on every clean pair of
        # the train and validation splits (see _calibration_residuals); absolute
        # ones involve no learned part, so the validation pairs, the months nearest
        # the future, calibrate them directly.
        calibration = (
            pairs.subset(clean & (pairs.target_split <= 1))
            if self.calibration_folds >= 2
            else val
        )
        self.calibration_ = {
            "relative": HorizonConformal.fit(
                *self._calibration_residuals(calibration), self.max_horizon
            ),
            "absolute": HorizonConformal.fit(
                np.log(val.actual / val.what_if), val.horizon, self.max_horizon
            ),
        }
        self.feature_names_ = list(PAIR_FEATURES)
        self.training_summary_ = {
            "studios": int(frame["unique_id"].nunique()),
            "rows": len(frame),
            "train_pairs": len(train.actual),
            "calibration_pairs": int(self.calibration_["relative"].n),
            "months_start": f"{frame['ds'].min():%Y-%m}",
            "months_end": f"{frame['ds'].max():%Y-%m}",
        }
        return self

    def _calibration_residuals(self, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-sample log residuals of the relative forecast on ``pairs``.

        With ``calibration_folds >= 2`` (cross-conformal by studio) the studios are
        split into folds and each fold's pairs, whatever their split, are scored by
        a correction fitted on the train-split targets of the other folds only.
        Without folds, ``pairs`` are the validation pairs and the final correction
        scores them.

        Returns
        -------
        residuals, horizon : numpy.ndarray
            The scored pairs' log residuals and horizons.
        """
        y = np.log(pairs.actual / pairs.status_quo)
        if self.calibration_folds < 2:
            return y - self._predict_g(pairs.X), pairs.horizon
        rng = np.random.default_rng(self.random_state)
        fold_of_studio = rng.permutation(len(pairs.uids)) % self.calibration_folds
        fold = fold_of_studio[pairs.studio]
        train, val = pairs.target_split == 0, pairs.target_split == 1
        # Residuals of a few hundred studios calibrate as well as those of
        # thousands: past that, the remaining folds are not scored (nor fitted).
        scored_studios = 0
        keep = np.zeros(len(y), dtype=bool)
        g = np.zeros(len(y))
        for k in range(self.calibration_folds):
            if scored_studios >= _CALIBRATION_STUDIOS:
                break
            scored = fold == k
            if not scored.any():
                continue
            others = ~scored
            learner = self._fit_correction(
                pairs.X[others & train],
                y[others & train],
                pairs.X[others & val],
                y[others & val],
            )
            if learner is not None:
                g[scored] = np.clip(
                    learner.predict(pairs.X[scored]), -_G_LIMIT, _G_LIMIT
                )
            keep |= scored
            scored_studios += int((fold_of_studio == k).sum())
        return (y - g)[keep], pairs.horizon[keep]

    def _fit_correction(
        self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray
    ) -> Any:
        if self.correction == "none":
            return None
        if self.correction == "lightgbm":
            return self._lightgbm().fit(X, y)
        if self.correction == "mlp":
            return self._mlp().fit(X, y)
        learners = [
            self._lightgbm().fit(X, y),
            XGBForestCorrection(random_state=self.random_state, n_jobs=self.n_jobs).fit(
                X, y
            ),
            RidgeCorrection().fit(X, y),
        ]
        if self.correction == "ensemble_mlp":
            learners.append(self._mlp().fit(X, y))
        return WeightedEnsemble.from_validation(learners, X_val, y_val)

    def _predict_g(self, X: np.ndarray) -> np.ndarray:
        if self.correction_ is None:
            return np.zeros(len(X))
        return np.clip(self.correction_.predict(X), -_G_LIMIT, _G_LIMIT)

    # ------------------------------------------------------------------ states
    def make_state(self, history: pd.DataFrame, base_month: Any) -> StudioState:
        """Context of one studio at a base month.

        Parameters
        ----------
        history : pandas.DataFrame
            The studio's long-format history (one ``unique_id``). Rows after
            ``base_month`` are ignored, so passing the full history is safe.
        base_month : str, date or Timestamp
            The last month of history to use ("2024-01", a date in that month...).

        Returns
        -------
        StudioState

        Raises
        ------
        InsufficientHistoryError
            If the history has no row for ``base_month`` or fewer than
            ``min_history`` months up to it.
        FrameError
            If the history breaks the frame contract or holds several studios.
        """
        self._check_fitted()
        month = _month_start(base_month)
        if isinstance(history, pd.DataFrame) and history.empty:
            raise InsufficientHistoryError(f"no history at all up to {month:%Y-%m}")
        history = validate_frame(history)
        uids = history["unique_id"].unique()
        if len(uids) != 1:
            raise FrameError(
                f"make_state needs the history of exactly one studio, got {len(uids)}"
            )
        upto = history.loc[history["ds"] <= month]
        if upto.empty or upto["ds"].iloc[-1] != month:
            raise InsufficientHistoryError(
                f"studio {uids[0]!r} has no data for base month {month:%Y-%m}"
            )
        if len(upto) < self.min_history:
            raise InsufficientHistoryError(
                f"studio {uids[0]!r} has {len(upto)} months of history up to {month:%Y-%m}; "
                f"the model needs at least {self.min_history}"
            )
        first = upto.iloc[0]
        studio = studio_features(
            {
                name: upto[name].to_numpy()
                for name in ("ds", "is_outlier", *METRIC_FIELDS)
            },
            studio_type=first["studio_type"],
            max_capacity=first["max_capacity"],
            square_footage=first["square_footage"],
            opening_date=first["opening_date"],
            **self._feature_params(),
        )
        return self._states(str(uids[0]), studio, np.array([len(upto) - 1]))[0]

    def _states(
        self, uid: str, studio: StudioFeatures, base_index: np.ndarray
    ) -> list[StudioState]:
        """States at several base months of one studio, with one learner call each."""
        n, horizons = len(base_index), self.max_horizon
        _, sq_revenue = status_quo_path(studio, base_index, horizons)
        b = np.repeat(base_index, horizons)
        h = np.tile(np.arange(1, horizons + 1), n)
        X = pair_feature_matrix(studio, b, h, sq_revenue.ravel())
        g = self._predict_g(X).reshape(n, horizons)
        if self.members_correction_ is not None:
            g_members = np.clip(
                self.members_correction_.predict(X), -_G_LIMIT, _G_LIMIT
            ).reshape(n, horizons)
        else:
            g_members = np.zeros((n, horizons))
        return [
            StudioState(
                unique_id=uid,
                base_month=pd.Timestamp(studio.ds[i]),
                members=float(studio.members[i]),
                revenue=float(np.exp(studio.log_revenue[i])),
                capacity=studio.capacity,
                levers=studio.levers[i].copy(),
                reference=studio.reference[i].copy(),
                constants=studio.constants[i].copy(),
                revenue_correction=g[k],
                members_correction=g_members[k],
            )
            for k, i in enumerate(base_index)
        ]

    def states_for_frame(
        self,
        frame: pd.DataFrame,
        *,
        base_months: Mapping[str, list[int]] | None = None,
    ) -> dict[tuple[str, pd.Timestamp], StudioState]:
        """States of many studios and base months in one pass (evaluation, batch jobs).

        Parameters
        ----------
        frame : pandas.DataFrame
            Long-format history of one or more studios.
        base_months : mapping of str to list of int, optional
            Per studio, the row positions (0-based within its history) of the base
            months wanted; default every month with enough history.

        Returns
        -------
        dict of (unique_id, base month) to StudioState
        """
        self._check_fitted()
        frame = validate_frame(frame)
        features = frame_features(frame, **self._feature_params())
        out: dict[tuple[str, pd.Timestamp], StudioState] = {}
        for uid, group in frame.groupby("unique_id", sort=False):
            uid = str(uid)
            if base_months is None:
                wanted = np.arange(self.min_history - 1, len(group))
            else:
                wanted = np.asarray(
                    sorted(set(base_months.get(uid, []))), dtype=np.int64
                )
                wanted = wanted[
                    (wanted >= self.min_history - 1) & (wanted < len(group))
                ]
            if len(wanted) == 0:
                continue
            states = self._states(uid, features[uid], wanted)
            out.update({(uid, state.base_month): state for state in states})
        return out

    # ----------------------------------------------------------------- predict
    def predict(
        self,
        state: StudioState,
        levers: np.ndarray,
        horizon: int = 3,
        coverage: float = 0.8,
        *,
        plan: PlanSemantics = "relative",
    ) -> ForecastResult:
        """Forecast revenue, members and retention for ``n`` plans.

        Parameters
        ----------
        state : StudioState
            From :meth:`make_state`.
        levers : array-like
            Shape (n, 7) for plans held constant over the horizon, (n, horizon, 7)
            for month-by-month plans, or (7,) for one constant plan; last axis in
            :data:`LEVERS` order. Rates are fractions in [0, 1]; nothing negative.
        horizon : int, default 3
            Months to project, 1..max_horizon.
        coverage : float, default 0.8
            Coverage of the revenue interval, in (0, 1).
        plan : {"relative", "absolute"}, default "relative"
            How to read the plan (see the module docstring).

        Returns
        -------
        ForecastResult

        Raises
        ------
        LeverError
            On a plan of the wrong shape, a non-finite or negative value, or a rate
            above 1.
        ValueError
            On a horizon, coverage or plan semantics out of range.
        """
        self._check_fitted()
        if (
            not isinstance(horizon, int | np.integer)
            or not 1 <= horizon <= self.max_horizon
        ):
            raise ValueError(
                f"horizon must be an integer in 1..{self.max_horizon}, got {horizon!r}"
            )
        if not 0.0 < coverage < 1.0:
            raise ValueError(f"coverage must be in (0, 1), got {coverage!r}")
        if plan not in _SEMANTICS:
            raise ValueError(f"plan must be one of {_SEMANTICS}, got {plan!r}")
        path = _plan_array(levers, horizon)
        if plan == "relative":
            # The plan's change against the base month, applied to the studio's
            # reference levels: a plan equal to the base month is the status quo.
            path = np.clip(path - state.levers + state.reference, 0.0, _LEVER_CEILING)
        members, revenue = structural_path(
            np.full(len(path), state.members), path, state.constants, state.capacity
        )
        if plan == "relative":
            revenue = revenue * np.exp(state.revenue_correction[:horizon])
            members = members * np.exp(state.members_correction[:horizon])
        calibration = self.calibration_[plan]
        lower_q, upper_q = calibration.interval(horizon, coverage)
        confidence = calibration.within(_CONFIDENCE_TOLERANCE, horizon)
        start = state.base_month + pd.DateOffset(months=1)
        return ForecastResult(
            revenue=revenue,
            members=members,
            retention=path[:, :, LEVER_INDEX["retention_rate"]].copy(),
            revenue_lower=revenue * np.exp(lower_q),
            revenue_upper=revenue * np.exp(upper_q),
            confidence=np.broadcast_to(confidence, revenue.shape).copy(),
            months=pd.date_range(start, periods=horizon, freq="MS"),
            coverage=float(coverage),
            base_revenue=state.revenue,
            plan=plan,
        )

    # ------------------------------------------------------------- persistence
    def save(self, directory: str | os.PathLike[str]) -> dict[str, str]:
        """Write the fitted model to ``directory`` without pickle.

        LightGBM boosters go in their native text format, XGBoost boosters as JSON,
        everything else (configuration, calibration quantiles, feature list,
        library versions) in ``model.json``. Files are written to a temporary
        directory next to the target and moved into place with one ``os.replace``,
        so a reader never sees a half-written model.

        Parameters
        ----------
        directory : path-like
            Target directory; replaced if it exists.

        Returns
        -------
        dict of str to str
            File name -> SHA-256 hex digest, for :meth:`load`'s ``expected_sha256``.
        """
        self._check_fitted()
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            manifest = {
                "format_version": _FORMAT_VERSION,
                "params": self.get_params(),
                "feature_names": self.feature_names_,
                "levers": list(LEVERS),
                "correction": (
                    self.correction_.save(staging, "revenue")
                    if self.correction_ is not None
                    else None
                ),
                "members_correction": (
                    self.members_correction_.save(staging, "members")
                    if self.members_correction_ is not None
                    else None
                ),
                "calibration": {k: v.to_json() for k, v in self.calibration_.items()},
                "training_summary": self.training_summary_,
                "library_versions": _library_versions(),
            }
            (staging / _MANIFEST).write_text(json.dumps(manifest, indent=1))
            checksums = {path.name: _sha256(path) for path in sorted(staging.iterdir())}
            if target.exists():
                # os.replace cannot overwrite a non-empty directory: move the old one
                # aside first, then drop it once the new one is in place.
                old = Path(
                    tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent)
                )
                os.replace(target, old / target.name)
                os.replace(staging, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return checksums

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        expected_sha256: Mapping[str, str] | None = None,
    ) -> ForwardModel:
        """Load a model written by :meth:`save`.

        Parameters
        ----------
        directory : path-like
            The saved model's directory.
        expected_sha256 : mapping of str to str, optional
            File name -> SHA-256 as :meth:`save` returned it. When given, every file
            is checked before anything is parsed, and the directory must hold
            exactly these files.

        Returns
        -------
        ForwardModel

        Raises
        ------
        ArtifactIntegrityError
            If a file is missing, unexpected, or its checksum differs.
        """
        source = Path(directory)
        if not (source / _MANIFEST).is_file():
            raise ArtifactIntegrityError(f"{source} holds no {_MANIFEST}")
        if expected_sha256 is not None:
            present = {path.name for path in source.iterdir() if path.is_file()}
            for name, digest in sorted(expected_sha256.items()):
                if name not in present:
                    raise ArtifactIntegrityError(
                        f"model file {name!r} is missing from {source}"
                    )
                actual = _sha256(source / name)
                if actual != digest:
                    raise ArtifactIntegrityError(
                        f"model file {name!r} has SHA-256 {actual}, expected {digest}"
                    )
            unexpected = sorted(present - set(expected_sha256))
            if unexpected:
                raise ArtifactIntegrityError(
                    f"unexpected files in {source}: {unexpected}"
                )
        manifest = json.loads((source / _MANIFEST).read_text())
        if manifest.get("format_version") != _FORMAT_VERSION:
            raise ArtifactIntegrityError(
                f"unsupported model format {manifest.get('format_version')!r}"
            )
        model = cls(**manifest["params"])
        model.feature_names_ = list(manifest["feature_names"])
        model.correction_ = (
            learner_from_spec(source, manifest["correction"])
            if manifest["correction"]
            else None
        )
        model.members_correction_ = (
            learner_from_spec(source, manifest["members_correction"])
            if manifest["members_correction"]
            else None
        )
        model.calibration_ = {
            k: HorizonConformal.from_json(v) for k, v in manifest["calibration"].items()
        }
        model.training_summary_ = dict(manifest["training_summary"])
        return model


def _library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__,
        "xgboost": xgboost.__version__,
    }


def _plan_array(levers: Any, horizon: int) -> np.ndarray:
    """Validate a plan and broadcast it to shape (n, horizon, 7)."""
    try:
        array = np.asarray(levers, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LeverError(f"levers must be numeric: {exc}") from exc
    width = len(LEVERS)
    if array.ndim == 1 and array.shape == (width,):
        array = array[None, :]
    if array.ndim == 2 and array.shape[1] == width and array.shape[0] >= 1:
        array = np.repeat(array[:, None, :], horizon, axis=1)
    elif not (
        array.ndim == 3 and array.shape[1:] == (horizon, width) and array.shape[0] >= 1
    ):
        raise LeverError(
            f"levers must have shape (n, {width}) or (n, {horizon}, {width}) in the order "
            f"{LEVERS}; got {array.shape}"
        )
    if not np.isfinite(array).all():
        raise LeverError("levers must be finite numbers")
    if (array < 0).any():
        bad = sorted({LEVERS[j] for j in np.argwhere(array < 0)[:, -1]})
        raise LeverError(f"levers cannot be negative: {bad}")
    rates = array[..., list(_RATE_LEVERS)]
    if (rates > 1.0).any():
        bad = sorted({LEVERS[_RATE_LEVERS[j]] for j in np.argwhere(rates > 1.0)[:, -1]})
        raise LeverError(f"rate levers are fractions in [0, 1]; out of range: {bad}")
    return array
