"""Turning input values into the studios they name, with typed errors."""

import uuid

import strawberry
from strawberry.types import Info

from studios.models import Studio
from studios.selectors import studio_get
from studiosim.graphql_errors import BadUserInput, NotFound

__all__ = ["studio_from_input"]


def studio_from_input(info: Info, studio_id: strawberry.ID, *, field: str) -> Studio:
    """The studio ``studio_id`` names, if the caller may see it.

    A malformed id is BAD_USER_INPUT on ``field``; a studio that does not exist and
    one the caller may not see are the same NOT_FOUND, so ids cannot be probed.
    """
    try:
        pk = uuid.UUID(str(studio_id))
    except ValueError:
        raise BadUserInput(field=field, reason="is not a studio id (a UUID)") from None
    try:
        return studio_get(user=info.context.request.user, studio_id=pk)
    except Studio.DoesNotExist:
        raise NotFound(f"No studio {pk}.") from None
