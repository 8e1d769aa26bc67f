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


def test_a_response_spread_of_zero_leaves_the_calibrated_quantile(calibration):
    fitted, _ = calibration
    for probability in (0.3, 0.8, 0.95):
        with_none = fitted.lower_quantile_with(3, probability, np.zeros((2, 3)))
        np.testing.assert_array_equal(
            with_none, np.tile(fitted.lower_quantile(3, probability), (2, 1))
        )


@pytest.mark.parametrize("probability", [0.6, 0.8, 0.9])
def test_the_convolved_quantile_is_beaten_with_the_stated_probability(
    calibration, probability
):
    # Calibrated residuals plus an independent normal response error: the offsets
    # are the 1-p quantiles of their sum (a Monte Carlo check of the convolution).
    fitted, rng = calibration
    spread = np.array([[0.02, 0.05, 0.15]])
    offsets = fitted.lower_quantile_with(3, probability, spread)[0]

    fresh = rng.normal(0.0, 0.05 * np.sqrt([1, 2, 3]), size=(40000, 3))
    fresh += rng.normal(0.0, spread[0], size=(40000, 3))
    beaten = (fresh >= offsets).mean(axis=0)

    assert beaten == pytest.approx([probability] * 3, abs=0.015)
    assert fitted.exceedance(offsets[-1], 3, spread=0.15) == pytest.approx(
        probability, abs=0.01
    )


def test_a_wider_response_spread_asks_for_more_margin(calibration):
    fitted, _ = calibration
    spread = np.outer([0.0, 0.01, 0.05, 0.2, 1.0, 3.0], [1.0, 1.0])
    offsets = fitted.lower_quantile_with(2, 0.8, spread)

    assert (np.diff(offsets, axis=0) < 0).all()
    # With a wide response error the quantile is essentially the normal one's.
    assert offsets[-1, -1] == pytest.approx(
        -0.8416 * np.hypot(3.0, 0.05 * 2**0.5), rel=0.02
    )


@pytest.mark.parametrize("spread", [np.array([[-0.1, 0.0]]), np.array([0.1, 0.1])])
def test_a_bad_response_spread_is_refused(calibration, spread):
    fitted, _ = calibration
    with pytest.raises(ValueError, match="spread"):
        fitted.lower_quantile_with(2, 0.8, spread)


def test_a_horizon_with_too_few_residuals_borrows_the_previous_scale():
    rng = np.random.default_rng(2)
    horizon = np.concatenate([np.repeat([1, 2, 4], 40), np.full(5, 3)])
    residuals = rng.normal(0.0, 0.05 * np.sqrt(horizon))

    scale = HorizonConformal.fit(residuals, horizon, max_horizon=5).scale

    assert scale[2] == scale[1]  # horizon 3: 5 residuals
    assert scale[4] == scale[3]  # horizon 5: none
    with pytest.raises(ValueError, match="at horizon 1"):
        HorizonConformal.fit(residuals[horizon != 1], horizon[horizon != 1], 5)
