"""SPON: exact Dirichlet data, training lowers the loss (plain and two-level), resume,
checkpoints, solve_spon, and clear errors."""

import numpy as np
import pytest
import torch

import fem
from manufactured import x, y
from pino import holes_dataset, holes_problem, load_dataset
from pino._spon import SPON, evaluate_spon, load_spon, solve_spon, train_spon

H, REFINE = 0.2, 1
SMALL = dict(hidden=16, layers=3, epochs=4, batch=4, lr=3e-3, log=lambda s: None)


@pytest.fixture(autouse=True)
def one_thread():
    # tiny graphs: one thread is faster, and immune to oversubscription on a busy 2-core box
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("holes"))
    holes_dataset(path, n=16, h=H, refine=REFINE, grid=16, chunk=8, workers=1, progress=False)
    return load_dataset(path)


@pytest.fixture(scope="module")
def meshes():
    p = holes_problem()
    return p, p.domain.mesh(h=H, refine=REFINE), p.domain.mesh(h=H, refine=REFINE - 1)


@torch.no_grad()
def _dirichlet_gap(model, a):
    u = model(a)
    D = model.decoder.dirichlet
    return float((u[:, D] - model.decoder.values[D].to(u.dtype)).abs().max())


def test_untrained_meets_dirichlet_exactly(data, meshes):
    p, mesh, coarse = meshes
    for cm in (None, coarse):
        torch.manual_seed(0)
        model = SPON(p, mesh, hidden=16, layers=3, coarse_mesh=cm, dtype=torch.float64, u_scale=10.0)
        a = torch.as_tensor(data["a"][:5], dtype=torch.float64)
        with torch.no_grad():
            u = model(a)
        assert u.shape == (5, mesh.p.shape[1])
        assert float(u[:, model.decoder.free].abs().max()) > 1e-3   # it predicts something
        assert len(model.decoder.dirichlet) > 0
        assert _dirichlet_gap(model, a) < 1e-12


def test_training_lowers_loss_and_keeps_dirichlet(data, tmp_path):
    model, hist = train_spon(data, str(tmp_path / "ck"), data, h=H, refine=REFINE,
                             dtype=torch.float64, **SMALL)
    assert hist[-1]["data"] < 0.8 * hist[0]["data"]
    assert hist[-1]["dirichlet_max"] < 1e-12
    a = torch.as_tensor(data["a"], dtype=torch.float64)
    assert _dirichlet_gap(model, a) < 1e-12
    # the checkpoint rebuilds the same model
    back = load_spon(str(tmp_path / "ck"))
    assert back.u_scale.dtype == torch.float64
    np.testing.assert_allclose(back.predict(data["a"][:3]), model.predict(data["a"][:3]), atol=1e-12)
    ev = evaluate_spon(back, data)
    assert ev["relative_l2"] == pytest.approx(hist[-1]["test"], rel=1e-9)


def test_multigrid_with_physics_lowers_loss(data, tmp_path, meshes):
    model, hist = train_spon(data, str(tmp_path / "mg"), h=H, refine=REFINE, coarse=True,
                             physics_weight=0.5, **SMALL)
    assert model.config["multigrid"] and model.coarse.n == meshes[2].p.shape[1]
    assert hist[-1]["data"] < 0.8 * hist[0]["data"]
    assert hist[-1]["physics"] < hist[0]["physics"]
    # restriction rows are averages: a constant field restricts to the same constant
    ones = torch.ones(1, model.n_dofs, 1)
    from pino._spon import _sparse_apply
    assert torch.allclose(_sparse_apply(model.restrict, ones), torch.ones(1, model.coarse.n, 1))
    # prolongation of the coarse coordinates gives the fine ones at interior vertices
    Xc = torch.as_tensor(meshes[2].p.T, dtype=torch.float32)[None]
    Xf = _sparse_apply(model.prolong, Xc)[0].numpy()
    inner = np.setdiff1d(np.arange(model.n_dofs), meshes[1].boundary_nodes())
    np.testing.assert_allclose(Xf[inner], meshes[1].p.T[inner], atol=1e-6)


def test_resume_reproduces_uninterrupted_run(data, tmp_path):
    opts = dict(SMALL, epochs=3)
    full, _ = train_spon(data, str(tmp_path / "full"), h=H, refine=REFINE, **opts)
    train_spon(data, str(tmp_path / "cut"), h=H, refine=REFINE, stop_after=1, **opts)
    resumed, hist = train_spon(data, str(tmp_path / "cut"), h=H, refine=REFINE, **opts)
    assert [e["epoch"] for e in hist] == [1, 2, 3]
    for (k, v), w in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(v, w), k


def test_batch_and_single_sample(data, meshes):
    p, mesh, _ = meshes
    torch.manual_seed(1)
    model = SPON(p, mesh, hidden=16, layers=2).eval()
    a = data["a"][:4]
    batch = model.predict(a)
    single = model.predict(a[2])
    assert batch.shape == (4, mesh.p.shape[1]) and single.shape == (mesh.p.shape[1],)
    np.testing.assert_allclose(single, batch[2], atol=1e-5)


def test_solve_spon_returns_solution(data, tmp_path):
    model, _ = train_spon(data, str(tmp_path / "s"), h=H, refine=REFINE, **dict(SMALL, epochs=1))
    member = holes_problem().substitute(a=3 + 6 * x * y)
    sol = solve_spon(member, model)
    assert isinstance(sol, fem.Solution) and sol.info["method"] == "spon"
    a = fem.interpolate(model.basis, 3 + 6 * x * y)
    np.testing.assert_allclose(sol.dofs, model.predict(a), atol=1e-12)
    vals = sol([[0.1, 0.1], [0.5, 0.2], [0.0, 0.5]])
    assert vals.shape == (3,) and np.all(np.isfinite(vals))
    assert abs(vals[2]) < 1e-12   # on the Dirichlet boundary
    with pytest.raises(ValueError, match="not a member"):
        solve_spon(_shifted(holes_problem().substitute(a=3 + x)), model)
    with pytest.raises(ValueError, match="still has parameter"):
        solve_spon(holes_problem(), model)


def _shifted(member):
    """Same domain and conditions, another equation: not in the family."""
    from manufactured import Problem, div, grad, u
    return Problem(member.domain, -div((3 + x) * grad(u)) - 2, member.bcs, name="holes")


def test_bad_inputs_raise(data, tmp_path, meshes):
    p, mesh, coarse = meshes
    with pytest.raises(ValueError, match="made with h=0.2, refine=1"):
        train_spon(data, str(tmp_path / "bad"), h=0.1, refine=REFINE, **SMALL)
    bare = {k: v for k, v in data.items() if k != "config"}
    with pytest.raises(ValueError, match="189 values but the mesh .* has 529 vertices"):
        train_spon(bare, str(tmp_path / "bad"), h=0.1, refine=REFINE, **SMALL)
    with pytest.raises(ValueError, match="refine >= 1"):
        train_spon(data, str(tmp_path / "bad2"), h=H, refine=0, coarse=True, **SMALL)
    model = SPON(p, mesh, hidden=8, layers=1)
    n = mesh.p.shape[1]
    with pytest.raises(ValueError, match=rf"shape \(batch, {n}\)"):
        model(torch.ones(2, n - 1))
    with pytest.raises(ValueError, match="shape"):
        model(torch.ones(n))
    with pytest.raises(ValueError, match="refined once"):
        SPON(p, mesh, hidden=8, layers=3, coarse_mesh=p.domain.mesh(h=0.1))
    with pytest.raises(ValueError, match="no SPON checkpoint"):
        load_spon(str(tmp_path / "nothing"))
