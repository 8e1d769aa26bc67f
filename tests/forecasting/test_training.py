"""train_model / evaluate_model: train on the database, register, gate, activate."""

import datetime as dt

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from forecasting import services
from forecasting.ml.sampling import stratified_studio_sample, studio_summary
from forecasting.models import ModelVersion, ModelVersionStatus
from forecasting.registry import artifact_directory, clear_loaded_model, model_load
from forecasting.selectors import history_frame, history_summary
from forecasting.services import forecast_predict, model_train
from tests.factories import ModelVersionFactory, MonthlyMetricFactory, StudioFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def artifact_dir(settings, tmp_path):
    settings.MODEL_ARTIFACT_DIR = tmp_path
    clear_loaded_model()
    yield tmp_path
    clear_loaded_model()


def test_train_registers_evaluates_and_activates_when_none_is_active(
    artifact_dir, loaded_studios, capsys
):
    call_command("train_model", force_reason="small test data")

    version = ModelVersion.objects.get()
    assert version.status == ModelVersionStatus.ACTIVE
    assert set(version.checks) == {
        "lever_monotonicity",
        "beats_baselines",
        "interval_coverage",
    }
    assert version.checks["lever_monotonicity"]["passed"]
    assert version.metrics["headline"]["test_mape_h1"] < 0.1
    methods = {row["method"] for row in version.metrics["table"]}
    assert {"model", "naive", "seasonal_naive", "oracle"} <= methods
    assert version.training_studio_count == len(loaded_studios)
    assert len(version.training_data_fingerprint) == 64
    assert version.library_versions["lightgbm"]
    files = {p.name for p in artifact_directory(version).iterdir()}
    assert files == set(version.artifact_files)
    out = capsys.readouterr().out
    assert "Fitting the global model" in out
    # each target month's interval width, as the model stores it
    widths = model_load(version).calendar_widths()
    assert (
        "80% intervals by target month (x the year's width): "
        f"Jan {widths[0]:.2f}, Feb {widths[1]:.2f}" in out
    )
    # and the narrowest and widest of the studios' own widths, by name
    by_studio = model_load(version).studio_widths()
    names = {str(s.pk): s.name for s in loaded_studios}
    assert set(by_studio) <= set(names) and len(by_studio) >= 2
    widest = max(by_studio, key=by_studio.get)
    assert (
        f"80% intervals by studio (x the chain's width), {len(by_studio)} studios: "
        f"from {min(by_studio.values()):.2f}" in out
    )
    assert f"to {by_studio[widest]:.2f} ({names[widest]})" in out

    # train -> activate -> predict through the service
    out = forecast_predict(studio=loaded_studios[0], base_month="2026-04")
    assert out.model_version == version.version


def test_training_again_keeps_the_active_version_unless_asked(
    artifact_dir, loaded_studios
):
    active = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)

    version = model_train(
        force_reason="", params={"n_estimators": 20, "correction": "lightgbm"}
    )

    assert version.status == ModelVersionStatus.READY
    active.refresh_from_db()
    assert active.status == ModelVersionStatus.ACTIVE


def test_same_data_and_seed_give_the_same_model(artifact_dir, loaded_studios):
    # Small fits (the default ensemble's determinism, XGBoost forest included,
    # is tests/forecasting/ml/test_model.py's): the service writes the same files.
    small = {"random_state": 1, "n_estimators": 30, "correction": "lightgbm"}
    first = model_train(params=small)
    second = model_train(params=small)

    assert first.training_data_fingerprint == second.training_data_fingerprint
    assert first.artifact_files == second.artifact_files


def test_training_without_data_fails_cleanly_and_is_recorded(artifact_dir):
    with pytest.raises(CommandError, match="no monthly data"):
        call_command("train_model")

    version = ModelVersion.objects.get()
    assert version.status == ModelVersionStatus.FAILED
    assert "no monthly data" in version.error_message


