"""Tests for fem.Solution, point location and plotting."""

import os

os.environ["PYVISTA_OFF_SCREEN"] = "true"

import meshio  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import skfem  # noqa: E402
import sympy as sp  # noqa: E402

from fem._locate import locate, probes, probes_grad  # noqa: E402
from fem._plot import plot_file  # noqa: E402
from fem._solution import Solution  # noqa: E402
from manufactured._symbols import t, x, y, z  # noqa: E402

RNG = np.random.default_rng(0)


def quad(p):
    return p[0] ** 2 + p[0] * p[1]


def ball_points(n, dim, r):
    p = RNG.normal(size=(n, dim))
    return p / np.linalg.norm(p, axis=1)[:, None] * r * RNG.uniform(0, 1, (n, 1)) ** (1 / dim)


def test_p2_reproduced_on_square():
    basis = skfem.CellBasis(skfem.MeshTri.init_sqsymmetric().refined(3), skfem.ElementTriP2())
    sol = Solution(basis, basis.project(quad))
    pts = RNG.uniform(0, 1, (500, 2))
    assert np.abs(sol(pts) - quad(pts.T)).max() < 1e-12
    out = sol(np.array([[1.5, 0.5], [-0.1, 0.2], [0.5, 0.5]]))
    assert np.isnan(out[:2]).all() and abs(out[2] - quad([0.5, 0.5])) < 1e-12


def test_curved_tri2_circle():
    mesh = skfem.MeshTri2.init_circle(3)
    basis = skfem.CellBasis(mesh, skfem.ElementTriP2())
    # isoparametric P2 holds linear functions exactly (x^2 is quartic in reference coords)
    sol = Solution(basis, basis.project(lambda p: 2 * p[0] - 3 * p[1] + 1))
    pts = ball_points(800, 2, 0.99)
    assert np.abs(sol(pts) - (2 * pts[:, 0] - 3 * pts[:, 1] + 1)).max() < 1e-12
    assert np.abs(sol.grad(pts) - [2.0, -3.0]).max() < 1e-11
    # any field: point evaluation equals scikit-fem's own quadrature-point interpolation,
    # including the points in the curved boundary elements
    u = basis.project(lambda p: quad(p) + np.sin(3 * p[1]))
    xq = basis.mapping.F(basis.X).reshape(2, -1)
    P, inside = probes(basis, xq)
    (Px, Py), _ = probes_grad(basis, xq)
    ui = basis.interpolate(u)
    assert inside.all()
    assert np.abs(P @ u - np.asarray(ui).ravel()).max() < 1e-12
    assert np.abs(Py @ u - ui.grad[1].ravel()).max() < 1e-11
    assert np.isnan(Solution(basis, u)([[1.05, 0.0], [0.8, 0.8]])).all()


def test_curved_tet2_ball_locates_quadrature_points():
    mesh = skfem.MeshTet2.init_ball(1)
    basis = skfem.CellBasis(mesh, skfem.ElementTetP2())
    u = basis.project(lambda p: p[0] * p[2] + np.cos(p[1]))
    xq = basis.mapping.F(basis.X).reshape(3, -1)
    P, inside = probes(basis, xq)
    assert inside.all()
    assert np.abs(P @ u - np.asarray(basis.interpolate(u)).ravel()).max() < 1e-12


def test_p1_3d_and_grad_of_linear():
    basis = skfem.CellBasis(skfem.MeshTet().refined(2), skfem.ElementTetP1())
    sol = Solution(basis, basis.project(lambda p: 1 + 2 * p[0] - p[1] + 0.5 * p[2]))
    pts = RNG.uniform(0, 1, (300, 3))
    assert np.abs(sol(pts) - (1 + pts @ [2, -1, 0.5])).max() < 1e-12
    assert np.abs(sol.grad(pts) - [2, -1, 0.5]).max() < 1e-11
    assert np.isnan(sol([[2.0, 0.5, 0.5]])).all()
    assert sol.error(1 + 2 * x - y + z / 2, "H1") < 1e-12


def test_1d_points_and_locate_chunks():
    basis = skfem.CellBasis(skfem.MeshLine().refined(4), skfem.ElementLineP2())
    sol = Solution(basis, basis.project(lambda p: p[0] ** 2))
    xs = RNG.uniform(0, 1, 50)
    assert np.allclose(sol(xs), xs ** 2, atol=1e-12)
    assert np.allclose(sol.grad(xs[:, None])[:, 0], 2 * xs, atol=1e-11)
    cells, _ = locate(basis.mesh, xs[None], chunk=7)
    assert (cells >= 0).all()


