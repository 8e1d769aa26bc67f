"""Errors raised by the forecasting maths.

Every error subclasses :class:`ForecastingError`; the ones caused by bad input also
subclass :class:`ValueError` so callers that only know the standard library can
still catch them.
"""

from __future__ import annotations

__all__ = [
    "ArtifactIntegrityError",
    "ForecastingError",
    "FrameError",
    "InsufficientHistoryError",
    "LeverError",
    "NoUsableStudioError",
    "NotFittedError",
]


class ForecastingError(Exception):
    """Base class of every error raised by :mod:`forecasting.ml`."""


class FrameError(ForecastingError, ValueError):
    """The long-format history frame breaks the contract (columns, types, gaps)."""


class NoUsableStudioError(FrameError):
    """No studio of a training frame can be learned from.

    ``excluded`` maps each studio's ``unique_id`` to every reason it was left out,
    for a caller that knows the studios by name to say which is which.
    """

    def __init__(self, message: str, excluded: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.excluded = excluded


class InsufficientHistoryError(ForecastingError, ValueError):
    """The studio has no (or too little) history up to the requested base month."""


class LeverError(ForecastingError, ValueError):
    """Lever values have the wrong shape or an impossible value."""


class NotFittedError(ForecastingError, RuntimeError):
    """A method that needs a fitted model was called before ``fit`` or ``load``."""


class ArtifactIntegrityError(ForecastingError):
    """A saved model file is missing or its SHA-256 differs from the expected one."""
