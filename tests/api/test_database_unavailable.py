"""The database unavailable: 503 with a GraphQL error, never a 500; waits bounded.

The failures are raised where they happen in production (the token lookup, a
resolver, the session, an admin view); tests/faults/ does the same with a real
proxy in front of PostgreSQL that refuses or blackholes.
"""

import sys
import time

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory

from studiosim.database import (
    DATABASE_UNAVAILABLE_MESSAGE,
    batch_database_timeouts,
    database_unavailable,
    server_error,
)
from studiosim.postgresql.base import BoundedConnection
from tests.api.conftest import GRAPHQL_URL

pytestmark = pytest.mark.django_db

REFUSED = OperationalError(
    'connection to server at "127.0.0.1", port 5432 failed: Connection refused'
)


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    body = response.json()
    [error] = body["errors"]
    assert error["message"] == DATABASE_UNAVAILABLE_MESSAGE
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE"}
    # nothing about the server leaks
    assert "5432" not in response.content.decode()


def test_the_token_lookup_failing_is_503_not_an_html_500(gql, owner, monkeypatch):
    def refuse(**kwargs):
        raise REFUSED

    monkeypatch.setattr("studiosim.graphql_view.api_token_authenticate", refuse)

    response = gql(owner).post("{ __typename }")

    assert_unavailable(response)


def test_a_resolver_losing_the_database_is_503(gql, owner, monkeypatch, caplog):
    def lose(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("forecasting.graphql.batch.studio_baseline", lose)

    response = gql(owner).post(
        "query($s: ID!) { studioBaseline(studioId: $s) { baselinePeriod { endMonth } } }",
        {"s": str(owner.studio.pk)},
    )

    assert_unavailable(response)
    assert "Unexpected error" not in response.content.decode()
    assert "The database is unavailable" in caplog.text


def test_a_session_that_cannot_be_read_is_503(owner, monkeypatch):
    client = Client()
    client.force_login(owner)

    def refuse(self, *args, **kwargs):
        raise REFUSED

    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", refuse)

    response = client.post(
        GRAPHQL_URL, {"query": "{ __typename }"}, content_type="application/json"
    )

    assert_unavailable(response)


def test_another_page_losing_the_database_is_a_plain_503(superuser, monkeypatch):
    client = Client()
    client.force_login(superuser)

    def refuse(*args, **kwargs):
        raise REFUSED

    monkeypatch.setattr("django.contrib.admin.sites.AdminSite.each_context", refuse)

    response = client.get("/admin/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.content.decode() == DATABASE_UNAVAILABLE_MESSAGE


def test_the_500_handler_answers_503_for_a_database_error_and_500_otherwise(db):
    request = RequestFactory().get("/admin/")

    try:
        raise REFUSED
    except OperationalError:
        unavailable = server_error(request)
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        bug = server_error(request)

    assert unavailable.status_code == 503
    assert bug.status_code == 500
    assert sys.exc_info() == (None, None, None)


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (REFUSED, True),
        (
            psycopg.errors.QueryCanceled(
                "canceling statement due to statement timeout"
            ),
            True,
        ),
        (psycopg.errors.ConnectionTimeout("the database did not answer"), True),
        (psycopg.InterfaceError("the connection is closed"), True),
        (psycopg.errors.UniqueViolation("duplicate key"), False),
        (RuntimeError("connection"), False),
    ],
)
def test_which_errors_mean_the_database_is_unavailable(exc, unavailable):
    assert database_unavailable(exc) is unavailable


# --- the bounds themselves (PostgreSQL) ---------------------------------------------


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("statement and read timeouts are PostgreSQL's")


def test_connections_carry_the_statement_and_read_timeouts(postgres, settings):
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        [shown] = cursor.fetchone()

    assert shown == f"{int(settings.DATABASE_STATEMENT_TIMEOUT * 1000)}ms" or shown == (
        f"{int(settings.DATABASE_STATEMENT_TIMEOUT)}s"
    )
    assert isinstance(connection.connection, BoundedConnection)
    assert connection.connection.read_timeout == pytest.approx(
        settings.DATABASE_STATEMENT_TIMEOUT + settings.DATABASE_READ_TIMEOUT_MARGIN
    )


def test_batch_work_gets_the_batch_statement_timeout_then_the_default(
    postgres, settings
):
    def shown() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            return cursor.fetchone()[0]

    default = shown()
    with batch_database_timeouts():
        inside = shown()
        read_inside = connection.connection.read_timeout

    assert inside in ("30min", "1800s")
    assert read_inside == pytest.approx(1802.0)
    assert shown() == default


def test_a_silent_connection_is_given_up_on_at_the_read_timeout(postgres):
    """The server alive but the statement never answering in time: the client
    stops waiting, closes the connection, and says why."""
    params = connection.get_connection_params()
    raw = BoundedConnection.connect(**params, autocommit=True)
    raw.execute("SET statement_timeout = 0")
    raw.read_timeout = 0.3

    started = time.monotonic()
    with pytest.raises(psycopg.errors.ConnectionTimeout, match="within 0.3 s"):
        raw.execute("SELECT pg_sleep(3)")

    assert time.monotonic() - started < 2
    assert raw.closed
    assert database_unavailable(psycopg.errors.ConnectionTimeout("x"))
