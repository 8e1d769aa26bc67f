"""saveScenario, scenarios, scenario, deleteScenario and compareScenarios.

The services and their figures are tested in tests/scenarios/; these tests hold
the API to its shape, its tenancy (NOT_FOUND for other studios, FORBIDDEN for a
viewer's writes) and its errors (which argument, and why).
"""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from scenarios.models import Scenario
from studios.models import StudioRole
from tests.api.conftest import covers, error_codes
from tests.factories import StudioFactory, StudioMembershipFactory, UserFactory
from tests.scenarios.builders import forward_log, forward_scenario

pytestmark = pytest.mark.django_db

SCENARIO_FIELDS = """
    scenarioId scenarioName description scenarioType baseMonth projectionMonths
    tags confidenceScore inputs outputs createdAt createdBy targetRevenue
    predictedRevenue shareableUrl
    studio { id name }
    projection {
      coverage totalRevenue modelVersion
      months { month monthYear revenue memberCount confidenceScore
               confidenceInterval { lower upper } }
      baseLevers { retentionRate }
      levers { retentionRate }
    }
"""

SCENARIO_SAVE_MUTATION = f"""
mutation SaveScenario($input: ScenarioSaveInput!) {{
  saveScenario(input: $input) {{
    scenarioId savedAt shareableUrl
    scenario {{ {SCENARIO_FIELDS} }}
  }}
}}
"""

SCENARIOS_QUERY = """
query Scenarios(
  $studioId: ID!, $tags: [String!], $scenarioType: ScenarioType,
  $page: Int! = 1, $pageSize: Int! = 20
) {
  scenarios(
    studioId: $studioId, tags: $tags, scenarioType: $scenarioType,
    page: $page, pageSize: $pageSize
  ) {
    total page pageSize
    scenarios {
      scenarioId scenarioName createdAt scenarioType targetRevenue
      predictedRevenue tags shareableUrl
    }
  }
}
"""

SCENARIO_QUERY = f"""
query Scenario($id: ID!) {{
  scenario(id: $id) {{ {SCENARIO_FIELDS} }}
}}
"""

SCENARIO_DELETE_MUTATION = """
mutation DeleteScenario($id: ID!) {
  deleteScenario(id: $id) { scenarioId }
}
"""

COMPARE_SCENARIOS_QUERY = """
query CompareScenarios($ids: [ID!]!) {
  compareScenarios(ids: $ids) {
    studioId
    scenarios {
      scenarioId scenarioName scenarioType baseMonth projectionMonths coverage
      totalRevenue predictedRevenue targetRevenue
    }
    levers { lever values differences { absolute percent } }
    months {
      monthYear
      figures {
        revenue memberCount confidenceInterval { lower upper }
        revenueDifference { absolute percent }
        memberDifference { absolute percent }
        probabilityAboveBaseline
      }
    }
    verdicts {
      scenarioId commonMonths revenue baselineRevenue
      difference { absolute percent }
      higherScenarioId higherBy probabilityAboveBaseline
    }
  }
}
"""


def _member(studio, role: StudioRole, username: str):
    return StudioMembershipFactory(
        studio=studio, role=role, user=UserFactory(username=username)
    ).user


@pytest.fixture
def viewer(owner):
    """A user who may read the owner's studio but not change it."""
    return _member(owner.studio, StudioRole.VIEWER, "viewer")


@pytest.fixture
def outsider(db):
    """The owner of another studio (``outsider.studio``)."""
    studio = StudioFactory(name="Elsewhere")
    user = _member(studio, StudioRole.OWNER, "outsider")
    user.studio = studio
    return user


def save_input(studio, log, **fields) -> dict:
    return {
        "input": {
            "studioId": str(studio.pk),
            "predictionId": str(log.pk),
            "scenarioName": "Summer push",
            **fields,
        }
    }


def _created(scenario: Scenario, minutes_ago: int) -> Scenario:
    Scenario.objects.filter(pk=scenario.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=minutes_ago)
    )
    return scenario


# --- saveScenario -------------------------------------------------------------------


