"""GET /health/: the probe load balancers ask."""

import logging

import pytest
from django.db import OperationalError, connections

from tests.api.conftest import redis_down  # noqa: F401 - a fixture


@pytest.fixture
def database_down(db, monkeypatch):
    """Every new cursor refused, until the test ends (before the test database's
    own teardown needs one)."""

    def refuse(*args, **kwargs):
        raise OperationalError('connection to server at "10.0.0.5" refused')

    with monkeypatch.context() as patch:
        patch.setattr(connections["default"], "cursor", refuse)
        yield


def test_ok_reports_each_dependency_and_no_active_model_yet(client, db):
    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
        "modelVersion": None,
    }
    assert "no-cache" in response["Cache-Control"]


def test_names_the_active_model_version(client, active_version):
    response = client.get("/health/")

    assert response.json()["modelVersion"] == active_version.version


def test_redis_down_is_degraded_but_still_serving(client, db, redis_down):  # noqa: F811
    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["cache"] == "unavailable"
    assert response.json()["database"] == "ok"


def test_database_down_is_503_and_tells_nothing_more(client, db, database_down, caplog):
    caplog.set_level(logging.ERROR, logger="studiosim.health")

    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable"}
    assert "10.0.0.5" not in response.content.decode()
    assert "10.0.0.5" in caplog.text  # the operator finds the cause in the log


def test_answers_get_only(client, db):
    assert client.post("/health/").status_code == 405


def test_plain_http_probe_is_not_redirected_to_https(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/health/").status_code == 200
    assert client.get("/graphql/").status_code == 301  # everything else is
