"""Inverse prediction (target -> levers) and lever impact analysis (SPEC §5).

The solver (``optimization/solver``) is pure numpy; this module turns a studio,
a base month and the active forward model into its ``predict_revenue`` callable
and its limits, and turns its answer into the product's result, with an action
plan from the tactics catalogue.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from forecasting.ml.frame import LEVER_COLUMNS, LEVER_LABELS, LEVERS
from forecasting.models import PredictionType
from forecasting.ranges import LeverRange, RangeWarning, lever_ranges, range_warnings
from forecasting.registry import active_model
from forecasting.selectors import history_frame
from forecasting.services import (
    LeverNote,
    base_lever_values,
    base_month_notes,
    by_lever,
    lever_bounds,
    lever_scale,
    levers_not_modelled,
    parse_base_month,
    prediction_log_write,
    studio_state,
    validate_levers,
)
from forecasting.serving import input_fields, lever_paths
from optimization.actions import (
    Action,
    LeverChangeImpact,
    action_plan_build,
    format_lever_value,
)
from optimization.costs import plan_money_cost
from optimization.solver import (
    DEFAULT_COST_WEIGHTS,
    LeverLimits,
    SolverInputError,
    default_lever_scales,
    solve,
)
from optimization.tactics import Cost, cost_currency, tactics_for_change
from studios.models import Studio
from studios.selectors import metric_latest_month
from studiosim.display import format_money
from studiosim.errors import InvalidInput

#: Maximum change per lever when the request gives none (SPEC §5's examples for
#: retention, ticket and new members; comparable steps for the rest).
DEFAULT_MAX_INCREASE: dict[str, float] = {
    "retention_rate": 0.05,
    "avg_ticket_price": 20.0,
    "class_attendance_rate": 0.10,
    "new_members_monthly": 10.0,
    "staff_utilization_rate": 0.10,
    "upsell_rate": 0.10,
    "total_classes_held": 40.0,
}
DEFAULT_MAX_DECREASE: dict[str, float] = dict(DEFAULT_MAX_INCREASE)
#: Upper bounds the optimizer keeps to unless the request sets others: no studio
#: keeps every member, fills every place or books every staff hour.
DEFAULT_UPPER_BOUNDS: dict[str, float] = {
    "retention_rate": 0.99,
    "class_attendance_rate": 0.98,
    "staff_utilization_rate": 0.98,
}
TARGET_KINDS = ("month", "total")
#: Probabilities a plan may be asked to reach its target with.
PROBABILITY_RANGE = (0.05, 0.99)
_KIND_TEXT = {
    "max_increase": "at its maximum increase",
    "max_decrease": "at its maximum decrease",
    "upper_bound": "at its upper bound",
    "lower_bound": "at its lower bound",
    "locked": "locked",
}


@dataclass(frozen=True)
class InverseConstraints:
    """What the owner allows: per-lever maximum changes, bounds and locks."""

    max_increase: Mapping[str, float] = field(default_factory=dict)
    max_decrease: Mapping[str, float] = field(default_factory=dict)
    lower_bounds: Mapping[str, float] = field(default_factory=dict)
    upper_bounds: Mapping[str, float] = field(default_factory=dict)
    locked_levers: tuple[str, ...] = ()
    #: Let plans take levers beyond the peers' observed range (warned about).
    allow_beyond_peers: bool = False
    #: Minimise the monthly money cost of the catalogue tactics the plan needs
    #: (:func:`optimization.costs.plan_money_cost`) instead of the effort-weighted
    #: lever change.
    prioritize_low_cost: bool = False


@dataclass(frozen=True)
class LeverChange:
    lever: str
    current: float
    recommended: float
    change_pct: float | None
    impact_on_revenue: float
    feasibility_score: float
    estimated_cost: str


@dataclass(frozen=True)
class BindingConstraintOut:
    lever: str
    kind: str
    description: str


@dataclass(frozen=True)
class AlternativePlan:
    lead_lever: str
    levers: dict[str, float | None]
    revenue: float
    cost: float
    lever_changes: list[LeverChange]


@dataclass(frozen=True)
class RelaxedOut:
    factor: float
    revenue: float
    reachable: bool
    levers: dict[str, float | None]


@dataclass(frozen=True)
class InverseOutput:
    studio_id: str
    base_month: dt.date
    target_revenue: float
    target_months: int
    target_kind: str
    current_revenue: float
    achievable_revenue: float
    projected_revenue: float
    achievement_rate: float
    reachable: bool
    message: str
    binding_constraints: list[BindingConstraintOut]
    recommended_levers: dict[str, float | None]
    lever_changes: list[LeverChange]
    monthly_revenue: list[float]
    action_plan: list[Action]
    alternatives: list[AlternativePlan]
    relaxed: RelaxedOut
    total_cost: float
    confidence_score: float
    model_version: str
    not_modelled_levers: list[LeverNote] = field(default_factory=list)
    #: Monthly money cost of the catalogue tactics the recommended plan needs.
    tactic_cost: float = 0.0
    #: The currency of ``tactic_cost`` and the action plan's cost estimates: the
    #: studio's, or US dollars where no CURRENCY_RATES rate converts them.
    cost_currency: str = "USD"
    #: The probability asked for; None: the plan reaches the target in expectation.
    target_probability: float | None = None
    #: The target figure under the recommended plan, point forecast.
    expected_revenue: float = 0.0
    #: Calibrated probability that the recommended plan reaches the target.
    reach_probability: float = 0.0
    #: Recommended lever values outside the studio's history or its peers' range.
    warnings: list[RangeWarning] = field(default_factory=list)
    #: What looks wrong with the base month's figures (a typo, a month not recorded).
    base_month_notes: list[str] = field(default_factory=list)
    prediction_id: str | None = None

    def as_dict(self) -> dict:
        data = asdict(self)
        data["base_month"] = self.base_month.isoformat()
        return data


_HALF_CENT = 0.005


def default_max_changes(current: Any) -> tuple[dict[str, float], dict[str, float]]:
    """The largest increase and decrease of each lever a plan makes when the
    owner sets none, for a studio at ``current`` (LEVERS order, or a mapping of
    lever to value; NaN or None where unknown).

    DEFAULT_MAX_INCREASE and DEFAULT_MAX_DECREASE, times the studio's
    :func:`forecasting.services.lever_scale`: an amount's step grows in
    proportion where the studio is larger than SPEC §2's (or counts in a currency
    of smaller units): a ticket of 24,000 yen may move by 1,600 yen, where a $150
    one moves by $20.
    """
    current = by_lever(current)
    scale = {lever: lever_scale(lever, current.get(lever)) for lever in LEVERS}
    return (
        {lever: step * scale[lever] for lever, step in DEFAULT_MAX_INCREASE.items()},
        {lever: step * scale[lever] for lever, step in DEFAULT_MAX_DECREASE.items()},
    )


def inverse_limits(
    current: np.ndarray,
    constraints: InverseConstraints,
    peers: Mapping[str, LeverRange] | None = None,
) -> tuple[LeverLimits, np.ndarray, np.ndarray]:
    """The solver's limits from the owner's constraints, or InvalidInput.

    With ``peers`` (and ``allow_beyond_peers`` off) each lever is also kept within
    its peers' observed range, widened to today's value (a plan never moves a
    lever further outside it); where that range and the owner's bounds do not
    meet, the owner's bounds stand.
    """
    for name, values in (
        ("max_increase", constraints.max_increase),
        ("max_decrease", constraints.max_decrease),
        ("lower_bounds", constraints.lower_bounds),
        ("upper_bounds", constraints.upper_bounds),
    ):
        for lever, value in values.items():
            if lever not in LEVERS:
                raise InvalidInput(f"unknown lever {lever!r} in {name}", field=name)
            if value is None or not np.isfinite(value) or value < 0:
                raise InvalidInput(
                    f"{name} for {lever} must be a number >= 0", field=name
                )
    unknown = set(constraints.locked_levers) - set(LEVERS)
    if unknown:
        raise InvalidInput(
            f"unknown locked lever(s): {', '.join(sorted(unknown))}",
            field="locked_levers",
        )
    increase, decrease = default_max_changes(current)
    max_increase = np.array(
        [constraints.max_increase.get(k, increase[k]) for k in LEVERS], float
    )
    max_decrease = np.array(
        [constraints.max_decrease.get(k, decrease[k]) for k in LEVERS], float
    )
    valid = lever_bounds(current)
    for name, values in (
        ("lower_bounds", constraints.lower_bounds),
        ("upper_bounds", constraints.upper_bounds),
    ):
        with input_fields(lever_paths(f"constraints.{name}")):
            validate_levers(values, valid)
    lower = np.array(
        [constraints.lower_bounds.get(k, valid[k][0]) for k in LEVERS], float
    )
    upper = np.array(
        [
            constraints.upper_bounds.get(k, DEFAULT_UPPER_BOUNDS.get(k, valid[k][1]))
            for k in LEVERS
        ],
        float,
    )
    for i, lever in enumerate(LEVERS):
        if lower[i] > upper[i]:
            raise InvalidInput(
                f"the lower bound of {lever} is above its upper bound",
                field="lower_bounds",
            )
        # A default bound never moves a lever that is already past it (a studio
        # at 99.5% utilisation keeps it); the owner's own bounds are hard.
        if lever not in constraints.lower_bounds:
            lower[i] = min(lower[i], current[i])
        if lever not in constraints.upper_bounds:
            upper[i] = max(upper[i], current[i])
    _check_bounds_reachable(
        current, lower, upper, max_increase, max_decrease, constraints
    )
    if peers is not None and not constraints.allow_beyond_peers:
        for lever, (low, high) in peer_bounds(current, peers).items():
            i = LEVERS.index(lever)
            new_low, new_high = max(lower[i], low), min(upper[i], high)
            if new_low <= new_high:
                lower[i], upper[i] = new_low, new_high
    try:
        limits = LeverLimits.build(
            lower=lower,
            upper=upper,
            max_increase=max_increase,
            max_decrease=max_decrease,
            locked=constraints.locked_levers,
        )
    except SolverInputError as exc:
        raise InvalidInput(str(exc), field=getattr(exc, "field", None)) from None
    return limits, max_increase, max_decrease


def peer_bounds(
    current: np.ndarray, peers: Mapping[str, LeverRange]
) -> dict[str, tuple[float, float]]:
    """Each lever's peers' range, widened to include today's value."""
    out = {}
    for i, lever in enumerate(LEVERS):
        known = peers.get(lever)
        if known is None or known.peer_low is None or known.peer_high is None:
            continue
        out[lever] = (
            min(known.peer_low, float(current[i])),
            max(known.peer_high, float(current[i])),
        )
    return out


