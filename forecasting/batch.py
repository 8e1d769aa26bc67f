"""Batch forecasts: every studio (or a filtered set) forecast as one job (SPEC §15).

A run is a :class:`~forecasting.models.BatchForecast` row with its studios split
into :class:`~forecasting.models.BatchForecastChunk` rows; the rows are the job's
state, Celery only carries ids. The life of a run:

``batch_forecast_create``
    Validates the options, pins the active model version, lists the studios,
    writes the run and its chunks, and once the transaction commits publishes a
    Celery chord: a group of ``forecasting.batch_forecast_chunk`` tasks (one per
    chunk, run by however many workers exist) whose callback,
    ``forecasting.batch_forecast_finish``, finalises the run. With no broker the
    Celery app is eager (the settings switch of retrain jobs) and the whole run
    has happened, in-process, when this returns.

``batch_forecast_chunk_run``
    Claims the chunk with a conditional UPDATE (a redelivered task finds it
    claimed and does nothing) and forecasts its studios on the library path:
    one ``history_frame`` query, ``ForwardModel.forecast_latest`` (the chunk's
    features as blocks of studios, the learners called once, one vectorised
    status quo), and one ``bulk_create`` of
    :class:`~forecasting.models.StudioForecast` rows. A studio that cannot be
    forecast is skipped and listed on the chunk with the reason; the chunk's CPU
    time is recorded. Any error is recorded on the chunk (failed, with the
    error) and the task returns normally, so the chord's callback still runs.

``batch_forecast_finish``
    Once no chunk is queued or running: the run's counts, and its status,
    succeeded when every chunk did, failed otherwise. Idempotent; polling a run
    whose callback was lost (a worker killed mid-chunk) finalises it too.

``batch_forecast_retry``
    Queues the failed chunks of a finished run again, and only them; a retried
    chunk replaces whatever rows it had written.

Forecasts are each studio's status quo from its latest month of data, with the
80% interval, as ``forecast_predict`` with no levers would answer (the numbers
agree to the cent). Each row keeps its run and model version, so the latest
forecast of a studio under the active version is one index probe
(:func:`forecasting.selectors.studio_forecast_latest`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta
from uuid import UUID

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from forecasting.ml.model import ForwardModel
from forecasting.models import (
    BatchForecast,
    BatchForecastChunk,
    BatchForecastStatus,
    ModelVersion,
    StudioForecast,
)
from forecasting.registry import model_load
from forecasting.selectors import (
    history_frame,
    model_version_active,
    no_active_model,
)
from studios.models import Studio, StudioType
from studiosim.errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)

DEFAULT_MONTHS = 3
DEFAULT_CHUNK_SIZE = 500
MAX_CHUNK_SIZE = 10_000
#: The interval stored with every batch forecast.
COVERAGE = 0.8
#: Seconds after which Celery stops a chunk (soft, recorded as failed) and kills
#: it; a chunk running for longer than the hard limit has lost its worker, and a
#: redelivery of its task may run it again.
CHUNK_SOFT_TIME_LIMIT = 10 * 60
CHUNK_TIME_LIMIT = 12 * 60

LIVE = [BatchForecastStatus.QUEUED, BatchForecastStatus.RUNNING]
FINISHED = [BatchForecastStatus.SUCCEEDED, BatchForecastStatus.FAILED]


# --- creating and retrying runs ------------------------------------------------------


def _validated(*, months: object, studio_type: object, chunk_size: object) -> None:
    for name, value, low, high in (
        ("months", months, 1, 12),
        ("chunk_size", chunk_size, 1, MAX_CHUNK_SIZE),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{name} must be a whole number", field=name)
        if not low <= value <= high:
            raise InvalidInput(
                f"{name} must be between {low} and {high:,}, not {value}", field=name
            )
    if studio_type and studio_type not in StudioType.values:
        raise InvalidInput(
            f"studio_type must be one of {', '.join(StudioType.values)}, "
            f"not {studio_type!r}",
            field="studio_type",
        )


def batch_forecast_create(
    *,
    months: int = DEFAULT_MONTHS,
    studio_type: str = "",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    user: AbstractBaseUser | AnonymousUser | None = None,
    enqueue: bool = True,
) -> BatchForecast:
    """Record a batch forecast of every studio (of ``studio_type``) and queue it.

    The active model version is pinned on the run, so activating another one
    while it runs does not mix versions. Raises :class:`InvalidInput` (naming
    the field) for months outside 1-12, a chunk size outside 1-10,000, an
    unknown studio type or no studio to forecast; :class:`NoActiveModel`
    without an active version. Whether the caller may (staff only) is the
    caller's check.

    With ``enqueue`` off the chunks are left queued for the caller to run
    (:func:`batch_forecast_run_here`). Otherwise the chord is published once the
    transaction commits; with no broker the run has finished when this returns
    (unless a transaction is still open).
    """
    _validated(months=months, studio_type=studio_type, chunk_size=chunk_size)
    version = model_version_active()
    if version is None:
        raise no_active_model()
    studios = Studio.objects.order_by("pk")
    if studio_type:
        studios = studios.filter(studio_type=studio_type)
    ids = [str(pk) for pk in studios.values_list("pk", flat=True)]
    if not ids:
        raise InvalidInput(
            "there is no studio to forecast"
            + (f" of type {studio_type}" if studio_type else ""),
            field="studio_type" if studio_type else None,
        )
    requester = user if user is not None and user.is_authenticated else None
    with transaction.atomic():
        run = BatchForecast.objects.create(
            model_version=version,
            months=months,
            studio_type=studio_type or "",
            chunk_size=chunk_size,
            studio_count=len(ids),
            chunk_count=(len(ids) + chunk_size - 1) // chunk_size,
            requested_by=requester,
        )
        chunks = BatchForecastChunk.objects.bulk_create(
            BatchForecastChunk(
                run=run, index=i, studio_ids=ids[start : start + chunk_size]
            )
            for i, start in enumerate(range(0, len(ids), chunk_size))
        )
    if enqueue:
        chunk_ids = [chunk.pk for chunk in chunks]
        transaction.on_commit(lambda: _dispatch(run.pk, chunk_ids))
        if not transaction.get_connection().in_atomic_block:
            run.refresh_from_db()
    return run


def batch_forecast_retry(*, run_id: UUID | str, enqueue: bool = True) -> BatchForecast:
    """Queue a finished run's failed chunks again, and only those.

    Raises :class:`NotFound` for an unknown run and :class:`InvalidInput` while
    the run still has chunks queued or running, or when none failed.
    """
    run = batch_forecast_get(run_id=run_id)
    batch_forecast_finish(run_id=run.pk)
    with transaction.atomic():
        run = BatchForecast.objects.select_for_update().get(pk=run.pk)
        chunks = BatchForecastChunk.objects.filter(run=run)
        if chunks.filter(status__in=LIVE).exists():
            raise InvalidInput(
                "the run still has chunks queued or running; retry once it has "
                "finished",
                field="id",
            )
        failed = list(
            chunks.filter(status=BatchForecastStatus.FAILED).values_list(
                "pk", flat=True
            )
        )
        if not failed:
            raise InvalidInput("the run has no failed chunk to retry", field="id")
        chunks.filter(pk__in=failed).update(
            status=BatchForecastStatus.QUEUED,
            error_message="",
            started_at=None,
            finished_at=None,
        )
        BatchForecast.objects.filter(pk=run.pk).update(
            status=BatchForecastStatus.RUNNING, finished_at=None, error_message=""
        )
    if enqueue:
        transaction.on_commit(lambda: _dispatch(run.pk, failed))
    if not transaction.get_connection().in_atomic_block:
        run.refresh_from_db()
    return run


def _dispatch(run_id: UUID, chunk_ids: list[int]) -> None:
    """Publish the chunks as a chord whose callback finalises the run."""
    from celery import chord

    from forecasting.tasks import batch_forecast_chunk_task, batch_forecast_finish_task

    try:
        chord(batch_forecast_chunk_task.si(chunk_id) for chunk_id in chunk_ids)(
            batch_forecast_finish_task.si(str(run_id))
        )
    except Exception as exc:
        logger.exception("Could not queue batch forecast %s", run_id)
        error = f"Could not queue the run: {type(exc).__name__}: {exc}"
        BatchForecastChunk.objects.filter(
            run_id=run_id, pk__in=chunk_ids, status=BatchForecastStatus.QUEUED
        ).update(
            status=BatchForecastStatus.FAILED,
            error_message=error,
            finished_at=timezone.now(),
        )
        batch_forecast_finish(run_id=run_id)


def batch_forecast_run_here(*, run_id: UUID | str) -> BatchForecast:
    """Run a run's queued chunks one after the other in this process, then
    finalise it (``forecast_all --in-process``, benchmarks)."""
    run = batch_forecast_get(run_id=run_id)
    # Loaded before the first chunk claims its rows, so the run's time is the
    # forecasting's (a worker process loads it in its first chunk instead).
    _model_for(run.model_version)
    for chunk_id in run.chunks.filter(status=BatchForecastStatus.QUEUED).values_list(
        "pk", flat=True
    ):
        batch_forecast_chunk_run(chunk_id=chunk_id)
    return batch_forecast_finish(run_id=run.pk)


def batch_forecast_get(*, run_id: UUID | str) -> BatchForecast:
    """One run; NotFound for an unknown or malformed id."""
    try:
        run_id = run_id if isinstance(run_id, UUID) else UUID(str(run_id))
        return BatchForecast.objects.select_related("model_version").get(pk=run_id)
    except (ValueError, BatchForecast.DoesNotExist):
        raise NotFound(f"no batch forecast {run_id}", field="id") from None


# --- running a chunk ---------------------------------------------------------------------

_model_lock = threading.Lock()
_model: tuple[int, str, ForwardModel] | None = None


def _model_for(version: ModelVersion) -> ForwardModel:
    """The version's model, loaded (checksums verified) once per process and version."""
    global _model
    with _model_lock:
        if _model is None or _model[:2] != (version.pk, version.artifact_sha256):
            _model = (version.pk, version.artifact_sha256, model_load(version))
        return _model[2]


