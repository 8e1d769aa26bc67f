"""Celery tasks of the forecasting app: thin adapters over ``forecasting.jobs``."""

import logging

from celery import shared_task
from celery.signals import task_failure, worker_ready

from forecasting import jobs
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
