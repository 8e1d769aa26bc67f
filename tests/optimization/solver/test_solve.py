"""Behaviour of the inverse solver on synthetic forward models.

The models (optimization/solver/synthetic.py) are the SPEC §2.6 stock-flow studio in
three flavours: smooth; piecewise constant in every lever, like a tree ensemble; and
with an attendance x upsell interaction plus a non-monotone staff-utilisation response.
"""

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from optimization.solver import (
    DEFAULT_COST_WEIGHTS,
    LeverLimits,
    SolverInputError,
    max_achievable,
    solve,
)
from optimization.solver.synthetic import (
    TREE_LIKE_STEPS,
    TYPICAL_LEVERS,
    StudioModel,
    random_studio,
)

MODELS = {
    "smooth": StudioModel(),
    "stepped": StudioModel(steps=tuple(TREE_LIKE_STEPS)),
    "interacting": StudioModel(staff_peak=0.85, interaction=True),
}
CURRENT = TYPICAL_LEVERS
HORIZON = 3
TYPICAL_CHANGE = np.array([0.05, 20.0, 0.1, 10.0, 0.1, 0.1, 50.0])
OWNER_LIMITS = LeverLimits.build(
    max_increase=TYPICAL_CHANGE, max_decrease=TYPICAL_CHANGE
)


def forecast(model, levers, horizon=HORIZON):
    """Month-``horizon`` revenue of one plan."""
    return float(model(np.asarray(levers)[None])[0, horizon - 1])


def assert_within(levers, current, limits):
    """Check every limit with plain comparisons, independently of the solver's code."""
    assert (levers >= limits.lower).all()
    assert (levers <= limits.upper).all()
    assert (levers - current <= limits.max_increase).all()
    assert (current - levers <= limits.max_decrease).all()
    locked = sorted(limits.locked)
    assert (levers[locked] == current[locked]).all()


def grid_search(model, current, limits, free, n_points=41):
    """Every plan on a grid over the free levers: rows, month-3 revenue and cost."""
    lo, hi = limits.box(current)
    axes = [np.linspace(lo[i], hi[i], n_points) for i in free]
    rows = np.tile(current, (n_points ** len(free), 1))
    rows[:, free] = np.array(list(itertools.product(*axes)))
    cost = (DEFAULT_COST_WEIGHTS * np.abs(rows - current) / np.abs(current)).sum(axis=1)
    return rows, model(rows)[:, HORIZON - 1], cost


@pytest.mark.parametrize("uplift", [0.02, 0.1, 0.2])
@pytest.mark.parametrize("name", MODELS)
def test_reaches_a_reachable_target_without_overshooting_much(name, uplift):
    """The plan reaches the target itself and lands within 5% above it."""
    # given
    model = MODELS[name]
    target = forecast(model, CURRENT) * (1 + uplift)

    # when
    solution = solve(
        model, current=CURRENT, target=target, horizon=HORIZON, limits=OWNER_LIMITS
    )

    # then
    assert solution.reachable
    assert target <= solution.recommended.revenue <= 1.05 * target
    assert solution.recommended.revenue == forecast(model, solution.recommended.levers)
    assert solution.achievement_rate >= 1.0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", MODELS)
def test_cost_is_close_to_a_brute_force_grid_optimum(name, seed):
    """On three free levers the plan costs at most 5% more than the grid's cheapest."""
    # given
    rng = np.random.default_rng(seed)
    model = MODELS[name]
    free = sorted(int(i) for i in rng.choice(7, size=3, replace=False))
    limits = LeverLimits.build(
        max_increase=TYPICAL_CHANGE,
        max_decrease=TYPICAL_CHANGE,
        locked=[i for i in range(7) if i not in free],
    )
    rows, revenue, cost = grid_search(model, CURRENT, limits, free)
    base = forecast(model, CURRENT)
    target = base + rng.uniform(0.1, 0.9) * (revenue.max() - base)

    # when
    solution = solve(
        model, current=CURRENT, target=target, horizon=HORIZON, limits=limits
    )

    # then
    cheapest = cost[revenue >= target].min()
    assert solution.reachable
    assert solution.recommended.cost <= 1.05 * cheapest + 1e-9


