"""studios.month_checks.unfinished_month: a latest month exported before it ended."""

from __future__ import annotations

import math

import pytest

from studios.month_checks import UNFINISHED_SHARE, unfinished_month

YEAR = [48_000.0, 50_000.0, 47_000.0, 52_000.0, 49_000.0, 51_000.0] * 2


def test_half_a_month_with_the_members_held_is_named_with_its_figures():
    why = unfinished_month(YEAR, 24_500.0, 300, 298)
    assert why is not None
    # against the month before (51,000) and the median of the 12 (49,500)
    assert "its revenue ($24,500) is 0.48x the month before ($51,000)" in why
    assert "0.49x the median of the 12 months before it ($49,500)" in why
    assert "member count held up (0.99x the month before)" in why


def test_a_whole_month_and_a_merely_weak_one_are_not_named():
    assert unfinished_month(YEAR, 49_000.0, 300, 300) is None
    # just above the share of the lower of the two levels: a weak month
    weak = UNFINISHED_SHARE * 49_500.0 * 1.01
    assert unfinished_month(YEAR, weak, 300, 300) is None
    assert unfinished_month(YEAR, UNFINISHED_SHARE * 49_500.0 * 0.99, 300, 300)


def test_revenue_that_fell_with_the_members_is_a_real_fall_not_an_unfinished_month():
    assert unfinished_month(YEAR, 24_500.0, 300, 240) is None
    assert unfinished_month(YEAR, 24_500.0, 300, 271)  # 0.90x: held up


@pytest.mark.parametrize(
    "before, members_before",
    [
        (YEAR[:5], 300),  # fewer than six months before it
        (YEAR[:11] + [0.0], 300),  # the month before earned nothing
        (YEAR, None),  # no member count the month before
        (YEAR, 0),
    ],
)
def test_without_enough_to_compare_against_nothing_is_said(before, members_before):
    assert unfinished_month(before, 10_000.0, members_before, 300) is None
    # six months are enough
    assert unfinished_month(YEAR[:6], 10_000.0, 300, 300) is not None


def test_missing_months_before_it_are_passed_over():
    with_gaps = [math.nan, *YEAR[:3], math.nan, *YEAR[3:]]
    assert unfinished_month(with_gaps, 24_500.0, 300, 298) == unfinished_month(
        YEAR, 24_500.0, 300, 298
    )
    assert unfinished_month(YEAR, math.nan, 300, 298) is None
