"""A bounded schemathesis run against /graphql/: no input makes the server fail.

Schemathesis generates documents for every root field from the committed SDL
(``test_schema_sdl`` keeps it current) and sends them through Django's WSGI
application with a staff API token, so every operation runs rather than stopping
at the permission check.

Every operation reaches its resolver with valid ids: the database holds
generated studios, an active model version and a ready one, forward and inverse
prediction logs, saved scenarios and a finished retrain job, and before each
document is sent most of its id arguments are replaced by ids of the right
kind, chosen by where they sit (a ``saveScenario`` input gets a studio and one
of that studio's predictions, ``compareScenarios`` two or three scenarios of
one studio, ``retrainJob`` a job, ...). The rest keep what schemathesis drew.
Retrains run in-process (Celery eager, the job committed and run after each
request) with the training itself replaced by a version sharing the active
one's artifacts, so a document costs milliseconds, not a model fit.

A response fails when the server errs: a 5xx status, or an error raised while
resolving a field (it carries a ``path``) without a code saying the client was at
fault. Errors found before execution (syntax, validation, limits) are the
client's by definition.
"""

import random
from collections.abc import Callable, Iterator
from dataclasses import replace

import graphql
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, Response
from schemathesis.graphql import nodes

from forecasting import batch, jobs
from forecasting.models import (
    BatchForecast,
    ModelVersion,
    ModelVersionStatus,
    PredictionLog,
    RetrainJob,
    RetrainJobStatus,
)
from forecasting.services import forecast_predict
from optimization.services import inverse_predict
from scenarios.models import Scenario
from scenarios.services import scenario_save
from studios.models import MonthlyMetric, Studio
from studios.services import api_token_create
from studiosim.celery import app as celery_app
from tests.api.conftest import GRAPHQL_URL
from tests.api.test_schema_sdl import SDL_PATH
from tests.factories import ModelVersionFactory, RetrainJobFactory, StaffUserFactory

pytestmark = pytest.mark.django_db

#: Codes of errors the client caused; anything else raised in a resolver is a bug.
CLIENT_FAULT_CODES = {"BAD_USER_INPUT", "NOT_FOUND", "FORBIDDEN", "ALREADY_RUNNING"}
#: Share of id arguments replaced by a valid id of the right kind.
VALID_ID_SHARE = 0.8
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
# Amounts (targets, prices, maximum ticket increases) as a frontend sends them,
# and any number the type allows.
schemathesis.graphql.scalar(
    "Money",
    st.one_of(
        st.floats(min_value=0, max_value=200_000),
        st.integers(min_value=0, max_value=200_000),
        st.floats(allow_nan=False, allow_infinity=False),
    ).map(
        lambda value: (
            nodes.Float(value) if isinstance(value, float) else nodes.Int(value)
        )
    ),
)

schema = schemathesis.graphql.from_path(SDL_PATH)
# Documents that break the schema never reach a resolver (GraphQL validation
# refuses them first); every example goes to valid documents instead.
schema.config.generation.update(modes=[GenerationMode.POSITIVE])


def _ids(queryset) -> list[str]:
    return [str(pk) for pk in queryset.values_list("pk", flat=True)]


