"""Retrain jobs: queue a retrain, run it once, record the outcome on the job row.

A job is a :class:`~forecasting.models.RetrainJob` row, and that row is its only
state; Celery just carries the job id to a worker. The life of a job:

``retrain_job_create``
    Validates the options, inserts the row (``queued``) and, once the current
    transaction commits, publishes ``forecasting.tasks.retrain_job_task``. A row
    that is rolled back is therefore never queued. With no broker configured the
    Celery app is eager and the task runs in-process at that moment.

``retrain_job_run``
    Claims the row with one conditional UPDATE (``queued`` -> ``running``); only
    the caller that changed the row trains. With Redis as the broker, a message
    not acknowledged within the visibility timeout is delivered again, and the
    task is acknowledged only once it returns (``acks_late``), so a long retrain
    can be delivered twice: the second delivery finds the row running or
    finished and does nothing.

While it runs, a thread beats: ``heartbeat_at`` is refreshed every
``RETRAIN_HEARTBEAT_SECONDS``. A running job silent for ``RETRAIN_LEASE_SECONDS``
has lost its worker (its main process killed, an OOM kill, a lost machine: the
cases where nothing else is told). :func:`retrain_jobs_reap` finds such jobs, marks
the version they were training failed, and puts each back in the queue (a new
attempt, republished) until ``RETRAIN_MAX_ATTEMPTS`` runs have started, then
marks it failed. A job still queued ``RETRAIN_QUEUE_TIMEOUT`` seconds after it was
(re)queued was never picked up (no worker, or its message was lost with the
broker) and is marked failed. The reaper runs whenever a job's state matters:
before a retrain is requested, when jobs are polled (API, admin), when a
delivery is about to run, and when a worker starts; so nobody ever sees a dead
job as running for longer than the lease. A run that was declared dead and
later wakes up finds it no longer owns the job: its outcome is not recorded and
its version is not activated (``attempts`` fences every write).

One retrain at a time: a request while a live job (queued, or running with a
fresh heartbeat) exists is refused with :class:`RetrainAlreadyRunning`; a
partial unique index makes that hold under concurrent requests too. A request
with an ``idempotency_key`` already used by the requester returns that job
(:mod:`studiosim.idempotency`).

Strategies (``RetrainStrategy``):

``FULL``
    Fit a new model from the default hyperparameters on every studio's whole
    history, or on each studio's latest ``include_latest_months`` months.
``INCREMENTAL``
    Update the active model with the latest data: refit with the *active
    version's* hyperparameters (seed included) on each studio's latest
    ``include_latest_months`` months (default :data:`INCREMENTAL_DEFAULT_MONTHS`),
    so the new version differs from the active one only by the data it saw, and
    fits on fewer rows. The LightGBM correction is not warm-started from the
    active version's trees: ``ForwardModel`` has no hook for continued boosting,
    and boosting more trees onto a moved window would stack corrections fitted to
    the overlapping months. It falls back to FULL, recorded in ``strategy_used``
    and ``notes``, when no version is active, when the active version's
    hyperparameters are not usable, or when no studio has more history than the
    window (the refit would then be a full one anyway).

Activation happens only when asked, under a lock on the active version's row,
and only if the active version is still the one that was active when the job
started: a version activated meanwhile (``train_model``, the admin) is never
silently replaced; the job's ``notes`` say why it did not activate. The registry's partial unique
constraint backs this up. As with ``train_model``, a version trained while no
version at all is active becomes active if its checks pass.

A failure marks the job failed with the error and leaves the active model as it
was: nothing is activated before training, evaluation and the artifacts succeed.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.mail import send_mail
from django.db import IntegrityError, connections, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from forecasting.ml.model import ForwardModel
from forecasting.models import (
    LIVE_STATUSES,
    ModelVersion,
    ModelVersionStatus,
    RetrainJob,
    RetrainJobStatus,
    RetrainStrategy,
)
from forecasting.selectors import model_version_active, retrain_job_get
from forecasting.services import ActivationRefused, model_train, model_version_activate
from studios.models import MonthlyMetric, Studio
from studiosim.database import batch_database_timeouts
from studiosim.errors import DomainError, InvalidInput
from studiosim.idempotency import (
    create_once,
    idempotency_key_clean,
    request_fingerprint,
    same_request,
)

logger = logging.getLogger(__name__)

#: Seconds after which Celery raises SoftTimeLimitExceeded inside a retrain (the
#: job is then recorded as failed), and after which it kills the run outright.
#: Keep both below the broker's visibility timeout (CELERY_VISIBILITY_TIMEOUT,
#: 3600 s by default), so a message is redelivered only once its run is over.
#: (A lost worker is detected much sooner, by the heartbeat.)
RETRAIN_SOFT_TIME_LIMIT = 40 * 60
RETRAIN_TIME_LIMIT = 45 * 60

#: The shortest window a model can be trained and evaluated on: the baselines
#: need 24 months of history before a base month, then come the 6 validation
#: and the 6 test months (forecasting.ml.evaluation).
MIN_WINDOW_MONTHS = 36
MAX_WINDOW_MONTHS = 600
INCREMENTAL_DEFAULT_MONTHS = MIN_WINDOW_MONTHS

HEADLINE_METRICS = {
    "test_mape_h1": "MAPE (month 1, test)",
    "test_rmse_h1": "RMSE (month 1, test)",
    "test_r2_h1": "R² (month 1, test)",
    "test_directional_accuracy_h1": "Directional accuracy (month 1, test)",
}

Progress = Callable[[str], None]


class RetrainAlreadyRunning(DomainError):
    """Another retrain is queued or running, and its worker is alive."""

    code = "ALREADY_RUNNING"


# --- creating a job -----------------------------------------------------------


def _validated_options(
    *,
    user: AbstractBaseUser | AnonymousUser | None,
    include_latest_months: int | None,
    strategy: str,
    activate: bool,
    notify_on_completion: bool,
    studio_id: UUID | str | None,
) -> dict:
    if include_latest_months is not None and (
        isinstance(include_latest_months, bool)
        or not isinstance(include_latest_months, int)
        or not MIN_WINDOW_MONTHS <= include_latest_months <= MAX_WINDOW_MONTHS
    ):
        raise InvalidInput(
            f"include_latest_months must be a whole number of months between "
            f"{MIN_WINDOW_MONTHS} and {MAX_WINDOW_MONTHS} (training and evaluation "
            f"need 24 months of history plus 12 validation and test months), "
            f"not {include_latest_months!r}",
            field="include_latest_months",
        )
    if strategy not in RetrainStrategy.values:
        raise InvalidInput(
            f"strategy must be one of {', '.join(RetrainStrategy.values)}, "
            f"not {strategy!r}",
            field="strategy",
        )
    for name, value in (
        ("activate", activate),
        ("notify_on_completion", notify_on_completion),
    ):
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false", field=name)
    if notify_on_completion and not getattr(user, "email", ""):
        raise InvalidInput(
            "notify_on_completion needs a requester with an email address",
            field="notify_on_completion",
        )
    if studio_id is not None:
        try:
            studio_id = UUID(str(studio_id))
        except ValueError:
            raise InvalidInput(
                f"studio_id {studio_id!r} is not a studio id", field="studio_id"
            ) from None
        if not Studio.objects.filter(pk=studio_id).exists():
            raise InvalidInput(f"no studio {studio_id}", field="studio_id")
    return {
        "include_latest_months": include_latest_months,
        "strategy": RetrainStrategy(strategy).value,
        "activate": activate,
        "notify_on_completion": notify_on_completion,
        "studio_id": None if studio_id is None else str(studio_id),
    }


def retrain_job_create(
    *,
    user: AbstractBaseUser | AnonymousUser | None,
    include_latest_months: int | None = None,
    strategy: str = RetrainStrategy.FULL,
    activate: bool = False,
    notify_on_completion: bool = False,
    studio_id: UUID | str | None = None,
    idempotency_key: str = "",
    enqueue: bool = True,
) -> RetrainJob:
    """Record a retrain request and queue it for a worker once the transaction commits.

    Parameters are the job's options (validated here; :class:`InvalidInput`
    names the field). ``user`` is the requester (``None`` for the system) and
    gets the email when ``notify_on_completion`` is set. ``studio_id``
    records the studio whose data prompted the retrain: the model is global and
    always trains on every studio. Whether the requester may retrain (staff
    only) is the caller's check.

    Raises :class:`RetrainAlreadyRunning` while another job is queued or running
    with its worker alive (dead ones are reaped first). With an
    ``idempotency_key`` the requester used before, returns that request's job,
    whatever its state (InvalidInput if the options differ).

    With ``enqueue`` off the row is left queued for the caller to run with
    :func:`retrain_job_run` (``manage.py retrain``). Otherwise the job is
    published after the surrounding transaction commits (never for a row that is
    rolled back); with no broker the Celery app is eager and the job has run by
    the time this returns, unless a transaction is still open. If the broker
    cannot be reached the job is marked failed rather than left queued forever.
    """
    options = _validated_options(
        user=user,
        include_latest_months=include_latest_months,
        strategy=strategy,
        activate=activate,
        notify_on_completion=notify_on_completion,
        studio_id=studio_id,
    )
    key = idempotency_key_clean(idempotency_key)
    requester = user if user is not None and user.is_authenticated else None
    fingerprint = request_fingerprint(options) if key else ""

    def existing() -> RetrainJob | None:
        if not key:
            return None
        return RetrainJob.objects.filter(
            requested_by=requester, idempotency_key=key
        ).first()

    def create() -> RetrainJob:
        live = RetrainJob.objects.filter(status__in=LIVE_STATUSES).first()
        if live is not None:
            raise _already_running(live)
        job = RetrainJob(
            requested_by=requester,
            options=options,
            idempotency_key=key,
            request_fingerprint=fingerprint,
        )
        if enqueue:
            job.celery_task_id = str(uuid.uuid4())
        # The constraints are the database's (two requests at once both pass
        # any check made here).
        job.full_clean(validate_constraints=False)
        job.save()
        return job

    # Jobs of lost workers first, outside the insert's savepoint: a refusal
    # below rolls that back, and must not undo the re-queueing with it.
    retrain_jobs_reap()
    try:
        job, created = create_once(
            existing=existing, fingerprint=fingerprint, create=create
        )
    except (IntegrityError, RetrainAlreadyRunning):
        # A concurrent request's job went live first: this request's own
        # earlier attempt (the same key), or another request.
        found = existing()
        if found is not None:
            return same_request(found, fingerprint=fingerprint)
        live = RetrainJob.objects.filter(status__in=LIVE_STATUSES).first()
        raise _already_running(live) from None
    if created and enqueue:
        # What Celery's delay_on_commit() does (transaction.on_commit(partial(
        # task.delay, ...)), celery/contrib/django/task.py), written out so the
        # message carries the task id stored on the row and a broker failure
        # is recorded on the job.
        transaction.on_commit(
            lambda: _publish(job_id=job.pk, task_id=job.celery_task_id)
        )
        if not transaction.get_connection().in_atomic_block:
            # Committed already, so the callback ran (and, eager, the job too).
            job.refresh_from_db()
    return job


def _already_running(live: RetrainJob | None) -> RetrainAlreadyRunning:
    if live is None:
        return RetrainAlreadyRunning("a retrain is already queued or running")
    return RetrainAlreadyRunning(
        f"a retrain is already {live.get_status_display().lower()} (job {live.pk}, "
        f"queued {live.queued_at:%Y-%m-%d %H:%M:%S %Z}); poll it with retrainJob, "
        "and ask again once it has finished"
    )


def _publish(*, job_id: UUID, task_id: str) -> None:
    from forecasting.tasks import retrain_job_task

    try:
        retrain_job_task.apply_async(kwargs={"job_id": str(job_id)}, task_id=task_id)
    except Exception as exc:
        logger.exception("Could not queue retrain job %s", job_id)
        retrain_job_fail(
            job_id=job_id, error=f"Could not queue the job: {type(exc).__name__}: {exc}"
        )


# --- running a job ------------------------------------------------------------


def _claim(job_id: UUID) -> bool:
    """Move the job to running if this caller is the one to run it.

    One UPDATE, so two deliveries racing for the same row cannot both win: the
    database serialises the writes and re-checks the condition.
    """
    now = timezone.now()
    claimed = RetrainJob.objects.filter(
        pk=job_id, status=RetrainJobStatus.QUEUED
    ).update(
        status=RetrainJobStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    return bool(claimed)


def _owned(job_id: UUID, attempt: int) -> bool:
    """Whether the run numbered ``attempt`` still owns the job (it was not
    declared dead and re-queued or failed meanwhile)."""
    return RetrainJob.objects.filter(
        pk=job_id, status=RetrainJobStatus.RUNNING, attempts=attempt
    ).exists()


class _Heartbeat:
    """Refresh the job's ``heartbeat_at`` every ``RETRAIN_HEARTBEAT_SECONDS`` from a
    thread of its own (its own database connection), while the run trains."""

    def __init__(self, job_id: UUID, attempt: int) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.interval = float(settings.RETRAIN_HEARTBEAT_SECONDS)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"retrain-heartbeat-{job_id}", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 10)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    if not self._beat():
                        logger.warning(
                            "Retrain job %s: attempt %s no longer owns the job "
                            "(declared dead); its outcome will not be recorded.",
                            self.job_id,
                            self.attempt,
                        )
                        return
                except Exception:
                    # The database down for a while: the lease decides.
                    logger.warning(
                        "Retrain job %s: heartbeat failed", self.job_id, exc_info=True
                    )
        finally:
            connections.close_all()  # this thread's own

    def _beat(self) -> bool:
        """One beat; False once the run no longer owns the job."""
        with transaction.atomic():
            # A row locked by the run itself (it is writing the job) is alive:
            # skip this beat rather than wait behind the lock.
            locked_out = not (
                RetrainJob.objects.select_for_update(skip_locked=True)
                .filter(pk=self.job_id)
                .exists()
            )
            if locked_out:
                return True
            return bool(
                RetrainJob.objects.filter(
                    pk=self.job_id,
                    status=RetrainJobStatus.RUNNING,
                    attempts=self.attempt,
                ).update(heartbeat_at=timezone.now())
            )


def retrain_jobs_reap() -> list[UUID]:
    """Re-queue or fail jobs whose worker is lost; the ids of the jobs changed.

    A running job whose heartbeat is older than ``RETRAIN_LEASE_SECONDS`` is put
    back in the queue (and republished) if fewer than ``RETRAIN_MAX_ATTEMPTS``
    runs have started, else failed; either way the version it was training is
    marked failed. A job queued for longer than ``RETRAIN_QUEUE_TIMEOUT`` is
    failed. Every change is a conditional UPDATE, so reapers running at once
    (two web processes polling) change each job once.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.RETRAIN_LEASE_SECONDS)
    changed: list[UUID] = []
    # A run started before heartbeats existed counts from its start.
    dead = (
        RetrainJob.objects.filter(status=RetrainJobStatus.RUNNING)
        .filter(
            Q(heartbeat_at__lt=now - lease)
            | Q(heartbeat_at__isnull=True, started_at__lt=now - lease)
        )
        .values_list(
            "pk", "attempts", "heartbeat_at", "started_at", "training_version_id"
        )
    )
    for job_id, attempts, heartbeat_at, started_at, version_id in dead:
        still_dead = RetrainJob.objects.filter(
            pk=job_id,
            status=RetrainJobStatus.RUNNING,
            attempts=attempts,
            heartbeat_at=heartbeat_at,
        )
        silent = (
            f"Attempt {attempts}'s worker stopped responding (no sign of life since "
            f"{heartbeat_at or started_at:%Y-%m-%d %H:%M:%S %Z}; lease "
            f"{settings.RETRAIN_LEASE_SECONDS:g} s)"
        )
        if attempts < settings.RETRAIN_MAX_ATTEMPTS:
            task_id = str(uuid.uuid4())
            requeued = still_dead.update(
                status=RetrainJobStatus.QUEUED,
                started_at=None,
                heartbeat_at=now,  # queued since
                celery_task_id=task_id,
                notes=_note_added(job_id, f"{silent}; queued again."),
            )
            if requeued:
                _version_lost(version_id)
                logger.warning("Retrain job %s: %s; queued again.", job_id, silent)
                changed.append(job_id)
                transaction.on_commit(
                    lambda job_id=job_id, task_id=task_id: _publish(
                        job_id=job_id, task_id=task_id
                    )
                )
        elif still_dead.update(
            status=RetrainJobStatus.FAILED,
            finished_at=now,
            error_message=f"{silent}; {attempts} attempts made, giving up. "
            "Request the retrain again.",
        ):
            _version_lost(version_id)
            logger.error("Retrain job %s: %s; failed.", job_id, silent)
            changed.append(job_id)
    queue_timeout = timedelta(seconds=settings.RETRAIN_QUEUE_TIMEOUT)
    stale = RetrainJob.objects.filter(status=RetrainJobStatus.QUEUED).filter(
        Q(heartbeat_at__lt=now - queue_timeout)
        | Q(heartbeat_at__isnull=True, queued_at__lt=now - queue_timeout)
    )
    for job_id in stale.values_list("pk", flat=True):
        if retrain_job_fail(
            job_id=job_id,
            error=f"No worker started the job within "
            f"{settings.RETRAIN_QUEUE_TIMEOUT:g} s of its queueing (no worker "
            "running, or the broker lost the message). Request the retrain again.",
        ):
            logger.error("Retrain job %s was never picked up; failed.", job_id)
            changed.append(job_id)
    return changed