@covers("allowed", "saveScenario")
def test_an_owner_saves_a_prediction_and_gets_its_shareable_url(gql, owner):
    # given
    log = forward_log(owner.studio, user=owner, levers={"retention_rate": 0.95})

    # when
    body = gql(owner).execute(
        SCENARIO_SAVE_MUTATION,
        save_input(
            owner.studio,
            log,
            description="More check-ins",
            tags=["Summer ", "promo", "summer"],
        ),
    )

    # then
    assert "errors" not in body
    saved = body["data"]["saveScenario"]
    scenario = Scenario.objects.get()
    assert saved["scenarioId"] == str(scenario.pk)
    assert saved["savedAt"] == scenario.created_at.isoformat()
    assert saved["shareableUrl"] == f"http://testserver/scenarios/{scenario.pk}/"
    full = saved["scenario"]
    assert full["scenarioName"] == "Summer push"
    assert full["description"] == "More check-ins"
    assert full["scenarioType"] == "FORWARD"
    assert full["tags"] == ["summer", "promo"]
    assert (full["baseMonth"], full["projectionMonths"]) == ("2024-01-01", 3)
    assert full["confidenceScore"] == 0.8
    assert full["inputs"] == log.inputs
    assert full["outputs"] == log.outputs
    assert full["createdBy"] == "owner"
    assert full["studio"] == {"id": str(owner.studio.pk), "name": owner.studio.name}
    assert (full["predictedRevenue"], full["targetRevenue"]) == (48000.0, None)
    assert full["shareableUrl"] == saved["shareableUrl"]
    projection = full["projection"]
    assert [m["revenue"] for m in projection["months"]] == [46000.0, 47000.0, 48000.0]
    assert projection["months"][0]["monthYear"] == "2024-02-01"
    assert projection["months"][0]["confidenceInterval"]["lower"] < 46000.0
    assert projection["levers"] == {"retentionRate": 0.95}
    assert projection["baseLevers"] == {"retentionRate": 0.92}
    assert projection["totalRevenue"] == 141000.0


def test_a_save_retried_with_its_idempotency_key_returns_the_same_scenario(gql, owner):
    # given a save whose answer the client never received
    log = forward_log(owner.studio, user=owner)
    client = gql(owner)
    variables = save_input(owner.studio, log, idempotencyKey="8f0e0c1a-retry")
    first = client.execute(SCENARIO_SAVE_MUTATION, variables)

    # when the client sends it again, twice
    retries = [client.execute(SCENARIO_SAVE_MUTATION, variables) for _ in "ab"]

    # then one scenario, and every answer names it
    scenario = Scenario.objects.get()
    for body in (first, *retries):
        assert body["data"]["saveScenario"]["scenarioId"] == str(scenario.pk)


def test_an_idempotency_key_reused_for_another_save_is_bad_input(gql, owner):
    log = forward_log(owner.studio, user=owner)
    client = gql(owner)
    client.execute(
        SCENARIO_SAVE_MUTATION, save_input(owner.studio, log, idempotencyKey="k")
    )

    body = client.execute(
        SCENARIO_SAVE_MUTATION,
        save_input(owner.studio, log, idempotencyKey="k", scenarioName="Other"),
    )

    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "idempotencyKey"
    assert Scenario.objects.count() == 1


def test_the_shareable_url_uses_the_frontend_base_url_when_set(gql, owner, settings):
    # given
    settings.FRONTEND_BASE_URL = "https://app.example.com/"
    log = forward_log(owner.studio, user=owner)

    # when
    body = gql(owner).execute(SCENARIO_SAVE_MUTATION, save_input(owner.studio, log))

    # then
    saved = body["data"]["saveScenario"]
    assert saved["shareableUrl"] == (
        f"https://app.example.com/scenarios/{saved['scenarioId']}/"
    )


@covers("anonymous", "saveScenario")
def test_save_scenario_refuses_anonymous_callers(gql, owner):
    log = forward_log(owner.studio, user=owner)

    response = gql().post(SCENARIO_SAVE_MUTATION, save_input(owner.studio, log))

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]
    assert not Scenario.objects.exists()


