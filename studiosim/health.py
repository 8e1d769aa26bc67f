"""``GET /health/``: whether this process can serve, for load balancers and probes.

No authentication and no detail beyond a word per dependency, so it is safe to
expose: errors are logged here, never shown.

- ``database``: one ``SELECT 1``. Without it nothing works: the answer is 503.
- ``cache``: Redis answers a PING. Without it the API still answers, slower
  (the cache is best effort): ``degraded``, still 200, so a Redis outage does not
  take every web process out of the load balancer.
- ``modelVersion``: the active model version, or ``null`` before the first
  ``train_model`` (predictions answer "no active model"; everything else works).
"""

import logging

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from forecasting.selectors import serving_version
from studiosim.cache import cache_reachable
from studiosim.errors import NoActiveModel

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.exception("Health check: the database does not answer")
        return JsonResponse(
            {"status": "unavailable", "database": "unavailable"}, status=503
        )
    try:
        model_version = serving_version().version
    except NoActiveModel:
        model_version = None
    cache_ok = cache_reachable()
    return JsonResponse(
        {
            "status": "ok" if cache_ok else "degraded",
            "database": "ok",
            "cache": "ok" if cache_ok else "unavailable",
            "modelVersion": model_version,
        }
    )
