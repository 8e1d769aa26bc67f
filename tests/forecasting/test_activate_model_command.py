"""manage.py activate_model: an operator activates a trained version from the shell."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from forecasting.models import ModelVersion, ModelVersionStatus
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

FAILING = {
    "lever_monotonicity": {"passed": True, "detail": "ok"},
    "interval_coverage": {
        "passed": False,
        "detail": "80% intervals cover h=1: 66% of 137 on test",
    },
}


def _status(version) -> str:
    version.refresh_from_db()
    return version.status


def test_the_named_version_is_activated_and_the_previous_one_archived():
    old = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    new = ModelVersionFactory()
    out = StringIO()

    call_command("activate_model", new.version, stdout=out)

    assert (_status(old), _status(new)) == (
        ModelVersionStatus.ARCHIVED,
        ModelVersionStatus.ACTIVE,
    )
    assert out.getvalue().startswith(f"{new.version} is active")


def test_without_a_name_the_latest_ready_version_is_activated():
    first, latest = ModelVersionFactory(), ModelVersionFactory()
    ModelVersionFactory(status=ModelVersionStatus.FAILED)  # newer, but failed

    call_command("activate_model", stdout=StringIO())

    assert (_status(first), _status(latest)) == (
        ModelVersionStatus.READY,
        ModelVersionStatus.ACTIVE,
    )


def test_failing_checks_are_printed_and_refused_with_the_command_that_forces():
    version = ModelVersionFactory(checks=FAILING)
    out = StringIO()

    with pytest.raises(CommandError) as refused:
        call_command("activate_model", version.version, stdout=out)

    assert "check interval_coverage: FAILED (80% intervals cover h=1: 66%" in (
        out.getvalue()
    )
    assert str(refused.value).endswith(
        f'To serve it anyway: activate_model {version.version} --force-reason "why"'
    )
    assert _status(version) == ModelVersionStatus.READY
    assert not ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE).exists()


def test_a_forced_activation_records_the_reason_and_says_so():
    version = ModelVersionFactory(checks=FAILING)
    out = StringIO()

    call_command(
        "activate_model",
        version.version,
        "--force-reason",
        "first model of the chain; h1 coverage read on 137 forecasts",
        stdout=out,
    )

    version.refresh_from_db()
    assert version.status == ModelVersionStatus.ACTIVE
    assert version.activation_forced_reason.startswith("first model of the chain")
    assert "activated despite failing checks: first model" in out.getvalue()


def test_an_unknown_version_lists_the_ready_ones():
    ready = ModelVersionFactory()
    ModelVersionFactory(status=ModelVersionStatus.FAILED)

    with pytest.raises(CommandError) as refused:
        call_command("activate_model", "fm-nope")

    assert str(refused.value) == (
        f"No model version 'fm-nope'. Ready versions, latest first: {ready.version}."
    )


def test_nothing_ready_says_to_train_first():
    ModelVersionFactory(status=ModelVersionStatus.FAILED)

    with pytest.raises(CommandError, match="No ready model version to activate"):
        call_command("activate_model")


def test_a_failed_version_is_refused_and_changes_nothing():
    failed = ModelVersionFactory(status=ModelVersionStatus.FAILED)
    active = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)

    with pytest.raises(CommandError, match="only ready or archived versions"):
        call_command("activate_model", failed.version, "--force-reason", "please")

    assert (_status(failed), _status(active)) == (
        ModelVersionStatus.FAILED,
        ModelVersionStatus.ACTIVE,
    )
