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

On PostgreSQL the log is partitioned by month (:mod:`forecasting.partitions`):
each run first creates the partitions of the current month and the next
``months_ahead``, then drops the monthly partitions entirely older than
the cutoff (after clearing the links of scenarios saved from their rows), and
only then deletes row by row what is left before the cutoff: the month that
straddles it, and old rows in the default partition. Dropping a month is one
short DDL statement however many rows it holds, and leaves no dead rows for
VACUUM. Elsewhere (SQLite) every row is deleted row-wise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef

from forecasting.models import PredictionLog
from forecasting.partitions import (
    Partition,
    is_partitioned,
    partition_drop_sql,
    partitions,
    partitions_ensure,
)

__all__ = ["PruneReport", "prediction_logs_prune"]


@dataclass(frozen=True)
class PruneReport:
    cutoff: dt.datetime
    #: Rows created before the cutoff (in dropped partitions or deleted row-wise).
    matched: int
    #: Rows gone: those of dropped partitions plus those deleted row-wise.
    deleted: int
    #: Row-wise delete transactions.
    batches: int
    dry_run: bool
    #: (partition, its rows) dropped, or with ``dry_run`` that would be.
    partitions_dropped: tuple[tuple[str, int], ...] = ()
    #: (partition, rows moved into it from the default one) created, or would be.
    partitions_created: tuple[tuple[str, int], ...] = ()
    #: Links to logs that no longer exist, cleared (see :func:`_clear_links`).
    links_cleared: int = 0

    @property
    def partition_rows(self) -> int:
        return sum(rows for _, rows in self.partitions_dropped)


def prediction_logs_prune(
    *,
    older_than: dt.datetime,
    batch_size: int = 5000,
    dry_run: bool = False,
    months_ahead: int = 3,
    now: dt.datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> PruneReport:
    """Delete the prediction logs created before ``older_than``.

    On a partitioned log (PostgreSQL), first creates the missing partitions of
    ``now``'s month and the ``months_ahead`` after it, then drops each monthly
    partition that ends at or before ``older_than``, each in its own transaction.
    Then, everywhere, deletes the remaining older rows in batches of at most
    ``batch_size`` rows, oldest first, each in its own transaction; ``progress``
    is told after each partition and batch. With ``dry_run`` nothing changes:
    the report counts what would. Each batch is one UPDATE clearing the links
    of scenarios saved from those logs and one DELETE by primary key.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if months_ahead < 0:
        raise ValueError("months_ahead must be at least 0")
    say = progress or (lambda message: None)
    now = now or dt.datetime.now(dt.UTC)
    partitioned = is_partitioned(connection)
    created = tuple(
        partitions_ensure(
            connection, now=now, months_ahead=months_ahead, dry_run=dry_run
        )
    )
    for name, moved in created:
        verb = "would create" if dry_run else "created"
        say(f"partition {name}: {verb} ({moved:,} row(s) from the default partition)")
    old = PredictionLog.objects.filter(created_at__lt=older_than)
    matched = old.count()
    droppable = (
        [p for p in partitions(connection) if p.end <= older_than]
        if partitioned
        else []
    )
    dropped = []
    for partition in droppable:
        rows = _rows_in(partition)
        if not dry_run:
            _drop(partition)
            say(f"partition {partition.name}: dropped ({rows:,} row(s))")
        dropped.append((partition.name, rows))
    report = dict(partitions_dropped=tuple(dropped), partitions_created=created)
    in_partitions = sum(rows for _, rows in dropped)
    if dry_run:
        return PruneReport(older_than, matched, 0, 0, True, **report)
    deleted, batches = in_partitions, 0
    while deleted < matched:
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
    cleared = _clear_links()
    return PruneReport(
        older_than, matched, deleted, batches, False, links_cleared=cleared, **report
    )


def _rows_in(partition: Partition) -> int:
    # The partition's own bounds: the planner reads only that partition.
    return PredictionLog.objects.filter(
        created_at__gte=partition.start, created_at__lt=partition.end
    ).count()


def _set_null_relations():
    """The relations pointing at PredictionLog whose rows keep living without it
    (``on_delete=SET_NULL``: today ``Scenario.prediction_log``), found from the
    model so that this layer needs no import of the layers above it."""
    relations = []
    for relation in PredictionLog._meta.related_objects:
        if relation.on_delete is not models.SET_NULL:
            raise RuntimeError(
                f"{relation.related_model.__name__}.{relation.field.name} references "
                "PredictionLog with an on_delete other than SET_NULL: dropping a "
                "partition would not honour it."
            )
        relations.append((relation.related_model, relation.field.name))
    return relations


def _drop(partition: Partition) -> None:
    """Clear the links to the partition's rows, then drop it, in one transaction."""
    rows = PredictionLog.objects.filter(
        created_at__gte=partition.start, created_at__lt=partition.end
    ).values("pk")
    with transaction.atomic():
        for model, field in _set_null_relations():
            model._base_manager.filter(**{f"{field}__in": rows}).update(**{field: None})
        with connection.cursor() as cursor:
            for sql in partition_drop_sql(partition):
                cursor.execute(sql)


def _clear_links() -> int:
    """Clear links to logs that no longer exist.

    ``Scenario.prediction_log`` has no database constraint (the log is partitioned
    on PostgreSQL), so a scenario saved from a log in the instant between its
    partition's links being cleared and the partition being dropped (or between a
    batch's UPDATE and DELETE) would keep pointing at nothing; one anti-join over
    the linked scenarios after each run puts that right.
    """
    cleared = 0
    for model, field in _set_null_relations():
        cleared += (
            model._base_manager.filter(**{f"{field}__isnull": False})
            .filter(~Exists(PredictionLog.objects.filter(pk=OuterRef(field))))
            .update(**{field: None})
        )
    return cleared
