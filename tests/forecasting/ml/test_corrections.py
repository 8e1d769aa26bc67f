"""The multilayer-perceptron correction learner and its place in the forward model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forecasting.ml.corrections import (
    MLPCorrection,
    WeightedEnsemble,
    learner_from_spec,
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
