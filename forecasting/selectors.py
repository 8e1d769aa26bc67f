"""Reads of the model registry and prediction logs."""

from django.db.models import QuerySet

from forecasting.models import ModelVersion, ModelVersionStatus


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE).first()


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.all()
