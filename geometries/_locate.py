"""Point location in simplex meshes (line, triangle, tetrahedron), by corner vertices.

scikit-fem's ``element_finder`` raises on points outside the mesh, builds large
(candidates x points) arrays and does not exist for quadratic meshes; this one works in
chunks with a KD-tree of element centroids.
"""

import numpy as np
from scipy.spatial import cKDTree


def barycentric(p, t, points, cells):
    """Barycentric coordinates (N, dim+1) of ``points`` (N, dim) in simplices ``cells``."""
    dim = p.shape[0]
    v = p[:, t[: dim + 1, cells]]  # (dim, dim+1, N)
    T = v[:, 1:, :] - v[:, :1, :]  # (dim, dim, N)
    rhs = points.T - v[:, 0, :]
    lam = np.linalg.solve(np.moveaxis(T, -1, 0), rhs.T[..., None])[..., 0]
    return np.column_stack([1 - lam.sum(axis=1), lam])


def find_cells(mesh, points, tol=1e-10, k=12, chunk=20000):
    """Index of the element containing each point (N, dim); -1 where none does.

    Uses the straight simplices through each element's corner vertices.
    """
    p, t = mesh.p, mesh.t
    dim = p.shape[0]
    corners = t[: dim + 1]
    tree = getattr(mesh, "_pino_tree", None)
    if tree is None:
        tree = cKDTree(p[:, corners].mean(axis=1).T)
        object.__setattr__(mesh, "_pino_tree", tree)
    k = min(k, corners.shape[1])
    out = np.full(len(points), -1, dtype=np.int64)
    for s in range(0, len(points), chunk):
        pts = points[s: s + chunk]
        _, cand = tree.query(pts, k=k)
        cand = cand.reshape(len(pts), -1)
        best = np.full(len(pts), -np.inf)
        for j in range(cand.shape[1]):
            lam = barycentric(p, t, pts, cand[:, j]).min(axis=1)
            better = lam > best
            best[better] = lam[better]
            out[s: s + chunk][better] = cand[better, j]
        out[s: s + chunk][best < -tol] = -1
    return out
