"""forwardPrediction and cacheStats: tenancy, typed errors, logging and caching."""

import dataclasses
import datetime as dt
import json
import logging
import re
import shlex
import uuid

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from forecasting.graphql.types import LeverEnum
from forecasting.ml.frame import LEVERS
from forecasting.models import ModelVersion, ModelVersionStatus, PredictionLog
from forecasting.services import (
    ForecastOutput,
    forecast_predict,
    model_version_activate,
)
from forecasting.serving import cached_prediction
from studios.models import MonthlyMetric
from studios.services import metric_save
from studiosim.cache import cache_stats, prediction_cache_key
from tests.api.conftest import assert_a_hit_costs_four_queries, covers, error_codes
from tests.factories import (
    ModelVersionFactory,
    StaffUserFactory,
    StudioFactory,
    StudioMembershipFactory,
    SuperUserFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

BASE_MONTH = "2026-04"

FORWARD_PREDICTION_QUERY = """
query ForwardPrediction($input: ForwardPredictionInput!) {
  forwardPrediction(input: $input) {
    predictionId
    studioId
    baseMonth
    projectionMonths
    coverage
    predictions {
      month
      monthYear
      revenue
      memberCount
      retentionRate
      confidenceInterval { lower upper }
      confidenceScore
    }
    growthRate
    totalProjectedRevenue
    modelVersion
    predictionAccuracy { mape rmse r2 directionalAccuracy intervalCoverage }
    leversUsed {
      retentionRate avgTicketPrice classAttendanceRate newMembersMonthly
      staffUtilizationRate upsellRate totalClassesHeld
    }
    baseLevers {
      retentionRate avgTicketPrice classAttendanceRate newMembersMonthly
      staffUtilizationRate upsellRate totalClassesHeld
    }
  }
}
"""

REVENUE_QUERY = """
query Revenue($input: ForwardPredictionInput!) {
  forwardPrediction(input: $input) {
    predictionId
    modelVersion
    totalProjectedRevenue
    baseLevers { upsellRate }
  }
}
"""

CACHE_STATS_QUERY = """
query CacheStats {
  cacheStats {
    process { hits misses hitRate }
    shared { hits misses hitRate }
  }
}
"""


@pytest.fixture
def studio(loaded_studios):
    return loaded_studios[0]


@pytest.fixture
def studio_owner(studio):
    """A user owning the first generated studio only."""
    return StudioMembershipFactory(
        studio=studio, user=UserFactory(username="studio-owner")
    ).user


def forward_input(studio, **fields) -> dict:
    return {"input": {"studioId": str(studio.pk), "baseMonth": BASE_MONTH, **fields}}


def second_version(active: ModelVersion) -> ModelVersion:
    """A ready version serving the same artifacts under another name."""
    return ModelVersion.objects.create(
        version=f"{active.version}-retrained",
        status=ModelVersionStatus.READY,
        artifact_path=active.artifact_path,
        artifact_files=active.artifact_files,
        artifact_sha256=active.artifact_sha256,
        checks=active.checks,
    )


# --- allowed ----------------------------------------------------------------------


@covers("allowed", "forwardPrediction")
def test_forward_prediction_forecasts_each_month_with_an_interval(
    gql, studio_owner, studio, active_version
):
    # when
    body = gql(studio_owner).execute(FORWARD_PREDICTION_QUERY, forward_input(studio))

    # then
    assert "errors" not in body
    result = body["data"]["forwardPrediction"]
    assert result["studioId"] == str(studio.pk)
    assert result["baseMonth"] == "2026-04-01"
    assert (result["projectionMonths"], result["coverage"]) == (3, 0.8)
    months = result["predictions"]
    assert [m["month"] for m in months] == [1, 2, 3]
    assert [m["monthYear"] for m in months] == [
        "2026-05-01",
        "2026-06-01",
        "2026-07-01",
    ]
    for month in months:
        interval = month["confidenceInterval"]
        assert interval["lower"] < month["revenue"] < interval["upper"]
        assert 0 <= month["confidenceScore"] <= 1
        assert month["memberCount"] > 0
    assert result["totalProjectedRevenue"] == pytest.approx(
        sum(m["revenue"] for m in months), abs=0.1
    )
    assert result["modelVersion"] == active_version.version
    assert result["predictionAccuracy"]["mape"] == 0.04
    assert result["leversUsed"] == result["baseLevers"]


def test_forward_prediction_applies_the_levers_given_and_keeps_the_rest(
    gql, studio_owner, studio, active_version
):
    # given
    client = gql(studio_owner)
    status_quo = client.execute(FORWARD_PREDICTION_QUERY, forward_input(studio))
    base = status_quo["data"]["forwardPrediction"]["baseLevers"]

    # when
    body = client.execute(
        FORWARD_PREDICTION_QUERY,
        forward_input(
            studio,
            projectionMonths=6,
            levers={"retentionRate": 0.97, "avgTicketPrice": 199.0},
        ),
    )

    # then
    result = body["data"]["forwardPrediction"]
    assert len(result["predictions"]) == 6
    assert result["leversUsed"] == {
        **base,
        "retentionRate": 0.97,
        "avgTicketPrice": 199.0,
    }
    assert result["baseLevers"] == base


def test_forward_prediction_starts_from_the_latest_month_by_default(
    gql, studio_owner, studio, active_version
):
    # given
    latest = MonthlyMetric.objects.filter(studio=studio).latest("month_year")

    # when
    body = gql(studio_owner).execute(
        FORWARD_PREDICTION_QUERY, {"input": {"studioId": str(studio.pk)}}
    )

    # then
    result = body["data"]["forwardPrediction"]
    assert result["baseMonth"] == latest.month_year.isoformat()
    assert PredictionLog.objects.get().base_month == latest.month_year


def test_a_studio_whose_data_stopped_before_the_chain_s_is_named_as_behind(
    gql, studio_owner, studio, active_version, loaded_studios
):
    """Its export stopped: a forecast from its latest month is of months the
    other studios have already recorded, and the answer says so; not from an
    earlier base month asked for on purpose, nor for a studio that is up to date."""
    # given: the studio's last three months were never exported
    chain = MonthlyMetric.objects.latest("month_year").month_year
    kept = MonthlyMetric.objects.filter(studio=studio).order_by("-month_year")
    MonthlyMetric.objects.filter(pk__in=[m.pk for m in kept[:3]]).delete()
    own = MonthlyMetric.objects.filter(studio=studio).latest("month_year").month_year
    client = gql(studio_owner)
    query = """query($input: ForwardPredictionInput!) {
      forwardPrediction(input: $input) { baseMonth baseMonthNotes } }"""

    # when
    latest = client.execute(query, {"input": {"studioId": str(studio.pk)}})
    earlier = client.execute(
        query,
        {
            "input": {
                "studioId": str(studio.pk),
                "baseMonth": f"{own.year - 1}-{own.month:02d}",
            }
        },
    )
    up_to_date = gql(StaffUserFactory(username="chain-staff")).execute(
        query, {"input": {"studioId": str(loaded_studios[1].pk)}}
    )

    # then
    answer = latest["data"]["forwardPrediction"]
    assert answer["baseMonth"] == own.isoformat()
    assert answer["baseMonthNotes"] == [
        f"{studio.name}'s data ends in {own:%Y-%m}, 3 months before the chain's "
        f"latest month ({chain:%Y-%m}, the last the model was trained on): the "
        "forecast is of months already past for the other studios. Import its "
        "recent months; a studio that has closed can be left as it is"
    ]
    assert earlier["data"]["forwardPrediction"]["baseMonthNotes"] == []
    assert up_to_date["data"]["forwardPrediction"]["baseMonthNotes"] == []


def test_forward_prediction_of_a_studio_without_data_says_so(
    gql, staff, active_version
):
    empty = StudioFactory(name="Opening Soon")

    body = gql(staff).execute(REVENUE_QUERY, {"input": {"studioId": str(empty.pk)}})

    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "studioId",
        "reason": "Opening Soon has no monthly data yet",
    }


