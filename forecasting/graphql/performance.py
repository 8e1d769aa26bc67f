"""``modelPerformance``: the active version's test metrics and its live accuracy.

Readable by anyone signed in: the test metrics are what every forward
prediction already quotes (``predictionAccuracy``), and the live accuracy is
counts and shares over every studio's predictions, never one studio's figures.
The cache statistics nested in it describe the service, not the model, and are
for staff only.
"""

from datetime import datetime
from typing import Self

import strawberry
import strawberry_django

from forecasting.graphql.types import CacheStatsType
from forecasting.selectors import ModelPerformance, model_performance
from studiosim.cache import cache_stats
from studiosim.graphql_scalars import Money
from studiosim.graphql_security import IsStaff

__all__ = ["ModelPerformanceType", "Query"]


@strawberry.type(
    name="PerformanceMetrics",
    description="The version's accuracy one month ahead on the test months it never "
    "saw in training, measured when it was trained (null where not measured).",
)
class PerformanceMetricsType:
    rmse: Money | None = strawberry.field(
        description="Root mean squared error of monthly revenue."
    )
    mape: float | None = strawberry.field(
        description="Mean absolute percentage error, as a fraction (0.04 = 4%)."
    )
    r2_score: float | None
    directional_accuracy: float | None = strawberry.field(
        description="Share of months whose direction of change was predicted right."
    )
    interval_coverage: float | None = strawberry.field(
        description="Share of actual values inside their 80% interval."
    )


@strawberry.type(
    name="ErrorDistribution",
    description="Shares (fractions) of the predictions with an actual outcome, by "
    "their error: the mean absolute percentage error over their months with data. "
    "Null while no prediction has an actual outcome.",
)
class ErrorDistributionType:
    within_5_pct: float | None = strawberry.field(description="Error at most 5%.")
    within_10_pct: float | None = strawberry.field(
        description="Error at most 10% (so including those within 5%)."
    )
    over_10_pct: float | None = strawberry.field(description="Error over 10%.")


@strawberry.type(
    name="PredictionDistribution",
    description="Live accuracy: the version's logged predictions whose predicted "
    "months' actual data has arrived (recorded by the importer or "
    "`manage.py record_actuals`).",
)
class PredictionDistributionType:
    predictions_served: int = strawberry.field(
        description="Every prediction the version served, measured or not."
    )
    total_predictions: int = strawberry.field(
        description="Those with an actual outcome, which the figures below describe."
    )
    avg_confidence: float | None = strawberry.field(
        description="Their mean confidence score."
    )
    mean_error_pct: float | None = strawberry.field(
        description="Their mean error, as a fraction."
    )
    error_distribution: ErrorDistributionType


@strawberry.type(name="ModelPerformance")
class ModelPerformanceType:
    model_version: str = strawberry.field(description="The active version's name.")
    deployed_at: datetime | None
    performance_metrics: PerformanceMetricsType
    prediction_distribution: PredictionDistributionType

    @strawberry_django.field(
        permission_classes=[IsStaff],
        description="Hits and misses of the cache of computed answers (staff only; "
        "FORBIDDEN for anyone else, the rest of the answer unaffected).",
    )
    def cache_stats(self) -> CacheStatsType | None:
        return CacheStatsType.from_stats(cache_stats())

    @classmethod
    def from_performance(cls, performance: ModelPerformance) -> Self:
        # ModelPerformance carries no interval coverage; the version stores it
        # with the other headline metrics, where predictionAccuracy reads it too.
        headline = (performance.version.metrics or {}).get("headline", {})
        return cls(
            model_version=performance.version.version,
            deployed_at=performance.deployed_at,
            performance_metrics=PerformanceMetricsType(
                rmse=performance.rmse,
                mape=performance.mape,
                r2_score=performance.r2,
                directional_accuracy=performance.directional_accuracy,
                interval_coverage=headline.get("test_coverage_h1"),
            ),
            prediction_distribution=PredictionDistributionType(
                predictions_served=performance.predictions_served,
                total_predictions=performance.total_predictions,
                avg_confidence=performance.avg_confidence,
                mean_error_pct=performance.mean_error_pct,
                error_distribution=ErrorDistributionType(
                    within_5_pct=performance.within_5_pct,
                    within_10_pct=performance.within_10_pct,
                    over_10_pct=performance.over_10_pct,
                ),
            ),
        )


@strawberry.type
class Query:
    @strawberry_django.field(
        description="The active model version's test metrics and live accuracy. "
        "NO_ACTIVE_MODEL when no version is active."
    )
    def model_performance(self) -> ModelPerformanceType:
        return ModelPerformanceType.from_performance(model_performance())
