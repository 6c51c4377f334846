"""Grid operators (FNO) for Problem families on the unit square, trained with data and the
FE weak-form residual (PINO), fine-tuned per instance with the residual alone.

The grid is the vertex grid of ``grid_mesh(n)``: a field ``g[i, j]`` at (x_i, y_j) is the
P1 DOF vector ``g.ravel()``, so the FE residual of a prediction is exact to evaluate.
"""

import copy
import os
import time

import numpy as np
import torch
from torch import nn

import fem

from ._checkpoint import load_checkpoint, read_meta
from ._data import darcy_problem, grid_mesh, load_dataset
from ._fit import fit
from ._fno import FNO

MODELS = os.path.join(os.path.dirname(__file__), "models")


def _device(device):
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class GridOperator(nn.Module):
    """Coefficient grid in, solution grid out, zero on the boundary (the Dirichlet lift).

    >>> model = GridOperator(modes=(6, 6), width=8, layers=2)
    >>> model.predict(np.full((17, 17), 3.0)).shape
    (17, 17)
    """

    def __init__(self, modes=(12, 12), width=32, layers=4, padding=0.25, a_shift=7.5,
                 a_scale=4.5, u_scale=0.01):
        super().__init__()
        self.fno = FNO(1, 1, modes=modes, width=width, layers=layers, padding=padding)
        self.norm = dict(a_shift=a_shift, a_scale=a_scale, u_scale=u_scale)
        self.config = {**self.fno.config, **self.norm}

    def forward(self, a):
        """``a`` (batch, n+1, n+1) -> u (batch, n+1, n+1), exactly zero on the boundary."""
        z = (a - self.norm["a_shift"]) / self.norm["a_scale"]
        u = self.fno(z[:, None])[:, 0] * self.norm["u_scale"]
        return nn.functional.pad(u[:, 1:-1, 1:-1], (1, 1, 1, 1))

    @torch.no_grad()
    def predict(self, a, batch=64):
        """u on the vertex grid of the coefficient ``a``: ``(n, n)`` or ``(batch, n, n)``."""
        arr = np.asarray(a, dtype=np.float32)
        if arr.ndim not in (2, 3) or arr.shape[-1] != arr.shape[-2] or arr.shape[-1] < 3:
            raise ValueError("a must be coefficient values on a square vertex grid, shape "
                             f"(n, n) or (batch, n, n) with n >= 3; got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("a contains NaN or infinite values")
        single = arr.ndim == 2
        x = torch.as_tensor(arr[None] if single else arr)
        p = next(self.parameters())
        out = torch.cat([self(x[i:i + batch].to(p.device, p.dtype)).cpu()
                         for i in range(0, len(x), batch)]).numpy()
        return out[0] if single else out

    @classmethod
    def from_config(cls, config):
        keys = ("modes", "width", "layers", "padding", "a_shift", "a_scale", "u_scale")
        return cls(**{k: config[k] for k in keys})


def relative_l2(pred, target):
    """Mean over the batch of ||pred - target|| / ||target|| (per sample, over the grid)."""
    dims = tuple(range(1, pred.dim()))
    return (torch.linalg.vector_norm(pred - target, dim=dims)
            / torch.linalg.vector_norm(target, dim=dims)).mean()


class PhysicsLoss(nn.Module):
    """Relative dual-norm FE residual of grid predictions: ||r(u)||_* / ||r(0)||_*."""

    def __init__(self, n, problem=None, device=None, dtype=torch.float32):
        super().__init__()
        self.n = n
        self.res = fem.WeakResidual(problem or darcy_problem(), grid_mesh(n), device=device,
                                    dtype=dtype)

    def forward(self, u, a):
        B = u.shape[0]
        U, A = u.reshape(B, -1), a.reshape(B, -1)
        r = self.res(U, a=A)
        r0 = self.res(torch.zeros_like(U), a=A)
        return (self.res.norm(r, "dual") / self.res.norm(r0, "dual")).mean()


def _subsample(a, n):
    step = (a.shape[-1] - 1) // n
    if step * n != a.shape[-1] - 1:
        raise ValueError(f"cannot take a {n}-cell grid from a {a.shape[-1] - 1}-cell one")
    return a[..., ::step, ::step]


def evaluate(model, data, resolutions, device=None, batch=50):
    """Relative L2 of ``model`` on a dataset dict at each resolution (data keys ``u{n}``)."""
    device = device or next(model.parameters()).device
    finest = max(int(k[1:]) for k in data if k.startswith("a") and k[1:].isdigit())
    a = torch.as_tensor(data[f"a{finest}"])
    out = {}
    model.eval()
    with torch.no_grad():
        for n in resolutions:
            u = torch.as_tensor(data[f"u{n}"])
            errs = []
            for i in range(0, len(a), batch):
                pred = model(_subsample(a[i:i + batch], n).to(device))
                errs.append(relative_l2(pred, u[i:i + batch].to(device)) * len(pred))
            out[n] = float(sum(errs) / len(a))
    return out


def train(train_data, out, test_data=None, *, data_res=32, physics_res=None,
          physics_weight=1.0, data_weight=1.0, epochs=100, batch=20, lr=1e-3, n_train=None,
          modes=(12, 12), width=32, layers=4, padding=0.25, device=None, seed=0, resume=True,
          log=print, stop_after=None, max_seconds=None, init=None):
    """Train a GridOperator on a Darcy dataset folder; checkpoints in ``out``.

    ``physics_res=None`` gives plain FNO (data loss only); a resolution adds the FE
    residual at that resolution (PINO); ``data_weight=0`` trains from physics alone.
    Resumes from ``out`` when it holds a checkpoint of the same configuration (see
    :func:`pino._fit.fit` for ``stop_after`` and ``max_seconds``). ``init`` starts from
    the weights of another checkpoint folder (same architecture), e.g. to continue a run
    elsewhere. Returns ``(model, history)``.
    """
    device = _device(device)
    torch.manual_seed(seed)
    data = load_dataset(train_data) if isinstance(train_data, str) else train_data
    test = (load_dataset(test_data) if isinstance(test_data, str) else test_data) if test_data else None
    finest = max(int(k[1:]) for k in data if k.startswith("a") and k[1:].isdigit())
    a_all = torch.as_tensor(data[f"a{finest}"][:n_train])
    u_data = torch.as_tensor(data[f"u{data_res}"][:n_train]) if data_weight else None
    u_scale = float(np.std(data[f"u{data_res}"][:n_train])) if f"u{data_res}" in data else 0.01
    init_meta = None
    if init is not None:
        init_meta = read_meta(init)
        arch = init_meta["config"]["model"]
        if [arch[k] for k in ("modes", "width", "layers", "padding")] != [list(modes), width,
                                                                         layers, padding]:
            raise ValueError(f"init={init} holds another architecture ({arch})")
        u_scale = arch["u_scale"]
    model = GridOperator(modes=modes, width=width, layers=layers, padding=padding,
                         u_scale=u_scale).to(device)
    if init is not None:
        load_checkpoint(init, model, device=device)
    physics = PhysicsLoss(physics_res, device=device) if physics_res else None
    config = {"kind": "grid_operator", "family": "darcy", "data_res": data_res,
              "physics_res": physics_res, "physics_weight": physics_weight,
              "data_weight": data_weight, "epochs": epochs, "batch": batch, "lr": lr,
              "n_train": len(a_all), "seed": seed, "model": model.config,
              "init": None if init is None else {"from": init, "epoch": init_meta["epoch"],
                                                 "config": init_meta["config"]}}

    def step(idx):
        a = a_all[idx].to(device)
        loss, parts = torch.zeros((), device=device), {"data": 0.0, "physics": 0.0}
        if data_weight:
            dl = relative_l2(model(_subsample(a, data_res)), u_data[idx].to(device))
            loss, parts["data"] = loss + data_weight * dl, float(dl.detach())
        if physics is not None:
            ap = _subsample(a, physics_res)
            pl = physics(model(ap), ap)
            loss, parts["physics"] = loss + physics_weight * pl, float(pl.detach())
        return loss, parts

    def evaluate_test(m):
        return {"test": evaluate(m, test, [r for r in (32, 64, 128) if f"u{r}" in test])}

    history = fit(model, out, config, len(a_all), step, batch=batch, epochs=epochs, lr=lr,
                  seed=seed, weight_decay=1e-4, evaluate=evaluate_test if test else None,
                  device=device, resume=resume, stop_after=stop_after,
                  max_seconds=max_seconds, log=log)
    return model, history


def finetune(model, a, n=None, steps=200, lr=1e-4, device=None, log=None):
    """Instance-wise fine-tuning: a copy of ``model`` trained on one coefficient grid
    ``a`` (n+1, n+1) with the FE residual alone; returns the copy."""
    device = _device(device) if device else next(model.parameters()).device
    tuned = copy.deepcopy(model).to(device).train()
    a = torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)[None]
    n = n or a.shape[-1] - 1
    physics = PhysicsLoss(n, device=device)
    opt = torch.optim.Adam(tuned.parameters(), lr=lr)
    for k in range(steps):
        loss = physics(tuned(a), a)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log and (k % 50 == 0 or k == steps - 1):
            log(f"finetune step {k}: relative dual residual {float(loss):.3e}")
    return tuned.eval()


