"""Inverse prediction and lever impact analysis on the real forward model."""

import pytest

from forecasting.models import PredictionLog
from forecasting.services import forecast_predict
from optimization.services import (
    DEFAULT_MAX_INCREASE,
    InverseConstraints,
    inverse_predict,
    lever_impact_analysis,
)
from studiosim.errors import InvalidInput

pytestmark = pytest.mark.django_db

BASE = "2026-04"


def _status_quo(studio, months=3) -> float:
    return (
        forecast_predict(studio=studio, base_month=BASE, months=months, log=False)
        .predictions[-1]
        .revenue
    )


def _moved(out) -> dict[str, tuple[float, float]]:
    return {
        c.lever: (c.current, c.recommended)
        for c in out.lever_changes
        if c.recommended != c.current
    }


def test_a_reachable_target_is_reached_and_rechecked(active_version, loaded_studios):
    studio = loaded_studios[0]
    target = _status_quo(studio) * 1.08

    out = inverse_predict(studio=studio, base_month=BASE, target_revenue=target)

    assert out.reachable
    assert out.projected_revenue >= target * 0.995
    assert out.monthly_revenue[-1] == pytest.approx(out.projected_revenue, rel=1e-6)
    assert _moved(out)
    assert out.action_plan and out.action_plan[0].priority == 1
    assert PredictionLog.objects.filter(prediction_type="inverse").count() == 1


def test_impacts_add_up_to_the_revenue_change(active_version, loaded_studios):
    studio = loaded_studios[2]

    out = inverse_predict(
        studio=studio, base_month=BASE, target_revenue=_status_quo(studio) * 1.1
    )

    total = sum(c.impact_on_revenue for c in out.lever_changes)
    assert total == pytest.approx(out.projected_revenue - out.current_revenue, abs=1.0)


def test_an_unreachable_target_names_the_binding_constraints(
    active_version, loaded_studios
):
    studio = loaded_studios[0]
    target = _status_quo(studio) * 1.6

    out = inverse_predict(studio=studio, base_month=BASE, target_revenue=target)

    assert not out.reachable
    assert out.achievable_revenue < target
    assert out.projected_revenue == pytest.approx(out.achievable_revenue, rel=1e-3)
    binding = {(b.lever, b.kind) for b in out.binding_constraints}
    assert ("avg_ticket_price", "max_increase") in binding
    assert "cannot be reached" in out.message and "binding" in out.message
    assert out.relaxed.factor == 2 and out.relaxed.revenue > out.achievable_revenue


def test_every_constraint_and_lock_is_respected(active_version, loaded_studios):
    studio = loaded_studios[3]
    constraints = InverseConstraints(
        max_increase={"retention_rate": 0.01, "avg_ticket_price": 5.0},
        upper_bounds={"upsell_rate": 0.3},
        locked_levers=("new_members_monthly", "total_classes_held"),
    )

    out = inverse_predict(
        studio=studio,
        base_month=BASE,
        target_revenue=_status_quo(studio) * 1.25,
        constraints=constraints,
    )

    plans = [out.recommended_levers, out.relaxed.levers] + [
        a.levers for a in out.alternatives
    ]
    current = {c.lever: c.current for c in out.lever_changes}
    for plan in plans[:1] + plans[2:]:
        assert plan["retention_rate"] <= current["retention_rate"] + 0.01 + 1e-9
        assert plan["avg_ticket_price"] <= current["avg_ticket_price"] + 5.0 + 1e-9
        assert plan["upsell_rate"] <= max(0.3, current["upsell_rate"]) + 1e-9
        assert plan["new_members_monthly"] == current["new_members_monthly"]
        assert plan["total_classes_held"] == current["total_classes_held"]
        for lever, limit in DEFAULT_MAX_INCREASE.items():
            assert plan[lever] <= current[lever] + limit + 1e-9


def test_low_cost_priority_closes_a_small_gap_with_one_cheap_tactic(
    active_version, loaded_studios
):
    """A 2% gap needs one low-cost tactic ($250 a month) on a single lever."""
    studio = loaded_studios[1]

    out = inverse_predict(
        studio=studio,
        base_month=BASE,
        target_revenue=_status_quo(studio) * 1.02,
        constraints=InverseConstraints(prioritize_low_cost=True),
    )

    assert out.reachable
    assert len(_moved(out)) == 1
    assert out.tactic_cost == 250.0
    assert [a.cost for a in out.action_plan] == ["low"]


