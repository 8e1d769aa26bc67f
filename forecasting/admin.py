from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from forecasting.jobs import (
    HEADLINE_METRICS,
    MAX_WINDOW_MONTHS,
    MIN_WINDOW_MONTHS,
    retrain_job_create,
    retrain_jobs_reap,
)
from forecasting.models import (
    ModelVersion,
    PredictionLog,
    RetrainJob,
    RetrainJobStatus,
    RetrainStrategy,
)
from forecasting.services import ActivationRefused, model_version_activate
from studiosim.admin_utils import pretty_json
from studiosim.errors import DomainError


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "version",
        "status",
        "trained_at",
        "deployed_at",
        "training_studio_count",
        "months_covered_end",
        "checks_ok",
    ]
    list_filter = ["status"]
    search_fields = ["version", "training_data_fingerprint"]
    date_hierarchy = "trained_at"
    actions = ["activate", "compare"]
    readonly_fields = [
        "version",
        "status",
        "artifact_path",
        "artifact_sha256",
        "artifact_files_pretty",
        "feature_names_pretty",
        "params_pretty",
        "library_versions_pretty",
        "training_data_fingerprint",
        "training_studio_count",
        "training_row_count",
        "months_covered_start",
        "months_covered_end",
        "metrics_pretty",
        "checks_pretty",
        "activation_forced_reason",
        "error_message",
        "trained_at",
        "deployed_at",
        "created_at",
    ]
    exclude = [
        "artifact_files",
        "feature_names",
        "params",
        "library_versions",
        "metrics",
        "checks",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Versions come from train_model / retrain, never from a form.
        return False

    @admin.display(description="Checks", boolean=True)
    def checks_ok(self, obj: ModelVersion) -> bool:
        return obj.checks_passed

    @admin.display(description="Metrics")
    def metrics_pretty(self, obj: ModelVersion) -> str:
        return pretty_json(obj.metrics)

    @admin.display(description="Activation checks")
    def checks_pretty(self, obj: ModelVersion) -> str:
        return pretty_json(obj.checks)

    @admin.display(description="Artifact files")
    def artifact_files_pretty(self, obj: ModelVersion) -> str:
        return pretty_json(obj.artifact_files)

    @admin.display(description="Features")
    def feature_names_pretty(self, obj: ModelVersion) -> str:
        return pretty_json(obj.feature_names)

    @admin.display(description="Parameters")
    def params_pretty(self, obj: ModelVersion) -> str:
        return pretty_json(obj.params)

    @admin.display(description="Library versions")
    def library_versions_pretty(self, obj: ModelVersion) -> str:
        return pretty_json(obj.library_versions)

    @admin.action(description="Activate the selected model version")
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one version to activate.", messages.ERROR
            )
            return
        try:
            version = model_version_activate(version=queryset.get())
        except ActivationRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"{version.version} is now the active model.")

    @admin.action(description="Compare the selected model versions")
    def compare(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion]
    ) -> HttpResponse | None:
        versions = list(queryset.order_by("-created_at")[: COMPARE_MAX + 1])
        if not 2 <= len(versions) <= COMPARE_MAX:
            self.message_user(
                request,
                f"Select between 2 and {COMPARE_MAX} versions to compare.",
                messages.ERROR,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Compare model versions",
            "versions": versions,
            "metric_rows": _metric_rows(versions),
            "check_rows": _check_rows(versions),
            "training_rows": _training_rows(versions),
        }
        return TemplateResponse(
            request, "admin/forecasting/modelversion/compare.html", context
        )


COMPARE_MAX = 8

#: Metrics shown side by side, and which value is best: "lower", "higher", a
#: nominal value to be nearest to, or None for context (the baselines depend
#: on the data a version was evaluated on, not on the model).
COMPARED_METRICS: dict[str, tuple[str, str | float | None]] = {
    "test_mape_h1": (HEADLINE_METRICS["test_mape_h1"], "lower"),
    "test_rmse_h1": (HEADLINE_METRICS["test_rmse_h1"], "lower"),
    "test_r2_h1": (HEADLINE_METRICS["test_r2_h1"], "higher"),
    "test_directional_accuracy_h1": (
        HEADLINE_METRICS["test_directional_accuracy_h1"],
        "higher",
    ),
    "test_coverage_h1": ("80% interval coverage (month 1, test)", 0.8),
    "test_ratio_to_oracle_h1": ("MAPE / noise-free oracle (month 1, test)", "lower"),
    "naive_test_mape_h1": ("Naive baseline MAPE (month 1, test)", None),
    "seasonal_naive_test_mape_h1": ("Seasonal-naive MAPE (month 1, test)", None),
}
_PERCENT = {
    "test_mape_h1",
    "test_directional_accuracy_h1",
    "test_coverage_h1",
    "naive_test_mape_h1",
    "seasonal_naive_test_mape_h1",
}


