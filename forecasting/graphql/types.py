"""GraphQL types of the model registry and of forward prediction.

The registry is staff only (no tenancy applies); a prediction is about a studio
the caller may see, which its resolver checks through ``studio_get``.
"""

from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import Self

import strawberry
import strawberry_django
from strawberry.scalars import JSON

from forecasting import models
from forecasting.ml.frame import LEVERS
from forecasting.ranges import RangeWarning
from forecasting.services import ForecastOutput, LeverNote
from studiosim.graphql_scalars import Money

__all__ = [
    "ActivationCheckType",
    "CacheStatsType",
    "ForwardPredictionInput",
    "ForwardPredictionType",
    "LeverEnum",
    "LeversInput",
    "LeversType",
    "ModelVersionStatusEnum",
    "ModelVersionType",
    "RangeWarningType",
]

ModelVersionStatusEnum = strawberry.enum(
    models.ModelVersionStatus, name="ModelVersionStatus"
)


@strawberry.type(name="ActivationCheck")
class ActivationCheckType:
    name: str
    passed: bool
    detail: str


@strawberry.type(
    name="ExcludedStudio",
    description="A studio a training run left out, and every reason why.",
)
class ExcludedStudioType:
    studio_id: strawberry.ID
    studio: str = strawberry.field(description="The studio's name.")
    reasons: list[str]


@strawberry_django.type(models.ModelVersion, name="ModelVersion")
class ModelVersionType:
    id: strawberry.ID
    version: str
    status: ModelVersionStatusEnum
    trained_at: datetime | None
    deployed_at: datetime | None
    metrics: JSON = strawberry_django.field(
        description="Evaluation per mode, split, horizon and method."
    )
    activation_forced_reason: str

    @strawberry_django.field(
        only=["checks"],
        description="The checks gating activation, by name; a version failing "
        "any of them is activated only with a recorded reason.",
    )
    def checks(self, root: models.ModelVersion) -> list[ActivationCheckType]:
        return [
            ActivationCheckType(
                name=name,
                passed=bool(check.get("passed")),
                detail=str(check.get("detail", "")),
            )
            # By name: PostgreSQL's jsonb does not keep the stored key order.
            for name, check in sorted(root.checks.items())
        ]

    @strawberry_django.field(
        only=["excluded_studios"],
        description="Studios left out of this version's training (too short, "
        "too many missing months, no revenue, data that breaks the contract), "
        "with the reasons; the others trained.",
    )
    def excluded_studios(self, root: models.ModelVersion) -> list[ExcludedStudioType]:
        return [
            ExcludedStudioType(
                studio_id=strawberry.ID(item["studio_id"]),
                studio=item["studio"],
                reasons=list(item["reasons"]),
            )
            for item in root.excluded_studios
        ]


# --- levers, shared by forward and inverse prediction ---------------------------


@strawberry.enum(name="Lever", description="An operational lever of a studio's plan.")
class LeverEnum(StrEnum):
    RETENTION_RATE = "retention_rate"
    AVG_TICKET_PRICE = "avg_ticket_price"
    CLASS_ATTENDANCE_RATE = "class_attendance_rate"
    NEW_MEMBERS_MONTHLY = "new_members_monthly"
    STAFF_UTILIZATION_RATE = "staff_utilization_rate"
    UPSELL_RATE = "upsell_rate"
    TOTAL_CLASSES_HELD = "total_classes_held"


@strawberry.input(
    name="LeversInput",
    description="Values for some of the seven levers (omitted or null: not "
    "given). Rates are fractions in [0, 1], never percentages.",
)
class LeversInput:
    retention_rate: float | None = strawberry.field(
        default=None, description="Monthly retention, in [0, 1]."
    )
    avg_ticket_price: Money | None = strawberry.field(
        default=None,
        description="Average monthly ticket per member, in the studio's currency "
        "(0-5,000).",
    )
    class_attendance_rate: float | None = strawberry.field(
        default=None, description="Share of class places filled, in [0, 1]."
    )
    new_members_monthly: float | None = strawberry.field(
        default=None,
        description="New members per month on average over the plan (0-5,000); "
        "fractional values are averages, not counts of people.",
    )
    staff_utilization_rate: float | None = strawberry.field(
        default=None, description="Share of staff hours booked, in [0, 1]."
    )
    upsell_rate: float | None = strawberry.field(
        default=None, description="Share of members buying add-ons, in [0, 1]."
    )
    total_classes_held: float | None = strawberry.field(
        default=None,
        description="Classes held per month on average over the plan (0-5,000); "
        "fractional values are averages.",
    )

    def as_dict(self) -> dict[str, float]:
        """The levers given, by their service names."""
        return {
            lever: value
            for lever in LEVERS
            if (value := getattr(self, lever)) is not None
        }