def load_model(name_or_path, device=None):
    """A trained model shipped with the package (``"darcy"``) or a checkpoint folder.

    >>> model = load_model("darcy")          # doctest: +SKIP
    >>> u = model.predict(a)                 # a: (n, n) coefficient grid, any n
    """
    folder = os.path.join(MODELS, name_or_path) if not os.path.isdir(name_or_path) else name_or_path
    if not os.path.exists(os.path.join(folder, "meta.json")):
        shipped = sorted(os.listdir(MODELS)) if os.path.isdir(MODELS) else []
        raise ValueError(f"no model {name_or_path!r}: shipped models are {shipped}; or give a "
                         "checkpoint folder")
    meta = read_meta(folder)
    model = GridOperator.from_config(meta["config"]["model"])
    load_checkpoint(folder, model, device=device)
    return model.to(_device(device)).eval()


def solve_operator(problem, model="darcy", n=64):
    """``pino.solve(member, method="pino", model="darcy", n=64)``: a member of the Darcy
    family (``darcy_problem().substitute(a=...)``) solved by a trained grid operator on
    the n x n-cell grid; returns a Solution on that grid's P1 space."""
    import sympy as sp

    from geometries import Rectangle
    from manufactured import Dirichlet, x, y

    net = load_model(model) if isinstance(model, str) else model
    if not isinstance(net, GridOperator):
        raise TypeError(f"model must be a GridOperator or the name of one, got {type(model).__name__}")
    if problem.parameters:
        raise ValueError(f"substitute the parameters {problem.parameters} first, e.g. "
                         "problem.substitute(a=3 + x**2)")
    cf = problem.canonical
    lo, hi = problem.domain.bounds
    fits = (isinstance(problem.domain, Rectangle) and problem.time_order == 0 and np.allclose(lo, 0)
            and np.allclose(hi, 1) and sp.simplify(cf.K[0, 1]) == 0
            and sp.simplify(cf.K[0, 0] - cf.K[1, 1]) == 0 and all(b == 0 for b in cf.beta)
            and cf.c == 0 and sp.simplify(cf.f - 1) == 0
            and all(isinstance(b, Dirichlet) and b.g == 0 for b in problem.bcs.values()))
    if not fits:
        raise ValueError("method='pino' with this model solves -div(a grad u) = 1 on the unit "
                         "square with u = 0 on the boundary (the Darcy family); this problem "
                         "is outside it: use method='fem'")
    s = np.linspace(0, 1, n + 1)
    X, Y = np.meshgrid(s, s, indexing="ij")
    a = sp.lambdify((x, y), cf.K[0, 0], "numpy")(X, Y) * np.ones_like(X)
    if np.any(a <= 0):
        raise ValueError("the coefficient a must be positive on the unit square")
    t0 = time.perf_counter()
    u = net.predict(a)
    import skfem

    basis = skfem.CellBasis(grid_mesh(n), skfem.ElementTriP1())
    info = {"method": "pino", "n": n, "n_dofs": basis.N, "order": 1,
            "n_elements": basis.mesh.nelements, "timings": {"predict": time.perf_counter() - t0}}
    return fem.Solution(basis, u.ravel().astype(float), info=info)
