"""A bounded schemathesis run against /graphql/: no input makes the server fail.

Schemathesis generates documents for every root field from the committed SDL
(``test_schema_sdl`` keeps it current) and sends them through Django's WSGI
application with a staff API token, so every operation runs rather than stopping
at the permission check. IDs are drawn from the studios in the database as well
as at random, so predictions run on real data with generated levers, targets and
constraints.

A response fails when the server errs: a 5xx status, or an error raised while
resolving a field (it carries a ``path``) without a code saying the client was at
fault. Errors found before execution (syntax, validation, limits) are the
client's by definition.
"""

from collections.abc import Callable, Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, Response
from schemathesis.graphql import nodes

from studios.models import MonthlyMetric
from studios.services import api_token_create
from tests.api.conftest import GRAPHQL_URL
from tests.api.test_schema_sdl import SDL_PATH
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

#: Codes of errors the client caused; anything else raised in a resolver is a bug.
CLIENT_FAULT_CODES = {"BAD_USER_INPUT", "NOT_FOUND", "FORBIDDEN", "ALREADY_RUNNING"}
EXAMPLES_PER_OPERATION = 30
SEED = 20240101

#: Ids (studios, the model version) and months of the current test's database,
#: read at each draw.
_known: dict[str, list[str]] = {"ids": [], "months": []}


def _known_value(kind: str) -> st.SearchStrategy[str]:
    return st.integers(min_value=0).map(lambda i: _known[kind][i % len(_known[kind])])


# Built-in scalars drawn partly from values a frontend would send (this
# database's studio ids and months, small counts, fractions and amounts) and
# partly from anything the type allows: requests reach the models and the solver
# with generated levers, targets and constraints instead of all stopping at the
# first check.
schemathesis.graphql.scalar(
    "ID",
    st.one_of(_known_value("ids"), st.uuids().map(str), st.text(max_size=12)).map(
        nodes.String
    ),
)
schemathesis.graphql.scalar(
    "String", st.one_of(_known_value("months"), st.text()).map(nodes.String)
)
schemathesis.graphql.scalar(
    "Int",
    st.one_of(
        st.integers(min_value=1, max_value=12),
        st.integers(min_value=-(2**31), max_value=2**31 - 1),
    ).map(nodes.Int),
)
schemathesis.graphql.scalar(
    "Float",
    st.one_of(
        st.floats(min_value=0, max_value=1),
        st.floats(min_value=0, max_value=100_000),
        st.floats(allow_nan=False, allow_infinity=False),
    ).map(nodes.Float),
)

schema = schemathesis.graphql.from_path(SDL_PATH)
# Documents that break the schema never reach a resolver (GraphQL validation
# refuses them first); every example goes to valid documents instead.
schema.config.generation.update(modes=[GenerationMode.POSITIVE])


@pytest.fixture
def call(
    loaded_studios, active_version, settings
) -> Iterator[Callable[[Case], Response]]:
    """Send a case to /graphql/ through the WSGI application, as a staff token."""
    settings.ALLOWED_HOSTS = ["localhost"]
    # Built after the settings above: middleware reads them when it is loaded.
    application = get_wsgi_application()
    # As Django's test client does: requests must not close the connection that
    # holds the test's transaction.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    _known["ids"] = [str(row.pk) for row in (*loaded_studios, active_version)]
    months = MonthlyMetric.objects.dates("month_year", "month", order="DESC")
    _known["months"] = [f"{month:%Y-%m}" for month in months[:24]]
    _, key = api_token_create(user=StaffUserFactory(), name="schemathesis")

    def send(case: Case) -> Response:
        return case.call(
            app=application,
            base_url=f"http://localhost{GRAPHQL_URL}",
            headers={"Authorization": f"Bearer {key}"},
        )

    yield send
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@seed(SEED)
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_makes_the_server_fail(case, call):
    response = call(case)

    assert response.status_code < 500, response.text
    assert response.status_code != 401, "the token was refused"
    server_errors = [
        error
        for error in response.json().get("errors", [])
        if "path" in error
        and error.get("extensions", {}).get("code") not in CLIENT_FAULT_CODES
    ]
    assert not server_errors, (case.body, server_errors)
