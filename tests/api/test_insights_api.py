"""generateInsights: a scenario's actions, risks and opportunities over the API.

The figures are tested against the forward model in tests/insights/; these tests
hold the API to the service's answer, its tenancy and its errors.
"""

import uuid

import pytest

from forecasting.services import forecast_predict
from insights import services
from insights.llm import ExtraTactic, LlmAdvice
from insights.services import insights_generate
from scenarios.services import scenario_save
from studios.models import StudioRole
from tests.api.conftest import covers, error_codes
from tests.factories import StudioFactory, StudioMembershipFactory, UserFactory
from tests.scenarios.builders import forward_scenario

pytestmark = pytest.mark.django_db

BASE_MONTH = "2026-04"

GENERATE_INSIGHTS_MUTATION = """
mutation GenerateInsights($scenarioId: ID!, $insightTypes: [InsightType!]) {
  generateInsights(scenarioId: $scenarioId, insightTypes: $insightTypes) {
    scenarioId modelVersion targetMonth generatedAt source
    nextBestActions {
      priority lever action impact expectedRevenueGain confidence timelineWeeks cost
    }
    riskFactors {
      kind risk monthYear probability potentialRevenueImpact mitigation
    }
    opportunities {
      kind opportunity lever targetValue potentialRevenueGain confidence actions
    }
    tips obstacles
    extraTactics { name lever description }
  }
}
"""


@pytest.fixture(autouse=True)
def _rules_only(settings):
    """No LLM unless a test configures one."""
    settings.OPENAI_API_KEY = ""


@pytest.fixture
def studio(loaded_studios):
    return loaded_studios[1]


@pytest.fixture
def studio_owner(studio):
    return StudioMembershipFactory(
        studio=studio, user=UserFactory(username="studio-owner")
    ).user


@pytest.fixture
def scenario(active_version, studio, studio_owner):
    """A plan raising retention and running classes fuller than 90%."""
    prediction = forecast_predict(
        studio=studio,
        base_month=BASE_MONTH,
        months=3,
        levers={"retention_rate": 0.97, "class_attendance_rate": 0.95},
        user=studio_owner,
    )
    return scenario_save(
        user=studio_owner,
        studio=studio,
        prediction_id=prediction.prediction_id,
        name="Fuller classes",
    )


def _enum(value: str) -> str:
    return value.upper()


@covers("allowed", "generateInsights")
def test_insights_carry_the_services_figures(gql, scenario, studio_owner):
    # given
    expected = insights_generate(user=studio_owner, scenario_id=scenario.pk)

    # when
    body = gql(studio_owner).execute(
        GENERATE_INSIGHTS_MUTATION, {"scenarioId": str(scenario.pk)}
    )

    # then
    assert "errors" not in body
    insights = body["data"]["generateInsights"]
    assert insights["scenarioId"] == str(scenario.pk)
    assert insights["modelVersion"] == expected.model_version
    assert insights["targetMonth"] == expected.target_month.isoformat()
    assert insights["generatedAt"] == expected.generated_at.isoformat()
    assert (insights["source"], insights["tips"], insights["extraTactics"]) == (
        "rules",
        [],
        [],
    )
    assert insights["nextBestActions"] == [
        {
            "priority": a.priority,
            "lever": _enum(a.lever),
            "action": a.action,
            "impact": a.impact,
            "expectedRevenueGain": a.expected_revenue_gain,
            "confidence": a.confidence,
            "timelineWeeks": a.timeline_weeks,
            "cost": _enum(a.cost),
        }
        for a in expected.next_best_actions
    ]
    assert insights["riskFactors"] == [
        {
            "kind": _enum(r.kind),
            "risk": r.risk,
            "monthYear": r.month_year and r.month_year.isoformat(),
            "probability": r.probability,
            "potentialRevenueImpact": r.potential_revenue_impact,
            "mitigation": r.mitigation,
        }
        for r in expected.risk_factors
    ]
    assert "CAPACITY_LIMIT" in {r["kind"] for r in insights["riskFactors"]}
    assert insights["opportunities"] == [
        {
            "kind": _enum(o.kind),
            "opportunity": o.opportunity,
            "lever": _enum(o.lever),
            "targetValue": o.target_value,
            "potentialRevenueGain": o.potential_revenue_gain,
            "confidence": o.confidence,
            "actions": o.actions,
        }
        for o in expected.opportunities
    ]
    assert insights["nextBestActions"]


