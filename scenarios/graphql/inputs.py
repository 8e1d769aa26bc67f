"""Input types of the scenario operations, and turning arguments into ids.

The services name the fields they refuse after their own parameters
(``scenario_id``, ``name``); :func:`argument_fields` renames them after the
argument the caller filled in, so ``extensions.field`` always points into the
caller's document.
"""

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import strawberry

from studiosim.errors import DomainError
from studiosim.graphql_errors import BadUserInput

__all__ = ["ScenarioSaveInput", "argument_fields", "uuid_from_input"]


@strawberry.input(
    name="ScenarioSaveInput",
    description="A prediction to save as a named scenario. The scenario's type, "
    "base month, horizon, inputs, outputs and confidence are copied from the "
    "prediction's log, never taken from the caller.",
)
class ScenarioSaveInput:
    studio_id: strawberry.ID
    prediction_id: strawberry.ID = strawberry.field(
        description="The predictionId of a forwardPrediction or the optimizationId "
        "of an inversePrediction of this studio."
    )
    scenario_name: str = strawberry.field(description="At most 200 characters.")
    description: str = strawberry.field(
        default="", description="At most 5,000 characters."
    )
    tags: list[str] | None = strawberry.field(
        default=None,
        description="At most 20, of at most 40 characters each; trimmed, "
        "lower-cased and de-duplicated, blank ones dropped.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Any string of up to 100 printable ASCII characters (a UUID) "
        "unique to this save: sending it again with the same key (after a "
        "timeout, say) returns the scenario the first one saved instead of "
        "saving another.",
    )


def uuid_from_input(value: strawberry.ID, *, field: str, kind: str) -> uuid.UUID:
    """``value`` as a UUID; BAD_USER_INPUT on ``field`` when it is not one."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadUserInput(field=field, reason=f"is not a {kind} id (a UUID)") from None


@contextmanager
def argument_fields(paths: Mapping[str, str]) -> Iterator[None]:
    """Name a service's refusal after the argument it is about.

    ``paths`` maps the service's field names to the arguments' paths (Python
    spelling; the error presenter camel-cases them). A refusal of any kind
    (invalid input, not found, not allowed) keeps its class and message.
    """
    try:
        yield
    except DomainError as error:
        if error.field in paths:
            error.field = paths[error.field]
        raise
