"""Point location on simplex meshes (lines, triangles, tetrahedra).

Works for straight meshes (``MeshLine1``, ``MeshTri1``, ``MeshTet1``) and curved quadratic
ones (``MeshTri2``, ``MeshTet2``, which have no ``element_finder``).  Points are located
with a KD-tree over element centroids, in chunks, so memory stays O(chunk * k).
Points here are in scikit-fem's layout ``(dim, N)``.

Example::

    >>> import numpy as np, skfem
    >>> find_cells(skfem.MeshTri(), np.array([[0.2, 0.1], [2.0, 0.0]])).tolist()
    [0, -1]
"""

import numpy as np
from scipy.spatial import cKDTree
from skfem.mapping import MappingAffine

__all__ = ["locate", "find_cells"]

_CACHE_ATTR = "_pinofem_locator"


class _Locator:
    """Affine data of the straight (corner) simplices plus a centroid KD-tree."""

    def __init__(self, mesh):
        dim = mesh.p.shape[0]
        if mesh.t.shape[0] != dim + 1:
            raise ValueError(
                f"point location supports simplex meshes (MeshLine, MeshTri1/2, "
                f"MeshTet1/2), got {type(mesh).__name__}")
        corners = mesh.p[:, mesh.t[:dim + 1]]           # (dim, dim+1, nel)
        self.dim = dim
        self.b = corners[:, 0].T                         # (nel, dim)
        A = np.transpose(corners[:, 1:] - corners[:, :1], (2, 0, 1))  # (nel, dim, dim)
        self.Ainv = np.linalg.inv(A)
        centroids = corners.mean(axis=1).T
        self.radius = np.sqrt(((corners - centroids.T[:, None, :]) ** 2)
                              .sum(axis=0)).max()
        self.tree = cKDTree(centroids)
        self.nel = centroids.shape[0]

    def bary(self, x, cand):
        """Barycentric coordinates (n, k, dim+1) of points x (n, dim) in elements cand (n, k)."""
        lam = np.einsum("nkij,nkj->nki", self.Ainv[cand], x[:, None, :] - self.b[cand])
        return np.concatenate([1.0 - lam.sum(axis=2, keepdims=True), lam], axis=2)

    def candidates(self, x, k, tol, margin, R=3):
        """The best `R` of the nearest elements per point, sorted by min barycentric
        coordinate (descending): ``cand (n, R), bary (n, R, dim+1), minb (n, R)``.
        `k` is doubled, for the unresolved points only, until no farther element can
        hold them (its centroid is within `radius` of every point it holds)."""
        n, R = x.shape[0], min(R, self.nel)
        cand_t = np.zeros((n, R), dtype=np.int64)
        bary_t = np.zeros((n, R, self.dim + 1))
        minb_t = np.zeros((n, R))
        idx, k = np.arange(n), max(min(k, self.nel), R)
        while idx.size:
            dist, cand = self.tree.query(x[idx], k=k, workers=-1)
            if k == 1:
                dist, cand = dist[:, None], cand[:, None]
            bary = self.bary(x[idx], cand)
            minb = _min_last(bary)
            top = np.argsort(-minb, axis=1)[:, :R]
            rows = np.arange(idx.size)[:, None]
            cand_t[idx], bary_t[idx], minb_t[idx] = cand[rows, top], bary[rows, top], minb[rows, top]
            unsure = (minb_t[idx, 0] < -tol) & (dist[:, -1] <= self.radius * (1 + margin))
            if k == self.nel:
                break
            idx, k = idx[unsure], min(2 * k, self.nel)
        return cand_t, bary_t, minb_t


def _min_last(a):
    """a.min(axis=-1) for a short last axis (faster than the generic reduction)."""
    out = a[..., 0].copy()
    for i in range(1, a.shape[-1]):
        np.minimum(out, a[..., i], out=out)
    return out


