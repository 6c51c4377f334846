"""The discrete weak form of a steady Problem as a differentiable torch module.

``WeakResidual(problem, mesh, order)`` holds everything that does not depend on the
parameter fields as torch sparse buffers assembled once by scikit-fem (same element,
quadrature, forms and Dirichlet DOFs as :func:`fem.solve`).  Coefficients that depend on
parameter functions (``problem.parameters``) are evaluated in torch at quadrature points
from the fields' DOF values, and their element contributions are scatter-added into the
residual, so the result is differentiable in ``u`` and in every field.

Example::

    >>> import sympy as sp, torch
    >>> from geometries import Rectangle
    >>> from manufactured import Problem, Dirichlet, div, grad, u, x, y
    >>> sq = Rectangle((0, 0), (1, 1))
    >>> a = sp.Function("a")(x, y)
    >>> family = Problem(sq, -div(a * grad(u)) - 1, {t: Dirichlet(0) for t in sq.boundaries})
    >>> res = WeakResidual(family, sq.mesh(h=0.25))                 # doctest: +SKIP
    >>> r = res(torch.zeros(3, res.n_dofs), a=torch.ones(res.n_dofs))  # doctest: +SKIP
    >>> r.shape == (3, res.n_free)                                      # doctest: +SKIP
    True
"""

import copy

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla
import skfem
import sympy as sp
import torch
from skfem.mapping import MappingAffine
from sympy.core.function import AppliedUndef

from manufactured._symbols import NORMAL, SPACE

from ._forms import Compiled, Operator, _field_symbols, facet_bases
from ._solve import element_for

__all__ = ["WeakResidual", "to_torch_sparse"]

#: Above this many free DOFs the dual norm solves with scipy's LU instead of a dense Cholesky.
DENSE_CHOLESKY_LIMIT = 5000


def to_torch_sparse(A, dtype=torch.float64, device=None):
    """A scipy sparse matrix as a coalesced torch COO tensor.

    >>> import scipy.sparse as sps
    >>> to_torch_sparse(sps.eye(3)).shape
    torch.Size([3, 3])
    """
    A = sps.coo_matrix(A)
    idx = torch.as_tensor(np.vstack([A.row, A.col]).astype(np.int64))
    vals = torch.as_tensor(A.data, dtype=dtype)
    return torch.sparse_coo_tensor(idx, vals, A.shape, device=device,
                                   check_invariants=False).coalesce()


def spmm(A, X):
    """``A @ x`` for each row x of X (batch, n) with A a torch sparse (m, n): (batch, m)."""
    return torch.sparse.mm(A, X.T).T


def intorder_for(mesh, order):
    """The quadrature order :func:`fem.solve` uses for ``order`` on ``mesh``."""
    affine = isinstance(mesh, skfem.MeshTri1 | skfem.MeshTet1 | skfem.MeshLine1)
    return 2 * order + (0 if affine else 2)


