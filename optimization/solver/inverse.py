"""Inverse prediction: which lever changes reach a revenue target, and at what cost.

:func:`solve` is the entry point; :func:`max_achievable` answers "how high can revenue
go within these limits" on its own. Both take the forward model as a batch callable and
treat it as a black box (see ``README.md`` in this package for the method).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from optimization.solver.engine import (
    CountingModel,
    PredictRevenue,
    Task,
    evaluate,
    parallel,
    run,
)
from optimization.solver.levers import (
    DEFAULT_COST_WEIGHTS,
    LEVERS,
    N_LEVERS,
    ConstraintKind,
    LeverLimits,
    SolverInputError,
    default_lever_scales,
)
from optimization.solver.search import (
    Attribution,
    Point,
    SearchSpace,
    TargetKind,
    binding,
    greedy,
    maximise,
    prune,
    revenue_tolerance,
    shapley,
    trim,
)

__all__ = [
    "Achievable",
    "BindingConstraint",
    "Plan",
    "RelaxedPlan",
    "Solution",
    "max_achievable",
    "solve",
]

FloatArray = npt.NDArray[np.float64]

#: The 2x-relaxed run multiplies every maximum change by this.
RELAX_FACTOR = 2.0


@dataclass(frozen=True, eq=False)
class Plan:
    """A set of lever values with its forward-model evaluation, cost and attribution.

    Attributes
    ----------
    levers
        Lever values ``(7,)`` in ``LEVERS`` order.
    change
        ``levers - current``.
    monthly_revenue
        Model revenue for months 1..horizon, evaluated at ``levers``.
    revenue
        The target figure (last month's or the total revenue).
    cost_by_lever
        ``weight * |change| / scale`` per lever; ``cost`` is their sum.
    impact, impact_by_month
        Exact Shapley split of the revenue change from today's plan: ``impact`` sums to
        ``revenue - current revenue``, ``impact_by_month`` (7, horizon) month by month.
    """

    levers: FloatArray
    change: FloatArray
    monthly_revenue: FloatArray
    revenue: float
    cost: float
    cost_by_lever: FloatArray
    impact: FloatArray
    impact_by_month: FloatArray

    @property
    def changed_levers(self) -> tuple[int, ...]:
        """Indices of the levers this plan moves."""
        return tuple(int(i) for i in np.flatnonzero(self.change))

    @property
    def lead_lever(self) -> int | None:
        """The lever contributing the most revenue, or ``None`` for an unchanged plan."""
        if not self.changed_levers:
            return None
        return int(np.argmax(self.impact))


@dataclass(frozen=True)
class BindingConstraint:
    """A limit that holds revenue down: relaxing it alone would raise revenue."""

    lever: int
    kind: ConstraintKind

    @property
    def lever_name(self) -> str:
        """The lever's name in ``LEVERS``."""
        return LEVERS[self.lever]


@dataclass(frozen=True, eq=False)
class RelaxedPlan:
    """What the same search reaches with every maximum change multiplied by ``factor``."""

    factor: float
    levers: FloatArray
    monthly_revenue: FloatArray
    revenue: float
    reachable: bool


@dataclass(frozen=True, eq=False)
class Solution:
    """The answer to "which levers reach ``target``, within these limits".

    Attributes
    ----------
    target, target_kind, horizon, tolerance
        The question as asked.
    limits
        The limits applied: the ones given, with unlimited directions capped (see
        :meth:`LeverLimits.with_finite_reach`).
    current_levers, current_monthly_revenue, current_revenue
        Today's plan and its forecast (the figure is of ``target_kind``).
    recommended
        The plan to run. When the target is reachable, the cheapest plan the search
        found that reaches it (today's plan when that already does); otherwise the
        cheapest plan found that makes the best achievable revenue.
    reachable
        Whether ``recommended.revenue >= target * (1 - tolerance)``.
    achievement_rate
        ``recommended.revenue / target``.
    best_achievable_revenue, best_achievable_levers
        The highest target figure found within the limits (regardless of cost).
    binding_constraints
        When unreachable, the limits at the recommended plan whose relaxation alone
        raises revenue; empty when reachable.
    relaxed
        The same search with every maximum change doubled (bounds and locks kept).
    alternatives
        Up to ``n_alternatives`` other plans that reach the target, each led by a
        different lever than the recommended plan and each other, cheapest first.
    n_model_calls, n_model_rows
        Forward-model calls and rows evaluated by this solve.
    """

    target: float
    target_kind: TargetKind
    horizon: int
    tolerance: float
    limits: LeverLimits
    current_levers: FloatArray
    current_monthly_revenue: FloatArray
    current_revenue: float
    recommended: Plan
    reachable: bool
    achievement_rate: float
    best_achievable_revenue: float
    best_achievable_levers: FloatArray
    binding_constraints: tuple[BindingConstraint, ...]
    relaxed: RelaxedPlan
    alternatives: tuple[Plan, ...]
    n_model_calls: int
    n_model_rows: int

    @property
    def total_cost(self) -> float:
        """Cost of the recommended plan."""
        return self.recommended.cost


@dataclass(frozen=True, eq=False)
class Achievable:
    """The best revenue figure :func:`max_achievable` found, and where."""

    levers: FloatArray
    monthly_revenue: FloatArray
    revenue: float
    n_model_calls: int


@dataclass(frozen=True, eq=False)
class _Reach:
    """A search's outcome before the final checks: the plan and the best point seen."""

    point: Point
    reached: bool
    best: Point


def _vector(values: npt.ArrayLike, name: str, *, positive: bool = False) -> FloatArray:
    array = np.asarray(values, dtype=float)
    if array.shape != (N_LEVERS,):
        raise SolverInputError(name, f"expected shape ({N_LEVERS},), got {array.shape}")
    if not np.isfinite(array).all():
        raise SolverInputError(name, "values must be finite")
    if positive and (array <= 0).any():
        raise SolverInputError(name, "values must be > 0")
    return array.copy()


def _space(
    current: npt.ArrayLike,
    horizon: int,
    target_kind: str,
    limits: LeverLimits | None,
    cost_weights: npt.ArrayLike | None,
    lever_scales: npt.ArrayLike | None,
    money: Callable[[FloatArray], npt.ArrayLike] | None = None,
) -> SearchSpace:
    """Validate the shared inputs and build the search space."""
    current_array = _vector(current, "current")
    if (
        isinstance(horizon, bool)
        or not isinstance(horizon, int | np.integer)
        or horizon < 1
    ):
        raise SolverInputError("horizon", "must be an integer >= 1")
    if target_kind not in ("month", "total"):
        raise SolverInputError("target_kind", "must be 'month' or 'total'")
    limits = limits if limits is not None else LeverLimits()
    weights = (
        DEFAULT_COST_WEIGHTS.copy()
        if cost_weights is None
        else _vector(cost_weights, "cost_weights", positive=True)
    )
    scales = (
        default_lever_scales(current_array, limits)
        if lever_scales is None
        else _vector(lever_scales, "lever_scales", positive=True)
    )
    limits = limits.with_finite_reach(scales)
    lo, hi = limits.box(current_array)
    kind: TargetKind = "month" if target_kind == "month" else "total"
    return SearchSpace(current_array, lo, hi, weights, scales, kind, limits, money)


def _checked(space: SearchSpace, levers: FloatArray) -> FloatArray:
    """Clip a final plan into the box and prove it breaks no limit."""
    levers = space.clip(levers)
    broken = space.limits.violations(space.current, levers)
    if broken:
        # The box is built so that clipping suffices; reaching here is a solver bug.
        raise RuntimeError(f"solver produced a plan outside its limits: {broken}")
    return levers


def _plan(space: SearchSpace, levers: FloatArray, attribution: Attribution) -> Plan:
    # Each lever's cost is that of moving it alone; effort costs add up to the
    # plan's, and so do the catalogue's money costs (priced lever by lever).
    single = np.tile(space.current, (N_LEVERS, 1))
    single[np.arange(N_LEVERS), np.arange(N_LEVERS)] = levers
    cost_by_lever = space.cost(single)
    return Plan(
        levers=levers,
        change=levers - space.current,
        monthly_revenue=attribution.monthly_at_plan,
        revenue=float(space.figure(attribution.monthly_at_plan[None])[0]),
        cost=float(space.cost(levers[None])[0]),
        cost_by_lever=cost_by_lever,
        impact=space.figure(attribution.impact_by_month),
        impact_by_month=attribution.impact_by_month,
    )


def _free(space: SearchSpace) -> tuple[int, ...]:
    return tuple(int(i) for i in np.flatnonzero(space.free))


def _greedy_then_trim(
    space: SearchSpace, goal: float
) -> Task[tuple[Point, Point | None]]:
    outcome = yield from greedy(space, space.anchor, goal, [_free(space)])
    if not outcome.reached:
        return outcome.point, None
    trimmed = yield from trim(space, outcome.point, goal, [_free(space)])
    return outcome.point, trimmed


def _settle(space: SearchSpace, point: Point, goal: float) -> Task[Point]:
    """Drop every change that adds no revenue, and make up any shortfall without it.

    :func:`prune` pulls back the levers whose share of the revenue change is nil.
    If that leaves a plan that reached ``goal`` short of it, the greedy continues
    from there with the pulled-back levers held at today's values, then trims and
    prunes again; if even that cannot reach the goal, the pulled-back plan stands
    (a shortfall the caller reports, never a change that adds nothing).
    """
    tol = revenue_tolerance(goal)
    pruned = yield from prune(space, point)
    if pruned.revenue >= goal - tol or point.revenue < goal - tol:
        return pruned
    idle = (pruned.levers == space.anchor) & (point.levers != space.anchor)
    lo, hi = space.lo.copy(), space.hi.copy()
    lo[idle] = hi[idle] = space.anchor[idle]
    held = dataclasses.replace(space, lo=lo, hi=hi)
    outcome = yield from greedy(held, pruned.levers, goal, [_free(held)])
    if not outcome.reached:
        return pruned
    trimmed = yield from trim(held, outcome.point, goal, [_free(held)])
    return (yield from prune(held, trimmed))


def _reach(space: SearchSpace, goal: float) -> Task[_Reach]:
    """Greedy plus trim, with the maximisation alongside as referee and fallback.

    The maximisation runs in the same batches as the greedy, so it costs rows rather
    than calls. If the greedy stalls short of the goal but the maximum reaches it, the
    maximum is trimmed back instead; if nothing reaches it, the maximum is trimmed to
    the cheapest plan that still makes it. Either way every change that adds no
    revenue is then pulled back (:func:`_settle`).
    """
    (greedy_end, trimmed), peak = yield from parallel(
        [_greedy_then_trim(space, goal), maximise(space, space.anchor)]
    )
    best = peak if peak.revenue >= greedy_end.revenue else greedy_end
    free = [_free(space)]
    if trimmed is not None:
        return _Reach((yield from _settle(space, trimmed, goal)), True, best)
    if best.revenue >= goal - revenue_tolerance(goal):
        trimmed = yield from trim(space, best, goal, free)
        return _Reach((yield from _settle(space, trimmed, goal)), True, best)
    floor = best.revenue - revenue_tolerance(best.revenue)
    trimmed = yield from trim(space, best, floor, free)
    return _Reach((yield from _settle(space, trimmed, floor)), False, best)


def _recommend(
    space: SearchSpace, goal: float
) -> Task[tuple[_Reach, Plan, Attribution, list[tuple[int, ConstraintKind]]]]:
    """The recommended plan, attributed, and the binding limits when unreachable."""
    reach = yield from _reach(space, goal)
    levers = _checked(space, reach.point.levers)
    analyses: list[Task[object]] = [shapley(space, levers)]
    if not reach.reached:
        analyses.append(binding(space, reach.point))
    attribution, *bound = yield from parallel(analyses)
    plan = _plan(space, levers, attribution)
    return reach, plan, attribution, bound[0] if bound else []


def _relaxed(space: SearchSpace, goal: float) -> Task[RelaxedPlan]:
    reach = yield from _reach(space, goal)
    levers = _checked(space, reach.point.levers)
    monthly = (yield from evaluate(levers[None]))[0]
    revenue = float(space.figure(monthly[None])[0])
    return RelaxedPlan(
        factor=RELAX_FACTOR,
        levers=levers,
        monthly_revenue=monthly,
        revenue=revenue,
        reachable=revenue >= goal - revenue_tolerance(goal),
    )


def _alternative(space: SearchSpace, goal: float, lead: int) -> Task[Plan | None]:
    """A plan that moves ``lead`` first, then continues as the main search would."""
    outcome = yield from greedy(
        space,
        space.anchor,
        goal,
        [(lead,), _free(space)],
        stop_if_first_stage_idle=True,
    )
    if not outcome.reached or not outcome.first_stage_moves:
        return None
    point = yield from trim(space, outcome.point, goal, [_free(space)])
    point = yield from _settle(space, point, goal)
    levers = _checked(space, point.levers)
    plan = _plan(space, levers, (yield from shapley(space, levers)))
    return plan if plan.revenue >= goal - revenue_tolerance(goal) else None


def _pick_alternatives(
    recommended: Plan, candidates: Sequence[Plan], n_alternatives: int
) -> tuple[Plan, ...]:
    """Cheapest candidates whose lead lever differs from the plan's and each other's."""
    chosen: list[Plan] = []
    leads = {recommended.lead_lever}
    for plan in sorted(candidates, key=lambda p: p.cost):
        if len(chosen) == n_alternatives:
            break
        if plan.lead_lever in leads or np.allclose(plan.levers, recommended.levers):
            continue
        chosen.append(plan)
        leads.add(plan.lead_lever)
    return tuple(chosen)


def solve(
    predict_revenue: PredictRevenue,
    *,
    current: npt.ArrayLike,
    target: float,
    horizon: int,
    target_kind: TargetKind = "month",
    limits: LeverLimits | None = None,
    cost_weights: npt.ArrayLike | None = None,
    lever_scales: npt.ArrayLike | None = None,
    money_cost: Callable[[FloatArray], npt.ArrayLike] | None = None,
    tolerance: float = 0.0,
    n_alternatives: int = 2,
) -> Solution:
    """Find the cheapest lever changes that bring revenue to ``target``.

    Parameters
    ----------
    predict_revenue
        Forward model: levers ``(n, 7)`` in ``LEVERS`` order -> monthly revenue
        ``(n, >= horizon)`` for months 1..horizon. Treated as a black box: it may be
        non-smooth, piecewise constant and non-monotone in some levers.
    current
        Today's levers ``(7,)``.
    target
        Revenue to reach (> 0).
    horizon
        Month by which to reach it (>= 1).
    target_kind
        ``"month"``: revenue in month ``horizon``; ``"total"``: revenue summed over
        months 1..horizon.
    limits
        Hard bounds, maximum changes and locks; default: valid ranges only.
    cost_weights
        Effort per unit of change; default :data:`DEFAULT_COST_WEIGHTS`.
    lever_scales
        What one unit of change is per lever; default :func:`default_lever_scales`
        (today's value, so cost is a weighted sum of relative changes).
    money_cost
        Money a plan costs, ``(n, 7) -> (n,)``, 0 for today's plan. When given, a
        plan's cost is that money, with the effort cost above only breaking ties
        (see :class:`~optimization.solver.search.SearchSpace`): the search spends
        as little money as it can. By default the cost is the effort cost.
    tolerance
        Shortfall accepted as reaching, as a fraction of ``target`` (0: the search aims
        at the target itself).
    n_alternatives
        How many alternative plans to return at most.

    Returns
    -------
    Solution
        Every plan in it satisfies every limit and was evaluated by ``predict_revenue``.

    Raises
    ------
    SolverInputError
        For inputs the solver cannot work with, naming the input.
    """
    space = _space(
        current, horizon, target_kind, limits, cost_weights, lever_scales, money_cost
    )
    if not np.isfinite(target) or target <= 0:
        raise SolverInputError("target", "must be a finite revenue > 0")
    if not 0 <= tolerance < 1:
        raise SolverInputError("tolerance", "must be in [0, 1)")
    if n_alternatives < 0:
        raise SolverInputError("n_alternatives", "must be >= 0")
    relaxed_space = _space(
        space.current,
        horizon,
        target_kind,
        space.limits.relaxed(RELAX_FACTOR),
        space.weights,
        space.scales,
        money_cost,
    )
    goal = target * (1 - tolerance)
    # Plans that lead with each lever in turn are the source of the alternatives and
    # a multi-start: one of them is sometimes cheaper than the main search, whose
    # first step can commit to a lever that later proves dear.
    leads = [int(i) for i in np.flatnonzero(space.free)]
    model = CountingModel(predict_revenue, horizon)
    main, relaxed, *candidates = run(
        model,
        parallel(
            [
                _recommend(space, goal),
                _relaxed(relaxed_space, goal),
                *(_alternative(space, goal, lead) for lead in leads),
            ]
        ),
    )
    reach, main_plan, attribution, bound = main
    reachable = main_plan.revenue >= goal - revenue_tolerance(goal)
    pool = [main_plan, *(p for p in candidates if p is not None)] if reachable else []
    recommended = min(pool, key=lambda plan: plan.cost) if pool else main_plan
    current_monthly = attribution.monthly_at_current
    # Trimming can raise revenue on a non-monotone lever, so the plan may beat the peak.
    best_revenue, best_levers = max(
        (reach.best.revenue, _checked(space, reach.best.levers)),
        (recommended.revenue, recommended.levers),
        key=lambda pair: pair[0],
    )
    return Solution(
        target=float(target),
        target_kind=space.target_kind,
        horizon=horizon,
        tolerance=tolerance,
        limits=space.limits,
        current_levers=space.current,
        current_monthly_revenue=current_monthly,
        current_revenue=float(space.figure(current_monthly[None])[0]),
        recommended=recommended,
        reachable=reachable,
        achievement_rate=recommended.revenue / target,
        best_achievable_revenue=best_revenue,
        best_achievable_levers=best_levers,
        binding_constraints=()
        if reachable
        else tuple(BindingConstraint(i, kind) for i, kind in bound),
        relaxed=relaxed,
        alternatives=_pick_alternatives(recommended, pool, n_alternatives),
        n_model_calls=model.calls,
        n_model_rows=model.rows,
    )


def max_achievable(
    predict_revenue: PredictRevenue,
    *,
    current: npt.ArrayLike,
    horizon: int,
    target_kind: TargetKind = "month",
    limits: LeverLimits | None = None,
) -> Achievable:
    """Return the highest revenue figure found within ``limits``, and its levers.

    Independent of :func:`solve`'s greedy search: every corner of the box, then
    coordinate ascent on full-range and finer grids from the two best corners (see
    :func:`~optimization.solver.search.maximise`). Used to decide whether a target is
    reachable at all.
    """
    space = _space(current, horizon, target_kind, limits, None, None)
    model = CountingModel(predict_revenue, horizon)
    peak = run(model, maximise(space, space.anchor))
    return Achievable(
        levers=_checked(space, peak.levers),
        monthly_revenue=peak.monthly,
        revenue=peak.revenue,
        n_model_calls=model.calls,
    )
