"""Random training problems for a HyPINO-style hypernetwork (manufactured and physics-only).

A manufactured solution is an :class:`ExprTree`: HyPINO's grammar of 6-10 steps of
``x, sin, cos, tanh, sigmoid, 1/(1+z^2)`` of random affine arguments, combined by add,
multiply and compose. The tree converts to sympy (for printing and checking) and evaluates
``u, u_x, u_y, u_xx, u_yy, u_xy`` on ``(N, 2)`` points by a vectorised second-order
forward-mode walk (value, gradient, Hessian): no sympy in the hot path.

A :class:`Sample` is one problem of the family
``c0 u + c1 u_x + c2 u_y + c3 u_xx + c4 u_yy + c5 u_xy = f`` on ``[-1,1]^2`` minus holes
(or 1D + time, ``y`` playing ``t``), with collocation and boundary points and targets.

>>> s = random_problem(0, kind="elliptic")
>>> s.f.shape, s.g.shape, s.u.shape
((1024,), (256,), (1024,))
>>> samples = generate_samples(10, seed=1, workers=2)
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import sympy as sp

from geometries import Disk, Interval, Polygon, Rectangle

from ._symbols import t as _t
from ._symbols import x as _x
from ._symbols import y as _y

#: Terms of the operator, in the order of ``Sample.coefficients`` (c0..c5) and of the
#: columns of ``ExprTree.derivatives`` / ``Sample.derivatives``. For time kinds y is t.
TERMS = ("u", "u_x", "u_y", "u_xx", "u_yy", "u_xy")
#: Sample kinds: manufactured steady ("elliptic"), manufactured 1D+time ("heat", "wave"),
#: and physics-only steady ("physics", no exact solution). "mixed" draws one of them.
KINDS = ("elliptic", "heat", "wave", "physics")
MIX = {"elliptic": 0.4, "heat": 0.05, "wave": 0.05, "physics": 0.5}
#: HyPINO's rejection bounds: max |u|, min std(u), max |derivative|, max |f|.
BOUNDS = {"u": 10.0, "std": 0.1, "derivative": 1e4, "f": 1e4}
_BOX = ((-1.0, -1.0), (1.0, 1.0))
_OUTER = ("left", "right", "bottom", "top")
_COND = ("dirichlet", "neumann", "robin")
_PLAIN = 0x706C61   # the key of the plain-problem draw's stream

# ---------------------------------------------------------------------------------------
# expression trees with second-order forward mode
# ---------------------------------------------------------------------------------------
# A jet is (v, gx, gy, hxx, hyy, hxy): arrays of shape (N,) or Python floats (constants).


def _sig(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _jets_sin(z):
    s, c = np.sin(z), np.cos(z)
    return s, c, -s


def _jets_cos(z):
    s, c = np.sin(z), np.cos(z)
    return c, -s, -c


def _jets_tanh(z):
    th = np.tanh(z)
    d = 1.0 - th * th
    return th, d, -2.0 * th * d


def _jets_sigmoid(z):
    s = _sig(z)
    d = s * (1.0 - s)
    return s, d, d * (1.0 - 2.0 * s)


def _jets_rational(z):
    r = 1.0 / (1.0 + z * z)
    return r, -2.0 * z * r * r, (6.0 * z * z - 2.0) * r * r * r


_OPS = {
    "sin": (_jets_sin, sp.sin),
    "cos": (_jets_cos, sp.cos),
    "tanh": (_jets_tanh, sp.tanh),
    "sigmoid": (_jets_sigmoid, lambda z: 1 / (1 + sp.exp(-z))),
    "rational": (_jets_rational, lambda z: 1 / (1 + z**2)),
}
#: The elementary functions of the grammar ("x" is the bare affine argument).
FUNCTIONS = ("x",) + tuple(_OPS)
# outside the grammar (its draws stay as they were): the decay of free heat modes
_JETS = {**_OPS, "exp": (lambda z: (np.exp(z),) * 3, sp.exp)}


class _Affine:
    """Leaf ``a x + b y + c``."""

    __slots__ = ("a", "b", "c")

    def __init__(self, a, b, c):
        self.a, self.b, self.c = float(a), float(b), float(c)

    def jet(self, X, Y):
        return self.a * X + self.b * Y + self.c, self.a, self.b, 0.0, 0.0, 0.0

    def sympy(self):
        return sp.Float(self.a) * _x + sp.Float(self.b) * _y + sp.Float(self.c)

    def size(self):
        return 1

    def __getstate__(self):
        return (self.a, self.b, self.c)

    def __setstate__(self, s):
        self.a, self.b, self.c = s


class _Apply:
    """``op(a * child + b)``: a primitive when child is a leaf, a composition otherwise."""

    __slots__ = ("op", "child", "a", "b")

    def __init__(self, op, child, a=1.0, b=0.0):
        self.op, self.child, self.a, self.b = op, child, float(a), float(b)

    def jet(self, X, Y):
        v, gx, gy, hxx, hyy, hxy = self.child.jet(X, Y)
        a = self.a
        z = a * v + self.b
        zx, zy = a * gx, a * gy
        h0, h1, h2 = _JETS[self.op][0](z)
        return (h0, h1 * zx, h1 * zy, h2 * zx * zx + h1 * (a * hxx), h2 * zy * zy + h1 * (a * hyy),
                h2 * zx * zy + h1 * (a * hxy))

    def sympy(self):
        return _JETS[self.op][1](sp.Float(self.a) * self.child.sympy() + sp.Float(self.b))

    def size(self):
        return 1 + self.child.size()

    def __getstate__(self):
        return (self.op, self.child, self.a, self.b)

    def __setstate__(self, s):
        self.op, self.child, self.a, self.b = s


class _Add:
    """``left + w * right``."""

    __slots__ = ("left", "right", "w")

    def __init__(self, left, right, w=1.0):
        self.left, self.right, self.w = left, right, float(w)

    def jet(self, X, Y):
        p, q, w = self.left.jet(X, Y), self.right.jet(X, Y), self.w
        return tuple(pi + w * qi for pi, qi in zip(p, q))

    def sympy(self):
        return self.left.sympy() + sp.Float(self.w) * self.right.sympy()

    def size(self):
        return 1 + self.left.size() + self.right.size()

    def __getstate__(self):
        return (self.left, self.right, self.w)

    def __setstate__(self, s):
        self.left, self.right, self.w = s


class _Mul:
    """``left * right``."""

    __slots__ = ("left", "right")

    def __init__(self, left, right):
        self.left, self.right = left, right

    def jet(self, X, Y):
        v1, x1, y1, xx1, yy1, xy1 = self.left.jet(X, Y)
        v2, x2, y2, xx2, yy2, xy2 = self.right.jet(X, Y)
        return (v1 * v2, v1 * x2 + v2 * x1, v1 * y2 + v2 * y1,
                v1 * xx2 + v2 * xx1 + 2.0 * x1 * x2, v1 * yy2 + v2 * yy1 + 2.0 * y1 * y2,
                v1 * xy2 + v2 * xy1 + x1 * y2 + y1 * x2)

    def sympy(self):
        return self.left.sympy() * self.right.sympy()

    def size(self):
        return 1 + self.left.size() + self.right.size()

    def __getstate__(self):
        return (self.left, self.right)

    def __setstate__(self, s):
        self.left, self.right = s


class ExprTree:
    """A random composition in ``x, y`` with exact derivatives by forward mode.

    ``tree.derivatives(points)`` is ``(N, 6)``: ``u, u_x, u_y, u_xx, u_yy, u_xy`` (``TERMS``);
    ``tree(points)`` the values; ``tree.sympy()`` the same function as a sympy expression.

    >>> tree = random_solution(0)
    >>> tree.derivatives(np.zeros((3, 2))).shape
    (3, 6)
    """

    __slots__ = ("root", "steps")

    def __init__(self, root, steps):
        self.root, self.steps = root, int(steps)

    def derivatives(self, points):
        """``(N, 6)`` array of ``u, u_x, u_y, u_xx, u_yy, u_xy`` at ``points`` ``(N, 2)``."""
        p = np.asarray(points, dtype=float)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"ExprTree.derivatives: points must have shape (N, 2), got {p.shape}")
        out = np.empty((len(p), 6))
        for k, col in enumerate(self.root.jet(p[:, 0], p[:, 1])):
            out[:, k] = col
        return out

    def __call__(self, points):
        p = np.asarray(points, dtype=float)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"ExprTree: points must have shape (N, 2), got {p.shape}")
        return np.broadcast_to(self.root.jet(p[:, 0], p[:, 1])[0], (len(p),)).copy()

    def sympy(self) -> sp.Expr:
        """The function as a sympy expression of ``manufactured.x, y`` (Floats as coefficients)."""
        return self.root.sympy()

    @property
    def size(self) -> int:
        """Number of nodes."""
        return self.root.size()

    def __getstate__(self):
        return (self.root, self.steps)

    def __setstate__(self, s):
        self.root, self.steps = s

    def __repr__(self):
        e = self.sympy()
        text = str(e.xreplace({c: sp.Float(c, 3) for c in e.atoms(sp.Float)}))
        if len(text) > 160:
            text = text[:157] + "..."
        return f"ExprTree(steps={self.steps}, u={text})"


def _nonzero(rng, lo, hi):
    """Uniform magnitude in [lo, hi] with a random sign."""
    return float(rng.choice((-1.0, 1.0)) * rng.uniform(lo, hi))


def _primitive(rng):
    leaf = _Affine(rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-1, 1))
    op = FUNCTIONS[rng.integers(len(FUNCTIONS))]
    return leaf if op == "x" else _Apply(op, leaf)


def random_tree(rng, steps=None) -> ExprTree:
    """One random composition (no rejection): a primitive, then ``steps - 1`` random
    compose / add / multiply steps. ``rng``: a numpy Generator or a seed.

    >>> random_tree(0, steps=6).steps
    6
    """
    rng = np.random.default_rng(rng)
    steps = int(rng.integers(6, 11)) if steps is None else int(steps)
    node = _primitive(rng)
    for _ in range(steps - 1):
        move = rng.integers(3)
        if move == 0:
            op = tuple(_OPS)[rng.integers(len(_OPS))]
            node = _Apply(op, node, _nonzero(rng, 0.5, 2.0), rng.uniform(-1, 1))
        elif move == 1:
            node = _Add(node, _primitive(rng), _nonzero(rng, 0.5, 2.0))
        else:
            node = _Mul(node, _primitive(rng))
    return ExprTree(node, steps)


def _check_grid(n=25):
    s = np.linspace(-1.0, 1.0, n)
    X, Y = np.meshgrid(s, s)
    return np.column_stack([X.ravel(), Y.ravel()])


_GRID = _check_grid()


def acceptable(derivatives, coefficients=None, bounds=None) -> bool:
    """HyPINO's rejection test on an ``(N, 6)`` derivative array (and the source when
    ``coefficients`` are given): finite, ``|u| <= 10``, ``std(u) >= 0.1``,
    ``|derivatives| <= 1e4``, ``|f| <= 1e4``."""
    b = BOUNDS if bounds is None else {**BOUNDS, **bounds}
    d = derivatives
    if not np.all(np.isfinite(d)):
        return False
    if np.max(np.abs(d[:, 0])) > b["u"] or np.std(d[:, 0]) < b["std"]:
        return False
    if np.max(np.abs(d[:, 1:])) > b["derivative"]:
        return False
    if coefficients is not None and np.max(np.abs(d @ coefficients)) > b["f"]:
        return False
    return True


def random_solution(rng, steps=None, points=None, coefficients=None, max_tries=200, bounds=None) -> ExprTree:
    """A random composition that passes :func:`acceptable` on a 25x25 grid of ``[-1,1]^2``
    (and on ``points`` when given; the source bound needs ``coefficients``; ``bounds``
    overrides entries of ``BOUNDS``).
    Raises RuntimeError after ``max_tries`` rejected draws.

    >>> tree = random_solution(7)
    >>> bool(abs(tree(np.zeros((1, 2)))[0]) <= 10)
    True
    """
    rng = np.random.default_rng(rng)
    check = _GRID if points is None else np.concatenate([_GRID, np.asarray(points, float)])
    for _ in range(max_tries):
        tree = random_tree(rng, steps)
        with np.errstate(all="ignore"):
            d = tree.derivatives(check)
        if acceptable(d, coefficients, bounds):
            return tree
    raise RuntimeError(f"random_solution: no acceptable composition in {max_tries} draws; "
                       "raise max_tries or loosen the bounds")


def heat_modes(rng, coefficients, points=None, max_tries=200) -> ExprTree:
    """A solution of the source-free heat operator ``coefficients`` (u_t - k u_xx plus
    r u or a u_x; y is t on [-1, 1]): 1-3 free modes ``A e^{-(k w^2 + r)(t + 1)}
    sin(w (x - a t) + phi)``, plus a constant when r = 0, that passes :func:`acceptable`
    (and on ``points``). The heat kind's other solutions are random compositions, whose
    sources are never zero; these teach how data decay without one.

    >>> c = np.array([0.0, 0.0, 1.0, -0.5, 0.0, 0.0])
    >>> tree = heat_modes(0, c)
    >>> bool(np.allclose(tree.derivatives(np.random.default_rng(1).uniform(-1, 1, (5, 2))) @ c, 0))
    True
    """
    rng = np.random.default_rng(rng)
    c = np.asarray(coefficients, float)
    if c[2] != 1.0 or c[3] >= 0 or c[4] != 0 or c[5] != 0:
        raise ValueError(f"heat_modes: expected a heat operator u_t - k u_xx (+ r u, + a u_x), got {c}")
    k, r, a = -c[3], c[0], c[1]
    check = _GRID if points is None else np.concatenate([_GRID, np.asarray(points, float)])
    for _ in range(max_tries):
        node = _Affine(0.0, 0.0, rng.uniform(-1, 1) if r == 0 else 0.0)
        for _m in range(int(rng.integers(1, 4))):
            w, phase = rng.uniform(0.5, 5.0), rng.uniform(0, 2 * np.pi)
            lam = k * w * w + r
            mode = _Mul(_Apply("exp", _Affine(0.0, -lam, -lam)), _Apply("sin", _Affine(w, -w * a, phase)))
            node = _Add(node, mode, _nonzero(rng, 0.3, 2.0))
        tree = ExprTree(node, node.size())
        with np.errstate(all="ignore"):
            d = tree.derivatives(check)
        if acceptable(d, c):
            return tree
    raise RuntimeError(f"heat_modes: no acceptable solution in {max_tries} draws")


# ---------------------------------------------------------------------------------------
# operators, domains, boundary conditions
# ---------------------------------------------------------------------------------------


def _elliptic_operator(rng, coercive=False):
    """c3, c4 of one sign (elliptic), plus at most one of u, u_x, u_y, u_xy (2-3 terms).
    ``coercive``: the u term, if any, has the sign of a positive reaction."""
    c = np.zeros(6)
    s = rng.choice((-1.0, 1.0))
    c[3], c[4] = s * rng.uniform(0.2, 2.0), s * rng.uniform(0.2, 2.0)
    extra = rng.integers(5)  # 0: none, 1: u, 2: u_x, 3: u_y, 4: u_xy
    if extra == 4:
        bound = min(2.0, 0.9 * 2.0 * np.sqrt(c[3] * c[4]))  # c5^2 < 4 c3 c4 with a margin
        c[5] = _nonzero(rng, 0.1 * bound, bound)
    elif extra:
        c[extra - 1] = _nonzero(rng, 0.1, 2.0)
        if coercive and extra == 1:
            c[0] = -s * abs(c[0])  # sign opposite to c3: -div(K grad u) + |c0| u
    return c


def _heat_operator(rng):
    """u_t - k u_xx (- a u_x or - r u): y is t."""
    c = np.zeros(6)
    c[2], c[3] = 1.0, -rng.uniform(0.1, 2.0)
    extra = rng.integers(3)
    if extra:
        c[extra - 1] = _nonzero(rng, 0.1, 2.0)
    return c


def _wave_operator(rng):
    """u_tt - c^2 u_xx: y is t."""
    c = np.zeros(6)
    c[4], c[3] = 1.0, -rng.uniform(0.3, 1.4) ** 2
    return c


def _random_notch(rng):
    """A rectangle cut from the box: at a corner (an L-shaped domain) or into a side (a
    slot), reaching 0.1 past the box so that the cut is clean. ``(shape, params, "notch")``."""
    if rng.random() < 0.5:
        sx, sy = rng.choice([-1.0, 1.0], 2)
        wx, wy = rng.uniform(0.4, 1.2, 2)
        xs, ys = sorted((sx * (1 - wx), sx * 1.1)), sorted((sy * (1 - wy), sy * 1.1))
    else:
        w, depth = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
        c = rng.uniform(-0.9 + w / 2, 0.9 - w / 2)
        side, sign = int(rng.integers(2)), float(rng.choice([-1.0, 1.0]))
        across, into = (c - w / 2, c + w / 2), sorted((sign * (1 - depth), sign * 1.1))
        xs, ys = (across, into) if side == 0 else (into, across)
    return ("rectangle", (float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1])), "notch")


def _clear_of(notch, cx, cy, R, margin):
    """Whether the disk (cx, cy, R + margin) misses the notch's rectangle."""
    x0, y0, x1, y1 = notch[1]
    return np.hypot(max(x0 - cx, 0.0, cx - x1), max(y0 - cy, 0.0, cy - y1)) >= R + margin


