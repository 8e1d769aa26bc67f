"""The database being unavailable: how long a process waits for it, and what a
client is told.

Waits are bounded three ways, each from settings (``.env.example``):

- ``DATABASE_CONNECT_TIMEOUT``: opening a connection, the start-up exchange
  included, so a server that accepts the connection and never answers is given
  up on as surely as one that refuses it;
- ``DATABASE_STATEMENT_TIMEOUT``: PostgreSQL cancels a statement running longer
  (the connection stays usable);
- the read timeout, that plus ``DATABASE_READ_TIMEOUT_MARGIN`` (2 s): the
  client gives up on a connection that has gone silent
  (:mod:`studiosim.postgresql`).

Training and evaluation read a whole chain's history in one statement, so they
get ``DATABASE_BATCH_STATEMENT_TIMEOUT`` instead: every ``manage.py`` command
(``manage.py`` sets it as the statement timeout unless the environment names
one), and retrain jobs wherever they run (:func:`batch_database_timeouts`).

A request that meets any of these (or a refused connection, a statement
cancelled, a deadlock) is answered with 503 and ``Retry-After``: by the GraphQL
view as a GraphQL error, by :class:`DatabaseUnavailableMiddleware` everywhere
else, never with a 500.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

__all__ = [
    "DATABASE_UNAVAILABLE_MESSAGE",
    "RETRY_AFTER_SECONDS",
    "DatabaseUnavailableMiddleware",
    "batch_database_timeouts",
    "database_unavailable",
    "database_unavailable_response",
    "server_error",
]

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE_MESSAGE = (
    "The database is not answering. Try again in a few seconds (a create with the "
    "same idempotencyKey, so that it happens once)."
)
RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot serve now (rather than a bug):
    a connection refused, lost or timed out, a statement cancelled, a deadlock."""
    return isinstance(
        exc, OperationalError | InterfaceError | psycopg.OperationalError
    ) or (
        isinstance(exc, psycopg.InterfaceError)
        and "closed" in str(exc)  # "the connection is closed"
    )


# --- longer timeouts for batch work -----------------------------------------------

_batch = threading.local()


def _apply_timeouts(connection: Any) -> None:
    """Set ``connection``'s statement and read timeouts for the current mode."""
    if connection.vendor != "postgresql" or connection.connection is None:
        return
    statement = (
        settings.DATABASE_BATCH_STATEMENT_TIMEOUT
        if getattr(_batch, "depth", 0)
        else settings.DATABASE_STATEMENT_TIMEOUT
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {int(statement * 1000)}")
    connection.connection.read_timeout = (
        statement + settings.DATABASE_READ_TIMEOUT_MARGIN if statement > 0 else None
    )


def _connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    if getattr(_batch, "depth", 0):
        _apply_timeouts(connection)


connection_created.connect(_connection_created, dispatch_uid="studiosim.batch_db")


@contextmanager
def batch_database_timeouts() -> Iterator[None]:
    """Run the block with ``DATABASE_BATCH_STATEMENT_TIMEOUT`` on this thread's
    connections, those opened inside it included; restored afterwards.

    For work that reads or writes a chain's data in single statements and runs
    outside a web request: training, evaluation, retrain jobs.
    """
    _batch.depth = getattr(_batch, "depth", 0) + 1
    try:
        for connection in connections.all(initialized_only=True):
            _apply_timeouts(connection)
        yield
    finally:
        _batch.depth -= 1
        for connection in connections.all(initialized_only=True):
            try:
                _apply_timeouts(connection)
            except Exception:
                # A broken connection is closed by Django before its next use,
                # and a new one starts with the defaults.
                logger.debug("Could not restore the statement timeout", exc_info=True)


# --- other pages -------------------------------------------------------------------


class DatabaseUnavailableMiddleware:
    """503 with ``Retry-After`` instead of a 500 when a view finds the database
    unavailable: the admin, the scenario pages, the API (in JSON).

    Django turns an exception raised by another middleware (the session saved
    after the view) into a response where it is raised, so those reach
    :func:`server_error` (the project's ``handler500``) instead.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(
        self, request: HttpRequest, exc: Exception
    ) -> HttpResponse | None:
        if not database_unavailable(exc):
            return None
        return database_unavailable_response(request, exc)


def database_unavailable_response(
    request: HttpRequest, exc: BaseException
) -> HttpResponse:
    """503 and ``Retry-After``: a GraphQL error for the API, text elsewhere."""
    logger.warning(
        "%s %s: the database is unavailable: %s", request.method, request.path, exc
    )
    if request.path.startswith("/graphql"):
        response: HttpResponse = JsonResponse(
            {
                "errors": [
                    {
                        "message": DATABASE_UNAVAILABLE_MESSAGE,
                        "extensions": {"code": "SERVICE_UNAVAILABLE"},
                    }
                ]
            },
            status=503,
        )
    else:
        response = HttpResponse(
            DATABASE_UNAVAILABLE_MESSAGE, status=503, content_type="text/plain"
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """The project's ``handler500``: 503 when the exception being handled means
    the database is unavailable, Django's own 500 page otherwise."""
    exc = sys.exc_info()[1]
    if exc is not None and database_unavailable(exc):
        return database_unavailable_response(request, exc)
    return defaults.server_error(request)
