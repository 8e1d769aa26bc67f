"""retrainModel, retrainJob and retrainJobs: queue a retrain and poll it, staff only.

The job's state machine, strategies and activation are tested in
tests/forecasting/test_jobs.py; these tests hold the API to its shape, its
staff-only rule and its errors. Inside a test's transaction a queued job is
never published (that waits for the commit), so jobs stay queued here.
"""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from forecasting.models import (
    ModelVersionStatus,
    RetrainJob,
    RetrainJobStatus,
    RetrainStrategy,
)
from tests.api.conftest import covers, error_codes
from tests.factories import (
    ModelVersionFactory,
    RetrainJobFactory,
    StaffUserFactory,
    StudioFactory,
)

pytestmark = pytest.mark.django_db

JOB_FIELDS = """
    id status strategy strategyUsed includeLatestMonths activate notifyOnCompletion
    studioId requestedBy queuedAt startedAt finishedAt durationSeconds
    estimatedCompletion attempts activated notes error
    previousVersion { version }
    modelVersion { version status }
"""

RETRAIN_MODEL_MUTATION = f"""
mutation RetrainModel($input: RetrainJobCreateInput!) {{
  retrainModel(input: $input) {{
    jobId status estimatedCompletion
    job {{ {JOB_FIELDS} }}
  }}
}}
"""

RETRAIN_JOB_QUERY = f"""
query RetrainJob($id: ID!) {{
  retrainJob(id: $id) {{ {JOB_FIELDS} }}
}}
"""

RETRAIN_JOBS_QUERY = """
query RetrainJobs($status: RetrainJobStatus, $limit: Int! = 20) {
  retrainJobs(status: $status, limit: $limit) {
    id status queuedAt modelVersion { version }
  }
}
"""


@pytest.fixture
def ops(db):
    """A staff user with an email address, for notifications."""
    return StaffUserFactory(username="ops", email="ops@example.com")


def finished_job(*, minutes_ago: int, seconds: int, status=RetrainJobStatus.SUCCEEDED):
    """A FULL job that ran for ``seconds``, queued ``minutes_ago``."""
    queued = timezone.now() - dt.timedelta(minutes=minutes_ago)
    job = RetrainJobFactory(
        status=status,
        strategy_used=RetrainStrategy.FULL,
        started_at=queued,
        finished_at=queued + dt.timedelta(seconds=seconds),
        attempts=1,
        model_version=(
            ModelVersionFactory() if status == RetrainJobStatus.SUCCEEDED else None
        ),
        error_message="" if status == RetrainJobStatus.SUCCEEDED else "Boom: no data",
    )
    RetrainJob.objects.filter(pk=job.pk).update(queued_at=queued)
    job.refresh_from_db()
    return job


# --- retrainModel -------------------------------------------------------------------


@covers("allowed", "retrainModel")
def test_staff_queue_a_retrain_and_get_the_job_at_once(
    gql, ops, django_capture_on_commit_callbacks
):
    # given: a FULL retrain took 10 minutes before; one studio prompted this one
    finished_job(minutes_ago=60, seconds=600)
    studio = StudioFactory()
    active = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)

    # when
    with django_capture_on_commit_callbacks() as published:
        body = gql(ops).execute(
            RETRAIN_MODEL_MUTATION,
            {
                "input": {
                    "includeLatestMonths": 48,
                    "retrainStrategy": "INCREMENTAL",
                    "activate": True,
                    "notifyOnCompletion": True,
                    "studioId": str(studio.pk),
                }
            },
        )

    # then
    assert "errors" not in body
    payload = body["data"]["retrainModel"]
    job = RetrainJob.objects.get(pk=payload["jobId"])
    assert len(published) == 1  # the task is published once the request commits
    assert payload["status"] == "QUEUED"
    assert payload["job"] == {
        "id": str(job.pk),
        "status": "QUEUED",
        "strategy": "INCREMENTAL",
        "strategyUsed": None,
        "includeLatestMonths": 48,
        "activate": True,
        "notifyOnCompletion": True,
        "studioId": str(studio.pk),
        "requestedBy": "ops",
        "queuedAt": job.queued_at.isoformat(),
        "startedAt": None,
        "finishedAt": None,
        "durationSeconds": None,
        # No INCREMENTAL job has run yet to estimate from.
        "estimatedCompletion": None,
        "attempts": 0,
        "activated": False,
        "notes": "",
        "error": None,
        "previousVersion": None,
        "modelVersion": None,
    }
    assert payload["estimatedCompletion"] is None
    active.refresh_from_db()
    assert active.status == ModelVersionStatus.ACTIVE  # nothing has run yet


