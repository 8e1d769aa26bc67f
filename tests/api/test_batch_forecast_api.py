"""forecastAll, batchForecast, retryBatchForecast (staff only), and the stored
forecast studioBaseline shows.

The run itself (chunks, failures, retries, numbers) is tested in
tests/forecasting/test_batch.py; these tests hold the API to its shape, its
staff-only rule and its errors. Inside a test's transaction the chord waits for
the commit, so the tests that need a finished run run the commit's callbacks.
"""

import uuid

import pytest

from forecasting import batch
from forecasting.models import BatchForecast, StudioForecast
from studiosim.celery import app as celery_app
from tests.api.conftest import covers, error_codes
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

RUN_FIELDS = """
    id status months chunkSize studioCount chunkCount forecastCount skippedCount
    failedChunkCount studioType durationSeconds error modelVersion { version }
    chunks {
      index status studioCount forecastCount skippedCount attempts error
      skipped { studioId reason }
    }
"""
FORECAST_ALL_MUTATION = f"""
mutation ForecastAll($input: ForecastAllInput!) {{
  forecastAll(input: $input) {{ {RUN_FIELDS} }}
}}
"""
BATCH_FORECAST_QUERY = f"""
query BatchForecast($id: ID!) {{ batchForecast(id: $id) {{ {RUN_FIELDS} }} }}
"""
RETRY_MUTATION = f"""
mutation Retry($id: ID!) {{ retryBatchForecast(id: $id) {{ {RUN_FIELDS} }} }}
"""
BASELINE_QUERY = """
query Baseline($id: ID!) {
  studioBaseline(studioId: $id) {
    currentMetrics { totalMembers }
    latestForecast {
      baseMonth modelVersion runId totalProjectedRevenue growthRate
      predictions { month monthYear revenue lower upper memberCount confidenceScore }
    }
  }
}
"""


@pytest.fixture(autouse=True)
def eager_celery():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def ops(db):
    return StaffUserFactory(username="ops")


@covers("allowed", "forecastAll", "batchForecast")
def test_staff_run_a_batch_forecast_and_poll_it_to_the_end(
    gql, ops, active_version, loaded_studios, django_capture_on_commit_callbacks
):
    # when: the mutation answers inside the request's transaction
    with django_capture_on_commit_callbacks(execute=True):
        body = gql(ops).execute(
            FORECAST_ALL_MUTATION, {"input": {"months": 2, "chunkSize": 5}}
        )
    run = body["data"]["forecastAll"]

    # then: the run was recorded queued, with its chunks
    assert run["status"] == "QUEUED"
    assert (run["studioCount"], run["chunkCount"], run["chunkSize"]) == (16, 4, 5)
    assert run["modelVersion"] == {"version": active_version.version}
    assert [c["studioCount"] for c in run["chunks"]] == [5, 5, 5, 1]
    assert run["studioType"] is None

    # and polling shows it finished once the commit published it
    polled = gql(ops).execute(BATCH_FORECAST_QUERY, {"id": run["id"]})
    run = polled["data"]["batchForecast"]
    assert run["status"] == "SUCCEEDED"
    assert run["forecastCount"] == 16
    assert run["failedChunkCount"] == 0
    assert run["error"] is None
    assert run["durationSeconds"] >= 0
    assert {c["status"] for c in run["chunks"]} == {"SUCCEEDED"}
    assert StudioForecast.objects.count() == 16


def test_a_chunk_lists_the_studios_it_skipped_with_the_reason(
    gql, ops, active_version, loaded_studios, django_capture_on_commit_callbacks
):
    """A studio without data does not fail its chunk: the chunk says which and why."""
    from tests.factories import StudioFactory

    empty = StudioFactory(name="Opened yesterday")
    with django_capture_on_commit_callbacks(execute=True):
        body = gql(ops).execute(FORECAST_ALL_MUTATION, {"input": {"chunkSize": 100}})
    run_id = body["data"]["forecastAll"]["id"]

    run = gql(ops).execute(BATCH_FORECAST_QUERY, {"id": run_id})["data"]
    run = run["batchForecast"]
    assert run["status"] == "SUCCEEDED"
    assert (run["forecastCount"], run["skippedCount"]) == (16, 1)
    [chunk] = run["chunks"]
    assert chunk["skippedCount"] == 1
    assert chunk["skipped"] == [
        {"studioId": str(empty.pk), "reason": "no monthly data"}
    ]


def test_a_filtered_run_names_its_type(gql, ops, active_version, loaded_studios):
    studio_type = loaded_studios[0].studio_type
    body = gql(ops).execute(
        FORECAST_ALL_MUTATION, {"input": {"studioType": studio_type.upper()}}
    )
    run = body["data"]["forecastAll"]
    assert run["studioType"] == studio_type.upper()
    assert run["studioCount"] == sum(
        s.studio_type == studio_type for s in loaded_studios
    )


