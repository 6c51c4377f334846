"""HyPINO on a GPU machine: CUDA checks and timings against the CPU, then the shipped
hypernetwork trained further on the GPU within a fixed time, in one or several variants side
by side.

    python bench/gpu_hypino.py --out OUT --labels LABELS.npz --seed 27 --samples 12000 \\
        --family '{"max_holes": 6, "bumps": 0.4}' --extra '[{"seed": 25, "samples": 12000,
        "labels": "L25.npz", "family": {...}}]' --batch 64 --lr 4e-4 --deadline 520 \\
        --balance 0.5 --rescale --rescale-spread 2 \\
        --variants '[{"name": "L40", "loss_weights": {"u": 40, "dirichlet": 40, "lifted": 40}},
                     {"name": "P", "loss_weights": {"u": 40, "dirichlet": 40}}]'

LABELS.npz holds the FEM labels of the run's physics-only samples, written beforehand on a
machine with gmsh, compact (u in float16, so that it travels within the device's 64 MiB):
``write_fem_labels(FULL, 27, 12000, workers=2, family=...)`` then ``python
bench/gpu_hypino.py --compact FULL LABELS.npz --seed 27 --samples 12000 --family ...``, or read
from the run's sample cache with ``--from-cache CACHE LABELS.npz`` (same run options). So the
GPU machine needs neither gmsh nor a FE solve. ``--extra`` adds other runs (seed, samples,
labels, family) after the first. The options after ``--lr`` are those of ``pino train hypino``
(the domain family, boundary balance, loss weights, amplitude rescaling). From the script's
start (seconds):

1. a subprocess (``--generate``) makes the training samples of each run in worker processes,
   in chunks, until ``--gen-seconds``, and saves them to /tmp;
2. meanwhile, on the GPU: the time of a training step (loss with the first variant's
   weights, backward, Adam) of the shipped model on CUDA and on the CPU of this process (2
   threads; the other cores generate), the CUDA/CPU agreement of the loss, and ``pino.solve``
   of the heat benchmark problem (1D + time: no gmsh needed) with ``method="hypino"`` on both
   devices (zero-shot, lstsq, refine=2, lstsq+finetune=20): errors against the exact
   solution and times;
3. each variant (``--variants``: name, lr, loss weights, balance; default one, "hypino", from
   the flags) in its own process: ``train_hypino(init="hypino", samples=..., device="cuda")``
   with as many epochs as its measured step time (the others running beside it) lets end by
   ``--deadline``. A GPU step is launch-bound, so variants side by side cost little more than one.

Writes OUT/checks.json, OUT/train_log.txt and a checkpoint OUT/NAME per variant (meta.json,
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
from types import SimpleNamespace

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # bench/ and the repository
T0 = time.perf_counter()
GPU = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a dry run of the script
POOL = (1024, 256)   # interior and boundary points per sample, train_hypino's default pool


def now():
    return time.perf_counter() - T0


def runs_of(args):
    """The sample runs of the script: ``--seed/--samples/--labels`` with the run's family, then
    each of ``--extra`` (a JSON list of ``{"seed", "samples", "labels", "family"}``), as
    namespaces that :func:`read_labels` and :func:`family` take."""
    runs = [SimpleNamespace(seed=args.seed, samples=args.samples, labels=args.labels, family=family(args))]
    for e in json.loads(args.extra):
        if not (isinstance(e, dict) and {"seed", "samples", "labels"} <= set(e) <= {"seed", "samples", "labels", "family"}):
            raise SystemExit(f"--extra: each entry needs 'seed', 'samples', 'labels' (and may have "
                             f"'family'), got {e!r}")
        runs.append(SimpleNamespace(seed=int(e["seed"]), samples=int(e["samples"]), labels=e["labels"],
                                    family=e.get("family", {})))
    return runs


def generate(args):
    """Phase 1 (a subprocess): the samples of each run in chunks until gen_seconds; saves what
    it made (the runs one after another; a run cut short by the time keeps its first chunks)."""
    from pino._hypino import hypino_batch

    parts, total = [], 0
    for run in runs_of(args):
        table = read_labels(run, run.labels)
        made = 0
        while made < run.samples and now() < args.gen_seconds:
            n = min(args.chunk, run.samples - made)
            parts.append(hypino_batch([(run.seed, i) for i in range(made, made + n)], "mixed", 64,
                                      *POOL, workers=args.workers, fem_labels=table,
                                      family=family(run)))
            made += n
            print(f"generate: seed {run.seed}, {made} samples at {now():.0f} s", flush=True)
        total += made
    data = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    torch.save(data, args.generate)
    print(f"generate: saved {total} samples at {now():.0f} s", flush=True)


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
    """The run's domain family: ``args.family`` (a dict, as ``pino train hypino``'s flags give
    :func:`pino._hypino.domain_family`) when set, else the older --max-holes/--notch/--zero-source."""
    from pino._hypino import domain_family

    if args.family is not None:
        return domain_family(args.family)
    return domain_family({"max_holes": args.max_holes, "notch": args.notch, "zero_source": args.zero_source})


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


def from_cache(args, cache, dst):
    """The compact label file (:func:`compact`) of the run ``args`` read from its sample cache
    (``pino._hypino.training_samples(..., fem_labels=True, cache=CACHE)``) instead of solved
    again: a cached physics-only sample holds ``k u`` (k its amplitude scaling, see
    ``pino._hypino._pack``), and k is read back from its boundary data ``k g`` (or, where g is
    0, its source) against the sample drawn again here; then the first 16 physics-only samples
    are made again from the written file and compared with the cache. Pieces missing from the
    cache are made (and solved) first."""
    from manufactured import random_problem
    from pino._hypino import _label_run, _write_npz, hypino_batch, rasterise_sample, training_samples

    fam = family(args)
    data = training_samples(args.seed, args.samples, 64, POOL, workers=2, fem_labels=True, family=fam,
                            cache=cache)
    phys = np.flatnonzero(data["manufactured"].numpy() == 0)
    U = np.full((len(phys), POOL[0]), np.nan, dtype=np.float32)
    ok = np.zeros(len(phys), bool)
    for row, i in enumerate(phys):
        lab = data["labelled"][i].numpy() > 0
        if not lab.any():                       # the solve had failed: no label
            continue
        s = random_problem((args.seed, int(i)), "mixed", n_interior=POOL[0], n_boundary=POOL[1], **fam)
        kept, raw = data["g"][i].double().numpy(), s.g
        if not np.any(raw):
            kept, raw = data["f"][i].double().numpy(), s.f * rasterise_sample(s, 64).scale
        k = float(kept @ raw / (raw @ raw))
        if not np.allclose(kept, k * raw, rtol=1e-4, atol=1e-6 * np.abs(kept).max()):
            raise SystemExit(f"{cache}: sample {(args.seed, int(i))} is not this machine's draw scaled")
        U[row] = np.where(lab, data["derivatives"][i, :, 0].double().numpy() / k, np.nan)
        ok[row] = True
    seeds = np.array([(args.seed, int(i)) for i in phys], dtype=np.int64).reshape(-1, 2)
    full = f"{dst}.full.npz"
    _write_npz(full, seeds=seeds, u=U, ok=ok,
               run=np.array(_label_run(args.seed, args.samples, *POOL, fam), dtype=np.int64))
    compact(args, full, dst)
    os.remove(full)
    # the samples made again from the compact labels must be the cached ones (float16 aside)
    table, idx = read_labels(args, dst), [int(i) for i in phys[:16]]
    again = hypino_batch([(args.seed, i) for i in idx], "mixed", 64, *POOL, fem_labels=table, family=fam)
    worst = max(float((again[k].double() - data[k][idx].double()).abs().max()
                      / data[k][idx].double().abs().max().clamp_min(1e-30)) for k in again)
    print(f"{dst}: {len(idx)} physics-only samples made again from it differ from the cache by "
          f"{worst:.1e} of each array's peak")
    if worst > 1e-3:
        raise SystemExit(f"{dst}: the labels do not give back the cached samples ({worst:.1e})")


def _train_step(model, opt, batch, weights, balance):
    """One step of the hypernetwork's training (loss, backward, Adam); returns the losses."""
    from pino._hypino import hypino_loss

    total, _ = hypino_loss(model.target, model(batch["rasters"], batch["coefficients"]), batch, weights, balance)
    opt.zero_grad()
    total.mean().backward()
    opt.step()
    return total


