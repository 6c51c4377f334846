"""The seven HyPINO benchmark problems solved zero-shot and by the baselines, side by side.

    python bench/hypino_benchmarks.py [--model hypino] [--finetune 500] [--lstsq-finetune M]
                                      [--only NAME ...] [--jobs 2]

For each problem of ``hypino_problems.PROBLEMS``: relative L2 and MSE on the 224 x 224 grid
over the domain (against the exact solution or P2 FEM on h = 0.01, ``hypino_problems``)
and wall time (seconds) for

- ``zero-shot``      ``pino.solve(problem, method="hypino", model=M)`` (the mean over the
                     symmetries of the square, ``symmetrise``, and the Dirichlet lift where
                     it applies, ``lift``: steady elliptic problems with Dirichlet data;
                     by default here)
- ``zero-shot, no lift`` the same with ``lift=False`` (the networks alone)
- ``zero-shot, one network`` the same with ``symmetrise=False`` (and no lift)
- ``refine=3``       three rounds of residual refinement (one network each, the default;
                     ``, symmetrised``: each round the mean over the symmetries)
- ``lstsq``          output layer by least squares
- ``lstsq+refine=3`` both
- ``finetune=N``     N Adam steps + min(N, 200) L-BFGS iterations from the generated network
- ``scratch``        the generated architecture (no ridge features, as ``finetune=N``)
                     from a random (Xavier) init, trained with the
                     same loss and optimisers for the same wall time as the fine-tuning
                     phase of ``finetune=N`` (Adam for as long as its Adam phase took, then
                     L-BFGS for as long as its L-BFGS phase took)
- ``lstsq+finetune=M`` the least-squares head, then M Adam steps + min(M, 200) L-BFGS
                     iterations of the projected fine-tuning (``pino._zeroshot.
                     finetune_projected``: the generated layers tuned, the output weights
                     always the least-squares optimum); default M = 100, 0 skips it
- ``lstsq+finetune, random start (same time)`` the same from Xavier-initialised generated
                     layers (same ridge features), each phase for the same wall time
- ``random features`` no hypernetwork: random tanh features as wide as the target's whole
                     basis (generated + ridge, scale ``ridge_scale``), output layer by least
                     squares on the same encoding: what the generated features add to ``lstsq``
- ``FEM``            ``fem.solve(problem, h=0.02, order=2)``, with ``dt=2.5e-4`` on the time
                     problems (the default dt = h / c leaves 3.4e-2 on wave: second order in dt)

Times of the hypino rows are whole ``pino.solve`` calls (encoding, generation, solves,
meshing with the default h and interpolation at the DOFs), the model loaded beforehand;
``scratch`` is the training time plus encoding. Errors use ``sol.network`` (exact point
values of the network); the FEM row uses the FE field. Time problems: grid points are
``(x, t)``. One torch thread per process (``--threads``); ``--jobs`` problems at a time.
"""

from __future__ import annotations

import argparse
import statistics
from concurrent.futures import ProcessPoolExecutor
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypino_problems import NAMES, PROBLEMS, grid_error, reference  # noqa: E402

import fem  # noqa: E402
import pino  # noqa: E402
from pino._encoding import encode  # noqa: E402
from pino._hypino import PINNModule, TargetPINN, load_hypino  # noqa: E402
from pino._lstsq import lstsq_solve, random_features  # noqa: E402
from pino._zeroshot import (NetworkSum, ZeroShotNetwork, _set_head,  # noqa: E402
                            finetune_projected, train_physics)

