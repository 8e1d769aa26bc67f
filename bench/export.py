"""Benchmark: peak memory and speed of `manage.py export` (docs/export.md).

Run:  .venv/bin/python bench/export.py [--studios 1000] [--database-url URL]

Set-up: a fresh database (a temporary SQLite file, or the PostgreSQL database
``--database-url`` names, dropped and re-created), ``generate_data --studios N``
(60 months each), and per studio ``--logs`` forward prediction logs (3 months of
predicted revenue, intervals and members, as the API writes them) and ``--scenarios``
saved scenarios. Then every dataset is exported in both formats by ``manage.py
export`` in a fresh process, and the script prints rows, file size, wall time and
the process's peak resident memory during the export (sampled every 5 ms from
/proc/self/statm) next to its resident memory just before it started (Django,
numpy, pandas and pyarrow imported): the difference is what the export itself
held. For contrast, ``--naive`` also loads
each table whole (``list(queryset.values())`` into a pandas DataFrame, then
``to_parquet``), the way an export that is not streamed would.

Timings come from a shared 2-core machine: re-run before trusting one.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _setup

ROOT = _setup.ROOT
DATASETS = ("studios", "monthly_metrics", "prediction_logs", "forecasts", "scenarios")

_CHILD = """
import json, os, sys, threading, time
sys.path.insert(0, {root!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiosim.settings")
import django
django.setup()
import numpy, pandas, pyarrow, pyarrow.parquet  # what any export process loads
from django.core.management import call_command

PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE

peak = [0]
done = threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.005)

before = rss()
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
started = time.perf_counter()
mode, dataset, fmt, output, group = sys.argv[1:6]
rows = None
if mode == "stream":
    import io
    call_command(
        "export", dataset, format=fmt, output=output, row_group_rows=int(group),
        stderr=io.StringIO(),
    )
else:
    from exports.datasets import DATASETS
    records = list(DATASETS[dataset].rows(user=None, studio_ids=None))
    rows = len(records)
    frame = pandas.DataFrame.from_records(records)
    if fmt == "csv":
        frame.to_csv(output, index=False)
    else:
        for column in frame.columns:
            if frame[column].map(lambda v: isinstance(v, (dict, list))).any():
                frame[column] = frame[column].map(json.dumps)
        frame.to_parquet(output, index=False)
seconds = time.perf_counter() - started
done.set()
sampler.join()
peak[0] = max(peak[0], rss())
print(json.dumps({{"before": before, "peak": peak[0], "seconds": seconds, "rows": rows}}))
"""


def _populate(logs_per_studio: int, scenarios_per_studio: int) -> dict[str, int]:
    """Prediction logs and scenarios, bulk-inserted with realistic JSON."""
    import datetime as dt
    import random

    from forecasting.models import PredictionLog, PredictionType
    from scenarios.models import Scenario
    from studios.models import MonthlyMetric, Studio

    rng = random.Random(0)
    months = sorted(set(MonthlyMetric.objects.values_list("month_year", flat=True)))
    logs, scenarios = [], []
    for studio in Studio.objects.only("pk").iterator():
        for _ in range(logs_per_studio):
            base = rng.choice(months[24:-3])
            revenue = rng.uniform(20_000, 90_000)
            predictions = [
                {
                    "month": h,
                    "month_year": dt.date(
                        base.year + (base.month - 1 + h) // 12,
                        (base.month - 1 + h) % 12 + 1,
                        1,
                    ).isoformat(),
                    "revenue": round(revenue * (1 + 0.01 * h), 2),
                    "member_count": 300.0 + h,
                    "retention_rate": 0.9,
                    "lower": round(revenue * 0.9, 2),
                    "upper": round(revenue * 1.1, 2),
                    "confidence_score": 0.9 - 0.01 * h,
                }
                for h in (1, 2, 3)
            ]
            outputs = {
                "studio_id": str(studio.pk),
                "base_month": base.isoformat(),
                "projection_months": 3,
                "coverage": 0.8,
                "levers": {"avg_ticket_price": 150.0, "retention_rate": 0.9},
                "predictions": predictions,
                "total_projected_revenue": sum(p["revenue"] for p in predictions),
                "model_version": "fm-bench",
            }
            logs.append(
                PredictionLog(
                    studio_id=studio.pk,
                    prediction_type=PredictionType.FORWARD,
                    base_month=base,
                    projection_months=3,
                    inputs={"levers": {"avg_ticket_price": 150.0}, "coverage": 0.8},
                    outputs=outputs,
                    confidence=0.88,
                    actual_outcome={predictions[0]["month_year"]: revenue},
                    error_pct=0.01,
                )
            )
        for k in range(scenarios_per_studio):
            scenarios.append(
                Scenario(
                    studio_id=studio.pk,
                    name=f"Scenario {k}",
                    scenario_type="forward",
                    base_month=months[-1],
                    projection_months=3,
                    lever_inputs={"levers": {"avg_ticket_price": 160.0}},
                    predicted_outputs=logs[-1].outputs if logs else {},
                    confidence_score=0.85,
                    tags=["bench", f"t{k}"],
                )
            )
    PredictionLog.objects.bulk_create(logs, batch_size=2000)
    Scenario.objects.bulk_create(scenarios, batch_size=2000)
    return {"prediction_logs": len(logs), "scenarios": len(scenarios)}


def _run(mode: str, dataset: str, fmt: str, output: Path, group: int) -> dict:
    script = _CHILD.format(root=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", script, mode, dataset, fmt, str(output), str(group)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{mode} export of {dataset} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studios", type=int, default=1000)
    parser.add_argument(
        "--logs", type=int, default=20, help="prediction logs per studio"
    )
    parser.add_argument("--scenarios", type=int, default=2, help="scenarios per studio")
    parser.add_argument("--database-url", help="PostgreSQL database to (re)create")
    parser.add_argument(
        "--naive", action="store_true", help="also load each table whole, for contrast"
    )
    parser.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help="comma-separated datasets to export (default all)",
    )
    parser.add_argument(
        "--row-group-rows",
        type=int,
        default=50_000,
        help="Parquet row-group size of the streamed exports (default 50,000)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="studiosim-bench-"))
    if args.database_url:
        _setup.fresh_postgres(args.database_url)
    os.environ["DATABASE_URL"] = (
        args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    )
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiosim.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from studios.models import MonthlyMetric, Studio

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    with open(os.devnull, "w") as devnull:
        call_command("generate_data", studios=args.studios, seed=0, stdout=devnull)
    counts = _populate(args.logs, args.scenarios)
    print(
        f"Set-up ({time.perf_counter() - started:.0f}s): {Studio.objects.count():,} "
        f"studios, {MonthlyMetric.objects.count():,} monthly metrics, "
        f"{counts['prediction_logs']:,} prediction logs, {counts['scenarios']:,} "
        f"scenarios; database {'PostgreSQL' if args.database_url else 'SQLite'}"
    )
    from django.db import connections

    connections.close_all()

    modes = ["stream", "naive"] if args.naive else ["stream"]
    print(
        f"{'dataset':<16}{'format':<9}{'mode':<8}{'rows':>10}{'MB':>8}{'seconds':>9}"
        f"{'RSS before':>12}{'peak':>8}{'export held':>13}"
    )
    try:
        for dataset in args.datasets.split(","):
            for fmt in ("csv", "parquet"):
                for mode in modes:
                    output = workdir / f"{dataset}.{mode}.{fmt}"
                    figures = _run(mode, dataset, fmt, output, args.row_group_rows)
                    size = output.stat().st_size / 1e6
                    rows = figures["rows"]
                    if rows is None:
                        rows = _count(output, fmt)
                    print(
                        f"{dataset:<16}{fmt:<9}{mode:<8}{rows:>10,}{size:>8.1f}"
                        f"{figures['seconds']:>9.1f}"
                        f"{figures['before'] / 1e6:>10.0f}MB"
                        f"{figures['peak'] / 1e6:>6.0f}MB"
                        f"{(figures['peak'] - figures['before']) / 1e6:>11.0f}MB"
                    )
                    output.unlink()
    finally:
        if args.database_url:
            _setup.drop_postgres(args.database_url)
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


def _count(path: Path, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


if __name__ == "__main__":
    main()
