"""Primitive shapes: Interval; Rectangle, Disk, Ellipse, Polygon; Box, Ball, Cylinder."""

import numpy as np

from ._domain import Domain
from ._pieces import CylinderCap, CylinderSide, EllipseArc, EndPoint, Face, Segment, Sphere


def _t(v):
    return tuple(float(a) for a in v)


def _vec(value, dim, what, shape):
    try:
        v = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{shape}: {what} must be {dim} numbers, got {value!r}") from None
    if v.shape != (dim,) or not np.all(np.isfinite(v)):
        raise ValueError(f"{shape}: {what} must be {dim} finite numbers, got {value!r}")
    return v


def _positive(value, what, shape):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{shape}: {what} must be a number, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{shape}: {what} must be positive, got {value!r}")
    return v


def _name(name, default, shape):
    if name is None:
        return default
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"{shape}: name must be an identifier-like string such as 'hole', got {name!r}"
        )
    return name


def _box_sd(p, lo, hi):
    c, half = (lo + hi) / 2, (hi - lo) / 2
    q = np.abs(p - c) - half
    outside = np.linalg.norm(np.maximum(q, 0), axis=1)
    return outside + np.minimum(q.max(axis=1), 0)


def _corners(lo, hi, shape):
    if np.any(hi <= lo):
        raise ValueError(
            f"{shape}: the second corner {tuple(hi)} must be above the first {tuple(lo)} "
            "in every coordinate"
        )


class Interval(Domain):
    """The interval [a, b]; tags ``left`` (x = a) and ``right`` (x = b), or ``name`` for both.

    >>> Interval(0, 1).boundaries
    ('left', 'right')
    """

    dim = 1

    def __init__(self, a=0.0, b=1.0, name=None):
        self.a, self.b = float(a), float(b)
        if not self.b > self.a:
            raise ValueError(f"Interval: need a < b, got a={a}, b={b}")
        self._pieces = [(EndPoint(self.a, -1.0, _name(name, "left", "Interval")), 1),
                        (EndPoint(self.b, 1.0, _name(name, "right", "Interval")), 1)]

    @property
    def bounds(self):
        return np.array([self.a]), np.array([self.b])

    def _sd(self, p):
        return np.abs(p[:, 0] - (self.a + self.b) / 2) - (self.b - self.a) / 2

    def __repr__(self):
        return f"Interval({self.a}, {self.b})"


class _AxisAligned(Domain):
    """Shared by Rectangle and Box: the region between corners ``lo`` and ``hi``."""

    @property
    def bounds(self):
        return self.lo.copy(), self.hi.copy()

    def _sd(self, p):
        return _box_sd(p, self.lo, self.hi)


class Rectangle(_AxisAligned):
    """Axis-aligned rectangle between two corners; tags ``left right bottom top``
    (or ``name`` for all four sides).

    >>> Rectangle((0, 0), (2, 1)).boundaries
    ('left', 'right', 'bottom', 'top')
    """

    dim = 2

    def __init__(self, corner0=(0.0, 0.0), corner1=(1.0, 1.0), name=None):
        self.lo = _vec(corner0, 2, "corner0", "Rectangle")
        self.hi = _vec(corner1, 2, "corner1", "Rectangle")
        _corners(self.lo, self.hi, "Rectangle")
        (x0, y0), (x1, y1) = self.lo, self.hi
        tags = [_name(name, d, "Rectangle") for d in ("left", "right", "bottom", "top")]
        segs = [((x0, y1), (x0, y0)), ((x1, y0), (x1, y1)), ((x0, y0), (x1, y0)),
                ((x1, y1), (x0, y1))]
        self._pieces = [(Segment(a, b, tg), 1) for (a, b), tg in zip(segs, tags)]

    def _occ(self, occ):
        return [(2, occ.addRectangle(*self.lo, 0.0, *(self.hi - self.lo)))]

    def __repr__(self):
        return f"Rectangle({_t(self.lo)}, {_t(self.hi)})"