FE_H = 0.02
FE_DT = 2.5e-4  # time problems: Newmark / Crank-Nicolson are second order in dt (dt = h: 3.4e-2 on wave)
LSTSQ_SCRATCH = "lstsq+finetune, random start (same time)"


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def scratch(problem, model, seconds, seed=0):
    """The target architecture from Xavier init, trained for ``seconds = (adam_s, lbfgs_s)``."""
    t0 = time.perf_counter()
    enc = encode(problem, resolution=model.resolution, seed=seed)
    cfg = {**model.config["target"], "ridge": 0}      # the generated architecture, as finetune=N
    gen = torch.Generator().manual_seed(seed)
    net = PINNModule(**cfg).load_weights(TargetPINN(**cfg).init_weights(gen))
    total = NetworkSum([net], [1.0]).float()
    info = train_physics(total, enc, 10**9, 10**9, seed=seed, seconds=seconds)
    total.double()
    return ZeroShotNetwork(total, enc), time.perf_counter() - t0, info


def scratch_lstsq(problem, model, seconds, seed=0):
    """``lstsq+finetune`` from a random start: the target with its ridge features, the
    generated layers from Xavier init, output layer by least squares, then the projected
    fine-tuning for ``seconds = (adam_s, lbfgs_s)``."""
    t0 = time.perf_counter()
    enc = encode(problem, resolution=model.resolution, seed=seed)
    cfg = model.config["target"]
    gen = torch.Generator().manual_seed(seed)
    net = PINNModule(**cfg).load_weights(TargetPINN(**cfg).init_weights(gen)).double()
    total = NetworkSum([net], [1.0])
    for p in total.parameters():
        p.requires_grad_(False)
    _set_head(net, lstsq_solve(net.body, enc).weights)
    info = finetune_projected(total, enc, 10**9, 10**9, seed=seed, seconds=seconds)
    return ZeroShotNetwork(total, enc), time.perf_counter() - t0, info


def fem_predict(sol, problem):
    if problem.is_time_dependent:
        return lambda p: sol(p[:, :1], t=p[:, 1])
    return sol


def features_only(problem, model, seed=0):
    """Random tanh features as wide as the target's basis, output layer by least squares."""
    t0 = time.perf_counter()
    cfg = model.config["target"]
    enc = encode(problem, resolution=model.resolution, seed=seed)
    phi = random_features(cfg["basis"] + cfg["ridge"], cfg["ridge_scale"], seed)
    res = lstsq_solve(phi, enc)
    return (lambda p: res.predict(phi, enc.to_reference(p)).numpy()), time.perf_counter() - t0


