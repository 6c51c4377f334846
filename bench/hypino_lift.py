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

from hypino_normalise import HELDOUT_SETS  # noqa: E402

import pino  # noqa: E402
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="hypino")
    ap.add_argument("--per-set", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    if a.per_set < 1:
        ap.error(f"--per-set must be a positive integer, got {a.per_set}")
    torch.set_num_threads(a.threads)
    model = load_hypino(a.model, device="cpu")
    t0 = time.perf_counter()
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
