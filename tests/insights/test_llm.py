"""The LLM enhancement, driven through the real openai SDK against a local stub server.

The stub speaks the OpenAI chat-completions protocol on 127.0.0.1; nothing here
reaches the internet.
"""

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache

from forecasting.services import forecast_predict
from insights import llm
from insights.llm import ADVICE_SCHEMA, LlmUnavailable, advice_parse, advice_request
from insights.services import LLM_COOLDOWN_KEY, insights_generate
from scenarios.services import scenario_save

VALID_ANSWER = {
    "tips": ["Call members who skipped two weeks before the summer timetable starts."],
    "obstacles": ["Instructors already teach most peak slots."],
    "extra_tactics": [
        {
            "name": "Bring-a-friend Saturdays",
            "lever": "new_members_monthly",
            "description": "Members bring a friend free to the Saturday class.",
        }
    ],
}


@dataclass
class Stub:
    """What the stub answers next, and every request it received."""

    url: str
    status: int = 200
    content: str = json.dumps(VALID_ANSWER)
    delay: float = 0.0
    #: A whole response body to send instead of a chat completion.
    raw: bytes | None = None
    content_type: str = "application/json"
    requests: list[dict] = field(default_factory=list)


@pytest.fixture
def stub(settings, monkeypatch):
    handler_state: dict[str, Stub] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            current = handler_state["stub"]
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            current.requests.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "body": body,
                }
            )
            time.sleep(current.delay)
            if current.status != 200:
                payload = {"error": {"message": "boom", "type": "server_error"}}
            else:
                payload = {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": current.content,
                            },
                            "finish_reason": "stop",
                        }
                    ],
                }
            data = (
                current.raw if current.raw is not None else json.dumps(payload).encode()
            )
            try:
                self.send_response(current.status)
                self.send_header("Content-Type", current.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up waiting (the timeout case)
                pass

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    current = Stub(url=f"http://127.0.0.1:{server.server_address[1]}/v1")
    handler_state["stub"] = current
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_MODEL = "stub-model"
    settings.OPENAI_BASE_URL = current.url
    settings.OPENAI_TIMEOUT = 1.0
    settings.OPENAI_COOLDOWN = 0
    yield current
    server.shutdown()
    server.server_close()


# --- one request, straight to the SDK -----------------------------------------------


def test_a_valid_answer_is_read_and_the_request_asks_for_the_schema(stub):
    advice = advice_request(context={"studio": {"type": "Yoga"}})

    assert advice.model == "stub-model"
    assert advice.tips == VALID_ANSWER["tips"]
    assert advice.extra_tactics[0].lever == "new_members_monthly"
    [request] = stub.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "stub-model"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == ADVICE_SCHEMA
    assert json.loads(body["messages"][-1]["content"]) == {"studio": {"type": "Yoga"}}


def test_an_answer_that_is_not_json_is_unusable(stub):
    stub.content = "Here are some tips: be nice."

    with pytest.raises(LlmUnavailable, match="invalid answer"):
        advice_request(context={})


def test_a_server_error_is_retried_once_then_given_up(stub):
    stub.status = 500

    with pytest.raises(LlmUnavailable, match="HTTP 500"):
        advice_request(context={})

    assert len(stub.requests) == 2


def test_a_slow_server_is_given_up_on_within_the_budget(stub):
    stub.delay = 2.5  # longer than the 1 s budget

    started = time.monotonic()
    with pytest.raises(LlmUnavailable, match="within the 1 s budget"):
        advice_request(context={})

    # The caller waits for the budget, not for the SDK's retry and back-off.
    assert time.monotonic() - started < 1.5
    assert len(stub.requests) == 1


def test_a_hung_call_does_not_hold_later_callers(stub, settings):
    """Calls abandoned at their budget keep a thread until the SDK's own
    timeout: more of them than the pool has threads still answer in time."""
    settings.OPENAI_TIMEOUT = 0.5
    stub.delay = 2.5
    calls = llm.MAX_CONCURRENT_CALLS + 2

    started = time.monotonic()
    for _ in range(calls):
        with pytest.raises(LlmUnavailable, match="budget"):
            advice_request(context={})

    assert time.monotonic() - started < calls * 0.5 + 1.0


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'{"id": "chatcmpl-1", "choices": [{"index": 0, "mess', "application/json"),
        (b"<html><body>502 Bad Gateway</body></html>", "text/html"),
        (b"<html><body>Sign in</body></html>", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"", "application/json"),
        (b"null", "application/json"),
        (b'{"choices": null}', "application/json"),
        (b'{"choices": [{"index": 0}]}', "application/json"),
        (
            b'{"choices": [{"index": 0, "message": {"role": "assistant", '
            b'"content": 42}}]}',
            "application/json",
        ),
        (b'{"choices": "none"}', "application/json"),
    ],
    ids=[
        "truncated-json",
        "html-page",
        "html-as-json",
        "json-array",
        "empty-body",
        "json-null",
        "null-choices",
        "choice-without-message",
        "numeric-content",
        "choices-a-string",
    ],
)
def test_a_200_the_sdk_cannot_use_is_unusable(stub, raw, content_type):
    stub.raw, stub.content_type = raw, content_type

    with pytest.raises(LlmUnavailable):
        advice_request(context={})


