"""Auto-optimise (SPEC §16): the best lever mix for a studio, without a target.

``levers_optimize`` turns a studio, a base month and the active forward model into
the solver's question (:func:`optimization.solver.optimize`) and its answer into the
product's: the plan, each lever's change and revenue impact, the action plan, the
alternatives, the binding limits and warnings, shaped like an inverse prediction's so
the same screens, scenarios and accuracy tracking take it.

The objective is the revenue of month ``months`` (or the total over the months), or
that revenue minus the money the plan costs, when costs are given:

* ``cost_basis="tactics"``: each lever increase costs the monthly cost estimates of
  the catalogue tactics sized to it (``optimization.tactics``, the action plan's own
  rule), and may go no further than all of that lever's tactics together typically
  achieve (beyond that the catalogue knows no cost);
* ``lever_costs``: the caller's own monthly cost per unit of increase of a lever, in
  the lever's unit (per +1.00 of a rate, per +$1 of ticket, per extra new member or
  class a month), added to the above.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from forecasting.ml.frame import LEVER_LABELS, LEVERS
from forecasting.models import PredictionType
from forecasting.ranges import RangeWarning, lever_ranges, range_warnings
from forecasting.registry import active_model
from forecasting.services import (
    LeverNote,
    base_lever_values,
    lever_bounds,
    levers_not_modelled,
    parse_base_month,
    prediction_log_write,
    studio_state,
    validate_levers,
)
from optimization.actions import (
    Action,
    LeverChangeImpact,
    action_plan_build,
    format_lever_value,
)
from optimization.costs import tactic_cost_function, tactic_coverage
from optimization.services import (
    _KIND_TEXT,
    TARGET_KINDS,
    BindingConstraintOut,
    InverseConstraints,
    LeverChange,
    _lever_changes,
    binding_text,
    default_max_changes,
    inverse_limits,
    peer_bounds,
)
from optimization.solver import DEFAULT_COST_WEIGHTS, SolverInputError, optimize
from optimization.tactics import cost_currency
from studios.models import Studio
from studiosim.display import format_money
from studiosim.errors import InvalidInput

__all__ = [
    "COST_BASES",
    "OptimizeOutput",
    "OptimizedAlternativeOut",
    "PlanWarning",
    "RelaxedOptimumOut",
    "UnboundedGainOut",
    "levers_optimize",
    "optimize_log_inputs",
    "tactic_cost_function",
]

COST_BASES = ("none", "tactics")
#: Largest monthly cost per unit a caller may give: far above any real tactic,
#: small enough that cost times any valid change stays a finite number.
MAX_UNIT_COST = 1e9


@dataclass(frozen=True)
class UnboundedGainOut:
    lever: str
    value: float
    limit_kind: str
    probed_to: float
    description: str


@dataclass(frozen=True)
class PlanWarning:
    code: str
    lever: str | None
    message: str


@dataclass(frozen=True)
class OptimizedAlternativeOut:
    held_lever: str
    lead_lever: str
    levers: dict[str, float]
    revenue: float
    money_cost: float
    net_revenue: float
    cost: float
    lever_changes: list[LeverChange]


@dataclass(frozen=True)
class RelaxedOptimumOut:
    factor: float
    revenue: float
    net_revenue: float
    levers: dict[str, float]


@dataclass(frozen=True)
class OptimizeOutput:
    studio_id: str
    base_month: dt.date
    target_months: int
    target_kind: str
    objective: str
    cost_basis: str
    lever_costs: dict[str, float]
    current_revenue: float
    projected_revenue: float
    revenue_gain: float
    money_cost: float
    net_revenue: float
    net_gain: float
    message: str
    binding_constraints: list[BindingConstraintOut]
    unbounded_gains: list[UnboundedGainOut]
    warnings: list[PlanWarning]
    recommended_levers: dict[str, float]
    lever_changes: list[LeverChange]
    money_cost_by_lever: dict[str, float]
    monthly_revenue: list[float]
    action_plan: list[Action]
    alternatives: list[OptimizedAlternativeOut]
    relaxed: RelaxedOptimumOut
    total_cost: float
    confidence_score: float
    model_version: str
    not_modelled_levers: list[LeverNote] = field(default_factory=list)
    #: Recommended lever values outside the studio's history or its peers' range.
    range_warnings: list[RangeWarning] = field(default_factory=list)
    # No target: kept so a saved optimisation reads like an inverse scenario.
    target_revenue: float | None = None
    prediction_id: str | None = None

    def as_dict(self) -> dict:
        data = asdict(self)
        data["base_month"] = self.base_month.isoformat()
        return data


# --- money costs ------------------------------------------------------------------


# --- the service --------------------------------------------------------------------


def _validated_lever_costs(lever_costs: Mapping[str, float] | None) -> dict[str, float]:
    clean: dict[str, float] = {}
    for lever, value in (lever_costs or {}).items():
        if lever not in LEVERS:
            raise InvalidInput(
                f"unknown lever {lever!r}; levers are {', '.join(LEVERS)}",
                field="lever_costs",
            )
        if (
            value is None
            or isinstance(value, bool)
            or not isinstance(value, int | float)
            or not np.isfinite(value)
            or not 0 <= value <= MAX_UNIT_COST
        ):
            raise InvalidInput(
                f"the cost of {lever} must be a number from 0 to {MAX_UNIT_COST:,.0f}",
                field="lever_costs",
            )
        clean[lever] = float(value)
    return clean


def _unbounded_description(
    lever: str, value: float, kind: str, probed: float, currency: str
) -> str:
    label = LEVER_LABELS[lever]
    text = (
        f"{label.capitalize()} is {_KIND_TEXT.get(kind, kind)} "
        f"({format_lever_value(lever, value, currency)}): in the model revenue "
        f"keeps rising with it at least up to "
        f"{format_lever_value(lever, probed, currency)}, so your limit, "
        "not the model, sets how far it goes."
    )
    if lever == "avg_ticket_price":
        text += (
            " The members a dearer ticket loses come from your studios' own past "
            "price changes, or from a cautious published estimate where those are "
            "too few to read; test a large rise on one studio before relying on it."
        )
    return text


def _message(
    *,
    kind: str,
    months: int,
    current: float,
    revenue: float,
    money_cost: float,
    costed: bool,
    moved: bool,
    unbounded: list[str],
    currency: str,
) -> str:
    def money(value: float) -> str:
        return format_money(value, currency)

    what = (
        f"month-{months} revenue"
        if kind == "month"
        else f"revenue over {months} months"
    )
    if not moved:
        return (
            f"No lever change within your constraints raises {what}"
            + (" by more than it costs" if costed else "")
            + f": today's plan ({money(current)}) is the best found."
        )
    change = revenue / current - 1 if current else 0.0
    text = (
        f"The best plan within your constraints brings {what} from {money(current)} "
        f"to {money(revenue)} ({change:+.1%})"
    )
    if costed:
        text += (
            f" for {money(money_cost)} of tactics, a net gain of "
            f"{money(revenue - money_cost - current)}"
        )
    text += "."
    if unbounded:
        text += (
            f" {', '.join(unbounded).capitalize()} "
            + ("is" if len(unbounded) == 1 else "are")
            + " at the limit because revenue only rises with "
            + ("it" if len(unbounded) == 1 else "them")
            + " in the model."
        )
    return text


def levers_optimize(
    *,
    studio: Studio,
    base_month: str | dt.date,
    months: int = 3,
    target_kind: str = "month",
    current_levers: Mapping[str, float] | None = None,
    constraints: InverseConstraints | None = None,
    cost_basis: str = "none",
    lever_costs: Mapping[str, float] | None = None,
    user=None,
    log: bool = True,
) -> OptimizeOutput:
    """The lever plan that maximises revenue (net of money costs, when given).

    Same inputs as :func:`optimization.services.inverse_predict` without the target:
    the figure maximised is month ``months``' revenue (``target_kind`` "month") or
    the total over months 1..``months`` ("total"); constraints are hard. With
    ``cost_basis="tactics"`` or ``lever_costs`` (see the module docstring) the
    objective is revenue minus the plan's money cost over the same period. Levers
    the plan pushes to a limit because revenue only rises with them are reported
    (``unbounded_gains`` and a warning each). Raises InvalidInput naming the field;
    NoActiveModel without an active model.
    """
    constraints = requested = constraints or InverseConstraints()
    if not isinstance(months, int) or not 1 <= months <= 12:
        raise InvalidInput(
            f"months must be between 1 and 12, not {months}", field="months"
        )
    if target_kind not in TARGET_KINDS:
        raise InvalidInput(
            f"target kind must be one of {', '.join(TARGET_KINDS)}", field="target_kind"
        )
    if cost_basis not in COST_BASES:
        raise InvalidInput(
            f"cost basis must be one of {', '.join(COST_BASES)}", field="cost_basis"
        )
    unit_costs = _validated_lever_costs(lever_costs)
    if cost_basis == "tactics" and cost_currency(studio.currency) != studio.currency:
        # Dollars subtracted from revenue in another currency would be a wrong
        # objective, not an approximate one.
        raise InvalidInput(
            "The tactics' costs are written in US dollars and no rate converts them "
            f"to {studio.currency}: ask the operator to set CURRENCY_RATES "
            f"({studio.currency}=<units of {studio.currency} a dollar buys>), or give "
            "your own costs per lever (leverCosts) instead.",
            field="cost_basis",
        )
    base = parse_base_month(base_month)
    validate_levers(current_levers)
    loaded = active_model()
    state = studio_state(
        model=loaded.model, version_id=loaded.version.pk, studio=studio, base_month=base
    )
    overrides = validate_levers(current_levers, lever_bounds(base_lever_values(state)))
    current = np.array(
        [overrides.get(k, float(v)) for k, v in zip(LEVERS, state.levers, strict=True)]
    )
    # A lever the model cannot move for this studio stays where it is.
    not_modelled = levers_not_modelled(state)
    constraints = replace(
        constraints,
        locked_levers=(
            *constraints.locked_levers,
            *(
                n.lever
                for n in not_modelled
                if n.lever not in constraints.locked_levers
            ),
        ),
    )
    tactics = cost_basis == "tactics"
    capped: list[str] = []
    if tactics:
        # The catalogue prices increases up to what all of a lever's tactics
        # together achieve; beyond that no cost is known, so no plan goes there.
        max_increase = dict(constraints.max_increase)
        default_increase, _ = default_max_changes(current)
        for lever in LEVERS:
            allowed = max_increase.get(lever, default_increase[lever])
            coverage = tactic_coverage(lever, float(current[LEVERS.index(lever)]))
            if allowed > coverage:
                max_increase[lever] = coverage
                capped.append(lever)
        constraints = replace(constraints, max_increase=max_increase)
    ranges = lever_ranges(studio=studio, base_month=base)
    limits, max_inc, max_dec = inverse_limits(current, constraints, ranges)
    peer_edges = {} if constraints.allow_beyond_peers else peer_bounds(current, ranges)
    costed = tactics or any(unit_costs.values())
    money_cost = (
        tactic_cost_function(
            current, tactics=tactics, lever_costs=unit_costs, currency=studio.currency
        )
        if costed
        else None
    )
    model = loaded.model

    def predict_revenue(levers: np.ndarray) -> np.ndarray:
        return model.predict(state, levers, months).revenue

    try:
        optimum = optimize(
            predict_revenue,
            current=current,
            horizon=months,
            target_kind=target_kind,
            limits=limits,
            money_cost=money_cost,
            cost_weights=DEFAULT_COST_WEIGHTS,
        )
    except SolverInputError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    plan = optimum.recommended
    changes = _lever_changes(plan, current, max_inc, max_dec)
    actions = action_plan_build(
        (
            LeverChangeImpact(c.lever, c.current, c.recommended, c.impact_on_revenue)
            for c in changes
            if c.recommended > c.current
        ),
        studio.currency,
    )
    check = model.predict(state, plan.levers, months)
    unbounded = [
        UnboundedGainOut(
            lever=gain.lever_name,
            value=gain.value,
            limit_kind=gain.kind,
            probed_to=gain.probed_to,
            description=_unbounded_description(
                gain.lever_name,
                gain.value,
                gain.kind,
                gain.probed_to,
                studio.currency,
            ),
        )
        for gain in optimum.unbounded_gains
    ]
    warnings = [
        PlanWarning(code="unbounded_gain", lever=g.lever, message=g.description)
        for g in unbounded
    ]
    for lever in capped:
        i = LEVERS.index(lever)
        if plan.levers[i] >= current[i] + max_inc[i] - 1e-9:
            warnings.append(
                PlanWarning(
                    code="tactic_catalogue_limit",
                    lever=lever,
                    message=f"{LEVER_LABELS[lever].capitalize()} rises only as far as "
                    "all its catalogue tactics together typically move it "
                    f"(+{format_lever_value(lever, max_inc[i], studio.currency)}): "
                    "the catalogue "
                    "has no cost for more.",
                )
            )
    moved = bool(plan.changed_levers)
    if not moved:
        warnings.append(
            PlanWarning(
                code="no_improvement",
                lever=None,
                message="No change within the constraints improves the objective; "
                "loosen the limits to see what would.",
            )
        )
    output = OptimizeOutput(
        studio_id=str(studio.pk),
        base_month=base,
        target_months=months,
        target_kind=target_kind,
        objective="net_revenue" if costed else "revenue",
        cost_basis=cost_basis,
        lever_costs=unit_costs,
        current_revenue=round(optimum.current_revenue, 2),
        projected_revenue=round(plan.revenue, 2),
        revenue_gain=round(plan.revenue - optimum.current_revenue, 2),
        money_cost=round(optimum.money_cost, 2),
        net_revenue=round(optimum.net_revenue, 2),
        net_gain=round(optimum.net_revenue - optimum.current_revenue, 2),
        message=_message(
            kind=target_kind,
            months=months,
            current=optimum.current_revenue,
            revenue=plan.revenue,
            money_cost=optimum.money_cost,
            costed=costed,
            moved=moved,
            unbounded=[LEVER_LABELS[g.lever] for g in unbounded],
            currency=studio.currency,
        ),
        binding_constraints=[
            BindingConstraintOut(
                lever=b.lever_name,
                kind=b.kind,
                description=binding_text(
                    b.lever_name, b.kind, limits, peer_edges, studio.currency
                ),
            )
            for b in optimum.binding_constraints
        ],
        unbounded_gains=unbounded,
        warnings=warnings,
        recommended_levers=dict(zip(LEVERS, map(float, plan.levers), strict=True)),
        lever_changes=changes,
        money_cost_by_lever={
            lever: round(float(optimum.money_cost_by_lever[i]), 2)
            for i, lever in enumerate(LEVERS)
        },
        monthly_revenue=[round(float(r), 2) for r in check.revenue[0]],
        action_plan=actions,
        alternatives=[
            OptimizedAlternativeOut(
                held_lever=LEVERS[alt.held_lever],
                lead_lever=LEVERS[alt.plan.lead_lever]
                if alt.plan.lead_lever is not None
                else "",
                levers=dict(zip(LEVERS, map(float, alt.plan.levers), strict=True)),
                revenue=round(alt.plan.revenue, 2),
                money_cost=round(alt.money_cost, 2),
                net_revenue=round(alt.net_revenue, 2),
                cost=round(alt.plan.cost, 4),
                lever_changes=[
                    c
                    for c in _lever_changes(alt.plan, current, max_inc, max_dec)
                    if c.recommended != c.current
                ],
            )
            for alt in optimum.alternatives
        ],
        relaxed=RelaxedOptimumOut(
            factor=optimum.relaxed.factor,
            revenue=round(optimum.relaxed.revenue, 2),
            net_revenue=round(optimum.relaxed.net_revenue, 2),
            levers=dict(zip(LEVERS, map(float, optimum.relaxed.levers), strict=True)),
        ),
        total_cost=round(plan.cost, 4),
        confidence_score=round(float(check.confidence[0, -1]), 4),
        model_version=loaded.version.version,
        not_modelled_levers=not_modelled,
        range_warnings=range_warnings(
            dict(zip(LEVERS, map(float, plan.levers), strict=True)),
            ranges,
            beyond_peers_allowed=constraints.allow_beyond_peers,
            currency=studio.currency,
        ),
    )
    if log:
        output = prediction_log_write(
            studio=studio,
            prediction_type=PredictionType.INVERSE,
            model_version_id=loaded.version.pk,
            base_month=base,
            months=months,
            inputs=optimize_log_inputs(
                target_kind=target_kind,
                current_levers=overrides,
                constraints=requested,
                cost_basis=cost_basis,
                lever_costs=unit_costs,
            ),
            output=output,
            confidence=output.confidence_score,
            user=user,
        )
    return output


def optimize_log_inputs(
    *,
    target_kind: str,
    current_levers: Mapping[str, float],
    constraints: InverseConstraints,
    cost_basis: str,
    lever_costs: Mapping[str, float],
) -> dict:
    """What a prediction log records as an optimisation's inputs.

    Logged as an inverse prediction (a plan of levers whose monthly revenue is
    tracked against actuals and can be saved as an inverse scenario), marked by
    ``objective``.
    """
    return {
        "objective": "maximize",
        "target_kind": target_kind,
        "current_levers": dict(current_levers),
        "constraints": asdict(constraints),
        "cost_basis": cost_basis,
        "lever_costs": dict(lever_costs),
    }
