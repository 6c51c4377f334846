"""Constant-shift averaging (``shift=True`` of ``pino.solve``): for an equation without a u
term, ``u - c`` solves the problem with Dirichlet data ``g - c`` and Robin data
``g - alpha c``; the answer is the mean of those for the smallest and largest Dirichlet
value. Its rasters are those the encoder makes for the shifted problem, and the answer
moves exactly with a constant added to the data (one network alone does not)."""

import numpy as np
import pytest
import sympy as sp
import torch

import pino
from geometries import Disk, Interval, Rectangle
from manufactured import Dirichlet, Neumann, Problem, Robin, laplacian, t, u, x, y
from pino._encoding import encode
from pino._hypino import HyperNetwork, _as_inputs, dirichlet_shifts, shift_rasters

TINY = {"resolution": 32, "channels": [8, 8, 8, 8], "groups": 4, "embed": 16, "latent": 16,
        "queries": 2, "heads": 2, "target": {"frequencies": 3, "width": 16, "depth": 2, "basis": 16,
                                                "ridge": 0}}


def _holes(a, b, robin=0, lo=(-1, -1), hi=(1, 1)):
    at = lambda fx, fy: (lo[0] + fx * (hi[0] - lo[0]), lo[1] + fy * (hi[1] - lo[1]))  # noqa: E731
    d = Rectangle(lo, hi, name="wall") - Disk(at(0.65, 0.6), 0.3, name="hole")
    bcs = {"wall": Dirichlet(a + sp.Rational(1, 4) * x), "hole": Dirichlet(b)}
    if robin:
        d = d - Disk(at(0.3, 0.3), 0.2, name="cup")
        bcs["cup"] = Robin(3, robin)
    return Problem(d, -laplacian(u) + sp.Rational(1, 2) * sp.diff(u, x) - 1 - y, bcs)


def _model():
    torch.manual_seed(0)
    return HyperNetwork(TINY).eval()


@pytest.mark.parametrize("box", [((-1, -1), (1, 1)), ((0, -2), (3, 1))])
def test_shifted_rasters_are_the_rasters_of_the_shifted_problem(box):
    c = 0.7
    base = encode(_holes(1, -0.5, robin=2, lo=box[0], hi=box[1]), resolution=32)
    moved = encode(_holes(1 - c, -0.5 - c, robin=2 - 3 * c, lo=box[0], hi=box[1]), resolution=32)
    r, coefs = _as_inputs(base, 32)
    assert torch.allclose(shift_rasters(r, c), _as_inputs(moved, 32)[0], atol=1e-6)
    lo, hi = dirichlet_shifts(r, coefs, False)
    g = base.boundary_g[base.boundary_kind == 0]
    assert np.isclose(float(lo), g.min(), atol=0.05) and np.isclose(float(hi), g.max(), atol=0.05)
    zero = dirichlet_shifts(r, coefs, True)                 # a time problem: no shift
    assert float(zero[0]) == float(zero[1]) == 0.0


def test_the_shifted_answer_moves_exactly_with_a_constant_added_to_the_data():
    model = _model()
    P = np.random.default_rng(0).uniform(-0.9, 0.9, (40, 2))
    a = pino.solve(_holes(1, -0.5), method="hypino", model=model, h=0.5, shift=True, dtype="float64")
    b = pino.solve(_holes(3, 1.5), method="hypino", model=model, h=0.5, shift=True, dtype="float64")
    assert np.allclose(b.network(P), a.network(P) + 2, atol=1e-5)
    # (lift=False: the Dirichlet lift makes the answers nearly shift-equivariant by itself)
    one_a = pino.solve(_holes(1, -0.5), method="hypino", model=model, h=0.5, dtype="float64", lift=False)
    one_b = pino.solve(_holes(3, 1.5), method="hypino", model=model, h=0.5, dtype="float64", lift=False)
    assert not np.allclose(one_b.network(P), one_a.network(P) + 2, atol=1e-2)   # no symmetry without it
    net = a.network.module.nets[0]
    assert len(net.nets) == 16 and a.info["shift"]         # two shifts x eight symmetries
    assert not one_a.info["shift"]


def test_shift_leaves_problems_without_the_symmetry_alone_and_refuses_bad_options():
    model = _model()
    P = np.random.default_rng(1).uniform(-0.9, 0.9, (20, 2))
    d = Rectangle((-1, -1), (1, 1), name="wall") - Disk((0.2, 0.1), 0.3, name="hole")
    cases = [Problem(d, -laplacian(u) + u - x, {"wall": Dirichlet(1), "hole": Dirichlet(0)}),   # u term
             Problem(d, -laplacian(u) - 1, {"wall": Neumann(0), "hole": Neumann(1)})]         # no Dirichlet
    for problem in cases:
        on = pino.solve(problem, method="hypino", model=model, h=0.5, shift=True, dtype="float64")
        off = pino.solve(problem, method="hypino", model=model, h=0.5, dtype="float64")
        assert np.allclose(on.network(P), off.network(P), atol=1e-12)
    heat = Problem(Interval(0, 1), sp.diff(u, t) - sp.diff(u, x, 2), {"left": Dirichlet(1), "right": Dirichlet(0)},
                   time=(0, 1), initial={"u": 1 - x})
    Q = np.random.default_rng(2).uniform(0.1, 0.9, (20, 2))
    assert np.allclose(pino.solve(heat, method="hypino", model=model, h=0.25, shift=True).network(Q),
                       pino.solve(heat, method="hypino", model=model, h=0.25).network(Q), atol=1e-12)
    with pytest.raises(ValueError, match="shift must be True or False"):
        pino.solve(cases[0], method="hypino", model=model, h=0.5, shift="yes")
    with pytest.raises(ValueError, match="shift=True cannot be combined with lstsq"):
        pino.solve(cases[0], method="hypino", model=model, h=0.5, shift=True, lstsq=True)


def test_heldout_errors_with_shift_average_the_two_shifted_answers():
    model = _model()
    base = pino.heldout_errors(model, n=6, seed=0, normalise=1, physics=True, symmetrise=False)
    two_chunks = pino._hypino._relative_l2(model, pino._hypino._validation(0, 6, 32), chunk=4, shift=True)
    assert np.allclose(two_chunks, pino._hypino._relative_l2(model, pino._hypino._validation(0, 6, 32), shift=True))
    on = pino.heldout_errors(model, n=6, seed=0, normalise=1, physics=True, symmetrise=False, shift=True)
    assert base.shape == on.shape == (6,) and np.all(np.isfinite(on))
    assert not np.allclose(base, on)                        # physics-only problems without a u term move
