"""Retention of prediction logs: the log grows with every served answer.

Each forward or inverse answer writes one PredictionLog row (about 2.2 KB with
its inputs and outputs, issue 18), so a busy installation adds gigabytes a year.
:func:`prediction_logs_prune` deletes the rows older than a cutoff in batches of
primary keys, each batch its own short transaction, so a large backlog never
holds one long lock or one huge transaction, and a run that is stopped keeps
what it has deleted so far. The batches are found through the
``predlog_created_idx`` index on ``created_at``.

A scenario saved from a prediction keeps its own copy of the prediction's
inputs and outputs; deleting the log only clears the scenario's link to it
(``Scenario.prediction_log`` is ``SET_NULL``).

Live accuracy (``record_actuals``, ``modelPerformance``) reads these rows once
the predicted months arrive: a log deleted before then never gets its actual
outcome. Predictions reach up to 12 months ahead, so the default retention
(``PREDICTION_LOG_RETENTION_DAYS``, 400 days) keeps every log until its last
month can have arrived; a shorter retention trades live-accuracy history for
space.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from forecasting.models import PredictionLog

__all__ = ["PruneReport", "prediction_logs_prune"]


@dataclass(frozen=True)
class PruneReport:
    cutoff: dt.datetime
    matched: int
    deleted: int
    batches: int
    dry_run: bool


def prediction_logs_prune(
    *,
    older_than: dt.datetime,
    batch_size: int = 5000,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> PruneReport:
    """Delete the prediction logs created before ``older_than``.

    Deletes in batches of at most ``batch_size`` rows, oldest first, each in its
    own transaction; ``progress`` is told after each batch. With ``dry_run``
    nothing is deleted: the report counts the rows that would be. Each batch is
    one UPDATE clearing the links of scenarios saved from those logs and one
    DELETE by primary key.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    say = progress or (lambda message: None)
    old = PredictionLog.objects.filter(created_at__lt=older_than)
    matched = old.count()
    if dry_run or not matched:
        return PruneReport(older_than, matched, 0, 0, dry_run)
    deleted = batches = 0
    while True:
        with transaction.atomic():
            ids = list(
                old.order_by("created_at").values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            count, _ = PredictionLog.objects.filter(pk__in=ids).delete()
        deleted += count
        batches += 1
        say(f"batch {batches}: deleted {count:,} ({deleted:,} of {matched:,})")
        if len(ids) < batch_size:
            break
    return PruneReport(older_than, matched, deleted, batches, dry_run)
