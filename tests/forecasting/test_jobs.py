"""Retrain jobs: options, the state machine, idempotency, activation, notification."""

import datetime as dt
import importlib.util
import threading
import time
from pathlib import Path

import environ
import pytest
from celery import Celery
from celery.exceptions import TimeLimitExceeded
from celery.signals import task_failure
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from forecasting import jobs
from forecasting.jobs import (
    RETRAIN_TIME_LIMIT,
    RetrainAlreadyRunning,
    retrain_job_create,
    retrain_job_fail,
    retrain_job_run,
    retrain_jobs_reap,
)
from forecasting.models import (
    ModelVersion,
    ModelVersionStatus,
    RetrainJob,
    RetrainJobStatus,
    RetrainStrategy,
)
from forecasting.registry import clear_loaded_model
from forecasting.selectors import (
    retrain_job_estimated_completion,
    retrain_job_get,
    retrain_job_list,
)
from forecasting.services import ActivationRefused, model_version_activate
from forecasting.tasks import retrain_job_task
from studiosim.celery import app as celery_app
from studiosim.errors import InvalidInput, NotFound
from tests.factories import (
    ModelVersionFactory,
    MonthlyMetricFactory,
    StaffUserFactory,
    StudioFactory,
    SuperUserFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parents[2]

HEADLINE = {
    "test_mape_h1": 0.041,
    "test_rmse_h1": 5234.0,
    "test_r2_h1": 0.93,
    "test_directional_accuracy_h1": 0.71,
}


@pytest.fixture(autouse=True)
def eager_celery():
    """Run queued tasks in-process, whatever broker the environment configures.

    With REDIS_URL set (CI) the app publishes to Redis; these tests are about
    the job logic, the real worker has its own test (test_celery_worker.py).
    """
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def artifact_dir(settings, tmp_path):
    settings.MODEL_ARTIFACT_DIR = tmp_path
    clear_loaded_model()
    yield tmp_path
    clear_loaded_model()


class FakeTraining:
    """Stands in for model_train: registers a ready version, records each call."""

    def __init__(self):
        self.calls = []
        self.job_status_while_training = []
        self.error = None
        self.during = None

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        self.job_status_while_training.extend(
            RetrainJob.objects.values_list("status", flat=True)
        )
        if self.during is not None:
            self.during()
        if self.error is not None:
            raise self.error
        return ModelVersionFactory(
            metrics={"headline": HEADLINE},
            trained_at=timezone.now(),
            params={"random_state": 0},
        )


@pytest.fixture
def fake_training(monkeypatch):
    fake = FakeTraining()
    monkeypatch.setattr(jobs, "model_train", fake)
    return fake


@pytest.fixture
def staff():
    return StaffUserFactory(username="ops", email="ops@example.com")


def active_count() -> int:
    return ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE).count()


# --- creating a job ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"include_latest_months": 12}, "include_latest_months"),
        ({"include_latest_months": 601}, "include_latest_months"),
        ({"include_latest_months": True}, "include_latest_months"),
        ({"include_latest_months": "48"}, "include_latest_months"),
        ({"strategy": "PARTIAL"}, "strategy"),
        ({"strategy": "full"}, "strategy"),
        ({"activate": "yes"}, "activate"),
        ({"notify_on_completion": 1}, "notify_on_completion"),
        ({"studio_id": "not-a-uuid"}, "studio_id"),
        ({"studio_id": "6f1c1a56-0000-4000-8000-000000000000"}, "studio_id"),
    ],
)
def test_invalid_options_are_refused_naming_the_field(staff, options, field):
    with pytest.raises(InvalidInput) as refused:
        retrain_job_create(user=staff, **options)

    assert refused.value.field == field
    assert not RetrainJob.objects.exists()


def test_notification_needs_a_requester_with_an_email():
    user = UserFactory(email="")

    with pytest.raises(InvalidInput) as refused:
        retrain_job_create(user=user, notify_on_completion=True)

    assert refused.value.field == "notify_on_completion"


