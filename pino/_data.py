"""Datasets of FE solutions for a Problem family: random fields in, FE solutions out.

A dataset is a folder readable without this package: ``config.json`` (what, seed, sizes)
and ``part_XXXXX.npz`` chunks, written atomically as they finish, so an interrupted run
resumes where it stopped. Member ``i`` is drawn from ``numpy.random.default_rng([seed, i])``
alone, so a dataset is reproducible from its config whatever the number of workers.

>>> from pino import darcy_dataset, load_dataset           # doctest: +SKIP
>>> darcy_dataset("data/darcy", n=64, resolutions=(16, 32))  # doctest: +SKIP
>>> load_dataset("data/darcy")["u16"].shape                  # doctest: +SKIP
(64, 17, 17)
"""

import json
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import scipy.fft
import skfem
import sympy as sp

import fem
from geometries import Disk, Rectangle
from manufactured import Dirichlet, Neumann, Problem, div, grad, u, x, y


def gaussian_random_field(n, rng, alpha=2.0, tau=3.0):
    """A sample of N(0, (-Δ + τ²)^(-α)) with Neumann conditions on the unit square, on
    the (n+1) x (n+1) vertex grid (``[i, j]`` is x_i, y_j), as in the FNO Darcy data."""
    k = np.arange(n + 1)
    lam = np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2) + tau**2
    coef = rng.standard_normal((n + 1, n + 1)) * lam ** (-alpha / 2)
    coef[0, 0] = 0.0
    return scipy.fft.idctn(coef, type=1, norm="ortho") * (n + 1)


def darcy_problem():
    """The Darcy family of the FNO paper: -div(a grad u) = 1 on the unit square, u = 0."""
    a = sp.Function("a")(x, y)
    return Problem(Rectangle((0, 0), (1, 1), name="wall"), -div(a * grad(u)) - 1,
                   {"wall": Dirichlet(0)}, name="darcy")


def darcy_coefficient(grf):
    """12 where the field is positive, 3 elsewhere."""
    return np.where(grf > 0, 12.0, 3.0)


def grid_mesh(n):
    """The n x n-cell P1 triangle mesh of the unit square whose vertex k is grid point
    ``(k // (n+1), k % (n+1))``: a grid array ``g[i, j]`` is ``g.ravel()`` as DOFs."""
    s = np.linspace(0, 1, n + 1)
    m = skfem.MeshTri.init_tensor(s, s)
    return m.with_boundaries({"wall": m.boundary_facets()})


class _Darcy:
    """Solves members of the Darcy family at several grid resolutions."""

    def __init__(self, seed, resolutions):
        self.seed, self.resolutions = seed, tuple(resolutions)
        self.finest = max(self.resolutions)
        self.solvers = {n: fem.FamilySolver(darcy_problem(), grid_mesh(n))
                        for n in self.resolutions}

    def __call__(self, i):
        rng = np.random.default_rng([self.seed, i])
        a = darcy_coefficient(gaussian_random_field(self.finest, rng))
        out = {f"a{self.finest}": a.astype(np.float32)}
        for n in self.resolutions:
            step = self.finest // n
            an = a[::step, ::step]
            out[f"u{n}"] = self.solvers[n](a=an.ravel()).reshape(n + 1, n + 1).astype(np.float32)
        return out


def holes_problem():
    """A second family: -div(a grad u) = 1 on the unit square minus two disks; u = 0 on
    the outer boundary, du/dn = 0 on the holes."""
    a = sp.Function("a")(x, y)
    domain = (Rectangle((0, 0), (1, 1), name="outer") - Disk((0.3, 0.6), 0.15, name="holes")
              - Disk((0.68, 0.35), 0.12, name="holes"))
    return Problem(domain, -div(a * grad(u)) - 1,
                   {"outer": Dirichlet(0), "holes": Neumann(0)}, name="holes")


class _Holes:
    """Members of the holed family on a mesh (P1), the coefficient from a field on the
    bounding box grid, bilinearly interpolated to the mesh vertices."""

    def __init__(self, seed, h, refine, grid):
        self.seed, self.grid = seed, grid
        problem = holes_problem()
        self.mesh = problem.domain.mesh(h=h, refine=refine)
        self.solver = fem.FamilySolver(problem, self.mesh)

    def __call__(self, i):
        from scipy.interpolate import RegularGridInterpolator

        rng = np.random.default_rng([self.seed, i])
        a = darcy_coefficient(gaussian_random_field(self.grid, rng))
        s = np.linspace(0, 1, self.grid + 1)
        a_mesh = RegularGridInterpolator((s, s), a)(self.mesh.p.T)
        return {"a": a_mesh.astype(np.float32),
                "u": self.solver(a=a_mesh).astype(np.float32),
                f"a_grid{self.grid}": a.astype(np.float32)}


