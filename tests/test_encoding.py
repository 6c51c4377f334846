"""The zero-shot encoding: affine map to [-1, 1]^2, equation scaling, rasters, point sets."""

import numpy as np
import pytest
import sympy as sp

from geometries import Box, Disk, Ellipse, Interval, Rectangle
from manufactured import Dirichlet, Neumann, Problem, Robin, laplacian, manufacture, nx, ny, t, u, x, y
from pino._encoding import CHANNELS, DIRICHLET, NEUMANN, ROBIN, encode

X, Y = sp.symbols("X Y", real=True)
#: A problem written in the reference frame: operator coefficients (TERMS order), exact U.
C_REF = (0.5, 0.3, -0.2, -1.0, -0.7, 0.4)
U_REF = sp.sin(1.3 * X) * sp.cos(Y) + X * Y**2


def _deriv(e, a, b, order):
    """(u, u_x, u_y, u_xx, u_yy, u_xy) of e in the variables a, b."""
    return (e, sp.diff(e, a), sp.diff(e, b), sp.diff(e, a, 2), sp.diff(e, b, 2), sp.diff(e, a, b))[order]


def _moved(x0, y0, a, eq_factor=1):
    """The reference problem on the box [x0 - a, x0 + a] x [y0 - a, y0 + a] with a hole,
    written in physical coordinates: u(x, y) = U((x - x0)/a, (y - y0)/a)."""
    sub = {X: (x - x0) / a, Y: (y - y0) / a}
    ue = U_REF.subs(sub)
    F = sum(c * _deriv(U_REF, X, Y, k) for k, c in enumerate(C_REF)).subs(sub)
    powers = (0, 1, 1, 2, 2, 2)
    derivs = (u, sp.diff(u, x), sp.diff(u, y), sp.diff(u, x, 2), sp.diff(u, y, 2), sp.diff(u, x, y))
    eq = sum(c * a**p * d for c, p, d in zip(C_REF, powers, derivs)) - F
    dom = (Rectangle((x0 - a, y0 - a), (x0 + a, y0 + a))
           - Disk((x0 + 0.2 * a, y0 + 0.1 * a), 0.3 * a, name="hole"))
    flux = lambda e: sp.diff(e, x) * nx + sp.diff(e, y) * ny  # noqa: E731
    bcs = {"left": Dirichlet(ue), "right": Neumann(flux(ue)), "bottom": Robin(2 / a, flux(ue) + 2 / a * ue),
           "top": Dirichlet(ue), "hole": Neumann(flux(ue))}
    return Problem(dom, eq_factor * eq, bcs), ue


def _assert_same(e1, e2, atol=1e-9):
    np.testing.assert_allclose(e1.coefficients, e2.coefficients, atol=1e-12)
    for c in CHANNELS:
        a = getattr(e1, c if c != "domain" else "domain_mask")
        b = getattr(e2, c if c != "domain" else "domain_mask")
        if c.endswith("mask") or c == "domain":
            assert np.mean(a != b) < 2e-3, c          # at most a tie pixel or two
        else:
            m = {"dirichlet_value": "dirichlet_mask", "neumann_value": "neumann_mask",
                 "source": "domain_mask"}.get(c, "robin_mask")
            both = (getattr(e1, m) == 1) & (getattr(e2, m) == 1)
            np.testing.assert_allclose(a[both], b[both], atol=1e-5 * max(1, np.abs(a).max()), err_msg=c)
    np.testing.assert_allclose(e1.interior, e2.interior, atol=atol)
    np.testing.assert_allclose(e1.interior_source, e2.interior_source, atol=1e-7)
    np.testing.assert_allclose(e1.boundary_points, e2.boundary_points, atol=atol)
    np.testing.assert_allclose(e1.boundary_normals, e2.boundary_normals, atol=1e-7)
    np.testing.assert_array_equal(e1.boundary_kind, e2.boundary_kind)
    np.testing.assert_allclose(e1.boundary_g, e2.boundary_g, atol=1e-7)
    np.testing.assert_allclose(e1.boundary_alpha, e2.boundary_alpha, atol=1e-9)


