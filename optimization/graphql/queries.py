"""Root query fields of inverse prediction and lever impact analysis.

The resolvers resolve the studio through the tenancy selector and call one
serving function each; those put the cache (and, for inverse prediction, the
prediction log) in front of the services, as
:mod:`forecasting.graphql.predictions` describes.
"""

import dataclasses
from typing import Annotated

import strawberry
import strawberry_django
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Sum
from strawberry.types import Info

from forecasting.graphql.predictions import (
    Served,
    cached_prediction,
    input_fields,
    lever_paths,
    report_cache_status,
)
from forecasting.models import PredictionType
from forecasting.services import prediction_log_write, validate_levers
from optimization.graphql.inputs import (
    CurrentStateInput,
    InverseConstraintsInput,
    InversePredictionInput,
)
from optimization.graphql.types import (
    AnalysisTypeEnum,
    InversePredictionType,
    LeverImpactAnalysisType,
)
from optimization.services import (
    InverseConstraints,
    InverseOutput,
    LeverImpactOutput,
    inverse_predict,
    lever_impact_analysis,
)
from studios.graphql.inputs import studio_from_input
from studios.models import Studio
from studios.selectors import metric_latest_month
from studiosim.errors import InvalidInput

__all__ = ["Query"]

#: Where the inverse service's refusals point in InversePredictionInput.
INVERSE_INPUT_PATHS = {
    **lever_paths("current_state"),
    "current_member_count": "current_state.current_member_count",
    "max_increase": "constraints",
    "lower_bounds": "constraints.lower_bounds",
    "lower": "constraints.lower_bounds",
    "upper_bounds": "constraints.upper_bounds",
    "locked_levers": "constraints.locked_levers",
}


@strawberry.type
class Query:
    @strawberry_django.field(
        description="The cheapest lever changes that reach a revenue target within "
        "the constraints, with an action plan; or, when the target is out of "
        "reach, the best achievable and what binds. Each answer is logged "
        "(optimizationId) and cached until the model or the studio's data changes."
    )
    def inverse_prediction(
        self, info: Info, input: InversePredictionInput
    ) -> InversePredictionType:
        studio = studio_from_input(info, input.studio_id, field="studioId")
        current = input.current_state or CurrentStateInput()
        with input_fields(INVERSE_INPUT_PATHS):
            served = inverse_serve(
                studio=studio,
                user=info.context.request.user,
                base_month=input.base_month,
                target_revenue=input.target_revenue,
                target_months=input.target_months,
                target_kind=input.target_kind.value,
                current_levers=current.as_dict(),
                current_member_count=current.current_member_count,
                constraints=(
                    input.constraints or InverseConstraintsInput()
                ).to_constraints(),
            )
        report_cache_status(info, served)
        return InversePredictionType.from_output(served.output)

    @strawberry_django.field(
        description="Which levers move a studio's revenue most, ranked, with a "
        "recommendation each. Cached until the model or the data of the studio "
        "or of its peers changes."
    )
    def lever_impact_analysis(
        self,
        info: Info,
        studio_id: strawberry.ID,
        analysis_type: AnalysisTypeEnum = AnalysisTypeEnum.SENSITIVITY,
        base_month: Annotated[
            str | None,
            strawberry.argument(
                description='Month "YYYY-MM"; by default the latest month of data.'
            ),
        ] = None,
    ) -> LeverImpactAnalysisType:
        studio = studio_from_input(info, studio_id, field="studioId")
        served = lever_impact_serve(
            studio=studio, analysis_type=analysis_type.value, base_month=base_month
        )
        report_cache_status(info, served)
        return LeverImpactAnalysisType.from_output(served.output)


def inverse_serve(
    *,
    studio: Studio,
    user: AbstractBaseUser,
    base_month: str | None,
    target_revenue: float,
    target_months: int,
    target_kind: str,
    current_levers: dict[str, float],
    current_member_count: int | None,
    constraints: InverseConstraints,
) -> Served[InverseOutput]:
    """:func:`optimization.services.inverse_predict`, cached and logged.

    With no ``base_month`` the plan starts from the studio's latest month.
    Bounds are checked against each lever's valid range (a retention bound of
    1.5 would let the plan leave it). ``current_member_count`` is checked and
    recorded in the log only: the model starts from the member count on record
    for the base month.
    """
    if current_member_count is not None and current_member_count < 0:
        raise InvalidInput("must not be negative", field="current_member_count")
    for bounds in ("lower_bounds", "upper_bounds"):
        with input_fields(lever_paths(f"constraints.{bounds}")):
            validate_levers(getattr(constraints, bounds))
    request = {
        "base_month": base_month,
        "target_revenue": target_revenue,
        "target_months": target_months,
        "target_kind": target_kind,
        "current_levers": current_levers,
        "constraints": dataclasses.asdict(constraints),
    }
    output, version, hit = cached_prediction(
        PredictionType.INVERSE,
        InverseOutput,
        studio=studio,
        request=request,
        compute=lambda: inverse_predict(
            studio=studio,
            base_month=base_month or metric_latest_month(studio=studio),
            target_revenue=target_revenue,
            target_months=target_months,
            target_kind=target_kind,
            current_levers=current_levers,
            constraints=constraints,
            log=False,
        ),
    )
    inputs = {
        "target_revenue": target_revenue,
        "target_kind": target_kind,
        "current_levers": current_levers,
        "constraints": request["constraints"],
    }
    if current_member_count is not None:
        inputs["current_member_count"] = current_member_count
    output = prediction_log_write(
        studio=studio,
        prediction_type=PredictionType.INVERSE,
        version=version,
        base_month=output.base_month,
        months=output.target_months,
        inputs=inputs,
        output=output,
        confidence=output.confidence_score,
        user=user,
    )
    return Served(output, hit)


def lever_impact_serve(
    *, studio: Studio, analysis_type: str, base_month: str | None
) -> Served[LeverImpactOutput]:
    """:func:`optimization.services.lever_impact_analysis`, cached; not logged, as
    it forecasts no month whose actual revenue could later be compared.

    The analysis correlates levers with revenue over the studio's peers too, so
    the key also covers their number and data versions, as the baseline's does.
    """
    peers = Studio.objects.filter(studio_type=studio.studio_type).aggregate(
        count=Count("pk"), data_versions=Sum("data_version")
    )
    request = {
        "analysis_type": analysis_type,
        "base_month": base_month,
        "peers": [peers["count"], peers["data_versions"]],
    }
    output, _, hit = cached_prediction(
        "lever_impact",
        LeverImpactOutput,
        studio=studio,
        request=request,
        compute=lambda: lever_impact_analysis(
            studio=studio, analysis_type=analysis_type, base_month=base_month
        ),
    )
    return Served(output, hit)
