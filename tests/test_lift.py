"""The Dirichlet lift of zero-shot answers (``pino._lift``): its closed-form derivatives, its
exactness where the Poisson kernel is the kernel, and its place in ``pino.solve``."""

import numpy as np
import pytest
import sympy as sp
import torch

import fem
import pino
from geometries import Disk, Interval, Rectangle
from manufactured import Dirichlet, Neumann, Problem, laplacian, t, u, x, y
from pino._hypino import HyperNetwork, point_derivatives
from pino._lift import DirichletLift, principal_metric

TINY = {"resolution": 32, "channels": [8, 8, 8, 8], "groups": 4, "embed": 16, "latent": 16,
        "queries": 2, "heads": 2, "target": {"frequencies": 3, "width": 16, "depth": 2, "basis": 16,
                                                "ridge": 0}}


def test_closed_form_derivatives_match_autograd():
    rng = np.random.default_rng(0)
    L = principal_metric([0.3, 0.1, 0, -2.0, -0.7, 0.5])
    lift = DirichletLift(rng.uniform(-1, 1, (200, 2)), rng.normal(size=200), L, eps=0.05)
    X = torch.tensor(rng.uniform(-1, 1, (40, 2)))
    closed, auto = lift.derivatives(X), point_derivatives(lift, X)
    assert torch.allclose(closed, auto, rtol=1e-9, atol=1e-9 * float(auto.detach().abs().max()))


def test_metric_is_that_of_the_principal_part_and_none_when_not_elliptic():
    L = principal_metric([0, 0, 0, -2.0, -0.5, 0.4])
    A = np.array([[-2.0, 0.2], [0.2, -0.5]])
    M = np.linalg.inv(L.T @ L)                      # proportional to A (made positive)
    assert np.allclose(M / M[0, 0], A / A[0, 0])
    assert principal_metric([1, 0, 0, 1.0, -1.0, 0]) is None      # u_xx - u_yy: hyperbolic
    assert principal_metric([1, 1, 1, 0, 0, 0]) is None           # no second-order part
    assert principal_metric([0, 0, 0, 1.0, 1.0, 2.0]) is None     # (d_x + d_y)^2: degenerate


def test_on_a_disk_the_lift_is_the_harmonic_extension():
    """Poisson's kernel of the disk is (1 - |X|^2) / (2 pi |X - B|^2): normalised it is the
    lift's kernel, so boundary data cos(3 theta) extend to r^3 cos(3 theta)."""
    th = np.linspace(0, 2 * np.pi, 4000, endpoint=False)
    B = np.stack([np.cos(th), np.sin(th)], 1)
    lift = DirichletLift(B, np.cos(3 * th), np.eye(2), eps=1e-9)
    rng = np.random.default_rng(1)
    r, a = np.sqrt(rng.uniform(0, 0.8**2, 300)), rng.uniform(0, 2 * np.pi, 300)
    X = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    got = lift(torch.tensor(X)).numpy()
    assert np.max(np.abs(got - r**3 * np.cos(3 * a))) < 1e-6
    lap = lift.derivatives(torch.tensor(X))
    assert float((lap[:, 3] + lap[:, 4]).abs().max()) < 1e-4      # harmonic
    assert abs(float(lift(torch.tensor(B[:1] * (1 - 1e-7)))) - 1.0) < 1e-3   # meets the data


class _Sum(torch.nn.Module):
    """U + c as one module (autograd derivatives only)."""

    def __init__(self, net, lift):
        super().__init__()
        self.net, self.lift = net, lift

    def forward(self, X):
        return self.net(X) + self.lift(X)


def _holes():
    d = Rectangle((-1, -1), (1, 1), name="square") - Disk((0.3, -0.2), 0.3, name="disk")
    return Problem(d, -laplacian(u), {"square": Dirichlet(1), "disk": Dirichlet(0)})


