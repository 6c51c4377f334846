"""Tests of the symbolic layer: canonical forms, helpers, manufactured solutions, input checks."""

import numpy as np
import pytest
import sympy as sp

from manufactured import (
    CanonicalForm, Dirichlet, Neumann, Problem, Robin, div, dot, grad, laplacian, manufacture,
    nx, ny, nz, t, u, x, y, z,
)


class FakeDomain:
    """The duck-typed domain interface, on the unit box [0, 1]^dim."""

    def __init__(self, dim=2, boundaries=("left", "right", "bottom", "top")):
        self.dim = dim
        self.boundaries = tuple(boundaries)
        self.bounds = (np.zeros(dim), np.ones(dim))

    def contains(self, points):
        return np.all((points > 0) & (points < 1), axis=1)

    def sample_interior(self, n, seed=0):
        return 0.1 + 0.8 * np.random.default_rng(seed).random((n, self.dim))


LINE = FakeDomain(1, ("left", "right"))
SQUARE = FakeDomain(2)
CUBE = FakeDomain(3, ("faces",))


def zero_bcs(domain):
    return {tag: Dirichlet(0) for tag in domain.boundaries}


def poisson(**kw):
    return Problem(SQUARE, -laplacian(u) - 1, zero_bcs(SQUARE), **kw)


def is_zero(expr):
    return sp.simplify(sp.sympify(expr)) == 0


# ---------------------------------------------------------------- canonical forms
@pytest.mark.parametrize("equation", [sp.Eq(-laplacian(u), 1), -laplacian(u) - 1])
def test_poisson_canonical(equation):
    cf = Problem(SQUARE, equation, zero_bcs(SQUARE)).canonical
    assert isinstance(cf, CanonicalForm)
    assert cf.K == sp.eye(2)
    assert cf.beta == (0, 0) and cf.c == 0 and cf.f == 1 and cf.m1 == 0 and cf.m2 == 0
    assert cf.A == -sp.eye(2) and cf.b == (0, 0)
    assert cf.is_constant


def test_sign_normalisation_steady():
    cf = Problem(SQUARE, sp.Eq(laplacian(u), -1), zero_bcs(SQUARE)).canonical
    assert cf.K == sp.eye(2) and cf.f == 1


def test_divergence_form_variable_coefficient():
    a = 1 + x**2
    p = Problem(SQUARE, -div(a * grad(u)) - 1, zero_bcs(SQUARE))
    cf = p.canonical
    assert cf.K == a * sp.eye(2)
    assert all(is_zero(bi) for bi in cf.beta)       # the raw 2x u_x is exactly div K
    assert is_zero(cf.b[0] + 2 * x) and cf.b[1] == 0
    assert not cf.is_constant


def test_nondivergence_mixed_derivative_split_symmetric():
    a = 1 + x**2
    eq = -(a * u.diff(x, 2) + x * u.diff(x, y) + 2 * u.diff(y, 2)) + 3 * u
    cf = Problem(SQUARE, eq, zero_bcs(SQUARE)).canonical
    assert cf.K == sp.Matrix([[a, x / 2], [x / 2, 2]])
    assert cf.K == cf.K.T and cf.A == -cf.K
    # beta = b + div K with (div K)_j = sum_i d_i K_ij: (2x + 0, 1/2 + 0), raw b = 0
    assert cf.b == (0, 0)
    assert is_zero(cf.beta[0] - 2 * x) and is_zero(cf.beta[1] - sp.Rational(1, 2))
    assert cf.c == 3
    # the canonical operator equals the raw equation on an arbitrary function
    w = sp.sin(x) * sp.exp(y) + x**3 * y
    assert is_zero(eq.subs(u, w).doit() - (cf.operator(w) - cf.f))