@covers("denied", "saveScenario")
def test_saving_into_another_studio_is_answered_like_a_missing_studio(
    gql, owner, outsider
):
    # given
    log = forward_log(owner.studio, user=owner)
    client = gql(outsider)

    # when
    hidden = client.execute(SCENARIO_SAVE_MUTATION, save_input(owner.studio, log))
    missing = client.execute(
        SCENARIO_SAVE_MUTATION,
        save_input(owner.studio, log, studioId=str(uuid.uuid4())),
    )

    # then
    assert hidden["data"] is None
    assert error_codes(hidden) == error_codes(missing) == ["NOT_FOUND"]
    assert hidden["errors"][0]["message"] == f"No studio {owner.studio.pk}."
    assert not Scenario.objects.exists()


@covers("denied", "saveScenario")
def test_a_viewer_may_not_save_a_scenario(gql, owner, viewer):
    log = forward_log(owner.studio, user=owner)

    body = gql(viewer).execute(SCENARIO_SAVE_MUTATION, save_input(owner.studio, log))

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN"}
    assert "owners and managers" in error["message"]
    assert not Scenario.objects.exists()


@covers("bad input", "saveScenario")
@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"scenarioName": "  "}, "scenarioName", "a scenario needs a name"),
        ({"scenarioName": "x" * 201}, "scenarioName", "at most 200 characters"),
        ({"description": "x" * 5001}, "description", "at most 5000 characters"),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags", "at most 20"),
        ({"predictionId": "not-a-uuid"}, "predictionId", "is not a prediction id"),
        ({"studioId": "not-a-uuid"}, "studioId", "is not a studio id"),
    ],
    ids=[
        "blank-name",
        "long-name",
        "long-description",
        "21-tags",
        "bad-id",
        "bad-studio",
    ],
)
def test_save_scenario_names_the_refused_field(gql, owner, fields, field, reason):
    # given
    log = forward_log(owner.studio, user=owner)

    # when
    body = gql(owner).execute(
        SCENARIO_SAVE_MUTATION, save_input(owner.studio, log, **fields)
    )

    # then
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert error["extensions"]["reason"].startswith(reason)
    assert not Scenario.objects.exists()


@covers("bad input", "saveScenario")
def test_a_prediction_of_another_of_the_users_studios_is_refused(gql, owner):
    # given: the owner also owns a second studio, where the prediction was made
    second = StudioMembershipFactory(user=owner).studio
    log = forward_log(second, user=owner)

    # when
    body = gql(owner).execute(SCENARIO_SAVE_MUTATION, save_input(owner.studio, log))

    # then
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "predictionId",
        "reason": "the prediction was made for another studio",
    }


