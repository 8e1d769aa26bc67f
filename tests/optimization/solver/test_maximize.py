"""Auto-optimise (optimization/solver/maximize.py) on synthetic forward models."""

import itertools

import numpy as np
import pytest

from optimization.solver import (
    LEVERS,
    LeverLimits,
    SolverInputError,
    max_achievable,
    optimize,
)
from optimization.solver.synthetic import TREE_LIKE_STEPS, TYPICAL_LEVERS, StudioModel

STEPS = {
    "retention_rate": 0.05,
    "avg_ticket_price": 20.0,
    "class_attendance_rate": 0.10,
    "new_members_monthly": 10.0,
    "staff_utilization_rate": 0.10,
    "upsell_rate": 0.10,
    "total_classes_held": 40.0,
}
RETENTION, TICKET, ATTENDANCE, NEW, STAFF, UPSELL, CLASSES = range(7)


def limits(**overrides) -> LeverLimits:
    return LeverLimits.build(max_increase=STEPS, max_decrease=STEPS, **overrides)


def test_monotone_levers_go_to_their_limits_and_are_reported_as_unbounded():
    # given a model whose revenue rises with every lever but staff utilisation
    model = StudioModel()

    # when
    best = optimize(model, current=TYPICAL_LEVERS, horizon=3, limits=limits())

    # then every lever that adds revenue sits at its maximum increase...
    rising = [RETENTION, TICKET, ATTENDANCE, NEW, UPSELL, CLASSES]
    expected = TYPICAL_LEVERS + np.array([STEPS[k] for k in LEVERS])
    np.testing.assert_allclose(best.recommended.levers[rising], expected[rising])
    assert {g.lever for g in best.unbounded_gains} == set(rising)
    assert all(g.kind == "max_increase" for g in best.unbounded_gains)
    assert all(g.probed_to > g.value for g in best.unbounded_gains)
    # ...and staff utilisation, which changes nothing, is left where it is
    assert best.recommended.levers[STAFF] == TYPICAL_LEVERS[STAFF]
    assert {(b.lever, b.kind) for b in best.binding_constraints} == {
        (i, "max_increase") for i in rising
    }
    # the figure is the model's own, and its Shapley impacts add up to the gain
    assert best.recommended.revenue == pytest.approx(
        model(best.recommended.levers[None])[0, 2]
    )
    assert best.recommended.impact.sum() == pytest.approx(
        best.recommended.revenue - best.current_revenue
    )
    assert best.money_cost == 0 and best.net_revenue == best.recommended.revenue
    assert best.limits.violations(TYPICAL_LEVERS, best.recommended.levers) == []


@pytest.mark.parametrize(
    "steps", [None, tuple(TREE_LIKE_STEPS)], ids=["smooth", "stepped"]
)
def test_the_optimum_matches_a_brute_force_grid_with_an_interior_peak(steps):
    """Two free levers, one with a revenue peak inside its range (staff utilisation)."""
    model = StudioModel(staff_peak=0.84, steps=steps)
    free = {NEW, STAFF}
    locked = [LEVERS[i] for i in range(7) if i not in free]
    box = limits(locked=locked)

    best = optimize(model, current=TYPICAL_LEVERS, horizon=3, limits=box)

    grid = []
    for new, staff in itertools.product(
        np.linspace(20.0, 40.0, 41), np.linspace(0.70, 0.90, 81)
    ):
        row = TYPICAL_LEVERS.copy()
        row[NEW], row[STAFF] = new, staff
        grid.append(row)
    brute = model(np.array(grid))[:, 2].max()
    assert best.recommended.revenue >= brute - 1e-6 * brute
    # (the stepped model floors staff utilisation to steps of 0.05: 0.85 is its best)
    assert best.recommended.levers[STAFF] == pytest.approx(0.84, abs=0.02)
    # an interior optimum is not an unbounded gain; new members is
    assert {g.lever for g in best.unbounded_gains} == {NEW}
    # the same as the inverse solver's own maximisation
    peak = max_achievable(model, current=TYPICAL_LEVERS, horizon=3, limits=box)
    assert best.recommended.revenue >= peak.revenue - 1e-9 * peak.revenue


