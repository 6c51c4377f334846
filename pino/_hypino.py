"""HyPINO-style hypernetwork: a rasterised problem in, the weights of a small PINN out.

Pieces, in the order data flows:

- :func:`rasterise_sample`: a training :class:`manufactured.Sample` (already in [-1, 1]^2)
  as the same rasters (``CHANNELS``) and scaled coefficients that :func:`pino.encode`
  makes of a Problem, with numpy only (the sample's exact solution is a fast expression
  tree; no sympy). Both go through ``pino._encoding._rasterise``.
- :class:`TargetPINN`: Fourier features of ``(X, Y)`` at fixed frequencies, HyPINO's gated
  "modified MLP" (encoders ``U``, ``V``; ``H <- (1 - Z) U + Z V``), a last hidden layer of
  width ``basis`` (the basis of the least-squares head) and a linear output. It has no
  parameters of its own: ``forward(points (B, N, 2), weights) -> (B, N)`` evaluates B
  networks at once with ``bmm``; :class:`PINNModule` is one of them as a plain module.
- :class:`HyperNetwork`: a conv encoder (stride-2 blocks, GroupNorm, GELU) FiLM-conditioned
  on an embedding of the coefficients and of statistics of the value channels, attention
  pooling, and one linear head per target tensor giving ``base + delta`` (a learned
  default initialisation plus a generated correction).
- :func:`hypino_loss`: Huber losses of HyPINO (residual 0.25, derivatives 0.25, u 1,
  Dirichlet 10, Neumann 1, Robin 1) with derivatives by autograd w.r.t. the points.
- :func:`train_hypino`: training on random samples through :func:`pino._fit.fit`, single
  process or data parallel under ``torchrun``; :func:`load_hypino` reads a checkpoint.

Everything lives in the reference frame of the encoding: coefficients scaled so that
max |c| = 2, the source scaled by the same factor, ``u`` and boundary data unscaled.

>>> net = HyperNetwork({"channels": [8, 8, 8, 8], "latent": 16, "embed": 16})
>>> pinns = net.generate(random_problem(0, kind="elliptic"))     # doctest: +SKIP
>>> pinns.predict(np.zeros((5, 2))).shape                          # doctest: +SKIP
(1, 5)
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from manufactured import Sample, mix_weights, mixed_kind, random_problem, source_values
from manufactured._random import _OUTER, _perimeter, _sample_boundary

from ._checkpoint import load_checkpoint, read_meta
from ._encoding import (CHANNELS, COEFFICIENT_BOUND, DIRICHLET, NEUMANN, ROBIN, Encoding,
                        _inside, _rasterise)
from ._fit import fit
from ._lift import batched_lift, principal_metrics
from ._symmetry import (moved_inputs, symmetries, transform_coefficients, transform_derivatives,
                        transform_rasters)

__all__ = ["rasterise_sample", "SampleRasters", "scale_rasters", "AMPLITUDE", "TargetPINN",
           "PINNModule", "HyperNetwork", "GeneratedPINNs", "hypino_loss", "hypino_batch",
           "train_hypino", "training_samples", "load_hypino", "heldout_errors", "fem_label",
           "write_fem_labels", "read_fem_labels", "domain_family", "DEFAULT_CONFIG", "LOSS_WEIGHTS"]

MODELS = os.path.join(os.path.dirname(__file__), "models")

#: HyPINO's loss weights (Robin, which HyPINO lacks, weighs like Neumann).
LOSS_WEIGHTS = {"residual": 0.25, "derivatives": 0.25, "u": 1.0, "dirichlet": 10.0,
                "neumann": 1.0, "robin": 1.0, "lifted": 0.0}
#: the softening of the Dirichlet lift in the ``lifted`` loss (reference units; a step's
#: boundary points are a few dozen, not the 4096 of a solve)
LIFTED_EPS = 0.02

#: The default hypernetwork configuration (about 3M parameters at resolution 64).
DEFAULT_CONFIG = {
    "resolution": 64,
    "channels": [32, 64, 96, 128],
    "groups": 8,
    "embed": 128,
    "latent": 256,
    "queries": 4,
    "heads": 4,
    "delta_scale": 0.1,
    "target": {"frequencies": 6, "fmin": 0.1, "fmax": 1.6, "width": 32, "depth": 3,
               "basis": 128, "ridge": 1024, "ridge_scale": 3.0, "ridge_seed": 0},
}

_VALUE = {name: CHANNELS.index(name) for name in CHANNELS}


# ======================================================================================
# rasters of a Sample
# ======================================================================================
@dataclass(frozen=True, eq=False)
class SampleRasters:
    """A :class:`manufactured.Sample` as network input: ``coefficients`` (6,) scaled to
    max |c| = 2 and sign-normalised as ``Problem.canonical`` does (``scale`` the signed
    factor, also applied to the source), ``rasters`` (len(CHANNELS), R, R) float32 in
    ``CHANNELS`` order, like ``Encoding.channels()``."""

    coefficients: np.ndarray
    scale: float
    rasters: np.ndarray

    @property
    def resolution(self) -> int:
        return self.rasters.shape[-1]

    def channels(self) -> np.ndarray:
        return self.rasters


def _grid(R):
    g1 = np.linspace(-1.0, 1.0, R)
    GX, GY = np.meshgrid(g1, g1)
    return np.stack([GX.ravel(), GY.ravel()], 1)


def _sample_source(sample, X):
    """Unscaled f of ``sample`` at reference points X (N, 2)."""
    if sample.solution is not None:
        with np.errstate(all="ignore"):
            return sample.solution.derivatives(X) @ np.asarray(sample.coefficients, float)
    return source_values(sample.source, sample.bumps, X[:, 0], X[:, 1])


def _sample_boundary_values(sample, P, N, tags):
    """Condition code, alpha and g at boundary points P with outward normals N."""
    kind = np.array([{"dirichlet": DIRICHLET, "neumann": NEUMANN, "robin": ROBIN}[
        sample.conditions[t][0]] for t in tags], np.int64)
    alpha = np.array([sample.conditions[t][1] for t in tags], float)
    if sample.solution is not None:
        with np.errstate(all="ignore"):
            d = sample.solution.derivatives(P)
        flux = d[:, 1] * N[:, 0] + d[:, 2] * N[:, 1]
        g = np.where(kind == DIRICHLET, d[:, 0], np.where(kind == NEUMANN, flux, flux + alpha * d[:, 0]))
    else:
        G = np.array([sample.boundary_data[t] for t in tags], float).reshape(-1, 3)
        g = G[:, 0] + G[:, 1] * P[:, 0] + G[:, 2] * P[:, 1]
    return kind, alpha, g


def _time_lines(kind, R):
    """Evenly spaced points on the edges of a 1D+time sample, as ``encode`` draws them."""
    k = 8 * (R - 1) + 1
    s = np.linspace(-1.0, 1.0, k)
    parts = [("left", np.stack([np.full(k, -1.0), s], 1), (-1.0, 0.0)),
             ("right", np.stack([np.full(k, 1.0), s], 1), (1.0, 0.0)),
             ("initial", np.stack([s, np.full(k, -1.0)], 1), (0.0, -1.0))]
    if kind == "wave":
        parts.append(("initial_t", parts[2][1], (0.0, -1.0)))
    P = np.concatenate([p for _, p, _ in parts])
    N = np.concatenate([np.tile(n, (k, 1)) for _, _, n in parts])
    T = np.concatenate([np.full(k, t) for t, _, _ in parts])
    return P, N, T


def rasterise_sample(sample, resolution=64, seed=1) -> SampleRasters:
    """The rasters and scaled coefficients of a :class:`manufactured.Sample`, as
    :func:`pino.encode` makes them of ``sample.problem()`` (same channels, same boundary
    line width, same source compression), without sympy. ``seed``: boundary samples.

    >>> r = rasterise_sample(random_problem(0, kind="elliptic"), resolution=32)
    >>> r.channels().shape
    (9, 32, 32)
    """
    if not isinstance(sample, Sample):
        raise TypeError(f"rasterise_sample: expected a manufactured.Sample, got {type(sample).__name__}")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 8:
        raise ValueError(f"rasterise_sample: resolution must be an integer >= 8, got {resolution!r}")
    R = int(resolution)
    c = np.asarray(sample.coefficients, float)
    top = np.max(np.abs(c))
    if top == 0:
        raise ValueError("rasterise_sample: every coefficient of the sample's operator is zero")
    timed = sample.time is not None
    # the sign normalisation of Problem.canonical: leading coefficient m2 or m1 (time
    # problems) or trace(K) of -div(K grad u) (steady) positive
    lead = (c[4] if c[4] != 0 else c[2]) if timed else -(c[3] + c[4])
    scale = (-1.0 if lead < 0 else 1.0) * COEFFICIENT_BOUND / top
    grid = _grid(R)
    inside = np.ones(R * R, bool) if timed else _inside(sample.domain, grid)
    fr = np.zeros(R * R)
    fr[inside] = scale * _sample_source(sample, grid[inside])
    source = (np.sign(fr) * np.log1p(np.abs(fr))).reshape(R, R).astype(np.float32)
    if timed:
        P, N, T = _time_lines(sample.kind, R)
    else:
        perim = 8.0 + sum(_perimeter(h[0], h[1]) for h in sample.holes)
        n_r = int(np.ceil(8 * perim * (R - 1) / 2)) + 64
        P, N, T = _sample_boundary(sample.holes, n_r, np.random.default_rng(seed))
    K, A, G = _sample_boundary_values(sample, P, N, T)
    out = {"domain": inside.reshape(R, R).astype(np.float32), "source": source}
    for code, name in ((DIRICHLET, "dirichlet"), (NEUMANN, "neumann"), (ROBIN, "robin")):
        sel = K == code
        vals = [G[sel]] + ([A[sel]] if code == ROBIN else [])
        if sel.any():
            mask, rv = _rasterise(P[sel], vals, R)
        else:
            mask, rv = np.zeros((R, R), np.float32), [np.zeros((R, R), np.float32) for _ in vals]
        out[f"{name}_mask"], out[f"{name}_value"] = mask, rv[0]
        if code == ROBIN:
            out["robin_alpha"] = rv[1]
    rasters = np.stack([out[ch] for ch in CHANNELS]).astype(np.float32)
    if not np.all(np.isfinite(rasters)):
        raise ValueError(f"rasterise_sample: the sample {sample.seed} has non-finite data")
    return SampleRasters(coefficients=c * scale, scale=float(scale), rasters=rasters)


#: Amplitude normalisation aims generated networks at this max |U|: the median of max |u|
#: over the interior points of the training distribution's manufactured solutions (1.46
#: over the 1040 manufactured ones of 2000 draws; ``python bench/hypino_normalise.py``).
AMPLITUDE = 1.5


def scale_rasters(rasters, factor):
    """The rasters (B, C, R, R) of the same problems with all data (boundary values and the
    log-compressed source) multiplied by ``factor`` > 0 (a number or (B,)): the solution of
    a linear problem scales by the same factor. The masks and Robin's alpha are unchanged.

    >>> r = torch.zeros(1, len(CHANNELS), 4, 4)
    >>> scale_rasters(r, 2.0).shape
    torch.Size([1, 9, 4, 4])
    """
    f = torch.as_tensor(factor, dtype=rasters.dtype, device=rasters.device).reshape(-1, 1, 1)
    if not bool(torch.all(f > 0)):
        raise ValueError(f"scale_rasters: factor must be positive, got {factor!r}")
    return _scaled_values(rasters.clone(), f, torch)


def _scaled_values(out, f, xp):
    """``scale_rasters`` in place on ``out`` (..., C, R, R) with the array module ``xp``
    (numpy in data workers, where torch ops after a fork can hang)."""
    for ch in ("dirichlet_value", "neumann_value", "robin_value"):
        out[..., _VALUE[ch], :, :] = out[..., _VALUE[ch], :, :] * f
    src = out[..., _VALUE["source"], :, :]
    out[..., _VALUE["source"], :, :] = xp.sign(src) * xp.log1p(xp.expm1(xp.abs(src)) * f)
    return out


def shift_rasters(rasters, shift):
    """The rasters (B, C, R, R) of the problems for ``u - shift`` (a number or (B,)): for an
    equation without a u term the same equation, with Dirichlet data ``g - shift`` and Robin
    data ``g - alpha shift``; Neumann data, the source and the masks are unchanged.

    >>> r = torch.zeros(1, len(CHANNELS), 4, 4)
    >>> shift_rasters(r, 0.5).shape
    torch.Size([1, 9, 4, 4])
    """
    c = torch.as_tensor(shift, dtype=rasters.dtype, device=rasters.device).reshape(-1, 1, 1)
    out = rasters.clone()
    d, r = out[:, _VALUE["dirichlet_mask"]], out[:, _VALUE["robin_mask"]] * out[:, _VALUE["robin_alpha"]]
    out[:, _VALUE["dirichlet_value"]] -= c * d
    out[:, _VALUE["robin_value"]] -= c * r
    return out


def dirichlet_shifts(rasters, coefficients, timed):
    """``(lo, hi)`` (B,) each: the smallest and largest Dirichlet value of each problem's
    rasters where a constant shift of u is a symmetry of the problem (steady, no u term,
    Dirichlet pixels present); 0 elsewhere. Averaging the answers for ``u - lo`` and
    ``u - hi`` (each plus its shift) puts one boundary at 0 in each, as the training data
    mostly have it (``shift`` of ``pino.solve``)."""
    mask = rasters[:, _VALUE["dirichlet_mask"]].flatten(1) > 0
    val = rasters[:, _VALUE["dirichlet_value"]].flatten(1)
    big = torch.finfo(val.dtype).max
    lo = torch.where(mask, val, torch.full_like(val, big)).amin(1)
    hi = torch.where(mask, val, torch.full_like(val, -big)).amax(1)
    timed = torch.as_tensor(timed, dtype=torch.bool, device=rasters.device).reshape(-1).expand(len(val))
    ok = mask.any(1) & (coefficients[:, 0] == 0) & ~timed
    zero = torch.zeros_like(lo)
    return torch.where(ok, lo, zero), torch.where(ok, hi, zero)


def _as_inputs(items, resolution):
    """Encodings / Samples / SampleRasters -> (rasters (B, C, R, R), coefficients (B, 6))."""
    if isinstance(items, (Encoding, Sample, SampleRasters)):
        items = [items]
    rasters, coefs = [], []
    for it in items:
        if isinstance(it, Sample):
            it = rasterise_sample(it, resolution)
        if not isinstance(it, (Encoding, SampleRasters)):
            raise TypeError("HyperNetwork.generate: expected Encodings (pino.encode), "
                            f"manufactured Samples or SampleRasters, got {type(it).__name__}")
        ch = it.channels()
        if ch.shape[-1] != resolution:
            raise ValueError(f"HyperNetwork.generate: the input has resolution {ch.shape[-1]}, the "
                             f"model was trained at {resolution}; encode with resolution={resolution}")
        rasters.append(ch)
        coefs.append(it.coefficients)
    return (torch.as_tensor(np.stack(rasters), dtype=torch.float32),
            torch.as_tensor(np.stack(coefs), dtype=torch.float32))


# ======================================================================================
# target PINN
# ======================================================================================
def _frequencies(cfg):
    return (torch.linspace(cfg["fmin"], cfg["fmax"], cfg["frequencies"], dtype=torch.float64)
            * math.pi)


def _fourier(points, freqs):
    """(..., 2) -> (..., 2 + 4K): X, Y, sin(w X), cos(w X), sin(w Y), cos(w Y)."""
    x, y = points[..., :1], points[..., 1:2]
    wx, wy = x * freqs, y * freqs
    return torch.cat([points, torch.sin(wx), torch.cos(wx), torch.sin(wy), torch.cos(wy)], -1)


def _blin(x, W, b):
    """Batched linear map: x (B, N, i), W (B, o, i), b (B, o) -> (B, N, o)."""
    return torch.baddbmm(b.unsqueeze(1), x, W.transpose(1, 2))


class TargetPINN(nn.Module):
    """The generated network, evaluated with per-sample weights (no parameters of its own).

    ``phi = fourier(X, Y)``; ``U = tanh(W_u phi)``, ``V = tanh(W_v phi)``,
    ``H = tanh(W_in phi)``; ``depth - 1`` times ``Z = tanh(W_k H)``, ``H = (1 - Z) U + Z V``;
    features ``tanh(W_basis H)`` (``basis`` wide); output ``W_out features``.

    ``ridge > 0`` adds fixed random ridge features ``tanh(W_r X + b_r)`` (Gaussian weights
    and biases times ``ridge_scale``, drawn from ``ridge_seed``; not generated) for
    the least-squares head and fine-tuning: generated networks give them zero output
    weights (:meth:`module`), :func:`pino.lstsq_solve` solves over both. The generated
    features pass through a ``width``-wide layer, so they alone span too little for least
    squares; the fixed ones cost nothing in training and keep the basis wide.

    >>> target = TargetPINN()
    >>> w = {k: v[None] for k, v in target.init_weights().items()}
    >>> target(torch.zeros(1, 7, 2), w).shape
    torch.Size([1, 7])
    """

    def __init__(self, frequencies=6, fmin=0.1, fmax=1.6, width=32, depth=3, basis=128, ridge=0,
                 ridge_scale=3.0, ridge_seed=0):
        super().__init__()
        if depth < 1 or width < 1 or basis < 1 or frequencies < 0 or ridge < 0 or not ridge_scale > 0:
            raise ValueError("TargetPINN: width, depth, basis must be >= 1, frequencies and ridge "
                             ">= 0, ridge_scale > 0")
        self.config = {"frequencies": int(frequencies), "fmin": float(fmin), "fmax": float(fmax),
                       "width": int(width), "depth": int(depth), "basis": int(basis),
                       "ridge": int(ridge), "ridge_scale": float(ridge_scale),
                       "ridge_seed": int(ridge_seed)}
        self.register_buffer("freqs", _frequencies(self.config).float())
        d = 2 + 4 * int(frequencies)
        self.in_dim = d
        shapes = {}
        for name, (o, i) in [("enc_u", (width, d)), ("enc_v", (width, d)), ("input", (width, d))] + \
                [(f"hidden{k}", (width, width)) for k in range(depth - 1)] + \
                [("basis", (basis, width)), ("out", (1, basis))]:
            shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (o, i), (o,)
        self.shapes = shapes
        self.n_params = sum(math.prod(s) for s in shapes.values())

    def init_std(self, name):
        """The standard deviation of the default (Xavier normal) initialisation of a weight;
        for a bias, that of its layer's weight (the scale of generated corrections)."""
        o, i = self.shapes[name.rsplit(".", 1)[0] + ".weight"]
        if name.startswith("out."):
            return 1.0 / math.sqrt(i)
        return math.sqrt(2.0 / (i + o))

    def init_weights(self, generator=None):
        """One set of default weights (unbatched): Xavier normal weights, zero biases."""
        w = {}
        for name, shape in self.shapes.items():
            if name.endswith(".weight"):
                w[name] = torch.randn(shape, generator=generator) * self.init_std(name)
            else:
                w[name] = torch.zeros(shape)
        return w

    def _check(self, points, weights):
        if points.dim() != 3 or points.shape[-1] != 2:
            raise ValueError(f"TargetPINN: points must have shape (B, N, 2), got {tuple(points.shape)}")
        for name, shape in self.shapes.items():
            W = weights.get(name)
            if W is None or tuple(W.shape[1:]) != shape or W.shape[0] != points.shape[0]:
                got = None if W is None else tuple(W.shape)
                raise ValueError(f"TargetPINN: weights[{name!r}] must have shape "
                                 f"({points.shape[0]}, {', '.join(map(str, shape))}), got {got}")

    def features(self, points, weights):
        """The last hidden layer (B, N, basis) at ``points`` (B, N, 2)."""
        self._check(points, weights)
        w = weights
        phi = _fourier(points, self.freqs.to(points.dtype))
        U = torch.tanh(_blin(phi, w["enc_u.weight"], w["enc_u.bias"]))
        V = torch.tanh(_blin(phi, w["enc_v.weight"], w["enc_v.bias"]))
        H = torch.tanh(_blin(phi, w["input.weight"], w["input.bias"]))
        for k in range(self.config["depth"] - 1):
            Z = torch.tanh(_blin(H, w[f"hidden{k}.weight"], w[f"hidden{k}.bias"]))
            H = U + Z * (V - U)
        return torch.tanh(_blin(H, w["basis.weight"], w["basis.bias"]))

    def forward(self, points, weights):
        """u (B, N) at ``points`` (B, N, 2) for B networks with ``weights`` {name: (B, ...)}."""
        return _blin(self.features(points, weights), weights["out.weight"], weights["out.bias"])[..., 0]

    def module(self, weights, index=0, ridge=True):
        """Network ``index`` of batched ``weights`` as a :class:`PINNModule` (a copy; the
        ridge features, if any, with zero output weights; ``ridge=False``: without them)."""
        ref = weights["out.weight"]
        cfg = self.config if ridge else {**self.config, "ridge": 0}
        net = PINNModule(**cfg).to(dtype=ref.dtype, device=ref.device)
        return net.load_weights({k: v[index] for k, v in weights.items()})


