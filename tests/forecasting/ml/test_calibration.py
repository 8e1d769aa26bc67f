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


def _january_is_hard(rng, n_per_month=400):
    """Residuals at horizons 1..3 whose January targets spread three times as
    wide as the other months' (annual fees billed in January)."""
    month = np.tile(np.arange(1, 13), n_per_month * 3)
    horizon = np.repeat(np.arange(1, 4), 12 * n_per_month)
    sd = 0.05 * np.sqrt(horizon) * np.where(month == 1, 3.0, 1.0)
    return rng.normal(0.0, sd), horizon, month


def _covered(fitted, base_month, rng, horizon=3, draws=20000):
    """Coverage of the 80% intervals of forecasts from ``base_month`` at each
    horizon, on fresh residuals of the same process."""
    lower, upper = fitted.starting(base_month).interval(horizon, 0.8)
    target = (base_month - 1 + np.arange(1, horizon + 1)) % 12 + 1
    sd = 0.05 * np.sqrt(np.arange(1, horizon + 1)) * np.where(target == 1, 3.0, 1.0)
    fresh = rng.normal(0.0, sd, size=(draws, horizon))
    return ((fresh >= lower) & (fresh <= upper)).mean(axis=0)


def test_a_hard_calendar_month_gets_wider_intervals_and_the_others_narrower():
    rng = np.random.default_rng(3)
    residuals, horizon, month = _january_is_hard(rng)

    pooled = HorizonConformal.fit(residuals, horizon, max_horizon=3)
    by_month = HorizonConformal.fit(residuals, horizon, max_horizon=3, month=month)

    assert pooled.calendar is None and pooled.starting(12) is pooled
    assert by_month.calendar[0] > 2.0 and (by_month.calendar[1:] < 1.0).all()
    # From a November base month, month 2 is a January: pooled, it is missed
    # (the other months' width) and the Mays are over-covered; by month, each
    # holds about 80%.
    pooled_november = _covered(pooled, 11, rng)
    assert pooled_november[1] < 0.55 and pooled_november[0] > 0.82
    assert _covered(by_month, 11, rng) == pytest.approx([0.8] * 3, abs=0.03)
    assert _covered(by_month, 4, rng) == pytest.approx([0.8] * 3, abs=0.03)


def test_a_calendar_month_with_few_residuals_keeps_the_pooled_width():
    rng = np.random.default_rng(5)
    residuals, horizon, month = _january_is_hard(rng)
    rare = (month != 1) | (np.arange(len(month)) < 12 * 5)  # a handful of Januaries

    fitted = HorizonConformal.fit(
        residuals[rare], horizon[rare], max_horizon=3, month=month[rare]
    )

    assert fitted.calendar[0] == 1.0


def test_the_calendar_factors_are_saved_and_older_models_load_without_them():
    rng = np.random.default_rng(9)
    residuals, horizon, month = _january_is_hard(rng, n_per_month=50)
    fitted = HorizonConformal.fit(residuals, horizon, max_horizon=3, month=month)

    again = HorizonConformal.from_json(fitted.to_json())
    older = {k: v for k, v in fitted.to_json().items() if k != "calendar"}

    np.testing.assert_array_equal(again.calendar, fitted.calendar)
    np.testing.assert_array_equal(
        again.starting(7).interval(3, 0.8), fitted.starting(7).interval(3, 0.8)
    )
    assert HorizonConformal.from_json(older).calendar is None
