"""Operator learning side by side: our FNO / PINO / SPON against neuraloperator's FNO and FEM.

    python bench/operator_learning.py --out results.md      # default: ~20-30 min, 2-core CPU
    python bench/operator_learning.py --quick                # smoke run: few members, 2 epochs

One run, the same data and the same number of epochs (``--epochs``, batch ``--batch``,
learning rate ``--lr``, seed ``--seed``) for every model, all trained by the project's one
loop ``pino._fit.fit`` (Adam + OneCycle, seeded batches; weight decay 1e-4 for the grid
models as in ``pino._operator.train``, 0 for SPON as in ``train_spon``). Prints markdown
tables (and writes them to ``--out``):

1. Darcy on the unit square (-div(a grad u) = 1, u = 0; ``darcy_dataset`` folders
   ``--train`` and ``--test``, generated when missing). The first ``--n-train`` members:
   - ours FNO: ``pino._operator.train`` with the data loss only (relative L2 at 32x32);
   - ours PINO: the same data loss plus the FE weak-form residual at 64x64;
   - neuraloperator's FNO (n_modes=(12, 12), hidden_channels=32, n_layers=4) in the same
     loop with our GridOperator's treatment: input (a - 7.5) / 4.5, output times std(u),
     boundary grid values set to 0, relative-L2 loss, Adam (weight decay 1e-4) + OneCycle,
     the same batches. neuraloperator's n_modes counts all kept modes of an axis (12 -> 6
     positive and 6 negative frequencies); ours (12, 12) keeps 12 of each, hence the
     parameter counts.
   For each: parameters (real scalars; a complex weight counts 2), median seconds per
   epoch, relative L2 on the test set at 32, 64 and 128 against the FE solution at that
   resolution (inputs subsampled from a128).
   Then speed: ``--n-speed`` members (a64 of the train set) evaluated at 64x64 by the PINO
   model (CPU, batched) against one FEM solve per member with
   ``fem.FamilySolver(darcy_problem(), grid_mesh(64))``; both times and their ratio.
2. The holed family (``holes_problem``: unit square minus two disks, u = 0 outside,
   du/dn = 0 on the holes; ``holes_dataset`` folders, h=0.1, refine=1, grid=64): SPON,
   SPON multigrid (two-level V-cycle), and our FNO on the grid embedding of the same family
   (channels: a on the 65x65 grid set to 0 outside the domain then normalised as above,
   and the domain mask; target the FE solution sampled on the grid with
   ``fem.GridTransfer``; output times the mask with the outer boundary set to 0; loss and
   error the relative L2 over the grid points inside the domain). Reported: parameters,
   s/epoch, test relative L2 over the grid points inside the domain (all three models),
   over the mesh vertices (SPON), and max |u - g| over the Dirichlet DOFs (SPON; 0 by
   construction).

Every random draw is seeded (datasets by their seeds, models and batch orders by ``--seed``).
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import skfem
import torch
from torch import nn

import fem
from pino._data import (darcy_dataset, darcy_problem, grid_mesh, holes_dataset, holes_problem,
                        load_dataset)
from pino._fit import fit as shared_fit
from pino._fno import FNO
from pino._operator import _subsample, evaluate, relative_l2, train
from pino._spon import evaluate_spon, train_spon

HOLES_H, HOLES_REFINE, HOLES_GRID = 0.1, 1, 64


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def n_params(model):
    """Trainable real scalars (a complex parameter counts 2)."""
    return sum(p.numel() * (2 if p.is_complex() else 1)
               for p in model.parameters() if p.requires_grad)


def subset(data, n):
    """The first ``n`` members of a dataset dict (``None``: all)."""
    return {k: (v if k == "config" else v[:n]) for k, v in data.items()}


def dataset(path, make, **kwargs):
    """Load the dataset folder ``path``, generating it first when it is missing."""
    if not os.path.exists(os.path.join(path, "config.json")):
        log(f"generating {path} ({kwargs})")
        make(path, **kwargs)
    return load_dataset(path)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def fit(model, n, batch_loss, *, epochs, batch, lr, seed, name):
    """``pino._fit.fit``, the loop of ``pino._operator.train`` (Adam with weight decay 1e-4
    + OneCycle, batches from a generator seeded by ``seed``), on ``batch_loss(idx)``;
    returns seconds per epoch (checkpoint writing excluded)."""
    def step(idx):
        loss = batch_loss(idx)
        return loss, {"loss": float(loss.detach())}

    with tempfile.TemporaryDirectory() as tmp:
        history = shared_fit(model, tmp, {"bench": name}, n, step, batch=batch, epochs=epochs,
                             lr=lr, seed=seed, weight_decay=1e-4, resume=False,
                             device=next(model.parameters()).device,
                             log=lambda s: log(f"{name}: {s}"))
    return [h["seconds"] for h in history]


# ---------------------------------------------------------------------------------------
# Darcy


class NeuralopGrid(nn.Module):
    """neuraloperator's FNO behind our GridOperator's normalisation and zero boundary."""

    def __init__(self, u_scale, a_shift=7.5, a_scale=4.5):
        super().__init__()
        from neuralop.models import FNO as NeuralopFNO

        self.fno = NeuralopFNO(n_modes=(12, 12), in_channels=1, out_channels=1,
                               hidden_channels=32, n_layers=4)
        self.a_shift, self.a_scale, self.u_scale = a_shift, a_scale, u_scale

    def forward(self, a):
        z = (a - self.a_shift) / self.a_scale
        u = self.fno(z[:, None])[:, 0] * self.u_scale
        return nn.functional.pad(u[:, 1:-1, 1:-1], (1, 1, 1, 1))

    def state_dict(self, *args, **kwargs):
        """Tensors only: neuraloperator adds its constructor arguments as a ``_metadata``
        dict, which the shared loop's (safetensors) checkpoints cannot hold."""
        state = super().state_dict(*args, **kwargs)
        return type(state)((k, v) for k, v in state.items() if torch.is_tensor(v))


