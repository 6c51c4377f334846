"""Amplitude normalisation of zero-shot generation: where its target comes from and what
it does, on held-out training-distribution problems and on the seven HyPINO problems.

    python bench/hypino_normalise.py [--model hypino] [--draws 2000] [--heldout 96]

1. The target :data:`pino._hypino.AMPLITUDE`: the median of max |u| over the interior
   points of ``--draws`` manufactured solutions of the training distribution
   (``random_problem((777, i), "mixed")``; physics-only draws have no u and are skipped).
2. Relative L2 of u on the first ``--heldout`` held-out validation problems of the model's
   training run (:func:`pino.heldout_errors`) with 0-3 normalisation passes.
3. Zero-shot relative L2 on the 224 x 224 grid of each of the seven HyPINO problems with
   0-3 passes (``pino.solve(problem, method="hypino", normalise=p)``).

    python bench/hypino_normalise.py --model M --targets 0.6 0.8 1.0 1.2 1.5 [--seeds 0 1]

instead chooses the target itself, without the seven: for each value (the model's
``amplitude``, the max |U| normalisation aims at) the zero-shot medians of the validation
kinds of ``bench/hypino_kinds.py`` (``--per-kind`` problems, each of ``--seeds``) and their
score (mean of the five medians), and the sum of the mean relative L2 over ten held-out sets
(those of ``pino.heldout_errors``, built once; normalised and symmetrised as ``pino.solve``:
seeds 0 and 1 of manufactured and physics-only problems in HyPINO's domains and with up to
4 holes, and physics-only ones with zero sources; ``--heldout`` each). Ship the chosen value with
``bench/ship_hypino.py --amplitude``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hypino_kinds  # noqa: E402
from hypino_problems import NAMES, PROBLEMS, grid_error  # noqa: E402

import pino  # noqa: E402
from manufactured import random_problem  # noqa: E402
from pino._hypino import (AMPLITUDE, _positive_amplitude, _relative_l2, _validation,  # noqa: E402
                          load_hypino)

PASSES = (0, 1, 2, 3)
#: the held-out sets of ``--targets``: (physics-only?, domain family), each for seeds 0 and 1
HELDOUT_SETS = [(False, None), (True, None), (False, {"max_holes": 4}), (True, {"max_holes": 4}),
                (True, {"max_holes": 4, "zero_source": 1.0})]


def heldout_sets(model, heldout=96):
    """The ten held-out sets (:data:`HELDOUT_SETS`, validation seeds 0 and 1; the physics-only
    ones are FEM solves), built once, on the model's device."""
    dev = next(model.parameters()).device
    return [{k: v.to(dev) for k, v in _validation(s, heldout, model.resolution, physics=phys,
                                                  family=fam).items()}
            for phys, fam in HELDOUT_SETS for s in (0, 1)]


def heldout_sum(model, sets, shift=False):
    """The sum over ``sets`` of the mean relative L2, normalised and symmetrised as
    ``pino.solve`` (``shift``: with constant-shift averaging too)."""
    return sum(float(_relative_l2(model, v, normalise=2, symmetrise=True, shift=shift).mean()) for v in sets)


def sweep(model, targets, seeds=(0, 1), per_kind=16, heldout=96):
    """Print the kinds medians, scores and held-out sum of ``model`` at each normalisation
    target (markdown rows); returns ``{target: (mean score, held-out sum)}``. The model's
    own ``amplitude`` is restored afterwards."""
    suites = {s: hypino_kinds.suite(s, per_kind) for s in seeds}
    held_sets = heldout_sets(model, heldout)      # once (those of pino.heldout_errors)
    kinds = hypino_kinds.KINDS
    print("| amplitude | " + " | ".join(f"{k} (seeds {', '.join(map(str, seeds))})" for k in kinds)
          + " | score per seed | mean score | held-out sum |")
    print("|---" * (len(kinds) + 4) + "|")
    out, own, was = {}, model.amplitude, model.training
    model.eval()
    for a in targets:
        model.amplitude = float(a)
        med = {s: {k: float(np.median(v)) for k, v in hypino_kinds.errors(model, suites[s]).items()}
               for s in seeds}
        scores = [float(np.mean(list(med[s].values()))) for s in seeds]
        held = heldout_sum(model, held_sets)
        out[a] = (float(np.mean(scores)), held)
        print(f"| {a:g} | " + " | ".join(" / ".join(f"{med[s][k]:.3f}" for s in seeds) for k in kinds)
              + f" | {' / '.join(f'{v:.4f}' for v in scores)} | {out[a][0]:.4f} | {held:.3f} |", flush=True)
    model.amplitude = own
    model.train(was)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="hypino")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--heldout", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--targets", nargs="+", type=float, default=None,
                    help="choose the normalisation target instead: these values on the kinds "
                         "and held-out sets")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="--targets: the kinds' seeds")
    ap.add_argument("--per-kind", type=int, default=16, help="--targets: problems per kind")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    if a.targets:
        try:
            for v in a.targets:
                _positive_amplitude(v, "--targets")
        except ValueError as e:
            ap.error(str(e))
        sweep(load_hypino(a.model, device="cpu"), a.targets, a.seeds, a.per_kind, a.heldout)
        print(f"\ntotal {time.perf_counter() - t0:.0f} s")
        return
    sizes = []
    for i in range(a.draws):
        s = random_problem((777, i), kind="mixed", n_interior=1024, n_boundary=256)   # the training pool
        if s.derivatives is not None:
            sizes.append(np.abs(s.derivatives[:, 0]).max())
    q = np.quantile(sizes, [0.1, 0.25, 0.5, 0.75, 0.9])
    print(f"max |u| over {len(sizes)} manufactured draws (of {a.draws}): quantiles 10/25/50/75/90 % "
          f"= {', '.join(f'{v:.3f}' for v in q)}; AMPLITUDE = {AMPLITUDE}\n")
    model = load_hypino(a.model, device="cpu")
    print("| passes | held-out mean rel. L2 | held-out median | seven: median | "
          + " | ".join(NAMES) + " |")
    print("|---" * (4 + len(NAMES)) + "|")
    for p in PASSES:
        e = pino.heldout_errors(model, n=a.heldout, normalise=p)
        seven = {nm: grid_error(nm, pino.solve(PROBLEMS[nm][0], method="hypino", model=model,
                                               normalise=p).network)["rel_l2"] for nm in NAMES}
        print(f"| {p} | {e.mean():.3f} | {np.median(e):.3f} | {statistics.median(seven.values()):.3f} | "
              + " | ".join(f"{seven[nm]:.3f}" for nm in NAMES) + " |", flush=True)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
