"""The root GraphQL schema: each app's Query and Mutation, the optimizer, limits.

Extensions are passed as classes or factories, so each request gets its own.
Error masking comes first: it wraps the others and sees their errors last.
"""

import functools

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.utils.str_converters import to_camel_case
from strawberry_django.optimizer import DjangoOptimizerExtension

from forecasting.graphql.batch import Mutation as BatchForecastMutation
from forecasting.graphql.batch import Query as BatchForecastQuery
from forecasting.graphql.jobs import Mutation as RetrainJobMutation
from forecasting.graphql.jobs import Query as RetrainJobQuery
from forecasting.graphql.mutations import Mutation as ForecastingMutation
from forecasting.graphql.performance import Query as ModelPerformanceQuery
from forecasting.graphql.queries import Query as ForecastingQuery
from insights.graphql.queries import Mutation as InsightsMutation
from optimization.graphql.optimize import Query as OptimizeQuery
from optimization.graphql.queries import Query as OptimizationQuery
from scenarios.graphql.mutations import Mutation as ScenariosMutation
from scenarios.graphql.queries import Query as ScenariosQuery
from studios.graphql.queries import Query as StudiosQuery
from studiosim.graphql_errors import MaskUnexpectedErrors, Schema
from studiosim.graphql_scalars import SCALAR_MAP
from studiosim.graphql_security import LIMIT_EXTENSIONS


@strawberry.type
class Query(
    StudiosQuery,
    ForecastingQuery,
    OptimizationQuery,
    OptimizeQuery,
    ScenariosQuery,
    RetrainJobQuery,
    ModelPerformanceQuery,
    BatchForecastQuery,
):
    pass


@strawberry.type
class Mutation(
    ForecastingMutation,
    ScenariosMutation,
    InsightsMutation,
    RetrainJobMutation,
    BatchForecastMutation,
):
    pass


class CachedNameConverter(NameConverter):
    """strawberry's names, each camelCased once per process.

    strawberry renames the fields of every input value on every request (an
    input's ``retentionRate`` becomes ``retention_rate``), camelCasing each
    field's name again each time: 2% of a cached forward prediction's time in
    the server. The names come from the schema, so the cache stays small.
    """

    def apply_naming_config(self, name: str) -> str:
        return _camel_case(name) if self.auto_camel_case else name


_camel_case = functools.lru_cache(maxsize=4096)(to_camel_case)


schema = Schema(
    query=Query,
    mutation=Mutation,
    config=StrawberryConfig(
        name_converter=CachedNameConverter(), scalar_map=SCALAR_MAP
    ),
    extensions=[MaskUnexpectedErrors, DjangoOptimizerExtension, *LIMIT_EXTENSIONS],
)
