"""Boundary conditions: ``Dirichlet(g)``, ``Neumann(g)``, ``Robin(alpha, g)``.

>>> Neumann(x * nx + y * ny)   # doctest: +SKIP
Neumann(g=n_x*x + n_y*y)
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.core.function import AppliedUndef

from ._symbols import NORMAL, SPACE, t

_COORDS = frozenset(SPACE + (t,))


def _data(cls, arg, value, normals):
    """Check and sympify one piece of boundary data."""
    where = f"{cls}({arg}=...)"
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{where}: got the string {value!r}; pass a sympy expression, e.g. sympy.sympify({value!r}) built from manufactured.x, y, z, t")
    if isinstance(value, bool) or not isinstance(value, (int, float, sp.Basic)):
        raise TypeError(f"{where}: expected a number or sympy expression, got {type(value).__name__} {value!r}; pass one scalar expression")
    if isinstance(value, sp.MatrixBase) or not isinstance(sp.sympify(value), sp.Expr):
        raise TypeError(f"{where}: expected a scalar sympy expression, got {value!r}; pass one scalar expression")
    expr = sp.sympify(value)
    if any(f.func.__name__ == "u" for f in expr.atoms(AppliedUndef)):
        raise ValueError(f"{where}: the data {expr} contains the unknown u; boundary data must be a known function of x, y, z, t")
    allowed = _COORDS | (frozenset(NORMAL) if normals else frozenset())
    bad = expr.free_symbols - allowed
    if bad:
        names = ", ".join(sorted(map(str, bad)))
        if not normals and bad & set(NORMAL):
            raise ValueError(f"{where}: uses the normal components {names}, which only the g of Neumann and Robin may use; remove them (or use Neumann/Robin g for normal-dependent data)")
        raise ValueError(
            f"{where}: unknown symbol(s) {names}; use only manufactured.x, y, z, t"
            + (" and nx, ny, nz" if normals else "")
            + " (replace other symbols by numbers)"
        )
    return expr


@dataclass(frozen=True, repr=False)
class Dirichlet:
    """Prescribed value ``u = g`` on a boundary piece.

    >>> Dirichlet(0)            # doctest: +SKIP
    Dirichlet(g=0)
    """

    g: sp.Expr

    def __post_init__(self):
        object.__setattr__(self, "g", _data("Dirichlet", "g", self.g, normals=False))

    def __repr__(self):
        return f"Dirichlet(g={self.g})"


@dataclass(frozen=True, repr=False)
class Neumann:
    """Prescribed flux ``du/dn = g`` (n the outward unit normal; g may use nx, ny, nz).

    >>> Neumann(nx)             # doctest: +SKIP
    Neumann(g=n_x)
    """

    g: sp.Expr

    def __post_init__(self):
        object.__setattr__(self, "g", _data("Neumann", "g", self.g, normals=True))

    def __repr__(self):
        return f"Neumann(g={self.g})"


@dataclass(frozen=True, repr=False)
class Robin:
    """Mixed condition ``du/dn + alpha*u = g`` (g may use nx, ny, nz; alpha may not).

    >>> Robin(2, 1)             # doctest: +SKIP
    Robin(alpha=2, g=1)
    """

    alpha: sp.Expr
    g: sp.Expr

    def __post_init__(self):
        object.__setattr__(self, "alpha", _data("Robin", "alpha", self.alpha, normals=False))
        object.__setattr__(self, "g", _data("Robin", "g", self.g, normals=True))

    def __repr__(self):
        return f"Robin(alpha={self.alpha}, g={self.g})"


CONDITIONS = (Dirichlet, Neumann, Robin)