def _claim(chunk_id: int) -> bool:
    now = timezone.now()
    lost = now - timedelta(seconds=CHUNK_TIME_LIMIT)
    return bool(
        BatchForecastChunk.objects.filter(pk=chunk_id)
        .filter(
            Q(status=BatchForecastStatus.QUEUED)
            | Q(status=BatchForecastStatus.RUNNING, started_at__lt=lost)
        )
        .update(
            status=BatchForecastStatus.RUNNING,
            started_at=now,
            finished_at=None,
            error_message="",
            attempts=F("attempts") + 1,
        )
    )


def batch_forecast_chunk_run(*, chunk_id: int) -> dict:
    """Forecast one chunk's studios once; a chunk already claimed is left alone.

    Returns ``{"chunk": id, "status": ..., "forecasts": n}``. A failure is
    recorded on the chunk and not raised.
    """
    if not _claim(chunk_id):
        status = (
            BatchForecastChunk.objects.filter(pk=chunk_id)
            .values_list("status", flat=True)
            .first()
        )
        return {"chunk": chunk_id, "status": status, "forecasts": 0}
    chunk = BatchForecastChunk.objects.select_related("run__model_version").get(
        pk=chunk_id
    )
    run = chunk.run
    BatchForecast.objects.filter(pk=run.pk, status=BatchForecastStatus.QUEUED).update(
        status=BatchForecastStatus.RUNNING, started_at=chunk.started_at
    )
    try:
        # Loaded (once per process) before the clock starts: the chunk's CPU
        # time is its forecasting's.
        _model_for(run.model_version)
        cpu = time.process_time()
        rows, skipped = _chunk_forecasts(chunk)
        with transaction.atomic():
            # A retried chunk replaces what an earlier attempt wrote.
            StudioForecast.objects.filter(
                run=run, studio_id__in=chunk.studio_ids
            ).delete()
            StudioForecast.objects.bulk_create(rows, batch_size=1000)
            BatchForecastChunk.objects.filter(pk=chunk.pk).update(
                status=BatchForecastStatus.SUCCEEDED,
                forecast_count=len(rows),
                skipped_count=len(skipped),
                skipped_studios=skipped,
                cpu_seconds=time.process_time() - cpu,
                finished_at=timezone.now(),
            )
    except Exception as exc:
        logger.exception("Batch forecast %s: chunk %s failed", run.pk, chunk.index)
        batch_forecast_chunk_fail(
            chunk_id=chunk.pk, error=f"{type(exc).__name__}: {exc}"
        )
        return {"chunk": chunk_id, "status": "failed", "forecasts": 0}
    return {"chunk": chunk_id, "status": "succeeded", "forecasts": len(rows)}