def _timed(fn, reps, sync):
    fn()
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - t) / reps


def step_timings(checks, args):
    """Phase 2a: one training step of the shipped model, CUDA against CPU, with the loss
    weights and balance of the first variant."""
    from pino._hypino import LOSS_WEIGHTS, _take, hypino_batch, hypino_loss, load_hypino

    v = variants_of(args)[0]
    weights = {**LOSS_WEIGHTS, **v["loss_weights"]}

    def loss(model, b):
        return hypino_loss(model.target, model(b["rasters"], b["coefficients"]), b, weights, v["balance"])[0]

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
                return _train_step(model, opt, b, weights, v["balance"])

            if B == 16:  # before any step: the same weights on both devices
                losses[key] = float(loss(model, b).mean().detach())
            reps = 20 if dev == "cuda" else (2 if B == 16 else 1)
            out[f"step_{key}_b{B}_s"] = _timed(step, reps, sync)
    for B in (16, 64):
        out[f"step_speedup_b{B}"] = out[f"step_cpu_b{B}_s"] / out[f"step_cuda_b{B}_s"]
    out["loss_cuda"], out["loss_cpu"] = losses["cuda"], losses["cpu"]
    out["loss_rel_diff"] = abs(losses["cuda"] - losses["cpu"]) / abs(losses["cpu"])
    out["loss_weights"], out["balance"] = weights, v["balance"]
    checks.update(out)
    print("step timings:", json.dumps(out), flush=True)


