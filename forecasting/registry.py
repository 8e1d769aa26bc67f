"""Where model artifacts live, and the active model loaded once per process.

The active version is read from the database on every call (one indexed query),
so a process notices an activation made elsewhere at its next prediction and
loads the new artifacts then; the artifacts themselves are loaded once per
version and process, after their checksums are verified.
"""

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from forecasting.ml.exceptions import ArtifactIntegrityError
from forecasting.ml.model import ForwardModel
from forecasting.models import ModelVersion
from forecasting.selectors import model_version_active
from studiosim.errors import NoActiveModel

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loaded: "_Loaded | None" = None


@dataclass(frozen=True)
class _Loaded:
    version_id: int
    artifact_sha256: str
    model: ForwardModel


@dataclass(frozen=True)
class ActiveModel:
    """The active version's row (fresh from the database) and its loaded model."""

    version: ModelVersion
    model: ForwardModel


def artifact_root() -> Path:
    return Path(settings.MODEL_ARTIFACT_DIR)


def artifact_directory(version: ModelVersion) -> Path:
    """Artifacts are stored relative to MODEL_ARTIFACT_DIR, so every machine that
    mounts the same directory (web servers, workers) resolves the same files."""
    return artifact_root() / version.artifact_path


def model_load(version: ModelVersion) -> ForwardModel:
    """Load a version's artifacts, refusing any file whose SHA-256 differs.

    Raises ``ArtifactIntegrityError`` (the stored checksums do not match the
    files) with the version named, before any file is parsed.
    """
    try:
        return ForwardModel.load(
            artifact_directory(version), expected_sha256=version.artifact_files
        )
    except ArtifactIntegrityError as exc:
        raise ArtifactIntegrityError(
            f"model version {version.version}: {exc}; refusing to load it"
        ) from exc


def active_model() -> ActiveModel:
    """The active model version and its loaded model; raises NoActiveModel."""
    global _loaded
    version = model_version_active()
    if version is None:
        raise NoActiveModel()
    current = _loaded
    if (
        current is None
        or current.version_id != version.pk
        or current.artifact_sha256 != version.artifact_sha256
    ):
        with _lock:
            current = _loaded
            if (
                current is None
                or current.version_id != version.pk
                or current.artifact_sha256 != version.artifact_sha256
            ):
                logger.info("Loading model version %s", version.version)
                current = _Loaded(
                    version.pk, version.artifact_sha256, model_load(version)
                )
                _loaded = current
    return ActiveModel(version=version, model=current.model)


def clear_loaded_model() -> None:
    """Forget the process's loaded model (tests, and after deleting artifacts)."""
    global _loaded
    with _lock:
        _loaded = None
