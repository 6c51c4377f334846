"""A problem on a mesh read from a file: a plate with a slot (gmsh, physical groups
``clamped``, ``heated`` and ``free``; see data/make_plate.py)."""

import os

from geometries import load
from manufactured import Dirichlet, Neumann, Problem, laplacian, u

domain = load(os.path.join(os.path.dirname(__file__), "data", "plate.msh"))
problem = Problem(domain, -laplacian(u),
                  {"clamped": Dirichlet(0), "heated": Neumann(1), "free": Neumann(0)})