def _note_added(job_id: UUID, note: str) -> str:
    notes = RetrainJob.objects.filter(pk=job_id).values_list("notes", flat=True).first()
    return "\n".join(filter(None, [notes, note]))


def _version_lost(version_id: int | None) -> None:
    if version_id is None:
        return
    ModelVersion.objects.filter(
        pk=version_id, status=ModelVersionStatus.TRAINING
    ).update(
        status=ModelVersionStatus.FAILED,
        error_message="The retrain job training this version lost its worker.",
    )


def _plan(
    options: dict, previous: ModelVersion | None
) -> tuple[str, int | None, dict | None, str]:
    """(strategy to run, window in months, model parameters, fallback note)."""
    window = options.get("include_latest_months")
    if options.get("strategy") != RetrainStrategy.INCREMENTAL:
        return RetrainStrategy.FULL, window, None, ""
    window = window or INCREMENTAL_DEFAULT_MONTHS
    known = set(ForwardModel().get_params())
    if previous is None:
        reason = "no model version is active, so there is nothing to update"
    elif not previous.params or not set(previous.params) <= known:
        reason = (
            f"the active version {previous.version} has no usable "
            "hyperparameters recorded"
        )
    else:
        longest = (
            MonthlyMetric.objects.values("studio_id")
            .annotate(months=Count("pk"))
            .aggregate(longest=Max("months"))["longest"]
            or 0
        )
        if longest > window:
            return RetrainStrategy.INCREMENTAL, window, dict(previous.params), ""
        reason = (
            f"no studio has more than {window} months of history, so the "
            "latest window is the whole history"
        )
    return (
        RetrainStrategy.FULL,
        options.get("include_latest_months"),
        None,
        f"INCREMENTAL fell back to FULL: {reason}.",
    )


