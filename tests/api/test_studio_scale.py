"""A studio on its own scale: money in a currency of small units, a studio many
times the usual size. Levers count in the studio's units, so no fixed ceiling may
refuse a studio its own figures or clip its curves (forecasting.services.lever_bounds),
and a plan's default steps grow with it (optimization.services.default_max_changes).
"""

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F

from forecasting.ml.frame import LEVERS
from forecasting.models import PredictionLog
from forecasting.services import (
    AMOUNT_REACH,
    LEVER_BOUNDS,
    clear_state_cache,
    forecast_predict,
    lever_bounds,
)
from optimization.services import (
    DEFAULT_MAX_INCREASE,
    CurveSpec,
    InverseConstraints,
    default_max_changes,
    inverse_predict,
    lever_impact_analysis,
)
from optimization.tactics import COST_ESTIMATE, Cost
from studios.models import MONEY_FIELDS, MonthlyMetric, Studio
from studiosim.settings import _currency_rates
from tests.api.conftest import error_codes

pytestmark = pytest.mark.django_db

BASE = "2026-04"
#: Yen to the dollar, roughly: a $150 ticket is 22,500 yen.
YEN = 150

FORWARD = """
query Forward($input: ForwardPredictionInput!) {
  forwardPrediction(input: $input) {
    predictions { revenue }
    baseLevers { avgTicketPrice }
    leversUsed { avgTicketPrice }
  }
}
"""


@pytest.fixture
def yen_studio(active_version, loaded_studios):
    """A generated studio whose money is in yen: every amount 150 times."""
    studio = loaded_studios[0]
    MonthlyMetric.objects.filter(studio=studio).update(
        **{name: F(name) * YEN for name in MONEY_FIELDS}
    )
    Studio.objects.filter(pk=studio.pk).update(
        currency="JPY", data_version=F("data_version") + 1
    )
    studio.refresh_from_db()
    clear_state_cache()
    cache.clear()
    return studio


def _forward(studio, **fields):
    return {"input": {"studioId": str(studio.pk), "baseMonth": BASE, **fields}}


def test_a_forecast_with_a_yen_studio_s_own_levers_is_its_plain_forecast(
    gql, staff, yen_studio
):
    # given: the simulator sends the base month's levers back as they are
    client = gql(staff)
    plain = client.execute(FORWARD, _forward(yen_studio))["data"]["forwardPrediction"]
    ticket = plain["baseLevers"]["avgTicketPrice"]
    assert ticket > LEVER_BOUNDS["avg_ticket_price"][1]

    # when
    body = client.execute(
        FORWARD, _forward(yen_studio, levers={"avgTicketPrice": ticket})
    )
    raised = client.execute(
        FORWARD, _forward(yen_studio, levers={"avgTicketPrice": ticket * 1.1})
    )

    # then: accepted, the same forecast; a 10% dearer ticket changes it
    answer = body["data"]["forwardPrediction"]
    assert answer["leversUsed"]["avgTicketPrice"] == ticket
    assert [p["revenue"] for p in answer["predictions"]] == [
        p["revenue"] for p in plain["predictions"]
    ]
    assert "errors" not in raised
    assert raised["data"]["forwardPrediction"]["predictions"] != plain["predictions"]


def test_a_ticket_far_beyond_the_studio_s_own_is_refused_naming_the_ceiling(
    gql, staff, yen_studio, loaded_studios
):
    # given
    client = gql(staff)
    ticket = forecast_predict(
        studio=yen_studio, base_month=BASE, log=False
    ).base_levers["avg_ticket_price"]
    dollar_studio = loaded_studios[1]

    # when: a typo three zeros long, and a yen price on a dollar studio
    typo = client.execute(
        FORWARD, _forward(yen_studio, levers={"avgTicketPrice": ticket * 1000})
    )
    dollars = client.execute(
        FORWARD, _forward(dollar_studio, levers={"avgTicketPrice": 6000.0})
    )

    # then: the field and the studio's own ceiling; a dollar studio keeps 5,000
    assert error_codes(typo) == error_codes(dollars) == ["BAD_USER_INPUT"]
    [error], [dollar_error] = typo["errors"], dollars["errors"]
    assert error["extensions"]["field"] == "levers.avgTicketPrice"
    assert error["extensions"]["reason"] == (
        f"avg_ticket_price is {ticket * 1000:,.0f}; it must be between 0 and "
        f"{AMOUNT_REACH * ticket:,.0f}, 10 times this studio's own"
    )
    assert dollar_error["extensions"]["reason"] == (
        "avg_ticket_price is 6,000; it must be between 0 and 5,000"
    )
    assert not PredictionLog.objects.exists()


