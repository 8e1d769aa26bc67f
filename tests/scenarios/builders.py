"""Prediction logs and scenarios with hand-chosen figures, shaped like the services'."""

import datetime as dt
import math
from statistics import NormalDist

from forecasting.ml.frame import LEVERS
from forecasting.models import PredictionType
from scenarios.models import ScenarioType
from tests.factories import PredictionLogFactory, ScenarioFactory

LEVER_VALUES = {
    "retention_rate": 0.92,
    "avg_ticket_price": 150.0,
    "class_attendance_rate": 0.7,
    "new_members_monthly": 25.0,
    "staff_utilization_rate": 0.8,
    "upsell_rate": 0.2,
    "total_classes_held": 200.0,
}
assert set(LEVER_VALUES) == set(LEVERS)


def interval(
    revenue: float, sigma: float, coverage: float = 0.8
) -> tuple[float, float]:
    """The interval whose log half-width is ``z`` x ``sigma``."""
    z = NormalDist().inv_cdf(0.5 + coverage / 2)
    return revenue * math.exp(-z * sigma), revenue * math.exp(z * sigma)


def forward_outputs(
    *,
    revenues: list[float],
    members: list[float] | None = None,
    sigma: float | None = 0.05,
    base_month: dt.date = dt.date(2024, 1, 1),
    coverage: float = 0.8,
    levers: dict[str, float] | None = None,
    base_levers: dict[str, float] | None = None,
) -> dict:
    """What ``ForecastOutput.as_dict()`` gives for these monthly figures."""
    base_levers = {**LEVER_VALUES, **(base_levers or {})}
    members = members or [250.0] * len(revenues)
    predictions = []
    for h, (revenue, count) in enumerate(zip(revenues, members, strict=True)):
        index = base_month.year * 12 + base_month.month + h
        lower, upper = (
            (None, None) if sigma is None else interval(revenue, sigma, coverage)
        )
        predictions.append(
            {
                "month": h + 1,
                "month_year": dt.date(index // 12, index % 12 + 1, 1).isoformat(),
                "revenue": revenue,
                "member_count": count,
                "retention_rate": base_levers["retention_rate"],
                "lower": lower,
                "upper": upper,
                "confidence_score": 0.8,
            }
        )
    return {
        "studio_id": "",
        "base_month": base_month.isoformat(),
        "projection_months": len(revenues),
        "coverage": coverage,
        "levers": {**base_levers, **(levers or {})},
        "base_levers": base_levers,
        "predictions": predictions,
        "total_projected_revenue": round(sum(revenues), 2),
        "growth_rate": 0.0,
        "model_version": "fm-hand",
        "prediction_accuracy": {},
        "prediction_id": None,
    }


def forward_log(studio, *, user=None, revenues=(46000.0, 47000.0, 48000.0), **kwargs):
    outputs = forward_outputs(revenues=list(revenues), **kwargs)
    return PredictionLogFactory(
        studio=studio,
        prediction_type=PredictionType.FORWARD,
        base_month=dt.date.fromisoformat(outputs["base_month"]),
        projection_months=len(revenues),
        inputs={"levers": kwargs.get("levers", {}), "coverage": outputs["coverage"]},
        outputs=outputs,
        confidence=0.8,
        created_by=user,
    )


def forward_scenario(studio, *, revenues, tags=(), name=None, **kwargs):
    outputs = forward_outputs(revenues=list(revenues), **kwargs)
    extra = {"name": name} if name else {}
    return ScenarioFactory(
        studio=studio,
        scenario_type=ScenarioType.FORWARD,
        base_month=dt.date.fromisoformat(outputs["base_month"]),
        projection_months=len(revenues),
        lever_inputs={
            "levers": kwargs.get("levers", {}),
            "coverage": outputs["coverage"],
        },
        predicted_outputs=outputs,
        tags=list(tags),
        **extra,
    )
