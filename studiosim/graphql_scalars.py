"""Scalars shared by every app's GraphQL types."""

import math
from decimal import Decimal
from typing import NewType

import strawberry

from studiosim.graphql_floats import float_out_of_range

__all__ = ["SCALAR_MAP", "Money", "money_parse", "money_serialize"]

MONEY_DESCRIPTION = (
    "An amount of money in the studio's currency (Studio.currency, USD unless "
    "set), as a JSON number rounded to the cent: 88490.87. Every amount in the API "
    "(revenue, prices, revenue impacts and gains, intervals of revenue) has this "
    "type; inputs take a JSON number."
)


def money_serialize(value: float | Decimal | int) -> float:
    """A JSON number rounded to the cent, whatever the amount was computed in
    (``Decimal`` from the database, ``float`` from the models)."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite amount of money: {value!r}")
    return round(number, 2)


def money_parse(value: object) -> float:
    """A JSON number; strings, booleans and numbers out of the range every
    ``Float`` input keeps to (:mod:`studiosim.graphql_floats`) are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"Money must be a JSON number, not {value!r}")
    problem = float_out_of_range(float(value) if isinstance(value, Decimal) else value)
    if problem is not None:
        raise ValueError(problem.replace("Float", "Money", 1))
    return float(value)


#: Annotate amounts with ``Money``; the schema maps it to the scalar below
#: (``StrawberryConfig.scalar_map``, see ``studiosim/schema.py``).
Money = NewType("Money", float)

SCALAR_MAP = {
    Money: strawberry.scalar(
        name="Money",
        description=MONEY_DESCRIPTION,
        serialize=money_serialize,
        parse_value=money_parse,
    )
}