class ValidIds:
    """Replaces id arguments of a generated document by ids of the right kind,
    read from the database at each document (mutations add and delete rows)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def rewrite(self, body: str) -> str:
        try:
            document = graphql.parse(body)
        except graphql.GraphQLError:
            return body
        definitions = []
        for definition in document.definitions:
            if isinstance(definition, graphql.OperationDefinitionNode):
                selections = tuple(
                    self._field(field)
                    if isinstance(field, graphql.FieldNode)
                    else field
                    for field in definition.selection_set.selections
                )
                definition = replace(
                    definition,
                    selection_set=replace(
                        definition.selection_set, selections=selections
                    ),
                )
            definitions.append(definition)
        return graphql.print_ast(replace(document, definitions=tuple(definitions)))

    def _field(self, field: graphql.FieldNode) -> graphql.FieldNode:
        root, studio, arguments = field.name.value, None, []
        for argument in field.arguments or ():
            value, studio = self._value(
                root, argument.name.value, argument.value, studio
            )
            arguments.append(replace(argument, value=value))
        return replace(field, arguments=tuple(arguments))

    def _value(self, root: str, name: str, value, studio: str | None):
        """``(value, studio)``: the value, an id made valid if ``name`` is an
        id's; input objects recursed into, their studio chosen first so that a
        prediction beside it can belong to it."""
        if isinstance(value, graphql.ObjectValueNode):
            inner, fields = None, {}
            for field in sorted(value.fields, key=lambda f: f.name.value != "studioId"):
                new, inner = self._value(root, field.name.value, field.value, inner)
                fields[field.name.value] = replace(field, value=new)
            ordered = tuple(fields[f.name.value] for f in value.fields)
            return replace(value, fields=ordered), studio
        if self.rng.random() > VALID_ID_SHARE:
            return value, studio
        choice = self._choose(root, name, studio)
        if choice is None:
            return value, studio
        if isinstance(choice, list):
            new = graphql.ListValueNode(
                values=tuple(graphql.StringValueNode(value=c) for c in choice)
            )
        else:
            new = graphql.StringValueNode(value=choice)
        return new, (choice if name == "studioId" else studio)

    def _choose(self, root: str, name: str, studio: str | None):
        pick = self.rng.choice
        if name == "studioId":
            # Mostly studios with predictions and scenarios, so that what
            # depends on the studio (a prediction id beside it) can be valid.
            with_logs = [
                str(pk)
                for pk in PredictionLog.objects.values_list(
                    "studio", flat=True
                ).distinct()
            ]
            if with_logs and self.rng.random() < 0.7:
                return pick(with_logs)
            return pick(_ids(_studios()))
        if name == "predictionId":
            logs = PredictionLog.objects.all()
            if studio is not None:
                logs = logs.filter(studio_id=studio)
            return pick(_ids(logs) or [None])
        if (root, name) in {("scenario", "id"), ("deleteScenario", "id")} or (
            name == "scenarioId"
        ):
            return pick(_ids(Scenario.objects.all()) or [None])
        if (root, name) == ("compareScenarios", "ids"):
            by_studio: dict[str, list[str]] = {}
            for pk, owner in Scenario.objects.values_list("pk", "studio_id"):
                by_studio.setdefault(str(owner), []).append(str(pk))
            groups = [g for g in by_studio.values() if len(g) >= 2]
            if not groups:
                return None
            group = pick(groups)
            return self.rng.sample(group, self.rng.randint(2, len(group)))
        if (root, name) == ("studio", "id"):
            return pick(_ids(_studios()))
        if (root, name) == ("retrainJob", "id"):
            return pick(_ids(RetrainJob.objects.all()) or [None])
        if (root, name) in {("batchForecast", "id"), ("retryBatchForecast", "id")}:
            return pick(_ids(BatchForecast.objects.all()) or [None])
        if (root, name) == ("activateModelVersion", "id"):
            return pick(_ids(ModelVersion.objects.all()))
        return None


def _studios():
    return Studio.objects.all()


@pytest.fixture
def seeded(loaded_studios, active_version, settings):
    """Rows of every kind an operation takes an id of, made through the services."""
    staff = StaffUserFactory()
    month = MonthlyMetric.objects.latest("month_year").month_year
    for studio in loaded_studios[:3]:
        for retention in (0.9, 0.95):
            log = forward_predict_logged(studio, month, retention, staff)
            scenario_save(
                user=staff,
                studio=studio,
                prediction_id=log,
                name=f"{studio.name} at {retention}",
            )
    inverse_predict(
        studio=loaded_studios[0],
        base_month=month,
        target_revenue=1.1
        * float(
            MonthlyMetric.objects.filter(studio=loaded_studios[0])
            .latest("month_year")
            .total_revenue
        ),
        user=staff,
    )
    RetrainJobFactory(
        status=RetrainJobStatus.SUCCEEDED,
        started_at=active_version.created_at,
        finished_at=active_version.created_at,
        attempts=1,
        model_version=active_version,
    )
    # A batch run with a failed chunk: batchForecast reads it, retryBatchForecast
    # retries it.
    run = batch.batch_forecast_create(months=3, chunk_size=2, user=staff, enqueue=False)
    chunk = run.chunks.order_by("pk").first()
    batch.batch_forecast_chunk_fail(chunk_id=chunk.pk, error="seeded failure")
    batch.batch_forecast_run_here(run_id=run.pk)
    _loadable_version(active_version)
    return staff


def forward_predict_logged(studio, month, retention, user) -> str:
    return forecast_predict(
        studio=studio,
        base_month=month,
        levers={"retention_rate": retention},
        user=user,
    ).prediction_id


def _loadable_version(active: ModelVersion, **fields) -> ModelVersion:
    """A ready version on the active one's artifacts: activating it works."""
    return ModelVersionFactory(
        status=ModelVersionStatus.READY,
        artifact_path=active.artifact_path,
        artifact_files=active.artifact_files,
        artifact_sha256=active.artifact_sha256,
        params={"random_state": 0},
        **fields,
    )


@pytest.fixture
def in_process_jobs(monkeypatch, active_version):
    """Retrains run eagerly, training replaced by a loadable version."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True

    def train(*, on_version_created=None, **kwargs):
        version = _loadable_version(active_version)
        if on_version_created is not None:
            on_version_created(version)
        return version

    monkeypatch.setattr(jobs, "model_train", train)
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def call(
    seeded, in_process_jobs, settings, django_capture_on_commit_callbacks
) -> Iterator[Callable[[Case], Response]]:
    """Send a case to /graphql/ through the WSGI application, as a staff token,
    with its ids made valid, then run what its transaction would have queued."""
    settings.ALLOWED_HOSTS = ["localhost"]
    # Built after the settings above: middleware reads them when it is loaded.
    application = get_wsgi_application()
    # As Django's test client does: requests must not close the connection that
    # holds the test's transaction.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    _known["ids"] = [
        *_ids(_studios()),
        *_ids(ModelVersion.objects.all()),
        *_ids(Scenario.objects.all()),
        *_ids(BatchForecast.objects.all()),
    ]
    months = MonthlyMetric.objects.dates("month_year", "month", order="DESC")
    _known["months"] = [f"{month:%Y-%m}" for month in months[:24]]
    _, key = api_token_create(user=seeded, name="schemathesis")
    answered: list[bool] = []

    def send(case: Case) -> Response:
        case.body = ValidIds(random.Random(case.body)).rewrite(case.body)
        with django_capture_on_commit_callbacks(execute=True):
            response = case.call(
                app=application,
                base_url=f"http://localhost{GRAPHQL_URL}",
                headers={"Authorization": f"Bearer {key}"},
            )
        answered.append(_answered(response))
        return response

    yield send
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)
    # The point of the seeded ids: the operation's resolver answered at least
    # once, rather than every document stopping at validation or a lookup.
    assert any(answered), f"no document reached a resolver in {len(answered)} tries"


def _answered(response: Response) -> bool:
    """Whether a root field resolved to a value (not an error)."""
    try:
        data = response.json().get("data")
    except ValueError:
        return False
    return isinstance(data, dict) and any(v is not None for v in data.values())


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
