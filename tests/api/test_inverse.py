"""inversePrediction: tenancy, constraints, typed errors, logging and caching."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from forecasting.models import PredictionLog
from forecasting.services import forecast_predict
from forecasting.serving import cached_prediction
from optimization.services import InverseOutput, inverse_predict
from studios.models import MonthlyMetric
from studiosim.cache import cache_stats
from tests.api.conftest import assert_a_hit_costs_four_queries, covers, error_codes
from tests.factories import StudioMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

BASE_MONTH = "2026-04"

INVERSE_PREDICTION_QUERY = """
query InversePrediction($input: InversePredictionInput!) {
  inversePrediction(input: $input) {
    optimizationId
    studioId
    baseMonth
    targetRevenue
    targetMonths
    targetKind
    currentRevenue
    achievableRevenue
    projectedRevenue
    achievementRate
    reachable
    message
    bindingConstraints { lever kind description }
    recommendedLevers {
      retentionRate avgTicketPrice classAttendanceRate newMembersMonthly
      staffUtilizationRate upsellRate totalClassesHeld
    }
    leverChanges {
      lever current recommended changePct impactOnRevenue feasibilityScore
      estimatedCost
    }
    monthlyRevenue
    actionPlan {
      priority lever action specifics expectedImpact timelineWeeks cost costEstimate
    }
    alternatives { leadLever revenue cost leverChanges { lever recommended } }
    relaxed { factor revenue reachable levers { retentionRate } }
    totalCost
    confidenceScore
    modelVersion
  }
}
"""

REACHABLE_QUERY = """
query Reachable($input: InversePredictionInput!) {
  inversePrediction(input: $input) {
    optimizationId
    reachable
    projectedRevenue
    leverChanges { lever current recommended }
  }
}
"""


@pytest.fixture
def studio(loaded_studios):
    return loaded_studios[0]


@pytest.fixture
def studio_owner(studio):
    """A user owning the first generated studio only."""
    return StudioMembershipFactory(
        studio=studio, user=UserFactory(username="studio-owner")
    ).user


@pytest.fixture
def status_quo(studio, active_version) -> float:
    """Month-3 revenue of the studio's status-quo forecast."""
    output = forecast_predict(studio=studio, base_month=BASE_MONTH, log=False)
    return output.predictions[-1].revenue


def inverse_input(studio, target_revenue: float, **fields) -> dict:
    return {
        "input": {
            "studioId": str(studio.pk),
            "baseMonth": BASE_MONTH,
            "targetRevenue": target_revenue,
            **fields,
        }
    }


def changes_by_lever(result: dict) -> dict[str, dict]:
    return {change["lever"]: change for change in result["leverChanges"]}


# --- allowed ----------------------------------------------------------------------


@covers("allowed", "inversePrediction")
def test_inverse_prediction_reaches_a_feasible_target_with_an_action_plan(
    gql, studio_owner, studio, status_quo, active_version
):
    # given
    target = round(status_quo * 1.05, 2)

    # when
    body = gql(studio_owner).execute(
        INVERSE_PREDICTION_QUERY, inverse_input(studio, target)
    )

    # then
    assert "errors" not in body
    result = body["data"]["inversePrediction"]
    assert result["reachable"] is True
    assert result["projectedRevenue"] >= target * 0.95
    assert result["achievementRate"] == pytest.approx(
        result["projectedRevenue"] / target, abs=1e-3
    )
    assert (result["targetRevenue"], result["targetMonths"]) == (target, 3)
    assert result["targetKind"] == "MONTH"
    assert result["baseMonth"] == "2026-04-01"
    assert len(result["monthlyRevenue"]) == 3
    assert result["monthlyRevenue"][-1] == pytest.approx(
        result["projectedRevenue"], rel=1e-3
    )
    assert len(result["leverChanges"]) == 7
    assert any(c["recommended"] > c["current"] for c in result["leverChanges"])
    assert [a["priority"] for a in result["actionPlan"]] == list(
        range(1, len(result["actionPlan"]) + 1)
    )
    assert all(a["cost"] in {"LOW", "MEDIUM", "HIGH"} for a in result["actionPlan"])
    assert result["modelVersion"] == active_version.version
    assert 0 <= result["confidenceScore"] <= 1


