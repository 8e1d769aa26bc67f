from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

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
from studios.selectors import (
    BaselineUnavailable,
    metric_list,
    studio_baseline,
    studios_with_latest_figures,
)
from studios.services import SHOWN_PROBLEMS
from studiosim.admin_utils import json_table
from studiosim.charts import COLORS, Marks, Series, chart
from studiosim.display import (
    format_count,
    format_money,
    format_percent,
    format_signed_percent,
)


class MetricsImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="One row per studio-month; columns as documented in docs/data.md.",
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
    currency = forms.RegexField(
        regex=r"^[A-Za-z]{3}$",
        required=False,
        initial="USD",
        help_text="Currency of new studios' money (ISO 4217: USD, EUR, JPY...; USD "
        "when blank); a known studio keeps its own.",
        error_messages={"invalid": "Give three letters, such as USD, EUR or JPY."},
    )
    dry_run = forms.BooleanField(
        required=False, help_text="Validate and report only; write nothing."
    )
    all_problems = forms.BooleanField(
        required=False,
        label="List every problem",
        help_text=f"By default the first {SHOWN_PROBLEMS} errors and "
        f"{SHOWN_PROBLEMS} warnings are listed, and every problem is counted by column.",
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
    """Studios with their latest figures; the page adds KPIs, the revenue
    history drawn, the cohorts, and links to the owner pages (forecast, what-if,
    plan)."""

    list_display = [
        "name",
        "studio_type",
        "location",
        "latest_revenue_display",
        "latest_members_display",
        "latest_retention_display",
        "trend_display",
        "months_of_data",
    ]
    list_filter = ["studio_type", "state", "city"]
    search_fields = ["name", "city", "state"]
    readonly_fields = [
        "id",
        "data_version",
        "created_at",
        "updated_at",
        "metrics_link",
        "cohort_table",
    ]
    fieldsets = [
        (None, {"fields": ["id", "name", "studio_type", "currency"]}),
        ("Location", {"fields": ["city", "state"]}),
        (
            "Facility",
            {"fields": ["opening_date", "square_footage", "max_capacity"]},
        ),
        ("Member cohorts (latest 24)", {"fields": ["cohort_table"]}),
        (
            "Data",
            {"fields": ["metrics_link", "data_version", "created_at", "updated_at"]},
        ),
    ]
    inlines = [StudioMembershipInline, ClassTypeInline]
    actions = ["export_selected"]
    change_list_template = "admin/studios/studio/change_list.html"
    change_form_template = "admin/studios/studio/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Studio]:
        months = (
            MonthlyMetric.objects.filter(studio=OuterRef("pk"))
            .order_by()
            .values("studio")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return studios_with_latest_figures(super().get_queryset(request)).annotate(
            metric_count=Subquery(months)
        )

    @admin.display(description="Location", ordering="city")
    def location(self, obj: Studio) -> str:
        return f"{obj.city}, {obj.state}" if obj.state else obj.city

    @admin.display(description="Revenue", ordering="latest_revenue")
    def latest_revenue_display(self, obj: Studio) -> str:
        return format_html(
            '<span class="figure" title="{}">{}</span>',
            f"{obj.latest_month:%B %Y}" if obj.latest_month else "",
            format_money(obj.latest_revenue, obj.currency),
        )

    @admin.display(description="Members", ordering="latest_members")
    def latest_members_display(self, obj: Studio) -> str:
        return format_html(
            '<span class="figure">{}</span>', format_count(obj.latest_members)
        )

    @admin.display(description="Retention", ordering="latest_retention")
    def latest_retention_display(self, obj: Studio) -> str:
        return format_html(
            '<span class="figure">{}</span>', format_percent(obj.latest_retention)
        )

    @admin.display(description="Year on year")
    def trend_display(self, obj: Studio) -> str:
        if not obj.latest_revenue or not obj.year_ago_revenue:
            return "—"
        growth = float(obj.latest_revenue) / float(obj.year_ago_revenue) - 1
        return format_html(
            '<span class="figure {}">{} {}</span>',
            "trend-up" if growth >= 0 else "trend-down",
            "▲" if growth >= 0 else "▼",
            format_signed_percent(growth),
        )

    @admin.display(description="Months of data", ordering="metric_count")
    def months_of_data(self, obj: Studio) -> str:
        url = reverse("admin:studios_monthlymetric_changelist")
        return format_html(
            '<a href="{}?studio__id__exact={}">{}</a>',
            url,
            obj.pk,
            obj.metric_count or 0,
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

    @admin.display(description="Cohorts")
    def cohort_table(self, obj: Studio) -> str:
        if obj.pk is None:
            return "—"
        cohorts = list(
            MemberCohort.objects.filter(studio=obj).order_by("-join_month")[:24]
        )
        if not cohorts:
            return format_html("<em>{}</em>", "No cohorts on record.")
        rows = [
            (
                f"{c.join_month:%b %Y}",
                format_count(c.cohort_size),
                format_percent(c.retention_month_1),
                format_percent(c.retention_month_3),
                format_percent(c.retention_month_6),
                format_percent(c.retention_month_12),
                format_money(c.avg_ltv, obj.currency),
            )
            for c in cohorts
        ]
        body = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td></tr>',
            rows,
        )
        url = reverse("admin:studios_membercohort_changelist")
        return format_html(
            '<table class="json-table"><thead><tr><th>Joined</th><th>Size</th>'
            "<th>Kept 1 month</th><th>3 months</th><th>6 months</th>"
            "<th>12 months</th><th>Avg LTV</th></tr></thead>"
            '<tbody>{}</tbody></table><p><a href="{}?studio__id__exact={}">Every '
            "cohort of this studio</a></p>",
            body,
            url,
            obj.pk,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        studio = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if studio is not None:
            extra.update(_studio_summary(request, studio))
        return super().change_view(request, object_id, form_url, extra)


def _studio_summary(request: HttpRequest, studio: Studio) -> dict:
    """The KPIs and history charts at the top of a studio's admin page."""
    history = list(
        metric_list(user=request.user, studio=studio)
        .order_by("month_year")
        .values(
            "month_year",
            "total_revenue",
            "total_members",
            "retention_rate",
            "is_outlier",
            "outlier_reason",
        )
    )
    if not history:
        return {}
    try:
        baseline = studio_baseline(studio=studio)
    except BaselineUnavailable:
        baseline = None
    labels = [f"{row['month_year']:%Y-%m}" for row in history]
    kpis = []
    if baseline is not None:
        current = baseline.current
        kpis = [
            (
                "Revenue",
                format_money(current.monthly_revenue, studio.currency),
                f"{baseline.end_month:%B %Y}",
            ),
            ("Members", format_count(current.total_members), ""),
            (
                "Retention",
                format_percent(current.retention_rate),
                f"trend {baseline.retention_trend.value}",
            ),
            (
                "Year on year",
                format_signed_percent(baseline.revenue_growth_12m),
                "revenue",
            ),
            (
                "Average ticket",
                format_money(current.avg_ticket_price, studio.currency, places=2),
                "",
            ),
            (
                "Retention percentile",
                "—"
                if baseline.benchmarks.retention_rate_percentile is None
                else f"{baseline.benchmarks.retention_rate_percentile:.0f}",
                f"among {baseline.benchmarks.peer_count} other "
                f"{studio.get_studio_type_display()} studios",
            ),
        ]
    revenue = chart(
        labels=labels,
        series=[
            Series(
                "Revenue",
                [float(row["total_revenue"]) for row in history],
                COLORS["history"],
            )
        ],
        marks=[
            Marks(
                "Outlier month",
                [
                    {
                        "x": f"{row['month_year']:%Y-%m}",
                        "y": float(row["total_revenue"]),
                        "note": row["outlier_reason"] or "outlier",
                    }
                    for row in history
                    if row["is_outlier"]
                ],
            )
        ],
        currency=studio.currency,
        title="Monthly revenue",
    )
    members = chart(
        labels=labels,
        series=[
            Series(
                "Members",
                [row["total_members"] for row in history],
                COLORS["members"],
            ),
            Series(
                "Retention",
                [row["retention_rate"] for row in history],
                COLORS["retention"],
                axis="y2",
            ),
        ],
        unit="count",
        second_unit="rate",
        title="Members and retention",
    )
    return {
        "summary_kpis": kpis,
        "summary_charts": [("revenue", revenue), ("members", members)],
        "owner_links": [
            ("Dashboard and forecast", reverse("web:dashboard", args=[studio.pk])),
            ("What-if simulator", reverse("web:simulate", args=[studio.pk])),
            ("Target planner", reverse("web:plan", args=[studio.pk])),
            ("Scenarios", reverse("web:scenarios", args=[studio.pk])),
        ],
    }


def _figure(text: str) -> str:
    return format_html('<span class="figure">{}</span>', text)


@admin.register(MonthlyMetric)
class MonthlyMetricAdmin(admin.ModelAdmin):
    # Figures formatted, members, new and churned in one column and outlier
    # months marked in the month's, so the list fits 1366 px beside the filters
    # without scrolling (the split is a filter).
    list_display = [
        "studio",
        "month_display",
        "members_display",
        "retention_display",
        "ticket_display",
        "attendance_display",
        "revenue_display",
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

    @admin.display(description="Month", ordering="month_year")
    def month_display(self, obj: MonthlyMetric) -> str:
        if not obj.is_outlier:
            return f"{obj.month_year:%b %Y}"
        return format_html(
            '{} <span class="trend-down" title="outlier month: {}">▲ {}</span>',
            f"{obj.month_year:%b %Y}",
            obj.get_outlier_reason_display() or "unspecified",
            obj.get_outlier_reason_display() or "outlier",
        )

    @admin.display(description="Members (new / churned)", ordering="total_members")
    def members_display(self, obj: MonthlyMetric) -> str:
        return _figure(
            f"{obj.total_members:,} (+{obj.new_members} / −{obj.churned_members})"
        )

    @admin.display(description="Retention", ordering="retention_rate")
    def retention_display(self, obj: MonthlyMetric) -> str:
        return _figure(format_percent(obj.retention_rate))

    @admin.display(description="Ticket", ordering="avg_ticket_price")
    def ticket_display(self, obj: MonthlyMetric) -> str:
        return _figure(
            format_money(obj.avg_ticket_price, obj.studio.currency, places=2)
        )

    @admin.display(description="Attendance", ordering="class_attendance_rate")
    def attendance_display(self, obj: MonthlyMetric) -> str:
        return _figure(format_percent(obj.class_attendance_rate))

    @admin.display(description="Revenue", ordering="total_revenue")
    def revenue_display(self, obj: MonthlyMetric) -> str:
        return _figure(format_money(obj.total_revenue, obj.studio.currency))

    @admin.display(description="Noise-free values")
    def expected_values_pretty(self, obj: MonthlyMetric) -> str:
        return json_table(obj.expected_values)

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
                    default_currency=(form.cleaned_data["currency"] or "USD").upper(),
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
        shown, hidden = [], 0
        if report is not None:
            every = form.is_valid() and form.cleaned_data["all_problems"]
            shown, hidden = report.shown(None if every else SHOWN_PROBLEMS)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import monthly metrics",
            "form": form,
            "report": report,
            "shown_problems": shown,
            "hidden_problems": hidden,
            "shown_limit": SHOWN_PROBLEMS,
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
        "price_display",
        "max_capacity",
        "attendance_display",
    ]
    list_filter = ["studio__studio_type", "class_name"]
    list_select_related = ["studio"]
    search_fields = ["class_name", "studio__name"]
    autocomplete_fields = ["studio"]

    @admin.display(description="Price", ordering="class_price")
    def price_display(self, obj: ClassType) -> str:
        return _figure(format_money(obj.class_price, obj.studio.currency, places=2))

    @admin.display(description="Attendance", ordering="avg_attendance_rate")
    def attendance_display(self, obj: ClassType) -> str:
        return _figure(format_percent(obj.avg_attendance_rate))


@admin.register(MemberCohort)
class MemberCohortAdmin(admin.ModelAdmin):
    list_display = [
        "studio",
        "joined",
        "cohort_size",
        "month_1",
        "month_3",
        "month_6",
        "month_12",
        "ltv",
    ]
    list_filter = ["studio__studio_type"]
    list_select_related = ["studio"]
    search_fields = ["studio__name"]
    date_hierarchy = "join_month"
    autocomplete_fields = ["studio"]

    @admin.display(description="Joined", ordering="join_month")
    def joined(self, obj: MemberCohort) -> str:
        return f"{obj.join_month:%b %Y}"

    @admin.display(description="After 1 month", ordering="retention_month_1")
    def month_1(self, obj: MemberCohort) -> str:
        return _figure(format_percent(obj.retention_month_1))

    @admin.display(description="3 months", ordering="retention_month_3")
    def month_3(self, obj: MemberCohort) -> str:
        return _figure(format_percent(obj.retention_month_3))

    @admin.display(description="6 months", ordering="retention_month_6")
    def month_6(self, obj: MemberCohort) -> str:
        return _figure(format_percent(obj.retention_month_6))

    @admin.display(description="12 months", ordering="retention_month_12")
    def month_12(self, obj: MemberCohort) -> str:
        return _figure(format_percent(obj.retention_month_12))

    @admin.display(description="Average LTV", ordering="avg_ltv")
    def ltv(self, obj: MemberCohort) -> str:
        return _figure(format_money(obj.avg_ltv, obj.studio.currency))


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
