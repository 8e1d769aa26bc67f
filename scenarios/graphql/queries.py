"""Root query fields of saved scenarios: thin resolvers over scenarios.selectors.

Tenancy is the selectors' (``restrict_to_user``): a scenario or studio the caller
may not see is NOT_FOUND, exactly like one that does not exist.
"""

from typing import Annotated

import strawberry
import strawberry_django
from strawberry.types import Info

from scenarios.graphql.inputs import argument_fields, uuid_from_input
from scenarios.graphql.types import (
    ScenarioComparisonType,
    ScenarioPageType,
    ScenarioType,
    ScenarioTypeEnum,
)
from scenarios.selectors import (
    MAX_COMPARED,
    MAX_PAGE_SIZE,
    scenario_compare,
    scenario_get,
    scenario_list,
)

__all__ = ["Query"]


@strawberry.type
class Query:
    @strawberry_django.field(
        description="A studio's saved scenarios, newest first, a page at a time."
    )
    def scenarios(
        self,
        info: Info,
        studio_id: strawberry.ID,
        tags: Annotated[
            list[str] | None,
            strawberry.argument(
                description="Only scenarios carrying every one of these tags "
                "(compared trimmed and lower-cased)."
            ),
        ] = None,
        scenario_type: ScenarioTypeEnum | None = None,
        page: Annotated[
            int, strawberry.argument(description="Counted from 1; past the end: empty.")
        ] = 1,
        page_size: Annotated[
            int, strawberry.argument(description=f"1-{MAX_PAGE_SIZE}.")
        ] = 20,
    ) -> ScenarioPageType:
        page_of_scenarios = scenario_list(
            user=info.context.request.user,
            studio_id=uuid_from_input(studio_id, field="studio_id", kind="studio"),
            tags=tags,
            scenario_type=scenario_type,
            page=page,
            page_size=page_size,
        )
        return ScenarioPageType.from_page(page_of_scenarios)

    @strawberry_django.field(description="One saved scenario, in full.")
    def scenario(self, info: Info, id: strawberry.ID) -> ScenarioType:
        scenario_id = uuid_from_input(id, field="id", kind="scenario")
        with argument_fields({"scenario_id": "id"}):
            return scenario_get(user=info.context.request.user, scenario_id=scenario_id)

    @strawberry_django.field(
        description=f"2 to {MAX_COMPARED} scenarios of one studio side by side: "
        "levers, month-by-month revenue and members, differences against the first "
        "(the baseline), which is higher and by how much, and the probability that "
        "each beats the baseline."
    )
    def compare_scenarios(
        self, info: Info, ids: list[strawberry.ID]
    ) -> ScenarioComparisonType:
        scenario_ids = [uuid_from_input(i, field="ids", kind="scenario") for i in ids]
        with argument_fields({"scenario_ids": "ids", "scenario_id": "ids"}):
            comparison = scenario_compare(
                user=info.context.request.user, scenario_ids=scenario_ids
            )
        return ScenarioComparisonType.from_comparison(comparison)
