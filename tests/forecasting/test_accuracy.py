"""Live accuracy: actual outcomes on prediction logs, and the model's performance."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from forecasting.accuracy import prediction_actuals_record
from forecasting.models import ModelVersionStatus, PredictionLog, PredictionType
from forecasting.selectors import model_performance
from studios.models import MonthlyMetric, Studio
from studios.services import metrics_import
from studiosim.errors import NoActiveModel
from tests.factories import (
    ModelVersionFactory,
    MonthlyMetricFactory,
    PredictionLogFactory,
    StudioFactory,
)

pytestmark = pytest.mark.django_db

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "fixtures" / "sample_metrics.csv"


def forward_outputs(base: dt.date, revenues: list[float]) -> dict:
    """A forward prediction's outputs as ForecastOutput.as_dict() stores them."""
    months = []
    for i, revenue in enumerate(revenues):
        index = base.year * 12 + base.month + i
        month = dt.date(index // 12, index % 12 + 1, 1)
        months.append(
            {"month": i + 1, "month_year": month.isoformat(), "revenue": revenue}
        )
    return {"predictions": months}


@pytest.fixture
def studio_with_three_months():
    """February to April 2024 at exactly $100,000 a month."""
    studio = StudioFactory()
    for month in (2, 3, 4):
        MonthlyMetricFactory(
            studio=studio,
            month_year=dt.date(2024, month, 1),
            total_revenue=Decimal("100000.00"),
        )
    return studio


@pytest.fixture
def logs_with_known_errors(studio_with_three_months):
    """Seven logs of one active version; the comments give each one's error."""
    studio = studio_with_three_months
    version = ModelVersionFactory(
        status=ModelVersionStatus.ACTIVE,
        metrics={
            "headline": {
                "test_mape_h1": 0.041,
                "test_rmse_h1": 5234.0,
                "test_r2_h1": 0.93,
                "test_directional_accuracy_h1": 0.71,
            }
        },
    )
    jan, mar, apr = dt.date(2024, 1, 1), dt.date(2024, 3, 1), dt.date(2024, 4, 1)

    def log(base, outputs, confidence, prediction_type=PredictionType.FORWARD):
        return PredictionLogFactory(
            studio=studio,
            model_version=version,
            prediction_type=prediction_type,
            base_month=base,
            projection_months=3,
            outputs=outputs,
            confidence=confidence,
        )

    return {
        "version": version,
        # 3%, 3%, 4% -> 3.3333%: within 5%
        "a": log(jan, forward_outputs(jan, [103000, 97000, 104000]), 0.9),
        # 8%, 8%, 0% -> 5.3333%: within 10% only
        "b": log(jan, forward_outputs(jan, [108000, 92000, 100000]), 0.8),
        # 20%, 0%, 0% -> 6.6667%: within 10% only
        "c": log(jan, forward_outputs(jan, [120000, 100000, 100000]), 0.7),
        # 50%, 0%, 0% -> 16.6667%: over 10%
        "d": log(jan, forward_outputs(jan, [150000, 100000, 100000]), 0.6),
        # inverse, 5% and 5% -> exactly 5%: within 5% (the bound is inclusive)
        "e": log(
            jan,
            {"monthly_revenue": [105000.0, 95000.0]},
            0.5,
            PredictionType.INVERSE,
        ),
        # only April has arrived: 1% over one month
        "f": log(mar, forward_outputs(mar, [101000, 1, 1]), 0.4),
        # nothing has arrived yet
        "g": log(apr, forward_outputs(apr, [1, 2, 3]), 0.3),
    }


def test_actuals_and_errors_are_recorded_for_the_months_that_arrived(
    logs_with_known_errors,
):
    changed = prediction_actuals_record()

    assert changed == 6
    logs = {
        key: PredictionLog.objects.get(pk=log.pk)
        for key, log in logs_with_known_errors.items()
        if key != "version"
    }
    assert logs["a"].actual_outcome == {
        "2024-02-01": 100000.0,
        "2024-03-01": 100000.0,
        "2024-04-01": 100000.0,
    }
    assert {key: log.error_pct for key, log in logs.items()} == {
        "a": pytest.approx(0.033333),
        "b": pytest.approx(0.053333),
        "c": pytest.approx(0.066667),
        "d": pytest.approx(0.166667),
        "e": 0.05,
        "f": 0.01,
        "g": None,
    }
    assert logs["e"].actual_outcome == {"2024-02-01": 100000.0, "2024-03-01": 100000.0}
    assert logs["f"].actual_outcome == {"2024-04-01": 100000.0}
    assert logs["a"].actuals_recorded_at is not None
    assert (logs["g"].actual_outcome, logs["g"].actuals_recorded_at) == (None, None)


def test_recording_again_changes_nothing_until_the_data_does(
    logs_with_known_errors, studio_with_three_months
):
    prediction_actuals_record()

    assert prediction_actuals_record() == 0

    # a corrected month corrects the logs that predicted it
    MonthlyMetric.objects.filter(
        studio=studio_with_three_months, month_year=dt.date(2024, 4, 1)
    ).update(total_revenue=Decimal("101000.00"))
    # a, b, c, d and f predicted April; e did not
    assert prediction_actuals_record(studio_ids=[studio_with_three_months.pk]) == 5
    log = PredictionLog.objects.get(pk=logs_with_known_errors["f"].pk)
    assert log.actual_outcome == {"2024-04-01": 101000.0}
    assert log.error_pct == 0.0


def test_recording_for_other_studios_leaves_these_logs_alone(logs_with_known_errors):
    assert prediction_actuals_record(studio_ids=[StudioFactory().pk]) == 0
    assert prediction_actuals_record(studio_ids=[]) == 0
    assert not PredictionLog.objects.filter(actual_outcome__isnull=False).exists()


def test_a_month_with_zero_revenue_has_no_percentage_error(studio_with_three_months):
    MonthlyMetric.objects.filter(month_year=dt.date(2024, 2, 1)).update(total_revenue=0)
    jan = dt.date(2024, 1, 1)
    log = PredictionLogFactory(
        studio=studio_with_three_months,
        base_month=jan,
        outputs=forward_outputs(jan, [5000, 110000]),
    )

    prediction_actuals_record()

    log.refresh_from_db()
    assert log.actual_outcome == {"2024-02-01": 0.0, "2024-03-01": 100000.0}
    assert log.error_pct == pytest.approx(0.1)


def test_model_performance_combines_stored_metrics_and_live_accuracy(
    logs_with_known_errors,
):
    prediction_actuals_record()

    performance = model_performance()

    assert performance.version == logs_with_known_errors["version"]
    assert (
        performance.mape,
        performance.rmse,
        performance.r2,
        performance.directional_accuracy,
    ) == (0.041, 5234.0, 0.93, 0.71)
    assert performance.predictions_served == 7
    assert performance.total_predictions == 6
    # confidences of the six with actuals: 0.9, 0.8, 0.7, 0.6, 0.5, 0.4
    assert performance.avg_confidence == pytest.approx(0.65)
    # a, e, f are within 5%; b and c add to within 10%; d is over 10%
    assert performance.within_5_pct == pytest.approx(3 / 6)
    assert performance.within_10_pct == pytest.approx(5 / 6)
    assert performance.over_10_pct == pytest.approx(1 / 6)
    assert performance.mean_error_pct == pytest.approx(
        (0.033333 + 0.053333 + 0.066667 + 0.166667 + 0.05 + 0.01) / 6, abs=1e-6
    )


def test_model_performance_before_any_actual_outcome(logs_with_known_errors):
    performance = model_performance()

    assert performance.total_predictions == 0
    assert performance.predictions_served == 7
    assert performance.avg_confidence is None
    assert (
        performance.within_5_pct,
        performance.within_10_pct,
        performance.over_10_pct,
    ) == (None, None, None)


def test_model_performance_of_a_given_version_counts_only_its_logs(
    logs_with_known_errors,
):
    prediction_actuals_record()
    other = ModelVersionFactory()

    performance = model_performance(version=other)

    assert performance.version == other
    assert performance.total_predictions == 0
    assert performance.mape is None


def test_model_performance_needs_an_active_version():
    with pytest.raises(NoActiveModel):
        model_performance()


def test_record_actuals_command_reports_what_it_did(logs_with_known_errors, capsys):
    call_command("record_actuals")

    out = capsys.readouterr().out
    assert "6 prediction log(s) got new actual outcomes." in out
    assert "6 prediction(s) with actual outcomes" in out
    assert "within 5%: 50.0%" in out


def test_the_importer_fills_in_actuals_when_the_months_arrive():
    # given the first twelve months of a studio, and a prediction made from them
    lines = SAMPLE_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    metrics_import(data="".join(lines[:13]))
    studio = Studio.objects.get()
    base = MonthlyMetric.objects.filter(studio=studio).latest("month_year").month_year
    log = PredictionLogFactory(
        studio=studio, base_month=base, outputs=forward_outputs(base, [50000] * 3)
    )
    assert log.actual_outcome is None

    # when the rest of the file (the next months and another studio) is imported
    metrics_import(data="".join(lines))

    # then the log has the three months' real revenue and its error
    log.refresh_from_db()
    actual = {
        m.month_year.isoformat(): float(m.total_revenue)
        for m in MonthlyMetric.objects.filter(
            studio=studio, month_year__gt=base
        ).order_by("month_year")[:3]
    }
    assert len(actual) == 3
    assert log.actual_outcome == actual
    expected = sum(abs(50000 - v) / v for v in log.actual_outcome.values()) / 3
    assert log.error_pct == pytest.approx(expected, abs=1e-6)
    assert log.actuals_recorded_at is not None


def test_a_dry_run_import_records_nothing():
    lines = SAMPLE_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    metrics_import(data="".join(lines[:13]))
    studio = Studio.objects.get()
    base = MonthlyMetric.objects.filter(studio=studio).latest("month_year").month_year
    log = PredictionLogFactory(
        studio=studio, base_month=base, outputs=forward_outputs(base, [50000] * 3)
    )

    metrics_import(data="".join(lines), dry_run=True)

    log.refresh_from_db()
    assert log.actual_outcome is None
