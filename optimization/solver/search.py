"""Derivative-free searches over the lever box, written as batch-yielding tasks.

None of them uses a gradient: the forward model may be piecewise constant in a lever
(tree corrections), where every numerical gradient is zero and a gradient method never
leaves the starting point. Instead each round evaluates many whole moves at once (every
lever, several step sizes, both directions) in one batch and picks among them.

- :func:`greedy` walks towards the revenue goal, one lever move per round.
- :func:`trim` walks back towards today's plan while the goal still holds.
- :func:`maximise` finds the best revenue in the box (corners, then coordinate ascent).
- :func:`shapley` splits a plan's revenue change exactly between the levers it moves.
- :func:`binding` tells which limits hold revenue down at a plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import factorial
from typing import Literal

import numpy as np
import numpy.typing as npt

from optimization.solver.engine import Task, parallel
from optimization.solver.levers import (
    DEFAULT_LOWER,
    DEFAULT_UPPER,
    N_LEVERS,
    ConstraintKind,
    LeverLimits,
)

__all__ = [
    "Attribution",
    "GreedyOutcome",
    "Point",
    "SearchSpace",
    "TargetKind",
    "binding",
    "greedy",
    "maximise",
    "prune",
    "revenue_tolerance",
    "shapley",
    "trim",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
TargetKind = Literal["month", "total"]

#: Step sizes the greedy tries, as fractions of the room left towards each limit. The
#: small ones find cheap moves on smooth responses, the large ones jump the flat
#: stretches of a piecewise-constant model in a single round.
STEP_FRACTIONS = np.array([1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2, 3 / 4, 1.0])
#: How far back towards today's value trimming tries, as fractions of each move.
TRIM_FRACTIONS = np.array(
    [1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2, 5 / 8, 3 / 4, 7 / 8, 1.0]
)
#: Coordinate-ascent grids: (half-width as a fraction of the box, points). The first
#: spans the whole box, the next two refine around the best value found so far.
ASCENT_LEVELS = ((1.0, 17), (1 / 8, 9), (1 / 64, 9))
MAX_GREEDY_STEPS = 12
MAX_TRIM_ROUNDS = 10
MAX_ASCENT_ROUNDS = 16
#: Weight of the effort cost (weighted relative change) beside a money cost: one
#: unit of currency per unit of effort, so it only breaks ties between plans of the
#: same money cost (a 10% move adds 0.1 at weight 1).
EFFORT_TIEBREAK = 1.0
#: A moved lever whose share of the revenue change is at most this fraction of the
#: plan's revenue adds nothing and is pulled back: float noise, not a contribution.
#: Anything larger may be what closes the last cent of the gap to a target (a
#: target equal to a rounded forecast), so it stays.
IMPACT_FLOOR = 1e-9
#: Relaxation probe for a limit with no natural step size, as a fraction of the lever's
#: scale (10% of today's value with the default scales).
PROBE_FRACTION = 0.1


def revenue_tolerance(revenue: float) -> float:
    """Return the smallest revenue difference treated as real (float noise below)."""
    return 1e-9 * max(abs(revenue), 1.0)


@dataclass(frozen=True, eq=False)
class SearchSpace:
    """One problem's box, cost and target figure, shared by every search.

    Attributes
    ----------
    current
        Today's levers ``(7,)``; cost is measured from here.
    lo, hi
        The box from :meth:`LeverLimits.box`; every row a search proposes is clipped
        into it, and every value in it satisfies every limit.
    weights, scales
        Cost of a plan ``x`` is ``sum(weights * |x - current| / scales)``.
    target_kind
        ``"month"``: revenue of the last month; ``"total"``: sum over the months.
    limits
        The limits the box came from (read by :func:`binding`).
    money
        Optional money cost of plans ``(n, 7) -> (n,)`` (0 for today's plan). When
        given, a plan's cost is that money plus :data:`EFFORT_TIEBREAK` times the
        effort cost above, so the search spends as little money as it can and,
        among plans of equal money, moves levers as little as it can.
    """

    current: FloatArray
    lo: FloatArray
    hi: FloatArray
    weights: FloatArray
    scales: FloatArray
    target_kind: TargetKind
    limits: LeverLimits
    money: Callable[[FloatArray], npt.ArrayLike] | None = None

    @property
    def free(self) -> npt.NDArray[np.bool_]:
        """Levers with room to move."""
        return self.lo < self.hi

    @property
    def anchor(self) -> FloatArray:
        """The cheapest point of the box: today's plan, projected into the box."""
        return np.clip(self.current, self.lo, self.hi)

    def cost(self, rows: FloatArray) -> FloatArray:
        """Cost of each row of ``rows`` ``(n, 7)``."""
        effort = (self.weights * np.abs(rows - self.current) / self.scales).sum(axis=-1)
        if self.money is None:
            return effort
        money = np.asarray(self.money(np.atleast_2d(rows)), dtype=float)
        return money.reshape(effort.shape) + EFFORT_TIEBREAK * effort

    def figure(self, monthly: FloatArray) -> FloatArray:
        """The target figure of each row of monthly revenue ``(n, horizon)``."""
        return monthly[:, -1] if self.target_kind == "month" else monthly.sum(axis=1)

    def clip(self, rows: FloatArray) -> FloatArray:
        """Project rows into the box (exact: ``np.clip`` never overshoots)."""
        return np.clip(rows, self.lo, self.hi)


@dataclass(frozen=True, eq=False)
class Point:
    """A plan with its model evaluation."""

    levers: FloatArray
    monthly: FloatArray
    revenue: float


@dataclass(frozen=True, eq=False)
class GreedyOutcome:
    """Where :func:`greedy` stopped; ``first_stage_moves`` counts moves in stage one."""

    point: Point
    reached: bool
    first_stage_moves: int


@dataclass(frozen=True, eq=False)
class Attribution:
    """Exact Shapley split of a plan's revenue change, and the two end evaluations."""

    impact_by_month: FloatArray
    monthly_at_plan: FloatArray
    monthly_at_current: FloatArray


def _single_lever_rows(
    space: SearchSpace, x: FloatArray, values: dict[int, FloatArray]
) -> tuple[IntArray, FloatArray]:
    """Rows equal to ``x`` except one lever set to each of its candidate values.

    Values are clipped into the box and de-duplicated; a value equal to ``x`` is dropped
    because it would re-evaluate ``x`` itself.
    """
    levers: list[IntArray] = []
    settings: list[FloatArray] = []
    for lever, candidates in values.items():
        kept = np.unique(np.clip(candidates, space.lo[lever], space.hi[lever]))
        kept = kept[kept != x[lever]]
        levers.append(np.full(len(kept), lever, dtype=np.intp))
        settings.append(kept)
    index = np.concatenate(levers) if levers else np.empty(0, dtype=np.intp)
    rows = np.tile(x, (len(index), 1))
    if len(index):
        rows[np.arange(len(index)), index] = np.concatenate(settings)
    return index, rows


def _pick_step(
    x: FloatArray,
    index: IntArray,
    rows: FloatArray,
    gain: FloatArray,
    extra_cost: FloatArray,
    gap: float,
    tol: float,
) -> int | None:
    """Choose the next greedy move among single-lever candidates, or ``None``.

    Efficiency is revenue gain per unit of extra cost, with the gain capped at the gap
    still to close: a move past the goal earns nothing for its overshoot, which makes a
    cheap move that just closes the gap beat a big efficient one. The lever with the best
    efficiency is moved as far as its efficiency stays at or above the best efficiency
    any other lever offers (water-filling), so a concave response takes one large step
    instead of many small ones; if such a move closes the gap, the cheapest one is taken.
    """
    valid = gain > tol
    if not valid.any():
        return None
    # Revenue up at no extra cost (moving back towards today's value): always take it.
    free_win = valid & (extra_cost <= 0)
    if free_win.any():
        return int(np.argmax(np.where(free_win, gain, -np.inf)))
    efficiency = np.full(len(gain), -np.inf)
    np.divide(np.minimum(gain, gap), extra_cost, out=efficiency, where=valid)
    best = int(np.argmax(efficiency))
    lead = index[best]
    others = valid & (index != lead)
    runner_up = float(efficiency[others].max()) if others.any() else 0.0
    direction = np.sign(rows[np.arange(len(index)), index] - x[index])
    eligible = (
        valid
        & (index == lead)
        & (direction == direction[best])
        & (efficiency >= runner_up)
    )
    closing = eligible & (gain >= gap)
    if closing.any():
        return int(np.argmin(np.where(closing, extra_cost, np.inf)))
    return int(np.argmax(np.where(eligible, gain, -np.inf)))


def greedy(
    space: SearchSpace,
    start: FloatArray,
    goal: float,
    stages: Sequence[Sequence[int]],
    *,
    stop_if_first_stage_idle: bool = False,
) -> Task[GreedyOutcome]:
    """Move levers one at a time towards ``goal``, re-scoring the whole plan each round.

    Each round evaluates, in one batch, every allowed lever at several step sizes in
    both directions from the current plan, so interactions between levers are always
    seen at the plan actually reached. Directions are not assumed: staff utilisation and
    classes may help in either direction.

    Parameters
    ----------
    start
        First plan (inside the box).
    goal
        Revenue figure to reach.
    stages
        Lever sets allowed in turn: the search moves only stage one's levers until they
        add no more revenue, then also stage two's, and so on.
    stop_if_first_stage_idle
        Give up at once when stage one cannot make a single move (a plan meant to lead
        with those levers would not).
    """
    x = start.copy()
    monthly = (yield x[None])[0]
    revenue = float(space.figure(monthly[None])[0])
    tol = revenue_tolerance(goal)
    first_stage_moves = 0
    for stage_number, stage in enumerate(stages):
        allowed = [int(i) for i in stage if space.free[i]]
        for _ in range(MAX_GREEDY_STEPS):
            if revenue >= goal - tol:
                break
            index, rows = _single_lever_rows(
                space,
                x,
                {
                    i: np.concatenate(
                        [
                            x[i] + STEP_FRACTIONS * (space.hi[i] - x[i]),
                            x[i] - STEP_FRACTIONS * (x[i] - space.lo[i]),
                        ]
                    )
                    for i in allowed
                },
            )
            if not len(rows):
                break
            candidates = yield rows
            figures = space.figure(candidates)
            extra_cost = space.cost(rows) - space.cost(x[None])[0]
            pick = _pick_step(
                x, index, rows, figures - revenue, extra_cost, goal - revenue, tol
            )
            if pick is None:
                break
            x, monthly, revenue = rows[pick], candidates[pick], float(figures[pick])
            if stage_number == 0:
                first_stage_moves += 1
        if revenue >= goal - tol or (
            stop_if_first_stage_idle and not first_stage_moves
        ):
            break
    return GreedyOutcome(
        Point(x, monthly, revenue), revenue >= goal - tol, first_stage_moves
    )


def trim(
    space: SearchSpace, point: Point, goal: float, groups: Sequence[Sequence[int]]
) -> Task[Point]:
    """Pull levers back towards today's plan as long as the plan still reaches ``goal``.

    Each round tries, in one batch, every moved lever of the current group at several
    fractions of the way back and keeps the candidate that saves the most cost while
    still reaching the goal. This removes the greedy's overshoot (a bisection along the
    last step, done as a grid in one call) and undoes early moves that later ones made
    unnecessary. ``groups`` are worked through in order, each until nothing more can be
    saved on its levers; a group is only trimmed once every earlier group is back at
    today's values, because earlier groups hold the levers to give up first.
    """
    tol = revenue_tolerance(goal)
    anchor = space.anchor
    for group in groups:
        for _ in range(MAX_TRIM_ROUNDS):
            x = point.levers
            moved = [j for j in group if space.free[j] and x[j] != anchor[j]]
            if not moved:
                break
            _, rows = _single_lever_rows(
                space, x, {j: x[j] + TRIM_FRACTIONS * (anchor[j] - x[j]) for j in moved}
            )
            candidates = yield rows
            figures = space.figure(candidates)
            saving = space.cost(x[None])[0] - space.cost(rows)
            acceptable = (figures >= goal - tol) & (saving > 1e-12)
            if not acceptable.any():
                break
            pick = int(np.argmax(np.where(acceptable, saving, -np.inf)))
            point = Point(rows[pick], candidates[pick], float(figures[pick]))
        if any(point.levers[j] != anchor[j] for j in group):
            break
    return point


def _ascend(space: SearchSpace, point: Point) -> Task[Point]:
    """Coordinate ascent: move the single lever that raises revenue most, on grids."""
    free = np.flatnonzero(space.free)
    width = space.hi - space.lo
    for half_width, n_points in ASCENT_LEVELS:
        offsets = np.linspace(-half_width, half_width, n_points)
        for _ in range(MAX_ASCENT_ROUNDS):
            x = point.levers
            _, rows = _single_lever_rows(
                space,
                x,
                {
                    int(i): (
                        np.linspace(space.lo[i], space.hi[i], n_points)
                        if half_width >= 1.0
                        else x[i] + offsets * width[i]
                    )
                    for i in free
                },
            )
            if not len(rows):
                break
            candidates = yield rows
            figures = space.figure(candidates)
            best = int(np.argmax(figures))
            if figures[best] <= point.revenue + revenue_tolerance(point.revenue):
                break
            point = Point(rows[best], candidates[best], float(figures[best]))
    return point


def maximise(
    space: SearchSpace, starts: FloatArray, *, n_seeds: int = 2
) -> Task[Point]:
    """Find the highest revenue figure in the box, independently of :func:`greedy`.

    Evaluates every corner of the box (all free levers at a limit; at most 128 rows) and
    the given starting plans in one batch, which settles the monotone levers, then runs
    coordinate ascent from the ``n_seeds`` best of them on full-range and then finer
    grids, which finds interior optima of non-monotone levers such as staff utilisation.
    """
    free = np.flatnonzero(space.free)
    bits = ((np.arange(2 ** len(free))[:, None] >> np.arange(len(free))) & 1).astype(
        bool
    )
    corners = np.tile(space.anchor, (len(bits), 1))
    corners[:, free] = np.where(bits, space.hi[free], space.lo[free])
    rows = np.vstack([space.clip(np.atleast_2d(starts)), corners])
    monthly = yield rows
    figures = space.figure(monthly)
    seeds: list[int] = []
    for k in np.argsort(-figures, kind="stable"):
        if len(seeds) == n_seeds:
            break
        if not any(np.array_equal(rows[k], rows[s]) for s in seeds):
            seeds.append(int(k))
    peaks = yield from parallel(
        [_ascend(space, Point(rows[k], monthly[k], float(figures[k]))) for k in seeds]
    )
    return max(peaks, key=lambda peak: peak.revenue)


def shapley(space: SearchSpace, levers: FloatArray) -> Task[Attribution]:
    """Split the revenue change from today's plan to ``levers`` between the levers.

    Exact Shapley values over the levers that change: all ``2**m`` mixes of today's and
    the new values (m <= 7, so at most 128 rows) in one batch. The per-lever impacts add
    up to the plan's revenue minus today's, month by month, and do not depend on any
    ordering of the levers. The last row is the plan itself, so this call also serves
    as the final re-evaluation of the plan.
    """
    current = space.current
    changed = np.flatnonzero(levers != current)
    m = len(changed)
    masks = np.arange(2**m)
    bits = ((masks[:, None] >> np.arange(m)) & 1).astype(bool)
    rows = np.tile(current, (len(masks), 1))
    rows[:, changed] = np.where(bits, levers[changed], current[changed])
    monthly = yield rows
    sizes = bits.sum(axis=1)
    impact = np.zeros((N_LEVERS, monthly.shape[1]))
    for j, lever in enumerate(changed):
        without = masks[~bits[:, j]]
        size = sizes[without]
        weight = np.array(
            [factorial(s) * factorial(m - s - 1) / factorial(m) for s in size]
        )
        impact[lever] = weight @ (monthly[without | (1 << j)] - monthly[without])
    return Attribution(impact, monthly[-1], monthly[0])


def impact_floor(revenue: float) -> float:
    """Return the revenue share at or below which a lever change adds nothing."""
    return IMPACT_FLOOR * max(abs(revenue), 1.0)


def prune(space: SearchSpace, point: Point) -> Task[Point]:
    """Pull back every lever change that adds no revenue, until none is left.

    A lever moved from today's value whose exact Shapley share of the revenue
    change is at most :func:`impact_floor` costs effort (or money) for nothing; it
    goes back to today's value. A lever that a bound moved off today's value (its
    ``anchor`` differs) is judged by what moving it past the bound adds instead,
    and goes back to the bound. Shares are recomputed after each round, because
    pulling one lever back can change another's. Revenue may fall by the pulled
    back levers' (non-positive) shares; the caller checks the goal again.
    """
    anchor = space.anchor
    forced = anchor != space.current
    for _ in range(N_LEVERS):
        x = point.levers
        moved = np.flatnonzero((x != anchor) & space.free)
        if not len(moved):
            return point
        attribution = yield from shapley(space, x)
        share = space.figure(attribution.impact_by_month)
        back = np.tile(x, (len(moved), 1))
        back[np.arange(len(moved)), moved] = anchor[moved]
        without = space.figure((yield back))
        floor = impact_floor(point.revenue)
        idle = [
            int(i)
            for k, i in enumerate(moved)
            if (point.revenue - without[k] <= floor if forced[i] else share[i] <= floor)
        ]
        if not idle:
            return point
        levers = x.copy()
        levers[idle] = anchor[idle]
        monthly = (yield levers[None])[0]
        point = Point(levers, monthly, float(space.figure(monthly[None])[0]))
    return point


def binding(space: SearchSpace, point: Point) -> Task[list[tuple[int, ConstraintKind]]]:
    """List the limits that hold revenue down at ``point`` (a revenue-maximising plan).

    A limit binds when relaxing it alone raises revenue above the plan's. Every edge of
    the box is probed in one batch: the lever is set just past the edge, by its maximum
    change (as in the 2x-relaxed run) or, for a bound, by 10% of its scale, the other
    levers staying at the plan. The probe starts from the edge rather than from the
    plan because a trimmed plan may sit inside a flat step below the limit that still
    holds it back. A locked lever is probed within its other limits. Probes stay
    within each lever's valid range (a rate above 1 or a negative count is not a
    limit anyone can relax, and a real model refuses it); they are only
    evaluated, never returned as a plan.
    """
    limits, x = space.limits, point.levers
    locked = limits.locked_mask
    probes: list[tuple[int, list[ConstraintKind], float]] = []
    for i in range(N_LEVERS):
        up, down = limits.max_increase[i], limits.max_decrease[i]
        fallback = PROBE_FRACTION * space.scales[i]
        step_up = up if 0 < up < np.inf else fallback
        step_down = down if 0 < down < np.inf else fallback
        if locked[i]:
            for value in (
                min(x[i] + step_up, limits.upper[i]),
                max(x[i] - step_down, limits.lower[i]),
            ):
                if value != x[i]:
                    probes.append((i, ["locked"], value))
            continue
        cap = space.current[i] + up
        up_kinds: list[ConstraintKind] = (
            ["max_increase"]
            if cap < limits.upper[i]
            else ["upper_bound"]
            if cap > limits.upper[i]
            else ["max_increase", "upper_bound"]
        )
        step = step_up if up_kinds[0] == "max_increase" else fallback
        probes.append((i, up_kinds, space.hi[i] + step))
        floor = space.current[i] - down
        down_kinds: list[ConstraintKind] = (
            ["max_decrease"]
            if floor > limits.lower[i]
            else ["lower_bound"]
            if floor < limits.lower[i]
            else ["max_decrease", "lower_bound"]
        )
        step = step_down if down_kinds[0] == "max_decrease" else fallback
        probes.append((i, down_kinds, space.lo[i] - step))
    # Clipped to the valid range, an unlocked lever's probe must still pass the
    # box's edge to test a limit at all.
    clipped = [
        (i, kinds, float(np.clip(value, DEFAULT_LOWER[i], DEFAULT_UPPER[i])))
        for i, kinds, value in probes
    ]
    probes = [
        (i, kinds, value)
        for i, kinds, value in clipped
        if value != x[i] and (locked[i] or value > space.hi[i] or value < space.lo[i])
    ]
    if not probes:
        return []
    rows = np.tile(x, (len(probes), 1))
    for k, (i, _, value) in enumerate(probes):
        rows[k, i] = value
    figures = space.figure((yield rows))
    tol = revenue_tolerance(point.revenue)
    found: list[tuple[int, ConstraintKind]] = []
    for (i, kinds, _), figure in zip(probes, figures, strict=True):
        if figure > point.revenue + tol:
            found.extend((i, kind) for kind in kinds if (i, kind) not in found)
    return found
