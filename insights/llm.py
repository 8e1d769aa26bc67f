"""Optional LLM advice on top of the rule-based insights (SPEC §6).

One chat completion through the official ``openai`` SDK, with the studio's
context and the rule-based plan, asking for a JSON-schema answer of tips,
obstacles and at most two extra tactics. The answer is text only: the schema has
no numeric field, so no figure the product shows can come from the model, and
its text is shown as advice beside the figures the forward model computed.

Any failure (timeout, connection or HTTP error, a refusal, an answer that is not
JSON or does not match the schema exactly, a body the SDK cannot read, any
exception at all) raises :class:`LlmUnavailable`; the caller then serves the
rules alone.

The call runs in a small thread pool and the caller waits for it at most
``OPENAI_TIMEOUT`` seconds (the budget): a web worker is never held longer,
whatever the endpoint does (hangs, trickles bytes, retries). An abandoned call
ends in its thread when the SDK's own timeout, the same budget, expires.

The model is told not to write figures, and may anyway. :func:`advice_checked`
compares every figure in its text (money, percentages, and larger counts) with
the numbers it was sent, which all come from the forward model and the studio's
records; a sentence whose figure matches none of them is removed, and a text
left empty is dropped. Small bare numbers ("2 weeks", "3 classes") are not the
model's figures and are kept.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Any

import openai
from django.conf import settings

from forecasting.ml.frame import LEVERS

__all__ = [
    "ADVICE_SCHEMA",
    "ExtraTactic",
    "LlmAdvice",
    "LlmUnavailable",
    "advice_checked",
    "advice_parse",
    "advice_request",
    "llm_enabled",
]

logger = logging.getLogger(__name__)

#: A failed first attempt (a 500, a reset connection) is tried once more, within
#: the same budget.
MAX_RETRIES = 1
#: Calls running at once in a process; more wait for a thread (within their
#: budget). A sync web worker makes one at a time.
MAX_CONCURRENT_CALLS = 4
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


_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """This process's pool (a forked web worker makes its own)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(
                max_workers=MAX_CONCURRENT_CALLS, thread_name_prefix="llm"
            )
            _pool_pid = os.getpid()
        return _pool


def advice_request(*, context: dict[str, Any]) -> LlmAdvice:
    """Ask the configured model for advice on ``context`` (JSON-able), waiting
    at most ``OPENAI_TIMEOUT`` seconds; its figures checked (:func:`advice_checked`).

    Raises :class:`LlmUnavailable` on any failure.
    """
    budget = float(settings.OPENAI_TIMEOUT)
    future = _executor().submit(_advice_request, context=context, timeout=budget)
    try:
        return future.result(timeout=budget)
    except FutureTimeout:
        future.cancel()
        raise LlmUnavailable(f"no answer within the {budget:g} s budget") from None


def _advice_request(*, context: dict[str, Any], timeout: float) -> LlmAdvice:
    try:
        return advice_checked(_ask(context=context, timeout=timeout), context=context)
    except LlmUnavailable:
        raise
    except Exception as exc:
        # Whatever the SDK or a malformed answer raises: the rules stand in.
        raise LlmUnavailable(f"unusable answer: {type(exc).__name__}: {exc}") from exc