def test_a_prediction_the_caller_may_not_see_is_not_found(gql, owner, outsider):
    # given: a prediction of the outsider's studio, saved into the owner's
    log = forward_log(outsider.studio, user=outsider)

    # when
    body = gql(owner).execute(SCENARIO_SAVE_MUTATION, save_input(owner.studio, log))

    # then
    [error] = body["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["extensions"]["field"] == "predictionId"


# --- scenarios ----------------------------------------------------------------------


@covers("allowed", "scenarios")
def test_scenarios_are_listed_newest_first_a_page_at_a_time(gql, viewer, owner):
    # given
    studio = owner.studio
    oldest = _created(forward_scenario(studio, name="Oldest", revenues=[1.0]), 30)
    middle = _created(forward_scenario(studio, name="Middle", revenues=[2.0]), 20)
    newest = _created(forward_scenario(studio, name="Newest", revenues=[3.0]), 10)
    forward_scenario(StudioFactory(), revenues=[9.0])  # another studio's

    # when
    first = gql(viewer).execute(
        SCENARIOS_QUERY, {"studioId": str(studio.pk), "pageSize": 2}
    )
    second = gql(viewer).execute(
        SCENARIOS_QUERY, {"studioId": str(studio.pk), "pageSize": 2, "page": 2}
    )

    # then
    page = first["data"]["scenarios"]
    assert (page["total"], page["page"], page["pageSize"]) == (3, 1, 2)
    assert [s["scenarioId"] for s in page["scenarios"]] == [
        str(newest.pk),
        str(middle.pk),
    ]
    assert page["scenarios"][0] == {
        "scenarioId": str(newest.pk),
        "scenarioName": "Newest",
        "createdAt": Scenario.objects.get(pk=newest.pk).created_at.isoformat(),
        "scenarioType": "FORWARD",
        "targetRevenue": None,
        "predictedRevenue": 3.0,
        "tags": [],
        "shareableUrl": f"http://testserver/scenarios/{newest.pk}/",
    }
    assert [s["scenarioId"] for s in second["data"]["scenarios"]["scenarios"]] == [
        str(oldest.pk)
    ]


def test_scenarios_are_filtered_by_every_tag_given_and_by_type(gql, owner):
    # given
    studio = owner.studio
    both = forward_scenario(studio, revenues=[1.0], tags=["summer", "promo"])
    forward_scenario(studio, revenues=[1.0], tags=["summer"])
    forward_scenario(studio, revenues=[1.0], tags=["promo"])
    variables = {"studioId": str(studio.pk)}

    # when
    tagged = gql(owner).execute(
        SCENARIOS_QUERY, {**variables, "tags": ["Promo", "summer"]}
    )
    inverse = gql(owner).execute(
        SCENARIOS_QUERY, {**variables, "scenarioType": "INVERSE"}
    )

    # then
    page = tagged["data"]["scenarios"]
    assert page["total"] == 1
    assert page["scenarios"][0]["scenarioId"] == str(both.pk)
    assert inverse["data"]["scenarios"]["total"] == 0


@covers("anonymous", "scenarios")
def test_scenarios_refuse_anonymous_callers(gql, owner):
    response = gql().post(SCENARIOS_QUERY, {"studioId": str(owner.studio.pk)})

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


@covers("denied", "scenarios")
def test_another_studios_scenarios_are_answered_like_a_missing_studio(
    gql, owner, outsider
):
    # given
    forward_scenario(owner.studio, revenues=[1.0])
    client = gql(outsider)

    # when
    hidden = client.execute(SCENARIOS_QUERY, {"studioId": str(owner.studio.pk)})
    missing = client.execute(SCENARIOS_QUERY, {"studioId": str(uuid.uuid4())})

    # then
    assert hidden["data"] is None
    assert error_codes(hidden) == error_codes(missing) == ["NOT_FOUND"]
    assert hidden["errors"][0]["extensions"]["field"] == "studioId"


@covers("bad input", "scenarios")
@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"pageSize": 101}, "pageSize"),
        ({"pageSize": 0}, "pageSize"),
        ({"page": 0}, "page"),
        ({"tags": ["x" * 41]}, "tags"),
        ({"studioId": "42"}, "studioId"),
    ],
    ids=["page-size-101", "page-size-0", "page-0", "long-tag", "bad-studio-id"],
)
def test_scenarios_name_the_refused_argument(gql, owner, variables, field):
    body = gql(owner).execute(
        SCENARIOS_QUERY, {"studioId": str(owner.studio.pk), **variables}
    )

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field


# --- scenario -----------------------------------------------------------------------


@covers("allowed", "scenario")
def test_a_viewer_reads_a_scenario_in_full(gql, owner, viewer):
    # given
    log = forward_log(owner.studio, user=owner)
    saved = gql(owner).execute(SCENARIO_SAVE_MUTATION, save_input(owner.studio, log))
    expected = saved["data"]["saveScenario"]["scenario"]

    # when
    body = gql(viewer).execute(SCENARIO_QUERY, {"id": expected["scenarioId"]})

    # then
    assert body == {"data": {"scenario": expected}}


@covers("anonymous", "scenario")
def test_scenario_refuses_anonymous_callers(gql, owner):
    scenario = forward_scenario(owner.studio, revenues=[1.0])

    response = gql().post(SCENARIO_QUERY, {"id": str(scenario.pk)})

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


@covers("denied", "scenario")
def test_another_studios_scenario_is_answered_like_a_missing_one(gql, owner, outsider):
    # given
    scenario = forward_scenario(owner.studio, revenues=[1.0])
    client = gql(outsider)

    # when
    hidden = client.execute(SCENARIO_QUERY, {"id": str(scenario.pk)})
    missing = client.execute(SCENARIO_QUERY, {"id": str(uuid.uuid4())})

    # then
    assert hidden["data"] is None
    [hidden_error], [missing_error] = hidden["errors"], missing["errors"]
    assert hidden_error["extensions"] == {
        "code": "NOT_FOUND",
        "field": "id",
        "reason": f"No scenario {scenario.pk}.",
    }
    assert missing_error["extensions"]["code"] == "NOT_FOUND"
    assert missing_error["extensions"]["field"] == "id"