# Jets (u, u_x, u_y, u_xx, u_yy, u_xy) of the target network's layers in closed form:
# differentiable with respect to the weights (fine-tuning through the least-squares system)
# and cheaper than nested autodiff.
def _tanh_jet(z):
    v, zx, zy, zxx, zyy, zxy = z
    s = torch.tanh(v)
    d1 = 1 - s * s
    d2 = -2 * s * d1
    return (s, d1 * zx, d1 * zy, d2 * zx * zx + d1 * zxx, d2 * zy * zy + d1 * zyy,
            d2 * zx * zy + d1 * zxy)


def _linear_jet(jet, layer):
    W = layer.weight.T
    return (layer(jet[0]),) + tuple(t @ W for t in jet[1:])


def _fourier_jet(points, freqs):
    """The jet of :func:`_fourier` at points (N, 2)."""
    x, y, w = points[:, :1], points[:, 1:2], freqs.to(points.dtype)
    sx, cx, sy, cy = torch.sin(w * x), torch.cos(w * x), torch.sin(w * y), torch.cos(w * y)
    o, z, Z = torch.ones_like(x), torch.zeros_like(x), torch.zeros_like(sx)
    v = torch.cat([x, y, sx, cx, sy, cy], 1)
    return (v, torch.cat([o, z, w * cx, -w * sx, Z, Z], 1), torch.cat([z, o, Z, Z, w * cy, -w * sy], 1),
            torch.cat([z, z, -w * w * sx, -w * w * cx, Z, Z], 1),
            torch.cat([z, z, Z, Z, -w * w * sy, -w * w * cy], 1), torch.zeros_like(v))


