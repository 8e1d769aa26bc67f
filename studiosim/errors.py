"""Domain errors raised by services; the API layers translate them.

Each carries the input field it is about (snake_case, as the service names it)
so the GraphQL layer can say which field was wrong and why.
"""


class DomainError(Exception):
    """A request the domain refuses; safe to show to the caller."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    """An input value is malformed or out of its valid range."""


class NotFound(DomainError):
    """The object does not exist, or the caller may not see it (never told apart)."""

    code = "NOT_FOUND"


class NoActiveModel(DomainError):
    """Predictions need an active model version."""

    code = "NO_ACTIVE_MODEL"

    def __init__(self, message: str = "no active model: run train_model"):
        super().__init__(message)
