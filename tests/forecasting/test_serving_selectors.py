"""Which model version a served answer is keyed and logged by."""

import pytest

from forecasting.models import ModelVersionStatus
from forecasting.selectors import serving_version
from forecasting.services import model_version_activate
from studiosim.errors import NoActiveModel
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


def test_the_serving_version_is_the_active_one():
    ModelVersionFactory(status=ModelVersionStatus.ARCHIVED)
    active = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    ModelVersionFactory(status=ModelVersionStatus.READY)

    version = serving_version()

    assert (version.pk, version.version) == (active.pk, active.version)


def test_the_serving_version_follows_an_activation():
    ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    newer = ModelVersionFactory()

    model_version_activate(version=newer)

    assert serving_version().version == newer.version


def test_without_an_active_version_there_is_nothing_to_serve():
    ModelVersionFactory(status=ModelVersionStatus.READY)

    with pytest.raises(NoActiveModel):
        serving_version()