def binding_text(
    lever: str,
    kind: str,
    limits: LeverLimits,
    peers: Mapping[str, tuple[float, float]],
    currency: str = "USD",
) -> str:
    """What a binding limit means to an owner: the peers' range, with its value,
    where that is what stopped the lever; the kind of limit otherwise."""
    i = LEVERS.index(lever)
    edge = peers.get(lever)
    if edge is not None and (
        (kind == "upper_bound" and limits.upper[i] == edge[1])
        or (kind == "lower_bound" and limits.lower[i] == edge[0])
    ):
        side, value = ("top", edge[1]) if kind == "upper_bound" else ("bottom", edge[0])
        return (
            f"{LEVER_LABELS[lever]} at the {side} of its peers' range "
            f"({format_lever_value(lever, value, currency)}; allowBeyondPeers lifts it)"
        )
    return f"{LEVER_LABELS[lever]} {_KIND_TEXT.get(kind, kind)}"


def _check_bounds_reachable(
    current: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    max_increase: np.ndarray,
    max_decrease: np.ndarray,
    constraints: InverseConstraints,
) -> None:
    """Refuse a bound that excludes today's value when no plan can get inside it.

    A bound the plan can reach moves the lever into it (see :func:`inverse_limits`);
    one that a lock, or the maximum change that way, keeps out of reach is the
    owner's limits contradicting each other, and is refused naming the lever.
    """
    for i, lever in enumerate(LEVERS):
        value = float(current[i])
        if lower[i] <= value <= upper[i]:
            continue
        below = value < lower[i]
        field_name = "lower_bounds" if below else "upper_bounds"
        bound = float(lower[i] if below else upper[i])
        side = "lower" if below else "upper"
        if lever in constraints.locked_levers:
            raise InvalidInput(
                f"{lever} is locked at today's value {value:g}, outside its {side} "
                f"bound {bound:g}: unlock it or change the bound",
                field=field_name,
            )
        gap = bound - value if below else value - bound
        allowed = float(max_increase[i] if below else max_decrease[i])
        if (bound > value + allowed) if below else (bound < value - allowed):
            way = "increase" if below else "decrease"
            raise InvalidInput(
                f"the {side} bound of {lever} ({bound:g}) is {gap:g} "
                f"{'above' if below else 'below'} today's value ({value:g}), more "
                f"than its maximum {way} ({allowed:g}) allows: no plan can keep to "
                "both",
                field=field_name,
            )


