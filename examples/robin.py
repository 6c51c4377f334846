"""A Robin (convective) boundary: -Δu = 4 on the unit disk, du/dn + 2u = g on the circle.

The exact solution is u = 2 - x^2 - y^2: du/dn = -2 on r = 1 and u = 1 there, so g = 0.
"""

from geometries import Disk
from manufactured import Problem, Robin, laplacian, u, x, y

domain = Disk((0, 0), 1.0, name="rim")
problem = Problem(domain, -laplacian(u) - 4, {"rim": Robin(2, 0)})
exact = 2 - x**2 - y**2
