"""Where model artifacts live, and the active model loaded once per process.

Every served prediction reads the active version's id, name and change marker
(:func:`forecasting.selectors.serving_version`: four narrow columns, one indexed
query), so a process notices an activation made elsewhere at its next
prediction. The whole registry row (tens of kilobytes of evaluation JSON) is
read only when that marker differs from the process's copy: a new version, new
artifacts, or a row saved since (re-evaluated metrics, for example). The
artifacts are loaded once per version and process, after their checksums are
verified.

A request that has read the marker already (the prediction cache does, to key
its answer) pins it with :func:`serving`, so the services it calls make no
second read.
"""

import contextvars
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from forecasting.ml.exceptions import ArtifactIntegrityError
from forecasting.ml.model import ForwardModel
from forecasting.models import ModelVersion
from forecasting.selectors import ServingVersion, serving_version
from studiosim.errors import NoActiveModel

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loaded: "_Loaded | None" = None
_pinned: contextvars.ContextVar[ServingVersion | None] = contextvars.ContextVar(
    "studiosim_serving_version", default=None
)


@dataclass(frozen=True)
class _Loaded:
    marker: ServingVersion
    row: ModelVersion
    model: ForwardModel


@dataclass(frozen=True)
class ActiveModel:
    """The active version's row and its loaded model.

    The row is the process's copy, read again whenever the version's change
    marker moves; treat it as read-only (it is shared by every thread).
    """

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


@contextmanager
def serving(version: ServingVersion) -> Iterator[None]:
    """Within the block, :func:`active_model` serves ``version`` without reading
    the registry again (the caller has just read it with ``serving_version``)."""
    token = _pinned.set(version)
    try:
        yield
    finally:
        _pinned.reset(token)


def active_model() -> ActiveModel:
    """The active model version and its loaded model; raises NoActiveModel.

    One narrow read of the registry (none inside :func:`serving`); the whole row
    and the artifacts only when the version's marker changed.
    """
    global _loaded
    marker = _pinned.get() or serving_version()
    current = _loaded
    if current is None or current.marker != marker:
        with _lock:
            current = _loaded
            if current is None or current.marker != marker:
                current = _load(marker, current)
                _loaded = current
    return ActiveModel(version=current.row, model=current.model)


def _load(marker: ServingVersion, current: "_Loaded | None") -> _Loaded:
    """The process's copy for ``marker``: the whole row read again, the artifacts
    reused when they are the same files."""
    try:
        row = ModelVersion.objects.get(pk=marker.pk)
    except ModelVersion.DoesNotExist:
        # Deleted between the two reads: as if nothing were active.
        raise NoActiveModel() from None
    if (
        current is not None
        and current.row.pk == row.pk
        and current.row.artifact_sha256 == row.artifact_sha256
    ):
        model = current.model
    else:
        logger.info("Loading model version %s", row.version)
        model = model_load(row)
    return _Loaded(marker, row, model)


def clear_loaded_model() -> None:
    """Forget the process's loaded model (tests, and after deleting artifacts)."""
    global _loaded
    with _lock:
        _loaded = None