def batch_forecast_chunk_fail(*, chunk_id: int, error: str) -> bool:
    """Mark a chunk that has not finished as failed; False if it had finished."""
    return bool(
        BatchForecastChunk.objects.filter(pk=chunk_id, status__in=LIVE).update(
            status=BatchForecastStatus.FAILED,
            error_message=error[:2000],
            finished_at=timezone.now(),
        )
    )


def _chunk_forecasts(
    chunk: BatchForecastChunk,
) -> tuple[list[StudioForecast], list[dict[str, str]]]:
    """The chunk's forecasts, unsaved, and the studios skipped with the reason.

    One history query, and :meth:`ForwardModel.forecast_latest`: features for
    the chunk's studios at once, one learner pass, one vectorised status quo. A
    studio that cannot be forecast (no data, too short a history, data that
    breaks the frame contract) gets no row and is listed with the reason; the
    others are forecast.
    """
    run = chunk.run
    model = _model_for(run.model_version)
    frame = history_frame(studio_ids=chunk.studio_ids)
    if frame.empty:
        latest = None
        reasons: dict[str, str] = {}
    else:
        latest = model.forecast_latest(frame, run.months, COVERAGE)
        reasons = latest.skipped
    forecast = set(latest.unique_ids) if latest else set()
    skipped = [
        {
            "studio": studio_id,
            "reason": reasons.get(studio_id, "no monthly data"),
        }
        for studio_id in chunk.studio_ids
        if studio_id not in forecast
    ]
    if latest is None or not latest.unique_ids:
        return [], skipped
    result = latest.result
    revenue = np.round(result.revenue, 2)
    lower = np.round(result.revenue_lower, 2)
    upper = np.round(result.revenue_upper, 2)
    members = np.round(result.members, 1)
    confidence = np.round(result.confidence, 4)
    total = np.round(result.revenue.sum(axis=1), 2)
    growth = result.revenue[:, -1] / latest.base_revenue - 1.0
    now = timezone.now()
    rows = [
        StudioForecast(
            studio_id=uuid.UUID(studio_id),
            model_version_id=run.model_version_id,
            run_id=run.pk,
            base_month=latest.base_months[i].date(),
            months=run.months,
            revenue=revenue[i].tolist(),
            revenue_lower=lower[i].tolist(),
            revenue_upper=upper[i].tolist(),
            members=members[i].tolist(),
            confidence=confidence[i].tolist(),
            total_revenue=float(total[i]),
            growth_rate=float(growth[i]),
            created_at=now,
        )
        for i, studio_id in enumerate(latest.unique_ids)
    ]
    return rows, skipped


