"""Insights of a scenario: every figure recomputed here with the forward model."""

import datetime as dt
import statistics
from decimal import Decimal
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from forecasting.ml.frame import LEVERS
from forecasting.registry import active_model
from forecasting.services import forecast_predict, studio_state
from insights.services import OVER_UTILISED, RiskKind, insights_generate
from optimization.tactics import CATALOGUE, TACTICS_BY_LEVER
from scenarios.selectors import log_sigma, probability_higher
from scenarios.services import scenario_save
from studios.models import MonthlyMetric, StudioRole
from studios.selectors import studio_baseline
from studiosim.cache import cache_stats
from studiosim.errors import InvalidInput, NoActiveModel, NotFound
from tests.factories import MonthlyMetricFactory, StudioFactory, StudioMembershipFactory
from tests.scenarios.builders import forward_scenario

pytestmark = pytest.mark.django_db

BASE = "2026-04"
TACTICS = {t.name: t for t in CATALOGUE}


def _scenario(studio, user, *, months=3, levers=None):
    out = forecast_predict(
        studio=studio, base_month=BASE, months=months, levers=levers, user=user
    )
    scenario = scenario_save(
        user=user, studio=studio, prediction_id=out.prediction_id, name="Plan"
    )
    return scenario, out


def _month_n(studio, levers, months):
    """Month-N revenue and its log sigma, from the forecasting service."""
    last = forecast_predict(
        studio=studio, base_month=BASE, months=months, levers=levers, log=False
    ).predictions[-1]
    return last.revenue, log_sigma(last.lower, last.upper, 0.8)


# --- next best actions ------------------------------------------------------------


def test_each_actions_gain_is_its_tactic_applied_to_the_starting_plan(
    active_version, loaded_studios, superuser
):
    # given: a plan raising retention by several points
    studio = loaded_studios[1]
    scenario, out = _scenario(studio, superuser, levers={"retention_rate": 0.97})

    # when
    actions = insights_generate(
        user=superuser, scenario_id=scenario.pk
    ).next_best_actions

    # then
    assert {a.lever for a in actions} == {"retention_rate"}
    base_revenue, base_sigma = _month_n(studio, out.base_levers, 3)
    for action in actions:
        tactic = TACTICS[action.action]
        moved = {
            **out.base_levers,
            action.lever: out.base_levers[action.lever] + tactic.expected_improvement,
        }
        revenue, sigma = _month_n(studio, moved, 3)
        assert action.expected_revenue_gain == pytest.approx(
            revenue - base_revenue, abs=0.02
        )
        assert action.confidence == pytest.approx(
            probability_higher(revenue, sigma, base_revenue, base_sigma), abs=1e-3
        )
        assert 0.5 < action.confidence < 1
        assert action.timeline_weeks == tactic.timeline_weeks
    ratios = [
        a.expected_revenue_gain / TACTICS[a.action].cost_estimate for a in actions
    ]
    assert ratios == sorted(ratios, reverse=True)
    assert [a.priority for a in actions] == list(range(1, len(actions) + 1))


def test_a_status_quo_scenario_gets_the_cheapest_first_step_on_each_lever(
    active_version, loaded_studios, superuser
):
    scenario, _ = _scenario(loaded_studios[2], superuser)

    actions = insights_generate(
        user=superuser, scenario_id=scenario.pk, insight_types=["next_best_actions"]
    ).next_best_actions

    cheapest = {
        lever: min(tactics, key=lambda t: (t.cost_estimate, t.timeline_weeks)).name
        for lever, tactics in TACTICS_BY_LEVER.items()
    }
    assert actions
    assert len({a.lever for a in actions}) == len(actions)
    assert all(a.action == cheapest[a.lever] for a in actions)
    assert all(a.expected_revenue_gain > 0 for a in actions)


# --- risks and opportunities on a constructed history -------------------------------

FIRST_MONTH = dt.date(2021, 11, 1)
MONTHS = 54  # to 2026-04, the base month
RETENTION_TAIL = [0.95, 0.946, 0.939, 0.936, 0.929, 0.925]
STAFF_TAIL = [0.93, 0.96, 0.94, 0.97, 0.95, 0.94, 0.96, 0.93, 0.95, 0.97, 0.94, 0.95]
ATTENDANCE_TAIL = [0.52, 0.55, 0.6, 0.53, 0.57, 0.5, 0.58, 0.54, 0.56, 0.51, 0.59, 0.55]


