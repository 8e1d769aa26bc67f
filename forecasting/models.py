"""The model registry and the log of every prediction served."""

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ModelVersionStatus(models.TextChoices):
    TRAINING = "training", "Training"
    READY = "ready", "Ready"
    ACTIVE = "active", "Active"
    FAILED = "failed", "Failed"
    ARCHIVED = "archived", "Archived"


class ModelVersion(models.Model):
    """One trained forward model: where its artifacts are, how it was made, how good it is."""

    version = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=16,
        choices=ModelVersionStatus.choices,
        default=ModelVersionStatus.TRAINING,
    )
    artifact_path = models.CharField(max_length=500, blank=True)
    # SHA-256 of the artifact manifest, which itself lists every file's SHA-256.
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    artifact_files = models.JSONField(default=dict, blank=True)
    feature_names = models.JSONField(default=list, blank=True)
    params = models.JSONField(default=dict, blank=True)
    library_versions = models.JSONField(default=dict, blank=True)
    training_data_fingerprint = models.CharField(max_length=64, blank=True)
    training_studio_count = models.PositiveIntegerField(default=0)
    training_row_count = models.PositiveIntegerField(default=0)
    months_covered_start = models.DateField(null=True, blank=True)
    months_covered_end = models.DateField(null=True, blank=True)
    metrics = models.JSONField(
        default=dict,
        blank=True,
        help_text="Evaluation per mode, split, horizon and method (evaluate_model).",
    )
    checks = models.JSONField(
        default=dict,
        blank=True,
        help_text="Activation checks: name -> {passed, detail}.",
    )
    excluded_studios = models.JSONField(
        default=list,
        blank=True,
        help_text="Studios left out of training and why: a list of {studio_id, "
        "studio, reasons}.",
    )
    activation_forced_reason = models.TextField(blank=True)
    error_message = models.TextField(blank=True)
    trained_at = models.DateTimeField(null=True, blank=True)
    deployed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The serving path's change marker: every process keeps the active row in
    # memory and reloads it only when (id, artifact_sha256, updated_at) differ
    # from the cheap read it makes per request (forecasting.registry). Saves that
    # name update_fields must include it.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="active"),
                name="at_most_one_active_model_version",
            )
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.get_status_display()})"

    @property
    def checks_passed(self) -> bool:
        return bool(self.checks) and all(c.get("passed") for c in self.checks.values())


class PredictionType(models.TextChoices):
    FORWARD = "forward", "Forward"
    INVERSE = "inverse", "Inverse"