def test_moving_and_scaling_the_problem_gives_the_same_encoding():
    e1 = encode(_moved(0.0, 0.0, 1.0)[0], 48, n_interior=500, n_boundary=300)
    e2 = encode(_moved(3.0, -7.5, 0.25)[0], 48, n_interior=500, n_boundary=300)
    _assert_same(e1, e2)
    # the documented scaling: coefficients are C_REF times one positive factor, max |.| = 2
    s = 2 / max(abs(c) for c in C_REF)
    np.testing.assert_allclose(e2.coefficients, np.array(C_REF) * s, atol=1e-12)
    assert e2.scale == pytest.approx(s)
    # the source is s * F(X) in the reference frame
    F = sp.lambdify((X, Y), sum(c * _deriv(U_REF, X, Y, k) for k, c in enumerate(C_REF)))
    np.testing.assert_allclose(e2.interior_source, s * F(*e2.interior.T), rtol=1e-9, atol=1e-9)
    # Neumann data on the (isotropically scaled) hole are dU/dN of the reference solution
    dU = [sp.lambdify((X, Y), sp.diff(U_REF, v)) for v in (X, Y)]
    k = e2.boundary_kind == NEUMANN
    P, N = e2.boundary_points[k], e2.boundary_normals[k]
    np.testing.assert_allclose(e2.boundary_g[k], N[:, 0] * dU[0](*P.T) + N[:, 1] * dU[1](*P.T), atol=1e-9)


def test_scaling_the_equation_gives_the_same_encoding():
    base = encode(_moved(1.0, 2.0, 0.5)[0], 32, n_interior=200, n_boundary=100)
    for factor in (7.25, 0.01, -3):     # the sign is normalised by the canonical form
        _assert_same(base, encode(_moved(1.0, 2.0, 0.5, factor)[0], 32, n_interior=200, n_boundary=100))


def test_maps_there_and_back_are_the_identity():
    enc = encode(_moved(3.0, -7.5, 0.25)[0], 16, n_interior=50, n_boundary=50)
    P = np.random.default_rng(0).uniform(-10, 10, (100, 2))
    np.testing.assert_allclose(enc.to_physical(enc.to_reference(P)), P, atol=1e-12)
    np.testing.assert_allclose(enc.to_reference(enc.to_physical(P)), P, atol=1e-12)
    np.testing.assert_allclose(enc.to_reference([[2.75, -7.75], [3.25, -7.25]]), [[-1, -1], [1, 1]])
    assert np.all(np.abs(enc.interior) <= 1) and np.all(np.abs(enc.boundary_points) <= 1 + 1e-12)
    with pytest.raises(ValueError, match="shape"):
        enc.to_reference([1.0, 2.0])


@pytest.mark.parametrize("seed", range(4))
def test_coefficients_land_in_the_trained_range(seed):
    rng = np.random.default_rng(seed)
    c = rng.uniform(-50, 50, 6) * (rng.random(6) < 0.7)
    c[3] = -abs(c[3]) - 0.5                                  # keep a second-order term
    lx, ly = rng.uniform(0.1, 20, 2)
    dom = Rectangle((0, 0), (lx, ly), name="wall")
    eq = (c[0] * u + c[1] * sp.diff(u, x) + c[2] * sp.diff(u, y) + c[3] * sp.diff(u, x, 2)
          + c[4] * sp.diff(u, y, 2) + c[5] * sp.diff(u, x, y) - 1)
    enc = encode(Problem(dom, eq, {"wall": Dirichlet(0)}), 16, n_interior=20, n_boundary=20)
    assert np.max(np.abs(enc.coefficients)) == pytest.approx(2.0)
    # physical coefficients: c up to the sign of the canonical form (leading term positive)
    phys = enc.physical_coefficients
    sign = -1.0 if c[3] + c[4] > 0 else 1.0
    np.testing.assert_allclose(phys, sign * c, atol=1e-12)
    # reference coefficients follow d/dx = (2/Lx) d/dX, then one positive factor for all
    ref = sign * c * np.array([1, 2 / lx, 2 / ly, 4 / lx**2, 4 / ly**2, 4 / (lx * ly)])
    np.testing.assert_allclose(enc.coefficients, ref * 2 / np.max(np.abs(ref)), atol=1e-12)
    assert enc.scale == pytest.approx(2 / np.max(np.abs(ref)))
    assert np.all(enc.domain_mask == 1)
    np.testing.assert_allclose(enc.interior_source, sign * enc.scale)


