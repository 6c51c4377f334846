"""Torch FE operators: the weak residual equals scipy assembly, gradients, encoders/decoders,
transfer operators and a dual-norm minimisation that reproduces fem.solve."""

import numpy as np
import pytest
import skfem
import sympy as sp
import torch
from skfem.helpers import dot, grad

import fem
from fem._forms import Operator, facet_bases
from fem._locate import probes
from fem._torch_residual import intorder_for, spmm
from geometries import Rectangle
from manufactured import Dirichlet, Neumann, Problem, Robin, div, laplacian, u, x, y
from manufactured import grad as sgrad

SQ = Rectangle((0, 0), (1, 1))
A_, Q_, S_ = (sp.Function(n)(x, y) for n in "aqs")


def square_mesh(n):
    m = skfem.MeshTri.init_tensor(np.linspace(0, 1, n + 1), np.linspace(0, 1, n + 1))
    return m.with_boundaries({"left": lambda p: np.isclose(p[0], 0), "right": lambda p: np.isclose(p[0], 1),
                              "bottom": lambda p: np.isclose(p[1], 0), "top": lambda p: np.isclose(p[1], 1)})


def scipy_residual(problem, mesh, order, u_np):
    """(A u - b)[free] with fem's Operator, as fem.solve assembles it."""
    op = Operator(problem)
    io = intorder_for(mesh, order)
    basis = skfem.CellBasis(mesh, fem.element_for(2, order), intorder=io)
    fb = facet_bases(mesh, basis.elem, list(op.natural), io)
    A, b = op.stiffness(basis, fb), op.load(basis, fb)
    D, _ = op.dirichlet_dofs(basis, mesh)
    free = np.setdiff1d(np.arange(basis.N), D)
    return (A @ u_np - b)[free], b[free]


MIXED_BCS = {"left": Dirichlet(y + x * y), "bottom": Dirichlet(x * y), "right": Neumann(1 + y),
             "top": Robin(2, x)}


@pytest.mark.parametrize("order", [1, 2])
def test_constant_coefficients_match_scipy(order):
    p = Problem(SQ, -laplacian(u) + 2 * u - (1 + x * y), MIXED_BCS)
    mesh = SQ.mesh(h=0.2)
    res = fem.WeakResidual(p, mesh, order=order)
    U = np.random.default_rng(0).standard_normal((3, res.n_dofs))
    r = res(torch.as_tensor(U))
    for k in range(3):
        ref, _ = scipy_residual(p, mesh, order, U[k])
        assert np.max(np.abs(r[k].numpy() - ref)) < 1e-12 * max(1, np.abs(ref).max())
    assert res(torch.as_tensor(U[0])).shape == (res.n_free,)


def test_anisotropic_with_advection_matches_scipy():
    ex = sp.diff(2 * sp.diff(u, x) + sp.diff(u, y) / 2, x) + sp.diff(sp.diff(u, x) / 2 + sp.diff(u, y), y)
    p = Problem(SQ, -ex + sp.diff(u, x) + u - x, MIXED_BCS)
    mesh = square_mesh(5)
    res = fem.WeakResidual(p, mesh)
    U = np.random.default_rng(1).standard_normal(res.n_dofs)
    ref, _ = scipy_residual(p, mesh, 1, U)
    assert np.max(np.abs(res(torch.as_tensor(U)).numpy() - ref)) < 1e-12


def _family_reference(mesh, a, q, s, alpha, g, coef=lambda a: a, order=1):
    """-div(k(a) grad u) + q u = s, Robin(alpha, g) on top, Dirichlet 0 on left, Neumann 0 elsewhere."""
    io = intorder_for(mesh, order)
    basis = skfem.CellBasis(mesh, fem.element_for(2, order), intorder=io)
    fb = skfem.FacetBasis(mesh, basis.elem, facets=mesh.boundaries["top"], intorder=io)

    @skfem.BilinearForm
    def vol(u, v, w):
        return coef(w.a) * dot(grad(u), grad(v)) + w.q * u * v

    @skfem.BilinearForm
    def rob(u, v, w):
        return coef(w.a) * alpha * u * v

    @skfem.LinearForm
    def load(v, w):
        return w.s * v

    @skfem.LinearForm
    def nload(v, w):
        return coef(w.a) * g(w.x) * v

    A = vol.assemble(basis, a=basis.interpolate(a), q=basis.interpolate(q)) + rob.assemble(fb, a=fb.interpolate(a))
    b = load.assemble(basis, s=basis.interpolate(s)) + nload.assemble(fb, a=fb.interpolate(a))
    D = basis.get_dofs(mesh.boundaries["left"]).flatten()
    free = np.setdiff1d(np.arange(basis.N), D)
    return A, b, free


