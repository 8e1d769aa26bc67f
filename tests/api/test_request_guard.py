"""Malformed requests to /graphql/: every class refused with a 4xx and a GraphQL error.

Each class of malformed input named in the hardening issue (a body that is not a
JSON object, bytes that are not UTF-8, deep nesting, text that cannot be stored,
numbers a computation cannot carry, several operations without a name, documents
too large to validate cheaply) is sent through the real view with a valid token.
"""

import json

import pytest
from django.test import Client

from studiosim import graphql_security, request_guard
from tests.api.conftest import GRAPHQL_URL, error_codes

pytestmark = pytest.mark.django_db

TYPENAME = {"query": "{ __typename }"}


@pytest.fixture
def post(gql, owner):
    """``post(body_bytes, content_type=...)`` as the owner, with a bearer token."""
    client = gql(owner)

    def send(body: bytes, content_type: str = "application/json", **extra):
        return client.client.generic(
            "POST",
            GRAPHQL_URL,
            body,
            content_type=content_type,
            headers=client.headers,
            **extra,
        )

    return send


def refusal(response, status: int) -> dict:
    """The one error of a refused request, checked for its shape."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["message"]
    assert error["extensions"]["code"] in ("BAD_USER_INPUT", "BAD_REQUEST")
    return error


def dumps(value) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (b"null", "body", "not null"),
        (b"42", "body", "not a number"),
        (b"-0.0", "body", "not a number"),
        (b'"{ __typename }"', "body", "not a string"),
        (b"true", "body", "not a boolean"),
        (b"[]", "body", "batched requests are not served"),
        (dumps([TYPENAME]), "body", "batched requests are not served"),
        (b" ", "body", "not valid JSON"),
        (b"{", "body", "not valid JSON"),
        (b'{"query": "{ __typename }"} trailing', "body", "not valid JSON"),
        (b"\xef\xbb\xbf" + dumps(TYPENAME), "body", "not valid JSON"),  # a BOM
        (b'{"query": "{ __typename }\xff"}', "body", "not valid UTF-8"),
        (b"\xff\xfe{\x00}\x00", "body", "not valid UTF-8"),  # UTF-16
        (b'{"query": "\xed\xa0\x80"}', "body", "not valid UTF-8"),  # CESU surrogate
        (b"[" * 100_000 + b"]" * 100_000, "body", "nested deeper"),
        (
            b'{"query": "{ __typename }", "variables": {"a": '
            + b"[" * 40
            + b"]" * 40
            + b"}}",
            "body",
            "nested deeper",
        ),
        (b'{"query": "{ __typename }", "variables": {"a": NaN}}', "body", "NaN"),
        (
            b'{"query": "{ __typename }", "variables": {"a": -Infinity}}',
            "body",
            "Infinity",
        ),
        (
            b'{"query": "{ __typename }", "variables": {"a": 1e400}}',
            "body",
            "too large",
        ),
        (
            b'{"query": "{ __typename }", "variables": {"a": ' + b"9" * 5000 + b"}}",
            "body",
            "too large",
        ),
        (dumps({"query": 5}), "query", "non-empty string"),
        (dumps({"query": ""}), "query", "non-empty string"),
        (dumps({}), "query", "non-empty string"),
        (dumps({**TYPENAME, "variables": [1]}), "variables", "JSON object"),
        (dumps({**TYPENAME, "variables": "{}"}), "variables", "JSON object"),
        (dumps({**TYPENAME, "extensions": 1}), "extensions", "JSON object"),
        (dumps({**TYPENAME, "operationName": 5}), "operationName", "string or null"),
        (dumps({**TYPENAME, "id": "persisted"}), "id", "not a key"),
    ],
    ids=lambda value: value[:40] if isinstance(value, bytes) else None,
)
def test_a_malformed_body_is_refused_with_400(post, body, field, reason):
    error = refusal(post(body), 400)

    assert error["extensions"]["field"] == field
    assert reason in error["message"]


@pytest.mark.parametrize(
    "where",
    [
        {"query": "{ __typename }", "operationName": "\ud800"},
        {"query": "query A { __typename }", "operationName": "A\x00"},
        {"query": "{ __typename } # \udfff"},
        {"query": "{ __typename }", "variables": {"\udc00key": 1}},
        {"query": "{ __typename }", "variables": {"a": ["ok", "x\ud83d"]}},
        {"query": "{ __typename }", "variables": {"a": {"b": "\x00"}}},
        {"query": "{ __typename }", "extensions": {"tag": "\ud800"}},
        {"\ud800": 1, "query": "{ __typename }"},
    ],
    ids=[
        "operation-name",
        "nul-in-name",
        "query-comment",
        "variable-key",
        "list-item",
        "nested-nul",
        "extensions",
        "top-level-key",
    ],
)
def test_text_that_cannot_be_stored_is_refused_anywhere_in_the_body(post, where):
    # json.dumps writes lone surrogates as \\ud800 escapes, as a client would.
    error = refusal(post(dumps(where)), 400)

    assert "U+0000" in error["message"] or "surrogate" in error["message"]


def test_a_pair_of_surrogates_is_an_ordinary_character(post):
    response = post(b'{"query": "{ __typename } # \\ud83d\\ude00"}')

    assert response.json() == {"data": {"__typename": "Query"}}


def test_a_body_over_the_limit_is_refused_with_413(post):
    padding = " " * request_guard.MAX_BODY_BYTES
    error = refusal(post(dumps({"query": "{ __typename }" + padding})), 413)

    assert "larger than" in error["message"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/graphql", ""],
)
def test_a_body_that_is_not_json_is_refused_with_415(post, content_type):
    refusal(post(dumps(TYPENAME), content_type=content_type), 415)


def test_json_in_another_charset_is_refused_with_415(post):
    refusal(
        post(dumps(TYPENAME), content_type="application/json; charset=latin-1"), 415
    )


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])
def test_other_methods_are_refused_with_405_and_allow(gql, owner, method):
    client = gql(owner)

    response = client.client.generic(
        method, GRAPHQL_URL, dumps(TYPENAME), headers=client.headers
    )

    refusal(response, 405)
    assert response["Allow"] == "GET, POST"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"query": "{ __typename }", "variables": "[1"}, 400),
        ({"query": "{ __typename }", "variables": '{"a": "\\ud800"}'}, 400),
        ({"query": "{ __typename }", "variables": "[" * 50 + "]" * 50}, 400),
        ({"query": "{ __typename }", "variables": "7"}, 400),
        ({"query": "{ __typename }\x00"}, 400),
        ({"query": ["{ __typename }", "{ __typename }"]}, 400),
        ({"query": "mutation { deleteScenario(id: 1) { scenarioId } }"}, 400),
    ],
    ids=["bad-json", "surrogate", "deep", "not-object", "nul", "repeated", "mutation"],
)
def test_get_parameters_are_checked_as_strictly(gql, owner, params, status):
    client = gql(owner)

    response = client.client.get(GRAPHQL_URL, params, headers=client.headers)

    refusal(response, status)


def test_a_get_query_still_works(gql, owner):
    client = gql(owner)

    response = client.client.get(
        GRAPHQL_URL, {"query": "{ __typename }"}, headers=client.headers
    )

    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("header", ["Authorization", "Accept", "X-Csrftoken"])
def test_a_header_with_a_lone_surrogate_is_refused(gql, owner, header):
    client = gql(owner)
    headers = {**client.headers, header: "Bearer x\ud800"}

    response = client.client.post(
        GRAPHQL_URL, dumps(TYPENAME), content_type="application/json", headers=headers
    )

    error = refusal(response, 400)
    assert error["extensions"]["field"] == "headers"


@pytest.mark.parametrize("key", ["caf\u00e9", "tab\tkey", "nul\x00", "x" * 5000])
def test_a_bearer_token_that_cannot_be_one_is_refused_with_401(db, key):
    response = Client().post(
        GRAPHQL_URL,
        dumps(TYPENAME),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_an_anonymous_malformed_request_is_refused_before_authentication(db):
    response = Client().post(GRAPHQL_URL, b"null", content_type="application/json")

    refusal(response, 400)


def test_an_unknown_operation_name_is_a_json_error_not_plain_text(post):
    response = post(dumps({"query": "query A { __typename }", "operationName": "B"}))

    error = refusal(response, 400)
    assert error["extensions"]["code"] == "BAD_REQUEST"


# --- inside the document -----------------------------------------------------------


@pytest.mark.parametrize(
    "literal", ['"a\\u0000b"', '"\\ud800"', '"\\u{D800}"', '"\\uDC00x"']
)
def test_string_literals_that_cannot_be_stored_are_refused(gql, owner, literal):
    # given a filter whose value would reach PostgreSQL
    query = f"{{ studios(filters: {{city: {literal}}}) {{ totalCount }} }}"

    # when
    body = gql(owner).execute(query)

    # then: refused before execution (no path), never INTERNAL_SERVER_ERROR
    assert body["data"] is None
    [error] = body["errors"]
    assert "path" not in error
    assert "INTERNAL_SERVER_ERROR" not in error_codes(body)


def test_several_operations_without_a_name_are_an_error(gql, owner):
    body = gql(owner).execute("query A { __typename } query B { __typename }")

    assert body["data"] is None
    assert body["errors"][0]["message"] == (
        "Must provide operation name if query contains multiple operations."
    )


def test_several_operations_with_a_name_run_the_one_named(post):
    response = post(
        dumps(
            {
                "query": "query A { a: __typename } query B { b: __typename }",
                "operationName": "B",
            }
        )
    )

    assert response.json() == {"data": {"b": "Query"}}


def test_a_document_with_too_many_fields_is_refused_before_validation(gql, owner):
    fields = "__typename " * (graphql_security.MAX_FIELDS + 1)

    body = gql(owner).execute(f"{{ {fields} }}")

    assert body["data"] is None
    assert "more than 250 fields" in body["errors"][0]["message"]


def test_fields_are_counted_with_fragments_expanded(gql, owner):
    # given: 60 fields in a fragment, spread 5 times (300 once expanded)
    fragment = "fragment F on Query { " + "__typename " * 60 + "}"
    spreads = " ".join(f"a{i}: __typename ...F" for i in range(5))

    body = gql(owner).execute(f"query Q {{ {spreads} }} {fragment}")

    assert body["data"] is None
    assert "fields" in body["errors"][0]["message"]


def test_a_fragment_cycle_is_counted_safely_and_refused_by_validation(gql, owner):
    body = gql(owner).execute(
        "query Q { ...A } fragment A on Query { __typename ...B } "
        "fragment B on Query { ...A }"
    )

    assert body["data"] is None
    assert "Cannot spread fragment" in body["errors"][0]["message"]


def test_a_document_over_the_cost_limit_is_refused(gql, owner):
    # given: every studio's whole history, a page of 100 studios at a time
    query = (
        "{ studios { results { monthlyMetrics { monthYear totalRevenue "
        "totalMembers retentionRate } cohorts { joinMonth cohortSize } } } }"
    )

    body = gql(owner).execute(query)

    assert body["data"] is None
    assert "estimated cost" in body["errors"][0]["message"]


def test_the_same_data_in_smaller_pages_is_served(gql, owner):
    query = (
        "{ studios(pagination: {limit: 5}) { results { "
        "monthlyMetrics(lastMonths: 12) { monthYear totalRevenue } } } }"
    )

    body = gql(owner).execute(query)

    assert "errors" not in body


@pytest.mark.parametrize(
    "number",
    ["1e400", "-1e400", "1e16", "5e-324", "1e-10", "-1e-300", "9" * 400],
)
def test_float_literals_out_of_range_are_refused(gql, owner, number):
    query = (
        f'{{ forwardPrediction(input: {{studioId: "{owner.studio.pk}", '
        f"levers: {{avgTicketPrice: {number}}}}}) {{ totalProjectedRevenue }} }}"
    )

    body = gql(owner).execute(query)

    assert body["data"] is None
    [error] = body["errors"]
    assert "out of range" in error["message"]
    assert "path" not in error


@pytest.mark.parametrize(
    "number", [1e308, -1e16, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-10]
)
def test_float_variables_out_of_range_are_refused_wherever_they_sit(gql, owner, number):
    # given: the number deep in an input object, in a list position too
    query = (
        "query($i: InversePredictionInput!) { inversePrediction(input: $i) "
        "{ achievableRevenue } }"
    )
    variables = {
        "i": {
            "studioId": str(owner.studio.pk),
            "targetRevenue": 50_000,
            "constraints": {"upperBounds": {"avgTicketPrice": number}},
        }
    }

    body = gql(owner).execute(query, variables)

    assert body["data"] is None
    [error] = body["errors"]
    assert "constraints.upperBounds.avgTicketPrice" in error["message"]
    assert "out of range" in error["message"]


def test_negative_zero_and_ordinary_floats_pass(gql, owner):
    query = (
        "query($i: ForwardPredictionInput!) { forwardPrediction(input: $i) "
        "{ totalProjectedRevenue } }"
    )
    variables = {
        "i": {
            "studioId": str(owner.studio.pk),
            "levers": {"upsellRate": -0.0, "avgTicketPrice": 1e-9},
        }
    }

    body = gql(owner).execute(query, variables)

    # the studio has no data: a typed refusal from the service, not the range
    assert "out of range" not in json.dumps(body)
    assert error_codes(body) == ["NO_ACTIVE_MODEL"]
