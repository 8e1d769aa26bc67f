"""Root query fields of the studios app: thin resolvers over the selectors."""

import strawberry
import strawberry_django
from strawberry.types import Info
from strawberry_django.pagination import OffsetPaginated

from studios.graphql.filters import StudioFilter
from studios.graphql.inputs import studio_from_input
from studios.graphql.orders import StudioOrder
from studios.graphql.types import StudioType
from studiosim.graphql_security import PageSizeLimit

__all__ = ["Query"]


@strawberry.type
class Query:
    studios: OffsetPaginated[StudioType] = strawberry_django.offset_paginated(
        filters=StudioFilter,
        ordering=StudioOrder,
        extensions=[PageSizeLimit()],
        description="Studios the caller may see, a page at a time (at most 100).",
    )

    @strawberry_django.field(description="One studio the caller may see.")
    def studio(self, info: Info, id: strawberry.ID) -> StudioType:
        return studio_from_input(info, id, field="id")
