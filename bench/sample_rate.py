"""Training-sample generation rate: forward-mode trees vs the plain sympy route.

Routes, all in one run and on the same trees:
  full         `generate_samples` (operator, holes, points, tree with rejection, f, g), 1 and 2 workers
  forward      only the six derivative columns of the accepted trees at the sample's points
  sympy        the same trees: build the sympy expression, differentiate twice, lambdify
               with cse=True, evaluate the six columns at the same points (1 and 2 workers)

    python bench/sample_rate.py                 # defaults: 200 samples, 12 through sympy
    python bench/sample_rate.py --n 400 --sympy 20
"""

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import sympy as sp
from sympy.core.cache import clear_cache

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from manufactured import generate_samples, x, y  # noqa: E402


def sympy_route(args):
    tree, points = args
    clear_cache()  # no reuse of derivatives memoised for an earlier run of the same tree
    e = tree.sympy()
    ex, ey = sp.diff(e, x), sp.diff(e, y)
    fn = sp.lambdify((x, y), [e, ex, ey, sp.diff(ex, x), sp.diff(ey, y), sp.diff(ex, y)], "numpy", cse=True)
    out = fn(points[:, 0], points[:, 1])
    return np.column_stack([np.broadcast_to(v, (len(points),)) for v in out])


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="samples for the full and forward routes")
    ap.add_argument("--sympy", type=int, default=12, help="trees sent through the sympy route")
    ap.add_argument("--kind", default="elliptic", help="sample kind (elliptic, heat, wave, physics, mixed)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    opts = dict(kind=a.kind, n_interior=1024, n_boundary=256)

    load = os.getloadavg()[0]
    generate_samples(4, seed=a.seed + 1, workers=1, **opts)  # warm imports and caches
    rows = []
    samples, dt = timed(lambda: generate_samples(a.n, seed=a.seed, workers=1, **opts))
    rows.append(("full sample (ours)", 1, a.n, dt))
    samples2, dt = timed(lambda: generate_samples(a.n, seed=a.seed, workers=2, **opts))
    rows.append(("full sample (ours)", 2, a.n, dt))
    assert [s.digest() for s in samples] == [s.digest() for s in samples2], "worker count changed the samples"

    man = [s for s in samples if s.manufactured]
    jobs = [(s.solution, np.concatenate([s.interior, s.boundary])) for s in man]
    fwd, dt = timed(lambda: [tree.derivatives(p) for tree, p in jobs])
    rows.append(("derivatives only, forward mode", 1, len(jobs), dt))

    m = min(a.sympy, len(jobs))
    sympy_route(jobs[-1])  # warm the printers and lambdify outside the timing
    ref, dt = timed(lambda: [sympy_route(j) for j in jobs[:m]])
    rows.append(("derivatives only, sympy+lambdify(cse)", 1, m, dt))
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(np.sqrt, [1.0, 2.0]))  # start the workers outside the timing
        _, dt = timed(lambda: list(pool.map(sympy_route, jobs[:m])))
    rows.append(("derivatives only, sympy+lambdify(cse)", 2, m, dt))
    err = max(np.max(np.abs(r - f) / np.maximum(1.0, np.abs(r))) for r, f in zip(ref, fwd))

    base = m / rows[3][3]
    steps = np.mean([t.steps for t, _ in jobs]) if jobs else float("nan")
    print(f"# sample_rate  kind={a.kind}  points/sample={1024 + 256}  mean steps={steps:.1f}  "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load:.1f} at start, {time.strftime('%Y-%m-%d')}")
    print(f"{'route':40s} {'workers':>7s} {'samples':>7s} {'seconds':>8s} {'samples/s':>10s} {'x sympy(1)':>10s}")
    for name, w, n, dt in rows:
        rate = n / dt
        print(f"{name:40s} {w:7d} {n:7d} {dt:8.2f} {rate:10.1f} {rate / base:10.0f}")
    print(f"max relative difference forward vs sympy on {m} trees: {err:.1e}")


if __name__ == "__main__":
    main()
