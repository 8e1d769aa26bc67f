"""optimizeLevers (auto-optimise): the best plan without a target, through the API."""

import uuid

import pytest

from forecasting.models import PredictionLog, PredictionType
from forecasting.services import forecast_predict
from optimization.optimize import levers_optimize
from optimization.services import InverseConstraints, inverse_predict
from scenarios.services import scenario_save
from tests.api.conftest import covers, error_codes
from tests.factories import StudioMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

BASE_MONTH = "2026-04"

OPTIMIZE_QUERY = """
query Optimize($input: OptimizeLeversInput!) {
  optimizeLevers(input: $input) {
    optimizationId
    studioId
    baseMonth
    months
    targetKind
    objective
    costBasis
    currentRevenue
    projectedRevenue
    revenueGain
    moneyCost
    netRevenue
    netGain
    message
    bindingConstraints { lever kind description }
    unboundedGains { lever value limitKind probedTo description }
    warnings { code lever message }
    recommendedLevers {
      retentionRate avgTicketPrice classAttendanceRate newMembersMonthly
      staffUtilizationRate upsellRate totalClassesHeld
    }
    leverChanges { lever current recommended changePct impactOnRevenue }
    moneyCostByLever { lever moneyCost }
    monthlyRevenue
    actionPlan { priority lever action cost costEstimate expectedImpact }
    alternatives {
      heldLever leadLever revenue moneyCost netRevenue cost
      levers { retentionRate avgTicketPrice }
      leverChanges { lever recommended }
    }
    relaxed { factor revenue netRevenue levers { avgTicketPrice } }
    totalCost
    confidenceScore
    modelVersion
  }
}
"""


@pytest.fixture
def studio(loaded_studios):
    return loaded_studios[0]


@pytest.fixture
def studio_owner(studio):
    return StudioMembershipFactory(
        studio=studio, user=UserFactory(username="studio-owner")
    ).user


def optimize_input(studio, **fields) -> dict:
    return {"input": {"studioId": str(studio.pk), "baseMonth": BASE_MONTH, **fields}}


def by_lever(items: list[dict]) -> dict[str, dict]:
    return {item["lever"]: item for item in items}


# --- allowed ----------------------------------------------------------------------


@covers("allowed", "optimizeLevers")
def test_optimize_levers_returns_the_best_plan_and_names_its_unbounded_gains(
    gql, studio_owner, studio, active_version
):
    # given today's month-3 forecast
    status_quo = forecast_predict(studio=studio, base_month=BASE_MONTH, log=False)

    # when (beyond the peers' range allowed: the default limits alone hold here)
    body = gql(studio_owner).execute(
        OPTIMIZE_QUERY,
        optimize_input(studio, constraints={"allowBeyondPeers": True}),
    )

    # then
    assert "errors" not in body
    result = body["data"]["optimizeLevers"]
    assert result["objective"] == "revenue"
    assert result["currentRevenue"] == pytest.approx(
        status_quo.predictions[-1].revenue, rel=1e-6
    )
    assert result["projectedRevenue"] > result["currentRevenue"]
    assert result["monthlyRevenue"][-1] == pytest.approx(
        result["projectedRevenue"], rel=1e-6
    )
    assert result["moneyCost"] == 0 and result["netGain"] == result["revenueGain"]
    # the model is monotone in these levers: each goes to its default maximum
    # increase and is reported as an unbounded gain, with a warning
    changes = by_lever(result["leverChanges"])
    unbounded = by_lever(result["unboundedGains"])
    # (default maximum increase, default upper bound)
    limits = {
        "RETENTION_RATE": (0.05, 0.99),
        "AVG_TICKET_PRICE": (20.0, float("inf")),
        "NEW_MEMBERS_MONTHLY": (10.0, float("inf")),
    }
    for lever, (step, ceiling) in limits.items():
        current = changes[lever]["current"]
        expected = min(current + step, ceiling)
        assert changes[lever]["recommended"] == pytest.approx(expected)
        assert unbounded[lever]["limitKind"] == (
            "MAX_INCREASE" if current + step < ceiling else "UPPER_BOUND"
        )
        assert unbounded[lever]["probedTo"] > unbounded[lever]["value"]
    assert "dearer ticket loses" in unbounded["AVG_TICKET_PRICE"]["description"]
    warned = {w["lever"] for w in result["warnings"] if w["code"] == "unbounded_gain"}
    assert warned == set(unbounded)
    # every change the plan makes adds revenue
    for change in result["leverChanges"]:
        if change["recommended"] != change["current"]:
            assert change["impactOnRevenue"] > 0
    assert "STAFF_UTILIZATION_RATE" not in unbounded
    # the impacts add up to the gain; the action plan and alternatives are there
    assert sum(c["impactOnRevenue"] for c in result["leverChanges"]) == pytest.approx(
        result["revenueGain"], abs=1.0
    )
    assert [a["priority"] for a in result["actionPlan"]] == list(
        range(1, len(result["actionPlan"]) + 1)
    )
    assert len(result["alternatives"]) == 2
    strongest = max(result["leverChanges"], key=lambda c: c["impactOnRevenue"])
    assert result["alternatives"][0]["heldLever"] == strongest["lever"]
    for alternative in result["alternatives"]:
        assert alternative["revenue"] <= result["projectedRevenue"] + 1e-6
        assert alternative["heldLever"] not in {
            c["lever"] for c in alternative["leverChanges"]
        }
    assert result["relaxed"]["revenue"] > result["projectedRevenue"]
    assert "at the limit because revenue only rises" in result["message"]
    assert result["modelVersion"] == active_version.version


