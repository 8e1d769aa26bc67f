"""Error shapes, masking of unexpected errors, abuse limits, introspection."""

import logging
import re
import uuid

import pytest
from django.test import Client
from strawberry.extensions.validation_cache import _get_validate_cache

from studiosim import graphql_security
from studiosim.errors import InvalidInput, NoActiveModel
from studiosim.errors import NotFound as DomainNotFound
from studiosim.graphql_errors import BadUserInput, Forbidden, NotFound, Unauthenticated
from tests.api.conftest import GRAPHQL_URL, error_codes
from tests.factories import MonthlyMetricFactory

pytestmark = pytest.mark.django_db

STUDIO_BASELINE_QUERY = """
query StudioBaseline($studioId: ID!) {
  studioBaseline(studioId: $studioId) { baselinePeriod { endMonth } }
}
"""

DEEPEST_QUERY = """
query Deepest {
  studios(pagination: {limit: 10}) { results { monthlyMetrics { monthYear } } }
  studioBaseline(studioId: "00000000-0000-0000-0000-000000000000") {
    historicalTrends { seasonalityPattern { month } }
  }
}
"""

INTROSPECTION_QUERY = """
query Introspection { __schema { queryType { name } } }
"""

TYPENAME_QUERY = "query Typename { __typename }"


@pytest.fixture
def baseline_fails_with(monkeypatch):
    """Make the baseline selector raise ``error`` when studioBaseline resolves."""

    def fail_with(error: Exception) -> None:
        def raise_error(**kwargs):
            raise error

        monkeypatch.setattr("forecasting.graphql.batch.studio_baseline", raise_error)

    return fail_with


def test_an_unexpected_error_is_masked_and_logged_with_a_correlation_id(
    gql, owner, baseline_fails_with, caplog
):
    # given
    MonthlyMetricFactory(studio=owner.studio)
    baseline_fails_with(
        RuntimeError('near "SELECT password FROM auth_user" in /srv/app/secret.py')
    )

    # when
    with caplog.at_level(logging.DEBUG):
        response = gql(owner).post(
            STUDIO_BASELINE_QUERY, {"studioId": str(owner.studio.pk)}
        )

    # then: the caller learns nothing but an id to quote
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["message"] == "Unexpected error."
    assert error["path"] == ["studioBaseline"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    correlation_id = error["extensions"]["correlationId"]
    assert re.fullmatch(r"[0-9a-f]{32}", correlation_id)
    text = response.content.decode()
    for leak in ("SELECT", "secret.py", "/srv", "Traceback", "RuntimeError"):
        assert leak not in text

    # then: the log has the stack under the same id, once
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "studiosim.graphql"
    assert correlation_id in record.getMessage()
    assert record.exc_info[0] is RuntimeError
    assert "studioBaseline" in record.getMessage()


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        pytest.param(
            InvalidInput("2024-13 is not a month", field="base_month"),
            {
                "message": "baseMonth: 2024-13 is not a month",
                "extensions": {
                    "code": "BAD_USER_INPUT",
                    "field": "baseMonth",
                    "reason": "2024-13 is not a month",
                },
            },
            id="invalid-input",
        ),
        pytest.param(
            NoActiveModel(),
            {
                "message": "no active model: run train_model",
                "extensions": {"code": "NO_ACTIVE_MODEL"},
            },
            id="no-active-model",
        ),
        pytest.param(
            DomainNotFound("No scenario 7."),
            {"message": "No scenario 7.", "extensions": {"code": "NOT_FOUND"}},
            id="not-found",
        ),
    ],
)
def test_errors_raised_by_services_reach_the_caller_typed(
    gql, owner, baseline_fails_with, caplog, raised, expected
):
    # given
    MonthlyMetricFactory(studio=owner.studio)
    baseline_fails_with(raised)

    # when
    body = gql(owner).execute(STUDIO_BASELINE_QUERY, {"studioId": str(owner.studio.pk)})

    # then
    [error] = body["errors"]
    assert {k: error[k] for k in ("message", "extensions")} == expected
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("error", "extensions"),
    [
        (
            BadUserInput(field="pagination.max_limit", reason="too big"),
            {
                "code": "BAD_USER_INPUT",
                "field": "pagination.maxLimit",
                "reason": "too big",
            },
        ),
        (NotFound("No studio 1."), {"code": "NOT_FOUND"}),
        (Unauthenticated("Sign in."), {"code": "UNAUTHENTICATED"}),
        (Forbidden("Staff only."), {"code": "FORBIDDEN"}),
    ],
    ids=["bad-user-input", "not-found", "unauthenticated", "forbidden"],
)
def test_each_api_error_carries_its_code(error, extensions):
    assert error.extensions == extensions


def test_graphql_validation_errors_stay_visible(gql, owner):
    body = gql(owner).execute("query Typo { studioz { totalCount } }")

    [error] = body["errors"]
    assert error["message"].startswith("Cannot query field 'studioz' on type 'Query'.")