def test_neumann_and_robin_data_under_anisotropic_scaling():
    # a 3 x 1 box with an elliptic hole that the map turns into a circle of radius 0.4
    dom = Rectangle((0, 0), (3, 1)) - Ellipse((1.5, 0.5), (0.6, 0.2), name="hole")
    ue = sp.sin(x) * sp.cos(2 * y) + x * y
    bcs = {"left": Dirichlet(0), "right": Neumann(0), "top": Neumann(0), "bottom": Robin(2, 0),
           "hole": Neumann(0)}
    p = manufacture(Problem(dom, -laplacian(u) + 4 * sp.diff(u, x), bcs), ue)
    enc = encode(p, 64, n_interior=100, n_boundary=2000)
    np.testing.assert_allclose(enc.half, [1.5, 0.5])
    # gradient of the mapped exact solution U(X) = u(x(X)): grad_X U = half * grad_x u
    gx = sp.lambdify((x, y), [sp.diff(ue, x), sp.diff(ue, y)])
    uv = sp.lambdify((x, y), ue)

    def gradU(Xr):
        P = enc.to_physical(Xr)
        return np.stack(np.broadcast_arrays(*gx(*P.T)), 1) * enc.half

    K, T = enc.boundary_kind, enc.boundary_tags
    Pb, N, D = enc.boundary_points, enc.boundary_normals, enc.boundary_directions
    G = gradU(Pb)
    side = np.isin(T, ["right", "top"])
    # axis-aligned sides: direction = reference normal, g = dU/dN of the mapped solution
    np.testing.assert_allclose(D[side], N[side], atol=1e-12)
    np.testing.assert_allclose(enc.boundary_g[side], np.sum(N[side] * G[side], 1), atol=1e-10)
    # the right side (x = 3 -> X = 1) has g = du/dx * sx; it differs from the physical du/dn
    r = T == "right"
    phys = np.asarray(gx(*enc.to_physical(Pb[r]).T)[0])
    np.testing.assert_allclose(enc.boundary_g[r], 1.5 * phys, atol=1e-10)
    # the hole: reference normals are the circle's, the condition is oblique d.grad U = g
    h = T == "hole"
    Xc = Pb[h] - [0.0, 0.0]
    np.testing.assert_allclose(np.linalg.norm(Xc, axis=1), 0.4, atol=1e-9)
    np.testing.assert_allclose(N[h], -Xc / 0.4, atol=1e-9)     # outward from the domain = into the hole
    np.testing.assert_allclose(enc.boundary_g[h], np.sum(D[h] * G[h], 1), atol=1e-10)
    assert enc.max_obliquity > 0.5
    assert np.all(np.sum(D * N, 1) > 0)
    # Robin: d.grad U + alpha_ref U = g_ref with alpha_ref = alpha / kappa (bottom: kappa = 1/sy)
    b = K == ROBIN
    np.testing.assert_allclose(enc.boundary_alpha[b], 2 * 0.5)
    Ub = uv(*enc.to_physical(Pb[b]).T)
    np.testing.assert_allclose(enc.boundary_g[b], np.sum(D[b] * G[b], 1) + enc.boundary_alpha[b] * Ub, atol=1e-10)
    # rasters: the right column carries the Neumann data of the nearest samples
    grid = enc.grid
    col = enc.neumann_value[:, -1]
    rows = (enc.neumann_mask[:, -1] == 1) & (np.abs(grid) < 0.9)
    want = 1.5 * np.asarray(gx(3.0, 0.5 + 0.5 * grid[rows])[0])
    np.testing.assert_allclose(col[rows], want, atol=0.05)
    assert np.all(enc.dirichlet_mask[:, 0] == 1) and enc.robin_mask[0, 5:-5].all()
    assert enc.domain_mask[32, 32] == 0 and enc.domain_mask[32, 5] == 1


