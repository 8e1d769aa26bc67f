"""The multilayer-perceptron correction learner and its place in the forward model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forecasting.ml.corrections import (
    MIN_BAND_ROWS,
    MIX_GRID,
    MLPCorrection,
    WeightedEnsemble,
    banded_mix_weights,
    banded_stacking_weights,
    learner_from_spec,
    stacking_weights,
)
from forecasting.ml.frame import LEVERS, frame_from_generated
from forecasting.ml.model import ForwardModel
from studios.generator import generate


def _data(seed: int = 0, n: int = 3000):
    """A nonlinear target of two of six features, with 5% of the values missing."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = 0.1 * np.sin(2 * X[:, 0]) + 0.05 * X[:, 1] ** 2 + rng.normal(0, 0.005, n)
    X[rng.random(X.shape) < 0.05] = np.nan
    return X, y


@pytest.fixture(scope="module")
def fitted():
    X, y = _data()
    return MLPCorrection(random_state=0).fit(X[:2500], y[:2500]), X[2500:], y[2500:]


def test_the_network_learns_a_nonlinear_correction(fitted):
    """Held-out R² well above a linear fit's on a sine-and-square target."""
    learner, X, y = fitted
    r2 = 1 - np.mean((learner.predict(X) - y) ** 2) / np.var(y)
    filled = np.nan_to_num(X)
    design = np.c_[np.ones(len(X)), filled]
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    linear_r2 = 1 - np.mean((design @ coef - y) ** 2) / np.var(y)
    assert [w.shape for w in learner.coefs_] == [(6, 64), (64, 32), (32, 16), (16, 1)]
    assert r2 > 0.8
    assert linear_r2 < 0.3


def test_saved_as_json_weights_and_loaded_identically(fitted, tmp_path):
    learner, X, _ = fitted
    spec = learner.save(tmp_path, "revenue")
    assert spec == {"kind": "mlp", "file": "revenue.mlp.json"}
    payload = json.loads((tmp_path / "revenue.mlp.json").read_text())
    assert len(payload["coefs"]) == 4
    loaded = learner_from_spec(tmp_path, spec)
    np.testing.assert_array_equal(loaded.predict(X), learner.predict(X))


def test_same_seed_same_network_and_another_seed_another():
    X, y = _data(n=800)
    first = MLPCorrection(random_state=3, max_iter=30).fit(X, y).predict(X)
    again = MLPCorrection(random_state=3, max_iter=30).fit(X, y).predict(X)
    other = MLPCorrection(random_state=4, max_iter=30).fit(X, y).predict(X)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_missing_and_far_out_of_range_features_give_bounded_finite_output(fitted):
    learner, X, y = fitted
    extreme = np.full((3, 6), np.nan)
    extreme[1] = 1e12
    extreme[2] = -1e12
    out = learner.predict(extreme)
    assert np.isfinite(out).all()
    # inputs are clipped to the training range, so the output stays in scale
    assert np.abs(out).max() < 10 * np.abs(y).max()


def test_an_unfitted_network_says_so():
    from forecasting.ml.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPCorrection().predict(np.zeros((1, 6)))


def test_a_weight_file_with_inconsistent_layers_is_refused(fitted, tmp_path):
    learner, _, _ = fitted
    spec = learner.save(tmp_path, "revenue")
    path = tmp_path / spec["file"]
    payload = json.loads(path.read_text())
    payload["coefs"][1] = payload["coefs"][1][:10]  # 10 rows instead of 64
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="inconsistent layer shapes"):
        learner_from_spec(tmp_path, spec)


# ------------------------------------------------------------ in the forward model
@pytest.fixture(scope="module")
def small_frame():
    return frame_from_generated(generate(n_studios=8, months=36, seed=5))


@pytest.fixture(scope="module")
def ensemble_mlp(small_frame):
    return ForwardModel(correction="ensemble_mlp", random_state=0).fit(small_frame)


def test_ensemble_mlp_adds_the_network_as_a_fourth_weighted_member(ensemble_mlp):
    correction = ensemble_mlp.correction_
    assert isinstance(correction, WeightedEnsemble)
    learned = [
        learner.kind for learner in correction.learners if learner.kind != "anchor"
    ]
    assert learned == ["lightgbm", "xgb_forest", "ridge", "mlp"]
    # stacked weights: each in [0, 1]
    assert ((correction.weights >= 0) & (correction.weights <= 1)).all()


