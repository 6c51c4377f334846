"""The symmetries of the square (``pino._symmetry``): moved problems encode to moved rasters
and coefficients, the averaged answer is exactly equivariant, augmented training batches
still satisfy their PDE, and ``pino.solve`` uses them by default without ``lstsq``."""

import numpy as np
import pytest
import sympy as sp
import torch

import pino
from geometries import Disk, Interval, Rectangle
from manufactured import Dirichlet, Neumann, Problem, t, u, x, y
from pino._encoding import CHANNELS, encode
from pino._hypino import GeneratedPINNs, HyperNetwork, _moved, _take, hypino_batch
from pino._symmetry import (Symmetrised, symmetries, transform_coefficients, transform_derivatives,
                            transform_rasters)

TINY = {"resolution": 32, "channels": [8, 8, 8, 8], "groups": 4, "embed": 16, "latent": 16,
        "queries": 2, "heads": 2, "target": {"frequencies": 3, "width": 16, "depth": 2, "basis": 16,
                                                "ridge": 0}}


def _problem(hole, op, f):
    d = Rectangle((-1, -1), (1, 1), name="wall") - Disk(hole, 0.25, name="hole")
    return Problem(d, op - f, {"wall": Dirichlet(0), "hole": Neumann(1)})


def _op(ux, uy, uxx, uyy, uxy):
    return -uxx - 2 * uyy + sp.Rational(1, 2) * ux + sp.Rational(3, 10) * uxy + u


D = {"ux": sp.diff(u, x), "uy": sp.diff(u, y), "uxx": sp.diff(u, x, 2), "uyy": sp.diff(u, y, 2),
     "uxy": sp.diff(u, x, y)}


def test_the_group_has_eight_elements_and_two_for_time_problems():
    mats = symmetries()
    assert len(mats) == 8 and np.array_equal(mats[0], np.eye(2))
    assert len({tuple(M.ravel()) for M in mats}) == 8
    for A in mats:   # closed under products, each orthogonal
        assert np.allclose(A @ A.T, np.eye(2))
        assert all(any(np.array_equal(A @ B, C) for C in mats) for B in mats)
    assert [M.tolist() for M in symmetries(timed=True)] == [[[1, 0], [0, 1]], [[-1, 0], [0, 1]]]
    with pytest.raises(ValueError, match="signed permutation"):
        transform_coefficients(torch.zeros(6), np.array([[0.6, 0.8], [-0.8, 0.6]]))


@pytest.mark.parametrize("which", ["swap", "flip_x"])
def test_a_moved_problem_encodes_to_the_moved_rasters_and_coefficients(which):
    """The moved problem written by hand (not through the formula): swap x <-> y, or x -> -x."""
    f = x + y**2 + x * y / 3
    base = _problem((0.4, -0.3), _op(D["ux"], D["uy"], D["uxx"], D["uyy"], D["uxy"]), f)
    if which == "swap":
        M = np.array([[0.0, 1.0], [1.0, 0.0]])
        moved = _problem((-0.3, 0.4), -D["uyy"] - 2 * D["uxx"] + sp.Rational(1, 2) * D["uy"]
                         + sp.Rational(3, 10) * D["uxy"] + u, f.subs({x: y, y: x}, simultaneous=True))
    else:
        M = np.diag([-1.0, 1.0])
        moved = _problem((-0.4, -0.3), -D["uxx"] - 2 * D["uyy"] - sp.Rational(1, 2) * D["ux"]
                         - sp.Rational(3, 10) * D["uxy"] + u, f.subs(x, -x))
    a, b = encode(base, resolution=32), encode(moved, resolution=32)
    got = transform_coefficients(torch.as_tensor(a.coefficients), M).numpy()
    assert np.allclose(got, b.coefficients, atol=1e-12)
    ra = transform_rasters(torch.as_tensor(a.channels()), M).numpy()
    rb = b.channels()
    for ch in ("domain", "source"):
        i = CHANNELS.index(ch)
        assert np.allclose(ra[i], rb[i], atol=1e-5), ch
    assert not np.allclose(ra[CHANNELS.index("source")], a.channels()[CHANNELS.index("source")])


def _symmetrised(model, rasters, coefs, P):
    mats = symmetries()
    w = model(torch.cat([transform_rasters(rasters, M) for M in mats]),
              torch.cat([transform_coefficients(coefs, M) for M in mats]))
    gen = GeneratedPINNs(model.target, w)
    return Symmetrised([gen.module(i).double() for i in range(len(mats))], mats)(P[0])