class _Quad:
    """Basis values, gradients, weights and points at the quadrature points of a basis.

    Works for a CellBasis (per element) or a FacetBasis (per facet, with normals).
    Shapes: dofs (ne, nb), phi (ne, nb, nq), dphi (ne, nb, dim, nq), w (ne, nq),
    X and n (dim, ne, nq).  On affine cells the basis values are the same in every element
    and gradients are a per-element linear map of the reference ones, so interpolation and
    testing become large matrix products with (nb, nq) reference tables instead of
    per-element batched products (several times faster for P1).
    """

    def __init__(self, basis):
        nb = basis.Nbfun
        ne, nq = basis.dx.shape
        dim = basis.mesh.dim()
        phi = np.stack([np.broadcast_to(np.asarray(basis.basis[i][0]), (ne, nq)) for i in range(nb)], 1)
        dphi = np.stack([np.broadcast_to(basis.basis[i][0].grad, (dim, ne, nq)) for i in range(nb)], 0)
        dphi = dphi.transpose(2, 0, 1, 3)
        self.dofs = torch.as_tensor(np.ascontiguousarray(basis.element_dofs.T), dtype=torch.int64)
        self.w = torch.as_tensor(np.ascontiguousarray(basis.dx))
        self.X = torch.as_tensor(np.asarray(basis.global_coordinates(), dtype=float))
        n = getattr(basis, "normals", None)
        self.n = torch.as_tensor(np.asarray(n, dtype=float)) if n is not None else None
        self.affine = False
        if isinstance(basis, skfem.CellBasis) and isinstance(basis.mapping, MappingAffine):
            ref = [basis.elem.lbasis(basis.X, i) for i in range(nb)]
            phi_ref = np.stack([np.broadcast_to(np.asarray(p), (nq,)) for p, _ in ref])        # (nb, nq)
            dref = np.stack([np.broadcast_to(np.asarray(d), (dim, nq)) for _, d in ref])      # (nb, dim, nq)
            Jinv = np.asarray(basis.mapping.invDF(basis.X))[:, :, :, 0].transpose(2, 1, 0)  # (ne, d, r)
            rebuilt = np.einsum("edr,krq->ekdq", Jinv, dref)
            if np.allclose(phi, phi_ref[None]) and np.allclose(rebuilt, dphi, rtol=1e-12, atol=1e-12):
                self.affine = True
                self.phi_ref = torch.as_tensor(phi_ref)
                self.dref = torch.as_tensor(np.ascontiguousarray(dref.transpose(1, 0, 2)))   # (r, nb, nq)
                self.Jinv = torch.as_tensor(np.ascontiguousarray(Jinv))
                # metric Jinv^T Jinv: grad u . grad v in reference coordinates
                self.G = torch.as_tensor(np.einsum("edr,eds->ers", Jinv, Jinv))
        if not self.affine:
            self.phi = torch.as_tensor(np.ascontiguousarray(phi))
            self.dphi = torch.as_tensor(np.ascontiguousarray(dphi))
        self.dim, self.nq = dim, nq

    def to(self, device, dtype):
        for k, v in vars(self).items():
            if isinstance(v, torch.Tensor):
                setattr(self, k, v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype))
        return self

    def interp(self, F):
        """Values (B, ne, nq) at the quadrature points of DOF vectors F (B, N)."""
        if self.affine:
            return F[:, self.dofs] @ self.phi_ref
        return torch.einsum("bek,ekq->beq", F[:, self.dofs], self.phi)

    def ref_grads(self, F):
        """Reference-coordinate gradients, a list over r of (B, ne, nq) (affine cells only)."""
        Fe = F[:, self.dofs]
        return [Fe @ self.dref[r] for r in range(self.dim)]

    def interp_grad(self, F):
        """Gradients (B, ne, dim, nq) at the quadrature points of DOF vectors F (B, N)."""
        if self.affine:
            R = self.ref_grads(F)
            return torch.stack([sum(self.Jinv[:, d, r, None] * R[r] for r in range(self.dim))
                                for d in range(self.dim)], 2)
        return torch.einsum("bek,ekdq->bedq", F[:, self.dofs], self.dphi)

    def test(self, s):
        """(s, phi_k) per element: (B, ne, nq) -> (B, ne, nb)."""
        if self.affine:
            return (s * self.w) @ self.phi_ref.T
        return torch.einsum("beq,ekq,eq->bek", s, self.phi, self.w)

    def test_grad(self, flux):
        """(flux, grad phi_k) per element: (B, ne, dim, nq) -> (B, ne, nb)."""
        if self.affine:
            wf = flux * self.w[:, None, :]
            return sum(sum(self.Jinv[:, d, r, None] * wf[:, :, d] for d in range(self.dim)) @ self.dref[r].T
                       for r in range(self.dim))
        return torch.einsum("bedq,ekdq,eq->bek", flux, self.dphi, self.w)

    def diffusion(self, k, F):
        """(k grad u, grad phi_k) per element for a scalar k (B or 1, ne, nq): (B, ne, nb)."""
        if not self.affine:
            return self.test_grad(k.unsqueeze(-2) * self.interp_grad(F))
        R = self.ref_grads(F)
        kw = k * self.w
        G, dim = self.G, self.dim
        return sum((kw * sum(G[:, r, s_, None] * R[s_] for s_ in range(dim))) @ self.dref[r].T
                   for r in range(dim))


