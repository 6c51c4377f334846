import numpy as np
import pytest
import skfem

from geometries import (Ball, Box, Cylinder, Disk, Ellipse, Interval, MeshDomain, Polygon,
                        Rectangle, find_cells, load)


def test_default_and_named_tags_survive_csg():
    d = Rectangle((-1, -1), (1, 1)) - Disk((0, 0), 0.2, name="hole")
    assert d.boundaries == ("left", "right", "bottom", "top", "hole")
    # a hole entirely outside leaves no boundary behind
    d2 = Rectangle((0, 0), (1, 1)) - Disk((5, 5), 0.2, name="far")
    assert "far" not in d2.boundaries
    # the shared side of a union is interior, so it is not tagged
    u = Rectangle((0, 0), (1, 1), name="a") | Rectangle((1, 0), (2, 1), name="b")
    m = u.mesh(h=0.25)
    x_mid = m.p[0, m.facets[:, np.concatenate([m.boundaries["a"], m.boundaries["b"]])]]
    assert not np.any(np.all(np.isclose(x_mid, 1.0), axis=0))
    assert Intersection_area(Rectangle((0, 0), (2, 2)) & Disk((0, 0), 1)) == pytest.approx(np.pi / 4, rel=2e-2)


def Intersection_area(d):
    return skfem.CellBasis(d.mesh(h=0.05), skfem.ElementTriP1()).dx.sum()


def test_contains_and_bounds():
    d = Rectangle((-1, -1), (1, 1)) - Disk((0, 0), 0.5)
    assert d.contains([[0.0, 0.0], [0.9, 0.9], [1.0, 0.0], [2.0, 0.0]]).tolist() == [False, True, True, False]
    lo, hi = d.bounds
    assert np.allclose(lo, -1) and np.allclose(hi, 1)
    poly = Polygon([(0, 0), (2, 0), (0, 2)])
    assert poly.contains([[0.5, 0.5], [1.5, 1.5]]).tolist() == [True, False]
    assert Cylinder((0, 0, 0), (0, 0, 2), 0.5).contains([[0, 0, 1], [0, 0, 2.5]]).tolist() == [True, False]


def test_boundary_normals_are_outward_and_exact_near_corners():
    d = Rectangle((-1, -1), (1, 1)) - Disk((0.2, 0.1), 0.3, name="hole")
    p, n, tags = d.sample_boundary(2000, seed=3)
    assert p.shape == n.shape == (2000, 2) and len(tags) == 2000
    assert np.allclose(np.linalg.norm(n, axis=1), 1)
    hole = tags == "hole"
    # on the hole the outward normal of the domain points towards the hole's centre
    r = p[hole] - [0.2, 0.1]
    assert np.allclose(n[hole], -r / np.linalg.norm(r, axis=1, keepdims=True))
    assert np.allclose(np.linalg.norm(r, axis=1), 0.3)
    # each side's points have that side's normal, however close to a corner
    for tag, normal in (("left", (-1, 0)), ("right", (1, 0)), ("bottom", (0, -1)), ("top", (0, 1))):
        assert np.allclose(n[tags == tag], normal)
    # stepping a little along the normal leaves the domain, against it enters
    assert not d.contains(p + 1e-4 * n).any() and d.contains(p - 1e-4 * n).all()
    # samples are uniform by length: the hole's share is its perimeter's share
    share = hole.mean()
    assert share == pytest.approx(2 * np.pi * 0.3 / (8 + 2 * np.pi * 0.3), abs=0.03)


def test_3d_boundary_samples():
    d = Box((-1, -1, -1), (1, 1, 1)) - Ball((0, 0, 0), 0.5, name="ball")
    p, n, tags = d.sample_boundary(500, seed=0)
    assert set(tags) == {"left", "right", "bottom", "top", "front", "back", "ball"}
    assert np.allclose(n[tags == "top"], (0, 1, 0))
    assert not d.contains(p + 1e-4 * n).any()