def test_an_unreachable_target_says_so_and_names_what_binds(
    gql, studio_owner, studio, status_quo, active_version
):
    body = gql(studio_owner).execute(
        INVERSE_PREDICTION_QUERY, inverse_input(studio, round(status_quo * 3, 2))
    )

    result = body["data"]["inversePrediction"]
    assert result["reachable"] is False
    assert result["achievableRevenue"] < result["targetRevenue"]
    assert "cannot be reached within your constraints" in result["message"]
    assert result["bindingConstraints"]
    assert all(b["kind"] for b in result["bindingConstraints"])


def test_inverse_prediction_keeps_to_the_constraints(
    gql, studio_owner, studio, status_quo, active_version
):
    # when
    body = gql(studio_owner).execute(
        REACHABLE_QUERY,
        inverse_input(
            studio,
            round(status_quo * 1.08, 2),
            constraints={
                "maxTicketIncrease": 5.0,
                "upperBounds": {"upsellRate": 0.25},
                "lockedLevers": ["RETENTION_RATE", "NEW_MEMBERS_MONTHLY"],
                "prioritizeLowCostLevers": True,
            },
        ),
    )

    # then
    changes = changes_by_lever(body["data"]["inversePrediction"])
    for locked in ("RETENTION_RATE", "NEW_MEMBERS_MONTHLY"):
        assert changes[locked]["recommended"] == changes[locked]["current"]
    ticket = changes["AVG_TICKET_PRICE"]
    assert ticket["recommended"] <= ticket["current"] + 5.0 + 1e-9
    upsell = changes["UPSELL_RATE"]
    assert upsell["recommended"] <= max(0.25, upsell["current"]) + 1e-9


def test_maximum_decreases_hold_through_the_api(
    gql, studio_owner, studio, status_quo, active_version
):
    # when
    body = gql(studio_owner).execute(
        REACHABLE_QUERY,
        inverse_input(
            studio,
            round(status_quo * 1.5, 2),
            constraints={
                "maxDecreases": {
                    "retentionRate": 0.0,
                    "avgTicketPrice": 1.0,
                    "classAttendanceRate": 0.0,
                    "newMembersMonthly": 0.0,
                    "staffUtilizationRate": 0.0,
                    "upsellRate": 0.0,
                    "totalClassesHeld": 0.0,
                }
            },
        ),
    )

    # then
    changes = changes_by_lever(body["data"]["inversePrediction"])
    for lever, change in changes.items():
        allowed = 1.0 if lever == "AVG_TICKET_PRICE" else 0.0
        assert change["recommended"] >= change["current"] - allowed - 1e-9, lever


def test_an_upper_bound_below_today_lowers_the_lever_through_the_api(
    gql, studio_owner, studio, status_quo, active_version
):
    # given
    today = forecast_predict(studio=studio, base_month=BASE_MONTH, log=False)
    ceiling = round(today.base_levers["avg_ticket_price"] - 10.0, 2)

    # when
    body = gql(studio_owner).execute(
        REACHABLE_QUERY,
        inverse_input(
            studio,
            round(status_quo * 1.02, 2),
            constraints={"upperBounds": {"avgTicketPrice": ceiling}},
        ),
    )

    # then
    result = body["data"]["inversePrediction"]
    assert changes_by_lever(result)["AVG_TICKET_PRICE"]["recommended"] <= ceiling
    assert result["reachable"] == (
        result["projectedRevenue"] >= status_quo * 1.02 - 0.01
    )