def _random_holes(rng, max_holes=3, notch=0.0, margin=0.05, max_tries=50):
    """0-``max_holes`` non-overlapping holes (disk, rectangle, triangle) inside the box with
    a margin and, with probability ``notch``, a rectangle cut from a corner or a side
    (first, tagged "notch"). Returns a tuple of ``(shape, params, tag)`` with params as
    tuples of floats."""
    n = int(rng.integers(max_holes + 1))
    placed = []  # (cx, cy, R)
    holes = [_random_notch(rng)] if notch > 0 and rng.random() < notch else []
    cut = holes[0] if holes else None
    for i in range(n):
        for _ in range(max_tries):
            R = rng.uniform(0.1, 0.35)
            cx, cy = rng.uniform(-1 + margin + R, 1 - margin - R, 2)
            if (all(np.hypot(cx - px, cy - py) >= R + pr + margin for px, py, pr in placed)
                    and (cut is None or _clear_of(cut, cx, cy, R, margin))):
                break
        else:
            continue
        placed.append((cx, cy, R))
        shape = ("disk", "rectangle", "triangle")[rng.integers(3)]
        tag = f"hole{len(placed) - 1}"
        if shape == "disk":
            params = (cx, cy, R)
        elif shape == "rectangle":
            phi = rng.uniform(0.3, np.pi / 2 - 0.3)
            hw, hh = R * np.cos(phi), R * np.sin(phi)
            params = (cx - hw, cy - hh, cx + hw, cy + hh)
        else:
            gaps = rng.uniform(0.6, 1.4, 3)
            ang = rng.uniform(0, 2 * np.pi) + np.cumsum(2 * np.pi * gaps / gaps.sum())
            rad = R * rng.uniform(0.7, 1.0, 3)
            params = tuple(np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)]).ravel())
        holes.append((shape, tuple(float(v) for v in params), tag))
    return tuple(holes)