def test_create_saves_a_queued_row_and_publishes_only_after_commit(
    staff, monkeypatch, django_capture_on_commit_callbacks
):
    published = []
    monkeypatch.setattr(
        retrain_job_task, "apply_async", lambda **kw: published.append(kw)
    )
    studio = StudioFactory()

    with django_capture_on_commit_callbacks() as callbacks:
        job = retrain_job_create(
            user=staff,
            include_latest_months=48,
            strategy="INCREMENTAL",
            activate=True,
            notify_on_completion=True,
            studio_id=studio.pk,
        )
        # given the transaction has not committed, nothing is published yet
        assert published == []

    assert job.status == RetrainJobStatus.QUEUED
    assert job.requested_by == staff
    assert job.options == {
        "include_latest_months": 48,
        "strategy": "INCREMENTAL",
        "activate": True,
        "notify_on_completion": True,
        "studio_id": str(studio.pk),
    }
    assert len(callbacks) == 1
    callbacks[0]()
    assert published == [
        {"kwargs": {"job_id": str(job.pk)}, "task_id": job.celery_task_id}
    ]


def test_a_rolled_back_job_is_never_queued(staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        retrain_job_create(user=staff)
        transaction.set_rollback(True)

    assert callbacks == []
    assert not RetrainJob.objects.exists()


def test_an_unreachable_broker_fails_the_job_instead_of_leaving_it_queued(
    staff, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(**kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(retrain_job_task, "apply_async", refuse)

    with django_capture_on_commit_callbacks(execute=True):
        job = retrain_job_create(user=staff)

    job.refresh_from_db()
    assert job.status == RetrainJobStatus.FAILED
    assert "Could not queue the job" in job.error_message
    assert job.finished_at is not None


# --- running a job: the state machine ------------------------------------------


def test_eager_job_goes_queued_running_succeeded_in_process(
    staff, fake_training, django_capture_on_commit_callbacks
):
    previous = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)

    with django_capture_on_commit_callbacks(execute=True):
        job = retrain_job_create(user=staff)
        assert job.status == RetrainJobStatus.QUEUED

    job.refresh_from_db()
    assert fake_training.job_status_while_training == [RetrainJobStatus.RUNNING]
    assert job.status == RetrainJobStatus.SUCCEEDED
    assert job.attempts == 1
    assert job.strategy_used == RetrainStrategy.FULL
    assert job.previous_version == previous
    assert job.model_version.status == ModelVersionStatus.READY
    assert not job.activated
    assert job.started_at <= job.finished_at
    assert job.duration == job.finished_at - job.started_at
    assert job.error_message == ""
    # not asked to activate: the active version stays
    previous.refresh_from_db()
    assert previous.status == ModelVersionStatus.ACTIVE
    assert fake_training.calls == [
        {
            "activate": False,
            "include_latest_months": None,
            "params": None,
            "progress": fake_training.calls[0]["progress"],
            "tracking_tags": {
                "trigger": "retrain",
                "retrain_job": str(job.pk),
                "strategy": RetrainStrategy.FULL,
            },
            "on_version_created": fake_training.calls[0]["on_version_created"],
        }
    ]


@pytest.mark.parametrize(
    "status", [RetrainJobStatus.SUCCEEDED, RetrainJobStatus.FAILED]
)
def test_a_redelivered_task_for_a_finished_job_does_nothing(
    staff, fake_training, status
):
    job = retrain_job_create(user=staff, enqueue=False)
    fake_training.error = None if status == RetrainJobStatus.SUCCEEDED else ValueError()
    first = retrain_job_run(job_id=job.pk)
    assert first.status == status

    again = retrain_job_task.apply(kwargs={"job_id": str(job.pk)})

    assert again.successful()
    job.refresh_from_db()
    assert len(fake_training.calls) == 1
    assert (job.status, job.attempts, job.finished_at) == (
        status,
        1,
        first.finished_at,
    )


def test_a_redelivered_task_for_a_running_job_does_nothing(staff, fake_training):
    """Its worker is alive: its heartbeat is recent, however long it has run."""
    job = retrain_job_create(user=staff, enqueue=False)
    started = timezone.now() - dt.timedelta(minutes=5)
    RetrainJob.objects.filter(pk=job.pk).update(
        status=RetrainJobStatus.RUNNING,
        started_at=started,
        heartbeat_at=timezone.now(),
        attempts=1,
    )

    result = retrain_job_run(job_id=job.pk)

    assert fake_training.calls == []
    assert (result.status, result.attempts, result.started_at) == (
        RetrainJobStatus.RUNNING,
        1,
        started,
    )


def test_a_redelivered_task_for_a_job_whose_worker_went_silent_runs_it_again(
    staff, fake_training, settings
):
    # given a run whose last heartbeat is older than the lease, with the version
    # it was training left in 'training'
    job = retrain_job_create(user=staff, enqueue=False)
    lost = ModelVersionFactory(status=ModelVersionStatus.TRAINING)
    RetrainJob.objects.filter(pk=job.pk).update(
        status=RetrainJobStatus.RUNNING,
        started_at=timezone.now() - dt.timedelta(minutes=10),
        heartbeat_at=timezone.now()
        - dt.timedelta(seconds=settings.RETRAIN_LEASE_SECONDS + 5),
        attempts=1,
        training_version=lost,
    )

    # when the message is delivered again
    result = retrain_job_run(job_id=job.pk)

    # then it runs as attempt 2, and the lost run's version is failed
    assert len(fake_training.calls) == 1
    assert (result.status, result.attempts) == (RetrainJobStatus.SUCCEEDED, 2)
    assert "stopped responding" in result.notes
    lost.refresh_from_db()
    assert lost.status == ModelVersionStatus.FAILED
    assert "lost its worker" in lost.error_message


def test_a_failure_is_recorded_and_leaves_the_active_model_alone(staff, artifact_dir):
    # given an active version and no data to train on: the real model_train fails
    active = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    job = retrain_job_create(user=staff, activate=True, enqueue=False)

    job = retrain_job_run(job_id=job.pk)

    assert job.status == RetrainJobStatus.FAILED
    assert "no monthly data to train on" in job.error_message
    assert job.finished_at is not None
    assert job.model_version is None
    assert not job.activated
    active.refresh_from_db()
    assert active.status == ModelVersionStatus.ACTIVE
    assert active_count() == 1


def test_a_killed_run_is_marked_failed_by_the_task_failure_signal(staff):
    """A hard time limit or a lost pool process never reaches retrain_job_run's handler."""
    job = retrain_job_create(user=staff, enqueue=False)
    RetrainJob.objects.filter(pk=job.pk).update(
        status=RetrainJobStatus.RUNNING, started_at=timezone.now(), attempts=1
    )

    task_failure.send(
        sender=retrain_job_task._get_current_object(),
        task_id=job.celery_task_id,
        exception=TimeLimitExceeded(RETRAIN_TIME_LIMIT),
        args=(),
        kwargs={"job_id": str(job.pk)},
        traceback=None,
        einfo=None,
    )

    job.refresh_from_db()
    assert job.status == RetrainJobStatus.FAILED
    assert job.error_message.startswith("TimeLimitExceeded")
    # a finished job is never marked failed afterwards
    assert not retrain_job_fail(job_id=job.pk, error="late")


def test_a_task_for_a_missing_job_is_dropped(fake_training):
    result = retrain_job_task.apply(
        kwargs={"job_id": "6f1c1a56-0000-4000-8000-000000000000"}
    )

    assert result.successful()
    assert fake_training.calls == []


def test_selectors_get_list_and_estimate(staff, fake_training):
    done = retrain_job_run(job_id=retrain_job_create(user=staff, enqueue=False).pk)
    queued = retrain_job_create(user=staff, enqueue=False)

    assert list(retrain_job_list()) == [queued, done]
    assert list(retrain_job_list(status=RetrainJobStatus.SUCCEEDED)) == [done]
    assert retrain_job_get(job_id=str(done.pk)) == done
    with pytest.raises(NotFound):
        retrain_job_get(job_id="nope")
    estimate = retrain_job_estimated_completion(job=queued)
    assert estimate is not None and estimate >= timezone.now()
    assert retrain_job_estimated_completion(job=done) is None


# --- activation ---------------------------------------------------------------------


def test_the_new_version_is_activated_when_asked(staff, fake_training):
    previous = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    job = retrain_job_create(user=staff, activate=True, enqueue=False)

    job = retrain_job_run(job_id=job.pk)

    assert job.activated
    assert job.model_version.status == ModelVersionStatus.ACTIVE
    previous.refresh_from_db()
    assert previous.status == ModelVersionStatus.ARCHIVED


def test_a_version_failing_its_checks_is_not_activated_and_the_job_says_why(
    staff, fake_training, monkeypatch
):
    previous = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    monkeypatch.setattr(
        jobs,
        "model_train",
        lambda **kw: ModelVersionFactory(
            checks={"beats_baselines": {"passed": False, "detail": "naive wins"}}
        ),
    )
    job = retrain_job_create(user=staff, activate=True, enqueue=False)

    job = retrain_job_run(job_id=job.pk)

    assert job.status == RetrainJobStatus.SUCCEEDED
    assert not job.activated
    assert "Not activated" in job.notes and "beats_baselines" in job.notes
    previous.refresh_from_db()
    assert previous.status == ModelVersionStatus.ACTIVE


def test_a_version_activated_while_the_job_trains_is_not_replaced(staff, fake_training):
    """Someone activates another version (train_model, the admin) during the run."""
    original = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    job = retrain_job_create(user=staff, activate=True, enqueue=False)
    meanwhile = ModelVersionFactory(status=ModelVersionStatus.READY)

    def activate_another_while_training():
        model_version_activate(version=meanwhile, force_reason="test")

    fake_training.during = activate_another_while_training
    job = retrain_job_run(job_id=job.pk)

    assert job.status == RetrainJobStatus.SUCCEEDED
    assert not job.activated
    assert "active model changed while this job ran" in job.notes
    assert meanwhile.version in job.notes
    assert active_count() == 1
    assert ModelVersion.objects.get(status=ModelVersionStatus.ACTIVE) == meanwhile
    original.refresh_from_db()
    assert original.status == ModelVersionStatus.ARCHIVED


@pytest.mark.django_db(transaction=True)
def test_a_job_and_another_activation_at_the_same_moment_cannot_both_activate(
    monkeypatch,
):
    """Real concurrency: two threads, two connections, one row lock."""
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite serialises writers with one database lock and its in-memory "
            "test database is not shareable between threads; the test above "
            "covers the refusal on every backend"
        )
    active = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    user = StaffUserFactory()
    job_id = retrain_job_create(user=user, activate=True, enqueue=False).pk
    other = ModelVersionFactory(status=ModelVersionStatus.READY)
    trained = threading.Barrier(2, timeout=30)

    def train_then_wait(**kwargs):
        version = ModelVersionFactory()
        # The job has trained (and seen the same active version) before either
        # activates.
        trained.wait()
        return version

    monkeypatch.setattr(jobs, "model_train", train_then_wait)
    errors, outcomes = [], {}

    def run_job():
        try:
            retrain_job_run(job_id=job_id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def activate_other():
        try:
            trained.wait()
            jobs._activate_unless_superseded(
                version=other, expected_active_id=active.pk
            )
            outcomes["other"] = "activated"
        except ActivationRefused:
            outcomes["other"] = "refused"
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run_job),
        threading.Thread(target=activate_other),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    job = RetrainJob.objects.get(pk=job_id)
    assert job.status == RetrainJobStatus.SUCCEEDED
    assert sorted([job.activated, outcomes["other"] == "activated"]) == [False, True]
    assert active_count() == 1


# --- one live job at a time; lost workers -------------------------------------------


def test_a_second_retrain_is_refused_while_the_first_is_alive(staff, fake_training):
    first = retrain_job_create(user=staff, enqueue=False)

    with pytest.raises(RetrainAlreadyRunning, match=str(first.pk)):
        retrain_job_create(user=staff, enqueue=False)

    RetrainJob.objects.filter(pk=first.pk).update(
        status=RetrainJobStatus.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        attempts=1,
    )
    with pytest.raises(RetrainAlreadyRunning, match="already running"):
        retrain_job_create(user=staff, enqueue=False)
    assert RetrainJob.objects.count() == 1


def test_a_retrain_is_accepted_once_the_first_has_finished(staff, fake_training):
    first = retrain_job_create(user=staff, enqueue=False)
    retrain_job_run(job_id=first.pk)

    second = retrain_job_create(user=staff, enqueue=False)

    assert second.pk != first.pk
    assert second.status == RetrainJobStatus.QUEUED


def test_a_job_whose_worker_died_does_not_block_a_new_retrain(
    staff, fake_training, settings
):
    """Its last attempt is over: it is failed, its version too, and the new one
    is accepted."""
    settings.RETRAIN_MAX_ATTEMPTS = 1
    dead = retrain_job_create(user=staff, enqueue=False)
    lost = ModelVersionFactory(status=ModelVersionStatus.TRAINING)
    RetrainJob.objects.filter(pk=dead.pk).update(
        status=RetrainJobStatus.RUNNING,
        started_at=timezone.now() - dt.timedelta(minutes=5),
        heartbeat_at=timezone.now()
        - dt.timedelta(seconds=settings.RETRAIN_LEASE_SECONDS + 1),
        attempts=1,
        training_version=lost,
    )

    new = retrain_job_create(user=staff, enqueue=False)

    dead.refresh_from_db()
    lost.refresh_from_db()
    assert new.status == RetrainJobStatus.QUEUED
    assert dead.status == RetrainJobStatus.FAILED
    assert "stopped responding" in dead.error_message
    assert "giving up" in dead.error_message
    assert lost.status == ModelVersionStatus.FAILED


def test_a_request_beside_a_lost_run_requeues_it_and_is_refused(
    staff, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The lost run has attempts left: it is queued again (and stays so), and
    the new request is refused because of it."""
    monkeypatch.setattr(retrain_job_task, "apply_async", lambda **kw: None)
    lost = retrain_job_create(user=staff, enqueue=False)
    RetrainJob.objects.filter(pk=lost.pk).update(
        status=RetrainJobStatus.RUNNING,
        started_at=timezone.now() - dt.timedelta(minutes=2),
        heartbeat_at=timezone.now()
        - dt.timedelta(seconds=settings.RETRAIN_LEASE_SECONDS + 1),
        attempts=1,
    )

    with pytest.raises(RetrainAlreadyRunning, match="already queued"):
        retrain_job_create(user=staff, enqueue=False)

    lost.refresh_from_db()
    assert lost.status == RetrainJobStatus.QUEUED
    assert RetrainJob.objects.count() == 1


def test_the_reaper_requeues_a_lost_run_and_publishes_it(
    staff, settings, monkeypatch, django_capture_on_commit_callbacks
):
    published = []
    monkeypatch.setattr(
        retrain_job_task, "apply_async", lambda **kw: published.append(kw)
    )
    job = retrain_job_create(user=staff, enqueue=False)
    RetrainJob.objects.filter(pk=job.pk).update(
        status=RetrainJobStatus.RUNNING,
        started_at=timezone.now() - dt.timedelta(minutes=2),
        heartbeat_at=timezone.now()
        - dt.timedelta(seconds=settings.RETRAIN_LEASE_SECONDS + 1),
        attempts=1,
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert retrain_jobs_reap() == [job.pk]
        assert retrain_jobs_reap() == []  # once

    job.refresh_from_db()
    assert job.status == RetrainJobStatus.QUEUED
    assert job.started_at is None
    assert published == [
        {"kwargs": {"job_id": str(job.pk)}, "task_id": job.celery_task_id}
    ]


def test_a_job_never_picked_up_fails_after_the_queue_timeout(staff, settings):
    job = retrain_job_create(user=staff, enqueue=False)
    RetrainJob.objects.filter(pk=job.pk).update(
        queued_at=timezone.now()
        - dt.timedelta(seconds=settings.RETRAIN_QUEUE_TIMEOUT + 1)
    )

    assert retrain_jobs_reap() == [job.pk]

    job.refresh_from_db()
    assert job.status == RetrainJobStatus.FAILED
    assert "No worker started the job" in job.error_message


def test_a_run_declared_dead_that_wakes_up_records_nothing(
    staff, fake_training, settings
):
    """The run's worker was only frozen: by the time training ends, the job was
    re-queued; this run neither records its outcome nor activates."""
    ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    job = retrain_job_create(user=staff, activate=True, enqueue=False)

    def declared_dead_meanwhile():
        RetrainJob.objects.filter(pk=job.pk).update(
            heartbeat_at=timezone.now()
            - dt.timedelta(seconds=settings.RETRAIN_LEASE_SECONDS + 1)
        )
        retrain_jobs_reap()

    fake_training.during = declared_dead_meanwhile
    result = retrain_job_run(job_id=job.pk)

    assert result.status == RetrainJobStatus.QUEUED
    assert not result.activated
    assert active_count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_running_job_beats_from_its_own_thread(settings, monkeypatch):
    if connection.vendor == "sqlite":
        pytest.skip("the heartbeat writes from another thread and connection")
    settings.RETRAIN_HEARTBEAT_SECONDS = 0.2
    job_id = retrain_job_create(user=None, enqueue=False).pk
    beats = []

    def train_for_a_second(**kwargs):
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            beats.append(
                RetrainJob.objects.values_list("heartbeat_at", flat=True).get(pk=job_id)
            )
            time.sleep(0.1)
        return ModelVersionFactory()

    monkeypatch.setattr(jobs, "model_train", train_for_a_second)

    job = retrain_job_run(job_id=job_id)

    assert job.status == RetrainJobStatus.SUCCEEDED
    assert len(set(beats)) >= 3  # the first (the claim) and at least two beats


@pytest.mark.django_db(transaction=True)
def test_concurrent_retrain_requests_create_one_job():
    """Real concurrency on PostgreSQL: eight requests at once, one job."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite's in-memory test database is not shared between threads")
    user = StaffUserFactory()
    start = threading.Barrier(8, timeout=30)
    outcomes = []

    def request():
        try:
            start.wait()
            outcomes.append(retrain_job_create(user=user, enqueue=False).pk)
        except RetrainAlreadyRunning:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert outcomes.count("refused") == 7
    assert RetrainJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_idempotency_key_return_one_job():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite's in-memory test database is not shared between threads")
    user = StaffUserFactory()
    start = threading.Barrier(8, timeout=30)
    ids, errors = [], []

    def request():
        try:
            start.wait()
            ids.append(
                retrain_job_create(
                    user=user, idempotency_key="retry-me", enqueue=False
                ).pk
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(ids) == 8 and len(set(ids)) == 1
    assert RetrainJob.objects.count() == 1


def test_an_idempotency_key_returns_the_same_job_even_once_finished(
    staff, fake_training
):
    first = retrain_job_create(user=staff, idempotency_key="k-1", enqueue=False)
    retrain_job_run(job_id=first.pk)

    again = retrain_job_create(user=staff, idempotency_key="k-1", enqueue=False)

    assert again.pk == first.pk
    assert again.status == RetrainJobStatus.SUCCEEDED
    assert len(fake_training.calls) == 1


def test_an_idempotency_key_reused_for_other_options_is_refused(staff):
    retrain_job_create(user=staff, idempotency_key="k-2", enqueue=False)

    with pytest.raises(InvalidInput, match="different request") as refused:
        retrain_job_create(
            user=staff, idempotency_key="k-2", activate=True, enqueue=False
        )
    assert refused.value.field == "idempotency_key"


def test_idempotency_keys_are_each_users_own(staff, fake_training):
    first = retrain_job_create(user=staff, idempotency_key="k-3", enqueue=False)
    retrain_job_run(job_id=first.pk)

    other = retrain_job_create(
        user=StaffUserFactory(), idempotency_key="k-3", enqueue=False
    )

    assert other.pk != first.pk


# --- strategies -----------------------------------------------------------------------


def test_incremental_without_an_active_version_falls_back_to_full(staff, fake_training):
    job = retrain_job_create(user=staff, strategy="INCREMENTAL", enqueue=False)

    job = retrain_job_run(job_id=job.pk)

    assert job.status == RetrainJobStatus.SUCCEEDED
    assert job.strategy_used == RetrainStrategy.FULL
    assert (
        "fell back to FULL" in job.notes and "no model version is active" in job.notes
    )
    assert fake_training.calls[0]["params"] is None


def test_incremental_on_short_histories_falls_back_to_full(staff, fake_training):
    ModelVersionFactory(status=ModelVersionStatus.ACTIVE, params={"random_state": 3})
    MonthlyMetricFactory.create_batch(3, studio=StudioFactory())
    job = retrain_job_create(user=staff, strategy="INCREMENTAL", enqueue=False)

    job = retrain_job_run(job_id=job.pk)

    assert job.strategy_used == RetrainStrategy.FULL
    assert "no studio has more than 36 months" in job.notes


def test_incremental_reuses_the_active_hyperparameters_on_the_latest_window(
    staff, fake_training
):
    params = {"random_state": 3, "n_estimators": 100}
    ModelVersionFactory(status=ModelVersionStatus.ACTIVE, params=params)
    MonthlyMetricFactory.create_batch(40, studio=StudioFactory())
    job = retrain_job_create(
        user=staff, strategy="INCREMENTAL", include_latest_months=38, enqueue=False
    )

    job = retrain_job_run(job_id=job.pk)

    assert job.strategy_used == RetrainStrategy.INCREMENTAL
    assert job.notes == ""
    call = fake_training.calls[0]
    assert (call["include_latest_months"], call["params"]) == (38, params)


# --- notification -------------------------------------------------------------------


def test_the_requester_is_emailed_the_outcome_and_headline_metrics(
    staff, fake_training
):
    job = retrain_job_create(user=staff, notify_on_completion=True, enqueue=False)

    job = retrain_job_run(job_id=job.pk)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@example.com"]
    assert "succeeded" in message.subject
    assert job.model_version.version in message.subject
    assert "MAPE (month 1, test): 4.10%" in message.body
    assert "R² (month 1, test): 0.930" in message.body


def test_a_failed_job_emails_the_error(staff, fake_training):
    fake_training.error = RuntimeError("disk full")
    job = retrain_job_create(user=staff, notify_on_completion=True, enqueue=False)

    retrain_job_run(job_id=job.pk)

    assert "failed" in mail.outbox[0].subject
    assert "RuntimeError: disk full" in mail.outbox[0].body
    assert "The active model is unchanged." in mail.outbox[0].body


def test_no_email_unless_asked(staff, fake_training):
    retrain_job_run(job_id=retrain_job_create(user=staff, enqueue=False).pk)

    assert mail.outbox == []


def test_a_mail_failure_does_not_fail_the_job(staff, fake_training, monkeypatch):
    def broken(**kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(jobs, "send_mail", broken)
    job = retrain_job_create(user=staff, notify_on_completion=True, enqueue=False)

    job = retrain_job_run(job_id=job.pk)

    assert job.status == RetrainJobStatus.SUCCEEDED


# --- eager mode on the embedded default ---------------------------------------------


def _celery_conf_for(monkeypatch, **env):
    """The Celery configuration studiosim/settings.py gives in this environment."""
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # A developer's .env must not decide what the embedded default is.
    monkeypatch.setattr(environ.Env, "read_env", lambda *args, **kwargs: None)
    spec = importlib.util.spec_from_file_location(
        "settings_probe", BASE_DIR / "studiosim" / "settings.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    probe = Celery("probe", set_as_current=False)
    probe.config_from_object(module, namespace="CELERY")
    return probe.conf


@pytest.mark.smoke
def test_jobs_run_in_process_on_the_embedded_default_and_on_a_worker_otherwise(
    monkeypatch,
):
    embedded = _celery_conf_for(monkeypatch)
    with_redis = _celery_conf_for(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/0")

    assert embedded.task_always_eager
    assert not embedded.broker_url
    assert (with_redis.task_always_eager, with_redis.broker_url) == (
        False,
        "redis://127.0.0.1:6379/0",
    )
    assert with_redis.task_acks_late
    assert with_redis.broker_transport_options["visibility_timeout"] > (
        RETRAIN_TIME_LIMIT
    )


# --- manage.py retrain (real training) ------------------------------------------------


@pytest.mark.slow
def test_manage_py_retrain_runs_full_then_incremental_with_progress(
    artifact_dir, loaded_studios, capsys
):
    call_command("retrain", "--activate")
    out = capsys.readouterr().out

    full = RetrainJob.objects.get()
    assert "Fitting the global model" in out
    assert f"Retrain job {full.pk} succeeded" in out
    assert full.status == RetrainJobStatus.SUCCEEDED
    assert full.strategy_used == RetrainStrategy.FULL
    assert full.model_version.training_studio_count == len(loaded_studios)
    # with nothing active before, a version whose checks pass becomes active
    assert full.activated == (full.model_version.status == ModelVersionStatus.ACTIVE)

    active = full.model_version
    if not full.activated:
        model_version_activate(version=active, force_reason="small test data")
    call_command("retrain", "--strategy", "incremental")
    out = capsys.readouterr().out

    incremental = retrain_job_list().first()
    version = incremental.model_version
    assert incremental.strategy_used == RetrainStrategy.INCREMENTAL, incremental.notes
    assert "each studio's latest 36 months" in out
    assert version.params == active.params
    assert version.training_row_count == 36 * len(loaded_studios)
    assert not incremental.activated


def test_manage_py_retrain_fails_with_the_reason(artifact_dir):
    with pytest.raises(CommandError, match="no monthly data"):
        call_command("retrain")

    assert RetrainJob.objects.get().status == RetrainJobStatus.FAILED


def test_manage_py_retrain_refuses_bad_options_by_name(artifact_dir):
    with pytest.raises(CommandError, match="--include-latest-months"):
        call_command("retrain", "--include-latest-months", "12")
    with pytest.raises(CommandError, match="--notify needs --user"):
        call_command("retrain", "--notify")

    assert not RetrainJob.objects.exists()


# --- admin ------------------------------------------------------------------------------


def test_admin_lists_jobs_read_only(client, superuser, staff, fake_training):
    job = retrain_job_run(job_id=retrain_job_create(user=staff, enqueue=False).pk)
    client.force_login(superuser)

    changelist = client.get(
        reverse("admin:forecasting_retrainjob_changelist"),
        {"status__exact": "succeeded", "requested_strategy": "FULL"},
    )
    detail = client.get(reverse("admin:forecasting_retrainjob_change", args=[job.pk]))

    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count == 1
    assert "Retrain now" in changelist.content.decode()
    assert job.model_version.version in changelist.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.get(reverse("admin:forecasting_retrainjob_add")).status_code == 403


def test_admin_retrain_now_queues_through_the_service(
    client, superuser, fake_training, django_capture_on_commit_callbacks
):
    client.force_login(superuser)
    url = reverse("admin:forecasting_retrainjob_retrain")
    assert client.get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"strategy": "FULL", "include_latest_months": ""})

    assert response.status_code == 302
    job = RetrainJob.objects.get()
    assert job.requested_by == superuser
    assert job.status == RetrainJobStatus.SUCCEEDED


def test_admin_retrain_now_shows_option_errors(client):
    client.force_login(SuperUserFactory(username="no-mail", email=""))

    response = client.post(
        reverse("admin:forecasting_retrainjob_retrain"),
        {"strategy": "FULL", "notify_on_completion": "on"},
    )

    assert response.status_code == 200
    assert "needs a requester with an email address" in response.content.decode()
    assert not RetrainJob.objects.exists()


def test_admin_retrain_now_needs_the_permission(client):
    client.force_login(StaffUserFactory())

    response = client.get(reverse("admin:forecasting_retrainjob_retrain"))

    assert response.status_code == 403


def test_admin_compares_model_versions_side_by_side(client, superuser):
    better = ModelVersionFactory(
        metrics={"headline": {**HEADLINE, "test_mape_h1": 0.035}}
    )
    worse = ModelVersionFactory(
        metrics={"headline": HEADLINE},
        checks={"beats_baselines": {"passed": False, "detail": "naive wins"}},
    )
    client.force_login(superuser)

    response = client.post(
        reverse("admin:forecasting_modelversion_changelist"),
        {"action": "compare", "_selected_action": [better.pk, worse.pk]},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert better.version in html and worse.version in html
    assert '<td class="best">3.50%</td>' in html
    assert "<td>4.10%</td>" in html
    assert "FAILED" in html


def test_admin_compare_needs_two_versions(client, superuser):
    version = ModelVersionFactory()
    client.force_login(superuser)

    response = client.post(
        reverse("admin:forecasting_modelversion_changelist"),
        {"action": "compare", "_selected_action": [version.pk]},
        follow=True,
    )

    assert "Select between 2 and 8 versions" in response.content.decode()
