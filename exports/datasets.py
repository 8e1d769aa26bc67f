"""The datasets BI tools can export, as a registry: name -> columns and a row source.

Each :class:`Dataset` names its columns with their types (one list serves the CSV
header, the Parquet schema and docs/export.md) and streams its rows: a query read
in chunks of :data:`CHUNK_ROWS` through a server-side cursor (``iterator()``), so
no dataset is ever held in memory whole. Every row source receives the caller's
``user`` and applies the API's tenancy (:func:`studios.selectors.restrict_to_user`);
``user=None`` is the operator's command line and sees every studio.

Adding a dataset is one :func:`register` call with its columns and row source; the
command, the admin and the download view list whatever is registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from forecasting.ml.frame import LEVERS
from forecasting.models import PredictionLog
from forecasting.selectors import serving_version, studio_forecasts_latest
from scenarios.models import Scenario
from studios.models import MONEY_FIELDS, MonthlyMetric, Studio
from studios.selectors import User, restrict_to_user
from studiosim.errors import NoActiveModel

__all__ = [
    "CHUNK_ROWS",
    "DATASETS",
    "Column",
    "ColumnType",
    "Dataset",
    "dataset_get",
    "register",
]

#: Rows fetched from the database per round trip.
CHUNK_ROWS = 2000

#: How a column is typed: CSV renders all as text; Parquet stores them natively.
ColumnType = (
    str  # "string" | "int" | "float" | "money" | "date" | "timestamp" | "bool" | "json"
)
COLUMN_TYPES = ("string", "int", "float", "money", "date", "timestamp", "bool", "json")


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")


#: ``rows(user=, studio_ids=)`` -> dicts keyed by column name, streamed.
RowSource = Callable[..., Iterator[dict[str, Any]]]


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    rows: RowSource

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


DATASETS: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    """Add ``dataset`` to the registry (a name may be registered once)."""
    if dataset.name in DATASETS:
        raise ValueError(f"dataset {dataset.name!r} is already registered")
    DATASETS[dataset.name] = dataset
    return dataset


def dataset_get(name: str) -> Dataset | None:
    return DATASETS.get(name)


# --- helpers -------------------------------------------------------------------------


def _scoped(
    queryset: QuerySet,
    *,
    user: User | None,
    studio_ids: Sequence[UUID] | None,
    studio_path: str,
) -> QuerySet:
    """Tenancy (none for the operator, ``user=None``) and the studio filter.

    The tenancy rule is :func:`restrict_to_user`'s, applied to the studios and
    used as a subquery: the export's own query then needs no DISTINCT (which
    would sort every exported row, JSON columns included).
    """
    if user is not None:
        visible = restrict_to_user(Studio.objects.all(), user=user, studio_path="")
        field = f"{studio_path}__in" if studio_path else "pk__in"
        queryset = queryset.filter(**{field: visible.values("pk")})
    if studio_ids is not None:
        field = f"{studio_path}__pk__in" if studio_path else "pk__in"
        queryset = queryset.filter(**{field: list(studio_ids)})
    return queryset


def _stream(queryset: QuerySet, fields: Iterable[str]) -> Iterator[dict[str, Any]]:
    return queryset.order_by("pk").values(*fields).iterator(chunk_size=CHUNK_ROWS)


def _dig(data: Any, *path: Any) -> Any:
    """``data[path[0]][path[1]]...``, or None where anything is missing."""
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _month(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]).replace(day=1)
    except ValueError:
        return None


def _add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


# --- studios -------------------------------------------------------------------------

_STUDIO_COLUMNS = (
    Column("studio_id", "string", "The studio's id (UUID); joins every other dataset."),
    Column("name", "string", "Studio name (unique)."),
    Column(
        "studio_type",
        "string",
        "yoga, pilates, crossfit, wellness or boutique_fitness.",
    ),
    Column("city", "string", "City."),
    Column("state", "string", "State or region; empty when unknown."),
    Column("opening_date", "date", "Opening date; empty when unknown."),
    Column("square_footage", "int", "Floor area in square feet; empty when unknown."),
    Column("max_capacity", "int", "People per class in the largest room."),
    Column("currency", "string", "ISO 4217 code of the studio's money columns."),
    Column("created_at", "timestamp", "When the studio was added (UTC)."),
    Column("updated_at", "timestamp", "When it last changed (UTC)."),
)


def _studio_rows(
    *, user: User | None, studio_ids: Sequence[UUID] | None
) -> Iterator[dict[str, Any]]:
    queryset = _scoped(
        Studio.objects.all(), user=user, studio_ids=studio_ids, studio_path=""
    )
    fields = [c.name for c in _STUDIO_COLUMNS if c.name != "studio_id"]
    for row in _stream(queryset, ["pk", *fields]):
        row["studio_id"] = str(row.pop("pk"))
        yield row


register(
    Dataset(
        name="studios",
        title="Studios",
        description="One row per studio.",
        columns=_STUDIO_COLUMNS,
        rows=_studio_rows,
    )
)


# --- monthly metrics ---------------------------------------------------------------

_METRIC_FIELDS: tuple[tuple[str, ColumnType, str], ...] = (
    ("total_members", "int", "Members at the end of the month."),
    ("new_members", "int", "Members who joined in the month."),
    ("churned_members", "int", "Members who left in the month."),
    ("retention_rate", "float", "1 - churned / members at the start, in [0, 1]."),
    ("avg_ticket_price", "money", "Average monthly ticket per member."),
    ("total_classes_held", "int", "Classes held."),
    ("total_class_attendance", "int", "Attendances (one person in one class)."),
    ("class_attendance_rate", "float", "Share of class places filled, in [0, 1]."),
    ("staff_count", "int", "Instructors and staff; empty when not reported."),
    ("staff_utilization_rate", "float", "Share of staff hours booked, in [0, 1]."),
    ("membership_revenue", "money", "Membership revenue."),
    ("class_pack_revenue", "money", "Class pack and drop-in revenue."),
    ("intro_offer_revenue", "money", "Intro-offer revenue."),
    ("retail_revenue", "money", "Retail revenue."),
    ("upsell_revenue", "money", "Upsell revenue (workshops, add-ons)."),
    ("total_revenue", "money", "Total revenue of the month."),
    ("intro_offer_conversions", "int", "Intro offers converted to memberships."),
    ("upsell_rate", "float", "Share of members buying an upsell, in [0, 1]."),
    ("average_member_lifetime_months", "float", "Average member lifetime, months."),
    ("is_outlier", "bool", "A flagged month (closure, pandemic, promotion)."),
    ("outlier_reason", "string", "pandemic, closure, promotion, other or empty."),
    ("split", "string", "train, validation or test: position in the history."),
    ("updated_at", "timestamp", "When the row last changed (UTC)."),
)
assert {name for name, *_ in _METRIC_FIELDS} >= set(MONEY_FIELDS)

_METRIC_COLUMNS = (
    Column("studio_id", "string", "The studio's id (studios.studio_id)."),
    Column("studio_name", "string", "The studio's name."),
    Column("month", "date", "First day of the month."),
    *(Column(name, kind, text) for name, kind, text in _METRIC_FIELDS),
)


def _metric_rows(
    *, user: User | None, studio_ids: Sequence[UUID] | None
) -> Iterator[dict[str, Any]]:
    queryset = _scoped(
        MonthlyMetric.objects.all(),
        user=user,
        studio_ids=studio_ids,
        studio_path="studio",
    )
    fields = [name for name, *_ in _METRIC_FIELDS]
    for row in _stream(queryset, ["studio_id", "studio__name", "month_year", *fields]):
        row["studio_id"] = str(row["studio_id"])
        row["studio_name"] = row.pop("studio__name")
        row["month"] = row.pop("month_year")
        yield row


register(
    Dataset(
        name="monthly_metrics",
        title="Monthly metrics",
        description="One row per studio and month: the history the model learns from.",
        columns=_METRIC_COLUMNS,
        rows=_metric_rows,
    )
)


# --- prediction logs and the forecasts in them -------------------------------------

_LOG_FIELDS = [
    "pk",
    "studio_id",
    "studio__name",
    "prediction_type",
    "model_version__version",
    "base_month",
    "projection_months",
    "confidence",
    "error_pct",
    "actuals_recorded_at",
    "created_at",
    "created_by__username",
]

_PREDICTION_LOG_COLUMNS = (
    Column("prediction_id", "string", "The log entry's id (forecasts.prediction_id)."),
    Column("studio_id", "string", "The studio's id."),
    Column("studio_name", "string", "The studio's name."),
    Column(
        "prediction_type",
        "string",
        "forward (a forecast of a lever plan) or inverse (a recommended plan, "
        "for a target or from optimizeLevers).",
    ),
    Column("model_version", "string", "The model version that answered."),
    Column("base_month", "date", "The last month of data the prediction started from."),
    Column("projection_months", "int", "Months predicted after the base month."),
    Column("confidence", "float", "Mean confidence score of the answer, in [0, 1]."),
    Column(
        "predicted_revenue_last_month",
        "float",
        "Revenue predicted for the last projected month.",
    ),
    Column(
        "error_pct",
        "float",
        "Mean absolute % error against the actual months so far, as a fraction "
        "(0.032 = 3.2%); empty until actuals arrive.",
    ),
    Column("actuals_recorded_at", "timestamp", "When actuals were last compared."),
    Column("created_at", "timestamp", "When the prediction was served (UTC)."),
    Column("created_by", "string", "Username of the caller; empty for services."),
    Column("inputs_json", "json", "The request as JSON (levers, constraints, ...)."),
    Column("outputs_json", "json", "The whole answer as JSON."),
)


def _log_queryset(*, user: User | None, studio_ids: Sequence[UUID] | None) -> QuerySet:
    return _scoped(
        PredictionLog.objects.all(),
        user=user,
        studio_ids=studio_ids,
        studio_path="studio",
    )


def _monthly_predictions(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A log's predicted months: month number, month, revenue and what else it holds."""
    outputs = row.get("outputs") or {}
    months: list[dict[str, Any]] = []
    base = row["base_month"]
    predictions = outputs.get("predictions")
    if isinstance(predictions, list):
        for i, month in enumerate(predictions):
            if not isinstance(month, dict):
                continue
            months.append(
                {
                    "month_number": i + 1,
                    "month": _month(month.get("month_year"))
                    or _add_months(base, i + 1),
                    "predicted_revenue": _number(month.get("revenue")),
                    "revenue_lower": _number(month.get("lower")),
                    "revenue_upper": _number(month.get("upper")),
                    "predicted_members": _number(month.get("member_count")),
                    "confidence_score": _number(month.get("confidence_score")),
                }
            )
        return months
    revenues = outputs.get("monthly_revenue")
    if isinstance(revenues, list):
        for i, revenue in enumerate(revenues):
            months.append(
                {
                    "month_number": i + 1,
                    "month": _add_months(base, i + 1),
                    "predicted_revenue": _number(revenue),
                    "revenue_lower": None,
                    "revenue_upper": None,
                    "predicted_members": None,
                    "confidence_score": None,
                }
            )
    return months


