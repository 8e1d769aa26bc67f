"""Mutations of saved scenarios: thin adapters over scenarios.services.

Only a studio's owners and managers save and delete its scenarios: a viewer gets
FORBIDDEN, and anyone who may not see the studio NOT_FOUND.
"""

import strawberry
import strawberry_django
from strawberry.types import Info

from scenarios.graphql.inputs import ScenarioSaveInput, argument_fields, uuid_from_input
from scenarios.graphql.types import ScenarioDeletePayload, ScenarioSavePayload
from scenarios.services import scenario_delete, scenario_save
from studios.graphql.inputs import studio_from_input

__all__ = ["Mutation"]


@strawberry.type
class Mutation:
    @strawberry_django.mutation(
        description="Save a logged prediction of the studio (by its predictionId) "
        "as a named scenario (owners and managers). Its figures are copied from the "
        "prediction's log, never recomputed or taken from the caller."
    )
    def save_scenario(
        self, info: Info, input: ScenarioSaveInput
    ) -> ScenarioSavePayload:
        studio = studio_from_input(info, input.studio_id, field="studio_id")
        prediction_id = uuid_from_input(
            input.prediction_id, field="prediction_id", kind="prediction"
        )
        with argument_fields({"name": "scenario_name"}):
            scenario = scenario_save(
                user=info.context.request.user,
                studio=studio,
                prediction_id=prediction_id,
                name=input.scenario_name,
                description=input.description,
                tags=input.tags,
                idempotency_key=input.idempotency_key or "",
            )
        return ScenarioSavePayload.from_scenario(scenario, info)

    @strawberry_django.mutation(description="Delete a saved scenario.")
    def delete_scenario(self, info: Info, id: strawberry.ID) -> ScenarioDeletePayload:
        scenario_id = uuid_from_input(id, field="id", kind="scenario")
        with argument_fields({"scenario_id": "id"}):
            scenario_delete(user=info.context.request.user, scenario_id=scenario_id)
        return ScenarioDeletePayload(scenario_id=strawberry.ID(str(scenario_id)))