def test_forward_prediction_leaves_intervals_out_when_not_asked(
    gql, studio_owner, studio, active_version
):
    body = gql(studio_owner).execute(
        FORWARD_PREDICTION_QUERY,
        forward_input(studio, includeConfidenceIntervals=False),
    )

    months = body["data"]["forwardPrediction"]["predictions"]
    assert [m["confidenceInterval"] for m in months] == [None, None, None]


def test_every_forward_prediction_is_logged_with_what_was_served(
    gql, studio_owner, studio, active_version
):
    # when
    body = gql(studio_owner).execute(
        FORWARD_PREDICTION_QUERY,
        forward_input(studio, levers={"upsellRate": 0.3}, coverage=0.9),
    )

    # then
    result = body["data"]["forwardPrediction"]
    log = PredictionLog.objects.get()
    assert str(log.pk) == result["predictionId"]
    assert (log.studio, log.model_version, log.created_by) == (
        studio,
        active_version,
        studio_owner,
    )
    assert (log.prediction_type, log.base_month, log.projection_months) == (
        "forward",
        dt.date(2026, 4, 1),
        3,
    )
    assert log.inputs == {"levers": {"upsell_rate": 0.3}, "coverage": 0.9}
    assert [m["revenue"] for m in log.outputs["predictions"]] == [
        m["revenue"] for m in result["predictions"]
    ]
    assert log.confidence == pytest.approx(
        sum(m["confidenceScore"] for m in result["predictions"]) / 3
    )