def _estimated_cost(lever: str, change: float, current: float) -> str:
    """The cost level of the tactics sized to the change (low when nothing to do)."""
    tactics = tactics_for_change(lever, change, current)
    if not tactics:
        return Cost.LOW.value
    order = [Cost.LOW, Cost.MEDIUM, Cost.HIGH]
    return max((t.cost for t in tactics), key=order.index).value


def _lever_changes(plan, current: np.ndarray, max_inc, max_dec) -> list[LeverChange]:
    """Per-lever detail; feasibility = 1 - |change| / the maximum allowed that way."""
    changes = []
    for i, lever in enumerate(LEVERS):
        delta = float(plan.levers[i] - current[i])
        allowed = max_inc[i] if delta > 0 else max_dec[i]
        feasibility = 1.0 if delta == 0 or allowed == 0 else 1.0 - abs(delta) / allowed
        changes.append(
            LeverChange(
                lever=lever,
                current=float(current[i]),
                recommended=float(plan.levers[i]),
                change_pct=(delta / current[i]) if current[i] else None,
                impact_on_revenue=round(float(plan.impact[i]), 2),
                feasibility_score=round(float(np.clip(feasibility, 0.0, 1.0)), 4),
                estimated_cost=_estimated_cost(lever, delta, float(current[i])),
            )
        )
    return changes


