"""Serving predictions: the cache in front of the services, and the log of what
was served.

The services compute (``forecast_predict``, ``inverse_predict``,
``lever_impact_analysis``); the API answers the same request many times (a
frontend redrawing a chart, several users of one studio), so it asks through
:func:`cached_prediction`:

- The key (:func:`studiosim.cache.prediction_cache_key`) names the active model
  version, the studio's ``data_version`` and a hash of the request, so a new
  model or new data means a new key and nothing is ever served stale.
- A cache hit costs one small query (the active version's id, name and change
  marker; the caller has loaded the studio), one cache read (none when this
  process holds a copy, see :mod:`studiosim.cache`) and the log's INSERT.
- A miss computes under that same read (:func:`forecasting.registry.serving`):
  the services make no second read of the registry, and read its whole row
  only when the version changed (:mod:`forecasting.registry`).
- The cached value is the service's output as JSON; a hit is rebuilt into the
  same dataclass the service returns, so hits and misses are served by one code
  path.
- Every forward and inverse answer, hit or miss, writes one PredictionLog row
  (one INSERT, its outputs the cached JSON): the log records what was served,
  and the returned ``prediction_id`` is that row's id, so it exists when the
  caller gets it.
"""

import dataclasses
import datetime as dt
import functools
import json
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import (
    Any,
    Generic,
    Protocol,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from django.contrib.auth.base_user import AbstractBaseUser

from forecasting.ml.frame import LEVERS
from forecasting.models import ModelVersion, PredictionType
from forecasting.registry import serving
from forecasting.selectors import (
    SERVING_VERSION_FIELDS,
    ServingVersion,
    serving_version,
)
from forecasting.services import ForecastOutput, forecast_predict, prediction_log_write
from studios.models import Studio
from studios.selectors import metric_latest_month
from studiosim.cache import cached_json, prediction_cache_key
from studiosim.errors import InvalidInput

__all__ = [
    "Cached",
    "Served",
    "ServiceOutput",
    "cached_prediction",
    "forecast_serve",
    "input_fields",
    "lever_paths",
    "logged",
]


class ServiceOutput(Protocol):
    """What the prediction services return: a dataclass that says which model
    version made it and turns itself into JSON."""

    model_version: str

    def as_dict(self) -> dict[str, Any]: ...


Output = TypeVar("Output", bound=ServiceOutput)


@dataclass(frozen=True)
class Cached(Generic[Output]):
    """A service's answer through the cache.

    ``data`` is ``output.as_dict()`` as stored; ``version`` the model version that
    made the answer; ``hit`` whether it came from the cache.
    """

    output: Output
    data: dict[str, Any]
    version: ServingVersion
    hit: bool


@dataclass(frozen=True)
class Served(Generic[Output]):
    """A service's answer as the API serves it; ``output`` carries the log's id."""

    output: Output
    cache_hit: bool


def forecast_serve(
    *,
    studio: Studio,
    user: AbstractBaseUser,
    base_month: str | None,
    levers: Mapping[str, float],
    months: int,
    coverage: float,
    include_intervals: bool,
) -> Served[ForecastOutput]:
    """:func:`forecasting.services.forecast_predict`, cached and logged.

    With no ``base_month`` the forecast starts from the studio's latest month.
    """
    request = {
        "base_month": base_month,
        "levers": dict(levers),
        "months": months,
        "coverage": coverage,
        "include_intervals": include_intervals,
    }
    cached = cached_prediction(
        PredictionType.FORWARD,
        ForecastOutput,
        studio=studio,
        request=request,
        compute=lambda: forecast_predict(
            studio=studio,
            base_month=base_month or metric_latest_month(studio=studio),
            levers=levers,
            months=months,
            coverage=coverage,
            include_intervals=include_intervals,
            log=False,
        ),
    )
    confidences = [month.confidence_score for month in cached.output.predictions]
    return logged(
        cached,
        studio=studio,
        user=user,
        prediction_type=PredictionType.FORWARD,
        months=cached.output.projection_months,
        inputs={"levers": dict(levers), "coverage": coverage},
        confidence=sum(confidences) / len(confidences),
    )


def logged(
    cached: Cached[Output],
    *,
    studio: Studio,
    user: AbstractBaseUser,
    prediction_type: str,
    months: int,
    inputs: dict[str, Any],
    confidence: float,
) -> Served[Output]:
    """``cached``'s answer as served: its PredictionLog row written (one INSERT,
    the cached JSON as outputs) and its id set on the output."""
    output = prediction_log_write(
        studio=studio,
        prediction_type=prediction_type,
        model_version_id=cached.version.pk,
        base_month=cached.output.base_month,
        months=months,
        inputs=inputs,
        output=cached.output,
        output_json=cached.data,
        confidence=confidence,
        user=user,
    )
    return Served(output, cached.hit)


def cached_prediction(
    kind: str,
    output_type: type[Output],
    *,
    studio: Studio,
    request: dict[str, Any],
    compute: Callable[[], Output],
) -> Cached[Output]:
    """``compute()``'s output for ``request``, through the cache.

    Only answers are cached: a request the service refuses raises every time.
    Raises :class:`studiosim.errors.NoActiveModel` without an active model.
    """
    version = serving_version()
    key = prediction_cache_key(
        kind, studio=studio, model_version=version.version, payload=request
    )
    with serving(version):
        data, hit = cached_json(
            key,
            lambda: _json_compliant(compute().as_dict(), kind),
            keep=lambda data: data["model_version"] == version.version,
        )
    if data["model_version"] != version.version:
        # The services compute under the version this request read (serving()
        # above), so only a service answering for another version gets here:
        # its answer is logged against the version that made it and was not
        # stored under this version's key.
        made_by = ModelVersion.objects.values_list(*SERVING_VERSION_FIELDS).get(
            version=data["model_version"]
        )
        version = ServingVersion(*made_by)
    return Cached(_from_json(output_type, data), data, version, hit)


def _json_compliant(data: dict[str, Any], kind: str) -> dict[str, Any]:
    """``data``, unless it holds NaN or an infinity.

    A model answering those has failed; JSON (and PostgreSQL's jsonb) cannot hold
    them, so the answer is refused here, before it is cached or logged, and the
    caller gets an unexpected error whose log says what failed.
    """
    try:
        json.dumps(data, allow_nan=False)
    except ValueError as error:
        raise ValueError(f"the {kind} model answered a non-finite number") from error
    return data


def _from_json(annotation: Any, value: Any) -> Any:
    """Rebuild a service's output dataclass from its ``as_dict()`` JSON."""
    return _builder(annotation)(value)


def _identity(value: Any) -> Any:
    return value


@functools.cache
def _builder(annotation: Any) -> Callable[[Any], Any]:
    """The function that rebuilds a value of type ``annotation`` from JSON,
    made once per type: a hit rebuilds its answer without reading type hints
    again (dataclasses, lists, dicts, optionals and dates; other values are
    JSON already)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        [inner] = [arg for arg in get_args(annotation) if arg is not type(None)]
        build = _builder(inner)
        return lambda value: None if value is None else build(value)
    if origin is list:
        [inner] = get_args(annotation)
        build = _builder(inner)
        if build is _identity:
            return list
        return lambda value: [build(item) for item in value]
    if origin is dict:
        _, inner = get_args(annotation)
        build = _builder(inner)
        if build is _identity:
            return dict
        return lambda value: {key: build(item) for key, item in value.items()}
    if dataclasses.is_dataclass(annotation):
        hints = get_type_hints(annotation)
        fields = [
            (field.name, _builder(hints[field.name]))
            for field in dataclasses.fields(annotation)
        ]
        return lambda value: annotation(
            **{name: build(value[name]) for name, build in fields}
        )
    if annotation is dt.date:
        return dt.date.fromisoformat
    return _identity


@contextmanager
def input_fields(paths: Mapping[str, str]) -> Iterator[None]:
    """Name a service's refusal after the input field the caller filled in.

    Services name fields as their arguments (``retention_rate``); the API's input
    nests them (``levers.retention_rate``, answered as ``levers.retentionRate``).
    Fields not in ``paths`` are already named as in the input.
    """
    try:
        yield
    except InvalidInput as error:
        if error.field not in paths:
            raise
        raise InvalidInput(error.message, field=paths[error.field]) from None


def lever_paths(prefix: str) -> dict[str, str]:
    """``{lever: f"{prefix}.{lever}"}`` for :func:`input_fields`."""
    return {lever: f"{prefix}.{lever}" for lever in LEVERS}