def test_the_averaged_answer_is_exactly_equivariant():
    """For every symmetry h: the average for the moved problem, at M_h p, is the average for
    the problem at p (a sum over the group is invariant under relabelling), for a random
    untrained hypernetwork whose single answers are not."""
    torch.manual_seed(0)
    model = HyperNetwork(TINY).eval().double()
    rasters = torch.randn(1, len(CHANNELS), 32, 32, dtype=torch.float64)
    for i, ch in enumerate(CHANNELS):          # masks and alpha are not negative
        if ch.endswith("mask") or ch in ("domain", "robin_alpha"):
            rasters[:, i] = rasters[:, i].abs()
    coefs = torch.randn(1, 6, dtype=torch.float64)
    P = torch.rand(1, 50, 2, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        base = _symmetrised(model, rasters, coefs, P)
        single = model.target(P, model(rasters, coefs))[0]
        for M in symmetries()[1:]:
            Mt = torch.as_tensor(M)
            moved = _symmetrised(model, transform_rasters(rasters, M), transform_coefficients(coefs, M), P @ Mt.T)
            assert torch.allclose(moved, base, atol=1e-10, rtol=1e-10)
            one = model.target(P @ Mt.T, model(transform_rasters(rasters, M), transform_coefficients(coefs, M)))[0]
            assert (one - single).abs().max() > 1e-4


def test_moved_training_batches_still_satisfy_their_pde():
    """Augmentation moves points, normals, rasters, coefficients and derivatives together:
    f = D' . c' at the moved interior points, the moved points lie in the moved domain, and
    time samples are only reflected in x."""
    seeds = [(3, i) for i in range(12)]
    kinds = ["elliptic"] * 10 + ["heat", "wave"]
    data = hypino_batch(seeds, kinds, resolution=32, n_interior=64, n_boundary=32)
    gen = torch.Generator().manual_seed(0)
    batch = _take(data, torch.arange(12), (64, 32), gen)
    moved = _moved(batch, torch.Generator().manual_seed(1))
    manu = batch["manufactured"] > 0
    lhs = (moved["derivatives"] * moved["coefficients"][:, None]).sum(-1)
    assert torch.allclose(lhs[manu], moved["f"][manu], rtol=1e-4, atol=1e-4 * moved["f"].abs().max())
    changed = (moved["interior"] - batch["interior"]).abs().amax((1, 2)) > 0
    assert changed[:10].sum() >= 5
    for i in range(12):
        Rm = moved["rasters"][i, CHANNELS.index("domain")]
        g = ((moved["interior"][i] + 1) / 2 * 31).round().long()
        assert Rm[g[:, 1], g[:, 0]].mean() > 0.9           # interior points inside the moved mask
        if i >= 10:                                        # x -> -x at most: t unchanged
            assert torch.equal(moved["interior"][i, :, 1], batch["interior"][i, :, 1])
    D = torch.randn(5, 6, dtype=torch.float64)
    for M in symmetries():                                 # c.D is invariant
        c = torch.randn(6, dtype=torch.float64)
        assert torch.allclose(transform_derivatives(D, M) @ transform_coefficients(c, M), D @ c)


def test_solve_averages_by_default_and_refuses_it_with_lstsq():
    torch.manual_seed(0)
    model = HyperNetwork(TINY).eval()
    problem = _problem((0.4, -0.3), _op(D["ux"], D["uy"], D["uxx"], D["uyy"], D["uxy"]), x)
    # lift=False: the averaged networks alone (the Dirichlet lift is tested in test_lift.py)
    sol = pino.solve(problem, method="hypino", model=model, h=0.5, dtype="float64", lift=False)
    net = sol.network.module.nets[0]
    assert sol.info["symmetrise"] and isinstance(net, Symmetrised) and len(net.nets) == 8
    one = pino.solve(problem, method="hypino", model=model, h=0.5, symmetrise=False, dtype=torch.float64, lift=False)
    assert not one.info["symmetrise"] and not isinstance(one.network.module.nets[0], Symmetrised)
    # the average of the eight is the mean of their values at the mapped points
    P = np.random.default_rng(0).uniform(-0.9, 0.9, (20, 2))
    with torch.no_grad():
        T = torch.as_tensor(P)
        parts = [n(T @ M.T) for M, n in zip(net.matrices, net.nets)]
    assert np.allclose(sol.network(P), torch.stack(parts).mean(0).numpy(), atol=1e-12)
    assert np.allclose(one.network(P), parts[0].numpy(), atol=1e-5)
    assert not pino.solve(problem, method="hypino", model=model, h=0.5, lstsq=True).info["symmetrise"]
    assert not pino.solve(problem, method="hypino", model=model, h=0.5, finetune=2).info["symmetrise"]
    assert not pino.solve(problem, method="hypino", model=model, h=0.5, refine=1).info["symmetrise"]
    both = pino.solve(problem, method="hypino", model=model, h=0.5, refine=1, symmetrise=True)
    assert both.info["residual"]["loss"] < sol.info["residual"]["loss"]      # refinement still works
    tuned = pino.solve(problem, method="hypino", model=model, h=0.5, finetune=2, symmetrise=True)
    assert tuned.info["symmetrise"] and tuned.info["residual"]["loss"] < sol.info["residual"]["loss"]
    with pytest.raises(ValueError, match="symmetrise=True cannot be combined with lstsq"):
        pino.solve(problem, method="hypino", model=model, h=0.5, lstsq=True, symmetrise=True)
    with pytest.raises(ValueError, match="symmetrise must be"):
        pino.solve(problem, method="hypino", model=model, h=0.5, symmetrise="yes")
    heat = Problem(Interval(0, 1), sp.diff(u, t) - laplacian_1d(),
                   {"left": Dirichlet(0), "right": Dirichlet(0)}, time=(0, 1), initial={"u": sp.sin(sp.pi * x)})
    ts = pino.solve(heat, method="hypino", model=model, h=0.25)
    assert len(ts.network.module.nets[0].nets) == 2


def laplacian_1d():
    return sp.diff(u, x, 2) / 10


@pytest.mark.parametrize("option", ["augment", "rescale"])
def test_augmented_training_records_it_and_learns(tmp_path, option):
    """``augment=True`` / ``rescale=True``: the config says so (a run without it resumes as
    before) and the training loss of a tiny model falls on moved or rescaled batches."""
    from pino._checkpoint import read_meta
    from pino._hypino import train_hypino
    torch.manual_seed(0)
    _, hist = train_hypino(str(tmp_path / option), n_samples=8, epochs=6, batch=4, lr=3e-3, seed=2,
                           workers=1, model_config=TINY, n_val=0, points=(64, 32), pool=(64, 32),
                           log=lambda *a: None, **{option: True})
    config = read_meta(str(tmp_path / option))["config"]
    assert config[option] is True and not {"augment", "rescale", "family"} - {option} & set(config)
    assert hist[-1]["loss"] < 0.7 * hist[0]["loss"]


def test_closed_form_derivatives_of_solve_networks_match_autograd():
    """``derivatives`` of a target network (ridge features with and without weight), of the
    symmetrised mean and of a sum equal ``point_derivatives`` by autograd."""
    from pino._hypino import PINNModule, point_derivatives
    from pino._zeroshot import NetworkSum
    torch.manual_seed(1)
    cfg = dict(frequencies=3, width=8, depth=3, basis=6, ridge=5)
    nets = [PINNModule(**cfg).double() for _ in range(8)]
    with torch.no_grad():
        nets[0].out.weight[:, 6:] = 0.0                # a generated network: no ridge weight
    X = torch.rand(40, 2, dtype=torch.float64) * 2 - 1
    sym = Symmetrised(nets, symmetries()).double()
    total = NetworkSum([sym, nets[1]], [0.7, -1.3])
    for fn in nets[:2] + [sym, total]:
        for p in fn.parameters():
            p.requires_grad_(False)
        assert torch.allclose(fn.derivatives(X), point_derivatives(fn, X), rtol=1e-10, atol=1e-10)


def test_rescaled_training_batches_keep_their_pde_and_reach_the_asked_size():
    """``rescale``: each labelled sample times k (the problem is linear): f = D . c still
    holds, max |u| lands in [AMPLITUDE / 1.25, AMPLITUDE * 1.25], rasters carry k."""
    from pino._hypino import AMPLITUDE, _rescaled, scale_rasters
    seeds = [(4, i) for i in range(10)]
    data = hypino_batch(seeds, ["elliptic"] * 8 + ["heat", "physics"], resolution=32,
                        n_interior=64, n_boundary=32)
    batch = _take(data, torch.arange(10), (64, 32), torch.Generator().manual_seed(0))
    out = _rescaled(batch, torch.Generator().manual_seed(1))
    manu = batch["manufactured"] > 0
    lhs = (out["derivatives"] * out["coefficients"][:, None]).sum(-1)
    assert torch.allclose(lhs[manu], out["f"][manu], rtol=1e-4, atol=1e-4 * out["f"].abs().max())
    peak = out["derivatives"][manu, :, 0].abs().amax(1)
    assert torch.all(peak > AMPLITUDE / 1.25 - 1e-5) and torch.all(peak < AMPLITUDE * 1.25 + 1e-5)
    k = out["g"][:9, 0] / batch["g"][:9, 0]
    assert torch.allclose(out["rasters"][:9], scale_rasters(batch["rasters"][:9], k), atol=1e-4)
    # an unlabelled physics-only sample keeps its size
    assert torch.equal(out["f"][9], batch["f"][9])
    assert torch.allclose(out["rasters"][9], batch["rasters"][9], atol=1e-5)
    # a wider spread (--rescale-spread 3) asks about sizes in [AMPLITUDE / 3, AMPLITUDE * 3]
    wide = torch.stack([_rescaled(batch, torch.Generator().manual_seed(r), spread=3.0)["derivatives"]
                        [manu, :, 0].abs().amax(1) for r in range(20)])
    assert torch.all(wide > AMPLITUDE / 3 - 1e-5) and torch.all(wide < AMPLITUDE * 3 + 1e-5)
    assert wide.min() < AMPLITUDE / 1.25 and wide.max() > AMPLITUDE * 1.25