_FAMILIES = {"darcy": _Darcy, "holes": _Holes}
_worker = None


def _init(kind, kwargs):
    global _worker
    _worker = _FAMILIES[kind](**kwargs)


def _run(indices):
    return indices, [_worker(i) for i in indices]


def _atomic_save(path, arrays):
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def generate(path, kind, n, seed=0, workers=None, chunk=50, progress=True, **kwargs):
    """Generate (or resume) ``n`` members of family ``kind`` into the folder ``path``."""
    if kind not in _FAMILIES:
        raise ValueError(f"unknown dataset family {kind!r}; choose one of {sorted(_FAMILIES)}")
    if not (isinstance(n, int) and n > 0):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    os.makedirs(path, exist_ok=True)
    config = {"family": kind, "n": n, "seed": seed, "chunk": chunk, **kwargs}
    cfg_path = os.path.join(path, "config.json")
    if os.path.exists(cfg_path):
        with open(cfg_path) as fh:
            old = json.load(fh)
        if old != config:
            raise ValueError(f"{path} holds a dataset with another config ({old}); "
                             "choose another folder or delete it")
    else:
        with open(cfg_path + ".tmp", "w") as fh:
            json.dump(config, fh, indent=1)
        os.replace(cfg_path + ".tmp", cfg_path)
    todo = [list(range(s, min(s + chunk, n))) for s in range(0, n, chunk)
            if not os.path.exists(os.path.join(path, f"part_{s // chunk:05d}.npz"))]
    workers = workers or min(os.cpu_count() or 1, 2)
    kwargs = {"seed": seed, **kwargs}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, initial=n - sum(map(len, todo)), desc=f"{kind} dataset", unit="member")

    def save(indices, members):
        arrays = {k: np.stack([m[k] for m in members]) for k in members[0]}
        _atomic_save(os.path.join(path, f"part_{indices[0] // chunk:05d}.npz"), arrays)
        if bar is not None:
            bar.update(len(indices))

    if workers == 1:
        _init(kind, kwargs)
        for idx in todo:
            save(*_run(idx))
    else:
        with ProcessPoolExecutor(workers, initializer=_init, initargs=(kind, kwargs)) as ex:
            for idx, members in ex.map(_run, todo):
                save(idx, members)
    if bar is not None:
        bar.close()
    return path


def darcy_dataset(path, n=1000, resolutions=(32, 64), seed=0, **options):
    """Darcy members at the given grid resolutions (cells per side); each member's
    coefficient is drawn on the finest grid and subsampled for the coarser ones."""
    res = sorted(int(r) for r in resolutions)
    if any(res[-1] % r for r in res):
        raise ValueError(f"resolutions must divide the finest one, got {resolutions}")
    return generate(path, "darcy", n, seed=seed, resolutions=res, **options)


def holes_dataset(path, n=500, h=0.1, refine=1, grid=64, seed=0, **options):
    """Members of the holed family on one mesh (``h``, ``refine``) with fields on a grid."""
    return generate(path, "holes", n, seed=seed, h=h, refine=refine, grid=grid, **options)


def load_dataset(path):
    """All arrays of a dataset folder, concatenated over its parts, plus ``config``."""
    cfg_path = os.path.join(path, "config.json")
    if not os.path.exists(cfg_path):
        raise ValueError(f"{path} is not a dataset folder (no config.json); make one with "
                         "darcy_dataset(...) or holes_dataset(...)")
    with open(cfg_path) as fh:
        config = json.load(fh)
    parts = sorted(f for f in os.listdir(path) if f.startswith("part_") and f.endswith(".npz")
                   and ".tmp" not in f)
    expected = -(-config["n"] // config["chunk"])
    if len(parts) != expected:
        raise ValueError(f"{path} is incomplete ({len(parts)} of {expected} parts); run the "
                         "same generation again to resume it")
    data = {}
    for p in parts:
        with np.load(os.path.join(path, p)) as z:
            for k in z.files:
                data.setdefault(k, []).append(z[k])
    out = {k: np.concatenate(v) for k, v in data.items()}
    out["config"] = config
    return out
