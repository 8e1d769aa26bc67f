"""Activating a model version: gated, exclusive, through one service."""

import pytest
from django.urls import reverse

from forecasting.models import ModelVersion, ModelVersionStatus
from forecasting.services import ActivationRefused, model_version_activate
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


def test_activation_archives_the_previous_active_version():
    old = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    new = ModelVersionFactory()

    model_version_activate(version=new)

    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == (
        ModelVersionStatus.ARCHIVED,
        ModelVersionStatus.ACTIVE,
    )
    assert new.deployed_at is not None


def test_failing_checks_refuse_activation_and_are_listed():
    version = ModelVersionFactory(
        checks={
            "lever_monotonicity": {"passed": True},
            "beats_baselines": {"passed": False, "detail": "naive wins at h=3"},
        }
    )

    with pytest.raises(ActivationRefused) as refused:
        model_version_activate(version=version)

    assert refused.value.failing_checks == ["beats_baselines"]
    assert not ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE).exists()


def test_forced_activation_records_the_reason():
    version = ModelVersionFactory(checks={"interval_coverage": {"passed": False}})

    model_version_activate(version=version, force_reason="  hotfix for demo  ")

    version.refresh_from_db()
    assert version.status == ModelVersionStatus.ACTIVE
    assert version.activation_forced_reason == "hotfix for demo"


@pytest.mark.parametrize(
    "status", [ModelVersionStatus.TRAINING, ModelVersionStatus.FAILED]
)
def test_unfinished_or_failed_versions_cannot_be_activated(status):
    with pytest.raises(ActivationRefused):
        model_version_activate(version=ModelVersionFactory(status=status))


def test_version_without_checks_is_refused():
    with pytest.raises(ActivationRefused, match="no activation checks"):
        model_version_activate(version=ModelVersionFactory(checks={}))


def test_admin_activate_action_goes_through_the_service(client, superuser):
    good = ModelVersionFactory()
    bad = ModelVersionFactory(checks={"beats_baselines": {"passed": False}})
    client.force_login(superuser)
    url = reverse("admin:forecasting_modelversion_changelist")

    client.post(url, {"action": "activate", "_selected_action": [bad.pk]})
    client.post(url, {"action": "activate", "_selected_action": [good.pk]})

    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == ModelVersionStatus.ACTIVE
    assert bad.status == ModelVersionStatus.READY


def test_admin_asks_a_reason_before_activating_a_version_failing_its_checks(
    client, superuser
):
    """The refusal is a page listing the failing checks with a reason to give;
    no reason changes nothing; a reason activates and is recorded."""
    serving = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    bad = ModelVersionFactory(
        checks={
            "lever_monotonicity": {"passed": True, "detail": "ok"},
            "interval_coverage": {
                "passed": False,
                "detail": "80% intervals cover h=1: 66% of 137 on test",
            },
        }
    )
    client.force_login(superuser)
    url = reverse("admin:forecasting_modelversion_changelist")
    chosen = {"action": "activate", "_selected_action": [bad.pk]}

    asked = client.post(url, chosen)
    assert asked.status_code == 200
    page = asked.content.decode()
    assert f"Activate {bad.version} despite failing checks?" in page
    assert "<strong>interval_coverage</strong>: 80% intervals cover h=1: 66%" in page
    assert "lever_monotonicity" not in page
    assert 'name="force"' in page and 'name="reason"' in page

    blank = client.post(url, {**chosen, "force": "1", "reason": "   "})
    assert blank.status_code == 200
    assert "This field is required." in blank.content.decode()
    bad.refresh_from_db()
    serving.refresh_from_db()
    assert (bad.status, serving.status) == (
        ModelVersionStatus.READY,
        ModelVersionStatus.ACTIVE,
    )

    done = client.post(
        url, {**chosen, "force": "1", "reason": "first model of the chain"}, follow=True
    )
    bad.refresh_from_db()
    serving.refresh_from_db()
    assert (bad.status, serving.status) == (
        ModelVersionStatus.ACTIVE,
        ModelVersionStatus.ARCHIVED,
    )
    assert bad.activation_forced_reason == "first model of the chain"
    assert (
        f"Activated {bad.version} (despite failing checks: first model of the "
        "chain)." in done.content.decode()
    )


def test_admin_refuses_a_failed_version_without_asking_a_reason(client, superuser):
    failed = ModelVersionFactory(status=ModelVersionStatus.FAILED)
    client.force_login(superuser)
    url = reverse("admin:forecasting_modelversion_changelist")

    response = client.post(
        url, {"action": "activate", "_selected_action": [failed.pk]}, follow=True
    )

    assert "only ready or archived versions can be activated" in (
        response.content.decode()
    )
    assert 'name="reason"' not in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == ModelVersionStatus.FAILED