def _metric_cell(name: str, value) -> str:
    if not isinstance(value, int | float):
        return "—"
    if name in _PERCENT:
        return f"{value:.2%}"
    if name == "test_rmse_h1":
        return f"{value:,.0f}"
    return f"{value:.3f}"


def _metric_rows(versions: list[ModelVersion]) -> list[dict]:
    """One row per metric: each version's value, the best one marked."""
    rows = []
    for name, (label, best_is) in COMPARED_METRICS.items():
        values = [(v.metrics or {}).get("headline", {}).get(name) for v in versions]
        known = [x for x in values if isinstance(x, int | float)]
        best = None
        if len(known) > 1 and best_is is not None:
            if best_is == "lower":
                best = min(known)
            elif best_is == "higher":
                best = max(known)
            else:
                best = min(known, key=lambda x: abs(x - best_is))
        rows.append(
            {
                "label": label,
                "cells": [
                    {"text": _metric_cell(name, x), "best": x is not None and x == best}
                    for x in values
                ],
            }
        )
    return rows


def _check_rows(versions: list[ModelVersion]) -> list[dict]:
    names = sorted({name for v in versions for name in (v.checks or {})})
    return [
        {
            "label": name.replace("_", " "),
            "cells": [
                {
                    "passed": (v.checks or {}).get(name, {}).get("passed"),
                    "detail": (v.checks or {}).get(name, {}).get("detail", ""),
                }
                for v in versions
            ],
        }
        for name in names
    ]


def _training_rows(versions: list[ModelVersion]) -> list[dict]:
    def months(v: ModelVersion) -> str:
        if v.months_covered_start is None or v.months_covered_end is None:
            return "—"
        return f"{v.months_covered_start:%Y-%m} to {v.months_covered_end:%Y-%m}"

    rows = [
        ("Status", lambda v: v.get_status_display()),
        (
            "Trained",
            lambda v: f"{v.trained_at:%Y-%m-%d %H:%M}" if v.trained_at else "—",
        ),
        ("Studios", lambda v: v.training_studio_count),
        ("Studio-months", lambda v: v.training_row_count),
        ("Months covered", months),
        ("Data fingerprint", lambda v: v.training_data_fingerprint[:12] or "—"),
    ]
    params = sorted({k for v in versions for k in (v.params or {})})
    # Only the hyperparameters that differ between the versions.
    for key in params:
        values = [(v.params or {}).get(key) for v in versions]
        if len({repr(x) for x in values}) > 1:
            rows.append((key, lambda v, key=key: (v.params or {}).get(key, "—")))
    return [
        {"label": label, "cells": [value(v) for v in versions]} for label, value in rows
    ]


