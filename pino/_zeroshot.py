"""Zero-shot solving with a pretrained hypernetwork: ``pino.solve(problem, method="hypino")``.

The path of one solve (all in the reference frame of :func:`pino.encode`; the networks in
float64 with ``lstsq`` or ``finetune``, else float32: ``dtype``):

1. ``encode(problem, resolution=model.resolution, seed=seed)``; problems outside the family
   get encode's ValueError (it suggests ``method="fem"``).
2. ``model.generate(enc)`` -> one target network ``U_0`` (a :class:`PINNModule`), with
   amplitude normalisation (``normalise`` passes, default 2): the problem is linear, so the
   hypernetwork is asked about the problem with all data (source and boundary values)
   times ``k`` and its answer divided by ``k``; each pass sets ``k`` so that the generated
   network's max |U| is the model's ``amplitude`` (:data:`pino._hypino.AMPLITUDE` = 1.5, the
   median max |u| of the training distribution, unless its ``meta.json`` sets another: the
   shipped model's was chosen on validation problems by ``bench/hypino_normalise.py``).
   Solutions far smaller or larger than those it was trained on are out of
   its range otherwise (on the seven HyPINO problems: median relative L2 0.73 without,
   0.34 with; on held-out training-distribution problems it changes nothing).
   ``symmetrise`` (default when none of ``lstsq``, ``refine``, ``finetune`` is asked for): the
   same for the problem moved by each symmetry of the square (eight; two for time
   problems), in one batch, and the networks' mean taken, each evaluated at the moved
   point (:class:`pino._symmetry.Symmetrised`): exactly equivariant, and on held-out
   problems 20-25% lower median error than one network.
3. ``lstsq=True``: its output layer is replaced by the least-squares solution of the linear
   physics-informed problem on the encoding's points (:func:`pino.lstsq_solve` with the
   network's ``body`` as features: the generated features and the fixed ridge features).
   Without ``lstsq`` the networks have no ridge features (their weights would be zero).
4. ``refine=k``: HyPINO's iterative refinement, k times: the residuals of the current sum
   ``U = sum_i c_i U_i`` (``f - L U`` in the interior, ``g - B U`` on the boundary, B the
   condition operator of each point) form a new problem with the same geometry and
   coefficients (:func:`residual_encoding`; rasters through the same helper as
   :func:`pino.encode`); the network generated for it is added to the sum (with
   ``lstsq=True`` its output layer is solved by least squares on the residual problem and
   its fixed ridge features are drawn afresh, seed ``ridge_seed + k``, so that the basis of
   the sum grows). Valid because L and B are linear. The residual problem is first
   multiplied by ``s = size(original data) / size(residual)`` (size: the largest |value|
   of the source and boundary data at the encoding's points) so that the hypernetwork,
   which is not linear in its input, sees data of the size it was asked about (and the
   correction is generated with the normalisation of step 2). The
   correction enters the sum with the factor ``c`` that minimises the physics loss of the
   sum (the loss is quadratic in ``c``; ``info["refine_factors"]``): HyPINO adds it with
   ``c = 1 / s``, which raises the loss whenever the correction is poor; a line search
   never does. After a least-squares head the two agree (``1 / s`` is then the optimum).
5. ``finetune=n``: n Adam steps (lr 1e-3) then ``min(n, 200)`` L-BFGS iterations (strong
   Wolfe line search); a phase that ends with a higher loss than it began with is undone;
   deterministic given ``seed``; the state kept is the one with the lowest physics loss on
   held-out points (``encode(problem, seed=seed + CHECK_SEED)``), checked every 20 Adam
   steps and 10 L-BFGS iterations. Without ``lstsq``: on the physics loss
   :func:`physics_loss` over all parameters of all networks of the sum, in float32.
   After ``lstsq``: variable projection (:func:`finetune_projected`, float64): the
   generated layers of the first network are tuned while the output weights (and the
   factors of the other networks) stay the least-squares optimum for the current
   features; gradient steps with the output weights as free parameters spoil a
   least-squares head (its weights are large and cancel).
6. ``lift`` (default for the plain zero-shot answer of a steady elliptic problem with
   Dirichlet data): the Dirichlet lift of :mod:`pino._lift` is added to the final sum: its
   mismatch ``g - U`` at 4096 boundary samples (the Dirichlet ones kept), extended inside by
   the normalised Poisson kernel in the metric of the operator's principal part. Forward
   only. On random Laplace problems with holes it cuts the median zero-shot error from
   0.055 to 0.016 (``bench/hypino_kinds.py``); the residuals recorded for it include the
   lift's own (closed-form) derivatives, so its PDE residual is larger than the network's:
   the kernel blend is harmonic only on a disk or a half-plane.
7. The sum is evaluated at the DOF locations of a Lagrange basis on
   ``problem.domain.mesh(h, order=min(order, 2))`` -> :class:`fem.Solution` (the FE
   interpolant of the network). ``sol.network`` is a :class:`ZeroShotNetwork`: exact point
   values of the network sum at physical points (N, 2).

Time problems (1D + time, ``(x, t)`` mapped onto [-1, 1]^2): the Solution is a time series,
as ``fem.solve`` returns: the interval meshed with ``h``, ``times = linspace(t0, t1, n)``
with steps of at most ``h`` (``h`` default: the smaller side of the ``(x, t)`` box / 40),
``dofs[k] = U(doflocs, times[k])``; values between stored times are interpolated linearly
by the Solution, exact ones come from ``sol.network(points (N, 2) of (x, t))``.

The physics loss (and ``info["residual"]``) uses the groups and weights of the least-squares
head (:data:`pino._lstsq.DEFAULT_WEIGHTS`): ``sum_g w_g^2 mean(r_g^2)`` over the groups pde,
dirichlet, neumann, robin, so ``lstsq=True`` minimises exactly the loss that ``finetune``
then lowers further.

>>> sol = pino.solve(problem, method="hypino", model="runs/hypino", lstsq=True)   # doctest: +SKIP
>>> sol.info["residual"]["loss"], sol.network([[0.1, 0.2]])                        # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time

import numpy as np
import torch
from skfem import CellBasis
from torch import nn

import fem

from ._encoding import (DIRICHLET, NEUMANN, ROBIN, _boundary, _check_family,
                        _compiled, _physical_coefficients, _rasterise, encode)
from ._checkpoint import read_meta
from ._hypino import (MODELS, GeneratedPINNs, HyperNetwork, _as_inputs, boundary_operator, dirichlet_shifts,
                      load_hypino, point_derivatives, shift_rasters)
from ._lift import lift_for
from ._lstsq import DEFAULT_WEIGHTS, lstsq_solve, lstsq_system, scaled_svd, svd_solve
from ._symmetry import Symmetrised, moved_inputs, symmetries

__all__ = ["solve_hypino", "NetworkSum", "ZeroShotNetwork", "physics_residuals", "physics_loss",
           "residual_encoding", "train_physics", "finetune_projected"]

_GROUPS = {DIRICHLET: "dirichlet", NEUMANN: "neumann", ROBIN: "robin"}
_TRAIN_HINT = ("train one with `pino train hypino --out runs/hypino --samples 20000 --epochs 50` "
               "and pass model=\"runs/hypino\" (the checkpoint folder), or pass model=<a "
               "pino.HyperNetwork>")


# ======================================================================================
# the network sum
# ======================================================================================
class NetworkSum(nn.Module):
    """``U(X) = sum_i factors[i] * nets[i](X)`` at reference points X (N, 2) -> (N,).

    >>> from pino._hypino import PINNModule
    >>> s = NetworkSum([PINNModule(frequencies=1, width=4, depth=1, basis=4)], [1.0])
    >>> s(torch.zeros(3, 2)).shape
    torch.Size([3])
    """

    def __init__(self, nets=(), factors=()):
        super().__init__()
        self.nets = nn.ModuleList()
        self.register_buffer("factors", torch.zeros(0, dtype=torch.float64))
        for n, c in zip(nets, factors, strict=True):
            self.append(n, c)

    def append(self, net, factor=1.0):
        """Add ``factor * net`` to the sum (in place); returns self."""
        self.nets.append(net)
        c = torch.tensor([float(factor)], dtype=self.factors.dtype, device=self.factors.device)
        self.factors = torch.cat([self.factors, c])
        return self

    def __len__(self):
        return len(self.nets)

    def forward(self, X):
        out = 0.0
        for c, net in zip(self.factors, self.nets):
            out = out + c.to(X.dtype) * net(X)
        return out

    def derivatives(self, X):
        """u, u_x, u_y, u_xx, u_yy, u_xy (N, 6) in closed form (the networks' own)."""
        out = 0.0
        for c, net in zip(self.factors, self.nets):
            out = out + c.to(X.dtype) * net.derivatives(X)
        return out


class ZeroShotNetwork:
    """The solution network of a zero-shot solve, on physical points: ``net(points (N, 2))``
    -> numpy (N,) (``(x, t)`` pairs for time problems). ``net.module`` is the
    :class:`NetworkSum` in the reference frame, ``net.lift`` the Dirichlet lift added to it
    (a :class:`pino._lift.DirichletLift`, or None), ``net.encoding`` the problem's
    :class:`~pino.Encoding` (``X = encoding.to_reference(points)``).

    >>> sol.network(np.array([[0.1, 0.2], [0.3, 0.4]]))            # doctest: +SKIP
    array([...])
    """

    def __init__(self, module, encoding, chunk=16384, lift=None):
        self.module, self.encoding, self.chunk, self.lift = module, encoding, int(chunk), lift

    def reference(self, X):
        """Values at reference points X (N, 2) in [-1, 1]^2 (numpy (N,))."""
        p = next(iter(self.module.parameters()))
        X = np.asarray(X, dtype=float)
        out = []
        with torch.no_grad():
            for s in range(0, len(X), self.chunk):
                T = torch.as_tensor(X[s:s + self.chunk], dtype=p.dtype, device=p.device)
                U = self.module(T) + (self.lift(T) if self.lift is not None else 0)
                out.append(U.double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def __call__(self, points):
        return self.reference(self.encoding.to_reference(points))

    def __repr__(self):
        lift = " + Dirichlet lift" if self.lift is not None else ""
        return f"ZeroShotNetwork({len(self.module)} network(s){lift}, {self.encoding.name!r})"


# ======================================================================================
# physics residuals
# ======================================================================================
def _point_derivatives(net, X, second, closed):
    """``point_derivatives`` by autograd, or (``closed``, where ``net`` has them) the
    networks' closed-form derivatives: the same values, several times cheaper, for the
    residuals that are only read (fine-tuning keeps autograd, whose rounding it was tuned with)."""
    if closed and hasattr(net, "derivatives"):
        return net.derivatives(X)
    return point_derivatives(net, X, second)


def _apply_operator(net, X, coefficients, second, closed=False):
    return _point_derivatives(net, X, second, closed) @ coefficients


def _apply_boundary(net, P, kind, directions, alpha, closed=False):
    """B U at boundary points: U (Dirichlet), d.grad U (Neumann), d.grad U + alpha U (Robin)."""
    return boundary_operator(_point_derivatives(net, P, False, closed), directions, kind, alpha)


def _tensors(enc, dtype, device):
    t = lambda a, dt=dtype: torch.as_tensor(np.asarray(a), dtype=dt, device=device)  # noqa: E731
    return {"C": t(enc.coefficients), "X": t(enc.interior), "f": t(enc.interior_source),
            "P": t(enc.boundary_points), "kind": t(enc.boundary_kind, torch.int64),
            "d": t(enc.boundary_directions), "alpha": t(enc.boundary_alpha), "g": t(enc.boundary_g),
            "second": bool(np.any(enc.coefficients[3:] != 0))}


def physics_residuals(net, enc, *, create_graph=False, _cache=None):
    """Residuals of ``net`` (reference points (N, 2) -> (N,)) for the problem of ``enc``, at
    its point sets: ``{"pde": L U - f (interior), "dirichlet"/"neumann"/"robin": B U - g}``
    (tensors; groups without points left out).

    >>> r = physics_residuals(module, encode(problem))                  # doctest: +SKIP
    >>> float(r["pde"].pow(2).mean().sqrt())                           # doctest: +SKIP
    """
    if _cache is None:
        p = next(iter(net.parameters()))
        _cache = _tensors(enc, p.dtype, p.device)
    T = _cache
    closed = not create_graph
    with torch.enable_grad():
        out = {"pde": _apply_operator(net, T["X"], T["C"], T["second"], closed) - T["f"]}
        bu = _apply_boundary(net, T["P"], T["kind"], T["d"], T["alpha"], closed) - T["g"]
    if not create_graph:
        out = {k: v.detach() for k, v in out.items()}
        bu = bu.detach()
    for code, name in _GROUPS.items():
        sel = T["kind"] == code
        if bool(sel.any()):
            out[name] = bu[sel]
    return out


def physics_loss(net, enc, weights=None, _cache=None):
    """``sum_g w_g^2 mean(r_g^2)`` over the groups of :func:`physics_residuals` (differentiable);
    ``weights`` overrides :data:`pino._lstsq.DEFAULT_WEIGHTS`."""
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    r = physics_residuals(net, enc, create_graph=True, _cache=_cache)
    return sum(w[k] ** 2 * v.pow(2).mean() for k, v in r.items())


def _best_factor(corr, renc, s, cache):
    """The factor c that minimises ``physics_loss(total + c * corr)``: the loss is quadratic
    in c, so c = -<r, a> / <a, a> with r the residuals of ``total`` (read back from its
    residual encoding ``renc``, whose data are ``-s r``) and a = (L corr, B corr) (the
    residuals of ``corr`` plus the data), in the loss's weighted inner product."""
    rc = physics_residuals(corr, renc, _cache=cache)     # cache: the original data f, g
    t = lambda a: torch.as_tensor(a, dtype=cache["f"].dtype, device=cache["f"].device)  # noqa: E731
    r, data = {"pde": -t(renc.interior_source) / s}, {"pde": cache["f"]}
    rg = -t(renc.boundary_g) / s
    for code, name in _GROUPS.items():
        sel = cache["kind"] == code
        r[name], data[name] = rg[sel], cache["g"][sel]
    num = den = 0.0
    for k, v in rc.items():
        a = v + data[k]
        num += DEFAULT_WEIGHTS[k] ** 2 * float((r[k] * a).mean())
        den += DEFAULT_WEIGHTS[k] ** 2 * float((a * a).mean())
    return -num / den if den > 0 else 0.0


def _summary(net, enc, cache=None, residuals=None):
    """RMS residual per group and the loss (floats), of ``net`` or of the given ``residuals``
    (a dict of :func:`physics_residuals`)."""
    r = physics_residuals(net, enc, _cache=cache) if residuals is None else residuals
    out = {k: float(v.pow(2).mean().sqrt()) for k, v in r.items()}
    out["loss"] = float(sum(DEFAULT_WEIGHTS[k] ** 2 * v ** 2 for k, v in out.items()))
    return out


# ======================================================================================
# residual problems
# ======================================================================================
class _RasterContext:
    """What a residual encoding needs beyond an Encoding: the exact source at the raster
    pixels inside the domain and the raster's boundary samples (as ``encode`` drew them)."""

    def __init__(self, problem, enc):
        timed = enc.is_time_dependent
        g1 = enc.grid
        GX, GY = np.meshgrid(g1, g1)
        grid = np.stack([GX.ravel(), GY.ravel()], 1)
        self.inside = enc.domain_mask.ravel() > 0
        self.grid = grid[self.inside]
        f = _compiled(problem.canonical.f, timed)
        self.f = enc.scale * f(enc.to_physical(self.grid))
        P, _, D, _, K, A, G = _boundary(problem, int(enc.info["n_raster_samples"]),
                                        int(enc.info["seed"]) + 1, enc.half, regular=timed)
        self.Xb, self.Db, self.Kb, self.Ab, self.Gb = enc.to_reference(P), D, K, A, G


def residual_encoding(enc, net, context, normalise=True):
    """The problem whose solution is the error ``u - U`` of ``net``: same geometry,
    coefficients and condition types as ``enc``; source and boundary values (rasters and
    points) replaced by the residuals ``f - L U`` and ``g - B U``, rasterised with the same
    helper as :func:`pino.encode`. Returns ``(encoding, s)``: with ``normalise`` the data are
    multiplied by ``s`` so that their largest |value| equals that of ``enc`` (else s = 1);
    the error is then ``solution / s``. ``context`` comes from ``_RasterContext(problem, enc)``.
    """
    p = next(iter(net.parameters()))
    dt, dev = p.dtype, p.device
    T = _tensors(enc, dt, dev)
    r = physics_residuals(net, enc, _cache=T)
    bu = torch.zeros(len(enc.boundary_g), dtype=dt, device=dev)
    for code, name in _GROUPS.items():
        if name in r:
            bu[T["kind"] == code] = r[name]
    rf = -r["pde"].double().cpu().numpy()
    rg = -bu.double().cpu().numpy()
    s = 1.0
    if normalise:
        size = max(np.max(np.abs(rf), initial=0.0), np.max(np.abs(rg), initial=0.0))
        ref = max(np.max(np.abs(enc.interior_source), initial=0.0), np.max(np.abs(enc.boundary_g), initial=0.0))
        s = ref / size if size > 0 and ref > 0 else 1.0
    # rasters
    C = torch.as_tensor(enc.coefficients, dtype=dt, device=dev)
    second = bool(np.any(enc.coefficients[3:] != 0))
    R = enc.resolution
    with torch.enable_grad():
        Xg = torch.as_tensor(context.grid, dtype=dt, device=dev)
        lu = _apply_operator(net, Xg, C, second, True).detach().double().cpu().numpy() if len(Xg) else np.zeros(0)
        Pb = torch.as_tensor(context.Xb, dtype=dt, device=dev)
        bub = _apply_boundary(net, Pb, torch.as_tensor(context.Kb, device=dev),
                              torch.as_tensor(context.Db, dtype=dt, device=dev),
                              torch.as_tensor(context.Ab, dtype=dt, device=dev), True)
    bub = bub.detach().double().cpu().numpy()
    fr = np.zeros(R * R)
    fr[context.inside] = s * (context.f - lu)
    source = (np.sign(fr) * np.log1p(np.abs(fr))).reshape(R, R).astype(np.float32)
    gb = s * (context.Gb - bub)
    rasters = {}
    for code, name in _GROUPS.items():
        sel = context.Kb == code
        if sel.any():
            vals = [gb[sel]] + ([context.Ab[sel]] if code == ROBIN else [])
            mask, rv = _rasterise(context.Xb[sel], vals, R)
            rasters[f"{name}_value"] = rv[0]
    new = dataclasses.replace(enc, source=source, interior_source=s * rf, boundary_g=s * rg,
                              info={**enc.info, "residual_of": enc.name, "residual_scale": s},
                              **rasters)
    return new, s


# ======================================================================================
# fitting
# ======================================================================================
def _set_head(net, weights):
    with torch.no_grad():
        w = weights.to(net.out.weight)
        net.out.weight.copy_(w[:-1][None])
        net.out.bias.copy_(w[-1:])


def train_physics(net, enc, adam_steps, lbfgs_iters, *, lr=1e-3, seed=0, seconds=None, check_enc=None):
    """Minimise :func:`physics_loss` of ``net`` (all its parameters) on ``enc``'s points:
    ``adam_steps`` of Adam (``lr``) then ``lbfgs_iters`` L-BFGS iterations (strong Wolfe).
    ``seconds=(adam_s, lbfgs_s)`` instead runs each phase for that wall time (the step
    counts are then upper bounds; None = no limit). A phase that ends worse than it began
    (or not finite) is undone. ``check_enc``: an encoding of the same problem on other
    points; the state with the lowest physics loss there (checked every 20 Adam steps and 10
    L-BFGS iterations) is the one returned, so that fitting the collocation points too
    closely (a loss that falls while the error rises) is caught. Returns a dict: steps and
    iterations done, seconds, loss before and after each phase, ``adam_undone``,
    ``lbfgs_undone``, and with ``check_enc`` ``check_start``, ``check_end``."""
    p0 = next(iter(net.parameters()))
    T = _tensors(enc, p0.dtype, p0.device)
    check = None
    if check_enc is not None:
        Tc = _tensors(check_enc, p0.dtype, p0.device)
        check = lambda: float(physics_loss(net, check_enc, _cache=Tc).detach())  # noqa: E731
    return _minimise(net, list(net.parameters()), lambda: physics_loss(net, enc, _cache=T),
                     adam_steps, lbfgs_iters, lr, seed, seconds, check)


def _minimise(net, params, loss_fn, adam_steps, lbfgs_iters, lr, seed, seconds, check=None):
    """Adam then L-BFGS on ``loss_fn()`` over ``params`` (of ``net``); see train_physics.
    ``check()``: a held-out loss; the state where it was lowest is restored at the end."""
    torch.manual_seed(seed)
    for p in params:
        p.requires_grad_(True)
    limit_a, limit_l = (None, None) if seconds is None else seconds
    info = {"adam_steps": 0, "lbfgs_iterations": 0, "lbfgs_undone": False}
    best = {"value": math.inf, "state": None}

    def track():
        if check is not None:
            v = check()
            info.setdefault("check_start", v)
            if math.isfinite(v) and v < best["value"]:
                best["value"], best["state"] = v, copy.deepcopy(net.state_dict())

    t0 = time.perf_counter()
    info["loss_start"] = float(loss_fn().detach())
    start_state = copy.deepcopy(net.state_dict())
    track()
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(int(adam_steps)):
        if limit_a is not None and time.perf_counter() - t0 >= limit_a:
            break
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        info["adam_steps"] += 1
        if info["adam_steps"] % 20 == 0:
            track()
    info["adam_seconds"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    before = float(loss_fn().detach())
    info["loss_adam"] = before
    info["adam_undone"] = not (math.isfinite(before) and before <= info["loss_start"])
    if info["adam_undone"]:
        net.load_state_dict(start_state)
        before = info["loss_start"]
    if lbfgs_iters > 0:
        saved = copy.deepcopy(net.state_dict())
        # chunks: to stop on time, or to check the held-out loss in between
        chunk = int(lbfgs_iters) if limit_l is None and check is None else min(5 if limit_l else 10, int(lbfgs_iters))
        lb = torch.optim.LBFGS(params, lr=1.0, max_iter=chunk, history_size=50,
                               tolerance_grad=1e-12, tolerance_change=1e-15,
                               line_search_fn="strong_wolfe")

        def closure():
            lb.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            return loss

        done = 0
        while done < lbfgs_iters:
            if limit_l is not None and time.perf_counter() - t1 >= limit_l:
                break
            lb.param_groups[0]["max_iter"] = min(chunk, int(lbfgs_iters) - done)
            try:
                lb.step(closure)
            except RuntimeError:               # the line search overflowed: stop, undo below
                info["lbfgs_failed"] = True
                break
            n = lb.state[lb._params[0]].get("n_iter", 0)
            if n <= done:                      # converged: L-BFGS made no iteration
                break
            done = n
            track()
        info["lbfgs_iterations"] = int(done)
        after = float(loss_fn().detach())
        if info.get("lbfgs_failed") or not (math.isfinite(after) and after <= before):
            net.load_state_dict(saved)
            info["lbfgs_undone"] = True
    info["lbfgs_seconds"] = time.perf_counter() - t1
    if check is not None:
        track()
        if best["state"] is not None:
            net.load_state_dict(best["state"])
        info["check_end"] = best["value"]
    info["loss_end"] = float(loss_fn().detach())
    for p in params:
        p.requires_grad_(False)
    return info


def _fixed_columns(total, enc, T, A, basis):
    """The columns of the least-squares system that fine-tuning keeps fixed: the first
    network's ridge features and bias (from its system ``A``) and, for every further
    network of the sum, its whole output (one column: L U_j, B U_j, times its factor)."""
    cols = [A[:, basis:]]
    w = DEFAULT_WEIGHTS
    for c, other in zip(total.factors[1:], total.nets[1:]):
        r = physics_residuals(other, enc, _cache=T)
        data = {"pde": T["f"], **{name: T["g"][T["kind"] == code] for code, name in _GROUPS.items()}}
        col = torch.cat([w[k] / math.sqrt(len(v)) * (v + data[k]) for k, v in r.items()])
        cols.append(float(c) * col.double()[:, None])
    return torch.cat(cols, 1)


def finetune_projected(total, enc, adam_steps, lbfgs_iters, *, lr=1e-3, seed=0, seconds=None,
                       rcond=1e-12, check_enc=None):
    """Fine-tune the generated features of a sum whose output layers were solved by least
    squares, by variable projection: the output weights are eliminated (always the
    least-squares optimum for the current features), and Adam then L-BFGS (as
    :func:`train_physics`) lower the resulting reduced loss over the generated layers of
    ``total.nets[0]`` (a :class:`PINNModule` with ridge features).

    With the system ``[G(theta) F] w = b`` (G: the generated features, differentiable
    through their closed-form derivatives; F: the fixed columns, ridge features, bias and
    the other networks of the sum, whose factors are solved too), the reduced loss is
    ``||(I - Q Q^T)(G w_G - b)||^2`` minimised over ``w_G`` (Q: an orthonormal basis of F's
    range, truncated at ``rcond``); by the envelope theorem its gradient is that at fixed
    optimal ``w_G``. Gradient steps on the features with the output weights as free
    parameters fail here: least-squares weights are large and cancel, and a step spoils
    them. At the end the output layer and factors are set to the optimum; if the physics
    loss is not lower than before, everything is undone. ``check_enc``: as in
    :func:`train_physics`, judged with the output weights solved on ``enc``'s points (with
    the projection's freedom the collocation loss can fall by orders of magnitude while the
    error rises). Returns train_physics's dict plus ``loss_lstsq`` and ``loss_final``
    (physics losses) and ``undone``.
    """
    net = total.nets[0]
    body, basis = net.body, net.config["basis"]
    if body.ridge is None:
        raise ValueError("finetune_projected: the first network must have ridge features "
                         "(generate it with module(i, ridge=True)) and a least-squares head")
    p0 = next(iter(net.parameters()))
    T = _tensors(enc, p0.dtype, p0.device)
    before = float(physics_loss(total, enc, _cache=T).detach())
    saved = copy.deepcopy(total.state_dict())
    with torch.no_grad():
        A, b, _ = lstsq_system(body, enc)
        F = _fixed_columns(total, enc, T, A, basis)
        U, S, Vh, cn, keep = scaled_svd(F, rcond)
        Q, S, Vh = U[:, keep], S[keep], Vh[keep]
        bt = b - Q @ (Q.T @ b)

    def projected():
        G = lstsq_system(body, enc, derivatives=body.gated_derivatives)[0][:, :basis]
        return G, G - Q @ (Q.T @ G)

    def loss_fn():
        _, Gt = projected()
        w = svd_solve(Gt.detach(), bt, rcond)[0]
        return (Gt @ w - bt).pow(2).sum()

    def weights():
        G, Gt = projected()
        wg = svd_solve(Gt, bt, rcond)[0]
        return wg, Vh.T @ ((Q.T @ (b - G @ wg)) / S) / cn

    check = None
    if check_enc is not None:
        with torch.no_grad():
            Ac, bc, _ = lstsq_system(body, check_enc)
            Fc = _fixed_columns(total, check_enc, _tensors(check_enc, p0.dtype, p0.device), Ac, basis)

        def check():
            with torch.no_grad():
                wg, cf = weights()
                Gc = lstsq_system(body, check_enc, derivatives=body.gated_derivatives)[0][:, :basis]
                return float((Gc @ wg + Fc @ cf - bc).pow(2).sum())

    params = [p for name, p in body.named_parameters() if not name.startswith("ridge.")]
    info = _minimise(net, params, loss_fn, adam_steps, lbfgs_iters, lr, seed, seconds, check)
    with torch.no_grad():
        wg, cf = weights()
        ridge = body.ridge.out_features
        net.out.weight.copy_(torch.cat([wg, cf[:ridge]])[None].to(net.out.weight))
        net.out.bias.copy_(cf[ridge:ridge + 1].to(net.out.bias))
        total.factors[1:] = total.factors[1:] * cf[ridge + 1:].to(total.factors)
    after = float(physics_loss(total, enc, _cache=T).detach())
    info["undone"] = not (math.isfinite(after) and after <= before)
    if info["undone"]:
        total.load_state_dict(saved)
    info["loss_lstsq"], info["loss_final"] = before, min(after, before) if math.isfinite(after) else before
    return info


# ======================================================================================
# the method
# ======================================================================================
_LOADED = {}
CHECK_SEED = 10007   # the fine-tuning's held-out points: encode(seed=seed + CHECK_SEED)
LIFT_SEED = 20011    # the Dirichlet lift's boundary samples (apart from the encoding's)


def _is_hypino(folder):
    try:
        return read_meta(folder).get("config", {}).get("kind") == "hypino"
    except (OSError, ValueError):
        return False


def _resolve_model(model, device):
    if isinstance(model, HyperNetwork):
        return model if device is None else model.to(device)
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"solve_hypino: model must be a pino.HyperNetwork, a checkpoint folder or "
                        f"the name of a shipped model, got {type(model).__name__}")
    name = os.fspath(model)
    folder = name if os.path.isdir(name) else os.path.join(MODELS, name)
    if not os.path.exists(os.path.join(folder, "meta.json")):
        shipped = sorted(d for d in os.listdir(MODELS) if _is_hypino(os.path.join(MODELS, d))) \
            if os.path.isdir(MODELS) else []
        what = (f"the shipped models are {', '.join(shipped)}" if shipped
                else "no pretrained hypernetwork ships with pinofem yet")
        raise ValueError(f"solve_hypino: no hypernetwork {name!r} (not a checkpoint folder, not a "
                         f"shipped model; {what}); {_TRAIN_HINT}")
    meta = os.path.join(folder, "meta.json")
    key = (os.path.realpath(folder), os.path.getmtime(meta), str(device))
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_hypino(folder, device=device)
    return _LOADED[key]


_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _check_options(refine, lstsq, finetune, h, order, normalise=0, symmetrise=None, dtype=None, shift=False,
                   lift=None):
    for nm, v in (("refine", refine), ("finetune", finetune), ("normalise", normalise)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"solve_hypino: {nm} must be an integer >= 0, got {v!r}")
    if not isinstance(lstsq, (bool, np.bool_)):
        raise ValueError(f"solve_hypino: lstsq must be True or False, got {lstsq!r}")
    if h is not None and not (isinstance(h, (int, float)) and not isinstance(h, bool) and h > 0):
        raise ValueError(f"solve_hypino: h must be a positive number (element size), got {h!r}")
    if order not in (1, 2, 3):
        raise ValueError(f"solve_hypino: order must be 1, 2 or 3, got {order!r}")
    for nm, v in (("symmetrise", symmetrise), ("lift", lift)):
        if v is not None and not isinstance(v, (bool, np.bool_)):
            raise ValueError(f"solve_hypino: {nm} must be None, True or False, got {v!r}")
    if dtype is not None and not (isinstance(dtype, str) and dtype in _DTYPES
                                  or isinstance(dtype, torch.dtype) and dtype in _DTYPES.values()):
        raise ValueError(f"solve_hypino: dtype must be None, 'float32' or 'float64', got {dtype!r}")
    if not isinstance(shift, (bool, np.bool_)):
        raise ValueError(f"solve_hypino: shift must be True or False, got {shift!r}")
    if shift and lstsq:
        raise ValueError("solve_hypino: shift=True cannot be combined with lstsq=True (the "
                         "least-squares head replaces the generated output layers of one network)")
    if symmetrise and lstsq:
        raise ValueError("solve_hypino: symmetrise=True cannot be combined with lstsq=True (the "
                         "least-squares head replaces the generated output layers of one network); "
                         "leave symmetrise unset")


def _generate(model, enc, dtype, ridge, passes=2, symmetrise=False, shift=False):
    """The network generated for ``enc`` (a :class:`PINNModule`), after ``passes`` rounds of
    amplitude normalisation (:meth:`HyperNetwork.generate_normalised`; the scaled data's
    answer divided by the scale); ``symmetrise``: the mean of the networks generated for the
    problem moved by each symmetry of the square (:class:`pino._symmetry.Symmetrised`, one
    batch); ``shift``: where a constant is a solution of the equation (steady, no u term),
    the mean of the answers for ``u - lo`` and ``u - hi`` (each plus its constant), lo and hi
    the smallest and largest Dirichlet value (:func:`pino._hypino.dirichlet_shifts`).
    Returns ``(net, k)`` (k: the first network's normalisation factor)."""
    p = next(model.parameters())
    rasters, coefs = _as_inputs(enc, model.resolution)
    mats = symmetries(enc.is_time_dependent) if symmetrise else [np.eye(2)]
    shifts = [0.0]
    if shift:
        lo, hi = (float(v) for v in dirichlet_shifts(rasters, coefs, enc.is_time_dependent))
        shifts = [lo] if lo == hi else [lo, hi]
    P = torch.as_tensor(np.concatenate([enc.interior, enc.boundary_points]))[None]
    parts = [moved_inputs(shift_rasters(rasters, c) if c else rasters, coefs, P, M) for c in shifts for M in mats]
    rasters, coefs, P = (torch.cat(group) for group in zip(*parts))
    with torch.no_grad():
        w, k = model.generate_normalised(rasters.to(p.device, p.dtype), coefs.to(p.device, p.dtype),
                                         P.to(p.device), passes)
        w["out.bias"] = w["out.bias"] + torch.as_tensor(np.repeat(shifts, len(mats)), dtype=w["out.bias"].dtype,
                                                        device=w["out.bias"].device)[:, None]
    gen = GeneratedPINNs(model.target, w)
    nets = [gen.module(i, ridge=ridge).to(dtype) for i in range(len(parts))]
    net = nets[0] if len(nets) == 1 else Symmetrised(nets, mats * len(shifts)).to(device=p.device, dtype=dtype)
    return net, float(k[0])


def solve_hypino(problem, model="hypino", refine=0, lstsq=False, finetune=0, h=None, order=1,
                 seed=0, device=None, normalise=2, symmetrise=None, dtype=None, shift=False, lift=None):
    """Solve ``problem`` zero-shot with a hypernetwork; returns a :class:`fem.Solution`.

    ``model``: a :class:`pino.HyperNetwork`, a checkpoint folder of ``pino train hypino`` or
    the name of a model shipped in ``pino/models``; ``refine``: rounds of residual
    refinement (a generated correction network each); ``lstsq``: output layers by least
    squares; ``finetune``: Adam steps (then ``min(finetune, 200)`` L-BFGS iterations) on the
    physics loss (by variable projection after ``lstsq``); ``h``, ``order``: the mesh (default h: the bounding box's smaller side /
    40; for time problems also the largest time step) and the Lagrange order the network is
    interpolated on; ``seed``: the encoding's points and the fine-tuning; ``device``: where
    the networks run (default: the model's device); ``normalise``: passes of amplitude
    normalisation (0: off); ``symmetrise``: average the networks generated for the problem
    moved by the symmetries of the square (default: True for the plain zero-shot answer,
    False with ``lstsq``, ``refine`` or ``finetune``: a refined or fine-tuned mean of eight
    networks costs up to eight times as much); ``shift``: for a steady equation without a
    u term, also average the answers for ``u - c`` (Dirichlet data ``g - c``, Robin
    ``g - alpha c``), c the smallest and the largest Dirichlet value, each plus its c
    (twice the networks; not with ``lstsq``); ``lift``: add the Dirichlet lift
    (:mod:`pino._lift`: the network's mismatch with the Dirichlet data extended inside by the
    normalised Poisson kernel; forward only) to the final network (default: True for the
    plain zero-shot answer of a steady elliptic problem with Dirichlet data, else False;
    True for a time problem, an operator that is not elliptic or no Dirichlet data is an
    error); ``dtype``: "float32" or "float64", the
    precision the generated networks run in (default: float32 for the zero-shot answer and
    ``refine``, whose weights come from a float32 hypernetwork anyway, so float64 adds cost
    and no accuracy; float64 with ``lstsq`` or ``finetune``, whose solves reach below
    float32's resolution). The pipeline is
    described in :mod:`pino._zeroshot`.

    ``info``: method, refine, lstsq, finetune, seed, h, order, n_dofs, ``timings`` (seconds:
    load, encode, generate, lstsq, refine, finetune, lift, mesh, evaluate, total), ``residual``
    (RMS residual per group and the loss of the final network, reference frame),
    ``stages`` (the same after each stage), ``residual_scales`` (the factors s of the
    refinement rounds), ``refine_factors`` (the factors c of the corrections), ``finetune_info``,
    ``normalise`` and ``data_scale`` (the factor k of the first network's normalisation),
    ``symmetrise``, ``shift``, ``lift``, ``dtype``.
    ``sol.network``: exact point values.

    >>> sol = solve_hypino(problem, model="runs/hypino", lstsq=True, refine=2)   # doctest: +SKIP
    """
    t_all = time.perf_counter()
    where = f"solve_hypino({problem.name!r})" if getattr(problem, "name", None) else "solve_hypino"
    _check_family(problem, where)
    _physical_coefficients(problem, where)
    _check_options(refine, lstsq, finetune, h, order, normalise, symmetrise, dtype, shift, lift)
    # default: on for the plain zero-shot answer only; refining or fine-tuning a mean of
    # eight networks costs up to eight times as much (refine=3: 20-30 s instead of 3 s)
    symmetrise = not (lstsq or finetune or refine) if symmetrise is None else bool(symmetrise)
    timings = {}
    t0 = time.perf_counter()
    hyper = _resolve_model(model, device)
    timings["load"] = time.perf_counter() - t0
    dtype = _DTYPES.get(dtype, dtype) or (torch.float64 if lstsq or finetune else torch.float32)

    t0 = time.perf_counter()
    enc = encode(problem, resolution=hyper.resolution, seed=seed)
    timings["encode"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    net, amp = _generate(hyper, enc, dtype, ridge=lstsq, passes=normalise, symmetrise=symmetrise, shift=shift)
    timings["generate"] = time.perf_counter() - t0
    total = NetworkSum([net], [1.0]).to(device=next(net.parameters()).device)
    for p in total.parameters():
        p.requires_grad_(False)
    cache = _tensors(enc, dtype, next(net.parameters()).device)
    stages = []

    def record(name, **extra):
        """Append the stage's residual summary; returns its residuals (the lift adds to them)."""
        r = physics_residuals(total, enc, _cache=cache)
        stages.append({"stage": name, **extra, **_summary(total, enc, residuals=r)})
        return r

    last = record("zero-shot")

    timings["lstsq"] = 0.0
    if lstsq:
        t0 = time.perf_counter()
        res = lstsq_solve(net.body, enc)
        _set_head(net, res.weights)
        timings["lstsq"] += time.perf_counter() - t0
        last = record("lstsq", rank=res.rank)

    t0 = time.perf_counter()
    scales, factors = [], []
    if refine:
        context = _RasterContext(problem, enc)
        for k in range(int(refine)):
            renc, s = residual_encoding(enc, total, context)
            corr, _ = _generate(hyper, renc, dtype, ridge=lstsq, passes=normalise, symmetrise=symmetrise)
            if lstsq:
                # fresh ridge features each round: the sum's basis grows by a full width
                corr.body.draw_ridge(corr.config["ridge_seed"] + k + 1)
                t1 = time.perf_counter()
                _set_head(corr, lstsq_solve(corr.body, renc).weights)
                timings["lstsq"] += time.perf_counter() - t1
            for p in corr.parameters():
                p.requires_grad_(False)
            c = _best_factor(corr, renc, s, cache)
            total.append(corr, c)
            scales.append(s)
            factors.append(c)
            last = record(f"refine {k + 1}")
    timings["refine"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ft_info = None
    if finetune:   # held-out points: fine-tuning keeps the state that fits them best
        check_enc = encode(problem, resolution=hyper.resolution, seed=seed + CHECK_SEED)
    if finetune and lstsq:
        ft_info = finetune_projected(total, enc, int(finetune), min(int(finetune), 200), seed=seed,
                                     check_enc=check_enc)
    elif finetune:
        total.float()                          # about 2x faster than float64 here
        ft_info = train_physics(total, enc, int(finetune), min(int(finetune), 200), seed=seed,
                                check_enc=check_enc)
        total.to(dtype)
    if finetune:
        last = record("finetune")
    timings["finetune"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    asked = lift
    lift = not (lstsq or finetune or refine) if lift is None else bool(lift)
    lifter = lift_for(problem, enc, total, seed=seed + LIFT_SEED) if lift else None
    if asked and lifter is None:
        raise ValueError(f"{where}: lift=True needs a steady problem with an elliptic operator and "
                         "Dirichlet data (the Poisson kernel is the lift of those); leave lift unset")
    lift = lifter is not None
    if lift:
        # residuals are linear in U: those of U plus those of the lift with zero data
        nodata = cache | {"f": torch.zeros_like(cache["f"]), "g": torch.zeros_like(cache["g"])}
        extra = physics_residuals(lifter, enc, _cache=nodata)
        stages.append({"stage": "lift", **_summary(total, enc, residuals={k: v + extra[k] for k, v in last.items()})})
    timings["lift"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    lo, hi = enc.lo, enc.hi
    h_used = float(np.min(hi - lo)) / 40 if h is None else float(h)
    mesh = problem.domain.mesh(h=h_used, order=min(order, 2))
    basis = CellBasis(mesh, fem.element_for(problem.dim, order))
    timings["mesh"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    network = ZeroShotNetwork(total, enc, lift=lifter)
    times = None
    if problem.is_time_dependent:
        t_0, t_1 = (float(v) for v in problem.time)
        n = max(int(math.ceil((t_1 - t_0) / h_used - 1e-9)), 1)
        times = np.linspace(t_0, t_1, n + 1)
        xs = basis.doflocs[0]
        pts = np.stack([np.tile(xs, len(times)), np.repeat(times, len(xs))], 1)
        dofs = network(pts).reshape(len(times), len(xs))
    else:
        dofs = network(basis.doflocs.T)
    timings["evaluate"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    info = {"method": "hypino", "refine": int(refine), "lstsq": bool(lstsq), "finetune": int(finetune),
            "seed": int(seed), "h": h_used, "order": int(order), "n_dofs": int(basis.N),
            "n_elements": int(mesh.nelements), "n_networks": len(total),
            "model": getattr(hyper, "meta", {}).get("config", {}).get("model", hyper.config),
            "timings": timings, "residual": stages[-1] | {}, "stages": stages,
            "residual_scales": scales, "refine_factors": factors, "finetune_info": ft_info,
            "normalise": int(normalise), "data_scale": amp, "symmetrise": symmetrise, "shift": bool(shift), "lift": lift,
            "dtype": str(dtype).replace("torch.", "")}
    info["residual"].pop("stage")
    info["residual"].pop("rank", None)
    sol = fem.Solution(basis, dofs, times=times, info=info)
    sol.network = network
    return sol