def test_error_zero_in_space_and_convergence_rates():
    exact = sp.sin(sp.pi * x) * sp.cos(y)
    f = sp.lambdify((x, y), exact)
    basis = skfem.CellBasis(skfem.MeshTri().refined(2), skfem.ElementTriP2())
    sol = Solution(basis, basis.project(quad))
    for norm in ("L2", "H1", "max"):
        assert sol.error(x ** 2 + x * y, norm) < 1e-12
    hs, l2, h1 = [], [], []
    for n in (2, 3, 4, 5):
        b = skfem.CellBasis(skfem.MeshTri().refined(n), skfem.ElementTriP1())
        s = Solution(b, f(*b.doflocs))                 # nodal interpolation
        hs.append(2.0 ** -n)
        l2.append(s.error(exact, "L2"))
        h1.append(s.error(exact, "H1"))
    rate_l2 = np.polyfit(np.log(hs), np.log(l2), 1)[0]
    rate_h1 = np.polyfit(np.log(hs), np.log(h1), 1)[0]
    assert 1.9 < rate_l2 < 2.1 and 0.9 < rate_h1 < 1.1
    # relative = absolute / norm of exact; norm of exact = error of the zero field
    zero = Solution(s.basis, np.zeros(s.n_dofs))
    assert np.isclose(s.error(exact, relative=True), l2[-1] / zero.error(exact))
    assert np.isclose(zero.error(exact, "H1", relative=True), 1.0)
    # callable and (f, grad) forms agree with sympy
    assert np.isclose(s.error(lambda p: f(p[:, 0], p[:, 1])), l2[-1])
    g = sp.lambdify((x, y), [sp.diff(exact, x), sp.diff(exact, y)])
    pair = (lambda p: f(p[:, 0], p[:, 1]), lambda p: np.stack(g(p[:, 0], p[:, 1]), axis=1))
    assert np.isclose(s.error(pair, "H1"), h1[-1])


def test_error_against_another_solution():
    exact = sp.exp(x) * sp.sin(2 * y)
    fine = skfem.CellBasis(skfem.MeshTri2.init_circle(4), skfem.ElementTriP2())
    fe = sp.lambdify((x, y), exact)
    ref = Solution(fine, fine.project(lambda p: fe(*p)))
    coarse = skfem.CellBasis(skfem.MeshTri2.init_circle(2), skfem.ElementTriP1())
    sol = Solution(coarse, coarse.project(lambda p: fe(*p)))
    for norm in ("L2", "H1", "max"):
        e_expr, e_sol = sol.error(exact, norm), sol.error(ref, norm)
        assert abs(e_sol - e_expr) < 0.02 * e_expr, norm


def test_time_problem():
    basis = skfem.CellBasis(skfem.MeshLine().refined(4), skfem.ElementLineP2())
    times = np.linspace(0.0, 1.0, 5)
    dofs = np.stack([basis.project(lambda p: (1 + tk) * p[0] ** 2) for tk in times])
    sol = Solution(basis, dofs, times=times, info={"method": "test"})
    assert sol.is_time_dependent and "5 steps" in repr(sol) and "test" in repr(sol)
    xs = np.array([0.1, 0.4, 0.9])
    # (1 + t) x^2 is linear in t: interpolation in time is exact
    assert np.allclose(sol(xs, 0.6), 1.6 * xs ** 2, atol=1e-12)
    assert np.allclose(sol(xs, [0.0, 0.3, 1.0]), [1.0, 1.3, 2.0] * xs ** 2, atol=1e-12)
    assert np.allclose(sol.grad(xs, 0.6)[:, 0], 3.2 * xs, atol=1e-11)
    assert sol.error((1 + t) * x ** 2, "H1") < 1e-12                      # final time
    assert np.isclose(sol.error(2 * x ** 2 - x ** 2, t=0.0), 0, atol=1e-13)
    assert np.isclose(sol.error(0, t=0.5), np.sqrt(1 / 5) * 1.5)
    assert sol.error(lambda p, tt: (1 + tt) * p[:, 0] ** 2, t=0.3) < 1e-12
    with pytest.raises(ValueError, match="time interval"):
        sol(xs, 1.5)
    with pytest.raises(ValueError, match="pass t"):
        sol(xs)