def test_staff_may_forecast_any_studio(gql, staff, studio, active_version):
    body = gql(staff).execute(REVENUE_QUERY, forward_input(studio))

    assert "errors" not in body


def test_make_demo_prints_a_token_and_a_forward_prediction_curl_that_work(
    gql, loaded_studios, active_version, settings, capsys, tmp_path
):
    # given: the demo's superuser, data and model exist already
    settings.DEBUG = True
    SuperUserFactory(username="admin")
    token_file = tmp_path / "demo-api-token"
    base_url = "http://127.0.0.1:8104"
    call_command("demo_bootstrap", base_url=base_url, token_file=token_file)
    first = capsys.readouterr().out
    first_key = re.search(r"API token \(admin\): (\S+)", first)[1]
    assert "(new, kept in" in first

    # when: run again, as make demo is
    call_command("demo_bootstrap", base_url=base_url, token_file=token_file)
    out = capsys.readouterr().out

    # then: the same token, kept, and a curl on the given port that answers
    key = re.search(r"API token \(admin\): (\S+)", out)[1]
    assert key == first_key
    assert "kept from the last run" in out
    assert f"Authorization: Bearer {key}" in out
    assert f"curl -s {base_url}/graphql/" in out
    assert f"Serving on {base_url}/" in out and ":8000" not in out
    payload = json.loads(shlex.split(out[out.index("-d ") :])[1])
    body = gql(token=key).execute(payload["query"], payload["variables"])
    assert body["data"]["forwardPrediction"]["predictions"]


def test_make_demo_says_when_it_replaces_a_token_it_cannot_show_again(
    gql, loaded_studios, active_version, settings, capsys, tmp_path
):
    # given: a demo token whose plaintext was lost (the kept file deleted)
    settings.DEBUG = True
    SuperUserFactory(username="admin")
    token_file = tmp_path / "demo-api-token"
    call_command("demo_bootstrap", token_file=token_file)
    first_key = re.search(r"API token \(admin\): (\S+)", capsys.readouterr().out)[1]
    token_file.unlink()

    # when
    call_command("demo_bootstrap", token_file=token_file)
    out = capsys.readouterr().out

    # then: a new token, the output says the old one is revoked, and it is
    key = re.search(r"API token \(admin\): (\S+)", out)[1]
    assert key != first_key
    assert "replaces the previous demo token, now revoked (1)" in out
    assert token_file.read_text().strip() == key
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert gql(token=first_key).post("{ __typename }").status_code == 401
    assert gql(token=key).post("{ __typename }").status_code == 200


# --- anonymous and denied ----------------------------------------------------------


@covers("anonymous", "forwardPrediction")
def test_forward_prediction_refuses_anonymous_callers(gql, studio, active_version):
    response = gql().post(FORWARD_PREDICTION_QUERY, forward_input(studio))

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert not PredictionLog.objects.exists()


@covers("denied", "forwardPrediction")
def test_forward_prediction_of_another_studio_is_answered_like_a_missing_one(
    gql, studio_owner, loaded_studios, active_version
):
    # given
    client = gql(studio_owner)
    someone_elses = loaded_studios[1]
    missing = uuid.uuid4()

    # when
    hidden = client.execute(REVENUE_QUERY, forward_input(someone_elses))
    absent = client.execute(
        REVENUE_QUERY, {"input": {"studioId": str(missing), "baseMonth": BASE_MONTH}}
    )

    # then
    assert hidden["data"] is None and absent["data"] is None
    assert error_codes(hidden) == error_codes(absent) == ["NOT_FOUND"]
    assert hidden["errors"][0]["message"] == f"No studio {someone_elses.pk}."
    assert not PredictionLog.objects.exists()


