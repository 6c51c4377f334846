"""Convergence rates and exact reproduction for the reference finite-element solver."""

import numpy as np
import pytest
import sympy as sp

import fem
import pino
from geometries import Ball, Box, Disk, Interval, Polygon, Rectangle
from manufactured import (Dirichlet, Neumann, Problem, Robin, div, dot, grad, laplacian,
                          manufacture, t, u, x, y, z)


def rates(problem, exact, order, h, levels):
    """Observed L2 and H1 rates on nested meshes (h, h/2, h/4, ...)."""
    errors = []
    for k in range(levels):
        mesh = problem.domain.mesh(h=h, order=min(order, 2), refine=k)
        sol = fem.solve(problem, order=order, mesh=mesh)
        errors.append((sol.error(exact, norm="L2"), sol.error(exact, norm="H1")))
    e = np.array(errors)
    return np.log2(e[:-1] / e[1:])[-1]


HOLED = Rectangle((-1, -1), (1, 1)) - Disk((0.1, 0.0), 0.4, name="hole")
MIXED = {"left": Dirichlet(0), "right": Neumann(0), "top": Robin(1, 0),
         "bottom": Dirichlet(0), "hole": Robin(2, 0)}


@pytest.mark.parametrize("order", [1, 2])
def test_2d_rates_curved_hole_mixed_conditions(order):
    exact = sp.sin(2 * x) * sp.exp(y)
    problem = manufacture(Problem(HOLED, -laplacian(u), MIXED), exact)
    l2, h1 = rates(problem, exact, order, h=0.3, levels=3)
    assert abs(l2 - (order + 1)) < 0.15 and abs(h1 - order) < 0.15


@pytest.mark.parametrize("order", [1, 2])
def test_2d_rates_variable_coefficients_advection_mixed_derivative(order):
    # anisotropic K (u_xy), so the Neumann/Robin pieces need the tangential flux term
    exact = sp.cos(x + 0.5) * sp.exp(y / 2)
    eq = (-div((1 + x**2 / 2) * grad(u)) + dot((1, y / 2), grad(u)) + (1 + x) * u
          - sp.Rational(1, 2) * sp.diff(u, x, y))
    problem = manufacture(Problem(HOLED, eq, MIXED), exact)
    assert problem.canonical.K[0, 1] != 0
    l2, h1 = rates(problem, exact, order, h=0.3, levels=3)
    assert abs(l2 - (order + 1)) < 0.15 and abs(h1 - order) < 0.15


@pytest.mark.parametrize("order,h,levels", [(1, 0.35, 3), (2, 0.4, 2)])
def test_3d_rates_ball_hole_mixed_conditions(order, h, levels):
    domain = Box((-1, -1, -1), (1, 1, 1)) - Ball((0, 0, 0), 0.5, name="ball")
    bcs = {tag: Dirichlet(0) for tag in domain.boundaries}
    bcs.update(top=Neumann(0), left=Neumann(0), ball=Robin(2, 0))
    exact = sp.sin(x) * sp.cos(y) * sp.exp(z / 2)
    l2, h1 = rates(manufacture(Problem(domain, -laplacian(u), bcs), exact), exact, order, h, levels)
    assert abs(l2 - (order + 1)) < 0.15 and abs(h1 - order) < 0.15


def test_solution_in_the_space_is_reproduced():
    poly = Polygon([(0, 0), (2, 0), (2, 1), (1, 1.6), (0, 1)], names=["a", "b", "c", "c", "d"])
    bcs = {"a": Dirichlet(0), "b": Neumann(0), "c": Robin(3, 0), "d": Dirichlet(0)}
    eq = -div((2 + x) * grad(u)) + dot((1, -1), grad(u)) + u
    for order, exact in ((1, 1 + 2 * x - y), (2, x**2 - x * y + 3 * y), (3, x**3 - x * y**2 + y)):
        sol = fem.solve(manufacture(Problem(poly, eq, bcs), exact), h=0.4, order=order)
        assert sol.error(exact, norm="max") < 1e-10
    # a linear function on the curved domain in 3D, P1, Robin and Neumann everywhere
    domain = Box((-1, -1, -1), (1, 1, 1), name="box") - Ball((0, 0, 0), 0.5, name="ball")
    exact = 1 + x - 2 * y + 3 * z
    p = manufacture(Problem(domain, -laplacian(u) + u, {"box": Robin(1, 0), "ball": Neumann(0)}), exact)
    assert fem.solve(p, h=0.5).error(exact, norm="max") < 1e-10


def test_1d_exact_and_higher_order():
    p = Problem(Interval(0, 1), -laplacian(u) - 2, {"left": Dirichlet(0), "right": Dirichlet(0)})
    assert fem.solve(p, h=0.25, order=2).error(x * (1 - x), norm="max") < 1e-12
    p1 = fem.solve(p, h=0.25)  # P1 in 1D is exact at the nodes
    assert np.abs(p1.dofs - p1.basis.doflocs[0] * (1 - p1.basis.doflocs[0])).max() < 1e-12


def test_heat_second_order_in_time():
    exact = sp.exp(-t) * x * (1 - x) + sp.sin(t) * x  # in P2 for every t: only time error
    heat = Problem(Interval(0, 1), sp.diff(u, t) - laplacian(u),
                   {"left": Dirichlet(0), "right": Neumann(0)}, time=(0, 1), initial={"u": 0})
    errs = [fem.solve(manufacture(heat, exact), h=0.25, order=2, dt=dt).error(exact)
            for dt in (0.2, 0.1, 0.05)]
    rate = np.log2(errs[-2] / errs[-1])
    assert abs(rate - 2) < 0.15


