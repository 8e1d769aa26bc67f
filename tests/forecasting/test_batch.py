"""Batch forecasts: a run over every studio, its chunks, failures and retries."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from forecasting import batch
from forecasting.batch import batch_forecast_finish
from forecasting.models import (
    BatchForecast,
    BatchForecastChunk,
    BatchForecastStatus,
    StudioForecast,
)
from forecasting.registry import model_load
from forecasting.selectors import studio_forecast_latest, studio_forecasts_latest
from forecasting.services import forecast_predict
from studios.models import Studio
from studiosim.celery import app as celery_app
from studiosim.errors import InvalidInput, NoActiveModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager_celery():
    """Chunks run in-process (the embedded default's path), whatever broker the
    environment configures."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run ``call`` as if its transaction committed (the test's own transaction
    never does): the chord it publishes runs, in-process, before this returns."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = call(*args, **kwargs)
        if isinstance(result, BatchForecast):
            result.refresh_from_db()
        return result

    return run


@pytest.fixture
def batch_forecast_create(committed):
    return lambda **kwargs: committed(batch.batch_forecast_create, **kwargs)


@pytest.fixture
def batch_forecast_retry(committed):
    return lambda **kwargs: committed(batch.batch_forecast_retry, **kwargs)


def test_a_run_stores_one_forecast_per_studio_matching_forecast_predict(
    active_version, loaded_studios, batch_forecast_create
):
    """Every studio gets one stored forecast whose months, band and members are
    forecast_predict's status quo from the studio's latest month."""
    # given four chunks over the 16 generated studios
    run = batch_forecast_create(months=4, chunk_size=5)

    # then the run finished in-process with every chunk succeeded
    assert run.status == BatchForecastStatus.SUCCEEDED
    assert (run.studio_count, run.chunk_count) == (len(loaded_studios), 4)
    assert run.forecast_count + run.skipped_count == len(loaded_studios)
    assert run.forecast_count == len(loaded_studios)
    assert set(run.chunks.values_list("status", flat=True)) == {
        BatchForecastStatus.SUCCEEDED
    }
    assert StudioForecast.objects.filter(run=run).count() == len(loaded_studios)
    for studio in loaded_studios:
        stored = studio_forecast_latest(
            studio_id=studio.pk, model_version_id=active_version.pk
        )
        latest = studio.monthly_metrics.order_by("-month_year").first().month_year
        served = forecast_predict(studio=studio, base_month=latest, months=4, log=False)
        assert stored.base_month == latest
        assert stored.revenue == pytest.approx(
            [m.revenue for m in served.predictions], abs=0.011
        )
        assert stored.revenue_lower == pytest.approx(
            [m.lower for m in served.predictions], abs=0.011
        )
        assert stored.revenue_upper == pytest.approx(
            [m.upper for m in served.predictions], abs=0.011
        )
        assert stored.members == pytest.approx(
            [m.member_count for m in served.predictions], abs=0.11
        )
        assert stored.confidence == pytest.approx(
            [m.confidence_score for m in served.predictions], abs=1e-4
        )
        assert stored.total_revenue == pytest.approx(
            served.total_projected_revenue, abs=0.011
        )
        assert stored.growth_rate == pytest.approx(served.growth_rate, rel=1e-9)


def test_a_filtered_run_forecasts_only_studios_of_that_type(
    active_version, loaded_studios, batch_forecast_create
):
    """--studio-type limits the run to that type's studios."""
    studio_type = loaded_studios[0].studio_type
    wanted = {s.pk for s in loaded_studios if s.studio_type == studio_type}
    assert 0 < len(wanted) < len(loaded_studios)

    run = batch_forecast_create(studio_type=studio_type, chunk_size=3)

    assert run.status == BatchForecastStatus.SUCCEEDED
    assert run.studio_count == len(wanted)
    assert set(StudioForecast.objects.values_list("studio_id", flat=True)) == wanted


