from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join, json_script
from django.utils.safestring import mark_safe

from forecasting.batch import batch_forecast_retry
from forecasting.jobs import (
    HEADLINE_METRICS,
    MAX_WINDOW_MONTHS,
    MIN_WINDOW_MONTHS,
    retrain_job_create,
    retrain_jobs_reap,
)
from forecasting.models import (
    BatchForecast,
    BatchForecastChunk,
    ModelVersion,
    PredictionLog,
    RetrainJob,
    RetrainJobStatus,
    RetrainStrategy,
    StudioForecast,
)
from forecasting.services import ActivationRefused, model_version_activate
from studiosim.admin_utils import json_table
from studiosim.charts import Series, chart
from studiosim.display import format_percent
from studiosim.errors import DomainError


class ForceActivationForm(forms.Form):
    """Why a version failing its activation checks should serve anyway."""

    reason = forms.CharField(
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded on the version and shown on its page, e.g. "
        '"first model of the chain; month-1 coverage read on 137 forecasts".',
    )


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "version",
        "status",
        "trained_at",
        "deployed_at",
        "studios",
        "excluded_count",
        "data_up_to",
        "test_mape",
        "test_coverage",
        "checks_ok",
    ]
    list_filter = ["status", "deployed_at"]
    search_fields = ["version", "training_data_fingerprint"]
    change_form_template = "admin/forecasting/modelversion/change_form.html"
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
        "excluded_studios_list",
        "training_row_count",
        "months_covered_start",
        "months_covered_end",
        "evaluation",
        "checks_pretty",
        "metrics_pretty",
        "activation_forced_reason",
        "error_message",
        "trained_at",
        "deployed_at",
        "created_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "version",
                    "status",
                    "trained_at",
                    "deployed_at",
                    "activation_forced_reason",
                    "error_message",
                ]
            },
        ),
        ("Evaluation", {"fields": ["evaluation", "checks_pretty"]}),
        (
            "Training data",
            {
                "fields": [
                    "training_studio_count",
                    "excluded_studios_list",
                    "training_row_count",
                    "months_covered_start",
                    "months_covered_end",
                    "training_data_fingerprint",
                ]
            },
        ),
        (
            "Model",
            {
                "fields": [
                    "params_pretty",
                    "feature_names_pretty",
                    "library_versions_pretty",
                    "artifact_path",
                    "artifact_sha256",
                    "artifact_files_pretty",
                    "created_at",
                ],
                "classes": ["collapse"],
            },
        ),
        ("Every figure", {"fields": ["metrics_pretty"], "classes": ["collapse"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Versions come from train_model / retrain, never from a form.
        return False

    @admin.display(description="Checks", boolean=True)
    def checks_ok(self, obj: ModelVersion) -> bool:
        return obj.checks_passed

    @admin.display(description="Left out")
    def excluded_count(self, obj: ModelVersion) -> int:
        return len(obj.excluded_studios)

    @admin.display(description="Studios left out of training")
    def excluded_studios_list(self, obj: ModelVersion) -> str:
        if not obj.excluded_studios:
            return "None: every studio with data took part."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><strong>{}</strong>: {}</li>",
                (
                    (item["studio"], "; ".join(item["reasons"]))
                    for item in obj.excluded_studios
                ),
            ),
        )

    @admin.display(description="Studios", ordering="training_studio_count")
    def studios(self, obj: ModelVersion) -> int:
        return obj.training_studio_count

    @admin.display(description="Data up to", ordering="months_covered_end")
    def data_up_to(self, obj: ModelVersion) -> str:
        end = obj.months_covered_end
        return f"{end:%b %Y}" if end else "—"

    @admin.display(description="Test MAPE (month 1)")
    def test_mape(self, obj: ModelVersion) -> str:
        return format_percent(
            (obj.metrics or {}).get("headline", {}).get("test_mape_h1")
        )

    @admin.display(description="80% coverage (month 1)")
    def test_coverage(self, obj: ModelVersion) -> str:
        return format_percent(
            (obj.metrics or {}).get("headline", {}).get("test_coverage_h1")
        )

    @admin.display(description="Evaluation")
    def evaluation(self, obj: ModelVersion) -> str:
        return evaluation_view(obj.metrics or {})

    @admin.display(description="Every figure")
    def metrics_pretty(self, obj: ModelVersion) -> str:
        return json_table(obj.metrics)

    @admin.display(description="Activation checks")
    def checks_pretty(self, obj: ModelVersion) -> str:
        if not obj.checks:
            return format_html(
                "<em>{}</em>", "No checks recorded (run evaluate_model)."
            )
        rows = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td class="{}">{}</td><td>{}</td></tr>',
            (
                (
                    name.replace("_", " ").capitalize(),
                    "check-pass" if check.get("passed") else "check-fail",
                    "passed" if check.get("passed") else "failed",
                    check.get("detail", ""),
                )
                for name, check in sorted(obj.checks.items())
            ),
        )
        return format_html('<table class="json-table"><tbody>{}</tbody></table>', rows)

    @admin.display(description="Artifact files")
    def artifact_files_pretty(self, obj: ModelVersion) -> str:
        return json_table(obj.artifact_files, raw=False)

    @admin.display(description="Features")
    def feature_names_pretty(self, obj: ModelVersion) -> str:
        return format_html(
            "<p>{} features: {}</p>",
            len(obj.feature_names or []),
            ", ".join(obj.feature_names or []),
        )

    @admin.display(description="Parameters")
    def params_pretty(self, obj: ModelVersion) -> str:
        return json_table(obj.params, raw=False)

    @admin.display(description="Library versions")
    def library_versions_pretty(self, obj: ModelVersion) -> str:
        return json_table(obj.library_versions, raw=False)

    @admin.action(description="Activate the selected model version")
    def activate(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion]
    ) -> HttpResponse | None:
        """Activate one version; one failing its checks is asked a reason first
        (an intermediate page, as Django's delete action asks for a confirmation),
        which is recorded on it."""
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one version to activate.", messages.ERROR
            )
            return None
        version = queryset.get()
        form = ForceActivationForm(request.POST if "force" in request.POST else None)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        try:
            version = model_version_activate(version=version, force_reason=reason)
        except ActivationRefused as exc:
            if not exc.failing_checks:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"Activate {version.version} despite failing checks?",
                "version": version,
                "failing": [
                    (name, check.get("detail", ""))
                    for name, check in version.checks.items()
                    if not check.get("passed")
                ]
                or [(name, "") for name in exc.failing_checks],
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(
                request, "admin/forecasting/modelversion/force_activation.html", context
            )
        forced = (
            f" (despite failing checks: {version.activation_forced_reason})"
            if version.activation_forced_reason
            else ""
        )
        # Not the version first: the admin capitalises a message's first letter.
        self.message_user(request, f"Activated {version.version}{forced}.")
        return None

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