def _message(solution, target: float, kind: str, horizon: int, currency: str) -> str:
    def money(value: float) -> str:
        return format_money(value, currency)

    what = (
        f"monthly revenue of {money(target)} in month {horizon}"
        if kind == "month"
        else f"{money(target)} in total over {horizon} months"
    )
    if solution.reachable and not solution.recommended.changed_levers:
        return f"The current plan already reaches {what}: no change needed."
    if solution.reachable:
        return f"{what[0].upper()}{what[1:]} is reachable within your constraints."
    binding = ", ".join(
        f"{LEVER_LABELS[b.lever_name]} {_KIND_TEXT.get(b.kind, b.kind)}"
        for b in solution.binding_constraints
    )
    relaxed = solution.relaxed
    tail = (
        f" With the maximum changes doubled it would reach {money(relaxed.revenue)}"
        + (" (enough)." if relaxed.reachable else " (still short).")
    )
    return (
        f"{what[0].upper()}{what[1:]} cannot be reached within your constraints: the best "
        f"achievable is {money(solution.best_achievable_revenue)} "
        f"({solution.best_achievable_revenue / target:.0%} of the target)"
        + (f"; binding: {binding}." if binding else ".")
        + tail
    )


def inverse_predict(
    *,
    studio: Studio,
    base_month: str | dt.date,
    target_revenue: float,
    target_months: int = 3,
    target_kind: str = "month",
    current_levers: Mapping[str, float] | None = None,
    constraints: InverseConstraints | None = None,
    target_probability: float | None = None,
    user=None,
    log: bool = True,
) -> InverseOutput:
    """The cheapest lever changes that reach ``target_revenue``, with an action plan.

    With ``target_probability`` p the plan must reach the target with probability
    p under the model's uncertainty: the calibrated distribution the forecast
    intervals come from, convolved with the error of the model's lever responses,
    whose spread grows with the plan's modelled lift over the status quo
    (:meth:`ForwardModel.revenue_quantile`). The solver works on the revenue the
    actual reaches or beats with probability p (the 1-p quantile, month by month)
    instead of the point forecast, and every revenue figure of the answer except
    ``expected_revenue`` and ``monthly_revenue`` is that quantile. Without it the
    plan reaches the target in expectation. Either way ``reach_probability`` is
    the probability, under the same uncertainty, that the recommended plan
    reaches the target.

    The target is the monthly revenue in month ``target_months`` (``target_kind``
    "month", the default) or the total over months 1..``target_months``
    ("total"). ``current_levers`` override the base month's recorded levers as
    today's plan. Every plan returned (recommended, alternatives) respects every
    constraint and was evaluated with the active forward model; lever impacts are
    exact Shapley shares of the revenue change and add up to it. A lever not
    modelled for the studio (no data on it) is locked, and listed with the reason
    in ``not_modelled_levers``; a lever it has no data on at all is left out of
    the lever changes and is null in the plans.
    """
    constraints = constraints or InverseConstraints()
    if not isinstance(target_months, int) or not 1 <= target_months <= 12:
        raise InvalidInput(
            f"target months must be between 1 and 12, not {target_months}",
            field="target_months",
        )
    if target_kind not in TARGET_KINDS:
        raise InvalidInput(
            f"target kind must be one of {', '.join(TARGET_KINDS)}", field="target_kind"
        )
    if not np.isfinite(target_revenue) or target_revenue <= 0:
        raise InvalidInput(
            "target revenue must be greater than 0", field="target_revenue"
        )
    if target_probability is not None and not (
        isinstance(target_probability, int | float)
        and PROBABILITY_RANGE[0] <= target_probability <= PROBABILITY_RANGE[1]
    ):
        raise InvalidInput(
            f"target probability must be between {PROBABILITY_RANGE[0]} and "
            f"{PROBABILITY_RANGE[1]}",
            field="target_probability",
        )
    base = parse_base_month(base_month)
    validate_levers(current_levers)
    loaded = active_model()
    state = studio_state(
        model=loaded.model, version_id=loaded.version.pk, studio=studio, base_month=base
    )
    overrides = validate_levers(current_levers, lever_bounds(base_lever_values(state)))
    not_modelled = levers_not_modelled(state)
    no_data = {LEVERS[i] for i in np.flatnonzero(~state.has_data)}
    current = np.array(
        [overrides.get(k, float(v)) for k, v in zip(LEVERS, state.levers, strict=True)]
    )
    # A lever the model cannot move stays where it is: locked, with its reason.
    locked = (
        *constraints.locked_levers,
        *(
            note.lever
            for note in not_modelled
            if note.lever not in constraints.locked_levers
        ),
    )
    ranges = lever_ranges(studio=studio, base_month=base)
    limits, max_inc, max_dec = inverse_limits(
        current, replace(constraints, locked_levers=locked), ranges
    )
    peer_edges = {} if constraints.allow_beyond_peers else peer_bounds(current, ranges)
    model = loaded.model

    def plan_levers(values: np.ndarray) -> dict[str, float | None]:
        return {
            lever: None if lever in no_data else float(value)
            for lever, value in zip(LEVERS, values, strict=True)
        }

    # The model's status quo (the base month's levers), against which a plan's
    # lift, and with it its lever-response error, is measured.
    status_quo = model.predict(state, state.levers, target_months).revenue[0]

    def predict_revenue(levers: np.ndarray) -> np.ndarray:
        revenue = model.predict(state, levers, target_months).revenue
        if target_probability is None:
            return revenue
        return model.revenue_quantile(
            state, revenue, status_quo, float(target_probability)
        )

    money_cost = plan_money_cost(current, studio.currency)
    scales = default_lever_scales(current, limits)

    def effort(levers: np.ndarray) -> float:
        # The relative units of totalCost, in both modes.
        return round(
            float((DEFAULT_COST_WEIGHTS * np.abs(levers - current) / scales).sum()), 4
        )

    try:
        solution = solve(
            predict_revenue,
            current=current,
            target=float(target_revenue),
            horizon=target_months,
            target_kind=target_kind,
            limits=limits,
            cost_weights=DEFAULT_COST_WEIGHTS,
            money_cost=money_cost if constraints.prioritize_low_cost else None,
            # Money is answered in cents: a target within half a cent of a plan's
            # revenue is met (a target typed as today's rounded forecast included).
            tolerance=min(_HALF_CENT / float(target_revenue), 1e-6),
        )
    except SolverInputError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    plan = solution.recommended
    changes = [
        c
        for c in _lever_changes(plan, current, max_inc, max_dec)
        if c.lever not in no_data
    ]
    actions = action_plan_build(
        (
            LeverChangeImpact(c.lever, c.current, c.recommended, c.impact_on_revenue)
            for c in changes
            if c.recommended > c.current
        ),
        studio.currency,
    )
    # Re-check against the full forward model, with intervals, at the target month.
    check = model.predict(state, plan.levers, target_months)
    expected = (
        check.revenue[0, -1] if target_kind == "month" else check.revenue[0].sum()
    )
    reach = model.reach_probability(
        state,
        check.revenue,
        float(target_revenue),
        total=target_kind == "total",
        status_quo=status_quo,
    )[0]
    output = InverseOutput(
        studio_id=str(studio.pk),
        base_month=base,
        target_revenue=float(target_revenue),
        target_months=target_months,
        target_kind=target_kind,
        current_revenue=round(float(solution.current_revenue), 2),
        achievable_revenue=round(float(solution.best_achievable_revenue), 2),
        projected_revenue=round(float(plan.revenue), 2),
        achievement_rate=round(float(solution.achievement_rate), 4),
        reachable=bool(solution.reachable),
        message=_message(
            solution,
            float(target_revenue),
            target_kind,
            target_months,
            studio.currency,
        )
        + (
            f" Revenue figures are those reached with {target_probability:.0%} "
            f"probability; the plan reaches the target with {reach:.0%} probability "
            "under the model's calibrated uncertainty and the error of its lever "
            "responses."
            if target_probability is not None
            else ""
        ),
        binding_constraints=[
            BindingConstraintOut(
                lever=b.lever_name,
                kind=b.kind,
                description=binding_text(
                    b.lever_name, b.kind, limits, peer_edges, studio.currency
                ),
            )
            for b in solution.binding_constraints
        ],
        recommended_levers=plan_levers(plan.levers),
        lever_changes=changes,
        monthly_revenue=[round(float(r), 2) for r in check.revenue[0]],
        action_plan=actions,
        alternatives=[
            AlternativePlan(
                lead_lever=LEVERS[alt.lead_lever] if alt.lead_lever is not None else "",
                levers=plan_levers(alt.levers),
                revenue=round(float(alt.revenue), 2),
                cost=effort(alt.levers),
                lever_changes=[
                    c
                    for c in _lever_changes(alt, current, max_inc, max_dec)
                    if c.recommended != c.current
                ],
            )
            for alt in solution.alternatives
        ],
        relaxed=RelaxedOut(
            factor=float(solution.relaxed.factor),
            revenue=round(float(solution.relaxed.revenue), 2),
            reachable=bool(solution.relaxed.reachable),
            levers=plan_levers(solution.relaxed.levers),
        ),
        total_cost=effort(plan.levers),
        confidence_score=round(float(check.confidence[0, -1]), 4),
        model_version=loaded.version.version,
        not_modelled_levers=not_modelled,
        tactic_cost=round(float(money_cost(plan.levers[None])[0]), 2),
        cost_currency=cost_currency(studio.currency),
        target_probability=target_probability,
        expected_revenue=round(float(expected), 2),
        reach_probability=round(float(reach), 4),
        warnings=range_warnings(
            plan_levers(plan.levers),
            ranges,
            beyond_peers_allowed=constraints.allow_beyond_peers,
            currency=studio.currency,
        ),
        base_month_notes=base_month_notes(
            model=loaded.model,
            version_id=loaded.version.pk,
            studio=studio,
            base_month=base,
        ),
    )
    if log:
        output = prediction_log_write(
            studio=studio,
            prediction_type=PredictionType.INVERSE,
            model_version_id=loaded.version.pk,
            base_month=base,
            months=target_months,
            inputs={
                "target_revenue": float(target_revenue),
                "target_kind": target_kind,
                "current_levers": overrides,
                "constraints": asdict(constraints),
                "target_probability": target_probability,
            },
            output=output,
            confidence=output.confidence_score,
            user=user,
        )
    return output


