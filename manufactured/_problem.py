"""The ``Problem``: domain + linear scalar equation in ``u`` + boundary (and initial) data.

>>> p = Problem(square, -laplacian(u) - 1, {tag: Dirichlet(0) for tag in square.boundaries})  # doctest: +SKIP
>>> p.type, p.canonical.K                                                                  # doctest: +SKIP
('elliptic', Matrix([[1, 0], [0, 1]]))
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from numbers import Real

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from ._canonical import CanonicalForm, extract
from ._conditions import CONDITIONS, Dirichlet, Robin
from ._helpers import resolve, u
from ._symbols import NORMAL, SPACE, t


def _parameters(expr):
    return {f for f in sp.sympify(expr).atoms(AppliedUndef) if f != u}


def _check_symbols(expr, coords, normals, time_dependent, what, where):
    """ValueError when ``expr`` uses a symbol outside the problem's coordinates (and t, normals)."""
    dim = len(coords)
    allowed = set(coords) | (set(NORMAL[:dim]) if normals else set()) | ({t} if time_dependent else set())
    bad = sorted(sp.sympify(expr).free_symbols - allowed, key=str)
    for s in bad:
        if s == t:
            raise ValueError(f"{where}: {what} uses t but the problem is steady; pass time=(t0, t1) and initial=..., or remove t")
        if s in SPACE or (normals and s in NORMAL):
            raise ValueError(f"{where}: {what} uses {s} but the domain is {dim}D with coordinates "
                             f"{', '.join(map(str, coords))}; remove {s}")
        if s in NORMAL:
            raise ValueError(f"{where}: {what} uses the normal component {s}, which only Neumann and Robin g may use; remove it")
        hint = (f" (use manufactured.{s.name}, the real symbol, not sympy.Symbol({s.name!r}))"
                if s.name in ("x", "y", "z", "t") else
                f"; replace it by a number, or make it a parameter function, e.g. {s.name} = sympy.Function({s.name!r})(x, y)")
        raise ValueError(f"{where}: {what} uses the unknown symbol {s}{hint}")


def _value(value, what, where):
    if isinstance(value, (str, bytes)) or isinstance(value, bool) or not isinstance(value, (int, float, sp.Basic)):
        raise TypeError(f"{where}: {what} must be a number or sympy expression, got {type(value).__name__} {value!r}; "
                        "build it from manufactured.x, y, z")
    return sp.sympify(value)


