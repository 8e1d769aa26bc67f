"""Auto-optimise: the lever plan that earns the most within the limits, no target given.

:func:`optimize` answers "what is the best lever mix?": the plan that maximises the
revenue figure (month ``horizon``'s revenue, or the total over months 1..horizon), or
that figure minus the money the plan costs when a ``money_cost`` function is given.
It reuses the inverse solver's machinery (``search.py``, ``engine.py``): the same box
of hard limits, the same derivative-free maximisation (every corner of the box, then
coordinate ascent on grids), the same trimming, Shapley attribution and binding-limit
probes, all batched.

A forward model that is monotone in a lever (revenue only rises with it) has no
interior optimum in that lever: the maximum sits at the lever's limit, and the limit,
not the model, decides the plan. :func:`optimize` says so for each such lever
(:class:`UnboundedGain`) by probing revenue beyond the limit. The average ticket has
a maximum in the forward model (a dearer ticket loses members), so it is listed only
where that maximum lies beyond the limit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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
from optimization.solver.inverse import (
    RELAX_FACTOR,
    BindingConstraint,
    Plan,
    _checked,
    _plan,
    _space,
)
from optimization.solver.levers import (
    DEFAULT_LOWER,
    DEFAULT_UPPER,
    LEVERS,
    N_LEVERS,
    ConstraintKind,
    LeverLimits,
    SolverInputError,
)
from optimization.solver.search import (
    Point,
    SearchSpace,
    TargetKind,
    binding,
    maximise,
    prune,
    revenue_tolerance,
    shapley,
    trim,
)

__all__ = [
    "MoneyCost",
    "OptimizedAlternative",
    "Optimum",
    "RelaxedOptimum",
    "UnboundedGain",
    "optimize",
]

FloatArray = npt.NDArray[np.float64]

#: ``levers (n, 7) -> money cost per month (n,)`` of running each plan instead of
#: today's; 0 for today's plan.
MoneyCost = Callable[[FloatArray], npt.ArrayLike]

#: How far past a limit revenue is probed, in lever scales (today's value by
#: default): a lever whose revenue still rises at 4x its scale beyond the limit is
#: treated as an unbounded gain.
PROBE_SCALES = np.array([0.125, 0.25, 0.5, 1.0, 2.0, 4.0])
#: Points probed between today's value and the limit.
INSIDE_POINTS = 6


@dataclass(frozen=True)
class UnboundedGain:
    """A lever pushed to its limit because revenue only rises with it.

    ``value`` is the plan's value (the limit), ``kind`` the limit that stopped it,
    ``probed_to`` the farthest value beyond it at which revenue was checked (and
    still rose), ``revenue_at_probe`` the revenue figure there.
    """

    lever: int
    value: float
    kind: ConstraintKind
    probed_to: float
    revenue_at_probe: float

    @property
    def lever_name(self) -> str:
        return LEVERS[self.lever]


@dataclass(frozen=True, eq=False)
class OptimizedAlternative:
    """The best plan with ``held_lever`` kept at today's value."""

    held_lever: int
    plan: Plan
    money_cost: float
    net_revenue: float


@dataclass(frozen=True, eq=False)
class RelaxedOptimum:
    """The best plan with every maximum change multiplied by ``factor``."""

    factor: float
    levers: FloatArray
    monthly_revenue: FloatArray
    revenue: float
    money_cost: float
    net_revenue: float


@dataclass(frozen=True, eq=False)
class Optimum:
    """The answer to "which lever mix earns the most within these limits".

    Attributes
    ----------
    horizon, target_kind, limits
        The question as asked (limits with unlimited directions capped).
    current_levers, current_monthly_revenue, current_revenue
        Today's plan and its forecast (the figure is of ``target_kind``).
    recommended
        The best plan found; ``impact`` is its exact Shapley split of the *revenue*
        change, and every lever it moves adds to the objective (moves that add
        nothing are trimmed back to today's value).
    money_cost, net_revenue
        The plan's money cost over the figure's period (one month for "month", the
        horizon for "total"; 0 without ``money_cost``) and ``revenue - money_cost``:
        the objective.
    binding_constraints
        Limits whose relaxation alone would raise the objective.
    unbounded_gains
        Levers at a limit whose revenue kept rising as far as it was probed past it.
    relaxed
        The best plan with every maximum change doubled (bounds and locks kept).
    alternatives
        For each of the levers the plan leans on most (largest impact first), the best
        plan that keeps that lever at today's value.
    n_model_calls, n_model_rows
        Forward-model calls and rows.
    """

    horizon: int
    target_kind: TargetKind
    limits: LeverLimits
    current_levers: FloatArray
    current_monthly_revenue: FloatArray
    current_revenue: float
    recommended: Plan
    money_cost: float
    money_cost_by_lever: FloatArray
    net_revenue: float
    binding_constraints: tuple[BindingConstraint, ...]
    unbounded_gains: tuple[UnboundedGain, ...]
    relaxed: RelaxedOptimum
    alternatives: tuple[OptimizedAlternative, ...]
    n_model_calls: int
    n_model_rows: int


