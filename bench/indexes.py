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
"""

import argparse
import datetime as dt
import os
import random
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
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiosim.settings")
    sys.path.insert(0, str(_setup.ROOT))
    import django

    django.setup()
    try:
        load(args)
        report()
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
        cursor.execute("ANALYZE")
    print(
        f"  {Studio.objects.count():,} studios, "
        f"{PredictionLog.objects.count():,} prediction logs, "
        f"{Scenario.objects.count():,} scenarios"
    )


def report() -> None:
    import json

    from django.db import connection
    from django.db.models import Count, Sum
    from django.test.utils import CaptureQueriesContext
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
    }
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
            scans = sorted(set(_scans(plan["Plan"])))
            print(
                f"  {plan['Execution Time']:8.2f} ms  {'; '.join(scans)}\n"
                f"              {sql[:110]}"
            )


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
