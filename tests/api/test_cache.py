"""Cache keys that follow the data and the model; Redis down = slower, not broken."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.signals import request_finished, request_started

from forecasting.selectors import model_version_active
from forecasting.services import model_version_activate
from studios.models import Studio
from studios.services import metric_save
from studiosim.cache import (
    STATS_KEY,
    cache_stats,
    cached_json,
    prediction_cache_key,
)
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


def test_during_a_request_shared_counts_are_added_when_it_finishes(db):
    # given
    key = forward_key(StudioFactory())
    before = cache_stats()["shared"]["misses"] or 0

    # when: counted while a request is being served
    request_started.send(sender=None)
    cached_json(key, lambda: 1)
    during = cache.get(STATS_KEY.format(event="misses"), 0)
    request_finished.send(sender=None)

    # then: the shared counter moved only once the request had finished
    assert during == before
    assert cache_stats()["shared"]["misses"] == before + 1


def test_cache_stats_include_the_current_requests_counts(db):
    key = forward_key(StudioFactory())
    before = cache_stats()["shared"]["misses"] or 0

    request_started.send(sender=None)
    cached_json(key, lambda: 1)
    inside = cache_stats()["shared"]["misses"]
    request_finished.send(sender=None)

    assert inside == before + 1
    assert cache_stats()["shared"]["misses"] == before + 1


def test_a_process_answers_from_its_own_copy_without_the_shared_cache(
    db, settings, redis_down
):
    # given: local copies on, the shared cache unreachable
    settings.CACHE_LOCAL_ENTRIES = 8
    key = forward_key(StudioFactory())
    calls = []

    def compute():
        calls.append(1)
        return {"revenue": 41234.5}

    # when
    first = cached_json(key, compute)
    second = cached_json(key, compute)

    # then
    assert first == ({"revenue": 41234.5}, False)
    assert second == (first[0], True)
    assert len(calls) == 1


def test_local_copies_are_bounded_least_recently_used_first(db, settings, redis_down):
    # given: room for two answers
    settings.CACHE_LOCAL_ENTRIES = 2
    studio = StudioFactory()
    keys = [forward_key(studio, model_version=f"fm-{i}") for i in range(3)]
    for key in keys:
        cached_json(key, lambda: 1)

    # when: the newest two are read, then the oldest
    newest = [cached_json(key, lambda: 2)[1] for key in keys[1:]]
    oldest = cached_json(keys[0], lambda: 2)

    # then: the oldest had been dropped and is computed again
    assert newest == [True, True]
    assert oldest == (2, False)


def test_a_callers_changes_to_a_hit_do_not_reach_the_next_caller(db, settings):
    settings.CACHE_LOCAL_ENTRIES = 8
    key = forward_key(StudioFactory())
    cached_json(key, lambda: {"months": [1, 2, 3]})

    cached_json(key, lambda: None)[0]["months"].append(4)

    assert cached_json(key, lambda: None) == ({"months": [1, 2, 3]}, True)


@pytest.mark.parametrize("local_entries", [0, 8])
def test_a_value_not_to_keep_is_returned_but_not_stored(db, settings, local_entries):
    settings.CACHE_LOCAL_ENTRIES = local_entries
    key = forward_key(StudioFactory())

    first = cached_json(key, lambda: {"model_version": "fm-2"}, keep=lambda v: False)
    second = cached_json(key, lambda: {"model_version": "fm-1"})

    assert first == ({"model_version": "fm-2"}, False)
    assert second == ({"model_version": "fm-1"}, False)


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
        "monthlyRevenue": 2000.0
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


def test_requests_succeed_with_redis_down(gql, owner, redis_down):
    # given: django-redis pointed at a closed port, as configured in production
    MonthlyMetricFactory(studio=owner.studio, total_revenue=Decimal("1000.00"))

    # when
    body = gql(owner).execute(STUDIO_BASELINE_QUERY, {"studioId": str(owner.studio.pk)})

    # then
    assert body == {
        "data": {
            "studioBaseline": {
                "currentMetrics": {"monthlyRevenue": 1000.0},
                "industryBenchmarks": {"peerCount": 0},
            }
        }
    }
    assert cache_stats()["shared"]["hits"] is None
