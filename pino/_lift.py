"""The Dirichlet lift of a zero-shot answer (``lift`` of ``pino.solve(..., method="hypino")``).

A generated network ``U`` misses its Dirichlet data by ``m = g - U`` on the boundary, and on
problems with holes that mismatch is most of its error. The lift adds the extension of ``m``
into the domain by the normalised Poisson kernel:

    c(X) = sum_j w_j(X) m_j / sum_j w_j(X),    w_j(X) = 1 / (|L (X - B_j)|^2 + eps^2),

``B_j`` Dirichlet boundary samples (drawn uniformly by length), ``L = A^{-1/2}`` for the
principal part ``A = [[c_xx, c_xy / 2], [c_xy / 2, c_yy]]`` of the operator (up to sign), so
that the kernel is that of the operator's own metric. For the Laplacian this is the harmonic
extension exactly on a disk and on a half-plane (their Poisson kernels are proportional to
``1 / |X - B|^2`` in ``B``) and a blend of the components' data elsewhere; ``U + c`` takes
the Dirichlet data at the samples (to ``eps``). Forward only: no fitting, no solve. Defined
for steady elliptic problems with Dirichlet data (the kernel of a time problem is not this
one); Neumann and Robin parts keep the network's values.

>>> import torch
>>> B = torch.tensor([[1.0, 0.0], [-1.0, 0.0]]); m = torch.tensor([1.0, 3.0])
>>> lift = DirichletLift(B, m, torch.eye(2, dtype=torch.float64))
>>> lift(torch.tensor([[0.0, 0.0]])).tolist()          # halfway: the mean of the two
[2.0]
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from ._encoding import DIRICHLET, _boundary

__all__ = ["principal_metric", "principal_metrics", "batched_lift", "DirichletLift", "lift_for"]

#: the kernel's softening, reference units: U + c meets the data at the samples to ~1e-12
EPS = 1e-6
#: entries of a block of the (rows, samples) kernel matrix
BLOCK = 2**21
#: the kernel's softening in the metric frame, in median spacings of the samples: smooths the
#: lift between samples (4: the PDE residual of U + c halves, its error does not change)
SOFTEN = 4.0
#: Dirichlet samples of a lift (all boundary samples; the Neumann and Robin ones are dropped)
SAMPLES = 4096


def principal_metrics(coefficients):
    """Batched :func:`principal_metric` in torch: ``(L (B, 2, 2), elliptic (B,) bool)`` for
    coefficients (B, 6); L is the identity where the operator is not elliptic."""
    c = coefficients
    A = torch.stack([torch.stack([c[:, 3], c[:, 5] / 2], -1), torch.stack([c[:, 5] / 2, c[:, 4]], -1)], -2)
    top = A.abs().amax((-2, -1))
    elliptic = (top > 0) & (torch.linalg.det(A) > 1e-9 * top**2)
    eye = torch.eye(2, dtype=A.dtype, device=A.device).expand_as(A)
    A = torch.where(elliptic[:, None, None], A * torch.sign(c[:, 3])[:, None, None] / top.clamp(min=1e-30)[:, None, None], eye)
    vals, vecs = torch.linalg.eigh(A)
    return (vecs / vals.sqrt()[:, None, :]) @ vecs.transpose(-1, -2), elliptic


def principal_metric(coefficients) -> np.ndarray | None:
    """``L`` (2, 2) with ``L^T L`` proportional to ``A^{-1}`` (A the principal part of the
    coefficients ``(u, u_x, u_y, u_xx, u_yy, u_xy)``, made positive definite by its sign), or
    None when the operator is not elliptic.

    >>> principal_metric([0, 0, 0, -2.0, -0.5, 0]).round(3).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    C = torch.as_tensor(np.asarray(coefficients, float).ravel()[None])
    L, elliptic = principal_metrics(C)
    return L[0].numpy() if bool(elliptic[0]) else None


def batched_lift(X, B, mismatch, mask, L, eps):
    """The lift's values (n_problems, N) at points X (n, N, 2) of a batch of problems with
    Dirichlet samples B (n, M, 2) (``mask`` (n, M): which are Dirichlet samples), mismatch (n, M),
    metrics L (n, 2, 2) and softening ``eps``; zero for a problem without Dirichlet samples.
    Differentiable in ``mismatch`` (the training loss of the lifted answer)."""
    Y, Bm = X @ L.transpose(-1, -2), B @ L.transpose(-1, -2)
    w = mask[:, None, :] / (((Y[:, :, None, :] - Bm[:, None, :, :]) ** 2).sum(-1) + eps**2)
    return (w * mismatch[:, None, :]).sum(-1) / w.sum(-1).clamp(min=1e-30)


