"""Finite-element forms of a Problem's canonical operator (scikit-fem assembly).

The canonical form ``m2 u_tt + m1 u_t - div(K grad u) + beta.grad u + c u = f`` gives,
with v a test function and n the outward normal,

    a(u, v) = (K grad u, grad v) + (beta.grad u, v) + (c u, v)
              + sum_Robin <nKn alpha u, v> - sum_{Neumann,Robin} <(Kn)_tan . grad u, v>
    l(v)    = (f, v) + sum_{Neumann,Robin} <nKn g, v>

since on a Neumann or Robin piece K grad u . n = nKn du/dn + (Kn)_tan . grad u and
du/dn = g - alpha u. The tangential term vanishes for isotropic K and is skipped then.
"""

import numpy as np
import sympy as sp
from skfem import BilinearForm, FacetBasis, LinearForm
from skfem.helpers import dot, grad

from manufactured._symbols import NORMAL, SPACE, t


def _field_symbols(expr):
    """Replace parameter functions a(x, ...) and their first derivatives by symbols.

    Returns the new expression and a list of ``(symbol, name, derivative axis or None)``.
    """
    from sympy.core.function import AppliedUndef

    found = []
    derivs = {d: d for d in expr.atoms(sp.Derivative) if isinstance(d.expr, AppliedUndef)}
    for d in derivs:
        if d.derivative_count != 1 or d.variables[0] not in SPACE:
            raise ValueError(f"{d}: only first space derivatives of a parameter field can "
                             "be evaluated from its finite-element values")
        axis = SPACE.index(d.variables[0])
        sym = sp.Symbol(f"_{d.expr.func.__name__}_d{axis}")
        found.append((sym, d.expr.func.__name__, axis))
        expr = expr.xreplace({d: sym})
    for f in expr.atoms(AppliedUndef):
        sym = sp.Symbol(f"_{f.func.__name__}")
        found.append((sym, f.func.__name__, None))
        expr = expr.xreplace({f: sym})
    return expr, found


class Compiled:
    """A sympy expression compiled for evaluation at quadrature points.

    ``c(X, time, n, w)`` with X of shape (dim, ...) returns an array of shape X.shape[1:]
    (or a Python float when the expression is constant). Parameter functions (a Problem
    family's fields) are read from ``w``, scikit-fem's form parameters, where they arrive
    as interpolated fields named like the function.
    """

    def __init__(self, expr):
        self.expr = sp.sympify(expr)
        expr, self.fields = _field_symbols(self.expr)
        self.free = self.expr.free_symbols
        self.is_zero = self.expr == 0
        if not self.free and not self.fields:
            self.const = float(self.expr)
            return
        self.const = None
        extra = [s for s, _, _ in self.fields]
        self._f = sp.lambdify((*SPACE, t, *NORMAL, *extra), expr, "numpy")

    @property
    def depends_on_time(self):
        return t in self.free

    def __call__(self, X, time=0.0, n=None, w=None):
        if self.const is not None:
            return self.const
        dim, shape = X.shape[0], X.shape[1:]
        zero = np.zeros(shape)
        args = [X[i] if i < dim else zero for i in range(3)] + [time]
        args += [n[i] if n is not None and i < dim else zero for i in range(3)]
        for _, name, axis in self.fields:
            if w is None or name not in w:
                raise ValueError(f"parameter field {name!r} has no values; pass "
                                 f"fields={{{name!r}: ...}}")
            args.append(np.asarray(w[name]) if axis is None else w[name].grad[axis])
        return np.broadcast_to(np.asarray(self._f(*args), dtype=float), shape)