@covers("allowed", "retryBatchForecast")
def test_staff_retry_the_failed_chunks_of_a_run(
    gql,
    ops,
    active_version,
    loaded_studios,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    # given a run whose first chunk failed
    real = batch._chunk_forecasts
    broken = {0}

    def flaky(chunk):
        if chunk.index in broken:
            broken.clear()
            raise RuntimeError("worker fell over")
        return real(chunk)

    monkeypatch.setattr(batch, "_chunk_forecasts", flaky)
    with django_capture_on_commit_callbacks(execute=True):
        run_id = gql(ops).execute(FORECAST_ALL_MUTATION, {"input": {"chunkSize": 10}})[
            "data"
        ]["forecastAll"]["id"]
    failed = gql(ops).execute(BATCH_FORECAST_QUERY, {"id": run_id})
    failed = failed["data"]["batchForecast"]
    assert failed["status"] == "FAILED"
    assert failed["failedChunkCount"] == 1
    assert failed["chunks"][0]["error"] == "RuntimeError: worker fell over"

    # when it is retried
    with django_capture_on_commit_callbacks(execute=True):
        retried = gql(ops).execute(RETRY_MUTATION, {"id": run_id})
    assert retried["data"]["retryBatchForecast"]["status"] == "RUNNING"

    # then only the failed chunk ran again, and the run succeeded
    run = gql(ops).execute(BATCH_FORECAST_QUERY, {"id": run_id})
    run = run["data"]["batchForecast"]
    assert run["status"] == "SUCCEEDED"
    assert [c["attempts"] for c in run["chunks"]] == [2, 1]
    assert run["forecastCount"] == 16


@covers("anonymous", "forecastAll", "batchForecast", "retryBatchForecast")
@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (FORECAST_ALL_MUTATION, {"input": {}}),
        (BATCH_FORECAST_QUERY, {"id": str(uuid.uuid4())}),
        (RETRY_MUTATION, {"id": str(uuid.uuid4())}),
    ],
    ids=["forecastAll", "batchForecast", "retryBatchForecast"],
)
def test_batch_forecasts_refuse_anonymous_callers(gql, db, document, variables):
    response = gql().post(document, variables)

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert not BatchForecast.objects.exists()


@covers("denied", "forecastAll", "batchForecast", "retryBatchForecast")
def test_studio_users_may_not_run_read_or_retry_batch_forecasts(
    gql, owner, active_version
):
    run = batch.batch_forecast_create(enqueue=False)
    client = gql(owner)

    for document, variables in (
        (FORECAST_ALL_MUTATION, {"input": {}}),
        (BATCH_FORECAST_QUERY, {"id": str(run.pk)}),
        (RETRY_MUTATION, {"id": str(run.pk)}),
    ):
        body = client.execute(document, variables)
        assert body["data"] is None
        assert error_codes(body) == ["FORBIDDEN"]
    assert BatchForecast.objects.count() == 1


@covers("bad input", "forecastAll")
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"months": 0}, "months"),
        ({"months": 13}, "months"),
        ({"chunkSize": 0}, "chunkSize"),
        ({"chunkSize": 10_001}, "chunkSize"),
    ],
)
def test_forecast_all_names_the_refused_option(gql, ops, active_version, fields, field):
    body = gql(ops).execute(FORECAST_ALL_MUTATION, {"input": fields})

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert not BatchForecast.objects.exists()


def test_forecast_all_without_an_active_model_says_so(gql, ops, loaded_studios):
    body = gql(ops).execute(FORECAST_ALL_MUTATION, {"input": {}})

    assert error_codes(body) == ["NO_ACTIVE_MODEL"]
    assert not BatchForecast.objects.exists()


@covers("bad input", "batchForecast", "retryBatchForecast")
@pytest.mark.parametrize("document", [BATCH_FORECAST_QUERY, RETRY_MUTATION])
def test_a_malformed_or_unknown_run_id_is_refused(gql, ops, document):
    malformed = gql(ops).execute(document, {"id": "run-1"})
    unknown = gql(ops).execute(document, {"id": str(uuid.uuid4())})

    [error] = malformed["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "id"
    assert error_codes(unknown) == ["NOT_FOUND"]


def test_retrying_a_run_without_failed_chunks_is_refused(
    gql, ops, active_version, loaded_studios
):
    run = batch.batch_forecast_create(enqueue=False)
    batch.batch_forecast_run_here(run_id=run.pk)

    body = gql(ops).execute(RETRY_MUTATION, {"id": str(run.pk)})

    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "no failed chunk" in error["message"]


def test_the_baseline_shows_the_latest_stored_forecast_of_the_active_version(
    gql, superuser, active_version, loaded_studios
):
    studio = loaded_studios[0]
    client = gql(superuser)

    # without a run, no stored forecast
    before = client.execute(BASELINE_QUERY, {"id": str(studio.pk)})
    assert before["data"]["studioBaseline"]["latestForecast"] is None

    # after two runs, the newer one's
    for months in (2, 4):
        run = batch.batch_forecast_create(months=months, enqueue=False)
        batch.batch_forecast_run_here(run_id=run.pk)
    after = client.execute(BASELINE_QUERY, {"id": str(studio.pk)})
    forecast = after["data"]["studioBaseline"]["latestForecast"]
    stored = StudioForecast.objects.get(run=run, studio=studio)
    assert forecast["runId"] == str(run.pk)
    assert forecast["modelVersion"] == active_version.version
    assert forecast["baseMonth"] == stored.base_month.isoformat()
    # money to the cent, members as whole members beside the expectation
    assert [m["revenue"] for m in forecast["predictions"]] == [
        round(v, 2) for v in stored.revenue
    ]
    assert [m["lower"] for m in forecast["predictions"]] == [
        round(v, 2) for v in stored.revenue_lower
    ]
    assert [m["memberCount"] for m in forecast["predictions"]] == [
        round(v) for v in stored.members
    ]
    assert [m["month"] for m in forecast["predictions"]] == [1, 2, 3, 4]
    assert forecast["predictions"][0]["monthYear"] > forecast["baseMonth"]
    assert forecast["totalProjectedRevenue"] == pytest.approx(
        sum(stored.revenue), abs=0.05
    )
    assert after["data"]["studioBaseline"]["currentMetrics"]["totalMembers"] > 0
