"""Errors the GraphQL API answers with, and the masking of everything else.

Every error a caller can act on reaches them with its message and
``extensions.code``:

- :class:`ApiError` subclasses, raised by resolvers (bad arguments, not found,
  not allowed);
- :class:`studiosim.errors.DomainError` subclasses, raised by services (invalid
  input, not found, no active model), translated here so resolvers stay thin;
- errors found before execution (syntax, validation, the abuse limits, variable
  coercion), which carry no code.

The database being unavailable while a field resolves (a refused or lost
connection, a timeout: :func:`studiosim.database.database_unavailable`) is not a
bug either: the caller gets SERVICE_UNAVAILABLE, and the view answers 503.

Any other exception raised while resolving a field is a bug: the caller gets
"Unexpected error." with a correlation id, and the log gets the stack trace under
the same id.
"""

import logging
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext
from strawberry.utils.str_converters import to_camel_case

from studiosim.database import DATABASE_UNAVAILABLE_MESSAGE, database_unavailable
from studiosim.errors import DomainError

__all__ = [
    "ApiError",
    "BadUserInput",
    "Forbidden",
    "MaskUnexpectedErrors",
    "NotFound",
    "SERVICE_UNAVAILABLE",
    "Schema",
    "Unauthenticated",
    "is_unexpected",
]

logger = logging.getLogger("studiosim.graphql")

UNEXPECTED_ERROR_MESSAGE = "Unexpected error."
#: The code of errors meaning "try again shortly": the view answers them with 503.
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


def camel_case_path(field: str) -> str:
    """``pagination.limit``, ``base_month`` -> the schema's ``baseMonth`` spelling."""
    return ".".join(to_camel_case(part) for part in field.split("."))


class ApiError(Exception):
    """An error the caller can act on, answered with ``extensions.code``."""

    code: ClassVar[str]

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        # graphql-core copies an original error's ``extensions`` onto the
        # GraphQL error it wraps it in.
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class BadUserInput(ApiError):
    """An input value was refused; ``field`` is its path, e.g. ``pagination.limit``.

    Python names are accepted and answered in camelCase, as the schema spells them.
    """

    code = "BAD_USER_INPUT"

    def __init__(self, *, field: str, reason: str, **extensions: Any) -> None:
        field = camel_case_path(field)
        super().__init__(f"{field}: {reason}", field=field, reason=reason, **extensions)


class NotFound(ApiError):
    """Also the answer for objects that exist but the caller may not see."""

    code = "NOT_FOUND"


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


def is_unexpected(error: GraphQLError) -> bool:
    """Whether ``error`` is a failure of the server rather than of the request.

    Only exceptions raised while resolving a field (they carry a ``path``) can be
    bugs; of those, typed errors and deliberate ``GraphQLError`` are not.
    """
    original = error.original_error
    if original is None or error.path is None:
        return False
    if database_unavailable(original):
        return False
    return not isinstance(original, ApiError | DomainError | GraphQLError)


def _present_domain_error(error: GraphQLError, domain_error: DomainError) -> None:
    """Give a service's error the shape of the :class:`ApiError` it stands for."""
    extensions: dict[str, Any] = {"code": domain_error.code}
    if domain_error.field:
        field = camel_case_path(domain_error.field)
        extensions |= {"field": field, "reason": domain_error.message}
        error.message = f"{field}: {domain_error.message}"
    error.extensions = extensions


class Schema(strawberry.Schema):
    """The project's schema class: presents domain errors, logs unexpected ones.

    Strawberry logs every error with its traceback, a caller's typo included;
    here only unexpected errors are logged, once each, with the correlation id
    that :class:`MaskUnexpectedErrors` then returns to the caller in its place.
    ``process_errors`` sees every error before any extension rewrites it.
    """

    def process_errors(
        self,
        errors: Sequence[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        for error in errors:
            original = error.original_error
            if isinstance(original, DomainError):
                _present_domain_error(error, original)
            elif original is not None and database_unavailable(original):
                logger.warning(
                    "The database is unavailable resolving %s: %s",
                    ".".join(map(str, error.path or ())),
                    original,
                )
                error.message = DATABASE_UNAVAILABLE_MESSAGE
                error.extensions = {"code": SERVICE_UNAVAILABLE}
            elif is_unexpected(error):
                correlation_id = uuid.uuid4().hex
                error.extensions = {**error.extensions, "correlationId": correlation_id}
                logger.error(
                    "Unexpected error %s resolving %s",
                    correlation_id,
                    ".".join(map(str, error.path or ())),
                    exc_info=(type(original), original, original.__traceback__),
                )


class MaskUnexpectedErrors(MaskErrors):
    """Replace unexpected errors with "Unexpected error." and their correlation id."""

    def __init__(self) -> None:
        super().__init__(
            should_mask_error=is_unexpected, error_message=UNEXPECTED_ERROR_MESSAGE
        )

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            message=self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={
                "code": "INTERNAL_SERVER_ERROR",
                "correlationId": error.extensions.get("correlationId"),
            },
        )