def hole_domain(shape, params, tag):
    """The geometries primitive of one hole description."""
    if shape == "disk":
        return Disk(params[:2], params[2], name=tag)
    if shape == "rectangle":
        return Rectangle(params[:2], params[2:], name=tag)
    if shape == "triangle":
        return Polygon(np.reshape(params, (3, 2)), name=tag)
    raise ValueError(f"hole_domain: unknown shape {shape!r}; use 'disk', 'rectangle' or 'triangle'")


def _domain(holes):
    d = Rectangle(*_BOX)
    for h in holes:
        d = d - hole_domain(*h)
    return d


def _perimeter(shape, params):
    if shape == "disk":
        return 2 * np.pi * params[2]
    if shape == "rectangle":
        return 2 * (params[2] - params[0] + params[3] - params[1])
    v = np.reshape(params, (3, 2))
    return float(np.sum(np.linalg.norm(v - np.roll(v, 1, axis=0), axis=1)))


def _sample_boundary(holes, n, rng):
    """``n`` points uniform by length on the box and the hole boundaries, with outward
    normals (flipped on holes) and tags. Equivalent to ``domain.sample_boundary`` because
    the holes are disjoint and strictly inside the box, so every primitive boundary point
    survives; sampling primitive by primitive skips the CSG membership tests. With a notch
    (which cuts the box's sides) the domain samples itself."""
    if any(h[2] == "notch" for h in holes):
        return _domain(holes).sample_boundary(n, seed=_seed_int(rng))
    prims = [Rectangle(*_BOX)] + [hole_domain(*h) for h in holes]
    length = np.array([8.0] + [_perimeter(h[0], h[1]) for h in holes])
    counts = rng.multinomial(n, length / length.sum())
    pts, nrm, tags = [], [], []
    for k, (prim, count) in enumerate(zip(prims, counts)):
        if count:
            p, nr, tg = prim.sample_boundary(int(count), seed=_seed_int(rng))
            pts.append(p), nrm.append(nr if k == 0 else -nr), tags.append(tg)
    order = rng.permutation(n)
    return np.concatenate(pts)[order], np.concatenate(nrm)[order], np.concatenate(tags)[order].astype(str)