@pytest.mark.parametrize(
    "answer, problem",
    [
        ({**VALID_ANSWER, "revenue_uplift": 5000}, "exactly the keys"),
        ({"tips": [], "obstacles": []}, "exactly the keys"),
        ({**VALID_ANSWER, "tips": "one tip"}, "tips must be a list"),
        ({**VALID_ANSWER, "tips": [3]}, "non-empty strings"),
        ({**VALID_ANSWER, "obstacles": [" "]}, "non-empty strings"),
        ({**VALID_ANSWER, "tips": ["x" * 501]}, "over 500"),
        (
            {**VALID_ANSWER, "extra_tactics": VALID_ANSWER["extra_tactics"] * 3},
            "at most 2",
        ),
        (
            {
                **VALID_ANSWER,
                "extra_tactics": [
                    {**VALID_ANSWER["extra_tactics"][0], "lever": "vibes"}
                ],
            },
            "not a lever",
        ),
        (
            {
                **VALID_ANSWER,
                "extra_tactics": [
                    {**VALID_ANSWER["extra_tactics"][0], "expected_revenue": 900}
                ],
            },
            "exactly the keys",
        ),
        ([], "must be an object"),
    ],
)
def test_answers_off_the_schema_are_refused(answer, problem):
    with pytest.raises(ValueError, match=problem):
        advice_parse(json.dumps(answer), model="m")


# --- through insights_generate ------------------------------------------------------


@pytest.fixture
def scenario(active_version, loaded_studios, superuser):
    studio = loaded_studios[0]
    out = forecast_predict(
        studio=studio, base_month="2026-04", levers={"retention_rate": 0.97}
    )
    return scenario_save(
        user=superuser, studio=studio, prediction_id=out.prediction_id, name="Plan"
    )


def test_the_llm_adds_advice_and_changes_no_figure(stub, scenario, superuser):
    rules = insights_generate(user=superuser, scenario_id=scenario.pk, enhance=False)

    enhanced = insights_generate(user=superuser, scenario_id=scenario.pk)
    again = insights_generate(user=superuser, scenario_id=scenario.pk)

    assert enhanced.source == "stub-model"
    assert enhanced.tips == VALID_ANSWER["tips"]
    assert enhanced.obstacles == VALID_ANSWER["obstacles"]
    assert [t.name for t in enhanced.extra_tactics] == ["Bring-a-friend Saturdays"]
    assert enhanced.next_best_actions == rules.next_best_actions
    assert enhanced.risk_factors == rules.risk_factors
    assert enhanced.opportunities == rules.opportunities
    assert again == enhanced
    [request] = stub.requests  # the second answer came from the cache
    context = json.loads(request["body"]["messages"][-1]["content"])
    assert context["studio"]["type"] == scenario.studio.get_studio_type_display()
    assert scenario.studio.name not in request["body"]["messages"][-1]["content"]
    assert [a["action"] for a in context["rule_based_plan"]["next_best_actions"]] == [
        a.action for a in rules.next_best_actions
    ]


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"content": "{not json"},
        {"delay": 2.5},
        {"raw": b"<html>oops</html>", "content_type": "text/html"},
        {"raw": b'{"choices": [{"index": 0, "mes'},
        {"raw": b"[]"},
    ],
    ids=["http-500", "invalid-json", "timeout", "html", "truncated", "json-array"],
)
def test_a_failing_llm_falls_back_to_the_rules_and_says_so(
    stub, scenario, superuser, caplog, failure
):
    for name, value in failure.items():
        setattr(stub, name, value)

    with caplog.at_level(logging.WARNING, logger="insights.services"):
        insights = insights_generate(user=superuser, scenario_id=scenario.pk)

    assert insights.source == "rules"
    assert insights.tips == [] and insights.extra_tactics == []
    assert insights.next_best_actions
    assert "fall back to the rules" in caplog.text
    # A failure is not cached: the next request asks again.
    before = len(stub.requests)
    stub.status, stub.content, stub.delay = 200, json.dumps(VALID_ANSWER), 0.0
    stub.raw, stub.content_type = None, "application/json"
    assert (
        insights_generate(user=superuser, scenario_id=scenario.pk).source
        == "stub-model"
    )
    assert len(stub.requests) == before + 1


