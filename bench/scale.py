"""Benchmark: the chain at scale: generate, load, train, forecast every studio.

Run:  .venv/bin/python bench/scale.py [SIZES ...] [--postgres-url URL]
      [--broker-url redis://127.0.0.1:6379/4] [--workers 1,2] [--chunk-size 500]

For each size (studios; default 200), on a fresh PostgreSQL database:

1. ``manage.py generate_data --studios N`` (60 months; generation and load);
2. ``manage.py train_model`` (wall time and the process's peak RSS);
3. ``manage.py forecast_all --in-process``: every studio forecast in one process
   (one core), studios/s over the run;
4. with ``--broker-url`` (Redis): a Celery worker with 1, then 2, pool processes
   (``--workers``) runs ``forecast_all`` as chunks of a chord; studios/s from the
   run's first chunk starting to its finalisation (model loading in each worker
   process included).

Each step runs as its own process; its wall time includes Django's start-up, and
its peak memory comes from ``os.wait4`` (the process's maximum resident set).
Prints one table. The database is dropped at the end unless ``--keep``.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import _setup

ROOT = Path(__file__).resolve().parent.parent
RATE = re.compile(r"(\d+) studios forecast.* in ([\d.]+) s \(([\d,]+) studios/s\)")
CHUNK_RATE = re.compile(r"Chunks: ([\d,]+) studios per second of chunk time")


@dataclass
class Row:
    studios: int
    generate_s: float = 0.0
    generate_rss_mb: float = 0.0
    train_s: float = 0.0
    train_rss_mb: float = 0.0
    forecast: dict[str, tuple[int, float, float, float]] = field(default_factory=dict)


def _measured(env: dict[str, str], *args: str) -> tuple[str, float, float]:
    """Run ``manage.py ARGS``; (stdout, wall seconds, peak RSS in MB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{stdout}\n{stderr}")
    return stdout, wall, usage.ru_maxrss / 1024  # kB on Linux


def _rate(stdout: str) -> tuple[int, float, float, float]:
    match = RATE.search(stdout)
    if not match:
        raise SystemExit(f"Unexpected forecast_all output:\n{stdout}")
    count, seconds, rate = match.groups()
    per_process = CHUNK_RATE.search(stdout)
    return (
        int(count),
        float(seconds),
        float(rate.replace(",", "")),
        float(per_process.group(1).replace(",", "")) if per_process else float("nan"),
    )


def _flush(broker_url: str) -> None:
    import redis

    redis.Redis.from_url(broker_url).flushdb()


def _with_workers(
    env: dict[str, str], processes: int, chunk_size: int, months: int
) -> tuple[int, float, float, float]:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "studiosim",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(processes),
            "--prefetch-multiplier",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
            "-n",
            f"scale-bench-{processes}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(8)  # the worker's start-up; not part of the run's time
        stdout, _, _ = _measured(
            env,
            "forecast_all",
            "--wait",
            "--chunk-size",
            str(chunk_size),
            "--months",
            str(months),
        )
        return _rate(stdout)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def run_size(args: argparse.Namespace, studios: int, workdir: Path) -> Row:
    row = Row(studios)
    _setup.fresh_postgres(args.postgres_url)
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in {"REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}
        },
        "DATABASE_URL": args.postgres_url,
        "MODEL_ARTIFACT_DIR": str(workdir / f"models-{studios}"),
        "DEBUG": "true",
        "PYTHONUNBUFFERED": "1",
    }
    _measured(env, "migrate", "--no-input", "-v", "0")
    print(f"{studios} studios: generating...", flush=True)
    _, row.generate_s, row.generate_rss_mb = _measured(
        env,
        "generate_data",
        "--studios",
        str(studios),
        "--seed",
        str(args.seed),
        "--replace",
        "--no-input",
    )
    print(f"{studios} studios: training...", flush=True)
    _, row.train_s, row.train_rss_mb = _measured(
        env, "train_model", "--force-reason", "benchmark", "--seed", str(args.seed)
    )
    print(f"{studios} studios: forecasting in-process...", flush=True)
    stdout, _, _ = _measured(
        env,
        "forecast_all",
        "--in-process",
        "--chunk-size",
        str(args.chunk_size),
        "--months",
        str(args.months),
    )
    row.forecast["in-process"] = _rate(stdout)
    if args.broker_url:
        worker_env = {**env, "CELERY_BROKER_URL": args.broker_url}
        for processes in args.workers:
            print(
                f"{studios} studios: forecasting with {processes} worker "
                "process(es)...",
                flush=True,
            )
            _flush(args.broker_url)
            row.forecast[f"{processes} worker proc."] = _with_workers(
                worker_env, processes, args.chunk_size, args.months
            )
        _flush(args.broker_url)
    if not args.keep:
        _setup.drop_postgres(args.postgres_url)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[200])
    parser.add_argument(
        "--postgres-url",
        default="postgres://postgres@127.0.0.1:5432/studiosim_scale",
        help="A database this benchmark may drop and re-create.",
    )
    parser.add_argument(
        "--broker-url",
        help="Redis for Celery (a database this benchmark may flush); without it "
        "only the in-process run is measured.",
    )
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="Worker pool sizes to measure (default 1,2).",
    )
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="Keep the database.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="studiosim-scale-") as tmp:
        rows = [run_size(args, n, Path(tmp)) for n in args.sizes]

    cores = len(os.sched_getaffinity(0))
    print(
        f"\nbench/scale.py on PostgreSQL, {cores} cores, chunk size "
        f"{args.chunk_size}, {args.months}-month forecasts"
    )
    print(
        f"{'studios':>8} {'generate':>9} {'train':>8} {'train peak':>11}  "
        "batch forecast (studios/s)"
    )
    for row in rows:
        forecasts = "  ".join(
            f"{name}: {rate:,.0f} ({count} in {seconds:.1f} s; "
            f"{per_process:,.0f}/s per process)"
            for name, (count, seconds, rate, per_process) in row.forecast.items()
        )
        print(
            f"{row.studios:>8,} {row.generate_s:>8.1f}s {row.train_s:>7.1f}s "
            f"{row.train_rss_mb / 1024:>9.2f}GB  {forecasts}"
        )


if __name__ == "__main__":
    main()