def _family(k=A_):
    bcs = {"left": Dirichlet(0), "right": Neumann(0), "bottom": Neumann(0), "top": Robin(3, 1 + x)}
    return Problem(SQ, -div(k * sgrad(u)) + Q_ * u - S_, bcs)


@pytest.mark.parametrize("order,mesh", [(1, lambda: square_mesh(6)), (2, lambda: square_mesh(3)),
                                        (2, lambda: SQ.mesh(h=0.4, order=2))],
                         ids=["P1", "P2", "P2-curved-mesh"])
def test_family_matches_scipy_with_interpolated_fields(order, mesh):
    mesh = mesh()
    res = fem.WeakResidual(_family(), mesh, order=order)
    assert res._cell.affine == (type(mesh) is skfem.MeshTri1)
    rng = np.random.default_rng(2)
    B, N = 4, res.n_dofs
    U, a, q, s = rng.standard_normal((B, N)), 1 + rng.random((B, N)), rng.random((B, N)), rng.standard_normal((B, N))
    r = res(torch.as_tensor(U), a=torch.as_tensor(a), q=torch.as_tensor(q), s=torch.as_tensor(s))
    for k in range(B):
        A, b, free = _family_reference(mesh, a[k], q[k], s[k], 3.0, lambda X: 1 + X[0], order=order)
        assert np.max(np.abs(r[k].numpy() - (A @ U[k] - b)[free])) < 1e-12
    # an unbatched field is shared by the batch
    r2 = res(torch.as_tensor(U), a=torch.as_tensor(a[0]), q=torch.as_tensor(q[0]), s=torch.as_tensor(s[0]))
    A, b, free = _family_reference(mesh, a[0], q[0], s[0], 3.0, lambda X: 1 + X[0], order=order)
    assert np.max(np.abs(r2[2].numpy() - (A @ U[2] - b)[free])) < 1e-12


def test_nonlinear_coefficient_in_torch():
    mesh = square_mesh(4)
    res = fem.WeakResidual(_family(sp.exp(A_)), mesh)
    rng = np.random.default_rng(3)
    N = res.n_dofs
    U, a, q, s = (rng.standard_normal(N) for _ in range(4))
    r = res(torch.as_tensor(U), a=torch.as_tensor(a), q=torch.as_tensor(q), s=torch.as_tensor(s))
    A, b, free = _family_reference(mesh, a, q, s, 3.0, lambda X: 1 + X[0], coef=np.exp)
    assert np.max(np.abs(r.numpy() - (A @ U - b)[free])) < 1e-12


def test_unsupported_and_wrong_inputs():
    with pytest.raises(NotImplementedError, match="steady problems only"):
        p = Problem(SQ, sp.diff(u, sp.Symbol("t", real=True)) - laplacian(u),
                    {t: Dirichlet(0) for t in SQ.boundaries}, time=(0, 1), initial={"u": 0})
        fem.WeakResidual(p, square_mesh(2))
    res = fem.WeakResidual(_family(), square_mesh(2))
    z = torch.zeros(res.n_dofs, dtype=torch.float64)
    with pytest.raises(ValueError, match="give the parameter"):
        res(z, a=z, q=z)
    with pytest.raises(ValueError, match="shape"):
        res(torch.zeros(res.n_dofs + 1, dtype=torch.float64), a=z, q=z, s=z)


def test_fem_solution_has_zero_residual():
    p = Problem(SQ, -laplacian(u) + 2 * u - (1 + x * y), MIXED_BCS)
    mesh = SQ.mesh(h=0.15)
    sol = fem.solve(p, mesh=mesh, order=2)
    res = fem.WeakResidual(p, mesh, order=2)
    r = res(torch.as_tensor(sol.dofs))
    assert float(res.norm(r)) < 1e-10 * float(torch.linalg.norm(res.b))
    assert float(res.norm(r, "dual")) < 1e-10 * float(res.norm(res.b, "dual"))


