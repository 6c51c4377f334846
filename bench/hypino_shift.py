"""Constant-shift averaging of zero-shot answers (``pino.solve(..., shift=True)``), off and on.

    python bench/hypino_shift.py [--model hypino] [--seeds 2 3] [--per-kind 32] [--heldout 96]

For an equation without a u term, ``u - c`` solves the same equation with Dirichlet data
``g - c`` (Robin ``g - alpha c``); ``shift=True`` answers with the mean of the networks for
``c`` = the smallest and the largest Dirichlet value (each plus its ``c``), so each of the two
has one boundary at 0, as most training data do. Of the validation kinds of
``bench/hypino_kinds.py`` only ``holes`` has such problems with nonzero data (the others have
u = 0 on the boundary, a u term or time), so this prints, off and on:

- the ``holes`` kind of each of ``--seeds`` (``--per-kind`` problems): median, quartiles,
  the number of problems the shift answers better, and seconds;
- the held-out sum of ``bench/hypino_normalise.py --targets`` (the mean relative L2 over the
  ten held-out sets, normalised and symmetrised as ``pino.solve``), at the model's amplitude.

``--model`` takes ``MODEL@A`` as ``bench/hypino_kinds.py`` does.
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
from hypino_normalise import heldout_sets, heldout_sum  # noqa: E402


def compare(model, seeds=(2, 3), per_kind=32, heldout=96):
    """Markdown rows, off and on; returns ``{(seed or "held-out"): (off, on)}`` (holes: the
    arrays of errors; held-out: the sums)."""
    out = {}
    print("| set | shift off: median (quartiles) | shift on: median (quartiles) | better with shift | "
          "seconds off / on |")
    print("|---|---|---|---|---|")
    for seed in seeds:
        problems = hypino_kinds.suite(seed, per_kind, kinds=("holes",))
        res, secs = [], []
        for on in (False, True):
            t0 = time.perf_counter()
            res.append(hypino_kinds.errors(model, problems, shift=on)["holes"])
            secs.append(time.perf_counter() - t0)
        q = [np.percentile(r, [25, 50, 75]) for r in res]
        print(f"| holes, seed {seed} ({per_kind}) | " + " | ".join(f"{b:.4f} ({a:.4f}-{c:.4f})" for a, b, c in q)
              + f" | {int((res[1] < res[0]).sum())} of {len(res[0])} | {secs[0]:.0f} / {secs[1]:.0f} |", flush=True)
        out[seed] = tuple(res)
    t0 = time.perf_counter()
    sets = heldout_sets(model, heldout)
    held = [heldout_sum(model, sets, shift=on) for on in (False, True)]
    print(f"| held-out sum (ten sets of {heldout}) | {held[0]:.4f} | {held[1]:.4f} | | "
          f"{time.perf_counter() - t0:.0f} (both) |", flush=True)
    out["held-out"] = tuple(held)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="hypino", help="a model, or MODEL@A for amplitude A")
    ap.add_argument("--seeds", nargs="+", type=int, default=[2, 3])
    ap.add_argument("--per-kind", type=int, default=32)
    ap.add_argument("--heldout", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    (model,) = hypino_kinds.load_spec(a.model)
    t0 = time.perf_counter()
    print(f"# {a.model} (amplitude {model.amplitude:g})")
    compare(model, a.seeds, a.per_kind, a.heldout)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
