"""Boundary pieces: the named parts of a primitive's boundary.

A piece knows its geometry (distance, closest point, outward normal of its primitive,
uniform samples) and its tag. Composite domains keep the pieces of their primitives and
decide, point by point, which parts survive.
"""

import numpy as np


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


class Piece:
    """Base class. ``tag`` names the piece; ``curved`` tells the mesher to snap mid-nodes."""

    curved = False

    def __init__(self, tag):
        self.tag = tag

    def project(self, p):
        """Closest point on the (unbounded) surface of the piece."""
        return p

    def __repr__(self):
        return f"{type(self).__name__}(tag={self.tag!r})"


class EndPoint(Piece):
    """One end of an interval (1D)."""

    def __init__(self, at, direction, tag):
        super().__init__(tag)
        self.at, self.direction, self.measure = float(at), float(direction), 1.0

    def distance(self, p):
        return np.abs(p[:, 0] - self.at)

    def normal(self, p):
        return np.full((len(p), 1), self.direction)

    def sample(self, n, rng):
        return np.full((n, 1), self.at)


class Segment(Piece):
    """A straight segment from a to b; outward normal is the right-hand normal of a->b
    when ``ccw`` (counter-clockwise boundary), the left-hand one otherwise."""

    def __init__(self, a, b, tag, ccw=True):
        super().__init__(tag)
        self.a, self.b = np.asarray(a, float), np.asarray(b, float)
        d = self.b - self.a
        self.measure = float(np.hypot(*d))
        n = np.array([d[1], -d[0]]) / self.measure
        self.n = n if ccw else -n

    def distance(self, p):
        d = self.b - self.a
        s = np.clip((p - self.a) @ d / (d @ d), 0.0, 1.0)
        return np.linalg.norm(p - (self.a + s[:, None] * d), axis=1)

    def normal(self, p):
        return np.tile(self.n, (len(p), 1))

    def sample(self, n, rng):
        s = rng.uniform(0, 1, n)[:, None]
        return self.a + s * (self.b - self.a)


class EllipseArc(Piece):
    """The full boundary of an axis-aligned ellipse (a circle when rx == ry)."""

    curved = True

    def __init__(self, center, rx, ry, tag):
        super().__init__(tag)
        self.c, self.rx, self.ry = np.asarray(center, float), float(rx), float(ry)
        a, b = self.rx, self.ry
        h = ((a - b) / (a + b)) ** 2  # Ramanujan's perimeter
        self.measure = float(np.pi * (a + b) * (1 + 3 * h / (10 + np.sqrt(4 - 3 * h))))

    def _theta(self, p):
        q = p - self.c
        return np.arctan2(q[:, 1] / self.ry, q[:, 0] / self.rx)

    def project(self, p):
        th = self._theta(p)
        return self.c + np.stack([self.rx * np.cos(th), self.ry * np.sin(th)], axis=1)

    def distance(self, p):
        if self.rx == self.ry:
            return np.abs(np.linalg.norm(p - self.c, axis=1) - self.rx)
        return np.linalg.norm(p - self.project(p), axis=1)

    def normal(self, p):
        q = p - self.c
        return _unit(np.stack([q[:, 0] / self.rx**2, q[:, 1] / self.ry**2], axis=1))

    def sample(self, n, rng):
        # uniform in arc length: rejection on the speed |dX/dtheta|
        out, vmax = [], max(self.rx, self.ry)
        while sum(len(o) for o in out) < n:
            th = rng.uniform(0, 2 * np.pi, 2 * n)
            speed = np.hypot(self.rx * np.sin(th), self.ry * np.cos(th))
            th = th[rng.uniform(0, vmax, 2 * n) < speed]
            out.append(np.stack([self.rx * np.cos(th), self.ry * np.sin(th)], axis=1))
        return self.c + np.concatenate(out)[:n]


