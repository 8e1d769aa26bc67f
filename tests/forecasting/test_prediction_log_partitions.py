"""The prediction log partitioned by month on PostgreSQL, and retention by partition.

The PostgreSQL tests create and drop partitions inside the test's transaction
(PostgreSQL's DDL is transactional), so every partition change is rolled back
with the test. SQLite keeps a plain table: retention deletes row by row there.
"""

import datetime as dt
import io
import uuid

import pytest
from django.core.management import call_command
from django.db import connection

from forecasting.models import PredictionLog
from forecasting.partitions import (
    DEFAULT_PARTITION,
    TABLE,
    is_partitioned,
    month_start,
    next_month,
    partition_create,
    partition_name,
    partition_table,
    partitions,
    partitions_ensure,
    unpartition_table,
)
from forecasting.retention import prediction_logs_prune
from scenarios.models import Scenario
from tests.factories import PredictionLogFactory, ScenarioFactory, StudioFactory

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="declarative partitioning exists on PostgreSQL only; CI runs it there",
)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture
def ddl_ready():
    """Check the deferred foreign keys of rows inserted so far, and every later
    one at once: PostgreSQL refuses DDL on a table with checks still pending in
    the transaction, which a test's single transaction would otherwise have."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def logs_at(*moments: str) -> list[PredictionLog]:
    """One log per moment (created_at is set on insert, so moved after: the row
    moves to the moment's partition)."""
    studio = StudioFactory()
    logs = []
    for moment in moments:
        log = PredictionLogFactory(studio=studio, model_version=None)
        PredictionLog.objects.filter(pk=log.pk).update(created_at=at(moment))
        logs.append(log)
    return logs


def partition_of(log: PredictionLog) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [log.pk]
        )
        return cursor.fetchone()[0]


def partition_names() -> list[str]:
    return [p.name for p in partitions(connection)]


def remaining() -> set:
    return set(PredictionLog.objects.values_list("pk", flat=True))


def make_partitions(*months: str) -> None:
    with connection.cursor() as cursor:
        for month in months:
            partition_create(cursor, at(f"{month}-01"))


@postgresql_only
def test_the_migration_partitions_the_log_by_month_with_months_ready_ahead():
    """Migrated today: the current month and the three after it, and a default."""
    start = month_start(dt.datetime.now(dt.UTC))
    expected = []
    for _ in range(4):
        expected.append(partition_name(start))
        start = next_month(start)

    assert is_partitioned(connection)
    assert set(expected) <= set(partition_names())
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        children = {name for (name,) in cursor.fetchall()}
    assert DEFAULT_PARTITION in children
    [primary] = [c["columns"] for c in constraints.values() if c["primary_key"]]
    assert primary == ["id", "created_at"]
    # The model's indexes keep their names (a later migration can drop them).
    for name in [
        "predlog_created_idx",
        "predlog_studio_created_idx",
        "predlog_mv_err_idx",
    ]:
        assert name in constraints


@postgresql_only
def test_rows_land_in_their_months_partition_or_the_default_one(ddl_ready):
    make_partitions("2024-02")
    [in_february, in_march] = logs_at("2024-02-29T23:59:59", "2024-03-01T00:00:00")
    served_now = PredictionLogFactory()

    assert partition_of(in_february) == f"{TABLE}_p2024_02"
    assert partition_of(in_march) == DEFAULT_PARTITION
    assert partition_of(served_now) == partition_name(
        month_start(dt.datetime.now(dt.UTC))
    )


@postgresql_only
def test_partitions_are_created_ahead_and_take_their_rows_from_the_default_one(
    ddl_ready,
):
    # given: a row of a month that has no partition yet
    [early] = logs_at("2031-05-20T10:00:00")
    assert partition_of(early) == DEFAULT_PARTITION

    # when
    created = partitions_ensure(
        connection, now=at("2031-04-15"), months_ahead=2, dry_run=False
    )

    # then
    assert created == [
        (f"{TABLE}_p2031_04", 0),
        (f"{TABLE}_p2031_05", 1),
        (f"{TABLE}_p2031_06", 0),
    ]
    assert partition_of(early) == f"{TABLE}_p2031_05"
    assert PredictionLog.objects.get(pk=early.pk).created_at == at(
        "2031-05-20T10:00:00"
    )
    # A second run finds them all there.
    assert partitions_ensure(connection, now=at("2031-04-15"), months_ahead=2) == []


