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

Because a key's value never changes, each process may also keep the values it
has read or written in a small in-memory LRU in front of the shared cache
(``CACHE_LOCAL_ENTRIES`` entries; on by default with Redis, off with the
local-memory cache, which is in-process already): a hit there costs no round
trip at all, and it cannot be stale, since a changed answer has another key.

Hits and misses are counted per process at once, and in the shared cache (for
all processes) when the request finishes, so counting adds nothing to a
response's latency; outside a request (commands, jobs) they are published at
once.
"""

import hashlib
import json
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import request_finished, request_started

__all__ = ["cache_stats", "cached_json", "local_cache_clear", "prediction_cache_key"]

logger = logging.getLogger(__name__)

# Bump when the shape of cached values changes, so old entries are not read.
KEY_SCHEMA = "v2"
STATS_KEY = "cache-stats:{event}"

J = TypeVar("J")

_MISSING = object()
_process_counts: Counter[str] = Counter()
_process_counts_lock = threading.Lock()
# Counts not yet added to the shared counters, per thread, while it serves a
# request (None otherwise).
_request = threading.local()


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


def cached_json(
    key: str,
    compute: Callable[[], J],
    *,
    keep: Callable[[J], bool] | None = None,
) -> tuple[J, bool]:
    """The value under ``key``, computing and storing it on a miss.

    Returns ``(value, hit)``. ``compute`` must return JSON-serialisable data; it
    is passed through JSON on a miss too, so a bad value fails at once (not only
    where the cache serialises) and hits and misses return the same types. A
    computed value for which ``keep`` is false is returned but not stored.
    """
    value = _local.get(key)
    if value is _MISSING:
        value = cache.get(key, _MISSING)
        if value is not _MISSING:
            _local.put(key, value)
    if value is not _MISSING:
        _count("hits")
        return value, True
    _count("misses")
    value = json.loads(json.dumps(compute()))
    if keep is None or keep(value):
        cache.set(key, value)
        _local.put(key, value)
    return value, False


def local_cache_clear() -> None:
    """Empty this process's in-memory copy (tests that swap the shared cache)."""
    _local.clear()


class _LocalCopies:
    """A thread-safe LRU of at most ``CACHE_LOCAL_ENTRIES`` JSON values.

    Values are kept as JSON text and parsed on each read, so no caller can
    change what the next one gets.
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        if settings.CACHE_LOCAL_ENTRIES <= 0:
            return _MISSING
        with self._lock:
            text = self._entries.get(key)
            if text is None:
                return _MISSING
            self._entries.move_to_end(key)
        return json.loads(text)

    def put(self, key: str, value: Any) -> None:
        size = settings.CACHE_LOCAL_ENTRIES
        if size <= 0:
            return
        text = json.dumps(value)
        with self._lock:
            self._entries[key] = text
            self._entries.move_to_end(key)
            while len(self._entries) > size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_local = _LocalCopies()


def cache_stats() -> dict[str, dict[str, int | float | None]]:
    """Hits and misses of :func:`cached_json`: this process's, and all processes'.

    The shared counts live in the cache itself: ``None`` when they cannot be read
    (Redis down) or nothing was counted yet; with a local-memory cache they are
    this process's again. The current request's own counts are added first.
    """
    _publish(_take_pending())
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
    pending = getattr(_request, "pending", None)
    if pending is None:
        _publish({event: 1})
    else:
        pending[event] += 1


def _take_pending() -> Counter[str]:
    """This thread's counts not yet published (none outside a request), reset."""
    pending = getattr(_request, "pending", None)
    if pending is None:
        return Counter()
    _request.pending = Counter()
    return pending


def _publish(counts: Mapping[str, int]) -> None:
    """Add ``counts`` to the shared counters: one round trip per event counted."""
    for event, count in counts.items():
        if not count:
            continue
        key = STATS_KEY.format(event=event)
        try:
            try:
                cache.incr(key, count)
            except ValueError:  # not there yet (first count, or evicted)
                # ``add`` only creates it, so processes creating it at once all count.
                cache.add(key, 0, timeout=None)
                cache.incr(key, count)
        except Exception:  # statistics must never fail a request
            # django-redis with IGNORE_EXCEPTIONS already answers None when Redis
            # is down; this covers caches configured without it.
            logger.debug("Could not count %s cache %s", count, event, exc_info=True)


def _request_started(**kwargs: Any) -> None:
    _publish(_take_pending())  # left by a request that never finished
    _request.pending = Counter()


def _request_finished(**kwargs: Any) -> None:
    pending = _take_pending()
    _request.pending = None
    _publish(pending)


request_started.connect(_request_started, dispatch_uid="studiosim.cache.counts")
request_finished.connect(_request_finished, dispatch_uid="studiosim.cache.counts")


def cache_reachable() -> bool:
    """Whether the shared cache answers: a PING to Redis, whose errors the cache
    itself swallows (``IGNORE_EXCEPTIONS``); always true for an in-process cache."""
    get_client = getattr(getattr(cache, "client", None), "get_client", None)
    if get_client is None:
        return True
    try:
        return bool(get_client(write=True).ping())
    except Exception:  # the redis client's ConnectionError, TimeoutError, ...
        logger.warning("The cache (Redis) does not answer", exc_info=True)
        return False
