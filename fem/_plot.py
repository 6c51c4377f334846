"""PyVista helpers shared by `Solution.plot` and the ``pino plot`` command.

PyVista is imported inside the functions.  Example::

    >>> plot_file("u.vtu", "u.png")          # doctest: +SKIP
    PosixPath('u.png')
"""

import os
import sys
from pathlib import Path

import numpy as np
from skfem.mapping import MappingAffine

__all__ = ["plot_file", "sample_field", "to_pyvista", "plot_field", "plot_xt", "has_display"]

_CELL = {1: "line", 2: "triangle", 3: "tetra"}


def sample_field(basis, dofs, nrefs=None):
    """Field on linear sub-simplices: ``(points (n, dim), cells (dim+1, m), values)``.

    ``dofs`` is (n_dofs,) or (n_times, n_dofs); values follow (n,) or (n_times, n).
    P1 on a straight mesh (and ``nrefs`` None or 0) returns the mesh vertices themselves;
    otherwise every element is split ``nrefs`` times in reference coordinates (default 1
    for degree <= 2, else 2) and mapped through the (possibly curved) element map.
    """
    mesh, elem = basis.mesh, basis.elem
    dofs = np.asarray(dofs, dtype=float)
    affine = isinstance(basis.mapping, MappingAffine)
    if nrefs is None:
        nrefs = 0 if (affine and elem.maxdeg == 1) else (1 if elem.maxdeg <= 2 else 2)
    if nrefs == 0 and affine:
        return mesh.p.T.copy(), mesh.t[:mesh.dim() + 1].copy(), dofs[..., basis.nodal_dofs[0]]
    ref = type(mesh).init_refdom().refined(nrefs)
    X = ref.p
    nr, nel, dim = X.shape[1], mesh.nelements, mesh.dim()
    xg = basis.mapping.F(X)                                   # (dim, nel, nr)
    vals = 0.0
    for k in range(basis.Nbfun):
        phi = np.asarray(basis.elem.gbasis(basis.mapping, X, k)[0])  # (nel, nr)
        vals = vals + dofs[..., basis.element_dofs[k]][..., None] * phi
    pts = xg.reshape(dim, -1).T
    vals = vals.reshape(dofs.shape[:-1] + (-1,))
    cells = (ref.t[:, None, :] + nr * np.arange(nel)[None, :, None]).reshape(ref.t.shape[0], -1)
    scale = max(np.ptp(pts, axis=0).max(), 1e-300)
    _, idx, inv = np.unique(np.round(pts / scale, 10), axis=0, return_index=True,
                            return_inverse=True)
    return pts[idx], inv.ravel()[cells], vals[..., idx]


def has_display():
    """False when PyVista must render off-screen (PYVISTA_OFF_SCREEN=true or no X/Wayland)."""
    if os.environ.get("PYVISTA_OFF_SCREEN", "").lower() == "true":
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def to_pyvista(points, cells, point_data):
    """A pyvista UnstructuredGrid from points (n, dim<=3), simplex cells (dim+1, m) and
    a dict of point data; points are padded to 3D."""
    import meshio
    import pyvista as pv
    points = np.asarray(points, dtype=float)
    pts3 = np.zeros((points.shape[0], 3))
    pts3[:, :points.shape[1]] = points
    cells = np.asarray(cells)
    ctype = {2: "line", 3: "triangle", 4: "tetra"}[cells.shape[0]]
    return pv.from_meshio(meshio.Mesh(pts3, [(ctype, np.ascontiguousarray(cells.T))],
                                      point_data=point_data))


def _plotter(path, window_size):
    import pyvista as pv
    off = path is not None or not has_display()
    return pv.Plotter(off_screen=off, window_size=list(window_size))


def _finish(pl, path):
    if path is None:
        pl.show()
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.show(screenshot=str(path))
    pl.close()
    return path


def _plot_curve(x, u, path, title, name, window_size):
    import pyvista as pv
    order = np.argsort(x)
    chart = pv.Chart2D()
    chart.line(np.asarray(x)[order], np.asarray(u)[order], width=3)
    chart.title = title
    chart.x_label, chart.y_label = "x", name
    pl = _plotter(path, window_size)
    pl.add_chart(chart)
    return _finish(pl, path)


