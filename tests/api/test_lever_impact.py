"""leverImpactAnalysis: ranking, tenancy, typed errors and caching."""

import uuid

import pytest

from forecasting.graphql.types import LeverEnum
from forecasting.models import PredictionLog
from studios.models import MonthlyMetric
from studios.services import metric_save
from tests.api.conftest import covers, error_codes
from tests.factories import StudioFactory, StudioMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

LEVER_IMPACT_QUERY = """
query LeverImpact($studioId: ID!, $analysisType: AnalysisType!, $baseMonth: String) {
  leverImpactAnalysis(
    studioId: $studioId, analysisType: $analysisType, baseMonth: $baseMonth
  ) {
    studioId
    analysisType
    baseMonth
    horizon
    baseRevenue
    leverImpacts {
      lever rank impactScore revenueSensitivity elasticity correlation
      peerCorrelation recommendation
    }
    correlationMatrix { lever revenueCorrelation }
    modelVersion
  }
}
"""

ALL_LEVERS = sorted(lever.name for lever in LeverEnum)


@pytest.fixture
def studio(loaded_studios):
    return loaded_studios[0]


@pytest.fixture
def studio_owner(studio):
    """A user owning the first generated studio only."""
    return StudioMembershipFactory(
        studio=studio, user=UserFactory(username="studio-owner")
    ).user


def impact_variables(studio, analysis_type="SENSITIVITY", base_month=None) -> dict:
    return {
        "studioId": str(studio.pk),
        "analysisType": analysis_type,
        "baseMonth": base_month,
    }


@covers("allowed", "leverImpactAnalysis")
def test_lever_impact_ranks_every_lever_by_its_revenue_sensitivity(
    gql, studio_owner, studio, active_version
):
    # when: no base month, so the latest month of data
    body = gql(studio_owner).execute(LEVER_IMPACT_QUERY, impact_variables(studio))

    # then
    assert "errors" not in body
    result = body["data"]["leverImpactAnalysis"]
    latest = MonthlyMetric.objects.filter(studio=studio).latest("month_year")
    assert result["baseMonth"] == latest.month_year.isoformat()
    assert (result["analysisType"], result["horizon"]) == ("SENSITIVITY", 3)
    impacts = result["leverImpacts"]
    assert sorted(i["lever"] for i in impacts) == ALL_LEVERS
    assert [i["rank"] for i in impacts] == list(range(1, 8))
    sensitivities = [abs(i["revenueSensitivity"]) for i in impacts]
    assert sensitivities == sorted(sensitivities, reverse=True)
    assert impacts[0]["impactScore"] == 1.0
    assert all(i["recommendation"] for i in impacts)
    assert sorted(c["lever"] for c in result["correlationMatrix"]) == ALL_LEVERS
    assert result["modelVersion"] == active_version.version
    assert not PredictionLog.objects.exists()


def test_lever_impact_by_correlation_ranks_by_history(
    gql, studio_owner, studio, active_version
):
    body = gql(studio_owner).execute(
        LEVER_IMPACT_QUERY, impact_variables(studio, "CORRELATION", "2026-04")
    )

    result = body["data"]["leverImpactAnalysis"]
    assert (result["analysisType"], result["baseMonth"]) == (
        "CORRELATION",
        "2026-04-01",
    )
    correlations = [abs(i["correlation"] or 0) for i in result["leverImpacts"]]
    assert correlations == sorted(correlations, reverse=True)


@covers("anonymous", "leverImpactAnalysis")
def test_lever_impact_refuses_anonymous_callers(gql, studio, active_version):
    response = gql().post(LEVER_IMPACT_QUERY, impact_variables(studio))

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


@covers("denied", "leverImpactAnalysis")
def test_lever_impact_of_another_studio_is_answered_like_a_missing_one(
    gql, studio_owner, loaded_studios, active_version
):
    client = gql(studio_owner)

    hidden = client.execute(LEVER_IMPACT_QUERY, impact_variables(loaded_studios[1]))
    absent = client.execute(
        LEVER_IMPACT_QUERY,
        {"studioId": str(uuid.uuid4()), "analysisType": "SENSITIVITY"},
    )

    assert hidden["data"] is None and absent["data"] is None
    assert error_codes(hidden) == error_codes(absent) == ["NOT_FOUND"]


@covers("bad input", "leverImpactAnalysis")
@pytest.mark.parametrize(
    ("base_month", "field"),
    [("2026-13", "baseMonth"), ("1990-01", "baseMonth")],
    ids=["not-a-month", "month-without-history"],
)
def test_lever_impact_names_a_bad_base_month(
    gql, studio_owner, studio, active_version, base_month, field
):
    body = gql(studio_owner).execute(
        LEVER_IMPACT_QUERY, impact_variables(studio, base_month=base_month)
    )

    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field


def test_lever_impact_refuses_an_unknown_analysis_type_visibly(
    gql, studio_owner, studio, active_version
):
    body = gql(studio_owner).execute(
        LEVER_IMPACT_QUERY, impact_variables(studio, "MAGNITUDE")
    )

    [error] = body["errors"]
    assert error["message"] == (
        "Variable '$analysisType' has invalid value: "
        "Value 'MAGNITUDE' does not exist in 'AnalysisType' enum."
    )


