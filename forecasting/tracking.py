"""Optional MLflow tracking of every training run (docs/mlflow.md).

When ``MLFLOW_TRACKING_URI`` is set, :func:`training_run_log` records one MLflow run
per trained :class:`~forecasting.models.ModelVersion` (``train_model``, ``retrain``
and the API's retrain jobs all train through ``model_train``): the hyperparameters,
the feature list, the library versions, the evaluation metrics per split, mode,
method and horizon, the activation checks, and the artifact files with their
SHA-256. The run is named after the version, so either side finds the other.

The database registry stays the source of truth: serving reads the version row
and verifies the artifacts against the checksums stored there, never MLflow. So
tracking is a copy for people comparing runs, and a tracking failure (server
down, store unwritable, mlflow not installed) is logged as a warning and never
fails or delays the training beyond the attempt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from forecasting.models import ModelVersion, ModelVersionStatus
from forecasting.registry import artifact_directory

logger = logging.getLogger(__name__)

# Defaults for MLflow's own settings, each overridable from the environment:
# - MLflow 3 reports usage to its developers unless told not to; a server-side
#   product should not phone home on its operators' behalf.
# - Its HTTP client retries a failing tracking server 7 times with exponential
#   backoff and waits 120 s per request: a tracking server that is down held a
#   training run for 4 minutes. Two retries, 1 s backoff factor and 30 s per
#   request bound that to seconds for a refused connection and about 1.5 minutes
#   for a server that accepts and never answers.
for _name, _value in (
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
    ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
    ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
    ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30"),
):
    os.environ.setdefault(_name, _value)

__all__ = ["TAG_PREFIX", "tracking_enabled", "training_run_log"]

#: Prefix of the tags this project sets on its runs.
TAG_PREFIX = "studiosim."
#: Numeric columns of the evaluation table logged as metrics (step = horizon).
_TABLE_KEYS = ("mode", "split", "horizon", "method")
#: MLflow's key alphabet (alphanumerics, _ - . / and spaces); anything else becomes _.
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]")
#: Longest parameter value MLflow 3 stores.
_MAX_PARAM = 6000


def tracking_enabled() -> bool:
    """Whether MLFLOW_TRACKING_URI is set."""
    return bool(settings.MLFLOW_TRACKING_URI)


def training_run_log(
    *, version: ModelVersion, tags: Mapping[str, str] | None = None
) -> str | None:
    """Record ``version``'s training as one MLflow run; return its run id.

    Returns ``None`` without doing anything when tracking is off, and ``None``
    after logging a warning when tracking fails: training must never fail
    because its tracking copy could not be written. A failed version is
    recorded as a FAILED run with its error message.

    ``tags`` adds context (``trigger``: ``train_model`` or ``retrain``, the
    retrain job's id, the strategy), prefixed with ``studiosim.``.
    """
    uri = settings.MLFLOW_TRACKING_URI
    if not uri:
        return None
    started = time.perf_counter()
    try:
        run_id = _log_run(uri, version, dict(tags or {}))
    except ImportError:
        logger.warning(
            "MLFLOW_TRACKING_URI is set but mlflow is not installed "
            '(pip install -e ".[mlflow]"); version %s was not tracked.',
            version.version,
        )
        return None
    except Exception as exc:
        logger.warning(
            "MLflow tracking of version %s failed (%s: %s); the version is "
            "registered as usual.",
            version.version,
            type(exc).__name__,
            exc,
            exc_info=True,
        )
        return None
    logger.info(
        "Tracked version %s as MLflow run %s in %.1fs",
        version.version,
        run_id,
        time.perf_counter() - started,
    )
    return run_id


def _key(*parts: object) -> str:
    return _KEY_UNSAFE.sub("_", "/".join(str(p) for p in parts))[:250]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text[:_MAX_PARAM]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _experiment_id(client: Any, name: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        # Another process created it in the meantime.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def _metrics(version: ModelVersion, timestamp: int) -> list[Any]:
    from mlflow.entities import Metric

    metrics: list[Metric] = []
    table = (version.metrics or {}).get("table") or []
    for row in table:
        horizon = row.get("horizon")
        if not isinstance(horizon, int):
            continue
        for column, value in row.items():
            number = _number(value)
            if column in _TABLE_KEYS or number is None:
                continue
            key = _key(row.get("split"), row.get("mode"), row.get("method"), column)
            metrics.append(Metric(key, number, timestamp, horizon))
    for name, value in ((version.metrics or {}).get("headline") or {}).items():
        number = _number(value)
        if number is not None:
            metrics.append(Metric(_key("headline", name), number, timestamp, 0))
    for name, check in (version.checks or {}).items():
        metrics.append(
            Metric(_key("check", name), float(bool(check.get("passed"))), timestamp, 0)
        )
    if version.trained_at and version.created_at:
        seconds = (version.trained_at - version.created_at).total_seconds()
        metrics.append(Metric("training_seconds", seconds, timestamp, 0))
    return metrics


def _params(version: ModelVersion) -> list[Any]:
    from mlflow.entities import Param

    values: dict[str, Any] = {
        **{_key("model", k): v for k, v in (version.params or {}).items()},
        **{_key("library", k): v for k, v in (version.library_versions or {}).items()},
        "training.studios": version.training_studio_count,
        "training.rows": version.training_row_count,
        "training.months_start": version.months_covered_start,
        "training.months_end": version.months_covered_end,
        "training.data_fingerprint": version.training_data_fingerprint,
        "features.count": len(version.feature_names or []),
    }
    return [
        Param(key, _param_value(str(value) if value is not None else ""))
        for key, value in values.items()
    ]


def _log_run(uri: str, version: ModelVersion, extra_tags: dict[str, str]) -> str:
    from mlflow.entities import RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment_id = _experiment_id(client, settings.MLFLOW_EXPERIMENT_NAME)
    failed = version.status == ModelVersionStatus.FAILED
    checks = version.checks or {}
    tags = {
        "version": version.version,
        "status": version.status,
        "trigger": "model_train",
        **extra_tags,
        "artifact_sha256": version.artifact_sha256,
        "checks_passed": str(
            bool(checks) and all(c.get("passed") for c in checks.values())
        ).lower(),
    }
    if version.activation_forced_reason:
        tags["activation_forced_reason"] = version.activation_forced_reason
    if failed:
        tags["error"] = version.error_message[:5000]
    run = client.create_run(
        experiment_id,
        run_name=version.version,
        tags={f"{TAG_PREFIX}{k}": str(v) for k, v in tags.items()},
        start_time=int(version.created_at.timestamp() * 1000)
        if version.created_at
        else None,
    )
    run_id = run.info.run_id
    try:
        timestamp = int(timezone.now().timestamp() * 1000)
        client.log_batch(
            run_id,
            metrics=_metrics(version, timestamp),
            params=_params(version),
            tags=[RunTag("mlflow.note.content", _note(version))],
        )
        _log_registry_copies(client, run_id, version)
        if version.artifact_path and not failed:
            _log_artifacts(client, run_id, version)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")
    return run_id


def _note(version: ModelVersion) -> str:
    """The run's description in the MLflow UI (markdown)."""
    headline = (version.metrics or {}).get("headline") or {}
    lines = [
        f"studiosim model version **{version.version}** ({version.status}).",
        "The database registry is the source of truth; this run is a copy.",
    ]
    mape = headline.get("test_mape_h1")
    if isinstance(mape, int | float):
        lines.append(f"Plain-forecast month-1 test MAPE: {mape:.2%}.")
    for name, check in (version.checks or {}).items():
        state = "passed" if check.get("passed") else "FAILED"
        lines.append(f"- check {name}: {state} ({check.get('detail', '')})")
    if version.error_message:
        lines.append(f"Error: {version.error_message}")
    return "\n".join(lines)


def _log_registry_copies(client: Any, run_id: str, version: ModelVersion) -> None:
    """The registry row's JSON fields, as files under ``registry/``."""
    copies = {
        "features.json": version.feature_names or [],
        "checks.json": version.checks or {},
        "metrics.json": version.metrics or {},
        "library_versions.json": version.library_versions or {},
        "params.json": version.params or {},
    }
    for name, content in copies.items():
        client.log_dict(run_id, content, f"registry/{name}")


def _log_artifacts(client: Any, run_id: str, version: ModelVersion) -> None:
    """The model's files under ``model/``, and each file's SHA-256 as a tag.

    Tags are ``studiosim.file_sha256/<file>``. The checksums are computed from
    the files as they are logged and compared
    with the registry's: a mismatch is tagged (``studiosim.artifacts_verified``
    false) and warned about rather than raised, since the registry, not this
    copy, decides what is served.
    """
    from mlflow.entities import RunTag

    directory = artifact_directory(version)
    files = sorted(p for p in directory.iterdir() if p.is_file())
    checksums = {path.name: _sha256(path) for path in files}
    verified = checksums == dict(version.artifact_files or {})
    if not verified:
        logger.warning(
            "Artifacts of version %s differ from the registry's checksums; "
            "logged to MLflow as found and tagged unverified.",
            version.version,
        )
    client.log_batch(
        run_id,
        tags=[
            RunTag(_key(f"{TAG_PREFIX}file_sha256", name), digest)
            for name, digest in checksums.items()
        ]
        + [RunTag(f"{TAG_PREFIX}artifacts_verified", str(verified).lower())],
    )
    with tempfile.TemporaryDirectory() as scratch:
        manifest = Path(scratch) / "SHA256SUMS"
        manifest.write_text(
            "".join(f"{digest}  {name}\n" for name, digest in checksums.items())
        )
        client.log_artifact(run_id, str(manifest), "model")
    client.log_artifacts(run_id, str(directory), "model")
