import strawberry
import strawberry_django

from studios.graphql.types import StudioType

__all__ = ["Query"]


@strawberry.type
class Query:
    studios: list[StudioType] = strawberry_django.field(
        description="Studios the caller may see."
    )
