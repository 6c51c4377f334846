"""Copy a trained hypernetwork into the package (``pino/models/NAME``) with its record.

    python bench/ship_hypino.py runs/hypino --name hypino \
        --command "pino train hypino --out runs/hypino ..." --machine "2-core CPU, ..."

Copies ``model.safetensors`` and ``meta.json`` (not the optimizer state) and adds a
``trained`` block to the metadata: the training command, the machine, the training time
(sum of the epoch times in the history), and the zero-shot relative L2 on the first
``--heldout`` held-out validation problems of the run (``pino._hypino.heldout_errors``),
which ``tests/test_hypino.py`` checks the shipped model still reaches (for a mean of weights,
``bench/hypino_soup.py``, the validation numbers are its own, measured here; the training
time and history stay its first model's). The training log
(``--log``) is copied beside it. ``--amplitude A`` sets the max |U| that zero-shot amplitude
normalisation aims at (``meta.json`` key ``amplitude``; default: the source's, else
:data:`pino._hypino.AMPLITUDE`), chosen with ``bench/hypino_normalise.py --targets`` (the
held-out record is of the raw networks, without normalisation).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pino._hypino import MODELS, _positive_amplitude, heldout_errors, load_hypino  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source", help="checkpoint folder of `pino train hypino`")
    ap.add_argument("--name", default="hypino")
    ap.add_argument("--command", required=True, help="the training command, as run")
    ap.add_argument("--machine", required=True, help="where and when it ran")
    ap.add_argument("--log", default=None, help="training log to copy as training_log.txt")
    ap.add_argument("--heldout", type=int, default=8)
    ap.add_argument("--amplitude", type=float, default=None,
                    help="max |U| of zero-shot amplitude normalisation (default: the source's)")
    a = ap.parse_args(argv)
    if a.amplitude is not None:
        try:
            _positive_amplitude(a.amplitude, "--amplitude")
        except ValueError as e:
            ap.error(str(e))
    torch.set_num_threads(1)
    model = load_hypino(a.source, device="cpu")
    if a.amplitude is not None:
        model.amplitude = a.amplitude
    n_val = int(model.meta.get("config", {}).get("n_val", 32))
    # per problem, so the record's first --heldout are the validation set's first ones
    errors = heldout_errors(model, n=max(a.heldout, n_val) if "soup" in model.meta else a.heldout)
    meta = dict(model.meta)
    meta["amplitude"] = model.amplitude
    hist = meta.get("history", [])
    last_val = next((h for h in reversed(hist) if "val_rel_l2" in h), {})
    if "soup" in meta:   # a mean of weights: its own validation numbers, not its first model's
        v = errors[:n_val]
        last_val = {"val_rel_l2": round(float(np.mean(v)), 6), "val_rel_l2_median": round(float(np.median(v)), 6)}
    errors = errors[:a.heldout]
    meta["trained"] = {
        "command": a.command, "machine": a.machine,
        "epochs": meta.get("epoch"), "stopped_early": bool(meta.get("stopped_early", False)),
        "training_seconds": round(sum(h.get("seconds", 0.0) for h in hist), 1),
        "val_rel_l2": last_val.get("val_rel_l2"), "val_rel_l2_median": last_val.get("val_rel_l2_median"),
        "heldout_rel_l2": [round(float(e), 6) for e in errors],
    }
    out = Path(MODELS) / a.name
    tmp = out.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy(os.path.join(a.source, "model.safetensors"), tmp / "model.safetensors")
    with open(tmp / "meta.json", "w") as fh:
        json.dump(meta, fh, indent=1)
    if a.log:
        shutil.copy(a.log, tmp / "training_log.txt")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    size = (out / "model.safetensors").stat().st_size / 2**20
    print(f"shipped {a.source} as {out} ({size:.1f} MiB); held-out zero-shot relative L2: "
          f"mean {np.mean(errors):.3f}, median {np.median(errors):.3f}")


if __name__ == "__main__":
    main()
