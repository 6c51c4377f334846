"""`Solution`: a finite-element field (steady or a time series) that evaluates at points,
measures its error, saves (.vtu, .xdmf) and plots (PyVista).

Example::

    >>> import skfem
    >>> from manufactured._symbols import x, y
    >>> basis = skfem.CellBasis(skfem.MeshTri().refined(3), skfem.ElementTriP2())
    >>> sol = Solution(basis, basis.project(lambda p: p[0] * p[1]))
    >>> sol([[0.5, 0.5]])                     # doctest: +SKIP
    array([0.25])
    >>> sol.error(x * y, norm="H1") < 1e-10   # doctest: +SKIP
    True
"""

import inspect
import numbers
from pathlib import Path

import numpy as np
import sympy as sp
from skfem import CellBasis

from manufactured._symbols import SPACE, t as _t

from ._locate import probes, probes_grad

__all__ = ["Solution"]

_NORMS = ("L2", "H1", "max")


class Solution:
    """A scalar finite-element field ``u_h`` on ``basis`` (a scikit-fem ``CellBasis``).

    ``dofs`` is ``(n_dofs,)``, or ``(n_times, n_dofs)`` together with ``times``
    ``(n_times,)`` (increasing) for a time problem.  ``info`` is a free dict (method,
    sizes, timings).  Example: ``Solution(basis, u, info={"method": "fem"})``.
    """

    def __init__(self, basis, dofs, *, times=None, info=None, name="u"):
        if not isinstance(basis, CellBasis):
            raise TypeError(f"basis must be a skfem CellBasis, got {type(basis).__name__}")
        dofs = np.asarray(dofs, dtype=float)
        if times is None:
            if dofs.shape != (basis.N,):
                raise ValueError(f"dofs must have shape ({basis.N},) for this basis "
                                 f"(pass times= for a time series), got {dofs.shape}")
        else:
            times = np.asarray(times, dtype=float).ravel()
            if dofs.shape != (times.size, basis.N):
                raise ValueError(f"dofs must have shape (n_times, n_dofs) = "
                                 f"({times.size}, {basis.N}), got {dofs.shape}")
            if times.size < 1 or np.any(np.diff(times) <= 0):
                raise ValueError("times must be strictly increasing and non-empty")
        self._basis, self._dofs, self._times = basis, dofs, times
        self.info = dict(info or {})
        self.name = str(name)

    # ----------------------------------------------------------------- properties
    basis = property(lambda self: self._basis, doc="The scikit-fem CellBasis.")
    dofs = property(lambda self: self._dofs, doc="(n_dofs,) or (n_times, n_dofs).")
    times = property(lambda self: self._times, doc="(n_times,) or None.")
    mesh = property(lambda self: self._basis.mesh, doc="The scikit-fem mesh.")
    dim = property(lambda self: self._basis.mesh.dim(), doc="Space dimension.")
    n_dofs = property(lambda self: self._basis.N, doc="Number of degrees of freedom.")
    order = property(lambda self: int(self._basis.elem.maxdeg), doc="Polynomial degree.")
    is_time_dependent = property(lambda self: self._times is not None)

    def __repr__(self):
        m = self.mesh
        s = (f"Solution({self.name!r}, {type(m).__name__} with {m.nelements} elements, "
             f"{type(self._basis.elem).__name__}, n_dofs={self.n_dofs}")
        if self.is_time_dependent:
            s += f", {self._times.size} steps in [{self._times[0]:g}, {self._times[-1]:g}]"
        if "method" in self.info:
            s += f", method={self.info['method']!r}"
        return s + ")"

    # ----------------------------------------------------------------- evaluation
    def _points(self, points):
        p = np.asarray(points, dtype=float)
        if self.dim == 1 and p.ndim == 1:
            p = p[:, None]
        if p.ndim != 2 or p.shape[1] != self.dim:
            extra = " or (N,)" if self.dim == 1 else ""
            raise ValueError(f"points must have shape (N, {self.dim}){extra} for this "
                             f"{self.dim}D solution, got {p.shape}")
        return p

    def _time_weights(self, t, n):
        """Per point: step index i and weight w, value = (1-w) u_i + w u_{i+1}."""
        if not self.is_time_dependent:
            if t is not None:
                raise ValueError("this solution is steady; do not pass t")
            return None
        if t is None:
            raise ValueError("this solution is time dependent; pass t (a scalar or one "
                             f"time per point) within [{self._times[0]}, {self._times[-1]}]")
        tt = np.asarray(t, dtype=float)
        if tt.ndim == 0:
            tt = np.full(n, float(tt))
        if tt.shape != (n,):
            raise ValueError(f"t must be a scalar or have shape ({n},), got {tt.shape}")
        T = self._times
        eps = 1e-12 * max(1.0, abs(T[-1] - T[0]))
        if np.any(tt < T[0] - eps) or np.any(tt > T[-1] + eps):
            raise ValueError(f"t outside the stored time interval [{T[0]}, {T[-1]}]")
        if T.size == 1:
            return np.zeros(n, dtype=int), np.zeros(n)
        i = np.clip(np.searchsorted(T, tt, side="right") - 1, 0, T.size - 2)
        w = np.clip((tt - T[i]) / (T[i + 1] - T[i]), 0.0, 1.0)
        return i, w

    def _apply(self, mats, t, n):
        """Apply evaluation matrices to the (time-interpolated) dofs."""
        tw = self._time_weights(t, n)
        if tw is None:
            return [M @ self._dofs for M in mats]
        i, w = tw
        out = [np.zeros(n) for _ in mats]
        for j in np.unique(i):
            rows = i == j
            nxt = min(j + 1, self._dofs.shape[0] - 1)
            for o, M in zip(out, mats):
                Mj = M[rows]
                o[rows] = (1 - w[rows]) * (Mj @ self._dofs[j]) + w[rows] * (Mj @ self._dofs[nxt])
        return out

    def dofs_at(self, t=None):
        """The dof vector at time ``t`` (linear in time; None = final time when time dependent)."""
        if not self.is_time_dependent:
            if t is not None:
                raise ValueError("this solution is steady; do not pass t")
            return self._dofs
        t = self._times[-1] if t is None else t
        (i,), (w,) = self._time_weights(t, 1)
        nxt = min(i + 1, self._dofs.shape[0] - 1)
        return (1 - w) * self._dofs[i] + w * self._dofs[nxt]

    def __call__(self, points, t=None):
        """Values (N,) at points (N, dim); NaN outside the mesh.  Example: ``sol([[0.1, 0.2]])``."""
        p = self._points(points)
        P, inside = probes(self._basis, p.T)
        (v,) = self._apply([P], t, p.shape[0])
        v[~inside] = np.nan
        return v

    def grad(self, points, t=None):
        """Gradient (N, dim) at points (N, dim); NaN outside.  Example: ``sol.grad([[0.1, 0.2]])``."""
        p = self._points(points)
        mats, inside = probes_grad(self._basis, p.T)
        g = np.stack(self._apply(mats, t, p.shape[0]), axis=1)
        g[~inside] = np.nan
        return g

    # ----------------------------------------------------------------- error
    def error(self, exact, norm="L2", relative=False, t=None):
        """Norm of ``u_h - exact`` on this mesh: ``norm`` is "L2", "H1" (full norm) or "max".

        ``exact``: sympy expression in x, y, z (and t), callable ``f(points)`` or
        ``f(points, t)`` with points (N, dim) returning (N,) (for H1 pass a pair
        ``(f, grad_f)`` with grad_f returning (N, dim)), a number, or another Solution.
        ``t``: a stored time or one in between (interpolated); default the final time.
        Example: ``sol.error(sympy.sin(x) * y, norm="H1", relative=True)``.
        """
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
        if self.is_time_dependent:
            t = float(self._times[-1] if t is None else t)
        elif t is not None:
            raise ValueError("this solution is steady; do not pass t")
        uh = self.dofs_at(t)
        want_grad = norm == "H1"
        ex = _exact_evaluator(exact, self.dim, want_grad, t)
        qb = CellBasis(self.mesh, self._basis.elem, mapping=self._basis.mapping,
                       intorder=min(2 * self.order + 2, 10))
        xq = qb.mapping.F(qb.X)                           # (dim, nel, nqp)
        pts = xq.reshape(self.dim, -1).T
        u = qb.interpolate(uh)
        uv = np.asarray(u)
        ev, eg = ex(pts)
        ev = ev.reshape(xq.shape[1:])
        if norm == "max":
            dl = qb.doflocs.T
            ev_d, _ = ex(dl)
            diff = max(np.abs(uv - ev).max(), np.abs(uh - ev_d).max())
            ref = max(np.abs(ev).max(), np.abs(ev_d).max())
        else:
            dx = qb.dx
            d2 = ((uv - ev) ** 2 * dx).sum()
            r2 = (ev ** 2 * dx).sum()
            if want_grad:
                eg = eg.T.reshape((self.dim,) + xq.shape[1:])
                d2 += (((u.grad - eg) ** 2).sum(axis=0) * dx).sum()
                r2 += ((eg ** 2).sum(axis=0) * dx).sum()
            diff, ref = np.sqrt(d2), np.sqrt(r2)
        if relative:
            if ref == 0:
                raise ValueError("relative error against an exact solution of zero norm")
            return float(diff / ref)
        return float(diff)

    # ----------------------------------------------------------------- output
    def sample(self, nrefs=None):
        """Linear sub-simplex sampling of the field: ``(points (n, dim), cells (dim+1, m),
        values (n,) or (n_times, n))``.  P1 on a straight mesh gives the mesh itself."""
        from ._plot import sample_field
        return sample_field(self._basis, self._dofs, nrefs)

    def save(self, path):
        """Write ``.vtu`` (point data ``u``; time series: ``u`` final and ``u_0000``... plus
        field data ``times``) or ``.xdmf`` (meshio TimeSeriesWriter).  Returns the path.
        Example: ``sol.save("out/u.vtu")``."""
        import meshio
        path = Path(path)
        if path.suffix not in (".vtu", ".xdmf"):
            raise ValueError(f"save: unsupported extension {path.suffix!r}; use .vtu or .xdmf")
        path.parent.mkdir(parents=True, exist_ok=True)
        pts, cells, vals = self.sample()
        pts3 = np.zeros((pts.shape[0], 3))
        pts3[:, :self.dim] = pts
        ctype = {1: "line", 2: "triangle", 3: "tetra"}[self.dim]
        cellblock = [(ctype, np.ascontiguousarray(cells.T))]
        steps = vals if self.is_time_dependent else vals[None]
        times = self._times if self.is_time_dependent else np.zeros(1)
        if path.suffix == ".vtu":
            point_data = {self.name: steps[-1]}
            if self.is_time_dependent:
                point_data.update({f"{self.name}_{k:04d}": s for k, s in enumerate(steps)})
            meshio.write(path, meshio.Mesh(pts3, cellblock, point_data=point_data))
            if self.is_time_dependent:      # meshio's vtu writer drops field data
                _add_vtu_field_data(path, "times", times)
        else:
            # XML keeps the series in one file; meshio's HDF/Binary formats write their
            # data files into the current directory and HDF needs h5py.
            with meshio.xdmf.TimeSeriesWriter(str(path), data_format="XML") as w:
                w.write_points_cells(pts3, cellblock)
                for tk, s in zip(times, steps):
                    w.write_data(float(tk), point_data={self.name: s})
        return path

    def plot(self, path=None, *, t=None, show_edges=None, cmap="viridis", window_size=(900, 700)):
        """Plot with PyVista; writes a PNG when ``path`` is given or there is no display
        (then ``<name>.png``).  2D: field with scalar bar; 3D: surface and clip; 1D: curve;
        1D in time: x-t map.  ``t`` picks one time (2D/3D default: final).  Returns the path.
        Example: ``sol.plot("u.png")``."""
        from . import _plot
        if path is None and not _plot.has_display():
            path = f"{self.name}.png"
        title = self.name + (f" ({self.info['method']})" if "method" in self.info else "")
        if self.dim == 1 and self.is_time_dependent and t is None:
            pts, cells, vals = self.sample()
            return _plot.plot_xt(pts[:, 0], self._times, vals, path, title=title,
                                 cmap=cmap, window_size=window_size)
        pts, cells, vals = self.sample()
        if self.is_time_dependent:
            vals = np.stack(vals)
            tt = self._times[-1] if t is None else t
            (i,), (w,) = self._time_weights(tt, 1)
            vals = (1 - w) * vals[i] + w * vals[min(i + 1, len(vals) - 1)]
            title += f", t = {float(tt):g}"
        return _plot.plot_field(pts, cells, vals, path, title=title, cmap=cmap,
                                show_edges=show_edges, window_size=window_size,
                                name=self.name)


