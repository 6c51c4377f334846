"""Average the weights of hypernetworks trained from the same start (a "model soup").

    python bench/hypino_soup.py OUT MODEL MODEL [MODEL ...]

Writes a checkpoint folder OUT (safetensors + the first model's meta.json) whose weights
are the mean of the models' (shipped names or checkpoint folders of ``pino train hypino``
with the same architecture), to be compared on held-out problems with
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
    a = ap.parse_args(argv)
    if len(a.models) < 2:
        ap.error("give at least two models to average")
    models = [load_hypino(m, device="cpu") for m in a.models]
    if any(m.config != models[0].config for m in models):
        ap.error("the models have different architectures (config); only equal ones can be averaged")
    states = [m.state_dict() for m in models]
    soup = {k: (sum(s[k].double() for s in states) / len(states)).to(v.dtype) for k, v in states[0].items()}
    models[0].load_state_dict(soup)
    meta = dict(models[0].meta)
    meta["soup"] = list(a.models)
    save_checkpoint(a.out, models[0], meta)
    print(f"{a.out}: the mean of {len(models)} models")


if __name__ == "__main__":
    main()