def darcy(args, train_data, test_data):
    res = (32, 64, 128)
    common = dict(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed)
    rows, models = [], {}
    for name, phys in (("ours FNO (data loss)", None),
                       ("ours PINO (data 32 + FE residual 64)", 64)):
        with tempfile.TemporaryDirectory() as tmp:
            model, hist = train(train_data, tmp, None, data_res=32, physics_res=phys,
                                n_train=args.n_train, device=args.device, resume=False,
                                log=lambda s, k=name: log(f"{k}: {s}"),
                                **common)
        secs = [h["seconds"] for h in hist]
        err = evaluate(model, test_data, res)
        rows.append([name, f"{n_params(model):,}", f"{statistics.median(secs):.2f}",
                     *(f"{100 * err[r]:.2f}%" for r in res)])
        models[phys] = model
        log(f"{name}: test relative L2 {err}")

    # neuraloperator's FNO, same treatment and batches as ours
    name = "neuraloperator FNO (data loss)"
    device = torch.device(args.device)
    a_all = torch.as_tensor(train_data["a64"][:args.n_train])
    u32 = torch.as_tensor(train_data["u32"][:args.n_train])
    torch.manual_seed(args.seed)
    model = NeuralopGrid(u_scale=float(np.std(train_data["u32"][:args.n_train]))).to(device)

    def batch_loss(idx):
        a = _subsample(a_all[idx].to(device), 32)
        return relative_l2(model(a), u32[idx].to(device))

    secs = fit(model, len(a_all), batch_loss, name=name, **common)
    err = evaluate(model, test_data, res)
    rows.append([name, f"{n_params(model):,}", f"{statistics.median(secs):.2f}",
                 *(f"{100 * err[r]:.2f}%" for r in res)])
    log(f"{name}: test relative L2 {err}")
    accuracy = table(["model", "parameters", "s/epoch", "rel. L2 32x32", "rel. L2 64x64",
                      "rel. L2 128x128"], rows)
    return accuracy, models[64]


