"""GraphQL types of saved scenarios and of their comparison.

A scenario is readable by anyone who may see its studio (the ``TenantRestricted``
base restricts every queryset of it); its figures are read through
:func:`scenarios.selectors.scenario_projection`, which reads forward and inverse
scenarios alike, so no resolver interprets the stored JSON.
"""

from datetime import date, datetime
from typing import Self

import strawberry
import strawberry_django
from strawberry.scalars import JSON
from strawberry.types import Info

from forecasting.graphql.types import ConfidenceIntervalType, LeverEnum, LeversType
from scenarios import models, selectors
from studios.graphql.types import StudioType, TenantRestricted
from studiosim.graphql_scalars import Money

__all__ = [
    "ScenarioComparisonType",
    "ScenarioDeletePayload",
    "ScenarioPageType",
    "ScenarioSavePayload",
    "ScenarioType",
    "ScenarioTypeEnum",
]

ScenarioTypeEnum = strawberry.enum(
    models.ScenarioType,
    name="ScenarioType",
    description="FORWARD: saved from a forwardPrediction (a lever plan); INVERSE: "
    "from an inversePrediction (a revenue target and the plan recommended for it).",
)

_PROJECTION_FIELDS = ["scenario_type", "predicted_outputs"]


def _interval(
    lower: float | None, upper: float | None
) -> ConfidenceIntervalType | None:
    if lower is None or upper is None:
        return None
    return ConfidenceIntervalType(lower=lower, upper=upper)


# --- one scenario ---------------------------------------------------------------------


@strawberry.type(name="ScenarioMonth")
class ScenarioMonthType:
    month: int = strawberry.field(description="1 for the month after the base month.")
    month_year: date = strawberry.field(description="First day of the month.")
    revenue: Money
    member_count: int = strawberry.field(
        description="Members at the end of the month, rounded to a whole member."
    )
    expected_member_count: float = strawberry.field(
        description="The model's expected member count, unrounded (fractional)."
    )
    confidence_interval: ConfidenceIntervalType | None = strawberry.field(
        description="The revenue interval at the projection's coverage; null when "
        "the prediction was made without intervals."
    )
    confidence_score: float = strawberry.field(
        description="Calibrated probability that the actual revenue lands within "
        "10% of the prediction."
    )


@strawberry.type(
    name="ScenarioProjection",
    description="What the scenario forecasts, read the same way for both types.",
)
class ScenarioProjectionType:
    coverage: float = strawberry.field(description="Nominal coverage of the intervals.")
    months: list[ScenarioMonthType]
    base_levers: LeversType = strawberry.field(
        description="Where the plan starts: the base month's levers, or the current "
        "levers an inverse prediction was given."
    )
    levers: LeversType = strawberry.field(description="The plan itself.")
    total_revenue: Money = strawberry.field(
        description="Revenue summed over the projected months."
    )
    model_version: str

    @classmethod
    def from_projection(cls, projection: selectors.ScenarioProjection) -> Self:
        return cls(
            coverage=projection.coverage,
            months=[
                ScenarioMonthType(
                    month=month.month,
                    month_year=month.month_year,
                    revenue=month.revenue,
                    member_count=round(month.member_count),
                    expected_member_count=month.member_count,
                    confidence_interval=_interval(month.lower, month.upper),
                    confidence_score=month.confidence_score,
                )
                for month in projection.months
            ],
            base_levers=LeversType.from_levers(projection.base_levers),
            levers=LeversType.from_levers(projection.levers),
            total_revenue=projection.total_revenue,
            model_version=projection.model_version,
        )