def test_a_chain_no_studio_of_which_can_be_used_is_refused_by_name(artifact_dir):
    """Every studio too short: the operator is told which studio is which by
    its name, every reason listed (the model knows them by id only), how far the
    longest is from enough, and no word of a model trained on the others (there
    is none)."""
    for name, months in (("Harbour Yoga", 10), ("Mill Street Pilates", 14)):
        studio = StudioFactory(name=name)
        for k in range(months):
            MonthlyMetricFactory(
                studio=studio, month_year=dt.date(2024 + k // 12, k % 12 + 1, 1)
            )

    with pytest.raises(CommandError) as refused:
        call_command("train_model")

    message = str(refused.value)
    assert message.startswith(
        "no studio can be used for training. 2 of the 2 studios have fewer than "
        "the 18 months of data a studio needs to be trained on"
    )
    assert (
        "the longest, Mill Street Pilates, has 14: import the studios' earlier "
        "months if their system kept them, or train again in 4 months." in message
    )
    assert message.endswith(
        "Each studio: Harbour Yoga: has 10 months of data; training needs at least "
        "18; Mill Street Pilates: has 14 months of data; training needs at least 18"
    )
    assert "trained on the others" not in message
    version = ModelVersion.objects.get()
    assert version.status == ModelVersionStatus.FAILED
    assert "Mill Street Pilates" in version.error_message


def test_a_chain_refused_for_other_reasons_lists_them_without_a_wait(artifact_dir):
    """No studio short: the reasons alone, no advice about months."""
    studio = StudioFactory(name="Quiet Barre")
    for k in range(20):
        MonthlyMetricFactory(
            studio=studio,
            month_year=dt.date(2023 + k // 12, k % 12 + 1, 1),
            total_revenue=0,
        )

    with pytest.raises(CommandError) as refused:
        call_command("train_model")

    assert str(refused.value) == (
        "no studio can be used for training: Quiet Barre: no revenue recorded"
    )


def test_evaluate_model_prints_the_table_and_checks(
    artifact_dir, loaded_studios, capsys
):
    model_train(
        force_reason="small test data",
        activate=True,
        params={"correction": "lightgbm"},
    )
    capsys.readouterr()

    call_command("evaluate_model")

    out = capsys.readouterr().out
    assert "== plain forecasts (relative plan), test split ==" in out
    assert "what_if forecasts" in out and "validation split ==" in out
    assert "seasonal_naive" in out and "oracle" in out
    assert "check interval_coverage" in out


def test_evaluate_model_without_active_version_says_what_to_do(artifact_dir):
    with pytest.raises(CommandError, match="run train_model"):
        call_command("evaluate_model")


def test_a_chain_over_the_cap_trains_on_a_stratified_sample_and_forecasts_all(
    artifact_dir, loaded_studios, capsys, monkeypatch
):
    cap = len(loaded_studios) - 4
    # The sample is chosen before the history is read, and only its history is
    # read: the same studios as sampling the whole chain's history would pick.
    whole = history_frame()
    expected = set(stratified_studio_sample(whole, cap)["unique_id"])
    reads = []

    def spy(**kwargs):
        reads.append(kwargs.get("studio_ids"))
        return history_frame(**kwargs)

    monkeypatch.setattr(services, "history_frame", spy)

    call_command(
        "train_model",
        "--max-studios",
        str(cap),
        "--correction",
        "lightgbm",
        force_reason="small data",
    )

    assert len(reads) == 1 and set(reads[0]) == expected
    version = ModelVersion.objects.get()
    assert version.status == ModelVersionStatus.ACTIVE
    assert version.training_studio_count == cap
    assert f"training on a sample of {cap} of the {len(loaded_studios)}" in (
        capsys.readouterr().out
    )
    # every studio is forecast, the ones left out of the sample included
    for studio in loaded_studios:
        out = forecast_predict(studio=studio, base_month="2026-04", months=3)
        assert len(out.predictions) == 3
        assert all(month.revenue > 0 for month in out.predictions)


def test_threads_come_from_the_setting_or_the_command(
    artifact_dir, loaded_studios, settings
):
    # Small fits: what is checked is the thread count recorded, not the model.
    settings.TRAIN_N_JOBS = 1
    small = {"n_estimators": 20, "correction": "lightgbm"}
    assert model_train(params=small).params["n_jobs"] == 1

    call_command(
        "train_model", "--n-jobs", "2", "--max-studios", "6", "--correction", "lightgbm"
    )

    assert ModelVersion.objects.latest("created_at").params["n_jobs"] == 2


@pytest.mark.parametrize("option", ["--n-jobs", "--max-studios"])
def test_a_thread_count_or_cap_below_one_is_refused_before_anything_is_written(
    artifact_dir, loaded_studios, option
):
    with pytest.raises(CommandError, match="must be at least 1"):
        call_command("train_model", option, "0")
    assert not ModelVersion.objects.exists()


def test_the_history_summary_is_what_sampling_reads_of_the_history(loaded_studios):
    """One aggregate query gives each studio's months, latest members and type,
    as the stratification would read them from the whole history frame."""
    from studios.models import MonthlyMetric

    studio = loaded_studios[0]
    MonthlyMetric.objects.filter(
        studio=studio,
        month_year=MonthlyMetric.objects.filter(studio=studio)
        .order_by("-month_year")
        .values("month_year")[:1],
    ).update(total_members=4321)

    summary = history_summary()

    expected = studio_summary(history_frame())
    pd.testing.assert_frame_equal(
        summary, expected, check_dtype=False, check_index_type=False
    )
    assert summary.loc[str(studio.pk), "members"] == 4321
    assert len(summary) == len(loaded_studios)
