"""An LLM endpoint failing every way it can, behind a real gunicorn.

A fake OpenAI-compatible server (a thread of this process on a free port)
answers ``generateInsights``' chat completions as told: it hangs, answers 500,
an HTML page, truncated JSON, a JSON array, a refusal, or valid advice with a
figure the model never gave. Each time the API must answer 200 within the
configured budget (OPENAI_TIMEOUT, 2 s here) plus a margin, with the rule-based
insights (``source: "rules"``) or, for the wrong figure, the advice without it.
While two requests wait on a hanging LLM, /health/ is answered at once by the
third worker.
"""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.faults.processes import base_env, database_url, start_gunicorn, stop

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET = 2.0
ANSWER_BOUND = BUDGET + 3.0  # the rules themselves, and a loaded machine
HEALTH_BOUND = 1.5

VALID = {
    "tips": ["Call members who skipped two weeks. This adds $98,765 a month."],
    "obstacles": ["Instructors already teach most peak slots."],
    "extra_tactics": [],
}
COMPLETION = {
    "id": "chatcmpl-fake",
    "object": "chat.completion",
    "created": 0,
    "model": "fake-model",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": json.dumps(VALID)},
            "finish_reason": "stop",
        }
    ],
}
REFUSAL = {
    **COMPLETION,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "refusal": "No."},
            "finish_reason": "stop",
        }
    ],
}
#: mode -> (status, content type, body); "hang" sleeps past any budget.
MODES = {
    "hang": (200, "application/json", json.dumps(COMPLETION).encode()),
    "http-500": (500, "application/json", b'{"error": {"message": "boom"}}'),
    "html-page": (200, "text/html", b"<html><body>Bad gateway</body></html>"),
    "truncated-json": (200, "application/json", json.dumps(COMPLETION).encode()[:60]),
    "json-array": (200, "application/json", b"[1, 2]"),
    "refusal": (200, "application/json", json.dumps(REFUSAL).encode()),
}

INSIGHTS = """
mutation Insights($id: ID!) {
  generateInsights(scenarioId: $id) { source tips nextBestActions { action } }
}
"""
PREDICT = """
query Predict($input: ForwardPredictionInput!) {
  forwardPrediction(input: $input) { predictionId }
}
"""
SAVE = """
mutation Save($input: ScenarioSaveInput!) { saveScenario(input: $input) { scenarioId } }
"""


class FakeLlm:
    def __init__(self) -> None:
        self.mode = "hang"
        self.requests = 0
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests += 1
                if fake.mode == "hang":
                    fake.release.wait(timeout=30)
                if fake.mode == "wrong-figure":
                    status, kind, body = (
                        200,
                        "application/json",
                        json.dumps(COMPLETION).encode(),
                    )
                else:
                    status, kind, body = MODES[fake.mode]
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_llm():
    fake = FakeLlm()
    yield fake
    fake.close()


def test_every_llm_failure_falls_back_to_the_rules_within_the_budget(
    served, tmp_path, fake_llm, measured
):
    token, studios = served
    server = start_gunicorn(
        tmp_path,
        base_env(
            DATABASE_URL=database_url(),
            OPENAI_API_KEY="sk-fake",
            OPENAI_MODEL="fake-model",
            OPENAI_BASE_URL=fake_llm.url,
            OPENAI_TIMEOUT=str(BUDGET),
            OPENAI_COOLDOWN="0",
        ),
        workers=3,
    )
    try:
        predicted = server.post(
            PREDICT, {"input": {"studioId": str(studios[0].pk)}}, token=token
        )
        saved = server.post(
            SAVE,
            {
                "input": {
                    "studioId": str(studios[0].pk),
                    "predictionId": predicted.json()["data"]["forwardPrediction"][
                        "predictionId"
                    ],
                    "scenarioName": "LLM faults",
                }
            },
            token=token,
        )
        scenario = saved.json()["data"]["saveScenario"]["scenarioId"]

        def insights():
            return server.post(INSIGHTS, {"id": scenario}, token=token)

        # a hanging LLM holds two workers for the budget; /health/ is answered
        with ThreadPoolExecutor(max_workers=2) as pool:
            waiting = [pool.submit(insights) for _ in range(2)]
            time.sleep(0.5)
            health = server.health()
            answers = [w.result(timeout=30) for w in waiting]
        assert health.status == 200
        measured(
            "LLM hangs",
            "/health/ while two requests wait on it",
            health.seconds,
            HEALTH_BOUND,
        )
        slowest = 0.0
        for answer in answers:
            assert answer.status == 200, answer.body
            assert answer.json()["data"]["generateInsights"]["source"] == "rules"
            slowest = max(slowest, answer.seconds)
        measured("LLM hangs", "generateInsights answer (rules)", slowest, ANSWER_BOUND)
        fake_llm.release.set()

        # every other failure: the rules, at once
        for mode in MODES:
            if mode == "hang":
                continue
            fake_llm.mode = mode
            before = fake_llm.requests
            answer = insights()
            assert answer.status == 200, (mode, answer.body)
            body = answer.json()
            assert "errors" not in body, (mode, body)
            assert body["data"]["generateInsights"]["source"] == "rules", mode
            assert body["data"]["generateInsights"]["nextBestActions"], mode
            assert fake_llm.requests > before, f"{mode}: the LLM was not asked"
            measured(
                f"LLM answers {mode}",
                "generateInsights answer (rules)",
                answer.seconds,
                ANSWER_BOUND,
            )

        # valid advice with a figure the model never gave: the figure's sentence goes
        fake_llm.mode = "wrong-figure"
        answer = insights()
        result = answer.json()["data"]["generateInsights"]
        assert result["source"] == "fake-model"
        assert result["tips"] == ["Call members who skipped two weeks."]
    finally:
        stop(server.process)