def _activate_unless_superseded(
    *, version: ModelVersion, expected_active_id: int | None
) -> ModelVersion:
    """Activate ``version`` if the active version has not changed since the job began.

    The active row is locked first (``SELECT ... FOR UPDATE``; on SQLite the
    transaction takes the database's write lock at BEGIN), so of two jobs
    finishing together the second waits, then sees the first one's version and
    is refused. Raises :class:`ActivationRefused`.
    """
    with transaction.atomic():
        current = (
            ModelVersion.objects.select_for_update()
            .filter(status=ModelVersionStatus.ACTIVE)
            .first()
        )
        current_id = current.pk if current is not None else None
        if current_id != expected_active_id:
            # After waiting for the lock, PostgreSQL re-checks the locked row
            # (no longer active) but does not see a row activated meanwhile;
            # a new statement does.
            now_active = (
                ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE)
                .values_list("version", flat=True)
                .first()
            )
            raise ActivationRefused(
                f"the active model changed while this job ran (now: "
                f"{now_active or 'none'}); {version.version} was not activated over it"
            )
        return model_version_activate(version=version)


def _finish(job_id: UUID, attempt: int, **fields) -> bool:
    """Record the outcome, if this run still owns the job (``attempt`` fences it)."""
    return bool(
        RetrainJob.objects.filter(
            pk=job_id, status=RetrainJobStatus.RUNNING, attempts=attempt
        ).update(finished_at=timezone.now(), **fields)
    )