def _conditions(rng, tags_outer, tags_holes, anchored):
    """tag -> (kind, alpha). Outer sides share one kind half of the time. When nothing
    anchors the solution (no Dirichlet, no Robin, no coercive u term), one tag becomes
    Dirichlet, so pure-Neumann outer boundaries occur only with an anchor elsewhere."""
    p = (0.5, 0.25, 0.25)
    conds = {}
    if len(tags_outer) > 1 and rng.random() < 0.5:
        kind = _COND[rng.choice(3, p=p)]
        kinds = [kind] * len(tags_outer)
    else:
        kinds = [_COND[rng.choice(3, p=p)] for _ in tags_outer]
    kinds += [_COND[rng.choice(3, p=p)] for _ in tags_holes]
    tags = list(tags_outer) + list(tags_holes)
    if not anchored and not any(k != "neumann" for k in kinds):
        kinds[rng.integers(len(kinds))] = "dirichlet"
    for tag, kind in zip(tags, kinds):
        conds[tag] = (kind, float(rng.uniform(0.5, 2.0)) if kind == "robin" else 0.0)
    return conds


def _boundary_values(d, normals, kind, alpha):
    """g from derivative rows: u (Dirichlet), du/dn (Neumann), du/dn + alpha u (Robin)."""
    flux = d[:, 1] * normals[:, 0] + d[:, 2] * normals[:, 1]
    return np.where(kind == "dirichlet", d[:, 0], np.where(kind == "neumann", flux, flux + alpha * d[:, 0]))