class Problem:
    """A linear scalar PDE for ``u`` on ``domain`` with one condition per boundary tag.

    ``equation`` means ``= 0`` (or is a ``sympy.Eq``). Time problems take
    ``time=(t0, t1)`` and ``initial={"u": u0}`` (plus ``"u_t"`` when second order in time).

    >>> Problem(square, Eq(-laplacian(u), 1), {tag: Dirichlet(0) for tag in square.boundaries})  # doctest: +SKIP
    Problem(name=None, dim=2, type='elliptic', equation=... = 0, bcs={...}, time=None)
    """

    def __init__(self, domain, equation, bcs, time=None, initial=None, name=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Problem: name must be a string, got {type(name).__name__}; e.g. name='poisson'")
        self._name = name
        where = f"Problem {name!r}" if name else "Problem"
        self._where = where
        self._domain = domain
        dim = getattr(domain, "dim", None)
        if dim not in (1, 2, 3):
            raise TypeError(f"{where}: domain must have dim 1, 2 or 3 (a geometries domain), got {domain!r}")
        coords = SPACE[:dim]
        self._coords = coords

        # time interval
        if time is not None:
            if (not isinstance(time, (tuple, list)) or len(time) != 2
                    or not all(isinstance(v, (Real, sp.Number)) and not isinstance(v, bool) for v in time)):
                raise TypeError(f"{where}: time must be a pair of numbers (t0, t1), got {time!r}; e.g. time=(0, 1)")
            t0, t1 = (sp.sympify(v) for v in time)
            if not t0 < t1:
                raise ValueError(f"{where}: time=({time[0]}, {time[1]}) needs t0 < t1; swap or fix the end points")
            self._time = (t0, t1)
        else:
            self._time = None
        timed = self._time is not None

        # equation
        if isinstance(equation, sp.Equality):
            equation = equation.lhs - equation.rhs
        if isinstance(equation, (tuple, list, sp.MatrixBase, sp.NDimArray)):
            raise ValueError(f"{where}: the equation must be a scalar expression, got {type(equation).__name__}; "
                             "write one equation, e.g. -laplacian(u) - 1")
        if not isinstance(equation, sp.Expr):
            raise TypeError(f"{where}: the equation must be a sympy expression or sympy.Eq, got {type(equation).__name__} "
                            f"{equation!r}; e.g. Eq(-laplacian(u), 1)")
        for f in equation.atoms(AppliedUndef):
            if f.func.__name__ == "u" and f != u:
                raise ValueError(f"{where}: the equation uses {f}, not the unknown; use manufactured.u (= u(x, y, z, t))")
        eq = resolve(equation, coords)
        if not eq.has(u):
            raise ValueError(f"{where}: the equation {eq} = 0 does not contain the unknown u; use manufactured.u")
        raw, order = extract(eq, coords, timed, where)
        for e in list(raw.A) + list(raw.b) + [raw.c, raw.m1, raw.m2, raw.f]:
            _check_symbols(e, coords, False, timed, "the equation", where)
        if timed and order == 0:
            raise ValueError(f"{where}: time={time} was given but the equation has no time derivative; "
                             "drop time= for a steady problem or add u_t (sympy.diff(u, t))")
        self._equation, self._raw, self._order = eq, raw, order

        # boundary conditions
        if not isinstance(bcs, Mapping):
            raise TypeError(f"{where}: bcs must be a dict {{tag: condition}}, got {type(bcs).__name__}; "
                            "e.g. {'left': Dirichlet(0), ...}")
        tags = tuple(domain.boundaries)
        for tag, cond in bcs.items():
            if tag not in tags:
                raise ValueError(f"{where}: bcs has a condition for tag {tag!r}, which the domain does not have; "
                                 f"available tags: {', '.join(map(repr, tags))}")
            if not isinstance(cond, CONDITIONS):
                raise TypeError(f"{where}: bcs[{tag!r}] = {cond!r} is not a condition; use Dirichlet(g), Neumann(g) "
                                "or Robin(alpha, g)")
            _check_symbols(cond.g, coords, not isinstance(cond, Dirichlet), timed, f"bcs[{tag!r}].g", where)
            if isinstance(cond, Robin):
                _check_symbols(cond.alpha, coords, False, timed, f"bcs[{tag!r}].alpha", where)
        missing = [tag for tag in tags if tag not in bcs]
        if missing:
            raise ValueError(f"{where}: no boundary condition for tag(s) {', '.join(map(repr, missing))}; "
                             f"add e.g. bcs[{missing[0]!r}] = Dirichlet(0)")
        self._bcs = {tag: bcs[tag] for tag in tags}

        # initial data
        if not timed:
            if initial is not None:
                raise ValueError(f"{where}: initial data was given for a steady problem; pass time=(t0, t1) or drop initial=")
            self._initial = {}
        else:
            needed = {"u"} if order == 1 else {"u", "u_t"}
            if initial is None:
                raise ValueError(f"{where}: a time problem needs initial data; pass initial={{"
                                 + ", ".join(f"{k!r}: ..." for k in sorted(needed)) + "}")
            if not isinstance(initial, Mapping):
                raise TypeError(f"{where}: initial must be a dict like {{'u': expr}}, got {type(initial).__name__}")
            missing = needed - set(initial)
            if missing:
                raise ValueError(f"{where}: initial data is missing {', '.join(sorted(missing))} (the equation is order "
                                 f"{order} in time); add initial[{sorted(missing)[0]!r}]")
            extra = set(initial) - needed
            if extra:
                raise ValueError(f"{where}: initial data has unexpected key(s) {', '.join(map(repr, sorted(extra, key=str)))} "
                                 f"(the equation is order {order} in time); give only {', '.join(sorted(needed))}")
            self._initial = {}
            for k in sorted(needed):
                v = _value(initial[k], f"initial[{k!r}]", where)
                if any(f.func.__name__ == "u" for f in v.atoms(AppliedUndef)):
                    raise ValueError(f"{where}: initial[{k!r}] contains the unknown u; give a known function of the coordinates")
                if t in v.free_symbols:
                    raise ValueError(f"{where}: initial[{k!r}] uses t; initial data is taken at t0, write it without t")
                _check_symbols(v, coords, False, False, f"initial[{k!r}]", where)
                self._initial[k] = v
        self._exact = None

    # ---- properties -------------------------------------------------------
    @property
    def name(self):
        return self._name

    @property
    def domain(self):
        return self._domain

    @property
    def dim(self) -> int:
        return len(self._coords)

    @property
    def coords(self) -> tuple:
        return self._coords

    @property
    def equation(self) -> sp.Expr:
        """The resolved equation (meaning ``= 0``), helpers expanded."""
        return self._equation

    @property
    def bcs(self) -> dict:
        return dict(self._bcs)

    @property
    def time(self):
        """``(t0, t1)`` as floats, or None for a steady problem."""
        return None if self._time is None else tuple(float(v) for v in self._time)

    @property
    def initial(self) -> dict:
        return dict(self._initial)

    @property
    def is_time_dependent(self) -> bool:
        return self._time is not None

    @property
    def time_order(self) -> int:
        return self._order

    @property
    def exact(self):
        """The exact solution for a manufactured problem, else None."""
        return self._exact

    @property
    def parameters(self) -> tuple:
        """Names of the parameter functions (applied undefined functions other than u), sorted."""
        exprs = [self._equation, *self._initial.values()]
        for c in self._bcs.values():
            exprs += [c.g] + ([c.alpha] if isinstance(c, Robin) else [])
        return tuple(sorted({f.func.__name__ for e in exprs for f in _parameters(e)}))

    # ---- canonical form and type -----------------------------------------
    def _sample(self, expr):
        """Values of ``expr`` at 5 interior points (t = t0, parameters set to 1)."""
        expr = sp.sympify(expr)
        expr = expr.xreplace({p: sp.S.One for p in _parameters(expr)}).doit()
        pts = np.asarray(self._domain.sample_interior(5, seed=0), dtype=float).reshape(-1, self.dim)
        t0 = float(self._time[0]) if self._time else 0.0
        fn = sp.lambdify(self._coords + (t,), expr, "numpy")
        vals = fn(*pts.T, np.full(len(pts), t0))
        return np.broadcast_to(np.asarray(vals, dtype=float), (len(pts),))

    @cached_property
    def canonical(self) -> CanonicalForm:
        """The equation as ``m2 u_tt + m1 u_t - div(K grad u) + beta.grad u + c u = f``, sign-normalised."""
        raw = self._raw
        lead = {2: raw.m2, 1: raw.m1}.get(self._order, raw.K.trace())
        vals = self._sample(lead)
        nonzero = vals[np.abs(vals) > 0]
        return raw.scaled(-1) if nonzero.size and nonzero[0] < 0 else raw

    @cached_property
    def type(self) -> str:
        """'elliptic', 'parabolic' or 'hyperbolic'."""
        if self._order:
            return "parabolic" if self._order == 1 else "hyperbolic"
        K = self.canonical.K
        d = self.dim
        M = np.array([[self._sample(K[i, j])[0] for j in range(d)] for i in range(d)])
        lam = np.linalg.eigvalsh(0.5 * (M + M.T))
        tol = 1e-12 * max(1.0, float(np.max(np.abs(lam))))
        if np.any(np.abs(lam) <= tol):
            return "parabolic"
        return "elliptic" if np.all(lam > 0) or np.all(lam < 0) else "hyperbolic"

    # ---- fluent methods ----------------------------------------------------
    def substitute(self, **values) -> "Problem":
        """A new Problem with parameter functions replaced, e.g. ``p.substitute(a=1 + x**2)``."""
        known = self.parameters
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"{self._where}: substitute({name}=...) names no parameter; "
                                 f"parameters: {', '.join(known) or 'none'}")
            _value(value, f"substitute({name}=...)", self._where)
        subs = {n: sp.sympify(v) for n, v in values.items()}

        def sub(e):
            return sp.sympify(e).replace(lambda f: isinstance(f, AppliedUndef) and f != u and f.func.__name__ in subs,
                                         lambda f: subs[f.func.__name__]).doit()

        bcs = {}
        for tag, c in self._bcs.items():
            bcs[tag] = Robin(sub(c.alpha), sub(c.g)) if isinstance(c, Robin) else type(c)(sub(c.g))
        new = Problem(self._domain, sub(self._equation), bcs, time=self._time,
                      initial={k: sub(v) for k, v in self._initial.items()} if self._time else None, name=self._name)
        new._exact = self._exact
        return new

    def __repr__(self):
        bcs = ", ".join(f"{k!r}: {v!r}" for k, v in self._bcs.items())
        time = "None" if self._time is None else f"({self._time[0]}, {self._time[1]})"
        out = (f"Problem(name={self._name!r}, dim={self.dim}, type={self.type!r}, "
               f"equation={self._equation} = 0, bcs={{{bcs}}}, time={time}")
        if self._initial:
            out += f", initial={self._initial}"
        if self._exact is not None:
            out += f", exact={self._exact}"
        return out + ")"
