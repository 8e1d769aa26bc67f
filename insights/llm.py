"""Optional LLM advice on top of the rule-based insights (SPEC §6).

One chat completion through the official ``openai`` SDK, with the studio's
context and the rule-based plan, asking for a JSON-schema answer of tips,
obstacles and at most two extra tactics. The answer is text only: the schema has
no numeric field, so no figure the product shows can come from the model, and
its text is shown as advice beside the figures the forward model computed,
never parsed for numbers.

Any failure (timeout, connection or HTTP error, a refusal, an answer that is not
JSON or does not match the schema exactly) raises :class:`LlmUnavailable`; the
caller then serves the rules alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import openai
from django.conf import settings

from forecasting.ml.frame import LEVERS

__all__ = [
    "ADVICE_SCHEMA",
    "ExtraTactic",
    "LlmAdvice",
    "LlmUnavailable",
    "advice_parse",
    "advice_request",
    "llm_enabled",
]

#: Seconds per attempt; with one retry a dead endpoint costs at most about twice this.
REQUEST_TIMEOUT_SECONDS = 10.0
MAX_RETRIES = 1
MAX_TIPS = 5
MAX_OBSTACLES = 5
MAX_EXTRA_TACTICS = 2
MAX_TEXT_LENGTH = 500

_TEXT_LIST = {"type": "array", "items": {"type": "string"}}
ADVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tips": {**_TEXT_LIST, "maxItems": MAX_TIPS},
        "obstacles": {**_TEXT_LIST, "maxItems": MAX_OBSTACLES},
        "extra_tactics": {
            "type": "array",
            "maxItems": MAX_EXTRA_TACTICS,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "lever": {"type": "string", "enum": list(LEVERS)},
                    "description": {"type": "string"},
                },
                "required": ["name", "lever", "description"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["tips", "obstacles", "extra_tactics"],
    "additionalProperties": False,
}

SYSTEM_PROMPT = (
    "You advise the owner of a fitness studio. You receive the studio's context "
    "and a plan whose revenue figures come from a forecasting model. Add practical, "
    "studio-specific tips for carrying out the plan, the obstacles the owner is "
    "likely to meet, and at most two extra tactics the plan does not already "
    "contain, each tied to one lever. Do not state revenue, prices, percentages or "
    "any other figure: the model's numbers are the only ones the owner sees. "
    "Answer in the JSON schema given."
)


class LlmUnavailable(Exception):
    """No usable answer; the message says why, for the log."""


@dataclass(frozen=True)
class ExtraTactic:
    """A tactic the LLM suggests; it carries no figure, by design."""

    name: str
    lever: str
    description: str


@dataclass(frozen=True)
class LlmAdvice:
    model: str
    tips: list[str]
    obstacles: list[str]
    extra_tactics: list[ExtraTactic]


def llm_enabled() -> bool:
    return bool(settings.OPENAI_API_KEY)


def advice_request(*, context: dict[str, Any]) -> LlmAdvice:
    """Ask the configured model for advice on ``context`` (JSON-able); one request.

    Raises :class:`LlmUnavailable` on any failure.
    """
    model = settings.OPENAI_MODEL
    try:
        with openai.OpenAI(
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL,
            timeout=REQUEST_TIMEOUT_SECONDS,
            max_retries=MAX_RETRIES,
        ) as client:
            completion = client.chat.completions.create(
                model=model,
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": json.dumps(context, default=str)},
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {
                        "name": "studio_advice",
                        "strict": True,
                        "schema": ADVICE_SCHEMA,
                    },
                },
            )
    except openai.APITimeoutError as exc:
        raise LlmUnavailable(f"timed out after {REQUEST_TIMEOUT_SECONDS:g}s") from exc
    except openai.APIStatusError as exc:
        raise LlmUnavailable(f"HTTP {exc.status_code} from the LLM API") from exc
    except openai.OpenAIError as exc:
        raise LlmUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if not completion.choices:
        raise LlmUnavailable("the answer has no choices")
    message = completion.choices[0].message
    if message.refusal:
        raise LlmUnavailable(f"the model refused: {message.refusal}")
    try:
        return advice_parse(message.content or "", model=model)
    except ValueError as exc:
        raise LlmUnavailable(f"invalid answer: {exc}") from exc


def advice_parse(content: str, *, model: str) -> LlmAdvice:
    """Validate an answer against :data:`ADVICE_SCHEMA`; ValueError says what is wrong.

    Extra or missing keys, wrong types, unknown levers, too many items and
    over-long texts are all refused.
    """
    data = json.loads(content)  # JSONDecodeError is a ValueError
    _expect_keys(data, ADVICE_SCHEMA["required"], "the answer")
    tips = _texts(data["tips"], "tips", MAX_TIPS)
    obstacles = _texts(data["obstacles"], "obstacles", MAX_OBSTACLES)
    tactics = data["extra_tactics"]
    if not isinstance(tactics, list) or len(tactics) > MAX_EXTRA_TACTICS:
        raise ValueError(f"extra_tactics must be a list of at most {MAX_EXTRA_TACTICS}")
    extra = []
    for i, tactic in enumerate(tactics):
        where = f"extra_tactics[{i}]"
        _expect_keys(tactic, ("name", "lever", "description"), where)
        if tactic["lever"] not in LEVERS:
            raise ValueError(f"{where}.lever {tactic['lever']!r} is not a lever")
        extra.append(
            ExtraTactic(
                name=_text(tactic["name"], f"{where}.name"),
                lever=tactic["lever"],
                description=_text(tactic["description"], f"{where}.description"),
            )
        )
    return LlmAdvice(model=model, tips=tips, obstacles=obstacles, extra_tactics=extra)


def _expect_keys(value: Any, keys: list[str] | tuple[str, ...], where: str) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object")
    if set(value) != set(keys):
        raise ValueError(f"{where} must have exactly the keys {', '.join(keys)}")


def _texts(value: Any, where: str, limit: int) -> list[str]:
    if not isinstance(value, list) or len(value) > limit:
        raise ValueError(f"{where} must be a list of at most {limit} strings")
    return [_text(text, where) for text in value]


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where} must hold non-empty strings")
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"{where} has a text over {MAX_TEXT_LENGTH} characters")
    return value.strip()