def test_a_yen_studio_s_ticket_curve_is_drawn_around_its_own_ticket(yen_studio):
    # when
    out = lever_impact_analysis(
        studio=yen_studio, base_month=BASE, curve=CurveSpec(steps=5)
    )

    # then: no point clipped, the ticket's revenue moves with it, and a 1% dearer
    # ticket is worth about what it is on the same studio in dollars (x150)
    impact = {i.lever: i for i in out.lever_impacts}["avg_ticket_price"]
    points = impact.curve.points
    assert not any(p.clipped for p in points)
    assert points[0].lever_value < points[2].lever_value < points[-1].lever_value
    assert len({round(p.revenue) for p in points}) == len(points)
    assert impact.revenue_sensitivity != 0


def test_a_yen_studio_s_plan_moves_its_ticket_by_yen_in_proportion(yen_studio):
    # given: only the ticket may move, towards 3% more revenue
    status_quo = forecast_predict(studio=yen_studio, base_month=BASE, log=False)
    ticket = status_quo.base_levers["avg_ticket_price"]
    others = tuple(lever for lever in LEVERS if lever != "avg_ticket_price")

    # when
    out = inverse_predict(
        studio=yen_studio,
        base_month=BASE,
        target_revenue=status_quo.predictions[-1].revenue * 1.03,
        constraints=InverseConstraints(locked_levers=others),
        log=False,
    )

    # then: 20 yen (0.1% of the ticket) could never do it; the default step in
    # proportion to the ticket can
    change = {c.lever: c for c in out.lever_changes}["avg_ticket_price"]
    step = DEFAULT_MAX_INCREASE["avg_ticket_price"] * ticket / 300
    assert out.reachable
    assert (
        change.recommended - change.current > DEFAULT_MAX_INCREASE["avg_ticket_price"]
    )
    assert change.recommended <= change.current + step + 1e-6
    # sized to the ticket's scale: one or two of the price tactics, not all
    assert 1 <= len(out.action_plan) <= 2
    # and written in yen
    assert "JPY " in out.message and "$" not in out.message
    assert all("$" not in a.specifics for a in out.action_plan)
    assert any("JPY " in a.specifics for a in out.action_plan)


def test_a_yen_studio_s_answers_write_money_in_yen(yen_studio):
    impacts = lever_impact_analysis(studio=yen_studio, base_month=BASE).lever_impacts
    ticket = {i.lever: i for i in impacts}["avg_ticket_price"]
    far = forecast_predict(
        studio=yen_studio,
        base_month=BASE,
        levers={"avg_ticket_price": 60000.0},
        log=False,
    )

    assert all("$" not in i.recommendation for i in impacts)
    assert "JPY " in ticket.recommendation
    ticket_warnings = [w for w in far.warnings if w.lever == "avg_ticket_price"]
    assert {w.scope for w in ticket_warnings} == {"history", "peers"}
    for warning in ticket_warnings:
        assert "JPY 60,000.00" in warning.message and "$" not in warning.message


def test_an_amount_s_ceiling_and_step_follow_the_studio_above_the_usual_sizes():
    usual = {"avg_ticket_price": 150.0, "new_members_monthly": 30.0}
    large = {"avg_ticket_price": 24000.0, "total_classes_held": 9000.0}

    assert lever_bounds(usual) == LEVER_BOUNDS
    assert default_max_changes(usual)[0] == DEFAULT_MAX_INCREASE
    assert lever_bounds(large)["avg_ticket_price"] == (0.0, 240000.0)
    assert lever_bounds(large)["total_classes_held"] == (0.0, 90000.0)
    assert lever_bounds(large)["retention_rate"] == (0.0, 1.0)
    increase, decrease = default_max_changes(large)
    assert increase["avg_ticket_price"] == decrease["avg_ticket_price"] == 1600.0
    assert increase["total_classes_held"] == 900.0
    assert (
        increase["new_members_monthly"] == DEFAULT_MAX_INCREASE["new_members_monthly"]
    )
    # with no studio, an amount has no ceiling, a rate keeps its own
    assert lever_bounds()["avg_ticket_price"][1] == float("inf")
    assert lever_bounds()["upsell_rate"] == (0.0, 1.0)


