"""One-sided quantiles and exceedance probabilities of the calibrated distribution."""

import numpy as np
import pytest

from forecasting.ml.calibration import HorizonConformal


@pytest.fixture(scope="module")
def calibration():
    rng = np.random.default_rng(7)
    horizon = np.repeat(np.arange(1, 4), 4000)
    residuals = rng.normal(0.0, 0.05 * np.sqrt(horizon))
    return HorizonConformal.fit(residuals, horizon, max_horizon=3), rng


@pytest.mark.parametrize("probability", [0.5, 0.8, 0.9])
def test_the_lower_quantile_is_beaten_with_the_stated_probability(
    calibration, probability
):
    fitted, rng = calibration
    offsets = fitted.lower_quantile(3, probability)

    fresh = rng.normal(0.0, 0.05 * np.sqrt([1, 2, 3]), size=(20000, 3))
    beaten = (fresh >= offsets).mean(axis=0)

    assert beaten == pytest.approx([probability] * 3, abs=0.02)
    assert (np.diff(offsets) < 0).all() if probability > 0.5 else True


def test_exceedance_inverts_the_lower_quantile(calibration):
    fitted, _ = calibration
    for probability in (0.3, 0.6, 0.8, 0.95):
        offsets = fitted.lower_quantile(2, probability)
        assert fitted.exceedance(offsets[-1], 2) == pytest.approx(probability, abs=0.01)
