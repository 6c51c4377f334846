"""Where zero-shot poisson_C goes wrong: the same problem with 4, 3, 2 and 1 circles.

    python bench/hypino_circles.py [--model hypino]

-Δu = 0 on [-1,1]^2 minus disks r = 0.2 at (±0.6, ±0.6) (the first k of them), u = 1 on
the square, u = 0 on the circles. Prints the zero-shot relative L2 (4000 interior points,
against P2 FEM on h = 0.03) and the generated network's mean value on the square's sides
(data 1) and on the circles (data 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypino_problems import _square  # noqa: E402

import fem  # noqa: E402
import pino  # noqa: E402
from geometries import Disk  # noqa: E402
from manufactured import Dirichlet, Problem, laplacian, u  # noqa: E402
from pino._hypino import load_hypino  # noqa: E402

CENTRES = [(0.6, 0.6), (-0.6, 0.6), (0.6, -0.6), (-0.6, -0.6)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="hypino")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    model = load_hypino(a.model, device="cpu")
    th = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    s = np.linspace(-1, 1, 50)
    sides = np.concatenate([np.column_stack([s, np.full(50, v)]) for v in (-1, 1)]
                           + [np.column_stack([np.full(50, v), s]) for v in (-1, 1)])
    print("| circles | zero-shot rel. L2 | mean u on the square (data 1) | mean u on the circles (data 0) |")
    print("|---|---|---|---|")
    for k in (4, 3, 2, 1):
        d = _square()
        for c in CENTRES[:k]:
            d = d - Disk(c, 0.2, name="circles")
        problem = Problem(d, -laplacian(u), {"square": Dirichlet(1), "circles": Dirichlet(0)})
        net = pino.solve(problem, method="hypino", model=model).network
        ref = fem.solve(problem, h=0.03, order=2)
        P = d.sample_interior(4000, seed=0)
        a_, b_ = net(P), ref(P)
        ok = np.isfinite(b_)
        rel = np.linalg.norm(a_[ok] - b_[ok]) / np.linalg.norm(b_[ok])
        circ = np.concatenate([net(np.column_stack([c[0] + 0.2 * np.cos(th), c[1] + 0.2 * np.sin(th)]))
                               for c in CENTRES[:k]])
        print(f"| {k} | {rel:.3f} | {net(sides).mean():.3f} | {circ.mean():.3f} |", flush=True)


if __name__ == "__main__":
    main()