def test_time_problems_put_initial_data_on_the_line_y_minus_one():
    u0, v0 = sp.sin(sp.pi * x), x * (1 - x)
    wave = Problem(Interval(0, 2), sp.diff(u, t, 2) - 4 * laplacian(u),
                   {"left": Dirichlet(0), "right": Neumann(t)}, time=(1, 1.5),
                   initial={"u": u0, "u_t": v0})
    enc = encode(wave, 32, n_interior=100, n_boundary=300)
    assert enc.is_time_dependent and enc.time_order == 2
    np.testing.assert_allclose(enc.lo, [0, 1]) and np.testing.assert_allclose(enc.hi, [2, 1.5])
    # u_tt - 4 u_xx -> (16 U_YY - 4 U_XX) * s, max 2: c4 = 2, c3 = -0.5
    np.testing.assert_allclose(enc.coefficients, [0, 0, 0, -0.5, 2, 0], atol=1e-12)
    xs = enc.to_physical(np.stack([enc.grid, -np.ones(32)], 1))[:, 0]
    assert np.all(enc.dirichlet_mask[0] == 1) and np.all(enc.neumann_mask[0] == 1)
    np.testing.assert_allclose(enc.dirichlet_value[0], np.sin(np.pi * xs), atol=1e-6)
    # Neumann in the outward sense of the line t = t0: -dU/dY = -(T/2) u_t
    np.testing.assert_allclose(enc.neumann_value[0, :-1], (-0.25 * xs * (1 - xs))[:-1], atol=1e-6)  # corner: right edge
    # final time is free; left edge Dirichlet, right edge Neumann (g = t * sx)
    assert enc.dirichlet_mask[-1, 1:-1].sum() == 0 and enc.neumann_mask[-1, 1:-2].sum() == 0
    assert np.all(enc.dirichlet_mask[:, 0] == 1) and np.all(enc.neumann_mask[:, -1] == 1)
    r = enc.boundary_tags == "right"
    np.testing.assert_allclose(enc.boundary_g[r], enc.to_physical(enc.boundary_points[r])[:, 1] * 1.0)
    init = np.isin(enc.boundary_tags, ["<initial>", "<initial u_t>"])
    np.testing.assert_allclose(enc.boundary_points[init, 1], -1)
    assert set(enc.boundary_kind[init]) == {DIRICHLET, NEUMANN}
    heat = Problem(Interval(0, 1), sp.diff(u, t) - sp.Rational(1, 10) * laplacian(u),
                   {"left": Dirichlet(0), "right": Dirichlet(0)}, time=(0, 2), initial={"u": u0})
    eh = encode(heat, 16, n_interior=50, n_boundary=60)
    # u_t - 0.1 u_xx -> U_Y - 0.4 U_XX, scaled by 2: the y-coefficient carries u_t
    np.testing.assert_allclose(eh.coefficients, [0, 0, 2, -0.8, 0, 0], atol=1e-12)
    assert eh.neumann_mask.sum() == 0 and np.all(eh.dirichlet_mask[0] == 1)


@pytest.mark.parametrize("make, why", [
    (lambda: Problem(Box(), -laplacian(u) - 1, {k: Dirichlet(0) for k in Box().boundaries}), "3D"),
    (lambda: Problem(Rectangle(name="w"), sp.diff(u, t) - laplacian(u), {"w": Dirichlet(0)},
                     time=(0, 1), initial={"u": 0}), "2D \\+ time"),
    (lambda: Problem(Rectangle(name="w"), -laplacian(u) + x * u - 1, {"w": Dirichlet(0)}), "depends on x"),
    (lambda: Problem(Interval(), sp.diff(u, t) - (1 + t) * laplacian(u),
                     {"left": Dirichlet(0), "right": Dirichlet(0)}, time=(0, 1), initial={"u": 0}),
     "depends on t"),
    (lambda: Problem(Rectangle(name="w"), -laplacian(u) - sp.Function("a")(x, y), {"w": Dirichlet(0)}),
     "parameter"),
    (lambda: Problem(Interval(), -laplacian(u) - 1, {"left": Dirichlet(0), "right": Dirichlet(0)}),
     "1D and steady"),
])
def test_out_of_family_problems_are_refused(make, why):
    with pytest.raises(ValueError, match=why) as err:
        encode(make(), 16)
    assert 'method="fem"' in str(err.value)


def test_bad_arguments():
    p = _moved(0.0, 0.0, 1.0)[0]
    with pytest.raises(TypeError, match="Problem"):
        encode("poisson")
    with pytest.raises(ValueError, match="resolution"):
        encode(p, resolution=4)
    with pytest.raises(ValueError, match="source f is not finite"):
        encode(Problem(Rectangle(name="w"), -laplacian(u) - 1 / x, {"w": Dirichlet(0)}), 16)
