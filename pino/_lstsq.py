"""Least-squares output layer: given features ``phi(X) -> (N, m)`` and an Encoding, solve for
the output weights ``w`` (m + 1 with the bias) of ``U(X) = phi(X) @ w[:m] + w[m]``.

The PDE is linear and ``U`` is linear in ``w``, so the physics-informed loss is a linear
least-squares problem. Rows (all in the reference frame of the Encoding):

- interior ``X_i``: ``sum_k C_k D_k phi(X_i) . w (+ C_0 w_m) = f_i`` (``C`` the scaled
  coefficients, ``D_k`` the derivatives of ``TERMS`` by forward-mode autodiff);
- Dirichlet: ``U = g``; Neumann: ``d . grad U = g``; Robin: ``d . grad U + alpha U = g``
  (``d`` the condition's direction, see ``pino._encoding``).

Each group of rows is weighted by ``weight / sqrt(n_rows)`` (mean squared residuals), the
columns are scaled to unit norm, and the system is solved in float64 by an SVD with
truncation (``rcond``) or Tikhonov filtering (``ridge``).

>>> enc = encode(problem, n_interior=4000)                                  # doctest: +SKIP
>>> phi = random_features(400, scale=3.0, seed=0)                           # doctest: +SKIP
>>> res = lstsq_solve(phi, enc)                                             # doctest: +SKIP
>>> U = res.predict(phi, enc.to_reference(points))                          # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ._encoding import DIRICHLET, NEUMANN, ROBIN

__all__ = ["RandomFeatures", "random_features", "feature_derivatives", "lstsq_solve",
           "lstsq_system", "scaled_svd", "svd_solve", "LstsqResult", "DEFAULT_WEIGHTS"]

#: Row-group weights (multiplying the root-mean-square residual of each group).
DEFAULT_WEIGHTS = {"pde": 1.0, "dirichlet": 10.0, "neumann": 10.0, "robin": 10.0}


class RandomFeatures(torch.nn.Module):
    """``tanh(X @ W.T + b)`` with fixed Gaussian ``W, b`` (times ``scale``): ``(N, d) -> (N, m)``.

    >>> phi = RandomFeatures(256, scale=3.0, seed=0)
    >>> phi(torch.zeros(5, 2, dtype=torch.float64)).shape
    torch.Size([5, 256])
    """

    def __init__(self, m, scale=1.0, seed=0, in_dim=2, dtype=torch.float64):
        super().__init__()
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"RandomFeatures: m must be a positive integer, got {m!r}")
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"RandomFeatures: scale must be a positive number, got {scale!r}")
        g = torch.Generator().manual_seed(int(seed))
        self.register_buffer("weight", scale * torch.randn(m, in_dim, generator=g, dtype=dtype))
        self.register_buffer("bias", scale * torch.randn(m, generator=g, dtype=dtype))
        self.m, self.scale, self.seed = m, float(scale), int(seed)

    def forward(self, X):
        return torch.tanh(X @ self.weight.T + self.bias)

    def extra_repr(self):
        return f"m={self.m}, scale={self.scale}, seed={self.seed}"


def random_features(m, scale=1.0, seed=0, in_dim=2, dtype=torch.float64) -> RandomFeatures:
    """Random tanh features for the no-network baseline (see :class:`RandomFeatures`).

    >>> random_features(8, scale=3.0, seed=1).weight.shape
    torch.Size([8, 2])
    """
    return RandomFeatures(m, scale, seed, in_dim, dtype)


def _module_dtype_device(module):
    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point():
            return t.dtype, t.device
    return torch.float64, torch.device("cpu")


def feature_derivatives(features, points, order=2, chunk=1024):
    """Values (N, m), gradients (N, m, 2) and (order 2) Hessians (N, m, 2, 2) of every
    feature at ``points`` (N, 2), by forward-mode autodiff (``torch.func``), in chunks.

    >>> v, g, H = feature_derivatives(random_features(4), torch.zeros(3, 2, dtype=torch.float64))
    >>> H.shape
    torch.Size([3, 4, 2, 2])
    """
    from torch.func import jacfwd, vmap

    def f1(p):
        return features(p.unsqueeze(0)).squeeze(0)

    def first(p):
        v = f1(p)
        return v, v

    def second(p):
        J, v = jacfwd(first, has_aux=True)(p)
        return J, (J, v)

    outs = []
    with torch.no_grad(), warnings.catch_warnings():
        # torch's forward-mode AD loads its decompositions through torch.jit.script once
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated",
                                category=DeprecationWarning)
        for s in range(0, len(points), chunk):
            P = points[s:s + chunk]
            if order == 0:
                outs.append((features(P),))
            elif order == 1:
                J, v = vmap(jacfwd(first, has_aux=True))(P)
                outs.append((v, J))
            else:
                H, (J, v) = vmap(jacfwd(second, has_aux=True))(P)
                outs.append((v, J, H))
    return tuple(torch.cat(parts) for parts in zip(*outs))


@dataclass
class LstsqResult:
    """Output weights ``weights`` (m + 1,) float64 (last entry the bias) and diagnostics:
    ``residuals`` (root-mean-square residual per row group, unweighted, reference frame),
    ``relative_residual`` (weighted ||A w - b|| / ||b||), ``rank``, ``cond`` (ratio of the
    largest to the smallest kept singular value of the column-scaled matrix), ``n_rows``,
    ``seconds``.

    >>> U = res.predict(features, X)          # (N,) tensor          # doctest: +SKIP
    """

    weights: torch.Tensor
    residuals: dict
    relative_residual: float
    rank: int
    cond: float
    n_rows: int
    seconds: float
    info: dict = field(default_factory=dict)

    def predict(self, features, points):
        """``features(points) @ w[:m] + w[m]`` for reference points (N, 2) (array or tensor)."""
        dtype, device = _module_dtype_device(features)
        X = torch.as_tensor(np.asarray(points) if not torch.is_tensor(points) else points,
                            dtype=dtype, device=device)
        with torch.no_grad():
            out = features(X).to(self.weights) @ self.weights[:-1] + self.weights[-1]
        return out

    def head(self):
        """The weights as a ``torch.nn.Linear(m, 1)`` (float64)."""
        w = self.weights
        lin = torch.nn.Linear(len(w) - 1, 1, dtype=w.dtype, device=w.device)
        with torch.no_grad():
            lin.weight.copy_(w[:-1][None])
            lin.bias.copy_(w[-1:])
        return lin


def _rows(features, enc, dtype, device, chunk, derivatives=None):
    """Unweighted row blocks {group: (A (n, m+1), b (n,))}, float64. ``derivatives(points,
    order)`` replaces :func:`feature_derivatives` (e.g. a differentiable closed form)."""
    if derivatives is None:
        def derivatives(P, order):
            return feature_derivatives(features, P, order=order, chunk=chunk)
    C = torch.as_tensor(enc.coefficients, dtype=torch.float64, device=device)
    need2 = bool(torch.any(C[3:] != 0))
    X = torch.as_tensor(enc.interior, dtype=dtype, device=device)
    d = derivatives(X, 2 if need2 else 1)
    v, J = d[0].double(), d[1].double()
    L = C[0] * v + C[1] * J[..., 0] + C[2] * J[..., 1]
    if need2:
        H = d[2].double()
        L = L + C[3] * H[..., 0, 0] + C[4] * H[..., 1, 1] + C[5] * H[..., 0, 1]
    ones = torch.ones(len(X), 1, dtype=torch.float64, device=device)
    blocks = {"pde": (torch.cat([L, C[0] * ones], 1),
                      torch.as_tensor(enc.interior_source, dtype=torch.float64, device=device))}
    kind = enc.boundary_kind
    for code, name in ((DIRICHLET, "dirichlet"), (NEUMANN, "neumann"), (ROBIN, "robin")):
        sel = kind == code
        if not sel.any():
            continue
        P = torch.as_tensor(enc.boundary_points[sel], dtype=dtype, device=device)
        g = torch.as_tensor(enc.boundary_g[sel], dtype=torch.float64, device=device)
        one = torch.ones(len(P), 1, dtype=torch.float64, device=device)
        if code == DIRICHLET:
            v = derivatives(P, 0)[0]
            blocks[name] = (torch.cat([v.double(), one], 1), g)
            continue
        v, J = (a.double() for a in derivatives(P, 1)[:2])
        D = torch.as_tensor(enc.boundary_directions[sel], dtype=torch.float64, device=device)
        dn = torch.einsum("nmk,nk->nm", J, D)
        if code == NEUMANN:
            blocks[name] = (torch.cat([dn, 0 * one], 1), g)
        else:
            a = torch.as_tensor(enc.boundary_alpha[sel], dtype=torch.float64, device=device)[:, None]
            blocks[name] = (torch.cat([dn + a * v, a], 1), g)
    return blocks


def lstsq_solve(features, enc, *, weights=None, rcond=1e-12, ridge=0.0, chunk=1024) -> LstsqResult:
    """Solve the output layer of ``features`` for the problem of ``enc`` by least squares.

    ``features``: a torch module, reference points (N, 2) -> (N, m), smooth (autodiff twice);
    ``enc``: an :class:`~pino._encoding.Encoding` (its interior and boundary point sets are
    the rows); ``weights``: dict overriding :data:`DEFAULT_WEIGHTS` (keys pde, dirichlet,
    neumann, robin); ``rcond``: relative singular-value cut-off; ``ridge``: Tikhonov
    parameter (relative to the largest singular value; 0 = plain truncation).

    >>> res = lstsq_solve(random_features(400, 3.0), encode(problem))     # doctest: +SKIP
    >>> res.residuals["pde"], res.residuals["dirichlet"]                   # doctest: +SKIP
    """
    if not isinstance(features, torch.nn.Module):
        raise TypeError(f"lstsq_solve: features must be a torch.nn.Module mapping (N, 2) -> (N, m), "
                        f"got {type(features).__name__}")
    w = dict(DEFAULT_WEIGHTS)
    for k, val in (weights or {}).items():
        if k not in w:
            raise ValueError(f"lstsq_solve: unknown weight {k!r}; use {sorted(w)}")
        w[k] = float(val)
    if not (rcond >= 0 and ridge >= 0):
        raise ValueError(f"lstsq_solve: rcond and ridge must be >= 0, got {rcond}, {ridge}")
    t0 = time.perf_counter()
    A, b, blocks = lstsq_system(features, enc, w, chunk=chunk)
    m1 = A.shape[1]
    if not torch.all(torch.isfinite(A)):
        raise ValueError("lstsq_solve: the feature derivatives are not finite; is the network smooth?")
    sol, S, keep = svd_solve(A, b, rcond, ridge)
    rel = float(torch.linalg.vector_norm(A @ sol - b) / max(float(torch.linalg.vector_norm(b)), 1e-300))
    residuals = {k: float(torch.sqrt(torch.mean((Ak @ sol - bk) ** 2))) for k, (Ak, bk) in blocks.items()}
    kept = S[keep]
    return LstsqResult(
        weights=sol, residuals=residuals, relative_residual=rel, rank=int(keep.sum()),
        cond=float(kept[0] / kept[-1]) if len(kept) else float("inf"), n_rows=int(A.shape[0]),
        seconds=time.perf_counter() - t0,
        info={"m": m1 - 1, "weights": w, "rcond": rcond, "ridge": ridge,
              "rows": {k: int(len(bk)) for k, (_, bk) in blocks.items()}},
    )


def lstsq_system(features, enc, weights=None, *, chunk=1024, derivatives=None):
    """The weighted least-squares system ``(A (n, m + 1), b (n,), blocks)`` of
    :func:`lstsq_solve` (float64; ``blocks`` the unweighted ``{group: (A_g, b_g)}``);
    ``weights``: the full dict of group weights (default :data:`DEFAULT_WEIGHTS`);
    ``derivatives(points, order)``: see ``_rows`` (then A is differentiable)."""
    w = weights or DEFAULT_WEIGHTS
    dtype, device = _module_dtype_device(features)
    blocks = _rows(features, enc, dtype, device, chunk, derivatives)
    A = torch.cat([w[k] / math.sqrt(len(b)) * Ak for k, (Ak, b) in blocks.items()])
    b = torch.cat([w[k] / math.sqrt(len(b)) * b for k, (Ak, b) in blocks.items()])
    return A, b, blocks


def scaled_svd(A, rcond=1e-12):
    """SVD of ``A`` with its columns scaled to unit norm: ``(U, S, Vh, cn, keep)`` with
    ``A / cn = U diag(S) Vh`` and ``keep`` the singular values above ``rcond * S[0]``."""
    cn = torch.linalg.vector_norm(A, dim=0)
    cn = torch.where(cn > 0, cn, torch.ones_like(cn))
    U, S, Vh = torch.linalg.svd(A / cn, full_matrices=False)
    return U, S, Vh, cn, S > rcond * S[0]


def svd_solve(A, b, rcond=1e-12, ridge=0.0):
    """Least-squares solution of ``A x = b`` with unit-norm column scaling and a truncated
    (``rcond``, relative) or Tikhonov-filtered (``ridge``) SVD. Returns ``(x, S, keep)``
    (singular values of the scaled matrix and the mask of those kept)."""
    U, S, Vh, cn, keep = scaled_svd(A, rcond)
    if ridge > 0:
        lam = ridge * S[0]
        filt = torch.where(keep, S / (S**2 + lam**2), torch.zeros_like(S))
    else:
        filt = torch.where(keep, 1 / torch.where(keep, S, torch.ones_like(S)), torch.zeros_like(S))
    return (Vh.T @ (filt * (U.T @ b))) / cn, S, keep
