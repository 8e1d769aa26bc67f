"""What a request to /graphql/ must look like before the schema sees it.

Strawberry's view trusts the body's shape: a JSON ``null`` or ``42``, bytes that
are not UTF-8, or JSON nested a few thousand levels deep each end in an
exception inside the view, answered by Django's HTML 500 page. And text that
parses fine can still be unusable further in: U+0000, which PostgreSQL cannot
store or compare in text, and lone UTF-16 surrogates (JSON's ``"\\ud800"``),
which no UTF-8 encoder accepts (the database driver, the cache's key hash, the
log).

:func:`graphql_request_read` is therefore the single door. It reads the
request once, the way the GraphQL-over-HTTP draft describes it (``GET`` with
parameters, ``POST`` with a JSON object), and refuses with
:class:`RequestRefused` (a 4xx status and a GraphQL-shaped error) any request
that is

- not GET or POST (405), or a POST that is not JSON (415), or larger than
  :data:`MAX_BODY_BYTES` (413);
- not valid UTF-8, not valid JSON, or JSON with ``NaN``/``Infinity`` (not
  JSON at all, though Python's parser accepts them), a number that overflows a
  float, or an integer of more than :data:`MAX_INTEGER_DIGITS` digits;
- nested deeper than :data:`MAX_JSON_DEPTH` (objects and lists);
- holding U+0000 or a lone surrogate in any string, object keys included (and
  a lone surrogate in any header: a WSGI server decodes headers as Latin-1 and
  cannot produce one, but an in-process caller can);
- not an object whose keys are among ``query``, ``variables``,
  ``operationName`` and ``extensions``, with ``query`` a non-empty string,
  ``variables`` and ``extensions`` objects and ``operationName`` a string.

String literals inside the GraphQL document itself (``"\\u0000"`` escapes) are
the schema's to check: :class:`studiosim.graphql_security.StorableStrings`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_INTEGER_DIGITS",
    "MAX_JSON_DEPTH",
    "GraphQLPayload",
    "RequestRefused",
    "graphql_request_read",
    "unstorable_text",
]

#: The largest body read. The longest document is MAX_TOKENS (2,000) tokens and
#: the largest variables a client has reason to send (a scenario's 5,000-
#: character description, 20 tags, ten ids) are a few kilobytes; 256 KiB
#: leaves room while keeping a request's parse-and-check cost small.
MAX_BODY_BYTES = 256 * 1024
#: Objects and lists inside objects and lists. The deepest input the schema
#: takes (a studio filter's AND/OR/NOT) rarely needs more than a handful.
MAX_JSON_DEPTH = 32
#: 309 digits carry every integer a float can hold (1.8e308); anything longer
#: only costs time to convert (Python refuses past 4,300 digits by raising).
MAX_INTEGER_DIGITS = 309
#: Keys of the GraphQL-over-HTTP request object.
REQUEST_KEYS = ("query", "variables", "operationName", "extensions")

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class RequestRefused(Exception):
    """A request refused before execution: HTTP ``status``, the part of the
    request that is wrong (``field``), and why."""

    def __init__(self, *, status: int, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.status = status
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class GraphQLPayload:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


def unstorable_text(text: str) -> str | None:
    """Why ``text`` cannot be stored or encoded (U+0000, a lone surrogate), or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "text may not contain U+0000 (NUL)"
    return f"text may not contain a lone UTF-16 surrogate (U+{ord(char):04X})"


