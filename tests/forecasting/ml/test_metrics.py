"""Metric functions of forecasting.ml.evaluation against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting.ml.evaluation import (
    business_impact_score,
    directional_accuracy,
    interval_coverage,
    interval_score,
    mae,
    mape,
    mean_relative_width,
    r2,
    rmse,
)

ACTUAL = np.array([100.0, 200.0, 300.0, 400.0])
PREDICTED = np.array([110.0, 190.0, 330.0, 400.0])


def test_rmse_and_mae_match_hand_computation():
    """Errors 10, -10, 30, 0: RMSE sqrt(1100/4), MAE 50/4."""
    assert rmse(ACTUAL, PREDICTED) == pytest.approx(math.sqrt(1100 / 4))
    assert mae(ACTUAL, PREDICTED) == pytest.approx(12.5)


def test_mape_is_a_fraction():
    """|% errors| 10%, 5%, 10%, 0% average to 0.0625."""
    assert mape(ACTUAL, PREDICTED) == pytest.approx(0.0625)


def test_r2_matches_hand_computation_and_is_nan_for_constant_actuals():
    """SS_tot = 50,000 and SS_res = 1,100 give R² = 0.978."""
    assert r2(ACTUAL, PREDICTED) == pytest.approx(1 - 1100 / 50000)
    assert math.isnan(r2(np.array([5.0, 5.0]), np.array([4.0, 6.0])))


def test_directional_accuracy_compares_directions_from_the_base_month():
    """Up/up, down/up, up/up and flat/down: two of four directions match."""
    base = np.array([105.0, 195.0, 310.0, 410.0])
    actual = np.array([110.0, 190.0, 320.0, 400.0])
    predicted = np.array([120.0, 200.0, 315.0, 410.0])
    assert directional_accuracy(actual, predicted, base) == pytest.approx(0.5)


def test_a_no_change_forecast_never_gets_the_direction_right():
    """The naive forecast predicts no change, which matches no actual change."""
    base = np.array([100.0, 100.0])
    assert directional_accuracy(np.array([90.0, 110.0]), base, base) == 0.0


def test_business_impact_counts_errors_above_ten_percent_twice():
    """|% errors| 5% and 20%: (5% + 2 x 20%) / 2 = 22.5%."""
    actual = np.array([100.0, 100.0])
    predicted = np.array([105.0, 80.0])
    assert business_impact_score(actual, predicted) == pytest.approx(0.225)


def test_a_ten_percent_error_exactly_is_not_doubled():
    """The threshold is strict: 10% counts once."""
    assert business_impact_score(np.array([200.0]), np.array([220.0])) == pytest.approx(
        0.1
    )


def test_interval_coverage_counts_bounds_as_inside():
    """Inside, on the lower bound, above, below: half are covered."""
    actual = np.array([10.0, 20.0, 30.0, 40.0])
    lower = np.array([5.0, 20.0, 10.0, 45.0])
    upper = np.array([15.0, 25.0, 25.0, 50.0])
    assert interval_coverage(actual, lower, upper) == pytest.approx(0.5)


def test_mean_relative_width_divides_by_the_forecast():
    """Widths 20 on 100 and 10 on 200: (0.2 + 0.05) / 2."""
    lower = np.array([90.0, 195.0])
    upper = np.array([110.0, 205.0])
    assert mean_relative_width(lower, upper, np.array([100.0, 200.0])) == pytest.approx(
        0.125
    )


def test_interval_score_adds_width_and_misses_weighted_by_the_coverage():
    """80% intervals (alpha 0.2, misses x10), relative to the actual value: a
    hit scores its width (20 on 100: 0.2), a miss its width plus ten times the
    distance (10 + 10 x 5 on 200: 0.3)."""
    actual = np.array([100.0, 200.0])
    lower = np.array([90.0, 185.0])
    upper = np.array([110.0, 195.0])
    assert interval_score(actual, lower, upper, 0.8) == pytest.approx(0.25)
    # a narrower interval that still holds scores better, one that misses worse
    assert interval_score(actual[:1], lower[:1] + 5, upper[:1] - 5, 0.8) < 0.2
    assert interval_score(actual[:1], lower[:1] + 15, upper[:1] + 15, 0.8) > 0.2