def test_advection_diffusion_reaction():
    eq = -sp.Rational(1, 10) * laplacian(u) + dot((1, x), grad(u)) + 2 * u - sp.sin(x)
    cf = Problem(SQUARE, eq, zero_bcs(SQUARE)).canonical
    assert cf.K == sp.eye(2) / 10
    assert cf.beta == (1, x) and cf.c == 2 and cf.f == sp.sin(x)
    assert not cf.is_constant


def test_heat_canonical_and_sign():
    bcs = zero_bcs(SQUARE)
    p = Problem(SQUARE, u.diff(t) - laplacian(u), bcs, time=(0, 1), initial={"u": x * y})
    q = Problem(SQUARE, sp.Eq(-u.diff(t), -laplacian(u)), bcs, time=(0, 1), initial={"u": x * y})
    for prob in (p, q):
        cf = prob.canonical
        assert cf.m1 == 1 and cf.m2 == 0 and cf.K == sp.eye(2)
        assert prob.time_order == 1 and prob.is_time_dependent and prob.type == "parabolic"
    assert p.time == (0.0, 1.0) and p.initial == {"u": x * y}


def test_wave_canonical():
    p = Problem(LINE, 2 * u.diff(t, 2) - 4 * laplacian(u), zero_bcs(LINE), time=(0, 2),
                initial={"u": sp.sin(sp.pi * x), "u_t": 0})
    cf = p.canonical
    assert cf.m2 == 2 and cf.m1 == 0 and cf.K == sp.Matrix([[4]])
    assert p.time_order == 2 and p.type == "hyperbolic"


# ---------------------------------------------------------------- helpers per dimension
@pytest.mark.parametrize("domain", [LINE, SQUARE, CUBE])
def test_helpers_expand_to_dimension(domain):
    X = (x, y, z)[: domain.dim]
    lap = sum(u.diff(c, 2) for c in X)
    p = Problem(domain, -laplacian(u) + 1, zero_bcs(domain))
    assert p.equation == -lap + 1
    assert p.coords == X and p.dim == domain.dim
    q = Problem(domain, -div(grad(u)) + 1, zero_bcs(domain))
    assert q.equation == p.equation
    r = Problem(domain, -div(x * grad(u) + grad(u)), zero_bcs(domain))
    assert is_zero(r.equation + (x + 1) * lap + u.diff(x))
    assert r.canonical.K == (1 + x) * sp.eye(domain.dim)
    assert all(is_zero(bi) for bi in r.canonical.beta)


def test_eager_div_and_dot():
    assert div((x * u, y * u)) == sp.diff(x * u, x) + sp.diff(y * u, y)
    assert dot((1, 2, 3), grad(u)) == u.diff(x) + 2 * u.diff(y) + 3 * u.diff(z)
    assert dot((1, x), (y, 2)) == y + 2 * x


# ---------------------------------------------------------------- manufacture
def test_manufacture_steady_all_condition_types():
    a = 1 + x**2
    bcs = {"left": Dirichlet(0), "right": Neumann(0), "bottom": Robin(3, 0), "top": Dirichlet(1)}
    p = Problem(SQUARE, -div(a * grad(u)) + dot((1, y), grad(u)) + u - 1, bcs, name="adr")
    ue = sp.sin(x) * sp.exp(y)
    m = manufacture(p, ue)
    assert m.exact == ue and p.exact is None
    assert is_zero(m.equation.subs(u, ue).doit())
    assert m.canonical.K == p.canonical.K and m.canonical.c == p.canonical.c
    assert all(is_zero(b1 - b2) for b1, b2 in zip(m.canonical.beta, p.canonical.beta))
    assert is_zero(m.canonical.f - (-sp.diff(a * sp.diff(ue, x), x) - sp.diff(a * sp.diff(ue, y), y)
                                    + sp.diff(ue, x) + y * sp.diff(ue, y) + ue))
    flux = sp.cos(x) * sp.exp(y) * nx + sp.sin(x) * sp.exp(y) * ny
    assert m.bcs["left"] == Dirichlet(ue) and m.bcs["top"].g == ue
    assert isinstance(m.bcs["right"], Neumann) and is_zero(m.bcs["right"].g - flux)
    assert isinstance(m.bcs["bottom"], Robin) and m.bcs["bottom"].alpha == 3
    assert is_zero(m.bcs["bottom"].g - flux - 3 * ue)
    assert m.type == "elliptic" and m.name == "adr"