def test_solve_lifts_the_plain_zero_shot_answer_onto_the_dirichlet_data():
    torch.manual_seed(0)
    model = HyperNetwork(TINY).eval()
    problem = _holes()
    on = pino.solve(problem, method="hypino", model=model, h=0.2)
    off = pino.solve(problem, method="hypino", model=model, h=0.2, lift=False)
    assert on.info["lift"] and not off.info["lift"] and on.network.lift is not None
    assert [s["stage"] for s in on.info["stages"]] == ["zero-shot", "lift"]
    assert on.info["residual"]["dirichlet"] < 0.05 * off.info["residual"]["dirichlet"]
    # the same networks underneath; on the boundary the lifted answer has the data
    P = np.array([[1.0, 0.3], [-0.4, 1.0], [0.3, 0.1]])
    assert np.allclose(on.network(P), [1.0, 1.0, 0.0], atol=0.02)
    assert not np.allclose(off.network(P), [1.0, 1.0, 0.0], atol=0.02)
    # the recorded residual is that of the lifted answer (checked by autograd through U + c)
    from pino._zeroshot import physics_residuals
    r = physics_residuals(_Sum(on.network.module, on.network.lift), pino.encode(problem, resolution=model.resolution))
    assert np.isclose(float(r["dirichlet"].pow(2).mean().sqrt()), on.info["residual"]["dirichlet"], rtol=1e-3)
    assert np.isclose(float(r["pde"].pow(2).mean().sqrt()), on.info["residual"]["pde"], rtol=1e-3)
    # off by default with lstsq, refine, finetune; asked for, it follows the final network
    assert not pino.solve(problem, method="hypino", model=model, h=0.5, lstsq=True).info["lift"]
    both = pino.solve(problem, method="hypino", model=model, h=0.5, refine=1, lift=True)
    assert both.info["lift"] and both.info["stages"][-1]["stage"] == "lift"


def test_the_lift_is_refused_where_its_kernel_is_not_the_problems():
    torch.manual_seed(0)
    model = HyperNetwork(TINY).eval()
    heat = Problem(Interval(0, 1), sp.diff(u, t) - sp.diff(u, x, 2), {"left": Dirichlet(0), "right": Dirichlet(0)},
                   time=(0, 1), initial={"u": sp.sin(sp.pi * x)})
    square = Rectangle((-1, -1), (1, 1), name="wall")
    wave = Problem(square, sp.diff(u, x, 2) - sp.diff(u, y, 2), {"wall": Dirichlet(0)})
    neumann = Problem(square, -laplacian(u) + u - 1, {"wall": Neumann(0)})
    for p in (heat, wave, neumann):
        assert not pino.solve(p, method="hypino", model=model, h=0.5).info["lift"]   # default: off
        with pytest.raises(ValueError, match="lift=True needs a steady problem with an elliptic operator"):
            pino.solve(p, method="hypino", model=model, h=0.5, lift=True)
    with pytest.raises(ValueError, match="lift must be None, True or False"):
        pino.solve(_holes(), method="hypino", model=model, h=0.5, lift="yes")


def test_the_shipped_model_is_closer_with_the_lift_on_a_problem_with_holes():
    problem = _holes()
    ref = fem.solve(problem, h=0.05, order=2)
    pts = problem.domain.sample_interior(2000, seed=3)
    exact = ref(pts)
    err = {}
    for lift in (False, True):
        val = pino.solve(problem, method="hypino", lift=lift).network(pts)
        err[lift] = np.linalg.norm(val - exact) / np.linalg.norm(exact)
    assert err[True] < 0.7 * err[False], err


def test_the_lifted_loss_sees_the_answer_after_the_lift():
    """``hypino_loss(..., {"lifted": w})``: u of ``U + c`` against the labels. A network that is
    a constant d everywhere has the same lifted answer whatever d on samples with Dirichlet
    data everywhere (the lift takes the constant away), and the plain u loss where nothing is
    lifted (time problems)."""
    from pino._hypino import hypino_batch, hypino_loss
    from pino._encoding import DIRICHLET

    def losses(batch):
        batch = {k: (v.double() if v.is_floating_point() else v) for k, v in batch.items()}
        return [hypino_loss(lambda Q, w, d=d: d + 1e-12 * (Q**3).sum(-1), None, batch, {"lifted": 1.0})[1]
                for d in (0.0, 2.5)]          # U = d (with a graph in Q for the derivatives)

    plain = hypino_batch([(0, i) for i in range(3)], "physics", resolution=16, n_interior=48, n_boundary=64,
                         fem_labels=True, family={"plain": 1.0})      # Dirichlet data everywhere, FEM labels
    assert bool((plain["kind"] == DIRICHLET).all()) and bool((plain["labelled"].sum(1) > 0).all())
    a, b = losses(plain)
    assert torch.allclose(a["lifted"], b["lifted"]) and not torch.allclose(a["u"], b["u"])
    _, heat = losses(hypino_batch([(1, i) for i in range(3)], "heat", resolution=16, n_interior=48, n_boundary=64))
    assert torch.allclose(heat["lifted"], heat["u"]) and bool((heat["u"] > 0).all())
