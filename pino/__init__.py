"""Physics-informed PDE solving: one ``solve`` for every method, datasets of FE solutions,
and the ``pino`` command.

>>> import pino
>>> sorted(pino.METHODS)
['fem']
"""

from ._data import (darcy_dataset, darcy_problem, gaussian_random_field, grid_mesh,
                    holes_dataset, holes_problem, load_dataset)
from ._solve import METHODS, solve

__all__ = ["solve", "METHODS", "darcy_dataset", "holes_dataset", "load_dataset",
           "darcy_problem", "holes_problem", "gaussian_random_field", "grid_mesh"]
