"""The interval coverage check that gates activation."""

import math

import pandas as pd
import pytest

from forecasting.ml.checks import coverage_check


def _table(**coverage_and_n: tuple[float, int]) -> pd.DataFrame:
    """Evaluation rows of plain test forecasts, keyed ``h1``, ``h12``..., and rows
    of other methods, splits and modes that the check must not read."""
    rows = [
        {
            "mode": "plain",
            "split": "test",
            "horizon": int(key[1:]),
            "method": "model",
            "n": n,
            "coverage": coverage,
        }
        for key, (coverage, n) in coverage_and_n.items()
    ]
    rows += [
        {**rows[0], "method": "naive", "coverage": None},
        {**rows[0], "split": "validation", "coverage": 0.2},
        {**rows[0], "mode": "what_if", "coverage": 0.2},
    ]
    return pd.DataFrame(rows)


def test_passes_within_ten_points_and_names_every_horizon_with_its_sample():
    passed, detail = coverage_check(
        _table(h1=(0.875, 72), h3=(0.70, 240)), horizons=[1, 3]
    )

    assert passed
    assert detail == "80% intervals cover h=1: 88% of 72, h=3: 70% of 240 on test"


@pytest.mark.parametrize("coverage", [0.92, 0.68])
def test_fails_beyond_ten_points_either_way_naming_only_that_horizon(coverage):
    passed, detail = coverage_check(
        _table(h1=(0.80, 72), h3=(coverage, 72)), horizons=[1, 3]
    )

    assert not passed
    assert detail == f"80% intervals cover h=3: {coverage:.0%} of 72 on test"


def test_horizons_not_stored_are_not_checked():
    passed, detail = coverage_check(_table(h1=(0.81, 72)), horizons=[1, 6])

    assert passed
    assert detail == "80% intervals cover h=1: 81% of 72 on test"


@pytest.mark.parametrize("coverage", [math.nan, None])
def test_nothing_to_measure_fails(coverage):
    assert coverage_check(_table(h1=(coverage, 0)), horizons=[1]) == (
        False,
        "no test pairs to measure coverage on",
    )