class _NetModel:
    """The forward model with each row's monthly money cost taken off every month.

    The searches maximise ``space.figure`` of what the model returns; taking the
    monthly cost off each month makes that figure revenue minus the money cost over
    the figure's period (one month, or the horizon for a total).
    """

    def __init__(self, model: CountingModel, money_cost: MoneyCost | None) -> None:
        self.model = model
        self.horizon = model.horizon
        self.money_cost = money_cost

    def monthly_cost(self, rows: FloatArray) -> FloatArray:
        if self.money_cost is None:
            return np.zeros(len(rows))
        cost = np.asarray(self.money_cost(rows), dtype=float)
        if cost.shape != (len(rows),):
            raise ValueError(
                f"money_cost returned shape {cost.shape} for {len(rows)} rows"
            )
        if not np.isfinite(cost).all() or (cost < 0).any():
            raise ValueError("money_cost must return finite costs >= 0")
        return cost

    def __call__(self, rows: FloatArray) -> FloatArray:
        return self.model(rows) - self.monthly_cost(rows)[:, None]


def _locked(space: SearchSpace, lever: int) -> SearchSpace:
    """``space`` with ``lever`` held at today's value (projected into the box)."""
    lo, hi = space.lo.copy(), space.hi.copy()
    lo[lever] = hi[lever] = space.anchor[lever]
    return dataclasses.replace(space, lo=lo, hi=hi)


def _best(space: SearchSpace) -> Task[Point]:
    """The box's maximum, with every move that adds nothing trimmed back."""
    peak = yield from maximise(space, space.anchor)
    free = tuple(int(i) for i in np.flatnonzero(space.free))
    # Trimming keeps the objective within float noise of the peak, so it undoes
    # exactly the moves that add nothing (a lever with no effect lands on an
    # arbitrary corner otherwise) and takes the cheapest way to the same figure.
    goal = peak.revenue - revenue_tolerance(peak.revenue)
    trimmed = yield from trim(space, peak, goal, (free,))
    # Then, as the inverse does, every change whose Shapley share of the gain is
    # not positive goes back: a change that loses revenue on its own and only
    # helps beside the others (more classes: a cost to retention alone, room
    # for the plan's extra members with it; +$30 of $19k at month 3 on a generated studio)
    # is not worth a line of the owner's plan.
    return (yield from prune(space, trimmed))


def _period_months(space: SearchSpace, horizon: int) -> int:
    return 1 if space.target_kind == "month" else horizon


def _sweep_rows(
    space: SearchSpace, levers: FloatArray, lever: int
) -> tuple[FloatArray, float]:
    """Rows moving ``lever`` from today's value through the plan's and past it.

    Returns the rows (others at the plan) and the farthest value probed.
    """
    start, end = space.current[lever], levers[lever]
    direction = np.sign(end - start)
    inside = np.linspace(start, end, INSIDE_POINTS + 1)
    beyond = end + direction * PROBE_SCALES * space.scales[lever]
    beyond = np.clip(beyond, DEFAULT_LOWER[lever], DEFAULT_UPPER[lever])
    values = np.concatenate([inside, beyond])
    # Keep the order along the direction; drop repeats (a rate already at 1).
    _, first = np.unique(values, return_index=True)
    values = values[np.sort(first)]
    rows = np.tile(levers, (len(values), 1))
    rows[:, lever] = values
    return rows, float(values[-1])


def _at_limit(space: SearchSpace, levers: FloatArray) -> list[tuple[int, str]]:
    """Levers the plan moved to an edge of the box, with the direction."""
    out = []
    for i in np.flatnonzero(space.free):
        if levers[i] > space.current[i] and levers[i] >= space.hi[i]:
            out.append((int(i), "up"))
        elif levers[i] < space.current[i] and levers[i] <= space.lo[i]:
            out.append((int(i), "down"))
    return out


def _limit_kind(limits: LeverLimits, current: FloatArray, i: int, way: str) -> str:
    if way == "up":
        return (
            "max_increase"
            if current[i] + limits.max_increase[i] < limits.upper[i]
            else "upper_bound"
        )
    return (
        "max_decrease"
        if current[i] - limits.max_decrease[i] > limits.lower[i]
        else "lower_bound"
    )