def test_a_second_retrain_while_one_is_queued_is_refused_as_already_running(
    gql, ops, django_capture_on_commit_callbacks
):
    client = gql(ops)
    with django_capture_on_commit_callbacks():
        first = client.execute(RETRAIN_MODEL_MUTATION, {"input": {}})

    second = client.execute(RETRAIN_MODEL_MUTATION, {"input": {}})

    job_id = first["data"]["retrainModel"]["jobId"]
    [error] = second["errors"]
    assert error["extensions"]["code"] == "ALREADY_RUNNING"
    assert job_id in error["message"]
    assert RetrainJob.objects.count() == 1


def test_a_retrain_retried_with_its_idempotency_key_returns_the_same_job(
    gql, ops, django_capture_on_commit_callbacks
):
    client = gql(ops)
    variables = {"input": {"activate": True, "idempotencyKey": "nightly-2024-06-01"}}
    with django_capture_on_commit_callbacks():
        first = client.execute(RETRAIN_MODEL_MUTATION, variables)

    again = client.execute(RETRAIN_MODEL_MUTATION, variables)

    assert "errors" not in again
    assert (
        again["data"]["retrainModel"]["jobId"] == first["data"]["retrainModel"]["jobId"]
    )
    assert RetrainJob.objects.count() == 1


def test_polling_a_job_whose_worker_died_shows_it_queued_again(gql, ops, settings):
    # given a running job silent for longer than the lease
    job = RetrainJobFactory(
        status=RetrainJobStatus.RUNNING,
        started_at=timezone.now() - dt.timedelta(minutes=5),
        heartbeat_at=timezone.now()
        - dt.timedelta(seconds=settings.RETRAIN_LEASE_SECONDS + 1),
        attempts=1,
    )

    # when it is polled
    body = gql(ops).execute(RETRAIN_JOB_QUERY, {"id": str(job.pk)})

    # then it is not shown as running
    polled = body["data"]["retrainJob"]
    assert polled["status"] == "QUEUED"
    assert "stopped responding" in polled["notes"]


def test_a_queued_job_is_estimated_from_recent_runs_of_its_strategy(gql, ops):
    # given
    finished_job(minutes_ago=60, seconds=600)
    before = timezone.now()

    # when
    body = gql(ops).execute(RETRAIN_MODEL_MUTATION, {"input": {}})

    # then
    payload = body["data"]["retrainModel"]
    estimate = dt.datetime.fromisoformat(payload["estimatedCompletion"])
    assert before + dt.timedelta(seconds=600) <= estimate
    assert estimate <= timezone.now() + dt.timedelta(seconds=600)
    assert payload["job"]["strategy"] == "FULL"
    assert payload["job"]["estimatedCompletion"] is not None


@covers("anonymous", "retrainModel")
def test_retrain_model_refuses_anonymous_callers(gql, db):
    response = gql().post(RETRAIN_MODEL_MUTATION, {"input": {}})

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert not RetrainJob.objects.exists()


@covers("denied", "retrainModel")
def test_studio_users_may_not_retrain(gql, owner):
    body = gql(owner).execute(RETRAIN_MODEL_MUTATION, {"input": {}})

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN"}
    assert not RetrainJob.objects.exists()


@covers("bad input", "retrainModel")
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"includeLatestMonths": 12}, "includeLatestMonths"),
        ({"includeLatestMonths": 601}, "includeLatestMonths"),
        ({"studioId": "studio-1"}, "studioId"),
        ({"studioId": str(uuid.UUID(int=1))}, "studioId"),
    ],
    ids=["window-12", "window-601", "malformed-studio", "unknown-studio"],
)
def test_retrain_model_names_the_refused_option(gql, ops, fields, field):
    body = gql(ops).execute(RETRAIN_MODEL_MUTATION, {"input": fields})

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert not RetrainJob.objects.exists()


def test_a_notification_needs_a_requester_with_an_email(gql, db):
    staff = StaffUserFactory(username="no-mail", email="")

    body = gql(staff).execute(
        RETRAIN_MODEL_MUTATION, {"input": {"notifyOnCompletion": True}}
    )

    [error] = body["errors"]
    assert error["extensions"]["field"] == "notifyOnCompletion"


def test_an_unknown_strategy_is_refused_before_execution(gql, ops):
    body = gql(ops).execute(
        RETRAIN_MODEL_MUTATION, {"input": {"retrainStrategy": "PARTIAL"}}
    )

    [error] = body["errors"]
    assert "PARTIAL" in error["message"]
    assert "RetrainStrategy" in error["message"]


# --- retrainJob ---------------------------------------------------------------------


@covers("allowed", "retrainJob")
def test_staff_poll_a_finished_job_with_its_timings_and_version(gql, ops):
    # given
    job = finished_job(minutes_ago=30, seconds=95)

    # when
    body = gql(ops).execute(RETRAIN_JOB_QUERY, {"id": str(job.pk)})

    # then
    polled = body["data"]["retrainJob"]
    assert polled["status"] == "SUCCEEDED"
    assert polled["strategyUsed"] == "FULL"
    assert polled["startedAt"] == job.started_at.isoformat()
    assert polled["finishedAt"] == job.finished_at.isoformat()
    assert polled["durationSeconds"] == 95.0
    assert polled["estimatedCompletion"] is None
    assert polled["modelVersion"] == {
        "version": job.model_version.version,
        "status": "READY",
    }
    assert polled["error"] is None


