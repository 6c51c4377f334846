"""The heat equation in 1D + time (HyPINO's heat): u_t = 0.1 u_xx on [0, 1] x [0, 1]."""

import sympy as sp

from geometries import Interval
from manufactured import Dirichlet, Problem, laplacian, t, u, x

domain = Interval(0, 1)
problem = Problem(domain, sp.Eq(sp.diff(u, t), 0.1 * laplacian(u)),
                  {"left": Dirichlet(0), "right": Dirichlet(0)},
                  time=(0, 1), initial={"u": sp.sin(sp.pi * x)}, name="heat")
exact = sp.exp(-0.1 * sp.pi**2 * t) * sp.sin(sp.pi * x)
