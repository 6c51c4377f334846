"""Geometry: shapes, constructive solid geometry, tagged boundaries, meshing, mesh import.

>>> from geometries import Rectangle, Disk
>>> domain = Rectangle((-1, -1), (1, 1)) - Disk((0, 0), 0.3, name="hole")
>>> mesh = domain.mesh(h=0.2)          # scikit-fem MeshTri with mesh.boundaries
>>> sorted(mesh.boundaries)
['bottom', 'hole', 'left', 'right', 'top']
"""

from ._domain import Difference, Domain, Intersection, Union
from ._load import MeshDomain, load
from ._locate import find_cells, locate
from ._shapes import Ball, Box, Cylinder, Disk, Ellipse, Interval, Polygon, Rectangle

__all__ = [
    "Domain", "Union", "Difference", "Intersection",
    "Interval", "Rectangle", "Disk", "Ellipse", "Polygon", "Box", "Ball", "Cylinder",
    "MeshDomain", "load", "find_cells", "locate",
]