def test_unreachable_target_reports_the_maximum_and_the_binding_limits():
    """Every limit that caps revenue is named, and the best revenue is the true max."""
    # given: ticket capped by a bound, staff and classes pinned by zero changes
    model = MODELS["smooth"]
    pinned = {"staff_utilization_rate": 0.0, "total_classes_held": 0.0}
    limits = LeverLimits.build(
        max_increase={"retention_rate": 0.05, "new_members_monthly": 10.0, **pinned},
        max_decrease=pinned,
        upper={"avg_ticket_price": 160.0},
        locked={"class_attendance_rate", "upsell_rate"},
    )
    _, revenue, _ = grid_search(model, CURRENT, limits, [0, 1, 3])

    # when
    solution = solve(
        model, current=CURRENT, target=2 * revenue.max(), horizon=HORIZON, limits=limits
    )

    # then
    assert not solution.reachable
    assert solution.best_achievable_revenue == pytest.approx(revenue.max(), rel=1e-9)
    assert solution.recommended.revenue == pytest.approx(revenue.max(), rel=1e-9)
    assert solution.achievement_rate == pytest.approx(0.5, rel=1e-9)
    assert {(b.lever_name, b.kind) for b in solution.binding_constraints} == {
        ("retention_rate", "max_increase"),
        ("avg_ticket_price", "upper_bound"),
        ("class_attendance_rate", "locked"),
        ("new_members_monthly", "max_increase"),
        ("upsell_rate", "locked"),
        ("total_classes_held", "max_increase"),
    }
    assert solution.alternatives == ()


@pytest.mark.parametrize(
    ("limit", "kind"),
    [
        ({"max_decrease": {"staff_utilization_rate": 0.05}}, "max_decrease"),
        ({"lower": {"staff_utilization_rate": 0.76}}, "lower_bound"),
    ],
)
def test_binding_limit_below_a_non_monotone_lever_is_found(limit, kind):
    """Staff utilisation peaks below today's value: the limit on lowering it binds."""
    # given
    model = StudioModel(staff_peak=0.7)
    others = [i for i in range(7) if i != 4]
    limits = LeverLimits.build(locked=others, **limit)

    # when
    solution = solve(
        model,
        current=CURRENT,
        target=2 * forecast(model, CURRENT),
        horizon=HORIZON,
        limits=limits,
    )

    # then
    staff = {b.kind for b in solution.binding_constraints if b.lever == 4}
    assert staff == {kind}
    assert solution.recommended.levers[4] == pytest.approx(
        0.75 if kind == "max_decrease" else 0.76
    )


def _random_limits(rng, current):
    """Owner limits of every kind, sometimes contradicting today's plan."""
    change = TYPICAL_CHANGE * rng.uniform(0.2, 2.0, 7)
    max_increase = np.where(rng.random(7) < 0.2, np.inf, change)
    max_increase[rng.random(7) < 0.1] = 0.0
    max_decrease = np.where(rng.random(7) < 0.5, np.inf, change)
    lower = np.where(rng.random(7) < 0.3, current * rng.uniform(0.8, 1.0, 7), 0.0)
    valid_upper = np.array([1, np.inf, 1, np.inf, 1, 1, np.inf])
    upper = np.where(
        rng.random(7) < 0.3, current * rng.uniform(1.0, 1.2, 7), valid_upper
    )
    upper = np.minimum(upper, valid_upper)
    locked = [int(i) for i in np.flatnonzero(rng.random(7) < 0.15)]
    current = current.copy()
    # A plan outside its bounds must be brought inside; the bound stays reachable
    # because decreases are unlimited there.
    if rng.random() < 0.2:
        unlocked = [i for i in range(7) if i not in locked]
        i = int(rng.choice(unlocked))
        max_decrease[i] = np.inf
        current[i] = upper[i] * 1.05 if np.isfinite(upper[i]) else current[i]
    limits = LeverLimits.build(
        lower=lower,
        upper=upper,
        max_increase=max_increase,
        max_decrease=max_decrease,
        locked=locked,
    )
    return limits, current


