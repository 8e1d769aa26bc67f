"""PostgreSQL refusing, then hanging, in front of a real gunicorn: 503s, then recovery.

gunicorn (gunicorn.conf.py, two sync workers, persistent connections) reaches
the test database through :class:`tests.faults.proxy.TcpProxy`. The database
first refuses (the proxy closes its port and resets every connection), then
hangs (connections accepted, nothing answered, the open ones silent too). In
each phase every request must be answered with 200 or the documented 503
(GraphQL-shaped, ``Retry-After``) within its bound, and after each phase
service must come back within its bound. Saves are retried by the client with
an idempotency key until one is answered: at the end each key has exactly one
scenario, and nothing answered 200 is missing.
"""

import time
import uuid

import pytest

from forecasting.models import PredictionLog
from scenarios.models import Scenario
from tests.faults.processes import (
    base_env,
    database_address,
    database_url,
    start_gunicorn,
    stop,
)
from tests.faults.proxy import running_proxy

pytestmark = pytest.mark.django_db(transaction=True)

CONNECT_TIMEOUT = 2
STATEMENT_TIMEOUT = 1
#: A request may wait for the connection attempt and one read timeout
#: (statement timeout + 2 s) at most; the rest is margin for a loaded machine.
ANSWER_BOUND = CONNECT_TIMEOUT + STATEMENT_TIMEOUT + 2 + 3
RECOVERY_BOUND = 10.0
PHASE_SECONDS = 6.0
MAX_REQUESTS_PER_PHASE = 40

FORWARD = """
mutation Save($input: ScenarioSaveInput!) {
  saveScenario(input: $input) { scenarioId }
}
"""
PREDICT = """
query Predict($input: ForwardPredictionInput!) {
  forwardPrediction(input: $input) { predictionId totalProjectedRevenue }
}
"""


def server_env(proxy_port: int, **extra: str) -> dict[str, str]:
    return base_env(
        DATABASE_URL=database_url(host="127.0.0.1", port=proxy_port),
        DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
        DATABASE_STATEMENT_TIMEOUT=str(STATEMENT_TIMEOUT),
        CONN_MAX_AGE="60",
        GUNICORN_TIMEOUT="30",
        WEB_CONCURRENCY="2",
        **extra,
    )


class Client:
    """Predictions and idempotent saves, as a frontend would send them, with
    every answer kept."""

    def __init__(self, server, token: str, studios) -> None:
        self.server, self.token, self.studios = server, token, studios
        self.answers: list[tuple[str, object]] = []
        self.saved: dict[str, str] = {}  # idempotency key -> scenario id
        self.pending: list[dict] = []  # saves not yet answered 200

    def predict(self, index: int):
        studio = self.studios[index % len(self.studios)]
        answer = self.server.post(
            PREDICT,
            {
                "input": {
                    "studioId": str(studio.pk),
                    "levers": {"retentionRate": 0.8 + (index % 17) / 100},
                }
            },
            token=self.token,
        )
        self.answers.append(("predict", answer))
        if answer.status == 200 and index % 3 == 0:
            prediction = answer.json()["data"]["forwardPrediction"]["predictionId"]
            self.pending.append(
                {
                    "studioId": str(studio.pk),
                    "predictionId": prediction,
                    "scenarioName": f"plan {index}",
                    "idempotencyKey": str(uuid.uuid4()),
                }
            )
        return answer

    def save_pending(self) -> None:
        for save in list(self.pending):
            answer = self.server.post(FORWARD, {"input": save}, token=self.token)
            self.answers.append(("save", answer))
            if answer.status == 200:
                saved = answer.json()["data"]["saveScenario"]["scenarioId"]
                self.saved[save["idempotencyKey"]] = saved
                self.pending.remove(save)

    def health(self):
        answer = self.server.health()
        self.answers.append(("health", answer))
        return answer


def run_phase(client: Client, seconds: float, start_index: int) -> list:
    """Requests for ``seconds`` (at most MAX_REQUESTS_PER_PHASE); their answers."""
    first = len(client.answers)
    deadline = time.monotonic() + seconds
    for i in range(MAX_REQUESTS_PER_PHASE):
        if time.monotonic() > deadline:
            break
        client.predict(start_index + i)
        client.save_pending()
        if i % 4 == 0:
            client.health()
    return client.answers[first:]


