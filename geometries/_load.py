"""Domains defined by a mesh file (any format meshio reads; gmsh physical groups -> tags)."""

import os
from dataclasses import replace

import numpy as np
import skfem

from ._domain import Domain, _MeshBacked, as_points
from ._locate import find_cells
from ._mapping import robust
from ._meshing import positively_oriented


def _facet_normals(mesh, facets):
    """Unit normals of boundary facets, pointing away from their element."""
    dim = mesh.p.shape[0]
    v = mesh.p[:, mesh.facets[:, facets]]  # (dim, nverts, nf)
    if dim == 1:
        n = np.ones((1, len(facets)))
    elif dim == 2:
        d = v[:, 1] - v[:, 0]
        n = np.stack([d[1], -d[0]])
    else:
        n = np.cross((v[:, 1] - v[:, 0]).T, (v[:, 2] - v[:, 0]).T).T
    n = n / np.linalg.norm(n, axis=0)
    cell = mesh.f2t[0, facets]
    inward = mesh.p[:, mesh.t[: dim + 1, cell]].mean(axis=1) - v.mean(axis=1)
    return (n * np.where(np.sum(n * inward, axis=0) > 0, -1.0, 1.0)).T


def _facet_measure(mesh, facets):
    dim = mesh.p.shape[0]
    v = mesh.p[:, mesh.facets[:, facets]]
    if dim == 1:
        return np.ones(len(facets))
    if dim == 2:
        return np.linalg.norm(v[:, 1] - v[:, 0], axis=0)
    return 0.5 * np.linalg.norm(np.cross((v[:, 1] - v[:, 0]).T, (v[:, 2] - v[:, 0]).T), axis=1)


class MeshDomain(_MeshBacked, Domain):
    """A domain given by a linear simplex mesh with named boundaries.

    >>> import skfem
    >>> MeshDomain(skfem.MeshTri().with_defaults()).boundaries
    ('left', 'bottom', 'right', 'top')
    """

    def __init__(self, mesh, source=None):
        if not isinstance(mesh, skfem.MeshLine1 | skfem.MeshTri1 | skfem.MeshTet1):
            raise TypeError(
                f"MeshDomain needs a linear line, triangle or tetrahedron mesh, got "
                f"{type(mesh).__name__}; convert quads/hexes to simplices first"
            )
        bfacets = mesh.boundary_facets()
        named = {k: np.asarray(v, dtype=np.int64) for k, v in (mesh.boundaries or {}).items()
                 if k.split(":")[0] != "gmsh"}
        rest = np.setdiff1d(bfacets, np.concatenate([*named.values(), np.zeros(0, np.int64)]))
        if len(rest):
            named["boundary" if "boundary" not in named else "boundary_rest"] = rest
        if mesh.p.shape[0] > 1:
            t = positively_oriented(mesh.p.T, mesh.t.T).T
            if not np.array_equal(t, mesh.t):  # same vertices, so facet numbering is kept
                mesh = replace(mesh, t=np.ascontiguousarray(t))
        self._mesh = replace(mesh, _boundaries=named)
        self.dim = mesh.p.shape[0]
        self.source = source

    @property
    def bounds(self):
        return self._mesh.p.min(axis=1), self._mesh.p.max(axis=1)

    @property
    def boundaries(self):
        return tuple(self._mesh.boundaries)

    def contains(self, points, tol=None):
        return find_cells(self._mesh, as_points(points, self.dim)) >= 0

    def _sd(self, p):
        return np.where(find_cells(self._mesh, p) >= 0, -1.0, 1.0)

    def sample_boundary(self, n, seed=0):
        rng = np.random.default_rng(seed)
        tags = list(self._mesh.boundaries)
        facets = np.concatenate([self._mesh.boundaries[k] for k in tags])
        ftag = np.concatenate([np.full(len(self._mesh.boundaries[k]), k, object) for k in tags])
        w = _facet_measure(self._mesh, facets)
        pick = rng.choice(len(facets), size=n, p=w / w.sum())
        v = self._mesh.p[:, self._mesh.facets[:, facets[pick]]]  # (dim, nverts, n)
        lam = rng.dirichlet(np.ones(v.shape[1]), size=n).T  # uniform on the simplex facet
        pts = np.einsum("dkn,kn->nd", v, lam)
        return pts, _facet_normals(self._mesh, facets[pick]), ftag[pick].astype(str)

    def mesh(self, h=None, order=1):
        """The file's mesh, uniformly refined until its longest edge is at most ``h``."""
        if order not in (1, 2, 3):
            raise ValueError(f"mesh: order must be 1 or 2, got {order!r}")
        m = self._mesh
        if h is not None:
            if not float(h) > 0:
                raise ValueError(f"mesh: h must be a positive number, got {h!r}")
            for _ in range(8):
                e = m.p[:, m.facets if self.dim == 2 else m.edges] if self.dim > 1 else None
                longest = (np.max(np.linalg.norm(e[:, 1] - e[:, 0], axis=0)) if e is not None
                           else np.max(np.diff(np.sort(m.p[0]))))
                if longest <= h:
                    break
                m = m.refined()
        if order >= 2 and self.dim > 1:
            m2 = (skfem.MeshTri2 if self.dim == 2 else skfem.MeshTet2).from_mesh(m)
            m = robust(m2.with_boundaries(m.boundaries))
        return m

    def __repr__(self):
        src = f" from {self.source!r}" if self.source else ""
        return (f"<MeshDomain {self.dim}D{src}: {self._mesh.nelements} elements, "
                f"boundaries={list(self.boundaries)}>")


def load(path):
    """Read a mesh file in any meshio format; named physical groups become tags.

    Untagged boundary facets are tagged ``boundary``.
    """
    import meshio
    from skfem.io.meshio import from_meshio

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"load: mesh file {path!r} does not exist")
    try:
        m = meshio.read(path)
    except Exception as exc:  # meshio raises many types for unreadable files
        raise ValueError(f"load: meshio cannot read {path!r}: {exc}") from None
    # keep only the physical-group cell sets, named as in the file
    try:
        mesh = from_meshio(m)
    except Exception as exc:
        raise ValueError(
            f"load: {path!r} holds no line, triangle or tetrahedron mesh scikit-fem can use "
            f"({exc})"
        ) from None
    if isinstance(mesh, skfem.MeshTri2 | skfem.MeshTet2):
        raise ValueError(f"load: {path!r} is a quadratic mesh; export it with order 1")
    return MeshDomain(mesh, source=path)
