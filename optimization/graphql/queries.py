"""Root query fields of inverse prediction and lever impact analysis.

The resolvers resolve the studio through the tenancy selector and call one
serving function each (:mod:`optimization.serving`); those put the cache (and,
for inverse prediction, the prediction log) in front of the services.
"""

from typing import Annotated

import strawberry
import strawberry_django
from strawberry.types import Info

from forecasting.graphql.predictions import report_cache_status
from forecasting.serving import input_fields, lever_paths
from optimization.graphql.inputs import (
    CurrentStateInput,
    InverseConstraintsInput,
    InversePredictionInput,
    LeverCurveInput,
)
from optimization.graphql.types import (
    AnalysisTypeEnum,
    InversePredictionType,
    LeverImpactAnalysisType,
)
from optimization.serving import inverse_serve, lever_impact_serve
from studios.graphql.inputs import studio_from_input

__all__ = ["Query"]

#: Where the inverse service's refusals point in InversePredictionInput.
INVERSE_INPUT_PATHS = {
    **lever_paths("current_state"),
    "current_member_count": "current_state.current_member_count",
    "max_increase": "constraints",
    "max_decrease": "constraints.max_decreases",
    "lower_bounds": "constraints.lower_bounds",
    "lower": "constraints.lower_bounds",
    "upper_bounds": "constraints.upper_bounds",
    "locked_levers": "constraints.locked_levers",
    "target_probability": "target_probability",
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
                target_probability=input.target_probability,
            )
        report_cache_status(info, served)
        return InversePredictionType.from_output(served.output)

    @strawberry_django.field(
        description="Which levers move a studio's revenue most, ranked, with a "
        "recommendation each, and on request each lever's response curve "
        "(revenue and members across its values, with the revenue-maximising "
        "point). Cached until the model or the data of the studio or of its "
        "peers changes."
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
        curve: Annotated[
            LeverCurveInput | None,
            strawberry.argument(
                description="Draw each lever's response curve (`curve: {}` for "
                "-20%..+20% in 9 steps); none by default."
            ),
        ] = None,
    ) -> LeverImpactAnalysisType:
        studio = studio_from_input(info, studio_id, field="studioId")
        served = lever_impact_serve(
            studio=studio,
            analysis_type=analysis_type.value,
            base_month=base_month,
            curve=curve.to_spec() if curve is not None else None,
        )
        report_cache_status(info, served)
        return LeverImpactAnalysisType.from_output(served.output)