@strawberry.type(
    name="Levers",
    description="A value for each of the seven levers (rates as fractions, money "
    "in the studio's currency, counts per month); null for a lever the studio has "
    "no data on.",
)
class LeversType:
    retention_rate: float | None = strawberry.field(
        description="Monthly retention, in [0, 1]."
    )
    avg_ticket_price: Money | None = strawberry.field(
        description="Average monthly ticket per member."
    )
    class_attendance_rate: float | None = strawberry.field(
        description="Share of class places filled, in [0, 1]."
    )
    new_members_monthly: float | None = strawberry.field(
        description="New members per month on average (fractional: an average, not "
        "a count of people)."
    )
    staff_utilization_rate: float | None = strawberry.field(
        description="Share of staff hours booked, in [0, 1]."
    )
    upsell_rate: float | None = strawberry.field(
        description="Share of members buying add-ons, in [0, 1]."
    )
    total_classes_held: float | None = strawberry.field(
        description="Classes held per month on average (fractional: an average)."
    )

    @classmethod
    def from_levers(cls, levers: Mapping[str, float | None]) -> Self:
        return cls(**{lever: levers.get(lever) for lever in LEVERS})


@strawberry.type(
    name="LeverNote",
    description="A lever an answer treats specially, and why: for example a lever "
    "not modelled for this studio (no data on it), which the forecast holds at its "
    "base value and the optimizer never moves.",
)
class LeverNoteType:
    lever: LeverEnum
    reason: str

    @classmethod
    def from_note(cls, note: LeverNote) -> Self:
        return cls(lever=LeverEnum(note.lever), reason=note.reason)


@strawberry.enum(name="RangeScope")
class RangeScopeEnum(Enum):
    HISTORY = strawberry.enum_value(
        "history",
        description="The studio's own months up to the base month (lowest to "
        "highest value).",
    )
    PEERS = strawberry.enum_value(
        "peers",
        description="Every month of every studio of the same type and currency "
        "(5th to 95th percentile).",
    )


@strawberry.type(
    name="RangeWarning",
    description="A lever value outside the range observed in scope: the answer "
    "there is an extrapolation. Values in the lever's own unit (rates as "
    "fractions, ticket in currency, counts per month).",
)
class RangeWarningType:
    lever: LeverEnum
    value: float
    low: float
    high: float
    scope: RangeScopeEnum
    message: str

    @classmethod
    def from_warning(cls, warning: RangeWarning) -> Self:
        return cls(
            lever=LeverEnum(warning.lever),
            value=warning.value,
            low=warning.low,
            high=warning.high,
            scope=RangeScopeEnum(warning.scope),
            message=warning.message,
        )


# --- forwardPrediction ------------------------------------------------------------


@strawberry.input(name="ForwardPredictionInput")
class ForwardPredictionInput:
    studio_id: strawberry.ID
    base_month: str | None = strawberry.field(
        default=None,
        description='The month of data the forecast starts from, "YYYY-MM"; by '
        "default the studio's latest month.",
    )
    projection_months: int = strawberry.field(
        default=3, description="Months to forecast after the base month, 1-12."
    )
    levers: LeversInput | None = strawberry.field(
        default=None,
        description="The plan for the projected months; levers left out keep the "
        "base month's values (no levers: the status-quo forecast).",
    )
    include_confidence_intervals: bool = strawberry.field(
        default=True, description="Whether each month carries its revenue interval."
    )
    coverage: float = strawberry.field(
        default=0.8,
        description="Nominal coverage of the intervals, in [0.5, 0.99] (0.8: the "
        "actual revenue falls inside in 80% of cases).",
    )


@strawberry.type(name="ConfidenceInterval")
class ConfidenceIntervalType:
    lower: Money
    upper: Money


@strawberry.type(name="MonthPrediction")
class MonthPredictionType:
    month: int = strawberry.field(description="1 for the month after the base month.")
    month_year: date = strawberry.field(description="First day of the month.")
    revenue: Money
    member_count: int = strawberry.field(
        description="Members at the end of the month, rounded to a whole member."
    )
    expected_member_count: float = strawberry.field(
        description="The model's expected member count, unrounded (an expectation, "
        "so fractional)."
    )
    retention_rate: float
    confidence_interval: ConfidenceIntervalType | None = strawberry.field(
        description="The revenue interval at the requested coverage; null when "
        "intervals were not requested."
    )
    confidence_score: float = strawberry.field(
        description="Calibrated probability that the actual revenue lands within "
        "10% of the prediction (the share of held-out forecasts at this horizon "
        "that did)."
    )


