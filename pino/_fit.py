"""The training loop every model shares: seeded batches, Adam with a one-cycle schedule,
checkpoints after each epoch, resume after an interruption (same batches as an
uninterrupted run), a time budget, and one log line per epoch.
"""

import math
import os
import time

import torch

from ._checkpoint import load_checkpoint, read_meta, save_checkpoint


def fit(model, out, config, n, step, *, batch, epochs, lr, seed=0, weight_decay=0.0,
        evaluate=None, device="cpu", resume=True, stop_after=None, max_seconds=None,
        log=print, after_backward=None, agree=None, main=True):
    """Train ``model`` on ``n`` samples; returns the history (one dict per epoch).

    ``step(idx)`` computes the loss of the samples ``idx`` and returns ``(loss, parts)``
    with ``parts`` a dict of floats to average over the epoch (e.g. data and physics
    losses); ``evaluate(model)`` returns a dict added to every tenth and the last entry.
    ``config`` (JSON-able) is stored with the checkpoint in ``out``; resuming requires the
    same config. ``stop_after=k`` stops after k epochs of this call, as an interruption
    would; ``max_seconds`` stops after this call has run that long (with a checkpoint
    marked ``stopped_early``).

    Hooks for data-parallel training (every process runs ``fit`` on the same batches):
    ``after_backward(model)`` runs between ``loss.backward()`` and the optimizer step (e.g.
    to average gradients over processes); ``agree(flag) -> bool`` makes the processes take
    the same ``max_seconds`` decision; ``main=False`` writes no checkpoints (only the main
    process should).
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr,
                                                total_steps=epochs * math.ceil(n / batch))
    start, history = 0, []
    if resume and os.path.exists(os.path.join(out, "meta.json")):
        if read_meta(out)["config"] != config:
            raise ValueError(f"{out} holds a checkpoint of another configuration; choose "
                             "another folder or pass resume=False")
        meta = load_checkpoint(out, model, opt, sched, device)
        start, history = meta["epoch"], meta["history"]
        log(f"resuming from epoch {start}")
    gen = torch.Generator().manual_seed(seed)
    for _ in range(start):
        torch.randperm(n, generator=gen)  # same batches as an uninterrupted run
    began = time.perf_counter()
    for epoch in range(start, epochs):
        if stop_after is not None and epoch - start >= stop_after:
            break
        over = max_seconds is not None and time.perf_counter() - began > max_seconds
        if max_seconds is not None and agree is not None:
            over = agree(over)
        if over:
            log(f"stopping after {epoch} epochs: max_seconds={max_seconds} reached")
            if main:
                save_checkpoint(out, model, {"config": config, "epoch": epoch,
                                             "history": history, "stopped_early": True},
                                opt, sched)
            break
        model.train()
        t0, sums, count = time.perf_counter(), {}, 0
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            loss, parts = step(idx)
            opt.zero_grad()
            loss.backward()
            if after_backward is not None:
                after_backward(model)
            opt.step()
            sched.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v * len(idx)
            count += len(idx)
        entry = {"epoch": epoch + 1, **{k: v / count for k, v in sums.items()},
                 "seconds": time.perf_counter() - t0}
        if evaluate is not None and ((epoch + 1) % 10 == 0 or epoch + 1 == epochs):
            entry.update(evaluate(model))
        history.append(entry)
        log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in entry.items()))
        if main:
            save_checkpoint(out, model, {"config": config, "epoch": epoch + 1,
                                         "history": history}, opt, sched)
    return history
