from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from studios import services
from studios.models import (
    ApiToken,
    ClassType,
    MemberCohort,
    MonthlyMetric,
    Studio,
    StudioMembership,
    StudioType,
)
from studiosim.admin_utils import pretty_json


class MetricsImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="One row per studio-month; columns as documented in the README.",
    )
    studio_type = forms.ChoiceField(
        choices=[("", "— from the file —"), *StudioType.choices],
        required=False,
        help_text="Type given to new studios whose rows have no studio_type.",
    )
    location = forms.CharField(
        required=False,
        max_length=200,
        help_text="'City, State' given to new studios whose rows have no location "
        "(left blank otherwise, to fill in later).",
    )
    dry_run = forms.BooleanField(
        required=False, help_text="Validate and report only; write nothing."
    )


class StudioMembershipInline(admin.TabularInline):
    model = StudioMembership
    extra = 0
    autocomplete_fields = ["user"]


class ClassTypeInline(admin.TabularInline):
    model = ClassType
    extra = 0


@admin.register(Studio)
class StudioAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "studio_type",
        "city",
        "state",
        "max_capacity",
        "opening_date",
        "months_of_data",
    ]
    list_filter = ["studio_type", "state", "city"]
    search_fields = ["name", "city", "state"]
    readonly_fields = ["id", "data_version", "created_at", "updated_at", "metrics_link"]
    fieldsets = [
        (None, {"fields": ["id", "name", "studio_type", "currency"]}),
        ("Location", {"fields": ["city", "state"]}),
        (
            "Facility",
            {"fields": ["opening_date", "square_footage", "max_capacity"]},
        ),
        (
            "Data",
            {"fields": ["metrics_link", "data_version", "created_at", "updated_at"]},
        ),
    ]
    inlines = [StudioMembershipInline, ClassTypeInline]
    actions = ["export_selected"]
    change_list_template = "admin/studios/studio/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Studio]:
        return (
            super()
            .get_queryset(request)
            .annotate(metric_count=Count("monthly_metrics", distinct=True))
        )

    @admin.display(description="Months of data", ordering="metric_count")
    def months_of_data(self, obj: Studio) -> str:
        url = reverse("admin:studios_monthlymetric_changelist")
        return format_html(
            '<a href="{}?studio__id__exact={}">{}</a>', url, obj.pk, obj.metric_count
        )

    @admin.action(description="Export selected studios' data (CSV or Parquet)")
    def export_selected(self, request: HttpRequest, queryset: QuerySet[Studio]):
        """The export page for the selection (every studio when all are selected)."""
        from exports.views import export_page

        selected = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        everything = len(selected) == Studio.objects.count()
        return export_page(request, studios=[] if everything else selected)

    @admin.display(description="Monthly metrics")
    def metrics_link(self, obj: Studio) -> str:
        if obj.pk is None:
            return "—"
        url = reverse("admin:studios_monthlymetric_changelist")
        return format_html(
            '<a href="{}?studio__id__exact={}">View this studio\'s monthly metrics</a>',
            url,
            obj.pk,
        )