@strawberry_django.type(models.Scenario, name="Scenario")
class ScenarioType(TenantRestricted):
    scenario_id: strawberry.ID = strawberry_django.field(field_name="id")
    scenario_name: str = strawberry_django.field(field_name="name")
    description: str
    scenario_type: ScenarioTypeEnum
    studio: StudioType
    base_month: date = strawberry_django.field(
        description="The month of data the prediction started from."
    )
    projection_months: int
    tags: list[str]
    confidence_score: float | None = strawberry_django.field(
        description="The prediction's confidence as logged: the mean of its months' "
        "for a forward prediction, the plan's for an inverse one."
    )
    inputs: JSON = strawberry_django.field(
        field_name="lever_inputs",
        description="The prediction's request as logged (levers, coverage; for an "
        "inverse prediction the target, current levers and constraints).",
    )
    outputs: JSON = strawberry_django.field(
        field_name="predicted_outputs",
        description="The prediction's answer as logged; an inverse scenario adds "
        "the forecast of its recommended levers under projection.",
    )
    created_at: datetime
    updated_at: datetime

    @strawberry_django.field(
        only=["created_by__username"],
        select_related=["created_by"],
        description="Username of whoever saved it; null once that user is deleted.",
    )
    def created_by(self, root: models.Scenario) -> str | None:
        return root.created_by.username if root.created_by else None

    @strawberry_django.field(
        only=_PROJECTION_FIELDS,
        description="For an inverse scenario the revenue target; null for a "
        "forward one.",
    )
    def target_revenue(self, root: models.Scenario) -> Money | None:
        return selectors.scenario_projection(root).target_revenue

    @strawberry_django.field(
        only=_PROJECTION_FIELDS,
        description="The headline figure: an inverse scenario's projected revenue "
        "measured like its target (last month or total), a forward scenario's "
        "revenue in its last projected month.",
    )
    def predicted_revenue(self, root: models.Scenario) -> Money:
        return selectors.scenario_projection(root).predicted_revenue

    @strawberry_django.field(only=_PROJECTION_FIELDS)
    def projection(self, root: models.Scenario) -> ScenarioProjectionType:
        return ScenarioProjectionType.from_projection(
            selectors.scenario_projection(root)
        )

    @strawberry_django.field(
        description="The scenario's stable address: the frontend's page when "
        "FRONTEND_BASE_URL is set, else this server's read-only page (sign-in "
        "required; only users who may see the scenario get it).",
    )
    def shareable_url(self, root: models.Scenario, info: Info) -> str:
        return selectors.scenario_shareable_url(root, request=info.context.request)


@strawberry.type(name="ScenarioPage", description="One page of a studio's scenarios.")
class ScenarioPageType:
    scenarios: list[ScenarioType] = strawberry.field(description="Newest first.")
    total: int = strawberry.field(description="Scenarios matching, on all pages.")
    page: int = strawberry.field(description="Counted from 1.")
    page_size: int

    @classmethod
    def from_page(cls, page: selectors.Page[models.Scenario]) -> Self:
        return cls(
            scenarios=page.items,
            total=page.total,
            page=page.page,
            page_size=page.page_size,
        )


@strawberry.type(name="ScenarioSavePayload")
class ScenarioSavePayload:
    scenario_id: strawberry.ID
    saved_at: datetime
    shareable_url: str
    scenario: ScenarioType

    @classmethod
    def from_scenario(cls, scenario: models.Scenario, info: Info) -> Self:
        return cls(
            scenario_id=strawberry.ID(str(scenario.pk)),
            saved_at=scenario.created_at,
            shareable_url=selectors.scenario_shareable_url(
                scenario, request=info.context.request
            ),
            scenario=scenario,
        )


@strawberry.type(name="ScenarioDeletePayload")
class ScenarioDeletePayload:
    scenario_id: strawberry.ID = strawberry.field(description="The deleted scenario.")


# --- comparison -----------------------------------------------------------------------

PROBABILITY_METHOD = (
    "Each month's forecast is read as log-normal around its point forecast, with "
    "sigma = (ln upper - ln lower) / (2 z), z the standard normal quantile at "
    "(1 + coverage) / 2; the two scenarios' errors are taken as independent, so "
    "P(A > B) = Phi((ln A - ln B) / sqrt(sigma_A^2 + sigma_B^2)). Their errors are "
    "in truth positively correlated (same studio, month and model), which would "
    "push the figure further from 0.5: this one never overstates how sure the "
    "comparison is. Null when either forecast has no interval."
)