# --- bad input ----------------------------------------------------------------------


@covers("bad input", "forwardPrediction")
@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        pytest.param(
            {"levers": {"retentionRate": 1.5}},
            "levers.retentionRate",
            "retention_rate is 1.5; it must be a fraction in [0, 1]",
            id="lever-out-of-range",
        ),
        pytest.param(
            {"levers": {"avgTicketPrice": -10.0}},
            "levers.avgTicketPrice",
            "avg_ticket_price is -10; it must be at least 0",
            id="negative-ticket",
        ),
        pytest.param(
            {"projectionMonths": 0},
            "projectionMonths",
            "projection months must be between 1 and 12, not 0",
            id="no-months",
        ),
        pytest.param(
            {"projectionMonths": 13},
            "projectionMonths",
            "projection months must be between 1 and 12, not 13",
            id="over-a-year",
        ),
        pytest.param(
            {"coverage": 0.2},
            "coverage",
            "coverage must be between 0.5 and 0.99",
            id="coverage",
        ),
        pytest.param({"baseMonth": "2024-13"}, "baseMonth", None, id="not-a-month"),
        pytest.param(
            {"baseMonth": "1990-01"}, "baseMonth", None, id="month-without-history"
        ),
        pytest.param(
            {"studioId": "42"},
            "studioId",
            "is not a studio id (a UUID)",
            id="malformed-studio-id",
        ),
    ],
)
def test_forward_prediction_names_the_bad_field_and_why(
    gql, studio_owner, studio, active_version, fields, field, reason
):
    # when
    body = gql(studio_owner).execute(REVENUE_QUERY, forward_input(studio, **fields))

    # then
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    if reason is not None:
        assert error["extensions"]["reason"] == reason
    assert error["message"] == f"{field}: {error['extensions']['reason']}"
    assert not PredictionLog.objects.exists()


def test_a_base_month_without_history_says_what_history_there_is(
    gql, studio_owner, studio, active_version
):
    body = gql(studio_owner).execute(
        REVENUE_QUERY, forward_input(studio, baseMonth="2030-01")
    )

    reason = body["errors"][0]["extensions"]["reason"]
    assert reason.startswith(f"{studio.name} cannot be forecast from 2030-01")
    assert "its history covers" in reason


def test_an_unknown_lever_is_refused_before_anything_runs(
    gql, studio_owner, studio, active_version
):
    body = gql(studio_owner).execute(
        REVENUE_QUERY, forward_input(studio, levers={"loyaltyPoints": 3})
    )

    [error] = body["errors"]
    assert "loyaltyPoints" in error["message"]
    assert "LeversInput" in error["message"]
    assert not PredictionLog.objects.exists()


def test_forward_prediction_without_an_active_model_says_to_train_one(
    gql, studio_owner, studio
):
    body = gql(studio_owner).execute(REVENUE_QUERY, forward_input(studio))

    [error] = body["errors"]
    assert error["message"] == "no active model: run train_model"
    assert error["extensions"] == {"code": "NO_ACTIVE_MODEL"}


def test_without_an_active_model_a_refused_version_is_said_to_wait_for_staff(
    gql, studio_owner, studio
):
    """A chain's first model, refused by its checks: training again would not
    help; activating it would."""
    ModelVersionFactory(checks={"interval_coverage": {"passed": False}})
    ModelVersionFactory(status=ModelVersionStatus.ARCHIVED)

    body = gql(studio_owner).execute(REVENUE_QUERY, forward_input(studio))

    [error] = body["errors"]
    assert error["message"] == (
        "no active model: a trained version waits for staff to activate it "
        "(manage.py activate_model, or the admin)"
    )
    assert error["extensions"] == {"code": "NO_ACTIVE_MODEL"}
    assert not PredictionLog.objects.exists()


