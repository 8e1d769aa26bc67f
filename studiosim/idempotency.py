"""Creating an object at most once per idempotency key, under client retries.

A client that did not get an answer (a timeout, a dropped connection, a 503)
cannot know whether its create happened. It sends the same request again with
the same ``idempotencyKey`` and gets the object the first request created,
whichever of its attempts ran first and however many run at once.

The guarantee is the database's: each model that takes a key has a unique
constraint on (creator, key), so of concurrent inserts one commits and every
other fails and reads that one (:func:`create_once`). A key is the creator's
own: another user's key never collides with it and never reveals their object.
A key comes back with the object for as long as the object exists; reusing it
for a different request (other input) is refused rather than answered with the
wrong object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction

from studiosim.errors import InvalidInput

__all__ = [
    "MAX_KEY_LENGTH",
    "create_once",
    "idempotency_key_clean",
    "request_fingerprint",
    "same_request",
]

MAX_KEY_LENGTH = 100


class _Keyed(Protocol):
    request_fingerprint: str


M = TypeVar("M", bound=_Keyed)


def idempotency_key_clean(key: str | None) -> str:
    """``key`` trimmed ("" for none); InvalidInput when it is not 1-100 printable
    ASCII characters (a UUID, as most clients send, is)."""
    key = (key or "").strip()
    if len(key) > MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise InvalidInput(
            f"an idempotency key is 1 to {MAX_KEY_LENGTH} printable ASCII "
            "characters (a UUID, for example)",
            field="idempotency_key",
        )
    return key


def request_fingerprint(payload: Any) -> str:
    """SHA-256 of ``payload`` as canonical JSON: what the request asked for."""
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_once(
    *,
    existing: Callable[[], M | None],
    fingerprint: str,
    create: Callable[[], M],
) -> tuple[M, bool]:
    """``(object, created)``: the object already created under a key, or a new one.

    ``existing`` looks the key up; ``create`` inserts (and may raise
    IntegrityError when a concurrent request inserted first: its insert runs in
    a savepoint, so the caller's transaction survives, and the winner is read).
    Raises InvalidInput when the key was used for a request with another
    ``fingerprint``.
    """
    found = existing()
    if found is None:
        try:
            with transaction.atomic():
                return create(), True
        except IntegrityError:
            found = existing()
            if found is None:
                raise  # another constraint: the caller's to explain
    return same_request(found, fingerprint=fingerprint), False


def same_request(found: M, *, fingerprint: str) -> M:
    """``found`` (an object created under a key) if it was created by a request
    with this ``fingerprint``; InvalidInput otherwise."""
    if found.request_fingerprint != fingerprint:
        raise InvalidInput(
            "this idempotency key was used for a different request; use a new "
            "key for a new request",
            field="idempotency_key",
        )
    return found
