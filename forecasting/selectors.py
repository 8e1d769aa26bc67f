"""Reads of the model registry, prediction logs, and the history the models need."""

import datetime as dt
import functools
import io
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

import numpy as np
import pandas as pd
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Avg, Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from forecasting.ml.frame import METRIC_FIELDS
from forecasting.models import (
    BatchForecast,
    ModelVersion,
    ModelVersionStatus,
    PredictionLog,
    RetrainJob,
    RetrainJobStatus,
    RetrainStrategy,
    StudioForecast,
)
from studios.models import MonthlyMetric, Studio
from studiosim import rows
from studiosim.errors import NoActiveModel, NotFound

#: From this many studios on, PostgreSQL streams the history as CSV (COPY):
#: several times faster for a batch, slower for the one studio of a request.
COPY_MIN_STUDIOS = 20

_STUDIO_COLUMNS = {
    "studio__studio_type": "studio_type",
    "studio__max_capacity": "max_capacity",
    "studio__square_footage": "square_footage",
    "studio__opening_date": "opening_date",
}


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE).first()


def no_active_model(using: str = DEFAULT_DB_ALIAS) -> NoActiveModel:
    """The error for a request that needs an active model and finds none, saying
    whether a trained version is waiting to be activated (a chain's first model
    refused by its checks) or nothing has been trained."""
    waiting = (
        ModelVersion.objects.using(using)
        .filter(status=ModelVersionStatus.READY)
        .exists()
    )
    if waiting:
        return NoActiveModel(
            "no active model: a trained version waits for staff to activate it "
            "(manage.py activate_model, or the admin)"
        )
    return NoActiveModel()


@dataclass(frozen=True)
class ServingVersion:
    """The active model version as a served answer is keyed and logged by, with
    the marker that says whether a process's copy of its row is still current
    (``artifact_sha256`` and ``updated_at``, see :mod:`forecasting.registry`)."""

    pk: int
    version: str
    artifact_sha256: str = ""
    #: As the database driver returns it: compared for equality only.
    updated_at: object = None


#: The columns :func:`serving_version` reads: never the JSON ones.
SERVING_VERSION_FIELDS = ("pk", "version", "artifact_sha256", "updated_at")


def serving_version(*, using: str = DEFAULT_DB_ALIAS) -> ServingVersion:
    """The active model version's id, name and change marker: the one read of
    the model registry a served prediction makes.

    Only those four columns: the row's evaluation metrics (tens of kilobytes of
    JSON) are not needed to look up, compute or log an answer while the process
    holds the row already, and every served prediction makes this lookup, so its
    SQL is written once (see :mod:`studiosim.rows`). Raises
    :class:`NoActiveModel`.
    """
    row = rows.fetch_one(
        _serving_version_sql(using),
        [ModelVersionStatus.ACTIVE.value],
        connections[using],
    )
    if row is None:
        raise no_active_model(using)
    return ServingVersion(*row)


@functools.cache
def _serving_version_sql(using: str) -> str:
    # A constraint allows one active version at most.
    connection = connections[using]
    select = ", ".join(
        rows.column(ModelVersion, name, connection, "v")
        for name in SERVING_VERSION_FIELDS
    )
    return (
        f"SELECT {select} FROM {rows.table(ModelVersion, connection)} v "
        f"WHERE {rows.column(ModelVersion, 'status', connection, 'v')} = %s"
    )


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.all()


def history_frame(
    *,
    studio_ids: Iterable[UUID] | None = None,
    until: dt.date | None = None,
    include_truth: bool = False,
) -> pd.DataFrame:
    """The long-format history frame of ``docs/CONTRACTS.md`` from the database.

    One row per studio-month, ``unique_id`` the studio's UUID as text. Money comes
    out of the database as ``Decimal`` and goes into the frame as float. The
    generator's noise-free values become ``expected_<field>`` columns only when
    ``include_truth`` is set (evaluation), so they can never leak into features.
    On PostgreSQL, a history of many studios (all, or at least
    ``COPY_MIN_STUDIOS``) is read with ``COPY``; the frame is the same.
    """
    rows = MonthlyMetric.objects.all()
    if studio_ids is not None:
        studio_ids = list(studio_ids)
        rows = rows.filter(studio_id__in=studio_ids)
    if until is not None:
        rows = rows.filter(month_year__lte=until)
    columns = [
        "studio_id",
        "month_year",
        *METRIC_FIELDS,
        "is_outlier",
        "split",
        *_STUDIO_COLUMNS,
    ]
    if include_truth:
        columns.append("expected_values")
    rows = rows.order_by("studio_id", "month_year").values_list(*columns)
    numeric = (*METRIC_FIELDS, "studio__max_capacity", "studio__square_footage")
    if (
        connections[rows.db].vendor == "postgresql"
        and not include_truth
        and (studio_ids is None or len(studio_ids) >= COPY_MIN_STUDIOS)
    ):
        data = _history_columns_copied(rows, columns, numeric)
    else:
        data = _history_columns_fetched(rows, columns, numeric)
    truth_records = data.pop("expected_values", None)
    frame = pd.DataFrame(data).rename(columns=_STUDIO_COLUMNS)
    if include_truth:
        truth = pd.DataFrame.from_records(list(truth_records))
        frame = pd.concat(
            [frame, truth.add_prefix("expected_").astype("float64")], axis=1
        )
    return frame


