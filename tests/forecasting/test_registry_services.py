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
