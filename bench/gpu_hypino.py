"""HyPINO on a GPU machine: CUDA checks and timings against the CPU, then the shipped
hypernetwork trained further on the GPU within a fixed time.

    python bench/gpu_hypino.py --out OUT --labels LABELS.npz --seed 15 --samples 32000 \\
        --batch 64 --lr 4e-4 --deadline 480 --max-holes 4 --balance 0.5 \\
        --loss-weights '{"u": 40}' --rescale

LABELS.npz holds the FEM labels of the run's physics-only samples, written beforehand on a
machine with gmsh (``pino._hypino.write_fem_labels(LABELS, 15, 32000, workers=2,
family={"max_holes": 4})``; ``python bench/gpu_hypino.py --compact LABELS.npz SMALL.npz`` stores
u in float16, half the size, so that it travels within the device's 64 MiB), so the GPU
machine needs neither gmsh nor a FE solve. The options after ``--lr`` are those of ``pino
train hypino`` (the domain family, boundary balance, loss weights, amplitude rescaling).
From the script's start (seconds):

1. a subprocess (``--generate``) makes the training samples ``(seed, i)`` in worker processes,
   in chunks, until ``--gen-seconds``, and saves them to /tmp;
2. meanwhile, on the GPU: the time of a training step (loss, backward, Adam) of the shipped
   model on CUDA and on the CPU of this process (2 threads; the other cores generate), the
   CUDA/CPU agreement of the loss, and ``pino.solve`` of the heat benchmark problem (1D +
   time: no gmsh needed) with ``method="hypino"`` on both devices (zero-shot, lstsq,
   refine=2, lstsq+finetune=20): errors against the exact solution and times;
3. ``train_hypino(init="hypino", samples=..., device="cuda")`` with as many epochs as the
   measured step time lets end by ``--deadline``; then the held-out errors (32
   manufactured problems, seed 0) of the new and the shipped model.

Writes OUT/checks.json, OUT/train_log.txt and the checkpoint OUT/hypino (meta.json,
model.safetensors; the optimiser state is dropped: too large to come back from the device).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # bench/ and the repository
T0 = time.perf_counter()
GPU = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a dry run of the script
POOL = (1024, 256)   # interior and boundary points per sample, train_hypino's default pool


def now():
    return time.perf_counter() - T0


def generate(args):
    """Phase 1 (a subprocess): chunks of samples until gen_seconds; saves what it made."""
    from pino._hypino import hypino_batch

    table = read_labels(args, args.labels)
    parts, made, chunk = [], 0, args.chunk
    while made < args.samples and now() < args.gen_seconds:
        n = min(chunk, args.samples - made)
        parts.append(hypino_batch([(args.seed, i) for i in range(made, made + n)], "mixed", 64,
                                  *POOL, workers=args.workers, fem_labels=table,
                                  family=family(args)))
        made += n
        print(f"generate: {made} samples at {now():.0f} s", flush=True)
    data = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    torch.save(data, args.generate)
    print(f"generate: saved {made} samples at {now():.0f} s", flush=True)


def read_labels(args, path):
    """{seed: u or None} of a label file of ``write_fem_labels`` or :func:`compact` for the run
    of ``args`` (seed, samples, family), in float32; a compact file's points are checked
    against this machine's samples first."""
    from pino._hypino import read_fem_labels

    table = read_fem_labels(path, args.seed, args.samples, family=family(args))
    with np.load(path, allow_pickle=False) as z:
        scale = dict(zip((tuple(int(v) for v in s) for s in z["seeds"]),
                         z["u_scale"] if "u_scale" in z.files else np.ones(len(z["seeds"]))))
        if "check_interior" in z.files:
            if not np.allclose(_interior(args, z["seeds"][:8]), z["check_interior"], atol=1e-6):
                raise SystemExit(f"{path}: this machine draws other interior points than the one "
                                 "that wrote the labels; the labels would not fit the samples")
            print("generate: label points agree with this machine's samples", flush=True)
    return {k: (None if u is None else u.astype(np.float32) * np.float32(scale[k]))
            for k, u in table.items()}


def family(args):
    return {"max_holes": args.max_holes, "notch": args.notch, "zero_source": args.zero_source}


def _interior(args, seeds):
    from manufactured import random_problem

    return np.stack([random_problem(tuple(int(v) for v in s), n_interior=POOL[0], n_boundary=POOL[1],
                                    **family(args)).interior for s in seeds]).astype(np.float32)


