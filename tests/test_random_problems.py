"""Random training problems (manufactured/_random.py): forward-mode derivatives against
sympy, sources and boundary data against their definitions, rejection bounds, seeds and
workers, the Problem built from a sample, hole placement."""

import hashlib

import numpy as np
import pytest
import sympy as sp

import manufactured as M
from manufactured import (BOUNDS, TERMS, ExprTree, Problem, Sample, acceptable, generate_samples,
                          random_problem, random_solution, random_tree)
from geometries import Rectangle
from manufactured._random import _GRID, _Add, _Affine, _Apply, _Mul, _random_holes, hole_domain

X, Y, T = M.x, M.y, M.t


def sympy_derivatives(tree, points):
    """u, u_x, u_y, u_xx, u_yy, u_xy by sympy: differentiate, lambdify with cse, evaluate."""
    e = tree.sympy()
    ex, ey = sp.diff(e, X), sp.diff(e, Y)
    exprs = [e, ex, ey, sp.diff(ex, X), sp.diff(ey, Y), sp.diff(ex, Y)]
    fn = sp.lambdify((X, Y), exprs, "numpy", cse=True)
    return np.column_stack([np.broadcast_to(v, (len(points),)) for v in fn(points[:, 0], points[:, 1])])


def fd_derivatives(tree, p, h=1e-4):
    """The same six columns by central finite differences (independent of both routes)."""
    ex, ey = np.array([h, 0.0]), np.array([0.0, h])
    f = tree
    u = f(p)
    ux, uy = (f(p + ex) - f(p - ex)) / (2 * h), (f(p + ey) - f(p - ey)) / (2 * h)
    uxx, uyy = (f(p + ex) - 2 * u + f(p - ex)) / h**2, (f(p + ey) - 2 * u + f(p - ey)) / h**2
    uxy = (f(p + ex + ey) - f(p + ex - ey) - f(p - ex + ey) + f(p - ex - ey)) / (4 * h * h)
    return np.column_stack([u, ux, uy, uxx, uyy, uxy])


def small_seed(kind, max_steps=7, where=lambda smp: True, **options):
    """First sample with a short tree (keeps the sympy tests fast) that satisfies ``where``."""
    for s in range(300):
        smp = random_problem(s, kind, **options)
        if (smp.solution is None or smp.solution.steps <= max_steps) and where(smp):
            return smp
    raise AssertionError("no short tree found")


# ---- forward mode ----------------------------------------------------------------------

def test_every_function_and_combinator_matches_sympy():
    leaf = lambda a, b, c: _Affine(a, b, c)  # noqa: E731
    ops = ["sin", "cos", "tanh", "sigmoid", "rational"]
    node = leaf(0.7, -1.3, 0.2)
    for k, op in enumerate(ops):
        node = _Apply(op, node, 1.5 - 0.4 * k, 0.3)
        node = _Add(node, _Apply(ops[(k + 2) % 5], leaf(1.1, 0.4 * k - 1, -0.5)), -0.8)
        node = _Mul(node, _Apply(ops[(k + 1) % 5], leaf(-0.6, 0.9, 0.1 * k)))
    tree = ExprTree(node, 15)
    p = np.random.default_rng(0).uniform(-1, 1, (40, 2))
    ours, ref = tree.derivatives(p), sympy_derivatives(tree, p)
    assert np.std(ours[:, 3:]) > 1e-3  # second derivatives are not trivially zero
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_random_trees_match_sympy(seed):
    tree = random_solution(seed, steps=6 + seed)
    p = np.random.default_rng(seed).uniform(-1, 1, (30, 2))
    ours, ref = tree.derivatives(p), sympy_derivatives(tree, p)
    scale = max(1.0, np.abs(ref).max())
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(tree(p), ours[:, 0])


def test_tree_rejects_wrong_point_shape():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        random_tree(0).derivatives(np.zeros((3, 3)))


# ---- sources and boundary data ---------------------------------------------------------

@pytest.mark.parametrize("kind", ["elliptic", "heat", "wave"])
def test_source_is_the_operator_applied_to_u(kind):
    for s in range(6):
        smp = random_problem(s, kind, n_interior=100, n_boundary=60)
        d = fd_derivatives(smp.solution, smp.interior)
        f = d @ smp.coefficients
        scale = max(1.0, np.abs(smp.derivatives).max())
        np.testing.assert_allclose(smp.f, f, atol=1e-4 * scale)
        np.testing.assert_allclose(smp.u, smp.solution(smp.interior))
        assert smp.derivatives.shape == (100, len(TERMS))


