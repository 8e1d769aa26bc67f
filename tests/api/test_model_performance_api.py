"""modelPerformance: the active version's test metrics and live accuracy.

Anyone signed in reads the metrics and the live accuracy (counts and shares over
all studios); the cache statistics inside it are for staff only.
"""

import datetime as dt

import pytest
from django.utils import timezone

from forecasting.models import ModelVersionStatus
from tests.api.conftest import covers, error_codes
from tests.factories import ModelVersionFactory, PredictionLogFactory

pytestmark = pytest.mark.django_db

MODEL_PERFORMANCE_QUERY = """
query ModelPerformance {
  modelPerformance {
    modelVersion deployedAt
    performanceMetrics { rmse mape r2Score directionalAccuracy intervalCoverage }
    predictionDistribution {
      predictionsServed totalPredictions avgConfidence meanErrorPct
      errorDistribution { within5Pct within10Pct over10Pct }
    }
  }
}
"""

MODEL_PERFORMANCE_WITH_CACHE_QUERY = """
query ModelPerformanceWithCache {
  modelPerformance {
    modelVersion
    cacheStats {
      process { hits misses hitRate }
      shared { hits misses hitRate }
    }
  }
}
"""

HEADLINE = {
    "test_mape_h1": 0.041,
    "test_rmse_h1": 5234.0,
    "test_r2_h1": 0.93,
    "test_directional_accuracy_h1": 0.71,
    "test_coverage_h1": 0.79,
}


@pytest.fixture
def deployed_at():
    return timezone.now() - dt.timedelta(days=3)


@pytest.fixture
def active(db, deployed_at):
    """The active version, with four logs measured against actuals and one not."""
    version = ModelVersionFactory(
        version="fm-live",
        status=ModelVersionStatus.ACTIVE,
        deployed_at=deployed_at,
        metrics={"headline": HEADLINE},
    )
    for error_pct, confidence in [(0.02, 0.9), (0.05, 0.8), (0.08, 0.7), (0.2, 0.6)]:
        PredictionLogFactory(
            model_version=version, error_pct=error_pct, confidence=confidence
        )
    PredictionLogFactory(model_version=version)  # its months have no data yet
    PredictionLogFactory(error_pct=0.5)  # another version's
    return version


@covers("allowed", "modelPerformance")
def test_studio_users_read_the_active_versions_metrics_and_live_accuracy(
    gql, owner, active, deployed_at
):
    # when
    body = gql(owner).execute(MODEL_PERFORMANCE_QUERY)

    # then
    assert body == {
        "data": {
            "modelPerformance": {
                "modelVersion": "fm-live",
                "deployedAt": deployed_at.isoformat(),
                "performanceMetrics": {
                    "rmse": 5234.0,
                    "mape": 0.041,
                    "r2Score": 0.93,
                    "directionalAccuracy": 0.71,
                    "intervalCoverage": 0.79,
                },
                "predictionDistribution": {
                    "predictionsServed": 5,
                    "totalPredictions": 4,
                    "avgConfidence": pytest.approx(0.75),
                    "meanErrorPct": pytest.approx(0.0875),
                    "errorDistribution": {
                        "within5Pct": 0.5,
                        "within10Pct": 0.75,
                        "over10Pct": 0.25,
                    },
                },
            }
        }
    }


def test_before_any_actual_outcome_the_shares_are_null(gql, owner):
    # given
    version = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    PredictionLogFactory(model_version=version)

    # when
    body = gql(owner).execute(MODEL_PERFORMANCE_QUERY)

    # then
    distribution = body["data"]["modelPerformance"]["predictionDistribution"]
    assert distribution == {
        "predictionsServed": 1,
        "totalPredictions": 0,
        "avgConfidence": None,
        "meanErrorPct": None,
        "errorDistribution": {
            "within5Pct": None,
            "within10Pct": None,
            "over10Pct": None,
        },
    }


def test_staff_also_read_the_cache_statistics(gql, staff, active):
    body = gql(staff).execute(MODEL_PERFORMANCE_WITH_CACHE_QUERY)

    assert "errors" not in body
    stats = body["data"]["modelPerformance"]["cacheStats"]
    assert set(stats["process"]) == {"hits", "misses", "hitRate"}
    assert isinstance(stats["process"]["hits"], int)


@covers("anonymous", "modelPerformance")
def test_model_performance_refuses_anonymous_callers(gql, active):
    response = gql().post(MODEL_PERFORMANCE_QUERY)

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


@covers("denied", "modelPerformance")
def test_the_cache_statistics_are_forbidden_to_studio_users(gql, owner, active):
    # when
    body = gql(owner).execute(MODEL_PERFORMANCE_WITH_CACHE_QUERY)

    # then: the rest of the answer stands
    assert body["data"] == {
        "modelPerformance": {"modelVersion": "fm-live", "cacheStats": None}
    }
    [error] = body["errors"]
    assert error["path"] == ["modelPerformance", "cacheStats"]
    assert error["extensions"] == {"code": "FORBIDDEN"}


@covers("bad input", "modelPerformance")
def test_model_performance_takes_no_arguments(gql, owner, active):
    body = gql(owner).execute(
        '{ modelPerformance(version: "fm-old") { modelVersion } }'
    )

    [error] = body["errors"]
    assert error["message"] == (
        "Unknown argument 'version' on field 'Query.modelPerformance'."
    )


def test_without_an_active_version_the_answer_says_so(gql, owner):
    ModelVersionFactory(status=ModelVersionStatus.READY)

    body = gql(owner).execute(MODEL_PERFORMANCE_QUERY)

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "NO_ACTIVE_MODEL"}
    # a version is trained but not active: staff activate it, no training needed
    assert error["message"] == (
        "no active model: a trained version waits for staff to activate it "
        "(manage.py activate_model, or the admin)"
    )
