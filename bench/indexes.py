"""Benchmark: the query plans of what dashboards and batch jobs ask (issue 18 item 4).

Run:  .venv/bin/python bench/indexes.py --database-url postgres://postgres@127.0.0.1:5432/bench_indexes
      [--studios 500] [--logs 20000] [--scenarios 5000]

PostgreSQL only (the plans are PostgreSQL's). The database is created fresh and
dropped at the end. Set-up: ``generate_data`` for ``--studios`` studios (60
months each), ``--logs`` prediction logs spread over the studios and over the
last two years, ``--scenarios`` scenarios, then ``ANALYZE``; no model is trained
(no query below needs one). Each query is made by the selector or service that
makes it in production, captured, then run again under ``EXPLAIN (ANALYZE)``;
the report names the access path of every table it reads (index or sequential
scan) and the execution time.

On PostgreSQL the prediction log is partitioned by month (``forecasting 0009``):
the set-up creates the partitions of the two years the logs span before
spreading them, as daily prune runs would have, and a plan lists the partitions
it reads (``N partitions``). The prediction-log queries are then run again on
the same rows as one plain table (the migration reversed), and the retention run
(``prediction_logs_prune``, 400 days) is timed both ways, each inside a
transaction rolled back afterwards.
"""

import argparse
import datetime as dt
import os
import random
import re
import shutil
import sys
import tempfile
from pathlib import Path

import _setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _setup.add_arguments(parser, studios=500)
    parser.add_argument("--logs", type=int, default=20_000)
    parser.add_argument("--scenarios", type=int, default=5_000)
    args = parser.parse_args()
    if not (args.database_url or "").startswith("postgres"):
        raise SystemExit("--database-url must name a PostgreSQL database.")
    _setup.fresh_postgres(args.database_url)
    workdir = Path(tempfile.mkdtemp(prefix="studiosim-bench-"))
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["MODEL_ARTIFACT_DIR"] = str(workdir / "models")
    os.environ.setdefault("DEBUG", "true")
    # The set-up's bulk statements may run longer than a web request's timeout:
    # batch work's, as manage.py gives its commands.
    os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT", "1800")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiosim.settings")
    sys.path.insert(0, str(_setup.ROOT))
    import django

    django.setup()
    try:
        load(args)
        cases = report()
        compare_plain(cases)
    finally:
        from django.db import connections

        connections.close_all()
        _setup.drop_postgres(args.database_url)
        shutil.rmtree(workdir, ignore_errors=True)


