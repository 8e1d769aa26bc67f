"""Redis killed mid-load in front of a real gunicorn: slower, never broken.

The suite starts its own redis-server on a free port (never the shared one),
points gunicorn's cache at it with the in-process copies off (so every answer
goes through Redis), and sends predictions and studio reads from two threads
while Redis is killed with SIGKILL and, a few seconds later, started again on
the same port. Every request must be answered 200 with no
INTERNAL_SERVER_ERROR; /health/ says ``degraded`` (still 200) while Redis is
down and ``ok`` within the bound once it is back; every prediction answered is
in the log.
"""

import threading
import time

import pytest

from forecasting.models import PredictionLog
from tests.faults.processes import (
    RedisServer,
    base_env,
    database_url,
    free_port,
    start_gunicorn,
    stop,
)

pytestmark = pytest.mark.django_db(transaction=True)

PREDICT = """
query Predict($input: ForwardPredictionInput!) {
  forwardPrediction(input: $input) { predictionId totalProjectedRevenue }
}
"""
STUDIO = """
query Studio($id: ID!) {
  studio(id: $id) { name monthlyMetrics(lastMonths: 12) { monthYear totalRevenue } }
}
"""
#: With Redis refused, each cache call fails at once; a request makes a few.
SLOWEST_ANSWER_BOUND = 5.0
HEALTH_RECOVERY_BOUND = 5.0
MAX_REQUESTS = 400


def test_redis_killed_mid_load_slows_nothing_down_to_an_error(
    served, tmp_path, measured
):
    token, studios = served
    redis = RedisServer(free_port()).start(tmp_path)
    server = start_gunicorn(
        tmp_path,
        base_env(
            DATABASE_URL=database_url(),
            REDIS_URL=redis.url,
            CACHE_LOCAL_ENTRIES="0",
            WEB_CONCURRENCY="2",
        ),
    )
    answers: list[tuple[str, float, object]] = []
    stop_load = threading.Event()

    def load(offset: int) -> None:
        for i in range(MAX_REQUESTS):
            if stop_load.is_set():
                return
            studio = studios[(offset + i) % len(studios)]
            if i % 3 == 2:
                answer = server.post(STUDIO, {"id": str(studio.pk)}, token=token)
                kind = "studio"
            else:
                # half of them repeated plans (cache hits while Redis is up)
                retention = 0.85 if i % 2 else 0.8 + (i % 19) / 100
                answer = server.post(
                    PREDICT,
                    {
                        "input": {
                            "studioId": str(studio.pk),
                            "levers": {"retentionRate": retention},
                        }
                    },
                    token=token,
                )
                kind = "predict"
            answers.append((kind, time.monotonic(), answer))

    threads = [threading.Thread(target=load, args=(n * 7,)) for n in range(2)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(3)
        assert server.health().json()["cache"] == "ok"

        redis.kill()
        killed_at = time.monotonic()
        time.sleep(1)
        down = server.health()
        assert (down.status, down.json()["status"], down.json()["cache"]) == (
            200,
            "degraded",
            "unavailable",
        )
        time.sleep(4)

        redis.start(tmp_path)
        restarted_at = time.monotonic()
        for _ in range(100):
            if server.health().json()["cache"] == "ok":
                break
            time.sleep(0.1)
        measured(
            "Redis killed",
            "/health/ 'ok' again after Redis restarts",
            time.monotonic() - restarted_at,
            HEALTH_RECOVERY_BOUND,
        )
        time.sleep(2)
    finally:
        stop_load.set()
        for thread in threads:
            thread.join(timeout=60)
        stop(server.process)
        redis.stop()

    assert answers, "no load was sent"
    during = [a for _, at, a in answers if killed_at <= at <= restarted_at]
    assert len(during) >= 5, "too little load while Redis was down"
    for kind, _, answer in answers:
        assert answer.status == 200, (kind, answer.status, answer.body[:300])
        assert not answer.error_codes(), (kind, answer.body[:300])
    measured(
        "Redis killed",
        "slowest answer while Redis was down (200)",
        max(a.seconds for a in during),
        SLOWEST_ANSWER_BOUND,
    )
    predictions = [
        a.json()["data"]["forwardPrediction"]["predictionId"]
        for kind, _, a in answers
        if kind == "predict"
    ]
    assert PredictionLog.objects.filter(pk__in=predictions).count() == len(predictions)