@covers("bad input", "scenario")
def test_scenario_refuses_an_id_that_is_not_a_uuid(gql, owner):
    body = gql(owner).execute(SCENARIO_QUERY, {"id": "42"})

    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "id",
        "reason": "is not a scenario id (a UUID)",
    }


# --- deleteScenario -----------------------------------------------------------------


@covers("allowed", "deleteScenario")
def test_an_owner_deletes_a_scenario(gql, owner):
    scenario = forward_scenario(owner.studio, revenues=[1.0])

    body = gql(owner).execute(SCENARIO_DELETE_MUTATION, {"id": str(scenario.pk)})

    assert body == {"data": {"deleteScenario": {"scenarioId": str(scenario.pk)}}}
    assert not Scenario.objects.exists()


@covers("anonymous", "deleteScenario")
def test_delete_scenario_refuses_anonymous_callers(gql, owner):
    scenario = forward_scenario(owner.studio, revenues=[1.0])

    response = gql().post(SCENARIO_DELETE_MUTATION, {"id": str(scenario.pk)})

    assert response.status_code == 401
    assert Scenario.objects.filter(pk=scenario.pk).exists()


@covers("denied", "deleteScenario")
@pytest.mark.parametrize(
    ("caller", "code"),
    [("viewer", "FORBIDDEN"), ("outsider", "NOT_FOUND")],
)
def test_only_the_studios_owners_and_managers_delete_its_scenarios(
    gql, owner, request, caller, code
):
    # given
    scenario = forward_scenario(owner.studio, revenues=[1.0])
    user = request.getfixturevalue(caller)

    # when
    body = gql(user).execute(SCENARIO_DELETE_MUTATION, {"id": str(scenario.pk)})

    # then
    assert body["data"] is None
    assert error_codes(body) == [code]
    assert Scenario.objects.filter(pk=scenario.pk).exists()


@covers("bad input", "deleteScenario")
def test_delete_scenario_refuses_an_id_that_is_not_a_uuid(gql, owner):
    body = gql(owner).execute(SCENARIO_DELETE_MUTATION, {"id": "drop table"})

    [error] = body["errors"]
    assert error["extensions"]["field"] == "id"
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


# --- compareScenarios ---------------------------------------------------------------


@covers("allowed", "compareScenarios")
def test_two_scenarios_are_compared_side_by_side(gql, owner, viewer):
    # given
    baseline = forward_scenario(
        owner.studio,
        name="Baseline",
        revenues=[10000.0, 11000.0, 12000.0],
        members=[200.0, 210.0, 220.0],
    )
    other = forward_scenario(
        owner.studio,
        name="Retention push",
        revenues=[10500.0, 11000.0, 11400.0],
        members=[204.0, 210.0, 209.0],
        levers={"retention_rate": 0.95},
    )

    # when
    body = gql(viewer).execute(
        COMPARE_SCENARIOS_QUERY, {"ids": [str(baseline.pk), str(other.pk)]}
    )

    # then
    assert "errors" not in body
    comparison = body["data"]["compareScenarios"]
    assert comparison["studioId"] == str(owner.studio.pk)
    assert [s["scenarioName"] for s in comparison["scenarios"]] == [
        "Baseline",
        "Retention push",
    ]
    assert comparison["scenarios"][1]["totalRevenue"] == 32900.0
    levers = {row["lever"]: row for row in comparison["levers"]}
    assert set(levers) == {
        "RETENTION_RATE",
        "AVG_TICKET_PRICE",
        "CLASS_ATTENDANCE_RATE",
        "NEW_MEMBERS_MONTHLY",
        "STAFF_UTILIZATION_RATE",
        "UPSELL_RATE",
        "TOTAL_CLASSES_HELD",
    }
    assert levers["RETENTION_RATE"]["values"] == [0.92, 0.95]
    assert levers["RETENTION_RATE"]["differences"][0] is None
    assert levers["RETENTION_RATE"]["differences"][1]["absolute"] == pytest.approx(0.03)
    assert [m["monthYear"] for m in comparison["months"]] == [
        "2024-02-01",
        "2024-03-01",
        "2024-04-01",
    ]
    base_month, other_month = comparison["months"][0]["figures"]
    assert base_month["revenueDifference"] is None
    assert base_month["probabilityAboveBaseline"] is None
    assert other_month["revenueDifference"] == {"absolute": 500.0, "percent": 0.05}
    assert other_month["memberDifference"] == {"absolute": 4.0, "percent": 0.02}
    assert 0.5 < other_month["probabilityAboveBaseline"] < 1
    [verdict] = comparison["verdicts"]
    assert verdict["scenarioId"] == str(other.pk)
    assert verdict["commonMonths"] == 3
    assert (verdict["revenue"], verdict["baselineRevenue"]) == (32900.0, 33000.0)
    assert verdict["higherScenarioId"] == str(baseline.pk)
    assert verdict["higherBy"] == 100.0
    assert 0 < verdict["probabilityAboveBaseline"] < 0.5


