"""The tactics catalogue and action plans built from lever changes."""

import pytest

from forecasting.ml.frame import LEVERS
from optimization.actions import LeverChangeImpact, action_plan_build
from optimization.tactics import CATALOGUE, TACTICS_BY_LEVER, tactics_for_change


def test_every_lever_has_tactics_with_sane_figures():
    assert set(TACTICS_BY_LEVER) == set(LEVERS)
    for tactic in CATALOGUE:
        assert tactic.expected_improvement > 0
        assert 1 <= tactic.timeline_weeks <= 26
        assert tactic.cost_estimate > 0
    assert len({t.key for t in CATALOGUE}) == len(CATALOGUE)


def test_the_cheapest_sufficient_tactic_is_chosen():
    assert [t.key for t in tactics_for_change("retention_rate", 0.008)] == [
        "member_checkins"
    ]
    assert [t.key for t in tactics_for_change("retention_rate", 0.015)] == [
        "reengagement_campaign"
    ]


def test_a_change_beyond_any_single_tactic_combines_them():
    chosen = tactics_for_change("retention_rate", 0.05)

    assert len(chosen) >= 2
    assert sum(t.expected_improvement for t in chosen) >= 0.05


def test_decreases_need_no_tactic():
    assert tactics_for_change("avg_ticket_price", -5) == []


def test_plan_is_ranked_by_impact_per_cost_and_shares_add_up():
    changes = [
        LeverChangeImpact("retention_rate", 0.90, 0.95, 6000.0),
        LeverChangeImpact("avg_ticket_price", 150.0, 156.0, 1800.0),
        LeverChangeImpact("upsell_rate", 0.20, 0.20, 0.0),
    ]

    plan = action_plan_build(changes)

    assert [a.priority for a in plan] == list(range(1, len(plan) + 1))
    ratios = [a.expected_impact / a.cost_estimate for a in plan]
    assert ratios == sorted(ratios, reverse=True)
    retention = [a for a in plan if a.lever == "retention_rate"]
    assert sum(a.expected_impact for a in retention) == pytest.approx(6000.0, abs=0.05)
    assert all(a.lever != "upsell_rate" for a in plan)
    assert "from 90.0% to 95.0% (+5.0 pts)" in retention[0].specifics