def test_every_returned_plan_respects_every_limit():
    """Property: over random studios, limits and targets no plan breaks a limit."""
    rng = np.random.default_rng(2024)
    for case in range(150):
        # given
        flavour = case % 3
        model, current = random_studio(
            rng, stepped=flavour == 1, staff_peak=flavour == 2, interaction=flavour == 2
        )
        limits, current = _random_limits(rng, current)
        horizon = int(rng.integers(1, 7))
        kind = "month" if rng.random() < 0.7 else "total"
        base = model(current[None])[0, :horizon]
        target = (base[-1] if kind == "month" else base.sum()) * rng.uniform(0.9, 1.4)

        # when
        solution = solve(
            model,
            current=current,
            target=target,
            horizon=horizon,
            target_kind=kind,
            limits=limits,
            money_cost=flat_fee_cost(rng.uniform(100, 3000, 7), current)
            if rng.random() < 0.3
            else None,
        )

        # then
        plans = [solution.recommended.levers, solution.best_achievable_levers]
        plans += [alternative.levers for alternative in solution.alternatives]
        for levers in plans:
            assert_within(levers, current, limits)
            assert_within(levers, current, solution.limits)
        assert_within(solution.relaxed.levers, current, solution.limits.relaxed(2.0))
        for alternative in solution.alternatives:
            assert alternative.revenue >= target


def flat_fee_cost(fees, current=CURRENT):
    """A money cost: each lever raised at all costs its flat monthly fee."""
    fees = np.asarray(fees, dtype=float)

    def money(rows):
        return ((np.asarray(rows) > current + 1e-12) * fees).sum(axis=1)

    return money


def shapley_shares(model, current, levers, horizon=HORIZON):
    """Exact Shapley split of month-``horizon`` revenue change, by brute force."""
    changed = [i for i in range(len(current)) if levers[i] != current[i]]
    shares = np.zeros(len(current))
    m = len(changed)
    for j in changed:
        others = [i for i in changed if i != j]
        for size in range(m):
            for subset in itertools.combinations(others, size):
                weight = (
                    math.factorial(size)
                    * math.factorial(m - size - 1)
                    / math.factorial(m)
                )
                base = current.copy()
                base[list(subset)] = levers[list(subset)]
                moved = base.copy()
                moved[j] = levers[j]
                shares[j] += weight * (
                    forecast(model, moved, horizon) - forecast(model, base, horizon)
                )
    return shares


def test_a_money_cost_makes_the_plan_spend_the_least_money():
    """Upsell's tactics are cheapest here, so the money plan moves upsell alone."""
    # given
    model = MODELS["smooth"]
    money = flat_fee_cost([3000, 1000, 1000, 1000, 1000, 100, 1000])
    target = forecast(model, CURRENT) * 1.03

    # when
    cheap = solve(
        model,
        current=CURRENT,
        target=target,
        horizon=HORIZON,
        limits=OWNER_LIMITS,
        money_cost=money,
    )
    default = solve(
        model, current=CURRENT, target=target, horizon=HORIZON, limits=OWNER_LIMITS
    )

    # then
    assert cheap.reachable and cheap.recommended.revenue >= target
    assert cheap.recommended.changed_levers == (5,)
    assert money(cheap.recommended.levers[None])[0] == 100
    assert money(default.recommended.levers[None])[0] > 100