def speed(args, model, train_data):
    n = args.n_speed
    if n > len(train_data["a64"]):
        raise ValueError(f"--n-speed {n} exceeds the {len(train_data['a64'])} members "
                         f"of {args.train}")
    a = train_data["a64"][:n]
    model = model.to("cpu").eval()
    model.predict(a[:args.speed_batch], batch=args.speed_batch)  # warm-up, not timed
    t0 = time.perf_counter()
    pred = model.predict(a, batch=args.speed_batch)
    t_net = time.perf_counter() - t0
    t0 = time.perf_counter()
    solver = fem.FamilySolver(darcy_problem(), grid_mesh(64))
    t_setup = time.perf_counter() - t0
    ref = np.empty((n, 65, 65))
    t0 = time.perf_counter()
    for i in range(n):
        ref[i] = solver(a=a[i].ravel().astype(np.float64)).reshape(65, 65)
    t_fem = time.perf_counter() - t0
    err = np.mean(np.linalg.norm((pred - ref).reshape(n, -1), axis=1)
                  / np.linalg.norm(ref.reshape(n, -1), axis=1))
    log(f"speed: PINO {t_net:.3f} s, FEM {t_fem:.3f} s (+ setup {t_setup:.3f} s) for {n} members")
    return table(["members", "grid", f"PINO predict, CPU, batch {args.speed_batch} (s)",
                  "FEM solves, one per member (s)", "FEM / PINO",
                  "PINO rel. L2 vs these FE solves (training members included)"],
                 [[n, "64x64", f"{t_net:.3f}", f"{t_fem:.3f} (setup {t_setup:.2f} once)",
                   f"{t_fem / t_net:.1f}x", f"{100 * err:.2f}%"]])


# ---------------------------------------------------------------------------------------
# Holed family


class MaskedGridFNO(nn.Module):
    """Our FNO on the grid embedding: (a, mask) channels in, u on the grid, 0 outside."""

    def __init__(self, mask, u_scale):
        super().__init__()
        self.fno = FNO(in_channels=2, out_channels=1, modes=(12, 12), width=32, layers=4)
        self.register_buffer("mask", mask.float())
        self.u_scale = u_scale

    def forward(self, x):
        u = self.fno(x)[:, 0] * self.u_scale
        return nn.functional.pad(u[:, 1:-1, 1:-1], (1, 1, 1, 1)) * self.mask


def holes(args, train_data, test_data):
    device = torch.device(args.device)
    rows = []
    common = dict(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed)
    mesh = holes_problem().domain.mesh(h=HOLES_H, refine=HOLES_REFINE)
    basis = skfem.CellBasis(mesh, skfem.ElementTriP1())
    gt = fem.GridTransfer(basis, HOLES_GRID + 1)
    mask = gt.mask

    def on_grid(u):  # FE DOFs -> grid values, 0 outside the domain
        with torch.no_grad():
            g = gt.to_grid(torch.as_tensor(np.asarray(u, dtype=np.float64)))
        return torch.where(mask, g, torch.zeros_like(g)).float()

    def grid_err(pred, target):  # mean over members of the relative L2 inside the domain
        return float(relative_l2(pred, target))

    U_test = on_grid(test_data["u"])
    for name, coarse in (("SPON", False), ("SPON multigrid (two-level)", True)):
        with tempfile.TemporaryDirectory() as tmp:
            model, hist = train_spon(train_data, tmp, h=HOLES_H, refine=HOLES_REFINE, coarse=coarse,
                                     device=args.device, log=lambda s, k=name: log(f"{k}: {s}"),
                                     resume=False, **common)
        ev = evaluate_spon(model, test_data)
        pred = torch.as_tensor(model.predict(test_data["a"]))
        g_err = grid_err(on_grid(pred), U_test)
        secs = [h["seconds"] for h in hist]
        rows.append([name, f"{n_params(model):,}", f"{statistics.median(secs):.2f}",
                     f"{100 * g_err:.2f}%", f"{100 * ev['relative_l2']:.2f}%",
                     f"{ev['dirichlet_max']:.1e}"])
        log(f"{name}: {ev}, grid {g_err:.4g}")

    def inputs(data):
        a = torch.as_tensor(data[f"a_grid{HOLES_GRID}"])
        a = torch.where(mask, a, torch.zeros_like(a))
        return torch.stack([(a - 7.5) / 4.5, mask.expand_as(a).float()], 1)

    name = "ours FNO on the 65x65 grid (mask channel)"
    X, U = inputs(train_data), on_grid(train_data["u"])
    torch.manual_seed(args.seed)
    model = MaskedGridFNO(mask, u_scale=float(np.std(train_data["u"]))).to(device)
    secs = fit(model, len(X), lambda idx: relative_l2(model(X[idx].to(device)), U[idx].to(device)),
               name=name, **common)
    model.eval()
    Xt = inputs(test_data)
    with torch.no_grad():
        pred = torch.cat([model(Xt[i:i + 50].to(device)).cpu() for i in range(0, len(Xt), 50)])
    g_err = grid_err(pred, U_test)
    rows.append([name, f"{n_params(model):,}", f"{statistics.median(secs):.2f}",
                 f"{100 * g_err:.2f}%", "-", "n/a (0 on the outer boundary grid points)"])
    log(f"{name}: grid {g_err:.4g}")
    header = ["model", "parameters", "s/epoch", "test rel. L2, grid points inside the domain",
              "test rel. L2, mesh vertices", r"max \|u - g\|, Dirichlet DOFs"]
    info = (f"Mesh h={HOLES_H}, refine={HOLES_REFINE}: {mesh.p.shape[1]} vertices; grid "
            f"{HOLES_GRID + 1}x{HOLES_GRID + 1}, {int(mask.sum())} points inside the domain.")
    return info + "\n\n" + table(header, rows)