@pytest.mark.parametrize("kind", ["elliptic", "heat", "wave"])
def test_boundary_data_match_their_definitions(kind):
    seen = set()
    for s in range(8):
        smp = random_problem(s, kind, n_interior=50, n_boundary=120)
        d = fd_derivatives(smp.solution, smp.boundary)
        flux = np.sum(d[:, 1:3] * smp.normals, axis=1)
        expect = {"dirichlet": d[:, 0], "neumann": flux, "robin": flux + smp.alpha * d[:, 0]}
        scale = max(1.0, np.abs(d[:, :3]).max())
        for k in ("dirichlet", "neumann", "robin"):
            m = smp.bc_kind == k
            seen.add(k) if m.any() else None
            np.testing.assert_allclose(smp.g[m], expect[k][m], atol=1e-6 * scale)
        np.testing.assert_allclose(np.linalg.norm(smp.normals, axis=1), 1.0)
    assert seen == {"dirichlet", "neumann", "robin"}


def _check_points(smp):
    """Interior points inside, boundary normals outward, every tag with a condition."""
    dom = smp.domain
    assert dom.contains(smp.interior).all()
    eps = 1e-6
    assert dom.contains(smp.boundary - eps * smp.normals).all()
    assert not dom.contains(smp.boundary + eps * smp.normals).any()
    assert set(smp.tags) <= set(dom.boundaries) == set(smp.conditions)


def test_normals_point_outward_and_points_lie_in_the_domain():
    for s in range(6):
        _check_points(random_problem(s, "elliptic", n_interior=200, n_boundary=200))


def test_time_samples_have_initial_lines_and_outward_normals():
    smp = random_problem(2, "wave", n_boundary=100)
    for tag, (px, py, nx_, ny_) in {"left": (-1, None, -1, 0), "right": (1, None, 1, 0),
                                    "initial": (None, -1, 0, -1), "initial_t": (None, -1, 0, -1)}.items():
        m = smp.tags == tag
        assert m.sum() == 25
        if px is not None:
            assert np.all(smp.boundary[m, 0] == px)
        if py is not None:
            assert np.all(smp.boundary[m, 1] == py)
        np.testing.assert_array_equal(smp.normals[m], np.tile([nx_, ny_], (m.sum(), 1)))
    m = smp.tags == "initial_t"
    np.testing.assert_allclose(smp.g[m], -smp.solution.derivatives(smp.boundary[m])[:, 2])  # g = -u_t
    assert smp.conditions["initial"] == ("dirichlet", 0.0)


# ---- rejection and the family --------------------------------------------------------

def test_samples_satisfy_the_rejection_bounds():
    for s in range(25):
        smp = random_problem(s, "mixed", n_interior=300, n_boundary=100)
        if not smp.manufactured:
            continue
        pts = np.concatenate([_GRID, smp.interior, smp.boundary])
        d = smp.solution.derivatives(pts)
        assert np.abs(d[:, 0]).max() <= BOUNDS["u"] and np.std(d[:, 0]) >= BOUNDS["std"]
        assert np.abs(d[:, 1:]).max() <= BOUNDS["derivative"]
        assert np.abs(d @ smp.coefficients).max() <= BOUNDS["f"]
        assert np.abs(smp.f).max() <= BOUNDS["f"]


def test_rejection_rejects_and_gives_up():
    p = _GRID
    flat = ExprTree(_Affine(0.0, 0.0, 0.5), 1)
    assert not acceptable(flat.derivatives(p))                       # std(u) < 0.1
    big = ExprTree(_Affine(8.0, 8.0, 0.0), 1)
    assert not acceptable(big.derivatives(p))                        # |u| > 10
    steep = ExprTree(_Apply("sin", _Affine(120.0, 0.0, 0.0)), 2)
    assert not acceptable(steep.derivatives(p))                      # |u_xx| > 1e4
    ok = ExprTree(_Apply("sin", _Affine(2.0, 1.0, 0.0)), 1)
    assert acceptable(ok.derivatives(p))
    assert not acceptable(ok.derivatives(p), np.array([0, 0, 0, 3e4, 0, 0.0]))   # |f| > 1e4
    with pytest.raises(RuntimeError, match="max_tries"):
        random_solution(0, max_tries=5, bounds={"u": 1e-6})


