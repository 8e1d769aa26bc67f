"""A Celery worker killed with SIGKILL mid-retrain: the job is noticed, queued
again, and finished by the next worker; nothing stays running or training.

The whole topology is real and the suite's own: a redis-server on a free port
as the broker, gunicorn queueing the retrain (``retrainModel``) and answering
the polls (``retrainJob``), and ``celery worker`` processes of
``tests.faults.celery_app`` (the product's tasks, with the model fit replaced
by a stand-in that takes a few seconds). The first worker's whole process group
is killed with SIGKILL while it trains, as an OOM kill or a lost machine would
end it; the heartbeat stops, the lease (3 s here) runs out, and the next poll
puts the job back in the queue; a new worker runs it to the end.
"""

import os
import signal
import time

import pytest

from forecasting.models import (
    ModelVersion,
    ModelVersionStatus,
    RetrainJob,
    RetrainJobStatus,
)
from tests.faults.processes import (
    RedisServer,
    base_env,
    database_url,
    free_port,
    start_celery_worker,
    start_gunicorn,
    stop,
)

pytestmark = pytest.mark.django_db(transaction=True)

HEARTBEAT_SECONDS = 0.5
LEASE_SECONDS = 3.0
TRAIN_SECONDS = 4.0
#: The lease, one poll interval and a margin for a loaded machine.
DETECTION_BOUND = LEASE_SECONDS + 5.0
RECOVERY_BOUND = 60.0

RETRAIN = """
mutation Retrain($input: RetrainJobCreateInput!) {
  retrainModel(input: $input) { jobId status }
}
"""
POLL = """
query Poll($id: ID!) {
  retrainJob(id: $id) { status attempts notes error modelVersion { version } }
}
"""


def wait_for(condition, *, seconds: float, what: str, logs=()):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(
        f"not {what} within {seconds} s\n"
        + "\n".join(p.read_text()[-2000:] for p in logs)
    )


def test_a_worker_killed_mid_retrain_loses_nothing(served, tmp_path, measured):
    token, _ = served
    broker = RedisServer(free_port()).start(tmp_path)
    env = base_env(
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=broker.url,
        RETRAIN_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
        RETRAIN_LEASE_SECONDS=str(LEASE_SECONDS),
        FAULTS_TRAIN_SECONDS=str(TRAIN_SECONDS),
        LOG_LEVEL="INFO",
    )
    server = start_gunicorn(tmp_path, env)
    first, first_log = start_celery_worker(tmp_path, env, "first")
    second = None
    polls = []

    def poll(job_id: str) -> dict:
        answer = server.post(POLL, {"id": job_id}, token=token)
        polls.append(answer)
        assert answer.status == 200, answer.body
        return answer.json()["data"]["retrainJob"]

    try:
        # given a retrain queued through the API and training on the first worker
        queued = server.post(
            RETRAIN, {"input": {"idempotencyKey": "nightly"}}, token=token
        )
        assert queued.status == 200, queued.body
        job_id = queued.json()["data"]["retrainModel"]["jobId"]
        job = wait_for(
            lambda: RetrainJob.objects.filter(
                pk=job_id,
                status=RetrainJobStatus.RUNNING,
                training_version__isnull=False,
            ).first(),
            seconds=60,
            what="training on the first worker",
            logs=[first_log],
        )
        lost_version = job.training_version
        time.sleep(2 * HEARTBEAT_SECONDS)

        # when its whole process group is killed
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.monotonic()

        # then while the lease runs the job is alive: a second retrain is refused
        refused = server.post(RETRAIN, {"input": {}}, token=token)
        assert refused.json()["errors"][0]["extensions"]["code"] == "ALREADY_RUNNING"

        # and once it has run out, a poll finds the job queued again
        requeued = wait_for(
            lambda: (p := poll(job_id))["status"] == "QUEUED" and p,
            seconds=DETECTION_BOUND + 5,
            what="queued again",
        )
        measured(
            "Celery worker killed (-9) mid-retrain",
            "job seen lost and queued again",
            time.monotonic() - killed_at,
            DETECTION_BOUND,
        )
        assert "stopped responding" in requeued["notes"]
        lost_version.refresh_from_db()
        assert lost_version.status == ModelVersionStatus.FAILED

        # and a retry of the original request with its key gets the same job
        retried = server.post(
            RETRAIN, {"input": {"idempotencyKey": "nightly"}}, token=token
        )
        assert retried.json()["data"]["retrainModel"]["jobId"] == job_id

        # and a new worker runs it to the end
        second, second_log = start_celery_worker(tmp_path, env, "second")
        started_at = time.monotonic()
        finished = wait_for(
            lambda: (p := poll(job_id))["status"] in ("SUCCEEDED", "FAILED") and p,
            seconds=RECOVERY_BOUND,
            what="finished by the second worker",
            logs=[second_log],
        )
        measured(
            "Celery worker killed (-9) mid-retrain",
            "finished by a new worker (incl. its start)",
            time.monotonic() - started_at,
            RECOVERY_BOUND,
        )
        assert finished["status"] == "SUCCEEDED", finished
        assert finished["attempts"] == 2
    finally:
        stop(server.process)
        for worker in (first, second):
            if worker is not None:
                stop(worker, group=True)
        broker.stop()

    assert all(p.status == 200 for p in polls)
    assert not ModelVersion.objects.filter(status=ModelVersionStatus.TRAINING).exists()
    assert RetrainJob.objects.count() == 1
