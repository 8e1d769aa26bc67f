"""Filters for studio lists.

Deliberately a few plain fields rather than generic lookups: no regular
expressions or arbitrary lookups reach the database from a client.
"""

import strawberry_django
from django.db.models import Q

from studios import models
from studios.graphql.types import StudioTypeEnum

__all__ = ["StudioFilter"]


@strawberry_django.filter_type(models.Studio)
class StudioFilter:
    studio_type: StudioTypeEnum | None = strawberry_django.filter_field(
        description="Studios of this type."
    )

    @strawberry_django.filter_field(description="City, ignoring case.")
    def city(self, value: str, prefix: str) -> Q:
        return Q(**{f"{prefix}city__iexact": value})

    @strawberry_django.filter_field(description="State, ignoring case.")
    def state(self, value: str, prefix: str) -> Q:
        return Q(**{f"{prefix}state__iexact": value})

    @strawberry_django.filter_field(description="Name contains this, ignoring case.")
    def name_contains(self, value: str, prefix: str) -> Q:
        return Q(**{f"{prefix}name__icontains": value})
