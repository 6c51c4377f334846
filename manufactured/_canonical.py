"""Canonical (divergence) form of a linear scalar equation.

``m2*u_tt + m1*u_t - div(K grad u) + beta . grad u + c*u = f``

>>> Problem(square, -laplacian(u) - 1, bcs).canonical.K   # doctest: +SKIP
Matrix([[1, 0], [0, 1]])
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ._helpers import u
from ._symbols import SPACE, t


@dataclass(frozen=True)
class CanonicalForm:
    """Coefficients of ``m2 u_tt + m1 u_t - div(K grad u) + beta.grad u + c u = f``.

    ``A`` (= -K) and ``b`` (= beta - div K) are the raw, non-divergence coefficients:
    ``A : D2u + b . grad u + c u + m1 u_t + m2 u_tt = f``. ``(div K)_j = sum_i dK_ij/dc_i``.

    >>> cf = Problem(square, -laplacian(u) - 1, bcs).canonical   # doctest: +SKIP
    >>> cf.K, cf.beta, cf.c, cf.f                                # doctest: +SKIP
    (Matrix([[1, 0], [0, 1]]), (0, 0), 0, 1)
    """

    K: sp.ImmutableMatrix
    beta: tuple
    c: sp.Expr
    f: sp.Expr
    m1: sp.Expr
    m2: sp.Expr
    A: sp.ImmutableMatrix
    b: tuple
    coords: tuple

    @property
    def dim(self) -> int:
        return len(self.coords)

    @property
    def is_constant(self) -> bool:
        """True when K, beta, c, m1, m2 depend on neither space nor time."""
        coefs = list(self.K) + list(self.beta) + [self.c, self.m1, self.m2]
        return not any(sp.sympify(e).free_symbols & set(SPACE + (t,)) for e in coefs)

    def operator(self, w):
        """The left-hand side applied to ``w``: ``m2 w_tt + m1 w_t - div(K grad w) + beta.grad w + c w``.

        >>> cf.operator(x**2 + y**2)   # doctest: +SKIP
        -4
        """
        w = sp.sympify(w)
        X = self.coords
        flux = sum((sp.diff(sum((self.K[i, j] * sp.diff(w, X[j]) for j in range(self.dim)), sp.S.Zero), X[i])
                    for i in range(self.dim)), sp.S.Zero)
        adv = sum((self.beta[i] * sp.diff(w, X[i]) for i in range(self.dim)), sp.S.Zero)
        out = -flux + adv + self.c * w
        if self.m1 != 0:
            out += self.m1 * sp.diff(w, t)
        if self.m2 != 0:
            out += self.m2 * sp.diff(w, t, 2)
        return out

    def scaled(self, s) -> "CanonicalForm":
        """Every coefficient and the source multiplied by ``s``."""
        return CanonicalForm(
            K=sp.ImmutableMatrix(self.K * s), beta=tuple(s * e for e in self.beta), c=s * self.c,
            f=s * self.f, m1=s * self.m1, m2=s * self.m2, A=sp.ImmutableMatrix(self.A * s),
            b=tuple(s * e for e in self.b), coords=self.coords,
        )


def _derivative_orders(d):
    counts = {}
    for var, n in d.variable_count:
        counts[var] = counts.get(var, 0) + int(n)
    return counts


def extract(equation, coords, time_dependent, where):
    """Raw coefficients of a resolved equation (meaning ``= 0``).

    Returns ``(form, time_order)`` where ``form`` is a :class:`CanonicalForm`
    before sign normalisation. Raises ValueError when the equation is not linear
    in u or uses derivatives the domain does not have.
    """
    coords = tuple(coords)
    dim = len(coords)
    derivs = sorted((d for d in equation.atoms(sp.Derivative) if d.expr == u), key=sp.default_sort_key)
    keys = {}
    time_order = 0
    for d in derivs:
        counts = _derivative_orders(d)
        for var in counts:
            if var == t and not time_dependent:
                raise ValueError(f"{where}: the equation differentiates u in t ({d}) but no time interval was given; "
                                 "pass time=(t0, t1) and initial={'u': ...}")
            if var in SPACE and var not in coords:
                raise ValueError(f"{where}: the equation differentiates u in {var} ({d}) but the domain is {dim}D "
                                 f"with coordinates {', '.join(map(str, coords))}; remove the {var}-derivatives")
            if var not in coords and var != t:
                raise ValueError(f"{where}: the equation differentiates u in {var} ({d}), which is not a coordinate; "
                                 f"use only {', '.join(map(str, coords))} and t")
        nt = counts.get(t, 0)
        ns = sum(n for v, n in counts.items() if v != t)
        if nt > 2:
            raise ValueError(f"{where}: third- or higher-order time derivative {d}; only u_t and u_tt are supported")
        if nt and ns:
            raise ValueError(f"{where}: mixed space-time derivative {d} is not supported; rewrite the equation without it")
        if ns > 2:
            raise ValueError(f"{where}: space derivative {d} has order {ns}; only first and second derivatives are supported")
        time_order = max(time_order, nt)
        if nt:
            key = ("t", nt)
        else:
            idx = sorted(coords.index(v) for v, n in counts.items() for _ in range(n))
            key = ("x",) + tuple(idx)
        keys[d] = key
    dummies = {d: sp.Dummy(f"d{k}") for k, d in enumerate(derivs)}
    d0 = sp.Dummy("u0")
    plain = equation.xreplace({**dummies, u: d0})
    if plain.has(u):
        raise ValueError(f"{where}: u appears in an unsupported form in {equation}; write the equation with u and its derivatives only")
    syms = list(dummies.values()) + [d0]
    coef = {}
    for s in syms:
        cs = sp.diff(plain, s)
        if cs.has(*syms):
            raise ValueError(f"{where}: the equation is nonlinear in u ({equation}); only linear equations are supported "
                             "(no u*u, sin(u), u*u_x, ...)")
        coef[s] = cs
    f = -plain.xreplace({s: 0 for s in syms})
    A = sp.zeros(dim, dim)
    b = [sp.S.Zero] * dim
    m = {1: sp.S.Zero, 2: sp.S.Zero}
    for d, s in dummies.items():
        key, cs = keys[d], coef[s]
        if key[0] == "t":
            m[key[1]] += cs
        elif len(key) == 2:
            b[key[1]] += cs
        elif key[1] == key[2]:
            A[key[1], key[1]] += cs
        else:
            A[key[1], key[2]] += cs / 2
            A[key[2], key[1]] += cs / 2
    K = -A
    divK = [sum((sp.diff(K[i, j], coords[i]) for i in range(dim)), sp.S.Zero) for j in range(dim)]
    beta = tuple(b[j] + divK[j] for j in range(dim))
    form = CanonicalForm(K=sp.ImmutableMatrix(K), beta=beta, c=coef[d0], f=f, m1=m[1], m2=m[2],
                         A=sp.ImmutableMatrix(A), b=tuple(b), coords=coords)
    return form, time_order
