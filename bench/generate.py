"""Benchmark: generate_data for N studios x 60 months on SQLite and PostgreSQL.

Run:  .venv/bin/python bench/generate.py [--studios 1000] [--months 60]
      [--postgres-url postgres://postgres@127.0.0.1:5432/studiosim_bench] [--skip-postgres]

Each engine gets a fresh database (a temporary SQLite file; a PostgreSQL database
dropped and re-created), is migrated, then ``manage.py generate_data`` runs in a
subprocess. Prints wall time and rows per second (studios + metrics + class
types + cohorts) per engine. Target (issue 3): 1,000 x 60 in under 2 minutes.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _setup

ROOT = Path(__file__).resolve().parent.parent
LOADED = re.compile(
    r"Loaded (\d+) studios, (\d+) monthly metrics, (\d+) class types, (\d+) cohorts in ([\d.]+)s"
)


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def run(engine: str, database_url: str, studios: int, months: int) -> None:
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in {"REDIS_URL", "CELERY_BROKER_URL"}
        },
        "DATABASE_URL": database_url,
        "DEBUG": "true",
    }
    _manage(env, "migrate", "--no-input", "-v", "0")
    started = time.perf_counter()
    out = _manage(
        env,
        "generate_data",
        "--studios",
        str(studios),
        "--months",
        str(months),
        "--replace",
        "--no-input",
    )
    wall = time.perf_counter() - started
    match = LOADED.search(out)
    if not match:
        raise SystemExit(f"Unexpected generate_data output:\n{out}")
    n_studios, metrics, classes, cohorts, load_seconds = match.groups()
    rows = int(n_studios) + int(metrics) + int(classes) + int(cohorts)
    print(
        f"{engine:<10} {studios:>6} x {months:<3} {metrics:>8} metric rows  {rows:>8} rows  "
        f"load {float(load_seconds):6.1f}s ({rows / float(load_seconds):>8,.0f} rows/s)  "
        f"wall {wall:6.1f}s (incl. start-up and generation)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studios", type=int, default=1000)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument(
        "--postgres-url", default="postgres://postgres@127.0.0.1:5432/studiosim_bench"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    print(f"generate_data benchmark on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.sqlite3", args.studios, args.months)
    if not args.skip_postgres:
        _setup.fresh_postgres(args.postgres_url)
        run("postgresql", args.postgres_url, args.studios, args.months)


if __name__ == "__main__":
    main()
