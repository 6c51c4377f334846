"""Memorisation of a trained hypernetwork: its training loss on samples it was trained on
against the same loss on fresh samples of the same kind.

    python bench/hypino_gap.py --models runs/hypino13 hypino [--n 400] [--fresh-seed 999]

For each model (a checkpoint folder or a shipped name) the mean HyPINO loss
(``pino._hypino.hypino_loss``, the training points, weights and ``--rescale`` of its run)
and the mean relative L2 of u at the labelled points, on the first ``n`` training samples
of its last stage (``random_problem((seed, i), "mixed")`` with that stage's seed, FEM
labels and domain family) and on ``n`` samples of ``--fresh-seed`` (made the same way,
never trained on). A loss much lower on the first than on the second is memorisation:
more repetitions of the same samples stop helping problems the model has not seen.
Samples are kept in ``--cache`` (``training_samples(cache=...)``), so a second call is fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pino._hypino import (_relative_l2, _rescaled, _take, hypino_loss,  # noqa: E402
                          load_hypino, training_samples)


def mean_loss(model, data, cfg, chunk=32):
    """Mean training loss and mean relative L2 of u over the samples in ``data``."""
    gen = torch.Generator().manual_seed(0)
    points = tuple(cfg.get("points", (256, 128)))
    losses = []
    for s in range(0, len(data["coefficients"]), chunk):
        idx = torch.arange(s, min(s + chunk, len(data["coefficients"])))
        b = _take(data, idx, points, gen)
        if cfg.get("rescale"):
            b = _rescaled(b, gen)
        with torch.enable_grad():
            total, _ = hypino_loss(model.target, model(b["rasters"], b["coefficients"]), b,
                                   cfg.get("loss_weights"))
        losses.append(total.detach())
    err = _relative_l2(model, data)
    return float(torch.cat(losses).mean()), float(np.nanmean(err))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["hypino"])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--fresh-seed", type=int, default=999)
    ap.add_argument("--cache", default="runs/samples")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    print("| model | trained-on seed | loss, trained on | loss, fresh | rel. L2 of u, trained on "
          "| rel. L2 of u, fresh |")
    print("|---|---|---|---|---|---|")
    for name in a.models:
        model = load_hypino(name, device="cpu").eval()
        cfg = model.meta["config"]
        opts = dict(resolution=model.resolution, pool=tuple(cfg.get("pool", (1024, 256))),
                    workers=a.workers, fem_labels=bool(cfg.get("fem_labels")),
                    family=cfg.get("family"), cache=a.cache)
        seen = mean_loss(model, training_samples(cfg["seed"], a.n, **opts), cfg)
        fresh = mean_loss(model, training_samples(a.fresh_seed, a.n, **opts), cfg)
        print(f"| {name} | {cfg['seed']} | {seen[0]:.3f} | {fresh[0]:.3f} | {seen[1]:.3f} | "
              f"{fresh[1]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