def load(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection

    from forecasting.models import PredictionLog, PredictionType
    from scenarios.models import Scenario, ScenarioType
    from studios.models import Studio

    call_command("migrate", verbosity=0)
    print(f"Set-up: {args.studios} studios x 60 months, seed {args.seed}...")
    with open(os.devnull, "w") as devnull:
        call_command(
            "generate_data", studios=args.studios, seed=args.seed, stdout=devnull
        )
    rng = random.Random(args.seed)
    studios = list(Studio.objects.values_list("pk", flat=True))
    month = dt.date(2026, 4, 1)
    PredictionLog.objects.bulk_create(
        [
            PredictionLog(
                studio_id=rng.choice(studios),
                prediction_type=PredictionType.FORWARD,
                base_month=month,
                projection_months=3,
                inputs={"levers": {}},
                outputs={"predictions": [{"revenue": 1000.0 + i}] * 3},
                confidence=0.8,
            )
            for i in range(args.logs)
        ],
        batch_size=2000,
    )
    logs = list(PredictionLog.objects.values_list("pk", flat=True)[: args.scenarios])
    Scenario.objects.bulk_create(
        [
            Scenario(
                studio_id=rng.choice(studios),
                name=f"Scenario {i}",
                scenario_type=ScenarioType.FORWARD,
                base_month=month,
                prediction_log_id=logs[i] if i < len(logs) else None,
                tags=["summer"] if i % 3 == 0 else [],
            )
            for i in range(args.scenarios)
        ],
        batch_size=2000,
    )
    from forecasting.partitions import (
        month_start,
        next_month,
        partition_create,
        partition_name,
        partitions,
    )

    existing = {p.name for p in partitions(connection)}
    start = month_start(dt.datetime.now(dt.UTC) - dt.timedelta(days=731))
    with connection.cursor() as cursor:
        while start < dt.datetime.now(dt.UTC):
            if partition_name(start) not in existing:
                partition_create(cursor, start)
            start = next_month(start)
    with connection.cursor() as cursor:
        # Spread over two years, as a log that has been growing since.
        cursor.execute(
            "UPDATE forecasting_predictionlog SET created_at = "
            "now() - random() * interval '730 days'"
        )
        cursor.execute(
            "UPDATE scenarios_scenario SET created_at = "
            "now() - random() * interval '730 days'"
        )
        # VACUUM too: the spreading UPDATE moved every log out of the current
        # month's partition, leaving dead rows a running installation's autovacuum
        # would long have cleared (and index-only scans need the visibility map).
        cursor.execute("VACUUM ANALYZE")
    print(
        f"  {Studio.objects.count():,} studios, "
        f"{PredictionLog.objects.count():,} prediction logs, "
        f"{Scenario.objects.count():,} scenarios, "
        f"{len(partitions(connection))} monthly partitions of the log"
    )


def report() -> dict:
    from django.db.models import Count, Sum
    from django.utils import timezone

    from forecasting.models import PredictionLog
    from forecasting.selectors import history_frame
    from scenarios.models import Scenario
    from studios.models import MonthlyMetric, Studio
    from studios.selectors import (
        metric_latest_month,
        studio_baseline,
        studios_with_latest_figures,
    )

    studio = Studio.objects.order_by("pk")[len(Studio.objects.all()) // 2]
    base = metric_latest_month(studio=studio)
    # A daily run finds the few days that passed the retention period since the
    # last one: here the oldest 30 of the 730 days.
    cutoff = timezone.now() - dt.timedelta(days=700)

    def latest_logs():
        list(PredictionLog.objects.filter(studio=studio).order_by("-created_at")[:20])

    def scenario_page():
        queryset = Scenario.objects.filter(studio=studio)
        list(queryset.order_by("-created_at", "-pk")[:20])
        queryset.count()

    def prune_batch():
        list(
            PredictionLog.objects.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:5000]
        )

    def prune_count():
        PredictionLog.objects.filter(created_at__lt=cutoff).count()

    def peers():
        Studio.objects.filter(studio_type=studio.studio_type).aggregate(
            count=Count("pk"), data_versions=Sum("data_version")
        )

    def studio_month():
        MonthlyMetric.objects.filter(studio=studio, month_year=base).first()

    one_log = PredictionLog.objects.filter(studio=studio).values_list("pk", flat=True)[
        0
    ]
    month_ago = timezone.now() - dt.timedelta(days=30)

    def recent_logs():
        PredictionLog.objects.filter(created_at__gte=month_ago).count()

    def log_by_id():
        PredictionLog.objects.select_related("model_version").get(pk=one_log)

    cases = {
        "studio history (history_frame, one studio)": lambda: history_frame(
            studio_ids=[studio.pk], until=base
        ),
        "one studio-month": studio_month,
        "latest month of a studio": lambda: metric_latest_month(studio=studio),
        "studio list page with latest figures": lambda: list(
            studios_with_latest_figures(Studio.objects.order_by("name"))[:20]
        ),
        "studio baseline (history and peers)": lambda: studio_baseline(studio=studio),
        "peers of a studio (lever impact's cache key)": peers,
        "latest prediction logs of a studio": latest_logs,
        "scenarios of a studio, a page and its count": scenario_page,
        "prune (daily run): count of logs past retention": prune_count,
        "prune (daily run): one batch of logs past retention": prune_batch,
        "prediction logs of the last 30 days (count)": recent_logs,
        "one prediction log by id (saving a scenario from it)": log_by_id,
    }
    run_cases(cases)
    print(
        "\nprediction logs of the last 30 days (their ids, in the model's order), the whole plan:"
    )
    recent = PredictionLog.objects.filter(created_at__gte=month_ago)
    plan = recent.only("pk").explain(analyze=True, costs=False, timing=False)
    print("  " + plan.replace("\n", "\n  "))
    return {name: run for name, run in cases.items() if "log" in name}


def run_cases(cases: dict) -> None:
    import json

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for name, run in cases.items():
        with CaptureQueriesContext(connection) as queries:
            run()
        print(f"\n{name}")
        for query in queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
                [[plan]] = cursor.fetchone()
            plan = plan if isinstance(plan, dict) else json.loads(plan)[0]
            scans = list(_scans(plan["Plan"]))
            print(
                f"  {plan['Execution Time']:8.2f} ms (planning {plan['Planning Time']:.2f} ms)"
                f"  {_summary(scans)}\n"
                f"              {sql[:110]}"
            )


def compare_plain(cases: dict) -> None:
    """The prediction-log queries and a retention run, partitioned and plain."""
    import time

    from django.db import connection, transaction

    from forecasting.partitions import (
        is_partitioned,
        partition_table,
        unpartition_table,
    )

    if not is_partitioned(connection):
        return
    timed_inserts("partitioned")
    timed_prune("partitioned")
    started = time.perf_counter()
    with transaction.atomic():
        unpartition_table(connection)
    print(
        "\nthe log made one plain table (migration forecasting 0009 reversed): "
        f"{time.perf_counter() - started:.2f} s"
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE forecasting_predictionlog")
    print("\n--- the same prediction-log queries on one plain table ---")
    run_cases(cases)
    timed_inserts("plain")
    timed_prune("plain")
    with transaction.atomic():
        started = time.perf_counter()
        partition_table(connection, months_ahead=3)
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    print(
        "\nthe plain log partitioned by month (migration forecasting 0009; rolled "
        f"back): {seconds:.2f} s"
    )


def timed_inserts(label: str, count: int = 2000) -> None:
    """Logs written one at a time, as each served answer writes its own."""
    import time

    from django.db import transaction

    from forecasting.models import PredictionLog, PredictionType
    from studios.models import Studio

    studio = Studio.objects.order_by("pk").first()
    with transaction.atomic():
        started = time.perf_counter()
        for i in range(count):
            PredictionLog.objects.create(
                studio=studio,
                prediction_type=PredictionType.FORWARD,
                base_month=dt.date(2026, 4, 1),
                inputs={"levers": {}},
                outputs={"predictions": [{"revenue": 1000.0 + i}] * 3},
                confidence=0.8,
            )
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    print(
        f"\n{count:,} logs inserted one at a time ({label}; rolled back): "
        f"{seconds / count * 1000:.3f} ms each"
    )


def timed_prune(label: str) -> None:
    import time

    from django.db import transaction
    from django.utils import timezone

    from forecasting.retention import prediction_logs_prune

    now = timezone.now()
    with transaction.atomic():
        started = time.perf_counter()
        report = prediction_logs_prune(
            older_than=now - dt.timedelta(days=400), now=now, months_ahead=3
        )
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    print(
        f"\nprune, 400 days' retention ({label}; rolled back): {seconds:.2f} s, "
        f"{report.deleted:,} logs gone: {report.partition_rows:,} in "
        f"{len(report.partitions_dropped)} dropped partitions, "
        f"{report.deleted - report.partition_rows:,} row-wise in "
        f"{report.batches} batches"
    )


def _summary(scans: list[str]) -> str:
    """Scans of the log's partitions as one entry with their count."""
    partition = re.compile(r"forecasting_predictionlog_(p\d{4}_\d{2}|default)")
    scanned = [s for s in scans if partition.search(s)]
    others = sorted(set(scans) - set(scanned))
    if scanned:
        kinds = sorted({s.split(" on ")[0] for s in scanned if " on " in s})
        read = {partition.search(s)[0] for s in scanned}
        others.append(f"{'/'.join(kinds)} on {len(read)} log partitions")
    return "; ".join(others)


def _scans(node: dict):
    kind = node.get("Node Type", "")
    if "Scan" in kind and "Relation Name" in node:
        index = node.get("Index Name")
        yield f"{kind} on {node['Relation Name']}" + (f" ({index})" if index else "")
    elif kind == "Bitmap Index Scan":
        yield f"{kind} ({node['Index Name']})"
    for child in node.get("Plans", []):
        yield from _scans(child)


if __name__ == "__main__":
    main()