def test_gradcheck_u_and_field():
    res = fem.WeakResidual(_family(sp.exp(A_) + A_), square_mesh(2))
    rng = np.random.default_rng(4)
    N = res.n_dofs
    U, a, q, s = (torch.as_tensor(rng.standard_normal((2, N)), dtype=torch.float64).requires_grad_()
                  for _ in range(4))
    assert torch.autograd.gradcheck(lambda U, a: res(U, a=a, q=q, s=s), (U, a))
    assert torch.autograd.gradcheck(lambda q, s: res(U, a=a, q=q, s=s), (q, s))
    assert torch.autograd.gradcheck(lambda r: res.norm(r, "dual"), (torch.randn(2, res.n_free, dtype=torch.float64,
                                                                                 requires_grad=True),))


def test_dual_norm_lu_path_matches_cholesky(monkeypatch):
    import fem._torch_residual as tr

    p = Problem(SQ, -laplacian(u) - 1, {t: Dirichlet(0) for t in SQ.boundaries})
    res = fem.WeakResidual(p, square_mesh(4))
    r = torch.randn(3, res.n_free, dtype=torch.float64, requires_grad=True)
    dense = res.norm(r, "dual")
    monkeypatch.setattr(tr, "DENSE_CHOLESKY_LIMIT", 0)
    lu = res.norm(r, "dual")
    assert torch.allclose(dense, lu, rtol=1e-12)
    assert torch.autograd.gradcheck(lambda r: res.norm(r, "dual"), (r,))


def test_decoder_meets_dirichlet_data_exactly():
    p = Problem(SQ, -laplacian(u) + 2 * u - (1 + x * y), MIXED_BCS)
    mesh = SQ.mesh(h=0.2)
    for dec in (fem.DirichletDecoder(p, mesh, order=2), fem.DirichletDecoder(fem.WeakResidual(p, mesh, order=2))):
        out = dec(torch.randn(5, dec.n_free, dtype=torch.float64))
        basis = skfem.CellBasis(mesh, skfem.ElementTriP2())
        for tag in ("left", "bottom"):
            dofs = basis.get_dofs(mesh.boundaries[tag]).flatten()
            g = sp.lambdify((x, y), p.bcs[tag].g + 0 * x)(*basis.doflocs[:, dofs])
            assert torch.equal(out[:, dofs], torch.as_tensor(g).expand(5, -1))
        assert out.shape == (5, basis.N)


@pytest.mark.parametrize("order,f", [(1, 1 + 2 * x - y), (2, x**2 - x * y + 3 * y)])
def test_project_then_evaluate_reproduces(order, f):
    mesh = SQ.mesh(h=0.2)
    basis = skfem.CellBasis(mesh, fem.element_for(2, order))
    pts = np.random.default_rng(5).random((50, 2)) * 0.9 + 0.05
    exact = sp.lambdify((x, y), f)(pts[:, 0], pts[:, 1])
    ev = fem.PointEvaluation(basis, pts)
    fn = sp.lambdify((x, y), f)
    for dofs in (fem.project(basis, f), fem.interpolate(basis, f),
                 fem.project(basis, lambda p: fn(p[:, 0], p[:, 1]))):
        assert np.max(np.abs(ev(torch.as_tensor(dofs)).numpy() - exact)) < 1e-10
    samples = np.random.default_rng(6).random((2000, 2))
    fit = fem.project_points(basis, samples, fn(samples[:, 0], samples[:, 1]))
    assert np.max(np.abs(ev(torch.as_tensor(fit)).numpy() - exact)) < 1e-7
    with pytest.raises(ValueError, match="outside"):
        fem.PointEvaluation(basis, [[2.0, 2.0]])