def test_allow_beyond_peers_lets_the_plan_leave_the_peers_range_with_a_warning(
    gql, studio_owner, studio, status_quo, active_version
):
    # when
    body = gql(studio_owner).execute(
        """
        query Inverse($input: InversePredictionInput!) {
          inversePrediction(input: $input) {
            reachable
            warnings { lever value low high scope message }
          }
        }
        """,
        inverse_input(
            studio,
            round(status_quo * 3, 2),
            constraints={"maxTicketIncrease": 300.0, "allowBeyondPeers": True},
        ),
    )

    # then
    warnings = body["data"]["inversePrediction"]["warnings"]
    peers = [w for w in warnings if w["scope"] == "PEERS"]
    assert peers
    for warning in peers:
        assert not warning["low"] <= warning["value"] <= warning["high"]
        assert "allowBeyondPeers" in warning["message"]


def test_a_target_probability_sizes_the_plan_and_says_how_likely_it_is(
    gql, studio_owner, studio, status_quo, active_version
):
    # when
    body = gql(studio_owner).execute(
        """
        query Inverse($input: InversePredictionInput!) {
          inversePrediction(input: $input) {
            reachable projectedRevenue expectedRevenue
            targetProbability reachProbability
          }
        }
        """,
        inverse_input(studio, round(status_quo * 1.03, 2), targetProbability=0.8),
    )

    # then
    result = body["data"]["inversePrediction"]
    assert result["targetProbability"] == 0.8
    assert result["reachable"] and result["reachProbability"] >= 0.79
    assert result["expectedRevenue"] > result["projectedRevenue"]


def test_the_current_state_replaces_the_base_months_levers(
    gql, studio_owner, studio, status_quo, active_version
):
    # when
    body = gql(studio_owner).execute(
        REACHABLE_QUERY,
        inverse_input(
            studio,
            round(status_quo, 2),
            currentState={"avgTicketPrice": 180.0, "currentMemberCount": 250},
        ),
    )

    # then
    result = body["data"]["inversePrediction"]
    assert changes_by_lever(result)["AVG_TICKET_PRICE"]["current"] == 180.0
    log = PredictionLog.objects.get(pk=result["optimizationId"])
    assert log.inputs["current_levers"] == {"avg_ticket_price": 180.0}
    assert log.inputs["current_member_count"] == 250


def test_a_total_over_the_horizon_can_be_the_target(
    gql, studio_owner, studio, status_quo, active_version
):
    body = gql(studio_owner).execute(
        INVERSE_PREDICTION_QUERY,
        inverse_input(
            studio, round(status_quo * 3.1, 2), targetKind="TOTAL", targetMonths=3
        ),
    )

    result = body["data"]["inversePrediction"]
    assert result["targetKind"] == "TOTAL"
    assert result["reachable"] is True
    assert sum(result["monthlyRevenue"]) >= result["targetRevenue"] * 0.95


def test_inverse_prediction_starts_from_the_latest_month_by_default(
    gql, studio_owner, studio, active_version
):
    # given
    latest = MonthlyMetric.objects.filter(studio=studio).latest("month_year")

    # when
    body = gql(studio_owner).execute(
        INVERSE_PREDICTION_QUERY,
        {"input": {"studioId": str(studio.pk), "targetRevenue": 50000.0}},
    )

    # then
    assert body["data"]["inversePrediction"]["baseMonth"] == (
        latest.month_year.isoformat()
    )


def test_every_inverse_prediction_is_logged_with_what_was_served(
    gql, studio_owner, studio, status_quo, active_version
):
    # when
    body = gql(studio_owner).execute(
        INVERSE_PREDICTION_QUERY,
        inverse_input(
            studio,
            round(status_quo * 1.05, 2),
            constraints={"maxRetentionIncrease": 0.02, "lockedLevers": ["UPSELL_RATE"]},
        ),
    )

    # then
    result = body["data"]["inversePrediction"]
    log = PredictionLog.objects.get()
    assert str(log.pk) == result["optimizationId"]
    assert (log.prediction_type, log.model_version, log.created_by) == (
        "inverse",
        active_version,
        studio_owner,
    )
    assert log.projection_months == 3
    assert log.inputs["constraints"]["max_increase"] == {"retention_rate": 0.02}
    assert log.inputs["constraints"]["locked_levers"] == ["upsell_rate"]
    assert log.outputs["projected_revenue"] == result["projectedRevenue"]
    assert log.confidence == result["confidenceScore"]


