"""Batched FE weak residual and its gradient: fem.WeakResidual (torch) vs a scikit-fem/scipy loop.

For ``-div(a grad u) = 1`` with u = 0 on the boundary of the unit square (P1 on an n x n-cell
``MeshTri.init_tensor`` mesh) and a batch of coefficient fields a, both sides compute the
residual r = (A(a) u - b) at the free DOFs and the gradient of L = 0.5 |r|^2 with respect to
u and a.  The loop assembles A(a) per member with scikit-fem; its gradient is the adjoint
formula dL/du = A^T r, dL/da_k = int phi_k grad u . grad r.

    python bench/weak_residual.py --batch 64 --n 128 --device cpu
"""

import argparse
import platform
import statistics
import time

import numpy as np
import skfem
import sympy as sp
import torch
from skfem.helpers import dot, grad

import fem
from geometries import Rectangle
from manufactured import Dirichlet, Problem, div, u, x, y
from manufactured import grad as sgrad


def square_mesh(n):
    m = skfem.MeshTri.init_tensor(np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1))
    return m.with_boundaries({"left": lambda p: np.isclose(p[0], 0), "right": lambda p: np.isclose(p[0], 1),
                              "bottom": lambda p: np.isclose(p[1], 0), "top": lambda p: np.isclose(p[1], 1)})


def timed(fn, repeat):
    fn()  # warm-up
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def torch_side(res, U, A, device, repeat):
    U = torch.as_tensor(U, device=device)
    A = torch.as_tensor(A, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    out = {}

    def residual():
        with torch.no_grad():
            out["r"] = res(U, a=A)
        sync()

    def with_grad():
        Ug, Ag = U.clone().requires_grad_(), A.clone().requires_grad_()
        r = res(Ug, a=Ag)
        gu, ga = torch.autograd.grad(0.5 * (r * r).sum(), (Ug, Ag))
        out["gu"], out["ga"] = gu, ga
        sync()

    t_res, t_grad = timed(residual, repeat), timed(with_grad, repeat)
    return t_res, t_grad, {k: v.detach().cpu().numpy() for k, v in out.items()}


def scipy_side(mesh, U, A, repeat):
    basis = skfem.CellBasis(mesh, skfem.ElementTriP1(), intorder=2)
    D = basis.get_dofs().flatten()
    free = np.setdiff1d(np.arange(basis.N), D)
    stiff = skfem.BilinearForm(lambda u, v, w: w.a * dot(grad(u), grad(v)))
    load = skfem.LinearForm(lambda v, w: 1.0 * v)
    dA = skfem.LinearForm(lambda v, w: v * dot(grad(w.u), grad(w.r)))
    out = {}

    def member(k, gradient):
        Ak = stiff.assemble(basis, a=basis.interpolate(A[k]))
        b = load.assemble(basis)
        r = (Ak @ U[k] - b)[free]
        if not gradient:
            return r, None, None
        rf = np.zeros(basis.N)
        rf[free] = r
        gu = Ak.T @ rf
        ga = dA.assemble(basis, u=basis.interpolate(U[k]), r=basis.interpolate(rf))
        return r, gu, ga

    def residual():
        out["r"] = np.stack([member(k, False)[0] for k in range(len(U))])

    def with_grad():
        rs = [member(k, True) for k in range(len(U))]
        out["gu"] = np.stack([g for _, g, _ in rs])
        out["ga"] = np.stack([g for _, _, g in rs])

    return timed(residual, repeat), timed(with_grad, repeat), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--n", type=int, default=128, help="cells per side")
    ap.add_argument("--device", default=None, help="cpu, cuda or both (default: cpu, plus cuda if available)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = ap.parse_args()
    devices = (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])) if args.device in (None, "both") \
        else [args.device]

    sq = Rectangle((0, 0), (1, 1))
    a = sp.Function("a")(x, y)
    problem = Problem(sq, -div(a * sgrad(u)) - 1, {t: Dirichlet(0) for t in sq.boundaries})
    mesh = square_mesh(args.n)
    rng = np.random.default_rng(0)
    N = mesh.p.shape[1]
    U = rng.standard_normal((args.batch, N))
    A = 1 + rng.random((args.batch, N))

    t0 = time.perf_counter()
    s_res, s_grad, ref = scipy_side(mesh, U, A, args.repeat)
    print(f"# P1, {args.n}x{args.n} cells, {N} DOFs, batch {args.batch}, {args.dtype}; "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads; median of {args.repeat}")
    rows = [("scikit-fem loop (scipy)", "cpu", s_res, s_grad, "-")]
    dtype = getattr(torch, args.dtype)
    for dev in devices:
        device = torch.device(dev)
        t_setup = time.perf_counter()
        res = fem.WeakResidual(problem, mesh, device=device, dtype=dtype)
        t_setup = time.perf_counter() - t_setup
        t_res, t_grad, out = torch_side(res, U.astype(args.dtype), A.astype(args.dtype), device, args.repeat)
        err = max(np.abs(out[k] - ref[k]).max() / np.abs(ref[k]).max() for k in ("gu", "ga"))
        rows.append((f"fem.WeakResidual (setup {t_setup:.2f} s)", dev, t_res, t_grad, f"{err:.1e}"))
    print(f"{'method':40s} {'device':6s} {'residual s':>11s} {'res+grad s':>11s} "
          f"{'x res':>7s} {'x grad':>7s} {'rel diff':>9s}")
    for name, dev, tr, tg, err in rows:
        print(f"{name:40s} {dev:6s} {tr:11.4f} {tg:11.4f} {s_res / tr:7.1f} {s_grad / tg:7.1f} {err:>9s}")
    print(f"# total {time.perf_counter() - t0:.1f} s; 'x' = speed-up over the scikit-fem loop")


if __name__ == "__main__":
    main()
