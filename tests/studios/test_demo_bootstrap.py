"""make demo's set-up command: superuser (embedded default only), data, model."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from forecasting.models import ModelVersion, ModelVersionStatus
from forecasting.registry import clear_loaded_model
from studios.models import Studio

pytestmark = pytest.mark.django_db


def test_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command("demo_bootstrap")

    assert not get_user_model().objects.exists()


@pytest.mark.slow
def test_sets_up_data_and_an_active_model_and_is_idempotent(settings, tmp_path, capsys):
    settings.DEBUG = True
    settings.MODEL_ARTIFACT_DIR = tmp_path
    clear_loaded_model()

    token_file = tmp_path / "demo-api-token"
    call_command("demo_bootstrap", studios=6, token_file=token_file)
    call_command("demo_bootstrap", studios=6, token_file=token_file)

    out = capsys.readouterr().out
    assert Studio.objects.count() == 6
    assert ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE).count() == 1
    assert ModelVersion.objects.count() == 1
    assert "6 studios in the database: no demo data generated." in out
    superuser_made = get_user_model().objects.filter(username="admin").exists()
    assert superuser_made is (connection.vendor == "sqlite")
