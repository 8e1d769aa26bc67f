"""optimizeLevers: the best lever mix without a target (auto-optimise, SPEC §16).

Inputs, types and the root field in one module; the resolver resolves the studio
through the tenancy selector and calls one serving function
(:func:`optimization.serving.levers_optimize_serve`).
"""

from datetime import date
from enum import Enum
from typing import Self

import strawberry
import strawberry_django
from strawberry.types import Info

from forecasting.graphql.predictions import report_cache_status
from forecasting.graphql.types import (
    LeverEnum,
    LeverNoteType,
    LeversType,
    RangeWarningType,
)
from forecasting.serving import input_fields, lever_paths
from optimization.graphql.inputs import CurrentStateInput, InverseConstraintsInput
from optimization.graphql.types import (
    BindingConstraintType,
    ConstraintKindEnum,
    LeverChangeType,
    PlannedActionType,
    TargetKindEnum,
)
from optimization.optimize import OptimizeOutput
from optimization.serving import levers_optimize_serve
from optimization.tactics import Cost
from studios.graphql.inputs import studio_from_input
from studiosim.graphql_errors import BadUserInput
from studiosim.graphql_scalars import Money

__all__ = ["LeverOptimizationType", "OptimizeLeversInput", "Query"]

#: Where the service's refusals point in OptimizeLeversInput.
OPTIMIZE_INPUT_PATHS = {
    **lever_paths("current_state"),
    "max_increase": "constraints",
    "max_decrease": "constraints.max_decreases",
    "lower_bounds": "constraints.lower_bounds",
    "lower": "constraints.lower_bounds",
    "upper_bounds": "constraints.upper_bounds",
    "locked_levers": "constraints.locked_levers",
    "current": "current_state",
}


@strawberry.enum(name="CostBasis")
class CostBasisEnum(Enum):
    NONE = strawberry.enum_value(
        "none", description="No money costs: maximise revenue itself."
    )
    TACTICS = strawberry.enum_value(
        "tactics",
        description="Each lever increase costs the monthly cost estimates of the "
        "catalogue tactics the action plan sizes to it (low $250, medium $1,000, "
        "high $3,000 a month), and goes no further than all of that lever's "
        "tactics together typically achieve.",
    )


@strawberry.input(
    name="LeverCostInput",
    description="Your own monthly cost of raising a lever, per unit of increase in "
    "the lever's unit: per +1.00 of a rate (so $300 per percentage point is "
    "30000), per +$1 of ticket, per extra new member or class a month.",
)
class LeverCostInput:
    lever: LeverEnum
    monthly_cost_per_unit: Money


@strawberry.input(name="OptimizeLeversInput")
class OptimizeLeversInput:
    studio_id: strawberry.ID
    base_month: str | None = strawberry.field(
        default=None,
        description='The month of data the plan starts from, "YYYY-MM"; by default '
        "the studio's latest month.",
    )
    months: int = strawberry.field(
        default=3, description="The horizon in months after the base month, 1-12."
    )
    target_kind: TargetKindEnum = strawberry.field(
        default=TargetKindEnum.MONTH,
        description="Maximise month `months`' revenue, or the total over the horizon.",
    )
    current_state: CurrentStateInput | None = None
    constraints: InverseConstraintsInput | None = strawberry.field(
        default=None,
        description="The same hard limits as inversePrediction "
        "(prioritizeLowCostLevers has no effect here).",
    )
    cost_basis: CostBasisEnum = strawberry.field(
        default=CostBasisEnum.NONE,
        description="With TACTICS the objective is revenue minus the money cost of "
        "the tactics over the same period (one month, or the horizon for TOTAL); "
        "refused for a studio in a currency CURRENCY_RATES does not list (the "
        "catalogue's costs are written in US dollars).",
    )
    lever_costs: list[LeverCostInput] = strawberry.field(
        default_factory=list,
        description="Your own costs per lever, added to the cost basis; any "
        "non-zero cost makes the objective revenue minus cost.",
    )

    def lever_cost_map(self) -> dict[str, float]:
        costs: dict[str, float] = {}
        for entry in self.lever_costs:
            if entry.lever.value in costs:
                raise BadUserInput(
                    field="leverCosts", reason=f"{entry.lever.value} is listed twice"
                )
            costs[entry.lever.value] = entry.monthly_cost_per_unit
        return costs


