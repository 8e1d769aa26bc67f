"""manage.py prune_prediction_logs: the retention policy of prediction logs."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from forecasting.models import PredictionLog
from scenarios.models import Scenario
from tests.factories import PredictionLogFactory, ScenarioFactory, StudioFactory

pytestmark = pytest.mark.django_db


def logs_aged(days: list[int]) -> list[PredictionLog]:
    """One log per age in days (created_at is set on insert, so moved after)."""
    studio = StudioFactory()
    logs = []
    for age in days:
        log = PredictionLogFactory(studio=studio, model_version=None)
        PredictionLog.objects.filter(pk=log.pk).update(
            created_at=timezone.now() - timedelta(days=age, hours=1)
        )
        logs.append(log)
    return logs


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune_prediction_logs", *args, stdout=out)
    return out.getvalue()


def remaining() -> set:
    return set(PredictionLog.objects.values_list("pk", flat=True))


def test_logs_older_than_the_cutoff_are_deleted_in_batches_and_recent_ones_kept():
    # given: five logs past 90 days, three within
    logs_aged([91, 120, 200, 365, 800])
    recent = logs_aged([0, 30, 89])

    # when
    output = prune("--older-than-days", "90", "--batch-size", "2")

    # then
    assert remaining() == {log.pk for log in recent}
    assert "batch 1: deleted 2 (2 of 5)" in output
    assert "batch 3: deleted 1 (5 of 5)" in output
    assert (
        "Deleted 5 prediction log(s): 5 in 3 batch(es), 0 by dropping 0 partition(s)"
        in output
    )


def test_a_dry_run_deletes_nothing_and_counts_what_would_go():
    logs_aged([100, 150, 10])
    before = remaining()

    output = prune("--older-than-days", "90", "--dry-run")

    assert remaining() == before
    assert (
        "Dry run: 2 log(s) would be deleted (0 of them by dropping 0 partition(s)), 0 partition(s) would be created; nothing was."
        in output
    )


def test_the_retention_comes_from_the_setting_by_default(settings):
    # given
    settings.PREDICTION_LOG_RETENTION_DAYS = 30
    [kept, gone] = logs_aged([20, 40])

    # when
    prune()

    # then
    assert remaining() == {kept.pk}
    assert gone.pk not in remaining()


def test_a_scenario_saved_from_a_pruned_log_keeps_its_figures():
    # given
    [log] = logs_aged([120])
    scenario = ScenarioFactory(studio=log.studio, prediction_log=log)

    # when
    prune("--older-than-days", "90")

    # then
    scenario = Scenario.objects.get(pk=scenario.pk)
    assert scenario.prediction_log is None
    assert scenario.predicted_outputs == {"total_revenue": 140000}


def test_nothing_to_prune_says_so():
    logs_aged([5])

    output = prune("--older-than-days", "90")

    assert "Deleted 0 prediction log(s): 0 in 0 batch(es)" in output
    assert len(remaining()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than-days", "0"], "--older-than-days must be at least 1, not 0"),
        (["--older-than-days", "-5"], "--older-than-days must be at least 1, not -5"),
        (["--batch-size", "0"], "--batch-size must be between 1 and 100000, not 0"),
        (
            ["--batch-size", "1000000"],
            "--batch-size must be between 1 and 100000, not 1000000",
        ),
        (["--older-than-days", "ninety"], "invalid int value: 'ninety'"),
        (["--months-ahead", "-1"], "--months-ahead must be between 0 and 24, not -1"),
        (["--months-ahead", "25"], "--months-ahead must be between 0 and 24, not 25"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_deleted(args, message):
    logs_aged([400])
    before = remaining()

    with pytest.raises(CommandError, match=message):
        prune(*args)

    assert remaining() == before


def test_a_zero_retention_setting_is_refused(settings):
    settings.PREDICTION_LOG_RETENTION_DAYS = 0

    with pytest.raises(CommandError, match="set PREDICTION_LOG_RETENTION_DAYS"):
        prune()