def retrain_job_run(
    *, job_id: UUID | str, progress: Progress | None = None
) -> RetrainJob:
    """Run a queued job once; a job already running or finished is left alone.

    Safe to call any number of times for the same job (the Celery task is
    delivered at least once): see the module docstring for the claim, and for
    what the strategies and activation do. ``progress`` receives the training's
    progress lines (default: this module's logger, so a worker logs them).
    Returns the job as it is after the call. Raises :class:`NotFound` for an
    unknown job.
    """
    job = retrain_job_get(job_id=job_id)
    say = progress or logger.info
    retrain_jobs_reap()  # a redelivery of a job whose worker died runs it again
    if not _claim(job.pk):
        job.refresh_from_db()
        say(
            f"Retrain job {job.pk}: already {job.get_status_display().lower()}; "
            "nothing to do."
        )
        return job

    job.refresh_from_db()
    attempt = job.attempts
    with _Heartbeat(job.pk, attempt), batch_database_timeouts():
        _run_claimed(job, attempt, say)
    job.refresh_from_db()
    if job.options.get("notify_on_completion") and job.attempts == attempt:
        _notify(job)
    return job


def _run_claimed(job: RetrainJob, attempt: int, say: Progress) -> None:
    """Train, activate if asked, and record the outcome, for the run ``attempt``."""
    previous = model_version_active()
    notes: list[str] = [job.notes] if job.notes else []

    def record_version(version: ModelVersion) -> None:
        RetrainJob.objects.filter(pk=job.pk, attempts=attempt).update(
            training_version=version
        )

    try:
        strategy, window, params, fallback = _plan(job.options, previous)
        RetrainJob.objects.filter(pk=job.pk).update(
            previous_version=previous, strategy_used=strategy
        )
        if fallback:
            notes.append(fallback)
            say(fallback)
        say(
            f"Job {job.pk}: {strategy} retrain on "
            + (f"each studio's latest {window} months" if window else "all history")
            + (f", with {previous.version}'s hyperparameters" if params else "")
            + "."
        )
        version = model_train(
            activate=False,
            include_latest_months=window,
            params=params,
            progress=say,
            tracking_tags={
                "trigger": "retrain",
                "retrain_job": str(job.pk),
                "strategy": strategy,
            },
            on_version_created=record_version,
        )
        if not _owned(job.pk, attempt):
            say("This run no longer owns the job (declared dead): not activating.")
        elif (
            job.options.get("activate") and version.status != ModelVersionStatus.ACTIVE
        ):
            try:
                version = _activate_unless_superseded(
                    version=version,
                    expected_active_id=previous.pk if previous is not None else None,
                )
                say(f"Activated {version.version}.")
            except ActivationRefused as refused:
                notes.append(f"Not activated: {refused}")
                say(f"Not activated: {refused}")
    except Exception as exc:
        logger.exception("Retrain job %s failed", job.pk)
        error = f"{type(exc).__name__}: {exc}"
        _finish(
            job.pk,
            attempt,
            status=RetrainJobStatus.FAILED,
            error_message=error,
            notes="\n".join(notes),
        )
        say(f"Failed: {error}")
    else:
        owned = _finish(
            job.pk,
            attempt,
            status=RetrainJobStatus.SUCCEEDED,
            model_version=version,
            activated=version.status == ModelVersionStatus.ACTIVE,
            notes="\n".join(notes),
        )
        if not owned:
            logger.warning(
                "Retrain job %s was taken over by a later attempt; its outcome "
                "(version %s) is not recorded on the job.",
                job.pk,
                version.version,
            )


