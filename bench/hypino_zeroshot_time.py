"""Wall time of zero-shot solves of the seven HyPINO problems: one network, symmetrised, and symmetrised in float64.

    python bench/hypino_zeroshot_time.py [--threads 2] [--repeat 3] [--model hypino]

For each problem: the best of ``--repeat`` whole ``pino.solve(problem, method="hypino")``
calls (model loaded, one warm-up call first) with ``symmetrise=False``, the default
(symmetrised, float32 networks) and ``dtype="float64"`` (symmetrised, the networks in
float64 as before the eighth session), and the ratios to the first, in one process; then
the medians over the seven.
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

from hypino_problems import NAMES, PROBLEMS  # noqa: E402

import pino  # noqa: E402
from pino._hypino import load_hypino  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="hypino")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model = load_hypino(a.model, device="cpu")
    print(f"zero-shot wall time [s], torch threads {a.threads}, best of {a.repeat}\n")
    print("| problem | one network | symmetrised | ratio | symmetrised, float64 | ratio |")
    print("|---|---|---|---|---|---|")
    rows = []
    for name in NAMES:
        problem = PROBLEMS[name][0]
        pino.solve(problem, method="hypino", model=model)
        best = []
        for kw in ({"symmetrise": False}, {}, {"dtype": "float64"}):
            times = []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                pino.solve(problem, method="hypino", model=model, **kw)
                times.append(time.perf_counter() - t0)
            best.append(min(times))
        rows.append(best)
        print(f"| {name} | {best[0]:.3f} | {best[1]:.3f} | {best[1] / best[0]:.1f} | {best[2]:.3f} | "
              f"{best[2] / best[0]:.1f} |", flush=True)
    one, sym, dbl = (statistics.median(r[i] for r in rows) for i in (0, 1, 2))
    print(f"| median | {one:.3f} | {sym:.3f} | {sym / one:.1f} | {dbl:.3f} | {dbl / one:.1f} |")


if __name__ == "__main__":
    main()