@postgresql_only
def test_the_prune_command_keeps_the_coming_months_partitions_ready(ddl_ready):
    start = month_start(dt.datetime.now(dt.UTC))
    for _ in range(6):
        start = next_month(start)
    sixth = partition_name(start)
    assert sixth not in partition_names()

    out = io.StringIO()
    call_command("prune_prediction_logs", "--months-ahead", "6", stdout=out)

    assert sixth in partition_names()
    assert f"partition {sixth}: created (0 row(s) from the default partition)" in (
        out.getvalue()
    )


@postgresql_only
def test_prune_drops_whole_old_months_and_deletes_the_edge_row_by_row(ddl_ready):
    # given: January and February 2024 wholly past the cutoff (15 March), March
    # straddling it, an older row of a month without a partition, recent rows
    make_partitions("2024-01", "2024-02", "2024-03")
    old = logs_at(
        "2024-01-10", "2024-01-31T23:00:00", "2024-02-10", "2023-06-01", "2024-03-10"
    )
    kept = logs_at("2024-03-25")
    served_now = PredictionLogFactory()
    scenario = ScenarioFactory(studio=old[0].studio, prediction_log=old[0])
    messages = []

    # when
    report = prediction_logs_prune(
        older_than=at("2024-03-15"),
        batch_size=1,
        months_ahead=1,
        now=at("2024-03-20"),
        progress=messages.append,
    )

    # then
    assert remaining() == {kept[0].pk, served_now.pk}
    assert report.partitions_dropped == (
        (f"{TABLE}_p2024_01", 2),
        (f"{TABLE}_p2024_02", 1),
    )
    assert report.partitions_created == ((f"{TABLE}_p2024_04", 0),)
    assert (report.matched, report.deleted, report.batches) == (5, 5, 2)
    assert f"{TABLE}_p2024_01" not in partition_names()
    assert f"{TABLE}_p2024_03" in partition_names()
    assert f"partition {TABLE}_p2024_01: dropped (2 row(s))" in messages
    assert "batch 2: deleted 1 (5 of 5)" in messages
    scenario = Scenario.objects.get(pk=scenario.pk)
    assert scenario.prediction_log is None
    assert scenario.predicted_outputs == {"total_revenue": 140000}


@postgresql_only
def test_a_dry_run_changes_no_partition_and_no_row(ddl_ready):
    make_partitions("2024-01", "2024-02")
    logs_at("2024-01-10", "2024-02-10", "2024-02-20", "2024-03-10")
    before = (remaining(), partition_names())

    report = prediction_logs_prune(
        older_than=at("2024-03-15"), dry_run=True, months_ahead=1, now=at("2024-03-20")
    )

    assert (remaining(), partition_names()) == before
    assert report.partitions_dropped == (
        (f"{TABLE}_p2024_01", 1),
        (f"{TABLE}_p2024_02", 2),
    )
    assert report.partitions_created == (
        (f"{TABLE}_p2024_03", 1),
        (f"{TABLE}_p2024_04", 0),
    )
    assert (report.matched, report.deleted, report.batches) == (4, 0, 0)


@postgresql_only
def test_the_command_reports_partitions_dropped(ddl_ready):
    make_partitions("2020-01")
    logs_at("2020-01-05", "2020-01-06")
    out = io.StringIO()

    call_command("prune_prediction_logs", "--older-than-days", "400", stdout=out)

    assert f"partition {TABLE}_p2020_01: dropped (2 row(s))" in out.getvalue()
    assert (
        "Deleted 2 prediction log(s): 0 in 0 batch(es), 2 by dropping 1 partition(s)"
        in out.getvalue()
    )