def test_tactic_costs_make_the_objective_net_revenue(
    gql, studio_owner, studio, active_version
):
    # when
    body = gql(studio_owner).execute(
        OPTIMIZE_QUERY, optimize_input(studio, costBasis="TACTICS")
    )

    # then
    result = body["data"]["optimizeLevers"]
    assert result["objective"] == "net_revenue"
    assert result["moneyCost"] > 0
    assert result["netRevenue"] == pytest.approx(
        result["projectedRevenue"] - result["moneyCost"], abs=0.02
    )
    assert result["netRevenue"] >= result["currentRevenue"]
    costs = by_lever(result["moneyCostByLever"])
    changes = by_lever(result["leverChanges"])
    for lever, change in changes.items():
        if change["recommended"] <= change["current"]:
            assert costs[lever]["moneyCost"] == 0
        else:
            # every paid increase earns more than its tactics cost
            assert change["impactOnRevenue"] > 0
    # the catalogue's attendance tactics add up to +0.08 (the default limit is 0.10)
    attendance = changes["CLASS_ATTENDANCE_RATE"]
    assert attendance["recommended"] <= attendance["current"] + 0.08 + 1e-9


def test_a_cost_above_what_a_lever_earns_keeps_it_where_it_is(
    gql, studio_owner, studio, active_version
):
    # given new members that cost far more than they bring
    costs = [{"lever": "NEW_MEMBERS_MONTHLY", "monthlyCostPerUnit": 100000.0}]

    # when
    body = gql(studio_owner).execute(
        OPTIMIZE_QUERY, optimize_input(studio, leverCosts=costs)
    )

    # then
    result = body["data"]["optimizeLevers"]
    new = by_lever(result["leverChanges"])["NEW_MEMBERS_MONTHLY"]
    assert new["recommended"] <= new["current"]
    assert result["objective"] == "net_revenue"
    assert "NEW_MEMBERS_MONTHLY" not in by_lever(result["unboundedGains"])


def test_constraints_hold_and_locked_levers_stay(
    gql, studio_owner, studio, active_version
):
    body = gql(studio_owner).execute(
        OPTIMIZE_QUERY,
        optimize_input(
            studio,
            targetKind="TOTAL",
            months=6,
            constraints={
                "maxTicketIncrease": 5.0,
                "upperBounds": {"upsellRate": 0.25},
                "lockedLevers": ["RETENTION_RATE"],
            },
        ),
    )

    result = body["data"]["optimizeLevers"]
    assert result["targetKind"] == "TOTAL" and len(result["monthlyRevenue"]) == 6
    assert result["projectedRevenue"] == pytest.approx(
        sum(result["monthlyRevenue"]), abs=0.1
    )
    changes = by_lever(result["leverChanges"])
    retention = changes["RETENTION_RATE"]
    assert retention["recommended"] == retention["current"]
    ticket = changes["AVG_TICKET_PRICE"]
    assert ticket["recommended"] == pytest.approx(ticket["current"] + 5.0)
    upsell = changes["UPSELL_RATE"]
    assert upsell["recommended"] <= max(0.25, upsell["current"]) + 1e-9
    assert "RETENTION_RATE" not in by_lever(result["unboundedGains"])


def test_an_optimisation_is_logged_and_can_be_saved_as_a_scenario(
    gql, studio_owner, studio, active_version
):
    # when
    result = gql(studio_owner).execute(OPTIMIZE_QUERY, optimize_input(studio))["data"][
        "optimizeLevers"
    ]

    # then: logged as an inverse prediction whose inputs say what was asked
    log = PredictionLog.objects.get(pk=result["optimizationId"])
    assert log.prediction_type == PredictionType.INVERSE
    assert log.inputs["objective"] == "maximize"
    assert log.outputs["monthly_revenue"] == result["monthlyRevenue"]
    scenario = scenario_save(
        user=studio_owner,
        studio=studio,
        prediction_id=log.pk,
        name="Best mix",
    )
    assert scenario.predicted_outputs["projected_revenue"] == result["projectedRevenue"]
    assert scenario.predicted_outputs["projection"]["predictions"][-1][
        "revenue"
    ] == pytest.approx(result["projectedRevenue"], rel=1e-6)


def test_the_optimum_reaches_what_inverse_prediction_calls_achievable(
    studio, active_version
):
    """The two solvers agree: the best plan's revenue is the inverse's maximum."""
    best = levers_optimize(studio=studio, base_month=BASE_MONTH, log=False)
    inverse = inverse_predict(
        studio=studio,
        base_month=BASE_MONTH,
        target_revenue=best.projected_revenue * 2,
        constraints=InverseConstraints(),
        log=False,
    )
    assert best.projected_revenue == pytest.approx(inverse.achievable_revenue, rel=1e-6)