def run(name, model, n_ft, n_lft, log):
    problem, _ = PROBLEMS[name]
    rows = {}
    runs = [("zero-shot", {}), ("zero-shot, no lift", {"lift": False}),
            ("zero-shot, one network", {"symmetrise": False, "lift": False}),
            ("refine=3, symmetrised", {"refine": 3, "symmetrise": True}), ("refine=3", {"refine": 3}),
            ("lstsq", {"lstsq": True}), ("lstsq+refine=3", {"lstsq": True, "refine": 3})]
    if n_lft:
        runs.append((f"lstsq+finetune={n_lft}", {"lstsq": True, "finetune": n_lft}))
    for label, kw in runs + [(f"finetune={n_ft}", {"finetune": n_ft})]:
        sol, sec = _timed(lambda: pino.solve(problem, method="hypino", model=model, **kw))
        rows[label] = (grid_error(name, sol.network), sec)
        log(f"  {name:12s} {label:16s} rel {rows[label][0]['rel_l2']:.3e}  {sec:7.2f} s  "
            f"loss {sol.info['residual']['loss']:.3e}")
        if "finetune" in kw:
            ft = sol.info["finetune_info"]
        if "finetune" in kw and kw.get("lstsq"):
            net, sec, info = scratch_lstsq(problem, model, (ft["adam_seconds"], ft["lbfgs_seconds"]))
            rows[LSTSQ_SCRATCH] = (grid_error(name, net), sec)
            log(f"  {name:12s} lstsq scratch    rel {rows[LSTSQ_SCRATCH][0]['rel_l2']:.3e}  {sec:7.2f} s  "
                f"adam {info['adam_steps']} lbfgs {info['lbfgs_iterations']} (finetune: adam "
                f"{ft['adam_steps']} lbfgs {ft['lbfgs_iterations']})")
    net, sec, info = scratch(problem, model, (ft["adam_seconds"], ft["lbfgs_seconds"]))
    rows["scratch (same time)"] = (grid_error(name, net), sec)
    log(f"  {name:12s} scratch          rel {rows['scratch (same time)'][0]['rel_l2']:.3e}  {sec:7.2f} s  "
        f"adam {info['adam_steps']} lbfgs {info['lbfgs_iterations']} (finetune: adam "
        f"{ft['adam_steps']} lbfgs {ft['lbfgs_iterations']})")
    fn, sec = features_only(problem, model)
    rows["random features (lstsq)"] = (grid_error(name, fn), sec)
    log(f"  {name:12s} random features  rel {rows['random features (lstsq)'][0]['rel_l2']:.3e}  {sec:7.2f} s")
    dt = FE_DT if problem.is_time_dependent else None
    sol, sec = _timed(lambda: fem.solve(problem, h=FE_H, order=2, dt=dt))
    rows[f"FEM P2 h={FE_H}"] = (grid_error(name, fem_predict(sol, problem)), sec)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="hypino",
                    help="a shipped model name or a checkpoint folder of `pino train hypino`")
    ap.add_argument("--finetune", type=int, default=500, help="fine-tuning steps (default 500)")
    ap.add_argument("--lstsq-finetune", type=int, default=100,
                    help="fine-tuning steps after the least-squares head (default 100; 0: skip)")
    ap.add_argument("--only", nargs="+", default=None, choices=NAMES)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="problems run at a time (processes)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    model = load_hypino(a.model, device="cpu")
    names = a.only or list(NAMES)
    for nm in names:
        reference(nm)
    if a.jobs > 1:
        with ProcessPoolExecutor(a.jobs, initializer=torch.set_num_threads, initargs=(a.threads,)) as pool:
            jobs = [(nm, a.model, a.finetune, a.lstsq_finetune) for nm in names]
            done = dict(zip(names, pool.map(_job, jobs)))
        results = {nm: done[nm] for nm in names}
    else:
        results = {nm: run(nm, model, a.finetune, a.lstsq_finetune, _log) for nm in names}
    labels = list(next(iter(results.values())))
    print(f"HyPINO benchmarks: model {a.model} ({model.n_parameters()} parameters, target PINN "
          f"{model.target.n_params}); 224x224 grid; torch threads {a.threads}\n")
    print("| problem | method | rel. L2 | MSE | time (s) |")
    print("|---|---|---|---|---|")
    for nm in names:
        for lb in labels:
            e, sec = results[nm][lb]
            print(f"| {nm} | {lb} | {e['rel_l2']:.2e} | {e['mse']:.2e} | {sec:.2f} |")
    print("\nmedian relative L2 over the problems:")
    print("| method | median rel. L2 | median time (s) |")
    print("|---|---|---|")
    for lb in labels:
        print(f"| {lb} | {statistics.median(results[nm][lb][0]['rel_l2'] for nm in names):.2e} | "
              f"{statistics.median(results[nm][lb][1] for nm in names):.2f} |")
    wins = sum(results[nm][f"finetune={a.finetune}"][0]["rel_l2"] < results[nm]["scratch (same time)"][0]["rel_l2"]
               for nm in names)
    print(f"\nfine-tuning beats the same time from a random start on {wins} of {len(names)}")
    if a.lstsq_finetune:
        wins = sum(results[nm][f"lstsq+finetune={a.lstsq_finetune}"][0]["rel_l2"]
                   < results[nm][LSTSQ_SCRATCH][0]["rel_l2"] for nm in names)
        print(f"lstsq+finetune beats the same from a random start on {wins} of {len(names)}")
    print(f"total wall time {time.perf_counter() - t_start:.0f} s")


def _log(s):
    print(s, file=sys.stderr, flush=True)


def _job(args):
    name, model, n_ft, n_lft = args
    return run(name, load_hypino(model, device="cpu"), n_ft, n_lft, _log)


if __name__ == "__main__":
    main()