# --- anonymous and denied ----------------------------------------------------------


@covers("anonymous", "inversePrediction")
def test_inverse_prediction_refuses_anonymous_callers(gql, studio, active_version):
    response = gql().post(REACHABLE_QUERY, inverse_input(studio, 50000.0))

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert not PredictionLog.objects.exists()


@covers("denied", "inversePrediction")
def test_inverse_prediction_of_another_studio_is_answered_like_a_missing_one(
    gql, studio_owner, loaded_studios, active_version
):
    # given
    client = gql(studio_owner)
    someone_elses = loaded_studios[1]
    missing = uuid.uuid4()

    # when
    hidden = client.execute(REACHABLE_QUERY, inverse_input(someone_elses, 50000.0))
    absent = client.execute(
        REACHABLE_QUERY,
        {
            "input": {
                "studioId": str(missing),
                "baseMonth": BASE_MONTH,
                "targetRevenue": 50000.0,
            }
        },
    )

    # then
    assert hidden["data"] is None and absent["data"] is None
    assert error_codes(hidden) == error_codes(absent) == ["NOT_FOUND"]
    assert not PredictionLog.objects.exists()


# --- bad input ----------------------------------------------------------------------


@covers("bad input", "inversePrediction")
@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        pytest.param(
            {"targetRevenue": 0.0},
            "targetRevenue",
            "target revenue must be greater than 0",
            id="zero-target",
        ),
        pytest.param(
            {"targetRevenue": -500.0},
            "targetRevenue",
            "target revenue must be greater than 0",
            id="negative-target",
        ),
        pytest.param(
            {"targetMonths": 13},
            "targetMonths",
            "target months must be between 1 and 12, not 13",
            id="horizon",
        ),
        pytest.param(
            {"baseMonth": "1990-01"}, "baseMonth", None, id="month-without-history"
        ),
        pytest.param(
            {"currentState": {"retentionRate": 1.2}},
            "currentState.retentionRate",
            "retention_rate is 1.2; it must be a fraction in [0, 1]",
            id="current-lever-out-of-range",
        ),
        pytest.param(
            {"currentState": {"currentMemberCount": -1}},
            "currentState.currentMemberCount",
            "must not be negative",
            id="negative-member-count",
        ),
        pytest.param(
            {"constraints": {"maxRetentionIncrease": -0.01}},
            "constraints.maxRetentionIncrease",
            "must not be negative (it is the largest increase allowed)",
            id="negative-max-increase",
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
                    "lowerBounds": {"upsellRate": 0.5},
                    "upperBounds": {"upsellRate": 0.4},
                }
            },
            "constraints.lowerBounds",
            "the lower bound of upsell_rate is above its upper bound",
            id="crossed-bounds",
        ),
        pytest.param(
            {"studioId": "studio-1"},
            "studioId",
            "is not a studio id (a UUID)",
            id="malformed-studio-id",
        ),
        pytest.param(
            {"targetProbability": 1.2},
            "targetProbability",
            "target probability must be between 0.05 and 0.99",
            id="probability",
        ),
        pytest.param(
            {"constraints": {"maxDecreases": {"avgTicketPrice": -5.0}}},
            "constraints.maxDecreases.avgTicketPrice",
            "must not be negative (it is the largest decrease allowed)",
            id="negative-max-decrease",
        ),
        pytest.param(
            # Far below any studio's price, with decreases capped at $20.
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
            {
                "constraints": {
                    "lowerBounds": {"upsellRate": 0.95},
                    "lockedLevers": ["UPSELL_RATE"],
                }
            },
            "constraints.lowerBounds",
            None,
            id="locked-outside-bound",
        ),
    ],
)
def test_inverse_prediction_names_the_bad_field_and_why(
    gql, studio_owner, studio, active_version, fields, field, reason
):
    # when
    body = gql(studio_owner).execute(
        REACHABLE_QUERY, inverse_input(studio, 50000.0, **fields)
    )

    # then
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    if reason is not None:
        assert error["extensions"]["reason"] == reason
    assert not PredictionLog.objects.exists()


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        (
            {"targetKind": "WEEK"},
            ".targetKind: Value 'WEEK' does not exist in 'TargetKind' enum.",
        ),
        (
            {"constraints": {"lockedLevers": ["LOYALTY"]}},
            ".constraints.lockedLevers[0]: Value 'LOYALTY' does not exist in "
            "'Lever' enum.",
        ),
    ],
    ids=["target-kind", "locked-lever"],
)
def test_an_unknown_enum_value_is_refused_visibly(
    gql, studio_owner, studio, active_version, fields, refusal
):
    body = gql(studio_owner).execute(
        REACHABLE_QUERY, inverse_input(studio, 50000.0, **fields)
    )

    [error] = body["errors"]
    assert error["message"] == f"Variable '$input' has invalid value at {refusal}"
    assert not PredictionLog.objects.exists()


