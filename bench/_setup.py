"""Shared set-up for the benchmarks that need Django, data and a trained model.

Each benchmark gets a fresh database (a temporary SQLite file unless
``--database-url`` names another), generated studios and a trained, active
model, so one command runs it on a clean machine.
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


def add_arguments(parser: argparse.ArgumentParser, *, studios: int) -> None:
    parser.add_argument("--studios", type=int, default=studios)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database-url",
        help="Use this (empty) database instead of a temporary SQLite file.",
    )


_WORKDIR_PREFIX = "studiosim-bench-"


def setup(args: argparse.Namespace) -> None:
    """Configure Django on a fresh database with data and an active model."""
    workdir = Path(tempfile.mkdtemp(prefix=_WORKDIR_PREFIX))
    os.environ["DATABASE_URL"] = (
        args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    )
    os.environ["MODEL_ARTIFACT_DIR"] = str(workdir / "models")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiosim.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from studios.models import Studio

    call_command("migrate", verbosity=0)
    if Studio.objects.exists():
        raise SystemExit("The benchmark database must be empty.")
    print(f"Set-up: {args.studios} studios x 60 months, seed {args.seed}; training...")
    with open(os.devnull, "w") as devnull:
        call_command(
            "generate_data", studios=args.studios, seed=args.seed, stdout=devnull
        )
        call_command(
            "train_model", force_reason="benchmark", seed=args.seed, stdout=devnull
        )


def teardown(args: argparse.Namespace) -> None:
    """Undo :func:`setup` for a benchmark that made its ``--database-url`` with
    :func:`fresh_postgres`: drop that database, remove the temporary directory
    (database file, model artifacts, logs)."""
    if args.database_url:
        from django.db import connections

        connections.close_all()
        drop_postgres(args.database_url)
    artifacts = os.environ.get("MODEL_ARTIFACT_DIR")
    if artifacts and Path(artifacts).parent.name.startswith(_WORKDIR_PREFIX):
        shutil.rmtree(Path(artifacts).parent, ignore_errors=True)


def workdir() -> Path:
    """The temporary directory :func:`setup` made."""
    return Path(os.environ["MODEL_ARTIFACT_DIR"]).parent


def _admin_connection(url: str):
    import psycopg

    return psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True)


def fresh_postgres(url: str) -> None:
    """Drop (disconnecting its sessions) and create the database ``url`` names."""
    name = urlparse(url).path.lstrip("/")
    with _admin_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with _admin_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentiles(samples_ms: list[float]) -> str:
    import numpy as np

    values = np.asarray(samples_ms)
    return (
        f"p50 {np.percentile(values, 50):6.1f} ms  p95 {np.percentile(values, 95):6.1f} ms  "
        f"p99 {np.percentile(values, 99):6.1f} ms  (n={len(values)})"
    )
