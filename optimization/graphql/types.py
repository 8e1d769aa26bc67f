"""GraphQL types of inverse prediction and lever impact analysis."""

from datetime import date
from enum import Enum, StrEnum
from typing import Self

import strawberry

from forecasting.graphql.types import (
    LeverEnum,
    LeverNoteType,
    LeversType,
    RangeWarningType,
)
from optimization.services import (
    CurvePoint,
    InverseOutput,
    LeverChange,
    LeverCurve,
    LeverImpactOutput,
)
from optimization.tactics import Cost
from studiosim.graphql_scalars import Money

__all__ = [
    "AnalysisTypeEnum",
    "CostEnum",
    "InversePredictionType",
    "LeverImpactAnalysisType",
    "TargetKindEnum",
]

CostEnum = strawberry.enum(
    Cost, name="Cost", description="What a change costs to bring about."
)


@strawberry.enum(name="TargetKind")
class TargetKindEnum(Enum):
    MONTH = strawberry.enum_value(
        "month", description="The revenue of the last month of the horizon."
    )
    TOTAL = strawberry.enum_value(
        "total", description="The revenue summed over the months of the horizon."
    )


@strawberry.enum(name="AnalysisType")
class AnalysisTypeEnum(Enum):
    SENSITIVITY = strawberry.enum_value(
        "sensitivity",
        description="The forward model's revenue change for a 1% change of each "
        "lever alone; ranked by it.",
    )
    ELASTICITY = strawberry.enum_value(
        "elasticity",
        description="That change as a % of revenue per 1% lever change; ranked "
        "like sensitivity.",
    )
    CORRELATION = strawberry.enum_value(
        "correlation",
        description="Correlation of each lever with revenue over the studio's own "
        "history; ranked by its absolute value.",
    )


@strawberry.enum(name="ConstraintKind")
class ConstraintKindEnum(StrEnum):
    MAX_INCREASE = "max_increase"
    MAX_DECREASE = "max_decrease"
    UPPER_BOUND = "upper_bound"
    LOWER_BOUND = "lower_bound"
    LOCKED = "locked"


# --- inversePrediction ------------------------------------------------------------


@strawberry.type(
    name="BindingConstraint",
    description="A constraint that stops the plan from going further.",
)
class BindingConstraintType:
    lever: LeverEnum
    kind: ConstraintKindEnum
    description: str


@strawberry.type(name="LeverChange")
class LeverChangeType:
    lever: LeverEnum
    current: float = strawberry.field(
        description="Today's value, in the lever's unit (rates as fractions, the "
        "ticket in the studio's currency, counts per month)."
    )
    recommended: float = strawberry.field(description="In the lever's unit.")
    change_pct: float | None = strawberry.field(
        description="(recommended - current) / current, as a fraction; null when "
        "the current value is 0."
    )
    impact_on_revenue: Money = strawberry.field(
        description="This lever's share of the revenue change at the target "
        "(Shapley attribution: the shares add up to the whole change)."
    )
    feasibility_score: float = strawberry.field(
        description="1 - |change| / the largest change allowed that way: 1 for no "
        "change, 0 at the limit."
    )
    estimated_cost: CostEnum

    @classmethod
    def from_change(cls, change: LeverChange) -> Self:
        return cls(
            lever=LeverEnum(change.lever),
            current=change.current,
            recommended=change.recommended,
            change_pct=change.change_pct,
            impact_on_revenue=change.impact_on_revenue,
            feasibility_score=change.feasibility_score,
            estimated_cost=Cost(change.estimated_cost),
        )


@strawberry.type(
    name="PlannedAction",
    description="A tactic of the action plan, sized to a recommended change.",
)
class PlannedActionType:
    priority: int = strawberry.field(
        description="1 first: ranked by revenue impact per unit of cost, then by "
        "how soon it works."
    )
    lever: LeverEnum
    action: str
    specifics: str
    expected_impact: Money = strawberry.field(
        description="Its share of the lever's revenue impact at the target."
    )
    timeline_weeks: int
    cost: CostEnum
    cost_estimate: Money = strawberry.field(
        description="Typical monthly cost of that cost level (a planning assumption)."
    )