def plot_field(points, cells, values, path=None, *, title="u", name="u", cmap="viridis",
               show_edges=None, window_size=(900, 700)):
    """Plot vertex values on a simplex mesh: 1D curve, 2D map (xy view), 3D surface + clip."""
    points = np.asarray(points, dtype=float)
    dim = points.shape[1]
    if dim == 1:
        return _plot_curve(points[:, 0], values, path, title, name, window_size)
    grid = to_pyvista(points, cells, {name: np.asarray(values, dtype=float)})
    if show_edges is None:
        show_edges = grid.n_cells <= 5000
    pl = _plotter(path, window_size)
    bar = {"title": name, "vertical": True, "position_x": 0.85, "position_y": 0.1}
    if dim == 2:
        pl.add_mesh(grid, scalars=name, cmap=cmap, show_edges=show_edges, scalar_bar_args=bar)
        pl.view_xy()
    else:
        clim = [float(np.nanmin(values)), float(np.nanmax(values))]
        pl.add_mesh(grid.extract_surface(algorithm="dataset_surface"), scalars=name, cmap=cmap, opacity=0.25, clim=clim,
                    show_scalar_bar=False)
        pl.add_mesh(grid.clip(normal="x", origin=grid.center), scalars=name, cmap=cmap,
                    clim=clim, show_edges=show_edges, scalar_bar_args=bar)
        pl.view_isometric()
    pl.add_text(title, font_size=10)
    return _finish(pl, path)


def plot_xt(x, times, values, path=None, *, title="u", cmap="viridis", window_size=(900, 700)):
    """x-t map of a 1D time series: x horizontal, t vertical, coloured by values (n_t, n_x)."""
    import pyvista as pv
    x, times = np.asarray(x, dtype=float), np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    order = np.argsort(x)
    x, values = x[order], values[:, order]
    xr = max(np.ptp(x), 1e-300)
    tr = np.ptp(times) if times.size > 1 else 1.0
    s = xr / tr                                     # draw t scaled to a square picture
    X, T = np.meshgrid(x, times * s)                # (n_t, n_x)
    grid = pv.StructuredGrid(X, T, np.zeros_like(X))
    grid.point_data["u"] = values.ravel(order="F")  # VTK structured order: x fastest
    pl = _plotter(path, window_size)
    pl.add_mesh(grid, scalars="u", cmap=cmap,
                scalar_bar_args={"title": "u", "vertical": True, "position_x": 0.85, "position_y": 0.1})
    pl.show_bounds(xtitle="x", ytitle="t", show_zaxis=False, show_zlabels=False,
                   axes_ranges=[x[0], x[-1], times[0], times[-1], 0, 0])
    pl.view_xy()
    pl.add_text(title, font_size=10)
    return _finish(pl, path)


def plot_file(vtu_path, png_path, field=None):
    """Render a ``.vtu`` written by `Solution.save` (or any meshio-readable mesh with point
    data) to ``png_path``.  ``field`` defaults to ``u`` (else the first point-data array).
    Example: ``plot_file("u.vtu", "u.png")``."""
    import meshio
    vtu_path = Path(vtu_path)
    if not vtu_path.is_file():
        raise ValueError(f"plot: file {str(vtu_path)!r} does not exist")
    try:
        m = meshio.read(vtu_path)
    except (Exception, SystemExit) as err:  # meshio raises many types, or calls sys.exit
        raise ValueError(f"plot: meshio cannot read {str(vtu_path)!r}: {err}") from err
    if not m.point_data:
        raise ValueError(f"plot: {str(vtu_path)!r} has no point data to colour by")
    names = list(m.point_data)
    if field is None:
        field = "u" if "u" in names else names[0]
    if field not in m.point_data:
        raise ValueError(f"plot: {str(vtu_path)!r} has no point data {field!r}; "
                         f"available: {names}")
    values = np.asarray(m.point_data[field], dtype=float)
    if values.ndim != 1:
        raise ValueError(f"plot: point data {field!r} is not scalar (shape {values.shape})")
    types = {c.type for c in m.cells}
    flat = np.allclose(m.points[:, 2:], 0.0) if m.points.shape[1] > 2 else True
    if types == {"line"} and np.allclose(m.points[:, 1:], 0.0):
        steps = sorted(k for k in names if k.startswith(field + "_") and k[len(field) + 1:].isdigit())
        times = m.field_data.get("times")
        if steps and times is not None and len(steps) == np.size(times) and field == "u":
            U = np.stack([m.point_data[k] for k in steps])
            return plot_xt(m.points[:, 0], np.ravel(times), U, png_path, title=vtu_path.name)
        return _plot_curve(m.points[:, 0], values, png_path, vtu_path.name, field, (900, 700))
    import pyvista as pv
    grid = pv.from_meshio(m)
    pl = _plotter(png_path, (900, 700))
    if flat and types <= {"triangle", "quad", "line"}:
        pl.add_mesh(grid, scalars=field, scalar_bar_args={"title": field},
                    show_edges=grid.n_cells <= 5000)
        pl.view_xy()
    else:
        clim = [float(values.min()), float(values.max())]
        pl.add_mesh(grid.extract_surface(algorithm="dataset_surface"), scalars=field, opacity=0.25, clim=clim,
                    show_scalar_bar=False)
        pl.add_mesh(grid.clip(normal="x", origin=grid.center), scalars=field, clim=clim,
                    scalar_bar_args={"title": field})
        pl.view_isometric()
    pl.add_text(vtu_path.name, font_size=10)
    return _finish(pl, png_path)
