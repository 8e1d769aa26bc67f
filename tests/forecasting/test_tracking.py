"""MLflow tracking of training runs, against a local file store (docs/mlflow.md)."""

import hashlib
import json
import logging

import pytest
from mlflow.tracking import MlflowClient

from forecasting import tracking
from forecasting.models import ModelVersion, ModelVersionStatus
from forecasting.registry import clear_loaded_model
from forecasting.services import model_train
from forecasting.tracking import training_run_log
from studiosim.errors import InvalidInput

pytestmark = pytest.mark.django_db

EXPERIMENT = "studiosim-test"


@pytest.fixture
def mlflow_store(settings, tmp_path, monkeypatch):
    """A file store in a temporary directory; the URI MLflow clients read it from."""
    # MLflow 3.13+ accepts the file store only when asked explicitly.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    settings.MLFLOW_TRACKING_URI = uri
    settings.MLFLOW_EXPERIMENT_NAME = EXPERIMENT
    return uri


def _runs(uri):
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return client, []
    return client, client.search_runs([experiment.experiment_id])


def _registered(trained_artifacts, settings, **fields):
    root, name, checksums = trained_artifacts
    settings.MODEL_ARTIFACT_DIR = root
    return ModelVersion.objects.create(
        version=name,
        status=ModelVersionStatus.READY,
        artifact_path=name,
        artifact_files=checksums,
        artifact_sha256=hashlib.sha256(
            json.dumps(checksums, sort_keys=True).encode()
        ).hexdigest(),
        feature_names=["members", "revenue"],
        params={"correction": "ensemble", "random_state": 0},
        library_versions={"lightgbm": "4.6.0", "python": "3.11.2"},
        metrics={
            "horizons": [1, 3],
            "table": [
                {
                    "mode": "plain",
                    "split": "test",
                    "horizon": h,
                    "method": method,
                    "n": 40,
                    "mape": mape,
                    "coverage": None if method == "naive" else 0.8,
                }
                for h, method, mape in (
                    (1, "model", 0.041),
                    (3, "model", 0.047),
                    (1, "naive", 0.055),
                )
            ],
            "headline": {"test_mape_h1": 0.041, "test_r2_h1": None},
        },
        checks={
            "lever_monotonicity": {"passed": True, "detail": "never falls"},
            "interval_coverage": {"passed": False, "detail": "h=3: 93% of 40"},
        },
        training_studio_count=16,
        training_row_count=960,
        **fields,
    )


def test_tracking_is_off_without_a_tracking_uri(settings, trained_artifacts, tmp_path):
    settings.MLFLOW_TRACKING_URI = ""
    version = _registered(trained_artifacts, settings)

    assert training_run_log(version=version) is None
    assert not tracking.tracking_enabled()


def test_a_version_is_logged_with_metrics_per_horizon_checks_params_and_artifacts(
    mlflow_store, trained_artifacts, settings
):
    # given a registered version
    version = _registered(trained_artifacts, settings)

    # when it is tracked
    run_id = training_run_log(
        version=version, tags={"trigger": "retrain", "retrain_job": "job-1"}
    )

    # then one finished run named after the version holds all of it
    client, runs = _runs(mlflow_store)
    assert [run.info.run_id for run in runs] == [run_id]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == version.version
    tags = run.data.tags
    assert tags["studiosim.version"] == version.version
    assert tags["studiosim.trigger"] == "retrain"
    assert tags["studiosim.retrain_job"] == "job-1"
    assert tags["studiosim.checks_passed"] == "false"
    assert tags["studiosim.artifacts_verified"] == "true"
    for name, digest in version.artifact_files.items():
        assert tags[f"studiosim.file_sha256/{name}"] == digest
    assert tags["studiosim.artifact_sha256"] == version.artifact_sha256

    params = run.data.params
    assert params["model/correction"] == "ensemble"
    assert params["library/lightgbm"] == "4.6.0"
    assert params["training.studios"] == "16"
    assert params["features.count"] == "2"

    history = client.get_metric_history(run_id, "test/plain/model/mape")
    assert {(m.step, m.value) for m in history} == {(1, 0.041), (3, 0.047)}
    assert client.get_metric_history(run_id, "test/plain/naive/mape")[0].value == 0.055
    # a missing figure (naive has no interval) is left out, not logged as NaN
    assert "test/plain/naive/coverage" not in run.data.metrics
    assert run.data.metrics["headline/test_mape_h1"] == 0.041
    assert "headline/test_r2_h1" not in run.data.metrics
    assert run.data.metrics["check/lever_monotonicity"] == 1.0
    assert run.data.metrics["check/interval_coverage"] == 0.0

    logged = {a.path for a in client.list_artifacts(run_id, "model")}
    assert logged == {f"model/{name}" for name in version.artifact_files} | {
        "model/SHA256SUMS"
    }
    sums = MlflowClient(tracking_uri=mlflow_store).download_artifacts(
        run_id, "model/SHA256SUMS"
    )
    with open(sums) as handle:
        listed = dict(reversed(line.split()) for line in handle)
    assert listed == version.artifact_files
    checks = client.download_artifacts(run_id, "registry/checks.json")
    with open(checks) as handle:
        assert json.load(handle) == version.checks
    features = client.download_artifacts(run_id, "registry/features.json")
    with open(features) as handle:
        assert json.load(handle) == ["members", "revenue"]