def test_manufacture_3d_neumann_uses_three_normals():
    p = Problem(CUBE, -laplacian(u), {"faces": Neumann(0)})
    m = manufacture(p, x * y * z)
    assert m.bcs["faces"].g == y * z * nx + x * z * ny + x * y * nz
    assert m.canonical.f == 0


def test_manufacture_time_problems():
    heat = Problem(SQUARE, u.diff(t) - laplacian(u), zero_bcs(SQUARE), time=(1, 2), initial={"u": 0})
    ue = sp.exp(-t) * sp.sin(x) * y
    m = manufacture(heat, ue)
    assert is_zero(m.equation.subs(u, ue).doit())
    assert is_zero(m.initial["u"] - sp.exp(-1) * sp.sin(x) * y) and "u_t" not in m.initial
    wave = Problem(LINE, u.diff(t, 2) - laplacian(u), zero_bcs(LINE), time=(0, 1), initial={"u": 0, "u_t": 0})
    ue = sp.cos(2 * t) * x**2
    m = manufacture(wave, ue)
    assert is_zero(m.equation.subs(u, ue).doit())
    assert m.initial == {"u": x**2, "u_t": 0}
    assert is_zero(m.canonical.f - (-4 * x**2 - 2) * sp.cos(2 * t))


# ---------------------------------------------------------------- parameters, types, repr
def test_parameters_and_substitute():
    a = sp.Function("a")(x, y)
    k = sp.Function("k")(x, y)
    p = Problem(SQUARE, -div(a * grad(u)) + k * u - 1, zero_bcs(SQUARE))
    assert p.parameters == ("a", "k")
    assert p.canonical.K == a * sp.eye(2) and p.canonical.c == k
    assert p.type == "elliptic"
    q = p.substitute(a=1 + x**2, k=2)
    assert q.parameters == () and q.canonical.K == (1 + x**2) * sp.eye(2) and q.canonical.c == 2
    assert all(is_zero(bi) for bi in q.canonical.beta)
    m = manufacture(p, x * y).substitute(a=1, k=0)
    assert is_zero(m.equation.subs(u, x * y).doit()) and m.exact == x * y
    with pytest.raises(ValueError, match="names no parameter; parameters: a, k"):
        p.substitute(b=1)


@pytest.mark.parametrize("equation, kind", [
    (-laplacian(u), "elliptic"),
    (u.diff(x, 2) - u.diff(y, 2), "hyperbolic"),
    (-u.diff(x, 2) + u.diff(y), "parabolic"),
])
def test_steady_types(equation, kind):
    assert Problem(SQUARE, equation, zero_bcs(SQUARE)).type == kind


def test_repr_is_informative():
    text = repr(poisson(name="poisson"))
    assert "poisson" in text and "elliptic" in text and "Dirichlet(g=0)" in text
    assert repr(Robin(2, x * nx)) == "Robin(alpha=2, g=n_x*x)"


# ---------------------------------------------------------------- bad input
def test_missing_tag():
    with pytest.raises(ValueError, match="no boundary condition for tag.*'top'"):
        Problem(SQUARE, -laplacian(u), {k: Dirichlet(0) for k in ("left", "right", "bottom")})


def test_unknown_tag_lists_available():
    with pytest.raises(ValueError, match="'hole'.*available tags: 'left', 'right', 'bottom', 'top'"):
        Problem(SQUARE, -laplacian(u), {**zero_bcs(SQUARE), "hole": Dirichlet(0)})


def test_equation_not_sympy():
    with pytest.raises(TypeError, match="equation must be a sympy expression"):
        Problem(SQUARE, "-laplacian(u)", zero_bcs(SQUARE))