@pytest.mark.parametrize("order", [1, 2])
def test_mesh_tags_and_curved_boundary(order):
    d = Rectangle((-1, -1), (1, 1)) - Disk((0, 0), 0.4, name="hole")
    m = d.mesh(h=0.15, order=order)
    assert set(m.boundaries) == {"left", "right", "bottom", "top", "hole"}
    assert sum(len(f) for f in m.boundaries.values()) == len(m.boundary_facets())
    f = m.boundaries["hole"]
    assert np.allclose(np.linalg.norm(m.p[:, m.facets[:, f]], axis=0), 0.4)
    area = skfem.CellBasis(m, skfem.ElementTriP1() if order == 1 else skfem.ElementTriP2()).dx.sum()
    # a polygonal hole misses O(h^2) of the area, a quadratic one O(h^4)
    tol = 2e-2 if order == 1 else 1e-4
    assert area == pytest.approx(4 - np.pi * 0.16, rel=tol)
    if order == 2:
        mid = m.dofs.facet_dofs[0, f]
        assert np.allclose(np.linalg.norm(m.doflocs[:, mid], axis=0), 0.4)


def test_3d_mesh_ball_hole_volume_converges():
    d = Box((-1, -1, -1), (1, 1, 1)) - Ball((0, 0, 0), 0.5, name="ball")
    exact = 8 - 4 / 3 * np.pi * 0.125
    m = d.mesh(h=0.3, order=2)
    vol = skfem.CellBasis(m, skfem.ElementTetP2()).dx.sum()
    assert vol == pytest.approx(exact, rel=2e-4)
    assert set(m.boundaries) == {"left", "right", "bottom", "top", "front", "back", "ball"}


def test_ellipse_cylinder_polygon_interval():
    m = Ellipse((0, 0), (0.5, 1.0), name="rim").mesh(h=0.2)
    assert np.allclose(m.p.max(axis=1), [0.5, 1.0], atol=1e-3)
    c = Cylinder((0, 0, 0), (0, 0, 1), 0.5).mesh(h=0.3)
    assert set(c.boundaries) == {"side", "base", "cap"}
    p = Polygon([(0, 0), (2, 0), (1, 1)], names=["bottom", "right", "left"]).mesh(h=0.3)
    assert set(p.boundaries) == {"bottom", "right", "left"}
    i = Interval(0, 2).mesh(h=0.5)
    assert i.nelements == 4 and set(i.boundaries) == {"left", "right"}


def test_load_mesh_file_keeps_physical_groups(tmp_path):
    import meshio

    d = load("examples/data/plate.msh")
    assert set(d.boundaries) == {"clamped", "heated", "free"}
    m = d.mesh()
    assert d.mesh(h=0.05).nelements > m.nelements
    p, n, tags = d.sample_boundary(200)
    assert not d.contains(p + 1e-4 * n).any() and d.contains(p - 1e-4 * n).all()
    # round trip through another meshio format, tags kept as cell sets
    base = skfem.MeshTri().refined(2).with_defaults()
    out = tmp_path / "square.vtk"
    meshio.write(out, meshio.Mesh(base.p.T, [("triangle", base.t.T)]))
    assert load(out).boundaries == ("boundary",)


def test_find_cells():
    m = skfem.MeshTri().refined(3)
    pts = np.array([[0.3, 0.3], [0.99, 0.01], [1.5, 0.5]])
    cells = find_cells(m, pts)
    assert cells[2] == -1
    for k in range(2):
        v = m.p[:, m.t[:, cells[k]]]
        lam = np.linalg.solve(np.vstack([v, np.ones(3)]), np.append(pts[k], 1))
        assert lam.min() >= -1e-12


@pytest.mark.parametrize("make,match", [
    (lambda: Rectangle((1, 1), (0, 0)), "must be above"),
    (lambda: Disk((0, 0), -1), "radius must be positive"),
    (lambda: Disk((0, 0, 0), 1), "center must be 2"),
    (lambda: Polygon([(0, 0), (1, 1)]), "at least three"),
    (lambda: Polygon([(0, 0), (1, 1), (2, 2)]), "no area"),
    (lambda: Rectangle(name="my hole"), "identifier"),
    (lambda: Interval(1, 0), "a < b"),
    (lambda: Rectangle() - Ball((0, 0, 0), 1), "2D and a 3D"),
    (lambda: Interval(0, 1) | Interval(1, 2), "single intervals"),
    (lambda: Rectangle().mesh(h=-1), "positive number"),
    (lambda: Rectangle().mesh(h=1e-6), "larger h"),
    (lambda: Rectangle().contains([1, 2, 3]), r"shape \(N, 2\)"),
    (lambda: load("nope.msh"), "does not exist"),
])
def test_bad_input(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_mesh_domain_rejects_quads():
    with pytest.raises(TypeError, match="simplices"):
        MeshDomain(skfem.MeshQuad())