class DirichletLift(nn.Module):
    """``c(X)`` of the module docstring at reference points X (N, 2) -> (N,); ``points``
    (M, 2) the Dirichlet samples B, ``mismatch`` (M,) the data minus the network there,
    ``metric`` L (2, 2). ``derivatives(X)``: c and its first and second derivatives (N, 6)
    in closed form, in the order of :func:`pino._hypino.point_derivatives`."""

    def __init__(self, points, mismatch, metric, eps=EPS):
        super().__init__()
        metric = torch.as_tensor(np.asarray(metric, float))
        self.register_buffer("metric", metric)
        self.register_buffer("points", torch.as_tensor(points, dtype=metric.dtype))
        self.register_buffer("mismatch", torch.as_tensor(mismatch, dtype=metric.dtype))
        self.eps = float(eps)

    def _sums(self, X):
        """Per row: S = (sum w, sum w m), their gradients (n, 2, 2) and Hessians (n, 2, 2, 2)."""
        L = self.metric.to(X.dtype)
        B = self.points.to(X.dtype) @ L.T
        Y = X @ L.T
        dx, dy = Y[:, :1] - B[:, 0], Y[:, 1:] - B[:, 1]                   # (n, M), metric frame
        w = 1.0 / (dx * dx + dy * dy + self.eps**2)
        mm = torch.stack([torch.ones_like(self.mismatch), self.mismatch], 1).to(X.dtype)   # (M, 2)
        S = w @ mm                                                          # (n, 2): sum w, sum w m
        # grad_X w = -2 w^2 L^T d; Hessian 8 w^3 (L^T d)(L^T d)^T - 2 w^2 L^T L
        qx, qy = dx * L[0, 0] + dy * L[1, 0], dx * L[0, 1] + dy * L[1, 1]   # L^T d per sample
        w2, w3 = w * w, 8 * w * w * w
        grad = torch.stack([(-2 * w2 * qx) @ mm, (-2 * w2 * qy) @ mm], 1)  # (n, 2 [x, y], 2 [S0, S1])
        s2 = w2 @ mm
        G = L.T @ L
        hxx = (w3 * qx * qx) @ mm - 2 * G[0, 0] * s2
        hyy = (w3 * qy * qy) @ mm - 2 * G[1, 1] * s2
        hxy = (w3 * qx * qy) @ mm - 2 * G[0, 1] * s2
        hess = torch.stack([torch.stack([hxx, hxy], 1), torch.stack([hxy, hyy], 1)], 1)   # (n, 2, 2, 2)
        return S, grad, hess

    def forward(self, X):
        B, m = self.points.to(X.dtype)[None], self.mismatch.to(X.dtype)[None]
        L, ones = self.metric.to(X.dtype)[None], torch.ones_like(m)
        step = max(1, BLOCK // (2 * max(m.shape[1], 1)))
        parts = [batched_lift(X[None, s:s + step], B, m, ones, L, self.eps)[0] for s in range(0, len(X), step)]
        return torch.cat(parts) if parts else X.new_zeros(0)

    def derivatives(self, X):
        rows, step = [], max(1, BLOCK // (4 * max(len(self.mismatch), 1)))
        for s in range(0, len(X), step):
            S, grad, hess = self._sums(X[s:s + step])
            S0, S1, g0, g1, H0, H1 = S[:, 0], S[:, 1], grad[..., 0], grad[..., 1], hess[..., 0], hess[..., 1]
            c = S1 / S0
            cg = (g1 - c[:, None] * g0) / S0[:, None]
            cH = (H1 - cg[:, :, None] * g0[:, None, :] - g0[:, :, None] * cg[:, None, :]
                  - c[:, None, None] * H0) / S0[:, None, None]
            rows.append(torch.stack([c, cg[:, 0], cg[:, 1], cH[:, 0, 0], cH[:, 1, 1], cH[:, 0, 1]], -1))
        return torch.cat(rows) if rows else X.new_zeros(0, 6)


def lift_for(problem, enc, net, n=SAMPLES, seed=0, soften=None):
    """The :class:`DirichletLift` of ``net`` (reference frame, a module of X (N, 2)) for
    ``problem`` encoded as ``enc``: ``n`` boundary samples (seed ``seed``), the Dirichlet ones
    kept; ``soften``: the kernel's softening in median sample spacings (default
    :data:`SOFTEN`); None for a time problem, an operator that is not elliptic, or no
    Dirichlet data."""
    L = principal_metric(enc.coefficients)
    if enc.is_time_dependent or L is None:
        return None
    P, _, _, _, kind, _, g = _boundary(problem, n, seed, enc.half)
    keep = kind == DIRICHLET
    if not keep.any():
        return None
    X = enc.to_reference(P[keep])
    p = next(net.parameters())
    with torch.no_grad():
        U = net(torch.as_tensor(X, dtype=p.dtype, device=p.device)).double().cpu().numpy()
    soften = SOFTEN if soften is None else float(soften)
    eps = EPS
    if soften:
        Y = X @ L.T
        eps = soften * float(np.median(cKDTree(Y).query(Y, 2)[0][:, 1]))
    return DirichletLift(X, g[keep] - U, L, eps=eps).to(p.device)