def compact(args, src, dst):
    """The label file ``src`` with u stored in float16 (FEM labels are good to about 1e-3),
    each row divided by its max |u| (``u_scale``, float32; some labels exceed float16's range),
    plus the interior points of its first 8 samples, which the GPU machine checks against its
    own samples (another numpy there must not pair labels with other points)."""
    from pino._hypino import _write_npz

    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    u = arrays["u"].astype(np.float64)
    peak = np.nanmax(np.abs(u), axis=1, initial=0.0)   # 0 for an unsolved (all-NaN) row
    scale = np.where(peak > 0, peak, 1.0)
    arrays["u"] = (u / scale[:, None]).astype(np.float16)
    arrays["u_scale"] = scale.astype(np.float32)
    arrays["check_interior"] = _interior(args, arrays["seeds"][:8])
    _write_npz(dst, **arrays)
    print(f"{dst}: {os.path.getsize(dst) / 2**20:.1f} MiB ({len(arrays['u'])} labels)")


def _timed(fn, reps, sync):
    fn()
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - t) / reps


def step_timings(checks):
    """Phase 2a: one training step of the shipped model, CUDA against CPU."""
    from pino._hypino import LOSS_WEIGHTS, _take, hypino_batch, hypino_loss, load_hypino

    batch = hypino_batch([(99, i) for i in range(64)], "mixed", 64, *POOL)
    out = {}
    losses = {}
    for key, dev in (("cuda", GPU), ("cpu", "cpu")):
        model = load_hypino("hypino", device=dev).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-6)
        data = {k: v.to(dev) for k, v in batch.items()}
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
        for B in (16, 64):
            b = _take(data, torch.arange(B), (256, 128), torch.Generator().manual_seed(0))

            def step():
                total, _ = hypino_loss(model.target, model(b["rasters"], b["coefficients"]), b)
                opt.zero_grad()
                total.mean().backward()
                opt.step()
                return total

            if B == 16:  # before any step: the same weights on both devices
                losses[key] = float(hypino_loss(model.target, model(b["rasters"], b["coefficients"]),
                                                b)[0].mean().detach())
            reps = 20 if dev == "cuda" else (2 if B == 16 else 1)
            out[f"step_{key}_b{B}_s"] = _timed(step, reps, sync)
    for B in (16, 64):
        out[f"step_speedup_b{B}"] = out[f"step_cpu_b{B}_s"] / out[f"step_cuda_b{B}_s"]
    out["loss_cuda"], out["loss_cpu"] = losses["cuda"], losses["cpu"]
    out["loss_rel_diff"] = abs(losses["cuda"] - losses["cpu"]) / abs(losses["cpu"])
    out["loss_weights"] = LOSS_WEIGHTS
    checks.update(out)
    print("step timings:", json.dumps(out), flush=True)


def solve_checks(checks):
    """Phase 2b: pino.solve(heat, method="hypino") on CUDA and CPU."""
    import pino
    from hypino_problems import PROBLEMS, grid_error

    problem, _ = PROBLEMS["heat"]
    rows = {}
    for key, dev in (("cuda", GPU), ("cpu", "cpu")):
        for name, opts in (("zero-shot", {}), ("lstsq", {"lstsq": True}), ("refine=2", {"refine": 2}),
                           ("lstsq+finetune=20", {"lstsq": True, "finetune": 20})):
            pino.solve(problem, method="hypino", device=dev)  # loaded and warm
            t = time.perf_counter()
            sol = pino.solve(problem, method="hypino", device=dev, **opts)
            wall = time.perf_counter() - t
            err = grid_error("heat", lambda p: sol.network(p))
            rows[f"{key} {name}"] = {"rel_l2": err["rel_l2"], "seconds": wall}
            print(f"solve heat on {dev}, {name}: rel L2 {err['rel_l2']:.3e} in {wall:.2f} s", flush=True)
    checks["solve_heat"] = rows


