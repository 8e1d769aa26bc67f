"""The root field of insights: ``generateInsights``, a mutation.

Generating insights changes no domain data, but it is not a plain read: it
computes and caches the rule-based answer and, with ``OPENAI_API_KEY`` set, may
make a paid request to the LLM and cache its advice. As a mutation it is never
run by a GET (which skips the CSRF check and which browsers, link previews and
prefetchers issue freely), and clients do not retry or batch it like a read.
"""

from typing import Annotated

import strawberry
import strawberry_django
from strawberry.types import Info

from insights.graphql.types import InsightsType, InsightTypeEnum
from insights.services import insights_generate
from scenarios.graphql.inputs import uuid_from_input

__all__ = ["Mutation"]


@strawberry.type
class Mutation:
    @strawberry_django.mutation(
        description="Next best actions, risk factors and opportunities for a saved "
        "scenario, each with a revenue figure from the forward model; tips, "
        "obstacles and extra tactics from an LLM when one is configured. Anyone who "
        "may see the scenario may ask. Mutation because it may call the paid LLM "
        "and it caches its answer (per scenario, model version and studio data)."
    )
    def generate_insights(
        self,
        info: Info,
        scenario_id: strawberry.ID,
        insight_types: Annotated[
            list[InsightTypeEnum] | None,
            strawberry.argument(description="Which kinds; all when null or empty."),
        ] = None,
    ) -> InsightsType:
        return InsightsType.from_insights(
            insights_generate(
                user=info.context.request.user,
                scenario_id=uuid_from_input(
                    scenario_id, field="scenario_id", kind="scenario"
                ),
                insight_types=insight_types,
            )
        )