def test_operators_are_elliptic_and_in_range():
    outer_neumann = 0
    for s in range(80):
        smp = random_problem(s, "mixed", n_interior=10, n_boundary=20)
        c = smp.coefficients
        assert 1 <= np.count_nonzero(c) <= 3
        if smp.kind in ("elliptic", "physics"):
            assert np.abs(c).max() <= 2 and c[3] * c[4] > 0 and c[5] ** 2 < 4 * c[3] * c[4]
            sigma = -np.sign(c[3])          # sigma * (c3 u_xx + c4 u_yy) = -div(K grad u), K > 0
            kinds = [smp.conditions[t][0] for t in smp.conditions]
            anchored = any(k != "neumann" for k in kinds) or sigma * c[0] > 0
            assert anchored
            if smp.kind == "physics":
                assert sigma * c[0] >= 0
            if all(smp.conditions[t][0] == "neumann" for t in ("left", "right", "bottom", "top")):
                outer_neumann += 1
        elif smp.kind == "heat":
            assert c[2] == 1 and c[3] < 0 and c[4] == 0
        else:
            assert c[4] == 1 and c[3] < 0 and c[2] == 0
        for kind, alpha in smp.conditions.values():
            assert (kind == "robin") == (alpha > 0)
    assert outer_neumann > 0


def test_holes_are_inside_the_box_and_disjoint():
    rng = np.random.default_rng(5)
    counts = set()
    for _ in range(60):
        holes = _random_holes(rng)
        counts.add(len(holes))
        shapes = [hole_domain(*h) for h in holes]
        for i, h in enumerate(shapes):
            p, _, _ = h.sample_boundary(200, seed=i)
            assert np.all(np.abs(p) <= 1 - 0.05 + 1e-12)
            for j, other in enumerate(shapes):
                if j != i:
                    assert not other.contains(p).any()
                    assert np.all(other._sd(p) > 0.04)
    assert counts == {0, 1, 2, 3}
    kinds = {h[0] for s in range(30) for h in random_problem(s, "elliptic", n_interior=5, n_boundary=5).holes}
    assert kinds == {"disk", "rectangle", "triangle"}


# ---- seeds and workers -----------------------------------------------------------------

def test_same_seed_same_sample_and_different_seeds_differ():
    a, b = random_problem(11, "mixed"), random_problem(11, "mixed")
    assert a.digest() == b.digest()
    assert random_problem(12, "mixed").digest() != a.digest()
    assert random_problem((3, 4), "elliptic").digest() == random_problem([3, 4], "elliptic").digest()


def test_generate_is_independent_of_the_worker_count():
    one = generate_samples(6, seed=7, workers=1, n_interior=64, n_boundary=32)
    two = generate_samples(6, seed=7, workers=2, n_interior=64, n_boundary=32)
    assert [s.digest() for s in one] == [s.digest() for s in two]
    assert one[4].digest() == random_problem((7, 4), "mixed", n_interior=64, n_boundary=32).digest()
    assert len({s.digest() for s in one}) == 6
    assert all(isinstance(s, Sample) for s in two)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="kind"):
        random_problem(0, kind="poisson")
    with pytest.raises(ValueError, match="n_interior"):
        random_problem(0, n_interior=0)
    with pytest.raises(ValueError, match="workers"):
        generate_samples(2, workers=0)


# ---- the Problem -----------------------------------------------------------------------

