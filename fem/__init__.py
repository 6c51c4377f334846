"""Finite elements (scikit-fem): reference solves, the Solution type, norms and plots.

>>> from geometries import Interval
>>> from manufactured import Problem, Dirichlet, laplacian, u, x
>>> import fem
>>> sol = fem.solve(Problem(Interval(0, 1), -laplacian(u) - 2,
...                         {"left": Dirichlet(0), "right": Dirichlet(0)}), h=0.1, order=2)
>>> sol.error(x * (1 - x)) < 1e-12
True
"""

from ._forms import Operator
from ._plot import plot_file
from ._solution import Solution
from ._solve import Discretization, FamilySolver, element_for, solve
from ._torch_ops import (DirichletDecoder, GridTransfer, PointEvaluation, dof_graph, interpolate,
                         project, project_points, prolongation, restriction)
from ._torch_residual import WeakResidual

__all__ = ["solve", "Solution", "FamilySolver", "Discretization", "Operator", "element_for",
           "plot_file",
           "WeakResidual", "interpolate", "project", "project_points", "PointEvaluation",
           "GridTransfer", "DirichletDecoder", "prolongation", "restriction", "dof_graph"]
