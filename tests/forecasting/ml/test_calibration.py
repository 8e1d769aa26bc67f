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


def _one_studio_is_volatile(rng, studios=10, per_studio=240):
    """Residuals at horizons 1..3 of ``studios`` studios, the first of which
    errs three times as wide as the others (a small studio paid in lumps)."""
    studio = np.repeat(np.array([f"s{k}" for k in range(studios)]), per_studio)
    horizon = np.tile(np.arange(1, 4), studios * per_studio // 3)
    sd = 0.05 * np.sqrt(horizon) * np.where(studio == "s0", 3.0, 1.0)
    return rng.normal(0.0, sd), horizon, studio


def test_a_volatile_studio_gets_wider_intervals_and_the_steady_ones_narrower():
    rng = np.random.default_rng(11)
    residuals, horizon, studio = _one_studio_is_volatile(rng)

    pooled = HorizonConformal.fit(residuals, horizon, max_horizon=3)
    by_studio = HorizonConformal.fit(residuals, horizon, max_horizon=3, studio=studio)

    def covered(fitted, name, wide):
        lower, upper = fitted.starting(6, name).interval(3, 0.8)
        sd = 0.05 * np.sqrt(np.arange(1, 4)) * (3.0 if wide else 1.0)
        fresh = rng.normal(0.0, sd, size=(20000, 3))
        return ((fresh >= lower) & (fresh <= upper)).mean(axis=0)

    assert pooled.starting(6, "s0") is pooled  # no factors: the pooled width
    assert by_studio.studio_factor("s0") > 1.5
    assert all(by_studio.studio_factor(f"s{k}") < 1.0 for k in range(1, 10))
    # Pooled, the volatile studio is missed about half the time and the
    # steady ones are over-covered; by studio, both come nearer 80% (each
    # factor is shrunk towards 1: 240 residuals weigh two-thirds of a
    # studio's own spread).
    volatile, steady = covered(pooled, "s0", True), covered(pooled, "s1", False)
    assert volatile[0] < 0.55 and steady[0] > 0.84
    assert (covered(by_studio, "s0", True) > volatile + 0.05).all()
    assert covered(by_studio, "s1", False) == pytest.approx([0.8] * 3, abs=0.04)
    assert (np.abs(covered(by_studio, "s1", False) - 0.8) < steady - 0.8).all()
    # A studio the calibration never saw keeps the pooled width.
    assert by_studio.studio_factor("new") == 1.0
    np.testing.assert_array_equal(
        by_studio.starting(6, "new").scale, by_studio.starting(6).scale
    )


def test_a_studio_with_few_residuals_keeps_the_pooled_width():
    rng = np.random.default_rng(12)
    residuals, horizon, studio = _one_studio_is_volatile(rng)
    rare = (studio != "s0") | (np.arange(len(studio)) < 15)

    fitted = HorizonConformal.fit(
        residuals[rare], horizon[rare], max_horizon=3, studio=studio[rare]
    )

    assert fitted.studio_factor("s0") == 1.0


def test_the_studio_factors_are_saved_and_older_models_load_without_them():
    rng = np.random.default_rng(13)
    residuals, horizon, studio = _one_studio_is_volatile(rng, per_studio=60)
    month = np.tile(np.arange(1, 13), len(studio) // 12)
    fitted = HorizonConformal.fit(
        residuals, horizon, max_horizon=3, month=month, studio=studio
    )

    again = HorizonConformal.from_json(fitted.to_json())
    older = {k: v for k, v in fitted.to_json().items() if k != "studios"}

    assert again.studios == fitted.studios
    np.testing.assert_array_equal(
        again.starting(7, "s0").interval(3, 0.8),
        fitted.starting(7, "s0").interval(3, 0.8),
    )
    assert HorizonConformal.from_json(older).studio_factor("s0") == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_studio_factors_read_from_the_other_origin_cover_the_next_months_better(seed):
    """A studio's residuals come from two rolling origins, and how hard it is to
    forecast shifts from one half-year to the next. Factors read from the same
    residuals they divide make those look more alike than the next months' will
    be; read from the other origin's, the intervals of the months after both
    cover more (the stored factors are the same)."""
    rng = np.random.default_rng(seed)
    studios, per = 30, 72
    steady = np.exp(rng.normal(0.0, 0.3, studios))
    # each studio's spread in the two origins' half-years and in the next one
    regime = steady[:, None] * np.exp(rng.normal(0.0, 0.4, (studios, 3)))
    studio = np.repeat(np.array([f"s{k}" for k in range(studios)]), per)
    fold = np.tile(np.repeat([0, 1], per // 2), studios)
    horizon = np.tile(np.arange(1, 4), studios * per // 3)
    residuals = rng.normal(0.0, 0.05 * regime[np.repeat(np.arange(studios), per), fold])
    fresh = rng.normal(0.0, 0.05 * regime[:, 2:3], size=(studios, 4000))

    def covered(fitted):
        bounds = [fitted.starting(6, f"s{k}").interval(1, 0.8) for k in range(studios)]
        lower = np.array([b[0][0] for b in bounds])[:, None]
        upper = np.array([b[1][0] for b in bounds])[:, None]
        return ((fresh >= lower) & (fresh <= upper)).mean()

    same = HorizonConformal.fit(residuals, horizon, 3, studio=studio)
    other = HorizonConformal.fit(residuals, horizon, 3, studio=studio, fold=fold)

    assert other.studios == same.studios
    assert covered(other) > covered(same) + 0.004
