"""Zero-shot HyPINO on random problems of the seven benchmarks' kinds (not the seven).

    python bench/hypino_kinds.py --models hypino runs/hypino27 [--per-kind 8] [--seed 0]
    python bench/hypino_kinds.py --models hypino+runs/hypino22      # the mean of two answers
    python bench/hypino_kinds.py --models runs/hypino37@1.2 hypino  # a model at another amplitude
    python bench/hypino_kinds.py --models hypino hypino:nolift      # with and without the Dirichlet lift
    python bench/hypino_kinds.py --by-holes runs/k_s2.npz 2 --by-holes runs/k_s3.npz 3 --per-kind 32

A validation set for choosing between models that is closer to what the seven ask than the
held-out manufactured problems are, while keeping the seven out of the choice. Each kind
is a random family drawn from ``--seed``; no instance is one of the seven:

- ``holes``: -Δu = 0 on the square [-1, 1]^2 minus 1-4 random disks, u = a on the square,
  u = b on the disks (constants, |a - b| >= 0.5);
- ``notch``: -Δu = c (|c| in [0.5, 2]) on the square minus a rectangle cut flush from a random
  corner (L-shapes of random proportions), u = 0;
- ``gauss``: -Δu = a sum of 1-4 Gaussians of random centres, widths 0.08-0.25 and
  amplitudes 30-100 (negative with probability 0.3), u = 0 on the square;
- ``heat``: u_t = k u_xx on [0, 1] x [0, 1], k in [0.02, 0.3], u(x, 0) = sin(πx) plus,
  with probability 1/2, a multiple of sin(2πx); u = 0 at both ends (exact solution);
- ``helm``: Δu + c u = f on the square with exact solution sin(aπx) sin(bπy), a, b in {1, 2},
  c in [-2, 2], u = 0.

Each problem is answered by ``pino.solve(problem, method="hypino", model=M)`` (the
zero-shot row of bench/hypino_benchmarks.py) and compared on a 96 x 96 grid over the
bounding box (points inside the domain) with the exact solution or P2 finite elements at
h = 0.025. Prints the median relative L2 of each kind (and its quartiles: how much one instance
of a kind, such as one of the seven, can differ from the kind's median), the score: the
mean of the five medians (lower is better), and the smooth upper-quartile score: the mean
of the 75th percentiles of ``holes``, ``notch``, ``gauss`` and ``heat`` (the seven's median
is the worst of their four smooth problems, poisson_C, poisson_L, poisson_G and heat, while
helmholtz, helmholtz_G and wave sit far above 0.1; and single instances have sat above their
kinds' medians). ``MODEL@A`` evaluates a model with its normalisation target (``amplitude``)
set to A; ``MODEL:nolift`` answers without the Dirichlet lift (``lift=False``; the default
answer has it where it applies, :mod:`pino._lift`); ``--save FILE.npz`` keeps every problem's error (key ``MODEL|kind``).
``--by-holes FILE SEED`` (repeatable; the ``--per-kind`` of those runs) reads saved errors
instead and prints each model's median ``holes`` error by the number of disks.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import sympy as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fem  # noqa: E402
import pino  # noqa: E402
from geometries import Difference, Disk, Interval, Rectangle  # noqa: E402
from hypino_problems import exact_values, problem_grid  # noqa: E402
from manufactured import Dirichlet, Problem, laplacian, t, u, x, y  # noqa: E402
from pino._hypino import _positive_amplitude, load_hypino  # noqa: E402

KINDS = ("holes", "notch", "gauss", "heat", "helm")
#: the kinds of the seven's smooth problems (poisson_C, poisson_L, poisson_G, heat)
SMOOTH = ("holes", "notch", "gauss", "heat")
GRID = 96
FE_H = 0.025
pi = sp.pi


def _square(name="square"):
    return Rectangle((-1, -1), (1, 1), name=name)


def _disks(rng, k):
    out = []
    while len(out) < k:
        r = rng.uniform(0.1, 0.35)
        c = rng.uniform(-0.9 + r, 0.9 - r, 2)
        if all(np.hypot(*(c - c2)) > r + r2 + 0.1 for c2, r2 in out):
            out.append((c, r))
    return out


def draw(kind, rng):
    """``(problem, exact or None)`` of one random problem of ``kind``."""
    if kind == "holes":
        d = _square()
        for c, r in _disks(rng, int(rng.integers(1, 5))):
            d = d - Disk(tuple(round(float(v), 3) for v in c), round(float(r), 3), name="disks")
        a = rng.uniform(-1, 1)
        b = a + rng.choice([-1, 1]) * rng.uniform(0.5, 1.5)
        a, b = (sp.Rational(round(v * 100), 100) for v in (a, b))
        return Problem(d, -laplacian(u), {"square": Dirichlet(a), "disks": Dirichlet(b)}, name=kind), None
    if kind == "notch":
        w, h = (round(float(v), 2) for v in rng.uniform(0.6, 1.4, 2))
        sx, sy = rng.choice([-1, 1], 2)
        cut = Rectangle((min(sx, sx - sx * w), min(sy, sy - sy * h)), (max(sx, sx - sx * w), max(sy, sy - sy * h)),
                        name="wall")
        c = sp.Rational(round(rng.choice([-1, 1]) * rng.uniform(0.5, 2) * 100), 100)
        return Problem(_square("wall") - cut, -laplacian(u) - c, {"wall": Dirichlet(0)}, name=kind), None
    if kind == "gauss":
        g = 0
        for _ in range(int(rng.integers(1, 5))):
            cx, cy = (sp.Rational(round(v * 100), 100) for v in rng.uniform(-0.6, 0.6, 2))
            s = sp.Rational(round(rng.uniform(0.08, 0.25) * 100), 100)
            A = int(round(rng.uniform(30, 100))) * (-1 if rng.random() < 0.3 else 1)
            g += A * sp.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s**2))
        return Problem(_square(), -laplacian(u) - g, {"square": Dirichlet(0)}, name=kind), None
    if kind == "heat":
        k = sp.Rational(round(rng.uniform(0.02, 0.3) * 100), 100)
        a2 = sp.Rational(round(rng.uniform(-1, 1) * 10), 10) if rng.random() < 0.5 else 0
        u0 = sp.sin(pi * x) + a2 * sp.sin(2 * pi * x)
        exact = sp.exp(-k * pi**2 * t) * sp.sin(pi * x) + a2 * sp.exp(-4 * k * pi**2 * t) * sp.sin(2 * pi * x)
        return Problem(Interval(0, 1), sp.Eq(sp.diff(u, t), k * laplacian(u)),
                       {"left": Dirichlet(0), "right": Dirichlet(0)}, time=(0, 1), initial={"u": u0},
                       name=kind), exact
    if kind == "helm":
        a, b = (int(v) for v in rng.integers(1, 3, 2))
        c = sp.Rational(round(rng.uniform(-2, 2) * 100), 100)
        exact = sp.sin(a * pi * x) * sp.sin(b * pi * y)
        f = (c - (a**2 + b**2) * pi**2) * exact
        return Problem(_square(), laplacian(u) + c * u - f, {"square": Dirichlet(0)}, name=kind), exact
    raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")


def reference(problem, exact):
    """``(points inside, reference values)`` on the GRID x GRID grid over the bounding box."""
    pts, inside = problem_grid(problem, GRID)
    pts = pts[inside]
    if exact is not None:
        return pts, exact_values(problem, exact, pts)
    vals = fem.solve(problem, h=FE_H, order=2)(pts)
    if np.isnan(vals).any():
        raise RuntimeError(f"{problem.name}: {int(np.isnan(vals).sum())} grid points inside the domain "
                           "were not located in the FE mesh")
    return pts, vals


def suite(seed=0, per_kind=8, kinds=KINDS):
    """``{kind: [(problem, points, reference), ...]}`` of ``kinds``, deterministic from ``seed``
    (a kind's problems do not depend on which other kinds are asked for)."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"suite: unknown kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
    out = {}
    for i, kind in enumerate(KINDS):
        if kind not in kinds:
            continue
        rng = np.random.default_rng([seed, i])
        out[kind] = [(p, *reference(p, e)) for p, e in (draw(kind, rng) for _ in range(per_kind))]
    return out


def errors(models, problems, **options):
    """``{kind: array of relative L2}`` of the zero-shot answers of a model (or of the mean
    of the answers of a list of models: an ensemble); ``options`` go to ``pino.solve``."""
    models = models if isinstance(models, list) else [models]
    out = {}
    for kind, items in problems.items():
        errs = []
        for problem, pts, ref in items:
            val = np.mean([np.asarray(pino.solve(problem, method="hypino", model=m, **options).network(pts),
                                      float).ravel()
                           for m in models], axis=0)
            errs.append(np.linalg.norm(val - ref) / np.linalg.norm(ref))
        out[kind] = np.array(errs)
    return out


def solve_options(spec):
    """The ``pino.solve`` options of a spec: ``{"lift": False}`` for ``...:nolift``."""
    return {"lift": False} if spec.endswith(":nolift") else {}


def load_spec(spec):
    """The models of ``"A+B@1.2"``-style specs: ``+`` joins an ensemble, ``@A`` sets each
    one's ``amplitude`` (a positive number); a ``:nolift`` suffix is read by :func:`solve_options`."""
    name, _, amp = spec.removesuffix(":nolift").partition("@")
    try:
        models = [load_hypino(m, device="cpu") for m in name.split("+")]
    except ValueError as exc:
        raise SystemExit(f"--models {spec}: {exc}") from None
    if amp:
        try:
            value = _positive_amplitude(float(amp), f"--models {spec}")
        except ValueError:
            raise SystemExit(f"--models {spec}: the amplitude after '@' must be a positive number, "
                             f"got {amp!r}") from None
        for m in models:
            m.amplitude = value
    return models


def hole_counts(seed, per_kind):
    """The number of disks of each ``holes`` problem of ``suite(seed, per_kind)`` (drawn again,
    no references)."""
    rng = np.random.default_rng([seed, KINDS.index("holes")])
    counts = []
    for _ in range(per_kind):
        d, k = draw("holes", rng)[0].domain, 0
        while isinstance(d, Difference):
            d, k = d.a, k + 1
        counts.append(k)
    return np.array(counts)


def by_holes(runs, per_kind):
    """``{model: {disks: median holes error}}`` over saved runs ``[(npz file, seed), ...]``."""
    counts, errs = [], {}
    for path, seed in runs:
        try:
            z = np.load(path)
        except OSError as exc:
            raise SystemExit(f"--by-holes {path}: cannot read it ({exc}); give a file of --save") from None
        try:
            seed = int(seed)
        except ValueError:
            raise SystemExit(f"--by-holes {path} {seed}: the seed must be an integer (the --seed of that run)") from None
        counts.append(hole_counts(seed, per_kind))
        for key in z.files:
            model, _, kind = key.rpartition("|")
            if kind == "holes":
                v = z[key]
                if len(v) != per_kind:
                    raise SystemExit(f"--by-holes {path}: {len(v)} holes problems, not --per-kind "
                                     f"{per_kind}; give the --per-kind of that run")
                errs.setdefault(model, {})[path] = v
    H = np.concatenate(counts)
    out = {}
    for model, got in errs.items():
        if len(got) == len(runs):
            E = np.concatenate([got[path] for path, _ in runs])
            out[model] = {int(k): float(np.median(E[H == k])) for k in np.unique(H)}
    return out


def smooth_score(errs):
    """Mean of the 75th percentiles of the smooth kinds (:data:`SMOOTH`)."""
    return float(np.mean([np.percentile(errs[k], 75) for k in SMOOTH]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["hypino"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-kind", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save", default=None, help="npz file for every problem's error")
    ap.add_argument("--by-holes", nargs=2, action="append", metavar=("FILE", "SEED"),
                    help="read a --save file of that seed; print medians by number of disks")
    a = ap.parse_args(argv)
    if a.by_holes:
        table = by_holes(a.by_holes, a.per_kind)
        if not table:
            raise SystemExit("--by-holes: no model has holes errors in every file given")
        ks = sorted(next(iter(table.values())))
        print("| model | " + " | ".join(f"{k} disk{'s' * (k > 1)}" for k in ks) + " |")
        print("|---|" + "---|" * len(ks))
        for model, med in table.items():
            print(f"| {model} | " + " | ".join(f"{med[k]:.3f}" for k in ks) + " |")
        return
    torch.set_num_threads(a.threads)
    loaded = [load_spec(name) for name in a.models]      # bad specs fail before the suite is built
    t0 = time.perf_counter()
    problems = suite(a.seed, a.per_kind)
    print(f"# {a.per_kind} problems per kind, seed {a.seed}, references in {time.perf_counter() - t0:.0f} s",
          flush=True)
    print("| model | " + " | ".join(f"{k} median (quartiles)" for k in KINDS) +
          " | score (mean of medians) | smooth upper-quartile score | seconds |")
    print("|---|" + "---|" * (len(KINDS) + 3))
    saved = {}
    for name, models in zip(a.models, loaded):
        t0 = time.perf_counter()
        errs = errors(models, problems, **solve_options(name))
        med = [float(np.median(errs[k])) for k in KINDS]
        q = [np.percentile(errs[k], [25, 75]) for k in KINDS]
        print(f"| {name} | " + " | ".join(f"{m:.3f} ({a:.3f}-{b:.3f})" for m, (a, b) in zip(med, q)) +
              f" | {np.mean(med):.4f} | {smooth_score(errs):.4f} | {time.perf_counter() - t0:.0f} |", flush=True)
        saved.update({f"{name}|{k}": v for k, v in errs.items()})
        if a.save:
            np.savez(a.save, **saved)


if __name__ == "__main__":
    main()
