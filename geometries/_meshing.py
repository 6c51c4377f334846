"""Meshing a Domain: gmsh (OpenCASCADE kernel) for 2D/3D, tags from the boundary pieces."""

import math

import numpy as np
import skfem

from ._mapping import robust


def _check_h(domain, h):
    lo, hi = domain.bounds
    if h is None:
        return float(np.min(hi - lo)) / 10
    try:
        h = float(h)
    except (TypeError, ValueError):
        raise TypeError(f"mesh: h must be a positive number, got {h!r}") from None
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"mesh: h must be a positive number, got {h!r}")
    cells = np.prod(np.maximum((hi - lo) / h, 1.0))
    if cells > 5e7:
        raise ValueError(
            f"mesh: h={h} would give about {cells:.1e} elements; choose a larger h"
        )
    return h


def _build_occ(domain, occ):
    from ._domain import Difference, Intersection, Union

    if isinstance(domain, Union | Difference | Intersection):
        a, b = _build_occ(domain.a, occ), _build_occ(domain.b, occ)
        op = {Union: occ.fuse, Difference: occ.cut, Intersection: occ.intersect}[type(domain)]
        out, _ = op(a, b)
        if not out:
            raise ValueError(f"mesh: the CSG result {domain!r} is empty")
        return out
    return domain._occ(occ)


def _gmsh_mesh(domain, h):
    import gmsh

    owner = not gmsh.isInitialized()
    if owner:
        gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)  # deterministic meshes
        gmsh.model.add("domain")
        _build_occ(domain, gmsh.model.occ)
        gmsh.model.occ.removeAllDuplicates()
        gmsh.model.occ.synchronize()
        gmsh.option.setNumber("Mesh.MeshSizeMax", h)
        gmsh.option.setNumber("Mesh.MeshSizeMin", 0.0)
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        gmsh.model.mesh.generate(domain.dim)
        etype = {2: 2, 3: 4}[domain.dim]  # 3-node triangle, 4-node tetrahedron
        _, conn = gmsh.model.mesh.getElementsByType(etype)
        tags, coords, _ = gmsh.model.mesh.getNodes()
    finally:
        gmsh.model.remove()
        if owner:
            gmsh.finalize()
    if len(conn) == 0:
        raise ValueError(f"mesh: gmsh produced no elements for {domain!r}; is it empty?")
    lookup = np.zeros(int(tags.max()) + 1, dtype=np.int64)
    lookup[tags.astype(np.int64)] = np.arange(len(tags))
    t = lookup[conn.astype(np.int64)].reshape(-1, domain.dim + 1)
    used, t = np.unique(t, return_inverse=True)
    p = coords.reshape(-1, 3)[used, : domain.dim]
    t = positively_oriented(p, t.reshape(-1, domain.dim + 1))
    cls = skfem.MeshTri if domain.dim == 2 else skfem.MeshTet
    return cls(np.ascontiguousarray(p.T), np.ascontiguousarray(t.T))


def positively_oriented(p, t):
    """Simplices (nel, dim+1) with positive Jacobian determinant: scikit-fem's facet
    normals come out inward on negatively oriented elements."""
    v = p[t]  # (nel, dim+1, dim)
    det = np.linalg.det(v[:, 1:] - v[:, :1])
    t = t.copy()
    t[det < 0, :2] = t[det < 0, 1::-1]
    return t


def _classify(domain, mesh):
    """Tag every boundary facet with the piece its vertices lie on; returns
    ``(boundaries dict, piece index per boundary facet, boundary facets)``."""
    facets = mesh.boundary_facets()
    verts = mesh.p[:, mesh.facets[:, facets]]  # (dim, nverts, nf)
    centre = verts.mean(axis=1).T
    pieces = domain.pieces
    worst = np.empty((len(pieces), len(facets)))
    mid = np.empty((len(pieces), len(facets)))
    for i, (pc, _) in enumerate(pieces):
        d = [pc.distance(verts[:, k].T) for k in range(verts.shape[1])]
        worst[i] = np.max(d, axis=0)
        mid[i] = pc.distance(centre)
    tol = 1e-6 * domain.diameter
    score = np.where(worst < tol, mid, np.inf)
    best = np.where(np.isfinite(score.min(axis=0)), score.argmin(axis=0), worst.argmin(axis=0))
    out = {}
    for i, (pc, _) in enumerate(pieces):
        out.setdefault(pc.tag, []).append(facets[best == i])
    return {k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in out.items()}, best, facets


