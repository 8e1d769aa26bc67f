"""Helpers for the GraphQL API tests: a client posting JSON like a frontend, and
the registry behind the test that every root field is tested.
"""

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Literal

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.middleware.csrf import CSRF_SECRET_LENGTH
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.crypto import get_random_string

from studios.services import api_token_create
from tests.factories import StaffUserFactory

GRAPHQL_URL = "/graphql/"

Aspect = Literal["allowed", "anonymous", "denied", "bad input"]
ASPECTS: tuple[Aspect, ...] = ("allowed", "anonymous", "denied", "bad input")

#: Root field -> the aspects some test covers; filled by :func:`covers` at import.
TESTED_ROOT_FIELDS: dict[str, set[Aspect]] = defaultdict(set)


def covers(aspect: Aspect, *fields: str) -> Callable:
    """Record that the decorated test covers ``aspect`` of the root ``fields``.

    Every root Query and Mutation field needs a test for each aspect in
    :data:`ASPECTS`; ``test_every_root_field_is_tested`` holds the schema to it.
    """
    assert aspect in ASPECTS, aspect

    def register(test: Callable) -> Callable:
        for field in fields:
            TESTED_ROOT_FIELDS[field].add(aspect)
        return test

    return register


class GraphQLClient:
    """Posts GraphQL documents to /graphql/ as JSON, as a frontend app does."""

    def __init__(self, client: Client, headers: dict[str, str] | None = None):
        self.client = client
        self.headers = headers or {}

    def post(self, query: str, variables: dict[str, Any] | None = None) -> HttpResponse:
        return self.client.post(
            GRAPHQL_URL,
            json.dumps({"query": query, "variables": variables or {}}),
            content_type="application/json",
            headers=self.headers,
        )

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        """The JSON body of a request that reached the schema (HTTP 200)."""
        response = self.post(query, variables)
        assert response.status_code == 200, response.content
        return response.json()


@pytest.fixture
def gql(db) -> Callable[..., GraphQLClient]:
    """``gql(user)``: a client with a fresh bearer token of ``user``;
    ``gql(user, session=True)``: signed in with a session instead, sending the
    CSRF token as GraphiQL does (the check is enforced);
    ``gql()``: anonymous.
    """

    def make(user=None, *, session: bool = False, token: str | None = None):
        if session:
            client = Client(enforce_csrf_checks=True)
            client.force_login(user)
            # What GraphiQL does: echo the CSRF cookie in the X-CSRFToken header.
            secret = get_random_string(CSRF_SECRET_LENGTH)
            client.cookies[settings.CSRF_COOKIE_NAME] = secret
            return GraphQLClient(client, {"X-CSRFToken": secret})
        if user is not None:
            _, token = api_token_create(user=user, name="tests")
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return GraphQLClient(Client(enforce_csrf_checks=True), headers)

    return make


@pytest.fixture
def redis_down(settings):
    """django-redis pointed at a closed port, as configured in production."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {
                "IGNORE_EXCEPTIONS": True,
                "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }


@pytest.fixture
def staff(db):
    return StaffUserFactory(username="staff")


def error_codes(body: dict) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def assert_a_hit_costs_four_queries(queries: CaptureQueriesContext) -> None:
    """The token, the studio, the active model version's id, name and change
    marker, and the log entry: nothing else is read or written to serve a cached
    answer."""
    token, studio, version, log = (q["sql"] for q in queries)
    assert 'FROM "studios_apitoken"' in token
    assert 'FROM "studios_studio"' in studio
    # Only the id, the name and the change marker: not the version's metrics
    # (tens of kilobytes).
    assert version.startswith(
        'SELECT "v"."id", "v"."version", "v"."artifact_sha256", "v"."updated_at" '
        'FROM "forecasting_modelversion" '
    )
    assert log.startswith('INSERT INTO "forecasting_predictionlog"')