def graphql_request_read(request: HttpRequest) -> GraphQLPayload | None:
    """The request's GraphQL payload, checked; None for a GET without a query
    (the GraphiQL page, or strawberry's own "no query" answer).

    Raises :class:`RequestRefused`.
    """
    for name, value in request.META.items():
        if (
            (name.startswith("HTTP_") or name == "CONTENT_TYPE")
            and isinstance(value, str)
            and _SURROGATE.search(value)
        ):
            raise RequestRefused(
                status=400,
                field="headers",
                reason=f"the {name.removeprefix('HTTP_').replace('_', '-').title()} "
                "header holds a lone UTF-16 surrogate",
            )
    if request.method == "GET":
        return _from_query_parameters(request)
    if request.method != "POST":
        raise RequestRefused(
            status=405, field="request", reason="GraphQL is served over GET and POST"
        )
    if request.content_type != "application/json":
        raise RequestRefused(
            status=415,
            field="request",
            reason="send the request as a JSON object (Content-Type: application/json)",
        )
    charset = (request.content_params or {}).get("charset", "utf-8")
    if charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise RequestRefused(
            status=415, field="request", reason="JSON is read as UTF-8 only"
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise _too_large()
    try:
        body = request.body
    except RequestDataTooBig:
        raise _too_large() from None
    if len(body) > MAX_BODY_BYTES:
        raise _too_large()
    return _payload(_json_value(body, field="body"), field="body")


def _too_large() -> RequestRefused:
    return RequestRefused(
        status=413,
        field="body",
        reason=f"the body is larger than {MAX_BODY_BYTES // 1024} KiB",
    )


def _from_query_parameters(request: HttpRequest) -> GraphQLPayload | None:
    params = request.GET
    if "query" not in params:
        return None
    data: dict[str, Any] = {}
    for key in params:
        values = params.getlist(key)
        if len(values) > 1:
            raise RequestRefused(
                status=400, field=key, reason="the parameter is given more than once"
            )
        data[key] = values[0]
    for key in ("variables", "extensions"):
        if data.get(key):
            data[key] = _json_value(data[key].encode(), field=key)
        else:
            data.pop(key, None)
    _check_tree(data, field="query string")
    return _payload(data, field="query string")


def _json_value(raw: bytes, *, field: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestRefused(
            status=400,
            field=field,
            reason=f"not valid UTF-8 (byte {exc.start} cannot start or continue "
            "a character)",
        ) from None
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except RecursionError:
        raise RequestRefused(
            status=400,
            field=field,
            reason=f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
        ) from None
    except ValueError as exc:  # JSONDecodeError included
        raise RequestRefused(
            status=400, field=field, reason=f"not valid JSON ({exc})"
        ) from None
    _check_tree(value, field=field)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large for a float")
    return value


def _bounded_int(text: str) -> int | float:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(
            f"an integer of {len(text.lstrip('-'))} digits is too large "
            f"(at most {MAX_INTEGER_DIGITS})"
        )
    return int(text)


def _check_tree(value: Any, *, field: str) -> None:
    """Depth and text of a decoded JSON value, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item, field=field)
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise RequestRefused(
                    status=400,
                    field=field,
                    reason=f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                )
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key, field=field)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_text(text: str, *, field: str) -> None:
    reason = unstorable_text(text)
    if reason is not None:
        raise RequestRefused(status=400, field=field, reason=reason)


def _payload(data: Any, *, field: str) -> GraphQLPayload:
    if not isinstance(data, dict):
        raise RequestRefused(
            status=400,
            field=field,
            reason="a GraphQL request is a JSON object with a query, not "
            f"{_json_kind(data)}",
        )
    unknown = sorted(set(data) - set(REQUEST_KEYS))
    if unknown:
        raise RequestRefused(
            status=400,
            field=unknown[0],
            reason=f"not a key of a GraphQL request (those are "
            f"{', '.join(REQUEST_KEYS)})",
        )
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RequestRefused(
            status=400, field="query", reason="must be a non-empty string"
        )
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestRefused(
            status=400, field="operationName", reason="must be a string or null"
        )
    for key in ("variables", "extensions"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise RequestRefused(
                status=400, field=key, reason="must be a JSON object or null"
            )
    return GraphQLPayload(
        query=query,
        variables=data.get("variables"),
        operation_name=operation_name or None,
        extensions=data.get("extensions"),
    )


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list (batched requests are not served)"
    return type(value).__name__
