"""Dimension-free differential operators: ``grad``, ``div``, ``dot``, ``laplacian``.

They build unevaluated placeholders (``Laplacian``, ``Grad``, ``Div``) that a
:class:`~manufactured.Problem` expands once it knows the space dimension.

>>> from manufactured import u, div, grad, laplacian  # doctest: +SKIP
>>> resolve(div(grad(u)), (x, y)) == resolve(laplacian(u), (x, y))  # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from ._symbols import SPACE, x, y, z, t

#: The unknown of every problem. The Problem decides which coordinates exist.
u = sp.Function("u")(x, y, z, t)


class Laplacian(sp.Function):
    """Unevaluated Laplacian; ``Laplacian(f)`` -> ``sum_i d2 f / dc_i2`` in a Problem."""

    nargs = 1


class Grad(sp.Function):
    """Unevaluated gradient; only meaningful inside ``div(...)`` or ``dot(b, ...)``."""

    nargs = 1


class Div(sp.Function):
    """Unevaluated divergence of an expression linear in ``Grad`` atoms."""

    nargs = 1


def _as_expr(value, what):
    if isinstance(value, (str, bytes, bool)) or not isinstance(value, (int, float, sp.Basic)):
        raise TypeError(
            f"{what}: expected a number or sympy expression, got {type(value).__name__} "
            f"{value!r}; build it from manufactured.x, y, z, t and u"
        )
    return sp.sympify(value)


def _is_sequence(value):
    return isinstance(value, (Sequence, sp.MatrixBase)) and not isinstance(value, (str, bytes))


def laplacian(f):
    """Laplacian of ``f``, expanded by the Problem to the domain dimension.

    >>> laplacian(u)            # doctest: +SKIP
    Laplacian(u(x, y, z, t))
    """
    return Laplacian(_as_expr(f, "laplacian(f)"))


def grad(f):
    """Gradient of ``f`` (vector); use it inside ``div(...)`` or ``dot(b, grad(f))``.

    >>> div(grad(u))            # doctest: +SKIP
    Div(Grad(u(x, y, z, t)))
    """
    return Grad(_as_expr(f, "grad(f)"))


def div(F):
    """Divergence of ``F``.

    A sequence ``(F_x, F_y, ...)`` is differentiated at once (one coordinate per
    entry, in the order x, y, z); an expression linear in ``grad(...)`` such as
    ``a*grad(u)`` stays unevaluated until the Problem knows the dimension.

    >>> div((x*u, y*u))         # doctest: +SKIP
    x*Derivative(u, x) + y*Derivative(u, y) + 2*u
    """
    if _is_sequence(F):
        entries = list(F)
        if len(entries) > 3:
            raise ValueError(f"div(F): F has {len(entries)} entries but space has at most 3 coordinates")
        return sp.Add(*[sp.diff(_as_expr(e, "div(F) entry"), c) for e, c in zip(entries, SPACE)])
    expr = _as_expr(F, "div(F)")
    grads = sorted(expr.atoms(Grad), key=sp.default_sort_key)
    if not grads:
        raise ValueError(
            f"div(F): {expr} is a scalar with no grad(...) in it; pass a vector as a tuple "
            "(F_x, F_y, ...) or an expression like a*grad(u)"
        )
    dummies = [sp.Dummy() for _ in grads]
    plain = expr.xreplace(dict(zip(grads, dummies)))
    linear = plain.xreplace({d: 0 for d in dummies}) == 0 and all(
        not sp.diff(plain, d).has(*dummies) for d in dummies
    )
    if not linear:
        raise ValueError(
            f"div(F): {expr} must be linear in grad(...) (like a*grad(u) + grad(v)); "
            "write the vector field as a tuple (F_x, F_y, ...) instead"
        )
    return Div(expr)


def dot(b, v):
    """Dot product ``b . v``; with ``v = grad(f)`` it is ``sum_i b_i df/dc_i``.

    >>> dot((1, 2), grad(u))    # doctest: +SKIP
    Derivative(u, x) + 2*Derivative(u, y)
    """
    if not _is_sequence(b):
        raise TypeError(f"dot(b, v): b must be a tuple of expressions, got {type(b).__name__}; e.g. dot((1, x), grad(u))")
    bs = [_as_expr(e, "dot(b, v) entry of b") for e in b]
    if len(bs) > 3:
        raise ValueError(f"dot(b, v): b has {len(bs)} entries but space has at most 3 coordinates")
    if isinstance(v, Grad):
        return sp.Add(*[bi * sp.diff(v.args[0], c) for bi, c in zip(bs, SPACE)])
    if _is_sequence(v):
        vs = [_as_expr(e, "dot(b, v) entry of v") for e in v]
        if len(vs) != len(bs):
            raise ValueError(f"dot(b, v): b has {len(bs)} entries and v has {len(vs)}; give them the same length")
        return sp.Add(*[bi * vi for bi, vi in zip(bs, vs)])
    raise TypeError(f"dot(b, v): v must be grad(f) or a tuple, got {v!r}; e.g. dot((1, x), grad(u))")


def resolve(expr, coords):
    """Expand the placeholders for the space coordinates ``coords`` and apply ``doit``.

    >>> resolve(laplacian(u), (x, y))   # doctest: +SKIP
    Derivative(u, (x, 2)) + Derivative(u, (y, 2))
    """
    out = _resolve(expr, tuple(coords))
    if out.has(Grad):
        raise ValueError(
            f"grad(u) is a vector: use it inside div(...) or dot(b, grad(u)) (found in {expr})"
        )
    return out.doit()


def _resolve(expr, coords):
    if not isinstance(expr, sp.Basic) or expr.is_Atom or not expr.args:
        return expr
    args = [_resolve(a, coords) for a in expr.args]
    if isinstance(expr, Laplacian):
        return sp.Add(*[sp.Derivative(args[0], (c, 2)) for c in coords])
    if isinstance(expr, Div):
        (E,) = args
        terms = []
        for c in coords:
            Ec = E.replace(lambda e: isinstance(e, Grad), lambda e: sp.Derivative(e.args[0], c))
            terms.append(sp.Derivative(Ec, c))
        return sp.Add(*terms)
    if args == list(expr.args):
        return expr
    return expr.func(*args)
