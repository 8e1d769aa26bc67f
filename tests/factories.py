"""factory-boy factories, one per model."""

import datetime as dt
import hashlib
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from forecasting.models import (
    BatchForecast,
    BatchForecastChunk,
    ModelVersion,
    ModelVersionStatus,
    PredictionLog,
    PredictionType,
    RetrainJob,
    RetrainStrategy,
    StudioForecast,
)
from scenarios.models import Scenario, ScenarioType
from studios.models import (
    ApiToken,
    ClassType,
    MemberCohort,
    MonthlyMetric,
    Studio,
    StudioMembership,
    StudioRole,
    StudioType,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class StaffUserFactory(UserFactory):
    is_staff = True


class SuperUserFactory(UserFactory):
    is_staff = True
    is_superuser = True


class StudioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Studio

    name = factory.Sequence(lambda n: f"Studio {n}")
    studio_type = StudioType.YOGA
    city = "Austin"
    state = "TX"
    opening_date = dt.date(2019, 3, 1)
    square_footage = 2400
    max_capacity = 20


class StudioMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StudioMembership

    user = factory.SubFactory(UserFactory)
    studio = factory.SubFactory(StudioFactory)
    role = StudioRole.OWNER


class MonthlyMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MonthlyMetric

    studio = factory.SubFactory(StudioFactory)
    month_year = factory.Sequence(lambda n: dt.date(2020 + n // 12, n % 12 + 1, 1))
    total_members = 250
    new_members = 25
    churned_members = 20
    retention_rate = 0.92
    avg_ticket_price = Decimal("150.00")
    total_classes_held = 200
    total_class_attendance = 2800
    class_attendance_rate = 0.7
    staff_count = 10
    staff_utilization_rate = 0.8
    membership_revenue = Decimal("37500.00")
    class_pack_revenue = Decimal("4200.00")
    intro_offer_revenue = Decimal("1000.00")
    retail_revenue = Decimal("1500.00")
    upsell_revenue = Decimal("2000.00")
    total_revenue = Decimal("46200.00")
    intro_offer_conversions = 12
    upsell_rate = 0.2
    average_member_lifetime_months = 12.5


class ClassTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClassType

    studio = factory.SubFactory(StudioFactory)
    class_name = factory.Sequence(lambda n: f"Vinyasa Flow {n}")
    class_price = Decimal("25.00")
    max_capacity = 20
    avg_attendance_rate = 0.7


class MemberCohortFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MemberCohort

    studio = factory.SubFactory(StudioFactory)
    join_month = factory.Sequence(lambda n: dt.date(2020 + n // 12, n % 12 + 1, 1))
    cohort_size = 25
    retention_month_1 = 0.92
    retention_month_3 = 0.8
    retention_month_6 = 0.65
    retention_month_12 = 0.45
    avg_ltv = Decimal("1800.00")


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    version = factory.Sequence(lambda n: f"test-{n:04d}")
    status = ModelVersionStatus.READY
    checks = factory.LazyFunction(
        lambda: {
            "lever_monotonicity": {"passed": True, "detail": "ok"},
            "beats_baselines": {"passed": True, "detail": "ok"},
            "interval_coverage": {"passed": True, "detail": "ok"},
        }
    )


class PredictionLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PredictionLog

    studio = factory.SubFactory(StudioFactory)
    prediction_type = PredictionType.FORWARD
    model_version = factory.SubFactory(ModelVersionFactory)
    base_month = dt.date(2024, 1, 1)
    inputs = factory.LazyFunction(dict)
    outputs = factory.LazyFunction(dict)
    confidence = 0.8


class ScenarioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scenario

    studio = factory.SubFactory(StudioFactory)
    name = factory.Sequence(lambda n: f"Scenario {n}")
    scenario_type = ScenarioType.FORWARD
    base_month = dt.date(2024, 1, 1)
    lever_inputs = factory.LazyFunction(lambda: {"retention_rate": 0.93})
    predicted_outputs = factory.LazyFunction(lambda: {"total_revenue": 140000})
    tags = factory.LazyFunction(lambda: ["summer"])


class ApiTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiToken

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"token {n}")
    key_prefix = "testkey0"
    key_hash = factory.Sequence(
        lambda n: hashlib.sha256(f"key{n}".encode()).hexdigest()
    )


class RetrainJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RetrainJob

    requested_by = factory.SubFactory(StaffUserFactory)
    options = factory.LazyFunction(
        lambda: {
            "include_latest_months": None,
            "strategy": RetrainStrategy.FULL.value,
            "activate": False,
            "notify_on_completion": False,
            "studio_id": None,
        }
    )


class BatchForecastFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BatchForecast

    model_version = factory.SubFactory(ModelVersionFactory)
    months = 3
    chunk_size = 500
    studio_count = 1
    chunk_count = 1


class BatchForecastChunkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BatchForecastChunk

    run = factory.SubFactory(BatchForecastFactory)
    index = factory.Sequence(lambda n: n)
    studio_ids = factory.LazyFunction(list)
    error_message = "RuntimeError: example"


class StudioForecastFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StudioForecast

    studio = factory.SubFactory(StudioFactory)
    run = factory.SubFactory(BatchForecastFactory)
    model_version = factory.SelfAttribute("run.model_version")
    base_month = dt.date(2024, 1, 1)
    months = 2
    revenue = factory.LazyFunction(lambda: [120000.0, 121000.0])
    revenue_lower = factory.LazyFunction(lambda: [110000.0, 108000.0])
    revenue_upper = factory.LazyFunction(lambda: [130000.0, 134000.0])
    members = factory.LazyFunction(lambda: [800.0, 805.0])
    confidence = factory.LazyFunction(lambda: [0.8, 0.7])
    total_revenue = 241000.0
    growth_rate = 0.01
