"""Encoding of a Problem for the zero-shot (HyPINO-style) solver.

A 2D steady Problem, or a 1D + time Problem (``y`` plays ``t``), with constant coefficients
in the family ``c0 u + c1 u_x + c2 u_y + c3 u_xx + c4 u_yy + c5 u_xy = f`` is mapped to

1. the reference box [-1, 1]^2 by the affine map of its bounding box (one scale per axis;
   ``d/dx = (2/Lx) d/dX``, so ``c1 -> 2 c1 / Lx``, ``c3 -> 4 c3 / Lx^2``,
   ``c5 -> 4 c5 / (Lx Ly)``, ...);
2. an equation scaled by one positive factor ``scale`` so that max |coefficient| = 2 (the
   trained range is [-2, 2]); the source is multiplied by the same factor, boundary data
   are not, and ``u`` itself is unchanged: ``u(x) = U(enc.to_reference(x))``;
3. rasters on a ``resolution x resolution`` grid over [-1, 1]^2 (row ``i`` is ``Y_i``,
   column ``j`` is ``X_j``, both ``linspace(-1, 1, resolution)``) and point sets for
   physics losses in the reference frame.

Boundary data in the reference frame. Dirichlet data are copied. A Neumann condition
``du/dn = g`` (``n`` the physical outward unit normal) reads in the reference frame
``(n_x/sx) U_X + (n_y/sy) U_Y = g`` with ``sx = Lx/2``, ``sy = Ly/2``. Dividing by
``kappa = |(n_x/sx, n_y/sy)|`` gives ``d.grad U = g / kappa`` with the unit direction
``d = (n_x/sx, n_y/sy) / kappa``. The reference outward normal is
``N = (sx n_x, sy n_y) / |(sx n_x, sy n_y)|``; ``d = N`` where the boundary is parallel to
an axis or the scaling is isotropic, and otherwise ``d`` is oblique (``d.N > 0``). The
encoding stores ``g / kappa`` (rasters and points), ``N`` and ``d`` per point, and
``max_obliquity`` (largest angle between ``d`` and ``N``, radians; 0 for the seven HyPINO
problems). Robin ``du/dn + alpha u = g`` becomes ``d.grad U + (alpha/kappa) U = g/kappa``.

Time problems: the boundary of the spatial interval gives the left/right edges (for all
t), the initial data live on the line ``Y = -1``: ``u(x, t0)`` as Dirichlet data and, for
second order in time, ``u_t(x, t0)`` as Neumann data in the outward sense of the line
(outward normal ``-t``, so the stored value is ``-(T/2) u_t``). The final-time edge is free.

>>> import sympy as sp
>>> from geometries import Rectangle
>>> from manufactured import Dirichlet, Problem, laplacian, u
>>> p = Problem(Rectangle((0, 0), (2, 1), name="wall"), -laplacian(u) - 1, {"wall": Dirichlet(0)})
>>> enc = encode(p, resolution=32)
>>> enc.coefficients.tolist()       # -u_XX - 4 u_YY, scaled by 1/2
[0.0, 0.0, 0.0, -0.5, -2.0, 0.0]
>>> enc.to_physical([[1.0, 1.0]]).tolist()
[[2.0, 1.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from manufactured import Dirichlet, Neumann, Problem, Robin
from manufactured._symbols import nx as _nx, ny as _ny, t as _t, x as _x, y as _y

__all__ = ["Encoding", "encode", "TERMS", "CHANNELS", "DIRICHLET", "NEUMANN", "ROBIN"]

#: The terms of the family, in the order of ``Encoding.coefficients``.
TERMS = ("u", "u_x", "u_y", "u_xx", "u_yy", "u_xy")
#: Raster channels, in the order of ``Encoding.channels()``.
CHANNELS = ("domain", "dirichlet_mask", "dirichlet_value", "neumann_mask", "neumann_value",
            "robin_mask", "robin_alpha", "robin_value", "source")
#: Condition codes of ``Encoding.boundary_kind``.
DIRICHLET, NEUMANN, ROBIN = 0, 1, 2

#: Largest |coefficient| after scaling (the trained range is [-2, 2]).
COEFFICIENT_BOUND = 2.0
#: Boundary lines in the rasters: pixels within this many pixel widths of a boundary sample.
LINE_HALF_WIDTH = 0.75
_FEM_HINT = 'solve it with method="fem" instead'


@dataclass(frozen=True, eq=False)
class Encoding:
    """A Problem in the reference frame [-1, 1]^2: coefficients, rasters and point sets.

    Coefficients (6,) follow ``TERMS``; rasters are (resolution, resolution) float32 with
    row = Y, column = X; point sets are float64 in the reference frame. The equation in the
    reference frame is ``sum_k coefficients[k] * D_k U = source`` with ``source`` already
    multiplied by ``scale``. Boundary rows are ``U = g`` (Dirichlet),
    ``direction . grad U = g`` (Neumann), ``direction . grad U + alpha U = g`` (Robin).

    >>> enc = encode(problem)                               # doctest: +SKIP
    >>> U = model(enc)                                       # doctest: +SKIP
    >>> u_phys = lambda p: U(enc.to_reference(p))            # doctest: +SKIP
    """

    coefficients: np.ndarray
    physical_coefficients: np.ndarray
    scale: float
    lo: np.ndarray
    hi: np.ndarray
    resolution: int
    is_time_dependent: bool
    time_order: int
    domain_mask: np.ndarray
    dirichlet_mask: np.ndarray
    dirichlet_value: np.ndarray
    neumann_mask: np.ndarray
    neumann_value: np.ndarray
    robin_mask: np.ndarray
    robin_alpha: np.ndarray
    robin_value: np.ndarray
    source: np.ndarray
    interior: np.ndarray
    interior_source: np.ndarray
    boundary_points: np.ndarray
    boundary_normals: np.ndarray
    boundary_directions: np.ndarray
    boundary_kind: np.ndarray
    boundary_alpha: np.ndarray
    boundary_g: np.ndarray
    boundary_tags: np.ndarray
    max_obliquity: float
    name: str | None = None
    info: dict = field(default_factory=dict)

    # ---- maps -----------------------------------------------------------------------
    @property
    def center(self) -> np.ndarray:
        return (self.lo + self.hi) / 2

    @property
    def half(self) -> np.ndarray:
        """Half side lengths ``(sx, sy)``: ``x = center + half * X``."""
        return (self.hi - self.lo) / 2

    def to_reference(self, points) -> np.ndarray:
        """Physical points (N, 2) (``(x, t)`` for time problems) -> reference points in [-1, 1]^2.

        >>> enc.to_reference(enc.to_physical(P))   # == P            # doctest: +SKIP
        """
        return (_points2(points) - self.center) / self.half

    def to_physical(self, points) -> np.ndarray:
        """Reference points (N, 2) -> physical points (``(x, t)`` for time problems)."""
        return self.center + self.half * _points2(points)

    def physical_residual(self, reference_residual):
        """A residual of the scaled reference equation, in the units of the physical equation."""
        return np.asarray(reference_residual) / self.scale

    # ---- rasters --------------------------------------------------------------------
    @property
    def grid(self) -> np.ndarray:
        """The 1D pixel coordinates ``linspace(-1, 1, resolution)`` (same for X and Y)."""
        return np.linspace(-1.0, 1.0, self.resolution)

    def channels(self) -> np.ndarray:
        """All rasters stacked as (len(CHANNELS), resolution, resolution) float32."""
        return np.stack([getattr(self, c if c != "domain" else "domain_mask") for c in CHANNELS])

    @property
    def boundary_counts(self) -> dict:
        """Number of boundary points per condition type."""
        k = self.boundary_kind
        return {"dirichlet": int(np.sum(k == DIRICHLET)), "neumann": int(np.sum(k == NEUMANN)),
                "robin": int(np.sum(k == ROBIN))}

    def __repr__(self):
        c = ", ".join(f"{v:.3g}" for v in self.coefficients)
        kind = "1D+time" if self.is_time_dependent else "2D"
        return (f"Encoding({self.name!r}, {kind}, coefficients=[{c}], scale={self.scale:.4g}, "
                f"box={self.lo.tolist()}..{self.hi.tolist()}, resolution={self.resolution}, "
                f"interior={len(self.interior)}, boundary={self.boundary_counts})")


def _points2(points):
    p = np.asarray(points, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {p.shape}; pass one (x, y) "
                         "(or (x, t)) pair per row")
    return p


# ---------------------------------------------------------------------------- family checks
def _refuse(where, why):
    raise ValueError(f"{where}: {why}; the zero-shot solver covers 2D steady or 1D+time linear "
                     "problems c0 u + c1 u_x + c2 u_y + c3 u_xx + c4 u_yy + c5 u_xy = f with "
                     f"constant coefficients; {_FEM_HINT}")


def _constant(expr, what, where):
    e = sp.sympify(expr)
    if e.free_symbols:
        names = ", ".join(sorted(map(str, e.free_symbols)))
        _refuse(where, f"the coefficient of {what} is {e}, which depends on {names}")
    try:
        v = complex(sp.N(e))
    except (TypeError, ValueError):
        _refuse(where, f"the coefficient of {what} ({e}) is not a number")
    if abs(v.imag) > 1e-14 * max(1.0, abs(v.real)) or not np.isfinite(v.real):
        _refuse(where, f"the coefficient of {what} ({e}) is not a finite real number")
    return float(v.real)


def _physical_coefficients(problem, where):
    """(c0..c5) of the raw form ``A:D2u + b.grad u + c u + m1 u_t + m2 u_tt = f``."""
    cf = problem.canonical
    if problem.is_time_dependent:
        A, b = cf.A, cf.b
        return np.array([_constant(cf.c, "u", where), _constant(b[0], "u_x", where),
                         _constant(cf.m1, "u_t", where), _constant(A[0, 0], "u_xx", where),
                         _constant(cf.m2, "u_tt", where), 0.0])
    A, b = cf.A, cf.b
    return np.array([_constant(cf.c, "u", where), _constant(b[0], "u_x", where),
                     _constant(b[1], "u_y", where), _constant(A[0, 0], "u_xx", where),
                     _constant(A[1, 1], "u_yy", where), 2 * _constant(A[0, 1], "u_xy", where)])


def _check_family(problem, where):
    if not isinstance(problem, Problem):
        raise TypeError(f"{where}: expected a manufactured.Problem, got {type(problem).__name__}; "
                        "build one with Problem(domain, equation, bcs)")
    if problem.dim == 3:
        _refuse(where, "the problem is 3D")
    if problem.dim == 2 and problem.is_time_dependent:
        _refuse(where, "the problem is 2D + time (three independent variables)")
    if problem.dim == 1 and not problem.is_time_dependent:
        _refuse(where, "the problem is 1D and steady (the family is two-dimensional: 2D, or 1D + time)")
    if problem.parameters:
        _refuse(where, f"the problem has unsubstituted parameter function(s) "
                       f"{', '.join(problem.parameters)} (use problem.substitute(...) first)")


# ---------------------------------------------------------------------------- numerics
def _compiled(expr, timed):
    """``expr`` as a vectorised function of physical points (N, 2) and normals (N, 2)."""
    e = sp.sympify(expr)
    syms = (_x, _t, _nx) if timed else (_x, _y, _nx, _ny)
    fn = sp.lambdify(syms, e, "numpy")

    def ev(P, Nrm=None):
        Nrm = np.zeros_like(P) if Nrm is None else Nrm
        args = (P[:, 0], P[:, 1], Nrm[:, 0]) if timed else (P[:, 0], P[:, 1], Nrm[:, 0], Nrm[:, 1])
        with np.errstate(all="ignore"):
            v = np.asarray(fn(*args), dtype=float)
        return np.broadcast_to(v, (len(P),)).copy()

    return ev


def _inside(domain, P):
    """Points of the closed domain that touch its interior (``contains`` alone also keeps,
    e.g., cut-out edges lying on the outer boundary)."""
    eps = 1e-9 * domain.diameter
    near = np.zeros(len(P), bool)
    for d in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        near |= domain.contains(P + eps * np.array(d), tol=-1e-13 * domain.diameter)
    return domain.contains(P) & near


def _finite(v, what, where):
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{where}: {what} is not finite at some points of the domain "
                         "(a singular expression?); fix the data or " + _FEM_HINT)
    return v


def _boundary(problem, n, seed, half, regular=False):
    """Physical boundary samples: points, physical outward normals, tags, kind, alpha, g.
    Time problems: ``n // 3`` per edge, random (``regular=False``) or evenly spaced."""
    timed = problem.is_time_dependent
    rng = np.random.default_rng(seed)
    bcs = dict(problem.bcs)
    if not timed:
        P, Nrm, tags = problem.domain.sample_boundary(n, seed=seed)
    else:
        (a,), (b,) = (np.asarray(v, float) for v in problem.domain.bounds)
        t0, t1 = problem.time
        _, nr, tg = problem.domain.sample_boundary(16, seed=0)
        ends = {float(s): str(g) for s, g in zip(nr[:, 0], tg)}
        k = max(n // 3, 1)
        if regular:
            s, xs = np.tile(np.linspace(t0, t1, k), (2, 1)), np.linspace(a, b, k)
        else:
            s, xs = rng.uniform(t0, t1, (2, k)), rng.uniform(a, b, k)
        P = np.concatenate([np.stack([np.full(k, a), s[0]], 1), np.stack([np.full(k, b), s[1]], 1),
                            np.stack([xs, np.full(k, t0)], 1)])
        Nrm = np.concatenate([np.tile([-1.0, 0.0], (k, 1)), np.tile([1.0, 0.0], (k, 1)),
                              np.tile([0.0, -1.0], (k, 1))])
        tags = np.array([ends[-1.0]] * k + [ends[1.0]] * k + ["<initial>"] * k, dtype=object)
        bcs["<initial>"] = Dirichlet(problem.initial["u"])
        if problem.time_order == 2:
            P = np.concatenate([P, P[2 * k:]])
            Nrm = np.concatenate([Nrm, Nrm[2 * k:]])
            tags = np.concatenate([tags, np.array(["<initial u_t>"] * k, dtype=object)])
            bcs["<initial u_t>"] = Neumann(-problem.initial["u_t"])
    tags = np.asarray(tags, dtype=str)
    kind = np.zeros(len(P), np.int64)
    alpha, g = np.zeros(len(P)), np.zeros(len(P))
    for tg in np.unique(tags):
        rows = tags == tg
        c = bcs[tg]
        kind[rows] = {Dirichlet: DIRICHLET, Neumann: NEUMANN, Robin: ROBIN}[type(c)]
        g[rows] = _compiled(c.g, timed)(P[rows], Nrm[rows])
        if isinstance(c, Robin):
            alpha[rows] = _compiled(c.alpha, timed)(P[rows], Nrm[rows])
    # reference frame: oblique direction d, reference normal N, data divided by kappa
    pull = Nrm / half                                   # (n_x/sx, n_y/sy)
    kappa = np.linalg.norm(pull, axis=1)
    d = pull / kappa[:, None]
    push = Nrm * half
    N = push / np.linalg.norm(push, axis=1, keepdims=True)
    natural = kind != DIRICHLET
    g = np.where(natural, g / kappa, g)
    alpha = np.where(natural, alpha / kappa, alpha)
    return P, N, d, tags, kind, alpha, g


def _rasterise(Xb, values, R):
    """Pixels within LINE_HALF_WIDTH pixels of the samples ``Xb`` (reference frame):
    mask (R, R) and, per pixel, the value of the nearest sample."""
    h = 2.0 / (R - 1)
    ij = np.rint((Xb + 1) / h).astype(np.int64)        # nearest pixel (col, row)
    off = np.array([(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)])
    cand = (ij[:, None, :] + off[None]).reshape(-1, 2)
    src = np.repeat(np.arange(len(Xb)), len(off))
    ok = np.all((cand >= 0) & (cand < R), axis=1)
    cand, src = cand[ok], src[ok]
    dist = np.linalg.norm(cand * h - 1 - Xb[src], axis=1) / h
    near = dist <= LINE_HALF_WIDTH + 1e-9
    cand, src, dist = cand[near], src[near], dist[near]
    flat = cand[:, 1] * R + cand[:, 0]
    order = np.lexsort((dist, flat))
    flat, src = flat[order], src[order]
    first = np.unique(flat, return_index=True)[1]
    mask = np.zeros(R * R, np.float32)
    vals = [np.zeros(R * R, np.float32) for _ in values]
    mask[flat[first]] = 1
    for v, val in zip(vals, values):
        v[flat[first]] = val[src[first]]
    return mask.reshape(R, R), [v.reshape(R, R) for v in vals]


# ---------------------------------------------------------------------------- encode
def encode(problem, resolution=64, *, n_interior=4096, n_boundary=1024, seed=0) -> Encoding:
    """Map a Problem of the family onto [-1, 1]^2 with coefficients in [-2, 2] (see the module
    docstring); raises ValueError (suggesting ``method="fem"``) for problems outside it.

    ``resolution`` raster size; ``n_interior`` collocation points; ``n_boundary`` boundary
    points (time problems: a third per edge, the initial line twice for second order);
    ``seed`` for all samples.

    >>> from geometries import Rectangle
    >>> from manufactured import Dirichlet, Problem, laplacian, u
    >>> square = Rectangle((0, 0), (1, 1), name="wall")
    >>> enc = encode(Problem(square, -laplacian(u) - 1, {"wall": Dirichlet(0)}), resolution=64)
    >>> enc.channels().shape, enc.coefficients.tolist(), enc.scale
    ((9, 64, 64), [0.0, 0.0, 0.0, -2.0, -2.0, 0.0], 0.5)
    """
    where = f"encode({problem.name!r})" if getattr(problem, "name", None) else "encode"
    _check_family(problem, where)
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 8:
        raise ValueError(f"{where}: resolution must be an integer >= 8, got {resolution!r}")
    for nm, v in (("n_interior", n_interior), ("n_boundary", n_boundary)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 3:
            raise ValueError(f"{where}: {nm} must be an integer >= 3, got {v!r}")
    R = int(resolution)
    timed = problem.is_time_dependent
    c_phys = _physical_coefficients(problem, where)

    # (a) affine map of the bounding box
    lo, hi = (np.asarray(v, float).ravel() for v in problem.domain.bounds)
    if timed:
        lo, hi = np.array([lo[0], problem.time[0]]), np.array([hi[0], problem.time[1]])
    half = (hi - lo) / 2
    sx, sy = half
    jac = np.array([1.0, 1 / sx, 1 / sy, 1 / sx**2, 1 / sy**2, 1 / (sx * sy)])
    c_ref = c_phys * jac
    # (b) one positive factor for the whole equation
    top = np.max(np.abs(c_ref))
    if top == 0:
        _refuse(where, "every coefficient of the operator is zero")
    scale = COEFFICIENT_BOUND / top
    coefficients = c_ref * scale
    center = (lo + hi) / 2

    def phys(X):
        return center + half * X

    f = _compiled(problem.canonical.f, timed)

    # (d) rasters
    g1 = np.linspace(-1.0, 1.0, R)
    GX, GY = np.meshgrid(g1, g1)
    grid = np.stack([GX.ravel(), GY.ravel()], 1)
    if timed:
        inside = np.ones(R * R, bool)
    else:
        inside = _inside(problem.domain, phys(grid))
    fr = np.zeros(R * R)
    fr[inside] = _finite(scale * f(phys(grid[inside])), "the source f", where)
    source = (np.sign(fr) * np.log1p(np.abs(fr))).reshape(R, R).astype(np.float32)
    domain_mask = inside.reshape(R, R).astype(np.float32)

    if timed:   # evenly spaced, 8 per pixel and on every pixel centre of the three edges
        n_r = 3 * (8 * (R - 1) + 1)
    else:
        perim = sum(pc.measure for pc, _ in problem.domain.pieces)
        n_r = int(np.ceil(8 * perim / np.min(half) * (R - 1) / 2)) + 64
    Pb, Nb, Db, Tb, Kb, Ab, Gb = _boundary(problem, n_r, seed + 1, half, regular=timed)
    Xb = (Pb - center) / half
    _finite(Gb, "the boundary data", where)
    _finite(Ab, "the Robin alpha", where)
    r = {}
    for kd, nm in ((DIRICHLET, "dirichlet"), (NEUMANN, "neumann"), (ROBIN, "robin")):
        sel = Kb == kd
        vals = [Gb[sel]] + ([Ab[sel]] if kd == ROBIN else [])
        r[nm] = _rasterise(Xb[sel], vals, R) if sel.any() else (
            np.zeros((R, R), np.float32), [np.zeros((R, R), np.float32) for _ in vals])

    # (e) point sets
    if timed:
        rng = np.random.default_rng(seed)
        interior = rng.uniform(-1, 1, (n_interior, 2))
    else:
        interior = (problem.domain.sample_interior(n_interior, seed=seed) - center) / half
    fi = _finite(scale * f(phys(interior)), "the source f", where)
    P, N, D, T, K, A, G = _boundary(problem, n_boundary, seed + 2, half)
    _finite(G, "the boundary data", where)
    _finite(A, "the Robin alpha", where)
    cosang = np.clip(np.sum(N * D, axis=1), -1, 1)
    obl = float(np.max(np.arccos(cosang[K != DIRICHLET]))) if np.any(K != DIRICHLET) else 0.0
    return Encoding(
        coefficients=coefficients, physical_coefficients=c_phys, scale=float(scale), lo=lo, hi=hi,
        resolution=R, is_time_dependent=timed, time_order=int(problem.time_order),
        domain_mask=domain_mask,
        dirichlet_mask=r["dirichlet"][0], dirichlet_value=r["dirichlet"][1][0],
        neumann_mask=r["neumann"][0], neumann_value=r["neumann"][1][0],
        robin_mask=r["robin"][0], robin_value=r["robin"][1][0], robin_alpha=r["robin"][1][1],
        source=source, interior=interior, interior_source=fi,
        boundary_points=(P - center) / half, boundary_normals=N, boundary_directions=D,
        boundary_kind=K, boundary_alpha=A, boundary_g=G, boundary_tags=np.asarray(T, str),
        max_obliquity=obl, name=problem.name,
        info={"n_raster_samples": int(n_r), "seed": int(seed)},
    )
