"""Writes to the model registry."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from forecasting.models import ModelVersion, ModelVersionStatus


class ActivationRefused(Exception):
    """A model version may not become the active one."""

    def __init__(self, message: str, *, failing_checks: list[str] | None = None):
        super().__init__(message)
        self.failing_checks = failing_checks or []


ACTIVATABLE = {ModelVersionStatus.READY, ModelVersionStatus.ARCHIVED}


def model_version_activate(
    *, version: ModelVersion, force_reason: str = ""
) -> ModelVersion:
    """Make ``version`` the one active model, archiving the previous one.

    Activation is gated on the version's recorded checks (lever monotonicity,
    beating the baselines, interval coverage); a version with failing checks is
    refused unless ``force_reason`` is given, which is recorded. Rows are locked
    and the database allows at most one active version, so two concurrent
    activations cannot both succeed.
    """
    force_reason = force_reason.strip()
    try:
        with transaction.atomic():
            version = ModelVersion.objects.select_for_update().get(pk=version.pk)
            if version.status == ModelVersionStatus.ACTIVE:
                return version
            if version.status not in ACTIVATABLE:
                raise ActivationRefused(
                    f"Version {version.version} is {version.get_status_display().lower()}; "
                    "only ready or archived versions can be activated."
                )
            failing = [
                name
                for name, check in version.checks.items()
                if not check.get("passed")
            ]
            if not version.checks:
                failing = ["no activation checks recorded (run evaluate_model)"]
            if failing and not force_reason:
                raise ActivationRefused(
                    f"Version {version.version} failed its activation checks: "
                    + "; ".join(failing)
                    + ". Activate with a recorded reason to force it.",
                    failing_checks=failing,
                )
            ModelVersion.objects.select_for_update().filter(
                status=ModelVersionStatus.ACTIVE
            ).update(status=ModelVersionStatus.ARCHIVED)
            version.status = ModelVersionStatus.ACTIVE
            version.deployed_at = timezone.now()
            version.activation_forced_reason = force_reason if failing else ""
            version.save(
                update_fields=["status", "deployed_at", "activation_forced_reason"]
            )
    except IntegrityError as exc:
        raise ActivationRefused(
            "Another model version was activated at the same time; try again."
        ) from exc
    return version
