"""The root GraphQL schema: merges each app's Query and Mutation."""

import strawberry
from strawberry_django.optimizer import DjangoOptimizerExtension

from studios.graphql.queries import Query as StudiosQuery


@strawberry.type
class Query(StudiosQuery):
    pass


schema = strawberry.Schema(query=Query, extensions=[DjangoOptimizerExtension])