def test_inverse_prediction_without_an_active_model_says_to_train_one(
    gql, studio_owner, studio
):
    body = gql(studio_owner).execute(REACHABLE_QUERY, inverse_input(studio, 50000.0))

    [error] = body["errors"]
    assert error["extensions"] == {"code": "NO_ACTIVE_MODEL"}


# --- caching ------------------------------------------------------------------------


def test_a_repeated_inverse_prediction_comes_from_the_cache_and_is_logged_again(
    gql, studio_owner, studio, status_quo, active_version
):
    # given
    client = gql(studio_owner)
    variables = inverse_input(
        studio, round(status_quo * 1.05, 2), constraints={"maxTicketIncrease": 10.0}
    )
    hits = cache_stats()["process"]["hits"]

    # when
    first = client.post(INVERSE_PREDICTION_QUERY, variables)
    with CaptureQueriesContext(connection) as hit_queries:
        second = client.post(INVERSE_PREDICTION_QUERY, variables)

    # then
    assert second["Cache-Status"] == "studiosim; hit; detail=inversePrediction"
    assert cache_stats()["process"]["hits"] == hits + 1
    answers = [r.json()["data"]["inversePrediction"] for r in (first, second)]
    ids = [answer.pop("optimizationId") for answer in answers]
    assert answers[0] == answers[1]
    assert ids[0] != ids[1]
    assert PredictionLog.objects.filter(pk__in=ids).count() == 2
    assert_a_hit_costs_four_queries(hit_queries)


def test_locked_levers_in_any_order_share_a_cache_entry(
    gql, studio_owner, studio, status_quo, active_version
):
    client = gql(studio_owner)
    target = round(status_quo * 1.02, 2)

    client.post(
        REACHABLE_QUERY,
        inverse_input(
            studio,
            target,
            constraints={"lockedLevers": ["UPSELL_RATE", "RETENTION_RATE"]},
        ),
    )
    second = client.post(
        REACHABLE_QUERY,
        inverse_input(
            studio,
            target,
            constraints={"lockedLevers": ["RETENTION_RATE", "UPSELL_RATE"]},
        ),
    )

    assert second["Cache-Status"].startswith("studiosim; hit")


def test_a_cached_inverse_answer_is_the_services_output_exactly(studio, active_version):
    """The nested output (changes, plan, alternatives) survives the JSON cache."""
    # given
    request = {"target_revenue": 1e9}

    def compute() -> InverseOutput:
        return inverse_predict(
            studio=studio, base_month=BASE_MONTH, target_revenue=1e9, log=False
        )

    # when
    missed = cached_prediction(
        "inverse", InverseOutput, studio=studio, request=request, compute=compute
    )
    hit = cached_prediction(
        "inverse", InverseOutput, studio=studio, request=request, compute=compute
    )

    # then
    assert (missed.hit, hit.hit) == (False, True)
    assert hit.output == missed.output == compute()
    assert hit.data == missed.data == compute().as_dict()
    assert hit.output.action_plan and hit.output.lever_changes