class Ellipse(Domain):
    """Axis-aligned ellipse with semi-axes ``(rx, ry)``; its boundary is tagged ``name``
    (default ``ellipse``)."""

    dim = 2
    _default = "ellipse"

    def __init__(self, center, radii, name=None):
        self.c = _vec(center, 2, "center", type(self).__name__)
        r = np.broadcast_to(np.asarray(radii, dtype=float), (2,))
        self.rx = _positive(r[0], "radius", type(self).__name__)
        self.ry = _positive(r[1], "radius", type(self).__name__)
        tag = _name(name, self._default, type(self).__name__)
        self._pieces = [(EllipseArc(self.c, self.rx, self.ry, tag), 1)]

    @property
    def bounds(self):
        r = np.array([self.rx, self.ry])
        return self.c - r, self.c + r

    def _sd(self, p):
        q = (p - self.c) / np.array([self.rx, self.ry])
        rq = np.linalg.norm(q, axis=1)
        g = np.linalg.norm((p - self.c) / np.array([self.rx, self.ry]) ** 2, axis=1)
        return (rq**2 - 1) / np.maximum(2 * g, 1e-300)  # first-order distance, exact in sign

    def _occ(self, occ):
        import math

        if self.rx >= self.ry:
            return [(2, occ.addDisk(*self.c, 0.0, self.rx, self.ry))]
        tag = occ.addDisk(*self.c, 0.0, self.ry, self.rx)
        occ.rotate([(2, tag)], *self.c, 0.0, 0, 0, 1, math.pi / 2)
        return [(2, tag)]

    def __repr__(self):
        return f"Ellipse({_t(self.c)}, ({self.rx}, {self.ry}))"


class Disk(Ellipse):
    """Disk of radius ``r``; its circle is tagged ``name`` (default ``circle``).

    >>> Disk((0, 0), 0.2, name="hole").boundaries
    ('hole',)
    """

    _default = "circle"

    def __init__(self, center, r, name=None):
        super().__init__(center, (_positive(r, "radius", "Disk"),) * 2, name)

    def _sd(self, p):
        return np.linalg.norm(p - self.c, axis=1) - self.rx

    def __repr__(self):
        return f"Disk({_t(self.c)}, {self.rx})"


