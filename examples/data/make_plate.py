"""Writes data/plate.msh: a 2 x 1 plate with a slot, physical groups as boundary tags.

Run from the repository root: python examples/data/make_plate.py
"""

import os

import gmsh

gmsh.initialize(interruptible=False)
gmsh.option.setNumber("General.Terminal", 0)
occ = gmsh.model.occ
plate = occ.addRectangle(0, 0, 0, 2, 1)
slot = occ.addRectangle(0.8, 0.3, 0, 0.4, 0.4)
occ.cut([(2, plate)], [(2, slot)])
occ.synchronize()
curves = {"clamped": [], "heated": [], "free": []}
for _, tag in gmsh.model.getEntities(1):
    x, y, _ = occ.getCenterOfMass(1, tag)
    if abs(x) < 1e-9:
        curves["clamped"].append(tag)
    elif 0.7 < x < 1.3 and 0.2 < y < 0.8:
        curves["heated"].append(tag)
    else:
        curves["free"].append(tag)
for name, tags in curves.items():
    gmsh.model.setPhysicalName(1, gmsh.model.addPhysicalGroup(1, tags), name)
surfaces = [tag for _, tag in gmsh.model.getEntities(2)]
gmsh.model.setPhysicalName(2, gmsh.model.addPhysicalGroup(2, surfaces), "plate")
gmsh.option.setNumber("Mesh.MeshSizeMax", 0.1)
gmsh.model.mesh.generate(2)
gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
gmsh.write(os.path.join(os.path.dirname(__file__), "plate.msh"))
gmsh.finalize()