def test_equation_without_u():
    with pytest.raises(ValueError, match="does not contain the unknown u"):
        Problem(SQUARE, x + 1, zero_bcs(SQUARE))


def test_equation_with_other_u():
    with pytest.raises(ValueError, match="use manufactured.u"):
        Problem(SQUARE, sp.Function("u")(x, y) + 1, zero_bcs(SQUARE))


@pytest.mark.parametrize("equation", [u * u - 1, sp.sin(u), u * u.diff(x) - laplacian(u)])
def test_nonlinear(equation):
    with pytest.raises(ValueError, match="nonlinear in u"):
        Problem(SQUARE, equation, zero_bcs(SQUARE))


@pytest.mark.parametrize("equation", [sp.Matrix([u, u]), (u, u)])
def test_non_scalar(equation):
    with pytest.raises(ValueError, match="must be a scalar expression"):
        Problem(SQUARE, equation, zero_bcs(SQUARE))


def test_derivative_in_missing_coordinate():
    with pytest.raises(ValueError, match="differentiates u in z .* domain is 2D"):
        Problem(SQUARE, u.diff(z) - laplacian(u), zero_bcs(SQUARE))


def test_time_derivative_without_time():
    with pytest.raises(ValueError, match="differentiates u in t .* pass time="):
        Problem(SQUARE, u.diff(t) - laplacian(u), zero_bcs(SQUARE))


def test_time_problem_without_initial():
    with pytest.raises(ValueError, match="needs initial data"):
        Problem(SQUARE, u.diff(t) - laplacian(u), zero_bcs(SQUARE), time=(0, 1))


def test_wave_missing_u_t():
    with pytest.raises(ValueError, match="missing u_t"):
        Problem(SQUARE, u.diff(t, 2) - laplacian(u), zero_bcs(SQUARE), time=(0, 1), initial={"u": 0})


def test_heat_extra_u_t():
    with pytest.raises(ValueError, match="unexpected key.*'u_t'"):
        Problem(SQUARE, u.diff(t) - laplacian(u), zero_bcs(SQUARE), time=(0, 1), initial={"u": 0, "u_t": 0})


def test_initial_uses_t():
    with pytest.raises(ValueError, match=r"initial\['u'\] uses t"):
        Problem(SQUARE, u.diff(t) - laplacian(u), zero_bcs(SQUARE), time=(0, 1), initial={"u": t * x})


def test_initial_uses_u():
    with pytest.raises(ValueError, match=r"initial\['u'\] contains the unknown u"):
        Problem(SQUARE, u.diff(t) - laplacian(u), zero_bcs(SQUARE), time=(0, 1), initial={"u": u})


def test_initial_for_steady_problem():
    with pytest.raises(ValueError, match="initial data was given for a steady problem"):
        poisson(initial={"u": 0})


def test_time_without_time_derivative():
    with pytest.raises(ValueError, match="no time derivative"):
        poisson(time=(0, 1), initial={"u": 0})


def test_bad_time_interval():
    with pytest.raises(ValueError, match="needs t0 < t1"):
        Problem(SQUARE, u.diff(t) - laplacian(u), zero_bcs(SQUARE), time=(1, 0), initial={"u": 0})
    with pytest.raises(TypeError, match="time must be a pair of numbers"):
        Problem(SQUARE, u.diff(t) - laplacian(u), zero_bcs(SQUARE), time=1, initial={"u": 0})


def test_third_order_time_derivative():
    with pytest.raises(ValueError, match="third- or higher-order time derivative"):
        Problem(SQUARE, u.diff(t, 3) - laplacian(u), zero_bcs(SQUARE), time=(0, 1), initial={"u": 0, "u_t": 0})


