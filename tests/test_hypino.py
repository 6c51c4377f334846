"""The HyPINO-style hypernetwork: target PINN, rasters of samples, losses, training
(single process and torchrun), checkpoints."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from manufactured import mixed_kind, random_problem
from pino._checkpoint import read_meta
from pino._encoding import CHANNELS, encode
from pino._hypino import (HyperNetwork, TargetPINN, _derivatives, fem_label, heldout_errors,
                          hypino_batch, hypino_loss, load_hypino, rasterise_sample, read_fem_labels,
                          scale_rasters, train_hypino, training_samples, write_fem_labels)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"resolution": 32, "channels": [8, 8, 8, 8], "groups": 4, "embed": 16, "latent": 16,
        "queries": 2, "heads": 2, "target": {"frequencies": 2, "width": 8, "depth": 2, "basis": 16,
                                                "ridge": 0}}


def _random_weights(target, B, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: 0.7 * torch.randn((B,) + s, generator=g, dtype=dtype) for k, s in target.shapes.items()}


def test_functional_forward_equals_module_forward():
    target = TargetPINN(frequencies=3, width=8, depth=3, basis=16).double()
    w = _random_weights(target, 3)
    P = torch.rand(3, 50, 2, dtype=torch.float64) * 2 - 1
    u, phi = target(P, w), target.features(P, w)
    assert u.shape == (3, 50) and phi.shape == (3, 50, 16)
    for i in range(3):
        net = target.module(w, i)
        assert torch.allclose(net(P[i]), u[i], rtol=0, atol=1e-12)
        assert torch.allclose(net.body(P[i]), phi[i], rtol=0, atol=1e-12)
        # the module's layers hold exactly the weights it was given
        assert all(torch.equal(net.weights()[k], w[k][i]) for k in w)
    # networks differ: each sample is evaluated with its own weights
    assert not torch.allclose(u[0], u[1])
    with pytest.raises(ValueError, match="basis.weight"):
        target(P, {**w, "basis.weight": w["basis.weight"][:, :, :3]})


def test_ridge_features_widen_the_basis_and_start_with_zero_weight():
    target = TargetPINN(frequencies=3, width=8, depth=2, basis=16, ridge=40, ridge_scale=2.0,
                        ridge_seed=5).double()
    w = _random_weights(target, 2)
    P = torch.rand(2, 30, 2, dtype=torch.float64) * 2 - 1
    net = target.module(w, 1)
    phi = net.body(P[1])
    assert phi.shape == (30, 56) and net.out.weight.shape == (1, 56)
    # the generated network is unchanged: the ridge features enter with zero weight
    assert torch.allclose(net(P[1]), target(P, w)[1], rtol=0, atol=1e-12)
    assert torch.equal(net.out.weight[0, 16:], torch.zeros(40, dtype=torch.float64))
    # ridge features are tanh(W X + b) with W, b ~ N(0, 2^2) from the seed, the same in
    # every network; draw_ridge(seed) gives another set
    W, b = net.body.ridge.weight.detach().clone(), net.body.ridge.bias.detach().clone()
    assert torch.allclose(phi[:, 16:], torch.tanh(P[1] @ W.T + b), rtol=0, atol=1e-12)
    assert torch.equal(W, target.module(w, 0).body.ridge.weight)
    assert 1.5 < float(torch.cat([W.ravel(), b]).std()) < 2.5
    # frozen networks skip zero-weight ridge features: the same values, fast
    net.requires_grad_(False)
    assert torch.allclose(net(P[1]), target(P, w)[1], rtol=0, atol=1e-12)
    with torch.no_grad():
        net.out.weight[0, 20] = 0.5
    assert torch.allclose(net(P[1]), target(P, w)[1] + 0.5 * phi[:, 20], rtol=0, atol=1e-12)
    net.body.draw_ridge(6)
    assert not torch.allclose(net.body.ridge.weight, W)
    with torch.no_grad():
        net.out.weight[0, 20] = 0.0
    assert all(torch.equal(net.weights()[k], w[k][1]) for k in w)


def test_derivatives_match_finite_differences_and_gradcheck():
    torch.manual_seed(0)
    target = TargetPINN(frequencies=1, width=3, depth=2, basis=4).double()
    w = _random_weights(target, 2, seed=1)
    P = torch.rand(2, 5, 2, dtype=torch.float64) * 2 - 1
    D = _derivatives(target, w, P.clone())
    h = 1e-4

    def u(Q):
        return target(Q, w)

    ex, ey = torch.tensor([h, 0.0], dtype=torch.float64), torch.tensor([0.0, h], dtype=torch.float64)
    fd = torch.stack([u(P), (u(P + ex) - u(P - ex)) / (2 * h), (u(P + ey) - u(P - ey)) / (2 * h),
                      (u(P + ex) - 2 * u(P) + u(P - ex)) / h**2, (u(P + ey) - 2 * u(P) + u(P - ey)) / h**2,
                      (u(P + ex + ey) - u(P + ex - ey) - u(P - ex + ey) + u(P - ex - ey)) / (4 * h**2)], -1)
    assert torch.allclose(D, fd, atol=1e-6, rtol=1e-5)

    names = list(target.shapes)
    coef = torch.tensor([[0.3, -0.5, 0.2, -1.0, -1.5, 0.4]] * 2, dtype=torch.float64)

    def residual(P, *ws):
        D = _derivatives(target, dict(zip(names, ws)), P)
        return (D * coef[:, None]).sum(-1)

    inputs = (P.clone().requires_grad_(True),) + tuple(w[k].clone().requires_grad_(True) for k in names)
    assert torch.autograd.gradcheck(residual, inputs, eps=1e-6, atol=1e-5)


def test_loss_of_a_constant_network_is_the_hand_computed_one():
    b = hypino_batch([(0, 0), (3, 1)], ["elliptic", "physics"], resolution=32, n_interior=40, n_boundary=60)
    target = TargetPINN(**TINY["target"])
    w = {k: torch.zeros((2,) + s) for k, s in target.shapes.items()}
    w["out.bias"][:] = 0.7   # u = 0.7 everywhere, every derivative zero
    total, parts = hypino_loss(target, w, b)
    total, parts = total.detach(), {k: v.detach().numpy() for k, v in parts.items()}

    def huber(x):
        a = np.abs(x)
        return np.where(a < 1, 0.5 * x**2, a - 0.5)

    c, f, D = b["coefficients"].numpy(), b["f"].numpy(), b["derivatives"].numpy()
    k, g, alpha = b["kind"].numpy(), b["g"].numpy(), b["alpha"].numpy()
    for i in range(2):
        assert np.isclose(parts["residual"][i], huber(c[i, 0] * 0.7 - f[i]).mean(), rtol=1e-5)
        sup = b["manufactured"][i].item()
        assert sup == (i == 0)
        assert np.isclose(parts["u"][i], sup * huber(0.7 - D[i, :, 0]).mean(), rtol=1e-5)
        assert np.isclose(parts["derivatives"][i], sup * huber(-D[i, :, 1:]).mean(), rtol=1e-5)
        pred = np.where(k[i] == 0, 0.7, np.where(k[i] == 1, 0.0, alpha[i] * 0.7))
        for code, name in enumerate(("dirichlet", "neumann", "robin")):
            m = k[i] == code
            want = huber(pred[m] - g[i, m]).mean() if m.any() else 0.0
            assert np.isclose(parts[name][i], want, rtol=1e-5, atol=1e-7)
    weights = {"residual": 0.25, "derivatives": 0.25, "u": 1, "dirichlet": 10, "neumann": 1, "robin": 1}
    assert np.allclose(total.numpy(), sum(weights[n] * parts[n] for n in weights))


@pytest.mark.parametrize("seed", [(0, 1), (0, 6)])
def test_fem_label_is_the_exact_solution_of_a_manufactured_sample(seed):
    """The FEM labels of physics-only samples, checked where the answer is known: the same
    solve on manufactured samples (holes, mixed conditions) recovers the exact u."""
    s = random_problem(seed, "elliptic", n_interior=200, n_boundary=50)
    assert s.holes
    u = fem_label(s)
    exact = s.derivatives[:, 0]
    assert np.isfinite(u).mean() > 0.97
    ok = np.isfinite(u)
    assert np.linalg.norm(u[ok] - exact[ok]) / np.linalg.norm(exact[ok]) < 5e-3


def test_fem_labels_supervise_u_of_physics_samples_only_where_known():
    seeds, kinds = [(4, 6), (0, 0)], ["physics", "elliptic"]   # (4, 6): max |u| = 0.52
    plain = hypino_batch(seeds, kinds, resolution=32, n_interior=60, n_boundary=40)
    b = hypino_batch(seeds, kinds, resolution=32, n_interior=60, n_boundary=40, fem_labels=True)
    assert plain["labelled"][0].sum() == 0 and plain["labelled"][1].all()
    lab = b["labelled"].numpy()
    assert lab[0].mean() > 0.95 and lab[1].all() and b["manufactured"].tolist() == [0.0, 1.0]
    for k in ("interior", "coefficients"):
        assert torch.equal(b[k], plain[k])
    assert torch.equal(b["f"][1], plain["f"][1]) and torch.equal(b["rasters"][1], plain["rasters"][1])
    # the labelled physics sample is the same linear problem scaled so max |u| is in [0.75, 3]
    u = fem_label(random_problem((4, 6), "physics", n_interior=60, n_boundary=40))
    k = float((b["g"][0] @ plain["g"][0]) / (plain["g"][0] @ plain["g"][0]))
    assert abs(k - 0.75 / np.nanmax(np.abs(u))) < 1e-5 and k > 1.4
    assert np.allclose(b["g"][0], k * plain["g"][0], rtol=1e-6) and np.allclose(b["f"][0], k * plain["f"][0], rtol=1e-6)
    assert np.allclose(b["derivatives"][0, :, 0].numpy(), np.where(lab[0] > 0, k * u, 0.0), rtol=1e-6)
    assert 0.75 - 1e-6 <= np.nanmax(np.abs(k * u)) <= 3 + 1e-6
    assert np.allclose(b["rasters"][:1].float(), scale_rasters(plain["rasters"][:1].float(), k), atol=2e-3, rtol=2e-3)
    target = TargetPINN(**TINY["target"])
    w = {k: torch.zeros((2,) + s) for k, s in target.shapes.items()}
    w["out.bias"][:] = 0.7
    _, parts = hypino_loss(target, w, b)
    err = np.abs(0.7 - b["derivatives"][..., 0].numpy())
    huber = np.where(err < 1, 0.5 * err**2, err - 0.5)
    assert np.allclose(parts["u"].detach().numpy(), (huber * lab).mean(1), rtol=1e-5)
    assert parts["derivatives"][0] == 0 and parts["u"][0] > 0


def test_heldout_physics_errors_are_against_fem_solutions():
    model = load_hypino("hypino", device="cpu")
    errors = heldout_errors(model, n=2, seed=0, physics=True)
    for i, e in enumerate(errors):
        s = random_problem((1_000_003, 1_000_000 + i), "physics", n_interior=1024, n_boundary=16)
        u = fem_label(s)
        ok = np.isfinite(u)
        pred = model.predict(s, s.interior)[0]
        want = np.linalg.norm(pred[ok] - u[ok]) / np.linalg.norm(u[ok])
        # the held-out batch holds float16 rasters, predict rasterises in float32: ~1e-3 apart
        assert np.isclose(e, want, rtol=5e-3), (e, want)


def test_tiny_model_loss_falls():
    torch.manual_seed(0)
    net = HyperNetwork(TINY)
    b = hypino_batch([(5, i) for i in range(4)], "mixed", 32, 64, 32)
    b["rasters"] = b["rasters"].float()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        total, _ = hypino_loss(net.target, net(b["rasters"], b["coefficients"]), b)
        loss = total.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_shipped_model_loads_without_pickle_and_reaches_its_record(monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("the shipped model must load without pickle")

    for mod, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(mod, name, refuse)
    model = load_hypino("hypino", device="cpu")
    folder = os.path.join(ROOT, "pino", "models", "hypino")
    assert sorted(os.listdir(folder)) == ["meta.json", "model.safetensors", "training_log.txt"]
    assert os.path.getsize(os.path.join(folder, "model.safetensors")) < 30 * 2**20
    record = model.meta["trained"]
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        errors = heldout_errors(model, n=4)
    finally:
        torch.set_num_threads(old)
    assert np.allclose(errors, record["heldout_rel_l2"][:4], rtol=1e-3, atol=1e-5), errors
    assert record["command"].startswith("pino train hypino")
    assert model.amplitude == model.meta["amplitude"] > 0      # chosen by bench/hypino_normalise.py


def test_default_model_size_and_initial_weights():
    net = HyperNetwork()
    assert 1e6 < net.n_parameters() < 5e6
    assert net.target.n_params > 8000 and net.target.config["ridge"] == 1024
    # the generated network starts near the learned default initialisation
    b = hypino_batch([(1, 0), (1, 1)], "mixed", 64, 8, 8)
    with torch.no_grad():
        w = net(b["rasters"].float(), b["coefficients"])
    for name in ("input.weight", "basis.weight"):
        base = net.base[name.replace(".", "__")]
        delta = (w[name] - base.detach()).norm() / base.detach().norm()
        assert 0.01 < float(delta) < 0.5


@pytest.mark.parametrize("seed,kind,options", [(3, "physics", {}), (2, "wave", {}), (0, "elliptic", {}),
                                               (4, "physics", {"bumps": 1.0})])
def test_sample_rasters_match_encode_of_its_problem(seed, kind, options):
    s = random_problem(seed, kind=kind, **options)
    assert (s.bumps is not None) == bool(options)
    enc = encode(s.problem(), resolution=32, n_interior=8, n_boundary=8)
    r = rasterise_sample(s, 32)
    assert np.allclose(r.coefficients, enc.coefficients, atol=1e-12)
    assert np.isclose(abs(r.scale), enc.scale)
    a, b = r.channels(), enc.channels()
    assert a.shape == b.shape == (len(CHANNELS), 32, 32)
    for i, name in enumerate(CHANNELS):
        if name == "source":
            assert np.allclose(a[i], b[i], atol=1e-5)
        elif name.endswith("mask") or name == "domain":
            assert np.abs(a[i] - b[i]).sum() <= 3, name
        else:   # nearest boundary sample differs only where two conditions meet
            both = (b[i] != 0) & (a[i] != 0)
            close = np.abs(a[i] - b[i]) <= 0.05 * max(1.0, np.abs(b[i]).max())
            assert np.sum(both & ~close) <= 3, name
    assert a[CHANNELS.index("dirichlet_mask")].sum() > 0


def _state(folder):
    return load_file(os.path.join(folder, "model.safetensors"))


def test_checkpoint_round_trip_and_resume(tmp_path):
    torch.set_num_threads(1)
    opts = dict(n_samples=6, epochs=2, batch=3, lr=1e-3, seed=4, workers=1, device="cpu",
                model_config=TINY, n_val=4, points=(32, 16), pool=(64, 32), log=lambda s: None)
    full = str(tmp_path / "full")
    model, hist = train_hypino(full, **opts)
    assert len(hist) == 2 and 0 <= hist[-1]["val_rel_l2"] < 100
    assert all(np.isfinite(h["loss"]) for h in hist)
    loaded = load_hypino(full, device="cpu")
    s = random_problem(11, kind="elliptic")
    P = np.random.default_rng(0).uniform(-1, 1, (20, 2))
    assert np.array_equal(loaded.predict(s, P), model.predict(s, P))
    assert loaded.predict([s, s], P).shape == (2, 20)
    net = loaded.generate(s).module(0)
    assert np.allclose(net(torch.as_tensor(P, dtype=torch.float32)).detach().numpy(),
                       loaded.predict(s, P)[0], atol=1e-6)
    # an Encoding of the same problem gives (nearly) the same network as the Sample
    phys = random_problem(3, kind="physics")
    enc = encode(phys.problem(), resolution=32, n_interior=8, n_boundary=8)
    a, b = loaded.predict(enc, P), loaded.predict(phys, P)
    assert np.abs(a - b).max() <= 0.05 * np.abs(b).max()
    with pytest.raises(ValueError, match="resolution=32"):
        loaded.generate(encode(phys.problem(), resolution=16, n_interior=8, n_boundary=8))
    # an interrupted run resumes to the same weights
    part = str(tmp_path / "part")
    train_hypino(part, **opts, stop_after=1)
    assert read_meta(part)["epoch"] == 1
    train_hypino(part, **opts)
    a, b = _state(full), _state(part)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    with pytest.raises(ValueError, match="another configuration"):
        train_hypino(part, **{**opts, "lr": 2e-3})
    with pytest.raises(ValueError, match="no hypernetwork"):
        load_hypino(str(tmp_path / "nothing"))
    # the normalisation target: AMPLITUDE unless meta.json names another (bench/ship_hypino.py)
    from pino._hypino import AMPLITUDE
    assert loaded.amplitude == AMPLITUDE
    meta_file = os.path.join(full, "meta.json")
    with open(meta_file) as fh:
        meta = json.load(fh)
    for value, ok in ((0.9, True), (-1.0, False), ("big", False)):
        with open(meta_file, "w") as fh:
            json.dump({**meta, "amplitude": value}, fh)
        if ok:
            assert load_hypino(full, device="cpu").amplitude == value
        else:
            with pytest.raises(ValueError, match="amplitude must be a positive number"):
                load_hypino(full, device="cpu")
    with open(meta_file, "w") as fh:
        json.dump(meta, fh)
    # a warm start takes the trained weights (and architecture) and goes on from there
    more = str(tmp_path / "more")
    zero = {**opts, "epochs": 1, "lr": 1e-12}
    lines = []
    warm, _ = train_hypino(more, **{k: v for k, v in zero.items() if k not in ("model_config", "log")},
                           init=full, fem_labels=True, log=lines.append)
    assert warm.config == loaded.config and read_meta(more)["config"]["init"] == full
    assert read_meta(more)["config"]["fem_labels"] is True and "fem_labels" not in read_meta(full)["config"]
    labelled = [ln for ln in lines if ln.startswith("fem labels:")]
    assert len(labelled) == 1 and not labelled[0].startswith("fem labels: 0 of"), lines
    assert np.allclose(warm.predict(s, P), loaded.predict(s, P), atol=1e-5)
    with pytest.raises(ValueError, match="another architecture"):
        train_hypino(str(tmp_path / "bad"), **{**zero, "model_config": {**TINY, "latent": 8}}, init=full)


def test_fem_labels_from_a_file_and_samples_made_beforehand_give_the_same_run(tmp_path):
    """Labels written on one machine (with gmsh) and samples made in another process train
    the model that solving and generating in place trains."""
    path = str(tmp_path / "labels.npz")
    n = write_fem_labels(path, seed=2, n_samples=6, n_interior=40, n_boundary=20)
    assert n == sum(mixed_kind((2, i)) == "physics" for i in range(6)) > 0
    solved = training_samples(2, 6, 32, (40, 20), fem_labels=True)
    read = training_samples(2, 6, 32, (40, 20), fem_labels=path)
    assert read["labelled"].sum() > 6 * 40 - n * 40 + 30      # the physics samples are labelled
    for k in solved:
        assert torch.allclose(solved[k].float(), read[k].float(), rtol=1e-5, atol=1e-6), k
    with pytest.raises(ValueError, match=r"not \[2, 7, 40, 20\]"):
        training_samples(2, 7, 32, (40, 20), fem_labels=path)
    with pytest.raises(ValueError, match="no FEM label file"):
        read_fem_labels(str(tmp_path / "none.npz"), 2, 6)
    opts = dict(n_samples=6, epochs=1, batch=3, lr=1e-3, seed=2, workers=1, model_config=TINY,
                n_val=0, points=(16, 8), pool=(40, 20), fem_labels=True, log=lambda *a: None)
    a, _ = train_hypino(str(tmp_path / "a"), **opts)
    b, _ = train_hypino(str(tmp_path / "b"), **opts, samples=read)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.allclose(sa[k], sb[k], atol=1e-5) for k in sa)
    assert read_meta(str(tmp_path / "b"))["config"] == read_meta(str(tmp_path / "a"))["config"]
    with pytest.raises(ValueError, match="samples hold"):
        train_hypino(str(tmp_path / "c"), **{**opts, "n_samples": 5}, samples=read)


def test_write_fem_labels_keeps_what_an_interrupted_call_solved(tmp_path, monkeypatch):
    import pino._hypino as H

    class Interrupted(Exception):   # what a Ctrl-C or a killed worker does to the call
        pass

    real, calls, done = H._label_job, [], []

    def flaky(seed, **kw):
        calls.append(seed)
        if len(calls) == 3 and not done:
            raise Interrupted
        return real(seed, **kw)

    path, opts = str(tmp_path / "l.npz"), dict(seed=2, n_samples=8, n_interior=40, n_boundary=20)
    monkeypatch.setattr(H, "_label_job", flaky)
    with pytest.raises(Interrupted):
        write_fem_labels(path, **opts, chunk=1)
    done.append(True)
    assert not os.path.exists(path) and len(os.listdir(path + ".part")) == 2
    calls.clear()
    n = write_fem_labels(path, **opts, chunk=1)
    assert len(calls) == n - 2 and not os.path.exists(path + ".part")   # only the missing ones
    monkeypatch.undo()
    once = str(tmp_path / "once.npz")
    assert write_fem_labels(once, **opts, chunk=5) == n
    a, b = read_fem_labels(path, 2, 8, 40, 20), read_fem_labels(once, 2, 8, 40, 20)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)
    with pytest.raises(ValueError, match="chunk"):
        write_fem_labels(path, **opts, chunk=0)


def test_sample_cache_resumes_an_interrupted_generation_and_is_reused(tmp_path, monkeypatch, capsys):
    """Samples kept in a cache folder as they are made: the same tensors as made in place,
    an interrupted generation keeps its finished pieces, damaged pieces and another run's
    are made again, and `pino train hypino --sample-cache` trains on them."""
    import pino._hypino as H
    from pino.cli import main

    monkeypatch.setattr(H, "CACHE_CHUNK", 2)
    cache, real, calls = str(tmp_path / "cache"), H.hypino_batch, []

    def interrupted(seeds, **kw):
        calls.append(seeds)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(seeds, **kw)

    monkeypatch.setattr(H, "hypino_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        training_samples(2, 7, 32, (40, 20), fem_labels=True, cache=cache)
    assert len([f for f in os.listdir(cache) if f.endswith(".safetensors")]) == 2
    calls.clear()
    lines = []
    cached = training_samples(2, 7, 32, (40, 20), fem_labels=True, cache=cache, log=lines.append)
    assert calls == [[(2, 4), (2, 5)], [(2, 6)]]
    assert lines == ["samples: 6 of 7", "samples: 7 of 7", f"samples: 4 of 7 read from {cache}"]
    monkeypatch.setattr(H, "hypino_batch", real)
    made = training_samples(2, 7, 32, (40, 20), fem_labels=True)
    assert made.keys() == cached.keys() and all(torch.equal(made[k], cached[k]) for k in made)
    pieces = sorted(f for f in os.listdir(cache) if f.endswith(".safetensors"))
    with open(os.path.join(cache, pieces[0]), "wb") as fh:
        fh.write(b"damaged")
    monkeypatch.setattr(H, "hypino_batch", interrupted)
    calls.clear()
    again = training_samples(2, 6, 32, (40, 20), fem_labels=True, cache=cache)     # fewer samples
    assert calls == [[(2, 0), (2, 1)]] and all(torch.equal(made[k][:6], again[k]) for k in made)
    calls.clear()
    other = training_samples(2, 2, 32, (40, 20), fem_labels=False, cache=cache)    # another run
    assert calls == [[(2, 0), (2, 1)]] and other["labelled"].sum() < made["labelled"][:2].sum()
    monkeypatch.undo()
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    out = tmp_path / "run"
    assert main(["train", "hypino", "--out", str(out), "--samples", "4", "--epochs", "1",
                 "--batch", "2", "--seed", "2", "--workers", "1", "--val", "0", "--config", str(cfg),
                 "--sample-cache", str(tmp_path / "cli"), "--loss-weights", '{"u": 5}']) == 0
    assert "samples: 4 of 4" in capsys.readouterr().out
    assert len(os.listdir(tmp_path / "cli")) == 1          # one piece of 500
    assert read_meta(str(out))["config"]["loss_weights"]["u"] == 5


@pytest.mark.parametrize("given, message", [('{"v": 1}', "loss_weights must map loss parts"),
                                            ('{"u": -1}', "loss_weights must map loss parts"),
                                            ('[5]', "loss_weights must map loss parts"),
                                            ('{"u": ', "--loss-weights {\"u\": : not a JSON")])
def test_bad_loss_weights_get_a_one_line_error(tmp_path, capsys, given, message):
    from pino.cli import main

    assert main(["train", "hypino", "--out", str(tmp_path / "o"), "--samples", "2",
                 "--loss-weights", given]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH")
def test_torchrun_two_processes_match_one(tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    args = ["train", "hypino", "--samples", "4", "--epochs", "1", "--batch", "2", "--lr", "1e-3",
            "--val", "2", "--workers", "1", "--device", "cpu", "--seed", "2", "--config", str(cfg)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    two = tmp_path / "two"
    r = subprocess.run(["torchrun", "--standalone", "--nproc_per_node=2", "-m", "pino.cli", *args,
                        "--out", str(two)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("checkpoint in") == 1       # only rank 0 reports
    one = tmp_path / "one"
    r1 = subprocess.run([sys.executable, "-m", "pino.cli", *args, "--out", str(one)], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=300)
    assert r1.returncode == 0, r1.stderr[-3000:]
    a, b = _state(str(one)), _state(str(two))
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    # averaged gradients over the two halves of each batch = the full-batch gradient, so
    # the weights agree; Adam's first steps (about lr * sign(g)) may differ only where a
    # gradient is at rounding level
    diff = torch.cat([(a[k] - b[k]).abs().ravel() for k in a])
    assert float(diff.max()) <= 2e-3
    assert int((diff > 1e-6).sum()) <= 1e-3 * len(diff)
    ma, mb = read_meta(str(one)), read_meta(str(two))
    assert ma["epoch"] == mb["epoch"] == 1
    assert np.isclose(ma["history"][0]["loss"], mb["history"][0]["loss"], rtol=1e-5)
    assert np.isclose(ma["history"][0]["val_rel_l2"], mb["history"][0]["val_rel_l2"], rtol=1e-4)


def test_closed_form_feature_jets_match_autodiff_and_gradcheck():
    """The closed-form derivatives of the generated features (used by the projected
    fine-tuning) equal forward-mode autodiff and are differentiable in the weights."""
    from pino._hypino import PINNModule
    from pino._lstsq import feature_derivatives

    torch.manual_seed(0)
    net = PINNModule(frequencies=2, width=5, depth=3, basis=6, ridge=3).double()
    for p in net.parameters():
        p.data.normal_(0, 0.7)
    P = torch.rand(9, 2, dtype=torch.float64) * 2 - 1

    class Gated(torch.nn.Module):
        def __init__(self, body):
            super().__init__()
            self.body = body

        def forward(self, X):
            return self.body.gated(X)

    for order in (0, 1, 2):
        for a, b in zip(feature_derivatives(Gated(net.body), P, order=order), net.body.gated_derivatives(P, order)):
            assert torch.allclose(a, b, atol=1e-13, rtol=1e-12)
    class Operator(torch.nn.Module):
        def __init__(self, body):
            super().__init__()
            self.body = body

        def forward(self, X):
            _, ux, _, uxx, uyy, uxy = self.body.gated_jet(X)
            return uxx + uyy + 0.3 * uxy - 0.7 * ux

    op = Operator(net.body)
    h = 1e-4
    ex, ey = torch.tensor([h, 0.0], dtype=torch.float64), torch.tensor([0.0, h], dtype=torch.float64)
    g = Gated(net.body)
    fd = ((g(P + ex) - 2 * g(P) + g(P - ex)) / h**2 + (g(P + ey) - 2 * g(P) + g(P - ey)) / h**2
          + 0.3 * (g(P + ex + ey) - g(P + ex - ey) - g(P - ex + ey) + g(P - ex - ey)) / (4 * h**2)
          - 0.7 * (g(P + ex) - g(P - ex)) / (2 * h))
    assert torch.allclose(op(P), fd, rtol=1e-4, atol=1e-3)

    def in_weights(Wh):
        return torch.func.functional_call(op, {"body.hidden.1.weight": Wh}, (P,))

    W = net.body.hidden[1].weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(in_weights, (W,), eps=1e-6, atol=1e-6)


def test_generate_normalised_is_the_scaled_problem_divided_back():
    from pino._hypino import AMPLITUDE, scale_rasters

    torch.manual_seed(0)
    model = HyperNetwork(TINY).eval()
    b = hypino_batch([(5, 0), (5, 1)], "elliptic", 32, 64, 32)
    R, C = b["rasters"].float(), b["coefficients"]
    P = torch.cat([b["interior"], b["boundary"]], 1)
    with torch.no_grad():
        w0, k0 = model.generate_normalised(R, C, P, passes=0)
        plain = model(R, C)
        assert torch.equal(k0, torch.ones(2)) and all(torch.equal(w0[n], plain[n]) for n in plain)
        w1, k1 = model.generate_normalised(R, C, P, passes=1)
        size = model.target(P, plain).abs().amax(1)
        assert torch.allclose(k1, AMPLITUDE / size)
        again = model(scale_rasters(R, k1), C)
        U1, U = model.target(P, w1), model.target(P, again) / k1[:, None]
        assert torch.allclose(U1, U, rtol=1e-5, atol=1e-6)
        # the aim is the model's amplitude (meta.json's, see load_hypino) or the argument's
        assert model.amplitude == AMPLITUDE
        model.amplitude = 0.7
        _, k2 = model.generate_normalised(R, C, P, passes=1)
        assert torch.allclose(k2, 0.7 / size)
        _, k3 = model.generate_normalised(R, C, P, passes=1, amplitude=2.0)
        assert torch.allclose(k3, 2.0 / size)
        model.amplitude = AMPLITUDE
        for bad in (0.0, float("inf"), "1.5"):
            with pytest.raises(ValueError, match="generate_normalised: amplitude must be a positive number"):
                model.generate_normalised(R, C, P, passes=1, amplitude=bad)
            with pytest.raises(ValueError, match="HyperNetwork.amplitude: amplitude must be a positive"):
                model.amplitude = bad
        assert model.amplitude == AMPLITUDE
    e0 = heldout_errors(model, n=2, seed=3)
    e1 = heldout_errors(model, n=2, seed=3, normalise=1)
    assert e0.shape == e1.shape == (2,) and np.all(np.isfinite(e1)) and not np.allclose(e0, e1)


def test_training_on_a_wider_domain_family(tmp_path, capsys):
    """``family``: steady samples on domains with up to 4 holes and notches (L-shapes,
    slots); the rasters show the cut, FEM label files record the family, the config says
    so only when it is not HyPINO's, and the CLI options reach it."""
    from pino._hypino import _grid, domain_family
    from pino.cli import main
    assert domain_family(None) == domain_family({"max_holes": 3, "notch": 0.0}) == {}
    assert domain_family({"notch": 0.25, "max_holes": 4}) == {"max_holes": 4, "notch": 0.25}
    assert domain_family({"zero_source": 0.0}) == {} and domain_family({"zero_source": 0.3}) == {"zero_source": 0.3}
    assert domain_family({"heat": 0.05}) == {} and domain_family({"heat": 0.2}) == {"heat": 0.2}
    assert domain_family({"decay": 0.0}) == {} and domain_family({"decay": 0.5}) == {"decay": 0.5}
    assert domain_family({"bumps": 0.0}) == {} and domain_family({"bumps": 0.5}) == {"bumps": 0.5}
    assert domain_family({"plain": 0.0}) == {} and domain_family({"plain": 0.5}) == {"plain": 0.5}
    assert domain_family({"reaction": 0.0}) == {}
    assert domain_family({"plain": 0.5, "reaction": 0.5}) == {"plain": 0.5, "reaction": 0.5}
    for bad in ({"holes": 4}, {"notch": 2.0}, {"max_holes": -1}, [4], {"zero_source": 2}, {"heat": 1},
                {"decay": 2}, {"bumps": -0.5}, {"plain": 1.5}, {"reaction": -1},
                {"reaction": 0.5}):
        with pytest.raises(ValueError, match="notch|max_holes|zero_source|heat|decay|bumps|plain|reaction|domain family"):
            domain_family(bad)
    fam = {"max_holes": 4, "notch": 1.0}
    seeds = [(3, i) for i in range(6)]
    b = hypino_batch(seeds, "physics", resolution=32, n_interior=60, n_boundary=40, family=fam)
    grid = _grid(32)
    for k, s in enumerate(seeds):
        smp = random_problem(s, "physics", n_interior=60, n_boundary=40, **fam)
        x0, y0, x1, y1 = [h for h in smp.holes if h[2] == "notch"][0][1]
        cut = (grid[:, 0] > x0) & (grid[:, 0] < x1) & (grid[:, 1] > y0) & (grid[:, 1] < y1)
        dom = b["rasters"][k, CHANNELS.index("domain")].float().numpy().ravel()
        assert cut.any() and np.all(dom[cut] == 0) and dom[~cut].mean() > 0.5
        assert torch.equal(b["boundary"][k], torch.as_tensor(smp.boundary, dtype=torch.float32))
    path = str(tmp_path / "labels.npz")
    n = write_fem_labels(path, seed=2, n_samples=6, n_interior=40, n_boundary=20, family=fam)
    got = read_fem_labels(path, 2, 6, 40, 20, family=fam)
    assert len(got) == n and sum(v is not None for v in got.values()) >= n - 1
    with pytest.raises(ValueError, match=r"not \[2, 6, 40, 20\]"):
        read_fem_labels(path, 2, 6, 40, 20)
    hot = {"heat": 0.5}                          # labels of the physics samples of this mix
    n_hot = write_fem_labels(str(tmp_path / "hot.npz"), seed=2, n_samples=6, n_interior=40, n_boundary=20,
                             family=hot)
    assert n_hot == sum(mixed_kind((2, i), 0.5) == "physics" for i in range(6))
    with pytest.raises(ValueError, match="not"):
        read_fem_labels(str(tmp_path / "hot.npz"), 2, 6, 40, 20)
    with pytest.raises(ValueError, match="not"):                   # another option, same value
        read_fem_labels(str(tmp_path / "hot.npz"), 2, 6, 40, 20, family={"zero_source": 0.5})
    with pytest.raises(ValueError, match="not"):
        read_fem_labels(str(tmp_path / "hot.npz"), 2, 6, 40, 20, family={"bumps": 0.5})
    with pytest.raises(ValueError, match="not"):
        read_fem_labels(str(tmp_path / "hot.npz"), 2, 6, 40, 20, family={"plain": 0.5})
    write_fem_labels(str(tmp_path / "plain.npz"), seed=2, n_samples=3, n_interior=40, n_boundary=20,
                     family={"plain": 0.5})
    with pytest.raises(ValueError, match="not"):                   # reaction is part of the run
        read_fem_labels(str(tmp_path / "plain.npz"), 2, 3, 40, 20, family={"plain": 0.5, "reaction": 0.5})
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    out = tmp_path / "run"
    assert main(["train", "hypino", "--samples", "4", "--epochs", "1", "--batch", "2", "--val", "0",
                 "--workers", "1", "--device", "cpu", "--config", str(cfg), "--out", str(out),
                 "--max-holes", "4", "--notch", "0.5", "--zero-source", "0.25", "--heat", "0.3",
                 "--decay", "0.5", "--bumps", "0.5", "--plain", "0.5", "--reaction", "0.5"]) == 0
    assert read_meta(str(out))["config"]["family"] == {"max_holes": 4, "notch": 0.5, "zero_source": 0.25,
                                                       "heat": 0.3, "decay": 0.5, "bumps": 0.5,
                                                       "plain": 0.5, "reaction": 0.5}
    assert main(["train", "hypino", "--samples", "4", "--epochs", "1", "--batch", "2", "--val", "0",
                 "--workers", "1", "--device", "cpu", "--config", str(cfg), "--out", str(tmp_path / "x"),
                 "--notch", "3"]) != 0
    assert "notch" in capsys.readouterr().err


