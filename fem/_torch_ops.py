"""Encoders, decoders and transfer operators between FE spaces, points, grids and torch.

Encoders turn functions or samples into DOF values (numpy, float64): :func:`interpolate`,
:func:`project`, :func:`project_points`.  Torch modules apply sparse operators to DOF
tensors (batch, n_dofs): :class:`PointEvaluation`, :class:`GridTransfer`,
:class:`DirichletDecoder`.  Multilevel: :func:`prolongation`, :func:`restriction`, and
:func:`dof_graph` for graph networks.

Example::

    >>> import skfem, torch
    >>> basis = skfem.CellBasis(skfem.MeshTri().refined(3), skfem.ElementTriP1())
    >>> dofs = interpolate(basis, lambda p: p[:, 0] + p[:, 1])
    >>> ev = PointEvaluation(basis, [[0.25, 0.5]])
    >>> round(float(ev(torch.as_tensor(dofs))[0]), 12)
    0.75
"""

import itertools

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla
import skfem
import sympy as sp
import torch

from ._forms import Compiled
from ._locate import probes
from ._torch_residual import WeakResidual, spmm, to_torch_sparse

__all__ = ["interpolate", "project", "project_points", "PointEvaluation", "GridTransfer",
           "DirichletDecoder", "prolongation", "restriction", "dof_graph"]


def _points(points, dim, what="points"):
    p = np.asarray(points, dtype=float)
    if p.ndim == 1 and dim == 1:
        p = p[:, None]
    if p.ndim != 2 or p.shape[1] != dim:
        raise ValueError(f"{what} must have shape (N, {dim}), got {p.shape}")
    return p


def _evaluate(f, X):
    """f (sympy expression, number or callable of (N, dim) points) at X (dim, ...)."""
    shape = X.shape[1:]
    if callable(f) and not isinstance(f, sp.Basic):
        pts = X.reshape(X.shape[0], -1).T
        vals = np.asarray(f(pts), dtype=float)
        if vals.shape not in ((pts.shape[0],), ()):
            raise ValueError(f"the function must return ({pts.shape[0]},) values for "
                             f"({pts.shape[0]}, {X.shape[0]}) points, got shape {vals.shape}")
        return np.broadcast_to(vals, (pts.shape[0],)).reshape(shape)
    if isinstance(f, (int, float, sp.Basic)) and not isinstance(f, bool):
        return np.broadcast_to(Compiled(f)(X), shape)
    raise TypeError(f"f must be a sympy expression, a number or a callable of (N, dim) points, "
                    f"got {type(f).__name__}")


def interpolate(basis, f):
    """Nodal interpolation: the values of ``f`` at ``basis.doflocs`` (n_dofs,).

    >>> interpolate(basis, x * y)                       # doctest: +SKIP
    """
    return np.array(_evaluate(f, basis.doflocs), dtype=float)


def _mass(basis):
    return skfem.BilinearForm(lambda u, v, w: u * v).assemble(basis)


def project(basis, f):
    """L2 projection of ``f`` onto the space of ``basis``: solves M x = (f, v).

    >>> project(basis, lambda p: p[:, 0] ** 2)          # doctest: +SKIP
    """
    vals = _evaluate(f, np.asarray(basis.global_coordinates(), dtype=float))
    b = skfem.LinearForm(lambda v, w: w.f * v).assemble(basis, f=vals)
    return spla.splu(_mass(basis).tocsc()).solve(b)


def project_points(basis, points, values, reg=1e-10):
    """Least-squares fit of samples ``values`` (N,) at ``points`` (N, dim) by a FE function.

    Minimises ``|P x - values|^2 + reg * s * x^T M x`` with P the point evaluation, M the
    mass matrix and s = trace(P^T P) / trace(M), so ``reg`` is relative; the small mass
    term keeps DOFs that no sample sees determined.

    >>> x = project_points(basis, pts, np.sin(pts[:, 0]))   # doctest: +SKIP
    """
    dim = basis.mesh.dim()
    pts = _points(points, dim)
    v = np.asarray(values, dtype=float).ravel()
    if v.shape != (pts.shape[0],):
        raise ValueError(f"values must have shape ({pts.shape[0]},) (one per point), got "
                         f"{np.shape(values)}")
    P, inside = probes(basis, pts.T)
    if not inside.all():
        raise ValueError(f"{int((~inside).sum())} point(s) lie outside the mesh, e.g. "
                         f"{pts[~inside][0].tolist()}; drop them before fitting")
    M = _mass(basis)
    PtP = (P.T @ P).tocsc()
    s = PtP.diagonal().sum() / M.diagonal().sum()
    return spla.splu((PtP + reg * s * M).tocsc()).solve(P.T @ v)


