from collections import Counter

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from forecasting.models import PredictionLog, PredictionType
from scenarios.models import Scenario
from scenarios.selectors import (
    scenario_projection,
    scenario_shareable_url,
    scenarios_with_tags,
    tags_normalise,
)
from scenarios.services import scenario_save
from studiosim.admin_utils import json_table
from studiosim.display import format_money, format_percent
from studiosim.errors import InvalidInput

# What a scenario says it forecast is fixed when it is saved; only its label
# (name, description, tags) can change afterwards.
COMPUTED_FIELDS = [
    "studio",
    "scenario_type",
    "base_month",
    "projection_months",
    "confidence_display",
    "prediction_log",
]


class TagFilter(admin.SimpleListFilter):
    """The most used tags of recent scenarios; any tag can also be searched."""

    title = "tag"
    parameter_name = "tag"
    RECENT_SCENARIOS = 1000
    SHOWN = 30

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        recent = (
            model_admin.get_queryset(request)
            .order_by("-created_at")
            .values_list("tags", flat=True)[: self.RECENT_SCENARIOS]
        )
        counts = Counter(tag for tags in recent for tag in tags or ())
        return [(tag, tag) for tag, _ in counts.most_common(self.SHOWN)]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Scenario]
    ) -> QuerySet[Scenario]:
        if not self.value():
            return queryset
        try:
            return scenarios_with_tags(queryset, tags_normalise([self.value()]))
        except InvalidInput:
            return queryset.none()


class TagsField(forms.CharField):
    """Tags typed as text, separated by commas (stored as a JSON list)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            "Separated by commas; trimmed, lower-cased and de-duplicated "
            "(at most 20, of at most 40 characters each).",
        )
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value)
        return [tag for tag in (t.strip() for t in text.split(",")) if tag]


class _TagsCleaning(forms.ModelForm):
    tags = TagsField()

    def clean_tags(self) -> list[str]:
        try:
            return tags_normalise(self.cleaned_data["tags"])
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None


class ScenarioChangeForm(_TagsCleaning):
    class Meta:
        model = Scenario
        fields = ["name", "description", "tags"]


class ScenarioAddForm(_TagsCleaning):
    """Save a forward prediction's log as a scenario, through the service.

    Inverse predictions are saved through the API: their member counts and
    intervals are forecast at save time, which can fail in ways a form cannot
    show.
    """

    class Meta:
        model = Scenario
        fields = ["prediction_log", "name", "description", "tags"]
        help_texts = {
            "prediction_log": "The forward prediction to save; its studio, inputs "
            "and outputs are copied from it."
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["prediction_log"]
        field.required = True
        field.queryset = PredictionLog.objects.filter(
            prediction_type=PredictionType.FORWARD
        )


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "studio",
        "period",
        "headline_revenue",
        "confidence_display",
        "tag_list",
        "saved",
        "share",
    ]
    list_filter = [
        "scenario_type",
        ("studio", admin.RelatedOnlyFieldListFilter),
        TagFilter,
        ("created_by", admin.RelatedOnlyFieldListFilter),
        "created_at",
    ]
    list_select_related = ["studio", "created_by"]
    search_fields = ["name", "description", "studio__name", "tags"]
    date_hierarchy = "created_at"
    raw_id_fields = ["prediction_log"]

    def get_form(self, request: HttpRequest, obj: Scenario | None = None, **kwargs):
        kwargs["form"] = ScenarioAddForm if obj is None else ScenarioChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Scenario | None = None):
        if obj is None:
            return ScenarioAddForm.Meta.fields
        return [
            "id",
            "name",
            "description",
            "tags",
            *COMPUTED_FIELDS,
            "share_link",
            "lever_inputs_pretty",
            "predicted_outputs_pretty",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Scenario | None = None):
        if obj is None:
            return []
        return [
            "id",
            *COMPUTED_FIELDS,
            "share_link",
            "lever_inputs_pretty",
            "predicted_outputs_pretty",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def save_model(
        self, request: HttpRequest, obj: Scenario, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        log = form.cleaned_data["prediction_log"]
        saved = scenario_save(
            user=request.user,
            studio=log.studio,
            prediction_id=log.pk,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            tags=form.cleaned_data["tags"],
        )
        # The admin goes on with ``obj`` (its change message and redirect).
        obj.pk = saved.pk
        obj.refresh_from_db()

    @admin.display(description="Tags")
    def tag_list(self, obj: Scenario) -> str:
        return ", ".join(obj.tags or [])

    @admin.display(description="Share page")
    def share_link(self, obj: Scenario) -> str:
        return format_html(
            '<a href="{0}" target="_blank" rel="noopener">{0}</a>',
            scenario_shareable_url(obj),
        )

    @admin.display(description="Forecast", ordering="base_month")
    def period(self, obj: Scenario) -> str:
        return (
            f"{obj.get_scenario_type_display()}, "
            f"{obj.base_month:%b %Y} + {obj.projection_months} mo"
        )

    @admin.display(description="Saved", ordering="created_at")
    def saved(self, obj: Scenario) -> str:
        return f"{obj.created_at:%Y-%m-%d}"

    @admin.display(description="Page")
    def share(self, obj: Scenario) -> str:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">Open</a>',
            scenario_shareable_url(obj),
        )

    @admin.display(description="Headline revenue")
    def headline_revenue(self, obj: Scenario) -> str:
        try:
            revenue = scenario_projection(obj).predicted_revenue
        except (KeyError, TypeError, ValueError):
            # Outputs saved in another shape (written by hand or an older
            # version): the list still opens, the raw outputs are on the page.
            revenue = None
        return format_html(
            '<span class="figure">{}</span>', format_money(revenue, obj.studio.currency)
        )

    @admin.display(description="Confidence", ordering="confidence_score")
    def confidence_display(self, obj: Scenario) -> str:
        return format_percent(obj.confidence_score)

    @admin.display(description="Lever inputs")
    def lever_inputs_pretty(self, obj: Scenario) -> str:
        return json_table(obj.lever_inputs)

    @admin.display(description="Predicted outputs")
    def predicted_outputs_pretty(self, obj: Scenario) -> str:
        return json_table(obj.predicted_outputs)