def test_a_money_cost_opens_a_dearer_lever_when_the_cheap_one_runs_out():
    """With upsell capped, the next cheapest lever (ticket) joins it."""
    # given
    model = MODELS["smooth"]
    money = flat_fee_cost([3000, 500, 1000, 1000, 1000, 100, 1000])
    limits = LeverLimits.build(
        max_increase=np.array([0.05, 20.0, 0.1, 10.0, 0.1, 0.01, 50.0]),
        max_decrease=TYPICAL_CHANGE,
    )
    target = forecast(model, CURRENT) * 1.06

    # when
    solution = solve(
        model,
        current=CURRENT,
        target=target,
        horizon=HORIZON,
        limits=limits,
        money_cost=money,
    )

    # then
    assert solution.reachable
    assert set(solution.recommended.changed_levers) <= {1, 5}
    assert 1 in solution.recommended.changed_levers


@pytest.mark.parametrize("uplift", [0.03, 0.15, 0.6])
@pytest.mark.parametrize("money", [False, True])
@pytest.mark.parametrize("name", MODELS)
def test_no_plan_keeps_a_change_that_adds_no_revenue(name, money, uplift):
    """Every lever any plan moves has a positive share of the revenue change.

    Covers the recommended plan, the alternatives and the relaxed plan, for the
    effort and the money objective, with reachable and unreachable targets.
    """
    # given
    model = MODELS[name]
    target = forecast(model, CURRENT) * (1 + uplift)
    cost = flat_fee_cost([3000, 250, 1000, 1000, 250, 250, 1000]) if money else None

    # when
    solution = solve(
        model,
        current=CURRENT,
        target=target,
        horizon=HORIZON,
        limits=OWNER_LIMITS,
        money_cost=cost,
    )

    # then
    plans = [solution.recommended.levers, solution.relaxed.levers]
    plans += [alternative.levers for alternative in solution.alternatives]
    for levers in plans:
        shares = shapley_shares(model, CURRENT, levers)
        floor = 1e-9 * forecast(model, levers)
        for i in np.flatnonzero(levers != CURRENT):
            assert shares[i] > floor, (i, shares[i])


def test_a_bound_that_excludes_todays_value_brings_the_plan_inside_it():
    """A ticket ceiling below today's price lowers the price, whatever it costs."""
    # given
    model = MODELS["smooth"]
    limits = LeverLimits.build(
        upper={"avg_ticket_price": 140.0},
        max_increase=TYPICAL_CHANGE,
        max_decrease=TYPICAL_CHANGE,
    )
    target = forecast(model, CURRENT) * 1.02

    # when
    solution = solve(
        model, current=CURRENT, target=target, horizon=HORIZON, limits=limits
    )

    # then
    for levers in [solution.recommended.levers, solution.relaxed.levers] + [
        a.levers for a in solution.alternatives
    ]:
        assert levers[1] <= 140.0
    assert solution.recommended.revenue >= target
    assert solution.reachable == (solution.recommended.revenue >= target)


def test_a_bound_out_of_reach_of_the_maximum_change_is_refused():
    # given
    limits = LeverLimits.build(
        lower={"retention_rate": 0.97}, max_increase=TYPICAL_CHANGE
    )

    # when / then
    with pytest.raises(SolverInputError):
        solve(
            MODELS["smooth"],
            current=CURRENT,
            target=100_000.0,
            horizon=HORIZON,
            limits=limits,
        )


@pytest.mark.parametrize("name", MODELS)
def test_alternatives_lead_with_other_levers_and_stay_feasible(name):
    """Alternatives reach the target, lead with distinct levers and keep every limit."""
    # given
    model = MODELS[name]
    target = forecast(model, CURRENT) * 1.08

    # when
    solution = solve(
        model, current=CURRENT, target=target, horizon=HORIZON, limits=OWNER_LIMITS
    )

    # then
    leads = [solution.recommended.lead_lever]
    assert len(solution.alternatives) == 2
    for alternative in solution.alternatives:
        assert alternative.revenue >= target
        assert alternative.revenue == forecast(model, alternative.levers)
        assert alternative.lead_lever not in leads
        assert not np.allclose(alternative.levers, solution.recommended.levers)
        assert alternative.cost >= solution.recommended.cost
        assert OWNER_LIMITS.violations(CURRENT, alternative.levers) == []
        leads.append(alternative.lead_lever)


