"""Scenario comparison: alignment, differences and the probability one plan beats another."""

import datetime as dt
import math
from statistics import NormalDist

import pytest

from scenarios.selectors import scenario_compare
from studiosim.errors import InvalidInput, NotFound
from tests.factories import StudioFactory
from tests.scenarios.builders import forward_scenario

pytestmark = pytest.mark.django_db

SIGMA = 0.05


def _pair(studio, **b_kwargs):
    baseline = forward_scenario(
        studio,
        name="Baseline",
        revenues=[10000.0, 11000.0, 12000.0],
        members=[200.0, 210.0, 220.0],
    )
    other = forward_scenario(
        studio,
        name="Retention push",
        revenues=[10500.0, 11000.0, 11400.0],
        members=[204.0, 210.0, 209.0],
        levers={"retention_rate": 0.95, "avg_ticket_price": 153.0},
        **b_kwargs,
    )
    return baseline, other


def test_monthly_differences_and_probabilities_match_a_hand_calculation(owner):
    # given
    baseline, other = _pair(owner.studio)

    # when
    result = scenario_compare(user=owner, scenario_ids=[baseline.pk, other.pk])

    # then
    assert [s.name for s in result.scenarios] == ["Baseline", "Retention push"]
    assert [m.month_year for m in result.months] == [
        dt.date(2024, 2, 1),
        dt.date(2024, 3, 1),
        dt.date(2024, 4, 1),
    ]
    first = result.months[0].figures[1]
    assert first.revenue_difference.absolute == pytest.approx(500.0)
    assert first.revenue_difference.percent == pytest.approx(0.05)
    assert first.member_difference.absolute == pytest.approx(4.0)
    assert first.member_difference.percent == pytest.approx(0.02)
    # Both log-normal with sigma 0.05 and independent: the log gap over sqrt(2) sigma.
    expected = NormalDist().cdf(math.log(10500 / 10000) / (SIGMA * math.sqrt(2)))
    assert first.probability_above_baseline == pytest.approx(expected, abs=1e-9)
    assert 0.5 < first.probability_above_baseline < 1
    assert result.months[1].figures[1].probability_above_baseline == pytest.approx(0.5)
    assert result.months[2].figures[1].probability_above_baseline < 0.5
    assert result.months[0].figures[0].revenue_difference is None  # the baseline itself


def test_the_verdict_says_which_total_is_higher_by_how_much_and_how_surely(owner):
    baseline, other = _pair(owner.studio)

    [verdict] = scenario_compare(
        user=owner, scenario_ids=[baseline.pk, other.pk]
    ).verdicts

    assert verdict.common_months == 3
    assert verdict.revenue == 32900.0
    assert verdict.baseline_revenue == 33000.0
    assert verdict.difference.absolute == pytest.approx(-100.0)
    assert verdict.difference.percent == pytest.approx(-100 / 33000, abs=1e-6)
    assert verdict.higher_scenario_id == str(baseline.pk)
    assert verdict.by == 100.0
    # Each total's sd is the sum of its months' revenue x sigma.
    spread = math.hypot(SIGMA * 33000, SIGMA * 32900)
    assert verdict.probability_above_baseline == pytest.approx(
        NormalDist().cdf(-100 / spread), abs=1e-9
    )


def test_the_probabilities_either_way_add_up_to_one(owner):
    a, b = _pair(owner.studio)

    ab = scenario_compare(user=owner, scenario_ids=[a.pk, b.pk])
    ba = scenario_compare(user=owner, scenario_ids=[b.pk, a.pk])

    for month_ab, month_ba in zip(ab.months, ba.months, strict=True):
        p_ab = month_ab.figures[1].probability_above_baseline
        p_ba = month_ba.figures[1].probability_above_baseline
        assert 0 < p_ab < 1
        assert p_ab + p_ba == pytest.approx(1.0)
    assert ab.verdicts[0].probability_above_baseline + ba.verdicts[
        0
    ].probability_above_baseline == pytest.approx(1.0)
    assert ba.verdicts[0].higher_scenario_id == str(a.pk)


def test_levers_are_listed_with_their_differences(owner):
    baseline, other = _pair(owner.studio)

    result = scenario_compare(user=owner, scenario_ids=[baseline.pk, other.pk])

    levers = {row.lever: row for row in result.levers}
    assert levers["retention_rate"].values == (0.92, 0.95)
    assert levers["retention_rate"].differences[1].absolute == pytest.approx(0.03)
    assert levers["avg_ticket_price"].differences[1].percent == pytest.approx(0.02)
    assert levers["upsell_rate"].differences[1].absolute == 0
    assert levers["upsell_rate"].differences[0] is None


def test_months_are_aligned_on_the_calendar(owner):
    baseline = forward_scenario(owner.studio, revenues=[100.0, 110.0])
    later = forward_scenario(
        owner.studio, revenues=[115.0, 120.0], base_month=dt.date(2024, 2, 1)
    )

    result = scenario_compare(user=owner, scenario_ids=[baseline.pk, later.pk])

    assert [m.month_year.month for m in result.months] == [2, 3, 4]
    assert result.months[0].figures[1] is None
    assert result.months[1].figures[1].revenue_difference.absolute == 5.0
    assert result.months[2].figures[0] is None
    assert result.months[2].figures[1].revenue_difference is None
    assert result.verdicts[0].common_months == 1
    assert result.verdicts[0].by == 5.0


def test_without_intervals_there_is_no_probability(owner):
    baseline = forward_scenario(owner.studio, revenues=[100.0], sigma=None)
    other = forward_scenario(owner.studio, revenues=[110.0])

    result = scenario_compare(user=owner, scenario_ids=[baseline.pk, other.pk])

    assert result.months[0].figures[1].probability_above_baseline is None
    assert result.verdicts[0].probability_above_baseline is None
    assert result.verdicts[0].higher_scenario_id == str(other.pk)


def test_scenarios_of_different_studios_are_not_compared(superuser):
    mine = forward_scenario(StudioFactory(), revenues=[100.0])
    theirs = forward_scenario(StudioFactory(), revenues=[100.0])

    with pytest.raises(InvalidInput, match="one studio") as error:
        scenario_compare(user=superuser, scenario_ids=[mine.pk, theirs.pk])

    assert error.value.field == "scenario_ids"


@pytest.mark.parametrize("count", [0, 1, 11])
def test_fewer_than_two_or_too_many_scenarios_are_refused(owner, count):
    ids = [forward_scenario(owner.studio, revenues=[1.0]).pk for _ in range(count)]

    with pytest.raises(InvalidInput):
        scenario_compare(user=owner, scenario_ids=ids)


def test_a_repeated_scenario_is_refused(owner):
    scenario = forward_scenario(owner.studio, revenues=[1.0])

    with pytest.raises(InvalidInput, match="twice"):
        scenario_compare(user=owner, scenario_ids=[scenario.pk, str(scenario.pk)])


def test_a_scenario_the_user_cannot_see_is_not_found(owner, other_studio):
    mine = forward_scenario(owner.studio, revenues=[1.0])
    theirs = forward_scenario(other_studio, revenues=[1.0])

    with pytest.raises(NotFound):
        scenario_compare(user=owner, scenario_ids=[mine.pk, theirs.pk])