def solve_checks(checks, args):
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


def variants_of(args):
    """The training variants: ``--variants`` (a JSON list of ``{"name", "lr", "loss_weights",
    "balance"}``, each trained from the shipped model in its own process on the same samples,
    at the same time), or one named "hypino" from --lr, --loss-weights and --balance."""
    if args.variants is None:
        return [{"name": "hypino", "lr": args.lr, "loss_weights": json.loads(args.loss_weights),
                 "balance": args.balance}]
    out = []
    for v in json.loads(args.variants):
        if not (isinstance(v, dict) and "name" in v and set(v) <= {"name", "lr", "loss_weights", "balance"}):
            raise SystemExit(f"--variants: each entry needs a 'name' and may have 'lr', 'loss_weights' "
                             f"and 'balance', got {v!r}")
        out.append({"name": str(v["name"]), "lr": float(v.get("lr", args.lr)),
                    "loss_weights": v.get("loss_weights", json.loads(args.loss_weights)),
                    "balance": float(v.get("balance", args.balance))})
    return out


def train_variant(args):
    """Phase 3, one variant (a subprocess): the shipped model trained further on the samples,
    with as many epochs as this process's measured step time (the variants running beside it
    included) lets end by ``--deadline`` seconds from this process's start."""
    from pino._hypino import _take, load_hypino, train_hypino

    v = json.loads(args.train_variant)
    torch.set_num_threads(args.threads)
    data = torch.load(args.data, weights_only=True)
    n = len(data["coefficients"])
    model = load_hypino("hypino", device=GPU).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-9)
    gpu = {k: t.to(GPU) for k, t in data.items()}
    gen = torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if GPU == "cuda" else (lambda: None)

    def step():
        b = _take(gpu, torch.randint(0, n, (args.batch,), generator=gen), (256, 128), gen)
        _train_step(model, opt, b, v["loss_weights"], v["balance"])

    per_step = _timed(step, 20 if GPU == "cuda" else 1, sync)
    del model, opt, gpu
    epoch = math.ceil(n / args.batch) * per_step * 1.1 + 1.0
    left = args.deadline - now()
    epochs = max(1, min(args.max_epochs, int(left / epoch)))
    out = os.path.join(args.out, v["name"])
    log_path = os.path.join(args.out, "train_log.txt")

    def log(line):
        with open(log_path, "a") as fh:
            fh.write(f"[{v['name']}] {line}\n")
        print(f"[{v['name']}] {line}", flush=True)

    log(f"{n} samples, step {per_step:.3f} s, {epochs} epochs of about {epoch:.1f} s, {left:.0f} s left; {v}")
    t = time.perf_counter()
    train_hypino(out, n_samples=n, epochs=epochs, batch=args.batch, lr=v["lr"], seed=args.seed,
                 workers=1, device=GPU, init="hypino", fem_labels=True, samples=data,
                 max_seconds=left + 5, log=log, family=family(args), balance=v["balance"],
                 loss_weights=v["loss_weights"], rescale=args.rescale,
                 rescale_spread=args.rescale_spread)
    optim = os.path.join(out, "optim.pt")   # too large to come back from the device; not needed
    if os.path.exists(optim):
        os.remove(optim)
    log(f"trained in {time.perf_counter() - t:.0f} s")


