"""Inverse prediction: the lever plan that reaches a revenue target (pure numpy).

No Django here: the service layer turns studios and model versions into a
``predict_revenue`` callable and a :class:`LeverLimits`, and maps the :class:`Solution`
onto the API.
"""

from optimization.solver.inverse import (
    Achievable,
    BindingConstraint,
    Plan,
    RelaxedPlan,
    Solution,
    max_achievable,
    solve,
)
from optimization.solver.levers import (
    DEFAULT_COST_WEIGHTS,
    DEFAULT_LOWER,
    DEFAULT_UPPER,
    LEVERS,
    ConstraintKind,
    LeverLimits,
    SolverInputError,
    default_lever_scales,
)
from optimization.solver.maximize import (
    MoneyCost,
    OptimizedAlternative,
    Optimum,
    RelaxedOptimum,
    UnboundedGain,
    optimize,
)

__all__ = [
    "DEFAULT_COST_WEIGHTS",
    "DEFAULT_LOWER",
    "DEFAULT_UPPER",
    "LEVERS",
    "Achievable",
    "BindingConstraint",
    "ConstraintKind",
    "LeverLimits",
    "MoneyCost",
    "OptimizedAlternative",
    "Optimum",
    "Plan",
    "RelaxedOptimum",
    "RelaxedPlan",
    "Solution",
    "SolverInputError",
    "UnboundedGain",
    "default_lever_scales",
    "max_achievable",
    "optimize",
    "solve",
]
