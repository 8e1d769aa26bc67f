"""Saved what-if and target scenarios."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class ScenarioType(models.TextChoices):
    FORWARD = "forward", "Forward"
    INVERSE = "inverse", "Inverse"


class Scenario(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    studio = models.ForeignKey(
        "studios.Studio", on_delete=models.CASCADE, related_name="scenarios"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    scenario_type = models.CharField(max_length=16, choices=ScenarioType.choices)
    base_month = models.DateField()
    projection_months = models.PositiveSmallIntegerField(default=3)
    lever_inputs = models.JSONField(default=dict)
    predicted_outputs = models.JSONField(default=dict)
    confidence_score = models.FloatField(null=True, blank=True)
    # A JSON list of strings; on PostgreSQL a GIN index (migration 0002) serves
    # containment filters.
    tags = models.JSONField(default=list, blank=True)
    # No database constraint: on PostgreSQL the prediction log is partitioned by
    # month (forecasting.partitions) and a foreign key cannot reference its id
    # alone. Django still clears the link when a log is deleted (SET_NULL is
    # Django's), and retention clears it before dropping a month.
    prediction_log = models.ForeignKey(
        "forecasting.PredictionLog",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="scenarios",
        db_constraint=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="scenarios",
    )
    idempotency_key = models.CharField(
        max_length=100,
        blank=True,
        help_text="The creator's key: a save repeated with it returns this scenario.",
    )
    request_fingerprint = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the save's input, to refuse a key reused for another.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["studio", "-created_at"], name="scenario_studio_created_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(projection_months__gte=1) & Q(projection_months__lte=12),
                name="scenario_projection_months_1_12",
            ),
            models.CheckConstraint(
                condition=Q(confidence_score__isnull=True)
                | (Q(confidence_score__gte=0) & Q(confidence_score__lte=1)),
                name="scenario_confidence_0_1",
            ),
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="scenario_idempotency_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name
