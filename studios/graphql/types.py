"""GraphQL types of the studios app; every queryset passes the tenancy selector."""

from datetime import date
from decimal import Decimal

import strawberry
import strawberry_django
from django.db.models import QuerySet
from strawberry import auto
from strawberry.types import Info

from studios import models
from studios.selectors import restrict_to_user

__all__ = ["ClassTypeType", "MemberCohortType", "MonthlyMetricType", "StudioType"]


class TenantRestricted:
    """Base for types hanging off a studio: restricts every queryset to the user.

    This is the single place GraphQL applies tenancy (NetBox's pattern): root
    lists, nested relations and lookups by id all go through ``get_queryset``.
    """

    studio_path = "studio"

    @classmethod
    def get_queryset(cls, queryset: QuerySet, info: Info, **kwargs) -> QuerySet:
        return restrict_to_user(
            queryset, user=info.context.request.user, studio_path=cls.studio_path
        )


@strawberry_django.type(models.MonthlyMetric)
class MonthlyMetricType(TenantRestricted):
    month_year: date
    total_members: int
    new_members: int
    churned_members: int
    retention_rate: float | None
    avg_ticket_price: Decimal
    total_classes_held: int
    total_class_attendance: int
    class_attendance_rate: float | None
    staff_count: int | None
    staff_utilization_rate: float | None
    membership_revenue: Decimal | None
    class_pack_revenue: Decimal | None
    intro_offer_revenue: Decimal | None
    retail_revenue: Decimal | None
    upsell_revenue: Decimal | None
    total_revenue: Decimal
    intro_offer_conversions: int | None
    upsell_rate: float | None
    average_member_lifetime_months: float | None
    is_outlier: bool
    outlier_reason: str
    split: str


@strawberry_django.type(models.ClassType)
class ClassTypeType(TenantRestricted):
    class_name: auto
    class_price: Decimal
    max_capacity: int
    avg_attendance_rate: float


@strawberry_django.type(models.MemberCohort)
class MemberCohortType(TenantRestricted):
    join_month: date
    cohort_size: int
    retention_month_1: float | None
    retention_month_3: float | None
    retention_month_6: float | None
    retention_month_12: float | None
    avg_ltv: Decimal | None


@strawberry_django.type(models.Studio)
class StudioType(TenantRestricted):
    studio_path = ""

    id: strawberry.ID
    name: auto
    studio_type: str
    city: auto
    state: auto
    opening_date: auto
    square_footage: int | None
    max_capacity: int
    currency: auto
    monthly_metrics: list[MonthlyMetricType]
    class_types: list[ClassTypeType]
    cohorts: list[MemberCohortType]