def _check_problem(smp):
    p = smp.problem()
    assert isinstance(p, Problem) and p is smp.problem()
    cf = p.canonical
    c0, c1, c2, c3, c4, c5 = smp.coefficients
    sign = float(cf.A[0, 0]) / c3                        # Problem normalises the sign
    assert sign in (1.0, -1.0)
    timed = smp.time is not None
    if timed:
        got, want = [cf.A[0, 0], cf.b[0], cf.c, cf.m1, cf.m2], [c3, c1, c0, c2, c4]
    else:
        got, want = [*cf.A, *cf.b, cf.c], [c3, c5 / 2, c5 / 2, c4, c1, c2, c0]
    np.testing.assert_allclose([float(v) for v in got], sign * np.array(want), rtol=1e-14)
    second = T if timed else Y
    args = (X, second, M.nx, M.ny)
    f = sp.lambdify(args, cf.f, "numpy")(smp.interior[:, 0], smp.interior[:, 1], 0, 0)
    scale = max(1.0, np.abs(smp.f).max())
    np.testing.assert_allclose(sign * np.broadcast_to(f, smp.f.shape), smp.f, rtol=1e-9, atol=1e-9 * scale)
    if smp.manufactured:
        ue = sp.lambdify((X, second), p.exact, "numpy")(*smp.interior.T)
        np.testing.assert_allclose(ue, smp.u, rtol=1e-10, atol=1e-10)
    for tag, cond in p.bcs.items():
        m = smp.tags == tag
        if not m.any():
            continue
        b, n = smp.boundary[m], smp.normals[m]
        g = sp.lambdify(args, cond.g, "numpy")(b[:, 0], b[:, 1], n[:, 0], n[:, 1])
        np.testing.assert_allclose(np.broadcast_to(g, (m.sum(),)), smp.g[m], rtol=1e-9, atol=1e-9 * scale)
        kind, alpha = smp.conditions[tag]
        assert type(cond).__name__.lower() == kind
        if kind == "robin":
            assert float(cond.alpha) == pytest.approx(alpha)
    return p


def test_manufactured_elliptic_problem_is_valid():
    for where in (lambda s: s.coefficients[5] != 0 and len(s.holes) >= 2,
                  lambda s: len({k for k, _ in s.conditions.values()}) == 3 and len(s.holes) >= 1):
        smp = small_seed("elliptic", where=where, n_interior=40, n_boundary=80)
        p = _check_problem(smp)
        assert p.type == "elliptic" and set(p.bcs) == set(smp.conditions)


@pytest.mark.parametrize("kind, type_", [("heat", "parabolic"), ("wave", "hyperbolic")])
def test_manufactured_time_problem_is_valid(kind, type_):
    smp = small_seed(kind, n_interior=40, n_boundary=60)
    p = _check_problem(smp)
    assert p.type == type_ and p.time == (-1.0, 1.0) and p.dim == 1
    u0 = sp.lambdify(X, p.initial["u"], "numpy")(smp.boundary[smp.tags == "initial", 0])
    np.testing.assert_allclose(u0, smp.g[smp.tags == "initial"], rtol=1e-10, atol=1e-10)


def test_physics_problem_is_valid():
    for s in range(3):
        smp = random_problem(s, "physics", n_interior=40, n_boundary=80)
        assert smp.u is None and smp.solution is None
        p = _check_problem(smp)
        assert p.type == "elliptic" and p.exact is None


# ---- wider domain families (max_holes, notch) ----------------------------------------

def test_notched_and_four_hole_domains_are_valid():
    counts, notched, kinds = set(), 0, set()
    for s in range(40):
        smp = random_problem(s, "elliptic", n_interior=150, n_boundary=150, max_holes=4, notch=0.5)
        cut = [h for h in smp.holes if h[2] == "notch"]
        counts.add(len(smp.holes) - len(cut))
        _check_points(smp)
        if cut:
            notched += 1
            x0, y0, x1, y1 = cut[0][1]
            assert x0 < -1 or x1 > 1 or y0 < -1 or y1 > 1         # it cuts the box's sides
            assert (smp.tags == "notch").any()
            assert not Rectangle((x0, y0), (x1, y1)).contains(smp.interior).any()
            kinds.add("corner" if (abs(x0) > 1 or abs(x1) > 1) and (abs(y0) > 1 or abs(y1) > 1) else "side")
            for h in smp.holes:                                  # holes stay clear of the cut
                if h[2] != "notch":
                    p, _, _ = hole_domain(*h).sample_boundary(100, seed=0)
                    assert not Rectangle((x0, y0), (x1, y1)).contains(p).any()
    assert 4 in counts and 10 <= notched <= 30 and kinds == {"corner", "side"}


def test_notched_manufactured_problem_has_exact_data():
    smp = small_seed("elliptic", where=lambda s: any(h[2] == "notch" for h in s.holes),
                     n_interior=40, n_boundary=80, notch=1.0)
    p = _check_problem(smp)
    assert "notch" in p.bcs