def test_months_only_one_scenario_forecasts_have_no_figures_for_the_other(gql, owner):
    # given
    baseline = forward_scenario(owner.studio, revenues=[100.0, 110.0])
    later = forward_scenario(
        owner.studio, revenues=[115.0, 120.0], base_month=dt.date(2024, 2, 1)
    )

    # when
    body = gql(owner).execute(
        COMPARE_SCENARIOS_QUERY, {"ids": [str(baseline.pk), str(later.pk)]}
    )

    # then
    months = body["data"]["compareScenarios"]["months"]
    assert [m["monthYear"] for m in months] == [
        "2024-02-01",
        "2024-03-01",
        "2024-04-01",
    ]
    assert months[0]["figures"][1] is None
    assert months[2]["figures"][0] is None
    assert body["data"]["compareScenarios"]["verdicts"][0]["commonMonths"] == 1


@covers("anonymous", "compareScenarios")
def test_compare_scenarios_refuses_anonymous_callers(gql, owner):
    ids = [str(forward_scenario(owner.studio, revenues=[1.0]).pk) for _ in range(2)]

    response = gql().post(COMPARE_SCENARIOS_QUERY, {"ids": ids})

    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


@covers("denied", "compareScenarios")
def test_comparing_with_another_studios_scenario_is_answered_like_a_missing_one(
    gql, owner, outsider
):
    # given
    own = forward_scenario(outsider.studio, revenues=[1.0])
    hidden = forward_scenario(owner.studio, revenues=[1.0])
    client = gql(outsider)

    # when
    refused = client.execute(
        COMPARE_SCENARIOS_QUERY, {"ids": [str(own.pk), str(hidden.pk)]}
    )
    missing = client.execute(
        COMPARE_SCENARIOS_QUERY, {"ids": [str(own.pk), str(uuid.uuid4())]}
    )

    # then
    assert refused["data"] is None
    assert error_codes(refused) == error_codes(missing) == ["NOT_FOUND"]
    assert refused["errors"][0]["extensions"]["field"] == "ids"


@covers("bad input", "compareScenarios")
@pytest.mark.parametrize(
    ("count", "reason"),
    [(1, "compare between 2 and 10 scenarios"), (11, "compare between 2 and 10")],
    ids=["one", "eleven"],
)
def test_compare_needs_two_to_ten_scenarios(gql, owner, count, reason):
    ids = [str(forward_scenario(owner.studio, revenues=[1.0]).pk) for _ in range(count)]

    body = gql(owner).execute(COMPARE_SCENARIOS_QUERY, {"ids": ids})

    [error] = body["errors"]
    assert error["extensions"]["field"] == "ids"
    assert error["extensions"]["reason"].startswith(reason)


def test_compare_refuses_scenarios_of_different_studios(gql, superuser):
    # given: the superuser sees both studios
    ids = [str(forward_scenario(StudioFactory(), revenues=[1.0]).pk) for _ in range(2)]

    # when
    body = gql(superuser).execute(COMPARE_SCENARIOS_QUERY, {"ids": ids})

    # then
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "ids",
        "reason": "only scenarios of one studio can be compared",
    }


def test_compare_refuses_an_id_that_is_not_a_uuid(gql, owner):
    scenario = forward_scenario(owner.studio, revenues=[1.0])

    body = gql(owner).execute(
        COMPARE_SCENARIOS_QUERY, {"ids": [str(scenario.pk), "nope"]}
    )

    [error] = body["errors"]
    assert error["extensions"]["field"] == "ids"
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
