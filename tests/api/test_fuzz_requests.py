"""Property-based fuzzing of /graphql/ with Hypothesis: no request gets a 5xx.

Arbitrary methods, headers and bodies go through the real view (Django's test
client, a valid bearer token most of the time): raw bytes, JSON of every shape
(NaN and infinities, huge and tiny numbers, deep nesting, every Unicode
category, lone surrogates, U+0000), GraphQL-shaped objects whose values are
any of those, and documents from templates of the real operations with
arbitrary literals inside. Every answer must be below 500, a refusal must be a
GraphQL-shaped JSON error, and an executed document must carry no
INTERNAL_SERVER_ERROR. The typed schema is fuzzed operation by operation in
``test_schemathesis.py``; this test is about everything around it.

The runs are seeded and bounded (:data:`EXAMPLES`), so CI spends seconds here.
"""

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from studios.services import api_token_create
from tests.api.conftest import GRAPHQL_URL

pytestmark = pytest.mark.django_db

EXAMPLES = 150
SEED = 20241117

#: Characters of every Unicode category, lone surrogates included, and the few
#: that break naive code most often.
CHARACTERS = st.one_of(
    st.characters(codec=None),
    st.characters(categories=["Cs"]),
    st.sampled_from(["\x00", "\\", '"', "\u2028", "\ufeff", "\udfff", "\n"]),
)
TEXT = st.text(CHARACTERS, max_size=30)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),  # NaN and the infinities included
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, 2**53 + 1, 2**64, 1e16, 1e-10]),
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4)
    ),
    max_leaves=12,
)


def _literal(value) -> str:
    """``value`` written as a GraphQL literal, escapes and all."""
    if isinstance(value, str):
        return json.dumps(value)  # \\uXXXX escapes for control chars and surrogates
    return json.dumps(value) if value is not None else "null"


DOCUMENT_TEMPLATES = [
    "{{ studios(filters: {{city: {0}}}) {{ totalCount }} }}",
    "{{ studios(pagination: {{limit: {0}, offset: {0}}}) {{ results {{ id }} }} }}",
    "{{ studio(id: {0}) {{ name monthlyMetrics(lastMonths: {0}) {{ monthYear }} }} }}",
    '{{ forwardPrediction(input: {{studioId: "{studio}", baseMonth: {0}, '
    "projectionMonths: {0}, coverage: {0}, levers: {{avgTicketPrice: {0}, "
    "retentionRate: {0}}}}}) {{ totalProjectedRevenue }} }}",
    '{{ inversePrediction(input: {{studioId: "{studio}", targetRevenue: {0}, '
    "constraints: {{maxTicketIncrease: {0}, upperBounds: {{upsellRate: {0}}}}}}}) "
    "{{ achievableRevenue }} }}",
    '{{ scenarios(studioId: "{studio}", tags: [{0}], page: {0}, pageSize: {0}) '
    "{{ total }} }}",
    "{{ leverImpactAnalysis(studioId: {0}, baseMonth: {0}) {{ baseRevenue }} }}",
    'mutation {{ saveScenario(input: {{studioId: "{studio}", predictionId: {0}, '
    "scenarioName: {0}, description: {0}, tags: [{0}], idempotencyKey: {0}}}) "
    "{{ scenarioId }} }}",
    "query A {{ a: __typename }} query B {{ b: {0} }}",
]
LITERALS = st.one_of(
    st.builds(_literal, JSON),
    st.sampled_from(
        ["1e400", "-1e400", "9" * 400, '"\\u0000"', '"\\ud800"', '"\\u{110000}"']
    ),
    TEXT,  # not a literal at all: syntax errors
)

SHAPES = st.fixed_dictionaries(
    {},
    optional={
        "query": st.one_of(TEXT, JSON, st.just("{ __typename }")),
        "variables": JSON,
        "operationName": st.one_of(TEXT, JSON),
        "extensions": JSON,
        "id": JSON,
    },
)
METHODS = st.sampled_from(
    ["GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"]
)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=utf-16",
            "application/json;charset=",
            "application/graphql",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
            "",
        ]
    ),
    st.text(st.characters(max_codepoint=255), max_size=40),
)
# What a WSGI server can pass (Latin-1), and lone surrogates, which only an
# in-process caller can.
HEADER_TEXT = st.text(
    st.one_of(st.characters(max_codepoint=255), st.characters(categories=["Cs"])),
    max_size=60,
)


