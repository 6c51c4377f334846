"""The Domain base class and constructive solid geometry (``|``, ``-``, ``&``)."""

import numpy as np


def as_points(points, dim, name="points"):
    """Check and return ``points`` as a float array of shape (N, dim)."""
    p = np.asarray(points, dtype=float)
    if dim == 1 and p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2 or p.shape[1] != dim:
        raise ValueError(
            f"{name} must have shape (N, {dim}) for a {dim}D domain, got shape {p.shape}; "
            "pass one point per row"
        )
    return p


def _directions(dim):
    if dim == 1:
        return np.array([[-1.0], [1.0]])
    if dim == 2:
        th = np.arange(16) * np.pi / 8
        return np.stack([np.cos(th), np.sin(th)], axis=1)
    g = np.array(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij")).reshape(3, -1).T
    g = g[np.any(g != 0, axis=1)].astype(float)
    return g / np.linalg.norm(g, axis=1, keepdims=True)


_DIRECTIONS = {d: _directions(d) for d in (1, 2, 3)}


class Domain:
    """A region of R^dim with tagged boundary pieces.

    Subclasses provide ``dim``, ``bounds``, ``_sd`` (a signed distance, negative inside,
    exact in sign) and ``_pieces`` (a list of ``(piece, sign)``; sign -1 flips the
    primitive's outward normal, as for the boundary of a hole).

    >>> from geometries import Rectangle, Disk
    >>> d = Rectangle((-1, -1), (1, 1)) - Disk((0, 0), 0.5, name="hole")
    >>> d.boundaries
    ('left', 'right', 'bottom', 'top', 'hole')
    """

    dim = None

    # -- CSG -----------------------------------------------------------------------
    def __or__(self, other):
        return Union(self, other)

    def __sub__(self, other):
        return Difference(self, other)

    def __and__(self, other):
        return Intersection(self, other)

    # -- queries -------------------------------------------------------------------
    @property
    def diameter(self):
        lo, hi = self.bounds
        return float(np.linalg.norm(hi - lo))

    def contains(self, points, tol=None):
        """Boolean mask of the points (N, dim) inside the closed domain.

        A point on the boundary counts as inside when the open domain comes arbitrarily
        close to it, which a signed distance alone cannot tell where CSG faces coincide
        (the sides of a cut-out that lie on the outer boundary are not in the domain):
        such points are decided by probing a small sphere around them.
        """
        p = as_points(points, self.dim)
        tol = 1e-10 * self.diameter if tol is None else tol
        sd = self._sd(p)
        inside = sd < -tol
        near = np.nonzero(np.abs(sd) <= tol)[0]
        if len(near):
            eps = 1e-7 * self.diameter
            dirs = _DIRECTIONS[self.dim]
            probes = (p[near, None, :] + eps * dirs[None]).reshape(-1, self.dim)
            inside[near] = (self._sd(probes) < 0).reshape(len(near), -1).any(axis=1)
        return inside

    def _on_boundary(self, p, n):
        eps = 1e-7 * self.diameter
        return self.contains(p - eps * n, tol=0.0) & ~self.contains(p + eps * n, tol=0.0)

    def _piece_samples(self, piece, sign, n, rng):
        p = piece.sample(n, rng)[:, : self.dim]
        nrm = sign * piece.normal(p)[:, : self.dim]
        keep = self._on_boundary(p, nrm)
        return p[keep], nrm[keep]

    @property
    def pieces(self):
        """The boundary pieces that survive, as ``(piece, sign)`` pairs."""
        if not hasattr(self, "_surviving"):
            rng = np.random.default_rng(0)
            self._surviving = [
                (pc, s) for pc, s in self._pieces if len(self._piece_samples(pc, s, 400, rng)[0])
            ]
        return self._surviving

    @property
    def boundaries(self):
        """Tags of the boundary pieces, in order of first appearance."""
        return tuple(dict.fromkeys(pc.tag for pc, _ in self.pieces))

    def sample_boundary(self, n, seed=0):
        """``n`` points uniform (by measure) on the boundary.

        Returns ``(points (n, dim), normals (n, dim), tags (n,))``; each normal is the
        outward normal of the piece the point lies on, so it is exact up to the corners.
        """
        rng = np.random.default_rng(seed)
        pieces = self.pieces
        weights = np.array([pc.measure for pc, _ in pieces], float)
        pts, nrms, tags, total = [], [], [], 0
        while total < n:
            counts = rng.multinomial(2 * (n - total) + 16, weights / weights.sum())
            for (pc, s), k in zip(pieces, counts):
                if k:
                    p, nr = self._piece_samples(pc, s, k, rng)
                    pts.append(p), nrms.append(nr), tags.append(np.full(len(p), pc.tag, object))
                    total += len(p)
        order = rng.permutation(total)[:n]
        return (np.concatenate(pts)[order], np.concatenate(nrms)[order],
                np.concatenate(tags)[order].astype(str))

    def sample_interior(self, n, seed=0):
        """``n`` points uniform in the domain (rejection in the bounding box)."""
        rng = np.random.default_rng(seed)
        lo, hi = self.bounds
        out, total = [], 0
        while total < n:
            p = rng.uniform(lo, hi, (max(2 * (n - total), 64), self.dim))
            p = p[self._sd(p) < 0]
            out.append(p)
            total += len(p)
        return np.concatenate(out)[:n]

    def mesh(self, h=None, order=1, refine=0):
        """A tagged scikit-fem mesh: ``mesh.boundaries`` maps each tag to facet indices.

        ``h`` is the target element size (default: a tenth of the smallest bounding box
        side); ``refine=k`` halves it k times by splitting (nested meshes, new boundary
        nodes on the true boundary); ``order=2`` gives a quadratic mesh whose boundary
        mid-nodes lie on curved boundaries.
        """
        from ._meshing import mesh_domain

        return mesh_domain(self, h, order, refine)

    def __repr__(self):
        return f"<{type(self).__name__} {self.dim}D, boundaries={list(self.boundaries)}>"


class _Binary(Domain):
    def __init__(self, a, b):
        for name, d in (("left operand", a), ("right operand", b)):
            if not isinstance(d, Domain) or isinstance(d, _MeshBacked):
                raise TypeError(
                    f"CSG needs two geometric shapes; the {name} is {type(d).__name__}. "
                    "Combine primitives such as Rectangle, Disk, Polygon, Box, Ball, Cylinder"
                )
        if a.dim != b.dim:
            raise ValueError(f"cannot combine a {a.dim}D and a {b.dim}D domain")
        if a.dim == 1:
            raise ValueError("1D domains are single intervals: CSG is for 2D and 3D shapes")
        self.a, self.b, self.dim = a, b, a.dim
        self._pieces = a._pieces + [(pc, self._sign_b * s) for pc, s in b._pieces]

    _sign_b = 1

    def __repr__(self):
        return f"({self.a!r} {self._op} {self.b!r})"


class Union(_Binary):
    _op = "|"

    def _sd(self, p):
        return np.minimum(self.a._sd(p), self.b._sd(p))

    @property
    def bounds(self):
        (l1, h1), (l2, h2) = self.a.bounds, self.b.bounds
        return np.minimum(l1, l2), np.maximum(h1, h2)


class Difference(_Binary):
    _op = "-"
    _sign_b = -1

    def _sd(self, p):
        return np.maximum(self.a._sd(p), -self.b._sd(p))

    @property
    def bounds(self):
        return self.a.bounds


class Intersection(_Binary):
    _op = "&"

    def _sd(self, p):
        return np.maximum(self.a._sd(p), self.b._sd(p))

    @property
    def bounds(self):
        (l1, h1), (l2, h2) = self.a.bounds, self.b.bounds
        return np.maximum(l1, l2), np.minimum(h1, h2)


class _MeshBacked:
    """Marker for domains defined by a mesh (not usable in CSG)."""