def assert_only_documented_failures(answers, *, allowed: set[int]) -> None:
    for kind, answer in answers:
        assert answer.status in allowed, (kind, answer.status, answer.body[:300])
        if answer.status == 503 and kind != "health":
            assert answer.headers.get("retry-after") == "5"
            assert answer.error_codes() == ["SERVICE_UNAVAILABLE"], answer.body
        if answer.status == 200 and kind != "health":
            assert "INTERNAL_SERVER_ERROR" not in answer.error_codes(), answer.body


def time_to_recover(client: Client, start_index: int) -> float:
    started = time.monotonic()
    for i in range(200):
        if client.predict(start_index + i).status == 200:
            return time.monotonic() - started
        assert time.monotonic() - started < RECOVERY_BOUND * 2
        time.sleep(0.1)
    raise AssertionError("no recovery")


def test_a_database_that_refuses_then_hangs_is_answered_503_and_recovers(
    served, tmp_path, measured
):
    token, studios = served
    with running_proxy(*database_address()) as proxy:
        server = start_gunicorn(tmp_path, server_env(proxy.port))
        try:
            client = Client(server, token, studios)

            healthy = run_phase(client, 3.0, 0)
            assert_only_documented_failures(healthy, allowed={200})

            # refused: immediate 503s
            proxy.mode("refuse")
            refused = run_phase(client, PHASE_SECONDS, 100)
            assert_only_documented_failures(refused, allowed={503})
            measured(
                "PostgreSQL refuses",
                "slowest answer (503)",
                max(a.seconds for _, a in refused),
                ANSWER_BOUND,
            )
            proxy.mode("forward")
            measured(
                "PostgreSQL refuses",
                "recovery once it accepts again",
                time_to_recover(client, 200),
                RECOVERY_BOUND,
            )

            # hanging: 503s within the timeouts, no worker killed
            proxy.mode("blackhole")
            hung = run_phase(client, PHASE_SECONDS, 300)
            assert_only_documented_failures(hung, allowed={503})
            measured(
                "PostgreSQL hangs (blackholed)",
                "slowest answer (503)",
                max(a.seconds for _, a in hung),
                ANSWER_BOUND,
            )
            proxy.mode("forward")
            measured(
                "PostgreSQL hangs (blackholed)",
                "recovery once it answers again",
                time_to_recover(client, 400),
                RECOVERY_BOUND,
            )

            # the saves still waiting are retried with their keys until answered
            for _ in range(20):
                if not client.pending:
                    break
                client.save_pending()
            assert not client.pending
            assert_only_documented_failures(client.answers, allowed={200, 503})
            assert "WORKER TIMEOUT" not in server.log_text()
        finally:
            stop(server.process)

    # nothing lost: every answered prediction is logged, every key saved once
    predictions = [
        a.json()["data"]["forwardPrediction"]["predictionId"]
        for kind, a in client.answers
        if kind == "predict" and a.status == 200
    ]
    assert PredictionLog.objects.filter(pk__in=predictions).count() == len(predictions)
    keys = Scenario.objects.exclude(idempotency_key="").values_list(
        "idempotency_key", flat=True
    )
    assert sorted(keys) == sorted(client.saved)
    assert sorted(
        str(pk) for pk in Scenario.objects.values_list("pk", flat=True)
    ) == sorted(client.saved.values())


def test_workers_start_without_the_database_and_serve_once_it_is_back(
    served, tmp_path, measured
):
    token, studios = served
    with running_proxy(*database_address()) as proxy:
        # the database hangs while gunicorn starts (post_worker_init loads the model)
        proxy.mode("blackhole")
        started = time.monotonic()
        server = start_gunicorn(tmp_path, server_env(proxy.port))
        try:
            measured(
                "PostgreSQL hangs at start-up",
                "gunicorn up and answering",
                time.monotonic() - started,
                60.0,
            )
            health = server.health()
            assert health.status == 503
            assert health.json()["database"] == "unavailable"
            measured(
                "PostgreSQL hangs at start-up",
                "/health/ answer (503)",
                health.seconds,
                ANSWER_BOUND,
            )

            proxy.mode("forward")
            client = Client(server, token, studios)
            measured(
                "PostgreSQL hangs at start-up",
                "first prediction once it is back",
                time_to_recover(client, 0),
                RECOVERY_BOUND,
            )
            assert server.health().status == 200
            assert "Could not load the active model" in server.log_text()
        finally:
            stop(server.process)