class PredictionLog(models.Model):
    """Every prediction served, so its accuracy can be measured once the months arrive."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    studio = models.ForeignKey(
        "studios.Studio", on_delete=models.CASCADE, related_name="prediction_logs"
    )
    prediction_type = models.CharField(max_length=16, choices=PredictionType.choices)
    model_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="prediction_logs",
    )
    base_month = models.DateField()
    projection_months = models.PositiveSmallIntegerField(default=3)
    inputs = models.JSONField(default=dict)
    outputs = models.JSONField(default=dict)
    confidence = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Filled in by record_actuals once the predicted months' real data exists:
    # {"YYYY-MM-01": actual revenue} and the mean absolute % error over them.
    actual_outcome = models.JSONField(null=True, blank=True)
    error_pct = models.FloatField(null=True, blank=True)
    actuals_recorded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["studio", "-created_at"], name="predlog_studio_created_idx"
            ),
            models.Index(
                fields=["model_version", "error_pct"], name="predlog_mv_err_idx"
            ),
            # The retention policy's batches (forecasting.retention) find the
            # oldest rows through it instead of reading the whole table.
            models.Index(fields=["created_at"], name="predlog_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__isnull=True)
                | (Q(confidence__gte=0) & Q(confidence__lte=1)),
                name="predictionlog_confidence_0_1",
            ),
            models.CheckConstraint(
                condition=Q(projection_months__gte=1) & Q(projection_months__lte=12),
                name="predictionlog_projection_months_1_12",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_prediction_type_display()} · {self.studio} · {self.base_month:%Y-%m}"


class RetrainJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


#: The statuses of a job not yet finished: at most one such job exists.
LIVE_STATUSES = [RetrainJobStatus.QUEUED, RetrainJobStatus.RUNNING]


class RetrainStrategy(models.TextChoices):
    FULL = "FULL", "Full"
    INCREMENTAL = "INCREMENTAL", "Incremental"


class RetrainJob(models.Model):
    """A request to retrain the forward model, and what became of it.

    The row is the job's only state (no Celery result backend): the services in
    ``forecasting.jobs`` move it queued -> running -> succeeded | failed, and the
    conditional UPDATE that claims it is what makes a redelivered task harmless.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=16, choices=RetrainJobStatus.choices, default=RetrainJobStatus.QUEUED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="retrain_jobs",
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text="include_latest_months, strategy (FULL | INCREMENTAL), activate, "
        "notify_on_completion, studio_id.",
    )
    strategy_used = models.CharField(
        max_length=16,
        choices=RetrainStrategy.choices,
        blank=True,
        help_text="What ran: an INCREMENTAL request falls back to FULL when it cannot run.",
    )
    notes = models.TextField(
        blank=True, help_text="Why a fallback or a refused activation happened."
    )
    error_message = models.TextField(blank=True)
    previous_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The active version when the job started.",
    )
    model_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="retrain_jobs",
    )
    activated = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Runs started; above 1 only after a lost worker."
    )
    training_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The version the current or last run created (it stays "
        "'training' until the run ends; a lost run's is marked failed).",
    )
    celery_task_id = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(
        max_length=100,
        blank=True,
        help_text="The requester's key: a request repeated with it returns this job.",
    )
    request_fingerprint = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the options requested with the idempotency key.",
    )
    queued_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life of the run; a running job silent for "
        "RETRAIN_LEASE_SECONDS has lost its worker.",
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at"]
        get_latest_by = "queued_at"
        indexes = [models.Index(fields=["-queued_at"], name="retrainjob_queued_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RetrainJobStatus.values),
                name="retrainjob_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(strategy_used__in=["", *RetrainStrategy.values]),
                name="retrainjob_strategy_used_valid",
            ),
            # Timestamps follow the state machine; they are set by different
            # machines, so they are never compared with each other here.
            models.CheckConstraint(
                condition=~Q(status=RetrainJobStatus.QUEUED)
                | Q(started_at__isnull=True, finished_at__isnull=True),
                name="retrainjob_queued_not_started",
            ),
            models.CheckConstraint(
                condition=~Q(status=RetrainJobStatus.RUNNING)
                | Q(started_at__isnull=False, finished_at__isnull=True),
                name="retrainjob_running_started",
            ),
            models.CheckConstraint(
                condition=~Q(
                    status__in=[RetrainJobStatus.SUCCEEDED, RetrainJobStatus.FAILED]
                )
                | Q(finished_at__isnull=False),
                name="retrainjob_finished_has_time",
            ),
            # One live (queued or running) job at a time: every live row has
            # the same value of this expression, so a second one collides.
            models.UniqueConstraint(
                models.ExpressionWrapper(
                    Q(status__in=LIVE_STATUSES), output_field=models.BooleanField()
                ),
                condition=Q(status__in=LIVE_STATUSES),
                name="retrainjob_one_live_job",
                violation_error_message="A retrain is already queued or running.",
            ),
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="retrainjob_idempotency_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"Retrain job {str(self.id)[:8]} ({self.get_status_display()})"

    @property
    def duration(self) -> dt.timedelta | None:
        """Wall time of the run, once it has finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


# --- batch forecasts (SPEC §15) ---------------------------------------------------


class BatchForecastStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BatchForecast(models.Model):
    """One run forecasting every studio (or a filtered set) with one model version.

    The studios are split into :class:`BatchForecastChunk` rows, each run as a
    Celery task; the run is finished when every chunk is. It succeeds when
    every chunk did, and fails when any chunk failed: the failed chunks can then
    be retried without redoing the others (``forecasting.batch``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=16,
        choices=BatchForecastStatus.choices,
        default=BatchForecastStatus.QUEUED,
    )
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="batch_forecasts"
    )
    months = models.PositiveSmallIntegerField(
        help_text="Months forecast after each studio's latest month."
    )
    studio_type = models.CharField(
        max_length=32, blank=True, help_text="Only studios of this type; blank: all."
    )
    chunk_size = models.PositiveIntegerField()
    studio_count = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    forecast_count = models.PositiveIntegerField(
        default=0, help_text="Studios forecast (filled in when the run finishes)."
    )
    skipped_count = models.PositiveIntegerField(
        default=0,
        help_text="Studios not forecast (no data, too short a history, data the "
        "model refuses); each chunk lists them with the reason.",
    )
    failed_chunk_count = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"
        indexes = [
            models.Index(fields=["-created_at"], name="batchforecast_created_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(months__gte=1) & Q(months__lte=12),
                name="batchforecast_months_1_12",
            ),
            models.CheckConstraint(
                condition=Q(chunk_size__gte=1), name="batchforecast_chunk_size_positive"
            ),
            models.CheckConstraint(
                condition=Q(status__in=BatchForecastStatus.values),
                name="batchforecast_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Batch forecast {str(self.id)[:8]} ({self.get_status_display()})"

    @property
    def duration(self) -> dt.timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class BatchForecastChunk(models.Model):
    """One Celery task's share of a :class:`BatchForecast`: a list of studios."""

    run = models.ForeignKey(
        BatchForecast, on_delete=models.CASCADE, related_name="chunks"
    )
    index = models.PositiveIntegerField()
    studio_ids = models.JSONField(help_text="The chunk's studios (UUIDs as text).")
    status = models.CharField(
        max_length=16,
        choices=BatchForecastStatus.choices,
        default=BatchForecastStatus.QUEUED,
    )
    forecast_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    skipped_studios = models.JSONField(
        default=list,
        blank=True,
        help_text="The studios that could not be forecast, each with the reason: "
        '[{"studio": UUID, "reason": text}].',
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error_message = models.TextField(blank=True)
    cpu_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text="CPU time the chunk's forecasting took in its worker process (all "
        "its threads; loading the model excluded): its studios over this are the "
        "per-core throughput.",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "index"], name="batchforecastchunk_run_index_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=BatchForecastStatus.values),
                name="batchforecastchunk_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Chunk {self.index} of {self.run} ({self.get_status_display()})"

    @property
    def studio_count(self) -> int:
        return len(self.studio_ids)


class StudioForecast(models.Model):
    """A studio's status-quo forecast from a batch run: what dashboards, exports and
    ``studioBaseline`` read without running the model.

    Per-month values are lists, month 1 first; the band is the model's 80%
    interval. The latest forecast of a studio and model version is one index
    probe (``studioforecast_latest_idx``).
    """

    studio = models.ForeignKey(
        "studios.Studio", on_delete=models.CASCADE, related_name="batch_forecasts"
    )
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="studio_forecasts"
    )
    run = models.ForeignKey(
        BatchForecast, on_delete=models.CASCADE, related_name="forecasts"
    )
    base_month = models.DateField(help_text="The studio's latest month of data.")
    months = models.PositiveSmallIntegerField()
    revenue = models.JSONField(help_text="Predicted revenue per month.")
    revenue_lower = models.JSONField(help_text="Lower end of the 80% band per month.")
    revenue_upper = models.JSONField(help_text="Upper end of the 80% band per month.")
    members = models.JSONField(help_text="Predicted members at each month's end.")
    confidence = models.JSONField(
        help_text="Probability each month lands within 10% of the prediction."
    )
    total_revenue = models.FloatField()
    growth_rate = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["studio", "model_version", "-created_at"],
                name="studioforecast_latest_idx",
            ),
        ]
        constraints = [
            # A retried chunk replaces its studios' rows: one per run and studio.
            models.UniqueConstraint(
                fields=["run", "studio"], name="studioforecast_run_studio_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Forecast of {self.studio} from {self.base_month:%Y-%m}"