#: The evaluation's methods as the admin names and draws them.
EVALUATION_METHODS = {
    "model": ("This model", "#0072b2"),
    "naive": ("Naive (last value)", "#7a8594"),
    "seasonal_naive": ("Seasonal naive", "#d55e00"),
    "oracle": ("Noise-free oracle", "#009e73"),
}


EVALUATION_SHORT = {
    "model": "MAPE",
    "naive": "Naive",
    "seasonal_naive": "Seasonal naive",
    "oracle": "Oracle",
}


def _evaluation_rows(
    metrics: dict, *, split: str = "test", mode: str = "plain"
) -> dict[str, dict[int, dict]]:
    """``{method: {horizon: record}}`` of one split and mode of a version's
    evaluation table (the first plan reading where there are several)."""
    table = metrics.get("table") or []
    plans = [r.get("plan") for r in table if r.get("mode") == mode]
    plan = plans[0] if plans else None
    rows: dict[str, dict[int, dict]] = {}
    for record in table:
        if (
            record.get("split") == split
            and record.get("mode") == mode
            and record.get("plan") == plan
        ):
            rows.setdefault(record["method"], {})[record["horizon"]] = record
    return rows


def evaluation_view(metrics: dict) -> str:
    """MAPE per horizon against the baselines and the oracle, and the 80%
    interval's coverage per horizon, drawn (test split, plain forecast), with
    the figures in a table beside them."""
    rows = _evaluation_rows(metrics)
    model = rows.get("model", {})
    if not model:
        return format_html("<em>{}</em>", "Not evaluated (run evaluate_model).")
    horizons = sorted(model)
    labels = [f"{h}" for h in horizons]
    mape = chart(
        labels=labels,
        series=[
            Series(
                name,
                [rows.get(method, {}).get(h, {}).get("mape") for h in horizons],
                color,
                dashed=method != "model",
            )
            for method, (name, color) in EVALUATION_METHODS.items()
            if method in rows
        ],
        unit="rate",
        title="MAPE by months ahead (test months, plain forecast)",
    )
    what_if = _evaluation_rows(metrics, mode="what_if").get("model", {})
    coverage_series = [
        Series(
            "Plain forecast",
            [model[h].get("coverage") for h in horizons],
            "#0072b2",
        ),
        Series("Nominal 80%", [0.8 for _ in horizons], "#7a8594", dashed=True),
    ]
    if what_if:
        coverage_series.insert(
            1,
            Series(
                "What-if forecast",
                [what_if.get(h, {}).get("coverage") for h in horizons],
                "#cc79a7",
            ),
        )
    coverage = chart(
        labels=labels,
        series=coverage_series,
        unit="rate",
        title="80% interval coverage by months ahead (test months)",
    )
    methods = [m for m in EVALUATION_METHODS if m in rows]
    head = format_html_join(
        "",
        '<th scope="col" class="num">{}</th>',
        ((EVALUATION_SHORT[m],) for m in methods),
    )
    body = format_html_join(
        "",
        '<tr><th scope="row">{}</th>{}<td class="num">{}</td><td class="num">{}</td>'
        '<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>',
        (
            (
                h,
                format_html_join(
                    "",
                    '<td class="num">{}</td>',
                    (
                        (format_percent(rows[m].get(h, {}).get("mape"), places=2),)
                        for m in methods
                    ),
                ),
                format_percent(model[h].get("coverage")),
                format_percent(model[h].get("relative_width")),
                _fixed(model[h].get("interval_score")),
                _fixed(model[h].get("r2")),
                format_percent(model[h].get("directional_accuracy")),
            )
            for h in horizons
        ),
    )
    return format_html(
        '<div class="admin-charts">{}{}</div>'
        '<table class="json-table"><thead><tr><th scope="col">Months ahead</th>{}'
        '<th scope="col" class="num">80% coverage</th>'
        '<th scope="col" class="num">Interval width</th>'
        '<th scope="col" class="num">Interval score</th>'
        '<th scope="col" class="num">R²</th>'
        '<th scope="col" class="num">Direction right</th></tr></thead>'
        "<tbody>{}</tbody></table>"
        '<p class="help">Test months the model never saw; interval width relative '
        "to the forecast; interval score: the width plus ten times each miss, "
        "relative to the month's revenue (lower is better; versions saved before "
        "it show —). The full evaluation (validation, what-if) is under "
        "Every figure.</p>",
        _admin_chart("mape", mape),
        _admin_chart("coverage", coverage),
        head,
        body,
    )