def _prediction_log_rows(
    *, user: User | None, studio_ids: Sequence[UUID] | None
) -> Iterator[dict[str, Any]]:
    queryset = _log_queryset(user=user, studio_ids=studio_ids)
    for row in _stream(queryset, [*_LOG_FIELDS, "inputs", "outputs"]):
        months = _monthly_predictions(row)
        yield {
            "prediction_id": str(row["pk"]),
            "studio_id": str(row["studio_id"]),
            "studio_name": row["studio__name"],
            "prediction_type": row["prediction_type"],
            "model_version": row["model_version__version"],
            "base_month": row["base_month"],
            "projection_months": row["projection_months"],
            "confidence": row["confidence"],
            "predicted_revenue_last_month": months[-1]["predicted_revenue"]
            if months
            else None,
            "error_pct": row["error_pct"],
            "actuals_recorded_at": row["actuals_recorded_at"],
            "created_at": row["created_at"],
            "created_by": row["created_by__username"],
            "inputs_json": row["inputs"],
            "outputs_json": row["outputs"],
        }


register(
    Dataset(
        name="prediction_logs",
        title="Prediction logs",
        description="One row per forward or inverse prediction served by the API.",
        columns=_PREDICTION_LOG_COLUMNS,
        rows=_prediction_log_rows,
    )
)