def test_extra_samples_train_on_the_union_of_runs(tmp_path, capsys):
    """``extra_samples``: another run's samples (its seed and family) appended to the run's
    own: the same model as training on the joined samples made beforehand, both runs kept
    in one cache folder, recorded in the config; bad entries get a one-line error."""
    from pino._hypino import _joined, extra_runs
    from pino.cli import main

    extra = [{"seed": 3, "samples": 2, "family": {"heat": 0.5, "decay": 1.0}}]
    assert extra_runs(extra) == extra and extra_runs(None) == []
    assert extra_runs([{"seed": 3, "samples": 2}]) == [{"seed": 3, "samples": 2, "family": {}}]
    for bad in ([{"seed": 3}], [{"seed": 3, "samples": 0}], [{"seed": True, "samples": 2}],
                [{"seed": 3, "samples": 2, "holes": 4}], [5]):
        with pytest.raises(ValueError, match="extra_samples: each entry"):
            extra_runs(bad)
    with pytest.raises(ValueError, match="heat"):
        extra_runs([{"seed": 3, "samples": 2, "family": {"heat": 2}}])
    cache = str(tmp_path / "cache")
    opts = dict(n_samples=4, epochs=1, batch=3, lr=1e-3, seed=2, workers=1, model_config=TINY,
                n_val=0, points=(16, 8), pool=(40, 20), fem_labels=True, log=lambda *a: None)
    a, _ = train_hypino(str(tmp_path / "a"), **opts, extra_samples=extra, sample_cache=cache)
    assert len(os.listdir(cache)) == 2                    # a piece of each run
    joined = _joined([training_samples(2, 4, 32, (40, 20), fem_labels=True),
                      training_samples(3, 2, 32, (40, 20), fem_labels=True, family=extra[0]["family"])])
    assert len(joined["coefficients"]) == 6
    b, _ = train_hypino(str(tmp_path / "b"), **opts, extra_samples=extra, samples=joined)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.allclose(sa[k], sb[k], atol=1e-5) for k in sa)
    meta = read_meta(str(tmp_path / "a"))
    assert meta["config"]["extra_samples"] == extra and meta["config"]["n_samples"] == 4
    assert read_meta(str(tmp_path / "b"))["config"] == meta["config"]
    with pytest.raises(ValueError, match="samples hold"):
        train_hypino(str(tmp_path / "c"), **opts, samples=joined)
    with pytest.raises(ValueError, match="labels of the run's own seed"):
        train_hypino(str(tmp_path / "d"), **{**opts, "fem_labels": str(tmp_path / "l.npz")},
                     extra_samples=extra)
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    run = ["train", "hypino", "--samples", "2", "--epochs", "1", "--batch", "2", "--val", "0",
           "--workers", "1", "--device", "cpu", "--config", str(cfg)]
    assert main(run + ["--out", str(tmp_path / "cli"), "--extra-samples", '{"seed": 3, "samples": 1}',
                       "--extra-samples", '{"seed": 4, "samples": 1, "family": {"max_holes": 4}}']) == 0
    got = read_meta(str(tmp_path / "cli"))["config"]["extra_samples"]
    assert got == [{"seed": 3, "samples": 1, "family": {}}, {"seed": 4, "samples": 1, "family": {"max_holes": 4}}]
    capsys.readouterr()
    for given in ('{"seed": 3}', '{"seed": 3, "samples": '):
        assert main(run + ["--out", str(tmp_path / "bad"), "--extra-samples", given]) != 0
        err = capsys.readouterr().err
        assert "--extra-samples" in err or "extra_samples" in err
        assert "Traceback" not in err and err.count("\n") == 1


