"""Live accuracy: each served prediction against the months that really happened.

A PredictionLog holds what was predicted for the months after its base month.
Once a studio's real data for some of those months exists,
:func:`prediction_actuals_record` stores them on the log:

``actual_outcome``
    ``{"YYYY-MM-01": actual total revenue}`` for every predicted month with data;
``error_pct``
    the mean absolute percentage error over those months, as a fraction
    (0.032 is 3.2%): forward predictions are compared month by month with
    ``outputs["predictions"][i]["revenue"]``, inverse ones with
    ``outputs["monthly_revenue"][i]`` (the revenue the recommended plan was
    forecast to bring); a month with zero actual revenue has no percentage
    error and is left out of the mean;
``actuals_recorded_at``
    when they were last written.

The values are recomputed from the current data every time, so a corrected
month corrects the logs; a log is written only when its values change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from uuid import UUID

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from forecasting.models import PredictionLog, PredictionType
from studios.models import MonthlyMetric

BATCH_SIZE = 2000
_FIELDS = ("actual_outcome", "error_pct", "actuals_recorded_at")


def _add_months(month: dt.date, months: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _predicted_months(log: PredictionLog) -> list[tuple[dt.date, float]]:
    """(month, predicted revenue) pairs of a log; empty when its outputs lack them."""
    outputs = log.outputs or {}
    pairs: list[tuple[dt.date, float]] = []
    try:
        if log.prediction_type == PredictionType.FORWARD:
            for i, month in enumerate(outputs.get("predictions") or []):
                when = month.get("month_year")
                pairs.append(
                    (
                        dt.date.fromisoformat(when).replace(day=1)
                        if when
                        else _add_months(log.base_month, i + 1),
                        float(month["revenue"]),
                    )
                )
        else:
            for i, revenue in enumerate(outputs.get("monthly_revenue") or []):
                pairs.append((_add_months(log.base_month, i + 1), float(revenue)))
    except (AttributeError, KeyError, TypeError, ValueError):
        return []
    return pairs


def _outcome(
    predicted: list[tuple[dt.date, float]], actuals: dict[dt.date, Decimal]
) -> tuple[dict[str, float] | None, float | None]:
    outcome: dict[str, float] = {}
    errors: list[float] = []
    for month, forecast in predicted:
        actual = actuals.get(month)
        if actual is None:
            continue
        outcome[month.isoformat()] = float(actual)
        if actual > 0:
            errors.append(abs(forecast - float(actual)) / float(actual))
    # Rounded so that stored values compare exactly (a 5.0% error is within 5%).
    error = round(sum(errors) / len(errors), 6) if errors else None
    return outcome or None, error


def prediction_actuals_record(
    *,
    studio_ids: Iterable[UUID] | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Fill in actual outcomes and errors on prediction logs; returns logs changed.

    Looks at the logs (of ``studio_ids``, default every studio) whose base month
    is before their studio's latest month of data, i.e. that may have an actual
    month, in batches of 2,000 by primary key: per batch one query for the logs,
    one for the revenues of the months they predict, and one bulk UPDATE of the
    logs whose values changed. Runs inside the caller's transaction if there is
    one (the importer's), so it commits or rolls back with the data.
    """
    say = progress or (lambda message: None)
    latest_month = (
        MonthlyMetric.objects.filter(studio_id=OuterRef("studio_id"))
        .order_by("-month_year")
        .values("month_year")[:1]
    )
    logs = PredictionLog.objects.filter(base_month__lt=Subquery(latest_month))
    if studio_ids is not None:
        studio_ids = list(set(studio_ids))
        if not studio_ids:
            return 0
        logs = logs.filter(studio_id__in=studio_ids)
    logs = logs.only(
        "id",
        "studio_id",
        "prediction_type",
        "base_month",
        "outputs",
        *_FIELDS,
    ).order_by("pk")

    changed_total = checked = 0
    last_pk = None
    while True:
        batch = list((logs.filter(pk__gt=last_pk) if last_pk else logs)[:BATCH_SIZE])
        if not batch:
            break
        last_pk = batch[-1].pk
        predicted = {log.pk: _predicted_months(log) for log in batch}
        months = [month for pairs in predicted.values() for month, _ in pairs]
        actuals: dict[UUID, dict[dt.date, Decimal]] = {}
        if months:
            for studio_id, month, revenue in MonthlyMetric.objects.filter(
                studio_id__in={log.studio_id for log in batch},
                month_year__gte=min(months),
                month_year__lte=max(months),
            ).values_list("studio_id", "month_year", "total_revenue"):
                actuals.setdefault(studio_id, {})[month] = revenue
        now = timezone.now()
        changed = []
        for log in batch:
            outcome, error = _outcome(predicted[log.pk], actuals.get(log.studio_id, {}))
            if (outcome, error) == (log.actual_outcome, log.error_pct):
                continue
            log.actual_outcome = outcome
            log.error_pct = error
            log.actuals_recorded_at = now if outcome is not None else None
            changed.append(log)
        PredictionLog.objects.bulk_update(changed, _FIELDS, batch_size=500)
        checked += len(batch)
        changed_total += len(changed)
        say(f"  {checked} prediction logs checked, {changed_total} updated")
    return changed_total
