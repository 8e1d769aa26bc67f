"""The root GraphQL schema: each app's Query and Mutation, the optimizer, limits.

Extensions are passed as classes or factories, so each request gets its own.
Error masking comes first: it wraps the others and sees their errors last.
"""

import strawberry
from strawberry_django.optimizer import DjangoOptimizerExtension

from forecasting.graphql.jobs import Mutation as RetrainJobMutation
from forecasting.graphql.jobs import Query as RetrainJobQuery
from forecasting.graphql.mutations import Mutation as ForecastingMutation
from forecasting.graphql.performance import Query as ModelPerformanceQuery
from forecasting.graphql.queries import Query as ForecastingQuery
from insights.graphql.queries import Mutation as InsightsMutation
from optimization.graphql.queries import Query as OptimizationQuery
from scenarios.graphql.mutations import Mutation as ScenariosMutation
from scenarios.graphql.queries import Query as ScenariosQuery
from studios.graphql.queries import Query as StudiosQuery
from studiosim.graphql_errors import MaskUnexpectedErrors, Schema
from studiosim.graphql_security import LIMIT_EXTENSIONS


@strawberry.type
class Query(
    StudiosQuery,
    ForecastingQuery,
    OptimizationQuery,
    ScenariosQuery,
    RetrainJobQuery,
    ModelPerformanceQuery,
):
    pass


@strawberry.type
class Mutation(
    ForecastingMutation, ScenariosMutation, InsightsMutation, RetrainJobMutation
):
    pass


schema = Schema(
    query=Query,
    mutation=Mutation,
    extensions=[MaskUnexpectedErrors, DjangoOptimizerExtension, *LIMIT_EXTENSIONS],
)