def test_a_target_already_met_needs_no_change(active_version, loaded_studios):
    studio = loaded_studios[1]

    out = inverse_predict(
        studio=studio, base_month=BASE, target_revenue=_status_quo(studio) * 0.9
    )

    assert out.reachable and not _moved(out) and out.action_plan == []
    assert "no change needed" in out.message


def test_results_are_deterministic(active_version, loaded_studios):
    studio = loaded_studios[4]
    target = _status_quo(studio) * 1.12

    first = inverse_predict(
        studio=studio, base_month=BASE, target_revenue=target, log=False
    )
    second = inverse_predict(
        studio=studio, base_month=BASE, target_revenue=target, log=False
    )

    assert first.as_dict() == second.as_dict()


def test_total_over_the_horizon_is_supported(active_version, loaded_studios):
    studio = loaded_studios[0]
    status_quo = forecast_predict(studio=studio, base_month=BASE, months=3, log=False)
    target = status_quo.total_projected_revenue * 1.05

    out = inverse_predict(
        studio=studio, base_month=BASE, target_revenue=target, target_kind="total"
    )

    assert out.reachable
    assert sum(out.monthly_revenue) >= target * 0.995


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"target_revenue": 0}, "target_revenue"),
        ({"target_revenue": -100}, "target_revenue"),
        ({"target_months": 13}, "target_months"),
        ({"target_kind": "year"}, "target_kind"),
        (
            {"constraints": InverseConstraints(locked_levers=("vibes",))},
            "locked_levers",
        ),
        (
            {"constraints": InverseConstraints(max_increase={"retention_rate": -1})},
            "max_increase",
        ),
        ({"current_levers": {"upsell_rate": 2}}, "upsell_rate"),
    ],
)
def test_bad_input_names_the_field(active_version, loaded_studios, kwargs, field):
    call = {
        "studio": loaded_studios[0],
        "base_month": BASE,
        "target_revenue": 90000.0,
        **kwargs,
    }

    with pytest.raises(InvalidInput) as error:
        inverse_predict(**call)

    assert error.value.field == field
    assert not PredictionLog.objects.exists()


def test_sensitivity_is_the_forward_models_response(active_version, loaded_studios):
    studio = loaded_studios[0]

    out = lever_impact_analysis(
        studio=studio, analysis_type="sensitivity", base_month=BASE
    )

    by_lever = {i.lever: i for i in out.lever_impacts}
    base = forecast_predict(studio=studio, base_month=BASE, log=False)
    raised = forecast_predict(
        studio=studio,
        base_month=BASE,
        levers={"retention_rate": base.base_levers["retention_rate"] * 1.01},
        log=False,
    )
    expected = raised.predictions[-1].revenue - base.predictions[-1].revenue
    assert by_lever["retention_rate"].revenue_sensitivity == pytest.approx(
        expected, abs=0.05
    )
    assert [i.rank for i in out.lever_impacts] == list(range(1, 8))
    assert out.lever_impacts[0].impact_score == 1.0
    for lever in ("retention_rate", "avg_ticket_price", "upsell_rate"):
        assert by_lever[lever].revenue_sensitivity > 0
        assert by_lever[lever].recommendation


def test_correlation_ranks_by_historical_correlation(active_version, loaded_studios):
    out = lever_impact_analysis(studio=loaded_studios[0], analysis_type="correlation")

    scores = [abs(i.correlation or 0) for i in out.lever_impacts]
    assert scores == sorted(scores, reverse=True)
    assert set(out.correlation_matrix) == {i.lever for i in out.lever_impacts}
    assert all(-1 <= (c or 0) <= 1 for c in out.correlation_matrix.values())


def test_elasticity_is_sensitivity_relative_to_revenue(active_version, loaded_studios):
    out = lever_impact_analysis(studio=loaded_studios[0], analysis_type="elasticity")

    for item in out.lever_impacts:
        assert item.elasticity == pytest.approx(
            item.revenue_sensitivity / out.base_revenue / 0.01, abs=1e-3
        )


def test_unknown_analysis_type_is_refused(active_version, loaded_studios):
    with pytest.raises(InvalidInput) as error:
        lever_impact_analysis(studio=loaded_studios[0], analysis_type="vibes")

    assert error.value.field == "analysis_type"