@strawberry.type(
    name="PredictionAccuracy",
    description="The model version's measured accuracy one month ahead, on the "
    "test months it never saw in training (null where not measured).",
)
class PredictionAccuracyType:
    mape: float | None = strawberry.field(
        description="Mean absolute percentage error, as a fraction."
    )
    rmse: Money | None = strawberry.field(
        description="Root mean squared error of monthly revenue."
    )
    r2: float | None
    directional_accuracy: float | None = strawberry.field(
        description="Share of months whose direction of change was predicted right."
    )
    interval_coverage: float | None = strawberry.field(
        description="Share of actual values inside their 80% interval."
    )


@strawberry.type(name="ForwardPrediction")
class ForwardPredictionType:
    prediction_id: strawberry.ID = strawberry.field(
        description="The prediction log entry recording this answer."
    )
    studio_id: strawberry.ID
    base_month: date
    projection_months: int
    coverage: float
    predictions: list[MonthPredictionType]
    total_projected_revenue: Money
    growth_rate: float = strawberry.field(
        description="Last projected month's revenue against the base month's, as a "
        "fraction (0.05 = +5%)."
    )
    model_version: str
    prediction_accuracy: PredictionAccuracyType
    levers_used: LeversType = strawberry.field(
        description="The plan forecast: the levers given, the base month's values "
        "for the rest."
    )
    base_levers: LeversType = strawberry.field(
        description="The levers' values in the base month."
    )
    not_modelled_levers: list[LeverNoteType] = strawberry.field(
        description="Levers the model cannot move for this studio (no data on "
        "them): held at their base values whatever the plan says."
    )
    warnings: list[RangeWarningType] = strawberry.field(
        description="Each lever of the plan outside the studio's own history "
        "(scope HISTORY) and each outside its peers' range (scope PEERS)."
    )
    base_month_notes: list[str] = strawberry.field(
        description="What looks wrong with the base month's own figures, which the "
        "forecast starts from as they stand: its revenue or member count at least "
        "3x, or at most a third of, both the month before and the median of the 12 "
        "before it (a typo, a month the system did not record); or, short of that, "
        "revenue at most 0.75x of both while the member count held up (a month "
        "exported before it ended); and a studio's latest month 2 or more months "
        "before the chain's latest, the last the model was trained on (its export "
        "stopped: the forecast is of months already past). Empty when nothing does."
    )

    @classmethod
    def from_output(cls, output: ForecastOutput) -> Self:
        return cls(
            prediction_id=strawberry.ID(output.prediction_id),
            studio_id=strawberry.ID(output.studio_id),
            base_month=output.base_month,
            projection_months=output.projection_months,
            coverage=output.coverage,
            predictions=[
                MonthPredictionType(
                    month=month.month,
                    month_year=month.month_year,
                    revenue=month.revenue,
                    member_count=round(month.member_count),
                    expected_member_count=month.member_count,
                    retention_rate=month.retention_rate,
                    confidence_interval=None
                    if month.lower is None or month.upper is None
                    else ConfidenceIntervalType(lower=month.lower, upper=month.upper),
                    confidence_score=month.confidence_score,
                )
                for month in output.predictions
            ],
            total_projected_revenue=output.total_projected_revenue,
            growth_rate=output.growth_rate,
            model_version=output.model_version,
            prediction_accuracy=PredictionAccuracyType(**output.prediction_accuracy),
            levers_used=LeversType.from_levers(output.levers),
            base_levers=LeversType.from_levers(output.base_levers),
            not_modelled_levers=[
                LeverNoteType.from_note(note) for note in output.not_modelled_levers
            ],
            warnings=[RangeWarningType.from_warning(w) for w in output.warnings],
            base_month_notes=list(output.base_month_notes),
        )


# --- cacheStats -------------------------------------------------------------------


@strawberry.type(name="CacheCounts")
class CacheCountsType:
    hits: int | None
    misses: int | None
    hit_rate: float | None = strawberry.field(
        description="hits / (hits + misses); null before anything was counted."
    )


@strawberry.type(
    name="CacheStats",
    description="Hits and misses of the cache of computed answers (predictions, "
    "lever impact analyses, baselines).",
)
class CacheStatsType:
    process: CacheCountsType = strawberry.field(
        description="This server process, since it started."
    )
    shared: CacheCountsType = strawberry.field(
        description="Every process, counted in the cache itself; null counts when "
        "the cache cannot be read."
    )

    @classmethod
    def from_stats(cls, stats: Mapping[str, Mapping[str, int | float | None]]) -> Self:
        return cls(
            process=CacheCountsType(**stats["process"]),
            shared=CacheCountsType(**stats["shared"]),
        )
