"""Who may call what on /graphql/, and how much one request may ask for.

The limits are schema extensions built afresh for every request (classes or
factories, never shared instances); each refusal is a visible GraphQL error.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry import UNSET
from strawberry.extensions import (
    AddValidationRules,
    FieldExtension,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.permission import BasePermission
from strawberry.types import Info
from strawberry_django.pagination import OffsetPaginationInput

from studiosim.graphql_errors import BadUserInput, Forbidden

__all__ = [
    "LIMIT_EXTENSIONS",
    "MAX_ALIASES",
    "MAX_PAGE_SIZE",
    "MAX_QUERY_DEPTH",
    "MAX_TOKENS",
    "IntrospectionUnlessEnabled",
    "IsStaff",
    "PageSizeLimit",
]

# The deepest selection the schema serves today has depth 3 (studios > results >
# monthlyMetrics > field, counted from 0); 8 leaves room for growth while a
# cycle, once the schema has one, cannot be followed far.
MAX_QUERY_DEPTH = 8
# Each alias can repeat an expensive field (a baseline, a prediction).
MAX_ALIASES = 10
# The full introspection query is about 300 tokens.
MAX_TOKENS = 2000
MAX_PAGE_SIZE = 100


class IntrospectionUnlessEnabled(AddValidationRules):
    """Refuse ``__schema`` and ``__type`` unless ``GRAPHIQL_ENABLED`` is on.

    The setting is read per request, so it follows the environment (and tests).
    """

    def __init__(self) -> None:
        super().__init__(
            [] if settings.GRAPHIQL_ENABLED else [NoSchemaIntrospectionCustomRule]
        )


LIMIT_EXTENSIONS: list[Callable[[], SchemaExtension]] = [
    lambda: QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH),
    lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
    lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    IntrospectionUnlessEnabled,
]


class PageSizeLimit(FieldExtension):
    """Refuse pages over :data:`MAX_PAGE_SIZE` and negative offsets.

    A too-large page is refused rather than silently trimmed, so a client never
    mistakes a trimmed page for the whole list; no limit means
    :data:`MAX_PAGE_SIZE`, whatever the library's default.
    """

    def resolve(
        self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        pagination = kwargs.get("pagination") or OffsetPaginationInput()
        if pagination.limit in (None, UNSET):
            pagination.limit = MAX_PAGE_SIZE
        elif not 1 <= pagination.limit <= MAX_PAGE_SIZE:
            raise BadUserInput(
                field="pagination.limit",
                reason=f"must be between 1 and {MAX_PAGE_SIZE}",
            )
        if pagination.offset < 0:
            raise BadUserInput(field="pagination.offset", reason="must not be negative")
        return next_(source, info, **{**kwargs, "pagination": pagination})


class IsStaff(BasePermission):
    """Staff and superusers only; anyone else gets FORBIDDEN."""

    message = "Only staff may do this."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        user = info.context.request.user
        return bool(user.is_active and (user.is_staff or user.is_superuser))

    def on_unauthorized(self) -> None:
        raise Forbidden(self.message)
