"""GraphQL types of the studios app; every queryset passes the tenancy selector.

Python names carry the house ``Type``/``Enum`` suffixes; the GraphQL names are
the plain domain names a frontend reads in the SDL (``Studio``, ``StudioType``).
"""

from datetime import date
from typing import Any, Self

import strawberry
import strawberry_django
from django.db.models import QuerySet
from strawberry import auto
from strawberry.annotation import StrawberryAnnotation
from strawberry.types import Info
from strawberry.types.arguments import StrawberryArgument
from strawberry_django.fields.field import StrawberryDjangoField
from strawberry_django.optimizer import is_optimized_by_prefetching

from studios import models, selectors
from studios.selectors import restrict_to_user
from studiosim.graphql_errors import BadUserInput
from studiosim.graphql_scalars import Money

__all__ = [
    "ClassTypeType",
    "MemberCohortType",
    "MonthlyMetricType",
    "RetentionTrendEnum",
    "StudioBaselineType",
    "StudioType",
    "StudioTypeEnum",
]

StudioTypeEnum = strawberry.enum(
    models.StudioType, name="StudioType", description="The kind of studio."
)
RetentionTrendEnum = strawberry.enum(
    selectors.RetentionTrend,
    name="RetentionTrend",
    description="Direction of retention over the baseline period.",
)


class TenantRestricted:
    """Base for types hanging off a studio: restricts every queryset to the user.

    This is the single place GraphQL applies tenancy (NetBox's pattern): root
    lists and nested relations all go through ``get_queryset``. Lookups by id
    (``studio``, ``studioBaseline``) call the selector ``studio_get``, which
    restricts with the same ``restrict_to_user``.
    """

    studio_path = "studio"

    @classmethod
    def get_queryset(cls, queryset: QuerySet, info: Info, **kwargs) -> QuerySet:
        return restrict_to_user(
            queryset, user=info.context.request.user, studio_path=cls.studio_path
        )


@strawberry_django.type(models.MonthlyMetric, name="MonthlyMetric")
class MonthlyMetricType(TenantRestricted):
    month_year: date
    total_members: int
    new_members: int
    churned_members: int
    retention_rate: float | None
    avg_ticket_price: Money
    total_classes_held: int
    total_class_attendance: int
    class_attendance_rate: float | None
    staff_count: int | None
    staff_utilization_rate: float | None
    membership_revenue: Money | None
    class_pack_revenue: Money | None
    intro_offer_revenue: Money | None
    retail_revenue: Money | None
    upsell_revenue: Money | None
    total_revenue: Money
    intro_offer_conversions: int | None
    upsell_rate: float | None
    average_member_lifetime_months: float | None
    is_outlier: bool
    outlier_reason: str
    split: str


@strawberry_django.type(models.ClassType, name="ClassType")
class ClassTypeType(TenantRestricted):
    class_name: auto
    class_price: Money
    max_capacity: int
    avg_attendance_rate: float


@strawberry_django.type(models.MemberCohort, name="MemberCohort")
class MemberCohortType(TenantRestricted):
    join_month: date
    cohort_size: int
    retention_month_1: float | None
    retention_month_3: float | None
    retention_month_6: float | None
    retention_month_12: float | None
    avg_ltv: Money | None


LAST_MONTHS_ARGUMENT = StrawberryArgument(
    python_name="last_months",
    graphql_name=None,
    type_annotation=StrawberryAnnotation(int | None),
    default=None,
    description="Only the latest N months of data (N >= 1).",
)


class MonthlyMetricsField(StrawberryDjangoField):
    """A studio's months, oldest first, optionally only the latest ``lastMonths``.

    The argument is applied in ``get_queryset``, which the optimizer also runs
    inside its prefetch, so a page of studios still costs one query.
    """

    @property
    def arguments(self) -> list[StrawberryArgument]:
        return [*super().arguments, LAST_MONTHS_ARGUMENT]

    @arguments.setter
    def arguments(self, value: list[StrawberryArgument]) -> None:
        StrawberryDjangoField.arguments.fset(self, value)

    def get_queryset(
        self,
        queryset: QuerySet[models.MonthlyMetric],
        info: Info,
        *,
        last_months: int | None = None,
        **kwargs: Any,
    ) -> QuerySet[models.MonthlyMetric]:
        if is_optimized_by_prefetching(queryset):
            # The optimizer already ran this method for the prefetch.
            return queryset
        queryset = super().get_queryset(queryset, info, **kwargs)
        if last_months is not None:
            if last_months < 1:
                raise BadUserInput(field="lastMonths", reason="must be at least 1")
            queryset = selectors.metric_latest_months(queryset, months=last_months)
        return queryset.order_by("month_year")


