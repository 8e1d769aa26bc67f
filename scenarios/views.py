"""The read-only page a scenario's shareable URL opens when no frontend is configured."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from forecasting.ml.frame import LEVERS
from insights.services import (
    LEVER_LABELS,
    InsightType,
    format_lever_value,
    insights_generate,
)
from scenarios.selectors import scenario_get, scenario_projection
from studiosim.errors import DomainError, NotFound


@dataclass(frozen=True)
class _LeverRow:
    label: str
    start: str
    plan: str
    changed: bool


@login_required
@require_GET
def scenario_detail(request: HttpRequest, scenario_id: UUID) -> HttpResponse:
    """Inputs, month-by-month forecast and action plan; 404 for anyone who may not see it."""
    try:
        scenario = scenario_get(user=request.user, scenario_id=scenario_id)
    except NotFound:
        raise Http404("No such scenario.") from None
    projection = scenario_projection(scenario)
    # The page shows the rule-based plan only: a page view should not wait on an
    # LLM, and the plan's figures are the same either way.
    try:
        actions = insights_generate(
            user=request.user,
            scenario_id=scenario.pk,
            insight_types=[InsightType.NEXT_BEST_ACTIONS],
            enhance=False,
        ).next_best_actions
        actions_unavailable = ""
    except DomainError as exc:
        actions, actions_unavailable = [], exc.message
    levers = [
        _LeverRow(
            label=LEVER_LABELS[lever],
            start=format_lever_value(lever, projection.base_levers[lever]),
            plan=format_lever_value(lever, projection.levers[lever]),
            changed=projection.levers[lever] != projection.base_levers[lever],
        )
        for lever in LEVERS
    ]
    return render(
        request,
        "scenarios/scenario_detail.html",
        {
            "scenario": scenario,
            "projection": projection,
            "levers": levers,
            "actions": actions,
            "actions_unavailable": actions_unavailable,
        },
    )
