"""Zero-shot relative L2 of hypernetworks on held-out manufactured problems, side by side.

    python bench/hypino_heldout.py [--models hypino FOLDER ...] [--seeds 0 1] [--n 96]
                                   [--max-holes 4 --notch 0.5]

For each model (a shipped name or a checkpoint folder) and each validation seed (the
held-out set of a training run with that seed: ``pino.heldout_errors(model, n, seed)``),
the mean and median relative L2 of u, without and with amplitude normalisation (2 passes,
as ``pino.solve`` does; ``--symmetrise``: also averaged over the symmetries of the
square, as ``pino.solve`` answers without ``lstsq``); ``--physics``: also on as many held-out
physics-only problems (constant to quadratic sources, simple boundary data) against FEM
solutions. ``--max-holes`` / ``--notch``: the steady problems' domains drawn from a wider
family than HyPINO's 0-3 holes (``pino._hypino.domain_family``): up to that many holes and,
with that probability, a rectangle cut from a corner or a side (L-shapes, slots);
``--zero-source``: that share of the physics-only problems has no source.
An earlier shipped model can be compared by extracting it from git history into a folder,
e.g. for the first CPU-trained model::

    mkdir -p /tmp/hypino_v1 && for f in meta.json model.safetensors; do
      git show 86fd9a0:pino/models/hypino/$f > /tmp/hypino_v1/$f; done
    python bench/hypino_heldout.py --models /tmp/hypino_v1 hypino

(the second-stage model, trained without FEM labels: commit 7b460d0; the third, the first
with FEM labels: commit 8ab8578; the fourth: commit d1afa3f; the fifth, trained on an H100: commit 95edd4f).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pino  # noqa: E402
from pino._hypino import domain_family, load_hypino  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["hypino"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--physics", action="store_true", help="also physics-only problems (FEM labels)")
    ap.add_argument("--symmetrise", action="store_true",
                    help="also the mean over the symmetries of the square (as pino.solve answers)")
    ap.add_argument("--max-holes", type=int, default=3)
    ap.add_argument("--notch", type=float, default=0.0)
    ap.add_argument("--zero-source", type=float, default=0.0,
                    help="the share of physics-only problems without a source (Laplace-type)")
    a = ap.parse_args(argv)
    family = {"max_holes": a.max_holes, "notch": a.notch, "zero_source": a.zero_source}
    torch.set_num_threads(a.threads)
    cols = ["mean", "median", "normalised mean", "normalised median"]
    if a.symmetrise:
        cols += ["normalised + symmetrised mean", "normalised + symmetrised median"]
    print("| model | held-out problems | validation seed | " + " | ".join(cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    where = "" if not domain_family(family) else \
        f", {a.max_holes} holes, notch {a.notch}, zero source {a.zero_source}"
    for name in a.models:
        model = load_hypino(name, device="cpu")
        for physics in (False, True) if a.physics else (False,):
            for seed in a.seeds:
                runs = [{}, {"normalise": 2}] + ([{"normalise": 2, "symmetrise": True}] if a.symmetrise else [])
                errs = [pino.heldout_errors(model, n=a.n, seed=seed, physics=physics, family=family, **kw)
                        for kw in runs]
                cells = " | ".join(f"{e.mean():.3f} | {np.median(e):.3f}" for e in errs)
                print(f"| {name} | {'physics (FEM)' if physics else 'manufactured'}{where} | {seed} | {cells} |",
                      flush=True)

if __name__ == "__main__":
    main()