@strawberry_django.type(models.Studio, name="Studio")
class StudioType(TenantRestricted):
    studio_path = ""

    id: strawberry.ID
    name: auto
    studio_type: StudioTypeEnum
    city: auto
    state: auto
    opening_date: auto
    square_footage: int | None
    max_capacity: int
    currency: auto
    monthly_metrics: list[MonthlyMetricType] = strawberry_django.field(
        field_cls=MonthlyMetricsField
    )
    class_types: list[ClassTypeType]
    cohorts: list[MemberCohortType]


# --- studioBaseline ------------------------------------------------------------


@strawberry.type(name="BaselinePeriod")
class BaselinePeriodType:
    start_month: date
    end_month: date


@strawberry.type(name="BaselineCurrentMetrics", description="The latest month.")
class BaselineCurrentMetricsType:
    retention_rate: float | None
    avg_ticket_price: Money
    class_attendance_rate: float | None
    total_members: int
    monthly_revenue: Money


@strawberry.type(name="SeasonalityIndex")
class SeasonalityIndexType:
    month: int = strawberry.field(description="Calendar month, 1-12.")
    revenue_index: float | None = strawberry.field(
        description="Revenue relative to the studio's trend (1 = par); null "
        "without enough history for this month."
    )


@strawberry.type(name="BaselineHistoricalTrends")
class BaselineHistoricalTrendsType:
    revenue_growth_12m: float | None = strawberry.field(
        description="Latest month's revenue against the same month a year earlier, "
        "as a fraction (0.08 = +8%)."
    )
    retention_trend: RetentionTrendEnum
    seasonality_pattern: list[SeasonalityIndexType] = strawberry.field(
        description="One entry per calendar month, January first."
    )


@strawberry.type(
    name="IndustryBenchmarks",
    description="Percentile ranks (0-100) of the latest month among studios of "
    "the same type, each at its own latest month.",
)
class IndustryBenchmarksType:
    peer_count: int
    retention_rate_percentile: float | None
    avg_ticket_percentile: float | None = strawberry.field(
        description="Among the studios of the same type that count money in the "
        "same currency (a price in yen does not rank among dollar prices); null "
        "when there is none."
    )
    attendance_percentile: float | None


@strawberry.type(name="StudioBaseline")
class StudioBaselineType:
    baseline_period: BaselinePeriodType
    current_metrics: BaselineCurrentMetricsType
    historical_trends: BaselineHistoricalTrendsType
    industry_benchmarks: IndustryBenchmarksType

    @classmethod
    def from_baseline(cls, baseline: selectors.StudioBaseline) -> Self:
        current, benchmarks = baseline.current, baseline.benchmarks
        return cls(
            baseline_period=BaselinePeriodType(
                start_month=baseline.start_month, end_month=baseline.end_month
            ),
            current_metrics=BaselineCurrentMetricsType(
                retention_rate=current.retention_rate,
                avg_ticket_price=current.avg_ticket_price,
                class_attendance_rate=current.class_attendance_rate,
                total_members=current.total_members,
                monthly_revenue=current.monthly_revenue,
            ),
            historical_trends=BaselineHistoricalTrendsType(
                revenue_growth_12m=baseline.revenue_growth_12m,
                retention_trend=baseline.retention_trend,
                seasonality_pattern=[
                    SeasonalityIndexType(month=s.month, revenue_index=s.revenue_index)
                    for s in baseline.seasonality
                ],
            ),
            industry_benchmarks=IndustryBenchmarksType(
                peer_count=benchmarks.peer_count,
                retention_rate_percentile=benchmarks.retention_rate_percentile,
                avg_ticket_percentile=benchmarks.avg_ticket_percentile,
                attendance_percentile=benchmarks.attendance_percentile,
            ),
        )