def test_a_money_cost_above_the_gain_keeps_a_lever_and_below_it_pushes_it():
    model = StudioModel()
    horizon = 3
    # what one extra new member a month adds to month-3 revenue
    one_more = TYPICAL_LEVERS.copy()
    one_more[NEW] += 1
    gain = (model(one_more[None]) - model(TYPICAL_LEVERS[None]))[0, horizon - 1]

    def cost_per_new_member(price):
        return lambda rows: price * np.maximum(rows[:, NEW] - TYPICAL_LEVERS[NEW], 0)

    dear = optimize(
        model,
        current=TYPICAL_LEVERS,
        horizon=horizon,
        limits=limits(),
        money_cost=cost_per_new_member(2 * gain),
    )
    cheap = optimize(
        model,
        current=TYPICAL_LEVERS,
        horizon=horizon,
        limits=limits(),
        money_cost=cost_per_new_member(gain / 2),
    )

    assert dear.recommended.levers[NEW] <= TYPICAL_LEVERS[NEW]
    assert dear.money_cost == 0
    assert cheap.recommended.levers[NEW] == pytest.approx(TYPICAL_LEVERS[NEW] + 10)
    assert cheap.money_cost == pytest.approx(10 * gain / 2)
    assert cheap.net_revenue == pytest.approx(
        cheap.recommended.revenue - cheap.money_cost
    )
    assert cheap.money_cost_by_lever[NEW] == pytest.approx(cheap.money_cost)


def test_a_total_objective_counts_the_monthly_cost_every_month():
    model = StudioModel()

    best = optimize(
        model,
        current=TYPICAL_LEVERS,
        horizon=4,
        target_kind="total",
        limits=limits(),
        money_cost=lambda rows: 10.0 * (rows[:, TICKET] > TYPICAL_LEVERS[TICKET]),
    )

    assert best.recommended.revenue == pytest.approx(
        model(best.recommended.levers[None])[0, :4].sum()
    )
    assert best.money_cost == pytest.approx(40.0)


def test_alternatives_hold_the_strongest_levers_at_todays_value():
    best = optimize(StudioModel(), current=TYPICAL_LEVERS, horizon=3, limits=limits())

    strongest = list(np.argsort(-best.recommended.impact))[:2]
    assert [a.held_lever for a in best.alternatives] == strongest
    for alternative in best.alternatives:
        held = alternative.held_lever
        assert alternative.plan.levers[held] == TYPICAL_LEVERS[held]
        assert alternative.plan.revenue < best.recommended.revenue
        assert alternative.plan.lead_lever != held
    assert best.relaxed.revenue > best.recommended.revenue
    assert best.relaxed.factor == 2.0


def test_nothing_to_gain_leaves_todays_plan():
    # every lever locked but staff utilisation, which changes nothing
    box = limits(locked=[k for k in LEVERS if k != "staff_utilization_rate"])

    best = optimize(StudioModel(), current=TYPICAL_LEVERS, horizon=3, limits=box)

    np.testing.assert_array_equal(best.recommended.levers, TYPICAL_LEVERS)
    assert best.unbounded_gains == () and best.alternatives == ()
    assert best.recommended.revenue == pytest.approx(best.current_revenue)


def test_bad_inputs_are_refused_before_any_model_call():
    calls = []

    def model(rows):
        calls.append(len(rows))
        return StudioModel()(rows)

    with pytest.raises(SolverInputError, match="horizon"):
        optimize(model, current=TYPICAL_LEVERS, horizon=0)
    with pytest.raises(SolverInputError, match="current"):
        optimize(model, current=TYPICAL_LEVERS[:3], horizon=3)
    with pytest.raises(SolverInputError, match="n_alternatives"):
        optimize(model, current=TYPICAL_LEVERS, horizon=3, n_alternatives=-1)
    assert calls == []


def test_a_broken_money_cost_function_is_a_clear_error():
    with pytest.raises(ValueError, match="money_cost must return finite costs >= 0"):
        optimize(
            StudioModel(),
            current=TYPICAL_LEVERS,
            horizon=3,
            limits=limits(),
            money_cost=lambda rows: -np.ones(len(rows)),
        )