def test_a_failed_job_says_why(gql, ops):
    job = finished_job(minutes_ago=5, seconds=3, status=RetrainJobStatus.FAILED)

    body = gql(ops).execute(RETRAIN_JOB_QUERY, {"id": str(job.pk)})

    polled = body["data"]["retrainJob"]
    assert (polled["status"], polled["error"]) == ("FAILED", "Boom: no data")
    assert polled["modelVersion"] is None


@covers("anonymous", "retrainJob")
def test_retrain_job_refuses_anonymous_callers(gql, db):
    job = RetrainJobFactory()

    response = gql().post(RETRAIN_JOB_QUERY, {"id": str(job.pk)})

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


@covers("denied", "retrainJob")
def test_studio_users_may_not_read_retrain_jobs(gql, owner):
    job = RetrainJobFactory(requested_by=owner)

    body = gql(owner).execute(RETRAIN_JOB_QUERY, {"id": str(job.pk)})

    assert body["data"] is None
    assert error_codes(body) == ["FORBIDDEN"]


@covers("bad input", "retrainJob")
def test_retrain_job_refuses_an_id_that_is_not_a_uuid(gql, ops):
    body = gql(ops).execute(RETRAIN_JOB_QUERY, {"id": "17"})

    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "id",
        "reason": "is not a job id (a UUID)",
    }


def test_an_unknown_job_is_not_found(gql, ops):
    job_id = uuid.uuid4()

    body = gql(ops).execute(RETRAIN_JOB_QUERY, {"id": str(job_id)})

    [error] = body["errors"]
    assert error["extensions"] == {"code": "NOT_FOUND"}
    assert error["message"] == f"No retrain job {job_id}."


# --- retrainJobs --------------------------------------------------------------------


@covers("allowed", "retrainJobs")
def test_staff_list_recent_jobs_newest_first_by_status(gql, ops):
    # given
    old = finished_job(minutes_ago=90, seconds=60)
    failed = finished_job(minutes_ago=60, seconds=5, status=RetrainJobStatus.FAILED)
    new = finished_job(minutes_ago=30, seconds=60)
    queued = RetrainJobFactory()
    client = gql(ops)

    # when
    everything = client.execute(RETRAIN_JOBS_QUERY)
    succeeded = client.execute(RETRAIN_JOBS_QUERY, {"status": "SUCCEEDED"})
    latest = client.execute(RETRAIN_JOBS_QUERY, {"limit": 1})

    # then
    assert [j["id"] for j in everything["data"]["retrainJobs"]] == [
        str(queued.pk),
        str(new.pk),
        str(failed.pk),
        str(old.pk),
    ]
    assert [j["id"] for j in succeeded["data"]["retrainJobs"]] == [
        str(new.pk),
        str(old.pk),
    ]
    assert succeeded["data"]["retrainJobs"][0]["modelVersion"] == {
        "version": new.model_version.version
    }
    assert [j["id"] for j in latest["data"]["retrainJobs"]] == [str(queued.pk)]


def test_listing_jobs_with_their_versions_costs_the_same_queries_for_1_or_10(gql, ops):
    # given
    client = gql(ops)
    finished_job(minutes_ago=100, seconds=60)
    client.execute(RETRAIN_JOBS_QUERY)  # the token's first use writes last_used_at
    with CaptureQueriesContext(connection) as one:
        client.execute(RETRAIN_JOBS_QUERY)
    for minutes in range(9):
        finished_job(minutes_ago=minutes, seconds=60)

    # when
    with CaptureQueriesContext(connection) as ten:
        body = client.execute(RETRAIN_JOBS_QUERY)

    # then
    assert len(body["data"]["retrainJobs"]) == 10
    assert len(ten) == len(one)


@covers("anonymous", "retrainJobs")
def test_retrain_jobs_refuse_anonymous_callers(gql, db):
    response = gql().post(RETRAIN_JOBS_QUERY)

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


@covers("denied", "retrainJobs")
def test_studio_users_may_not_list_retrain_jobs(gql, owner):
    RetrainJobFactory()

    body = gql(owner).execute(RETRAIN_JOBS_QUERY)

    assert body["data"] is None
    assert error_codes(body) == ["FORBIDDEN"]


@covers("bad input", "retrainJobs")
@pytest.mark.parametrize("limit", [0, 101])
def test_retrain_jobs_refuse_a_limit_outside_1_to_100(gql, ops, limit):
    body = gql(ops).execute(RETRAIN_JOBS_QUERY, {"limit": limit})

    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "limit",
        "reason": "must be between 1 and 100",
    }