def test_an_unexpected_error_is_masked_and_nothing_is_logged(
    gql, studio_owner, studio, active_version, monkeypatch, caplog
):
    # given
    def fail(**kwargs):
        raise RuntimeError("duplicate key in /srv/app/forecasting/ml/model.py")

    monkeypatch.setattr("forecasting.serving.forecast_predict", fail)

    # when
    with caplog.at_level(logging.ERROR):
        response = gql(studio_owner).post(REVENUE_QUERY, forward_input(studio))

    # then
    [error] = response.json()["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "/srv" not in response.content.decode()
    assert error["extensions"]["correlationId"] in caplog.text
    assert not PredictionLog.objects.exists()


def test_a_non_finite_answer_is_refused_not_cached_nor_logged(
    gql, studio_owner, studio, active_version, monkeypatch, caplog
):
    # given: the model answers an infinite revenue
    def overflowing(**kwargs) -> ForecastOutput:
        output = forecast_predict(**kwargs)
        return dataclasses.replace(output, total_projected_revenue=float("inf"))

    monkeypatch.setattr("forecasting.serving.forecast_predict", overflowing)
    hits = cache_stats()["process"]["hits"]

    # when
    with caplog.at_level(logging.ERROR):
        bodies = [
            gql(studio_owner).execute(REVENUE_QUERY, forward_input(studio))
            for _ in range(2)
        ]

    # then
    for body in bodies:
        assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert "non-finite" in caplog.text
    assert cache_stats()["process"]["hits"] == hits
    assert not PredictionLog.objects.exists()


# --- caching ------------------------------------------------------------------------


def test_a_repeated_forward_prediction_comes_from_the_cache_and_is_logged_again(
    gql, studio_owner, studio, active_version
):
    # given
    client = gql(studio_owner)
    variables = forward_input(studio, levers={"newMembersMonthly": 40.0})
    hits = cache_stats()["process"]["hits"]

    # when
    with CaptureQueriesContext(connection) as miss_queries:
        first = client.post(FORWARD_PREDICTION_QUERY, variables)
    with CaptureQueriesContext(connection) as hit_queries:
        second = client.post(FORWARD_PREDICTION_QUERY, variables)

    # then: the same answer, from the cache, under a new log entry
    assert first["Cache-Status"] == (
        "studiosim; fwd=uri-miss; stored; detail=forwardPrediction"
    )
    assert second["Cache-Status"] == "studiosim; hit; detail=forwardPrediction"
    assert cache_stats()["process"]["hits"] == hits + 1
    answers = [r.json()["data"]["forwardPrediction"] for r in (first, second)]
    ids = [answer.pop("predictionId") for answer in answers]
    assert answers[0] == answers[1]
    logs = PredictionLog.objects.order_by("created_at")
    assert {str(log.pk) for log in logs} == set(ids)
    assert logs[0].outputs["predictions"] == logs[1].outputs["predictions"]

    # then: a hit reads no history and writes only its log entry
    assert len(hit_queries) < len(miss_queries)
    assert_a_hit_costs_four_queries(hit_queries)


def test_different_levers_are_cached_apart(gql, studio_owner, studio, active_version):
    client = gql(studio_owner)

    first = client.post(
        REVENUE_QUERY, forward_input(studio, levers={"upsellRate": 0.2})
    )
    second = client.post(
        REVENUE_QUERY, forward_input(studio, levers={"upsellRate": 0.3})
    )

    assert "hit" not in second["Cache-Status"].split("; ")
    assert (
        first.json()["data"]["forwardPrediction"]["totalProjectedRevenue"]
        != second.json()["data"]["forwardPrediction"]["totalProjectedRevenue"]
    )


def test_new_metrics_for_the_studio_are_never_answered_from_the_cache(
    gql, studio_owner, studio, active_version
):
    # given
    client = gql(studio_owner)
    client.execute(REVENUE_QUERY, forward_input(studio))
    metric = MonthlyMetric.objects.get(studio=studio, month_year=dt.date(2026, 4, 1))

    # when
    metric.upsell_rate = 0.3
    metric_save(metric=metric)
    response = client.post(REVENUE_QUERY, forward_input(studio))

    # then
    assert "hit" not in response["Cache-Status"].split("; ")
    result = response.json()["data"]["forwardPrediction"]
    assert result["baseLevers"]["upsellRate"] == 0.3


def test_activating_another_model_is_never_answered_from_the_cache(
    gql, studio_owner, studio, active_version
):
    # given
    client = gql(studio_owner)
    client.execute(REVENUE_QUERY, forward_input(studio))

    # when
    retrained = model_version_activate(version=second_version(active_version))
    response = client.post(REVENUE_QUERY, forward_input(studio))

    # then
    assert "hit" not in response["Cache-Status"].split("; ")
    result = response.json()["data"]["forwardPrediction"]
    assert result["modelVersion"] == retrained.version
    log = PredictionLog.objects.get(pk=result["predictionId"])
    assert log.model_version == retrained


def test_an_answer_made_by_a_model_activated_meanwhile_is_not_cached(
    studio, active_version
):
    # given: the service answers with a version activated after the key was made
    other = second_version(active_version)
    request = {"base_month": BASE_MONTH}

    def compute() -> ForecastOutput:
        output = forecast_predict(studio=studio, base_month=BASE_MONTH, log=False)
        return dataclasses.replace(output, model_version=other.version)

    # when
    cached = cached_prediction(
        "forward", ForecastOutput, studio=studio, request=request, compute=compute
    )

    # then: logged against the version that made it, kept out of the old key
    assert cached.output.model_version == other.version
    assert (cached.version.pk, cached.version.version) == (other.pk, other.version)
    assert not cached.hit
    key = prediction_cache_key(
        "forward", studio=studio, model_version=active_version.version, payload=request
    )
    assert cache.get(key) is None


def test_a_cache_hit_is_the_services_output_exactly(studio, active_version):
    # given
    request = {"base_month": BASE_MONTH}

    def compute() -> ForecastOutput:
        return forecast_predict(studio=studio, base_month=BASE_MONTH, log=False)

    # when
    missed = cached_prediction(
        "forward", ForecastOutput, studio=studio, request=request, compute=compute
    )
    hit = cached_prediction(
        "forward", ForecastOutput, studio=studio, request=request, compute=compute
    )

    # then
    assert (missed.hit, hit.hit) == (False, True)
    assert hit.output == missed.output == compute()
    assert hit.data == missed.data == compute().as_dict()


def test_forward_prediction_succeeds_with_redis_down(
    gql, studio_owner, studio, active_version, redis_down
):
    # given: django-redis pointed at a closed port (the redis_down fixture)

    # when
    body = gql(studio_owner).execute(REVENUE_QUERY, forward_input(studio))

    # then
    result = body["data"]["forwardPrediction"]
    assert PredictionLog.objects.filter(pk=result["predictionId"]).exists()


# --- cacheStats -----------------------------------------------------------------------


@covers("allowed", "cacheStats")
def test_cache_stats_counts_hits_and_misses_for_staff(
    gql, staff, studio, active_version
):
    # given
    client = gql(staff)
    before = client.execute(CACHE_STATS_QUERY)["data"]["cacheStats"]["process"]

    # when
    client.execute(REVENUE_QUERY, forward_input(studio))
    client.execute(REVENUE_QUERY, forward_input(studio))

    # then
    after = client.execute(CACHE_STATS_QUERY)["data"]["cacheStats"]["process"]
    assert after["hits"] - before["hits"] == 1
    assert after["misses"] - before["misses"] == 1
    assert after["hitRate"] == pytest.approx(
        after["hits"] / (after["hits"] + after["misses"])
    )


@covers("anonymous", "cacheStats")
def test_cache_stats_refuses_anonymous_callers(gql, db):
    response = gql().post(CACHE_STATS_QUERY)

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


@covers("denied", "cacheStats")
def test_cache_stats_is_for_staff_only(gql, owner):
    body = gql(owner).execute(CACHE_STATS_QUERY)

    assert body["data"] is None
    assert error_codes(body) == ["FORBIDDEN"]


@covers("bad input", "cacheStats")
def test_cache_stats_takes_no_arguments(gql, staff):
    body = gql(staff).execute('{ cacheStats(scope: "shared") { process { hits } } }')

    [error] = body["errors"]
    assert error["message"] == "Unknown argument 'scope' on field 'Query.cacheStats'."


# --- the schema -----------------------------------------------------------------------


def test_the_lever_enum_follows_the_models_levers():
    assert tuple(lever.value for lever in LeverEnum) == LEVERS


def test_forward_prediction_warns_when_a_lever_leaves_the_observed_range(
    gql, studio_owner, studio, active_version
):
    # when
    body = gql(studio_owner).execute(
        """
        query Forecast($input: ForwardPredictionInput!) {
          forwardPrediction(input: $input) {
            warnings { lever value low high scope message }
          }
        }
        """,
        forward_input(studio, levers={"avgTicketPrice": 4000.0}),
    )

    # then
    warnings = body["data"]["forwardPrediction"]["warnings"]
    assert {(w["lever"], w["scope"]) for w in warnings} == {
        ("AVG_TICKET_PRICE", "HISTORY"),
        ("AVG_TICKET_PRICE", "PEERS"),
    }
    for warning in warnings:
        assert warning["value"] == 4000.0 and warning["low"] < warning["high"] < 4000
