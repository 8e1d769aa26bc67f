"""Synthetic monthly history of fitness studios (SPEC §2); pure numpy/pandas.

>>> from studios.generator import generate
>>> data = generate(n_studios=12, months=60, seed=0)
>>> sorted(data.metrics.split.unique())
['test', 'train', 'validation']
"""

from studios.generator.dataset import (
    DEFAULT_END_MONTH,
    METRIC_FIELDS,
    GeneratedData,
    generate,
    generate_world,
)
from studios.generator.simulate import PLAN_LEVERS, World, WorldState, run_plan

__all__ = [
    "DEFAULT_END_MONTH",
    "METRIC_FIELDS",
    "PLAN_LEVERS",
    "GeneratedData",
    "World",
    "WorldState",
    "generate",
    "generate_world",
    "run_plan",
]