@pytest.fixture
def token(owner):
    """A valid token of a studio owner, and the studio, for all of a test's
    examples (made once per test, hence the health check suppressed below)."""
    _, key = api_token_create(user=owner, name="fuzz")
    return key, str(owner.studio.pk)


def check(response, method: str = "POST") -> None:
    """No 5xx; a refusal is a GraphQL error in JSON; no masked server error."""
    assert response.status_code < 500, response.content[:500]
    text = response.content.decode("utf-8", errors="replace")
    assert "Traceback" not in text
    if method == "HEAD" and not response.content:
        return  # an answer to HEAD has no body
    if response.status_code >= 400 or response.status_code == 200:
        if response["Content-Type"].startswith("text/html"):
            # Only the GraphiQL page is HTML (a GET without a query, where
            # GRAPHIQL_ENABLED is on).
            assert (method, response.status_code) == ("GET", 200), text[:300]
            assert "GraphiQL" in text
            return
        body = response.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        if response.status_code >= 400:
            assert errors, text[:300]
        for error in errors or []:
            code = (error.get("extensions") or {}).get("code")
            assert code != "INTERNAL_SERVER_ERROR", error


def _send(method: str, body: bytes, content_type: str, headers: dict):
    client = Client()
    extra = {"content_type": content_type} if content_type else {}
    return client.generic(method, GRAPHQL_URL, body, headers=headers, **extra)


@st.composite
def auth_headers(draw, key: str) -> dict:
    scheme = draw(
        st.sampled_from(["valid", "valid", "valid", "none", "garbage", "basic"])
    )
    headers = {}
    if scheme == "valid":
        headers["Authorization"] = f"Bearer {key}"
    elif scheme == "garbage":
        headers["Authorization"] = draw(HEADER_TEXT)
    elif scheme == "basic":
        headers["Authorization"] = "Basic " + draw(HEADER_TEXT)
    if draw(st.booleans()):
        headers["Accept"] = draw(
            st.one_of(st.sampled_from(["*/*", "text/event-stream"]), HEADER_TEXT)
        )
    return headers


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@seed(SEED)
@FUZZ_SETTINGS
@given(data=st.data())
def test_raw_bytes_with_any_method_and_headers_never_get_a_5xx(token, data):
    key, _ = token
    body = data.draw(st.binary(max_size=512))
    method = data.draw(METHODS)
    content_type = data.draw(CONTENT_TYPES)
    headers = data.draw(auth_headers(key))

    check(_send(method, body, content_type, headers), method)


@seed(SEED)
@FUZZ_SETTINGS
@given(data=st.data())
def test_json_of_any_shape_never_gets_a_5xx(token, data):
    key, _ = token
    value = data.draw(st.one_of(JSON, SHAPES))
    body = json.dumps(value, allow_nan=True).encode()
    headers = data.draw(auth_headers(key))

    check(_send("POST", body, "application/json", headers))


@seed(SEED)
@FUZZ_SETTINGS
@given(data=st.data())
def test_documents_with_any_literals_never_get_a_5xx(token, data):
    key, studio = token
    template = data.draw(st.sampled_from(DOCUMENT_TEMPLATES))
    literal = data.draw(LITERALS)
    query = template.format(literal, studio=studio)
    variables = data.draw(st.one_of(st.none(), st.dictionaries(TEXT, JSON, max_size=3)))
    body = json.dumps({"query": query, "variables": variables}).encode()

    check(_send("POST", body, "application/json", {"Authorization": f"Bearer {key}"}))


@seed(SEED)
@FUZZ_SETTINGS
@given(data=st.data())
def test_get_parameters_of_any_content_never_get_a_5xx(token, data):
    key, studio = token
    params = data.draw(
        st.dictionaries(
            st.sampled_from(["query", "variables", "operationName", "extensions", "x"]),
            st.one_of(
                TEXT,
                st.builds(json.dumps, JSON),
                st.builds(
                    lambda t, lit: t.format(lit, studio=studio),
                    st.sampled_from(DOCUMENT_TEMPLATES[:3]),
                    LITERALS,
                ),
            ),
            max_size=4,
        )
    )
    # Lone surrogates cannot be put in a URL; the client percent-encodes UTF-8.
    params = {
        k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        for k, v in params.items()
    }
    headers = data.draw(auth_headers(key))

    response = Client().get(GRAPHQL_URL, params, headers=headers)

    check(response, "GET")
