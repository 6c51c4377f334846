"""Least-squares output layer over random tanh features (the no-network baseline)."""

import numpy as np
import pytest
import sympy as sp
import torch

from geometries import Ellipse, Interval, Rectangle
from manufactured import Dirichlet, Neumann, Problem, Robin, laplacian, manufacture, t, u, x, y
from pino._encoding import encode
from pino._lstsq import feature_derivatives, lstsq_solve, random_features

torch.set_num_threads(1)
SQUARE = Rectangle((0, 0), (1, 1))
EXACT = sp.sin(2 * x) * sp.cos(3 * y) + x * y


def _rel_error(problem, exact, res, phi, enc, coords=(x, y), n=2000):
    if problem.is_time_dependent:
        P = enc.to_physical(np.random.default_rng(5).uniform(-1, 1, (n, 2)))
    else:
        P = problem.domain.sample_interior(n, seed=5)
    want = sp.lambdify(coords, exact)(*P.T)
    got = res.predict(phi, enc.to_reference(P)).numpy()
    return np.linalg.norm(got - want) / np.linalg.norm(want)


@pytest.mark.parametrize("bcs", [
    {k: Dirichlet(0) for k in SQUARE.boundaries},
    {"left": Dirichlet(0), "right": Neumann(0), "bottom": Robin(2, 0), "top": Neumann(0)},
], ids=["dirichlet", "neumann_robin"])
def test_random_features_solve_a_smooth_poisson_problem(bcs):
    p = manufacture(Problem(SQUARE, -laplacian(u), bcs), EXACT)
    enc = encode(p, 16, n_interior=2000, n_boundary=400)
    phi = random_features(400, scale=2.0, seed=0)
    res = lstsq_solve(phi, enc)
    assert _rel_error(p, EXACT, res, phi, enc) < 1e-3
    # residuals: root-mean-square per row group, small against the data
    rms_f = np.sqrt(np.mean(enc.interior_source**2))
    assert res.residuals["pde"] < 1e-4 * rms_f
    for k in set(res.residuals) - {"pde"}:
        assert res.residuals[k] < 1e-5
    assert res.relative_residual < 1e-4 and res.weights.shape == (401,)
    assert set(res.residuals) == {"pde"} | {type(c).__name__.lower() for c in bcs.values()}


def test_oblique_neumann_under_anisotropic_scaling_and_advection():
    # the physical normal derivative on the ellipse becomes an oblique derivative in the
    # reference frame; solving with the encoded direction reproduces the exact solution
    dom = Rectangle((0, 0), (3, 1)) - Ellipse((1.5, 0.5), (0.6, 0.2), name="hole")
    ue = sp.sin(x) * sp.cos(2 * y) + x * y
    bcs = {"left": Dirichlet(0), "right": Neumann(0), "top": Dirichlet(0), "bottom": Robin(1, 0),
           "hole": Neumann(0)}
    p = manufacture(Problem(dom, -laplacian(u) + sp.diff(u, x) + u, bcs), ue)
    enc = encode(p, 16, n_interior=2500, n_boundary=800)
    assert enc.max_obliquity > 0.5
    phi = random_features(400, scale=2.0, seed=1)
    res = lstsq_solve(phi, enc)
    assert _rel_error(p, ue, res, phi, enc) < 1e-3
    # with the reference normal instead of the encoded direction the answer is wrong
    from dataclasses import replace

    wrong = replace(enc, boundary_directions=enc.boundary_normals)
    assert _rel_error(p, ue, lstsq_solve(phi, wrong), phi, wrong) > 1e-2


def test_heat_in_space_time():
    ue = sp.exp(-sp.pi**2 * t / 10) * sp.sin(sp.pi * x)
    p = Problem(Interval(0, 1), sp.diff(u, t) - laplacian(u) / 10, {"left": Dirichlet(0), "right": Dirichlet(0)},
                time=(0, 1), initial={"u": sp.sin(sp.pi * x)})
    enc = encode(p, 16, n_interior=1500, n_boundary=600)
    phi = random_features(300, scale=2.0, seed=0)
    res = lstsq_solve(phi, enc)
    assert _rel_error(p, ue, res, phi, enc, coords=(x, t)) < 1e-3


def test_feature_derivatives_match_the_closed_form():
    phi = random_features(7, scale=3.0, seed=2)
    X = torch.rand(11, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    v, J, H = feature_derivatives(phi, X, chunk=4)
    W = phi.weight
    s = torch.tanh(X @ W.T + phi.bias)
    torch.testing.assert_close(v, s)
    torch.testing.assert_close(J, (1 - s**2)[..., None] * W[None])
    torch.testing.assert_close(H, (-2 * s * (1 - s**2))[..., None, None] * (W[:, :, None] * W[:, None, :])[None])
    v1, J1 = feature_derivatives(phi, X, order=1)
    torch.testing.assert_close(J1, J)


def test_result_helpers_and_errors():
    p = Problem(SQUARE, -laplacian(u) - 1, {k: Dirichlet(0) for k in SQUARE.boundaries})
    enc = encode(p, 16, n_interior=300, n_boundary=100)
    phi = random_features(50, scale=2.0, seed=0)
    res = lstsq_solve(phi, enc, weights={"dirichlet": 100.0}, ridge=1e-10)
    X = torch.zeros(3, 2, dtype=torch.float64)
    torch.testing.assert_close(res.head()(phi(X)).squeeze(1), res.predict(phi, X))
    assert 0 < res.rank <= 51 and res.info["weights"]["dirichlet"] == 100.0
    with pytest.raises(TypeError, match="torch.nn.Module"):
        lstsq_solve(lambda X: X, enc)
    with pytest.raises(ValueError, match="unknown weight"):
        lstsq_solve(phi, enc, weights={"boundary": 1.0})
    with pytest.raises(ValueError, match="scale"):
        random_features(10, scale=-1.0)