def test_component_weights_give_each_boundary_component_the_same_total():
    from pino._hypino import component_weights
    for seed in range(8):
        s = random_problem((5, seed), "elliptic", n_interior=10, n_boundary=300, max_holes=4, notch=0.5)
        w = component_weights(s)
        comp = np.where(np.isin(s.tags, ["left", "right", "bottom", "top"]), "outer", s.tags)
        totals = [w[comp == c].sum() for c in np.unique(comp)]
        assert np.isclose(w.mean(), 1.0) and np.allclose(totals, 300 / len(totals))
    heat = random_problem(1, "heat", n_interior=10, n_boundary=30)
    assert np.all(component_weights(heat) == 1)


def test_balance_weights_the_boundary_loss_by_component(tmp_path, capsys):
    """Three points on a long component with error 0 and one on a short one with Huber
    error 0.5: by points the Dirichlet loss is 0.5 / 4, balanced it is the mean of the two
    components' means, 0.25; half way, the weighted mean in between."""
    from pino.cli import main
    X = torch.zeros(1, 2, 2)
    batch = {"interior": X, "coefficients": torch.zeros(1, 6), "f": torch.zeros(1, 2),
             "manufactured": torch.zeros(1), "derivatives": torch.zeros(1, 2, 6),
             "boundary": torch.tensor([[[0.0, 1.0], [0.0, -1.0], [0.0, 0.5], [1.0, 0.0]]]),
             "normals": torch.zeros(1, 4, 2), "kind": torch.zeros(1, 4, dtype=torch.int64),
             "alpha": torch.zeros(1, 4), "g": torch.zeros(1, 4),
             "share": torch.tensor([[2 / 3, 2 / 3, 2 / 3, 2.0]])}

    def target(Q, weights):                              # u = x (the cube keeps 2nd derivatives in the graph)
        return Q[..., 0] + 0.0 * (Q**3).sum(-1)

    got = [hypino_loss(target, {}, batch, balance=b)[1]["dirichlet"].item() for b in (0, 1, 0.5)]
    assert np.allclose(got, [0.125, 0.25, (0.5 * 1.5) / (1.5 + 2 + 0.5)])
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    args = ["train", "hypino", "--samples", "4", "--epochs", "1", "--batch", "2", "--val", "0",
            "--workers", "1", "--device", "cpu", "--config", str(cfg)]
    assert main(args + ["--out", str(tmp_path / "run"), "--balance", "0.5", "--max-holes", "4"]) == 0
    assert read_meta(str(tmp_path / "run"))["config"]["balance"] == 0.5
    capsys.readouterr()
    assert main(args + ["--out", str(tmp_path / "x"), "--balance", "2"]) != 0
    err = capsys.readouterr().err
    assert "balance must be a number in [0, 1]" in err and err.count("\n") == 1
    # --rescale-spread: recorded with --rescale, refused without it or at <= 1
    assert main(args + ["--out", str(tmp_path / "wide"), "--rescale", "--rescale-spread", "2"]) == 0
    assert read_meta(str(tmp_path / "wide"))["config"]["rescale_spread"] == 2.0
    assert "rescale_spread" not in read_meta(str(tmp_path / "run"))["config"]
    for extra, msg in ((["--rescale-spread", "2"], "needs rescale=True"),
                       (["--rescale", "--rescale-spread", "0.5"], "rescale_spread must be a number > 1")):
        capsys.readouterr()
        assert main(args + ["--out", str(tmp_path / "bad"), *extra]) != 0
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1


def test_cache_pieces_made_before_shares_are_read_and_balance_says_what_is_missing(tmp_path, monkeypatch):
    import pino._hypino as H
    from safetensors import safe_open
    from safetensors.torch import save_file
    monkeypatch.setattr(H, "CACHE_CHUNK", 2)
    cache = str(tmp_path / "cache")
    made = training_samples(2, 4, 32, (40, 20), cache=cache)
    old = os.path.join(cache, sorted(os.listdir(cache))[0])      # as an earlier version wrote it
    with safe_open(old, "pt") as fh:
        meta, piece = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys() if k != "share"}
    save_file(piece, old, metadata=meta)
    got = training_samples(2, 4, 32, (40, 20), cache=cache)
    assert "share" not in got and all(torch.equal(got[k], made[k]) for k in got)
    with pytest.raises(ValueError, match="balance needs the samples' boundary shares"):
        H.train_hypino(str(tmp_path / "run"), n_samples=4, epochs=1, batch=2, workers=1, n_val=0, seed=2,
                       model_config=TINY, pool=(40, 20), sample_cache=cache, balance=1.0)