def test_grid_transfer_linear_function():
    basis = skfem.CellBasis(square_mesh(6), skfem.ElementTriP1())
    gt = fem.GridTransfer(basis, 9)
    f = lambda p: 1 + 2 * p[:, 0] - 3 * p[:, 1]  # noqa: E731
    img = gt.to_grid(torch.as_tensor(fem.interpolate(basis, f)))
    assert img.shape == (9, 9) and bool(gt.mask.all())
    assert np.max(np.abs(img.numpy().ravel() - f(gt.points))) < 1e-12
    back = gt.from_grid(img.unsqueeze(0).expand(2, 9, 9))
    assert np.max(np.abs(back.numpy() - f(basis.doflocs.T))) < 1e-12


def test_prolongation_restriction_and_graph():
    coarse_mesh = skfem.MeshTri().refined(2)
    coarse = skfem.CellBasis(coarse_mesh, skfem.ElementTriP1())
    fine = skfem.CellBasis(coarse_mesh.refined(), skfem.ElementTriP1())
    uc = torch.as_tensor(np.random.default_rng(7).standard_normal((2, coarse.N)))
    Pr = fem.prolongation(coarse, fine)
    uf = spmm(Pr, uc)
    # old vertices keep their values; the coarse function, probed at the fine DOFs, agrees
    assert torch.equal(uf[:, :coarse.N], uc)
    P, _ = probes(coarse, fine.doflocs)
    assert np.max(np.abs(uf.numpy() - (P @ uc.numpy().T).T)) < 1e-14
    lin = fem.interpolate(coarse, lambda p: p[:, 0] - 2 * p[:, 1])
    assert np.max(np.abs(spmm(Pr, torch.as_tensor(lin)[None])[0].numpy()
                         - fem.interpolate(fine, lambda p: p[:, 0] - 2 * p[:, 1]))) < 1e-14
    R = fem.restriction(coarse, fine)
    assert torch.equal(R.to_dense(), Pr.to_dense().T)
    ei = fem.dof_graph(coarse)
    assert ei.shape == (2, 2 * coarse_mesh.facets.shape[1])
    assert not bool((ei[0] == ei[1]).any())


def test_dual_norm_lbfgs_reproduces_fem_solve():
    a = sp.Piecewise((1, x < 0.5), (10, True))
    p = Problem(SQ, -div(a * sgrad(u)) - 1, {t: Dirichlet(0) for t in SQ.boundaries})
    mesh = square_mesh(16)
    ref = fem.solve(p, mesh=mesh).dofs
    res = fem.WeakResidual(p, mesh)
    z = torch.zeros(res.n_free, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([z], lr=1, max_iter=500, history_size=50, tolerance_grad=1e-16,
                            tolerance_change=1e-30, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = res.norm(res(res.lift(z)), "dual") ** 2
        loss.backward()
        return loss

    # the Euclidean condition number of A P^-1 A is ~4e3 here, so this takes ~1000 iterations
    r0 = float(res.norm(res(res.lift(z.detach())), "dual"))
    for _ in range(8):
        opt.step(closure)
        if float(res.norm(res(res.lift(z.detach())), "dual")) < 1e-8 * r0:
            break
    err = np.linalg.norm(res.lift(z).detach().numpy() - ref) / np.linalg.norm(ref)
    assert err < 1e-6


def test_field_gradient_in_advection_matches_scipy():
    # -a laplacian(u) = -div(a grad u) + grad(a) . grad(u): beta holds the field's gradient
    p = Problem(SQ, -A_ * laplacian(u) + u - 1, {t: Dirichlet(0) for t in SQ.boundaries})
    mesh = square_mesh(5)
    res = fem.WeakResidual(p, mesh, order=2)
    rng = np.random.default_rng(8)
    U, a = rng.standard_normal(res.n_dofs), 1 + rng.random(res.n_dofs)
    basis = skfem.CellBasis(mesh, skfem.ElementTriP2(), intorder=4)

    @skfem.BilinearForm
    def form(u, v, w):
        return w.a * dot(grad(u), grad(v)) + dot(grad(w.a), grad(u)) * v + u * v

    A = form.assemble(basis, a=basis.interpolate(a))
    b = skfem.LinearForm(lambda v, w: 1.0 * v).assemble(basis)
    free = basis.complement_dofs(basis.get_dofs())
    r = res(torch.as_tensor(U), a=torch.as_tensor(a))
    assert np.max(np.abs(r.numpy() - (A @ U - b)[free])) < 1e-12