def test_lever_impact_of_a_studio_without_data_says_so(gql, staff, active_version):
    empty = StudioFactory(name="Opening Soon")

    body = gql(staff).execute(LEVER_IMPACT_QUERY, impact_variables(empty))

    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "studioId",
        "reason": "Opening Soon has no monthly data yet",
    }


def test_lever_impact_without_an_active_model_says_to_train_one(
    gql, studio_owner, studio
):
    body = gql(studio_owner).execute(LEVER_IMPACT_QUERY, impact_variables(studio))

    assert error_codes(body) == ["NO_ACTIVE_MODEL"]


def test_lever_impact_is_cached_until_a_peers_data_changes(
    gql, studio_owner, studio, loaded_studios, active_version
):
    # given
    client = gql(studio_owner)
    variables = impact_variables(studio, "CORRELATION", "2026-04")
    first = client.post(LEVER_IMPACT_QUERY, variables)

    # when
    second = client.post(LEVER_IMPACT_QUERY, variables)

    # then
    assert second["Cache-Status"] == "studiosim; hit; detail=leverImpactAnalysis"
    assert second.json() == first.json()

    # when: a studio of the same type gets new data
    peer = next(
        s
        for s in loaded_studios
        if s.studio_type == studio.studio_type and s.pk != studio.pk
    )
    metric = MonthlyMetric.objects.filter(studio=peer).latest("month_year")
    metric.total_members += 1
    metric_save(metric=metric)
    third = client.post(LEVER_IMPACT_QUERY, variables)

    # then
    assert "hit" not in third["Cache-Status"].split("; ")


# --- response curves ----------------------------------------------------------------

LEVER_CURVES_QUERY = """
query LeverCurves($studioId: ID!, $curve: LeverCurveInput) {
  leverImpactAnalysis(studioId: $studioId, baseMonth: "2026-04", curve: $curve) {
    baseRevenue
    leverImpacts {
      lever
      modelled
      curve {
        points { pct leverValue revenue members clipped }
        optimum { pct leverValue revenue members clipped }
        optimumAtEdge
      }
    }
  }
}
"""


def test_lever_impact_draws_each_levers_curve_with_its_optimum(
    gql, studio_owner, studio, active_version
):
    # when: the default curve
    body = gql(studio_owner).execute(
        LEVER_CURVES_QUERY, {"studioId": str(studio.pk), "curve": {}}
    )

    # then: -20%..+20% in 9 points for every lever, the optimum the best of them
    assert "errors" not in body, body
    result = body["data"]["leverImpactAnalysis"]
    for impact in result["leverImpacts"]:
        curve = impact["curve"]
        assert [p["pct"] for p in curve["points"]] == pytest.approx(
            [-0.2, -0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2]
        )
        assert curve["points"][4]["revenue"] == pytest.approx(
            result["baseRevenue"], abs=0.01
        )
        best = max(curve["points"], key=lambda p: p["revenue"])
        assert curve["optimum"]["revenue"] == best["revenue"]
        assert curve["optimumAtEdge"] == (
            curve["optimum"] in (curve["points"][0], curve["points"][-1])
        )


def test_lever_impact_draws_no_curves_unless_asked(
    gql, studio_owner, studio, active_version
):
    body = gql(studio_owner).execute(LEVER_CURVES_QUERY, {"studioId": str(studio.pk)})

    impacts = body["data"]["leverImpactAnalysis"]["leverImpacts"]
    assert [impact["curve"] for impact in impacts] == [None] * len(ALL_LEVERS)


def test_lever_impact_caches_curves_of_each_shape_apart(
    gql, studio_owner, studio, active_version
):
    client = gql(studio_owner)
    variables = {"studioId": str(studio.pk), "curve": {"steps": 5}}
    client.post(LEVER_CURVES_QUERY, variables)

    same = client.post(LEVER_CURVES_QUERY, variables)
    other = client.post(
        LEVER_CURVES_QUERY, {"studioId": str(studio.pk), "curve": {"steps": 7}}
    )

    assert same["Cache-Status"] == "studiosim; hit; detail=leverImpactAnalysis"
    assert "hit" not in other["Cache-Status"].split("; ")
    impacts = other.json()["data"]["leverImpactAnalysis"]["leverImpacts"]
    assert {len(impact["curve"]["points"]) for impact in impacts} == {7}


@pytest.mark.parametrize(
    ("curve", "field"),
    [
        ({"steps": 2}, "curve.steps"),
        ({"steps": 100}, "curve.steps"),
        ({"fromPct": -2.0}, "curve.fromPct"),
        ({"toPct": 5.0}, "curve.toPct"),
        ({"fromPct": 0.2, "toPct": -0.2}, "curve.fromPct"),
    ],
)
def test_lever_impact_refuses_a_curve_out_of_range(
    gql, studio_owner, studio, active_version, curve, field
):
    body = gql(studio_owner).execute(
        LEVER_CURVES_QUERY, {"studioId": str(studio.pk), "curve": curve}
    )

    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert body["data"] is None
