"""Batch forecasts over GraphQL: run one (staff), poll it, retry its failed chunks,
and the stored forecast ``studioBaseline`` shows.

Thin adapters over :mod:`forecasting.batch` and the selectors. ``studioBaseline``
lives here rather than in the studios app because it now shows the forecasting
app's stored forecast; its type extends the studios app's.
"""

import uuid
from datetime import date, datetime
from typing import Self

import strawberry
import strawberry_django
from strawberry.types import Info

from forecasting import batch, models
from forecasting.graphql.types import ModelVersionType
from forecasting.selectors import serving_version, studio_forecast_latest
from studios.graphql.inputs import studio_from_input
from studios.graphql.types import StudioBaselineType, StudioTypeEnum
from studios.models import StudioType
from studios.selectors import BaselineUnavailable, studio_baseline
from studiosim import errors
from studiosim.graphql_errors import BadUserInput, NotFound
from studiosim.graphql_scalars import Money
from studiosim.graphql_security import IsStaff

__all__ = [
    "BatchForecastChunkType",
    "BatchForecastSkipType",
    "BatchForecastStatusEnum",
    "BatchForecastType",
    "ForecastAllInput",
    "Mutation",
    "Query",
    "StudioBaselineWithForecastType",
    "StudioForecastType",
]

BatchForecastStatusEnum = strawberry.enum(
    models.BatchForecastStatus,
    name="BatchForecastStatus",
    description="QUEUED -> RUNNING -> SUCCEEDED | FAILED (a chunk failed; retry it).",
)


@strawberry.type(
    name="BatchForecastSkip",
    description="A studio a chunk could not forecast, and why (the chunk's other "
    "studios were forecast).",
)
class BatchForecastSkipType:
    studio_id: strawberry.ID
    reason: str


@strawberry_django.type(
    models.BatchForecastChunk,
    name="BatchForecastChunk",
    description="One Celery task's share of a batch forecast.",
)
class BatchForecastChunkType:
    index: int
    status: BatchForecastStatusEnum
    forecast_count: int
    skipped_count: int
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None

    @strawberry_django.field(only=["studio_ids"])
    def studio_count(self, root: models.BatchForecastChunk) -> int:
        return root.studio_count

    @strawberry_django.field(
        only=["error_message"], description="Why the chunk failed; null otherwise."
    )
    def error(self, root: models.BatchForecastChunk) -> str | None:
        return root.error_message or None

    @strawberry_django.field(
        only=["skipped_studios"],
        description="The studios not forecast (no data, too short a history, data "
        "the model refuses), each with the reason.",
    )
    def skipped(self, root: models.BatchForecastChunk) -> list[BatchForecastSkipType]:
        return [
            BatchForecastSkipType(studio_id=item["studio"], reason=item["reason"])
            for item in root.skipped_studios
        ]


@strawberry_django.type(
    models.BatchForecast,
    name="BatchForecast",
    description="A run forecasting every studio (or one type) from its latest month "
    "with one model version, split into chunks run by the Celery workers.",
)
class BatchForecastType:
    id: strawberry.ID
    status: BatchForecastStatusEnum
    model_version: ModelVersionType
    months: int
    chunk_size: int
    studio_count: int
    chunk_count: int
    forecast_count: int = strawberry_django.field(
        description="Studios forecast (set when the run finishes)."
    )
    skipped_count: int = strawberry_django.field(
        description="Studios not forecast (set when the run finishes); which and "
        "why: each chunk's skipped."
    )
    failed_chunk_count: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    chunks: list[BatchForecastChunkType]

    @strawberry_django.field(
        only=["studio_type"], description="The studio type forecast; null: all."
    )
    def studio_type(self, root: models.BatchForecast) -> StudioTypeEnum | None:
        return StudioType(root.studio_type) if root.studio_type else None

    @strawberry_django.field(
        only=["started_at", "finished_at"],
        description="Wall time of the run in seconds, once it has finished.",
    )
    def duration_seconds(self, root: models.BatchForecast) -> float | None:
        duration = root.duration
        return None if duration is None else duration.total_seconds()

    @strawberry_django.field(
        only=["error_message"],
        description="Why the run failed (how many chunks); null otherwise.",
    )
    def error(self, root: models.BatchForecast) -> str | None:
        return root.error_message or None


@strawberry.type(name="StudioForecastMonth")
class StudioForecastMonthType:
    month: int = strawberry.field(description="1 for the month after the base month.")
    month_year: date
    revenue: Money
    lower: Money = strawberry.field(description="Lower end of the 80% band.")
    upper: Money = strawberry.field(description="Upper end of the 80% band.")
    member_count: int = strawberry.field(
        description="Members at the end of the month, rounded to a whole member."
    )
    expected_member_count: float = strawberry.field(
        description="The model's expected member count, unrounded (an expectation, "
        "hence fractional)."
    )
    confidence_score: float = strawberry.field(
        description="Probability the month's revenue lands within 10% of it."
    )