@strawberry.type(name="AlternativePlan")
class AlternativePlanType:
    lead_lever: LeverEnum | None = strawberry.field(
        description="The lever the plan leans on most."
    )
    levers: LeversType
    revenue: Money
    cost: float = strawberry.field(
        description="In the optimizer's relative units, as totalCost."
    )
    lever_changes: list[LeverChangeType] = strawberry.field(
        description="The levers this plan changes."
    )


@strawberry.type(
    name="RelaxedPlan",
    description="What the best plan would reach with every maximum change "
    "multiplied by factor.",
)
class RelaxedPlanType:
    factor: float
    revenue: Money
    reachable: bool
    levers: LeversType


@strawberry.type(name="InversePrediction")
class InversePredictionType:
    optimization_id: strawberry.ID = strawberry.field(
        description="The prediction log entry recording this answer."
    )
    studio_id: strawberry.ID
    base_month: date
    target_revenue: Money
    target_months: int
    target_kind: TargetKindEnum
    current_revenue: Money = strawberry.field(
        description="The target figure under today's plan."
    )
    achievable_revenue: Money = strawberry.field(
        description="The highest target figure any plan within the constraints reaches."
    )
    projected_revenue: Money = strawberry.field(
        description="The target figure under the recommended plan."
    )
    achievement_rate: float = strawberry.field(
        description="projectedRevenue / targetRevenue."
    )
    reachable: bool
    message: str = strawberry.field(
        description="In plain words: reachable or not, the best achievable, and "
        "what binds."
    )
    binding_constraints: list[BindingConstraintType]
    recommended_levers: LeversType
    lever_changes: list[LeverChangeType] = strawberry.field(
        description="Every lever the studio has data on, changed or not."
    )
    not_modelled_levers: list[LeverNoteType] = strawberry.field(
        description="Levers the model cannot move for this studio (no data on "
        "them): locked, whatever the constraints say, each with the reason."
    )
    monthly_revenue: list[Money] = strawberry.field(
        description="Revenue of months 1..targetMonths under the recommended plan, "
        "re-checked with the full forward model."
    )
    action_plan: list[PlannedActionType]
    alternatives: list[AlternativePlanType] = strawberry.field(
        description="Other plans that reach the target, each led by another lever."
    )
    relaxed: RelaxedPlanType
    total_cost: float = strawberry.field(
        description="The recommended plan's cost in the optimizer's relative units: "
        "each lever's relative change weighted (retention 3.0, new members 2.5, "
        "attendance, staff utilisation and classes 2.0, upsell 1.5, ticket 1.0)."
    )
    target_probability: float | None = strawberry.field(
        description="The probability the plan was asked to reach the target with; "
        "null: in expectation."
    )
    expected_revenue: Money = strawberry.field(
        description="The target figure under the recommended plan, point forecast "
        "(equal to projectedRevenue without targetProbability)."
    )
    reach_probability: float = strawberry.field(
        description="Calibrated probability that the recommended plan reaches the "
        "target (from the distribution the forecast intervals come from, widened "
        "by the lever-response error of the plan's lift over the status quo)."
    )
    warnings: list[RangeWarningType] = strawberry.field(
        description="Each recommended lever value outside the studio's own "
        "history (scope HISTORY) and each outside its peers' range (scope PEERS)."
    )
    base_month_notes: list[str] = strawberry.field(
        description="What looks wrong with the base month's own figures, which the "
        "plan starts from as they stand (see ForwardPrediction.baseMonthNotes)."
    )
    tactic_cost: Money = strawberry.field(
        description="Monthly money cost of the catalogue tactics the recommended "
        "plan needs (the action plan's tactics, priced at their cost estimates; an "
        "increase beyond what all of a lever's tactics achieve priced pro rata). "
        "What prioritizeLowCostLevers minimises."
    )
    cost_currency: str = strawberry.field(
        description="Currency of tacticCost and of the action plan's costEstimate: "
        "the studio's, or USD where the operator gives no CURRENCY_RATES rate for "
        "it (the catalogue's costs are written in US dollars; every other amount is "
        "in the studio's currency)."
    )
    confidence_score: float = strawberry.field(
        description="Calibrated probability that the actual revenue of month "
        "targetMonths lands within 10% of its forecast under the recommended plan."
    )
    model_version: str

    @classmethod
    def from_output(cls, output: InverseOutput) -> Self:
        return cls(
            optimization_id=strawberry.ID(output.prediction_id),
            studio_id=strawberry.ID(output.studio_id),
            base_month=output.base_month,
            target_revenue=output.target_revenue,
            target_months=output.target_months,
            target_kind=TargetKindEnum(output.target_kind),
            current_revenue=output.current_revenue,
            achievable_revenue=output.achievable_revenue,
            projected_revenue=output.projected_revenue,
            achievement_rate=output.achievement_rate,
            reachable=output.reachable,
            message=output.message,
            binding_constraints=[
                BindingConstraintType(
                    lever=LeverEnum(binding.lever),
                    kind=ConstraintKindEnum(binding.kind),
                    description=binding.description,
                )
                for binding in output.binding_constraints
            ],
            recommended_levers=LeversType.from_levers(output.recommended_levers),
            lever_changes=[
                LeverChangeType.from_change(change) for change in output.lever_changes
            ],
            not_modelled_levers=[
                LeverNoteType.from_note(note) for note in output.not_modelled_levers
            ],
            monthly_revenue=output.monthly_revenue,
            action_plan=[
                PlannedActionType(
                    priority=action.priority,
                    lever=LeverEnum(action.lever),
                    action=action.action,
                    specifics=action.specifics,
                    expected_impact=action.expected_impact,
                    timeline_weeks=action.timeline_weeks,
                    cost=Cost(action.cost),
                    cost_estimate=action.cost_estimate,
                )
                for action in output.action_plan
            ],
            alternatives=[
                AlternativePlanType(
                    lead_lever=LeverEnum(plan.lead_lever) if plan.lead_lever else None,
                    levers=LeversType.from_levers(plan.levers),
                    revenue=plan.revenue,
                    cost=plan.cost,
                    lever_changes=[
                        LeverChangeType.from_change(change)
                        for change in plan.lever_changes
                    ],
                )
                for plan in output.alternatives
            ],
            relaxed=RelaxedPlanType(
                factor=output.relaxed.factor,
                revenue=output.relaxed.revenue,
                reachable=output.relaxed.reachable,
                levers=LeversType.from_levers(output.relaxed.levers),
            ),
            total_cost=output.total_cost,
            tactic_cost=output.tactic_cost,
            cost_currency=output.cost_currency,
            warnings=[RangeWarningType.from_warning(w) for w in output.warnings],
            base_month_notes=list(output.base_month_notes),
            target_probability=output.target_probability,
            expected_revenue=output.expected_revenue,
            reach_probability=output.reach_probability,
            confidence_score=output.confidence_score,
            model_version=output.model_version,
        )


