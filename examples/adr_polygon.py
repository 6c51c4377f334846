"""Advection-diffusion-reaction with variable coefficients on a polygon.

-div((1 + x^2/2) grad u) + (1, y/2) . grad u + (1 + x) u = f, with f and the data
manufactured from a known solution; Neumann data on one edge.
"""

import sympy as sp

from geometries import Polygon
from manufactured import (Dirichlet, Neumann, Problem, div, dot, grad, manufacture, u, x, y)

domain = Polygon([(0, 0), (2, 0), (2, 1), (1, 1.6), (0, 1)],
                 names=["bottom", "right", "roof", "roof", "left"])
a = 1 + x**2 / 2
equation = -div(a * grad(u)) + dot((1, y / 2), grad(u)) + (1 + x) * u
template = Problem(domain, equation, {"bottom": Dirichlet(0), "right": Neumann(0),
                                      "roof": Dirichlet(0), "left": Dirichlet(0)})
exact = sp.exp(x / 2) * sp.sin(y + 0.3)
problem = manufacture(template, exact)
