"""The serving hot path: one narrow read of the model registry per request, and
its whole row (tens of kilobytes of metrics) only when the version changed."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from forecasting.models import ModelVersion
from forecasting.registry import active_model
from forecasting.services import model_evaluate
from optimization.serving import lever_impact_serve
from tests.factories import StudioMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

BASE_MONTH = "2026-04"
REGISTRY = 'FROM "forecasting_modelversion"'
#: A forward prediction no cache holds, once the process holds the model and the
#: studio's state at this data version (forecasting.services keeps it): the
#: token, the studio, the registry's marker and the log's INSERT, as for a hit,
#: and the peers' data version (the key of the extrapolation warnings' ranges).
UNCACHED_FORWARD_QUERIES = 5

FORWARD_QUERY = """
query Forward($input: ForwardPredictionInput!) {
  forwardPrediction(input: $input) {
    predictionId
    modelVersion
    predictionAccuracy { mape }
  }
}
"""


@pytest.fixture
def studio(loaded_studios):
    return loaded_studios[0]


@pytest.fixture
def studio_owner(studio):
    return StudioMembershipFactory(
        studio=studio, user=UserFactory(username="studio-owner")
    ).user


def forward(client, studio, upsell: float) -> dict:
    body = client.execute(
        FORWARD_QUERY,
        {
            "input": {
                "studioId": str(studio.pk),
                "baseMonth": BASE_MONTH,
                "levers": {"upsellRate": upsell},
            }
        },
    )
    assert "errors" not in body, body
    return body["data"]["forwardPrediction"]


def registry_reads(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if REGISTRY in q["sql"]]


def test_an_uncached_forward_prediction_reads_the_registry_once_and_narrowly(
    gql, studio_owner, studio, active_version
):
    # given: the process has served once, so it holds the version's row
    client = gql(studio_owner)
    forward(client, studio, 0.20)

    # when: a request no cache holds
    with CaptureQueriesContext(connection) as queries:
        answer = forward(client, studio, 0.25)

    # then
    assert answer["modelVersion"] == active_version.version
    assert len(queries) <= UNCACHED_FORWARD_QUERIES, [q["sql"] for q in queries]
    [read] = registry_reads(queries)
    assert '"metrics"' not in read
    assert '"artifact_files"' not in read


def test_a_re_evaluated_version_is_read_again_once(
    gql, studio_owner, studio, active_version
):
    # given: served once, then the active version's metrics are rewritten
    client = gql(studio_owner)
    assert forward(client, studio, 0.20)["predictionAccuracy"]["mape"] == 0.04
    version = ModelVersion.objects.get(pk=active_version.pk)
    version.metrics = {"headline": {"test_mape_h1": 0.05}}
    version.save(update_fields=["metrics", "updated_at"])

    # when
    with CaptureQueriesContext(connection) as changed:
        after = forward(client, studio, 0.25)
    with CaptureQueriesContext(connection) as unchanged:
        forward(client, studio, 0.30)

    # then: the new metrics are served, the whole row read once, then no more
    assert after["predictionAccuracy"]["mape"] == 0.05
    assert any('"metrics"' in sql for sql in registry_reads(changed))
    assert not any('"metrics"' in sql for sql in registry_reads(unchanged))


def test_evaluating_a_version_moves_its_change_marker(active_version, monkeypatch):
    # given
    before = ModelVersion.objects.get(pk=active_version.pk).updated_at
    monkeypatch.setattr(
        "forecasting.services.evaluation_summary", lambda model, frame: {"x": 1}
    )
    monkeypatch.setattr(
        "forecasting.services.activation_checks", lambda model, frame, metrics: {}
    )

    # when
    model_evaluate(version=ModelVersion.objects.get(pk=active_version.pk))

    # then
    assert ModelVersion.objects.get(pk=active_version.pk).updated_at > before
    assert active_model().version.metrics == {"x": 1}


def test_lever_impact_reads_the_registry_once(studio, active_version):
    # given: the process holds the version's row
    active_model()

    # when
    with CaptureQueriesContext(connection) as queries:
        served = lever_impact_serve(
            studio=studio, analysis_type="sensitivity", base_month=BASE_MONTH
        )

    # then
    assert served.output.model_version == active_version.version
    [read] = registry_reads(queries)
    assert '"metrics"' not in read
