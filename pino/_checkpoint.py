"""Checkpoints: model weights as safetensors plus JSON metadata, written atomically.

A checkpoint folder holds ``model.safetensors`` (loads without pickle), ``meta.json``
(config, epoch, metrics) and, for resuming, ``optim.pt`` (optimizer and scheduler state,
tensors only, read with ``weights_only=True``). Everything is first written to
``<folder>.tmp`` and then renamed, so an interruption never leaves half a checkpoint.
"""

import json
import os
import shutil

import torch
from safetensors.torch import load_file, save_file


def save_checkpoint(folder, model, meta, optimizer=None, scheduler=None):
    """Write ``model``'s weights, ``meta`` (JSON-able dict) and optimizer state."""
    tmp = folder.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(tmp, "model.safetensors"))
    with open(os.path.join(tmp, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    if optimizer is not None:
        torch.save({"optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None},
                   os.path.join(tmp, "optim.pt"))
    old = folder.rstrip("/") + ".old"
    if os.path.exists(folder):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def read_meta(folder):
    with open(os.path.join(folder, "meta.json")) as fh:
        return json.load(fh)


def load_checkpoint(folder, model, optimizer=None, scheduler=None, device=None):
    """Load weights (and optimizer state when given) into place; returns the metadata."""
    if not os.path.exists(os.path.join(folder, "model.safetensors")):
        raise ValueError(f"{folder} holds no checkpoint (model.safetensors is missing)")
    model.load_state_dict(load_file(os.path.join(folder, "model.safetensors"),
                                    device=str(device or "cpu")))
    if optimizer is not None and os.path.exists(os.path.join(folder, "optim.pt")):
        state = torch.load(os.path.join(folder, "optim.pt"), weights_only=True,
                           map_location=device or "cpu")
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
    return read_meta(folder)