_FORECAST_COLUMNS = (
    Column("prediction_id", "string", "The prediction log entry it comes from."),
    Column("studio_id", "string", "The studio's id."),
    Column("studio_name", "string", "The studio's name."),
    Column("prediction_type", "string", "forward or inverse (see prediction_logs)."),
    Column("model_version", "string", "The model version that answered."),
    Column("base_month", "date", "The last month of data the forecast started from."),
    Column("created_at", "timestamp", "When the prediction was served (UTC)."),
    Column("month_number", "int", "1 for the month after the base month, and so on."),
    Column("month", "date", "First day of the predicted month."),
    Column("predicted_revenue", "float", "Predicted revenue of the month."),
    Column(
        "revenue_lower",
        "float",
        "Lower end of the month's interval (forward predictions with intervals).",
    ),
    Column("revenue_upper", "float", "Upper end of the month's interval."),
    Column("predicted_members", "float", "Predicted members (forward predictions)."),
    Column(
        "confidence_score",
        "float",
        "Probability the month's revenue lands within 10% (forward predictions).",
    ),
    Column(
        "actual_revenue",
        "money",
        "The month's actual revenue once recorded (record_actuals); else empty.",
    ),
    Column(
        "abs_pct_error",
        "float",
        "|predicted - actual| / actual as a fraction, once the actual is known.",
    ),
)


