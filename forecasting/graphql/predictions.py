"""The ``Cache-Status`` header of the prediction fields. Caching and logging are
:mod:`forecasting.serving`'s."""

from strawberry.types import Info

from forecasting.serving import Served

__all__ = ["report_cache_status"]

#: The ``Cache-Status`` (RFC 9211) name of this cache.
CACHE_NAME = "studiosim"


def report_cache_status(info: Info, served: Served) -> None:
    """Say in a ``Cache-Status`` response header (RFC 9211) whether the field's
    answer came from the cache, one entry per cached field of the document."""
    outcome = "hit" if served.cache_hit else "fwd=uri-miss; stored"
    entry = f"{CACHE_NAME}; {outcome}; detail={info.path.key}"
    response = info.context.response
    existing = response.get("Cache-Status")
    response["Cache-Status"] = f"{existing}, {entry}" if existing else entry