# --- lever impact analysis ------------------------------------------------------

ANALYSIS_TYPES = ("sensitivity", "elasticity", "correlation")
#: How many points a response curve may have.
CURVE_STEPS = (3, 41)
#: How far a curve may reach from today's value, as a fraction of it.
CURVE_PCT_LIMIT = 1.0


@dataclass(frozen=True)
class CurveSpec:
    """Which response curves to draw: each lever from ``from_pct`` to ``to_pct``
    of today's value (-0.2 is 20% below it), in ``steps`` evenly spaced points."""

    from_pct: float = -0.2
    to_pct: float = 0.2
    steps: int = 9


@dataclass(frozen=True)
class CurvePoint:
    pct: float
    lever_value: float
    revenue: float
    members: float
    clipped: bool = False


@dataclass(frozen=True)
class LeverCurve:
    """One lever's response: revenue and members in the horizon month with the
    lever at each point and every other lever at today's value; ``optimum`` is
    the revenue-maximising point (the first of equal ones)."""

    points: list[CurvePoint]
    optimum: CurvePoint
    optimum_at_edge: bool


@dataclass(frozen=True)
class LeverImpact:
    lever: str
    impact_score: float
    revenue_sensitivity: float
    elasticity: float | None
    correlation: float | None
    peer_correlation: float | None
    rank: int
    recommendation: str
    modelled: bool = True
    curve: LeverCurve | None = None


