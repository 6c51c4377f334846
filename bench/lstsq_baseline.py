"""No-network baseline for the least-squares head: random tanh features, output layer by
least squares, on the seven HyPINO problems. This is the bar a generated basis must beat.

    python bench/lstsq_baseline.py [--m 256 1024] [--seeds 1] [--sweep]

For each problem: ``pino._encoding.encode`` (8000 interior collocation points, 2000
boundary points, reference frame [-1, 1]^2), ``random_features(m, scale, seed)`` (Gaussian
weights and biases times ``scale``), ``lstsq_solve`` (default row weights, truncated SVD,
rcond 1e-12, float64), then relative L2 and MSE on the 224 x 224 grid over the domain against
the exact or FE reference (``hypino_problems.reference``). Wall time covers encoding, the
feature derivatives, the solve and the grid evaluation (the reference is cached beforehand).

Scale rule (fixed, not tuned on these problems): ``scale = max(3, 0.6 k)`` with ``k`` the
largest angular wave number of the data in the reference frame (sources, initial data; a
Gaussian of width s counts as k = 1/s): 3 for poisson_C, poisson_L, heat; 8 for helmholtz
(k = 4π), helmholtz_G (4π), wave (4π in t after mapping [0, 1] -> [-1, 1]), poisson_G
(1/0.08). ``--scale S`` uses one scale for all problems; ``--sweep`` also prints the error
for scales 1.5..16 (information only: that is tuning on the benchmark).

Finding (2-core CPU, float64, truncated SVD): smaller scales are far better than the rule
above once the solve is an SVD in float64: with ``--scale 3`` (m = 1024) helmholtz reaches
about 1e-5 and wave 5e-5 where scale 8 gives 1.6e-2 and 2.0e-2. Report both tables.
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

from hypino_problems import NAMES, PROBLEMS, grid_error, reference  # noqa: E402

from pino._encoding import encode  # noqa: E402
from pino._lstsq import lstsq_solve, random_features  # noqa: E402

SCALES = {"poisson_C": 3.0, "helmholtz_G": 8.0, "wave": 8.0, "helmholtz": 8.0,
          "poisson_L": 3.0, "poisson_G": 8.0, "heat": 3.0}
N_INTERIOR, N_BOUNDARY = 8000, 2000


def run(name, m, scale, seed=0, enc=None):
    problem, _ = PROBLEMS[name]
    t0 = time.perf_counter()
    enc = enc or encode(problem, resolution=64, n_interior=N_INTERIOR, n_boundary=N_BOUNDARY, seed=seed)
    phi = random_features(m, scale, seed)
    res = lstsq_solve(phi, enc)
    err = grid_error(name, lambda p: res.predict(phi, enc.to_reference(p)).numpy())
    return err, res, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--m", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--seeds", type=int, default=1, help="feature seeds per cell (median reported)")
    ap.add_argument("--sweep", action="store_true", help="also print errors over a range of scales")
    ap.add_argument("--scale", type=float, default=None,
                    help="one feature scale for every problem instead of the SCALES rule")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    scales = {nm: a.scale or SCALES[nm] for nm in NAMES}
    for nm in NAMES:
        reference(nm)
    print(f"random tanh features + least squares; {N_INTERIOR} interior + {N_BOUNDARY} boundary "
          f"points; 224x224 grid; torch threads {a.threads}\n")
    head = f"{'problem':12s} {'scale':>5s} " + " ".join(
        f"{'relL2 m=' + str(m):>13s} {'MSE':>9s} {'time s':>6s}" for m in a.m)
    print(head)
    print("-" * len(head))
    for nm in NAMES:
        cells = []
        for m in a.m:
            runs = [run(nm, m, scales[nm], seed) for seed in range(a.seeds)]
            rel = statistics.median(r[0]["rel_l2"] for r in runs)
            mse = statistics.median(r[0]["mse"] for r in runs)
            sec = statistics.median(r[2] for r in runs)
            cells.append(f"{rel:13.3e} {mse:9.2e} {sec:6.1f}")
        print(f"{nm:12s} {scales[nm]:5.1f} " + " ".join(cells), flush=True)
    if a.sweep:
        scales = [1.5, 3.0, 5.0, 8.0, 12.0, 16.0]
        print("\nscale sweep (relative L2, seed 0; information only, the table uses SCALES)")
        print(f"{'problem':12s} {'m':>5s} " + " ".join(f"{s:>9.1f}" for s in scales))
        for nm in NAMES:
            problem, _ = PROBLEMS[nm]
            enc = encode(problem, resolution=64, n_interior=N_INTERIOR, n_boundary=N_BOUNDARY, seed=0)
            for m in a.m:
                errs = [run(nm, m, s, 0, enc)[0]["rel_l2"] for s in scales]
                print(f"{nm:12s} {m:5d} " + " ".join(f"{e:9.2e}" for e in errs), flush=True)


if __name__ == "__main__":
    main()
