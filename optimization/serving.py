"""Inverse prediction and lever impact analysis as the API serves them: cached
and, for inverse prediction, logged, as :mod:`forecasting.serving` describes."""

import dataclasses

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Sum

from forecasting.models import PredictionType
from forecasting.services import validate_levers
from forecasting.serving import (
    Served,
    cached_prediction,
    input_fields,
    lever_paths,
    logged,
)
from optimization.optimize import (
    OptimizeOutput,
    levers_optimize,
    optimize_log_inputs,
)
from optimization.services import (
    CurveSpec,
    InverseConstraints,
    InverseOutput,
    LeverImpactOutput,
    inverse_predict,
    lever_impact_analysis,
)
from studios.models import Studio
from studios.selectors import metric_latest_month
from studiosim.errors import InvalidInput

__all__ = ["inverse_serve", "lever_impact_serve", "levers_optimize_serve"]


def inverse_serve(
    *,
    studio: Studio,
    user: AbstractBaseUser,
    base_month: str | None,
    target_revenue: float,
    target_months: int,
    target_kind: str,
    current_levers: dict[str, float],
    current_member_count: int | None,
    constraints: InverseConstraints,
    target_probability: float | None = None,
) -> Served[InverseOutput]:
    """:func:`optimization.services.inverse_predict`, cached and logged.

    With no ``base_month`` the plan starts from the studio's latest month.
    Bounds are checked against each lever's valid range (a retention bound of
    1.5 would let the plan leave it). ``current_member_count`` is checked and
    recorded in the log only: the model starts from the member count on record
    for the base month.
    """
    if current_member_count is not None and current_member_count < 0:
        raise InvalidInput("must not be negative", field="current_member_count")
    for bounds in ("lower_bounds", "upper_bounds"):
        with input_fields(lever_paths(f"constraints.{bounds}")):
            validate_levers(getattr(constraints, bounds))
    request = {
        "base_month": base_month,
        "target_revenue": target_revenue,
        "target_months": target_months,
        "target_kind": target_kind,
        "current_levers": current_levers,
        "constraints": dataclasses.asdict(constraints),
        "target_probability": target_probability,
    }
    cached = cached_prediction(
        PredictionType.INVERSE,
        InverseOutput,
        studio=studio,
        request=request,
        compute=lambda: inverse_predict(
            studio=studio,
            base_month=base_month or metric_latest_month(studio=studio),
            target_revenue=target_revenue,
            target_months=target_months,
            target_kind=target_kind,
            current_levers=current_levers,
            constraints=constraints,
            target_probability=target_probability,
            log=False,
        ),
    )
    inputs = {
        "target_revenue": target_revenue,
        "target_kind": target_kind,
        "current_levers": current_levers,
        "constraints": request["constraints"],
        "target_probability": target_probability,
    }
    if current_member_count is not None:
        inputs["current_member_count"] = current_member_count
    return logged(
        cached,
        studio=studio,
        user=user,
        prediction_type=PredictionType.INVERSE,
        months=cached.output.target_months,
        inputs=inputs,
        confidence=cached.output.confidence_score,
    )


def lever_impact_serve(
    *,
    studio: Studio,
    analysis_type: str,
    base_month: str | None,
    curve: CurveSpec | None = None,
) -> Served[LeverImpactOutput]:
    """:func:`optimization.services.lever_impact_analysis`, cached; not logged, as
    it forecasts no month whose actual revenue could later be compared.

    The analysis correlates levers with revenue over the studio's peers too, so
    the key also covers their number and data versions, as the baseline's does.
    """
    peers = Studio.objects.filter(studio_type=studio.studio_type).aggregate(
        count=Count("pk"), data_versions=Sum("data_version")
    )
    request = {
        "analysis_type": analysis_type,
        "base_month": base_month,
        "peers": [peers["count"], peers["data_versions"]],
        "curve": dataclasses.asdict(curve) if curve is not None else None,
    }
    cached = cached_prediction(
        "lever_impact",
        LeverImpactOutput,
        studio=studio,
        request=request,
        compute=lambda: lever_impact_analysis(
            studio=studio,
            analysis_type=analysis_type,
            base_month=base_month,
            curve=curve,
        ),
    )
    return Served(cached.output, cached.hit)


def levers_optimize_serve(
    *,
    studio: Studio,
    user: AbstractBaseUser,
    base_month: str | None,
    months: int,
    target_kind: str,
    current_levers: dict[str, float],
    constraints: InverseConstraints,
    cost_basis: str,
    lever_costs: dict[str, float],
) -> Served[OptimizeOutput]:
    """:func:`optimization.optimize.levers_optimize`, cached and logged (as an
    inverse prediction whose inputs say ``objective: maximize``).

    With no ``base_month`` the plan starts from the studio's latest month.
    Bounds are checked against each lever's valid range, as for
    :func:`inverse_serve`.
    """
    for bounds in ("lower_bounds", "upper_bounds"):
        with input_fields(lever_paths(f"constraints.{bounds}")):
            validate_levers(getattr(constraints, bounds))
    request = {
        "base_month": base_month,
        "months": months,
        "target_kind": target_kind,
        "current_levers": current_levers,
        "constraints": dataclasses.asdict(constraints),
        "cost_basis": cost_basis,
        "lever_costs": lever_costs,
    }
    cached = cached_prediction(
        "optimize",
        OptimizeOutput,
        studio=studio,
        request=request,
        compute=lambda: levers_optimize(
            studio=studio,
            base_month=base_month or metric_latest_month(studio=studio),
            months=months,
            target_kind=target_kind,
            current_levers=current_levers,
            constraints=constraints,
            cost_basis=cost_basis,
            lever_costs=lever_costs,
            log=False,
        ),
    )
    return logged(
        cached,
        studio=studio,
        user=user,
        prediction_type=PredictionType.INVERSE,
        months=cached.output.target_months,
        inputs=optimize_log_inputs(
            target_kind=target_kind,
            current_levers=current_levers,
            constraints=constraints,
            cost_basis=cost_basis,
            lever_costs=lever_costs,
        ),
        confidence=cached.output.confidence_score,
    )