@strawberry.type(
    name="UnboundedGain",
    description="A lever the plan takes to its limit because, in the forward "
    "model, revenue only rises with it: the limit, not the model, decides it.",
)
class UnboundedGainType:
    lever: LeverEnum
    value: float = strawberry.field(description="The plan's value: the limit.")
    limit_kind: ConstraintKindEnum
    probed_to: float = strawberry.field(
        description="How far past the limit revenue was checked (and still rose)."
    )
    description: str


@strawberry.type(name="PlanWarning")
class PlanWarningType:
    code: str = strawberry.field(
        description="unbounded_gain | tactic_catalogue_limit | no_improvement"
    )
    lever: LeverEnum | None
    message: str


@strawberry.type(
    name="OptimizedAlternative",
    description="The best plan that keeps heldLever at today's value.",
)
class OptimizedAlternativeType:
    held_lever: LeverEnum
    lead_lever: LeverEnum | None
    levers: LeversType
    revenue: Money
    money_cost: Money
    net_revenue: Money
    cost: float = strawberry.field(
        description="In the optimizer's relative units, as totalCost."
    )
    lever_changes: list[LeverChangeType] = strawberry.field(
        description="The levers this plan changes."
    )


@strawberry.type(
    name="RelaxedOptimum",
    description="The best plan with every maximum change multiplied by factor.",
)
class RelaxedOptimumType:
    factor: float
    revenue: Money
    net_revenue: Money
    levers: LeversType


@strawberry.type(name="LeverMoneyCost")
class LeverMoneyCostType:
    lever: LeverEnum
    money_cost: Money


