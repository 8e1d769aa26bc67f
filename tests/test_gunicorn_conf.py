"""The production server's configuration (gunicorn.conf.py) and its hooks."""

import gc
import logging
import os
import runpy
import subprocess
import sys

import pytest
from django.db import connections

import forecasting.registry
from forecasting.models import ModelVersion
from forecasting.registry import active_model, clear_loaded_model
from tests.test_project import PRODUCTION_ENV, ROOT

CONFIG = ROOT / "gunicorn.conf.py"


def _config(monkeypatch, **env: str) -> dict:
    for name in ("BIND", "WEB_CONCURRENCY", "GUNICORN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


@pytest.fixture
def close_all_calls(monkeypatch):
    """Count the hooks' ``connections.close_all()`` calls without closing the
    test's connection (its transaction is the test's isolation)."""
    calls = []
    monkeypatch.setattr(connections, "close_all", lambda: calls.append(1))
    return calls


@pytest.fixture
def model_loads(monkeypatch):
    """Count the artifact loads of ``forecasting.registry``."""
    loads = []
    real = forecasting.registry.model_load

    def counting(version):
        loads.append(version.version)
        return real(version)

    monkeypatch.setattr(forecasting.registry, "model_load", counting)
    return loads


@pytest.mark.smoke
def test_defaults_serve_locally_with_sync_workers_and_the_app_preloaded(monkeypatch):
    config = _config(monkeypatch)

    assert config["bind"] == "127.0.0.1:8000"
    assert config["worker_class"] == "sync"
    assert config["preload_app"] is True
    assert config["timeout"] == 60


@pytest.mark.smoke
def test_workers_follow_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2, 3}, raising=False)

    assert _config(monkeypatch)["workers"] == 3


@pytest.mark.smoke
def test_workers_follow_the_cpu_count_where_affinity_is_unknown(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 5)

    assert _config(monkeypatch)["workers"] == 6


@pytest.mark.smoke
def test_environment_sets_address_workers_and_timeout(monkeypatch):
    config = _config(
        monkeypatch, BIND="0.0.0.0:9000", WEB_CONCURRENCY="7", GUNICORN_TIMEOUT="30"
    )

    assert (config["bind"], config["workers"], config["timeout"]) == (
        "0.0.0.0:9000",
        7,
        30,
    )


def _check_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL"}
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(CONFIG),
            "--check-config",
            "studiosim.wsgi:application",
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.smoke
def test_gunicorn_loads_the_app_with_production_settings():
    result = _check_config(PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr


@pytest.mark.smoke
def test_gunicorn_refuses_to_start_without_a_secret_key():
    result = _check_config(
        {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    )

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_on_starting_imports_the_urlconf_closes_connections_and_freezes_the_heap(
    monkeypatch, close_all_calls
):
    config = _config(monkeypatch)
    imported = []

    class Resolver:
        @property
        def url_patterns(self):
            imported.append("urls")
            return []

    monkeypatch.setattr("django.urls.get_resolver", Resolver)
    gc.unfreeze()
    try:
        config["on_starting"](None)

        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert imported == ["urls"]
    assert close_all_calls == [1]


def test_post_worker_init_loads_the_active_model_before_the_first_request(
    monkeypatch, active_version, model_loads, close_all_calls
):
    config = _config(monkeypatch)
    clear_loaded_model()

    config["post_worker_init"](None)

    assert model_loads == [active_version.version]
    assert close_all_calls == [1]
    served = active_model()  # what the worker's first prediction asks for
    assert served.version.pk == active_version.pk
    assert model_loads == [active_version.version]  # and it loads nothing


def test_post_worker_init_without_an_active_model_warns_and_starts(
    monkeypatch, db, caplog, model_loads, close_all_calls
):
    config = _config(monkeypatch)
    caplog.set_level(logging.WARNING, logger="studiosim.server")

    config["post_worker_init"](None)

    assert model_loads == []
    assert "No active model to load: run manage.py train_model." in caplog.messages
    assert close_all_calls == [1]


def test_post_worker_init_with_corrupt_artifacts_logs_and_starts(
    monkeypatch, active_version, caplog, model_loads, close_all_calls
):
    config = _config(monkeypatch)
    ModelVersion.objects.filter(pk=active_version.pk).update(
        artifact_files={name: "0" * 64 for name in active_version.artifact_files}
    )
    clear_loaded_model()
    caplog.set_level(logging.ERROR, logger="studiosim.server")

    config["post_worker_init"](None)

    [record] = [r for r in caplog.records if r.name == "studiosim.server"]
    assert record.getMessage().startswith("Could not load the active model")
    assert "refusing to load it" in str(record.exc_info[1])
    assert close_all_calls == [1]