class Operator:
    """The compiled coefficients and boundary data of a Problem (no mesh yet)."""

    def __init__(self, problem):
        cf = problem.canonical
        self.dim = problem.dim
        self.K = [[Compiled(cf.K[i, j]) for j in range(self.dim)] for i in range(self.dim)]
        self.beta = [Compiled(b) for b in cf.beta]
        self.c, self.f = Compiled(cf.c), Compiled(cf.f)
        self.m1, self.m2 = Compiled(cf.m1), Compiled(cf.m2)
        K = sp.Matrix(cf.K)
        self.isotropic = all(
            sp.simplify(K[i, j] - (K[0, 0] if i == j else 0)) == 0
            for i in range(self.dim) for j in range(self.dim)
        )
        self.kiso = Compiled(K[0, 0]) if self.isotropic else None
        self.symmetric = all(b.is_zero for b in self.beta) and self.isotropic
        self.dirichlet, self.natural = {}, {}
        for tag, bc in problem.bcs.items():
            kind = type(bc).__name__
            if kind == "Dirichlet":
                self.dirichlet[tag] = Compiled(bc.g)
            else:
                alpha = Compiled(bc.alpha) if kind == "Robin" else None
                self.natural[tag] = (Compiled(bc.g), alpha)
        coeffs = [*sum(self.K, []), *self.beta, self.c, self.m1, self.m2]
        coeffs += [a for _, a in self.natural.values() if a is not None]
        self.time_dependent_matrix = any(k.depends_on_time for k in coeffs)
        loads = [self.f, *(g for g, _ in self.natural.values())]
        self.time_dependent_load = any(k.depends_on_time for k in loads)

    # -- helpers at quadrature points --------------------------------------------
    def _Kn(self, X, time, n, w):
        return [sum(self.K[i][j](X, time, None, w) * n[j] for j in range(self.dim))
                for i in range(self.dim)]

    def _nKn(self, X, time, n, w):
        Kn = self._Kn(X, time, n, w)
        return sum(Kn[i] * n[i] for i in range(self.dim))

    # -- assembly ------------------------------------------------------------------
    def stiffness(self, basis, facet_bases, time=0.0, fields=None):
        """The matrix of a(u, v) at ``time`` (scipy CSR); ``fields`` maps parameter
        names to their DOF values in ``basis``'s space."""
        op = self

        @BilinearForm
        def volume(u, v, w):
            X, gu, gv = w.x, grad(u), grad(v)
            if op.isotropic:
                out = op.kiso(X, time, None, w) * dot(gu, gv)
            else:
                out = sum(op.K[i][j](X, time, None, w) * gu[j] * gv[i]
                          for i in range(op.dim) for j in range(op.dim))
            for i, b in enumerate(op.beta):
                if not b.is_zero:
                    out = out + b(X, time, None, w) * gu[i] * v
            if not op.c.is_zero:
                out = out + op.c(X, time, None, w) * u * v
            return out

        A = volume.assemble(basis, **_at(basis, fields))
        for tag, (g, alpha) in self.natural.items():
            if alpha is None and self.isotropic:
                continue

            @BilinearForm
            def boundary(u, v, w, alpha=alpha):
                X, n, gu = w.x, w.n, grad(u)
                out = 0.0 * u * v
                if alpha is not None:
                    out = out + op._nKn(X, time, n, w) * alpha(X, time, None, w) * u * v
                if not op.isotropic:
                    Kn, nKn = op._Kn(X, time, n, w), op._nKn(X, time, n, w)
                    tan = [Kn[i] - nKn * n[i] for i in range(op.dim)]
                    out = out - sum(tan[i] * gu[i] for i in range(op.dim)) * v
                return out

            A = A + boundary.assemble(facet_bases[tag], **_at(facet_bases[tag], fields))
        return A.tocsr()

    def mass(self, basis, coefficient, time=0.0, fields=None):
        """The matrix of (m u, v) for the compiled coefficient m."""

        @BilinearForm
        def form(u, v, w):
            return coefficient(w.x, time, None, w) * u * v

        return form.assemble(basis, **_at(basis, fields)).tocsr()

    def load(self, basis, facet_bases, time=0.0, fields=None):
        """The vector of l(v) at ``time``."""
        op = self

        @LinearForm
        def volume(v, w):
            return op.f(w.x, time, None, w) * v

        b = volume.assemble(basis, **_at(basis, fields)) if not self.f.is_zero else np.zeros(basis.N)
        for tag, (g, _) in self.natural.items():
            if g.is_zero:
                continue

            @LinearForm
            def boundary(v, w, g=g):
                return op._nKn(w.x, time, w.n, w) * g(w.x, time, w.n, w) * v

            b = b + boundary.assemble(facet_bases[tag], **_at(facet_bases[tag], fields))
        return b

    def dirichlet_dofs(self, basis, mesh):
        """Sorted Dirichlet DOF indices and, per tag, the DOFs of that tag."""
        per_tag = {tag: np.unique(basis.get_dofs(mesh.boundaries[tag]).flatten())
                   for tag in self.dirichlet}
        allD = (np.unique(np.concatenate(list(per_tag.values())))
                if per_tag else np.zeros(0, dtype=np.int64))
        return allD, per_tag

    def dirichlet_values(self, basis, per_tag, time=0.0):
        """Full-length vector with the Dirichlet data interpolated at its DOFs."""
        x = np.zeros(basis.N)
        for tag, dofs in per_tag.items():
            x[dofs] = self.dirichlet[tag](basis.doflocs[:, dofs], time)
        return x


def _at(basis, fields):
    """Parameter fields (DOF values) interpolated at ``basis``'s quadrature points."""
    return {k: basis.interpolate(np.asarray(v, dtype=float)) for k, v in (fields or {}).items()}


def facet_bases(mesh, elem, tags, intorder):
    return {tag: FacetBasis(mesh, elem, facets=mesh.boundaries[tag], intorder=intorder)
            for tag in tags}