def test_a_plan_s_tactics_cost_yen_where_the_operator_gave_a_rate(yen_studio, settings):
    """The catalogue's costs are written in dollars: with CURRENCY_RATES=JPY=150 a
    yen studio's action plan prices them in yen, and prioritizeLowCostLevers
    weighs them so; without a rate they stand as written."""
    status_quo = forecast_predict(studio=yen_studio, base_month=BASE, log=False)
    target = status_quo.predictions[-1].revenue * 1.03
    constraints = InverseConstraints(
        locked_levers=tuple(lever for lever in LEVERS if lever != "avg_ticket_price"),
        prioritize_low_cost=True,
    )

    def plan():
        return inverse_predict(
            studio=yen_studio,
            base_month=BASE,
            target_revenue=target,
            constraints=constraints,
            log=False,
        )

    settings.CURRENCY_RATES = {}
    as_written = plan()
    settings.CURRENCY_RATES = {"JPY": 150.0, "EUR": 0.92}
    in_yen = plan()

    dollars = {a.action: a.cost_estimate for a in as_written.action_plan}
    yen = {a.action: a.cost_estimate for a in in_yen.action_plan}
    assert dollars and set(yen) == set(dollars)
    assert set(dollars.values()) <= set(COST_ESTIMATE.values())
    assert yen == {action: cost * 150 for action, cost in dollars.items()}
    assert in_yen.tactic_cost == pytest.approx(as_written.tactic_cost * 150)
    assert COST_ESTIMATE[Cost.LOW] == 250.0  # the catalogue itself is untouched
    # and each answer says which currency its costs are in
    assert as_written.cost_currency == "USD"
    assert in_yen.cost_currency == "JPY"


OPTIMIZE_WITH_TACTICS = """
query Optimize($input: OptimizeLeversInput!) {
  optimizeLevers(input: $input) { netRevenue moneyCost }
}
"""


def test_tactics_costs_in_dollars_are_not_subtracted_from_yen(
    gql, staff, yen_studio, settings
):
    """Without a rate, an objective of yen revenue minus dollar costs would be
    wrong by a factor of 150: the request is refused, saying what to do; with a
    rate it is answered."""
    client = gql(staff)
    variables = {
        "input": {
            "studioId": str(yen_studio.pk),
            "baseMonth": BASE,
            "costBasis": "TACTICS",
        }
    }

    settings.CURRENCY_RATES = {}
    refused = client.execute(OPTIMIZE_WITH_TACTICS, variables)
    settings.CURRENCY_RATES = {"JPY": 150.0}
    answered = client.execute(OPTIMIZE_WITH_TACTICS, variables)

    assert error_codes(refused) == ["BAD_USER_INPUT"]
    message = refused["errors"][0]["message"]
    assert "no rate converts them to JPY" in message and "CURRENCY_RATES" in message
    assert "leverCosts" in message
    assert "errors" not in answered
    assert answered["data"]["optimizeLevers"]["moneyCost"] >= 0


@pytest.mark.parametrize(
    ("text", "rates"),
    [("", {}), ("JPY=150, eur=0.92", {"JPY": 150.0, "EUR": 0.92})],
)
def test_currency_rates_are_read_as_units_per_dollar(text, rates):
    assert _currency_rates(text) == rates


@pytest.mark.parametrize("text", ["JPY", "JPY=0", "JP=150", "JPY=lots", "JPY=-1"])
def test_a_currency_rate_that_is_not_code_equals_units_stops_the_start(text):
    with pytest.raises(ImproperlyConfigured, match="is not CODE=units"):
        _currency_rates(text)