class _SparseOp(torch.nn.Module):
    """Applies a fixed sparse matrix (m, n) to DOF tensors (batch, n) or (n,)."""

    def __init__(self, matrix, dtype=torch.float64, device=None):
        super().__init__()
        self.register_buffer("matrix", to_torch_sparse(matrix, dtype, device))

    def _apply_matrix(self, M, x, n, what):
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x, dtype=float))
        if x.ndim not in (1, 2) or x.shape[-1] != n:
            raise ValueError(f"{what} must have shape (batch, {n}) or ({n},), got {tuple(x.shape)}")
        X = x.to(M.dtype) if x.ndim == 2 else x.to(M.dtype).unsqueeze(0)
        out = spmm(M, X)
        return out if x.ndim == 2 else out[0]


class PointEvaluation(_SparseOp):
    """Values of FE functions at fixed points: ``ev(dofs)`` (batch, n_dofs) -> (batch, N).

    ``points`` (N, dim); points outside the mesh raise unless ``extrapolate=True``.

    >>> ev = PointEvaluation(basis, [[0.5, 0.5]]); ev(torch.as_tensor(dofs))   # doctest: +SKIP
    """

    def __init__(self, basis, points, *, extrapolate=False, dtype=torch.float64, device=None):
        pts = _points(points, basis.mesh.dim())
        P, inside = probes(basis, pts.T, extrapolate=extrapolate)
        if not inside.all() and not extrapolate:
            raise ValueError(f"{int((~inside).sum())} point(s) lie outside the mesh, e.g. "
                             f"{pts[~inside][0].tolist()}; drop them or pass extrapolate=True")
        super().__init__(P, dtype, device)
        self.n_dofs, self.n_points = basis.N, pts.shape[0]

    def forward(self, dofs):
        return self._apply_matrix(self.matrix, dofs, self.n_dofs, "dofs")


class GridTransfer(torch.nn.Module):
    """Between FE functions and a regular vertex grid of n points per axis over the bounding box.

    ``to_grid(dofs)`` (batch, n_dofs) -> (batch, n, ..., n) with ``fill`` outside the mesh
    (``mask`` marks grid points inside); ``from_grid(values)`` interpolates the grid's
    multilinear function at the DOF locations.  Grid axis i is coordinate i (``ij`` indexing);
    ``points`` (n^dim, dim) lists the grid points in that order.

    >>> gt = GridTransfer(basis, 32); img = gt.to_grid(dofs); back = gt.from_grid(img)  # doctest: +SKIP
    """

    def __init__(self, basis, n, *, fill=0.0, dtype=torch.float64, device=None):
        super().__init__()
        if not isinstance(n, int) or n < 2:
            raise ValueError(f"n must be an integer >= 2 (grid points per axis), got {n!r}")
        dim = basis.mesh.dim()
        lo, hi = basis.mesh.p.min(axis=1), basis.mesh.p.max(axis=1)
        axes = [np.linspace(lo[i], hi[i], n) for i in range(dim)]
        pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, dim)
        P, inside = probes(basis, pts.T)
        self.n, self.dim, self.n_dofs, self.fill = n, dim, basis.N, float(fill)
        self.lo, self.hi = lo, hi
        self.points = pts
        self.register_buffer("mask", torch.as_tensor(inside.reshape((n,) * dim), device=device))
        self.register_buffer("to_matrix", to_torch_sparse(P, dtype, device))
        self.register_buffer("from_matrix", to_torch_sparse(self._multilinear(basis.doflocs.T, axes), dtype, device))

    def _multilinear(self, X, axes):
        """Sparse (len(X), n^dim) weights of the multilinear interpolant at points X."""
        n, dim = self.n, self.dim
        i0, t = [], []
        for d in range(dim):
            s = (X[:, d] - axes[d][0]) / (axes[d][1] - axes[d][0])
            k = np.clip(np.floor(s).astype(np.int64), 0, n - 2)
            i0.append(k)
            t.append(np.clip(s - k, 0.0, 1.0))
        rows, cols, vals = [], [], []
        for corner in itertools.product((0, 1), repeat=dim):
            idx = np.zeros(len(X), dtype=np.int64)
            w = np.ones(len(X))
            for d, c in enumerate(corner):
                idx = idx * n + i0[d] + c
                w = w * (t[d] if c else 1 - t[d])
            rows.append(np.arange(len(X)))
            cols.append(idx)
            vals.append(w)
        return sps.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                              shape=(len(X), n**dim))

    def to_grid(self, dofs):
        """FE DOFs (batch, n_dofs) or (n_dofs,) -> grid values (batch, n, ..., n)."""
        out = _SparseOp._apply_matrix(self, self.to_matrix, dofs, self.n_dofs, "dofs")
        out = out.reshape(*out.shape[:-1], *(self.n,) * self.dim)
        return torch.where(self.mask, out, torch.full_like(out, self.fill)) if self.fill else out

    def from_grid(self, values):
        """Grid values (batch, n, ..., n) or (n, ..., n) -> FE DOFs at the DOF locations."""
        if not isinstance(values, torch.Tensor):
            values = torch.as_tensor(np.asarray(values, dtype=float))
        g = (self.n,) * self.dim
        if tuple(values.shape[-self.dim:]) != g or values.ndim not in (self.dim, self.dim + 1):
            raise ValueError(f"grid values must have shape (batch, {', '.join(map(str, g))}) or "
                             f"({', '.join(map(str, g))}), got {tuple(values.shape)}")
        flat = values.reshape(*values.shape[:-self.dim], -1)
        return _SparseOp._apply_matrix(self, self.from_matrix, flat, self.n**self.dim, "grid values")

    forward = to_grid