@pytest.mark.parametrize("kind", ["month", "total"])
@pytest.mark.parametrize("name", MODELS)
def test_attributions_add_up_to_the_revenue_change(name, kind):
    """Per-lever impacts sum to the plan's revenue minus today's, month by month."""
    # given
    model = MODELS[name]
    base = model(CURRENT[None])[0, :HORIZON]
    target = (base[-1] if kind == "month" else base.sum()) * 1.25

    # when
    solution = solve(
        model,
        current=CURRENT,
        target=target,
        horizon=HORIZON,
        target_kind=kind,
        limits=OWNER_LIMITS,
    )

    # then
    for plan in (solution.recommended, *solution.alternatives):
        assert len(plan.changed_levers) >= 2
        assert plan.impact.sum() == pytest.approx(
            plan.revenue - solution.current_revenue, rel=1e-9
        )
        np.testing.assert_allclose(
            plan.impact_by_month.sum(axis=0),
            plan.monthly_revenue - solution.current_monthly_revenue,
            rtol=1e-9,
        )
        unchanged = np.setdiff1d(np.arange(7), plan.changed_levers)
        assert (plan.impact[unchanged] == 0).all()


def test_a_single_changed_lever_carries_the_whole_change():
    """With one lever moved, its impact is exactly the revenue change."""
    model = MODELS["smooth"]
    limits = LeverLimits.build(locked=[0, 2, 3, 4, 5, 6])
    solution = solve(
        model,
        current=CURRENT,
        target=forecast(model, CURRENT) * 1.05,
        horizon=HORIZON,
        limits=limits,
    )
    change = solution.recommended.revenue - solution.current_revenue
    assert solution.recommended.changed_levers == (1,)
    assert solution.recommended.impact[1] == pytest.approx(change, rel=1e-12)


def test_solving_twice_gives_identical_answers():
    """No randomness: the same question gets the same plan, evaluation for evaluation."""
    model = MODELS["interacting"]
    kwargs = {
        "current": CURRENT,
        "target": forecast(model, CURRENT) * 1.15,
        "horizon": HORIZON,
        "limits": OWNER_LIMITS,
    }
    first, second = solve(model, **kwargs), solve(model, **kwargs)
    assert np.array_equal(first.recommended.levers, second.recommended.levers)
    assert [a.levers.tolist() for a in first.alternatives] == [
        a.levers.tolist() for a in second.alternatives
    ]
    assert np.array_equal(first.relaxed.levers, second.relaxed.levers)
    assert first.n_model_calls == second.n_model_calls
    assert first.n_model_rows == second.n_model_rows


def test_tree_like_model_moves_levers_where_a_gradient_method_does_not():
    """The SLSQP failure mode: zero gradient on a piecewise-constant model."""
    # given
    model = MODELS["stepped"]
    target = forecast(model, CURRENT) * 1.1
    lo, hi = OWNER_LIMITS.box(CURRENT)

    def miss(levers):
        return (forecast(model, levers) / target - 1) ** 2

    # when
    gradient_result = minimize(
        miss, CURRENT, method="SLSQP", bounds=list(zip(lo, hi, strict=True))
    )
    solution = solve(
        model, current=CURRENT, target=target, horizon=HORIZON, limits=OWNER_LIMITS
    )

    # then
    assert np.allclose(gradient_result.x, CURRENT)
    assert solution.reachable
    assert solution.recommended.changed_levers
    assert solution.recommended.revenue >= target


