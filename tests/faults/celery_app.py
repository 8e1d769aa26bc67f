"""The Celery app the fault suite's workers run: studiosim's own, with model
training replaced by a stand-in.

The stand-in registers a version the way ``model_train`` does (``training`` at
once, reported through ``on_version_created``), takes ``FAULTS_TRAIN_SECONDS``,
and ends ``ready`` on the active version's artifacts. Everything else (the task,
the claim, the heartbeat, the reaper, the broker) is the product's: the suite
kills a worker in the middle of that time, and a real fit would make the suite
minutes long for nothing it tests.
"""

import os
import time
import uuid

from celery.signals import worker_init

from studiosim.celery import app

__all__ = ["app"]


def _stand_in_training(*, on_version_created=None, progress=None, **kwargs):
    from django.utils import timezone

    from forecasting.models import ModelVersion, ModelVersionStatus

    active = ModelVersion.objects.get(status=ModelVersionStatus.ACTIVE)
    version = ModelVersion.objects.create(
        version=f"faults-{uuid.uuid4().hex[:8]}", status=ModelVersionStatus.TRAINING
    )
    if on_version_created is not None:
        on_version_created(version)
    deadline = time.monotonic() + float(os.environ.get("FAULTS_TRAIN_SECONDS", "5"))
    while time.monotonic() < deadline:
        time.sleep(0.1)
    for field in ("artifact_path", "artifact_files", "artifact_sha256", "checks"):
        setattr(version, field, getattr(active, field))
    version.params = {"random_state": 0}
    version.status = ModelVersionStatus.READY
    version.trained_at = timezone.now()
    version.save()
    return version


@worker_init.connect
def _replace_training(**kwargs) -> None:
    import django

    django.setup()
    from forecasting import jobs

    jobs.model_train = _stand_in_training