def history_summary() -> pd.DataFrame:
    """Per studio with monthly data: its months, latest member count and type.

    What a training sample is stratified by
    (:func:`forecasting.ml.sampling.stratified_studio_ids`), in one aggregate
    query: a large chain chooses the studios to learn from before any history is
    read, so reading stays bounded by the sample, not the chain. Indexed by the
    studio's UUID as text (sorted), columns ``months``, ``members`` and
    ``studio_type``, as :func:`forecasting.ml.sampling.studio_summary` of the
    history frame.
    """
    latest = (
        MonthlyMetric.objects.filter(studio_id=OuterRef("pk"))
        .order_by("-month_year")
        .values("total_members")[:1]
    )
    records = (
        Studio.objects.annotate(months=Count("monthly_metrics"))
        .filter(months__gt=0)
        .annotate(members=Subquery(latest))
        .values_list("pk", "months", "members", "studio_type")
    )
    summary = pd.DataFrame.from_records(
        [
            (str(pk), months, float(members), kind)
            for pk, months, members, kind in records
        ],
        columns=["unique_id", "months", "members", "studio_type"],
    )
    return summary.set_index("unique_id").sort_index()


def _history_columns_fetched(
    rows: QuerySet, columns: list[str], numeric: tuple[str, ...]
) -> dict[str, object]:
    """The history's columns through the ORM (any database)."""
    records = list(rows)
    values = list(zip(*records, strict=True)) if records else [()] * len(columns)
    by_column = dict(zip(columns, values, strict=True))
    # Built column by column from numpy arrays: serving calls this for one studio
    # on every uncached prediction, and pandas' per-column conversions of a
    # records frame cost several times more.
    data = {
        "unique_id": np.array([str(v) for v in by_column["studio_id"]], dtype=object),
        "ds": pd.to_datetime(np.array(by_column["month_year"], dtype="datetime64[D]")),
        **{
            name: np.array(
                [np.nan if v is None else float(v) for v in by_column[name]],
                dtype=np.float64,
            )
            for name in numeric
        },
        "is_outlier": np.array(by_column["is_outlier"], dtype=bool),
        "split": np.array(by_column["split"], dtype=object),
        "studio__studio_type": np.array(by_column["studio__studio_type"], dtype=object),
        "studio__opening_date": pd.to_datetime(
            np.array(by_column["studio__opening_date"], dtype="datetime64[D]")
        ),
    }
    if "expected_values" in by_column:
        data["expected_values"] = by_column["expected_values"]
    return data


def _history_columns_copied(
    rows: QuerySet, columns: list[str], numeric: tuple[str, ...]
) -> dict[str, object]:
    """The history's columns through PostgreSQL's COPY, parsed by pandas' C reader.

    The same query as the ORM's, streamed as CSV: a batch job reads tens of
    thousands of studio-months, where building a Python tuple and a Decimal per
    value costs more than the query. pandas' parser rounds decimals correctly, so
    the numbers equal ``float(Decimal)``'s (tests/forecasting/test_history_frame.py).
    """
    sql, params = rows.query.sql_with_params()
    buffer = io.BytesIO()
    connection = connections[rows.db]
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy,
    ):
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    frame = pd.read_csv(
        buffer,
        header=None,
        names=columns,
        dtype={
            **dict.fromkeys(numeric, np.float64),
            "studio_id": str,
            "month_year": str,
            "is_outlier": str,
            "split": str,
            "studio__studio_type": str,
            "studio__opening_date": str,
        },
        keep_default_na=False,
        na_values={name: [""] for name in (*numeric, "studio__opening_date")},
    )
    return {
        "unique_id": frame["studio_id"].to_numpy(dtype=object),
        "ds": pd.to_datetime(frame["month_year"].to_numpy(dtype="datetime64[D]")),
        **{name: frame[name].to_numpy(dtype=np.float64) for name in numeric},
        "is_outlier": frame["is_outlier"].to_numpy() == "t",
        "split": frame["split"].to_numpy(dtype=object),
        "studio__studio_type": frame["studio__studio_type"].to_numpy(dtype=object),
        "studio__opening_date": pd.to_datetime(
            frame["studio__opening_date"].fillna("NaT").to_numpy(dtype="datetime64[D]")
        ),
    }


# --- retrain jobs ---------------------------------------------------------------


def retrain_job_list(*, status: str | None = None) -> QuerySet[RetrainJob]:
    """Retrain jobs, most recently queued first, optionally of one status."""
    jobs = RetrainJob.objects.select_related(
        "requested_by", "model_version", "previous_version"
    )
    if status is not None:
        jobs = jobs.filter(status=status)
    return jobs.order_by("-queued_at")


