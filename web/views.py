"""The owner pages: studio list, dashboard, what-if simulator, target planner and
scenarios (list and comparison).

Adapters like the GraphQL resolvers: the same login, the same tenancy
(``studio_get`` answers another owner's studio exactly like a missing one, so a
404), the same services. Pages are rendered on the server; the simulator and the
planner then call the API's cached ``forwardPrediction`` / ``inversePrediction``
and ``saveScenario`` from the browser with the session (``static/web/*.js``), so a
slider, a plan and a save go through exactly what a frontend app would call.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from forecasting.ml.frame import LEVER_LABELS
from forecasting.ranges import lever_ranges
from forecasting.services import ForecastOutput
from forecasting.serving import forecast_serve
from optimization.services import CurveSpec, lever_curves
from scenarios.models import ScenarioType
from scenarios.selectors import (
    MAX_COMPARED,
    scenario_compare,
    scenario_list,
    scenario_order,
    scenario_projection,
)
from studios.models import Studio
from studios.selectors import (
    BaselineUnavailable,
    metric_list,
    studio_baseline,
    studio_get,
    studio_list,
    studios_with_latest_figures,
    user_can_edit_studio,
)
from studiosim.display import format_money, format_percent, format_signed_percent
from studiosim.errors import DomainError, NotFound
from web import presenters

#: Months the dashboard forecasts; the simulator's default horizon.
DASHBOARD_MONTHS = 6
#: Scenarios compared at once on the page (the API allows more; four lines with
#: their bands are as many as a chart shows legibly).
PAGE_COMPARE_MAX = min(4, MAX_COMPARED)

HISTORY_FIELDS = (
    "month_year",
    "total_revenue",
    "total_members",
    "retention_rate",
    "is_outlier",
    "outlier_reason",
)


def _studio_or_404(request: HttpRequest, studio_id: UUID) -> Studio:
    try:
        return studio_get(user=request.user, studio_id=studio_id)
    except Studio.DoesNotExist:
        raise Http404("No such studio.") from None


def _history(request: HttpRequest, studio: Studio) -> list[dict[str, Any]]:
    return list(
        metric_list(user=request.user, studio=studio)
        .order_by("month_year")
        .values(*HISTORY_FIELDS)
    )


def _status_quo(
    request: HttpRequest, studio: Studio, months: int
) -> tuple[ForecastOutput | None, str]:
    """The forecast with today's levers (cached and logged like any forward
    prediction), or why there is none."""
    try:
        served = forecast_serve(
            studio=studio,
            user=request.user,
            base_month=None,
            levers={},
            months=months,
            coverage=0.8,
            include_intervals=True,
        )
    except DomainError as exc:
        return None, exc.message
    return served.output, ""


def _studio_context(request: HttpRequest, studio: Studio, page: str) -> dict:
    return {
        "studio": studio,
        "page": page,
        "can_save": user_can_edit_studio(user=request.user, studio=studio),
    }


@login_required
@require_GET
def studio_index(request: HttpRequest) -> HttpResponse:
    """The studios the user may see, with their latest figures."""
    studios = studios_with_latest_figures(studio_list(user=request.user)).order_by(
        "name"
    )
    page = Paginator(studios, 48).get_page(request.GET.get("page"))
    rows = [
        {
            "studio": studio,
            "revenue": format_money(studio.latest_revenue, studio.currency),
            "members": studio.latest_members,
            "retention": format_percent(studio.latest_retention),
            "growth": format_signed_percent(
                float(studio.latest_revenue) / float(studio.year_ago_revenue) - 1
                if studio.latest_revenue and studio.year_ago_revenue
                else None
            ),
            "month": studio.latest_month,
        }
        for studio in page.object_list
    ]
    return render(request, "web/studio_list.html", {"rows": rows, "page_obj": page})


@login_required
@require_GET
def studio_dashboard(request: HttpRequest, studio_id: UUID) -> HttpResponse:
    studio = _studio_or_404(request, studio_id)
    history = _history(request, studio)
    context = _studio_context(request, studio, "dashboard")
    if not history:
        return render(request, "web/dashboard.html", {**context, "empty": True})
    try:
        baseline = studio_baseline(studio=studio)
    except BaselineUnavailable:
        baseline = None
    forecast, forecast_error = _status_quo(request, studio, DASHBOARD_MONTHS)
    kpis = (
        presenters.kpi_tiles(
            baseline=baseline,
            currency=studio.currency,
            studio_type=studio.get_studio_type_display(),
        )
        if baseline
        else []
    )
    outliers = [row for row in history if row["is_outlier"]]
    return render(
        request,
        "web/dashboard.html",
        {
            **context,
            "kpis": kpis,
            "forecast": forecast,
            "forecast_error": forecast_error,
            "history": history,
            "outliers": outliers,
            "revenue_chart": presenters.revenue_chart(
                history=history, forecast=forecast, currency=studio.currency
            ),
            "members_chart": presenters.members_chart(history),
            "retention_chart": presenters.retention_chart(history),
        },
    )


def _planning_context(
    request: HttpRequest, studio: Studio, page: str, months: int, chart_name: str
) -> dict[str, Any]:
    """What the simulator and the planner both start from: the status-quo
    forecast (today's levers), the lever controls and the recent history."""
    context = _studio_context(request, studio, page)
    history = _history(request, studio)
    forecast, forecast_error = _status_quo(request, studio, months)
    context.update(forecast=forecast, forecast_error=forecast_error)
    if forecast is None:
        return context
    # The same ranges forward answers warn with (forecasting.ranges): the
    # studio's own months up to the base month, and its peers'.
    ranges = lever_ranges(studio=studio, base_month=forecast.base_month)
    controls = presenters.lever_controls(
        today=forecast.base_levers,
        history_ranges={
            presenters.LEVER_HISTORY_COLUMN[lever]: (
                None if r.history_low is None else (r.history_low, r.history_high)
            )
            for lever, r in ranges.items()
        },
        not_modelled={n.lever: n.reason for n in forecast.not_modelled_levers},
        peer_ranges={
            lever: None if r.peer_low is None else (r.peer_low, r.peer_high)
            for lever, r in ranges.items()
        },
    )
    context.update(
        controls=controls,
        page_data={
            "studioId": str(studio.pk),
            "predictionId": forecast.prediction_id,
            "currency": studio.currency,
            "baseMonth": forecast.base_month.isoformat()[:7],
            "months": months,
            "levers": [c.as_dict() for c in controls],
            "statusQuo": [
                {
                    "monthYear": m.month_year.isoformat(),
                    "revenue": m.revenue,
                    "lower": m.lower,
                    "upper": m.upper,
                    "memberCount": round(m.member_count),
                }
                for m in forecast.predictions
            ],
            "history": [
                {
                    "monthYear": row["month_year"].isoformat(),
                    "revenue": float(row["total_revenue"]),
                }
                for row in history[-12:]
            ],
        },
        chart=presenters.projection_chart(
            history=history,
            months=forecast.predictions,
            currency=studio.currency,
            name=chart_name,
            coverage=forecast.coverage,
        ),
    )
    return context


def _months_param(request: HttpRequest, default: int) -> int:
    try:
        months = int(request.GET.get("months", default))
    except ValueError:
        return default
    return months if 1 <= months <= 12 else default


@login_required
@require_GET
def studio_simulator(request: HttpRequest, studio_id: UUID) -> HttpResponse:
    """Seven sliders over the levers; the forecast follows them."""
    studio = _studio_or_404(request, studio_id)
    months = _months_param(request, DASHBOARD_MONTHS)
    context = _planning_context(request, studio, "simulate", months, "Forecast")
    context["month_choices"] = [3, 6, 12]
    if context.get("forecast") is not None:
        context.update(_price_curve(studio))
    return render(request, "web/simulator.html", context)


#: The simulator's price curve: today's average ticket -30%..+30%.
PRICE_CURVE = CurveSpec(from_pct=-0.3, to_pct=0.3, steps=13)
PRICE_CURVE_MONTHS = 3


def _price_curve(studio: Studio) -> dict[str, Any]:
    """The average ticket's response curve for the simulator, when the model can
    move the ticket for this studio; nothing otherwise."""
    try:
        base, curves = lever_curves(
            studio=studio, curve=PRICE_CURVE, horizon=PRICE_CURVE_MONTHS
        )
    except DomainError:
        return {}
    curve = curves.get("avg_ticket_price")
    if curve is None:
        return {}
    month = presenters.add_months(base, PRICE_CURVE_MONTHS)
    return {
        "price_curve": curve,
        "price_curve_month": month,
        "price_chart": presenters.price_curve_chart(
            curve, currency=studio.currency, month=month
        ),
    }


@login_required
@require_GET
def studio_planner(request: HttpRequest, studio_id: UUID) -> HttpResponse:
    """A revenue target, limits and locks; the optimiser's plan."""
    studio = _studio_or_404(request, studio_id)
    months = _months_param(request, 3)
    context = _planning_context(request, studio, "plan", months, "Today's levers")
    forecast = context["forecast"]
    if forecast is not None:
        # A first target worth asking for: 5% above the status quo's last month.
        context["default_target"] = round(forecast.predictions[-1].revenue * 1.05, -2)
        context["target_months"] = months
        context["month_choices"] = list(range(1, 13))
    return render(request, "web/planner.html", context)


@login_required
@require_GET
def studio_scenarios(request: HttpRequest, studio_id: UUID) -> HttpResponse:
    """The studio's saved scenarios; two to four of them compared."""
    studio = _studio_or_404(request, studio_id)
    context = _studio_context(request, studio, "scenarios")
    scenario_type = request.GET.get("type") or None
    if scenario_type not in (None, *ScenarioType.values):
        scenario_type = None
    try:
        page_number = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        page_number = 1
    page = scenario_list(
        user=request.user,
        studio_id=studio.pk,
        scenario_type=scenario_type,
        page=page_number,
        page_size=20,
    )
    selected = request.GET.getlist("compare")
    context.update(
        scenarios=[
            {"scenario": s, "headline": scenario_projection(s).predicted_revenue}
            for s in page.items
        ],
        scenario_page=page,
        pages=range(1, (page.total + page.page_size - 1) // page.page_size + 1),
        scenario_type=scenario_type or "",
        type_choices=ScenarioType.choices,
        selected=selected,
        compare_max=PAGE_COMPARE_MAX,
    )
    if selected:
        context.update(_comparison(request, studio, selected))
    return render(request, "web/scenarios.html", context)


def _comparison(
    request: HttpRequest, studio: Studio, selected: list[str]
) -> dict[str, Any]:
    if not 2 <= len(selected) <= PAGE_COMPARE_MAX:
        return {
            "compare_error": f"Pick between 2 and {PAGE_COMPARE_MAX} scenarios "
            f"to compare ({len(selected)} picked)."
        }
    try:
        # The one saved first is the baseline the others are measured against.
        ordered = scenario_order(user=request.user, scenario_ids=selected)
        comparison = scenario_compare(user=request.user, scenario_ids=ordered)
    except NotFound:
        raise Http404("No such scenario.") from None
    except DomainError as exc:
        return {"compare_error": exc.message}
    if comparison.studio_id != str(studio.pk):
        raise Http404("No such scenario.")
    names = [s.name for s in comparison.scenarios]
    currency = studio.currency
    verdicts = {v.scenario_id: v for v in comparison.verdicts}
    summary = []
    for i, compared in enumerate(comparison.scenarios):
        verdict = verdicts.get(compared.scenario_id)
        difference = verdict.difference if verdict else None
        summary.append(
            {
                "scenario": compared,
                "color": presenters.SCENARIO_COLORS[i % 4],
                "baseline": i == 0,
                "months": verdict.common_months
                if verdict
                else compared.projection_months,
                "revenue": format_money(
                    verdict.revenue if verdict else compared.total_revenue, currency
                ),
                "baseline_revenue": format_money(
                    verdict.baseline_revenue if verdict else None, currency
                ),
                "difference": format_money(
                    difference.absolute if difference else None, currency
                ),
                "difference_pct": format_signed_percent(
                    difference.percent if difference else None
                ),
                "probability": format_percent(
                    verdict.probability_above_baseline if verdict else None, places=0
                ),
            }
        )
    lever_rows = [
        {
            "label": LEVER_LABELS[row.lever].capitalize(),
            "cells": [
                {
                    "value": presenters.format_lever(row.lever, value, currency),
                    "difference": (
                        ""
                        if difference is None or not difference.absolute
                        else _lever_difference(row.lever, difference.absolute)
                    ),
                }
                for value, difference in zip(row.values, row.differences, strict=True)
            ],
        }
        for row in comparison.levers
    ]
    month_rows = [
        {
            "month": month.month_year,
            "cells": [
                {
                    "revenue": format_money(f.revenue, currency) if f else "—",
                    "probability": format_percent(
                        f.probability_above_baseline, places=0
                    )
                    if f and f.probability_above_baseline is not None
                    else "",
                }
                for f in month.figures
            ],
        }
        for month in comparison.months
    ]
    return {
        "comparison": comparison,
        "comparison_summary": summary,
        "lever_rows": lever_rows,
        "month_rows": month_rows,
        "comparison_chart": presenters.comparison_chart(
            comparison, currency=currency, names=names
        ),
    }


def _lever_difference(lever: str, absolute: float) -> str:
    unit = presenters.LEVER_UI[lever]["unit"]
    if unit == "rate":
        return f"{absolute * 100:+.1f} pts"
    if unit == "money":
        return f"{absolute:+,.2f}"
    return f"{absolute:+,.0f}"