# --- anonymous and denied ----------------------------------------------------------


@covers("anonymous", "optimizeLevers")
def test_optimize_levers_refuses_anonymous_callers(gql, studio, active_version):
    response = gql().post(OPTIMIZE_QUERY, optimize_input(studio))

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert not PredictionLog.objects.exists()


@covers("denied", "optimizeLevers")
def test_optimize_levers_of_another_studio_is_answered_like_a_missing_one(
    gql, studio_owner, loaded_studios, active_version
):
    client = gql(studio_owner)

    hidden = client.execute(OPTIMIZE_QUERY, optimize_input(loaded_studios[1]))
    absent = client.execute(
        OPTIMIZE_QUERY,
        {"input": {"studioId": str(uuid.uuid4()), "baseMonth": BASE_MONTH}},
    )

    assert hidden["data"] is None and absent["data"] is None
    assert error_codes(hidden) == error_codes(absent) == ["NOT_FOUND"]
    assert not PredictionLog.objects.exists()


# --- bad input ----------------------------------------------------------------------


@covers("bad input", "optimizeLevers")
@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        pytest.param(
            {"months": 0},
            "months",
            "months must be between 1 and 12, not 0",
            id="months",
        ),
        pytest.param(
            {"baseMonth": "1990-01"}, "baseMonth", None, id="month-without-history"
        ),
        pytest.param(
            {"currentState": {"upsellRate": 2.0}},
            "currentState.upsellRate",
            "upsell_rate is 2; it must be a fraction in [0, 1]",
            id="current-lever-out-of-range",
        ),
        pytest.param(
            {"constraints": {"upperBounds": {"retentionRate": 1.5}}},
            "constraints.upperBounds.retentionRate",
            "retention_rate is 1.5; it must be a fraction in [0, 1]",
            id="bound-out-of-range",
        ),
        pytest.param(
            {
                "constraints": {
                    "upperBounds": {"avgTicketPrice": 5.0},
                    "maxDecreases": {"avgTicketPrice": 20.0},
                }
            },
            "constraints.upperBounds",
            None,
            id="bound-out-of-reach",
        ),
        pytest.param(
            {"constraints": {"maxDecreases": {"upsellRate": -0.1}}},
            "constraints.maxDecreases.upsellRate",
            "must not be negative (it is the largest decrease allowed)",
            id="negative-max-decrease",
        ),
        pytest.param(
            {
                "leverCosts": [
                    {"lever": "UPSELL_RATE", "monthlyCostPerUnit": -1.0},
                ]
            },
            "leverCosts",
            "the cost of upsell_rate must be a number from 0 to 1,000,000,000",
            id="negative-cost",
        ),
        pytest.param(
            {"leverCosts": [{"lever": "UPSELL_RATE", "monthlyCostPerUnit": 2e9}]},
            "leverCosts",
            "the cost of upsell_rate must be a number from 0 to 1,000,000,000",
            id="absurd-cost",
        ),
        pytest.param(
            {
                "leverCosts": [
                    {"lever": "UPSELL_RATE", "monthlyCostPerUnit": 1.0},
                    {"lever": "UPSELL_RATE", "monthlyCostPerUnit": 2.0},
                ]
            },
            "leverCosts",
            "upsell_rate is listed twice",
            id="duplicate-cost",
        ),
    ],
)
def test_optimize_levers_names_the_bad_field_and_why(
    gql, studio_owner, studio, active_version, fields, field, reason
):
    body = gql(studio_owner).execute(OPTIMIZE_QUERY, optimize_input(studio, **fields))

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    if reason is not None:
        assert error["extensions"]["reason"] == reason
    assert not PredictionLog.objects.exists()


def test_a_lever_stopped_by_its_peers_range_says_so_with_the_range(
    gql, studio_owner, studio, active_version
):
    """Without allowBeyondPeers the peers' range caps the plan; the binding
    constraint names it and its value, as the inverse's does."""
    import datetime as dt

    from forecasting.ml.frame import LEVER_LABELS
    from forecasting.ranges import lever_ranges
    from optimization.actions import format_lever_value

    # when
    body = gql(studio_owner).execute(OPTIMIZE_QUERY, optimize_input(studio))

    # then
    result = body["data"]["optimizeLevers"]
    ranges = lever_ranges(studio=studio, base_month=dt.date(2026, 4, 1))
    changes = {c["lever"]: c for c in result["leverChanges"]}
    at_peers = [
        b
        for b in result["bindingConstraints"]
        if b["kind"] == "UPPER_BOUND"
        and changes[b["lever"]]["recommended"]
        == pytest.approx(ranges[b["lever"].lower()].peer_high, rel=1e-9)
    ]
    assert at_peers, result["bindingConstraints"]
    for binding in at_peers:
        lever = binding["lever"].lower()
        assert binding["description"] == (
            f"{LEVER_LABELS[lever]} at the top of its peers' range "
            f"({format_lever_value(lever, ranges[lever].peer_high)}; "
            "allowBeyondPeers lifts it)"
        )