def retrain_job_get(*, job_id: UUID | str) -> RetrainJob:
    """One retrain job; NotFound for an unknown or malformed id."""
    try:
        job_id = job_id if isinstance(job_id, UUID) else UUID(str(job_id))
        return retrain_job_list().get(pk=job_id)
    except (ValueError, RetrainJob.DoesNotExist):
        raise NotFound(f"no retrain job {job_id}", field="job_id") from None


def retrain_job_estimated_completion(*, job: RetrainJob) -> dt.datetime | None:
    """When a queued or running job should finish, from recent runs of its strategy.

    The median wall time of the last 10 succeeded jobs that ran the strategy
    requested, added to the start (or, still queued, to now); None when the job
    has finished or no such job has run yet.
    """
    if job.status not in (RetrainJobStatus.QUEUED, RetrainJobStatus.RUNNING):
        return None
    recent = list(
        RetrainJob.objects.filter(
            status=RetrainJobStatus.SUCCEEDED,
            strategy_used=job.options.get("strategy", RetrainStrategy.FULL),
        )
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:10]
    )
    if not recent:
        return None
    durations = sorted(finished - started for started, finished in recent)
    start = job.started_at or timezone.now()
    return start + durations[len(durations) // 2]


# --- live accuracy ----------------------------------------------------------------

#: Error bands of the live accuracy: a prediction's error_pct is the mean
#: absolute percentage error (a fraction) over its months whose actuals exist.
WITHIN_5_PCT = 0.05
WITHIN_10_PCT = 0.10


@dataclass(frozen=True)
class ModelPerformance:
    """A model version's stored test metrics and its accuracy on real outcomes.

    ``mape``, ``rmse``, ``r2`` and ``directional_accuracy`` are the test-split,
    month-1 figures stored when the version was trained (``metrics["headline"]``).
    The rest comes from the version's prediction logs whose actual outcome has
    arrived (``error_pct`` set by ``record_actuals``): how many, their average
    confidence, their mean error, and the shares whose error is at most 5%, at
    most 10% (so including the first), and over 10%. Shares are fractions; they
    are None while no prediction has an actual outcome.
    """

    version: ModelVersion
    deployed_at: dt.datetime | None
    mape: float | None
    rmse: float | None
    r2: float | None
    directional_accuracy: float | None
    predictions_served: int
    total_predictions: int
    avg_confidence: float | None
    mean_error_pct: float | None
    within_5_pct: float | None
    within_10_pct: float | None
    over_10_pct: float | None


def model_performance(*, version: ModelVersion | None = None) -> ModelPerformance:
    """Stored and live accuracy of ``version`` (default: the active version).

    One aggregate query over the version's prediction logs (indexed on
    model_version, error_pct). Raises NoActiveModel when no version is given
    and none is active.
    """
    if version is None:
        version = model_version_active()
        if version is None:
            raise no_active_model()
    measured = Q(error_pct__isnull=False)
    live = PredictionLog.objects.filter(model_version=version).aggregate(
        served=Count("pk"),
        total=Count("pk", filter=measured),
        avg_confidence=Avg("confidence", filter=measured),
        mean_error=Avg("error_pct", filter=measured),
        within_5=Count("pk", filter=Q(error_pct__lte=WITHIN_5_PCT)),
        within_10=Count("pk", filter=Q(error_pct__lte=WITHIN_10_PCT)),
    )
    total = live["total"]

    def share(count: int) -> float | None:
        return count / total if total else None

    headline = (version.metrics or {}).get("headline", {})
    return ModelPerformance(
        version=version,
        deployed_at=version.deployed_at,
        mape=headline.get("test_mape_h1"),
        rmse=headline.get("test_rmse_h1"),
        r2=headline.get("test_r2_h1"),
        directional_accuracy=headline.get("test_directional_accuracy_h1"),
        predictions_served=live["served"],
        total_predictions=total,
        avg_confidence=live["avg_confidence"],
        mean_error_pct=live["mean_error"],
        within_5_pct=share(live["within_5"]),
        within_10_pct=share(live["within_10"]),
        over_10_pct=share(total - live["within_10"]),
    )


# --- batch forecasts ---------------------------------------------------------------


def batch_forecast_list() -> QuerySet[BatchForecast]:
    return BatchForecast.objects.select_related("model_version")


def studio_forecast_latest(
    *, studio_id: UUID | str, model_version_id: int
) -> StudioForecast | None:
    """The studio's latest batch forecast by that model version, or None.

    One probe of ``studioforecast_latest_idx`` (studio, version, newest first).
    """
    return (
        StudioForecast.objects.filter(
            studio_id=studio_id, model_version_id=model_version_id
        )
        .order_by("-created_at")
        .first()
    )


def studio_forecasts_latest(*, model_version_id: int) -> QuerySet[StudioForecast]:
    """Each studio's latest batch forecast by that model version (one row per
    studio with any), for exports and dashboards over many studios."""
    newest = (
        StudioForecast.objects.filter(
            studio_id=OuterRef("studio_id"), model_version_id=model_version_id
        )
        .order_by("-created_at")
        .values("pk")[:1]
    )
    return StudioForecast.objects.filter(
        model_version_id=model_version_id, pk=Subquery(newest)
    )