def test_save_vtu_and_xdmf(tmp_path):
    basis = skfem.CellBasis(skfem.MeshTri().refined(2), skfem.ElementTriP1())
    sol = Solution(basis, basis.project(quad))
    m = meshio.read(sol.save(tmp_path / "u.vtu"))
    assert np.allclose(m.points[:, :2], basis.mesh.p.T) and np.all(m.points[:, 2] == 0)
    assert np.allclose(m.point_data["u"], sol.dofs[basis.nodal_dofs[0]], atol=1e-12)

    p2 = skfem.CellBasis(skfem.MeshTri2.init_circle(2), skfem.ElementTriP2())
    s2 = Solution(p2, p2.project(quad))
    m = meshio.read(s2.save(tmp_path / "c.vtu"))
    assert m.points.shape[0] > p2.mesh.nvertices
    assert np.allclose(m.point_data["u"], s2(m.points[:, :2]), atol=1e-12)

    line = skfem.CellBasis(skfem.MeshLine().refined(3), skfem.ElementLineP1())
    times = np.array([0.0, 0.5, 1.0])
    st = Solution(line, np.stack([line.doflocs[0] * k for k in range(3)]), times=times)
    m = meshio.read(st.save(tmp_path / "t.vtu"))
    assert m.points.shape[1] == 3 and m.cells[0].type == "line"
    assert np.allclose(m.point_data["u_0001"], m.points[:, 0])
    assert np.allclose(m.point_data["u"], 2 * m.points[:, 0])
    assert np.allclose(m.field_data["times"], times)

    with meshio.xdmf.TimeSeriesReader(str(st.save(tmp_path / "t.xdmf"))) as r:
        pts, cells = r.read_points_cells()
        assert r.num_steps == 3
        tk, pd, _ = r.read_data(2)
        assert tk == 1.0 and np.allclose(pd["u"], 2 * pts[:, 0])
    with meshio.xdmf.TimeSeriesReader(str(sol.save(tmp_path / "s.xdmf"))) as r:
        pts, _ = r.read_points_cells()
        assert r.num_steps == 1 and np.allclose(r.read_data(0)[1]["u"], sol(pts[:, :2]))


def nonempty_png(path):
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"


def test_plots(tmp_path):
    line = skfem.CellBasis(skfem.MeshLine().refined(4), skfem.ElementLineP2())
    tri = skfem.CellBasis(skfem.MeshTri2.init_circle(2), skfem.ElementTriP2())
    tet = skfem.CellBasis(skfem.MeshTet().refined(1), skfem.ElementTetP1())
    times = np.linspace(0, 1, 4)
    sols = {
        "1d": Solution(line, line.project(lambda p: np.sin(3 * p[0]))),
        "2d": Solution(tri, tri.project(quad)),
        "3d": Solution(tet, tet.project(lambda p: p[0] * p[2])),
        "xt": Solution(line, np.stack([line.project(lambda p: np.sin(3 * p[0]) * np.exp(-k))
                                       for k in times]), times=times),
    }
    for key, s in sols.items():
        assert nonempty_png(s.plot(tmp_path / f"{key}.png")), key
    vtu = sols["2d"].save(tmp_path / "2d.vtu")
    assert nonempty_png(plot_file(vtu, tmp_path / "file.png"))


def test_bad_inputs(tmp_path):
    basis = skfem.CellBasis(skfem.MeshTri().refined(1), skfem.ElementTriP1())
    sol = Solution(basis, basis.project(quad))
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        sol(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        sol(np.zeros(4))
    with pytest.raises(ValueError, match="norm must be one of"):
        sol.error(x, norm="L3")
    with pytest.raises(ValueError, match=r"expected \("):
        sol.error(lambda p: np.zeros((p.shape[0], 2)))
    with pytest.raises(TypeError, match="gradient"):
        sol.error(lambda p: p[:, 0], norm="H1")
    with pytest.raises(TypeError, match="exact must be"):
        sol.error("x")
    with pytest.raises(ValueError, match="unknown symbols"):
        sol.error(x + sp.Symbol("k"))
    with pytest.raises(ValueError, match="dofs must have shape"):
        Solution(basis, np.zeros(3))
    with pytest.raises(ValueError, match="steady"):
        sol([[0.5, 0.5]], 0.1)
    with pytest.raises(ValueError, match="unsupported extension"):
        sol.save(tmp_path / "u.csv")
    with pytest.raises(ValueError, match="does not exist"):
        plot_file(tmp_path / "missing.vtu", tmp_path / "a.png")
    bad = tmp_path / "bad.vtu"
    bad.write_text("not a mesh")
    with pytest.raises(ValueError, match="cannot read"):
        plot_file(bad, tmp_path / "a.png")
    nodata = tmp_path / "nodata.vtu"
    meshio.write(nodata, meshio.Mesh(np.zeros((3, 3)) + np.eye(3), [("triangle", [[0, 1, 2]])]))
    with pytest.raises(ValueError, match="no point data"):
        plot_file(nodata, tmp_path / "a.png")
    with pytest.raises(ValueError, match="simplex"):
        probes(skfem.CellBasis(skfem.MeshQuad(), skfem.ElementQuad1()), np.zeros((2, 1)))
