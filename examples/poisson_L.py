"""Poisson's equation on the L-shaped domain (HyPINO's poisson_L): -Δu = 1, u = 0."""

from geometries import Rectangle
from manufactured import Dirichlet, Problem, laplacian, u

domain = Rectangle((-1, -1), (1, 1), name="wall") - Rectangle((0, 0), (1, 1), name="wall")
problem = Problem(domain, -laplacian(u) - 1, {"wall": Dirichlet(0)}, name="poisson_L")
