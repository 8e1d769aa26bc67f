"""Who may call what on /graphql/, and how much one request may ask for.

The limits are schema extensions built afresh for every request (classes or
factories, never shared instances); each refusal is a visible GraphQL error.

Parsing and validating a document costs more than answering a cached prediction,
and clients send the same few query texts over and over (variables carry what
changes), so both steps are cached per process with strawberry's
``ParserCache`` and ``ValidationCache``. The validation cache is keyed by the
document *and the rule classes*; the limit rules are therefore classes built once
per pair of limits, not per request (strawberry's limiters build a new class per
instance, which would make every request a miss).
"""

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry import UNSET
from strawberry.extensions import (
    AddValidationRules,
    FieldExtension,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
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
    "DOCUMENT_CACHE_SIZE",
    "DocumentLimits",
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
# Distinct query texts whose parsed document and validation result each process
# keeps (least recently used first out). A frontend sends a few dozen; a text is
# at most MAX_TOKENS tokens, so the caches stay small whatever clients send.
DOCUMENT_CACHE_SIZE = 256


@functools.cache
def _limit_rules(
    max_depth: int, max_aliases: int
) -> tuple[type[ASTValidationRule], ...]:
    """The rule classes of strawberry's limiters, made once per pair of limits
    (see the module docstring)."""
    return (
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    )


class DocumentLimits(AddValidationRules):
    """Depth and alias limits, and no ``__schema`` or ``__type`` unless
    ``GRAPHIQL_ENABLED`` is on.

    The limits and the setting are read per request, so they follow the
    environment (and tests); the rules are the same classes every time for the
    same limits, so validation results stay cacheable.
    """

    def __init__(self) -> None:
        introspection = (
            [] if settings.GRAPHIQL_ENABLED else [NoSchemaIntrospectionCustomRule]
        )
        super().__init__([*_limit_rules(MAX_QUERY_DEPTH, MAX_ALIASES), *introspection])


LIMIT_EXTENSIONS: list[Callable[[], SchemaExtension]] = [
    lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    DocumentLimits,
    lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
    lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
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