@strawberry.type(name="LeverOptimization")
class LeverOptimizationType:
    optimization_id: strawberry.ID = strawberry.field(
        description="The prediction log entry recording this answer (an inverse "
        "prediction; saveScenario takes it)."
    )
    studio_id: strawberry.ID
    base_month: date
    months: int
    target_kind: TargetKindEnum
    objective: str = strawberry.field(
        description="revenue, or net_revenue (revenue minus money cost) when costs "
        "were given."
    )
    cost_basis: CostBasisEnum
    current_revenue: Money = strawberry.field(
        description="The figure maximised, under today's plan."
    )
    projected_revenue: Money = strawberry.field(
        description="The figure under the recommended plan."
    )
    revenue_gain: Money
    money_cost: Money = strawberry.field(
        description="The recommended plan's money cost over the same period (0 "
        "without costs)."
    )
    net_revenue: Money = strawberry.field(description="projectedRevenue - moneyCost.")
    net_gain: Money = strawberry.field(description="netRevenue - currentRevenue.")
    message: str
    binding_constraints: list[BindingConstraintType]
    unbounded_gains: list[UnboundedGainType]
    warnings: list[PlanWarningType]
    recommended_levers: LeversType
    lever_changes: list[LeverChangeType] = strawberry.field(
        description="Every lever, changed or not."
    )
    money_cost_by_lever: list[LeverMoneyCostType]
    monthly_revenue: list[Money] = strawberry.field(
        description="Revenue of months 1..months under the recommended plan, "
        "re-checked with the full forward model."
    )
    action_plan: list[PlannedActionType]
    alternatives: list[OptimizedAlternativeType] = strawberry.field(
        description="For the levers the plan leans on most, the best plan without "
        "each of them."
    )
    relaxed: RelaxedOptimumType
    total_cost: float = strawberry.field(
        description="The recommended plan's change in the optimizer's relative "
        "units, as inversePrediction's totalCost."
    )
    confidence_score: float
    not_modelled_levers: list[LeverNoteType] = strawberry.field(
        description="Levers the model cannot move for this studio (no data on "
        "them): locked, each with the reason."
    )
    range_warnings: list[RangeWarningType] = strawberry.field(
        description="Each recommended lever value outside the studio's own "
        "history (scope HISTORY) and each outside its peers' range (scope PEERS)."
    )
    model_version: str

    @classmethod
    def from_output(cls, output: OptimizeOutput) -> Self:
        return cls(
            optimization_id=strawberry.ID(output.prediction_id),
            studio_id=strawberry.ID(output.studio_id),
            base_month=output.base_month,
            months=output.target_months,
            target_kind=TargetKindEnum(output.target_kind),
            objective=output.objective,
            cost_basis=CostBasisEnum(output.cost_basis),
            current_revenue=output.current_revenue,
            projected_revenue=output.projected_revenue,
            revenue_gain=output.revenue_gain,
            money_cost=output.money_cost,
            net_revenue=output.net_revenue,
            net_gain=output.net_gain,
            message=output.message,
            binding_constraints=[
                BindingConstraintType(
                    lever=LeverEnum(b.lever),
                    kind=ConstraintKindEnum(b.kind),
                    description=b.description,
                )
                for b in output.binding_constraints
            ],
            unbounded_gains=[
                UnboundedGainType(
                    lever=LeverEnum(g.lever),
                    value=g.value,
                    limit_kind=ConstraintKindEnum(g.limit_kind),
                    probed_to=g.probed_to,
                    description=g.description,
                )
                for g in output.unbounded_gains
            ],
            warnings=[
                PlanWarningType(
                    code=w.code,
                    lever=LeverEnum(w.lever) if w.lever else None,
                    message=w.message,
                )
                for w in output.warnings
            ],
            recommended_levers=LeversType.from_levers(output.recommended_levers),
            lever_changes=[
                LeverChangeType.from_change(c) for c in output.lever_changes
            ],
            money_cost_by_lever=[
                LeverMoneyCostType(lever=LeverEnum(lever), money_cost=cost)
                for lever, cost in output.money_cost_by_lever.items()
            ],
            monthly_revenue=output.monthly_revenue,
            action_plan=[
                PlannedActionType(
                    priority=a.priority,
                    lever=LeverEnum(a.lever),
                    action=a.action,
                    specifics=a.specifics,
                    expected_impact=a.expected_impact,
                    timeline_weeks=a.timeline_weeks,
                    cost=Cost(a.cost),
                    cost_estimate=a.cost_estimate,
                )
                for a in output.action_plan
            ],
            alternatives=[
                OptimizedAlternativeType(
                    held_lever=LeverEnum(alt.held_lever),
                    lead_lever=LeverEnum(alt.lead_lever) if alt.lead_lever else None,
                    levers=LeversType.from_levers(alt.levers),
                    revenue=alt.revenue,
                    money_cost=alt.money_cost,
                    net_revenue=alt.net_revenue,
                    cost=alt.cost,
                    lever_changes=[
                        LeverChangeType.from_change(c) for c in alt.lever_changes
                    ],
                )
                for alt in output.alternatives
            ],
            relaxed=RelaxedOptimumType(
                factor=output.relaxed.factor,
                revenue=output.relaxed.revenue,
                net_revenue=output.relaxed.net_revenue,
                levers=LeversType.from_levers(output.relaxed.levers),
            ),
            total_cost=output.total_cost,
            confidence_score=output.confidence_score,
            not_modelled_levers=[
                LeverNoteType.from_note(note) for note in output.not_modelled_levers
            ],
            range_warnings=[
                RangeWarningType.from_warning(w) for w in output.range_warnings
            ],
            model_version=output.model_version,
        )


@strawberry.type
class Query:
    @strawberry_django.field(
        description="Auto-optimise: the lever plan that maximises revenue (or "
        "revenue minus the money cost of the tactics, when costs are given) within "
        "the constraints, without a target; with the action plan, alternatives, "
        "binding limits and warnings of a target plan, and the levers it pushes to "
        "their limit because revenue only rises with them. Logged (optimizationId) "
        "and cached until the model or the studio's data changes."
    )
    def optimize_levers(
        self, info: Info, input: OptimizeLeversInput
    ) -> LeverOptimizationType:
        studio = studio_from_input(info, input.studio_id, field="studioId")
        current = input.current_state or CurrentStateInput()
        with input_fields(OPTIMIZE_INPUT_PATHS):
            served = levers_optimize_serve(
                studio=studio,
                user=info.context.request.user,
                base_month=input.base_month,
                months=input.months,
                target_kind=input.target_kind.value,
                current_levers=current.as_dict(),
                constraints=(
                    input.constraints or InverseConstraintsInput()
                ).to_constraints(),
                cost_basis=input.cost_basis.value,
                lever_costs=input.lever_cost_map(),
            )
        report_cache_status(info, served)
        return LeverOptimizationType.from_output(served.output)