# --- leverImpactAnalysis ------------------------------------------------------------


@strawberry.type(
    name="LeverCurvePoint",
    description="The horizon month's forecast with one lever at one value and "
    "every other lever at today's value.",
)
class LeverCurvePointType:
    pct: float = strawberry.field(
        description="The change asked for, as a fraction of today's value (-0.2 "
        "is 20% below it)."
    )
    lever_value: float = strawberry.field(
        description="The lever's value at this point, in its own unit (rates as "
        "fractions)."
    )
    revenue: Money
    members: float
    clipped: bool = strawberry.field(
        description="The lever's valid range cut the change short (a rate cannot "
        "exceed 1 nor any lever fall below 0): lever_value is the range's end."
    )

    @classmethod
    def from_point(cls, point: CurvePoint) -> Self:
        return cls(
            pct=point.pct,
            lever_value=point.lever_value,
            revenue=point.revenue,
            members=point.members,
            clipped=point.clipped,
        )


@strawberry.type(
    name="LeverCurve",
    description="A lever's response curve: revenue and members across a range of "
    "its values, for drawing e.g. price against revenue.",
)
class LeverCurveType:
    points: list[LeverCurvePointType] = strawberry.field(
        description="From the lowest change asked for to the highest."
    )
    optimum: LeverCurvePointType = strawberry.field(
        description="The point of highest revenue (the lowest change among equal ones)."
    )
    optimum_at_edge: bool = strawberry.field(
        description="The optimum is the first or last point: revenue may rise "
        "further beyond the range drawn."
    )

    @classmethod
    def from_curve(cls, curve: LeverCurve) -> Self:
        return cls(
            points=[LeverCurvePointType.from_point(p) for p in curve.points],
            optimum=LeverCurvePointType.from_point(curve.optimum),
            optimum_at_edge=curve.optimum_at_edge,
        )


