"""Retrain jobs over GraphQL (staff only): queue one, poll it, list recent ones.

Thin adapters over :mod:`forecasting.jobs` (``retrain_job_create``) and the
selectors (``retrain_job_get``, ``retrain_job_list``,
``retrain_job_estimated_completion``). The job row is the job's only state, so
polling reads the row, after ``retrain_jobs_reap`` has re-queued or failed the
jobs of lost workers: a poll never shows a dead job as running.
"""

import uuid
from datetime import datetime
from typing import Annotated, Self

import strawberry
import strawberry_django
from strawberry.types import Info

from forecasting import models
from forecasting.graphql.types import ModelVersionType
from forecasting.jobs import (
    MAX_WINDOW_MONTHS,
    MIN_WINDOW_MONTHS,
    retrain_job_create,
    retrain_jobs_reap,
)
from forecasting.selectors import (
    retrain_job_estimated_completion,
    retrain_job_get,
    retrain_job_list,
)
from studiosim import errors
from studiosim.graphql_errors import BadUserInput, NotFound
from studiosim.graphql_security import MAX_PAGE_SIZE, IsStaff

__all__ = [
    "Mutation",
    "Query",
    "RetrainJobCreateInput",
    "RetrainJobCreatePayload",
    "RetrainJobStatusEnum",
    "RetrainJobType",
    "RetrainStrategyEnum",
]

RetrainJobStatusEnum = strawberry.enum(
    models.RetrainJobStatus,
    name="RetrainJobStatus",
    description="QUEUED -> RUNNING -> SUCCEEDED | FAILED.",
)
RetrainStrategyEnum = strawberry.enum(
    models.RetrainStrategy,
    name="RetrainStrategy",
    description="FULL: a new model from the default hyperparameters. INCREMENTAL: "
    "the active version's hyperparameters refitted on each studio's latest months; "
    "it falls back to FULL when it cannot run (no active version, no usable "
    "hyperparameters recorded, or no studio with more history than the window).",
)


@strawberry_django.type(
    models.RetrainJob,
    name="RetrainJob",
    description="A request to retrain the forward model, and what became of it.",
)
class RetrainJobType:
    id: strawberry.ID
    status: RetrainJobStatusEnum
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int = strawberry_django.field(
        description="Runs started; above 1 only after a worker was lost mid-run."
    )
    previous_version: ModelVersionType | None = strawberry_django.field(
        description="The active version when the job started."
    )
    model_version: ModelVersionType | None = strawberry_django.field(
        description="The version the job trained, once it succeeded."
    )
    activated: bool = strawberry_django.field(
        description="Whether the job made its version the active one."
    )
    notes: str = strawberry_django.field(
        description="Why an INCREMENTAL request fell back to FULL, or why the new "
        "version was not activated."
    )

    @strawberry_django.field(only=["options"], description="The strategy requested.")
    def strategy(self, root: models.RetrainJob) -> RetrainStrategyEnum:
        return models.RetrainStrategy(
            root.options.get("strategy", models.RetrainStrategy.FULL)
        )

    @strawberry_django.field(
        only=["strategy_used"],
        description="The strategy that ran; null until the job starts.",
    )
    def strategy_used(self, root: models.RetrainJob) -> RetrainStrategyEnum | None:
        return (
            models.RetrainStrategy(root.strategy_used) if root.strategy_used else None
        )

    @strawberry_django.field(
        only=["options"],
        description="The window requested: each studio's latest N months. Null: "
        "all history for FULL, the default window for INCREMENTAL.",
    )
    def include_latest_months(self, root: models.RetrainJob) -> int | None:
        return root.options.get("include_latest_months")

    @strawberry_django.field(
        only=["options"], description="Whether activation was asked for."
    )
    def activate(self, root: models.RetrainJob) -> bool:
        return root.options.get("activate", False)

    @strawberry_django.field(only=["options"])
    def notify_on_completion(self, root: models.RetrainJob) -> bool:
        return root.options.get("notify_on_completion", False)

    @strawberry_django.field(
        only=["options"],
        description="The studio whose data prompted the retrain, if one was given "
        "(the model is global and always trains on every studio).",
    )
    def studio_id(self, root: models.RetrainJob) -> strawberry.ID | None:
        studio_id = root.options.get("studio_id")
        return None if studio_id is None else strawberry.ID(studio_id)

    @strawberry_django.field(
        only=["requested_by__username"],
        select_related=["requested_by"],
        description="Username of the requester; null for the system.",
    )
    def requested_by(self, root: models.RetrainJob) -> str | None:
        return root.requested_by.username if root.requested_by else None

    @strawberry_django.field(
        only=["started_at", "finished_at"],
        description="Wall time of the run in seconds, once it has finished.",
    )
    def duration_seconds(self, root: models.RetrainJob) -> float | None:
        duration = root.duration
        return None if duration is None else duration.total_seconds()

    @strawberry_django.field(
        only=["status", "options", "started_at"],
        description="For a queued or running job: its start (or now) plus the "
        "median wall time of the last 10 succeeded jobs of its strategy. Null once "
        "finished or before any such job has run.",
    )
    def estimated_completion(self, root: models.RetrainJob) -> datetime | None:
        return retrain_job_estimated_completion(job=root)

    @strawberry_django.field(
        only=["error_message"], description="Why the job failed; null otherwise."
    )
    def error(self, root: models.RetrainJob) -> str | None:
        return root.error_message or None