def _gate_jet(U, V, Z):
    """The jet of ``U + Z (V - U)``."""
    d, dx, dy, dxx, dyy, dxy = (a - b for a, b in zip(V, U))
    z, zx, zy, zxx, zyy, zxy = Z
    return (U[0] + z * d, U[1] + zx * d + z * dx, U[2] + zy * d + z * dy,
            U[3] + zxx * d + 2 * zx * dx + z * dxx, U[4] + zyy * d + 2 * zy * dy + z * dyy,
            U[5] + zxy * d + zx * dy + zy * dx + z * dxy)


def _as_derivatives(jet, order):
    """A jet -> the (values, gradients (N, m, 2), Hessians (N, m, 2, 2)) of
    :func:`pino._lstsq.feature_derivatives`, up to ``order``."""
    v, gx, gy, hxx, hyy, hxy = jet
    out = (v, torch.stack([gx, gy], -1),
           torch.stack([torch.stack([hxx, hxy], -1), torch.stack([hxy, hyy], -1)], -2))
    return out[:order + 1]


class _Body(nn.Module):
    """The feature part of :class:`PINNModule`: reference points (N, 2) -> (N, basis + ridge)."""

    def __init__(self, frequencies, fmin, fmax, width, depth, basis, ridge, ridge_scale, ridge_seed):
        super().__init__()
        cfg = {"frequencies": frequencies, "fmin": fmin, "fmax": fmax}
        self.register_buffer("freqs", _frequencies(cfg).float())
        d = 2 + 4 * frequencies
        self.enc_u, self.enc_v, self.input = nn.Linear(d, width), nn.Linear(d, width), nn.Linear(d, width)
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
        self.basis = nn.Linear(width, basis)
        self.ridge_scale = ridge_scale
        self.ridge = nn.Linear(2, ridge) if ridge else None
        self.draw_ridge(ridge_seed)

    def draw_ridge(self, seed):
        """Random ridge features drawn from ``seed`` (Gaussian times ``ridge_scale``)."""
        if self.ridge is None:
            return
        g = torch.Generator().manual_seed(int(seed))
        m = self.ridge.out_features
        with torch.no_grad():
            self.ridge.weight.copy_(self.ridge_scale * torch.randn(m, 2, generator=g, dtype=torch.float64))
            self.ridge.bias.copy_(self.ridge_scale * torch.randn(m, generator=g, dtype=torch.float64))

    def gated(self, points):
        """The generated (gated MLP) features only: (N, basis)."""
        phi = _fourier(points, self.freqs.to(points.dtype))
        U, V = torch.tanh(self.enc_u(phi)), torch.tanh(self.enc_v(phi))
        H = torch.tanh(self.input(phi))
        for layer in self.hidden:
            Z = torch.tanh(layer(H))
            H = (1 - Z) * U + Z * V
        return torch.tanh(self.basis(H))

    def gated_jet(self, points):
        """Values and derivatives of :meth:`gated` at points (N, 2) in closed form: a tuple
        (u, u_x, u_y, u_xx, u_yy, u_xy) of (N, basis) tensors, differentiable."""
        phi = _fourier_jet(points, self.freqs)
        U, V = _tanh_jet(_linear_jet(phi, self.enc_u)), _tanh_jet(_linear_jet(phi, self.enc_v))
        H = _tanh_jet(_linear_jet(phi, self.input))
        for layer in self.hidden:
            H = _gate_jet(U, V, _tanh_jet(_linear_jet(H, layer)))
        return _tanh_jet(_linear_jet(H, self.basis))

    def gated_derivatives(self, points, order=2):
        """:meth:`gated_jet` in the format of :func:`pino._lstsq.feature_derivatives`."""
        return _as_derivatives(self.gated_jet(points), order)

    def forward(self, points):
        out = self.gated(points)
        if self.ridge is not None:
            out = torch.cat([out, torch.tanh(self.ridge(points))], -1)
        return out


class PINNModule(nn.Module):
    """One target network as a plain module: ``net(points (N, 2)) -> (N,)``; ``net.body``
    maps points to the ``basis + ridge`` features (the input of :func:`pino.lstsq_solve`),
    ``net.out`` is the linear output layer. For fine-tuning and the least-squares head.
    The ridge layer starts as :class:`TargetPINN`'s fixed random features (same seed).
    """

    def __init__(self, frequencies=6, fmin=0.1, fmax=1.6, width=32, depth=3, basis=128, ridge=0,
                 ridge_scale=3.0, ridge_seed=0):
        super().__init__()
        self.config = {"frequencies": frequencies, "fmin": fmin, "fmax": fmax, "width": width,
                       "depth": depth, "basis": basis, "ridge": ridge, "ridge_scale": ridge_scale,
                       "ridge_seed": ridge_seed}
        self.body = _Body(frequencies, fmin, fmax, width, depth, basis, ridge, ridge_scale, ridge_seed)
        self.out = nn.Linear(basis + ridge, 1)

    def _param(self, name):
        layer, kind = name.rsplit(".", 1)
        mod = self.out if layer == "out" else (
            self.body.hidden[int(layer[6:])] if layer.startswith("hidden") else getattr(self.body, layer))
        return getattr(mod, kind)

    def load_weights(self, weights):
        """Copy unbatched TargetPINN weights {name: tensor} into the layers (an output weight
        without the ridge columns gets zeros there)."""
        with torch.no_grad():
            for name, value in weights.items():
                p = self._param(name)
                v = value.detach().clone().to(p.dtype).reshape(-1)
                if name == "out.weight" and v.numel() < p.numel():
                    v = torch.cat([v, v.new_zeros(p.numel() - v.numel())])
                p.data = v.reshape(p.shape)
        return self

    def weights(self):
        """The layers as unbatched TargetPINN weights (the output weight of the generated
        features only)."""
        names = TargetPINN(**self.config).shapes
        out = {name: self._param(name).detach().clone() for name in names}
        out["out.weight"] = out["out.weight"][:, :self.config["basis"]]
        return out

    def derivatives(self, points):
        """u, u_x, u_y, u_xx, u_yy, u_xy (N, 6) at points (N, 2) in closed form: what
        :func:`point_derivatives` gives by autograd, several times cheaper."""
        W, b = self.out.weight[0], self.config["basis"]
        jet = self.body.gated_jet(points)
        if self.body.ridge is not None and (W.requires_grad or torch.any(W[b:])):
            ridge = self.body.ridge
            v = ridge(points)
            zx, zy, zero = ridge.weight[:, 0].expand_as(v), ridge.weight[:, 1].expand_as(v), torch.zeros_like(v)
            rjet = _tanh_jet((v, zx, zy, zero, zero, zero))
            out = [g @ W[:b] + r @ W[b:] for g, r in zip(jet, rjet)]
        else:
            out = [g @ W[:b] for g in jet]
        out[0] = out[0] + self.out.bias
        return torch.stack(out, -1)

    def forward(self, points):
        W, b = self.out.weight, self.config["basis"]
        if self.body.ridge is not None and not W.requires_grad and not torch.any(W[:, b:]):
            # a generated network gives its ridge features zero weight: skipping them is exact
            # and saves most of the cost of evaluating it (and its derivatives)
            return (self.body.gated(points) @ W[:, :b].T + self.out.bias)[..., 0]
        return self.out(self.body(points))[..., 0]


# ======================================================================================
# hypernetwork
# ======================================================================================
def _merge(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if k not in base:
            raise ValueError(f"HyperNetwork: unknown config key {k!r}; use {sorted(base)}")
        out[k] = _merge(base[k], v) if isinstance(base[k], dict) else v
    return out


def _slog(x):
    return torch.sign(x) * torch.log1p(torch.abs(x))


class _Block(nn.Module):
    """stride-2 conv, GroupNorm, FiLM, GELU, then a residual conv, GroupNorm, GELU."""

    def __init__(self, cin, cout, embed, groups):
        super().__init__()
        self.down = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.norm1 = nn.GroupNorm(groups, cout)
        self.film = nn.Linear(embed, 2 * cout)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.conv = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout)

    def forward(self, x, e):
        h = self.norm1(self.down(x))
        gamma, beta = self.film(e)[:, :, None, None].chunk(2, 1)
        h = F.gelu(h * (1 + gamma) + beta)
        return h + F.gelu(self.norm2(self.conv(h)))


def _positive_amplitude(value, where) -> float:
    """``value`` as a float if it is a finite positive number, else a ValueError naming ``where``."""
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not (math.isfinite(value) and value > 0)):
        raise ValueError(f"{where}: amplitude must be a positive number, got {value!r}")
    return float(value)


