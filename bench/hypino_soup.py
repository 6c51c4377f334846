"""Average the weights of hypernetworks trained from the same start (a "model soup").

    python bench/hypino_soup.py OUT MODEL MODEL [MODEL ...] [--weights W W ...]

Writes a checkpoint folder OUT (safetensors + the first model's meta.json) whose weights
are the mean of the models' (shipped names or checkpoint folders of ``pino train hypino``
with the same architecture; ``--weights``: a weighted mean, e.g. ``0.25 0.75`` for a point a
quarter of the way from the first model to the second, normalised to sum 1), to be compared on held-out problems with
``python bench/hypino_heldout.py --models OUT ...``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pino._checkpoint import save_checkpoint  # noqa: E402
from pino._hypino import load_hypino  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--weights", nargs="+", type=float, default=None,
                    help="one non-negative weight per model (default: equal)")
    a = ap.parse_args(argv)
    if len(a.models) < 2:
        ap.error("give at least two models to average")
    w = [1.0] * len(a.models) if a.weights is None else a.weights
    if len(w) != len(a.models) or min(w) < 0 or sum(w) <= 0:
        ap.error(f"--weights: expected {len(a.models)} non-negative numbers with a positive sum, got {a.weights}")
    w = [v / sum(w) for v in w]
    models = [load_hypino(m, device="cpu") for m in a.models]
    if any(m.config != models[0].config for m in models):
        ap.error("the models have different architectures (config); only equal ones can be averaged")
    states = [m.state_dict() for m in models]
    soup = {k: sum(wi * s[k].double() for wi, s in zip(w, states)).to(v.dtype) for k, v in states[0].items()}
    models[0].load_state_dict(soup)
    meta = dict(models[0].meta)
    meta["soup"] = list(a.models)
    meta["soup_weights"] = w
    save_checkpoint(a.out, models[0], meta)
    print(f"{a.out}: the mean of {len(models)} models, weights {[round(v, 4) for v in w]}")


if __name__ == "__main__":
    main()