def test_wave_second_order_in_time_and_energy():
    exact = sp.cos(2 * t) * x * (1 - x) + sp.sin(3 * t) * x**2
    wave = Problem(Interval(0, 1), sp.diff(u, t, 2) - 4 * laplacian(u),
                   {"left": Dirichlet(0), "right": Robin(1, 0)}, time=(0, 1),
                   initial={"u": 0, "u_t": 0})
    errs = [fem.solve(manufacture(wave, exact), h=0.25, order=2, dt=dt).error(exact)
            for dt in (0.2, 0.1, 0.05)]
    assert abs(np.log2(errs[-2] / errs[-1]) - 2) < 0.15
    # Newmark conserves the discrete energy of a free vibration: the amplitude neither
    # grows nor decays over many periods
    free = Problem(Interval(0, 1), sp.diff(u, t, 2) - laplacian(u),
                   {"left": Dirichlet(0), "right": Dirichlet(0)}, time=(0, 20),
                   initial={"u": sp.sin(sp.pi * x), "u_t": 0})
    sol = fem.solve(free, h=0.05, dt=0.05)
    amp = np.abs(sol.dofs).max(axis=1)
    assert amp[-200:].max() == pytest.approx(amp[0], rel=2e-3)


def test_heat_2d_with_time_dependent_dirichlet_data():
    exact = sp.exp(-t / 2) * (x**2 + y) + t * x
    heat = Problem(Rectangle((0, 0), (1, 1), name="wall"), sp.diff(u, t) - laplacian(u),
                   {"wall": Dirichlet(0)}, time=(0, 0.5), initial={"u": 0})
    sol = fem.solve(manufacture(heat, exact), h=0.25, order=2, dt=0.01)
    assert sol.error(exact, norm="max") < 1e-5
    assert sol.info["scheme"] == "crank-nicolson" and sol.times[-1] == pytest.approx(0.5)


def test_amg_matches_direct():
    exact = sp.sin(2 * x) * sp.exp(y)
    problem = manufacture(Problem(HOLED, -laplacian(u), MIXED), exact)
    a = fem.solve(problem, h=0.1, solver="direct")
    b = fem.solve(problem, h=0.1, solver="amg")
    assert b.info["solver"] == "amg"
    assert np.abs(a.dofs - b.dofs).max() < 1e-7
    adv = manufacture(Problem(HOLED, -laplacian(u) + dot((3, 1), grad(u)), MIXED), exact)
    c, d = fem.solve(adv, h=0.1, solver="direct"), fem.solve(adv, h=0.1, solver="amg")
    assert np.abs(c.dofs - d.dofs).max() < 1e-6


def test_pino_solve_is_the_entry_point():
    p = Problem(Interval(0, 1), -laplacian(u) - 2, {"left": Dirichlet(0), "right": Dirichlet(0)})
    sol = pino.solve(p, method="fem", h=0.5)
    assert sol.info["method"] == "fem" and set(sol.info["timings"]) >= {"mesh", "assemble", "solve"}
    with pytest.raises(ValueError, match="unknown method 'magic'; available: fem, hypino, pino, spon"):
        pino.solve(p, method="magic")
    with pytest.raises(TypeError, match="does not take hh"):
        pino.solve(p, hh=0.1)


def test_bad_solver_input():
    p = Problem(Interval(0, 1), -laplacian(u) - 2, {"left": Dirichlet(0), "right": Dirichlet(0)})
    with pytest.raises(ValueError, match="order=4 is not available in 1D"):
        fem.solve(p, order=4)
    with pytest.raises(ValueError, match="solver must be"):
        fem.solve(p, solver="cg")
    with pytest.raises(TypeError, match="needs a manufactured.Problem"):
        fem.solve("-laplacian(u) = 1")
    a = sp.Function("a")(x)
    family = Problem(Interval(0, 1), -div(a * grad(u)) - 1, {"left": Dirichlet(0), "right": Dirichlet(0)})
    with pytest.raises(ValueError, match=r"parameter function\(s\) a; pick a member"):
        fem.solve(family)
    assert fem.solve(family.substitute(a=2), h=0.25, order=2).error(x * (1 - x) / 4, norm="max") < 1e-12
    heat = Problem(Interval(0, 1), sp.diff(u, t) - laplacian(u),
                   {"left": Dirichlet(0), "right": Dirichlet(0)}, time=(0, 1), initial={"u": 0})
    with pytest.raises(ValueError, match="dt must be a positive number"):
        fem.solve(heat, dt=-1)


def test_family_with_fields_at_dofs_matches_substitution():
    a = sp.Function("a")(x, y)
    square = Rectangle((0, 0), (1, 1), name="wall")
    mesh = square.mesh(h=0.2)
    values = 1 + mesh.p[0] + 2 * mesh.p[1]  # in P1, so interpolation is exact
    for eq in (-div(a * grad(u)) - 1, -a * laplacian(u) + a * u - x):  # div form; a_x in beta
        family = Problem(square, eq, {"wall": Dirichlet(0)})
        s1 = fem.solve(family, mesh=mesh, fields={"a": values})
        s2 = fem.solve(family.substitute(a=1 + x + 2 * y), mesh=mesh)
        assert np.abs(s1.dofs - s2.dofs).max() < 1e-12
    with pytest.raises(ValueError, match="pass that mesh= too"):
        fem.solve(family, fields={"a": values})
    with pytest.raises(ValueError, match="one value per DOF"):
        fem.solve(family, mesh=mesh, fields={"a": values[:-1]})
    with pytest.raises(ValueError, match="not parameters of the problem"):
        fem.solve(family, mesh=mesh, fields={"a": values, "b": values})