class _Coef:
    """A coefficient (sympy, in x, y, z, the normal and the parameter functions) in torch.

    Parameter functions ``p(x, y)`` and their first derivatives are replaced by symbols (as
    for the scipy assembly, :func:`fem._forms._field_symbols`) and the result is lambdified
    with the 'torch' module; at quadrature points the symbols get the interpolated fields
    (and field gradients).
    """

    def __init__(self, expr, params, where):
        try:
            expr, found = _field_symbols(sp.sympify(expr))
        except ValueError as err:
            raise NotImplementedError(
                f"{where}: {err}; the torch weak residual supports a parameter and its first "
                "space derivatives only") from None
        found = sorted(found, key=lambda f: (f[2] is not None, f[1], f[2] or 0))
        self.fields = {name for _, name, axis in found if axis is None}
        self.grads = {(name, axis) for _, name, axis in found if axis is not None}
        self.expr = expr
        # linear in every field with a space-independent factor: the common case a*const
        self.linear = all(sp.diff(expr, s, 2) == 0 for s, _, _ in found)
        self.args = (*SPACE, *NORMAL, *(s for s, _, _ in found))
        self._names = [("f", n) if a is None else ("g", (n, a)) for _, n, a in found]
        try:
            self._fn = sp.lambdify(self.args, expr, "torch")
            probe = [torch.full((2,), 0.5, dtype=torch.float64)] * len(self.args)
            torch.as_tensor(self._fn(*probe))
        except Exception as err:  # noqa: BLE001 - reported as the documented limitation
            raise NotImplementedError(
                f"{where}: the coefficient {expr} cannot be evaluated in torch ({err}); "
                "write it with functions torch knows (exp, sin, ...) or substitute the parameter") from err

    def __call__(self, X, n, vals, grads):
        """Values broadcastable to (B, ne, nq); X, n (dim, ne, nq); vals name -> (B, ne, nq)."""
        dim = X.shape[0]
        zero = torch.zeros((), dtype=X.dtype, device=X.device)
        args = [X[i] if i < dim else zero for i in range(3)]
        args += [n[i] if n is not None and i < dim else zero for i in range(3)]
        for kind, key in self._names:
            args.append(vals[key] if kind == "f" else grads[key[0]][:, :, key[1]])
        out = self._fn(*args)
        return torch.as_tensor(out, dtype=X.dtype, device=X.device)


def _depends(expr, params):
    return any(f.func.__name__ in params for f in sp.sympify(expr).atoms(AppliedUndef))


class _DualSolve(torch.autograd.Function):
    """z = P^{-1} r (rows of r) with scipy's LU of the symmetric P; backward is the same solve."""

    @staticmethod
    def forward(ctx, r, lu):
        ctx.lu = lu
        z = lu.solve(np.ascontiguousarray(r.detach().cpu().double().numpy().T))
        return torch.as_tensor(z.T, dtype=r.dtype, device=r.device)

    @staticmethod
    def backward(ctx, gz):
        g = ctx.lu.solve(np.ascontiguousarray(gz.detach().cpu().double().numpy().T))
        return torch.as_tensor(g.T, dtype=gz.dtype, device=gz.device), None