@dataclass(frozen=True)
class LeverImpactOutput:
    studio_id: str
    analysis_type: str
    base_month: dt.date
    horizon: int
    base_revenue: float
    lever_impacts: list[LeverImpact]
    correlation_matrix: dict[str, float | None]
    model_version: str
    not_modelled_levers: list[LeverNote] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["base_month"] = self.base_month.isoformat()
        return data


def _correlations(frame, columns) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    revenue = frame["total_revenue"]
    for lever, column in zip(LEVERS, columns, strict=True):
        series = frame[column]
        valid = series.notna() & revenue.notna()
        # No correlation with a figure that never moves (a lever held, or a
        # studio whose revenue is the same, or none, every month).
        if valid.sum() < 6 or series[valid].std() == 0 or revenue[valid].std() == 0:
            out[lever] = None
        else:
            out[lever] = round(
                float(np.corrcoef(series[valid], revenue[valid])[0, 1]), 4
            )
    return out


def _recommendation(
    lever: str, sensitivity: float, rank: int, n: int, currency: str
) -> str:
    label = LEVER_LABELS[lever]
    if sensitivity <= 0:
        return (
            f"Raising {label} does not add revenue here "
            f"({format_money(sensitivity, currency)} per 1%): "
            "hold it and look elsewhere."
        )
    tactics = tactics_for_change(lever, 1e-9)
    first = f"; start with {tactics[0].name.lower()}" if tactics else ""
    strength = (
        "highest leverage" if rank == 1 else ("strong" if rank <= n // 2 else "modest")
    )
    return (
        f"{label.capitalize()}: +{format_money(sensitivity, currency)} per 1% "
        f"increase ({strength}){first}."
    )


def _curve_validate(curve: CurveSpec) -> CurveSpec:
    """``curve`` if drawable, else InvalidInput naming the field."""
    low, high = CURVE_STEPS
    if isinstance(curve.steps, bool) or not isinstance(curve.steps, int):
        raise InvalidInput("steps must be a whole number", field="curve.steps")
    if not low <= curve.steps <= high:
        raise InvalidInput(
            f"steps must be between {low} and {high}, not {curve.steps}",
            field="curve.steps",
        )
    for name in ("from_pct", "to_pct"):
        value = getattr(curve, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidInput("must be a number", field=f"curve.{name}")
        if not -CURVE_PCT_LIMIT <= value <= CURVE_PCT_LIMIT:
            raise InvalidInput(
                f"must be between -{CURVE_PCT_LIMIT:g} and {CURVE_PCT_LIMIT:g} (a "
                f"fraction of today's value: -0.2 is 20% below it), not {value:g}",
                field=f"curve.{name}",
            )
    if curve.from_pct >= curve.to_pct:
        raise InvalidInput(
            f"the curve's lowest change ({curve.from_pct:g}) must be below its "
            f"highest ({curve.to_pct:g})",
            field="curve.from_pct",
        )
    return curve


def _curve_plans(
    base_levers: np.ndarray, modelled: np.ndarray, curve: CurveSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The plans of every modelled lever's curve, stacked for one model call.

    Returns ``(plans, lever_of_row, pct, clipped)``: one row per point, the
    lever moved to ``base * (1 + pct)`` within its valid range for the studio
    (:func:`forecasting.services.lever_bounds`).
    """
    pcts = np.linspace(curve.from_pct, curve.to_pct, curve.steps)
    valid = lever_bounds(base_levers)
    plans, lever_of_row, pct_of_row, clipped = [], [], [], []
    for i, lever in enumerate(LEVERS):
        if not modelled[i]:
            continue
        low, high = valid[lever]
        wanted = base_levers[i] * (1.0 + pcts)
        values = np.clip(wanted, low, high)
        rows = np.repeat(base_levers[None, :], len(pcts), axis=0)
        rows[:, i] = values
        plans.append(rows)
        lever_of_row.extend([i] * len(pcts))
        pct_of_row.extend(pcts)
        clipped.extend(values != wanted)
    if not plans:
        return np.empty((0, len(LEVERS))), np.array([]), np.array([]), np.array([])
    return (
        np.concatenate(plans),
        np.array(lever_of_row),
        np.array(pct_of_row),
        np.array(clipped),
    )


def _curves(
    plans: np.ndarray,
    lever_of_row: np.ndarray,
    pct: np.ndarray,
    clipped: np.ndarray,
    revenue: np.ndarray,
    members: np.ndarray,
) -> dict[int, LeverCurve]:
    """Each lever's curve from the rows of its points."""
    out = {}
    for i in np.unique(lever_of_row).astype(int):
        rows = np.flatnonzero(lever_of_row == i)
        points = [
            CurvePoint(
                pct=round(float(pct[r]), 6),
                lever_value=round(float(plans[r, i]), 6),
                revenue=round(float(revenue[r]), 2),
                members=round(float(members[r]), 1),
                clipped=bool(clipped[r]),
            )
            for r in rows
        ]
        best = int(np.argmax(revenue[rows]))
        out[i] = LeverCurve(
            points=points,
            optimum=points[best],
            optimum_at_edge=best in (0, len(points) - 1),
        )
    return out


def lever_curves(
    *,
    studio: Studio,
    curve: CurveSpec,
    base_month: str | dt.date | None = None,
    horizon: int = 3,
) -> tuple[dt.date, dict[str, LeverCurve]]:
    """Only the response curves of :func:`lever_impact_analysis`: the base month
    and each modelled lever's curve, from one call of the model and without the
    analysis's correlations over the studio's peers (a page that draws a curve
    needs nothing else). Raises InvalidInput as that function does.
    """
    _curve_validate(curve)
    base = (
        metric_latest_month(studio=studio)
        if base_month is None
        else parse_base_month(base_month)
    )
    loaded = active_model()
    state = studio_state(
        model=loaded.model, version_id=loaded.version.pk, studio=studio, base_month=base
    )
    not_modelled = {note.lever for note in levers_not_modelled(state)}
    modelled = np.array([lever not in not_modelled for lever in LEVERS])
    plans, lever_of_row, pct, clipped = _curve_plans(state.levers, modelled, curve)
    if not len(plans):
        return base, {}
    result = loaded.model.predict(state, plans, horizon)
    curves = _curves(
        plans,
        lever_of_row,
        pct,
        clipped,
        result.revenue[:, -1],
        result.members[:, -1],
    )
    return base, {LEVERS[i]: value for i, value in curves.items()}


def lever_impact_analysis(
    *,
    studio: Studio,
    analysis_type: str = "sensitivity",
    base_month: str | dt.date | None = None,
    horizon: int = 3,
    curve: CurveSpec | None = None,
) -> LeverImpactOutput:
    """Which levers move this studio's revenue most, ranked.

    * sensitivity: the forward model's change in month-``horizon`` revenue for a
      1% increase of each lever alone (levers at the base month's values);
    * elasticity: that change as a % of revenue per 1% lever change;
    * correlation: Pearson correlation of each lever with total revenue over the
      studio's own history, and over its peers (same studio type, all months).

    The ranking follows the chosen analysis: sensitivity and elasticity rank by
    the forward model's effect; correlation ranks by |correlation| in the studio's
    history. Every lever also carries the other figures. A lever not modelled for
    the studio is marked (``modelled`` false, its reason as the recommendation),
    has no sensitivity and ranks last.

    With ``curve``, every modelled lever also carries its response curve
    (:class:`LeverCurve`): revenue and members in month ``horizon`` with that
    lever from ``from_pct`` to ``to_pct`` of today's value, clipped to its valid
    range (such points are marked ``clipped``), and the revenue-maximising point.
    All curves come from the same single call of the model as the sensitivities.
    A lever not modelled gets no curve. Raises InvalidInput for an unknown
    analysis type or a curve out of range (steps 3-41, percentages within
    +-100%, ``from_pct`` below ``to_pct``).
    """
    if analysis_type not in ANALYSIS_TYPES:
        raise InvalidInput(
            f"analysis type must be one of {', '.join(ANALYSIS_TYPES)}",
            field="analysis_type",
        )
    if curve is not None:
        _curve_validate(curve)
    if base_month is None:
        base = metric_latest_month(studio=studio)
    else:
        base = parse_base_month(base_month)
    loaded = active_model()
    state = studio_state(
        model=loaded.model, version_id=loaded.version.pk, studio=studio, base_month=base
    )
    not_modelled = {note.lever: note.reason for note in levers_not_modelled(state)}
    modelled = np.array([lever not in not_modelled for lever in LEVERS])
    plans = np.repeat(state.levers[None, :], len(LEVERS) + 1, axis=0)
    # A rate at its ceiling (retention 1.0 where churn is never reported) cannot
    # rise by 1%: its sensitivity is then the change from 1% below, the same
    # quantity as a backward difference.
    valid = lever_bounds(state.levers)
    backward = np.array(
        [
            value * 1.01 > valid[lever][1]
            for lever, value in zip(LEVERS, state.levers, strict=True)
        ]
    )
    for i in range(len(LEVERS)):
        plans[i + 1, i] *= 1 / 1.01 if backward[i] else 1.01
    sensitivity_rows = len(plans)
    if curve is not None:
        curve_plans, lever_of_row, pct, clipped = _curve_plans(
            state.levers, modelled, curve
        )
        plans = np.concatenate([plans, curve_plans])
    result = loaded.model.predict(state, plans, horizon)
    revenue = result.revenue[:, -1]
    curves = (
        _curves(
            plans[sensitivity_rows:],
            lever_of_row,
            pct,
            clipped,
            revenue[sensitivity_rows:],
            result.members[sensitivity_rows:, -1],
        )
        if curve is not None
        else {}
    )
    revenue = revenue[:sensitivity_rows]
    base_revenue = float(revenue[0])
    sensitivity = np.where(
        backward, base_revenue - revenue[1:], revenue[1:] - base_revenue
    )
    elasticity = sensitivity / base_revenue / 0.01 if base_revenue else sensitivity * 0

    own = history_frame(studio_ids=[studio.pk], until=base)
    peer_ids = Studio.objects.filter(studio_type=studio.studio_type).values_list(
        "pk", flat=True
    )
    peers = history_frame(studio_ids=peer_ids, until=base)
    correlation = _correlations(own, LEVER_COLUMNS)
    peer_correlation = _correlations(peers, LEVER_COLUMNS)

    if analysis_type == "correlation":
        scores = np.array([abs(correlation[k] or 0.0) for k in LEVERS])
    else:
        scores = np.abs(sensitivity)
    # Levers the model cannot move rank after every lever it can.
    scores = np.where(modelled, scores, -1.0)
    top = scores.max() if scores.max() > 0 else 1.0
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(LEVERS), dtype=int)
    ranks[order] = np.arange(1, len(LEVERS) + 1)
    impacts = [
        LeverImpact(
            lever=lever,
            impact_score=round(float(max(scores[i], 0.0) / top), 4),
            revenue_sensitivity=round(float(sensitivity[i]), 2),
            elasticity=round(float(elasticity[i]), 4),
            correlation=correlation[lever],
            peer_correlation=peer_correlation[lever],
            rank=int(ranks[i]),
            recommendation=not_modelled.get(lever)
            or _recommendation(
                lever, float(sensitivity[i]), int(ranks[i]), 7, studio.currency
            ),
            modelled=bool(modelled[i]),
            curve=curves.get(i),
        )
        for i, lever in enumerate(LEVERS)
    ]
    impacts.sort(key=lambda item: item.rank)
    return LeverImpactOutput(
        studio_id=str(studio.pk),
        analysis_type=analysis_type,
        base_month=base,
        horizon=horizon,
        base_revenue=round(base_revenue, 2),
        lever_impacts=impacts,
        correlation_matrix=correlation,
        model_version=loaded.version.version,
        not_modelled_levers=[
            LeverNote(lever=lever, reason=reason)
            for lever, reason in not_modelled.items()
        ],
    )


__all__ = [
    "ANALYSIS_TYPES",
    "DEFAULT_MAX_DECREASE",
    "DEFAULT_MAX_INCREASE",
    "AlternativePlan",
    "BindingConstraintOut",
    "CurvePoint",
    "CurveSpec",
    "LeverCurve",
    "InverseConstraints",
    "InverseOutput",
    "LeverChange",
    "LeverImpact",
    "LeverImpactOutput",
    "default_max_changes",
    "inverse_predict",
    "lever_curves",
    "lever_impact_analysis",
]