class HyperNetwork(nn.Module):
    """Rasters (B, 9, R, R) in ``CHANNELS`` order and scaled coefficients (B, 6) -> weights
    of B target PINNs ({name: (B, ...)}, see :class:`TargetPINN`).

    ``config`` (dict, JSON-able; missing keys from :data:`DEFAULT_CONFIG`): ``resolution``,
    ``channels`` (one stride-2 block each), ``groups`` (GroupNorm), ``embed`` (condition
    embedding), ``latent``, ``queries``/``heads`` (attention pooling), ``delta_scale``
    (initial size of the generated corrections relative to the default init), ``target``
    (:class:`TargetPINN` options).

    ``amplitude`` (attribute, not part of the architecture): the max |U| that amplitude
    normalisation (:meth:`generate_normalised`) aims the generated networks at; default
    :data:`AMPLITUDE`, the size of the training labels. :func:`load_hypino` reads it from
    the checkpoint's ``meta.json`` (key ``amplitude``), where ``bench/ship_hypino.py
    --amplitude`` puts the value chosen on validation problems (``bench/hypino_normalise.py``).

    >>> net = HyperNetwork({"channels": [8, 8, 8, 8], "latent": 16, "embed": 16, "groups": 4})
    >>> w = net(torch.zeros(2, 9, 64, 64), torch.zeros(2, 6))
    >>> w["basis.weight"].shape
    torch.Size([2, 128, 32])
    """

    def __init__(self, config=None):
        super().__init__()
        cfg = _merge(DEFAULT_CONFIG, config)
        self.config = json.loads(json.dumps(cfg))
        self._amplitude = AMPLITUDE
        R, chans, E, L = cfg["resolution"], list(cfg["channels"]), cfg["embed"], cfg["latent"]
        if R % (2 ** len(chans)):
            raise ValueError(f"HyperNetwork: resolution {R} must be divisible by 2**{len(chans)}")
        self.target = TargetPINN(**cfg["target"])
        n_stats = 5 * 4 + 4
        self.embed = nn.Sequential(nn.Linear(6 + n_stats, E), nn.GELU(), nn.Linear(E, E), nn.GELU())
        blocks, cin = [], len(CHANNELS) + 2
        for c in chans:
            blocks.append(_Block(cin, c, E, cfg["groups"]))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        side = R // 2 ** len(chans)
        C = chans[-1]
        self.pos = nn.Parameter(0.02 * torch.randn(side * side, C))
        self.queries = nn.Parameter(0.02 * torch.randn(cfg["queries"], C))
        self.query_film = nn.Linear(E, C)
        self.pool = nn.MultiheadAttention(C, cfg["heads"], batch_first=True)
        self.latent = nn.Sequential(nn.Linear(cfg["queries"] * C + E, L), nn.LayerNorm(L))
        g1 = torch.linspace(-1.0, 1.0, R)
        GY, GX = torch.meshgrid(g1, g1, indexing="ij")
        self.register_buffer("coords", torch.stack([GX, GY])[None], persistent=False)
        # generated weights = base (learned default init) + head(latent)
        gen = torch.Generator().manual_seed(0)
        init = self.target.init_weights(gen)
        self.base = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(v) for k, v in init.items()})
        self.heads = nn.ModuleDict()
        for name, shape in self.target.shapes.items():
            head = nn.Linear(L, math.prod(shape))
            nn.init.normal_(head.weight, std=cfg["delta_scale"] * self.target.init_std(name) / math.sqrt(L))
            nn.init.zeros_(head.bias)
            self.heads[name.replace(".", "__")] = head

    @property
    def resolution(self) -> int:
        return self.config["resolution"]

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @staticmethod
    def statistics(rasters):
        """(B, 24): masked mean/max/min/std of the Dirichlet, Neumann, Robin values, the Robin
        alpha and the source, and the mask fractions (domain, Dirichlet, Neumann, Robin)."""
        r = rasters
        pairs = [("dirichlet_value", "dirichlet_mask"), ("neumann_value", "neumann_mask"),
                 ("robin_value", "robin_mask"), ("robin_alpha", "robin_mask"), ("source", "domain")]
        out = []
        for val, mask in pairs:
            v, m = r[:, _VALUE[val]].flatten(1), r[:, _VALUE[mask]].flatten(1)
            cnt = m.sum(1).clamp(min=1.0)
            mean = (v * m).sum(1) / cnt
            var = (((v - mean[:, None]) ** 2) * m).sum(1) / cnt
            big = torch.finfo(v.dtype).max
            has = m.sum(1) > 0
            vmax = torch.where(m > 0, v, torch.full_like(v, -big)).amax(1)
            vmin = torch.where(m > 0, v, torch.full_like(v, big)).amin(1)
            zero = torch.zeros_like(mean)
            out += [mean, torch.where(has, vmax, zero), torch.where(has, vmin, zero), var.sqrt()]
        for mask in ("domain", "dirichlet_mask", "neumann_mask", "robin_mask"):
            out.append(r[:, _VALUE[mask]].flatten(1).mean(1))
        return torch.stack(out, 1)

    def encode(self, rasters, coefficients):
        """The latent code (B, latent) of a batch of problems."""
        if rasters.dim() != 4 or rasters.shape[1] != len(CHANNELS) or rasters.shape[-1] != self.resolution:
            raise ValueError(f"HyperNetwork: rasters must have shape (B, {len(CHANNELS)}, "
                             f"{self.resolution}, {self.resolution}), got {tuple(rasters.shape)}")
        if coefficients.shape != (rasters.shape[0], 6):
            raise ValueError(f"HyperNetwork: coefficients must have shape ({rasters.shape[0]}, 6), "
                             f"got {tuple(coefficients.shape)}")
        e = self.embed(torch.cat([coefficients, _slog(self.statistics(rasters))], 1))
        x = rasters.clone()
        for ch in ("dirichlet_value", "neumann_value", "robin_value"):
            x[:, _VALUE[ch]] = _slog(x[:, _VALUE[ch]])
        x = torch.cat([x, self.coords.expand(len(x), -1, -1, -1).to(x.dtype)], 1)
        for block in self.blocks:
            x = block(x, e)
        tokens = x.flatten(2).transpose(1, 2) + self.pos
        q = (self.queries[None] + self.query_film(e)[:, None]).expand(len(x), -1, -1)
        pooled, _ = self.pool(q, tokens, tokens, need_weights=False)
        return self.latent(torch.cat([pooled.flatten(1), e], 1))

    def forward(self, rasters, coefficients):
        z = self.encode(rasters, coefficients)
        return {name: self.base[name.replace(".", "__")][None]
                + self.heads[name.replace(".", "__")](z).view(len(z), *shape)
                for name, shape in self.target.shapes.items()}

    @torch.no_grad()
    def generate(self, items, data_scale=None) -> "GeneratedPINNs":
        """The target networks of Encodings (``pino.encode(problem, resolution=R)``), Samples
        or SampleRasters (one or a list), in the reference frame of each. ``data_scale``
        (a number or one per item): generate for the problems with all data multiplied by
        it (:func:`scale_rasters`); the networks then approximate ``data_scale * u``."""
        p = next(self.parameters())
        rasters, coefs = _as_inputs(items, self.resolution)
        if data_scale is not None:
            rasters = scale_rasters(rasters, data_scale)
        was = self.training
        self.eval()
        w = self(rasters.to(p.device, p.dtype), coefs.to(p.device, p.dtype))
        self.train(was)
        return GeneratedPINNs(self.target, w)

    @property
    def amplitude(self) -> float:
        """The max |U| that :meth:`generate_normalised` aims at (a positive number)."""
        return self._amplitude

    @amplitude.setter
    def amplitude(self, value):
        self._amplitude = _positive_amplitude(value, "HyperNetwork.amplitude")

    def generate_normalised(self, rasters, coefficients, points, passes=2, amplitude=None):
        """Weights for a batch with amplitude normalisation: the problems are linear, so the
        networks may be generated for all data times ``k`` (B,) and divided by ``k``; each of
        ``passes`` rounds sets ``k`` so that max |U| at ``points`` (B, N, 2) is
        ``amplitude`` (default: the model's :attr:`amplitude`). Forward passes only;
        returns ``(weights, k)`` with the division folded into the output layer."""
        aim = self.amplitude if amplitude is None else _positive_amplitude(amplitude, "generate_normalised")
        k = torch.ones(len(rasters), dtype=rasters.dtype, device=rasters.device)
        was = self.training
        self.eval()
        w = self(rasters, coefficients)
        for _ in range(int(passes)):
            size = self.target(points.to(rasters.dtype), w).abs().amax(1)
            ok = torch.isfinite(size) & (size > 0)
            size = torch.where(ok, size, torch.full_like(size, aim))
            k = k * (aim / size).clamp(1e-3, 1e3)
            w = self(scale_rasters(rasters, k), coefficients)
        self.train(was)
        w = dict(w)
        w["out.weight"] = w["out.weight"] / k[:, None, None]
        w["out.bias"] = w["out.bias"] / k[:, None]
        return w, k

    def predict(self, items, points):
        """u of the generated networks at reference ``points`` (N, 2) or (B, N, 2): (B, N)."""
        return self.generate(items).predict(points)


class GeneratedPINNs:
    """B generated networks: ``weights`` {name: (B, ...)} of ``target`` (a TargetPINN).

    ``predict(points)`` -> numpy (B, N); ``pinns(points_tensor)`` -> tensor;
    ``module(i)`` -> :class:`PINNModule` (for fine-tuning or ``lstsq_solve(net.body, enc)``).
    """

    def __init__(self, target, weights):
        self.target, self.weights = target, weights

    def __len__(self):
        return self.weights["out.bias"].shape[0]

    def _points(self, points):
        w = self.weights["out.weight"]
        P = torch.as_tensor(np.asarray(points) if not torch.is_tensor(points) else points,
                            dtype=w.dtype, device=w.device)
        if P.dim() == 2:
            P = P[None].expand(len(self), -1, -1)
        if P.dim() != 3 or P.shape[0] != len(self) or P.shape[-1] != 2:
            raise ValueError(f"points must have shape (N, 2) or ({len(self)}, N, 2), got {tuple(P.shape)}")
        return P

    def __call__(self, points):
        return self.target(self._points(points), self.weights)

    def predict(self, points):
        with torch.no_grad():
            return self(points).cpu().numpy()

    def module(self, index=0, ridge=True) -> PINNModule:
        return self.target.module(self.weights, index, ridge)

    def __repr__(self):
        return f"GeneratedPINNs(n={len(self)}, target={self.target.config})"


# ======================================================================================
# data and losses
# ======================================================================================
def fem_label(sample, h=0.1, order=2):
    """u of a physics-only ``sample`` at its interior points from a finite-element solve
    (P2 on an ``h`` mesh: about 1e-3 relative L2 of the fine-mesh solution, 0.1 s), NaN at
    points the polygonal mesh misses; None when the solve fails (a singular system).

    >>> u = fem_label(random_problem(0, kind="physics", n_interior=50))
    >>> u.shape
    (50,)
    """
    import fem  # only training with FEM labels needs it

    try:
        sol = fem.solve(sample.problem(), h=h, order=order)
    except (np.linalg.LinAlgError, RuntimeError, ValueError, ZeroDivisionError):
        return None
    u = sol(sample.interior)
    return u if np.isfinite(u).any() else None