def test_artifacts_that_differ_from_the_registry_are_logged_as_unverified(
    mlflow_store, trained_artifacts, settings, caplog
):
    version = _registered(trained_artifacts, settings)
    version.artifact_files = {**version.artifact_files, "model.json": "0" * 64}

    with caplog.at_level(logging.WARNING, logger="forecasting.tracking"):
        run_id = training_run_log(version=version)

    client, _ = _runs(mlflow_store)
    assert client.get_run(run_id).data.tags["studiosim.artifacts_verified"] == "false"
    assert "differ from the registry" in caplog.text


def test_a_tracking_failure_is_a_warning_and_never_raises(
    mlflow_store, trained_artifacts, settings, monkeypatch, caplog
):
    version = _registered(trained_artifacts, settings)

    def broken(self, *args, **kwargs):
        raise ConnectionError("tracking server unreachable")

    monkeypatch.setattr(MlflowClient, "log_batch", broken)
    with caplog.at_level(logging.WARNING, logger="forecasting.tracking"):
        assert training_run_log(version=version) is None

    assert "tracking server unreachable" in caplog.text
    # the run that was started is closed as failed rather than left running
    client, runs = _runs(mlflow_store)
    assert [run.info.status for run in runs] == ["FAILED"]


def test_an_unreachable_tracking_server_is_a_warning(
    settings, trained_artifacts, caplog
):
    # Port 9 (discard) has no listener here; the client's retries are bounded by
    # forecasting.tracking's defaults (seconds, not MLflow's 4 minutes).
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9/"
    version = _registered(trained_artifacts, settings)

    with caplog.at_level(logging.WARNING, logger="forecasting.tracking"):
        assert training_run_log(version=version) is None

    assert f"MLflow tracking of version {version.version} failed" in caplog.text


def test_a_failed_training_is_logged_as_a_failed_run(mlflow_store, settings, tmp_path):
    settings.MODEL_ARTIFACT_DIR = tmp_path
    clear_loaded_model()

    with pytest.raises(InvalidInput, match="no monthly data"):
        model_train(tracking_tags={"trigger": "train_model"})

    client, runs = _runs(mlflow_store)
    [run] = runs
    version = ModelVersion.objects.get()
    assert run.info.run_name == version.version
    assert run.info.status == "FAILED"
    assert run.data.tags["studiosim.trigger"] == "train_model"
    assert "no monthly data" in run.data.tags["studiosim.error"]


@pytest.mark.slow
def test_training_survives_a_broken_tracker_and_its_version_tracks_in_full(
    mlflow_store, settings, tmp_path, loaded_studios, monkeypatch, caplog
):
    settings.MODEL_ARTIFACT_DIR = tmp_path
    clear_loaded_model()

    # given a tracker that fails
    real_log_run = tracking._log_run

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tracking, "_log_run", broken)

    # when a model trains, it registers (and, as the first, activates) as usual
    # (a small fit: what is tracked, not the model, is the point)
    with caplog.at_level(logging.WARNING, logger="forecasting.tracking"):
        version = model_train(
            force_reason="small test data", params={"correction": "lightgbm"}
        )
    assert version.status == ModelVersionStatus.ACTIVE
    assert "disk full" in caplog.text
    assert _runs(mlflow_store)[1] == []

    # then, tracked once the store works, the real version's evaluation is all there
    monkeypatch.setattr(tracking, "_log_run", real_log_run)
    run_id = training_run_log(version=version)
    client, [run] = _runs(mlflow_store)
    assert run.info.run_id == run_id
    assert run.data.tags["studiosim.status"] == ModelVersionStatus.ACTIVE
    assert run.data.metrics["headline/test_mape_h1"] == pytest.approx(
        version.metrics["headline"]["test_mape_h1"]
    )
    steps = client.get_metric_history(run_id, "test/plain/model/mape")
    assert sorted(m.step for m in steps) == version.metrics["horizons"]
    assert len(run.data.params) >= len(version.params) + len(version.library_versions)