# ---------------------------------------------------------------------------------------
# samples
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Sample:
    """One training problem: ``sum_k coefficients[k] * TERMS[k] = f`` with boundary data.

    ``interior`` (N, 2) collocation points with ``f`` (N,); ``boundary`` (M, 2) points with
    outward ``normals``, ``tags`` and ``g`` (M,): ``u`` (Dirichlet), ``du/dn`` (Neumann),
    ``du/dn + alpha u`` (Robin), per ``conditions[tag] = (kind, alpha)``. Manufactured
    kinds carry ``solution`` (an :class:`ExprTree`) and ``derivatives`` (N, 6) at the
    interior points. For "heat" and "wave", y is t on ``[-1, 1]``: tags ``left``/``right``
    (x = -1, 1), ``initial`` (Dirichlet u at t = -1) and, for "wave", ``initial_t``: a
    Neumann condition with outward normal (0, -1), so ``g = -u_t``.

    >>> s = random_problem(3, kind="physics")
    >>> s.problem().type                               # a manufactured.Problem, built on request
    'elliptic'
    """

    seed: tuple
    kind: str
    coefficients: np.ndarray
    holes: tuple
    conditions: dict
    interior: np.ndarray
    boundary: np.ndarray
    normals: np.ndarray
    tags: np.ndarray
    f: np.ndarray
    g: np.ndarray
    solution: ExprTree | None = None
    derivatives: np.ndarray | None = None
    source: np.ndarray | None = None          # physics: f = s0 + s1 x + s2 y + s3 x^2 + s4 xy + s5 y^2
    boundary_data: dict | None = None          # physics: tag -> (g0, g1, g2), g = g0 + g1 x + g2 y
    bumps: np.ndarray | None = None            # physics: rows (A, cx, cy, w), f += A exp(-r^2 / (2 w^2))
    _cache: dict = field(default_factory=dict, repr=False, init=False)

    # -- views -------------------------------------------------------------------------
    @property
    def time(self):
        """``(-1.0, 1.0)`` for the 1D+time kinds, else None."""
        return (-1.0, 1.0) if self.kind in ("heat", "wave") else None

    @property
    def manufactured(self) -> bool:
        return self.solution is not None

    @property
    def u(self):
        """Exact u at the interior points (None for physics-only samples)."""
        return None if self.derivatives is None else self.derivatives[:, 0]

    @property
    def bc_kind(self) -> np.ndarray:
        """Per boundary point: "dirichlet", "neumann" or "robin"."""
        return np.array([self.conditions[tg][0] for tg in self.tags], dtype=str)

    @property
    def alpha(self) -> np.ndarray:
        """Per boundary point: the Robin alpha (0 elsewhere)."""
        return np.array([self.conditions[tg][1] for tg in self.tags], dtype=float)

    @property
    def domain(self):
        """The geometries domain: the box minus the holes (for time kinds, the x-t box)."""
        if "domain" not in self._cache:
            self._cache["domain"] = _domain(self.holes)
        return self._cache["domain"]

    def digest(self) -> str:
        """SHA-256 of everything numeric and symbolic-free in the sample (for reproducibility)."""
        h = hashlib.sha256()
        h.update(repr((self.seed, self.kind, self.holes, sorted(self.conditions.items()))).encode())
        for a in (self.coefficients, self.interior, self.boundary, self.normals, self.f, self.g,
                  self.derivatives, self.source, self.bumps):
            if a is not None:
                h.update(np.ascontiguousarray(a).tobytes())
        h.update("|".join(self.tags).encode())
        if self.boundary_data:
            h.update(repr(sorted(self.boundary_data.items())).encode())
        return h.hexdigest()

    # -- symbolic ----------------------------------------------------------------------
    def operator(self, w):
        """The family operator applied to a sympy expression ``w(x, y)``."""
        c = [sp.Float(v) if v else sp.S.Zero for v in self.coefficients]
        ds = (w, sp.diff(w, _x), sp.diff(w, _y), sp.diff(w, _x, 2), sp.diff(w, _y, 2), sp.diff(w, _x, _y))
        return sp.Add(*[ci * di for ci, di in zip(c, ds) if ci != 0])

    def problem(self):
        """The sample as a :class:`manufactured.Problem` (sympy; built once, then cached).

        Manufactured kinds: ``manufacture`` of the operator with the sample's condition
        kinds and the tree as exact solution. Time kinds: a 1D Problem on Interval(-1, 1)
        with ``time=(-1, 1)`` and ``t`` in place of ``y``.
        """
        if "problem" not in self._cache:
            self._cache["problem"] = self._build_problem()
        return self._cache["problem"]

    def _build_problem(self):
        from ._conditions import Dirichlet, Neumann, Robin
        from ._helpers import u
        from ._manufacture import manufacture
        from ._problem import Problem

        c = [sp.Float(v) if v else sp.S.Zero for v in self.coefficients]
        timed = self.time is not None
        Y = _t if timed else _y
        derivs = (u, sp.diff(u, _x), sp.diff(u, Y), sp.diff(u, _x, 2), sp.diff(u, Y, 2), sp.diff(u, _x, Y))
        lhs = sp.Add(*[ci * di for ci, di in zip(c, derivs) if ci != 0])
        if timed:
            domain = Interval(-1.0, 1.0)
            bcs = {tg: self._condition(tg, 0, Dirichlet, Neumann, Robin) for tg in ("left", "right")}
            template = Problem(domain, lhs, bcs, time=(-1, 1), initial={"u": 0, "u_t": 0} if self.kind == "wave"
                               else {"u": 0}, name=f"{self.kind}-{self._name()}")
            return manufacture(template, self.solution.sympy().xreplace({_y: _t}))
        domain = self.domain
        if self.manufactured:
            bcs = {tg: self._condition(tg, 0, Dirichlet, Neumann, Robin) for tg in domain.boundaries}
            template = Problem(domain, lhs, bcs, name=f"{self.kind}-{self._name()}")
            return manufacture(template, self.solution.sympy())
        s = [sp.Float(v) if v else sp.S.Zero for v in self.source]
        bumps = None if self.bumps is None else [[sp.Float(v) for v in row] for row in self.bumps]
        f = source_values(s, bumps, _x, _y, exp=sp.exp)
        bcs = {}
        for tg in domain.boundaries:
            g0, g1, g2 = (sp.Float(v) if v else sp.S.Zero for v in self.boundary_data[tg])
            bcs[tg] = self._condition(tg, g0 + g1 * _x + g2 * _y, Dirichlet, Neumann, Robin)
        # evaluate=False: sympy would otherwise try to prove lhs == f (a third of the build)
        return Problem(domain, sp.Eq(lhs, f, evaluate=False), bcs, name=f"{self.kind}-{self._name()}")

    def _condition(self, tag, g, Dirichlet, Neumann, Robin):
        kind, alpha = self.conditions[tag]
        if kind == "dirichlet":
            return Dirichlet(g)
        if kind == "neumann":
            return Neumann(g)
        return Robin(sp.Float(alpha), g)

    def _name(self):
        return "-".join(str(s) for s in np.ravel(self.seed))

    def __repr__(self):
        terms = " + ".join(f"{v:.3g}*{n}" for v, n in zip(self.coefficients, TERMS) if v)
        conds = ", ".join(f"{k}: {v[0]}" + (f"({v[1]:.3g})" if v[0] == "robin" else "")
                          for k, v in self.conditions.items())
        return (f"Sample(seed={self.seed}, kind={self.kind!r}, {terms} = f, holes={len(self.holes)}, "
                f"conditions={{{conds}}}, interior={len(self.interior)}, boundary={len(self.boundary)}, "
                f"manufactured={self.manufactured})")