def _pack(seed_key, kind, resolution, n_interior, n_boundary, fem_labels=False, given=(), family=None):
    """One random sample as arrays for training (rasters in float16). ``labelled`` (N,) marks
    the interior points where u is known: all of a manufactured sample's, those of a
    physics-only sample labelled by :func:`fem_label` when ``fem_labels``, else none.
    A labelled physics-only sample is scaled (data and u: the problem is linear) so that
    max |u| lies in [AMPLITUDE / 2, 2 AMPLITUDE], the sizes amplitude normalisation asks
    the model about; unscaled, a weak operator makes u of size 30 and its loss dominates.
    ``given``: ``(label,)``, that sample's :func:`fem_label` computed before (see
    :func:`write_fem_labels`), or ``()`` to solve for it. ``family``: domain options of
    :func:`manufactured.random_problem` (``max_holes``, ``notch``; see :func:`domain_family`)."""
    s = random_problem(seed_key, kind=kind, n_interior=n_interior, n_boundary=n_boundary, **(family or {}))
    r = rasterise_sample(s, resolution)
    K, A, G = _sample_boundary_values(s, s.boundary, s.normals, s.tags)
    N = len(s.interior)
    D = s.derivatives if s.derivatives is not None else np.zeros((N, 6))
    labelled = np.full(N, float(s.derivatives is not None))
    rasters, f, g = r.rasters, s.f * r.scale, s.g
    if fem_labels and s.derivatives is None:
        u = given[0] if given else fem_label(s)
        if u is not None:
            labelled = np.isfinite(u).astype(float)
            peak = float(np.nanmax(np.abs(u)))
            k = float(np.clip(peak, AMPLITUDE / 2, 2 * AMPLITUDE) / peak) if peak > 0 else 1.0
            D[:, 0] = np.where(labelled > 0, u * k, 0.0)
            rasters = _scaled_values(rasters.astype(np.float64), k, np)
            f, g = f * k, g * k
    return {"rasters": rasters.astype(np.float16), "coefficients": r.coefficients,
            "interior": s.interior, "f": f, "derivatives": D,
            "manufactured": float(s.derivatives is not None), "labelled": labelled,
            "timed": float(s.time is not None),
            "boundary": s.boundary, "normals": s.normals, "kind": K, "alpha": A, "g": g,
            "share": component_weights(s)}


def component_weights(sample) -> np.ndarray:
    """Per boundary point, weights (mean 1) that give each boundary component (the box's
    sides together, each hole, the notch) the same total: the points are spread by length,
    so a small hole holds few of them. Time samples: all ones (their parts are already
    equal in number).

    >>> s = random_problem(3, "elliptic", n_interior=10, n_boundary=400)
    >>> w = component_weights(s); bool(abs(w.mean() - 1) < 1e-12)
    True
    """
    if sample.time is not None:
        return np.ones(len(sample.tags))
    comp = np.where(np.isin(sample.tags, _OUTER), "outer", sample.tags)
    names, index, counts = np.unique(comp, return_inverse=True, return_counts=True)
    return len(comp) / (len(names) * counts[index])


def hypino_batch(seeds, kinds="mixed", resolution=64, n_interior=1024, n_boundary=256, workers=1,
                 fem_labels=False, family=None):
    """Random samples ``random_problem(seed, kind)`` for each seed (a tuple of ints), packed
    as tensors (stacked over samples): rasters (float16), scaled coefficients and source,
    interior points and exact derivatives (zeros for physics-only samples; ``manufactured``
    flags the others), ``labelled`` points (u known: manufactured, or physics-only with
    ``fem_labels``, see :func:`fem_label`), boundary points, normals, condition codes,
    alpha, g, and ``share`` (:func:`component_weights`). ``kinds``: one kind or one per
    seed. The same for any number of ``workers``.
    ``fem_labels`` may be a dict {seed: label} of :func:`read_fem_labels`: those labels
    are used instead of solving again (seeds missing from it are solved). ``family``: the
    domains drawn (:func:`domain_family`; None: HyPINO's, 0-3 holes).

    >>> b = hypino_batch([(0, i) for i in range(3)], resolution=32, n_interior=64, n_boundary=32)
    >>> b["rasters"].shape, b["interior"].shape
    (torch.Size([3, 9, 32, 32]), torch.Size([3, 64, 2]))
    """
    seeds = [tuple(int(v) for v in np.ravel(s)) for s in seeds]
    kinds = [kinds] * len(seeds) if isinstance(kinds, str) else list(kinds)
    table = fem_labels if isinstance(fem_labels, dict) else {}
    make = partial(_pack_star, resolution=resolution, n_interior=n_interior, n_boundary=n_boundary,
                   fem_labels=bool(fem_labels), family=domain_family(family))
    jobs = [(s, k, (table[s],) if s in table else ()) for s, k in zip(seeds, kinds)]
    packed = _map(make, jobs, workers)
    out = {}
    for key in packed[0]:
        arr = np.stack([p[key] for p in packed])
        dtype = {np.dtype(np.float16): torch.float16, np.dtype(np.int64): torch.int64}.get(arr.dtype, torch.float32)
        out[key] = torch.as_tensor(arr, dtype=dtype)
    return out