def retrain_job_fail(*, job_id: UUID | str, error: str) -> bool:
    """Mark a job that has not finished as failed; False if it had finished.

    For failures outside :func:`retrain_job_run`: the broker unreachable at
    queueing time, or the worker process killed (hard time limit, lost worker).
    """
    now = timezone.now()
    version_id = (
        RetrainJob.objects.filter(pk=job_id)
        .values_list("training_version_id", flat=True)
        .first()
    )
    failed = RetrainJob.objects.filter(pk=job_id, status__in=LIVE_STATUSES).update(
        status=RetrainJobStatus.FAILED, finished_at=now, error_message=error
    )
    if failed:
        _version_lost(version_id)
    return bool(failed)


# --- notification -------------------------------------------------------------


def _format_metric(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if name in {"test_mape_h1", "test_directional_accuracy_h1"}:
        return f"{value:.2%}"
    if name == "test_rmse_h1":
        return f"{value:,.0f}"
    return f"{value:.3f}"


def _notify(job: RetrainJob) -> None:
    """Email the requester the outcome; a mail failure never fails the job."""
    user = job.requested_by
    if user is None or not user.email:
        return
    outcome = job.get_status_display().lower()
    lines = [
        f"Retrain job {job.pk} {outcome}.",
        "",
        f"Strategy: {job.options.get('strategy')} requested, "
        f"{job.strategy_used or 'none'} ran.",
        f"Queued {job.queued_at:%Y-%m-%d %H:%M:%S %Z}; took "
        f"{job.duration.total_seconds():.0f} s."
        if job.duration is not None
        else f"Queued {job.queued_at:%Y-%m-%d %H:%M:%S %Z}.",
    ]
    version = job.model_version
    if job.status == RetrainJobStatus.FAILED:
        lines += ["", f"Error: {job.error_message}", "The active model is unchanged."]
    elif version is not None:
        headline = (version.metrics or {}).get("headline", {})
        lines += [
            "",
            f"New version: {version.version} "
            f"({'active' if job.activated else version.get_status_display().lower()})",
            *(
                f"  {label}: {_format_metric(name, headline.get(name))}"
                for name, label in HEADLINE_METRICS.items()
            ),
            "Checks: "
            + ", ".join(
                f"{name} {'passed' if check.get('passed') else 'FAILED'}"
                for name, check in (version.checks or {}).items()
            ),
        ]
    if job.notes:
        lines += ["", job.notes]
    try:
        send_mail(
            subject=f"[studiosim] Retrain {outcome}"
            + (f": {version.version}" if version is not None else ""),
            message="\n".join(lines),
            from_email=None,
            recipient_list=[user.email],
        )
    except Exception:
        logger.exception("Could not email the outcome of retrain job %s", job.pk)