# ---------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", default="runs/darcy_train")
    ap.add_argument("--test", default="runs/darcy_test")
    ap.add_argument("--holes-train", default="runs/holes_train")
    ap.add_argument("--holes-test", default="runs/holes_test")
    ap.add_argument("--n-train", type=int, default=200, help="training members (both families)")
    ap.add_argument("--n-test", type=int, default=None, help="test members (default: all)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n-speed", type=int, default=1000)
    ap.add_argument("--speed-batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--workers", type=int, default=None, help="processes for dataset generation")
    ap.add_argument("--quick", action="store_true", help="smoke run: few members, 2 epochs")
    ap.add_argument("--out", default=None, help="also write the tables to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.epochs, args.n_speed = 20, 10, 2, 20
    if args.threads:
        torch.set_num_threads(args.threads)
    for k in ("n_train", "epochs", "batch", "n_speed", "speed_batch"):
        if getattr(args, k) < 1:
            raise ValueError(f"--{k.replace('_', '-')} must be >= 1, got {getattr(args, k)}")
    began = time.perf_counter()
    opts = {} if args.workers is None else {"workers": args.workers}

    d_train = dataset(args.train, darcy_dataset, n=1000, resolutions=(32, 64), seed=0, **opts)
    d_test = subset(dataset(args.test, darcy_dataset, n=200, resolutions=(32, 64, 128), seed=1,
                            **opts), args.n_test)
    h_kw = dict(h=HOLES_H, refine=HOLES_REFINE, grid=HOLES_GRID, **opts)
    h_train = subset(dataset(args.holes_train, holes_dataset, n=200, seed=0, **h_kw), args.n_train)
    h_test = subset(dataset(args.holes_test, holes_dataset, n=50, seed=1, **h_kw), args.n_test)
    if len(d_train["a64"]) < args.n_train:
        raise ValueError(f"--n-train {args.n_train} exceeds the {len(d_train['a64'])} members "
                         f"of {args.train}")

    accuracy, pino_model = darcy(args, d_train, d_test)
    speed_table = speed(args, pino_model, d_train)
    holes_table = holes(args, h_train, h_test)

    total = time.perf_counter() - began
    cmd = "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    n_d_train = min(args.n_train, len(d_train["a64"]))
    text = "\n".join([
        "# Operator learning benchmark",
        "",
        f"`{cmd}` on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; "
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, device {args.device}; total {total / 60:.1f} min.",
        f"Every model: {args.epochs} epochs, batch {args.batch}, lr {args.lr}, seed {args.seed}, "
        "Adam + OneCycle (`pino._fit.fit`; weight decay 1e-4 for the grid models, 0 for SPON).",
        "",
        f"## Darcy, unit square ({n_d_train} training members at 32x32, "
        f"{len(d_test['a128'])} test members)",
        "",
        accuracy,
        "",
        "## Speed at 64x64: trained PINO against FEM",
        "",
        speed_table,
        "",
        f"## Holed family ({len(h_train['a'])} training members, {len(h_test['a'])} test members)",
        "",
        holes_table,
        "",
    ])
    print(text)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