def test_default_family_is_hypinos():
    # the defaults draw exactly the domains drawn before the options existed (a pin of the
    # holes of seeds 0-19, recorded from the code before the change): 0-3 holes, no notch
    h = hashlib.sha256()
    for s in range(20):
        a = random_problem(s, "mixed", n_interior=20, n_boundary=20)
        assert len(a.holes) <= 3 and all(t != "notch" for _, _, t in a.holes)
        h.update(repr(a.holes).encode())
    assert h.hexdigest()[:16] == "4065d3db85885673"


def test_family_options_are_checked():
    with pytest.raises(ValueError, match="max_holes"):
        random_problem(0, max_holes=9)
    with pytest.raises(ValueError, match="notch"):
        random_problem(0, notch=1.5)
    with pytest.raises(ValueError, match="zero_source"):
        random_problem(0, zero_source=-0.1)
    for name in ("notch", "zero_source", "decay", "bumps", "plain", "reaction"):   # probabilities
        for bad in (True, 1.5, "0.5"):
            with pytest.raises(ValueError, match=f"{name} is a probability"):
                random_problem(0, **{name: bad})


def test_zero_source_draws_laplace_type_physics_samples():
    """``zero_source=p``: about that share of physics-only samples has f = 0 and keeps its
    boundary data; at 0 the samples are bit-for-bit those drawn before the option existed,
    and manufactured samples never change."""
    zero, n = 0, 120
    for s in range(n):
        a = random_problem(s, "physics", n_interior=30, n_boundary=30)
        b = random_problem(s, "physics", n_interior=30, n_boundary=30, zero_source=0.0)
        assert np.array_equal(a.f, b.f) and np.array_equal(a.g, b.g) and np.array_equal(a.interior, b.interior)
        c = random_problem(s, "physics", n_interior=30, n_boundary=30, zero_source=0.5)
        assert np.array_equal(a.interior, c.interior) and np.array_equal(a.boundary, c.boundary)
        if not c.source.any():
            zero += 1
            assert np.all(c.f == 0) and np.abs(c.g).max() > 0
        else:
            assert np.array_equal(a.f, c.f)
    assert 0.35 * n <= zero <= 0.65 * n
    e = random_problem(1, "elliptic", n_interior=30, n_boundary=30)
    assert np.array_equal(e.f, random_problem(1, "elliptic", n_interior=30, n_boundary=30, zero_source=1.0).f)


def test_bumps_draw_gaussian_sources_for_physics_samples():
    """``bumps=p``: about that share of the physics-only samples with a source get 1-4
    Gaussian bumps instead of a polynomial; f at the points, the sympy Problem's source and
    :func:`manufactured.source_values` agree; the points and the zero sources are those
    drawn without the option."""
    from manufactured import gaussian_bumps, source_values
    got, n = 0, 80
    for s in range(n):
        a = random_problem(s, "physics", n_interior=30, n_boundary=30, zero_source=0.3)
        c = random_problem(s, "physics", n_interior=30, n_boundary=30, zero_source=0.3, bumps=0.5)
        assert np.array_equal(a.interior, c.interior) and np.array_equal(a.boundary, c.boundary)
        if not a.source.any():
            assert c.bumps is None and np.all(c.f == 0) and np.array_equal(a.g, c.g)
        if c.bumps is None:
            assert np.allclose(c.f, source_values(c.source, None, c.interior[:, 0], c.interior[:, 1]))
            continue
        got += 1
        assert a.source.any() and not c.source.any() and 1 <= len(c.bumps) <= 4
        A, w = c.bumps[:, 0], c.bumps[:, 3]
        assert np.all((np.abs(A) >= 1) & (np.abs(A) <= 100) & (w >= 0.05) & (w <= 0.3))
        x, y = c.interior[:, 0], c.interior[:, 1]
        want = sum(a_ * np.exp(-((x - cx)**2 + (y - cy)**2) / (2 * w_**2)) for a_, cx, cy, w_ in c.bumps)
        assert np.allclose(c.f, want) and np.allclose(source_values(c.source, c.bumps, x, y), want)
        if got <= 2:        # the Problem's source, through sympy
            eq = c.problem().equation
            f = sp.lambdify((X, Y), -eq.subs(M.u, 0).doit())
            assert np.allclose(f(x, y), want)
    assert 0.2 * n <= got <= 0.5 * n          # half of the ~70% with a source
    assert gaussian_bumps(np.random.default_rng(1), 3).shape == (3, 4)
    e = random_problem(1, "elliptic", n_interior=30, n_boundary=30)
    assert np.array_equal(e.f, random_problem(1, "elliptic", n_interior=30, n_boundary=30, bumps=1.0).f)