@strawberry.type(
    name="ScenarioDifference",
    description="A figure against the baseline scenario's.",
)
class ScenarioDifferenceType:
    absolute: float = strawberry.field(
        description="This one minus the baseline's, in the figure's unit (members, "
        "or the lever's unit)."
    )
    percent: float | None = strawberry.field(
        description="absolute / the baseline's, as a fraction (0.05 = +5%); null "
        "when the baseline's figure is 0."
    )

    @classmethod
    def from_difference(cls, difference: selectors.Difference | None) -> Self | None:
        if difference is None:
            return None
        return cls(absolute=difference.absolute, percent=difference.percent)


@strawberry.type(
    name="RevenueDifference",
    description="Revenue against the baseline scenario's.",
)
class RevenueDifferenceType:
    absolute: Money = strawberry.field(description="This one minus the baseline's.")
    percent: float | None = strawberry.field(
        description="absolute / the baseline's, as a fraction (0.05 = +5%); null "
        "when the baseline's revenue is 0."
    )

    @classmethod
    def from_difference(cls, difference: selectors.Difference | None) -> Self | None:
        if difference is None:
            return None
        return cls(absolute=difference.absolute, percent=difference.percent)


@strawberry.type(name="ComparedScenario")
class ComparedScenarioType:
    scenario_id: strawberry.ID
    scenario_name: str
    scenario_type: ScenarioTypeEnum
    base_month: date
    projection_months: int
    coverage: float
    total_revenue: Money = strawberry.field(
        description="Revenue summed over its projected months."
    )
    predicted_revenue: Money = strawberry.field(
        description="Its headline figure, as Scenario.predictedRevenue."
    )
    target_revenue: Money | None


@strawberry.type(
    name="LeverComparison",
    description="One lever's planned value in each scenario, in the order of "
    "ScenarioComparison.scenarios.",
)
class LeverComparisonType:
    lever: LeverEnum
    values: list[float | None] = strawberry.field(
        description="In the lever's unit (rates as fractions, the ticket in the "
        "studio's currency, counts per month)."
    )
    differences: list[ScenarioDifferenceType | None] = strawberry.field(
        description="Against the baseline; null for the baseline itself."
    )


@strawberry.type(name="ScenarioMonthFigures")
class ScenarioMonthFiguresType:
    revenue: Money
    member_count: int = strawberry.field(
        description="Members at the end of the month, rounded to a whole member."
    )
    expected_member_count: float = strawberry.field(
        description="The model's expected member count, unrounded (fractional)."
    )
    confidence_interval: ConfidenceIntervalType | None
    revenue_difference: RevenueDifferenceType | None = strawberry.field(
        description="Against the baseline in the same month; null for the baseline "
        "itself and where the baseline has no forecast for the month."
    )
    member_difference: ScenarioDifferenceType | None = strawberry.field(
        description="As revenueDifference, for the expected member count."
    )
    probability_above_baseline: float | None = strawberry.field(
        description="Probability that this month's actual revenue under this plan "
        f"beats the baseline's. {PROBABILITY_METHOD}"
    )

    @classmethod
    def from_figures(cls, figures: selectors.MonthFigures | None) -> Self | None:
        if figures is None:
            return None
        return cls(
            revenue=figures.revenue,
            member_count=round(figures.member_count),
            expected_member_count=figures.member_count,
            confidence_interval=_interval(figures.lower, figures.upper),
            revenue_difference=RevenueDifferenceType.from_difference(
                figures.revenue_difference
            ),
            member_difference=ScenarioDifferenceType.from_difference(
                figures.member_difference
            ),
            probability_above_baseline=figures.probability_above_baseline,
        )


