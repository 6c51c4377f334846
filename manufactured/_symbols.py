"""The coordinate symbols shared by every layer above `geometries`."""

import sympy as sp

x, y, z, t = sp.symbols("x y z t", real=True)
#: Components of the outward unit normal; allowed in Neumann and Robin data.
nx, ny, nz = sp.symbols("n_x n_y n_z", real=True)

SPACE = (x, y, z)
NORMAL = (nx, ny, nz)