def _ask(*, context: dict[str, Any], timeout: float) -> LlmAdvice:
    model = settings.OPENAI_MODEL
    try:
        with openai.OpenAI(
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL,
            timeout=timeout,
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
        raise LlmUnavailable(f"timed out after {timeout:g}s") from exc
    except openai.APIStatusError as exc:
        raise LlmUnavailable(f"HTTP {exc.status_code} from the LLM API") from exc
    except openai.OpenAIError as exc:
        raise LlmUnavailable(f"{type(exc).__name__}: {exc}") from exc
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise LlmUnavailable("the answer has no choices")
    message = getattr(choices[0], "message", None)
    if getattr(message, "refusal", None):
        raise LlmUnavailable(f"the model refused: {message.refusal}")
    content = getattr(message, "content", None)
    if not isinstance(content, str):
        raise LlmUnavailable("the answer has no text")
    try:
        return advice_parse(content, model=model)
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


# --- figures in the text -------------------------------------------------------------

#: A figure: an optional currency sign, a number (thousands separators and
#: decimals allowed), an optional scale (k, m) and an optional unit.
_FIGURE = re.compile(
    r"(?P<currency>[$€£])?\s?"
    r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<scale>[kKmM])\b)?"
    r"(?:\s?(?P<unit>%|percent\b|per cent\b|pts?\b|points?\b|percentage points?\b))?"
)
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
#: Bare numbers below this (no currency, no percent) are durations and small
#: counts ("2 weeks", "3 classes"), not the model's figures.
SMALL_NUMBER = 100
#: A figure matches a number it was sent within this relative difference, or
#: within the rounding of the digits it is written with.
RELATIVE_TOLERANCE = 0.005


@dataclass(frozen=True)
class _Figure:
    text: str
    value: float
    kind: str  # "money", "percent" or "count"
    slack: float  # half a unit of the last digit written


def _figures(text: str) -> list[_Figure]:
    found = []
    for match in _FIGURE.finditer(text):
        number = match.group("number")
        value = float(number.replace(",", ""))
        decimals = len(number.split(".")[1]) if "." in number else 0
        slack = 0.5 * 10**-decimals
        scale = (match.group("scale") or "").lower()
        if scale:
            factor = 1_000 if scale == "k" else 1_000_000
            value, slack = value * factor, slack * factor
        unit = (match.group("unit") or "").lower()
        if match.group("currency") or scale:
            kind = "money"
        elif unit:
            kind = "percent"
        elif value >= SMALL_NUMBER:
            kind = "count"
        else:
            continue
        found.append(_Figure(match.group().strip(), value, kind, slack))
    return found


def _known_numbers(value: Any) -> set[float]:
    """Every number in ``value`` (a JSON-able context): numbers themselves, the
    numbers written in its strings, and each fraction as a percentage."""
    numbers: set[float] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int | float):
            if math.isfinite(item):
                numbers.add(float(item))
        elif isinstance(item, str):
            for match in _NUMBER.finditer(item):
                numbers.add(float(match.group().replace(",", "")))
        elif isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    numbers |= {round(n * 100, 10) for n in numbers if abs(n) <= 1}
    numbers |= {abs(n) for n in numbers}
    return numbers


def _matches(figure: _Figure, known: set[float]) -> bool:
    return any(
        abs(figure.value - number)
        <= max(figure.slack, RELATIVE_TOLERANCE * abs(number))
        for number in known
    )


def _checked_text(text: str, known: set[float], where: str) -> str:
    """``text`` without the sentences holding a figure that matches no known number."""
    kept = []
    for sentence in _SENTENCE.split(text):
        wrong = [f.text for f in _figures(sentence) if not _matches(f, known)]
        if wrong:
            logger.warning(
                "LLM %s: removed a sentence whose figures (%s) are not the model's: %r",
                where,
                ", ".join(wrong),
                sentence,
            )
        else:
            kept.append(sentence)
    return " ".join(kept).strip()


def advice_checked(advice: LlmAdvice, *, context: dict[str, Any]) -> LlmAdvice:
    """``advice`` with every sentence removed whose figures are not among the
    numbers of ``context`` (what the model was sent); texts left empty are
    dropped, and a tactic whose description is emptied with them."""
    known = _known_numbers(context)
    tips = [t for t in (_checked_text(t, known, "tip") for t in advice.tips) if t]
    obstacles = [
        t for t in (_checked_text(t, known, "obstacle") for t in advice.obstacles) if t
    ]
    tactics = []
    for tactic in advice.extra_tactics:
        name = _checked_text(tactic.name, known, "tactic name")
        description = _checked_text(tactic.description, known, "tactic")
        if name and description:
            tactics.append(replace(tactic, name=name, description=description))
    return replace(advice, tips=tips, obstacles=obstacles, extra_tactics=tactics)
