"""A square with two holes: Dirichlet outside, Neumann on one hole, Robin on the other."""

import sympy as sp

from geometries import Disk, Rectangle
from manufactured import Dirichlet, Neumann, Problem, Robin, laplacian, manufacture, u, x, y

domain = (Rectangle((-1, -1), (1, 1), name="outer")
          - Disk((-0.4, 0.0), 0.25, name="left_hole")
          - Disk((0.45, 0.3), 0.2, name="right_hole"))
template = Problem(domain, -laplacian(u), {"outer": Dirichlet(0), "left_hole": Neumann(0),
                                           "right_hole": Robin(1, 0)})
exact = sp.sin(2 * x) * sp.cos(y) + x * y
problem = manufacture(template, exact)  # source and boundary data that make `exact` exact
