"""Caching of computed answers (predictions, baselines) that never go stale.

Keys name everything an answer depends on: the kind of answer, the studio and
its ``data_version`` (a database column bumped by every write to its monthly
data), the model version, and a hash of the request. New data or a new model
therefore means a new key; nothing is ever invalidated by hand, old entries
just expire.

The cache is best effort. With Redis down, django-redis (``IGNORE_EXCEPTIONS``)
answers every read with a miss and drops every write: requests get slower, not
broken. Values are JSON only, so what a hit returns is exactly what the miss
returned.
"""

import hashlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol, TypeVar
from uuid import UUID

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder

__all__ = ["cache_stats", "cached_json", "prediction_cache_key"]

logger = logging.getLogger(__name__)

# Bump when the shape of cached values changes, so old entries are not read.
KEY_SCHEMA = "v1"
STATS_KEY = "cache-stats:{event}"

J = TypeVar("J")

_MISSING = object()
_process_counts: Counter[str] = Counter()
_process_counts_lock = threading.Lock()


class VersionedStudio(Protocol):
    pk: UUID
    data_version: int


def prediction_cache_key(
    kind: str,
    *,
    studio: VersionedStudio,
    model_version: str | None,
    payload: dict[str, Any],
) -> str:
    """The cache key of one answer of ``kind`` about ``studio``.

    ``studio`` must be freshly loaded: its ``data_version`` is read from the
    instance. ``model_version`` is the version string of the model that computes
    the answer (``None`` for answers that use no model). ``payload`` is the
    request, hashed as canonical JSON so that key order does not matter.
    """
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return ":".join(
        [
            KEY_SCHEMA,
            kind,
            str(studio.pk),
            f"data{studio.data_version}",
            f"model-{model_version or 'none'}",
            digest,
        ]
    )


def cached_json(key: str, compute: Callable[[], J]) -> tuple[J, bool]:
    """The value under ``key``, computing and storing it on a miss.

    Returns ``(value, hit)``. ``compute`` must return JSON-serialisable data; it
    is passed through JSON on a miss too, so a bad value fails at once (not only
    where the cache serialises) and hits and misses return the same types.
    """
    value = cache.get(key, _MISSING)
    if value is not _MISSING:
        _count("hits")
        return value, True
    _count("misses")
    value = json.loads(json.dumps(compute()))
    cache.set(key, value)
    return value, False


def cache_stats() -> dict[str, dict[str, int | float | None]]:
    """Hits and misses of :func:`cached_json`: this process's, and all processes'.

    The shared counts live in the cache itself: ``None`` when they cannot be read
    (Redis down) or nothing was counted yet; with a local-memory cache they are
    this process's again.
    """
    with _process_counts_lock:
        process = {e: _process_counts[e] for e in ("hits", "misses")}
    try:
        stored = cache.get_many([STATS_KEY.format(event=e) for e in process])
        shared = {e: stored.get(STATS_KEY.format(event=e)) for e in process}
    except Exception:  # statistics must never fail their caller
        logger.warning("Could not read the shared cache statistics", exc_info=True)
        shared = dict.fromkeys(process)
    return {"process": _with_hit_rate(process), "shared": _with_hit_rate(shared)}


def _with_hit_rate(counts: dict[str, int | None]) -> dict[str, int | float | None]:
    hits, misses = counts["hits"], counts["misses"]
    if hits is None or misses is None or hits + misses == 0:
        return {**counts, "hit_rate": None}
    return {**counts, "hit_rate": hits / (hits + misses)}


def _count(event: str) -> None:
    with _process_counts_lock:
        _process_counts[event] += 1
    key = STATS_KEY.format(event=event)
    try:
        # One round trip once the counter exists; ``add`` only creates it, so
        # two processes creating it at once both count.
        try:
            cache.incr(key)
        except ValueError:  # not there yet (first count, or evicted)
            cache.add(key, 0, timeout=None)
            cache.incr(key)
    except Exception:  # statistics must never fail a request
        # django-redis with IGNORE_EXCEPTIONS already answers None when Redis is
        # down; this covers caches configured without it.
        logger.debug("Could not count a cache %s", event, exc_info=True)
