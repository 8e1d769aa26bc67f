from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from forecasting.models import ModelVersion, PredictionLog
from forecasting.services import ActivationRefused, model_version_activate
from studiosim.admin_utils import pretty_json


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
    actions = ["activate"]
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
