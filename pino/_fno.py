"""Fourier neural operator (Li et al. 2021), n-dimensional, with padding for
non-periodic domains.

>>> import torch
>>> model = FNO(in_channels=1, out_channels=1, modes=(8, 8), width=16, layers=2)
>>> model(torch.randn(3, 1, 33, 33)).shape      # any grid size: same weights
torch.Size([3, 1, 33, 33])
"""

import torch
from torch import nn


class SpectralConv(nn.Module):
    """Multiply the lowest ``modes`` Fourier modes by learned complex matrices.

    With a real FFT the last axis keeps modes 0..m-1; every other axis keeps the lowest m
    positive and m negative frequencies, so there are 2^(d-1) weight blocks.
    """

    def __init__(self, in_channels, out_channels, modes):
        super().__init__()
        self.modes = tuple(int(m) for m in modes)
        d = len(self.modes)
        scale = 1.0 / (in_channels * out_channels)
        self.weights = nn.ParameterList([
            nn.Parameter(scale * torch.randn(in_channels, out_channels, *self.modes,
                                             dtype=torch.cfloat))
            for _ in range(2 ** (d - 1))
        ])

    def _corners(self, shape):
        """For each weight block: the slices of the kept modes in the spectrum and in the
        weights (frequency -1 always meets the last weight, whatever the grid size)."""
        d = len(self.modes)
        out = []
        for k in range(2 ** (d - 1)):
            spec, wts = [], []
            for ax in range(d - 1):
                M = self.modes[ax]
                m = min(M, shape[ax] // 2)
                negative = (k >> ax) & 1
                spec.append(slice(shape[ax] - m, shape[ax]) if negative else slice(0, m))
                wts.append(slice(M - m, M) if negative else slice(0, m))
            m = min(self.modes[-1], shape[-1])
            spec.append(slice(0, m))
            wts.append(slice(0, m))
            out.append((tuple(spec), tuple(wts)))
        return out

    def forward(self, v):
        d = len(self.modes)
        dims = tuple(range(-d, 0))
        vh = torch.fft.rfftn(v, dim=dims)
        out = torch.zeros(v.shape[0], self.weights[0].shape[1], *vh.shape[2:],
                          dtype=vh.dtype, device=v.device)
        both = (slice(None), slice(None))
        for w, (spec, wts) in zip(self.weights, self._corners(vh.shape[2:])):
            out[(*both, *spec)] = torch.einsum("bi...,io...->bo...", vh[(*both, *spec)],
                                               w[(*both, *wts)].to(vh.dtype))
        return torch.fft.irfftn(out, s=v.shape[-d:], dim=dims)


class FNO(nn.Module):
    """Lift -> ``layers`` x (spectral conv + pointwise linear, GELU) -> project.

    Input ``(batch, in_channels, *grid)`` on a uniform vertex grid of the unit box; the
    grid coordinates are appended as channels. Zero padding on the high side of each axis
    makes the spectral layers see a non-periodic domain: a float ``padding`` is a fraction
    of the grid's cells, which keeps every Fourier mode at the same physical frequency at
    every resolution (resolution independence needs it); an int is a fixed number of grid
    points, as in the original FNO code (then modes shift with the resolution).
    """

    def __init__(self, in_channels=1, out_channels=1, modes=(12, 12), width=32, layers=4,
                 padding=0.25, hidden=128):
        super().__init__()
        self.config = dict(in_channels=in_channels, out_channels=out_channels,
                           modes=list(modes), width=width, layers=layers, padding=padding,
                           hidden=hidden)
        d = len(modes)
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[d]
        self.dim, self.padding = d, padding
        self.lift = conv(in_channels + d, width, 1)
        self.spectral = nn.ModuleList(SpectralConv(width, width, modes) for _ in range(layers))
        self.pointwise = nn.ModuleList(conv(width, width, 1) for _ in range(layers))
        self.project = nn.Sequential(conv(width, hidden, 1), nn.GELU(), conv(hidden, out_channels, 1))

    def grid(self, shape, device, dtype):
        axes = [torch.linspace(0, 1, n, device=device, dtype=dtype) for n in shape]
        return torch.stack(torch.meshgrid(*axes, indexing="ij"))

    def forward(self, a):
        if a.dim() != self.dim + 2:
            raise ValueError(f"FNO input must be (batch, channels, {self.dim} grid axes), "
                             f"got shape {tuple(a.shape)}")
        shape = a.shape[2:]
        g = self.grid(shape, a.device, a.dtype).expand(a.shape[0], -1, *shape)
        v = self.lift(torch.cat([a, g], dim=1))
        pads = [self.padding if isinstance(self.padding, int) else
                int(round(self.padding * (n - 1))) for n in shape]
        p = any(pads)
        if p:
            v = nn.functional.pad(v, [q for n in reversed(pads) for q in (0, n)])
        for k, (spec, lin) in enumerate(zip(self.spectral, self.pointwise)):
            v = spec(v) + lin(v)
            if k < len(self.spectral) - 1:
                v = nn.functional.gelu(v)
        if p:
            v = v[(slice(None), slice(None), *(slice(0, n) for n in shape))]
        return self.project(v)