class WeakResidual(torch.nn.Module):
    """The residual ``A u - b`` of the discrete weak form at the free (non-Dirichlet) DOFs.

    ``problem`` a steady :class:`manufactured.Problem` (or family), ``mesh`` a tagged
    scikit-fem mesh, ``order`` the Lagrange degree.  ``res(u, **fields)``: ``u`` (batch,
    n_dofs) or (n_dofs,); each parameter field by name as DOF values of the same space,
    batched like ``u`` or unbatched (shared).  Returns (batch, n_free) or (n_free,).

    >>> res = WeakResidual(problem, mesh)                       # doctest: +SKIP
    >>> r = res(u_dofs)                                         # doctest: +SKIP
    >>> res.norm(r, kind="dual")                                # doctest: +SKIP
    """

    def __init__(self, problem, mesh, order=1, device=None, dtype=None):
        super().__init__()
        if not hasattr(problem, "canonical"):
            raise TypeError(f"WeakResidual needs a manufactured.Problem, got {type(problem).__name__}")
        if problem.is_time_dependent:
            raise NotImplementedError("WeakResidual: steady problems only for now (the problem has time=...)")
        missing = set(problem.bcs) - set(mesh.boundaries or {})
        if missing:
            raise ValueError(f"WeakResidual: the mesh has no boundary tagged {sorted(missing)}; "
                             "use problem.domain.mesh(...) or tag the mesh with .with_boundaries")
        dtype = torch.float64 if dtype is None else dtype
        self.problem, self.mesh, self.order = problem, mesh, order
        self.params = tuple(problem.parameters)
        params = set(self.params)
        dim = problem.dim
        self.dim = dim
        cf = problem.canonical
        for tag, bc in problem.bcs.items():
            if type(bc).__name__ == "Dirichlet" and _depends(bc.g, params):
                raise NotImplementedError(
                    f"WeakResidual: Dirichlet data on {tag!r} depends on a parameter; only the "
                    "equation and Neumann/Robin data may depend on parameters")

        op = Operator(problem)
        elem = element_for(dim, order)
        intorder = intorder_for(mesh, order)
        basis = skfem.CellBasis(mesh, elem, intorder=intorder)
        self.basis = basis
        tags = [tg for tg in op.natural if len(mesh.boundaries[tg])]
        fbases = facet_bases(mesh, elem, tags, intorder)

        # split: what depends on a parameter goes to torch, the rest to scikit-fem
        where = "WeakResidual"
        zero = Compiled(0)
        fixed = copy.copy(op)
        K_dep = any(_depends(cf.K[i, j], params) for i in range(dim) for j in range(dim))
        self._K = None
        if K_dep:
            if op.isotropic:
                self._K = _Coef(cf.K[0, 0], params, where)
                fixed.kiso = zero
            else:
                self._K = [[_Coef(cf.K[i, j], params, where) for j in range(dim)] for i in range(dim)]
            fixed.K = [[zero] * dim for _ in range(dim)]
        self._beta = [None] * dim
        fixed.beta = list(op.beta)
        for i, b in enumerate(cf.beta):
            if _depends(b, params):
                self._beta[i] = _Coef(b, params, where)
                fixed.beta[i] = zero
        self._c = _Coef(cf.c, params, where) if _depends(cf.c, params) else None
        self._f = _Coef(cf.f, params, where) if _depends(cf.f, params) else None
        if self._c is not None:
            fixed.c = zero
        if self._f is not None:
            fixed.f = zero
        self._natural = {}
        fixed.natural = {}
        for tag, (g, alpha) in op.natural.items():
            bc = problem.bcs[tag]
            dep = K_dep or _depends(bc.g, params) or (alpha is not None and _depends(bc.alpha, params))
            if dep and alpha is None and op.isotropic and g.is_zero:
                continue  # homogeneous Neumann with isotropic K: no boundary term at all
            if not dep:
                fixed.natural[tag] = (g, alpha)
            elif tag in fbases:
                K = [[_Coef(cf.K[i, j], params, where) for j in range(dim)] for i in range(dim)]
                self._natural[tag] = (K, _Coef(bc.g, params, where),
                                      _Coef(bc.alpha, params, where) if alpha is not None else None)
        self.isotropic = op.isotropic

        fb_fixed = {tg: fbases[tg] for tg in fixed.natural if tg in fbases}
        A = fixed.stiffness(basis, fb_fixed)
        A.eliminate_zeros()
        b = fixed.load(basis, fb_fixed)
        D, per_tag = op.dirichlet_dofs(basis, mesh)
        free = np.setdiff1d(np.arange(basis.N), D)
        self._free_np, self._D_np = free, D
        self.n_dofs, self.n_free = int(basis.N), int(len(free))
        self._A_np, self._b_np = A, b
        self.register_buffer("free", torch.as_tensor(free, dtype=torch.int64))
        self.register_buffer("dirichlet", torch.as_tensor(D, dtype=torch.int64))
        self.register_buffer("dirichlet_values", torch.as_tensor(op.dirichlet_values(basis, per_tag), dtype=dtype))
        self.register_buffer("A", to_torch_sparse(A[free], dtype))
        self.register_buffer("b", torch.as_tensor(b[free], dtype=dtype))

        self._cell = _Quad(basis) if self._torch_volume else None
        self._facets = {tag: _Quad(fbases[tag]) for tag in self._natural}
        self._dtype, self._device = dtype, torch.device("cpu")
        self._dual = {}
        self.to(device=device, dtype=dtype)

    # ----------------------------------------------------------------- plumbing
    @property
    def _torch_volume(self):
        return (self._K is not None or any(b is not None for b in self._beta)
                or self._c is not None or self._f is not None)

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        probe = fn(torch.zeros((), dtype=self._dtype, device=self._device))
        self._dtype, self._device = probe.dtype, probe.device
        for q in [self._cell, *self._facets.values()]:
            if q is not None:
                q.to(self._device, self._dtype)
        return out

    def __repr__(self):
        return (f"WeakResidual({type(self.mesh).__name__} with {self.mesh.nelements} elements, "
                f"P{self.order}, n_dofs={self.n_dofs}, n_free={self.n_free}, "
                f"parameters={self.params}, dtype={self._dtype}, device={self._device})")

    def _as_tensor(self, v, what):
        if not isinstance(v, torch.Tensor):
            v = torch.as_tensor(np.asarray(v, dtype=float))
        if not v.is_floating_point():
            raise TypeError(f"{what} must be a floating-point tensor, got {v.dtype}")
        if v.ndim not in (1, 2) or v.shape[-1] != self.n_dofs:
            raise ValueError(f"{what} must have shape (batch, {self.n_dofs}) or ({self.n_dofs},) "
                             f"(values at the DOFs), got {tuple(v.shape)}")
        return v.to(device=self._device, dtype=self._dtype)

    # ----------------------------------------------------------------- public
    def forward(self, u, **fields):
        unknown = set(fields) - set(self.params)
        if unknown:
            raise ValueError(f"WeakResidual: unknown field(s) {sorted(unknown)}; the problem's "
                             f"parameters are {list(self.params) or 'none'}")
        absent = set(self.params) - set(fields)
        if absent:
            raise ValueError(f"WeakResidual: give the parameter field(s) {sorted(absent)} as "
                             f"DOF values, e.g. res(u, {sorted(absent)[0]}=values)")
        u = self._as_tensor(u, "u")
        F = {k: self._as_tensor(v, f"field {k!r}") for k, v in fields.items()}
        sizes = {t.shape[0] for t in [u, *F.values()] if t.ndim == 2}
        if len(sizes) > 1:
            raise ValueError(f"WeakResidual: u and the fields have different batch sizes {sorted(sizes)}; "
                             "give equal batches or unbatched (shared) fields")
        batched = bool(sizes)
        B = sizes.pop() if sizes else 1
        u2 = u.expand(B, -1) if u.ndim == 2 else u.expand(B, -1)
        F2 = {k: (v if v.ndim == 2 else v.unsqueeze(0)) for k, v in F.items()}
        r = spmm(self.A, u2) - self.b
        if self._torch_volume or self._natural:
            full = torch.zeros(B, self.n_dofs, dtype=self._dtype, device=self._device)
            if self._cell is not None:
                full = self._scatter(full, self._cell, self._volume(self._cell, u2, F2))
            for tag, q in self._facets.items():
                full = self._scatter(full, q, self._boundary(q, self._natural[tag], u2, F2))
            r = r + full[:, self.free]
        return r if batched else r[0]

    def _fields_at(self, q, F, coefs):
        need = set().union(*(c.fields for c in coefs))
        needg = {n for c in coefs for n, _ in c.grads}
        vals = {n: q.interp(F[n]) for n in need}
        grads = {n: q.interp_grad(F[n]) for n in needg}
        return vals, grads

    @staticmethod
    def _scatter(full, q, re):
        B = re.shape[0]
        return full.index_add(1, q.dofs.reshape(-1), re.reshape(B, -1))

    def _volume(self, q, u, F):
        """Element residuals (B, ne, nb) of the parameter-dependent volume terms."""
        coefs = [c for c in [self._c, self._f, *self._beta] if c is not None]
        if isinstance(self._K, list):
            coefs += [c for row in self._K for c in row]
        elif self._K is not None:
            coefs.append(self._K)
        vals, grads = self._fields_at(q, F, coefs)
        X, dim = q.X, self.dim
        anisotropic = isinstance(self._K, list)
        need_grad = anisotropic or any(b is not None for b in self._beta)
        gu = q.interp_grad(u) if need_grad else None
        re = 0
        if self._K is not None:
            if not anisotropic:
                re = re + q.diffusion(self._K(X, None, vals, grads), u)
            else:
                K = [[k(X, None, vals, grads) for k in row] for row in self._K]
                flux = torch.stack([sum(K[i][j] * gu[:, :, j] for j in range(dim))
                                    for i in range(dim)], 2)
                re = re + q.test_grad(flux)
        s = 0
        for i, b in enumerate(self._beta):
            if b is not None:
                s = s + b(X, None, vals, grads) * gu[:, :, i]
        if self._c is not None:
            s = s + self._c(X, None, vals, grads) * q.interp(u)
        if self._f is not None:
            s = s - self._f(X, None, vals, grads)
        if not isinstance(s, int):
            re = re + q.test(s.expand(u.shape[0], *q.w.shape))
        return re

    def _boundary(self, q, terms, u, F):
        """Facet residuals (B, nf, nb): <nKn alpha u, v> - <(Kn)_tan . grad u, v> - <nKn g, v>."""
        K, g, alpha = terms
        coefs = [c for row in K for c in row] + [g] + ([alpha] if alpha is not None else [])
        vals, grads = self._fields_at(q, F, coefs)
        X, n, dim = q.X, q.n, self.dim
        Kv = [[k(X, n, vals, grads) for k in row] for row in K]
        Kn = [sum(Kv[i][j] * n[j] for j in range(dim)) for i in range(dim)]
        nKn = sum(Kn[i] * n[i] for i in range(dim))
        s = -nKn * g(X, n, vals, grads)
        if alpha is not None:
            s = s + nKn * alpha(X, n, vals, grads) * q.interp(u)
        if not self.isotropic:
            gu = q.interp_grad(u)
            s = s - sum((Kn[i] - nKn * n[i]) * gu[:, :, i] for i in range(dim))
        return q.test(s.expand(u.shape[0], *q.w.shape))

    def lift(self, u_free):
        """Full DOF vectors with the Dirichlet values in place: (batch, n_free) -> (batch, n_dofs).

        >>> u = res.lift(torch.zeros(res.n_free))                  # doctest: +SKIP
        """
        if not isinstance(u_free, torch.Tensor) or u_free.shape[-1] != self.n_free or u_free.ndim not in (1, 2):
            raise ValueError(f"lift takes a tensor of shape (batch, {self.n_free}) or ({self.n_free},), "
                             f"got {getattr(u_free, 'shape', type(u_free).__name__)}")
        g = self.dirichlet_values.to(u_free.dtype)
        g = g.expand(*u_free.shape[:-1], self.n_dofs)
        return g.index_copy(-1, self.free, u_free)

    def norm(self, r, kind="l2"):
        """Norm of residual rows r (batch, n_free) or (n_free,): 'l2', or 'dual' = sqrt(r^T P^-1 r).

        P is the free-free block of the unit-coefficient stiffness (grad u, grad v), plus the
        mass matrix when the problem has no Dirichlet DOFs: an H^-1-like norm that does not
        grow with mesh refinement.  ``res.norm(res(u), "dual")``.
        """
        if kind == "l2":
            return torch.linalg.vector_norm(r, dim=-1)
        if kind != "dual":
            raise ValueError(f"norm kind must be 'l2' or 'dual', got {kind!r}")
        if r.shape[-1] != self.n_free:
            raise ValueError(f"norm takes residuals with last dimension {self.n_free}, got {tuple(r.shape)}")
        R = r if r.ndim == 2 else r.unsqueeze(0)
        if self.n_free <= DENSE_CHOLESKY_LIMIT:
            key = (R.device, R.dtype)
            if key not in self._dual:
                L = np.linalg.cholesky(self._P().toarray())
                self._dual[key] = torch.as_tensor(L, dtype=R.dtype, device=R.device)
            z = torch.linalg.solve_triangular(self._dual[key], R.T, upper=False)
            out = torch.sqrt((z * z).sum(0))
        else:
            if "lu" not in self._dual:
                self._dual["lu"] = spla.splu(self._P().tocsc())
            z = _DualSolve.apply(R, self._dual["lu"])
            out = torch.sqrt((R * z).sum(-1))
        return out if r.ndim == 2 else out[0]

    def _P(self):
        P = skfem.BilinearForm(lambda u, v, w: skfem.helpers.dot(skfem.helpers.grad(u),
                                                                 skfem.helpers.grad(v)))
        P = P.assemble(self.basis)
        if len(self._D_np) == 0:
            P = P + skfem.BilinearForm(lambda u, v, w: u * v).assemble(self.basis)
        f = self._free_np
        return P[f][:, f]