def _seed_int(rng):
    return int(rng.integers(2**63 - 1))


def _time_points(rng, kind, n_interior, n_boundary):
    X = rng.uniform(-1, 1, (n_interior, 2))
    parts = ("left", "right", "initial") + (("initial_t",) if kind == "wave" else ())
    counts = np.full(len(parts), n_boundary // len(parts))
    counts[: n_boundary - counts.sum()] += 1
    pts, nrm, tags = [], [], []
    for tag, k in zip(parts, counts):
        s = rng.uniform(-1, 1, k)
        if tag in ("left", "right"):
            side = -1.0 if tag == "left" else 1.0
            pts.append(np.column_stack([np.full(k, side), s]))
            nrm.append(np.tile([side, 0.0], (k, 1)))
        else:
            pts.append(np.column_stack([s, np.full(k, -1.0)]))
            nrm.append(np.tile([0.0, -1.0], (k, 1)))
        tags.append(np.full(k, tag))
    return X, np.concatenate(pts), np.concatenate(nrm), np.concatenate(tags).astype(str)


def mix_weights(heat=None) -> dict:
    """The kind weights that "mixed" draws from: ``MIX``, or with ``heat`` (a probability
    in [0, 0.95]) the share of heat problems, elliptic and physics-only sharing the rest in
    MIX's proportions (wave keeps its share).

    >>> {k: round(v, 3) for k, v in mix_weights(0.2).items()}
    {'elliptic': 0.333, 'heat': 0.2, 'wave': 0.05, 'physics': 0.417}
    """
    if heat is None:
        return dict(MIX)
    if isinstance(heat, bool) or not isinstance(heat, (int, float, np.floating)) or not 0.0 <= heat <= 0.95:
        raise ValueError(f"random_problem: heat is the probability of a heat problem, a number in "
                         f"[0, 0.95], got {heat!r}")
    rest = (1.0 - MIX["wave"] - heat) / (MIX["elliptic"] + MIX["physics"])
    return {"elliptic": MIX["elliptic"] * rest, "heat": float(heat), "wave": MIX["wave"],
            "physics": MIX["physics"] * rest}


def _draw_kind(rng, heat=None):
    weights = mix_weights(heat)
    return KINDS[rng.choice(len(KINDS), p=[weights[k] for k in KINDS])]


def mixed_kind(seed, heat=None) -> str:
    """The kind that ``random_problem(seed, "mixed", heat=heat)`` draws, without making
    the sample.

    >>> mixed_kind((0, 3)) == random_problem((0, 3), n_interior=20, n_boundary=20).kind
    True
    """
    return _draw_kind(np.random.default_rng(tuple(int(s) for s in np.ravel(seed))), heat)


def random_problem(seed, kind="mixed", n_interior=1024, n_boundary=256, max_tries=200,
                   max_holes=3, notch=0.0, zero_source=0.0, heat=None, decay=0.0, bumps=0.0,
                   plain=0.0, reaction=0.0) -> Sample:
    """One random :class:`Sample`, the same for the same ``seed`` (an int or a tuple of
    ints) and options. ``kind``: "elliptic", "heat", "wave", "physics" or "mixed" (drawn
    with the weights ``MIX``: half manufactured, half physics-only). Steady domains are the
    box minus 0-``max_holes`` holes and, with probability ``notch``, minus a rectangle cut
    from a corner or a side (L-shapes and slots; tagged "notch"). ``zero_source``: the
    probability that a physics-only sample has no source (Laplace-type problems driven by
    their boundary data alone). The defaults are HyPINO's family (0-3 holes, no notch, a
    source always). ``heat``: the share of heat problems among "mixed" draws
    (:func:`mix_weights`; None: MIX's 5%). ``decay``: the probability that a heat problem's
    solution is a sum of free modes without a source (:func:`heat_modes`) rather than a
    random composition. ``bumps``: the probability that a physics-only sample with a
    source has a sum of 1-4 Gaussian bumps (:func:`gaussian_bumps`) instead of a polynomial.
    ``plain``: the probability that a physics-only sample is a plain Poisson problem
    (``k Δu``, one k of either sign; Dirichlet data on every boundary, the four sides of the
    box sharing one datum half of the time), the problem users write most and that the
    random operators and conditions above draw almost never. ``reaction``: the probability
    that a plain problem also has a reaction term, ``k Δu - sign(k) c u`` with ``c / |k|``
    log-uniform in [0.1, 64] (the coercive sign; coefficients scaled to at most 2), so that
    plain problems do not all lack the u term.

    >>> s = random_problem(0, kind="elliptic", n_interior=200, n_boundary=50)
    >>> s.f.shape, s.g.shape, s.derivatives.shape
    ((200,), (50,), (200, 6))
    """
    if kind not in KINDS + ("mixed",):
        raise ValueError(f"random_problem: unknown kind {kind!r}; use one of {', '.join(KINDS)} or 'mixed'")
    for name, n in (("n_interior", n_interior), ("n_boundary", n_boundary)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"random_problem: {name} must be a positive integer, got {n!r}")
    if isinstance(max_holes, bool) or not isinstance(max_holes, (int, np.integer)) or not 0 <= max_holes <= 6:
        raise ValueError(f"random_problem: max_holes must be an integer in 0..6, got {max_holes!r}")
    for name, p in (("notch", notch), ("zero_source", zero_source), ("decay", decay), ("bumps", bumps),
                    ("plain", plain), ("reaction", reaction)):
        if isinstance(p, bool) or not (isinstance(p, (int, float, np.floating)) and 0.0 <= p <= 1.0):
            raise ValueError(f"random_problem: {name} is a probability in [0, 1], got {p!r}")
    if reaction > 0 and plain == 0:
        raise ValueError(f"random_problem: reaction={reaction!r} gives plain problems a u term, but "
                         "plain is 0; set plain > 0 as well (or leave reaction at 0)")
    mix_weights(heat)   # its check
    seed_key = tuple(int(s) for s in np.ravel(seed))
    rng = np.random.default_rng(seed_key)
    if kind == "mixed":
        kind = _draw_kind(rng, heat)

    if kind in ("heat", "wave"):
        coef = _heat_operator(rng) if kind == "heat" else _wave_operator(rng)
        holes = ()
        X, B, N, tags = _time_points(rng, kind, n_interior, n_boundary)
        conds = _conditions(rng, ("left", "right"), (), anchored=True)
        conds["initial"] = ("dirichlet", 0.0)
        if kind == "wave":
            conds["initial_t"] = ("neumann", 0.0)
    else:
        physics = kind == "physics"
        coef = _elliptic_operator(rng, coercive=physics)
        holes = _random_holes(rng, max_holes=int(max_holes), notch=float(notch))
        domain = _domain(holes)
        X = domain.sample_interior(n_interior, seed=_seed_int(rng))
        B, N, tags = _sample_boundary(holes, n_boundary, rng)
        anchored = coef[0] * -np.sign(coef[3]) > 0
        conds = _conditions(rng, _OUTER, [h[2] for h in holes], anchored=anchored)
        if physics:
            shared = False
            # its own stream: the other samples are exactly those drawn without the option
            side = np.random.default_rng(seed_key + (_PLAIN,)) if plain > 0 else None
            if side is not None and side.random() < plain:
                coef = np.zeros(6)
                coef[3] = coef[4] = side.choice((-1.0, 1.0)) * side.uniform(0.2, 2.0)
                conds = {tag: ("dirichlet", 0.0) for tag in conds}
                shared = bool(side.random() < 0.5)
                if reaction > 0 and side.random() < reaction:   # no draw at 0: plain samples unchanged
                    coef[0] = -coef[3] * np.exp(side.uniform(np.log(0.1), np.log(64.0)))
                    coef *= min(1.0, 2.0 / abs(coef[0]))
            return _physics_sample(rng, seed_key, coef, holes, conds, X, B, N, tags, float(zero_source),
                                   float(bumps), shared)

    kinds = np.array([conds[tg][0] for tg in tags], dtype=str)
    alpha = np.array([conds[tg][1] for tg in tags])
    if kind == "heat" and decay > 0 and rng.random() < decay:   # no draw at 0: samples unchanged
        tree = heat_modes(rng, coef, points=np.concatenate([X, B]), max_tries=max_tries)
    else:
        tree = random_solution(rng, points=np.concatenate([X, B]), coefficients=coef, max_tries=max_tries)
    D = tree.derivatives(np.concatenate([X, B]))
    DX, DB = D[: len(X)], D[len(X):]
    return Sample(seed=seed_key, kind=kind, coefficients=coef, holes=holes, conditions=conds,
                  interior=X, boundary=B, normals=N, tags=tags, f=DX @ coef,
                  g=_boundary_values(DB, N, kinds, alpha), solution=tree, derivatives=DX)


def gaussian_bumps(rng, k=None) -> np.ndarray:
    """Rows ``(A, cx, cy, w)`` of a source ``sum A exp(-((x-cx)^2 + (y-cy)^2) / (2 w^2))``:
    1-4 bumps (``k``) with centres in [-0.8, 0.8]^2, widths 0.05-0.3 and |A| log-uniform in
    [1, 100], of either sign (localised sources, which polynomials of degree 2 never are).

    >>> gaussian_bumps(np.random.default_rng(0), 2).shape
    (2, 4)
    """
    k = int(rng.integers(1, 5)) if k is None else int(k)
    A = np.exp(rng.uniform(0.0, np.log(100.0), k)) * rng.choice([-1.0, 1.0], k)
    return np.column_stack([A, rng.uniform(-0.8, 0.8, (k, 2)), rng.uniform(0.05, 0.3, k)])


def source_values(source, bumps, x, y, exp=np.exp):
    """f at points ``(x, y)`` of a physics-only source: the quadratic ``source`` plus the
    Gaussian ``bumps`` (None: none). With sympy symbols and ``exp=sympy.exp``, the same
    source as an expression (what :meth:`Sample.problem` solves)."""
    s = source
    f = s[0] + s[1] * x + s[2] * y + s[3] * x**2 + s[4] * x * y + s[5] * y**2
    for A, cx, cy, w in (bumps if bumps is not None else ()):
        f = f + A * exp(-((x - cx)**2 + (y - cy)**2) / (2 * w * w))
    return f


def _physics_sample(rng, seed_key, coef, holes, conds, X, B, N, tags, zero_source=0.0, bumps=0.0,
                    shared_outer=False):
    """Constant or quadratic source (none with probability ``zero_source``; else with
    probability ``bumps`` Gaussian bumps instead), constant or linear boundary data (with
    ``shared_outer``, the four sides of the box take the first side's); no exact solution."""
    source = np.zeros(6)
    source[0] = rng.uniform(-5, 5)
    if rng.random() < 0.5:
        mask = rng.random(5) < 0.5
        source[1:] = mask * rng.uniform(-3, 3, 5)
    blobs = None
    if zero_source > 0 and rng.random() < zero_source:   # no draw at 0: HyPINO's samples unchanged
        source[:] = 0.0
    elif bumps > 0 and rng.random() < bumps:             # likewise
        source[:] = 0.0
        blobs = gaussian_bumps(rng)
    data = {}
    for tag, (kind, _) in conds.items():
        g = np.zeros(3)
        g[0] = rng.uniform(-1, 1)
        if kind == "dirichlet" and rng.random() < 0.5:
            g[1:] = rng.uniform(-0.5, 0.5, 2)
        data[tag] = tuple(float(v) for v in g)
    if shared_outer:
        for tag in _OUTER[1:]:
            data[tag] = data[_OUTER[0]]
    f = source_values(source, blobs, X[:, 0], X[:, 1])
    G = np.array([data[tg] for tg in tags]).reshape(-1, 3)
    g = G[:, 0] + G[:, 1] * B[:, 0] + G[:, 2] * B[:, 1]
    return Sample(seed=seed_key, kind="physics", coefficients=coef, holes=holes, conditions=conds,
                  interior=X, boundary=B, normals=N, tags=tags, f=f, g=g, source=source,
                  boundary_data=data, bumps=blobs)


def generate_samples(n, seed=0, workers=2, kind="mixed", **options) -> list:
    """``n`` samples, number ``i`` being ``random_problem((seed, i), kind, **options)``, in
    ``workers`` processes; the list is the same for any number of workers.

    >>> batch = generate_samples(8, seed=1, workers=2, kind="elliptic")
    >>> batch[3].digest() == random_problem((1, 3), "elliptic").digest()
    True
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"generate_samples: n must be a non-negative integer, got {n!r}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"generate_samples: workers must be a positive integer, got {workers!r}")
    seed = tuple(int(s) for s in np.ravel(seed))
    seeds = [seed + (i,) for i in range(n)]
    make = partial(random_problem, kind=kind, **options)
    if workers == 1 or n <= 1:
        return [make(s) for s in seeds]
    chunk = max(1, n // (4 * workers))
    with ProcessPoolExecutor(max_workers=int(workers)) as pool:
        return list(pool.map(make, seeds, chunksize=chunk))