def test_a_chunk_that_raises_is_failed_and_retry_redoes_only_it(
    active_version,
    loaded_studios,
    monkeypatch,
    batch_forecast_create,
    batch_forecast_retry,
):
    """A chunk whose forecasting raises is recorded as failed with the error; the
    run fails; a retry runs that chunk alone and the run then succeeds."""
    real = batch._chunk_forecasts
    calls: list[int] = []
    broken = {1}

    def flaky(chunk):
        calls.append(chunk.index)
        if chunk.index in broken:
            broken.clear()
            raise RuntimeError("disk on fire")
        return real(chunk)

    monkeypatch.setattr(batch, "_chunk_forecasts", flaky)

    # when one of three chunks raises
    run = batch_forecast_create(chunk_size=6)

    # then it alone failed, its studios have no forecast, and the run failed
    assert run.status == BatchForecastStatus.FAILED
    assert run.failed_chunk_count == 1
    assert "retry" in run.error_message
    failed = BatchForecastChunk.objects.get(run=run, index=1)
    assert failed.status == BatchForecastStatus.FAILED
    assert "RuntimeError: disk on fire" in failed.error_message
    assert StudioForecast.objects.filter(run=run).count() == len(loaded_studios) - 6
    first_rows = set(
        StudioForecast.objects.filter(run=run).values_list("pk", "created_at")
    )

    # when the run is retried
    calls.clear()
    run = batch_forecast_retry(run_id=run.pk)

    # then only the failed chunk ran again, and the others' rows were kept
    assert calls == [1]
    assert run.status == BatchForecastStatus.SUCCEEDED
    assert (run.failed_chunk_count, run.error_message) == (0, "")
    assert run.forecast_count == len(loaded_studios)
    assert BatchForecastChunk.objects.get(pk=failed.pk).attempts == 2
    assert first_rows <= set(
        StudioForecast.objects.filter(run=run).values_list("pk", "created_at")
    )
    assert StudioForecast.objects.filter(run=run).count() == len(loaded_studios)


def test_retrying_a_run_without_failed_chunks_is_refused(
    active_version, batch_forecast_create, batch_forecast_retry
):
    run = batch_forecast_create()
    with pytest.raises(InvalidInput, match="no failed chunk"):
        batch_forecast_retry(run_id=run.pk)


def test_finishing_waits_for_live_chunks(active_version):
    """A run is not finalised while a chunk is queued (the chord's callback can
    arrive only after every chunk, but polling may ask earlier)."""
    run = batch.batch_forecast_create(chunk_size=4, enqueue=False)

    assert batch_forecast_finish(run_id=run.pk).status == BatchForecastStatus.QUEUED
    assert BatchForecast.objects.get(pk=run.pk).finished_at is None


def test_a_redelivered_chunk_is_not_run_twice(
    active_version, loaded_studios, batch_forecast_create
):
    run = batch_forecast_create(chunk_size=100)
    chunk = run.chunks.get()

    again = batch.batch_forecast_chunk_run(chunk_id=chunk.pk)

    assert again["status"] == BatchForecastStatus.SUCCEEDED
    assert again["forecasts"] == 0
    assert BatchForecastChunk.objects.get(pk=chunk.pk).attempts == 1


def test_the_latest_forecast_per_studio_is_the_newest_run(
    active_version, loaded_studios, batch_forecast_create
):
    first = batch_forecast_create(months=2)
    second = batch_forecast_create(months=5)

    latest = studio_forecasts_latest(model_version_id=active_version.pk)

    assert latest.count() == len(loaded_studios)
    assert set(latest.values_list("run_id", flat=True)) == {second.pk}
    assert first.pk != second.pk


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"months": 0}, "months"),
        ({"months": 13}, "months"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": True}, "chunk_size"),
        ({"studio_type": "trampoline"}, "studio_type"),
    ],
)
def test_bad_options_are_refused_and_change_nothing(active_version, options, field):
    with pytest.raises(InvalidInput) as refused:
        batch.batch_forecast_create(**options)
    assert refused.value.field == field
    assert not BatchForecast.objects.exists()


def test_a_run_needs_an_active_model(loaded_studios):
    with pytest.raises(NoActiveModel):
        batch.batch_forecast_create()


def test_command_runs_and_retries(active_version, loaded_studios, monkeypatch):
    """forecast_all reports the run; a failed chunk makes it exit with the retry
    command, and --retry finishes the run."""
    real = batch._chunk_forecasts
    fail = {"on": True}

    def flaky(chunk):
        if fail["on"] and chunk.index == 0:
            raise RuntimeError("boom")
        return real(chunk)

    monkeypatch.setattr(batch, "_chunk_forecasts", flaky)
    out = StringIO()
    with pytest.raises(CommandError, match="--retry"):
        call_command("forecast_all", "--in-process", "--chunk-size", "10", stdout=out)
    run = BatchForecast.objects.get()
    assert run.status == BatchForecastStatus.FAILED

    fail["on"] = False
    out = StringIO()
    call_command("forecast_all", "--in-process", "--retry", str(run.pk), stdout=out)
    assert "Succeeded: 16 studios forecast" in out.getvalue()
    assert Studio.objects.count() == StudioForecast.objects.filter(run=run).count()


