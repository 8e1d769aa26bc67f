"""Writes of saved scenarios (SPEC §7).

A scenario is always saved from the prediction log the forecasting services
wrote when they served the prediction: its inputs, outputs, type, base month,
horizon and confidence are copied from the log, never taken from the caller, so
what was saved is what the model said.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from uuid import UUID

from django.core.exceptions import ValidationError

from forecasting.models import PredictionLog, PredictionType
from forecasting.services import forecast_predict
from scenarios.models import Scenario, ScenarioType
from scenarios.selectors import scenario_get, tags_normalise
from studios.models import Studio
from studios.selectors import User, restrict_to_user, studio_list, user_can_edit_studio
from studiosim.errors import DomainError, InvalidInput, NotFound
from studiosim.idempotency import (
    create_once,
    idempotency_key_clean,
    request_fingerprint,
)

__all__ = ["NotAllowed", "scenario_delete", "scenario_save"]

MAX_DESCRIPTION_LENGTH = 5000


class NotAllowed(DomainError):
    """The caller may see the studio but not change it (a viewer)."""

    code = "FORBIDDEN"


def scenario_save(
    *,
    user: User,
    studio: Studio,
    prediction_id: UUID | str,
    name: str,
    description: str = "",
    tags: Iterable[str] | None = None,
    idempotency_key: str = "",
) -> Scenario:
    """Save the prediction logged as ``prediction_id`` as a named scenario of ``studio``.

    The log must be one the user may see and must belong to ``studio``. An
    inverse prediction's log holds no member counts or intervals, so those come
    from the forecast of its recommended levers, which must reproduce the
    logged revenue: the model and the studio's data must not have changed since.

    With an ``idempotency_key`` the user saved with before, the scenario that
    save created is returned and nothing is written (InvalidInput if the input
    differs); concurrent saves with one key create one scenario
    (:mod:`studiosim.idempotency`).

    Raises NotFound (studio or prediction the user may not see), NotAllowed (a
    viewer), InvalidInput (a blank or long name, bad tags, a prediction of
    another studio, a stale inverse prediction, or a key reused for another
    save).
    """
    _require_editor(user=user, studio=studio)
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a scenario needs a name", field="name")
    max_name = Scenario._meta.get_field("name").max_length
    if len(name) > max_name:
        raise InvalidInput(f"at most {max_name} characters", field="name")
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"at most {MAX_DESCRIPTION_LENGTH} characters", field="description"
        )
    tags = tags_normalise(tags)
    key = idempotency_key_clean(idempotency_key)
    fingerprint = (
        request_fingerprint(
            {
                "studio": str(studio.pk),
                "prediction": str(prediction_id),
                "name": name,
                "description": description,
                "tags": tags,
            }
        )
        if key
        else ""
    )
    if key:
        scenario, _created = create_once(
            existing=lambda: Scenario.objects.filter(
                created_by=user, idempotency_key=key
            ).first(),
            fingerprint=fingerprint,
            create=lambda: _scenario_create(
                user=user,
                studio=studio,
                prediction_id=prediction_id,
                name=name,
                description=description,
                tags=tags,
                idempotency_key=key,
                fingerprint=fingerprint,
            ),
        )
        return scenario
    return _scenario_create(
        user=user,
        studio=studio,
        prediction_id=prediction_id,
        name=name,
        description=description,
        tags=tags,
    )


def _scenario_create(
    *,
    user: User,
    studio: Studio,
    prediction_id: UUID | str,
    name: str,
    description: str,
    tags: list[str],
    idempotency_key: str = "",
    fingerprint: str = "",
) -> Scenario:
    log = _prediction_log(user=user, studio=studio, prediction_id=prediction_id)
    outputs = log.outputs
    if log.prediction_type == PredictionType.INVERSE:
        outputs = {**outputs, "projection": _inverse_projection(studio, log)}
    scenario = Scenario(
        studio=studio,
        name=name,
        description=description,
        scenario_type=ScenarioType(log.prediction_type),
        base_month=log.base_month,
        projection_months=log.projection_months,
        lever_inputs=log.inputs,
        predicted_outputs=outputs,
        confidence_score=log.confidence,
        tags=tags,
        prediction_log=log,
        created_by=user,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
    )
    # The key's uniqueness is the database's to enforce (concurrent saves).
    scenario.full_clean(validate_constraints=False)
    scenario.save()
    return scenario


def scenario_delete(*, user: User, scenario_id: UUID | str) -> None:
    """Delete a scenario; NotFound when the user may not see it, NotAllowed for a viewer."""
    scenario = scenario_get(user=user, scenario_id=scenario_id)
    _require_editor(user=user, studio=scenario.studio)
    scenario.delete()


def _require_editor(*, user: User, studio: Studio) -> None:
    if user_can_edit_studio(user=user, studio=studio):
        return
    # Only someone who may see the studio learns that it exists.
    if studio_list(user=user).filter(pk=studio.pk).exists():
        raise NotAllowed(
            "only the studio's owners and managers can change its scenarios"
        )
    raise NotFound(f"No studio {studio.pk}.", field="studio_id")


def _prediction_log(
    *, user: User, studio: Studio, prediction_id: UUID | str
) -> PredictionLog:
    logs = restrict_to_user(
        PredictionLog.objects.select_related("model_version"), user=user
    )
    try:
        log = logs.get(pk=prediction_id)
    except (ValueError, ValidationError, PredictionLog.DoesNotExist):
        raise NotFound(
            f"No prediction {prediction_id}.", field="prediction_id"
        ) from None
    if log.studio_id != studio.pk:
        raise InvalidInput(
            "the prediction was made for another studio", field="prediction_id"
        )
    return log


def _inverse_projection(studio: Studio, log: PredictionLog) -> dict:
    """The forecast of an inverse answer's recommended levers, as the log's model saw it."""
    forecast = forecast_predict(
        studio=studio,
        base_month=log.base_month,
        levers=log.outputs["recommended_levers"],
        months=log.projection_months,
        log=False,
    )
    logged = log.outputs["monthly_revenue"]
    same_model = (
        log.model_version is not None
        and forecast.model_version == log.model_version.version
    )
    if not same_model or not all(
        math.isclose(p.revenue, r, rel_tol=1e-4, abs_tol=0.01)
        for p, r in zip(forecast.predictions, logged, strict=True)
    ):
        raise InvalidInput(
            "the model or the studio's data changed since this prediction was "
            "made; run the inverse prediction again and save the new one",
            field="prediction_id",
        )
    return forecast.as_dict()