def train(args, checks):
    """Phase 3: the shipped model trained further on the generated samples."""
    from pino._hypino import heldout_errors, load_hypino, train_hypino

    data = torch.load(args.data, weights_only=True)
    n = len(data["coefficients"])
    per_step = checks.get("step_cuda_b64_s", 0.05) * (args.batch / 64)
    epoch = math.ceil(n / args.batch) * per_step * 1.15 + 1.0
    left = args.deadline - now()
    epochs = max(1, min(args.max_epochs, int(left / epoch)))
    checks["train"] = {"n_samples": n, "epochs": epochs, "epoch_estimate_s": epoch, "start_s": now()}
    print(f"train: {n} samples, {epochs} epochs of about {epoch:.1f} s, {left:.0f} s left", flush=True)
    ckpt = os.path.join(args.out, "hypino")  # written every epoch: a killed run still returns one
    lines = []

    def log(line):
        lines.append(line)
        print(line, flush=True)

    t = time.perf_counter()
    train_hypino(ckpt, n_samples=n, epochs=epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                 workers=1, device=GPU, init="hypino", fem_labels=True, samples=data,
                 max_seconds=left + 5, log=log, family=family(args), balance=args.balance,
                 loss_weights=json.loads(args.loss_weights), rescale=args.rescale)
    optim = os.path.join(ckpt, "optim.pt")   # too large to come back from the device; not needed
    if os.path.exists(optim):
        os.remove(optim)
    checks["train"]["seconds"] = time.perf_counter() - t
    with open(os.path.join(args.out, "train_log.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    for name, m in (("new", load_hypino(ckpt, device=GPU)), ("shipped", load_hypino("hypino", device=GPU))):
        e = heldout_errors(m, n=32, seed=0)
        checks[f"heldout_{name}"] = {"mean": float(np.mean(e)), "median": float(np.median(e))}
        print(f"held-out (32 manufactured, seed 0), {name}: mean {np.mean(e):.4f} median {np.median(e):.4f}",
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out_gpu")
    ap.add_argument("--labels")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--samples", type=int, default=16000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=7e-4)
    ap.add_argument("--max-holes", type=int, default=3)
    ap.add_argument("--notch", type=float, default=0.0)
    ap.add_argument("--zero-source", type=float, default=0.0)
    ap.add_argument("--balance", type=float, default=0.0)
    ap.add_argument("--loss-weights", default="{}", help="JSON, as pino train hypino --loss-weights")
    ap.add_argument("--rescale", action="store_true")
    ap.add_argument("--compact", nargs=2, metavar=("SRC", "DST"), help="write a float16 label file and stop")
    ap.add_argument("--deadline", type=float, default=470.0, help="seconds from start: training ends")
    ap.add_argument("--gen-seconds", type=float, default=170.0)
    ap.add_argument("--workers", type=int, default=13)
    ap.add_argument("--chunk", type=int, default=2000)
    ap.add_argument("--max-epochs", type=int, default=200)
    ap.add_argument("--data", default="/tmp/hypino_samples.pt")
    ap.add_argument("--generate", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--skip-checks", action="store_true")
    args = ap.parse_args()
    if args.compact:
        return compact(args, *args.compact)
    if not args.labels:
        ap.error("--labels LABELS.npz is required (see the docstring)")
    if args.generate:
        return generate(args)
    os.makedirs(args.out, exist_ok=True)
    gen = subprocess.Popen([sys.executable, __file__, "--generate", args.data, "--labels", args.labels,
                            "--seed", str(args.seed), "--samples", str(args.samples),
                            "--workers", str(args.workers), "--chunk", str(args.chunk),
                            "--gen-seconds", str(args.gen_seconds), "--max-holes", str(args.max_holes),
                            "--notch", str(args.notch), "--zero-source", str(args.zero_source)])
    torch.set_num_threads(2)
    checks = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
              "torch": torch.__version__, "cpu_threads": 2}
    if not args.skip_checks:
        for phase in (step_timings, solve_checks):
            try:
                phase(checks)
            except Exception as exc:   # record and go on to training, the main work
                checks[phase.__name__ + "_error"] = repr(exc)
                print(f"{phase.__name__} failed: {exc!r}", flush=True)
            json.dump(checks, open(os.path.join(args.out, "checks.json"), "w"), indent=1)
    checks["checks_done_s"] = now()
    rc = gen.wait()
    checks["generated_s"] = now()
    if rc != 0:
        raise SystemExit(f"sample generation failed ({rc})")
    torch.set_num_threads(max(2, os.cpu_count() or 2))
    try:
        train(args, checks)
    finally:
        checks["end_s"] = now()
        json.dump(checks, open(os.path.join(args.out, "checks.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