@strawberry.type(
    name="ComparisonMonth",
    description="A calendar month: months are aligned on the calendar, so "
    "scenarios with different base months meet where their projections overlap.",
)
class ComparisonMonthType:
    month_year: date
    figures: list[ScenarioMonthFiguresType | None] = strawberry.field(
        description="Per scenario, in the order of ScenarioComparison.scenarios; "
        "null where a scenario has no forecast for the month."
    )


@strawberry.type(
    name="ScenarioVerdict",
    description="A scenario against the baseline over the months both forecast.",
)
class ScenarioVerdictType:
    scenario_id: strawberry.ID
    common_months: int = strawberry.field(
        description="Months both forecast; 0 leaves the other figures null."
    )
    revenue: Money | None = strawberry.field(
        description="Its revenue summed over the common months."
    )
    baseline_revenue: Money | None = strawberry.field(
        description="The baseline's, over the same months."
    )
    difference: RevenueDifferenceType | None
    higher_scenario_id: strawberry.ID | None = strawberry.field(
        description="The one with more revenue over the common months; null on a tie."
    )
    higher_by: Money | None = strawberry.field(description="By how much.")
    probability_above_baseline: float | None = strawberry.field(
        description="Probability that its actual revenue over the common months "
        "beats the baseline's. Each total is taken as normal with standard "
        "deviation sum(revenue_m x sigma_m) (its months' errors fully correlated, "
        "the widest case) and the two totals as independent; sigma_m as for "
        "ScenarioMonthFigures.probabilityAboveBaseline. Null without intervals."
    )


@strawberry.type(
    name="ScenarioComparison",
    description="Two or more scenarios of one studio side by side; the first one "
    "asked for is the baseline every difference is measured against.",
)
class ScenarioComparisonType:
    studio_id: strawberry.ID
    scenarios: list[ComparedScenarioType] = strawberry.field(
        description="In the order asked; the first is the baseline."
    )
    levers: list[LeverComparisonType]
    months: list[ComparisonMonthType] = strawberry.field(
        description="Every month any scenario forecasts, oldest first."
    )
    verdicts: list[ScenarioVerdictType] = strawberry.field(
        description="One per scenario after the baseline."
    )

    @classmethod
    def from_comparison(cls, comparison: selectors.ScenarioComparison) -> Self:
        return cls(
            studio_id=strawberry.ID(comparison.studio_id),
            scenarios=[
                ComparedScenarioType(
                    scenario_id=strawberry.ID(s.scenario_id),
                    scenario_name=s.name,
                    scenario_type=models.ScenarioType(s.scenario_type),
                    base_month=s.base_month,
                    projection_months=s.projection_months,
                    coverage=s.coverage,
                    total_revenue=s.total_revenue,
                    predicted_revenue=s.predicted_revenue,
                    target_revenue=s.target_revenue,
                )
                for s in comparison.scenarios
            ],
            levers=[
                LeverComparisonType(
                    lever=LeverEnum(lever.lever),
                    values=list(lever.values),
                    differences=[
                        ScenarioDifferenceType.from_difference(d)
                        for d in lever.differences
                    ],
                )
                for lever in comparison.levers
            ],
            months=[
                ComparisonMonthType(
                    month_year=month.month_year,
                    figures=[
                        ScenarioMonthFiguresType.from_figures(f) for f in month.figures
                    ],
                )
                for month in comparison.months
            ],
            verdicts=[
                ScenarioVerdictType(
                    scenario_id=strawberry.ID(v.scenario_id),
                    common_months=v.common_months,
                    revenue=v.revenue,
                    baseline_revenue=v.baseline_revenue,
                    difference=RevenueDifferenceType.from_difference(v.difference),
                    higher_scenario_id=(
                        None
                        if v.higher_scenario_id is None
                        else strawberry.ID(v.higher_scenario_id)
                    ),
                    higher_by=v.by,
                    probability_above_baseline=v.probability_above_baseline,
                )
                for v in comparison.verdicts
            ],
        )
