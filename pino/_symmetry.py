"""The symmetries of the square, used to average a hypernetwork's answers (``symmetrise``).

The family ``c0 u + c1 u_x + c2 u_y + c3 u_xx + c4 u_yy + c5 u_xy = f`` on a domain in
[-1, 1]^2 is closed under the eight symmetries of the square, ``p' = M p`` with ``M`` a
signed permutation matrix: if ``u`` solves a problem, ``u(M^T p')`` solves the moved one,
whose rasters are the flipped / transposed rasters and whose coefficients are
``b' = M b``, ``A' = M A M^T`` (``b = (c1, c2)``, ``A = [[c3, c5/2], [c5/2, c4]]``);
Neumann and Robin data are normal derivatives and move with the boundary. Time problems
(``(x, t)`` on the square, initial data on ``t = -1``) keep only ``x -> -x``.

A trained hypernetwork is not exactly equivariant, so the eight answers differ; their
mean (each mapped back) is a better answer than any one of them (held-out numbers in
``docs/benchmarks.md``).

>>> [M.tolist() for M in symmetries(timed=True)]
[[[1.0, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [0.0, 1.0]]]
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["symmetries", "transform_rasters", "transform_coefficients", "transform_derivatives",
           "moved_inputs", "Symmetrised"]


def symmetries(timed=False) -> list:
    """The matrices M (2, 2) of the symmetries, identity first: eight for a steady problem,
    two (identity and ``x -> -x``) for a time problem."""
    if timed:
        return [np.eye(2), np.diag([-1.0, 1.0])]
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])
    return [np.diag([a, b]) @ P for P in (np.eye(2), swap) for a in (1.0, -1.0) for b in (1.0, -1.0)]


def _parts(M):
    M = np.asarray(M, float)
    if not (M.shape == (2, 2) and np.allclose(np.abs(M).sum(0), 1) and np.allclose(np.abs(M).sum(1), 1)
            and np.all(np.isin(M, (-1.0, 0.0, 1.0)))):
        raise ValueError(f"expected a signed permutation matrix (2, 2), got {M.tolist()}")
    return M[0, 0] == 0, M[0].sum(), M[1].sum()


def transform_rasters(rasters, M):
    """Rasters ``(..., C, R, R)`` (rows y, columns x, as ``pino.encode`` makes them) of the
    problem moved by ``p' = M p``."""
    swap, a, b = _parts(M)
    if swap:
        rasters = rasters.transpose(-1, -2)
    if a < 0:
        rasters = rasters.flip(-1)
    if b < 0:
        rasters = rasters.flip(-2)
    return rasters


def _move_orders(v, M, off):
    """``(..., 6)`` = (scalar, vector (2), symmetric matrix (xx, yy, xy)) moved by ``M``: the
    scalar kept, the vector ``M v``, the matrix ``M A M^T``, whose off-diagonal entry is
    ``off`` times the last component."""
    _parts(M)
    Mt = torch.as_tensor(np.asarray(M, float), dtype=v.dtype, device=v.device)
    g = v[..., 1:3] @ Mt.T
    A = torch.stack([torch.stack([v[..., 3], off * v[..., 5]], -1),
                     torch.stack([off * v[..., 5], v[..., 4]], -1)], -2)
    A = Mt @ A @ Mt.T
    return torch.stack([v[..., 0], g[..., 0], g[..., 1], A[..., 0, 0], A[..., 1, 1], A[..., 0, 1] / off], -1)


def transform_coefficients(coefficients, M):
    """Coefficients ``(..., 6)`` of the problem moved by ``p' = M p``: ``b' = M b``,
    ``A' = M A M^T`` (``A = [[c3, c5/2], [c5/2, c4]]``)."""
    return _move_orders(coefficients, M, 0.5)


def transform_derivatives(derivatives, M):
    """Derivatives ``(..., 6)`` (u, u_x, u_y, u_xx, u_yy, u_xy) of ``u`` at ``p``, as those of
    the moved solution ``u(M^T p')`` at ``p' = M p``: u, ``M grad u``, ``M H M^T``."""
    return _move_orders(derivatives, M, 1.0)


def moved_inputs(rasters, coefficients, points, M):
    """The hypernetwork's inputs (rasters ``(..., C, R, R)``, coefficients ``(..., 6)``) and
    reference points ``(..., N, 2)`` of the problem moved by ``p' = M p``."""
    Mt = torch.as_tensor(np.asarray(M, float), dtype=points.dtype, device=points.device)
    return transform_rasters(rasters, M), transform_coefficients(coefficients, M), points @ Mt.T


class Symmetrised(nn.Module):
    """``U(X) = mean_g nets[g](X M_g^T)``: networks generated for the moved problems, each
    evaluated where it sees the point, averaged.

    >>> from pino._hypino import PINNModule
    >>> nets = [PINNModule(frequencies=1, width=4, depth=1, basis=4) for _ in range(2)]
    >>> Symmetrised(nets, symmetries(timed=True))(torch.zeros(3, 2)).shape
    torch.Size([3])
    """

    def __init__(self, nets, matrices):
        super().__init__()
        if len(nets) != len(matrices) or not len(nets):
            raise ValueError(f"Symmetrised: {len(nets)} networks for {len(matrices)} matrices")
        for M in matrices:
            _parts(M)
        self.nets = nn.ModuleList(nets)
        self.register_buffer("matrices", torch.as_tensor(np.stack(matrices), dtype=torch.float64))

    def forward(self, X):
        out = 0.0
        for M, net in zip(self.matrices, self.nets):
            out = out + net(X @ M.to(X.dtype).T)
        return out / len(self.nets)

    def derivatives(self, X):
        """u, u_x, u_y, u_xx, u_yy, u_xy (N, 6) of the mean, from the networks' closed-form
        derivatives at the moved points, moved back."""
        out = 0.0
        for M, net in zip(self.matrices, self.nets):
            D = net.derivatives(X @ M.to(X.dtype).T)
            out = out + transform_derivatives(D, M.T.cpu().numpy())
        return out / len(self.nets)