class DirichletDecoder(torch.nn.Module):
    """Network output (batch, n_free) -> full DOF vectors with the Dirichlet values exactly in place.

    ``DirichletDecoder(res)`` for a :class:`WeakResidual`, or ``DirichletDecoder(problem, mesh,
    order=1)``.

    >>> dec = DirichletDecoder(problem, mesh); u = dec(net(z))        # doctest: +SKIP
    """

    def __init__(self, residual_or_problem, mesh=None, order=1, device=None, dtype=None):
        super().__init__()
        if isinstance(residual_or_problem, WeakResidual):
            res = residual_or_problem
        else:
            if mesh is None:
                raise TypeError("DirichletDecoder(problem, mesh, order) needs the mesh; or pass a WeakResidual")
            res = WeakResidual(residual_or_problem, mesh, order, device=device, dtype=dtype)
        self.n_free, self.n_dofs = res.n_free, res.n_dofs
        self.register_buffer("free", res.free.clone())
        self.register_buffer("dirichlet", res.dirichlet.clone())
        self.register_buffer("values", res.dirichlet_values.clone())

    def forward(self, out):
        if not isinstance(out, torch.Tensor) or out.ndim not in (1, 2) or out.shape[-1] != self.n_free:
            raise ValueError(f"the decoder takes (batch, {self.n_free}) or ({self.n_free},), got "
                             f"{tuple(getattr(out, 'shape', ()))}")
        g = self.values.to(out.dtype).expand(*out.shape[:-1], self.n_dofs)
        return g.index_copy(-1, self.free, out)


def prolongation(coarse_basis, fine_basis, dtype=torch.float64, device=None):
    """Sparse torch (n_fine, n_coarse): coarse FE functions interpolated at the fine DOF locations.

    For nested meshes (``mesh.refined()``) it is exact for the coarse space.

    >>> Pr = prolongation(coarse, fine); u_f = spmm(Pr, u_c)      # doctest: +SKIP
    """
    P, inside = probes(coarse_basis, fine_basis.doflocs, extrapolate=True)
    P = P.tocsr()
    P.data[np.abs(P.data) < 1e-14] = 0.0
    P.eliminate_zeros()
    return to_torch_sparse(P, dtype, device)


def restriction(coarse_basis, fine_basis, dtype=torch.float64, device=None):
    """The transpose of :func:`prolongation`: (n_coarse, n_fine)."""
    return prolongation(coarse_basis, fine_basis, dtype, device).t().coalesce()


def dof_graph(basis):
    """Edges (2, n_edges) LongTensor between DOFs sharing an element (the stiffness sparsity
    pattern), both directions, no self loops.

    >>> edge_index = dof_graph(basis)                             # doctest: +SKIP
    """
    ed = basis.element_dofs
    nb = ed.shape[0]
    i, j = np.meshgrid(np.arange(nb), np.arange(nb), indexing="ij")
    keep = i != j
    rows = ed[i[keep]].ravel()
    cols = ed[j[keep]].ravel()
    G = sps.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(basis.N, basis.N)).tocsr()
    G.sum_duplicates()
    G = G.tocoo()
    return torch.as_tensor(np.vstack([G.row, G.col]).astype(np.int64))