def test_ensemble_mlp_round_trips_and_keeps_the_lever_response(
    ensemble_mlp, small_frame, tmp_path
):
    checksums = ensemble_mlp.save(tmp_path / "model")
    assert any(name.endswith(".mlp.json") for name in checksums)
    loaded = ForwardModel.load(tmp_path / "model", expected_sha256=checksums)
    assert loaded.get_params()["correction"] == "ensemble_mlp"
    history = small_frame[small_frame["unique_id"] == small_frame["unique_id"].iloc[0]]
    state = loaded.make_state(history, history["ds"].iloc[24])
    plans = np.repeat(state.levers[None, :], 5, axis=0)
    plans[:, LEVERS.index("retention_rate")] = [0.5, 0.7, 0.8, 0.9, 0.99]
    revenue = loaded.predict(state, plans, 12).revenue
    assert (np.diff(revenue, axis=0) >= 0).all()
    original = ensemble_mlp.make_state(history, history["ds"].iloc[24])
    np.testing.assert_array_equal(
        ensemble_mlp.predict(original, plans, 12).revenue, revenue
    )


def test_the_network_alone_is_a_selectable_correction(small_frame):
    model = ForwardModel(
        correction="mlp", random_state=0, calibration_folds=0, correct_members=False
    ).fit(small_frame)
    learned = [lrn.kind for lrn in model.correction_.learners if lrn.kind != "anchor"]
    assert learned == ["mlp"]


def test_an_unknown_correction_is_refused(small_frame):
    with pytest.raises(ValueError, match="unknown correction 'mlp2'"):
        ForwardModel(correction="mlp2").fit(small_frame)


class _Column:
    """A stand-in learner that predicts one column of the design matrix."""

    kind = "anchor"

    def __init__(self, column: int) -> None:
        self.column = column

    def predict(self, X: np.ndarray) -> np.ndarray:
        return X[:, self.column]


def test_banded_stacking_gives_each_horizon_band_the_learner_that_works_there():
    """A learner right one month ahead and wrong later, another the reverse: one
    set of weights must trade them off, one per band takes each where it works."""
    rng = np.random.default_rng(0)
    n = 1200
    horizon = rng.integers(1, 13, n).astype(float)
    y = rng.normal(0, 0.05, n)
    short = np.where(horizon == 1, y, rng.normal(0, 0.05, n)) + rng.normal(0, 0.005, n)
    long = np.where(horizon >= 2, y, rng.normal(0, 0.05, n)) + rng.normal(0, 0.005, n)
    predictions = np.column_stack([short, long])
    bands = ((1, 1), (2, 12))

    weights = banded_stacking_weights(predictions, y, horizon, bands)

    assert weights.shape == (2, 2)
    assert weights[0, 0] > 0.9 and weights[0, 1] < 0.1
    assert weights[1, 1] > 0.9 and weights[1, 0] < 0.1
    # the pooled weights cannot do both: worse one month ahead than per band
    pooled = stacking_weights(predictions, y)
    month_1 = horizon == 1
    banded_error = np.mean((predictions[month_1] @ weights[0] - y[month_1]) ** 2)
    pooled_error = np.mean((predictions[month_1] @ pooled - y[month_1]) ** 2)
    assert banded_error < 0.5 * pooled_error


def test_a_band_with_too_few_rows_takes_the_pooled_weights():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 0.05, 400)
    predictions = np.column_stack(
        [y + rng.normal(0, 0.01, 400), rng.normal(0, 0.05, 400)]
    )
    horizon = np.full(400, 5.0)
    horizon[: MIN_BAND_ROWS - 1] = 1.0

    weights = banded_stacking_weights(predictions, y, horizon, ((1, 1), (2, 12)))

    np.testing.assert_allclose(weights[0], stacking_weights(predictions, y))


def test_the_mix_weight_follows_the_better_forecast_in_each_band():
    """First exact one month ahead, second exact later; two equally good
    independent forecasts get a mix that leans to the safe side; a band of too
    few rows takes the pooled weight."""
    rng = np.random.default_rng(2)
    n = 2000
    horizon = rng.integers(1, 13, n)
    y = rng.normal(0, 0.1, n)
    noise = rng.normal(0, 0.05, n)
    first = np.where(horizon == 1, y, y + noise)
    second = np.where(horizon == 1, y + noise, y)
    bands = ((1, 1), (2, 3), (4, 12))

    weight = banded_mix_weights(first, second, y, horizon, bands)

    np.testing.assert_array_equal(weight, [1.0, 0.0, 0.0])
    # two independent errors of one size: the best mix is halfway; within one
    # standard error of it, the weight of the first is lower, not higher
    a, b = y + rng.normal(0, 0.05, n), y + rng.normal(0, 0.05, n)
    even = banded_mix_weights(a, b, y, horizon, bands)
    for (low, high), w in zip(bands, even, strict=True):
        rows = (horizon >= low) & (horizon <= high)
        errors = [np.abs(y - v * a - (1 - v) * b)[rows].mean() for v in MIX_GRID]
        assert 0.3 <= w <= MIX_GRID[int(np.argmin(errors))], (even, low)
    # a tie (both exact) keeps the second
    assert (banded_mix_weights(y, y, y, horizon, bands) == 0.0).all()
    few = np.where(np.arange(n) < MIN_BAND_ROWS - 1, 1, 5)
    pooled = banded_mix_weights(first, second, y, few, ((1, 1), (2, 12)))
    assert pooled[0] == pooled[1] == 0.0
    assert (banded_mix_weights([], [], [], [], bands) == 1.0).all()


