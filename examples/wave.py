"""The wave equation in 1D + time (HyPINO's wave): u_tt = 4 u_xx on [0, 1] x [0, 1]."""

import sympy as sp

from geometries import Interval
from manufactured import Dirichlet, Problem, laplacian, t, u, x

pi = sp.pi
domain = Interval(0, 1)
problem = Problem(domain, sp.diff(u, t, 2) - 4 * laplacian(u),
                  {"left": Dirichlet(0), "right": Dirichlet(0)}, time=(0, 1),
                  initial={"u": sp.sin(pi * x) + sp.sin(4 * pi * x) / 2, "u_t": 0}, name="wave")
exact = sp.sin(pi * x) * sp.cos(2 * pi * t) + sp.sin(4 * pi * x) * sp.cos(8 * pi * t) / 2
