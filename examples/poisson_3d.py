"""3D Poisson on a box minus a ball, with a manufactured solution."""

import sympy as sp

from geometries import Ball, Box
from manufactured import Dirichlet, Neumann, Problem, laplacian, manufacture, u, x, y, z

domain = Box((-1, -1, -1), (1, 1, 1), name="box") - Ball((0, 0, 0), 0.5, name="ball")
template = Problem(domain, -laplacian(u), {"box": Dirichlet(0), "ball": Neumann(0)})
exact = sp.sin(x) * sp.cos(y) * sp.exp(z / 2)
problem = manufacture(template, exact)
