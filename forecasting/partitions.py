"""Monthly partitions of the prediction log on PostgreSQL.

On PostgreSQL ``forecasting_predictionlog`` is range-partitioned by month on
``created_at`` (declarative partitioning, migration ``forecasting 0009``): one
partition per calendar month (UTC), named ``forecasting_predictionlog_pYYYY_MM``,
and a default partition, ``forecasting_predictionlog_default``, that catches
rows of any month without one. Retention then drops whole months
(:func:`partition_drop`) instead of deleting their rows one by one, and a query
on recent rows reads only the recent partitions. Elsewhere (SQLite) the table
stays a plain table and every function here says so (:func:`is_partitioned`).

What PostgreSQL requires, and what it changes:

- Every unique constraint of a partitioned table includes the partition key, so
  the primary key is ``(id, created_at)``. Django keeps treating ``id`` as the
  primary key (the model is unchanged); ``id`` is a random UUID, so a duplicate
  across months is not a practical risk, but the database no longer enforces it.
- No foreign key can reference ``id`` alone, so ``Scenario.prediction_log`` has
  no database constraint (``db_constraint=False``, on every database). Django
  still clears the link when a log is deleted (``SET_NULL`` is Django's, not the
  database's); dropping a partition clears the links to its rows first.
- Partitions must exist before rows arrive: ``manage.py prune_prediction_logs``
  creates the current month and the next ``PREDICTION_LOG_PARTITIONS_AHEAD``
  months on each run (:func:`partitions_ensure`). Rows of a month without a
  partition land in the default partition, and are moved into their month's
  partition when it is created.

Kept out of the migration so it can be tested directly, as ``studios.timescale``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = [
    "DEFAULT_PARTITION",
    "TABLE",
    "Partition",
    "is_partitioned",
    "month_start",
    "next_month",
    "partition_create",
    "partition_drop_sql",
    "partition_name",
    "partition_table",
    "partitions",
    "partitions_ensure",
    "unpartition_table",
]

TABLE = "forecasting_predictionlog"
DEFAULT_PARTITION = f"{TABLE}_default"
_NAME = re.compile(rf"^{TABLE}_p(\d{{4}})_(\d{{2}})$")
#: How long partition DDL waits for a lock before giving up: creating or
#: dropping a partition briefly locks the log, and a long read in front of it
#: must not make every prediction's insert queue behind the DDL.
LOCK_TIMEOUT = "10s"


@dataclass(frozen=True)
class Partition:
    """One monthly partition: rows with ``start <= created_at < end`` (UTC)."""

    name: str
    start: dt.datetime
    end: dt.datetime


def month_start(moment: dt.datetime | dt.date) -> dt.datetime:
    """The first instant (UTC) of the month holding ``moment``."""
    if isinstance(moment, dt.datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return dt.datetime(moment.year, moment.month, 1, tzinfo=dt.UTC)


def next_month(start: dt.datetime) -> dt.datetime:
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def partition_name(start: dt.datetime) -> str:
    return f"{TABLE}_p{start.year:04d}_{start.month:02d}"


def is_partitioned(connection: BaseDatabaseWrapper) -> bool:
    """Whether the prediction log is a partitioned table (PostgreSQL after 0009)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)",
            [TABLE],
        )
        return cursor.fetchone() is not None


def partitions(connection: BaseDatabaseWrapper) -> list[Partition]:
    """The monthly partitions, oldest first (the default partition is not listed)."""
    if not is_partitioned(connection):
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = []
    for name in names:
        match = _NAME.match(name)
        if match:
            start = dt.datetime(int(match[1]), int(match[2]), 1, tzinfo=dt.UTC)
            found.append(Partition(name, start, next_month(start)))
    return sorted(found, key=lambda p: p.start)


def partition_create(cursor, start: dt.datetime) -> int:
    """Create the partition of the month starting at ``start``; return the rows moved
    into it from the default partition.

    The partition is built as a plain table, filled with the month's rows from
    the default partition (if any arrived before it existed) and then attached:
    ``ATTACH PARTITION`` needs a weaker lock on the log than ``CREATE TABLE ...
    PARTITION OF`` (inserts and reads go on meanwhile), and a default partition
    holding rows of that month would make the latter fail.
    """
    name, end = partition_name(start), next_month(start)
    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    cursor.execute(
        f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    cursor.execute(
        f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "
        "WHERE created_at >= %s AND created_at < %s RETURNING *) "
        f"INSERT INTO {name} SELECT * FROM moved",
        [start, end],
    )
    moved = cursor.rowcount
    cursor.execute(
        f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
        [start, end],
    )
    return moved


def partition_drop_sql(partition: Partition) -> list[str]:
    return [
        f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'",
        f"DROP TABLE {partition.name}",
    ]


def partitions_ensure(
    connection: BaseDatabaseWrapper,
    *,
    now: dt.datetime,
    months_ahead: int,
    dry_run: bool = False,
) -> list[tuple[str, int]]:
    """Create the partitions of ``now``'s month and the ``months_ahead`` after it
    that are missing; return ``(name, rows moved from the default partition)`` for
    each one created (or, with ``dry_run``, that would be, with the rows that
    would move). Each partition is created in its own transaction. Nothing on a
    table that is not partitioned.
    """
    from django.db import transaction

    if months_ahead < 0:
        raise ValueError("months_ahead must be at least 0")
    if not is_partitioned(connection):
        return []
    existing = {p.name for p in partitions(connection)}
    start = month_start(now)
    created = []
    for _ in range(months_ahead + 1):
        name = partition_name(start)
        if name not in existing:
            if dry_run:
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT count(*) FROM {DEFAULT_PARTITION} "
                        "WHERE created_at >= %s AND created_at < %s",
                        [start, next_month(start)],
                    )
                    created.append((name, cursor.fetchone()[0]))
            else:
                with (
                    transaction.atomic(using=connection.alias),
                    connection.cursor() as cursor,
                ):
                    created.append((name, partition_create(cursor, start)))
        start = next_month(start)
    return created


