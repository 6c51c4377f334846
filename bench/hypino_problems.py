"""The seven public HyPINO benchmark problems, written with our API, and their references.

    from hypino_problems import PROBLEMS, reference, grid_error      # run from bench/
    problem, exact = PROBLEMS["poisson_L"]
    ref = reference("poisson_L")              # (224, 224) on the grid, NaN outside the domain
    grid_error("poisson_L", lambda pts: my_solver(pts))   # {'rel_l2': ..., 'mse': ..., ...}

``PROBLEMS = {name: (problem, exact_or_None)}`` as in ../shared/PRIOR_ART.md. Time problems
are 1D + time; their grid points are ``(x, t)``. poisson_G's source (not fixed by the paper's
table) is four Gaussians ``A exp(-|p - c|^2 / (2 s^2))`` chosen here:

    centre        A     s
    (-0.5, -0.5)  100   0.10
    ( 0.5,  0.5)  100   0.15
    (-0.5,  0.5)  100   0.20
    ( 0.5, -0.4)  100   0.08

References: the exact solution where there is one (wave, helmholtz, heat); otherwise P2
finite elements with h = 0.01 (``fem.solve``), evaluated on the 224 x 224 grid
(``linspace`` over the bounding box, both ends included, row = y) and cached in
``runs/references/NAME.npz`` (recomputed when the problem text or the mesh size changes).
Errors are over the grid points inside the domain: ``rel_l2 = ||u - ref|| / ||ref||``,
``mse``, ``mae``, ``max``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import sympy as sp

from geometries import Disk, Interval, Rectangle
from manufactured import Dirichlet, Problem, laplacian, t, u, x, y

pi = sp.pi
GRID = 224
FE_H = 0.01
FE_ORDER = 2
CACHE = Path(__file__).resolve().parents[1] / "runs" / "references"

GAUSSIANS = [((-0.5, -0.5), 100.0, 0.10), ((0.5, 0.5), 100.0, 0.15),
             ((-0.5, 0.5), 100.0, 0.20), ((0.5, -0.4), 100.0, 0.08)]


def _square(name="square"):
    return Rectangle((-1, -1), (1, 1), name=name)


def _problems():
    P = {}
    # poisson_C: -Δu = 0, square minus four disks r = 0.2 at (±0.6, ±0.6); u = 1 / u = 0
    d = _square()
    for cx in (-0.6, 0.6):
        for cy in (-0.6, 0.6):
            d = d - Disk((cx, cy), 0.2, name="circles")
    P["poisson_C"] = (Problem(d, -laplacian(u), {"square": Dirichlet(1), "circles": Dirichlet(0)},
                              name="poisson_C"), None)
    # helmholtz_G: -Δu + 64 u = 10 (17 + x^2 + y^2) sin(πx) sin(4πy), four holes
    d = _square()
    for c, r in (((0.5, 0.5), 0.2), ((0.4, -0.4), 0.4), ((-0.2, -0.7), 0.1), ((-0.6, 0.5), 0.3)):
        d = d - Disk(c, r, name="circles")
    f = 10 * (17 + x**2 + y**2) * sp.sin(pi * x) * sp.sin(4 * pi * y)
    P["helmholtz_G"] = (Problem(d, -laplacian(u) + 64 * u - f,
                                {"square": Dirichlet(sp.Rational(1, 5)), "circles": Dirichlet(1)},
                                name="helmholtz_G"), None)
    # wave: u_tt = 4 u_xx on [0, 1] x [0, 1]
    iv = Interval(0, 1)
    P["wave"] = (Problem(iv, sp.diff(u, t, 2) - 4 * laplacian(u),
                         {"left": Dirichlet(0), "right": Dirichlet(0)}, time=(0, 1),
                         initial={"u": sp.sin(pi * x) + sp.sin(4 * pi * x) / 2, "u_t": 0}, name="wave"),
                 sp.sin(pi * x) * sp.cos(2 * pi * t) + sp.sin(4 * pi * x) * sp.cos(8 * pi * t) / 2)
    # helmholtz: Δu + u = (1 - 17π^2) sin(πx) sin(4πy), u = 0
    P["helmholtz"] = (Problem(_square(), laplacian(u) + u - (1 - 17 * pi**2) * sp.sin(pi * x) * sp.sin(4 * pi * y),
                              {"square": Dirichlet(0)}, name="helmholtz"),
                      sp.sin(pi * x) * sp.sin(4 * pi * y))
    # poisson_L: -Δu = 1 on [-1, 1]^2 minus [0, 1]^2, u = 0
    d = Rectangle((-1, -1), (1, 1), name="wall") - Rectangle((0, 0), (1, 1), name="wall")
    P["poisson_L"] = (Problem(d, -laplacian(u) - 1, {"wall": Dirichlet(0)}, name="poisson_L"), None)
    # poisson_G: -Δu = sum of four Gaussians, u = 0
    g = sum(A * sp.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s**2)) for (cx, cy), A, s in GAUSSIANS)
    P["poisson_G"] = (Problem(_square(), -laplacian(u) - g, {"square": Dirichlet(0)}, name="poisson_G"), None)
    # heat: u_t = 0.1 u_xx on [0, 1] x [0, 1]
    P["heat"] = (Problem(iv, sp.Eq(sp.diff(u, t), sp.Rational(1, 10) * laplacian(u)),
                         {"left": Dirichlet(0), "right": Dirichlet(0)}, time=(0, 1),
                         initial={"u": sp.sin(pi * x)}, name="heat"),
                 sp.exp(-pi**2 * t / 10) * sp.sin(pi * x))
    return P


PROBLEMS = _problems()
NAMES = tuple(PROBLEMS)


def _check(name):
    if name not in PROBLEMS:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(NAMES)}")
    return PROBLEMS[name]


def grid(name, n=GRID):
    """``(points (n*n, 2), inside (n*n,) bool)`` over the bounding box (``(x, t)`` for time
    problems); row-major with y (or t) the slow index."""
    return problem_grid(_check(name)[0], n)


def problem_grid(problem, n=GRID):
    """:func:`grid` of any Problem."""
    lo, hi = (np.asarray(v, float) for v in problem.domain.bounds)
    if problem.is_time_dependent:
        lo, hi = np.array([lo[0], problem.time[0]]), np.array([hi[0], problem.time[1]])
    X, Y = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    pts = np.stack([X.ravel(), Y.ravel()], 1)
    if problem.is_time_dependent:
        return pts, np.ones(len(pts), bool)
    return pts, _inside(problem.domain, pts)


def exact_values(problem, exact, pts):
    """The sympy expression ``exact`` (in x, y or x, t) at the points (N, 2), as floats."""
    fn = sp.lambdify((x, t if problem.is_time_dependent else y), exact, "numpy")
    return np.broadcast_to(fn(pts[:, 0], pts[:, 1]), (len(pts),)).astype(float)


def _inside(domain, pts):
    """Points of the closed domain that touch its interior (drops, e.g., the L-shape's
    cut-out edges that lie on the outer box, which ``contains`` reports as inside)."""
    eps = 1e-9 * domain.diameter
    near = np.zeros(len(pts), bool)
    for d in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        near |= domain.contains(pts + eps * np.array(d), tol=-1e-13 * domain.diameter)
    return domain.contains(pts) & near


def _key(problem):
    text = f"{problem!r}|h={FE_H}|order={FE_ORDER}|grid={GRID}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reference(name, verbose=True):
    """Reference values (GRID, GRID) on the grid of :func:`grid`, NaN outside the domain."""
    problem, exact = _check(name)
    pts, inside = grid(name)
    if exact is not None:
        vals = np.full(len(pts), np.nan)
        vals[inside] = exact_values(problem, exact, pts[inside])
        return vals.reshape(GRID, GRID)
    path = CACHE / f"{name}.npz"
    key = _key(problem)
    if path.exists():
        with np.load(path) as z:
            if str(z["key"]) == key:
                return z["values"]
    import fem

    t0 = time.perf_counter()
    sol = fem.solve(problem, h=FE_H, order=FE_ORDER)
    vals = np.full(len(pts), np.nan)
    vals[inside] = sol(pts[inside])
    missing = inside & np.isnan(vals)
    if missing.any():
        raise RuntimeError(f"{name}: {int(missing.sum())} grid points inside the domain were not "
                           "located in the FE mesh")
    vals = vals.reshape(GRID, GRID)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, values=vals, key=np.array(key), n_dofs=sol.n_dofs,
             seconds=time.perf_counter() - t0)
    tmp.replace(path)
    if verbose:
        print(f"[reference] {name}: P{FE_ORDER} h={FE_H}, {sol.n_dofs} DOFs, "
              f"{time.perf_counter() - t0:.1f} s -> {path}")
    return vals


def grid_error(name, predict):
    """Errors of ``predict(points (N, 2)) -> (N,)`` against :func:`reference` on the grid
    points inside the domain: dict ``rel_l2, mse, mae, max``."""
    pts, inside = grid(name)
    ref = reference(name).ravel()[inside]
    val = np.asarray(predict(pts[inside]), dtype=float).ravel()
    if val.shape != ref.shape:
        raise ValueError(f"predict returned shape {val.shape}, expected ({ref.size},)")
    e = val - ref
    return {"rel_l2": float(np.linalg.norm(e) / np.linalg.norm(ref)), "mse": float(np.mean(e**2)),
            "mae": float(np.mean(np.abs(e))), "max": float(np.max(np.abs(e)))}


if __name__ == "__main__":
    for nm in NAMES:
        r = reference(nm)
        print(f"{nm:12s} max|ref| = {np.nanmax(np.abs(r)):.4f}  NaN outside: {int(np.isnan(r).sum())}")
