"""Celery tasks of the forecasting app: thin adapters over ``forecasting.jobs``."""

import logging

from celery import shared_task
from celery.signals import task_failure, worker_ready

from forecasting import batch, jobs
from forecasting.models import BatchForecastChunk
from studiosim.errors import NotFound

logger = logging.getLogger(__name__)

RETRAIN_TASK = "forecasting.retrain_job"


@shared_task(
    name=RETRAIN_TASK,
    # Acknowledged when the run returns, not when it starts, so a worker that
    # dies mid-run does not lose the job: Redis delivers it again after the
    # visibility timeout. retrain_job_run makes the redelivery harmless.
    acks_late=True,
    ignore_result=True,
    soft_time_limit=jobs.RETRAIN_SOFT_TIME_LIMIT,
    time_limit=jobs.RETRAIN_TIME_LIMIT,
)
def retrain_job_task(job_id: str) -> None:
    """Run one retrain job (idempotent: keyed by the job row)."""
    try:
        jobs.retrain_job_run(job_id=job_id)
    except NotFound:
        # The row was deleted (or its transaction never committed): nothing to do.
        logger.warning("Retrain job %s does not exist; task dropped.", job_id)


@task_failure.connect
def _record_retrain_failure(sender=None, exception=None, kwargs=None, **extra) -> None:
    """Mark the job failed when its run dies outside ``retrain_job_run``'s handling.

    Sent from the worker's main process when the hard time limit kills the run
    or the pool process is lost, which acknowledges the message (acks_late with
    the default acks_on_failure): without this the row would stay running.
    """
    if getattr(sender, "name", None) != RETRAIN_TASK or not kwargs:
        return
    job_id = kwargs.get("job_id")
    if job_id and jobs.retrain_job_fail(
        job_id=job_id, error=f"{type(exception).__name__}: {exception}"
    ):
        logger.error("Retrain job %s failed in its worker: %r", job_id, exception)


@worker_ready.connect
def _reap_lost_retrains(sender=None, **kwargs) -> None:
    """A starting worker re-queues (or fails) the jobs of workers that died: the
    usual moment a lost worker's job can be taken up again."""
    try:
        changed = jobs.retrain_jobs_reap()
    except Exception:
        logger.exception("Could not check for retrain jobs of lost workers")
        return
    if changed:
        logger.warning("Retrain jobs of lost workers taken up: %s", changed)


BATCH_CHUNK_TASK = "forecasting.batch_forecast_chunk"


@shared_task(
    name=BATCH_CHUNK_TASK,
    acks_late=True,
    # The chord's counter needs each header task's result.
    ignore_result=False,
    soft_time_limit=batch.CHUNK_SOFT_TIME_LIMIT,
    time_limit=batch.CHUNK_TIME_LIMIT,
)
def batch_forecast_chunk_task(chunk_id: int) -> dict:
    """Forecast one chunk of a batch run (idempotent: keyed by the chunk row)."""
    return batch.batch_forecast_chunk_run(chunk_id=chunk_id)


@shared_task(name="forecasting.batch_forecast_finish", ignore_result=True)
def batch_forecast_finish_task(run_id: str) -> None:
    """The chord's callback: finalise the run once its chunks are done."""
    batch.batch_forecast_finish(run_id=run_id)


@task_failure.connect
def _record_chunk_failure(sender=None, exception=None, args=None, kwargs=None, **extra):
    """Mark a chunk failed when its task dies outside the chunk's own handling
    (hard time limit, lost pool process), and finalise its run if it was the last."""
    if getattr(sender, "name", None) != BATCH_CHUNK_TASK:
        return
    chunk_id = (kwargs or {}).get("chunk_id") or (args[0] if args else None)
    if chunk_id is None:
        return
    if batch.batch_forecast_chunk_fail(
        chunk_id=chunk_id, error=f"{type(exception).__name__}: {exception}"
    ):
        run_id = (
            BatchForecastChunk.objects.filter(pk=chunk_id)
            .values_list("run_id", flat=True)
            .first()
        )
        if run_id is not None:
            batch.batch_forecast_finish(run_id=run_id)