def _refine(domain, mesh, best, facets):
    """Uniform refinement whose new boundary vertices (edge midpoints) are moved onto the
    curved piece of the boundary facet they came from; returns the new linear mesh."""
    n_old = mesh.p.shape[1]
    fine = mesh.refined()
    p = fine.p.copy()
    # old boundary edges -> piece: in 2D edges are the facets, in 3D the facets' edges
    if domain.dim == 2:
        edges, piece = facets, best
    else:
        edges = mesh.f2e[:, facets].ravel()
        piece = np.tile(best, 3)
    for i, (pc, _) in enumerate(domain.pieces):
        if pc.curved:
            new = n_old + np.unique(edges[piece == i])
            p[:, new] = pc.project(p[:, new].T).T
    if np.any(_signed_volumes(fine.p, fine.t) * _signed_volumes(p, fine.t) <= 0):
        raise ValueError(
            "mesh: refine would invert elements next to a curved boundary; the base mesh "
            "does not resolve its curvature: choose a smaller h (about a third of the "
            "smallest radius) or refine less"
        )
    return type(mesh)(p, fine.t)


def _signed_volumes(p, t):
    v = p.T[t.T]
    return np.linalg.det(v[:, 1:] - v[:, :1])


def _snap(domain, mesh, best, facets):
    """Quadratic mesh whose boundary mid-nodes lie on the curved pieces."""
    cls = skfem.MeshTri2 if domain.dim == 2 else skfem.MeshTet2
    m2 = cls.from_mesh(mesh)
    doflocs = m2.doflocs.copy()
    pieces = domain.pieces
    if domain.dim == 2:
        dofs = m2.dofs.facet_dofs[0, facets]
        for i, (pc, _) in enumerate(pieces):
            if pc.curved and np.any(best == i):
                d = dofs[best == i]
                doflocs[:, d] = pc.project(doflocs[:, d].T).T
    else:
        edge_index = {tuple(e): k for k, e in enumerate(np.sort(mesh.edges, axis=0).T)}
        fv = mesh.facets[:, facets]
        for i, (pc, _) in enumerate(pieces):
            if not (pc.curved and np.any(best == i)):
                continue
            edges = set()
            for a, b in ((0, 1), (1, 2), (0, 2)):
                pairs = np.sort(np.stack([fv[a, best == i], fv[b, best == i]]), axis=0)
                edges.update(edge_index[tuple(e)] for e in pairs.T)
            d = m2.dofs.edge_dofs[0, np.fromiter(edges, dtype=np.int64)]
            doflocs[:, d] = pc.project(doflocs[:, d].T).T
    from dataclasses import replace

    return replace(m2, doflocs=doflocs)


def mesh_domain(domain, h=None, order=1, refine=0):
    """Mesh ``domain`` with element size about ``h``, then halve it ``refine`` times
    (nested meshes); geometry ``order`` 1 or 2."""
    if order not in (1, 2, 3):
        raise ValueError(f"mesh: order must be 1 or 2 (3 is meshed as 2), got {order!r}")
    h = _check_h(domain, h)
    if not (isinstance(refine, int) and 0 <= refine <= 6):
        raise ValueError(f"mesh: refine must be an integer from 0 to 6, got {refine!r}")
    if domain.dim == 1:
        h = h / 2**refine
        a, b = domain.bounds[0][0], domain.bounds[1][0]
        n = max(int(math.ceil((b - a) / h)), 1)
        mesh = skfem.MeshLine(np.linspace(a, b, n + 1))
        left, right = domain._pieces[0][0].tag, domain._pieces[1][0].tag
        ends = {left: [0], right: [n]} if left != right else {left: [0, n]}
        facets = mesh.boundary_facets()
        bnd = {k: np.array([f for f in facets if int(mesh.facets[0, f]) in v]) for k, v in ends.items()}
        return mesh.with_boundaries(bnd)
    mesh = _gmsh_mesh(domain, h)
    boundaries, best, facets = _classify(domain, mesh)
    for _ in range(refine):
        mesh = _refine(domain, mesh, best, facets)
        boundaries, best, facets = _classify(domain, mesh)
    if order >= 2:
        mesh = _snap(domain, mesh, best, facets)
    return robust(mesh.with_boundaries(boundaries))
