from django.contrib import admin

from scenarios.models import Scenario
from studiosim.admin_utils import pretty_json


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "studio",
        "scenario_type",
        "base_month",
        "projection_months",
        "tag_list",
        "confidence_score",
        "created_by",
        "created_at",
    ]
    list_filter = ["scenario_type", "studio__studio_type", "created_at"]
    list_select_related = ["studio", "created_by"]
    search_fields = ["name", "description", "studio__name"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["studio"]
    readonly_fields = [
        "id",
        "lever_inputs_pretty",
        "predicted_outputs_pretty",
        "prediction_log",
        "created_by",
        "created_at",
        "updated_at",
    ]
    fields = [
        "id",
        "studio",
        "name",
        "description",
        "scenario_type",
        "base_month",
        "projection_months",
        "tags",
        "confidence_score",
        "lever_inputs_pretty",
        "predicted_outputs_pretty",
        "prediction_log",
        "created_by",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Tags")
    def tag_list(self, obj: Scenario) -> str:
        return ", ".join(obj.tags or [])

    @admin.display(description="Lever inputs")
    def lever_inputs_pretty(self, obj: Scenario) -> str:
        return pretty_json(obj.lever_inputs)

    @admin.display(description="Predicted outputs")
    def predicted_outputs_pretty(self, obj: Scenario) -> str:
        return pretty_json(obj.predicted_outputs)