class Polygon(Domain):
    """Simple polygon through ``vertices`` (either orientation). All edges are tagged
    ``name`` (default ``boundary``), or edge i (from vertex i to i+1) ``names[i]``."""

    dim = 2

    def __init__(self, vertices, name=None, names=None):
        v = np.asarray(vertices, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3 or not np.all(np.isfinite(v)):
            raise ValueError(
                f"Polygon: vertices must be at least three (x, y) pairs, got shape {v.shape}"
            )
        area = 0.5 * np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1])
        if abs(area) < 1e-14:
            raise ValueError("Polygon: the vertices enclose no area; are they collinear?")
        if names is not None:
            if name is not None:
                raise ValueError("Polygon: give either name= (all edges) or names= (per edge)")
            if len(names) != len(v):
                raise ValueError(
                    f"Polygon: names needs one tag per edge ({len(v)}), got {len(names)}"
                )
            tags = [_name(n, None, "Polygon") for n in names]
        else:
            tags = [_name(name, "boundary", "Polygon")] * len(v)
        self.vertices = v
        w = np.roll(v, -1, axis=0)
        self._pieces = [(Segment(a, b, tg, ccw=area > 0), 1) for a, b, tg in zip(v, w, tags)]

    @property
    def bounds(self):
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    def _sd(self, p):
        a, b = self.vertices, np.roll(self.vertices, -1, axis=0)
        d = b - a
        ap = p[:, None, :] - a[None]
        s = np.clip(np.einsum("nkd,kd->nk", ap, d) / np.einsum("kd,kd->k", d, d), 0, 1)
        dist = np.linalg.norm(ap - s[..., None] * d[None], axis=2).min(axis=1)
        # even-odd crossing rule
        cond = (a[None, :, 1] > p[:, None, 1]) != (b[None, :, 1] > p[:, None, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = a[None, :, 0] + (p[:, None, 1] - a[None, :, 1]) * d[None, :, 0] / d[None, :, 1]
        inside = np.sum(cond & (p[:, None, 0] < xc), axis=1) % 2 == 1
        return np.where(inside, -dist, dist)

    def _occ(self, occ):
        pts = [occ.addPoint(px, py, 0.0) for px, py in self.vertices]
        lines = [occ.addLine(pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts))]
        return [(2, occ.addPlaneSurface([occ.addCurveLoop(lines)]))]

    def __repr__(self):
        return f"Polygon({len(self.vertices)} vertices)"


class Box(_AxisAligned):
    """Axis-aligned box; tags ``left right`` (x), ``bottom top`` (y), ``front back`` (z),
    or ``name`` for all six faces."""

    dim = 3

    def __init__(self, corner0=(0.0, 0.0, 0.0), corner1=(1.0, 1.0, 1.0), name=None):
        self.lo = _vec(corner0, 3, "corner0", "Box")
        self.hi = _vec(corner1, 3, "corner1", "Box")
        _corners(self.lo, self.hi, "Box")
        names = (("left", "right"), ("bottom", "top"), ("front", "back"))
        self._pieces = [
            (Face(self.lo, self.hi, ax, side, _name(name, names[ax][k], "Box")), 1)
            for ax in range(3) for k, side in enumerate((-1, 1))
        ]

    def _occ(self, occ):
        return [(3, occ.addBox(*self.lo, *(self.hi - self.lo)))]

    def __repr__(self):
        return f"Box({_t(self.lo)}, {_t(self.hi)})"


class Ball(Domain):
    """Ball of radius ``r``; its sphere is tagged ``name`` (default ``sphere``)."""

    dim = 3

    def __init__(self, center, r, name=None):
        self.c = _vec(center, 3, "center", "Ball")
        self.r = _positive(r, "radius", "Ball")
        self._pieces = [(Sphere(self.c, self.r, _name(name, "sphere", "Ball")), 1)]

    @property
    def bounds(self):
        return self.c - self.r, self.c + self.r

    def _sd(self, p):
        return np.linalg.norm(p - self.c, axis=1) - self.r

    def _occ(self, occ):
        return [(3, occ.addSphere(*self.c, self.r))]

    def __repr__(self):
        return f"Ball({_t(self.c)}, {self.r})"


class Cylinder(Domain):
    """Cylinder from ``base`` along the vector ``axis`` with radius ``r``; tags ``side``,
    ``base`` (the end at ``base``) and ``cap`` (the other end), or ``name`` for all."""

    dim = 3

    def __init__(self, base, axis, r, name=None):
        self.base = _vec(base, 3, "base", "Cylinder")
        self.axis = _vec(axis, 3, "axis", "Cylinder")
        if np.linalg.norm(self.axis) == 0:
            raise ValueError("Cylinder: axis must be a non-zero vector (its length is the height)")
        self.r = _positive(r, "radius", "Cylinder")
        tg = {k: _name(name, k, "Cylinder") for k in ("side", "base", "cap")}
        self._pieces = [(CylinderSide(self.base, self.axis, self.r, tg["side"]), 1),
                        (CylinderCap(self.base, self.axis, self.r, 0, tg["base"]), 1),
                        (CylinderCap(self.base, self.axis, self.r, 1, tg["cap"]), 1)]

    @property
    def bounds(self):
        e = self.axis / np.linalg.norm(self.axis)
        ext = self.r * np.sqrt(np.maximum(1 - e**2, 0))
        ends = np.stack([self.base, self.base + self.axis])
        return ends.min(axis=0) - ext, ends.max(axis=0) + ext

    def _sd(self, p):
        side = self._pieces[0][0]
        s, rad = side.ax.split(p)
        q = np.stack([np.linalg.norm(rad, axis=1) - self.r,
                      np.abs(s - side.ax.length / 2) - side.ax.length / 2], axis=1)
        return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)

    def _occ(self, occ):
        return [(3, occ.addCylinder(*self.base, *self.axis, self.r))]

    def __repr__(self):
        return f"Cylinder({_t(self.base)}, {_t(self.axis)}, {self.r})"
