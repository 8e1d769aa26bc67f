"""Cache keys that follow the data and the model; Redis down = slower, not broken."""

from decimal import Decimal

import pytest

from forecasting.selectors import model_version_active
from forecasting.services import model_version_activate
from studios.models import Studio
from studios.services import metric_save
from studiosim.cache import cache_stats, cached_json, prediction_cache_key
from tests.factories import (
    ModelVersionFactory,
    MonthlyMetricFactory,
    StudioFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

STUDIO_BASELINE_QUERY = """
query StudioBaseline($studioId: ID!) {
  studioBaseline(studioId: $studioId) {
    currentMetrics { monthlyRevenue }
    industryBenchmarks { peerCount }
  }
}
"""

PAYLOAD = {
    "base_month": "2024-01",
    "levers": {"retention_rate": 0.93, "upsell_rate": 0.2},
}


def forward_key(studio: Studio, model_version: str | None = "fm-1", payload=PAYLOAD):
    return prediction_cache_key(
        "forward", studio=studio, model_version=model_version, payload=payload
    )


def test_the_key_names_the_studio_its_data_version_and_the_model(db):
    studio = StudioFactory()

    key = forward_key(studio)

    assert str(studio.pk) in key
    assert f"data{studio.data_version}" in key
    assert "model-fm-1" in key


def test_the_key_hashes_the_payload_canonically(db):
    studio = StudioFactory()
    reordered = {
        "levers": {"upsell_rate": 0.2, "retention_rate": 0.93},
        "base_month": "2024-01",
    }

    assert forward_key(studio, payload=reordered) == forward_key(studio)
    assert forward_key(studio, payload={**PAYLOAD, "base_month": "2024-02"}) != (
        forward_key(studio)
    )


def test_a_metrics_write_changes_the_key(db):
    # given
    metric = MonthlyMetricFactory()
    studio = metric.studio
    before = forward_key(studio)

    # when
    metric.total_revenue = Decimal("50000.00")
    metric_save(metric=metric)

    # then
    studio.refresh_from_db()
    assert forward_key(studio) != before


def test_activating_a_model_version_changes_the_key(db):
    # given
    studio = StudioFactory()
    ModelVersionFactory(version="fm-1", status="active")
    before = forward_key(studio, model_version=model_version_active().version)

    # when
    model_version_activate(version=ModelVersionFactory(version="fm-2"))

    # then
    after = forward_key(studio, model_version=model_version_active().version)
    assert after != before


def test_cached_json_computes_once_and_answers_hits_like_misses(db):
    # given
    key = forward_key(StudioFactory())
    calls = []

    def compute():
        calls.append(1)
        return {"months": (1, 2, 3), "revenue": 41234.5}

    # when
    first = cached_json(key, compute)
    second = cached_json(key, compute)

    # then
    assert first == ({"months": [1, 2, 3], "revenue": 41234.5}, False)
    assert second == (first[0], True)
    assert len(calls) == 1


def test_cached_json_refuses_values_that_are_not_json(db):
    key = forward_key(StudioFactory())

    with pytest.raises(TypeError):
        cached_json(key, lambda: {"revenue": Decimal("1.00")})

    assert cached_json(key, lambda: None) == (None, False)


def test_hits_and_misses_are_counted_per_process_and_in_the_cache(db):
    # given
    key = forward_key(StudioFactory())
    before = cache_stats()

    # when
    cached_json(key, lambda: 1)
    cached_json(key, lambda: 1)
    cached_json(key, lambda: 1)

    # then
    after = cache_stats()
    for scope in ("process", "shared"):
        assert after[scope]["hits"] - (before[scope]["hits"] or 0) == 2
        assert after[scope]["misses"] - (before[scope]["misses"] or 0) == 1
    assert 0 < after["process"]["hit_rate"] < 1


def test_studio_baseline_is_cached_until_the_studios_data_changes(gql, owner):
    # given
    metric = MonthlyMetricFactory(studio=owner.studio, total_revenue=Decimal("1000.00"))
    client = gql(owner)
    variables = {"studioId": str(owner.studio.pk)}
    hits = cache_stats()["process"]["hits"]

    # when
    first = client.execute(STUDIO_BASELINE_QUERY, variables)
    second = client.execute(STUDIO_BASELINE_QUERY, variables)

    # then
    assert first == second
    assert cache_stats()["process"]["hits"] == hits + 1

    # when
    metric.total_revenue = Decimal("2000.00")
    metric_save(metric=metric)

    # then
    third = client.execute(STUDIO_BASELINE_QUERY, variables)
    assert third["data"]["studioBaseline"]["currentMetrics"] == {
        "monthlyRevenue": "2000.00"
    }


def test_studio_baseline_is_recomputed_when_a_peers_data_changes(gql, owner):
    # given
    MonthlyMetricFactory(studio=owner.studio)
    client = gql(owner)
    variables = {"studioId": str(owner.studio.pk)}
    client.execute(STUDIO_BASELINE_QUERY, variables)

    # when
    metric_save(metric=MonthlyMetricFactory.build(studio=StudioFactory()))

    # then
    body = client.execute(STUDIO_BASELINE_QUERY, variables)
    assert body["data"]["studioBaseline"]["industryBenchmarks"] == {"peerCount": 1}


def test_requests_succeed_with_redis_down(gql, owner, settings):
    # given: django-redis pointed at a closed port, as configured in production
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
    MonthlyMetricFactory(studio=owner.studio, total_revenue=Decimal("1000.00"))

    # when
    body = gql(owner).execute(STUDIO_BASELINE_QUERY, {"studioId": str(owner.studio.pk)})

    # then
    assert body == {
        "data": {
            "studioBaseline": {
                "currentMetrics": {"monthlyRevenue": "1000.00"},
                "industryBenchmarks": {"peerCount": 0},
            }
        }
    }
    assert cache_stats()["shared"]["hits"] is None