@admin.register(PredictionLog)
class PredictionLogAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "studio",
        "prediction_type",
        "model_version",
        "base_month",
        "projection_months",
        "confidence",
        "error_pct",
    ]
    list_filter = ["prediction_type", "model_version", "studio__studio_type"]
    list_select_related = ["studio", "model_version"]
    search_fields = ["studio__name", "id"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "studio",
        "prediction_type",
        "model_version",
        "base_month",
        "projection_months",
        "inputs_pretty",
        "outputs_pretty",
        "confidence",
        "created_by",
        "actual_outcome_pretty",
        "error_pct",
        "actuals_recorded_at",
        "created_at",
    ]
    exclude = ["inputs", "outputs", "actual_outcome"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Inputs")
    def inputs_pretty(self, obj: PredictionLog) -> str:
        return pretty_json(obj.inputs)

    @admin.display(description="Outputs")
    def outputs_pretty(self, obj: PredictionLog) -> str:
        return pretty_json(obj.outputs)

    @admin.display(description="Actual outcome")
    def actual_outcome_pretty(self, obj: PredictionLog) -> str:
        return pretty_json(obj.actual_outcome)


class RequestedStrategyFilter(admin.SimpleListFilter):
    title = "requested strategy"
    parameter_name = "requested_strategy"

    def lookups(self, request, model_admin):
        return RetrainStrategy.choices

    def queryset(self, request, queryset):
        if self.value() in RetrainStrategy.values:
            return queryset.filter(options__strategy=self.value())
        return queryset


class RetrainForm(forms.Form):
    strategy = forms.ChoiceField(
        choices=RetrainStrategy.choices,
        initial=RetrainStrategy.FULL,
        help_text="INCREMENTAL refits with the active version's hyperparameters on "
        "each studio's latest window, and falls back to FULL when it cannot.",
    )
    include_latest_months = forms.IntegerField(
        required=False,
        min_value=MIN_WINDOW_MONTHS,
        max_value=MAX_WINDOW_MONTHS,
        help_text="Train on each studio's latest N months only (blank: all history; "
        f"INCREMENTAL defaults to {MIN_WINDOW_MONTHS}).",
    )
    activate = forms.BooleanField(
        required=False,
        help_text="Activate the new version if its checks pass and the active "
        "version has not changed while the job ran.",
    )
    notify_on_completion = forms.BooleanField(
        required=False, help_text="Email me the outcome."
    )


@admin.register(RetrainJob)
class RetrainJobAdmin(admin.ModelAdmin):
    """Read-only history of retrain jobs, and the "Retrain now" button."""

    list_display = [
        "__str__",
        "status",
        "requested_strategy",
        "strategy_used",
        "requested_by",
        "queued_at",
        "started_at",
        "finished_at",
        "duration_display",
        "version_link",
        "activated",
    ]
    list_filter = [
        "status",
        RequestedStrategyFilter,
        "strategy_used",
        "activated",
        ("requested_by", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["requested_by", "model_version"]
    search_fields = ["id", "model_version__version", "requested_by__username"]
    date_hierarchy = "queued_at"
    change_list_template = "admin/forecasting/retrainjob/change_list.html"
    fields = [
        "id",
        "status",
        "requested_by",
        "options_pretty",
        "strategy_used",
        "notes",
        "error_message",
        "previous_version",
        "model_version",
        "activated",
        "attempts",
        "training_version",
        "celery_task_id",
        "idempotency_key",
        "queued_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "duration_display",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Jobs are queued through the service ("Retrain now"), never from a form.
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_retrain_permission(self, request: HttpRequest) -> bool:
        """Staff with the add permission of retrain jobs may queue one."""
        return (
            request.user.is_active
            and request.user.is_staff
            and (request.user.has_perm("forecasting.add_retrainjob"))
        )

    @admin.display(description="Requested strategy")
    def requested_strategy(self, obj: RetrainJob) -> str:
        return obj.options.get("strategy", "")

    @admin.display(description="Duration", ordering="finished_at")
    def duration_display(self, obj: RetrainJob) -> str:
        if obj.duration is None:
            return "—"
        seconds = obj.duration.total_seconds()
        return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"

    @admin.display(description="Resulting version", ordering="model_version")
    def version_link(self, obj: RetrainJob) -> str:
        if obj.model_version_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse(
                "admin:forecasting_modelversion_change", args=[obj.model_version_id]
            ),
            obj.model_version.version,
        )

    @admin.display(description="Options")
    def options_pretty(self, obj: RetrainJob) -> str:
        return pretty_json(obj.options)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # Jobs whose worker was lost are shown as what they are now (queued
        # again, or failed), never as running.
        retrain_jobs_reap()
        extra_context = {
            **(extra_context or {}),
            "has_retrain_permission": self.has_retrain_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        return [
            path(
                "retrain/",
                self.admin_site.admin_view(self.retrain_view),
                name="forecasting_retrainjob_retrain",
            ),
            *super().get_urls(),
        ]

    def retrain_view(self, request: HttpRequest) -> HttpResponse:
        """Queue a retrain through the same service as the API and the command."""
        if not self.has_retrain_permission(request):
            return HttpResponse(status=403)
        form = RetrainForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = retrain_job_create(user=request.user, **form.cleaned_data)
            except DomainError as exc:
                form.add_error(
                    exc.field if exc.field in form.fields else None, exc.message
                )
            else:
                if job.status == RetrainJobStatus.FAILED:
                    self.message_user(
                        request,
                        f"Retrain job {job.pk} failed: {job.error_message}",
                        messages.ERROR,
                    )
                else:
                    self.message_user(
                        request,
                        f"Retrain job {job.pk} is {job.get_status_display().lower()}.",
                        messages.SUCCESS,
                    )
                return redirect("admin:forecasting_retrainjob_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Retrain the forward model",
            "form": form,
        }
        return TemplateResponse(
            request, "admin/forecasting/retrainjob/retrain.html", context
        )