@strawberry.type(name="LeverImpact")
class LeverImpactType:
    lever: LeverEnum
    rank: int = strawberry.field(description="1 for the strongest lever.")
    impact_score: float = strawberry.field(
        description="The ranking figure relative to the strongest lever's (1)."
    )
    revenue_sensitivity: Money = strawberry.field(
        description="Change of the horizon month's revenue for a 1% increase of "
        "this lever alone."
    )
    elasticity: float | None = strawberry.field(
        description="% revenue change per 1% lever change."
    )
    correlation: float | None = strawberry.field(
        description="Correlation with revenue over the studio's history up to the "
        "base month (null with under 6 months or a constant lever)."
    )
    peer_correlation: float | None = strawberry.field(
        description="The same over every studio of its type."
    )
    recommendation: str = strawberry.field(
        description="One line on what to do with it; for a lever not modelled for "
        "this studio, why."
    )
    modelled: bool = strawberry.field(
        description="Whether the model can move this lever for this studio (false: "
        "no data on it; no sensitivity, ranked last)."
    )
    curve: LeverCurveType | None = strawberry.field(
        default=None,
        description="The lever's response curve when the query asks for curves; "
        "null otherwise, and always null for a lever not modelled.",
    )


@strawberry.type(name="LeverCorrelation")
class LeverCorrelationType:
    lever: LeverEnum
    revenue_correlation: float | None


@strawberry.type(name="LeverImpactAnalysis")
class LeverImpactAnalysisType:
    studio_id: strawberry.ID
    analysis_type: AnalysisTypeEnum
    base_month: date
    horizon: int = strawberry.field(
        description="Months after the base month at which revenue is compared."
    )
    base_revenue: Money = strawberry.field(
        description="The horizon month's revenue under the base month's levers."
    )
    lever_impacts: list[LeverImpactType] = strawberry.field(
        description="Every lever, strongest first."
    )
    correlation_matrix: list[LeverCorrelationType] = strawberry.field(
        description="Each lever's correlation with revenue over the studio's history."
    )
    not_modelled_levers: list[LeverNoteType] = strawberry.field(
        description="Levers the model cannot move for this studio, with the reason."
    )
    model_version: str

    @classmethod
    def from_output(cls, output: LeverImpactOutput) -> Self:
        return cls(
            studio_id=strawberry.ID(output.studio_id),
            analysis_type=AnalysisTypeEnum(output.analysis_type),
            base_month=output.base_month,
            horizon=output.horizon,
            base_revenue=output.base_revenue,
            lever_impacts=[
                LeverImpactType(
                    lever=LeverEnum(impact.lever),
                    rank=impact.rank,
                    impact_score=impact.impact_score,
                    revenue_sensitivity=impact.revenue_sensitivity,
                    elasticity=impact.elasticity,
                    correlation=impact.correlation,
                    peer_correlation=impact.peer_correlation,
                    recommendation=impact.recommendation,
                    modelled=impact.modelled,
                    curve=LeverCurveType.from_curve(impact.curve)
                    if impact.curve is not None
                    else None,
                )
                for impact in output.lever_impacts
            ],
            correlation_matrix=[
                LeverCorrelationType(
                    lever=LeverEnum(lever), revenue_correlation=correlation
                )
                for lever, correlation in output.correlation_matrix.items()
            ],
            not_modelled_levers=[
                LeverNoteType.from_note(note) for note in output.not_modelled_levers
            ],
            model_version=output.model_version,
        )
