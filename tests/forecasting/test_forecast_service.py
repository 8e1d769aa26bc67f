"""Forward prediction through the service: the active model, inputs checked, logged."""

import datetime as dt

import pytest

from forecasting.ml.exceptions import ArtifactIntegrityError
from forecasting.models import ModelVersion, ModelVersionStatus, PredictionLog
from forecasting.registry import active_model, artifact_directory, clear_loaded_model
from forecasting.services import forecast_predict
from studiosim.errors import InvalidInput, NoActiveModel

pytestmark = pytest.mark.django_db

BASE = "2026-04"


def test_status_quo_forecast_has_every_month_with_intervals(
    active_version, loaded_studios
):
    studio = loaded_studios[0]

    out = forecast_predict(studio=studio, base_month=BASE, months=6)

    assert [p.month for p in out.predictions] == [1, 2, 3, 4, 5, 6]
    assert [p.month_year for p in out.predictions][:2] == [
        dt.date(2026, 5, 1),
        dt.date(2026, 6, 1),
    ]
    for p in out.predictions:
        assert p.lower < p.revenue < p.upper
        assert 0 <= p.confidence_score <= 1
        assert p.member_count > 0
    assert out.total_projected_revenue == pytest.approx(
        sum(p.revenue for p in out.predictions), abs=0.1
    )
    assert out.model_version == active_version.version
    assert out.levers == out.base_levers  # no plan given: the base month's levers


def test_forecast_is_logged_once_with_inputs_and_outputs(
    active_version, loaded_studios
):
    studio = loaded_studios[0]

    out = forecast_predict(
        studio=studio, base_month=BASE, months=3, levers={"retention_rate": 0.95}
    )

    log = PredictionLog.objects.get()
    assert str(log.pk) == out.prediction_id
    assert log.model_version == active_version
    assert log.inputs["levers"] == {"retention_rate": 0.95}
    assert len(log.outputs["predictions"]) == 3
    assert log.base_month == dt.date(2026, 4, 1)


@pytest.mark.parametrize(
    "lever, higher",
    [
        ("retention_rate", 0.99),
        ("avg_ticket_price", 400.0),
        ("class_attendance_rate", 0.99),
        ("new_members_monthly", 80.0),
        ("upsell_rate", 0.6),
    ],
)
def test_raising_a_lever_raises_revenue_even_outside_the_data(
    active_version, loaded_studios, lever, higher
):
    studio = loaded_studios[1]
    base = forecast_predict(studio=studio, base_month=BASE, log=False)

    raised = forecast_predict(
        studio=studio, base_month=BASE, levers={lever: higher}, log=False
    )

    assert higher > base.base_levers[lever]
    assert raised.predictions[-1].revenue > base.predictions[-1].revenue


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"months": 0}, "projection_months"),
        ({"months": 13}, "projection_months"),
        ({"coverage": 1.5}, "coverage"),
        ({"levers": {"retention_rate": 1.2}}, "retention_rate"),
        ({"levers": {"avg_ticket_price": -5}}, "avg_ticket_price"),
        ({"levers": {"vibes": 1.0}}, "vibes"),
        ({"base_month": "2031-01"}, "base_month"),
        ({"base_month": "01/2024"}, "base_month"),
    ],
)
def test_bad_input_names_the_field_and_logs_nothing(
    active_version, loaded_studios, kwargs, field
):
    call = {"studio": loaded_studios[0], "base_month": BASE, **kwargs}

    with pytest.raises(InvalidInput) as error:
        forecast_predict(**call)

    assert error.value.field == field
    assert not PredictionLog.objects.exists()


def test_base_month_without_history_says_what_the_history_covers(
    active_version, loaded_studios
):
    with pytest.raises(InvalidInput, match="history covers 2021-11 to 2026-10"):
        forecast_predict(studio=loaded_studios[0], base_month="2019-01")


def test_no_active_model_is_a_clear_error(loaded_studios):
    clear_loaded_model()

    with pytest.raises(NoActiveModel, match="no active model: run train_model"):
        forecast_predict(studio=loaded_studios[0], base_month=BASE)


def test_tampered_artifact_is_refused(active_version, tmp_path, settings):
    """A file whose SHA-256 differs from the registry's is never loaded."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(artifact_directory(active_version), copy / active_version.version)
    settings.MODEL_ARTIFACT_DIR = copy
    manifest = copy / active_version.version / "model.json"
    manifest.write_text(
        manifest.read_text().replace('"max_horizon": 12', '"max_horizon": 11')
    )
    clear_loaded_model()

    with pytest.raises(ArtifactIntegrityError, match="refusing to load"):
        active_model()


def test_a_new_active_version_is_picked_up_by_the_running_process(active_version):
    first = active_model()
    assert first.version.pk == active_version.pk
    successor = ModelVersion.objects.create(
        version="fm-test-2",
        status=ModelVersionStatus.READY,
        artifact_path=active_version.artifact_path,
        artifact_files=active_version.artifact_files,
        artifact_sha256="another",
    )
    ModelVersion.objects.filter(pk=active_version.pk).update(status="archived")
    ModelVersion.objects.filter(pk=successor.pk).update(status="active")

    second = active_model()

    assert second.version.version == "fm-test-2"
    assert second.model is not first.model
