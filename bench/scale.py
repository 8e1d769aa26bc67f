"""Benchmark: the chain at scale: generate, load, train, forecast every studio.

Run:  .venv/bin/python bench/scale.py [SIZES ...] [--postgres-url URL]
      [--broker-url redis://127.0.0.1:6379/4 | --private-redis] [--workers 1,2]
      [--chunk-size 500] [--api-seconds 30] [--api-clients 4] [--api-workers 2]
      [--existing MODEL_DIR]

For each size (studios; default 200), on a fresh PostgreSQL database:

1. ``manage.py generate_data --studios N`` (60 months; generation and load);
2. ``manage.py train_model`` (wall time and the process's peak RSS);
3. ``manage.py forecast_all --in-process``: every studio forecast in one process
   (one core), studios/s over the run, and per CPU-second of that process (the
   chunks' own CPU time: on a shared machine the wall rate also counts waiting
   for a core; the database's work is in neither);
4. with ``--broker-url`` (Redis), or ``--private-redis`` (a redis-server started
   on a free port for the run and stopped by its PID): a Celery worker with 1,
   then 2, pool processes (``--workers``) runs ``forecast_all`` as chunks of a
   chord; studios/s from the run's first chunk starting to its finalisation
   (model loading in each worker process included), the speed-up over the first
   pool size, and studios per CPU-second of the worker processes;
5. the API at that size (``--api-seconds``, 0 to leave out): gunicorn with the
   production configuration (bench/api_load.py's server, ``--api-workers``
   workers) and ``--api-clients`` client threads sending, for that many seconds,
   forwardPrediction with random levers (70%) and studioBaseline (30%) for
   random studios; p50/p95 latency per operation and requests/s. A random
   studio's first forecast in a worker builds its context, as on a server
   whose traffic spreads over the whole chain.

``--existing MODEL_DIR`` measures steps 3-5 on the database ``--postgres-url``
as it is (generated and trained before, its model artifacts in MODEL_DIR; one
size, the studios it holds), and keeps it.

Each step runs as its own process; its wall time includes Django's start-up, and
its peak memory comes from ``os.wait4`` (the process's maximum resident set).
Prints one table. The database is dropped at the end unless ``--keep``.
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import _setup
import api_load

ROOT = Path(__file__).resolve().parent.parent
RATE = re.compile(r"(\d+) studios forecast.* in ([\d.]+) s \(([\d,]+) studios/s\)")
CPU_RATE = re.compile(r"CPU: ([\d,]+) studios per CPU-second")


@dataclass
class Row:
    studios: int
    generate_s: float = 0.0
    generate_rss_mb: float = 0.0
    train_s: float = 0.0
    train_rss_mb: float = 0.0
    forecast: dict[str, tuple[int, float, float, float]] = field(default_factory=dict)
    api: list[str] = field(default_factory=list)


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
    per_cpu = CPU_RATE.search(stdout)
    return (
        int(count),
        float(seconds),
        float(rate.replace(",", "")),
        float(per_cpu.group(1).replace(",", "")) if per_cpu else float("nan"),
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


def _private_redis() -> tuple[subprocess.Popen, str]:
    """A redis-server of this run's own on a free port (no persistence)."""
    if shutil.which("redis-server") is None:
        raise SystemExit("--private-redis needs redis-server on the PATH")
    port = api_load._free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            redis.Redis.from_url(url).ping()
            return server, url
        except redis.ConnectionError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("redis-server did not start")


def _django(env: dict[str, str]) -> None:
    """Configure Django in this process, once, on the benchmark's database."""
    import django
    from django.apps import apps

    if not apps.ready:
        os.environ.update(
            {k: env[k] for k in ("DATABASE_URL", "MODEL_ARTIFACT_DIR", "DEBUG")}
        )
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiosim.settings")
        sys.path.insert(0, str(ROOT))
        django.setup()