@pytest.fixture
def constructed(active_version, loaded_studios):
    """A yoga studio whose Julys run 20% low, whose retention has been falling for
    six months, whose staff work at about 95% and whose classes are half full."""
    studio = StudioFactory(name="Constructed Yoga", max_capacity=20)
    for i in range(MONTHS):
        index = FIRST_MONTH.year * 12 + FIRST_MONTH.month - 1 + i
        month = dt.date(index // 12, index % 12 + 1, 1)
        from_end = MONTHS - i
        dip = Decimal("9240.00") if month.month == 7 else Decimal(0)
        MonthlyMetricFactory(
            studio=studio,
            month_year=month,
            new_members=20,
            churned_members=20,
            retention_rate=RETENTION_TAIL[-from_end] if from_end <= 6 else 0.95,
            staff_utilization_rate=STAFF_TAIL[-from_end] if from_end <= 12 else 0.95,
            class_attendance_rate=(
                ATTENDANCE_TAIL[-from_end] if from_end <= 12 else 0.55
            ),
            upsell_rate=0.1,
            membership_revenue=Decimal("37500.00") - dip,
            total_revenue=Decimal("46200.00") - dip,
        )
    return studio


def _risks(insights, kind):
    return [r for r in insights.risk_factors if r.kind == kind]


def test_a_seasonal_dip_in_the_window_is_priced_from_the_studios_own_seasonality(
    constructed, superuser
):
    scenario, out = _scenario(constructed, superuser, months=4)  # May to August

    [dip] = _risks(
        insights_generate(user=superuser, scenario_id=scenario.pk), "seasonal_dip"
    )

    july = out.predictions[2]
    assert dip.month_year == dt.date(2026, 7, 1) == july.month_year
    assert dip.probability == 1.0  # four Julys out of four below trend
    # The index is the studio baseline's seasonality index for July.
    index = studio_baseline(studio=constructed).seasonality[6].revenue_index
    assert index < 0.85
    assert dip.potential_revenue_impact == pytest.approx(
        july.revenue - july.revenue / index, rel=1e-3
    )


def test_a_falling_retention_trend_is_carried_on_by_the_model(constructed, superuser):
    scenario, out = _scenario(constructed, superuser)

    [risk] = _risks(
        insights_generate(user=superuser, scenario_id=scenario.pk),
        RiskKind.RETENTION_DECLINE,
    )

    fit = stats.linregress(range(6), RETENTION_TAIL)
    assert risk.probability == pytest.approx(
        stats.t.cdf(-fit.slope / fit.stderr, df=4), abs=1e-4
    )
    assert risk.probability > 0.99
    loaded = active_model()
    state = studio_state(
        model=loaded.model,
        version_id=loaded.version.pk,
        studio=constructed,
        base_month=dt.date(2026, 4, 1),
    )
    plan = np.array([out.levers[k] for k in LEVERS])
    path = np.repeat(plan[None, None, :], 3, axis=1)
    path[0, :, 0] = plan[0] + fit.slope * np.arange(1, 4)
    trend = loaded.model.predict(state, path, 3).revenue[0, -1]
    assert risk.potential_revenue_impact == pytest.approx(
        trend - out.predictions[-1].revenue, abs=0.02
    )
    assert risk.potential_revenue_impact < 0
    assert "re-engagement campaign" in risk.mitigation.lower()


def test_staff_over_utilisation_is_priced_and_its_probability_follows_the_spread(
    constructed, superuser
):
    scenario, out = _scenario(constructed, superuser)

    [risk] = _risks(
        insights_generate(user=superuser, scenario_id=scenario.pk),
        RiskKind.STAFF_OVERUTILISATION,
    )

    planned = out.levers["staff_utilization_rate"]
    assert planned == 0.95
    assert risk.probability == pytest.approx(
        1 - NormalDist(planned, statistics.stdev(STAFF_TAIL)).cdf(OVER_UTILISED),
        abs=1e-4,
    )
    capped, _ = _month_n(constructed, {**out.levers, "staff_utilization_rate": 0.9}, 3)
    assert risk.potential_revenue_impact == pytest.approx(
        capped - out.predictions[-1].revenue, abs=0.02
    )


def test_full_classes_are_a_capacity_risk(constructed, superuser):
    scenario, out = _scenario(
        constructed, superuser, levers={"class_attendance_rate": 0.95}
    )

    insights = insights_generate(user=superuser, scenario_id=scenario.pk)

    [risk] = _risks(insights, RiskKind.CAPACITY_LIMIT)
    capped, _ = _month_n(constructed, {**out.levers, "class_attendance_rate": 0.9}, 3)
    assert risk.potential_revenue_impact == pytest.approx(
        capped - out.predictions[-1].revenue, abs=0.02
    )
    assert risk.potential_revenue_impact < 0
    assert not [o for o in insights.opportunities if o.kind == "spare_capacity"]


def _peer_p75(studio, field):
    peers = [
        MonthlyMetric.objects.filter(studio=s, month_year__lte=dt.date(2026, 4, 1))
        .latest("month_year")
        .__dict__[field]
        for s in type(studio)
        .objects.filter(studio_type=studio.studio_type)
        .exclude(pk=studio.pk)
    ]
    return float(np.percentile(peers, 75))


def test_spare_capacity_and_upsell_headroom_are_priced_by_the_model(
    constructed, superuser
):
    scenario, out = _scenario(constructed, superuser)

    opportunities = {
        o.kind: o
        for o in insights_generate(
            user=superuser, scenario_id=scenario.pk
        ).opportunities
    }

    plan_revenue, plan_sigma = _month_n(constructed, out.levers, 3)
    fill = min(
        0.85, max(max(ATTENDANCE_TAIL), _peer_p75(constructed, "class_attendance_rate"))
    )
    upsell = _peer_p75(constructed, "upsell_rate")
    for kind, lever, level in (
        ("spare_capacity", "class_attendance_rate", fill),
        ("upsell_headroom", "upsell_rate", upsell),
    ):
        opportunity = opportunities[kind]
        assert opportunity.target_value == pytest.approx(level, abs=1e-4)
        revenue, sigma = _month_n(constructed, {**out.levers, lever: level}, 3)
        assert opportunity.potential_revenue_gain == pytest.approx(
            revenue - plan_revenue, abs=0.02
        )
        assert opportunity.confidence == pytest.approx(
            probability_higher(revenue, sigma, plan_revenue, plan_sigma), abs=1e-3
        )
        assert opportunity.actions


# --- access, types, caching ---------------------------------------------------------


def test_a_viewer_may_ask_and_a_stranger_gets_not_found(
    active_version, loaded_studios, superuser, owner
):
    studio = loaded_studios[0]
    scenario, _ = _scenario(studio, superuser)
    viewer = StudioMembershipFactory(studio=studio, role=StudioRole.VIEWER).user

    assert insights_generate(user=viewer, scenario_id=scenario.pk).source == "rules"
    with pytest.raises(NotFound):
        insights_generate(user=owner, scenario_id=scenario.pk)


def test_only_the_asked_types_are_returned_and_unknown_ones_refused(
    active_version, loaded_studios, superuser
):
    scenario, _ = _scenario(loaded_studios[0], superuser)

    only_risks = insights_generate(
        user=superuser, scenario_id=scenario.pk, insight_types=["RISK_FACTORS"]
    )

    assert only_risks.risk_factors is not None
    assert only_risks.next_best_actions is None and only_risks.opportunities is None
    with pytest.raises(InvalidInput) as error:
        insights_generate(
            user=superuser, scenario_id=scenario.pk, insight_types=["vibes"]
        )
    assert error.value.field == "insight_types"
    every = insights_generate(user=superuser, scenario_id=scenario.pk, insight_types=[])
    assert None not in (
        every.next_best_actions,
        every.risk_factors,
        every.opportunities,
    )


def test_the_second_call_is_served_from_the_cache(
    active_version, loaded_studios, superuser
):
    scenario, _ = _scenario(loaded_studios[0], superuser)
    first = insights_generate(user=superuser, scenario_id=scenario.pk)
    hits = cache_stats()["process"]["hits"]

    second = insights_generate(user=superuser, scenario_id=scenario.pk)

    assert cache_stats()["process"]["hits"] == hits + 1
    assert second == first
    assert second.model_version == active_version.version


def test_without_an_active_model_there_are_no_insights(owner):
    scenario = forward_scenario(owner.studio, revenues=[1.0])

    with pytest.raises(NoActiveModel):
        insights_generate(user=owner, scenario_id=scenario.pk)


def test_a_forecast_of_no_revenue_is_below_any_other_and_ties_with_none():
    """The log-normal comparison's limit at 0 (a studio that records no
    revenue), where log(0) raised a math domain error inside generateInsights."""
    assert probability_higher(0.0, None, 1000.0, 0.1) == 0.0
    assert probability_higher(1000.0, 0.1, 0.0, None) == 1.0
    assert probability_higher(0.0, None, 0.0, None) == 0.5
    # a positive pair without a spread: certainty either way
    assert probability_higher(1100.0, None, 1000.0, None) == 1.0