def test_without_a_key_no_request_is_made(stub, scenario, superuser, settings, caplog):
    settings.OPENAI_API_KEY = ""

    with caplog.at_level(logging.INFO, logger="insights.services"):
        insights = insights_generate(user=superuser, scenario_id=scenario.pk)

    assert insights.source == "rules"
    assert stub.requests == []
    assert "OPENAI_API_KEY is not set" in caplog.text


def test_after_a_failure_the_llm_rests_for_the_cooldown(
    stub, scenario, superuser, settings
):
    # given: the LLM failed once, with a cooldown configured
    settings.OPENAI_COOLDOWN = 30
    stub.status = 500
    assert insights_generate(user=superuser, scenario_id=scenario.pk).source == "rules"
    asked = len(stub.requests)

    # when: it is healthy again but the cooldown has not passed
    stub.status = 200
    during = insights_generate(user=superuser, scenario_id=scenario.pk)

    # then: the rules answer at once, without asking
    assert during.source == "rules"
    assert len(stub.requests) == asked

    # and once the cooldown is over (its cache entry gone) the LLM is asked again
    cache.delete(LLM_COOLDOWN_KEY)
    assert (
        insights_generate(user=superuser, scenario_id=scenario.pk).source
        == "stub-model"
    )


# --- figures the LLM writes ---------------------------------------------------------

FIGURE_CONTEXT = {
    "scenario": {
        "lever_changes": {"retention": {"from": "88.0%", "to": "92.5%"}},
        "base_month": "2025-06-01",
    },
    "rule_based_plan": {
        "next_best_actions": [
            {"action": "Member check-ins", "expected_impact": 4210.37},
        ],
        "risk_factors": [{"name": "Summer dip", "probability": 0.62}],
    },
    "studio": {"max_class_size": 24, "square_footage": 3200},
}


def advice(*tips: str, tactic: str = "Members bring a friend.") -> llm.LlmAdvice:
    return llm.LlmAdvice(
        model="m",
        tips=list(tips),
        obstacles=[],
        extra_tactics=[
            llm.ExtraTactic(name="Friends", lever="upsell_rate", description=tactic)
        ],
    )


@pytest.mark.parametrize(
    "text",
    [
        "Check-ins are worth about $4,210 a month.",
        "Check-ins are worth about $4.2k a month.",
        "Retention moves from 88% to 92.5%.",
        "A 62% chance of a summer dip.",
        "Your 3,200 sq ft room fits it.",
        "Call members within 2 weeks, twice a month, before 9 am.",
        "Nothing here has a figure.",
    ],
)
def test_figures_that_are_the_models_are_kept(text):
    checked = llm.advice_checked(advice(text), context=FIGURE_CONTEXT)

    assert checked.tips == [text]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Check-ins bring $9,000 a month. Start on Monday.", "Start on Monday."),
        (
            "Retention will reach 97%. Ask instructors to help.",
            "Ask instructors to help.",
        ),
        ("Expect 450 new members.", None),
        ("Add a $15k class pack.", None),
        ("Lift upsell by 12 points! Train the desk staff.", "Train the desk staff."),
    ],
)
def test_sentences_with_figures_the_model_did_not_give_are_removed(text, kept, caplog):
    with caplog.at_level(logging.WARNING, logger="insights.llm"):
        checked = llm.advice_checked(advice(text), context=FIGURE_CONTEXT)

    assert checked.tips == ([kept] if kept else [])
    assert "removed a sentence" in caplog.text


def test_a_tactic_whose_description_holds_a_wrong_figure_is_dropped():
    checked = llm.advice_checked(
        advice(tactic="Worth $12,345 a month."), context=FIGURE_CONTEXT
    )

    assert checked.extra_tactics == []


def test_wrong_figures_from_the_llm_never_reach_the_insights(stub, scenario, superuser):
    stub.content = json.dumps(
        {
            **VALID_ANSWER,
            "tips": [
                "This plan adds $987,654 a month. Call lapsed members first.",
                "Retention will climb by 4,321.5%.",
            ],
        }
    )

    insights = insights_generate(user=superuser, scenario_id=scenario.pk)

    assert insights.source == "stub-model"
    assert insights.tips == ["Call lapsed members first."]
