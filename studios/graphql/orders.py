"""Orderings for studio lists."""

import strawberry_django
from strawberry import auto

from studios import models

__all__ = ["StudioOrder"]


@strawberry_django.order_type(models.Studio)
class StudioOrder:
    name: auto
    opening_date: auto