def _map(fn, jobs, workers):
    """``[fn(j) for j in jobs]``, in ``workers`` processes when more than one."""
    if workers <= 1 or len(jobs) <= 1:
        return [fn(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=int(workers)) as pool:
        return list(pool.map(fn, jobs, chunksize=max(1, len(jobs) // (4 * workers))))


def _pack_star(job, **kw):
    seed, kind, given = job
    return _pack(seed, kind, given=given, **kw)


def _label_job(seed, n_interior, n_boundary, family=None):
    return fem_label(random_problem(seed, n_interior=n_interior, n_boundary=n_boundary, **(family or {})))


def domain_family(family=None) -> dict:
    """The family options of :func:`manufactured.random_problem` that a training run draws
    from, checked: ``{}`` for HyPINO's family (0-3 holes; also for None), else a dict with
    ``max_holes`` (an integer 0..6), ``notch`` (the probability of a rectangle cut from a
    corner or a side), ``zero_source`` (the probability that a physics-only sample has
    no source), ``heat`` (the share of heat problems, :func:`manufactured.mix_weights`),
    ``decay`` (the probability that a heat problem is free decay without a source,
    :func:`manufactured.heat_modes`), ``bumps`` (the probability that a physics-only
    source is Gaussian bumps, :func:`manufactured.gaussian_bumps`), ``plain`` (the
    probability that a physics-only sample is a plain Poisson problem with Dirichlet data
    everywhere) and/or ``reaction`` (the probability that a plain problem also has a
    coercive u term), defaults left out so
    that equal families compare equal.

    >>> domain_family({"max_holes": 4, "notch": 0.25})
    {'max_holes': 4, 'notch': 0.25}
    >>> domain_family({"max_holes": 3, "heat": 0.05})
    {}
    """
    if family is None:
        return {}
    if not isinstance(family, dict) or set(family) - {"max_holes", "notch", "zero_source", "heat", "decay",
                                                      "bumps", "plain", "reaction"}:
        raise ValueError(f"domain family must be a dict with keys 'max_holes', 'notch', "
                         f"'zero_source', 'heat', 'decay', 'bumps', 'plain' and/or 'reaction', got {family!r}")
    try:
        random_problem(0, "physics", n_interior=1, n_boundary=1, **family)   # its checks
    except ValueError as exc:
        raise ValueError(f"domain family (train hypino --max-holes / --notch / --zero-source / --heat / --decay / --bumps / --plain / --reaction): "
                         f"{str(exc).removeprefix('random_problem: ')}") from None
    out = {}
    if int(family.get("max_holes", 3)) != 3:
        out["max_holes"] = int(family["max_holes"])
    if float(family.get("notch", 0.0)) != 0.0:
        out["notch"] = float(family["notch"])
    if float(family.get("zero_source", 0.0)) != 0.0:
        out["zero_source"] = float(family["zero_source"])
    if family.get("heat") is not None and float(family["heat"]) != mix_weights()["heat"]:
        out["heat"] = float(family["heat"])
    for key in ("decay", "bumps", "plain", "reaction"):
        if float(family.get(key, 0.0)) != 0.0:
            out[key] = float(family[key])
    return out


def write_fem_labels(path, seed, n_samples, n_interior=1024, n_boundary=256, workers=1, chunk=256,
                     log=None, family=None):
    """Solve for the :func:`fem_label` of every physics-only sample among the training
    samples ``(seed, 0..n_samples-1)`` and write them to ``path`` (npz, no pickle), so that
    ``train_hypino(fem_labels=path)`` reads them instead of solving: the same run as
    ``fem_labels=True``, without scikit-fem or gmsh where it trains (a GPU machine, say).
    Returns the number of labels written (about 12 minutes for these 8040 on 2 cores).

    Interrupted work is kept: labels are written in ``chunk``-sized pieces to the folder
    ``path + ".part"`` as they are solved, and a second call with the same arguments solves
    only the missing pieces (pieces of other arguments are solved again), then writes
    ``path`` and removes the folder. ``log``: called with a line per piece. ``family``: the
    run's domains (:func:`domain_family`).

    >>> write_fem_labels("labels.npz", seed=4, n_samples=16000, workers=2)   # doctest: +SKIP
    8040
    """
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"write_fem_labels: chunk must be a positive integer, got {chunk!r}")
    family = domain_family(family)
    seeds = np.array([(int(seed), i) for i in range(int(n_samples))
                      if mixed_kind((seed, i), family.get("heat")) == "physics"],
                     dtype=np.int64).reshape(-1, 2)
    run = np.array(_label_run(seed, n_samples, n_interior, n_boundary, family), dtype=np.int64)
    part = str(path) + ".part"
    os.makedirs(part, exist_ok=True)
    job = partial(_label_job, n_interior=n_interior, n_boundary=n_boundary, family=family)
    U, ok = [], []
    for c, start in enumerate(range(0, len(seeds), int(chunk))):
        sub = seeds[start:start + int(chunk)]
        piece = os.path.join(part, f"{c:05d}.npz")
        got = _read_piece(piece, run, sub)
        if got is None:
            labels = _map(job, [tuple(int(v) for v in s) for s in sub], workers)
            u = np.full((len(sub), n_interior), np.nan, dtype=np.float32)   # what training sees
            for row, lab in zip(u, labels):
                if lab is not None:
                    row[:] = lab
            got = (u, np.array([lab is not None for lab in labels]))
            _write_npz(piece, seeds=sub, u=got[0], ok=got[1], run=run)
        U.append(got[0])
        ok.append(got[1])
        if log is not None:
            log(f"fem labels: {start + len(sub)} of {len(seeds)}")
    U = np.concatenate(U) if U else np.zeros((0, n_interior), np.float32)
    ok = np.concatenate(ok) if ok else np.zeros(0, bool)
    _write_npz(path, seeds=seeds, u=U, ok=ok, run=run)
    shutil.rmtree(part, ignore_errors=True)
    return len(seeds)


def _write_npz(path, **arrays):
    """``np.savez_compressed`` to exactly ``path`` (no suffix added), atomically."""
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    os.replace(tmp, path)


def _read_piece(piece, run, seeds):
    """(u, ok) of a piece written by an earlier call with the same run and seeds, else None."""
    if not os.path.exists(piece):
        return None
    try:
        with np.load(piece, allow_pickle=False) as z:
            if np.array_equal(z["run"], run) and np.array_equal(z["seeds"], seeds):
                return z["u"], z["ok"]
    except (OSError, ValueError, KeyError):   # a damaged piece is solved again
        pass
    return None


def _label_run(seed, n_samples, n_interior, n_boundary, family):
    """What a label file records of its run (the family only when it is not HyPINO's, so
    earlier files still read)."""
    extra = [family.get("max_holes", 3), round(1e6 * family.get("notch", 0.0))] if family else []
    # later options only when set (each after its code, so that they cannot be mistaken for
    # one another), so files of earlier runs still read
    for code, key in ((1, "zero_source"), (2, "heat"), (3, "bumps"), (4, "plain"), (5, "reaction")):
        if key in family:
            extra += [code, round(1e6 * family[key])]
    return [int(seed), int(n_samples), int(n_interior), int(n_boundary)] + extra


def read_fem_labels(path, seed, n_samples, n_interior=1024, n_boundary=256, family=None) -> dict:
    """The labels that :func:`write_fem_labels` wrote to ``path``, as {seed: u or None},
    after checking that they were made for this run (``seed``, ``n_samples``, points and
    ``family``)."""
    if not os.path.exists(path):
        raise ValueError(f"no FEM label file {path!r}: write it with pino._hypino."
                         f"write_fem_labels({path!r}, seed={seed}, n_samples={n_samples})")
    with np.load(path, allow_pickle=False) as z:
        run = [int(v) for v in z["run"]]
        want = _label_run(seed, n_samples, n_interior, n_boundary, domain_family(family))
        if run != want:
            raise ValueError(f"{path} holds FEM labels for seed, n_samples, points (, family) = {run}, "
                             f"not {want}: write labels for this run with write_fem_labels")
        return {tuple(int(v) for v in s): (u if ok else None)
                for s, u, ok in zip(z["seeds"], z["u"], z["ok"])}


def _huber(x):
    return F.huber_loss(x, torch.zeros_like(x), reduction="none")


def point_derivatives(fn, X, second=True):
    """u, u_x, u_y, u_xx, u_yy, u_xy (..., 6) of ``fn`` at X (..., 2) by autograd w.r.t. X,
    differentiable (second derivatives are zero when ``second=False``)."""
    X = X if X.requires_grad else X.detach().requires_grad_(True)
    u = fn(X)
    gu = torch.autograd.grad(u.sum(), X, create_graph=True)[0]
    ux, uy = gu[..., 0], gu[..., 1]
    if not second:
        z = torch.zeros_like(u)
        return torch.stack([u, ux, uy, z, z, z], -1)
    gx = torch.autograd.grad(ux.sum(), X, create_graph=True)[0]
    gy = torch.autograd.grad(uy.sum(), X, create_graph=True)[0]
    return torch.stack([u, ux, uy, gx[..., 0], gy[..., 1], gx[..., 1]], -1)


def boundary_operator(D, directions, kind, alpha):
    """B u from ``point_derivatives`` D: u (Dirichlet), d.grad u (Neumann), d.grad u + alpha u
    (Robin), chosen per point by ``kind``."""
    dn = (D[..., 1:3] * directions).sum(-1)
    return torch.where(kind == DIRICHLET, D[..., 0],
                       torch.where(kind == NEUMANN, dn, dn + alpha * D[..., 0]))


def _derivatives(target, weights, X):
    """u, u_x, u_y, u_xx, u_yy, u_xy (B, N, 6) of the generated networks at X (B, N, 2)."""
    return point_derivatives(lambda Q: target(Q, weights), X)


def hypino_loss(target, weights, batch, loss_weights=None, balance=0.0):
    """Per-sample HyPINO loss (B,) and its parts {name: (B,)} for generated ``weights``.

    ``batch`` (tensors, see :func:`hypino_batch`): ``coefficients`` (B, 6), ``interior``
    (B, N, 2), ``f`` (B, N), ``derivatives`` (B, N, 6), ``manufactured`` (B,), and
    ``boundary``/``normals`` (B, M, 2), ``kind``/``alpha``/``g`` (B, M). Parts: PDE residual
    ``sum_k c_k D_k u - f``; u against the labels at ``labelled`` points (B, N) (default:
    all points of manufactured samples); for manufactured samples the five derivatives
    against the exact ones; Dirichlet ``u - g``, Neumann ``du/dn - g``, Robin ``du/dn + alpha u - g``;
    with a ``lifted`` weight, also u of the lifted answer ``U + c`` against the labels (c the
    Dirichlet lift of :mod:`pino._lift` over the step's Dirichlet points; steady elliptic
    samples only), the error the default zero-shot answer has.
    Each part is a mean of Huber losses over its points. ``balance`` in [0, 1]: the boundary
    means weight each point by ``1 - balance + balance * share`` (``batch["share"]``, see
    :func:`component_weights`), so that at 1 every boundary component counts the same
    however short it is.
    """
    lw = {**LOSS_WEIGHTS, **(loss_weights or {})}
    X = batch["interior"].detach().clone().requires_grad_(True)
    D = _derivatives(target, weights, X)
    res = (D * batch["coefficients"][:, None, :]).sum(-1) - batch["f"]
    sup = batch["manufactured"]
    err = D - batch["derivatives"]
    parts = {"residual": _huber(res).mean(1),
             "u": (_huber(err[..., 0]) * batch.get("labelled", sup[:, None])).mean(1),
             "derivatives": _huber(err[..., 1:]).mean((1, 2)) * sup}
    kind = batch["kind"]
    Db = point_derivatives(lambda Q: target(Q, weights), batch["boundary"], second=False)
    be = _huber(boundary_operator(Db, batch["normals"], kind, batch["alpha"]) - batch["g"])
    w = (1.0 - balance) + balance * batch["share"] if balance else 1.0
    for code, name in ((DIRICHLET, "dirichlet"), (NEUMANN, "neumann"), (ROBIN, "robin")):
        m = (kind == code).to(be.dtype) * w
        parts[name] = (be * m).sum(1) / m.sum(1).clamp(min=1e-6)
    if lw["lifted"]:      # u of the lifted answer, U + c (pino._lift), c from this step's boundary points
        L, elliptic = principal_metrics(batch["coefficients"].double())
        steady = ~(batch["timed"] > 0) if "timed" in batch else torch.ones_like(elliptic)
        dmask = ((kind == DIRICHLET) & (elliptic & steady)[:, None]).to(D.dtype)
        c = batched_lift(batch["interior"], batch["boundary"], (batch["g"] - Db[..., 0]) * dmask, dmask,
                         L.to(D.dtype), LIFTED_EPS)
        parts["lifted"] = (_huber(err[..., 0] + c) * batch.get("labelled", sup[:, None])).mean(1)
    total = sum(lw[k] * v for k, v in parts.items())
    return total, parts


def _take(data, idx, points, gen):
    """The samples ``idx`` of a packed dataset with ``points = (n_int, n_bnd)`` random
    points each (drawn with ``gen``), as float32 on the data's device."""
    idx = idx.to(data["coefficients"].device)
    B = len(idx)
    out = {k: data[k][idx] for k in ("rasters", "coefficients", "manufactured", "timed") if k in data}
    out["rasters"] = out["rasters"].float()
    ni, nb = data["interior"].shape[1], data["boundary"].shape[1]
    ki, kb = min(points[0], ni), min(points[1], nb)
    si = torch.rand(B, ni, generator=gen).argsort(1)[:, :ki].to(idx.device)
    sb = torch.rand(B, nb, generator=gen).argsort(1)[:, :kb].to(idx.device)
    rows = idx[:, None]
    for k in ("interior", "f", "derivatives", "labelled"):
        out[k] = data[k][rows, si]
    for k in ("boundary", "normals", "kind", "alpha", "g", "share"):
        if k in data:
            out[k] = data[k][rows, sb]
    return out


def _moved(batch, gen):
    """The batch of :func:`_take` with each sample moved by a random symmetry of the square
    (drawn with ``gen``; time samples: identity or ``x -> -x``): rasters, coefficients,
    points, normals and derivatives; values of f and g do not change."""
    n = len(batch["coefficients"])
    mats = symmetries(False)
    pick = torch.randint(len(mats), (n,), generator=gen)
    timed = batch["timed"].cpu() > 0 if "timed" in batch else torch.zeros(n, dtype=torch.bool)
    pick = torch.where(timed, pick % 2 * 2, pick)       # mats[0], mats[2]: identity, x -> -x
    out = dict(batch)
    for i, M in enumerate(mats):
        sel = (pick == i).to(batch["coefficients"].device)
        if i == 0 or not bool(sel.any()):
            continue
        Mt = torch.as_tensor(M, dtype=batch["interior"].dtype, device=sel.device)
        moves = {"rasters": lambda v: transform_rasters(v, M),
                 "coefficients": lambda v: transform_coefficients(v, M),
                 "derivatives": lambda v: transform_derivatives(v, M),
                 "interior": lambda v: v @ Mt.T, "boundary": lambda v: v @ Mt.T,
                 "normals": lambda v: v @ Mt.T}
        for k, fn in moves.items():
            out[k] = torch.where(sel.reshape(-1, *[1] * (out[k].dim() - 1)), fn(batch[k]), out[k])
    return out


def _rescaled(batch, gen, spread=1.25):
    """The batch of :func:`_take` with each labelled sample scaled (the problem is linear:
    rasters, f, g, u and its derivatives) so that max |u| over its labelled points is
    :data:`AMPLITUDE` times a log-uniform factor in ``[1 / spread, spread]``: the sizes that
    amplitude normalisation asks the model about. Samples without labels keep their size."""
    lab = batch.get("labelled", batch["manufactured"][:, None].expand_as(batch["f"])) > 0
    peak = (batch["derivatives"][..., 0].abs() * lab).amax(1)
    aim = AMPLITUDE * spread ** (2 * torch.rand(len(peak), generator=gen) - 1)
    k = torch.where(peak > 1e-6, aim.to(peak) / peak.clamp(min=1e-6), torch.ones_like(peak))
    k = k.clamp(0.02, 50.0)
    out = dict(batch)
    out["rasters"] = scale_rasters(batch["rasters"], k)
    out["f"], out["g"] = batch["f"] * k[:, None], batch["g"] * k[:, None]
    out["derivatives"] = batch["derivatives"] * k[:, None, None]
    return out


def _slice(batch, sel):
    return {k: v[sel] for k, v in batch.items()}


# ======================================================================================
# distributed helpers
# ======================================================================================
class _Parallel:
    """Data parallel over torchrun processes (WORLD_SIZE > 1), or a single process."""

    def __init__(self, device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.started = False
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        device = torch.device(device)
        if self.world > 1:
            import torch.distributed as dist

            if device.type == "cuda":
                device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
                self.started = True
            if device.type == "cpu":
                torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.world))
        self.device = device

    @property
    def main(self):
        return self.rank == 0

    def broadcast(self, model):
        if self.world > 1:
            import torch.distributed as dist

            for t in list(model.parameters()) + list(model.buffers()):
                dist.broadcast(t.data, 0)

    def average_gradients(self, model):
        import torch.distributed as dist

        params = [p for p in model.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= self.world
        k = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[k:k + n].view_as(p))
            k += n

    def sum(self, t):
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(t)
        return t

    def agree(self, flag):
        t = self.sum(torch.tensor([float(flag)], device=self.device))
        return bool(t.item() > 0)

    def close(self):
        if self.started:
            import torch.distributed as dist

            dist.destroy_process_group()


# ======================================================================================
# training
# ======================================================================================
_VAL_KINDS = ("elliptic",) * 8 + ("heat", "wave")
_VAL_OFFSET = 1_000_003
_PHYSICS_OFFSET = 1_000_000


def _validation(seed, n, resolution, workers=1, physics=False, family=None):
    """The ``n`` held-out manufactured problems of a training run with ``seed`` (``physics``:
    held-out physics-only problems with FEM labels instead; ``family``: steady domains drawn
    from that :func:`domain_family`)."""
    if physics:
        seeds = [(seed + _VAL_OFFSET, _PHYSICS_OFFSET + i) for i in range(n)]
        return hypino_batch(seeds, "physics", resolution, 1024, 16, workers=workers, fem_labels=True,
                            family=family)
    seeds = [(seed + _VAL_OFFSET, i) for i in range(n)]
    kinds = [_VAL_KINDS[i % len(_VAL_KINDS)] for i in range(n)]
    return hypino_batch(seeds, kinds, resolution, 1024, 16, workers=workers, family=family)


def heldout_errors(model, n=8, seed=None, normalise=0, physics=False, symmetrise=False, family=None,
                   shift=False):
    """Zero-shot relative L2 of u (1024 random interior points each) on the first ``n``
    held-out validation problems of the model's training run (``seed``: its training seed
    by default), as a numpy array. What ``val_rel_l2`` of :func:`train_hypino` averages
    (``normalise=0``); ``normalise=p``: with p passes of amplitude normalisation
    (:meth:`HyperNetwork.generate_normalised`, as ``pino.solve`` does by default).
    ``physics=True``: held-out physics-only problems (constant to quadratic sources, simple
    boundary data, random holes) against FEM solutions (:func:`fem_label`) instead.
    ``symmetrise=True``: of the mean over the symmetries of the square, as ``pino.solve``
    answers by default without ``lstsq``, ``refine`` or ``finetune`` (:mod:`pino._symmetry`).
    ``family``: the steady problems' domains drawn from this :func:`domain_family` instead
    of HyPINO's (e.g. ``{"max_holes": 4, "notch": 0.5}``: more holes, L-shapes and slots).
    ``shift=True``: with constant-shift averaging (``shift`` of ``pino.solve``).

    >>> heldout_errors(load_hypino(), n=4)                  # doctest: +SKIP
    array([...])
    """
    if seed is None:
        seed = getattr(model, "meta", {}).get("config", {}).get("seed", 0)
    p = next(model.parameters())
    val = {k: v.to(p.device) for k, v in _validation(seed, n, model.resolution, physics=physics,
                                                     family=family).items()}
    was = model.training
    model.eval()
    try:
        return _relative_l2(model, val, normalise=normalise, symmetrise=symmetrise, shift=shift)
    finally:
        model.train(was)


def _relative_l2(net, val, chunk=64, normalise=0, symmetrise=False, shift=False):
    """Per-sample relative L2 of u at the validation points (numpy (n,)); ``symmetrise``:
    of the mean over the symmetries of the square (two for time problems), as
    ``pino.solve`` makes it; ``shift``: also the mean over the two Dirichlet shifts
    (:func:`dirichlet_shifts`; problems without one get the same answer twice)."""
    errs = []
    mats = symmetries(False) if symmetrise else [np.eye(2)]
    for_time = [any(np.array_equal(M, T) for T in symmetries(True)) for M in mats]
    with torch.no_grad():
        for s in range(0, len(val["coefficients"]), chunk):
            b = {k: v[s:s + chunk] for k, v in val.items()}
            timed = b["timed"] > 0 if "timed" in b else torch.zeros(len(b["coefficients"]), dtype=torch.bool)
            P = torch.cat([b["interior"], b["boundary"]], 1)
            u = count = 0.0
            base = b["rasters"].float()
            for c in (dirichlet_shifts(base, b["coefficients"], timed) if shift else [None]):
                moved = base if c is None else shift_rasters(base, c)
                for M, time_ok in zip(mats, for_time):
                    rasters, coefs, PM = moved_inputs(moved, b["coefficients"], P, M)
                    if normalise:
                        w, _ = net.generate_normalised(rasters, coefs, PM, normalise)
                    else:
                        w = net(rasters, coefs)
                    use = (~timed | time_ok).to(P.dtype)[:, None]
                    U = net.target(PM[:, :b["interior"].shape[1]], w)
                    u = u + use * (U if c is None else U + c[:, None].to(U.dtype))
                    count = count + use
            lab = b["labelled"]
            u = u / count * lab
            ex = b["derivatives"][..., 0] * lab
            errs.append((torch.linalg.vector_norm(u - ex, dim=1) / torch.linalg.vector_norm(ex, dim=1)).cpu())
    return torch.cat(errs).numpy()


CACHE_CHUNK = 500


def training_samples(seed, n_samples, resolution=64, pool=(1024, 256), workers=1, fem_labels=False,
                     family=None, cache=None, log=None):
    """The training samples of a :func:`train_hypino` run: ``random_problem((seed, i),
    "mixed", **family)`` for i < n_samples packed by :func:`hypino_batch` (``fem_labels``:
    False, True, or a file of :func:`write_fem_labels`).

    ``cache``: a folder where the samples are kept in pieces of :data:`CACHE_CHUNK`
    (safetensors, no pickle) as they are made; pieces already there are read instead of made
    again, so an interrupted generation goes on where it stopped, and a later run with the
    same seed, raster, pool, labels and family (any ``n_samples``) reuses them. ``log``:
    called with a line per piece made and one for the pieces read.

    >>> data = training_samples(13, 48000, workers=2, fem_labels=True,
    ...                         cache="runs/samples")                      # doctest: +SKIP
    """
    if isinstance(fem_labels, (str, os.PathLike)):
        fem_labels = read_fem_labels(fem_labels, seed, n_samples, pool[0], pool[1], family)
    make = partial(hypino_batch, kinds="mixed", resolution=resolution, n_interior=pool[0],
                   n_boundary=pool[1], workers=workers, fem_labels=fem_labels, family=family)
    if cache is None:
        return make([(seed, i) for i in range(n_samples)])
    run = json.dumps({"seed": int(seed), "resolution": int(resolution), "pool": [int(v) for v in pool],
                      "fem_labels": bool(fem_labels), "family": domain_family(family)}, sort_keys=True)
    tag = hashlib.sha1(run.encode()).hexdigest()[:12]
    os.makedirs(cache, exist_ok=True)
    pieces, read = [], 0
    for start in range(0, n_samples, CACHE_CHUNK):
        stop = min(start + CACHE_CHUNK, n_samples)
        path = os.path.join(cache, f"{tag}-{start:07d}-{stop:07d}.safetensors")
        piece = _cached_piece(path, run)
        if piece is None:
            piece = make([(seed, i) for i in range(start, stop)])
            tmp = f"{path}.{os.getpid()}.tmp"
            save_file({k: v.contiguous() for k, v in piece.items()}, tmp, metadata={"run": run})
            os.replace(tmp, path)
            if log is not None:
                log(f"samples: {stop} of {n_samples}")
        else:
            read += stop - start
        pieces.append(piece)
    if log is not None and read:
        log(f"samples: {read} of {n_samples} read from {cache}")
    return _joined(pieces)


def extra_runs(extra=None) -> list:
    """The ``extra_samples`` of :func:`train_hypino`, checked: a list of ``{"seed": S,
    "samples": N, "family": F}`` (S an integer, N a positive integer, F as
    :func:`domain_family`, left out for HyPINO's).

    >>> extra_runs([{"seed": 16, "samples": 20000, "family": {"max_holes": 4}}])
    [{'seed': 16, 'samples': 20000, 'family': {'max_holes': 4}}]
    """
    out = []
    for e in extra or []:
        ok = isinstance(e, dict) and {"seed", "samples"} <= set(e) <= {"seed", "samples", "family"}
        ok = ok and all(isinstance(e[k], (int, np.integer)) and not isinstance(e[k], bool)
                        for k in ("seed", "samples")) and e["samples"] >= 1
        if not ok:
            raise ValueError(f"extra_samples: each entry must be a dict with an integer 'seed', a "
                             f"positive integer 'samples' and optionally a 'family', e.g. "
                             f"{{\"seed\": 16, \"samples\": 20000, \"family\": {{\"max_holes\": 4}}}}; got {e!r}")
        out.append({"seed": int(e["seed"]), "samples": int(e["samples"]),
                    "family": domain_family(e.get("family"))})
    return out


def _joined(parts):
    """Sample dicts one after another. Pieces cached by an earlier version may lack keys
    added since (e.g. "share"): the keys all parts have are kept (a run that needs a
    missing one says so)."""
    if len(parts) == 1:
        return parts[0]
    keys = [k for k in parts[0] if all(k in p for p in parts)]
    return {k: torch.cat([p.pop(k) for p in parts]) for k in keys}


def _cached_piece(path, run):
    """The samples of a cache piece written for this ``run``, else None (missing, damaged
    or another run's)."""
    if not os.path.exists(path):
        return None
    try:
        with safe_open(path, "pt") as fh:
            if (fh.metadata() or {}).get("run") != run:
                return None
        return load_file(path)
    except (OSError, ValueError, RuntimeError, SafetensorError):   # a damaged piece is made again
        return None


def train_hypino(out, *, n_samples=1000, epochs=10, batch=16, lr=1e-3, seed=0, workers=2,
                 device=None, resume=True, stop_after=None, max_seconds=None, log=print,
                 model_config=None, n_val=32, points=(256, 128), pool=(1024, 256),
                 weight_decay=0.0, loss_weights=None, clip=1.0, init=None, fem_labels=False,
                 samples=None, augment=False, rescale=False, rescale_spread=None, family=None,
                 sample_cache=None, balance=0.0, extra_samples=None):
    """Train a :class:`HyperNetwork` on ``n_samples`` random problems; checkpoints in ``out``.

    Sample ``i`` is ``random_problem((seed, i), "mixed")`` with ``pool`` (interior, boundary)
    points, as :func:`manufactured.generate_samples` makes it, generated once per run in
    ``workers`` processes; each step uses ``points`` of them per sample, drawn afresh from
    a generator seeded by ``(seed, step)`` (so a resumed run draws what an uninterrupted one
    would). The validation set is ``n_val`` manufactured problems (``(seed + 1_000_003, i)``;
    elliptic, heat and wave) reported as the mean and median relative L2 of u
    (``val_rel_l2``, ``val_rel_l2_median``) every tenth and the last epoch.

    Launched by ``torchrun`` (WORLD_SIZE > 1), every process holds the data, takes its share
    of each batch, and gradients are averaged (gloo on CPU, nccl on CUDA): the update equals
    the single-process one. Only rank 0 logs and writes checkpoints. See
    :func:`pino._fit.fit` for ``resume``, ``stop_after`` and ``max_seconds``. ``clip``: the
    gradient norm is clipped to this (after averaging; None: no clipping). ``init``: start
    from the weights of a trained model (a shipped name or a checkpoint folder, as
    :func:`load_hypino`; its architecture unless ``model_config`` is given, which must then
    agree) with a fresh learning-rate schedule, e.g. to train the shipped model further.
    ``fem_labels``: the physics-only samples (half of them) also get u from a finite-element
    solve (:func:`fem_label`, about 0.1 s each), so the "u" loss supervises them too (the
    config records ``"fem_labels": true`` only then, so earlier runs still resume); the path
    of a file of :func:`write_fem_labels` instead of True reads the labels from it.
    ``samples``: the run's training samples made beforehand (what :func:`training_samples`
    returns for the same options), e.g. in another process while the GPU does other work.
    ``augment``: each sample of a batch is moved by a random symmetry of the square
    (:mod:`pino._symmetry`; recorded in the config only when set), so that the model learns
    the answers ``pino.solve`` averages. ``rescale``: each labelled sample of a batch is
    scaled so that its max |u| is near :data:`AMPLITUDE` (:func:`_rescaled`), where amplitude
    normalisation asks (recorded in the config only when set); ``rescale_spread`` (> 1,
    default 1.25, recorded when given): the aim is AMPLITUDE times a log-uniform factor in
    ``[1 / spread, spread]``, so that a wider spread asks the model about more sizes.
    ``family``: the domains of the steady samples (:func:`domain_family`, e.g.
    ``{"max_holes": 4, "notch": 0.25}``; recorded in the config only when not HyPINO's 0-3 holes). ``sample_cache``: a folder
    where the training samples are kept as they are made (:func:`training_samples`), so
    that an interrupted generation resumes and later runs on the same samples skip it.
    ``balance``: how far the boundary losses give each boundary component (the box, each
    hole) the same weight whatever its length (:func:`hypino_loss`; 0: by points, as
    HyPINO; recorded in the config only when set). ``extra_samples``: other runs' samples
    trained on too, appended after the run's own, e.g. to keep the mix an earlier stage was
    trained on while adding a new one: a list of ``{"seed": S, "samples": N, "family": F}``
    (:func:`extra_runs`), made (or read from ``sample_cache``) with the run's labels, raster
    and pool; recorded in the config only when given. Returns ``(model, history)``.
    """
    for name, v in (("n_samples", n_samples), ("epochs", epochs), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"train_hypino: {name} must be a positive integer, got {v!r}")
    family = domain_family(family)
    bad = loss_weights if not isinstance(loss_weights, (dict, type(None))) else {
        k: v for k, v in (loss_weights or {}).items()
        if k not in LOSS_WEIGHTS or isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0}
    if bad:
        raise ValueError(f"train_hypino: loss_weights must map loss parts ({', '.join(LOSS_WEIGHTS)}) "
                         f"to numbers >= 0, got {bad!r}")
    if isinstance(balance, bool) or not isinstance(balance, (int, float)) or not 0 <= balance <= 1:
        raise ValueError(f"train_hypino: balance must be a number in [0, 1] (0: boundary points "
                         f"weighted equally, 1: boundary components weighted equally), got {balance!r}")
    extra_samples = extra_runs(extra_samples)
    if rescale_spread is not None:
        if not rescale:
            raise ValueError("train_hypino: rescale_spread needs rescale=True (--rescale)")
        if isinstance(rescale_spread, bool) or not isinstance(rescale_spread, (int, float)) \
                or not rescale_spread > 1:
            raise ValueError(f"train_hypino: rescale_spread must be a number > 1 (the sizes "
                             f"AMPLITUDE / spread .. AMPLITUDE * spread), got {rescale_spread!r}")
    if extra_samples and isinstance(fem_labels, (str, os.PathLike)):
        raise ValueError("train_hypino: a fem_labels file holds the labels of the run's own seed "
                         "only; give fem_labels=True with extra_samples")
    n_total = n_samples + sum(e["samples"] for e in extra_samples)
    par = _Parallel(device)
    device = par.device
    quiet = (lambda *a, **k: None)
    say = log if par.main else quiet
    try:
        torch.manual_seed(seed)
        start_from = None
        if init is not None:
            start_from = load_hypino(init, device="cpu")
            if model_config is not None and HyperNetwork(model_config).config != start_from.config:
                raise ValueError(f"train_hypino: init={init!r} has another architecture than "
                                 "model_config; leave model_config out to use init's")
            model_config = start_from.config
        model = HyperNetwork(model_config)
        if start_from is not None:
            model.load_state_dict(start_from.state_dict())
        model = model.to(device)
        par.broadcast(model)
        R = model.resolution
        t0 = time.perf_counter()
        w_local = max(1, workers // par.world) if par.world > 1 else workers
        if samples is None:
            runs = [{"seed": seed, "samples": n_samples, "family": family}] + extra_samples
            data = _joined([training_samples(r["seed"], r["samples"], R, pool, w_local, fem_labels,
                                             r["family"], cache=sample_cache,
                                             log=say if sample_cache else None) for r in runs])
        else:
            data = samples
            got = (len(data["coefficients"]), tuple(data["rasters"].shape[2:]),
                   data["interior"].shape[1], data["boundary"].shape[1])
            if got != (n_total, (R, R), pool[0], pool[1]):
                raise ValueError(f"train_hypino: samples hold (n, raster, interior, boundary) = "
                                 f"{got}, the run asks for {(n_total, (R, R), *pool)}")
        val = _validation(seed, n_val, R, w_local) if par.main and n_val else None
        gen_s = time.perf_counter() - t0
        data = {k: v.to(device) for k, v in data.items()}
        if val is not None:
            val = {k: v.to(device) for k, v in val.items()}
        if balance and "share" not in data:
            raise ValueError("train_hypino: balance needs the samples' boundary shares, which "
                             "samples made before they were recorded lack; make the samples again "
                             "(a new sample_cache folder) or leave balance at 0")
        say(f"hypino: {model.n_parameters()} parameters, target PINN {model.target.n_params}; "
            f"{n_total} samples in {gen_s:.1f} s; {par.world} process(es) on {device}")
        if fem_labels:
            physics = data["manufactured"] == 0
            done = int((data["labelled"][physics].sum(1) > 0).sum())
            say(f"fem labels: {done} of {int(physics.sum())} physics-only samples")
        config = json.loads(json.dumps({
            "kind": "hypino", "n_samples": n_samples, "epochs": epochs, "batch": batch, "lr": lr,
            "seed": seed, "weight_decay": weight_decay, "points": list(points), "pool": list(pool),
            "n_val": n_val, "loss_weights": {**LOSS_WEIGHTS, **(loss_weights or {})}, "clip": clip,
            "model": model.config, **({"fem_labels": True} if fem_labels else {}),
            **({"augment": True} if augment else {}),
            **({"rescale": True} if rescale else {}),
            **({"rescale_spread": float(rescale_spread)} if rescale_spread is not None else {}),
            **({"family": family} if family else {}),
            **({"balance": float(balance)} if balance else {}),
            **({"extra_samples": extra_samples} if extra_samples else {}),
            **({"init": str(init)} if init is not None else {})}))
        steps_per_epoch = math.ceil(n_total / batch)
        start = 0
        if resume and os.path.exists(os.path.join(out, "meta.json")):
            start = int(read_meta(out).get("epoch", 0))
        counter = [start * steps_per_epoch]
        target = model.target
        names = list(LOSS_WEIGHTS) + ["loss"]

        def step(idx):
            gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + counter[0])
            counter[0] += 1
            full = _take(data, idx, points, gen)
            if rescale:
                full = _rescaled(full, gen, **({"spread": rescale_spread} if rescale_spread else {}))
            if augment:
                full = _moved(full, gen)
            n = len(idx)
            mine = torch.arange(par.rank, n, par.world)
            if len(mine):
                b = _slice(full, mine.to(device))
                weights = model(b["rasters"], b["coefficients"])
                total, parts = hypino_loss(target, weights, b, loss_weights, balance)
                loss = total.sum() * (par.world / n)
                # (a part whose weight is 0 may be left out: "lifted" is computed only when weighted)
                sums = torch.stack([parts[k].sum() if k in parts else total.new_zeros(()) for k in LOSS_WEIGHTS]
                                   + [total.sum()]).detach()
            else:  # fewer samples than processes: take part in the gradient average with zeros
                loss = sum(p.sum() for p in model.parameters()) * 0.0
                sums = torch.zeros(len(names), device=device)
            sums = par.sum(sums) / n
            return loss, dict(zip(names, sums.tolist()))

        def after_backward(m):
            if par.world > 1:
                par.average_gradients(m)
            if clip:
                torch.nn.utils.clip_grad_norm_(m.parameters(), clip)

        def evaluate(m):
            if val is None:
                return {}
            m.eval()
            e = _relative_l2(m, val)
            m.train()
            return {"val_rel_l2": float(np.mean(e)), "val_rel_l2_median": float(np.median(e))}

        history = fit(model, out, config, n_total, step, batch=batch, epochs=epochs, lr=lr,
                      seed=seed, weight_decay=weight_decay, evaluate=evaluate, device=device,
                      resume=resume, stop_after=stop_after, max_seconds=max_seconds, log=say,
                      after_backward=after_backward,
                      agree=par.agree if par.world > 1 else None, main=par.main)
    finally:
        par.close()
    return model, history


def load_hypino(name_or_path="hypino", device=None) -> HyperNetwork:
    """A trained HyperNetwork: a checkpoint folder of :func:`train_hypino` or the name of
    one shipped in ``pino/models``; weights from safetensors (no pickle), in eval mode."""
    folder = name_or_path if os.path.isdir(name_or_path) else os.path.join(MODELS, name_or_path)
    if not os.path.exists(os.path.join(folder, "meta.json")):
        shipped = sorted(os.listdir(MODELS)) if os.path.isdir(MODELS) else []
        raise ValueError(f"no hypernetwork {name_or_path!r}: give a checkpoint folder of "
                         f"`pino train hypino` or a shipped model ({shipped})")
    meta = read_meta(folder)
    cfg = meta.get("config", {})
    if cfg.get("kind") != "hypino":
        raise ValueError(f"{folder} holds a {cfg.get('kind')!r} checkpoint, not a hypino one")
    model = HyperNetwork(cfg["model"])
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    load_checkpoint(folder, model, device="cpu")
    model.meta = meta
    model.amplitude = _positive_amplitude(meta.get("amplitude", AMPLITUDE), f"{folder}/meta.json")
    return model.to(dev).eval()
