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

from hypino_problems import NAMES, PROBLEMS, grid_error  # noqa: E402

import pino  # noqa: E402
from manufactured import random_problem  # noqa: E402
from pino._hypino import AMPLITUDE, load_hypino  # noqa: E402

PASSES = (0, 1, 2, 3)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="hypino")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--heldout", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
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