def _forecast_rows(
    *, user: User | None, studio_ids: Sequence[UUID] | None
) -> Iterator[dict[str, Any]]:
    from decimal import Decimal

    queryset = _log_queryset(user=user, studio_ids=studio_ids)
    for row in _stream(queryset, [*_LOG_FIELDS, "outputs", "actual_outcome"]):
        actuals = row["actual_outcome"] or {}
        for month in _monthly_predictions(row):
            actual = actuals.get(month["month"].isoformat())
            actual_value = _number(actual)
            predicted = month["predicted_revenue"]
            yield {
                "prediction_id": str(row["pk"]),
                "studio_id": str(row["studio_id"]),
                "studio_name": row["studio__name"],
                "prediction_type": row["prediction_type"],
                "model_version": row["model_version__version"],
                "base_month": row["base_month"],
                "created_at": row["created_at"],
                **month,
                "actual_revenue": None
                if actual_value is None
                else Decimal(str(round(actual_value, 2))),
                "abs_pct_error": abs(predicted - actual_value) / actual_value
                if actual_value and predicted is not None
                else None,
            }


register(
    Dataset(
        name="forecasts",
        title="Forecasts",
        description="One row per predicted month of every prediction log, with the "
        "actual revenue once it is known: the long format BI tools chart.",
        columns=_FORECAST_COLUMNS,
        rows=_forecast_rows,
    )
)


_BATCH_FORECAST_COLUMNS = (
    Column("studio_id", "string", "The studio's id."),
    Column("studio_name", "string", "The studio's name."),
    Column("model_version", "string", "The model version that forecast it."),
    Column("run_id", "string", "The batch forecast run (forecast_all) it comes from."),
    Column("base_month", "date", "The studio's latest month of data when forecast."),
    Column("created_at", "timestamp", "When the run stored it (UTC)."),
    Column("month_number", "int", "1 for the month after the base month, and so on."),
    Column("month", "date", "First day of the predicted month."),
    Column("predicted_revenue", "float", "Predicted revenue of the month."),
    Column("revenue_lower", "float", "Lower end of the month's 80% interval."),
    Column("revenue_upper", "float", "Upper end of the month's 80% interval."),
    Column("predicted_members", "float", "Predicted members at the month's end."),
    Column(
        "confidence_score",
        "float",
        "Probability the month's revenue lands within 10% of the prediction.",
    ),
)


def _batch_forecast_rows(
    *, user: User | None, studio_ids: Sequence[UUID] | None
) -> Iterator[dict[str, Any]]:
    try:
        version = serving_version()
    except NoActiveModel:
        return
    queryset = _scoped(
        studio_forecasts_latest(model_version_id=version.pk),
        user=user,
        studio_ids=studio_ids,
        studio_path="studio",
    )
    fields = [
        "studio_id",
        "studio__name",
        "run_id",
        "base_month",
        "created_at",
        "months",
        "revenue",
        "revenue_lower",
        "revenue_upper",
        "members",
        "confidence",
    ]
    for row in _stream(queryset, fields):
        for h in range(row["months"]):
            yield {
                "studio_id": str(row["studio_id"]),
                "studio_name": row["studio__name"],
                "model_version": version.version,
                "run_id": str(row["run_id"]),
                "base_month": row["base_month"],
                "created_at": row["created_at"],
                "month_number": h + 1,
                "month": _add_months(row["base_month"], h + 1),
                "predicted_revenue": _number(_dig(row["revenue"], h)),
                "revenue_lower": _number(_dig(row["revenue_lower"], h)),
                "revenue_upper": _number(_dig(row["revenue_upper"], h)),
                "predicted_members": _number(_dig(row["members"], h)),
                "confidence_score": _number(_dig(row["confidence"], h)),
            }