def test_plain_draws_poisson_problems_with_dirichlet_data_everywhere():
    """``plain=p``: about that share of the physics-only samples is ``k Δu = f`` with
    Dirichlet data on every boundary, the box's four sides sharing one datum about half of
    those times; g is the data at the points, the sympy Problem is that Poisson problem, the
    points and the other samples are those drawn without the option, and manufactured samples
    never change."""
    got = shared = 0
    n = 80
    for s in range(n):
        a = random_problem(s, "physics", n_interior=30, n_boundary=40, max_holes=4)
        c = random_problem(s, "physics", n_interior=30, n_boundary=40, max_holes=4, plain=0.5)
        assert np.array_equal(a.interior, c.interior) and np.array_equal(a.boundary, c.boundary)
        assert np.array_equal(a.source, c.source)
        if np.array_equal(a.coefficients, c.coefficients) and a.conditions == c.conditions:
            assert np.array_equal(a.f, c.f) and np.array_equal(a.g, c.g)
            continue
        got += 1
        k = c.coefficients[3]
        assert 0.2 <= abs(k) <= 2.0 and c.coefficients[4] == k and not c.coefficients[[0, 1, 2, 5]].any()
        assert {v for v in c.conditions.values()} == {("dirichlet", 0.0)}
        assert set(c.conditions) == {"left", "right", "bottom", "top"} | {h[2] for h in c.holes}
        G = np.array([c.boundary_data[tg] for tg in c.tags])
        assert np.allclose(c.g, G[:, 0] + G[:, 1] * c.boundary[:, 0] + G[:, 2] * c.boundary[:, 1])
        sides = {c.boundary_data[tg] for tg in ("left", "right", "bottom", "top")}
        shared += len(sides) == 1
        if got == 1:                               # the Problem through sympy: k (u_xx + u_yy) = f
            eq = c.problem().equation
            lap = sp.simplify(eq.subs(M.u, X**2 + Y**2).doit() - eq.subs(M.u, 0).doit())
            assert abs(float(lap) - 4 * k) < 1e-9
    assert 0.3 * n <= got <= 0.7 * n and 0.25 * got <= shared <= 0.75 * got
    e = random_problem(1, "elliptic", n_interior=30, n_boundary=30)
    assert np.array_equal(e.f, random_problem(1, "elliptic", n_interior=30, n_boundary=30, plain=1.0).f)


def test_reaction_gives_some_plain_problems_a_coercive_u_term():
    """``reaction=r``: about that share of the plain problems is ``k Δu - sign(k) c u = f``
    with ``c / |k|`` in [0.1, 64] (coefficients at most 2 in size, the coercive sign), the
    same problem otherwise; plain problems without it and other samples never change."""
    got = 0
    for s in range(120):
        a = random_problem(s, "physics", n_interior=20, n_boundary=30, max_holes=4, plain=0.6)
        c = random_problem(s, "physics", n_interior=20, n_boundary=30, max_holes=4, plain=0.6, reaction=0.5)
        assert a.conditions == c.conditions and np.array_equal(a.g, c.g) and np.array_equal(a.f, c.f)
        if np.array_equal(a.coefficients, c.coefficients):
            continue
        got += 1
        k, c0 = a.coefficients[3], c.coefficients[0]
        ratio = c.coefficients[3] / k                  # the scale that keeps c0 within 2
        assert 0 < ratio <= 1 and c.coefficients[4] == c.coefficients[3] and not c.coefficients[[1, 2, 5]].any()
        assert np.sign(c0) == -np.sign(k) and abs(c0) <= 2 + 1e-12
        assert 0.1 - 1e-9 <= abs(c0) / abs(c.coefficients[3]) <= 64 + 1e-9
        assert np.isclose(ratio, min(1.0, 2.0 / (abs(k) * abs(c0) / abs(c.coefficients[3]))))
        if got == 1:                               # the Problem through sympy has the u term
            eq = c.problem().equation
            assert abs(float(sp.simplify(eq.subs(M.u, 1).doit() - eq.subs(M.u, 0).doit())) - c0) < 1e-9
    assert 0.15 * 120 <= got <= 0.5 * 120
    with pytest.raises(ValueError, match="plain is 0"):
        random_problem(0, reaction=0.5)
    e = random_problem(2, "elliptic", n_interior=30, n_boundary=30, plain=1.0)
    assert np.array_equal(e.f, random_problem(2, "elliptic", n_interior=30, n_boundary=30, plain=1.0, reaction=1.0).f)


