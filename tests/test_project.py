"""Project wiring: settings from the environment, migrations, TimescaleDB no-op."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from studios.timescale import make_metrics_hypertable, timescaledb_available

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k3#" + "x9Qz!vT2@pL7&mR4*wB8^nC5(dF1)gH6_jK0=sA3%eY" * 2,
    "ALLOWED_HOSTS": "studiosim.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://studiosim.example.com",
}


def _settings_in_subprocess(env: dict[str, str], expr: str) -> str:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
            "'studiosim.settings'); django.setup(); from django.conf import settings; "
            f"print(({expr}))",
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.smoke
def test_embedded_default_is_sqlite_locmem_and_eager_jobs():
    out = _settings_in_subprocess(
        {"DEBUG": "true"},
        "settings.DATABASES['default']['ENGINE'], settings.CACHES['default']['BACKEND'], "
        "settings.CELERY_TASK_ALWAYS_EAGER",
    )

    assert out == (
        "('django.db.backends.sqlite3', "
        "'django.core.cache.backends.locmem.LocMemCache', True)"
    )


def test_database_and_redis_urls_switch_engines():
    out = _settings_in_subprocess(
        {
            "DEBUG": "true",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
            "REDIS_URL": "redis://127.0.0.1:6379/3",
        },
        "settings.DATABASES['default']['ENGINE'], settings.CACHES['default']['BACKEND'], "
        "settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER",
    )

    assert out == (
        "('studiosim.postgresql', 'django_redis.cache.RedisCache', "
        "'redis://127.0.0.1:6379/3', False)"
    )


def test_refuses_to_start_without_secret_key_when_debug_is_off():
    clean = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, "DEBUG": "false"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_check_deploy_passes_with_production_values():
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, **PRODUCTION_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
@pytest.mark.smoke
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
@pytest.mark.smoke
def test_timescale_migration_is_a_no_op_without_the_extension():
    """Neither SQLite nor this PostgreSQL has TimescaleDB: nothing changes."""
    with connection.cursor() as cursor:
        columns_before = [
            c.name
            for c in connection.introspection.get_table_description(
                cursor, "studios_monthlymetric"
            )
        ]

    assert timescaledb_available(connection) is False
    assert make_metrics_hypertable(connection) is False

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(
            cursor, "studios_monthlymetric"
        )
        columns_after = [
            c.name
            for c in connection.introspection.get_table_description(
                cursor, "studios_monthlymetric"
            )
        ]
    primary = [c["columns"] for c in constraints.values() if c["primary_key"]]
    assert primary == [["id"]]
    assert columns_after == columns_before


@pytest.mark.django_db
def test_scenario_tags_have_a_gin_index_on_postgresql_only():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(
            cursor, "scenarios_scenario"
        )

    has_gin = "scenario_tags_gin_idx" in constraints
    assert has_gin is (connection.vendor == "postgresql")


@pytest.mark.django_db
def test_sign_in_page_serves_users_who_are_not_staff(client):
    """The share page's login redirect lands on a page that renders."""
    response = client.get("/accounts/login/?next=/scenarios/x/")

    assert response.status_code == 200
    assert 'name="next" value="/scenarios/x/"' in response.content.decode()


@pytest.mark.smoke
def test_env_example_documents_every_variable_the_configuration_reads():
    read = set()
    for path in (ROOT / "studiosim" / "settings.py", ROOT / "gunicorn.conf.py"):
        text = path.read_text()
        read |= set(re.findall(r"\benv\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", text))
        read |= set(re.findall(r"os\.environ\.get\(\s*\"([A-Z][A-Z0-9_]*)\"", text))
    documented = set(
        re.findall(
            r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M
        )
    )

    assert {"SECRET_KEY", "DATABASE_URL", "WEB_CONCURRENCY"} <= read  # the scan works
    assert read - documented == set()
