"""One type for money across the API, and counts that are whole numbers."""

import math
import re
from decimal import Decimal

import pytest

from studiosim.graphql_scalars import money_parse, money_serialize
from tests.api.test_predictions import forward_input
from tests.factories import MonthlyMetricFactory

pytestmark = pytest.mark.django_db

MONEY_TYPES_QUERY = """
{
  __schema { types { name kind fields { name type { ...Named } } inputFields { name type { ...Named } } } }
}
fragment Named on __Type { name kind ofType { name kind ofType { name kind ofType { name kind } } } }
"""

FORECAST_QUERY = """
query Forecast($input: ForwardPredictionInput!) {
  forwardPrediction(input: $input) {
    totalProjectedRevenue
    predictions {
      revenue memberCount expectedMemberCount confidenceInterval { lower upper }
    }
    levers: leversUsed { avgTicketPrice newMembersMonthly }
  }
}
"""

#: Names that say "an amount of money"; every field so named must be Money.
MONEY_NAME = re.compile(r"(revenue|price|ltv|impact|gain|sensitivity|rmse)$", re.I)
#: Fields whose name matches but which are not amounts: rates, indexes,
#: correlations, a description in words.
NOT_AMOUNTS = {
    "NextBestAction.impact",
    "revenueGrowth12m",
    "revenueIndex",
    "revenueCorrelation",
    "revenueDifference",
    "impactScore",
}


def _named(type_ref: dict) -> dict:
    while type_ref.get("ofType"):
        type_ref = type_ref["ofType"]
    return type_ref


def test_every_amount_of_money_in_the_schema_is_money(gql, owner, settings):
    # given: introspection, as GraphiQL uses it
    settings.GRAPHIQL_ENABLED = True

    # when
    types = gql(owner).execute(MONEY_TYPES_QUERY)["data"]["__schema"]["types"]

    # then: no Decimal scalar is left, and every money-named scalar field is Money
    assert "Decimal" not in {t["name"] for t in types}
    wrong = []
    for owner_type in types:
        if owner_type["name"].startswith("__"):
            continue
        for field in (owner_type["fields"] or []) + (owner_type["inputFields"] or []):
            named = _named(field["type"])
            if (
                MONEY_NAME.search(field["name"])
                and field["name"] not in NOT_AMOUNTS
                and f"{owner_type['name']}.{field['name']}" not in NOT_AMOUNTS
                and named["kind"] in ("SCALAR",)
                and named["name"] != "Money"
            ):
                wrong.append(f"{owner_type['name']}.{field['name']}: {named['name']}")
    assert wrong == []


def test_a_forecast_s_amounts_are_numbers_to_the_cent_and_members_whole(
    gql, loaded_studios, active_version, superuser
):
    body = gql(superuser).execute(
        FORECAST_QUERY,
        forward_input(loaded_studios[0], levers={"avgTicketPrice": 151.237}),
    )

    forecast = body["data"]["forwardPrediction"]
    amounts = [forecast["totalProjectedRevenue"], forecast["levers"]["avgTicketPrice"]]
    for month in forecast["predictions"]:
        amounts += [month["revenue"], *month["confidenceInterval"].values()]
        assert isinstance(month["memberCount"], int)
        assert month["memberCount"] == round(month["expectedMemberCount"])
    assert all(isinstance(a, float | int) for a in amounts)
    assert all(round(a, 2) == a for a in amounts)
    assert forecast["levers"]["avgTicketPrice"] == 151.24


def test_stored_money_is_a_number_too(gql, owner):
    MonthlyMetricFactory(studio=owner.studio, total_revenue=Decimal("46200.50"))

    body = gql(owner).execute(
        "query($id: ID!) { studio(id: $id) { monthlyMetrics { totalRevenue avgTicketPrice } } }",
        {"id": str(owner.studio.pk)},
    )

    assert body["data"]["studio"]["monthlyMetrics"] == [
        {"totalRevenue": 46200.5, "avgTicketPrice": 150.0}
    ]


def test_money_in_an_input_must_be_a_number(gql, owner):
    response = gql(owner).post(
        "query($input: InversePredictionInput!) { inversePrediction(input: $input) { reachable } }",
        {"input": {"studioId": str(owner.studio.pk), "targetRevenue": "80000"}},
    )

    errors = response.json()["errors"]
    assert "Money must be a JSON number" in errors[0]["message"]
    assert "data" not in response.json() or response.json()["data"] is None


@pytest.mark.parametrize(
    ("value", "json"),
    [(Decimal("143.8200"), 143.82), (88490.8712, 88490.87), (3, 3.0), (-0.004, -0.0)],
)
def test_money_is_rounded_to_the_cent(value, json):
    assert money_serialize(value) == json


@pytest.mark.parametrize("value", ["80000", True, None, math.inf, math.nan])
def test_money_refuses_what_is_not_a_finite_number(value):
    with pytest.raises(ValueError):
        money_parse(value)