# ---- the share of heat problems --------------------------------------------------------

def test_heat_share_draws_more_heat_and_keeps_the_default_mix():
    from manufactured import mix_weights, mixed_kind
    from manufactured._random import MIX
    assert mix_weights() == MIX and mix_weights(None) == MIX
    w = mix_weights(0.3)
    assert np.isclose(sum(w.values()), 1.0) and w["heat"] == 0.3 and w["wave"] == MIX["wave"]
    assert np.isclose(w["elliptic"] / w["physics"], MIX["elliptic"] / MIX["physics"])
    seeds = [(4, i) for i in range(400)]
    default = [mixed_kind(s) for s in seeds]
    assert default == [mixed_kind(s, MIX["heat"]) for s in seeds]     # the same draws at 5%
    more = [mixed_kind(s, 0.3) for s in seeds]
    assert 80 <= more.count("heat") <= 160 and default.count("heat") <= 40
    assert all(random_problem(s, n_interior=10, n_boundary=10, heat=0.3).kind == k
               for s, k in zip(seeds[:12], more[:12]))
    for bad in (-0.1, 0.96, "0.2", True):
        with pytest.raises(ValueError, match="heat is the probability of a heat problem"):
            random_problem(0, n_interior=10, n_boundary=10, heat=bad)


# ---- free heat modes (decay) -------------------------------------------------------------

def test_heat_modes_solve_the_source_free_heat_equation():
    from manufactured import heat_modes
    from manufactured._random import _heat_operator
    rng = np.random.default_rng(3)
    for i in range(6):
        c = _heat_operator(rng)
        tree = heat_modes((7, i), c)
        e = tree.sympy()
        derivs = (e, sp.diff(e, X), sp.diff(e, Y), sp.diff(e, X, 2), sp.diff(e, Y, 2), sp.diff(e, X, Y))
        pts = rng.uniform(-1, 1, (20, 2))
        r = sp.lambdify((X, Y), sum(ci * d for ci, d in zip(c, derivs)), "numpy")(pts[:, 0], pts[:, 1])
        assert np.max(np.abs(r)) < 1e-9                                  # no source
        jets = tree.derivatives(pts)                                     # exp's jets agree with sympy
        for k, d in enumerate(derivs):
            np.testing.assert_allclose(jets[:, k], sp.lambdify((X, Y), d, "numpy")(*pts.T) + 0 * pts[:, 0],
                                       rtol=1e-10, atol=1e-10)
        assert acceptable(tree.derivatives(_GRID), c)
    with pytest.raises(ValueError, match="heat operator"):
        heat_modes(0, [0.0, 0.0, 0.0, -1.0, -1.0, 0.0])


def test_decay_draws_free_heat_problems_and_leaves_the_rest_unchanged():
    for s in range(6):
        base = random_problem((8, s), n_interior=30, n_boundary=30)
        assert random_problem((8, s), n_interior=30, n_boundary=30, decay=0.0).digest() == base.digest()
        if base.kind != "heat":                                          # only heat draws change
            assert random_problem((8, s), n_interior=30, n_boundary=30, decay=1.0).digest() == base.digest()
    free = random_problem(4, "heat", n_interior=40, n_boundary=40, decay=1.0)
    assert np.max(np.abs(free.f)) < 1e-9 and free.manufactured
    _check_problem(free)
    for bad in (-0.5, 1.5, True):
        with pytest.raises(ValueError, match="decay is a probability"):
            random_problem(0, n_interior=10, n_boundary=10, decay=bad)