def optimize(
    predict_revenue: PredictRevenue,
    *,
    current: npt.ArrayLike,
    horizon: int,
    target_kind: TargetKind = "month",
    limits: LeverLimits | None = None,
    money_cost: MoneyCost | None = None,
    cost_weights: npt.ArrayLike | None = None,
    lever_scales: npt.ArrayLike | None = None,
    n_alternatives: int = 2,
) -> Optimum:
    """Find the plan that maximises revenue, or revenue minus ``money_cost``.

    Parameters
    ----------
    predict_revenue
        Forward model: levers ``(n, 7)`` -> monthly revenue ``(n, >= horizon)``;
        a black box, as for :func:`~optimization.solver.solve`.
    current
        Today's levers ``(7,)``.
    horizon, target_kind
        The figure maximised: revenue in month ``horizon`` ("month") or summed over
        months 1..horizon ("total").
    limits
        Hard bounds, maximum changes and locks (default: valid ranges only, with
        unlimited directions capped at one scale, as in ``solve``).
    money_cost
        Money cost per month of each plan (``(n, 7) -> (n,)``, 0 for today's plan);
        the objective is then revenue minus that cost over the figure's period. By
        default revenue alone.
    cost_weights, lever_scales
        The inverse solver's relative effort, used only to choose among plans of the
        same objective (the least change wins).
    n_alternatives
        Alternatives to return: the best plans without each of the levers the
        recommendation leans on most.

    Raises
    ------
    SolverInputError
        For inputs the solver cannot work with, before any model call.
    """
    space = _space(current, horizon, target_kind, limits, cost_weights, lever_scales)
    if n_alternatives < 0:
        raise SolverInputError("n_alternatives", "must be >= 0")
    relaxed_space = _space(
        space.current,
        horizon,
        target_kind,
        space.limits.relaxed(RELAX_FACTOR),
        space.weights,
        space.scales,
    )
    free = [int(i) for i in np.flatnonzero(space.free)]
    counting = CountingModel(predict_revenue, horizon)
    net = _NetModel(counting, money_cost)
    months = _period_months(space, horizon)

    # Round 1 (net objective): the best plan, the relaxed best, and the best plan
    # without each free lever, all in the same batches.
    best, relaxed_best, *without = run(
        net,
        parallel(
            [_best(space), _best(relaxed_space)]
            + [_best(_locked(space, i)) for i in free]
        ),
    )
    levers = _checked(space, best.levers)

    # Round 2 (net objective): which limits hold the objective down.
    bound = run(net, binding(space, Point(levers, best.monthly, best.revenue)))

    # Round 3 (revenue): attribution of the plan, the sweeps past its limits.
    edges = _at_limit(space, levers)
    sweeps = [_sweep_rows(space, levers, i) for i, _ in edges]
    attribution, *swept = run(
        counting,
        parallel([shapley(space, levers)] + [evaluate(rows) for rows, _ in sweeps]),
    )
    plan = _plan(space, levers, attribution)
    unbounded = []
    for (i, way), (_, farthest), monthly in zip(edges, sweeps, swept, strict=True):
        figures = space.figure(monthly)
        steps = np.diff(figures)
        tol = revenue_tolerance(float(figures.max()))
        if (steps > tol).any() and (steps >= -tol).all() and steps[-1] > tol:
            unbounded.append(
                UnboundedGain(
                    lever=i,
                    value=float(levers[i]),
                    kind=_limit_kind(space.limits, space.current, i, way),
                    probed_to=farthest,
                    revenue_at_probe=float(figures[-1]),
                )
            )

    # Round 4 (revenue): the alternatives, without the plan's strongest levers.
    order = [i for i in np.argsort(-plan.impact, kind="stable") if plan.impact[i] > 0]
    held = [int(i) for i in order if int(i) in free][:n_alternatives]
    alt_levers = [_checked(space, without[free.index(i)].levers) for i in held]
    alt_attributions = run(counting, parallel([shapley(space, x) for x in alt_levers]))
    cost_rows = np.vstack([levers[None], relaxed_best.levers[None], *alt_levers])
    costs = net.monthly_cost(cost_rows) * months
    alternatives = tuple(
        OptimizedAlternative(
            held_lever=i,
            plan=(alt := _plan(space, x, attribution_i)),
            money_cost=float(costs[2 + k]),
            net_revenue=float(alt.revenue - costs[2 + k]),
        )
        for k, (i, x, attribution_i) in enumerate(
            zip(held, alt_levers, alt_attributions, strict=True)
        )
    )
    single = np.tile(space.current, (N_LEVERS, 1))
    single[np.arange(N_LEVERS), np.arange(N_LEVERS)] = levers
    by_lever = net.monthly_cost(single) * months

    relaxed_levers = _checked(relaxed_space, relaxed_best.levers)
    relaxed_monthly = relaxed_best.monthly + net.monthly_cost(relaxed_levers[None])[0]
    relaxed_revenue = float(relaxed_space.figure(relaxed_monthly[None])[0])
    return Optimum(
        horizon=horizon,
        target_kind=space.target_kind,
        limits=space.limits,
        current_levers=space.current,
        current_monthly_revenue=attribution.monthly_at_current,
        current_revenue=float(space.figure(attribution.monthly_at_current[None])[0]),
        recommended=plan,
        money_cost=float(costs[0]),
        money_cost_by_lever=by_lever,
        net_revenue=float(plan.revenue - costs[0]),
        binding_constraints=tuple(BindingConstraint(i, kind) for i, kind in bound),
        unbounded_gains=tuple(unbounded),
        relaxed=RelaxedOptimum(
            factor=RELAX_FACTOR,
            levers=relaxed_levers,
            monthly_revenue=relaxed_monthly,
            revenue=relaxed_revenue,
            money_cost=float(costs[1]),
            net_revenue=relaxed_revenue - float(costs[1]),
        ),
        alternatives=alternatives,
        n_model_calls=counting.calls,
        n_model_rows=counting.rows,
    )