def _fixed(value) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:.3f}"


def _admin_chart(name: str, spec: dict) -> str:
    return format_html(
        '<figure class="admin-chart"><figcaption>{}</figcaption>'
        '<div class="chart-box"><canvas id="chart-{}" data-chart="chart-data-{}" '
        'role="img" aria-label="{}"></canvas></div>{}</figure>',
        spec["title"],
        name,
        name,
        spec["title"],
        json_script(spec, f"chart-data-{name}"),
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
        "created",
        "studio",
        "prediction_type",
        "version_name",
        "period",
        "confidence_display",
        "error_display",
    ]
    list_filter = [
        "prediction_type",
        "model_version",
        "studio__studio_type",
        ("actuals_recorded_at", admin.EmptyFieldListFilter),
    ]
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
        "confidence_display",
        "created_by",
        "actual_outcome_pretty",
        "error_display",
        "actuals_recorded_at",
        "created_at",
    ]
    exclude = ["inputs", "outputs", "actual_outcome", "confidence", "error_pct"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Served", ordering="created_at")
    def created(self, obj: PredictionLog) -> str:
        return f"{obj.created_at:%Y-%m-%d %H:%M}"

    @admin.display(description="Model version", ordering="model_version")
    def version_name(self, obj: PredictionLog) -> str:
        return obj.model_version.version if obj.model_version_id else "—"

    @admin.display(description="Forecast", ordering="base_month")
    def period(self, obj: PredictionLog) -> str:
        return f"{obj.base_month:%b %Y} + {obj.projection_months} mo"

    @admin.display(description="Confidence", ordering="confidence")
    def confidence_display(self, obj: PredictionLog) -> str:
        return format_percent(obj.confidence)

    @admin.display(description="Error", ordering="error_pct")
    def error_display(self, obj: PredictionLog) -> str:
        return format_percent(obj.error_pct)

    @admin.display(description="Inputs")
    def inputs_pretty(self, obj: PredictionLog) -> str:
        return json_table(obj.inputs)

    @admin.display(description="Outputs")
    def outputs_pretty(self, obj: PredictionLog) -> str:
        return json_table(obj.outputs)

    @admin.display(description="Actual outcome")
    def actual_outcome_pretty(self, obj: PredictionLog) -> str:
        return json_table(obj.actual_outcome)


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
        return json_table(obj.options, raw=False)

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


# --- batch forecasts ------------------------------------------------------------


def _seconds(duration) -> str:
    if duration is None:
        return "—"
    seconds = duration.total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class BatchForecastChunkInline(admin.TabularInline):
    model = BatchForecastChunk
    fields = [
        "index",
        "status",
        "studios",
        "forecast_count",
        "skipped_count",
        "attempts",
        "started_at",
        "finished_at",
        "error_message",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Studios")
    def studios(self, obj: BatchForecastChunk) -> int:
        return obj.studio_count


@admin.register(BatchForecast)
class BatchForecastAdmin(admin.ModelAdmin):
    """Batch forecast runs (forecast_all, forecastAll) with their chunks; read-only,
    and an action that retries the failed chunks of the selected runs."""

    list_display = [
        "__str__",
        "status",
        "model_version",
        "months",
        "studio_type",
        "studio_count",
        "forecast_count",
        "failed_chunk_count",
        "created_at",
        "duration_display",
        "rate",
    ]
    list_filter = [
        "status",
        "months",
        "studio_type",
        ("model_version", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["model_version"]
    search_fields = ["id", "model_version__version"]
    date_hierarchy = "created_at"
    inlines = [BatchForecastChunkInline]
    fields = [
        "id",
        "status",
        "model_version",
        "months",
        "studio_type",
        "chunk_size",
        "studio_count",
        "chunk_count",
        "forecast_count",
        "skipped_count",
        "failed_chunk_count",
        "error_message",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "duration_display",
        "rate",
    ]
    readonly_fields = fields
    actions = ["retry_failed_chunks"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Duration", ordering="finished_at")
    def duration_display(self, obj: BatchForecast) -> str:
        return _seconds(obj.duration)

    @admin.display(description="Studios/s")
    def rate(self, obj: BatchForecast) -> str:
        if obj.duration is None or not obj.duration.total_seconds():
            return "—"
        return f"{obj.forecast_count / obj.duration.total_seconds():,.0f}"

    @admin.action(description="Retry the failed chunks of the selected runs")
    def retry_failed_chunks(
        self, request: HttpRequest, queryset: QuerySet[BatchForecast]
    ) -> None:
        for run in queryset:
            try:
                batch_forecast_retry(run_id=run.pk)
            except DomainError as exc:
                self.message_user(request, f"{run}: {exc.message}", messages.WARNING)
            else:
                self.message_user(
                    request, f"{run}: failed chunks queued again.", messages.SUCCESS
                )


@admin.register(BatchForecastChunk)
class BatchForecastChunkAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "status",
        "studios",
        "forecast_count",
        "skipped_count",
        "attempts",
        "started_at",
        "duration_display",
    ]
    list_filter = ["status", "attempts"]
    list_select_related = ["run"]
    search_fields = ["run__id"]
    fields = [
        "run",
        "index",
        "status",
        "studios",
        "forecast_count",
        "skipped_count",
        "skipped_display",
        "attempts",
        "cpu_seconds",
        "error_message",
        "started_at",
        "finished_at",
        "duration_display",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Studios")
    def studios(self, obj: BatchForecastChunk) -> int:
        return obj.studio_count

    @admin.display(description="Skipped studios")
    def skipped_display(self, obj: BatchForecastChunk) -> str:
        if not obj.skipped_studios:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            "{}: {}",
            ((item["studio"], item["reason"]) for item in obj.skipped_studios),
        )

    @admin.display(description="Duration")
    def duration_display(self, obj: BatchForecastChunk) -> str:
        if obj.started_at is None or obj.finished_at is None:
            return "—"
        return _seconds(obj.finished_at - obj.started_at)


@admin.register(StudioForecast)
class StudioForecastAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "studio",
        "model_version",
        "base_month",
        "months",
        "total_display",
        "growth_display",
        "created_at",
    ]
    list_filter = [("model_version", admin.RelatedOnlyFieldListFilter), "months"]
    list_select_related = ["studio", "model_version"]
    search_fields = ["studio__name", "run__id"]
    fields = [
        "studio",
        "model_version",
        "run",
        "base_month",
        "months",
        "months_table",
        "total_display",
        "growth_display",
        "created_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Total revenue", ordering="total_revenue")
    def total_display(self, obj: StudioForecast) -> str:
        return f"{obj.total_revenue:,.2f}"

    @admin.display(description="Growth", ordering="growth_rate")
    def growth_display(self, obj: StudioForecast) -> str:
        return format_percent(obj.growth_rate)

    @admin.display(description="Months")
    def months_table(self, obj: StudioForecast) -> str:
        return format_html(
            "<table><tr><th>Month</th><th>Revenue</th><th>80% band</th>"
            "<th>Members</th><th>Within 10%</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{} – {}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        h + 1,
                        f"{obj.revenue[h]:,.2f}",
                        f"{obj.revenue_lower[h]:,.2f}",
                        f"{obj.revenue_upper[h]:,.2f}",
                        f"{obj.members[h]:,.1f}",
                        format_percent(obj.confidence[h]),
                    )
                    for h in range(min(obj.months, len(obj.revenue)))
                ),
            ),
        )