def test_a_gain_that_one_studio_makes_is_no_gain_for_the_mix():
    """The first forecast is better on one studio of ten and no better on the
    others: row by row it looks measurably better, by studio it is noise."""
    rng = np.random.default_rng(3)
    studios = np.repeat(np.arange(10), 100)
    y = rng.normal(0, 0.1, len(studios))
    second = y + rng.normal(0, 0.05, len(studios))
    first = np.where(
        studios == 0,
        y + rng.normal(0, 0.01, len(studios)),
        y + rng.normal(0, 0.05, len(studios)),
    )
    horizon = np.ones(len(y))
    by_row = banded_mix_weights(first, second, y, horizon, ((1, 12),))
    by_studio = banded_mix_weights(
        first, second, y, horizon, ((1, 12),), groups=studios
    )
    assert by_studio[0] < by_row[0], (by_studio, by_row)


def test_a_banded_ensemble_predicts_by_band_and_round_trips(tmp_path):
    """Each row takes its band's weights, none outside every band; saved and
    loaded, the same predictions."""
    from forecasting.ml.corrections import AnchorCorrection

    columns = {
        "horizon": 0,
        "status_quo_growth": 1,
        "status_quo_member_growth": 2,
        "seasonal_ratio_years": 3,
        "seasonal_naive_gap": 4,
    }
    learners = [
        AnchorCorrection(anchor="naive", low=1, high=12, columns=columns),
        AnchorCorrection(anchor="members_naive", low=1, high=12, columns=columns),
    ]
    ensemble = WeightedEnsemble(
        learners,
        np.array([[1.0, 0.0], [0.25, 0.5]]),
        bands=((1, 1), (2, 6)),
        horizon_column=0,
    )
    X = np.array(
        [
            [1.0, 0.2, 0.4, 0.0, 0.0],
            [3.0, 0.2, 0.4, 0.0, 0.0],
            [9.0, 0.2, 0.4, 0.0, 0.0],
        ]
    )

    g = ensemble.predict(X)

    np.testing.assert_allclose(g, [-0.2, 0.25 * -0.2 + 0.5 * -0.4, 0.0])
    spec = ensemble.save(tmp_path, "c")
    loaded = learner_from_spec(tmp_path, json.loads(json.dumps(spec)))
    np.testing.assert_array_equal(loaded.predict(X), g)


def test_banded_weights_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="bands"):
        WeightedEnsemble(
            [_Column(0)], np.ones((3, 1)), bands=((1, 1), (2, 12)), horizon_column=0
        )
    with pytest.raises(ValueError, match="horizon column"):
        WeightedEnsemble([_Column(0)], np.ones((2, 1)), bands=((1, 1), (2, 12)))


def test_ridge_worked_through_in_row_blocks_is_the_ridge_of_the_whole_matrix(
    monkeypatch,
):
    """Blocks of 7 rows give the closed-form ridge on the whole standardised matrix.

    The reference is written out here from the definition (median fill, clip to
    the training range, standardise, solve the normal equations), so a block that
    is skipped, counted twice or standardised with the wrong statistics fails.
    """
    from forecasting.ml import corrections

    rng = np.random.default_rng(4)
    X = rng.normal(size=(101, 5)).astype(np.float32)
    X[:, 3] *= 1000.0
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 4] = np.nan  # a feature no row has
    y = 0.3 * np.nan_to_num(X[:, 0]) - 0.001 * np.nan_to_num(X[:, 3])
    y = y + rng.normal(0, 0.01, 101)

    monkeypatch.setattr(corrections, "_ROW_BLOCK", 7)
    learner = corrections.RidgeCorrection(alpha=10.0).fit(X, y)

    X64 = X.astype(np.float64)
    median = np.zeros(5)
    median[:4] = np.nanmedian(X64[:, :4], axis=0)
    filled = np.where(np.isnan(X64), median, X64)
    scale = filled.std(axis=0)
    Z = (filled - filled.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    coef = np.linalg.solve(Z.T @ Z + 10.0 * np.eye(5), Z.T @ (y - y.mean()))
    np.testing.assert_allclose(learner.coef_, coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(learner.predict(X), Z @ coef + y.mean(), atol=1e-9)
    assert learner.coef_[4] == 0.0
