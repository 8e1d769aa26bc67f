"""GraphQL types of a scenario's insights.

Every revenue figure in them comes from the active forward model, run from the
scenario's base month over its horizon and read at its last month ("month N"):
the revenue of one plan minus that of another (``insights.services``).
"""

from datetime import date, datetime
from typing import Self

import strawberry

from forecasting.graphql.types import LeverEnum
from insights import services
from optimization.graphql.types import CostEnum
from optimization.tactics import Cost
from studiosim.graphql_scalars import Money

__all__ = ["InsightTypeEnum", "InsightsType"]

InsightTypeEnum = strawberry.enum(
    services.InsightType, name="InsightType", description="A kind of insight."
)
RiskKindEnum = strawberry.enum(services.RiskKind, name="RiskKind")
OpportunityKindEnum = strawberry.enum(services.OpportunityKind, name="OpportunityKind")

CONFIDENCE = (
    "Probability that month-N revenue with the change is higher than without it, "
    "from the two forecasts' intervals (normal on the log scale, errors taken as "
    "independent: a cautious figure, as in compareScenarios)."
)


@strawberry.type(
    name="NextBestAction",
    description="A tactic of the catalogue and what the model says its typical "
    "improvement, applied alone to the scenario's starting levers, is worth.",
)
class NextBestActionType:
    priority: int = strawberry.field(
        description="1 first: ranked by revenue gain per unit of cost, then by how "
        "soon it works."
    )
    lever: LeverEnum
    action: str
    impact: str = strawberry.field(description="What it does to the lever, in words.")
    expected_revenue_gain: Money = strawberry.field(
        description="Month-N revenue with the tactic minus without it."
    )
    confidence: float = strawberry.field(description=CONFIDENCE)
    timeline_weeks: int = strawberry.field(description="Weeks until it works.")
    cost: CostEnum

    @classmethod
    def from_action(cls, action: services.NextBestAction) -> Self:
        return cls(
            priority=action.priority,
            lever=LeverEnum(action.lever),
            action=action.action,
            impact=action.impact,
            expected_revenue_gain=action.expected_revenue_gain,
            confidence=action.confidence,
            timeline_weeks=action.timeline_weeks,
            cost=Cost(action.cost),
        )


@strawberry.type(name="RiskFactor")
class RiskFactorType:
    kind: RiskKindEnum
    risk: str
    month_year: date | None = strawberry.field(
        description="The month of a seasonal dip; null for the other kinds."
    )
    probability: float = strawberry.field(
        description="SEASONAL_DIP: the share of past years in which that calendar "
        "month fell below the studio's trend. RETENTION_DECLINE: the probability "
        "that the underlying trend is downward (Student t on the least-squares "
        "slope). STAFF_OVERUTILISATION, CAPACITY_LIMIT: the probability that a "
        "month under the plan exceeds 90%, given the lever's month-to-month spread "
        "over the last year."
    )
    potential_revenue_impact: Money = strawberry.field(
        description="Negative for a loss: the dip in the "
        "forecast for that month, or month-N revenue with the trend carried on (or "
        "the lever back at 90%) minus the plan's."
    )
    mitigation: str

    @classmethod
    def from_risk(cls, risk: services.RiskFactor) -> Self:
        return cls(
            kind=services.RiskKind(risk.kind),
            risk=risk.risk,
            month_year=risk.month_year,
            probability=risk.probability,
            potential_revenue_impact=risk.potential_revenue_impact,
            mitigation=risk.mitigation,
        )


@strawberry.type(name="Opportunity")
class OpportunityType:
    kind: OpportunityKindEnum
    opportunity: str
    lever: LeverEnum
    target_value: float = strawberry.field(
        description="The lever level the gain assumes, in the lever's unit."
    )
    potential_revenue_gain: Money = strawberry.field(
        description="Month-N revenue with the lever at targetValue minus the plan's."
    )
    confidence: float = strawberry.field(description=CONFIDENCE)
    actions: list[str] = strawberry.field(
        description="Tactics of the catalogue sized to the change."
    )

    @classmethod
    def from_opportunity(cls, opportunity: services.Opportunity) -> Self:
        return cls(
            kind=services.OpportunityKind(opportunity.kind),
            opportunity=opportunity.opportunity,
            lever=LeverEnum(opportunity.lever),
            target_value=opportunity.target_value,
            potential_revenue_gain=opportunity.potential_revenue_gain,
            confidence=opportunity.confidence,
            actions=opportunity.actions,
        )


@strawberry.type(
    name="ExtraTactic",
    description="A tactic the LLM suggests beyond the catalogue; it carries no "
    "figure, by design.",
)
class ExtraTacticType:
    name: str
    lever: LeverEnum
    description: str


@strawberry.type(name="Insights")
class InsightsType:
    scenario_id: strawberry.ID
    model_version: str = strawberry.field(
        description="The forward model version every figure comes from."
    )
    target_month: date = strawberry.field(
        description="Month N: the last projected month, where figures are read."
    )
    generated_at: datetime = strawberry.field(
        description="When the figures were computed (a cached answer keeps it)."
    )
    source: str = strawberry.field(
        description='"rules", or the name of the LLM model that added the tips, '
        "obstacles and extra tactics (it never changes a figure)."
    )
    next_best_actions: list[NextBestActionType] | None = strawberry.field(
        description="Null unless asked for."
    )
    risk_factors: list[RiskFactorType] | None = strawberry.field(
        description="Most costly first; null unless asked for."
    )
    opportunities: list[OpportunityType] | None = strawberry.field(
        description="Largest gain first; null unless asked for."
    )
    tips: list[str] = strawberry.field(description="From the LLM; empty for rules.")
    obstacles: list[str] = strawberry.field(
        description="From the LLM; empty for rules."
    )
    extra_tactics: list[ExtraTacticType] = strawberry.field(
        description="From the LLM, at most two; empty for rules."
    )

    @classmethod
    def from_insights(cls, insights: services.Insights) -> Self:
        return cls(
            scenario_id=strawberry.ID(insights.scenario_id),
            model_version=insights.model_version,
            target_month=insights.target_month,
            generated_at=insights.generated_at,
            source=insights.source,
            next_best_actions=(
                None
                if insights.next_best_actions is None
                else [
                    NextBestActionType.from_action(a)
                    for a in insights.next_best_actions
                ]
            ),
            risk_factors=(
                None
                if insights.risk_factors is None
                else [RiskFactorType.from_risk(r) for r in insights.risk_factors]
            ),
            opportunities=(
                None
                if insights.opportunities is None
                else [
                    OpportunityType.from_opportunity(o) for o in insights.opportunities
                ]
            ),
            tips=insights.tips,
            obstacles=insights.obstacles,
            extra_tactics=[
                ExtraTacticType(
                    name=t.name, lever=LeverEnum(t.lever), description=t.description
                )
                for t in insights.extra_tactics
            ],
        )
