"""Learners for the multiplicative correction ``g`` of the forward model.

Each learner maps the pair features to a log-ratio ``log(actual / structural)`` and
persists itself without pickle: LightGBM as its native text format, XGBoost as JSON,
the ridge model and the multilayer perceptron as plain JSON numbers.
:class:`WeightedEnsemble` combines learners with weights set on out-of-sample pairs,
one set of weights per horizon band (:func:`banded_stacking_weights`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import xgboost as xgb
from scipy.optimize import lsq_linear
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from threadpoolctl import threadpool_limits

from forecasting.ml.exceptions import NotFittedError

__all__ = [
    "AnchorCorrection",
    "CorrectionLearner",
    "LightGBMCorrection",
    "MLPCorrection",
    "RidgeCorrection",
    "WeightedEnsemble",
    "XGBForestCorrection",
    "banded_mix_weights",
    "banded_stacking_weights",
    "learner_from_spec",
    "stacking_weights",
]

#: Rows of a horizon band below which its weights are the pooled ones.
MIN_BAND_ROWS = 30


def _require(*fitted: object) -> None:
    if any(value is None for value in fitted):
        raise NotFittedError("this correction learner is not fitted")


class CorrectionLearner(Protocol):
    """What the forward model needs from a correction learner."""

    kind: str

    def fit(self, X: np.ndarray, y: np.ndarray) -> CorrectionLearner: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def save(self, directory: Path, prefix: str) -> dict[str, Any]:
        """Write the learner's files and return a JSON-able spec naming them."""
        ...


class LightGBMCorrection:
    """Gradient-boosted trees (LightGBM), saved as the booster's native text.

    Parameters
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples : int or float
        The usual LightGBM parameters.
    random_state : int
        Seed of the bagging and feature subsampling.
    n_jobs : int
        Threads; results are identical for any value (``deterministic`` mode).
    """

    kind = "lightgbm"

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.booster_: lgb.Booster | None = None

    def _params(self) -> dict[str, Any]:
        return {
            "objective": "huber",
            # Huber's threshold on the log-ratio: residuals beyond ~8% (left-over
            # shocks) count linearly, so they do not drag the correction around.
            "alpha": 0.08,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.n_jobs,
            "verbose": -1,
        }

    def fit(self, X: np.ndarray, y: np.ndarray) -> LightGBMCorrection:
        dataset = lgb.Dataset(X, y, params={"verbose": -1})
        self.booster_ = lgb.train(
            self._params(), dataset, num_boost_round=self.n_estimators
        )
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        _require(self.booster_)
        return np.asarray(self.booster_.predict(X, num_threads=1), dtype=np.float64)

    def save(self, directory: Path, prefix: str) -> dict[str, Any]:
        _require(self.booster_)
        filename = f"{prefix}.lgb.txt"
        self.booster_.save_model(str(directory / filename))
        return {"kind": self.kind, "file": filename}

    @classmethod
    def load(cls, directory: Path, spec: dict[str, Any]) -> LightGBMCorrection:
        learner = cls()
        learner.booster_ = lgb.Booster(model_file=str(directory / spec["file"]))
        return learner


class XGBForestCorrection:
    """A random forest grown by XGBoost (``num_parallel_tree``), saved as JSON.

    XGBoost's forest mode stands in for scikit-learn's RandomForestRegressor because
    it persists in a documented JSON format instead of pickle.
    """

    kind = "xgb_forest"

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        max_depth: int = 8,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.booster_: xgb.Booster | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> XGBForestCorrection:
        model = xgb.XGBRFRegressor(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            subsample=0.8,
            colsample_bynode=0.6,
            min_child_weight=20,
            learning_rate=1.0,
            tree_method="hist",
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )
        model.fit(X, y)
        self.booster_ = model.get_booster()
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        _require(self.booster_)
        return np.asarray(
            self.booster_.inplace_predict(X, validate_features=False), dtype=np.float64
        )

    def save(self, directory: Path, prefix: str) -> dict[str, Any]:
        _require(self.booster_)
        filename = f"{prefix}.xgb.json"
        self.booster_.save_model(str(directory / filename))
        return {"kind": self.kind, "file": filename}

    @classmethod
    def load(cls, directory: Path, spec: dict[str, Any]) -> XGBForestCorrection:
        learner = cls()
        booster = xgb.Booster()
        booster.load_model(str(directory / spec["file"]))
        learner.booster_ = booster
        return learner