@pytest.mark.parametrize("factor", [0.9, 1.0])
def test_target_already_met_needs_no_change(factor):
    """When today's plan reaches the target, the recommendation is to change nothing."""
    model = MODELS["stepped"]
    solution = solve(
        model,
        current=CURRENT,
        target=forecast(model, CURRENT) * factor,
        horizon=HORIZON,
        limits=OWNER_LIMITS,
    )
    assert solution.reachable
    assert solution.recommended.changed_levers == ()
    assert solution.recommended.cost == 0.0
    assert solution.alternatives == ()
    assert solution.binding_constraints == ()
    assert solution.achievement_rate >= 1.0


def test_total_target_counts_revenue_over_the_whole_horizon():
    """target_kind='total' targets the sum of months 1..horizon."""
    model = MODELS["smooth"]
    target = model(CURRENT[None])[0, :HORIZON].sum() * 1.1
    solution = solve(
        model,
        current=CURRENT,
        target=target,
        horizon=HORIZON,
        target_kind="total",
        limits=OWNER_LIMITS,
    )
    assert solution.recommended.revenue == pytest.approx(
        solution.recommended.monthly_revenue.sum(), rel=1e-12
    )
    assert solution.recommended.revenue >= target
    assert len(solution.recommended.monthly_revenue) == HORIZON


def test_today_outside_the_bounds_is_brought_inside():
    """A ticket above its new upper bound is lowered to it, even with the target met."""
    model = MODELS["smooth"]
    current = CURRENT.copy()
    current[1] = 170.0
    limits = LeverLimits.build(upper={"avg_ticket_price": 160.0})
    solution = solve(
        model,
        current=current,
        target=forecast(model, current) * 0.9,
        horizon=HORIZON,
        limits=limits,
    )
    assert solution.recommended.levers[1] == 160.0
    assert limits.violations(current, solution.recommended.levers) == []


def test_tolerance_accepts_a_shortfall_for_a_cheaper_plan():
    """With tolerance 5% the plan may stop at 95% of the target, and costs no more."""
    model = MODELS["smooth"]
    target = forecast(model, CURRENT) * 1.15
    exact = solve(model, current=CURRENT, target=target, horizon=HORIZON)
    tolerant = solve(
        model, current=CURRENT, target=target, horizon=HORIZON, tolerance=0.05
    )
    assert tolerant.reachable
    assert 0.95 * target <= tolerant.recommended.revenue < target
    assert tolerant.recommended.cost < exact.recommended.cost


def test_relaxed_run_reaches_what_the_limits_prevent():
    """A target just out of reach is reported reachable with doubled maximum changes."""
    # given
    model = MODELS["smooth"]
    best = max_achievable(model, current=CURRENT, horizon=HORIZON, limits=OWNER_LIMITS)
    relaxed_best = max_achievable(
        model, current=CURRENT, horizon=HORIZON, limits=OWNER_LIMITS.relaxed(2.0)
    )
    target = (best.revenue + relaxed_best.revenue) / 2

    # when
    solution = solve(
        model, current=CURRENT, target=target, horizon=HORIZON, limits=OWNER_LIMITS
    )

    # then
    assert not solution.reachable
    assert solution.relaxed.reachable
    assert solution.relaxed.revenue >= target
    assert solution.relaxed.revenue == forecast(model, solution.relaxed.levers)
    assert OWNER_LIMITS.relaxed(2.0).violations(CURRENT, solution.relaxed.levers) == []
    assert OWNER_LIMITS.violations(CURRENT, solution.relaxed.levers) != []


def test_unlimited_levers_are_searched_up_to_doubling():
    """With no limits at all, no unbounded lever is asked to more than double."""
    model = MODELS["smooth"]
    solution = solve(
        model, current=CURRENT, target=forecast(model, CURRENT) * 10, horizon=HORIZON
    )
    unbounded = [1, 3, 6]  # ticket, new members, classes: no upper bound
    assert not solution.reachable
    assert (solution.recommended.levers[unbounded] <= 2 * CURRENT[unbounded]).all()
    assert ("avg_ticket_price", "max_increase") in {
        (b.lever_name, b.kind) for b in solution.binding_constraints
    }