def _locator(mesh):
    loc = mesh.__dict__.get(_CACHE_ATTR) if hasattr(mesh, "__dict__") else None
    if loc is None:
        loc = _Locator(mesh)
        try:
            object.__setattr__(mesh, _CACHE_ATTR, loc)
        except (AttributeError, TypeError):
            pass
    return loc


def _newton(mapping, x, cells, X, iters=25):
    """Reference coordinates X (dim, n) with F_cells(X) = x (dim, n) on a curved mapping."""
    X = X.copy()
    for _ in range(iters):
        F = mapping.F(X[:, :, None], tind=cells)[:, :, 0]
        invDF = mapping.invDF(X[:, :, None], tind=cells)[:, :, :, 0]
        dX = np.einsum("ijn,jn->in", invDF, x - F)
        X = np.clip(X + dX, -1.0, 2.0)
        if np.abs(dX).max(initial=0.0) < 1e-13:
            break
    return X


def locate(mesh, points, *, mapping=None, tol=1e-9, k=16, chunk=20000,
           extrapolate=False):
    """Find the element and reference coordinates of each point.

    Parameters: ``points`` (dim, N); ``mapping`` the basis mapping (needed for curved
    meshes, default ``mesh._mapping()``); ``extrapolate=True`` assigns points outside
    the mesh to the nearest candidate element (reference coordinates outside the
    reference simplex) instead of cell -1.

    Returns ``cells`` (N,) int (-1 outside) and ``X`` (dim, N) reference coordinates.

    Example: ``cells, X = locate(mesh, np.array([[0.5], [0.5]]))``
    """
    points = np.asarray(points, dtype=float)
    loc = _locator(mesh)
    if points.ndim != 2 or points.shape[0] != loc.dim:
        raise ValueError(f"points must have shape ({loc.dim}, N), got {points.shape}")
    mapping = mesh._mapping() if mapping is None else mapping
    curved = not isinstance(mapping, MappingAffine)
    margin = 0.25 if curved else tol
    N = points.shape[1]
    cells = np.full(N, -1, dtype=np.int64)
    X = np.zeros((loc.dim, N))
    for s in range(0, N, chunk):
        x = points[:, s:s + chunk].T
        cand, bary, minb = loc.candidates(x, k, tol, margin)
        order = np.broadcast_to(np.arange(cand.shape[1]), cand.shape)  # already sorted
        n = x.shape[0]
        c_out = np.full(n, -1, dtype=np.int64)
        X_out = np.zeros((loc.dim, n))
        ranks = 3 if curved else 1
        for r in range(min(ranks, cand.shape[1])):
            todo = np.nonzero(c_out < 0)[0]
            if todo.size == 0:
                break
            j = order[todo, r]
            c = cand[todo, j]
            lam = bary[todo, j]                          # (m, dim+1)
            Xr = lam[:, 1:].T.copy()
            if curved:
                near = lam.min(axis=1) >= -margin
                todo, c, Xr = todo[near], c[near], Xr[:, near]
                if todo.size == 0:
                    continue
                Xr = _newton(mapping, x[todo].T, c, Xr)
                lam_ref = np.vstack([1.0 - Xr.sum(axis=0), Xr])
                good = lam_ref.min(axis=0) >= -tol
            else:
                good = lam.min(axis=1) >= -tol
            c_out[todo[good]] = c[good]
            X_out[:, todo[good]] = Xr[:, good]
        if extrapolate:
            miss = np.nonzero(c_out < 0)[0]
            if miss.size:
                j = order[miss, 0]
                c_out[miss] = cand[miss, j]
                X_out[:, miss] = bary[miss, j][:, 1:].T
                if curved:
                    X_out[:, miss] = _newton(mapping, x[miss].T, c_out[miss], X_out[:, miss])
        cells[s:s + chunk] = c_out
        X[:, s:s + chunk] = X_out
    return cells, X


def find_cells(mesh, points):
    """Index of the element holding each point (N, dim); -1 where none does."""
    return locate(mesh, np.asarray(points, dtype=float).T)[0]