def test_the_deepest_query_the_schema_serves_is_within_the_depth_limit(gql, owner):
    body = gql(owner).execute(DEEPEST_QUERY)

    assert error_codes(body) == ["NOT_FOUND"]


def test_a_query_deeper_than_the_limit_is_refused_visibly(gql, owner, monkeypatch):
    # given: the schema has no cycles, so the limit is lowered to be reachable
    monkeypatch.setattr(graphql_security, "MAX_QUERY_DEPTH", 2)

    # when
    body = gql(owner).execute(DEEPEST_QUERY)

    # then
    assert body["data"] is None
    assert {e["message"] for e in body["errors"]} == {
        "'Deepest' exceeds maximum operation depth of 2"
    }


def test_too_many_aliases_are_refused_visibly(gql, owner):
    aliases = " ".join(
        f"a{i}: __typename" for i in range(graphql_security.MAX_ALIASES + 1)
    )

    body = gql(owner).execute(f"query Aliases {{ {aliases} }}")

    [error] = body["errors"]
    assert error["message"] == "11 aliases found. Allowed: 10"


def test_too_many_tokens_are_refused_visibly(gql, owner):
    fields = "__typename " * graphql_security.MAX_TOKENS

    body = gql(owner).execute(f"query Long {{ {fields} }}")

    [error] = body["errors"]
    assert error["message"] == (
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    )


def test_introspection_is_refused_unless_enabled(gql, owner, settings):
    # given
    settings.GRAPHIQL_ENABLED = False
    client = gql(owner)

    # when
    refused = client.execute(INTROSPECTION_QUERY)
    typename = client.execute(TYPENAME_QUERY)

    # then
    assert refused["data"] is None
    assert refused["errors"][0]["message"] == (
        "GraphQL introspection has been disabled, but the requested query "
        "contained the field '__schema'."
    )
    assert typename == {"data": {"__typename": "Query"}}


def test_introspection_works_where_graphiql_is_enabled(gql, owner, settings):
    settings.GRAPHIQL_ENABLED = True

    body = gql(owner).execute(INTROSPECTION_QUERY)

    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


def test_a_repeated_document_is_validated_once(gql, owner):
    """Clients send the same few query texts; validating each once per process
    is what keeps a cached answer cheap. The limits are classes made once, so
    they do not defeat the cache by being new on every request."""
    # given
    client = gql(owner)
    validations = _get_validate_cache(graphql_security.DOCUMENT_CACHE_SIZE)
    client.execute(STUDIO_BASELINE_QUERY, {"studioId": str(uuid.uuid4())})
    before = validations.cache_info()

    # when
    body = client.execute(STUDIO_BASELINE_QUERY, {"studioId": str(uuid.uuid4())})

    # then
    after = validations.cache_info()
    assert error_codes(body) == ["NOT_FOUND"]
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)


def test_a_cached_document_is_checked_against_the_current_limits(
    gql, owner, monkeypatch
):
    # given: the document was validated (and cached) under the normal limit
    client = gql(owner)
    assert error_codes(client.execute(DEEPEST_QUERY)) == ["NOT_FOUND"]

    # when: the limit is lowered and the same text sent again, twice
    monkeypatch.setattr(graphql_security, "MAX_QUERY_DEPTH", 2)
    bodies = [client.execute(DEEPEST_QUERY) for _ in range(2)]

    # then: refused both times, the second from the cache, the same way
    assert bodies[0] == bodies[1]
    assert bodies[0]["data"] is None
    assert {e["message"] for e in bodies[0]["errors"]} == {
        "'Deepest' exceeds maximum operation depth of 2"
    }


def test_a_cached_introspection_query_follows_the_setting(gql, owner, settings):
    client = gql(owner)

    settings.GRAPHIQL_ENABLED = True
    allowed = client.execute(INTROSPECTION_QUERY)
    settings.GRAPHIQL_ENABLED = False
    refused = client.execute(INTROSPECTION_QUERY)

    assert allowed == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert refused["data"] is None


@pytest.mark.parametrize(("enabled", "status"), [(True, 200), (False, 404)])
def test_the_graphiql_page_follows_its_setting(db, settings, enabled, status):
    # given
    settings.GRAPHIQL_ENABLED = enabled

    # when: the page itself is served without signing in
    response = Client().get(GRAPHQL_URL, headers={"Accept": "text/html"})

    # then
    assert response.status_code == status


def test_text_with_a_nul_character_is_refused_before_any_resolver(gql, owner):
    """PostgreSQL cannot store or compare U+0000 in text; it is a client error."""
    response = gql(owner).post(
        "query($n: String!) { studios(filters: {name: {iContains: $n}}) { id } }",
        {"n": "a\u0000b"},
    )

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "U+0000" in error["message"]
