"""Wall time of zero-shot solves of the seven HyPINO problems: one network, symmetrised, with the lift, in float64.

    python bench/hypino_zeroshot_time.py [--threads 2] [--repeat 3] [--model hypino] [--refine K]

For each problem: the best of ``--repeat`` whole ``pino.solve(problem, method="hypino")``
calls (model loaded, one warm-up call first) with ``symmetrise=False, lift=False`` (one
network), ``lift=False`` (symmetrised, float32 networks), the default (symmetrised plus the
Dirichlet lift where it applies) and ``dtype="float64"`` (the default with the networks in
float64 as before the eighth session), and the ratios to the first, in one process; then
the medians over the seven. ``--refine K``: instead ``refine=K`` (one network) in float32
(the default) and float64, with the relative L2 of each on the 224 x 224 grid.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypino_problems import NAMES, PROBLEMS, grid_error  # noqa: E402

import pino  # noqa: E402
from pino._hypino import load_hypino  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="hypino")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--refine", type=int, default=0, help="time refine=K in float32 and float64")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model = load_hypino(a.model, device="cpu")
    if a.refine:
        runs = [{"refine": a.refine}, {"refine": a.refine, "dtype": "float64"}]
        head = [f"refine={a.refine} (float32)", "rel. L2", f"refine={a.refine}, float64", "rel. L2"]
    else:
        runs = [{"symmetrise": False, "lift": False}, {"lift": False}, {}, {"dtype": "float64"}]
        head = ["one network", "symmetrised", "ratio", "symmetrised + lift (default)", "ratio",
                "default, float64", "ratio"]
    print(f"zero-shot wall time [s], torch threads {a.threads}, best of {a.repeat}\n")
    print("| problem | " + " | ".join(head) + " |")
    print("|---|" + "---|" * len(head))
    rows = []
    for name in NAMES:
        problem = PROBLEMS[name][0]
        pino.solve(problem, method="hypino", model=model, **runs[0])
        best, errs = [], []
        for kw in runs:
            times = []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                sol = pino.solve(problem, method="hypino", model=model, **kw)
                times.append(time.perf_counter() - t0)
            best.append(min(times))
            errs.append(grid_error(name, sol.network)["rel_l2"] if a.refine else None)
        rows.append(best)
        if a.refine:
            cells = [f"{best[0]:.3f}", f"{errs[0]:.5f}", f"{best[1]:.3f}", f"{errs[1]:.5f}"]
        else:
            cells = [f"{best[0]:.3f}"] + [f"{b:.3f} | {b / best[0]:.1f}" for b in best[1:]]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    med = [statistics.median(r[i] for r in rows) for i in range(len(runs))]
    if a.refine:
        print(f"| median | {med[0]:.3f} | | {med[1]:.3f} | |  (float64 / float32: {med[1] / med[0]:.1f})")
    else:
        print(f"| median | {med[0]:.3f} | " + " | ".join(f"{m:.3f} | {m / med[0]:.1f}" for m in med[1:]) + " |")


if __name__ == "__main__":
    main()