class Face(Piece):
    """An axis-aligned rectangular face of a box: ``axis`` fixed at ``value``."""

    def __init__(self, lo, hi, axis, side, tag):
        super().__init__(tag)
        self.lo, self.hi = np.asarray(lo, float), np.asarray(hi, float)
        self.axis, self.side = axis, side  # side: -1 or +1
        self.value = self.hi[axis] if side > 0 else self.lo[axis]
        ext = np.delete(self.hi - self.lo, axis)
        self.measure = float(np.prod(ext))

    def distance(self, p):
        q = np.clip(p, self.lo, self.hi)
        q[:, self.axis] = self.value
        return np.linalg.norm(p - q, axis=1)

    def normal(self, p):
        n = np.zeros((len(p), 3))
        n[:, self.axis] = self.side
        return n

    def sample(self, n, rng):
        s = rng.uniform(self.lo, self.hi, (n, 3))
        s[:, self.axis] = self.value
        return s


class Sphere(Piece):
    curved = True

    def __init__(self, center, r, tag):
        super().__init__(tag)
        self.c, self.r = np.asarray(center, float), float(r)
        self.measure = float(4 * np.pi * self.r**2)

    def distance(self, p):
        return np.abs(np.linalg.norm(p - self.c, axis=1) - self.r)

    def project(self, p):
        return self.c + self.r * _unit(p - self.c)

    def normal(self, p):
        return _unit(p - self.c)

    def sample(self, n, rng):
        return self.c + self.r * _unit(rng.normal(size=(n, 3)))


class _Axial:
    """Coordinates along a cylinder's axis: s (axial) and the radial vector."""

    def __init__(self, base, axis):
        self.base = np.asarray(base, float)
        self.length = float(np.linalg.norm(axis))
        self.e = np.asarray(axis, float) / self.length

    def split(self, p):
        q = p - self.base
        s = q @ self.e
        return s, q - s[:, None] * self.e

    def frame(self):
        a = np.eye(3)[np.argmin(np.abs(self.e))]
        e1 = _unit(np.cross(self.e, a))
        return e1, np.cross(self.e, e1)


class CylinderSide(Piece):
    curved = True

    def __init__(self, base, axis, r, tag):
        super().__init__(tag)
        self.ax, self.r = _Axial(base, axis), float(r)
        self.measure = float(2 * np.pi * self.r * self.ax.length)

    def distance(self, p):
        s, rad = self.ax.split(p)
        dr = np.linalg.norm(rad, axis=1) - self.r
        ds = np.maximum(np.maximum(-s, s - self.ax.length), 0)
        return np.hypot(dr, ds)

    def project(self, p):
        s, rad = self.ax.split(p)
        return self.ax.base + s[:, None] * self.ax.e + self.r * _unit(rad)

    def normal(self, p):
        return _unit(self.ax.split(p)[1])

    def sample(self, n, rng):
        e1, e2 = self.ax.frame()
        th, s = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, self.ax.length, n)
        rad = self.r * (np.cos(th)[:, None] * e1 + np.sin(th)[:, None] * e2)
        return self.ax.base + s[:, None] * self.ax.e + rad


class CylinderCap(Piece):
    """A flat disk end of a cylinder: at the base (end=0) or the far end (end=1)."""

    def __init__(self, base, axis, r, end, tag):
        super().__init__(tag)
        self.ax, self.r, self.end = _Axial(base, axis), float(r), end
        self.s0 = self.ax.length * end
        self.measure = float(np.pi * self.r**2)

    def distance(self, p):
        s, rad = self.ax.split(p)
        dr = np.maximum(np.linalg.norm(rad, axis=1) - self.r, 0)
        return np.hypot(s - self.s0, dr)

    def normal(self, p):
        return np.tile(self.ax.e * (1 if self.end else -1), (len(p), 1))

    def sample(self, n, rng):
        e1, e2 = self.ax.frame()
        th, rr = rng.uniform(0, 2 * np.pi, n), self.r * np.sqrt(rng.uniform(0, 1, n))
        rad = rr[:, None] * (np.cos(th)[:, None] * e1 + np.sin(th)[:, None] * e2)
        return self.ax.base + self.s0 * self.ax.e + rad