@strawberry.type(
    name="StudioForecast",
    description="A studio's status-quo forecast stored by a batch run (forecastAll).",
)
class StudioForecastType:
    base_month: date
    model_version: str
    run_id: strawberry.ID
    created_at: datetime
    predictions: list[StudioForecastMonthType]
    total_projected_revenue: Money
    growth_rate: float = strawberry.field(
        description="Last projected month's revenue against the base month's."
    )

    @classmethod
    def from_row(cls, row: models.StudioForecast, version: str) -> Self:
        return cls(
            base_month=row.base_month,
            model_version=version,
            run_id=strawberry.ID(str(row.run_id)),
            created_at=row.created_at,
            predictions=[
                StudioForecastMonthType(
                    month=h + 1,
                    month_year=_add_months(row.base_month, h + 1),
                    revenue=row.revenue[h],
                    lower=row.revenue_lower[h],
                    upper=row.revenue_upper[h],
                    member_count=round(row.members[h]),
                    expected_member_count=row.members[h],
                    confidence_score=row.confidence[h],
                )
                for h in range(row.months)
            ],
            total_projected_revenue=row.total_revenue,
            growth_rate=row.growth_rate,
        )


def _add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


@strawberry.type(name="StudioBaseline")
class StudioBaselineWithForecastType(StudioBaselineType):
    latest_forecast: StudioForecastType | None = strawberry.field(
        default=None,
        description="The studio's latest batch forecast (forecastAll) by the active "
        "model version; null when no run has forecast it with that version.",
    )


@strawberry.input(name="ForecastAllInput")
class ForecastAllInput:
    months: int = strawberry.field(
        default=batch.DEFAULT_MONTHS, description="Months to forecast, 1-12."
    )
    studio_type: StudioTypeEnum | None = strawberry.field(
        default=None, description="Only studios of this type; null: every studio."
    )
    chunk_size: int = strawberry.field(
        default=batch.DEFAULT_CHUNK_SIZE,
        description=f"Studios per task, 1-{batch.MAX_CHUNK_SIZE:,}.",
    )


def _run_id(id: strawberry.ID) -> uuid.UUID:
    try:
        return uuid.UUID(str(id))
    except ValueError:
        raise BadUserInput(field="id", reason="is not a batch forecast id") from None


def _run(run_id: uuid.UUID) -> models.BatchForecast:
    try:
        # A run whose chord callback was lost (a killed worker) is finalised
        # by the poll that finds every chunk done.
        return batch.batch_forecast_finish(run_id=run_id)
    except errors.NotFound:
        raise NotFound(f"No batch forecast {run_id}.") from None


@strawberry.type
class Query:
    @strawberry_django.field(
        permission_classes=[IsStaff],
        description="One batch forecast run with its chunks, to poll it (staff only).",
    )
    def batch_forecast(self, id: strawberry.ID) -> BatchForecastType:
        return _run(_run_id(id))

    @strawberry_django.field(
        description="Where a studio stands: its last 12 months against its own "
        "history and against studios of the same type, and its latest stored "
        "forecast."
    )
    def studio_baseline(
        self, info: Info, studio_id: strawberry.ID
    ) -> StudioBaselineWithForecastType:
        studio = studio_from_input(info, studio_id, field="studioId")
        try:
            baseline = StudioBaselineWithForecastType.from_baseline(
                studio_baseline(studio=studio)
            )
        except BaselineUnavailable as unavailable:
            raise BadUserInput(field="studioId", reason=str(unavailable)) from None
        try:
            version = serving_version()
        except errors.NoActiveModel:
            return baseline
        row = studio_forecast_latest(studio_id=studio.pk, model_version_id=version.pk)
        if row is not None:
            baseline.latest_forecast = StudioForecastType.from_row(row, version.version)
        return baseline


@strawberry.type
class Mutation:
    @strawberry_django.mutation(
        permission_classes=[IsStaff],
        description="Forecast every studio (or one type) from its latest month with "
        "the active model, as chunks run by the Celery workers (staff only); poll "
        "the run with batchForecast. Without workers (no broker) the run has "
        "finished when this answers.",
    )
    def forecast_all(self, info: Info, input: ForecastAllInput) -> BatchForecastType:
        run = batch.batch_forecast_create(
            months=input.months,
            studio_type=input.studio_type.value if input.studio_type else "",
            chunk_size=input.chunk_size,
            user=info.context.request.user,
        )
        return batch.batch_forecast_get(run_id=run.pk)

    @strawberry_django.mutation(
        permission_classes=[IsStaff],
        description="Run a finished batch forecast's failed chunks again, and only "
        "those (staff only).",
    )
    def retry_batch_forecast(self, id: strawberry.ID) -> BatchForecastType:
        run_id = _run_id(id)
        try:
            run = batch.batch_forecast_retry(run_id=run_id)
        except errors.NotFound:
            raise NotFound(f"No batch forecast {run_id}.") from None
        return batch.batch_forecast_get(run_id=run.pk)