def _api_under_load(args: argparse.Namespace, env: dict[str, str]) -> list[str]:
    """Step 5: forwardPrediction and studioBaseline for random studios, from a
    few clients for a fixed time; one line per operation."""
    _django(env)
    from django.contrib.auth import get_user_model
    from django.db import connections

    from studios.models import Studio, StudioMembership, StudioRole
    from studios.services import api_token_create

    owner, _ = get_user_model().objects.get_or_create(username="scale-bench-owner")
    StudioMembership.objects.bulk_create(
        (
            StudioMembership(user=owner, studio_id=pk, role=StudioRole.OWNER)
            for pk in Studio.objects.values_list("pk", flat=True)
        ),
        ignore_conflicts=True,
    )
    _, token = api_token_create(user=owner, name="scale-bench")
    studios = [str(pk) for pk in Studio.objects.values_list("pk", flat=True)]
    connections.close_all()  # the server has the database to itself

    rng = random.Random(args.seed)
    plan = []
    # More requests than the clients can send in the time; the rest are dropped.
    for _ in range(int(args.api_seconds * 500)):
        studio = rng.choice(studios)
        if rng.random() < 0.7:
            levers = api_load._forward_levers(rng)
            variables = {"input": {"studioId": studio, "levers": levers}}
            plan.append(("forwardPrediction", api_load.FORWARD, variables))
        else:
            variables = {"studioId": studio}
            plan.append(("studioBaseline", api_load.BASELINE, variables))

    workdir = Path(env["MODEL_ARTIFACT_DIR"]).parent
    port = api_load._free_port()
    log_path = workdir / "gunicorn.log"
    server = api_load.start_server(
        port, args.api_workers, log_path, workdir / "access.log"
    )
    try:
        api_load.wait_until_up(server, port, log_path)
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as client:
            results, wall = client.submit(
                api_load.run_load,
                port,
                token,
                plan,
                args.api_clients,
                args.api_seconds,
            ).result()
    finally:
        api_load.stop_server(server)
    lines = [
        f"{len(results)} requests in {wall:.1f} s ({len(results) / wall:,.1f}/s) "
        f"from {args.api_clients} clients, {args.api_workers} gunicorn workers, "
        f"{sum(not ok for *_, ok in results)} failed"
    ]
    for operation in ("forwardPrediction", "studioBaseline"):
        times = [ms for op, _, ms, ok in results if op == operation and ok]
        if times:
            lines.append(f"{operation:>17}: {_setup.percentiles(times)}")
    return lines


def run_size(args: argparse.Namespace, studios: int, workdir: Path) -> Row:
    row = Row(studios)
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in {"REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}
        },
        "DATABASE_URL": args.postgres_url,
        "MODEL_ARTIFACT_DIR": args.existing or str(workdir / f"models-{studios}"),
        "DEBUG": "true",
        "PYTHONUNBUFFERED": "1",
    }
    if not args.existing:
        _generate_and_train(args, env, row)
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
    if args.api_seconds > 0:
        print(f"{studios} studios: the API under load...", flush=True)
        row.api = _api_under_load(args, env)
    if not args.keep and not args.existing:
        from django.conf import settings
        from django.db import connections

        # Django is set up in this process only when a step above used it (the
        # API's); close its connections before the database is dropped.
        if settings.configured:
            connections.close_all()
        _setup.drop_postgres(args.postgres_url)
    return row


def _generate_and_train(
    args: argparse.Namespace, env: dict[str, str], row: Row
) -> None:
    studios = row.studios
    _setup.fresh_postgres(args.postgres_url)
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
    parser.add_argument(
        "--private-redis",
        action="store_true",
        help="Start a redis-server of this run's own on a free port as the broker "
        "(stopped at the end).",
    )
    parser.add_argument("--api-seconds", type=float, default=30.0)
    parser.add_argument("--api-clients", type=int, default=4)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument(
        "--existing",
        metavar="MODEL_DIR",
        help="Measure the batch and the API on the database --postgres-url as it "
        "is (generated and trained, artifacts in MODEL_DIR); one size.",
    )
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="Keep the database.")
    args = parser.parse_args()

    redis_server = None
    if args.private_redis:
        redis_server, args.broker_url = _private_redis()
    try:
        with tempfile.TemporaryDirectory(prefix="studiosim-scale-") as tmp:
            if args.existing:
                args.sizes = [_existing_size(args)]
            rows = [run_size(args, n, Path(tmp)) for n in args.sizes]
    finally:
        if redis_server is not None:
            redis_server.terminate()
            redis_server.wait(timeout=30)

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
        pools = [(name, v[2]) for name, v in row.forecast.items() if "worker" in name]
        forecasts = []
        for name, (count, seconds, rate, per_cpu) in row.forecast.items():
            speed_up = (
                f", x{rate / pools[0][1]:.2f} of {pools[0][0]}"
                if pools and "worker" in name and name != pools[0][0]
                else ""
            )
            forecasts.append(
                f"{name}: {rate:,.0f} ({count} in {seconds:.1f} s; "
                f"{per_cpu:,.0f} per CPU-second{speed_up})"
            )
        print(
            f"{row.studios:>8,} {row.generate_s:>8.1f}s {row.train_s:>7.1f}s "
            f"{row.train_rss_mb / 1024:>9.2f}GB  {'  '.join(forecasts)}"
        )
        for line in row.api:
            print(f"{'':>8} API: {line}")
    print(f"At the end: {api_load._load_average()}")


def _existing_size(args: argparse.Namespace) -> int:
    import psycopg

    with psycopg.connect(args.postgres_url) as conn:
        return conn.execute("SELECT count(*) FROM studios_studio").fetchone()[0]


if __name__ == "__main__":
    main()