#: Rows per block where a learner works through a design matrix in float64.
_ROW_BLOCK = 65_536


def _row_blocks(n: int) -> list[slice]:
    """Consecutive row slices of at most ``_ROW_BLOCK`` rows covering ``n`` rows."""
    return [slice(i, min(i + _ROW_BLOCK, n)) for i in range(0, n, _ROW_BLOCK)]


class RidgeCorrection:
    """Ridge regression on standardised features, missing values set to the median.

    Parameters
    ----------
    alpha : float
        L2 penalty on the standardised coefficients.
    """

    kind = "ridge"

    def __init__(self, *, alpha: float = 10.0) -> None:
        self.alpha = alpha
        self.median_: np.ndarray | None = None
        self.low_: np.ndarray | None = None
        self.high_: np.ndarray | None = None
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0

    def _transform(self, X: np.ndarray) -> np.ndarray:
        _require(self.median_, self.low_, self.high_, self.mean_, self.scale_)
        X = np.where(np.isnan(X), self.median_, X)
        # A linear model extrapolates without limit: a feature far outside what
        # training saw (say a ratio whose denominator nearly vanished after an
        # edit) would otherwise swing the correction by orders of magnitude.
        X = np.clip(X, self.low_, self.high_)
        return (X - self.mean_) / self.scale_

    def fit(self, X: np.ndarray, y: np.ndarray) -> RidgeCorrection:
        # Every statistic is accumulated over blocks of rows (see _ROW_BLOCK): the
        # standardised matrix is float64, and built whole it would cost several
        # times a large design matrix (measured: 7.8x a float32 X at its peak).
        n, width = X.shape
        # A feature no training row has (an optional input nobody reports) is 0.
        observed = np.zeros(width, dtype=bool)
        for block in _row_blocks(n):
            observed |= np.isfinite(X[block]).any(axis=0)
        median = np.zeros(width)
        for j in np.flatnonzero(observed):
            median[j] = np.nanmedian(X[:, j])
        self.median_ = median
        low = np.full(width, np.inf)
        high = np.full(width, -np.inf)
        total = np.zeros(width)
        for block in _row_blocks(n):
            filled = np.where(np.isnan(X[block]), median, X[block])
            low = np.minimum(low, filled.min(axis=0))
            high = np.maximum(high, filled.max(axis=0))
            total += filled.sum(axis=0)
        self.low_, self.high_ = low, high
        self.mean_ = total / n
        squares = np.zeros(width)
        for block in _row_blocks(n):
            filled = np.where(np.isnan(X[block]), median, X[block])
            squares += ((filled - self.mean_) ** 2).sum(axis=0)
        scale = np.sqrt(squares / n)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.intercept_ = float(y.mean())
        gram = self.alpha * np.eye(width)
        moment = np.zeros(width)
        for block in _row_blocks(n):
            Z = self._transform(X[block])
            gram += Z.T @ Z
            moment += Z.T @ (y[block] - self.intercept_)
        self.coef_ = np.linalg.solve(gram, moment)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        _require(self.coef_)
        out = np.empty(len(X))
        for block in _row_blocks(len(X)):
            out[block] = self._transform(X[block]) @ self.coef_ + self.intercept_
        return out

    def save(self, directory: Path, prefix: str) -> dict[str, Any]:
        _require(
            self.coef_, self.median_, self.low_, self.high_, self.mean_, self.scale_
        )
        filename = f"{prefix}.ridge.json"
        payload = {
            "alpha": self.alpha,
            "median": self.median_.tolist(),
            "low": self.low_.tolist(),
            "high": self.high_.tolist(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
        }
        (directory / filename).write_text(json.dumps(payload))
        return {"kind": self.kind, "file": filename}

    @classmethod
    def load(cls, directory: Path, spec: dict[str, Any]) -> RidgeCorrection:
        payload = json.loads((directory / spec["file"]).read_text())
        learner = cls(alpha=payload["alpha"])
        learner.median_ = np.asarray(payload["median"], dtype=np.float64)
        learner.low_ = np.asarray(payload["low"], dtype=np.float64)
        learner.high_ = np.asarray(payload["high"], dtype=np.float64)
        learner.mean_ = np.asarray(payload["mean"], dtype=np.float64)
        learner.scale_ = np.asarray(payload["scale"], dtype=np.float64)
        learner.coef_ = np.asarray(payload["coef"], dtype=np.float64)
        learner.intercept_ = float(payload["intercept"])
        return learner


_ANCHOR_KINDS = ("naive", "per_member", "seasonal", "seasonal_naive", "members_naive")


class AnchorCorrection:
    """A fixed correction that carries the base month forward, for one horizon band.

    ``anchor="naive"`` turns the structural status quo into the base month's
    revenue (``g = -status_quo_growth``); ``anchor="per_member"`` keeps the base
    month's revenue per member and lets the members follow the status quo's
    roll-forward (``g = status_quo_member_growth - status_quo_growth``);
    ``anchor="seasonal"`` moves the base month's revenue by the studio's own
    average swing from the base month's calendar month to the target's in earlier
    years (``g = seasonal_ratio_years - status_quo_growth``);
    ``anchor="seasonal_naive"`` is the target's month last year
    (``g = seasonal_naive_gap``); ``anchor="members_naive"``, for the member
    count's correction, keeps the base month's members
    (``g = -status_quo_member_growth``). Outside
    its horizons (``low``..``high``) it predicts 0. Nothing is fitted: the
    stacking decides how much of it each forecast takes, so persistence in the
    data (prices that move in steps, members on a random walk) is used where it
    helps and ignored where it does not. It never sees the plan, so the lever
    response stays the structural core's.

    Parameters
    ----------
    anchor : {"naive", "per_member", "seasonal", "seasonal_naive", "members_naive"}
    low, high : int
        The horizon band, inclusive.
    columns : dict of str to int
        Positions of ``horizon``, ``status_quo_growth``,
        ``status_quo_member_growth``, ``seasonal_ratio_years`` and
        ``seasonal_naive_gap`` in the design matrix.
    """

    kind = "anchor"

    def __init__(
        self, *, anchor: str, low: int, high: int, columns: dict[str, int]
    ) -> None:
        if anchor not in _ANCHOR_KINDS:
            raise ValueError(f"unknown anchor {anchor!r}")
        self.anchor = anchor
        self.low = low
        self.high = high
        self.columns = dict(columns)

    def fit(self, X: np.ndarray, y: np.ndarray) -> AnchorCorrection:
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        horizon = X[:, self.columns["horizon"]]
        if self.anchor == "seasonal_naive":
            g = X[:, self.columns["seasonal_naive_gap"]]
        elif self.anchor == "members_naive":
            g = -X[:, self.columns["status_quo_member_growth"]]
        else:
            g = -X[:, self.columns["status_quo_growth"]]
        if self.anchor == "per_member":
            g = g + X[:, self.columns["status_quo_member_growth"]]
        elif self.anchor == "seasonal":
            g = g + X[:, self.columns["seasonal_ratio_years"]]
        inside = (horizon >= self.low) & (horizon <= self.high) & np.isfinite(g)
        return np.where(inside, g, 0.0)

    def save(self, directory: Path, prefix: str) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "anchor": self.anchor,
            "low": self.low,
            "high": self.high,
            "columns": self.columns,
        }

    @classmethod
    def load(cls, directory: Path, spec: dict[str, Any]) -> AnchorCorrection:
        return cls(
            anchor=spec["anchor"],
            low=int(spec["low"]),
            high=int(spec["high"]),
            columns={k: int(v) for k, v in spec["columns"].items()},
        )


