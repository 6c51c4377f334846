"""The Dirichlet lift of zero-shot answers (:mod:`pino._lift`) on held-out problems of the
training distribution: with and without it, through ``pino.solve``.

    python bench/hypino_lift.py [--model hypino] [--per-set 32] [--threads 2]

The ten held-out sets of ``bench/hypino_normalise.py`` (:data:`HELDOUT_SETS`, validation
seeds 0 and 1: manufactured and physics-only problems in HyPINO's domains and with up to 4
holes, physics-only ones with zero sources; Dirichlet, Neumann and Robin parts mixed), the
first ``--per-set`` problems of each, built as Problems (``sample.problem()``). For each set:
the mean relative L2 at the sample's interior points against the exact u (manufactured) or
the FEM label (physics-only, :func:`pino._hypino.fem_label`) of ``pino.solve(problem,
method="hypino", lift=False)`` and of the default answer (the lift where it applies: steady,
elliptic, some Dirichlet data), and how many problems had the lift. Last row: the sums.

    python bench/hypino_lift.py --kinds notch gauss holes [--seed 2] [--per-kind 12] [--soften 0 4]

instead looks at random problems of the kinds of ``bench/hypino_kinds.py`` (their grid and
references): median and 75th percentile of the relative L2 without the lift, with it (at each
``--soften``, :data:`pino._lift.SOFTEN` set to that value; the default's when not given) and
with the exact harmonic extension of the network's boundary error added instead (P1 FEM on
``h = 0.02``: the best that any correction of the boundary values alone can do for the
Laplacian), and the median RMS PDE residual of each answer (``info["residual"]["pde"]``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hypino_kinds  # noqa: E402
from hypino_normalise import HELDOUT_SETS  # noqa: E402

import fem  # noqa: E402
import pino  # noqa: E402
import pino._lift  # noqa: E402
from manufactured import random_problem  # noqa: E402
from pino._hypino import _PHYSICS_OFFSET, _VAL_KINDS, _VAL_OFFSET, domain_family, fem_label, load_hypino  # noqa: E402


def heldout_problems(seed, n, physics, family):
    """``[(problem, points, reference u)]``: the first ``n`` held-out problems of
    ``pino._hypino._validation(seed, n, physics=physics, family=family)``, as Problems."""
    fam = domain_family(family)
    out = []
    for i in range(n):
        if physics:
            s = random_problem((seed + _VAL_OFFSET, _PHYSICS_OFFSET + i), "physics", n_interior=1024,
                               n_boundary=16, **fam)
            ref = fem_label(s)
            if ref is None:
                continue
        else:
            s = random_problem((seed + _VAL_OFFSET, i), _VAL_KINDS[i % len(_VAL_KINDS)], n_interior=1024,
                               n_boundary=16, **fam)
            ref = s.derivatives[:, 0]
        ok = np.isfinite(ref)
        out.append((s.problem(), s.interior[ok], ref[ok]))
    return out


def compare(model, items):
    """Relative L2 without and with the lift (arrays) and the number of problems lifted."""
    rows, lifted = [], 0
    for problem, pts, ref in items:
        e = []
        for lift in (False, None):
            sol = pino.solve(problem, method="hypino", model=model, lift=lift)
            e.append(np.linalg.norm(sol.network(pts) - ref) / np.linalg.norm(ref))
        lifted += bool(sol.info["lift"])
        rows.append(e)
    E = np.array(rows)
    return E[:, 0], E[:, 1], lifted


def harmonic_fix(problem, net, pts, h=0.02):
    """The P1 harmonic extension (on an ``h`` mesh) of the boundary error of ``net`` (a
    callable of physical points), at ``pts``: the Dirichlet data minus ``net`` on the boundary
    nodes, extended by the discrete Laplacian."""
    import skfem
    from skfem.models.poisson import laplace

    mesh = problem.domain.mesh(h=h)
    basis = skfem.Basis(mesh, skfem.ElementTriP1())
    D = mesh.boundary_nodes()
    xb = mesh.p[:, D].T
    c = np.zeros(mesh.p.shape[1])
    c[D] = np.asarray(fem.solve(problem, h=h, order=1)(xb), float) - net(xb)
    c = skfem.solve(*skfem.condense(laplace.assemble(basis), np.zeros_like(c), x=c, D=D))
    return np.nan_to_num(np.asarray(fem.Solution(basis, c)(pts), float))


def kinds_table(model, kinds, seed, per_kind, softens):
    """Print the ``--kinds`` table (see the module docstring)."""
    problems = hypino_kinds.suite(seed, per_kind, tuple(kinds))
    labels = ["no lift"] + [f"lift, soften {v:g}" for v in softens] + ["harmonic extension"]
    print(f"# {per_kind} problems per kind, seed {seed}: median (75th percentile) relative L2; median PDE residual")
    print("| kind | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    own = pino._lift.SOFTEN
    try:
        for kind in kinds:
            E, R = [], []
            for problem, pts, ref in problems[kind]:
                off = pino.solve(problem, method="hypino", model=model, lift=False)
                sols = [off]
                for v in softens:
                    pino._lift.SOFTEN = v
                    sols.append(pino.solve(problem, method="hypino", model=model, lift=True))
                vals = [s.network(pts) for s in sols] + [off.network(pts) + harmonic_fix(problem, off.network, pts)]
                E.append([np.linalg.norm(v - ref) / np.linalg.norm(ref) for v in vals])
                R.append([s.info["residual"]["pde"] for s in sols])
            E, R = np.array(E), np.median(R, 0)
            cells = [f"{np.median(E[:, i]):.4f} ({np.percentile(E[:, i], 75):.4f})"
                     + (f"; {R[i]:.3g}" if i < len(R) else "") for i in range(len(labels))]
            print(f"| {kind} | " + " | ".join(cells) + " |", flush=True)
    finally:
        pino._lift.SOFTEN = own


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="hypino")
    ap.add_argument("--per-set", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kinds", nargs="+", default=None, choices=hypino_kinds.KINDS,
                    help="instead: random problems of these kinds of bench/hypino_kinds.py")
    ap.add_argument("--seed", type=int, default=2, help="--kinds: the kinds' seed")
    ap.add_argument("--per-kind", type=int, default=12, help="--kinds: problems per kind")
    ap.add_argument("--soften", nargs="+", type=float, default=None,
                    help="--kinds: the lift's softening values to compare (default: the shipped one)")
    a = ap.parse_args(argv)
    if a.per_set < 1 or a.per_kind < 1:
        ap.error(f"--per-set and --per-kind must be positive integers, got {a.per_set} and {a.per_kind}")
    if a.soften is not None and min(a.soften) < 0:
        ap.error(f"--soften values must be >= 0 (median sample spacings), got {a.soften}")
    torch.set_num_threads(a.threads)
    model = load_hypino(a.model, device="cpu")
    t0 = time.perf_counter()
    if a.kinds:
        kinds_table(model, a.kinds, a.seed, a.per_kind, a.soften or [pino._lift.SOFTEN])
        print(f"\ntotal {time.perf_counter() - t0:.0f} s")
        return
    print("| set | seed | problems | lifted | mean rel. L2 without | with the lift | median without | with |")
    print("|---|---|---|---|---|---|---|---|")
    sums = np.zeros(2)
    for physics, family in HELDOUT_SETS:
        for seed in (0, 1):
            off, on, lifted = compare(model, heldout_problems(seed, a.per_set, physics, family))
            sums += off.mean(), on.mean()
            name = f"{'physics-only' if physics else 'manufactured'} {family or 'HyPINO domains'}"
            print(f"| {name} | {seed} | {len(off)} | {lifted} | {off.mean():.4f} | {on.mean():.4f} | "
                  f"{np.median(off):.4f} | {np.median(on):.4f} |", flush=True)
    print(f"| sum of the means | | | | {sums[0]:.4f} | {sums[1]:.4f} | | |")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
