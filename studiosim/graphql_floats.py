"""``Float`` inputs: only numbers every computation behind them can carry.

GraphQL's ``Float`` is any double, and graphql-core reads a literal such as
``1e400`` as infinity. The numbers the API takes are rates, money, counts and
horizons, and somewhere behind each one they are multiplied by, or divided by,
another (a change over a current value, revenue over a target: today's
retention given as 5e-324 made a change of "inf %"). So every ``Float`` input,
whatever its field, is refused before execution unless it is

- finite, and at most :data:`MAX_MAGNITUDE` in size: the product of two such
  numbers is still far from overflowing;
- zero, or at least :data:`MIN_MAGNITUDE` in size: dividing by it cannot
  overflow either.

Literals are checked by a validation rule (:class:`BoundedFloatLiterals`),
variables by :func:`float_variables_error` (``DocumentChecks`` runs it on each
request). Each field's own range (retention in [0, 1], a target above 0) is
its service's to check. graphql-core does not let a schema redefine ``Float``
itself, hence checks beside it rather than a scalar of its own.
"""

import math
from collections.abc import Mapping
from typing import Any

from graphql import (
    FloatValueNode,
    GraphQLError,
    GraphQLFloat,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    IntValueNode,
    OperationDefinitionNode,
    get_named_type,
    type_from_ast,
)
from graphql.validation import ValidationRule

__all__ = [
    "MAX_MAGNITUDE",
    "MIN_MAGNITUDE",
    "BoundedFloatLiterals",
    "float_out_of_range",
    "float_variables_error",
]

MAX_MAGNITUDE = 1e15
MIN_MAGNITUDE = 1e-9


def float_out_of_range(value: Any, *, shown: str | None = None) -> str | None:
    """Why ``value`` is refused as a Float input, or None; ``shown`` is how the
    caller wrote it (a literal's text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # graphql-core refuses non-numbers itself
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if math.isfinite(number) and (
        number == 0 or MIN_MAGNITUDE <= abs(number) <= MAX_MAGNITUDE
    ):
        return None
    return (
        f"Float {shown or repr(value)} is out of range: numbers are 0 or between "
        f"{MIN_MAGNITUDE:g} and {MAX_MAGNITUDE:g} in size"
    )


class BoundedFloatLiterals(ValidationRule):
    """Refuse a number literal out of range where a ``Float`` is expected."""

    def _check(self, node: FloatValueNode | IntValueNode) -> None:
        expected = self.context.get_input_type()
        if expected is None or get_named_type(expected) is not GraphQLFloat:
            return
        try:
            value = float(node.value)
        except (ValueError, OverflowError):
            value = math.inf
        reason = float_out_of_range(value, shown=node.value)
        if reason is not None:
            self.report_error(GraphQLError(f"{reason}.", node))

    def enter_float_value(self, node: FloatValueNode, *_args: Any) -> None:
        self._check(node)

    def enter_int_value(self, node: IntValueNode, *_args: Any) -> None:
        self._check(node)


def float_variables_error(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
) -> GraphQLError | None:
    """The first ``Float`` out of range in ``variables`` (raw JSON values) as the
    operation declares them, or None. Values of the wrong type are left to
    graphql-core's own coercion."""
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if not variables or name not in variables:
            continue
        type_ = type_from_ast(schema, definition.type)
        if type_ is None:
            continue
        found = _walk(type_, variables[name], name)
        if found is not None:
            path, reason = found
            return GraphQLError(f"Variable '${name}' at '{path}': {reason}.")
    return None


def _walk(type_: GraphQLInputType, value: Any, path: str) -> tuple[str, str] | None:
    """Depth-first search for a Float out of range; the request guard has
    bounded the value's depth."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if value is None:
        return None
    if isinstance(type_, GraphQLList):
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            found = _walk(type_.of_type, item, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if isinstance(type_, GraphQLInputObjectType):
        if not isinstance(value, Mapping):
            return None
        for field_name, field in type_.fields.items():
            if field_name in value:
                found = _walk(field.type, value[field_name], f"{path}.{field_name}")
                if found is not None:
                    return found
        return None
    if type_ is GraphQLFloat:
        reason = float_out_of_range(value)
        if reason is not None:
            return path, reason
    return None
