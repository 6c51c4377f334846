"""The symbolic layer: problems, canonical operators and manufactured solutions (sympy).

>>> from manufactured import u, x, laplacian, Dirichlet, Problem, manufacture   # doctest: +SKIP
>>> p = Problem(square, -laplacian(u) - 1, {tag: Dirichlet(0) for tag in square.boundaries})  # doctest: +SKIP
"""

from ._canonical import CanonicalForm
from ._conditions import Dirichlet, Neumann, Robin
from ._helpers import div, dot, grad, laplacian, u
from ._manufacture import manufacture
from ._problem import Problem
from ._random import (
    BOUNDS, KINDS, TERMS, ExprTree, Sample, acceptable, gaussian_bumps, generate_samples, heat_modes, mixed_kind, mix_weights, random_problem,
    random_solution, random_tree, source_values,
)
from ._symbols import nx, ny, nz, t, x, y, z

__all__ = [
    "x", "y", "z", "t", "nx", "ny", "nz",
    "u", "grad", "div", "dot", "laplacian",
    "Dirichlet", "Neumann", "Robin",
    "Problem", "manufacture", "CanonicalForm",
    "ExprTree", "Sample", "random_tree", "random_solution", "random_problem", "mixed_kind", "mix_weights", "heat_modes", "gaussian_bumps",
    "source_values", "generate_samples",
    "acceptable", "TERMS", "KINDS", "BOUNDS",
]