def test_command_in_process_and_bad_options(active_version, loaded_studios):
    out = StringIO()
    call_command("forecast_all", "--in-process", "--months", "2", stdout=out)
    assert "Succeeded: 16 studios forecast" in out.getvalue()
    # the chunks' own CPU time gives the per-core throughput
    [cpu] = BatchForecastChunk.objects.values_list("cpu_seconds", flat=True)
    assert cpu > 0
    assert f"{16 / cpu:,.0f} studios per CPU-second" in out.getvalue()
    with pytest.raises(CommandError, match="--months"):
        call_command("forecast_all", "--months", "20", stdout=StringIO())
    with pytest.raises(CommandError, match="--retry"):
        call_command(
            "forecast_all",
            "--retry",
            "00000000-0000-0000-0000-000000000000",
            stdout=StringIO(),
        )


def test_the_admin_retries_failed_chunks_and_filters_runs(
    client, superuser, active_version, loaded_studios, monkeypatch, committed
):
    """The admin lists runs by status and its action retries the failed chunks."""
    from django.urls import reverse

    real = batch._chunk_forecasts
    broken = {0}

    def flaky(chunk):
        if chunk.index in broken:
            broken.clear()
            raise RuntimeError("boom")
        return real(chunk)

    monkeypatch.setattr(batch, "_chunk_forecasts", flaky)
    failed = batch.batch_forecast_create(chunk_size=8, enqueue=False)
    batch.batch_forecast_run_here(run_id=failed.pk)
    client.force_login(superuser)
    url = reverse("admin:forecasting_batchforecast_changelist")

    listed = client.get(url, {"status__exact": "failed"})
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == 1
    page = client.get(
        reverse("admin:forecasting_batchforecast_change", args=[failed.pk])
    )
    assert "RuntimeError: boom" in page.content.decode()

    response = committed(
        client.post,
        url,
        {"action": "retry_failed_chunks", "_selected_action": [str(failed.pk)]},
    )

    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == BatchForecastStatus.SUCCEEDED
    assert failed.forecast_count == len(loaded_studios)
    chunks = client.get(
        reverse("admin:forecasting_batchforecastchunk_changelist"),
        {"attempts": "2"},
    )
    assert chunks.context["cl"].result_count == 1


def test_a_studio_that_cannot_be_forecast_is_skipped_with_the_reason(
    client, superuser, active_version, loaded_studios, batch_forecast_create
):
    """A studio with too short a history and one with no data at all are listed
    on their chunk with the reason (and in the admin); the chunk succeeds and
    its other studios are forecast as they would be without them."""
    from django.urls import reverse

    from tests.factories import MonthlyMetricFactory, StudioFactory

    # given two studios the model cannot forecast, besides the others
    clean = batch_forecast_create(chunk_size=100, months=3)
    short = StudioFactory(name="Short history")
    for month in range(1, model_load(active_version).min_history):
        MonthlyMetricFactory(studio=short, month_year=dt.date(2024, month, 1))
    empty = StudioFactory(name="No data")

    # when every studio is forecast in one chunk
    run = batch_forecast_create(chunk_size=100, months=3)

    # then the chunk and the run succeeded, with the two studios skipped
    chunk = run.chunks.get()
    assert (run.status, chunk.status) == (BatchForecastStatus.SUCCEEDED,) * 2
    assert (run.forecast_count, run.skipped_count) == (len(loaded_studios), 2)
    reasons = {item["studio"]: item["reason"] for item in chunk.skipped_studios}
    assert set(reasons) == {str(short.pk), str(empty.pk)}
    assert "the model needs at least" in reasons[str(short.pk)]
    assert reasons[str(empty.pk)] == "no monthly data"
    # and the other studios' forecasts are the ones of a run without them
    for studio in loaded_studios:
        mine = StudioForecast.objects.get(run=run, studio=studio)
        before = StudioForecast.objects.get(run=clean, studio=studio)
        assert mine.revenue == before.revenue
    # and the admin's chunk page names them with the reason
    client.force_login(superuser)
    page = client.get(
        reverse("admin:forecasting_batchforecastchunk_change", args=[chunk.pk])
    )
    assert page.status_code == 200
    assert str(short.pk) in page.content.decode()
    assert "no monthly data" in page.content.decode()