@pytest.mark.parametrize("name", MODELS)
def test_max_achievable_matches_a_brute_force_maximum(name):
    """Corners plus coordinate ascent find the grid's best, interior optima included."""
    model = MODELS[name]
    free = [1, 4, 6]
    limits = LeverLimits.build(
        max_increase=TYPICAL_CHANGE,
        max_decrease=TYPICAL_CHANGE,
        locked=[0, 2, 3, 5],
    )
    _, revenue, _ = grid_search(model, CURRENT, limits, free)
    best = max_achievable(model, current=CURRENT, horizon=HORIZON, limits=limits)
    assert best.revenue >= revenue.max() * (1 - 1e-6)
    assert best.revenue == forecast(model, best.levers)
    assert limits.violations(CURRENT, best.levers) == []


def test_a_solve_costs_few_model_calls():
    """Searches share batches: a full solve stays within a few dozen calls."""
    model = MODELS["stepped"]
    solution = solve(
        model,
        current=CURRENT,
        target=forecast(model, CURRENT) * 1.2,
        horizon=HORIZON,
        limits=OWNER_LIMITS,
    )
    assert solution.n_model_calls <= 30


LOCKED_OUTSIDE_BOUNDS = LeverLimits.build(upper={"avg_ticket_price": 100.0}, locked={1})
BOUND_OUT_OF_REACH = LeverLimits.build(
    lower={"avg_ticket_price": 200.0}, max_increase={"avg_ticket_price": 10.0}
)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"current": np.ones(6)}, "current"),
        ({"current": np.full(7, np.nan)}, "current"),
        ({"target": 0.0}, "target"),
        ({"target": np.inf}, "target"),
        ({"horizon": 0}, "horizon"),
        ({"target_kind": "year"}, "target_kind"),
        ({"cost_weights": np.zeros(7)}, "cost_weights"),
        ({"lever_scales": -np.ones(7)}, "lever_scales"),
        ({"tolerance": 1.0}, "tolerance"),
        ({"n_alternatives": -1}, "n_alternatives"),
        ({"limits": LOCKED_OUTSIDE_BOUNDS}, "locked"),
        ({"limits": BOUND_OUT_OF_REACH}, "current"),
    ],
)
def test_bad_input_raises_a_solver_input_error_naming_the_field(kwargs, field):
    """Inputs the solver cannot use are rejected before any model call."""
    calls = []

    def model(levers):
        calls.append(len(levers))
        return MODELS["smooth"](levers)

    arguments = {"current": CURRENT, "target": 60000.0, "horizon": HORIZON, **kwargs}
    with pytest.raises(SolverInputError) as error:
        solve(model, **arguments)
    assert error.value.field == field
    assert calls == []


def test_pruning_pulls_back_a_change_that_adds_nothing():
    """Staff utilisation does not move the smooth model: its change goes, ticket stays."""
    # given
    from optimization.solver.engine import CountingModel, run
    from optimization.solver.inverse import _space
    from optimization.solver.search import Point, prune

    model = MODELS["smooth"]
    space = _space(CURRENT, HORIZON, "month", OWNER_LIMITS, None, None)
    levers = CURRENT.copy()
    levers[1] += 10.0
    levers[4] -= 0.1
    monthly = model(levers[None])[0, :HORIZON]

    # when
    pruned = run(
        CountingModel(model, HORIZON),
        prune(space, Point(levers, monthly, float(monthly[-1]))),
    )

    # then
    assert pruned.levers[4] == CURRENT[4]
    assert pruned.levers[1] == CURRENT[1] + 10.0
    assert pruned.revenue == pytest.approx(forecast(model, levers))