@admin.register(MonthlyMetric)
class MonthlyMetricAdmin(admin.ModelAdmin):
    list_display = [
        "studio",
        "month_year",
        "total_members",
        "new_members",
        "churned_members",
        "retention_rate",
        "avg_ticket_price",
        "class_attendance_rate",
        "total_revenue",
        "split",
        "is_outlier",
    ]
    list_filter = [
        "studio__studio_type",
        "studio__state",
        "split",
        "is_outlier",
        "outlier_reason",
    ]
    list_select_related = ["studio"]
    search_fields = ["studio__name", "studio__city"]
    date_hierarchy = "month_year"
    autocomplete_fields = ["studio"]
    list_per_page = 60
    change_list_template = "admin/studios/monthlymetric/change_list.html"
    readonly_fields = ["split", "expected_values_pretty", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["studio", "month_year", "split"]}),
        (
            "Members",
            {
                "fields": [
                    "total_members",
                    "new_members",
                    "churned_members",
                    "retention_rate",
                    "average_member_lifetime_months",
                    "intro_offer_conversions",
                ]
            },
        ),
        (
            "Classes and staff",
            {
                "fields": [
                    "total_classes_held",
                    "total_class_attendance",
                    "class_attendance_rate",
                    "staff_count",
                    "staff_utilization_rate",
                ]
            },
        ),
        (
            "Revenue",
            {
                "fields": [
                    "avg_ticket_price",
                    "upsell_rate",
                    "membership_revenue",
                    "class_pack_revenue",
                    "intro_offer_revenue",
                    "retail_revenue",
                    "upsell_revenue",
                    "total_revenue",
                ]
            },
        ),
        ("Outlier", {"fields": ["is_outlier", "outlier_reason"]}),
        (
            "Generator truth (evaluation only)",
            {
                "fields": ["expected_values_pretty"],
                "classes": ["collapse"],
            },
        ),
        ("Timestamps", {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description="Noise-free values")
    def expected_values_pretty(self, obj: MonthlyMetric) -> str:
        return pretty_json(obj.expected_values)

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="studios_monthlymetric_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a CSV; the same all-or-nothing service as import_metrics."""
        if not self.has_add_permission(request) or not self.has_change_permission(
            request
        ):
            return HttpResponse(status=403)
        report = None
        form = MetricsImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                report = services.metrics_import(
                    data=form.cleaned_data["file"].read(),
                    default_studio_type=form.cleaned_data["studio_type"] or None,
                    default_location=form.cleaned_data["location"].strip() or None,
                    dry_run=form.cleaned_data["dry_run"],
                )
            except UnicodeDecodeError:
                form.add_error("file", "The file is not UTF-8 text.")
            except services.ImportFailed as failed:
                report = failed.report
                self.message_user(
                    request,
                    f"{len(report.errors)} error(s): nothing was imported.",
                    messages.ERROR,
                )
            else:
                verb = "Checked" if report.dry_run else "Imported"
                self.message_user(
                    request,
                    f"{verb} {report.rows} rows: {report.created} created, "
                    f"{report.updated} updated, {report.unchanged} unchanged, "
                    f"{len(report.studios_created)} new studio(s).",
                    messages.SUCCESS,
                )
                if not report.dry_run and not report.warnings:
                    return redirect("admin:studios_monthlymetric_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import monthly metrics",
            "form": form,
            "report": report,
        }
        return TemplateResponse(
            request, "admin/studios/monthlymetric/import.html", context
        )

    def save_model(self, request, obj, form, change) -> None:
        services.metric_save(metric=obj)

    def delete_model(self, request, obj) -> None:
        services.metric_delete(metric=obj)

    def delete_queryset(self, request, queryset) -> None:
        services.metric_delete_many(queryset=queryset)


@admin.register(ClassType)
class ClassTypeAdmin(admin.ModelAdmin):
    list_display = [
        "class_name",
        "studio",
        "class_price",
        "max_capacity",
        "avg_attendance_rate",
    ]
    list_filter = ["studio__studio_type"]
    list_select_related = ["studio"]
    search_fields = ["class_name", "studio__name"]
    autocomplete_fields = ["studio"]


@admin.register(MemberCohort)
class MemberCohortAdmin(admin.ModelAdmin):
    list_display = [
        "studio",
        "join_month",
        "cohort_size",
        "retention_month_1",
        "retention_month_3",
        "retention_month_6",
        "retention_month_12",
        "avg_ltv",
    ]
    list_filter = ["studio__studio_type"]
    list_select_related = ["studio"]
    search_fields = ["studio__name"]
    date_hierarchy = "join_month"
    autocomplete_fields = ["studio"]


@admin.register(StudioMembership)
class StudioMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "studio", "role", "created_at"]
    list_filter = ["role", "studio__studio_type"]
    list_select_related = ["user", "studio"]
    search_fields = ["user__username", "user__email", "studio__name"]
    autocomplete_fields = ["user", "studio"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Bearer tokens for the GraphQL API; the plaintext is shown once, on creation."""

    list_display = [
        "name",
        "user",
        "key_prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    list_select_related = ["user"]
    search_fields = ["name", "key_prefix", "user__username"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None):
        if obj is None:
            return ["user", "name", "expires_at"]
        return [
            "user",
            "name",
            "key_prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None):
        # Once issued, only the label may change: who a token acts for and when
        # it stops working are decided at creation (revoke it and issue another).
        if obj is None:
            return []
        return [f for f in self.get_fields(request, obj) if f != "name"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        token, key = services.api_token_create(
            user=obj.user, name=obj.name, expires_at=obj.expires_at
        )
        # The admin goes on to log and link to ``obj``: make it the saved token.
        obj.pk = token.pk
        obj.refresh_from_db()
        # The plaintext rides in the messages storage (the session, or a signed
        # HttpOnly cookie) to the next page, which shows and drops it.
        self.message_user(
            request,
            format_html(
                "Token created. Copy it now, it will not be shown again: "
                "<code>{}</code>",
                key,
            ),
            messages.WARNING,
        )

    @admin.action(description="Revoke selected API tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            services.api_token_revoke(token=token)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