# --- finishing a run ---------------------------------------------------------------------


def batch_forecast_finish(*, run_id: UUID | str) -> BatchForecast:
    """Finalise the run once no chunk is queued or running (else leave it).

    Succeeded when every chunk did; failed, with how many chunks failed, when
    any did. A run already finished keeps its outcome and time.
    """
    totals = BatchForecastChunk.objects.filter(run_id=run_id).aggregate(
        live=Count("pk", filter=Q(status__in=LIVE)),
        failed=Count("pk", filter=Q(status=BatchForecastStatus.FAILED)),
        chunks=Count("pk"),
        forecasts=Sum("forecast_count"),
        skipped=Sum("skipped_count"),
    )
    if not totals["live"]:
        failed = totals["failed"]
        BatchForecast.objects.filter(pk=run_id, status__in=LIVE).update(
            status=BatchForecastStatus.FAILED
            if failed
            else BatchForecastStatus.SUCCEEDED,
            forecast_count=totals["forecasts"] or 0,
            skipped_count=totals["skipped"] or 0,
            failed_chunk_count=failed,
            finished_at=timezone.now(),
            error_message=f"{failed} of {totals['chunks']} chunks failed; retry them "
            "(forecast_all --retry RUN_ID, or the retryBatchForecast mutation)."
            if failed
            else "",
        )
    return batch_forecast_get(run_id=run_id)