@strawberry.input(name="RetrainJobCreateInput")
class RetrainJobCreateInput:
    include_latest_months: int | None = strawberry.field(
        default=None,
        description=f"Train on each studio's latest N months, {MIN_WINDOW_MONTHS}-"
        f"{MAX_WINDOW_MONTHS} (a forecast needs 24 months of history, then come 6 "
        "validation and 6 test months). Null: all history for FULL, "
        f"{MIN_WINDOW_MONTHS} for INCREMENTAL.",
    )
    retrain_strategy: RetrainStrategyEnum = strawberry.field(
        default=models.RetrainStrategy.FULL
    )
    activate: bool = strawberry.field(
        default=False,
        description="Make the new version active if it passes its checks and the "
        "active version has not changed while the job ran.",
    )
    notify_on_completion: bool = strawberry.field(
        default=False,
        description="Email the outcome to the requester (who needs an email address).",
    )
    studio_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The studio whose data prompted the retrain; recorded only.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Any string of up to 100 printable ASCII characters (a UUID) "
        "unique to this request: sending the request again with the same key "
        "(after a timeout, say) returns the job the first one queued instead of "
        "queuing another.",
    )


@strawberry.type(name="RetrainJobCreatePayload")
class RetrainJobCreatePayload:
    job_id: strawberry.ID
    status: RetrainJobStatusEnum = strawberry.field(
        description="QUEUED with workers; already finished where jobs run in-process "
        "(no broker configured)."
    )
    estimated_completion: datetime | None = strawberry.field(
        description="As RetrainJob.estimatedCompletion."
    )
    job: RetrainJobType

    @classmethod
    def from_job(cls, job: models.RetrainJob) -> Self:
        return cls(
            job_id=strawberry.ID(str(job.pk)),
            status=models.RetrainJobStatus(job.status),
            estimated_completion=retrain_job_estimated_completion(job=job),
            job=job,
        )


@strawberry.type
class Query:
    @strawberry_django.field(
        permission_classes=[IsStaff],
        description="One retrain job, to poll its status (staff only).",
    )
    def retrain_job(self, id: strawberry.ID) -> RetrainJobType:
        try:
            job_id = uuid.UUID(str(id))
        except ValueError:
            raise BadUserInput(field="id", reason="is not a job id (a UUID)") from None
        retrain_jobs_reap()
        try:
            return retrain_job_get(job_id=job_id)
        except errors.NotFound:
            # Named after this field's argument rather than the selector's.
            raise NotFound(f"No retrain job {job_id}.") from None

    @strawberry_django.field(
        permission_classes=[IsStaff],
        description="Recent retrain jobs, most recently queued first (staff only).",
    )
    def retrain_jobs(
        self,
        status: RetrainJobStatusEnum | None = None,
        limit: Annotated[
            int, strawberry.argument(description=f"1-{MAX_PAGE_SIZE}.")
        ] = 20,
    ) -> list[RetrainJobType]:
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise BadUserInput(
                field="limit", reason=f"must be between 1 and {MAX_PAGE_SIZE}"
            )
        retrain_jobs_reap()
        return retrain_job_list(status=status)[:limit]


@strawberry.type
class Mutation:
    @strawberry_django.mutation(
        permission_classes=[IsStaff],
        description="Queue a retrain of the forward model (staff only) and return "
        "the job at once; poll it with retrainJob. A failed job leaves the active "
        "model untouched. ALREADY_RUNNING while another retrain is queued or "
        "running; a worker lost mid-run is noticed within a minute and its job "
        "queued again (or failed after its last attempt).",
    )
    def retrain_model(
        self, info: Info, input: RetrainJobCreateInput
    ) -> RetrainJobCreatePayload:
        job = retrain_job_create(
            user=info.context.request.user,
            include_latest_months=input.include_latest_months,
            strategy=input.retrain_strategy.value,
            activate=input.activate,
            notify_on_completion=input.notify_on_completion,
            studio_id=input.studio_id,
            idempotency_key=input.idempotency_key or "",
        )
        return RetrainJobCreatePayload.from_job(job)
