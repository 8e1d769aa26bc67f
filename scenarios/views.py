"""The read-only page a scenario's shareable URL opens when no frontend is configured."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from forecasting.ml.frame import LEVER_LABELS, LEVERS
from insights.services import InsightType, insights_generate
from optimization.actions import format_lever_value
from scenarios.selectors import (
    scenario_action_plan,
    scenario_get,
    scenario_projection,
)
from studios.selectors import metric_list, user_can_edit_studio
from studiosim.errors import DomainError, NotFound
from web import presenters


@dataclass(frozen=True)
class _LeverRow:
    label: str
    start: str
    plan: str
    changed: bool


@login_required
@require_GET
def scenario_detail(request: HttpRequest, scenario_id: UUID) -> HttpResponse:
    """Inputs, the forecast drawn and month by month, and the action plan; 404
    for anyone who may not see the scenario.

    An inverse scenario shows the action plan its prediction returned (saved with
    it); a forward one, which has none, shows the next best actions for its plan
    (rules only: a page view should not wait on an LLM, and the figures are the
    same either way).
    """
    try:
        scenario = scenario_get(user=request.user, scenario_id=scenario_id)
    except NotFound:
        raise Http404("No such scenario.") from None
    projection = scenario_projection(scenario)
    saved_plan = scenario_action_plan(scenario)
    actions, actions_unavailable = [], ""
    if saved_plan is None:
        try:
            actions = insights_generate(
                user=request.user,
                scenario_id=scenario.pk,
                insight_types=[InsightType.NEXT_BEST_ACTIONS],
                enhance=False,
            ).next_best_actions
        except DomainError as exc:
            actions_unavailable = exc.message
    levers = [
        _LeverRow(
            label=LEVER_LABELS[lever],
            start=format_lever_value(
                lever, projection.base_levers[lever], scenario.studio.currency
            ),
            plan=format_lever_value(
                lever, projection.levers[lever], scenario.studio.currency
            ),
            changed=projection.levers[lever] != projection.base_levers[lever],
        )
        for lever in LEVERS
    ]
    history = list(
        metric_list(user=request.user, studio=scenario.studio)
        .filter(month_year__lte=scenario.base_month)
        .order_by("month_year")
        .values("month_year", "total_revenue")
    )
    return render(
        request,
        "scenarios/scenario_detail.html",
        {
            "scenario": scenario,
            "studio": scenario.studio,
            "page": "scenarios",
            "can_save": user_can_edit_studio(user=request.user, studio=scenario.studio),
            "projection": projection,
            "levers": levers,
            "saved_plan": saved_plan,
            "actions": actions,
            "actions_unavailable": actions_unavailable,
            "chart": presenters.projection_chart(
                history=history,
                months=projection.months,
                currency=scenario.studio.currency,
                name=scenario.name,
                coverage=projection.coverage,
                title="Revenue: the last 12 months and the scenario's forecast",
            ),
        },
    )