def stacking_weights(predictions: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative weights of the learners' out-of-sample predictions.

    The weights minimise the squared error of ``predictions @ w`` against ``y``
    with every weight in [0, 1]. Weights that add up to less than 1 shrink the
    correction towards none at all, which is what the data asks for when the
    learned corrections do not generalise (a chain of two studios, say): a
    learner earns weight only by lowering the out-of-sample error.

    Parameters
    ----------
    predictions : numpy.ndarray
        Shape (n, k): each learner's out-of-sample prediction of each row.
    y : numpy.ndarray
        Shape (n,): the targets.

    Returns
    -------
    numpy.ndarray
        Shape (k,).
    """
    k = predictions.shape[1]
    if len(y) == 0 or k == 0:
        return np.full(k, 1.0 / max(k, 1))
    fit = lsq_linear(predictions, y, bounds=(0.0, 1.0))
    return np.asarray(fit.x, dtype=np.float64)


class MLPCorrection:
    """A multilayer perceptron (scikit-learn's ``MLPRegressor``), saved as JSON weights.

    Inputs are prepared as for :class:`RidgeCorrection` (missing values set to the
    training median, clipped to the training range, standardised), the target is
    standardised too, and the network has ReLU hidden layers and a linear output.
    Training uses Adam with early stopping on a held-out tenth of the rows. After
    fitting, only the weight matrices and the scaling are kept: :meth:`predict` is
    a numpy forward pass, so a loaded model needs neither scikit-learn's estimator
    nor pickle.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (64, 32, 16)
        Units per hidden layer (the seed's option B).
    alpha : float, default 1e-3
        L2 penalty on the weights.
    learning_rate_init : float, default 1e-3
        Adam's step size.
    max_iter : int, default 200
        Epochs at most.
    batch_size : int, default 256
        Rows per Adam step.
    random_state : int, default 0
        Seed of the weight initialisation, shuffling and early-stopping split.
    n_jobs : int, default 1
        BLAS threads while fitting. The matrices are small: on a busy 2-core
        machine two threads fitted 8x slower than one (26 s against 3.3 s for
        4,000 rows x 10 features), so the default is one.
    """

    kind = "mlp"

    def __init__(
        self,
        *,
        hidden_layer_sizes: tuple[int, ...] = (64, 32, 16),
        alpha: float = 1e-3,
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        batch_size: int = 256,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha = alpha
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.median_: np.ndarray | None = None
        self.low_: np.ndarray | None = None
        self.high_: np.ndarray | None = None
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.y_mean_: float = 0.0
        self.y_scale_: float = 1.0
        self.coefs_: list[np.ndarray] | None = None
        self.intercepts_: list[np.ndarray] | None = None
        self.n_iter_: int = 0

    def _transform(self, X: np.ndarray) -> np.ndarray:
        _require(self.median_, self.low_, self.high_, self.mean_, self.scale_)
        X = np.where(np.isnan(X), self.median_, X)
        # As for the ridge model: a feature far outside the training range would
        # push the ReLU units into a linear regime nobody trained them for.
        X = np.clip(X, self.low_, self.high_)
        return (X - self.mean_) / self.scale_

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLPCorrection:
        median = np.nanmedian(X, axis=0) if len(X) else np.zeros(X.shape[1])
        self.median_ = np.where(np.isfinite(median), median, 0.0)
        filled = np.where(np.isnan(X), self.median_, X)
        self.low_ = filled.min(axis=0)
        self.high_ = filled.max(axis=0)
        self.mean_ = filled.mean(axis=0)
        scale = filled.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.y_mean_ = float(np.mean(y))
        y_scale = float(np.std(y))
        self.y_scale_ = y_scale if y_scale > 0 else 1.0
        network = MLPRegressor(
            hidden_layer_sizes=self.hidden_layer_sizes,
            activation="relu",
            solver="adam",
            alpha=self.alpha,
            batch_size=min(self.batch_size, len(y)),
            learning_rate_init=self.learning_rate_init,
            max_iter=self.max_iter,
            early_stopping=len(y) >= 50,
            validation_fraction=0.1,
            n_iter_no_change=10,
            random_state=self.random_state,
        )
        # Early stopping ends most fits before max_iter; the rest have converged
        # enough for a correction that is clipped and ensembled anyway.
        with warnings.catch_warnings(), threadpool_limits(limits=self.n_jobs):
            warnings.simplefilter("ignore", ConvergenceWarning)
            network.fit(self._transform(X), (y - self.y_mean_) / self.y_scale_)
        self.coefs_ = [np.asarray(w, dtype=np.float64) for w in network.coefs_]
        self.intercepts_ = [
            np.asarray(b, dtype=np.float64) for b in network.intercepts_
        ]
        self.n_iter_ = int(network.n_iter_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        _require(self.coefs_, self.intercepts_)
        hidden = self._transform(X)
        last = len(self.coefs_) - 1
        for k, (weights, bias) in enumerate(
            zip(self.coefs_, self.intercepts_, strict=True)
        ):
            hidden = hidden @ weights + bias
            if k < last:
                hidden = np.maximum(hidden, 0.0)
        return hidden[:, 0] * self.y_scale_ + self.y_mean_

    def save(self, directory: Path, prefix: str) -> dict[str, Any]:
        _require(
            self.coefs_,
            self.intercepts_,
            self.median_,
            self.low_,
            self.high_,
            self.mean_,
            self.scale_,
        )
        filename = f"{prefix}.mlp.json"
        payload = {
            "hidden_layer_sizes": list(self.hidden_layer_sizes),
            "alpha": self.alpha,
            "median": self.median_.tolist(),
            "low": self.low_.tolist(),
            "high": self.high_.tolist(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "y_mean": self.y_mean_,
            "y_scale": self.y_scale_,
            "coefs": [w.tolist() for w in self.coefs_],
            "intercepts": [b.tolist() for b in self.intercepts_],
            "n_iter": self.n_iter_,
        }
        (directory / filename).write_text(json.dumps(payload))
        return {"kind": self.kind, "file": filename}

    @classmethod
    def load(cls, directory: Path, spec: dict[str, Any]) -> MLPCorrection:
        payload = json.loads((directory / spec["file"]).read_text())
        learner = cls(
            hidden_layer_sizes=tuple(payload["hidden_layer_sizes"]),
            alpha=payload["alpha"],
        )
        for name in ("median", "low", "high", "mean", "scale"):
            setattr(learner, f"{name}_", np.asarray(payload[name], dtype=np.float64))
        learner.y_mean_ = float(payload["y_mean"])
        learner.y_scale_ = float(payload["y_scale"])
        learner.coefs_ = [np.asarray(w, dtype=np.float64) for w in payload["coefs"]]
        learner.intercepts_ = [
            np.asarray(b, dtype=np.float64) for b in payload["intercepts"]
        ]
        learner.n_iter_ = int(payload["n_iter"])
        shapes = [w.shape for w in learner.coefs_]
        if any(w.ndim != 2 for w in learner.coefs_) or any(
            a[1] != b[0] for a, b in zip(shapes, shapes[1:], strict=False)
        ):
            raise ValueError(f"{spec['file']}: inconsistent layer shapes {shapes}")
        return learner


def _band_of(horizon: np.ndarray, bands: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Each row's band index (-1 outside every band)."""
    out = np.full(len(horizon), -1, dtype=np.int64)
    for i, (low, high) in enumerate(bands):
        out[(horizon >= low) & (horizon <= high)] = i
    return out


def banded_stacking_weights(
    predictions: np.ndarray,
    y: np.ndarray,
    horizon: np.ndarray,
    bands: tuple[tuple[int, int], ...],
) -> np.ndarray:
    """:func:`stacking_weights` fitted separately in each horizon band.

    A learner that helps at six months (a booster that knows where a studio's
    members are heading) can hurt one month ahead (where "members stay" is hard
    to beat); with one weight per learner the stacking has to trade the two
    off. Per band, each horizon band gets the mix that works there. A band with
    fewer than :data:`MIN_BAND_ROWS` rows takes the pooled weights.

    Parameters
    ----------
    predictions : numpy.ndarray
        Shape (n, k): each learner's out-of-sample prediction of each row.
    y, horizon : numpy.ndarray
        Shape (n,): the targets and each row's horizon.
    bands : tuple of (int, int)
        Inclusive horizon bands.

    Returns
    -------
    numpy.ndarray
        Shape (len(bands), k).
    """
    pooled = stacking_weights(predictions, y)
    band = _band_of(np.asarray(horizon), bands)
    weights = np.tile(pooled, (len(bands), 1))
    for i in range(len(bands)):
        rows = band == i
        if rows.sum() >= MIN_BAND_ROWS:
            weights[i] = stacking_weights(predictions[rows], y[rows])
    return weights


#: The weights :func:`banded_mix_weights` chooses among, from the second
#: candidate alone (0) to the first alone (1).
MIX_GRID = np.linspace(0.0, 1.0, 21)


def banded_mix_weights(
    first: np.ndarray,
    second: np.ndarray,
    y: np.ndarray,
    horizon: np.ndarray,
    bands: tuple[tuple[int, int], ...],
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Per horizon band, the weight of ``first`` in the mix of two forecasts.

    The mix is ``w * first + (1 - w) * second`` on the log scale (a geometric
    mean of the two forecasts), scored by its mean absolute error against ``y``
    (the log error is what a percentage error is to first order; the absolute
    value keeps a few wild months from choosing the weight). ``second`` is the
    safe side: ``w`` is the smallest value of :data:`MIX_GRID` whose error is
    within one standard error of the least error's (the "one standard error"
    rule), the standard error of the difference clustered by ``groups`` (rows
    of one studio are not independent). So ``first`` gets weight only where it
    is measurably better, not where the two tie within noise. A band with fewer
    than :data:`MIN_BAND_ROWS` rows takes the pooled weight.

    Parameters
    ----------
    first, second : numpy.ndarray
        Shape (n,): two out-of-sample forecasts of each row, log scale.
    y, horizon : numpy.ndarray
        Shape (n,): the targets and each row's horizon.
    bands : tuple of (int, int)
        Inclusive horizon bands.
    groups : numpy.ndarray, optional
        Shape (n,): each row's cluster (its studio); default every row its own.

    Returns
    -------
    numpy.ndarray
        Shape (len(bands),), each in [0, 1].
    """
    first, second, y = (np.asarray(a, dtype=np.float64) for a in (first, second, y))
    if not len(y):
        return np.ones(len(bands))
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)

    def best(rows: np.ndarray) -> float:
        mixed = np.outer(MIX_GRID, first[rows]) + np.outer(1 - MIX_GRID, second[rows])
        error = np.abs(y[rows] - mixed)
        least = int(np.argmin(error.mean(axis=1)))
        # Each weight's excess error over the least's, and its clustered
        # standard error: sqrt(sum over clusters of the summed deviations^2) / n.
        excess = error - error[least]
        _, cluster = np.unique(groups[rows], return_inverse=True)
        deviation = excess - excess.mean(axis=1, keepdims=True)
        totals = np.stack(
            [
                np.bincount(cluster, weights=d, minlength=cluster.max() + 1)
                for d in deviation
            ]
        )
        standard_error = np.sqrt((totals**2).sum(axis=1)) / excess.shape[1]
        within = excess.mean(axis=1) <= standard_error
        return float(MIX_GRID[np.flatnonzero(within)[0]])

    pooled = best(np.ones(len(y), dtype=bool))
    band = _band_of(np.asarray(horizon), bands)
    out = np.full(len(bands), pooled)
    for i in range(len(bands)):
        rows = band == i
        if rows.sum() >= MIN_BAND_ROWS:
            out[i] = best(rows)
    return out


class WeightedEnsemble:
    """Weighted sum of fitted learners; the weights come from out-of-sample stacking.

    Parameters
    ----------
    learners : list of CorrectionLearner
        Fitted learners.
    weights : numpy.ndarray
        Weights in [0, 1] (see :func:`stacking_weights`): shape (k,), or
        (len(bands), k) for one set per horizon band.
    bands : tuple of (int, int), optional
        The horizon bands of 2-d ``weights``; a row outside every band gets no
        correction.
    horizon_column : int, optional
        Position of the horizon in the design matrix (with ``bands``).
    """

    kind = "ensemble"

    def __init__(
        self,
        learners: list[Any],
        weights: np.ndarray,
        *,
        bands: tuple[tuple[int, int], ...] | None = None,
        horizon_column: int | None = None,
    ) -> None:
        self.learners = learners
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bands = None if bands is None else tuple(tuple(b) for b in bands)
        self.horizon_column = horizon_column
        if self.bands is not None:
            if horizon_column is None:
                raise ValueError("banded weights need the horizon column")
            if self.weights.shape != (len(self.bands), len(learners)):
                raise ValueError(
                    f"weights of shape {self.weights.shape} for {len(self.bands)} "
                    f"bands and {len(learners)} learners"
                )

    @classmethod
    def from_validation(
        cls,
        learners: list[Any],
        X_val: np.ndarray,
        y_val: np.ndarray,
        *,
        bands: tuple[tuple[int, int], ...] | None = None,
        horizon_column: int | None = None,
    ) -> WeightedEnsemble:
        """Weights stacked on the learners' predictions for validation rows
        (per horizon band with ``bands``)."""
        if len(y_val) == 0:
            flat = np.full(len(learners), 1.0 / len(learners))
            if bands is None:
                return cls(learners, flat)
            return cls(
                learners,
                np.tile(flat, (len(bands), 1)),
                bands=bands,
                horizon_column=horizon_column,
            )
        predictions = np.column_stack([learner.predict(X_val) for learner in learners])
        if bands is None:
            return cls(learners, stacking_weights(predictions, y_val))
        weights = banded_stacking_weights(
            predictions, y_val, X_val[:, horizon_column], bands
        )
        return cls(learners, weights, bands=bands, horizon_column=horizon_column)

    def combine(self, predictions: np.ndarray, horizon: np.ndarray) -> np.ndarray:
        """The weighted sum of the learners' ``predictions`` (shape (n, k)) for
        rows at ``horizon`` (shape (n,))."""
        if self.bands is None:
            return predictions @ self.weights
        band = _band_of(np.asarray(horizon), self.bands)
        rows = self.weights[np.maximum(band, 0)]
        return np.where(band >= 0, np.sum(predictions * rows, axis=1), 0.0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        if not self.learners:
            return np.zeros(len(X))
        if self.bands is None:
            return sum(
                w * learner.predict(X)
                for w, learner in zip(self.weights, self.learners, strict=True)
            )
        predictions = np.column_stack([learner.predict(X) for learner in self.learners])
        return self.combine(predictions, X[:, self.horizon_column])

    def save(self, directory: Path, prefix: str) -> dict[str, Any]:
        members = [
            learner.save(directory, f"{prefix}.{i}")
            for i, learner in enumerate(self.learners)
        ]
        spec: dict[str, Any] = {
            "kind": self.kind,
            "members": members,
            "weights": self.weights.tolist(),
        }
        if self.bands is not None:
            spec["bands"] = [list(b) for b in self.bands]
            spec["horizon_column"] = self.horizon_column
        return spec


def learner_from_spec(directory: Path, spec: dict[str, Any]) -> Any:
    """Load a learner from the spec its ``save`` returned."""
    kind = spec["kind"]
    if kind == LightGBMCorrection.kind:
        return LightGBMCorrection.load(directory, spec)
    if kind == XGBForestCorrection.kind:
        return XGBForestCorrection.load(directory, spec)
    if kind == RidgeCorrection.kind:
        return RidgeCorrection.load(directory, spec)
    if kind == AnchorCorrection.kind:
        return AnchorCorrection.load(directory, spec)
    if kind == MLPCorrection.kind:
        return MLPCorrection.load(directory, spec)
    if kind == WeightedEnsemble.kind:
        members = [learner_from_spec(directory, member) for member in spec["members"]]
        bands = spec.get("bands")
        return WeightedEnsemble(
            members,
            np.asarray(spec["weights"]),
            bands=None if bands is None else tuple(tuple(b) for b in bands),
            horizon_column=spec.get("horizon_column"),
        )
    raise ValueError(f"unknown correction learner kind {kind!r}")