def train(args, checks):
    """Phase 3: the variants trained at the same time, one process each."""
    variants = variants_of(args)
    left = args.deadline - now()
    checks["train"] = {"start_s": now(), "variants": variants}
    procs = [subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--train-variant", json.dumps(v),
                               "--deadline", str(left)]) for v in variants]
    checks["train"]["returncodes"] = [p.wait() for p in procs]
    checks["train"]["seconds"] = now() - checks["train"]["start_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out_gpu")
    ap.add_argument("--labels")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--samples", type=int, default=16000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=7e-4)
    ap.add_argument("--family", type=json.loads, default=None,
                    help='JSON, the domain family of the run (e.g. \'{"max_holes": 4, "bumps": 0.5}\'); '
                         'replaces --max-holes, --notch and --zero-source')
    ap.add_argument("--max-holes", type=int, default=3)
    ap.add_argument("--notch", type=float, default=0.0)
    ap.add_argument("--zero-source", type=float, default=0.0)
    ap.add_argument("--extra", default="[]", help='JSON list of further runs: [{"seed": S, "samples": N, '
                                                  '"labels": FILE, "family": {...}}]')
    ap.add_argument("--balance", type=float, default=0.0)
    ap.add_argument("--loss-weights", default="{}", help="JSON, as pino train hypino --loss-weights")
    ap.add_argument("--variants", default=None, help='JSON list of [{"name", "lr", "loss_weights", "balance"}] '
                                                     "trained side by side (default: one, from the flags)")
    ap.add_argument("--rescale", action="store_true")
    ap.add_argument("--rescale-spread", type=float, default=None)
    ap.add_argument("--compact", nargs=2, metavar=("SRC", "DST"), help="write a float16 label file and stop")
    ap.add_argument("--from-cache", nargs=2, metavar=("CACHE", "DST"),
                    help="write the compact label file of the run from its sample cache and stop")
    ap.add_argument("--deadline", type=float, default=470.0, help="seconds from start: training ends")
    ap.add_argument("--gen-seconds", type=float, default=170.0)
    ap.add_argument("--workers", type=int, default=13)
    ap.add_argument("--threads", type=int, default=4, help="torch threads of each training process")
    ap.add_argument("--chunk", type=int, default=2000)
    ap.add_argument("--max-epochs", type=int, default=200)
    ap.add_argument("--data", default="/tmp/hypino_samples.pt")
    ap.add_argument("--generate", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--train-variant", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--skip-checks", action="store_true")
    args = ap.parse_args()
    if args.compact:
        return compact(args, *args.compact)
    if args.from_cache:
        return from_cache(args, *args.from_cache)
    if not args.labels:
        ap.error("--labels LABELS.npz is required (see the docstring)")
    if args.generate:
        return generate(args)
    if args.train_variant:
        return train_variant(args)
    os.makedirs(args.out, exist_ok=True)
    variants_of(args), runs_of(args)   # bad options fail before the work starts
    gen = subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--generate", args.data])
    torch.set_num_threads(2)
    checks = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
              "torch": torch.__version__, "cpu_threads": 2}
    if not args.skip_checks:
        for phase in (step_timings, solve_checks):
            try:
                phase(checks, args)
            except Exception as exc:   # record and go on to training, the main work
                checks[phase.__name__ + "_error"] = repr(exc)
                print(f"{phase.__name__} failed: {exc!r}", flush=True)
            json.dump(checks, open(os.path.join(args.out, "checks.json"), "w"), indent=1)
    checks["checks_done_s"] = now()
    rc = gen.wait()
    checks["generated_s"] = now()
    if rc != 0:
        raise SystemExit(f"sample generation failed ({rc})")
    try:
        train(args, checks)
    finally:
        checks["end_s"] = now()
        json.dump(checks, open(os.path.join(args.out, "checks.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