def partition_table(connection: BaseDatabaseWrapper, *, months_ahead: int) -> bool:
    """Turn the plain prediction log into a table partitioned by month, keeping its
    rows, indexes (same names), check and foreign key constraints; a no-op off
    PostgreSQL or when already partitioned. Returns whether it converted.

    Partitions are created for every month from the oldest row's to
    ``months_ahead`` after the current one, and the default partition. Runs in
    the caller's transaction (the migration's), holding an exclusive lock on the
    log while its rows are copied.
    """
    if connection.vendor != "postgresql" or is_partitioned(connection):
        return False
    with connection.cursor() as cursor:
        _refuse_referencing_foreign_keys(cursor)
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        indexes, foreign_keys = _definitions(cursor)
        cursor.execute(f"SELECT min(created_at), now() FROM {TABLE}")
        oldest, now = cursor.fetchone()
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_unpartitioned")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {TABLE}_unpartitioned INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at)"
        )
        cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT")
        start, last = month_start(oldest or now), month_start(now)
        for _ in range(months_ahead):
            last = next_month(last)
        while start <= last:
            cursor.execute(
                f"CREATE TABLE {partition_name(start)} PARTITION OF {TABLE} "
                "FOR VALUES FROM (%s) TO (%s)",
                [start, next_month(start)],
            )
            start = next_month(start)
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {TABLE}_unpartitioned")
        cursor.execute(f"DROP TABLE {TABLE}_unpartitioned")
        cursor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey "
            "PRIMARY KEY (id, created_at)"
        )
        _restore(cursor, indexes, foreign_keys)
    return True


def unpartition_table(connection: BaseDatabaseWrapper) -> bool:
    """The reverse of :func:`partition_table`: one plain table with every row and
    the primary key on ``id`` alone; a no-op when the log is not partitioned."""
    if not is_partitioned(connection):
        return False
    with connection.cursor() as cursor:
        _refuse_referencing_foreign_keys(cursor)
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        indexes, foreign_keys = _definitions(cursor)
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_partitioned")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {TABLE}_partitioned INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS)"
        )
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {TABLE}_partitioned")
        # Dropping a partitioned table drops its partitions.
        cursor.execute(f"DROP TABLE {TABLE}_partitioned")
        cursor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)"
        )
        _restore(cursor, indexes, foreign_keys)
    return True


def _refuse_referencing_foreign_keys(cursor) -> None:
    cursor.execute(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint "
        "WHERE contype = 'f' AND confrelid = to_regclass(%s)",
        [TABLE],
    )
    referencing = cursor.fetchall()
    if referencing:
        listed = ", ".join(f"{table}.{name}" for table, name in referencing)
        raise RuntimeError(
            f"Foreign keys reference {TABLE} ({listed}): a partitioned table can "
            "only be referenced by keys that include created_at. Declare them "
            "db_constraint=False (as Scenario.prediction_log) before this migration."
        )


def _definitions(cursor) -> tuple[list[str], list[tuple[str, str]]]:
    """The log's secondary indexes (as CREATE INDEX statements) and its foreign keys
    (name, definition); check constraints travel with ``LIKE ... INCLUDING
    CONSTRAINTS``."""
    cursor.execute(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indrelid = to_regclass(%s) AND NOT indisprimary",
        [TABLE],
    )
    # An index of a partitioned table is defined "ON ONLY" the parent.
    indexes = [sql.replace(" ON ONLY ", " ON ") for (sql,) in cursor.fetchall()]
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = to_regclass(%s) ORDER BY conname",
        [TABLE],
    )
    return indexes, cursor.fetchall()


def _restore(cursor, indexes: list[str], foreign_keys: list[tuple[str, str]]) -> None:
    for sql in indexes:
        cursor.execute(sql)
    for name, definition in foreign_keys:
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")