def test_only_the_insight_types_asked_for_are_answered_and_llm_advice_is_shown(
    gql, scenario, studio_owner, settings, monkeypatch
):
    # given: an LLM configured, answering with advice (its SDK path is tested in
    # tests/insights/test_llm.py)
    settings.OPENAI_API_KEY = "sk-test"
    advice = LlmAdvice(
        model="stub-model",
        tips=["Open a waiting list for the busiest classes."],
        obstacles=["Peak slots are full."],
        extra_tactics=[
            ExtraTactic(
                name="Overflow class",
                lever="total_classes_held",
                description="Add a class next to the fullest one.",
            )
        ],
    )
    monkeypatch.setattr(services, "advice_request", lambda context: advice)

    # when
    body = gql(studio_owner).execute(
        GENERATE_INSIGHTS_MUTATION,
        {"scenarioId": str(scenario.pk), "insightTypes": ["RISK_FACTORS"]},
    )

    # then
    insights = body["data"]["generateInsights"]
    assert insights["nextBestActions"] is None
    assert insights["opportunities"] is None
    assert insights["riskFactors"]
    assert insights["source"] == "stub-model"
    assert insights["tips"] == advice.tips
    assert insights["obstacles"] == advice.obstacles
    assert insights["extraTactics"] == [
        {
            "name": "Overflow class",
            "lever": "TOTAL_CLASSES_HELD",
            "description": "Add a class next to the fullest one.",
        }
    ]


@covers("anonymous", "generateInsights")
def test_generate_insights_refuses_anonymous_callers(gql, owner):
    scenario = forward_scenario(owner.studio, revenues=[1.0])

    response = gql().post(GENERATE_INSIGHTS_MUTATION, {"scenarioId": str(scenario.pk)})

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


@covers("denied", "generateInsights")
def test_insights_of_another_studios_scenario_are_answered_like_a_missing_one(
    gql, owner
):
    # given
    scenario = forward_scenario(owner.studio, revenues=[1.0])
    outsider = StudioMembershipFactory(
        studio=StudioFactory(), role=StudioRole.OWNER
    ).user
    client = gql(outsider)

    # when
    hidden = client.execute(
        GENERATE_INSIGHTS_MUTATION, {"scenarioId": str(scenario.pk)}
    )
    missing = client.execute(
        GENERATE_INSIGHTS_MUTATION, {"scenarioId": str(uuid.uuid4())}
    )

    # then
    assert hidden["data"] is None
    assert error_codes(hidden) == error_codes(missing) == ["NOT_FOUND"]
    assert hidden["errors"][0]["extensions"]["field"] == "scenarioId"


def test_a_viewer_gets_past_tenancy_and_without_a_model_gets_no_active_model(
    gql, owner
):
    """Insights change no data, so whoever may see the scenario may ask."""
    # given: no active model, so the request gets past tenancy and stops there
    scenario = forward_scenario(owner.studio, revenues=[1.0])
    viewer = StudioMembershipFactory(studio=owner.studio, role=StudioRole.VIEWER).user

    # when
    body = gql(viewer).execute(
        GENERATE_INSIGHTS_MUTATION, {"scenarioId": str(scenario.pk)}
    )

    # then
    [error] = body["errors"]
    assert error["extensions"] == {"code": "NO_ACTIVE_MODEL"}
    assert error["message"] == "no active model: run train_model"


@covers("bad input", "generateInsights")
def test_generate_insights_refuses_an_id_that_is_not_a_uuid(gql, owner):
    body = gql(owner).execute(GENERATE_INSIGHTS_MUTATION, {"scenarioId": "7"})

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "scenarioId",
        "reason": "is not a scenario id (a UUID)",
    }


def test_generate_insights_refuses_an_unknown_insight_type(gql, owner):
    scenario = forward_scenario(owner.studio, revenues=[1.0])

    body = gql(owner).execute(
        GENERATE_INSIGHTS_MUTATION,
        {"scenarioId": str(scenario.pk), "insightTypes": ["HOROSCOPE"]},
    )

    [error] = body["errors"]
    assert "HOROSCOPE" in error["message"]
    assert "InsightType" in error["message"]
