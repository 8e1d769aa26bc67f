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
    on the plan itself with a correction of its own, mixed per horizon band with
    the plain forecast (the status quo's) by a weight learned out of sample
    (``what_if_weight_``). Where an export's new and churned members are noisier
    than its member count, the roll-forward of the plan's flows is worse than
    "members stay" at short horizons, and the mix leans on the plain forecast
    there: knowing the plan never makes the forecast worse than not knowing it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import platform
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightgbm
import numpy as np
import pandas as pd
import sklearn
import xgboost

from forecasting.ml.calibration import LEVELS, HorizonConformal
from forecasting.ml.corrections import (
    AnchorCorrection,
    LightGBMCorrection,
    MLPCorrection,
    RidgeCorrection,
    WeightedEnsemble,
    XGBForestCorrection,
    banded_mix_weights,
    banded_stacking_weights,
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
    DEFAULT_ATTENDANCE_SHARE,
    DEFAULT_WINDOW,
    MAX_HORIZON,
    FeatureBlock,
    StudioFeatures,
    attendance_share,
    frame_feature_blocks,
    frame_features,
    studio_features,
)
from forecasting.ml.frame import (
    ANOMALY_FACTOR,
    ANOMALY_RULE,
    LEVERS,
    METRIC_FIELDS,
    validate_frame,
)
from forecasting.ml.pairs import (
    PAIR_FEATURES,
    Pairs,
    build_pairs,
    pair_feature_matrix,
    status_quo_path,
)
from forecasting.ml.response import Responses, fit_responses
from forecasting.ml.screening import screen_training_frame
from forecasting.ml.structural import LEVER_INDEX, structural_path
from studios.month_checks import unfinished_month

__all__ = [
    "CORRECTIONS",
    "RESPONSE_ERROR",
    "ForecastResult",
    "ForwardModel",
    "LatestForecast",
    "PlanSemantics",
    "StudioContext",
    "StudioState",
]

#: The values of ForwardModel's ``correction`` parameter.
CORRECTIONS: tuple[str, ...] = ("ensemble", "lightgbm", "none", "mlp", "ensemble_mlp")

#: The relative error of the model's lever responses: a plan whose modelled log
#: revenue lift over the status quo is ``L`` is taken to be off by a normal error
#: of standard deviation ``RESPONSE_ERROR x |L|`` on the log scale, on top of the
#: calibrated forecast error (which is that of the levers the studios actually
#: ran). Measured by ``bench/levers.py`` on held-out generated studios: the
#: least-squares fit of the world's log lift against the model's, bias included,
#: over every studio, 1x and 2x the bench's changes and months 1, 3, 6 of the
#: levers a plan moves (those the model sees a revenue response of at least 0.5%
#: in; the inverse pulls back any change without revenue): 0.149 when it was set
#: (0.303 with classes held, whose modelled response was then nil), 0.124 since
#: the model learned the classes response (docs/benchmarks.md "Lever
#: responses"); kept at 0.15, the value the closed loop was measured with. The
#: default of the ``response_error`` parameter, and what a model saved without
#: one loads with.
RESPONSE_ERROR = 0.15

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
# The horizon bands: the stacking sets one mix of learners per band, and the
# anchors the stacking may lean on are per band: (anchor, first, last horizon).
_ANCHOR_BANDS = ((1, 1), (2, 3), (4, 6), (7, 12))
_HORIZON_COLUMN = PAIR_FEATURES.index("horizon")
_SEASONAL_NAIVE_COLUMN = PAIR_FEATURES.index("seasonal_naive_gap")
# The revenue correction's stacking bands: month 1, where persistence is strongest,
# apart from the rest (four bands, as the members', measured slightly worse at
# months 2-12 on the messy benchmark: more weights than its pairs support).
_STACKING_BANDS = ((1, 1), (2, 12))
_ANCHORS = tuple(
    (anchor, low, high)
    for anchor in ("naive", "per_member", "seasonal", "seasonal_naive")
    for low, high in _ANCHOR_BANDS
)
# Studios with training pairs below which no correction is learned.
_MIN_CORRECTION_STUDIOS = 5
# Out-of-sample pairs below which the learners' weights come from validation.
_MIN_STACKING = 50
# Where each semantics' correction lives on a fitted model.
_CORRECTION_ATTRIBUTE = {"relative": "correction_", "absolute": "absolute_correction_"}
# Studio folds of the pass over unseen studios (each fold's learners see 3/4 of
# the studios; with 3 folds, held-out studios' intervals covered 85.0% and
# 86.6% (what-if) against 83.8% and 85.0% with 4).
_STUDIO_FOLDS = 4
# Calibration residuals one month ahead below which rolling origins give way to
# studio folds (HorizonConformal needs 20 at horizon 1).
_MIN_ONE_AHEAD = 20
# Months in a split (validation, test) and between calibration origins.
_HALF_YEAR = 6
# The confidence score's tolerance: the chance of landing within +-10% of actual.
_CONFIDENCE_TOLERANCE = float(np.log(1.10))
_FORMAT_VERSION = 2
# The default of _predict_g's learner: the final relative correction.
_FINAL = object()
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
    has_data : numpy.ndarray of bool
        Shape (7,): whether the studio has data on each lever (in the last 12
        months); where it has none, ``levers`` and ``reference`` hold 0.
    known : numpy.ndarray of bool
        Shape (7,): whether each lever is modelled for the studio (data and a
        revenue effect, see :class:`forecasting.ml.features.StudioFeatures`). A
        lever not modelled is held at its base value whatever the plan says.
    flow : float
        The studio's member-flow residual per member and month (see
        :func:`forecasting.ml.features.member_flow_residual`).
    revenue_correction, members_correction : numpy.ndarray
        Shape (max_horizon,): ``g`` per horizon of relative plans, log scale.
    absolute_correction : numpy.ndarray
        Shape (max_horizon,): ``g`` per horizon of absolute plans, log scale.
    seen : bool
        Whether the studio took part in training; the intervals of a studio that
        did not are calibrated on studios the learners never saw.
    peak_members : float
        The studio's highest 3-month mean membership up to the base month (how
        near its market it is, for the saturation of extra new members; NaN when
        unknown, which counts as at its peak).
    """

    unique_id: str
    base_month: pd.Timestamp
    members: float
    revenue: float
    capacity: float
    levers: np.ndarray
    reference: np.ndarray
    constants: np.ndarray
    has_data: np.ndarray
    known: np.ndarray
    flow: float
    revenue_correction: np.ndarray
    members_correction: np.ndarray
    absolute_correction: np.ndarray
    seen: bool = True
    peak_members: float = float("nan")


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


@dataclass(frozen=True)
class BatchForecastResult:
    """Status-quo forecasts of ``n`` studios over ``horizon`` months.

    Every array is (n, horizon), as in :class:`ForecastResult`; row ``i`` starts
    the month after ``base_months[i]``.
    """

    revenue: np.ndarray
    members: np.ndarray
    retention: np.ndarray
    revenue_lower: np.ndarray
    revenue_upper: np.ndarray
    confidence: np.ndarray
    base_months: list[pd.Timestamp]
    coverage: float


@dataclass(frozen=True)
class LatestForecast:
    """Each studio's status quo from its latest month (:meth:`ForwardModel.forecast_latest`).

    Row ``i`` of ``result`` is studio ``unique_ids[i]`` from ``base_months[i]``,
    whose revenue was ``base_revenue[i]``; ``skipped`` maps each studio that
    could not be forecast to the reason.
    """

    unique_ids: list[str]
    base_months: list[pd.Timestamp]
    base_revenue: np.ndarray
    result: BatchForecastResult
    skipped: dict[str, str]


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


def _set_aside(month: pd.Timestamp) -> str:
    """Why a month the anomaly rule set aside is no base month, and what to do."""
    return (
        f"{month:%Y-%m} is treated as missing ({ANOMALY_RULE}); correct it, flag it "
        "as an outlier, or forecast from another month"
    )


def _calibration_key(plan: str, who: str) -> str:
    """``"relative"`` for seen studios, ``"relative_unseen"`` for the others."""
    return plan if who == "seen" else f"{plan}_unseen"


def _target(pairs: Pairs, plan: str) -> np.ndarray:
    """What a correction learns: log(actual / structural) under the plan semantics.

    Relative plans run the core on the status quo (the reference levers), absolute
    ones on the levers the studio then ran.
    """
    structural = pairs.status_quo if plan == "relative" else pairs.what_if
    return np.log(pairs.actual / structural)


class StudioContext:
    """One studio's features at every month, and its states built when asked for.

    What a service keeps per studio between requests (:meth:`ForwardModel.studio_context`):
    the features of the whole history are computed once, vectorised and cheap; the
    learners, most of a state's cost, run for a base month only the first time it
    is asked for, and the state is kept. ``state(month)`` equals
    ``model.states_for_frame(history)[(unique_id, month)]``. Safe to share between
    threads (a state built twice by a race is the same state).
    """

    def __init__(
        self,
        model: ForwardModel,
        unique_id: str,
        features: StudioFeatures,
        *,
        is_anomaly: np.ndarray,
        revenue: np.ndarray,
    ) -> None:
        self.unique_id = unique_id
        self._model = model
        self._features = features
        self._revenue = np.asarray(revenue, dtype=np.float64)
        self._anomaly = np.asarray(is_anomaly, dtype=bool)
        self._index = {pd.Timestamp(month): i for i, month in enumerate(features.ds)}
        self._states: dict[int, StudioState] = {}
        self._lock = threading.Lock()

    @property
    def built(self) -> int:
        """How many base months' states have been built so far."""
        return len(self._states)

    @property
    def latest_month(self) -> pd.Timestamp:
        """The last month of the studio's history."""
        return pd.Timestamp(self._features.ds[-1])

    def why_not(self, base_month: str | dt.date | pd.Timestamp) -> str | None:
        """Why no forecast can start at ``base_month`` (None when one can)."""
        month = _month_start(base_month)
        i = self._index.get(month)
        if i is None:
            first, last = (pd.Timestamp(self._features.ds[k]) for k in (0, -1))
            return f"its history covers {first:%Y-%m} to {last:%Y-%m}"
        if self._anomaly[i]:
            return _set_aside(month)
        if self._features.is_gap[i]:
            return f"{month:%Y-%m} is missing from its data"
        if i < self._model.min_history - 1:
            first = pd.Timestamp(self._features.ds[0])
            return (
                f"a forecast needs at least {self._model.min_history} months of "
                f"history up to the base month, and its history starts {first:%Y-%m}"
            )
        return None

    def base_month_notes(
        self, base_month: str | dt.date | pd.Timestamp, money: str = "$"
    ) -> list[str]:
        """What looks wrong with the base month's own figures, which a forecast
        starts from as they stand; amounts of money written after ``money`` (the
        studio's currency: ``$``, ``CHF ``).

        Its revenue or member count at least :data:`ANOMALY_FACTOR` times, or at
        most a third of, both the last month before it and the median of the 12
        before it (the median alone where the month before is 0 already: a
        closure that began earlier). A month in the middle of a history that
        does so and comes back is set aside (:data:`ANOMALY_RULE`); a base month
        is usually the latest, with no month after it to come back in, so a typo
        or an unrecorded month there cannot be told from a new level, and the
        answer says so instead. Short of that, a month whose revenue looks like
        part of a month while its member count held up (an export taken before
        the month ended, :func:`studios.month_checks.unfinished_month`) is noted
        too.
        """
        month = _month_start(base_month)
        i = self._index.get(month)
        if i is None:
            return []
        known = ~self._features.is_gap[:i]
        notes = []
        for label, values, is_money in (
            ("revenue", self._revenue, True),
            ("member count", np.asarray(self._features.members, dtype=float), False),
        ):
            before = values[:i][known]
            before = before[np.isfinite(before)][-12:]
            value = values[i]
            if len(before) == 0 or not np.isfinite(value):
                continue
            median = float(np.median(before))
            if median <= 0:
                continue
            sides = [("the median of the 12 months before it", median)]
            if before[-1] > 0:
                sides.insert(0, ("the month before", float(before[-1])))
            levels = [level for _, level in sides]
            if not (
                value >= ANOMALY_FACTOR * max(levels)
                or value * ANOMALY_FACTOR <= min(levels)
            ):
                continue

            def shown(x: float, is_money: bool = is_money) -> str:
                return f"{money}{x:,.0f}" if is_money else f"{x:,.0f}"

            compared = " and ".join(
                f"{value / level:.{1 if value >= level else 2}f}x {name} "
                f"({shown(level)})"
                for name, level in sides
            )
            notes.append(
                f"{month:%Y-%m}'s {label} ({shown(value)}) is {compared}: if it is "
                "a typo or a month the system did not record, correct it or flag it "
                "as an outlier; the forecast starts from it as it stands"
            )
        if notes or i == 0 or not known[-1]:
            return notes
        members = self._features.members
        why = unfinished_month(
            self._revenue[:i][known],
            float(self._revenue[i]),
            float(members[i - 1]),
            float(members[i]),
            money=money,
        )
        if why:
            notes.append(
                f"{month:%Y-%m} looks unfinished: {why}. If the month was exported "
                "before it ended, leave it out until it closes; the forecast starts "
                "from it as it stands"
            )
        return notes

    def state(self, base_month: str | dt.date | pd.Timestamp) -> StudioState | None:
        """The state at ``base_month``, or None where no forecast can start: outside
        the history, fewer than ``min_history`` months up to it, or a month that is
        missing or set aside (:meth:`ForwardModel.make_state` says which)."""
        i = self._index.get(_month_start(base_month))
        if i is None or i < self._model.min_history - 1 or self._features.is_gap[i]:
            return None
        with self._lock:
            state = self._states.get(i)
        if state is None:
            state = self._model._states(self.unique_id, self._features, np.array([i]))[
                0
            ]
            with self._lock:
                state = self._states.setdefault(i, state)
        return state


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
    min_training_months : int, default 18
        Months of data a studio needs to take part in training (the last 12 are
        validation and test); shorter studios are left out of training, with the
        reason in ``excluded_``, and can still be forecast.
    lever_responses : bool, default True
        Whether a relative plan's levers act on each other before the core runs
        (price on churn and sign-ups, classes on attendance and staff
        utilisation, utilisation on retention; see
        :mod:`forecasting.ml.response`), with coefficients learned from the
        training data (``responses_``).
    calibration : {"time", "studio"}, default "time"
        How the interval calibration gets out-of-sample residuals: from rolling
        origins in time (a correction that saw each studio's earlier history, as
        a served forecast does) or from folds of studios (see
        :meth:`_calibration_residuals`; the README compares them).
    calibration_folds : int, default 2
        Origins (``"time"``) or studio folds (``"studio"``) of the calibration,
        each one extra fit per plan semantics; at most 200 studios are scored, so
        thousands of studios cost no more. 0 or 1 calibrates on the validation
        pairs alone, scored by the final corrections (plain split conformal).
    n_estimators, learning_rate, num_leaves, min_child_samples : int or float
        LightGBM settings of the correction.
    random_state : int, default 0
        Seed of every learner.
    n_jobs : int, default 1
        Threads for training; predictions do not depend on it.
    response_error : float, default :data:`RESPONSE_ERROR`
        Relative error of the lever responses, for plans' probabilities (see
        :meth:`response_spread`); 0 leaves it out.
    what_if_mix : bool, default True
        Whether absolute plans' forecasts are mixed with the plain forecast by
        the out-of-sample weight per horizon band (``what_if_weight_``); False
        keeps the structural core on the plan alone (weight 1), for comparison.
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
        min_training_months: int = 18,
        lever_responses: bool = True,
        calibration: Literal["time", "studio"] = "time",
        calibration_folds: int = 2,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        random_state: int = 0,
        n_jobs: int = 1,
        response_error: float = RESPONSE_ERROR,
        what_if_mix: bool = True,
    ) -> None:
        self.max_horizon = max_horizon
        self.correction = correction
        self.correct_members = correct_members
        self.window = window
        self.reference_window = reference_window
        self.trend_span = trend_span
        self.min_history = min_history
        self.min_training_months = min_training_months
        self.lever_responses = lever_responses
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.response_error = response_error
        self.what_if_mix = what_if_mix

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
            "min_training_months": self.min_training_months,
            "lever_responses": self.lever_responses,
            "calibration": self.calibration,
            "calibration_folds": self.calibration_folds,
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "random_state": self.random_state,
            "n_jobs": self.n_jobs,
            "response_error": self.response_error,
            "what_if_mix": self.what_if_mix,
        }

    def _check_params(self) -> None:
        if not 1 <= self.max_horizon <= MAX_HORIZON:
            raise ValueError(
                f"max_horizon must be in 1..{MAX_HORIZON}, got {self.max_horizon}"
            )
        if self.correction not in CORRECTIONS:
            raise ValueError(f"unknown correction {self.correction!r}")
        if self.calibration not in ("time", "studio"):
            raise ValueError(f"unknown calibration {self.calibration!r}")
        if not (
            isinstance(self.response_error, int | float)
            and np.isfinite(self.response_error)
            and self.response_error >= 0
        ):
            raise ValueError(
                f"response_error must be a finite number >= 0, got {self.response_error!r}"
            )
        if self.min_history < 1 or self.window < 1:
            raise ValueError("min_history and window must be at least 1")
        if self.min_training_months < self.min_history + 13:
            raise ValueError(
                "min_training_months must leave train months before the 12 months "
                f"of validation and test: at least {self.min_history + 13}"
            )

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

    def _feature_params(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "reference_window": self.reference_window,
            "trend_span": self.trend_span,
            "attendance_share": getattr(
                self, "attendance_share_", DEFAULT_ATTENDANCE_SHARE
            ),
            "attendance_follow": getattr(self, "attendance_follow_", 0.0),
        }

    @functools.cached_property
    def _training_studio_set(self) -> frozenset[str]:
        return frozenset(self.training_studios_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "calibration_"):
            raise NotFittedError(
                "this ForwardModel is not fitted; call fit() or load() first"
            )

    # --------------------------------------------------------------------- fit
    def fit(self, frame: pd.DataFrame) -> ForwardModel:
        """Fit the global corrections on train pairs, then calibrate the intervals.

        Studios that cannot be learned from (see
        :func:`forecasting.ml.screening.screen_training_frame`) are left out, with
        their reasons in ``excluded_``; the others train. Training pairs are (base
        month t, horizon h) with the target month ``t + h`` in the train split;
        the validation pairs weight the ensembles; both plan semantics are
        calibrated cross-conformally (see ``calibration_folds``). Pairs whose
        projected months include a flagged outlier month (or a month missing from
        the history) are left out throughout: a one-off shock is not something to
        learn to predict. Unflagged months that leave a studio's level and return
        (see :func:`forecasting.ml.frame.check_frame`) count as missing; they are
        listed per studio in ``anomalous_months_``.

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
        screening = screen_training_frame(
            frame, min_months=self.min_training_months, require_split=True
        )
        self.excluded_ = screening.excluded
        anomalous = screening.frame.loc[
            screening.frame["is_anomaly"], ["unique_id", "ds"]
        ]
        self.anomalous_months_ = {
            str(uid): [f"{month:%Y-%m}" for month in group["ds"]]
            for uid, group in anomalous.groupby("unique_id", sort=True)
        }
        # Studios by their data, not their ids: the fit is the same for the same
        # chain under other ids (the database's are random UUIDs).
        frame, original_id = _labelled_by_content(screening.frame)
        self.attendance_share_ = attendance_share(frame)
        self.responses_ = fit_responses(frame) if self.lever_responses else None
        # The status quo's attendance follows the member count as the chain's
        # studios' does (features._member_scaled_attendance).
        self.attendance_follow_ = (
            0.0 if self.responses_ is None else float(self.responses_.follow)
        )
        features = frame_features(frame, **self._feature_params())
        pairs = build_pairs(
            frame, features, max_horizon=self.max_horizon, min_history=self.min_history
        )
        # Log ratios need positive revenue and members on both sides.
        clean = (
            ~pairs.path_outlier
            & ~pairs.base_gap
            & (pairs.actual > 0)
            & (pairs.status_quo > 0)
            & (pairs.what_if > 0)
            & (pairs.actual_members > 0)
            & (pairs.status_quo_members > 0)
        )
        # The usable pairs with a target in train or validation are all that is
        # used from here on: the full table (test targets, unclean pairs) and the
        # per-studio features are let go before the subsets are cut from them,
        # so a fit holds the design matrix about twice, not three or four times.
        kept = pairs.subset(clean & (pairs.target_split <= 1))
        uids = pairs.uids
        del pairs, features, clean
        train = kept.subset(kept.target_split == 0)
        val = kept.subset(kept.target_split == 1)
        calibration = kept if self.calibration_folds >= 2 else val
        del kept
        if len(train.actual) == 0 or len(val.actual) == 0:
            raise ValueError(
                "fit needs pairs with a target in the train split (at least "
                f"{self.min_history} months into a history) and in the validation "
                "split, outside outlier months; with the last 12 months held out for "
                f"validation and test, histories need {self.min_history + 13}+ months"
            )

        if self.correct_members:
            # The member count's correction: a booster beside "keep today's
            # members" per horizon band, stacked on the validation pairs (the
            # booster never saw them). On member lists the roll-forward describes
            # badly (freezes, transfers, floors) the stacking leans on persistence.
            members_learners = [
                self._lightgbm().fit(
                    train.X, np.log(train.actual_members / train.status_quo_members)
                ),
                *(
                    AnchorCorrection(
                        anchor="members_naive",
                        low=low,
                        high=high,
                        columns=self._anchor_columns(),
                    )
                    for low, high in _ANCHOR_BANDS
                ),
            ]
            self.members_correction_ = WeightedEnsemble.from_validation(
                members_learners,
                val.X,
                np.log(val.actual_members / val.status_quo_members),
                bands=_ANCHOR_BANDS,
                horizon_column=_HORIZON_COLUMN,
            )
        else:
            self.members_correction_ = None

        # Out-of-sample predictions of every learner (see _out_of_sample) set the
        # learners' weights and calibrate the intervals of both semantics.
        # Two out-of-sample passes (see _out_of_sample): rolling origins forecast
        # studios the learners saw, as served forecasts mostly do, and set the
        # learners' weights and the intervals of seen studios; studio folds
        # forecast studios they never saw, for the intervals of studios that
        # took no part in training (new ones, short ones).
        oos = {"seen": self._out_of_sample(calibration)}
        oos["unseen"] = (
            self._out_of_sample(calibration, "studio")
            if self.calibration == "time" and self.calibration_folds >= 2
            else oos["seen"]
        )
        # A chain of a handful of studios cannot teach a global correction that
        # generalises (measured on two studios: it doubled the month-1 error);
        # the structural core then stands alone.
        learn = len(np.unique(train.studio)) >= _MIN_CORRECTION_STUDIOS
        # The seasonal anchors exist only where the target's month a year before
        # lies in the studio's history, and predict 0 (the structural core)
        # elsewhere. Served forecasts start from a year of history or more, so
        # the stacking, the what-if mix and the intervals of the studios trained
        # on are fitted on those pairs where there are enough (see _a_year).
        a_year = np.isfinite(calibration.X[:, _SEASONAL_NAIVE_COLUMN])
        self.calibration_ = {}
        # Each plan's and pass's out-of-sample correction of the calibration pairs.
        oos_g: dict[tuple[str, str], np.ndarray] = {}
        for plan in _SEMANTICS:
            learners = (
                self._fit_learners(train.X, _target(train, plan)) if learn else []
            )
            y = _target(calibration, plan)
            # Weights that serve both: stacked on the out-of-sample forecasts of
            # seen studios and of unseen ones together.
            passes = list({id(v): v for v in oos.values()}.values())
            fitted = _a_year(
                np.concatenate([o["fitted"] for o in passes]),
                np.concatenate([a_year for _ in passes]),
                np.concatenate([calibration.horizon for _ in passes]),
            )
            # One set of weights per horizon band (see banded_stacking_weights).
            if fitted.sum() >= _MIN_STACKING and learners:
                weights = banded_stacking_weights(
                    np.concatenate([o[plan] for o in passes])[fitted],
                    np.concatenate([y for _ in passes])[fitted],
                    np.concatenate([calibration.horizon for _ in passes])[fitted],
                    _STACKING_BANDS,
                )
            elif learners:
                # Too few out-of-sample pairs: the final learners on validation.
                weights = banded_stacking_weights(
                    np.column_stack([lrn.predict(val.X) for lrn in learners]),
                    _target(val, plan),
                    val.horizon,
                    _STACKING_BANDS,
                )
            else:
                weights = np.zeros(0)
            ensemble = (
                WeightedEnsemble(
                    learners,
                    weights,
                    bands=_STACKING_BANDS,
                    horizon_column=_HORIZON_COLUMN,
                )
                if learners
                else None
            )
            setattr(self, _CORRECTION_ATTRIBUTE[plan], ensemble)
            for who, passed in oos.items():
                if self.calibration_folds < 2:
                    g = self._predict_g(calibration.X, ensemble)
                elif learners:
                    g = np.clip(
                        ensemble.combine(passed[plan], calibration.horizon),
                        -_G_LIMIT,
                        _G_LIMIT,
                    )
                else:
                    g = np.zeros(len(y))
                oos_g[plan, who] = g
        # The what-if forecast, mixed with the plain one: on the log scale and
        # against the structural core on the plan, the plain forecast is the
        # status quo's core and correction, log(status quo / what if) + g.
        y = _target(calibration, "absolute")
        plain = {
            who: np.log(calibration.status_quo / calibration.what_if)
            + oos_g["relative", who]
            for who in oos
        }
        if self.what_if_mix:
            kept = _a_year(
                np.concatenate([oos[who]["kept"] for who in oos]),
                np.concatenate([a_year for _ in oos]),
                np.concatenate([calibration.horizon for _ in oos]),
            )
            weight = banded_mix_weights(
                np.concatenate([oos_g["absolute", who] for who in oos])[kept],
                np.concatenate([plain[who] for who in oos])[kept],
                np.concatenate([y for _ in oos])[kept],
                np.concatenate([calibration.horizon for _ in oos])[kept],
                _ANCHOR_BANDS,
                groups=np.concatenate([calibration.studio for _ in oos])[kept],
            )
            self.what_if_weight_ = np.ones(self.max_horizon)
            for (low, high), band_weight in zip(_ANCHOR_BANDS, weight, strict=True):
                self.what_if_weight_[low - 1 : high] = band_weight
        else:
            self.what_if_weight_ = np.ones(self.max_horizon)
        w = self.what_if_weight_[calibration.horizon - 1]
        for who in oos:
            oos_g["absolute", who] = w * oos_g["absolute", who] + (1 - w) * plain[who]
        # Each pair's target calendar month: some months are harder to forecast
        # than others (see forecasting.ml.calibration).
        target_month = (
            calibration.base_ds.astype("datetime64[M]").astype(np.int64)
            + calibration.horizon
        ) % 12 + 1
        # And each pair's studio, by its id: some studios are harder to forecast
        # than others (see forecasting.ml.calibration).
        studio_id = np.array([original_id[str(uid)] for uid in uids])[
            calibration.studio
        ]
        origin = (calibration.target_from_end >= 2 * _HALF_YEAR).astype(np.int64)
        for (plan, who), g in oos_g.items():
            kept = oos[who]["kept"]
            if who == "seen":
                # Studios that took no part in training (new, short) keep every
                # pair: their forecasts may start within their first year.
                kept = _a_year(kept, a_year, calibration.horizon)
            self.calibration_[_calibration_key(plan, who)] = HorizonConformal.fit(
                (_target(calibration, plan) - g)[kept],
                calibration.horizon[kept],
                self.max_horizon,
                month=target_month[kept],
                # The plain forecast of a studio the calibration scored has a
                # width of its own, cross-fitted across the two rolling origins'
                # half-years; what-if forecasts keep the chain's (on three
                # generated 12-studio chains, studio widths took their cover
                # from 79.9% to 76.0%, and 72.7% at months 7-12).
                studio=(
                    studio_id[kept] if (plan, who) == ("relative", "seen") else None
                ),
                fold=origin[kept],
            )
        self.training_studios_ = sorted(original_id[str(uid)] for uid in uids)
        self.__dict__.pop("_training_studio_set", None)
        self.feature_names_ = list(PAIR_FEATURES)
        self.training_summary_ = {
            "studios": int(frame["unique_id"].nunique()),
            "rows": int((~frame["is_gap"]).sum()),
            "train_pairs": len(train.actual),
            "calibration_pairs": int(self.calibration_["relative"].n),
            "months_start": f"{frame['ds'].min():%Y-%m}",
            "months_end": f"{frame['ds'].max():%Y-%m}",
            "attendance_share": self.attendance_share_,
            "attendance_follow": self.attendance_follow_,
            "responses": (
                None if self.responses_ is None else self.responses_.to_json()
            ),
            "correction_learned": learn,
            "anomalous_months": self.anomalous_months_,
            "what_if_weight": [round(float(w), 2) for w in self.what_if_weight_],
            "excluded_studios": self.excluded_,
        }
        return self

    def calendar_widths(self) -> np.ndarray | None:
        """Each target calendar month's factor on the plain forecast's interval
        width for the studios trained on, January first (see
        :mod:`forecasting.ml.calibration`); None for a model saved before them."""
        self._check_fitted()
        return self.calibration_["relative"].calendar

    def studio_widths(self) -> dict[str, float]:
        """Each calibrated studio's factor on the plain forecast's interval width
        (see :mod:`forecasting.ml.calibration`), by studio id; empty for a model
        saved before them. A studio not in it has the chain's width (1)."""
        self._check_fitted()
        return dict(self.calibration_["relative"].studios or {})

    def what_if_bands(self) -> list[tuple[int, int, float]]:
        """The what-if mix's weight on the plan per horizon band.

        Returns
        -------
        list of (int, int, float)
            First and last month of each band (1, 2-3, 4-6, 7-12, up to
            ``max_horizon``) and the weight of the structural core on the plan
            there (1: the plan alone; 0: the plain forecast alone).
        """
        self._check_fitted()
        return [
            (a, min(b, self.max_horizon), float(self.what_if_weight_[a - 1]))
            for a, b in _ANCHOR_BANDS
            if a <= self.max_horizon
        ]

    def _out_of_sample(self, pairs: Pairs, how: str | None = None) -> dict[str, Any]:
        """Every learner's out-of-sample prediction of ``pairs``, both semantics.

        ``calibration="time"`` (rolling origins): a served forecast comes from a
        correction that has seen the studio's history up to some months before
        the base month, and none of what follows. Each origin ``k`` (1 to
        ``calibration_folds``, 2 by default) cuts every studio's history
        ``12 + 6k`` months before its end; learners fitted on the targets before
        the cut predict the pairs whose target lies 6 to 12 months after it,
        which is the geometry of the final model (fitted on targets up to 12
        months before the end) forecasting the test months. The first origin
        predicts the validation months, the second the half-year before. Earlier
        origins learn from shorter histories and give wider residuals than the
        final model's (measured: 12 studios, q10-q90 of month 1-3 residuals
        0.114 at the first origin, 0.125-0.140 at the second to fourth, 0.122 on
        test), so two are used. An origin with no target before
        its cut predicts nothing (0, the structural core alone): a conservative
        residual for the calibration, left out of the stacking. When the origins
        score fewer than 20 pairs one month ahead (short histories), the studio
        folds below are used instead.

        ``calibration="studio"`` (cross-conformal by studio): the studios are
        split into folds and each fold's pairs are predicted by learners fitted
        on the train-split targets of the other folds. It answers "a studio the
        model never saw", which over-states the error of forecasting the studios
        it did see, most with few studios.

        At most 200 studios are scored (the rest of the folds or of the studios
        are not fitted). With ``calibration_folds < 2`` nothing is fitted: the
        pairs are the validation pairs, for the final learners to score.

        Returns
        -------
        dict
            ``"relative"`` and ``"absolute"``: shape (n, learners) predictions,
            0 where not predicted; ``"kept"``: the pairs scored; ``"fitted"``:
            those scored by fitted learners.
        """
        n = len(pairs.horizon)
        width = len(self._learner_kinds())
        out: dict[str, Any] = {plan: np.zeros((n, width)) for plan in _SEMANTICS}
        out["kept"] = np.zeros(n, dtype=bool)
        out["fitted"] = np.zeros(n, dtype=bool)
        if self.calibration_folds < 2:
            out["kept"][:] = True
            return out
        y = {plan: _target(pairs, plan) for plan in _SEMANTICS}
        rng = np.random.default_rng(self.random_state)

        def score(fit_on: np.ndarray, scored: np.ndarray) -> None:
            out["kept"] |= scored
            # One copy of each side's rows serves both semantics.
            X_fit, X_scored = pairs.X[fit_on], pairs.X[scored]
            for plan in _SEMANTICS:
                learners = self._fit_learners(X_fit, y[plan][fit_on])
                if not learners:
                    continue
                out["fitted"] |= scored
                out[plan][scored] = np.column_stack(
                    [
                        np.clip(lrn.predict(X_scored), -_G_LIMIT, _G_LIMIT)
                        for lrn in learners
                    ]
                )

        how = how or self.calibration
        if how == "time":
            studios = np.arange(len(pairs.uids))
            if len(studios) > _CALIBRATION_STUDIOS:
                studios = rng.choice(studios, _CALIBRATION_STUDIOS, replace=False)
            chosen = np.isin(pairs.studio, studios)
            for k in range(1, self.calibration_folds + 1):
                cut = 2 * _HALF_YEAR + _HALF_YEAR * k
                scored = (
                    chosen
                    & (pairs.target_from_end < cut - _HALF_YEAR)
                    & (pairs.target_from_end >= cut - 2 * _HALF_YEAR)
                )
                if scored.any():
                    score(chosen & (pairs.target_from_end >= cut), scored)
            if (pairs.horizon[out["kept"]] == 1).sum() < _MIN_ONE_AHEAD:
                return self._out_of_sample(pairs, "studio")
        else:
            folds = (
                self.calibration_folds
                if self.calibration == "studio"
                else _STUDIO_FOLDS
            )
            fold_of_studio = rng.permutation(len(pairs.uids)) % folds
            fold = fold_of_studio[pairs.studio]
            train = pairs.target_split == 0
            scored_studios = 0
            for k in range(folds):
                if scored_studios >= _CALIBRATION_STUDIOS:
                    break
                scored = fold == k
                if not scored.any():
                    continue
                score(~scored & train, scored)
                scored_studios += int((fold_of_studio == k).sum())
        if not out["kept"].any():
            raise ValueError(
                "no pair could be scored for the interval calibration: histories "
                f"need at least {self.min_history + 3 * _HALF_YEAR} months"
            )
        return out

    def _learner_kinds(self) -> tuple[str, ...]:
        learned = {
            "none": (),
            "lightgbm": ("lightgbm",),
            "mlp": ("mlp",),
            "ensemble": ("lightgbm", "xgb_forest", "ridge"),
            "ensemble_mlp": ("lightgbm", "xgb_forest", "ridge", "mlp"),
        }[self.correction]
        if not learned:
            return ()
        return (*learned, *(f"anchor:{a}:{lo}:{hi}" for a, lo, hi in _ANCHORS))

    def _fit_learners(self, X: np.ndarray, y: np.ndarray) -> list[Any]:
        """The correction's learners fitted on ``(X, y)``; none without rows.

        Besides the learned ones, the anchors (:class:`AnchorCorrection`):
        persistence of the base month's revenue, or of its revenue per member,
        per horizon band, for the stacking to weigh.
        """
        if len(y) == 0:
            return []
        make = {
            "lightgbm": self._lightgbm,
            "xgb_forest": lambda: XGBForestCorrection(
                random_state=self.random_state, n_jobs=self.n_jobs
            ),
            "ridge": RidgeCorrection,
            "mlp": self._mlp,
        }
        columns = self._anchor_columns()
        learners = []
        for kind in self._learner_kinds():
            if kind.startswith("anchor:"):
                _, anchor, low, high = kind.split(":")
                learners.append(
                    AnchorCorrection(
                        anchor=anchor, low=int(low), high=int(high), columns=columns
                    )
                )
            else:
                learners.append(make[kind]().fit(X, y))
        return learners

    @staticmethod
    def _anchor_columns() -> dict[str, int]:
        """Positions in the design matrix of what the anchors read."""
        return {
            name: PAIR_FEATURES.index(name)
            for name in (
                "horizon",
                "status_quo_growth",
                "status_quo_member_growth",
                "seasonal_ratio_years",
                "seasonal_naive_gap",
            )
        }

    def _predict_g(self, X: np.ndarray, learner: Any = _FINAL) -> np.ndarray:
        """A correction's log factor, bounded; the final relative one by default."""
        if learner is _FINAL:
            learner = self.correction_
        if learner is None or len(X) == 0:
            return np.zeros(len(X))
        return np.clip(learner.predict(X), -_G_LIMIT, _G_LIMIT)

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
        if (
            not upto.empty
            and upto["ds"].iloc[-1] == month
            and upto["is_anomaly"].iloc[-1]
        ):
            raise InsufficientHistoryError(
                f"studio {uids[0]!r}: base month {_set_aside(month)}"
            )
        if upto.empty or upto["ds"].iloc[-1] != month or upto["is_gap"].iloc[-1]:
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
                for name in ("ds", "is_outlier", "is_gap", *METRIC_FIELDS)
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
        X = self._state_design(studio, base_index)
        return self._states_from(uid, studio, base_index, *self._corrections(X))

    def _state_design(
        self, studio: StudioFeatures, base_index: np.ndarray
    ) -> np.ndarray:
        """The learners' rows of a studio's base months: one per (base month, horizon)."""
        n, horizons = len(base_index), self.max_horizon
        sq_members, sq_revenue = status_quo_path(studio, base_index, horizons)
        b = np.repeat(base_index, horizons)
        h = np.tile(np.arange(1, horizons + 1), n)
        return pair_feature_matrix(studio, b, h, sq_revenue.ravel(), sq_members.ravel())

    def _corrections(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The relative, members and absolute corrections of ``X``'s rows, shape
        (rows / max_horizon, max_horizon) each."""
        shape = (-1, self.max_horizon)
        return (
            self._predict_g(X).reshape(shape),
            self._predict_g(X, self.members_correction_).reshape(shape),
            self._predict_g(X, self.absolute_correction_).reshape(shape),
        )

    def _states_from(
        self,
        uid: str,
        studio: StudioFeatures,
        base_index: np.ndarray,
        g: np.ndarray,
        g_members: np.ndarray,
        g_absolute: np.ndarray,
    ) -> list[StudioState]:
        seen = uid in self._training_studio_set
        # The highest 3-month mean membership so far, per month.
        members = np.asarray(studio.members, dtype=float)
        smooth = pd.Series(members).rolling(3, min_periods=1).mean().to_numpy()
        peak = np.fmax.accumulate(np.where(np.isfinite(smooth), smooth, np.nan))
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
                has_data=studio.has_data[i].copy(),
                known=studio.known[i].copy(),
                flow=float(studio.flow[i]),
                revenue_correction=g[k],
                members_correction=g_members[k],
                absolute_correction=g_absolute[k],
                seen=seen,
                peak_members=float(peak[i]),
            )
            for k, i in enumerate(base_index)
        ]

    def states_for_frame(
        self,
        frame: pd.DataFrame,
        *,
        base_months: Mapping[str, list[int]] | Literal["latest"] | None = None,
        block_rows: int = 200_000,
    ) -> dict[tuple[str, pd.Timestamp], StudioState]:
        """States of many studios and base months in one pass (evaluation, batch jobs).

        The learners are called once per block of studios rather than once per
        studio: their per-call overhead, not the rows, is what a small matrix
        costs. Each row's prediction depends on that row alone, so the states
        equal :meth:`make_state`'s.

        Parameters
        ----------
        frame : pandas.DataFrame
            Long-format history of one or more studios.
        base_months : mapping of str to list of int, "latest", optional
            Per studio, the row positions (0-based within its history) of the base
            months wanted; ``"latest"``: each studio's last month; default every
            month with enough history.
        block_rows : int, default 200,000
            Learner rows (base months x ``max_horizon``) predicted per call, which
            bounds the memory of the design matrix.

        Returns
        -------
        dict of (unique_id, base month) to StudioState
        """
        self._check_fitted()
        frame = validate_frame(frame)
        features = frame_features(frame, **self._feature_params())
        out: dict[tuple[str, pd.Timestamp], StudioState] = {}
        pending: list[tuple[str, StudioFeatures, np.ndarray, np.ndarray]] = []
        pending_rows = 0

        def flush() -> None:
            corrections = self._corrections(np.concatenate([p[3] for p in pending]))
            start = 0
            for uid, studio, wanted, _ in pending:
                stop = start + len(wanted)
                states = self._states_from(
                    uid, studio, wanted, *(c[start:stop] for c in corrections)
                )
                out.update({(uid, state.base_month): state for state in states})
                start = stop
            pending.clear()

        for uid, studio in features.items():
            length = len(studio.ds)
            if base_months is None:
                wanted = np.arange(self.min_history - 1, length)
            elif isinstance(base_months, str):
                wanted = np.array([length - 1], dtype=np.int64)
            else:
                wanted = np.asarray(
                    sorted(set(base_months.get(uid, []))), dtype=np.int64
                )
            wanted = wanted[(wanted >= self.min_history - 1) & (wanted < length)]
            wanted = wanted[~studio.is_gap[wanted]]
            if len(wanted) == 0:
                continue
            pending.append((uid, studio, wanted, self._state_design(studio, wanted)))
            pending_rows += len(wanted) * self.max_horizon
            if pending_rows >= block_rows:
                flush()
                pending_rows = 0
        if pending:
            flush()
        return out

    def studio_context(self, history: pd.DataFrame) -> StudioContext:
        """One studio's context, its states built per base month on demand.

        For serving: a studio's first forecast costs its features and one base
        month's learner rows, not every month's (:class:`StudioContext`).

        Raises
        ------
        FrameError
            If the history breaks the frame contract or holds other than one studio.
        """
        self._check_fitted()
        frame = validate_frame(history)
        uids = frame["unique_id"].unique()
        if len(uids) != 1:
            raise FrameError(
                f"studio_context needs the history of exactly one studio, got {len(uids)}"
            )
        uid = str(uids[0])
        features = frame_features(frame, **self._feature_params())
        return StudioContext(
            self,
            uid,
            features[uid],
            is_anomaly=frame["is_anomaly"].to_numpy(dtype=bool),
            revenue=frame["total_revenue"].to_numpy(dtype=np.float64),
        )

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
        # A lever without data for this studio is not modelled: held at its base
        # value, whatever the plan says.
        path = np.where(state.known, path, state.levers)
        if plan == "relative":
            # The plan's change against the base month, applied to the studio's
            # reference levels: a plan equal to the base month is the status quo.
            path = np.clip(path - state.levers + state.reference, 0.0, _LEVER_CEILING)
            if self.responses_ is not None:
                path = self.responses_.apply(
                    path,
                    state.reference,
                    state.known,
                    self.responses_.headroom(state.members, state.peak_members),
                    base=state.levers,
                )
        members, revenue = structural_path(
            np.full(len(path), state.members),
            path,
            state.constants,
            state.capacity,
            state.flow,
        )
        if plan == "relative" and self.responses_ is not None:
            revenue = self._attendance_follows_members(state, path, members, revenue)
        if plan == "relative":
            revenue = revenue * np.exp(state.revenue_correction[:horizon])
            members = members * np.exp(state.members_correction[:horizon])
        else:
            revenue = revenue * np.exp(state.absolute_correction[:horizon])
            weight = self.what_if_weight_[:horizon]
            if (weight < 1).any():
                # Mixed with the plain forecast, geometrically (see fit).
                plain = self.predict(state, state.levers, horizon, coverage)
                revenue = revenue**weight * plain.revenue ** (1 - weight)
                members = members**weight * plain.members ** (1 - weight)
        calibration = self.calibration_for(state, plan)
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

    def _attendance_follows_members(
        self,
        state: StudioState,
        path: np.ndarray,
        members: np.ndarray,
        revenue: np.ndarray,
    ) -> np.ndarray:
        """Structural revenue with the plan's visits following its members.

        The core prices attendance as ``rate x classes x capacity``, levers of the
        plan; a plan that changes members (through retention, new members or the
        price) changes who comes to class too. The attendance rate is scaled by
        ``(members / status-quo members) ** follow`` (capped at full classes) and
        the class-pack revenue re-priced; the status quo is unchanged.
        """
        follow = self.responses_.follow
        known = state.known[LEVER_INDEX["class_attendance_rate"]]
        if follow == 0.0 or not known or state.members <= 0:
            return revenue
        # The status quo's members: the core's recursion on the reference levels
        # (which the responses leave as they are), a dozen scalar steps.
        horizon = path.shape[1]
        reference = np.clip(state.reference, 0.0, _LEVER_CEILING)
        keep = max(reference[LEVER_INDEX["retention_rate"]] + state.flow, 0.0)
        add = reference[LEVER_INDEX["new_members_monthly"]]
        sq_members = np.empty(horizon)
        current = state.members
        for k in range(horizon):
            current = current * keep + add
            sq_members[k] = current
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(sq_members > 0, members / sq_members, 1.0)
        rate = path[:, :, LEVER_INDEX["class_attendance_rate"]]
        followed = np.minimum(rate * np.maximum(ratio, 0.0) ** follow, 1.0)
        per_visit = (
            np.atleast_1d(state.constants)[1]
            * path[:, :, LEVER_INDEX["total_classes_held"]]
            * state.capacity
        )
        return np.maximum(revenue + per_visit * (followed - rate), 0.0)

    def forecast_status_quo(
        self,
        states: list[StudioState],
        horizon: int = 3,
        coverage: float = 0.8,
    ) -> BatchForecastResult:
        """Status-quo forecasts of many studios in one vectorised pass.

        Row ``i`` equals ``predict(states[i], states[i].levers, horizon,
        coverage)`` (a relative plan equal to the base month: the status quo),
        up to floating-point rounding; the batch forecast job's path.

        Parameters
        ----------
        states : list of StudioState
            From :meth:`states_for_frame` (any studios and base months).
        horizon : int, default 3
            Months to project, 1..max_horizon.
        coverage : float, default 0.8
            Coverage of the revenue interval, in (0, 1).

        Returns
        -------
        BatchForecastResult
        """
        self._check_fitted()
        self._check_horizon(horizon, coverage)
        if not states:
            empty = np.zeros((0, horizon))
            return BatchForecastResult(
                empty, empty, empty, empty, empty, empty, [], float(coverage)
            )
        return self._status_quo(
            np.stack([s.reference for s in states]),
            np.stack([s.known for s in states]),
            np.array([s.members for s in states]),
            np.stack([s.constants for s in states]),
            np.array([s.capacity for s in states], dtype=np.float64),
            np.array([s.flow for s in states]),
            np.stack([s.revenue_correction[:horizon] for s in states]),
            np.stack([s.members_correction[:horizon] for s in states]),
            seen=np.array([s.seen for s in states]),
            base_months=[s.base_month for s in states],
            unique_ids=[s.unique_id for s in states],
            horizon=horizon,
            coverage=coverage,
        )

    def _check_horizon(self, horizon: int, coverage: float) -> None:
        if (
            not isinstance(horizon, int | np.integer)
            or not 1 <= horizon <= self.max_horizon
        ):
            raise ValueError(
                f"horizon must be an integer in 1..{self.max_horizon}, got {horizon!r}"
            )
        if not 0.0 < coverage < 1.0:
            raise ValueError(f"coverage must be in (0, 1), got {coverage!r}")

    def _status_quo(
        self,
        reference: np.ndarray,
        known: np.ndarray,
        members0: np.ndarray,
        constants: np.ndarray,
        capacity: np.ndarray,
        flow: np.ndarray,
        g_revenue: np.ndarray,
        g_members: np.ndarray,
        *,
        seen: np.ndarray,
        base_months: list[pd.Timestamp],
        unique_ids: list[str],
        horizon: int,
        coverage: float,
    ) -> BatchForecastResult:
        """The status quo of ``n`` studios from their states' arrays (rows)."""
        n = len(reference)
        # The status quo as predict() runs it: the base levers' change (none)
        # applied to the reference levels.
        path = np.repeat(
            np.clip(reference, 0.0, _LEVER_CEILING)[:, None, :], horizon, axis=1
        )
        if self.responses_ is not None:
            path = self.responses_.apply_rows(path, reference, known)
        members, revenue = structural_path(members0, path, constants, capacity, flow)
        revenue = revenue * np.exp(g_revenue)
        members = members * np.exp(g_members)
        lower = np.empty((n, horizon))
        upper = np.empty((n, horizon))
        confidence = np.empty((n, horizon))
        base_month = np.array([month.month for month in base_months])
        for who, group in (("seen", seen), ("unseen", ~seen)):
            pooled = self.calibration_[_calibration_key("relative", who)]
            # The target months' and the studios' own widths (see
            # calibration_for): one distribution per calendar month of the base
            # months and studio width.
            width = np.ones(n)
            width[group] = [
                pooled.studio_factor(unique_ids[i]) for i in np.flatnonzero(group)
            ]
            for month, factor in sorted(
                {
                    (int(m), float(f))
                    for m, f in zip(base_month[group], width[group], strict=True)
                }
            ):
                rows = group & (base_month == month) & (width == factor)
                # Every row of the group has the first one's width.
                calibration = pooled.starting(
                    month, unique_ids[int(np.flatnonzero(rows)[0])]
                )
                lower_q, upper_q = calibration.interval(horizon, coverage)
                lower[rows] = revenue[rows] * np.exp(lower_q)
                upper[rows] = revenue[rows] * np.exp(upper_q)
                confidence[rows] = calibration.within(_CONFIDENCE_TOLERANCE, horizon)
        return BatchForecastResult(
            revenue=revenue,
            members=members,
            retention=path[:, :, LEVER_INDEX["retention_rate"]].copy(),
            revenue_lower=lower,
            revenue_upper=upper,
            confidence=confidence,
            base_months=list(base_months),
            coverage=float(coverage),
        )

    def forecast_latest(
        self, frame: pd.DataFrame, horizon: int = 3, coverage: float = 0.8
    ) -> LatestForecast:
        """Every studio's status quo from its latest month, vectorised over studios.

        The batch forecast job's path. Row ``i`` equals ``predict(make_state(
        history_i, latest month), levers=state.levers, horizon, coverage)`` up to
        floating-point rounding: the same features (computed for blocks of
        studios at once), the learners called once per block, and only the rows
        of the ``horizon`` months asked for (each row's prediction depends on
        that row alone).

        A studio that cannot be forecast does not stop the others: one that
        breaks the frame contract, has fewer than ``min_history`` months, or no
        data in its latest month is left out, with the reason, in
        ``skipped``.

        Parameters
        ----------
        frame : pandas.DataFrame
            Long-format history of one or more studios.
        horizon : int, default 3
            Months to project, 1..max_horizon.
        coverage : float, default 0.8
            Coverage of the revenue interval, in (0, 1).

        Returns
        -------
        LatestForecast
        """
        self._check_fitted()
        self._check_horizon(horizon, coverage)
        frame, skipped = self._valid_studios(frame)
        parts = [
            self._latest_of_block(block, horizon, skipped)
            for block in frame_feature_blocks(frame, **self._feature_params())
        ]
        parts = [part for part in parts if part]
        if not parts:
            empty = np.zeros((0, horizon))
            return LatestForecast(
                unique_ids=[],
                base_months=[],
                base_revenue=np.zeros(0),
                result=BatchForecastResult(
                    empty, empty, empty, empty, empty, empty, [], float(coverage)
                ),
                skipped=skipped,
            )
        # Back to frame order (the blocks group studios by history length).
        position = {uid: i for i, uid in enumerate(pd.unique(frame["unique_id"]))}
        uids = [uid for part in parts for uid in part["unique_ids"]]
        rank = np.argsort([position[uid] for uid in uids], kind="stable")
        rows = {
            name: np.concatenate([part[name] for part in parts])[rank]
            for name in parts[0]
            if name != "unique_ids"
        }
        base_months = [pd.Timestamp(month) for month in rows["base_month"]]
        unique_ids = [uids[i] for i in rank]
        result = self._status_quo(
            rows["reference"],
            rows["known"],
            rows["members"],
            rows["constants"],
            rows["capacity"],
            rows["flow"],
            rows["g_revenue"],
            rows["g_members"],
            seen=rows["seen"],
            base_months=base_months,
            unique_ids=unique_ids,
            horizon=horizon,
            coverage=coverage,
        )
        return LatestForecast(
            unique_ids=unique_ids,
            base_months=base_months,
            base_revenue=rows["base_revenue"],
            result=result,
            skipped=skipped,
        )

    def _valid_studios(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
        """The frame validated, without the studios that break the contract
        (each with the reason)."""
        skipped: dict[str, str] = {}
        try:
            return validate_frame(frame), skipped
        except FrameError:
            pass
        # Only when something is wrong: find the studios at fault, one at a time.
        keep = []
        for uid, history in frame.groupby(frame["unique_id"].astype(str), sort=False):
            try:
                validate_frame(history)
            except FrameError as exc:
                skipped[uid] = str(exc)
            else:
                keep.append(uid)
        wanted = frame["unique_id"].astype(str).isin(keep)
        return validate_frame(frame.loc[wanted].reset_index(drop=True)), skipped

    def _latest_of_block(
        self, block: FeatureBlock, horizon: int, skipped: dict[str, str]
    ) -> dict[str, Any] | None:
        """The status-quo inputs of a block's studios at their latest month."""
        length = block.ds.shape[1]
        base = length - 1
        usable = ~block.is_gap[:, base]
        if length < self.min_history:
            usable[:] = False
        for i in np.flatnonzero(~usable):
            uid = block.unique_ids[i]
            month = pd.Timestamp(block.ds[i, base])
            skipped[uid] = (
                f"studio {uid!r} has {length} months of history up to "
                f"{month:%Y-%m}; the model needs at least {self.min_history}"
                if length < self.min_history
                else f"studio {uid!r} has no data for base month {month:%Y-%m}"
            )
        rows = np.flatnonzero(usable)
        if len(rows) == 0:
            return None
        n = len(rows)
        reference = block.reference[rows, base]
        members = block.members[rows, base]
        constants = block.constants[rows, base]
        capacity = block.capacity[rows]
        flow = block.flow[rows, base]
        # The learners' rows: every studio's latest month at horizons 1..horizon,
        # on the block's arrays laid end to end.
        plan = np.repeat(reference[:, None, :], horizon, axis=1)
        sq_members, sq_revenue = structural_path(
            members, plan, constants, capacity, flow
        )
        flat = StudioFeatures(
            ds=block.ds.reshape(-1),
            context=block.context.reshape(-1, block.context.shape[-1]),
            constants=block.constants.reshape(-1, block.constants.shape[-1]),
            levers=block.levers.reshape(-1, block.levers.shape[-1]),
            reference=block.reference.reshape(-1, block.reference.shape[-1]),
            has_data=block.has_data.reshape(-1, block.has_data.shape[-1]),
            known=block.known.reshape(-1, block.known.shape[-1]),
            flow=block.flow.reshape(-1),
            members=block.members.reshape(-1),
            log_revenue=block.log_revenue.reshape(-1),
            is_gap=block.is_gap.reshape(-1),
            month_of_year=block.month_of_year.reshape(-1),
            capacity=float("nan"),
        )
        X = pair_feature_matrix(
            flat,
            np.full(n * horizon, base),
            np.tile(np.arange(1, horizon + 1), n),
            sq_revenue.ravel(),
            sq_members.ravel(),
            offset=np.repeat(rows * length, horizon),
        )
        uids = [block.unique_ids[i] for i in rows]
        return {
            "unique_ids": uids,
            "reference": reference,
            "known": block.known[rows, base],
            "members": members,
            "constants": constants,
            "capacity": capacity,
            "flow": flow,
            "g_revenue": self._predict_g(X).reshape(n, horizon),
            "g_members": self._predict_g(X, self.members_correction_).reshape(
                n, horizon
            ),
            "seen": np.array([uid in self._training_studio_set for uid in uids]),
            "base_revenue": np.exp(block.log_revenue[rows, base]),
            "base_month": block.ds[rows, base].astype("datetime64[ns]"),
        }

    def calibration_for(
        self, state: StudioState, plan: PlanSemantics = "relative"
    ) -> HorizonConformal:
        """The calibrated residual distribution that :meth:`predict`'s intervals use:
        the plan semantics' and the studio's (seen in training or not), with the
        widths of the target months of a forecast from the state's base month and
        the studio's own width."""
        self._check_fitted()
        return self.calibration_[
            _calibration_key(plan, "seen" if state.seen else "unseen")
        ].starting(state.base_month.month, state.unique_id)

    def response_spread(self, lift: np.ndarray) -> np.ndarray:
        """Log-scale sd of the lever-response error of plans with log ``lift``.

        ``lift`` is ``log(plan revenue / status-quo revenue)`` as the model
        forecasts them (any shape); the spread is ``response_error x |lift|``: 0
        for the status quo, growing with how far the plan moves revenue by moving
        levers. Models saved before the parameter existed use
        :data:`RESPONSE_ERROR`.
        """
        error = getattr(self, "response_error", RESPONSE_ERROR)
        return error * np.abs(np.asarray(lift, dtype=np.float64))

    def revenue_quantile(
        self,
        state: StudioState,
        revenue: np.ndarray,
        status_quo: np.ndarray,
        probability: float,
        *,
        plan: PlanSemantics = "relative",
    ) -> np.ndarray:
        """The revenue plans reach or beat with ``probability``, shape (n, horizon).

        ``revenue`` (n, horizon) is the plans' point forecast and ``status_quo``
        (horizon,) the status quo's. The calibrated distribution of the intervals
        is convolved, month by month, with the plans' lever-response error
        (:meth:`response_spread` of ``log(revenue / status_quo)``), so a plan that
        moves revenue further from the status quo needs more margin; a plan at the
        status quo gets the calibrated quantile alone (``response_spread`` of 0).
        """
        if not 0.0 < probability < 1.0:
            raise ValueError(f"probability must be in (0, 1), got {probability!r}")
        revenue = np.atleast_2d(np.asarray(revenue, dtype=np.float64))
        horizon = revenue.shape[1]
        spread = self.response_spread(_log_lift(revenue, status_quo))
        offsets = self.calibration_for(state, plan).lower_quantile_with(
            horizon, probability, spread
        )
        return revenue * np.exp(offsets)

    def reach_probability(
        self,
        state: StudioState,
        revenue: np.ndarray,
        target: float,
        *,
        total: bool = False,
        plan: PlanSemantics = "relative",
        status_quo: np.ndarray | None = None,
    ) -> np.ndarray:
        """Calibrated probability that actual revenue reaches ``target``.

        ``revenue`` is the point forecast (n, horizon). The target is the last
        month's revenue, or with ``total`` the sum over the months; for a total the
        months are taken to err together (the same quantile every month), which is
        how one studio's months behave: a forecast too high in month 1 stays too
        high. With ``status_quo`` (the status quo's forecast, (horizon,)) the
        plans' lever-response error is convolved in, as in
        :meth:`revenue_quantile`.
        """
        revenue = np.atleast_2d(np.asarray(revenue, dtype=np.float64))
        horizon = revenue.shape[1]
        calibration = self.calibration_for(state, plan)
        spread = (
            np.zeros_like(revenue)
            if status_quo is None
            else self.response_spread(_log_lift(revenue, status_quo))
        )
        if not total:
            ratio = np.log(target / np.maximum(revenue[:, -1], 1e-9))
            return np.array(
                [
                    calibration.exceedance(r, horizon, float(s))
                    for r, s in zip(ratio, spread[:, -1], strict=True)
                ]
            )
        # Sum of every month at each stored level, then where the target falls.
        out = np.empty(len(revenue))
        for k in range(len(revenue)):
            offsets = calibration.level_offsets(horizon, spread[k])
            sums = np.exp(offsets) @ revenue[k]  # (levels,), increasing in level
            out[k] = 1.0 - np.interp(target, sums, LEVELS, left=0.0, right=1.0)
        return out

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
                "absolute_correction": (
                    self.absolute_correction_.save(staging, "absolute")
                    if self.absolute_correction_ is not None
                    else None
                ),
                "attendance_share": self.attendance_share_,
                "attendance_follow": self.attendance_follow_,
                "responses": (
                    None if self.responses_ is None else self.responses_.to_json()
                ),
                "excluded": self.excluded_,
                "training_studios": self.training_studios_,
                "members_correction": (
                    self.members_correction_.save(staging, "members")
                    if self.members_correction_ is not None
                    else None
                ),
                "calibration": {k: v.to_json() for k, v in self.calibration_.items()},
                "what_if_weight": self.what_if_weight_.tolist(),
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
                f"unsupported model format {manifest.get('format_version')!r} "
                f"(this version reads format {_FORMAT_VERSION}); retrain the model"
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
        model.absolute_correction_ = (
            learner_from_spec(source, manifest["absolute_correction"])
            if manifest["absolute_correction"]
            else None
        )
        model.attendance_share_ = float(manifest["attendance_share"])
        # Models saved before the status quo's attendance followed the members.
        model.attendance_follow_ = float(manifest.get("attendance_follow", 0.0))
        model.responses_ = (
            None
            if manifest["responses"] is None
            else Responses.from_json(manifest["responses"])
        )
        model.excluded_ = {
            str(uid): list(reasons) for uid, reasons in manifest["excluded"].items()
        }
        model.training_studios_ = [str(uid) for uid in manifest["training_studios"]]
        model.calibration_ = {
            k: HorizonConformal.from_json(v) for k, v in manifest["calibration"].items()
        }
        # Saved before the what-if mix: the structural core on the plan alone.
        model.what_if_weight_ = np.asarray(
            manifest.get("what_if_weight", np.ones(model.max_horizon)), dtype=float
        )
        model.training_summary_ = dict(manifest["training_summary"])
        model.anomalous_months_ = dict(
            model.training_summary_.get("anomalous_months", {})
        )
        return model


def _a_year(pairs: np.ndarray, a_year: np.ndarray, horizon: np.ndarray) -> np.ndarray:
    """``pairs`` narrowed to those with a year of history before the target,
    when that keeps at least 20 of them one month ahead; ``pairs`` otherwise.

    Weighed on every pair, an anchor that exists only after a studio's first year
    (the seasonal naive) is weighed on a mix of pairs where it is last year's
    month and pairs where it is the structural core: on 20 drop-in studios
    exported for their last 20-30 months (``bench/real_data.py --source dropin
    --months 20-30``) most pairs lay in the first year, the seasonal naive's
    weight came out near none, and the plain forecast lost to last year's month
    from month 2 on (month 3: 12.95% against 9.27%).
    """
    narrowed = pairs & a_year
    if (narrowed & (horizon == 1)).sum() >= _MIN_ONE_AHEAD:
        return narrowed
    return pairs


def _labelled_by_content(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """``frame`` with each studio renamed by its rank in an order of its data, and
    the way back (new label -> original id).

    The order of the studios sets the calibration's studio folds, the studios
    the rolling origins score and the order of the learners' rows (which the
    random forest's row sampling reads); the ids a database hands out (random
    UUIDs) say nothing about the studios, so ordering by them made the same
    chain, imported twice, train two different models (on 12 messy studios,
    month-1 MAPE 6.22% and 6.32% from one CSV). Ranked by first month, months,
    summed revenue and members, capacity and type (ties, which only identical
    histories make, keep the id order), a fit depends on the data alone.
    """
    frame = frame.sort_values(["unique_id", "ds"], kind="stable")
    keys = frame.groupby("unique_id", sort=True).agg(
        first=("ds", "min"),
        months=("ds", "size"),
        revenue=("total_revenue", "sum"),
        members=("total_members", "sum"),
        capacity=("max_capacity", "first"),
        kind=("studio_type", "first"),
    )
    order = keys.sort_values(list(keys.columns), kind="stable").index
    width = len(str(len(order)))
    label = {str(uid): f"s{rank:0{width}d}" for rank, uid in enumerate(order)}
    relabelled = (
        frame.assign(unique_id=frame["unique_id"].astype(str).map(label))
        .sort_values(["unique_id", "ds"], kind="stable")
        .reset_index(drop=True)
    )
    return relabelled, {new: old for old, new in label.items()}


def _library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__,
        "xgboost": xgboost.__version__,
    }


def _log_lift(revenue: np.ndarray, status_quo: np.ndarray) -> np.ndarray:
    """``log(revenue / status_quo)`` per plan and month, 0 where either is not > 0."""
    status_quo = np.broadcast_to(
        np.asarray(status_quo, dtype=np.float64), revenue.shape
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.log(revenue / status_quo)
    return np.where((revenue > 0) & (status_quo > 0), lift, 0.0)


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