def _add_vtu_field_data(path, name, values):
    """Insert an ascii FieldData array into a .vtu written by meshio (XML text)."""
    values = np.asarray(values, dtype=float).ravel()
    block = (f'<FieldData><DataArray type="Float64" Name="{name}" '
             f'NumberOfTuples="{values.size}" format="ascii">'
             + " ".join(repr(float(v)) for v in values) + "</DataArray></FieldData>")
    text = Path(path).read_text()
    text = text.replace("<UnstructuredGrid>", "<UnstructuredGrid>" + block, 1)
    Path(path).write_text(text)


# --------------------------------------------------------------------- exact solutions
def _n_params(f):
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _check(arr, shape, what):
    arr = np.asarray(arr, dtype=float)
    if arr.ndim == 0:
        arr = np.full(shape, float(arr))
    if arr.shape != shape:
        raise ValueError(f"{what} returned shape {arr.shape}; expected {shape} "
                         f"for points of shape ({shape[0]}, dim)")
    return arr


def _exact_evaluator(exact, dim, want_grad, t):
    """Return ev(points (N, dim)) -> (values (N,), grads (N, dim) or None)."""
    if isinstance(exact, Solution):
        if exact.dim != dim:
            raise ValueError(f"cannot compare a {dim}D solution with a {exact.dim}D one")
        te = t if exact.is_time_dependent else None
        if t is None and exact.is_time_dependent:
            raise ValueError("exact is time dependent but this solution is steady")
        d = exact.dofs_at(te)

        def ev(p):
            P, _ = probes(exact.basis, p.T, extrapolate=True)
            g = None
            if want_grad:
                G, _ = probes_grad(exact.basis, p.T, extrapolate=True)
                g = np.stack([M @ d for M in G], axis=1)
            return P @ d, g
        return ev
    if isinstance(exact, numbers.Number) and not isinstance(exact, bool):
        c = float(exact)
        return lambda p: (np.full(p.shape[0], c), np.zeros(p.shape) if want_grad else None)
    if isinstance(exact, sp.Basic):
        sym = SPACE[:dim]
        free = exact.free_symbols - set(sym) - {_t}
        if free:
            raise ValueError(f"exact has unknown symbols {sorted(map(str, free))}; "
                             f"allowed: {[str(s) for s in sym]} and t")
        if _t in exact.free_symbols and t is None:
            raise ValueError("exact depends on t but this solution is steady; substitute t")
        e = exact.subs(_t, t) if t is not None else exact
        f = sp.lambdify(sym, e, "numpy")
        gs = [sp.lambdify(sym, sp.diff(e, s), "numpy") for s in sym] if want_grad else None

        def ev(p):
            n = p.shape[0]
            v = _check(f(*p.T), (n,), "exact")
            g = (np.stack([_check(gk(*p.T), (n,), "exact gradient") for gk in gs], axis=1)
                 if want_grad else None)
            return v, g
        return ev
    if isinstance(exact, tuple) and len(exact) == 2 and all(map(callable, exact)):
        f, df = exact
    elif callable(exact):
        f, df = exact, None
        if want_grad:
            raise TypeError("H1 error needs the exact gradient: pass a sympy expression, "
                            "a Solution, or a pair (f, grad_f) instead of a plain callable")
    else:
        raise TypeError("exact must be a sympy expression, a callable f(points[, t]), "
                        f"a pair (f, grad_f), a number or a Solution; got {type(exact).__name__}")

    def call(fn, p):
        return fn(p, t) if (t is not None and _n_params(fn) >= 2) else fn(p)

    def ev(p):
        n = p.shape[0]
        v = _check(call(f, p), (n,), "exact")
        g = _check(call(df, p), (n, dim), "exact gradient") if want_grad else None
        return v, g
    return ev