register(
    Dataset(
        name="batch_forecasts",
        title="Batch forecasts",
        description="Every studio's latest stored forecast by the active model "
        "version (forecast_all), one row per predicted month: the status quo "
        "from each studio's latest month, without running the model.",
        columns=_BATCH_FORECAST_COLUMNS,
        rows=_batch_forecast_rows,
    )
)


# --- scenarios -----------------------------------------------------------------------

_SCENARIO_COLUMNS = (
    Column(
        "scenario_id",
        "string",
        "The scenario's id (its share page is /scenarios/<id>/).",
    ),
    Column("studio_id", "string", "The studio's id."),
    Column("studio_name", "string", "The studio's name."),
    Column("name", "string", "Scenario name."),
    Column("description", "string", "Description."),
    Column("scenario_type", "string", "forward (what-if) or inverse (target plan)."),
    Column("tags", "json", 'Tags as a JSON array, e.g. ["q3", "pricing"].'),
    Column("base_month", "date", "The last month of data it started from."),
    Column("projection_months", "int", "Months projected."),
    Column("confidence_score", "float", "Confidence score, in [0, 1]."),
    Column(
        "target_revenue",
        "float",
        "The target of an inverse scenario; empty otherwise.",
    ),
    Column(
        "predicted_revenue_last_month",
        "float",
        "Revenue predicted for the last projected month under the plan.",
    ),
    Column("total_projected_revenue", "float", "Revenue over all projected months."),
    *(
        Column(f"plan_{lever}", "float", f"The plan's {lever.replace('_', ' ')}.")
        for lever in LEVERS
    ),
    Column("prediction_id", "string", "The prediction log it was saved from."),
    Column("created_by", "string", "Username of who saved it."),
    Column("created_at", "timestamp", "When it was saved (UTC)."),
    Column("updated_at", "timestamp", "When it last changed (UTC)."),
)


def _scenario_rows(
    *, user: User | None, studio_ids: Sequence[UUID] | None
) -> Iterator[dict[str, Any]]:
    queryset = _scoped(
        Scenario.objects.all(),
        user=user,
        studio_ids=studio_ids,
        studio_path="studio",
    )
    fields = [
        "pk",
        "studio_id",
        "studio__name",
        "name",
        "description",
        "scenario_type",
        "tags",
        "base_month",
        "projection_months",
        "confidence_score",
        "predicted_outputs",
        "prediction_log_id",
        "created_by__username",
        "created_at",
        "updated_at",
    ]
    for row in _stream(queryset, fields):
        outputs = row["predicted_outputs"] or {}
        inverse = row["scenario_type"] == "inverse"
        forecast = outputs.get("projection", {}) if inverse else outputs
        levers = outputs.get("recommended_levers") if inverse else outputs.get("levers")
        yield {
            "scenario_id": str(row["pk"]),
            "studio_id": str(row["studio_id"]),
            "studio_name": row["studio__name"],
            "name": row["name"],
            "description": row["description"],
            "scenario_type": row["scenario_type"],
            "tags": row["tags"],
            "base_month": row["base_month"],
            "projection_months": row["projection_months"],
            "confidence_score": row["confidence_score"],
            "target_revenue": _number(outputs.get("target_revenue")),
            "predicted_revenue_last_month": _number(
                _dig(forecast, "predictions", -1, "revenue")
            ),
            "total_projected_revenue": _number(
                _dig(forecast, "total_projected_revenue")
            ),
            **{f"plan_{lever}": _number(_dig(levers, lever)) for lever in LEVERS},
            "prediction_id": str(row["prediction_log_id"])
            if row["prediction_log_id"]
            else None,
            "created_by": row["created_by__username"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }


register(
    Dataset(
        name="scenarios",
        title="Scenarios",
        description="One row per saved scenario, with its plan and headline figures.",
        columns=_SCENARIO_COLUMNS,
        rows=_scenario_rows,
    )
)