def test_unsupported_derivatives():
    with pytest.raises(ValueError, match="mixed space-time derivative"):
        Problem(SQUARE, u.diff(t) + u.diff(x, t) - laplacian(u), zero_bcs(SQUARE), time=(0, 1), initial={"u": 0})
    with pytest.raises(ValueError, match="has order 3"):
        Problem(SQUARE, u.diff(x, 3) - laplacian(u), zero_bcs(SQUARE))


def test_unknown_symbol_in_equation():
    k = sp.Symbol("k")
    with pytest.raises(ValueError, match="unknown symbol k; replace it by a number, or make it a parameter function"):
        Problem(SQUARE, -k * laplacian(u), zero_bcs(SQUARE))
    with pytest.raises(ValueError, match=r"use manufactured.x, the real symbol"):
        Problem(SQUARE, -sp.Symbol("x") * laplacian(u), zero_bcs(SQUARE))


def test_coefficient_in_missing_coordinate_or_t():
    with pytest.raises(ValueError, match="uses z but the domain is 2D"):
        Problem(SQUARE, -z * laplacian(u), zero_bcs(SQUARE))
    with pytest.raises(ValueError, match="uses t but the problem is steady"):
        Problem(SQUARE, -laplacian(u) - t, zero_bcs(SQUARE))


def test_grad_outside_div():
    with pytest.raises(ValueError, match=r"grad\(u\) is a vector: use it inside div"):
        Problem(SQUARE, grad(u) - 1, zero_bcs(SQUARE))


def test_div_of_scalar():
    with pytest.raises(ValueError, match=r"div\(F\).*scalar with no grad"):
        div(x * u)
    with pytest.raises(ValueError, match="must be linear in grad"):
        div(grad(u) * grad(u))


@pytest.mark.parametrize("make, error, phrase", [
    (lambda: Dirichlet("x + 1"), TypeError, r"Dirichlet\(g=...\): got the string"),
    (lambda: Neumann([1, 2]), TypeError, r"Neumann\(g=...\): expected a number or sympy expression, got list"),
    (lambda: Dirichlet(u + 1), ValueError, r"Dirichlet\(g=...\): the data .* contains the unknown u"),
    (lambda: Dirichlet(nx * x), ValueError, r"Dirichlet\(g=...\): uses the normal components n_x"),
    (lambda: Robin(nx, 0), ValueError, r"Robin\(alpha=...\): uses the normal components n_x"),
    (lambda: Neumann(sp.Symbol("q")), ValueError, r"Neumann\(g=...\): unknown symbol\(s\) q"),
])
def test_malformed_conditions(make, error, phrase):
    with pytest.raises(error, match=phrase):
        make()


def test_condition_is_frozen_and_checked_in_problem():
    cond = Neumann(x * nx)
    with pytest.raises(AttributeError):
        cond.g = 0
    with pytest.raises(TypeError, match=r"bcs\['left'\] = 0 is not a condition; use Dirichlet"):
        Problem(SQUARE, -laplacian(u), {**zero_bcs(SQUARE), "left": 0})
    with pytest.raises(ValueError, match=r"bcs\['left'\].g uses n_z but the domain is 2D"):
        Problem(SQUARE, -laplacian(u), {**zero_bcs(SQUARE), "left": Neumann(nz)})
    with pytest.raises(ValueError, match=r"bcs\['left'\].g uses t but the problem is steady"):
        Problem(SQUARE, -laplacian(u), {**zero_bcs(SQUARE), "left": Dirichlet(t)})


def test_manufacture_bad_exact():
    p = poisson()
    with pytest.raises(ValueError, match="u_exact = .* contains unknown functions"):
        manufacture(p, u + x)
    with pytest.raises(ValueError, match="u_exact uses t but the problem is steady"):
        manufacture(p, t * x)
    with pytest.raises(TypeError, match="u_exact must be a sympy expression"):
        manufacture(p, "x*y")


def test_error_names_the_problem():
    with pytest.raises(ValueError, match="Problem 'poisson': .*does not contain the unknown u"):
        Problem(SQUARE, x, zero_bcs(SQUARE), name="poisson")
