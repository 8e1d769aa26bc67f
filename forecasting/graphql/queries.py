"""Root query fields of the model registry and of forward prediction."""

import strawberry
import strawberry_django
from strawberry.types import Info
from strawberry_django.pagination import OffsetPaginated

from forecasting.graphql.predictions import report_cache_status
from forecasting.graphql.types import (
    CacheStatsType,
    ForwardPredictionInput,
    ForwardPredictionType,
    LeversInput,
    ModelVersionType,
)
from forecasting.serving import forecast_serve, input_fields, lever_paths
from studios.graphql.inputs import studio_from_input
from studiosim.cache import cache_stats
from studiosim.graphql_security import IsStaff, PageSizeLimit

__all__ = ["Query"]


@strawberry.type
class Query:
    model_versions: OffsetPaginated[ModelVersionType] = (
        strawberry_django.offset_paginated(
            permission_classes=[IsStaff],
            extensions=[PageSizeLimit()],
            description="The model registry, newest first (staff only).",
        )
    )

    @strawberry_django.field(
        description="Revenue, members and retention for the months after the base "
        "month under a lever plan, with intervals. Each answer is logged "
        "(predictionId) and cached until the model or the studio's data changes."
    )
    def forward_prediction(
        self, info: Info, input: ForwardPredictionInput
    ) -> ForwardPredictionType:
        studio = studio_from_input(info, input.studio_id, field="studioId")
        with input_fields(lever_paths("levers")):
            served = forecast_serve(
                studio=studio,
                user=info.context.request.user,
                base_month=input.base_month,
                levers=(input.levers or LeversInput()).as_dict(),
                months=input.projection_months,
                coverage=input.coverage,
                include_intervals=input.include_confidence_intervals,
            )
        report_cache_status(info, served)
        return ForwardPredictionType.from_output(served.output)

    @strawberry_django.field(
        permission_classes=[IsStaff],
        description="Hits and misses of the prediction cache (staff only).",
    )
    def cache_stats(self) -> CacheStatsType:
        return CacheStatsType.from_stats(cache_stats())