@postgresql_only
@pytest.mark.parametrize("whole_months", [False, True])
def test_whole_months_keeps_the_month_the_cutoff_falls_in(ddl_ready, whole_months):
    # given: a cutoff near the middle of a month, rows before it in that month
    # and in the month before, each month with its partition
    now = dt.datetime.now(dt.UTC)
    edge = month_start(now - dt.timedelta(days=400))
    days = (now - (edge + dt.timedelta(days=15))).days
    before = month_start(edge - dt.timedelta(days=1))
    with connection.cursor() as cursor:
        for start in (before, edge):
            if partition_name(start) not in partition_names():
                partition_create(cursor, start)
    [in_month_before, early_in_edge_month] = logs_at(
        (before + dt.timedelta(days=3)).isoformat()[:19],
        (edge + dt.timedelta(days=2)).isoformat()[:19],
    )
    args = ["--older-than-days", str(days)]
    if whole_months:
        args.append("--whole-months")
    out = io.StringIO()

    # when
    call_command("prune_prediction_logs", *args, stdout=out)

    # then: the month before is dropped either way; the edge month's early row
    # is deleted row-wise, or kept until its whole month is past
    assert partition_name(before) not in partition_names()
    assert (early_in_edge_month.pk in remaining()) is whole_months
    assert in_month_before.pk not in remaining()
    assert ("back to the start of its month" in out.getvalue()) is whole_months


@postgresql_only
def test_a_query_for_recent_logs_reads_only_the_recent_partitions(ddl_ready):
    make_partitions("2024-01", "2024-02")
    this_month = month_start(dt.datetime.now(dt.UTC))
    recent = PredictionLog.objects.filter(
        studio=StudioFactory(), created_at__gte=this_month
    )

    plan = recent.explain()

    assert partition_name(this_month) in plan
    assert f"{TABLE}_p2024_01" not in plan
    assert DEFAULT_PARTITION in plan  # it may hold rows of any month


@postgresql_only
def test_unpartitioning_and_partitioning_again_keeps_every_row(ddl_ready):
    """The migration both ways, on a log with rows in several months."""
    logs = logs_at("2023-11-05", "2024-02-10")
    logs.append(PredictionLogFactory())  # now
    with connection.cursor() as cursor:
        indexes_before = connection.introspection.get_constraints(cursor, TABLE)

    assert unpartition_table(connection) is True
    assert not is_partitioned(connection)
    assert remaining() == {log.pk for log in logs}
    with connection.cursor() as cursor:
        plain = connection.introspection.get_constraints(cursor, TABLE)
    assert [c["columns"] for c in plain.values() if c["primary_key"]] == [["id"]]

    assert partition_table(connection, months_ahead=1) is True
    assert remaining() == {log.pk for log in logs}
    assert partition_of(logs[0]) == f"{TABLE}_p2023_11"
    assert partition_of(logs[1]) == f"{TABLE}_p2024_02"
    # Every month from the oldest row's to one after this one.
    assert partition_names()[0] == f"{TABLE}_p2023_11"
    assert len(partition_names()) >= 3 + 12 * 2
    with connection.cursor() as cursor:
        assert connection.introspection.get_constraints(cursor, TABLE).keys() == (
            indexes_before.keys()
        )


@pytest.mark.smoke
def test_links_to_logs_that_no_longer_exist_are_cleared():
    scenario = ScenarioFactory(prediction_log=None)
    Scenario.objects.filter(pk=scenario.pk).update(prediction_log_id=uuid.uuid4())
    linked = ScenarioFactory(prediction_log=PredictionLogFactory())

    report = prediction_logs_prune(older_than=at("2000-01-01"), months_ahead=0)

    assert report.links_cleared == 1
    assert Scenario.objects.get(pk=scenario.pk).prediction_log_id is None
    assert Scenario.objects.get(pk=linked.pk).prediction_log_id is not None


@pytest.mark.smoke
@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the SQLite path; CI's smoke run covers it"
)
def test_on_sqlite_the_log_is_a_plain_table_and_prune_deletes_row_by_row():
    [old, recent] = logs_at("2024-01-10", "2024-03-25")
    scenario = ScenarioFactory(studio=old.studio, prediction_log=old)

    report = prediction_logs_prune(
        older_than=at("2024-03-15"), months_ahead=3, now=at("2024-03-20")
    )

    assert not is_partitioned(connection)
    assert partitions(connection) == []
    assert (report.partitions_created, report.partitions_dropped) == ((), ())
    assert (report.matched, report.deleted, report.batches) == (1, 1, 1)
    assert remaining() == {recent.pk}
    assert Scenario.objects.get(pk=scenario.pk).prediction_log is None
    assert partition_table(connection, months_ahead=3) is False
