"""bench/hypino_kinds.py: the validation suite that chooses between HyPINO models must draw
the same problems from the same seed, its exact solutions must solve their problems, and
none of its problems may be one of the seven benchmarks it stands in for."""

import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from hypino_kinds import KINDS, draw, reference  # noqa: E402
from hypino_problems import PROBLEMS  # noqa: E402

from manufactured import t, u, x, y  # noqa: E402


def _key(problem):
    """What makes a problem: equation, boundary data (not the boundary names) and domain."""
    return (repr(problem.equation), tuple(repr(b) for b in problem.bcs.values()), repr(problem.domain),
            problem.time, repr(problem.initial))


def _draws(kind, seed=0, n=4):
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    return [draw(kind, rng) for _ in range(n)]


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_problems_and_none_is_one_of_the_seven(kind):
    a, b = _draws(kind), _draws(kind)
    assert [repr(p) for p, _ in a] == [repr(p) for p, _ in b]
    assert len({repr(p) for p, _ in a}) == len(a)       # the draws differ from each other
    seven = {_key(p) for p, _ in PROBLEMS.values()}
    assert not any(_key(p) in seven for p, _ in a)


@pytest.mark.parametrize("kind", ["heat", "helm"])
def test_exact_solutions_solve_their_problems(kind):
    for problem, exact in _draws(kind):
        second = t if problem.is_time_dependent else y
        residual = problem.equation.subs(u, exact)
        if isinstance(residual, sp.Equality):
            residual = residual.lhs - residual.rhs
        residual = sp.simplify(residual.doit())
        assert residual == 0, (kind, residual)
        # u = 0 on the boundary; the initial data for heat
        if problem.is_time_dependent:
            assert sp.simplify(exact.subs(t, 0) - problem.initial["u"]) == 0
            assert exact.subs(x, 0) == 0 and sp.simplify(exact.subs(x, 1)) == 0
        else:
            for side in (-1, 1):
                assert sp.simplify(exact.subs(x, side)) == 0 and sp.simplify(exact.subs(second, side)) == 0


def test_fem_reference_of_a_notched_domain_is_zero_on_the_wall_and_has_the_source_sign():
    problem, _ = _draws("notch", n=1)[0]
    pts, ref = reference(problem, None)
    assert len(pts) > 1000 and np.all(np.isfinite(ref))
    c = -float(problem.equation.subs(u, 0).doit())     # -Δu = c: u has the sign of c inside
    assert np.median(np.sign(ref[np.abs(ref) > 1e-6])) == np.sign(c)
    edge = np.isclose(np.abs(pts).max(1), 1.0)           # points on the outer square
    assert np.abs(ref[edge]).max() < 1e-3 * np.abs(ref).max()


def test_normalisation_sweep_scores_each_target_and_restores_the_model(capsys):
    """bench/hypino_normalise.py --targets: each row is the model at that amplitude (the
    held-out sum is what pino.heldout_errors gives at it), and the target is really used."""
    import torch

    import pino
    from hypino_normalise import HELDOUT_SETS, sweep
    from pino._hypino import HyperNetwork

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = HyperNetwork({"channels": [8, 8, 8, 8], "latent": 16, "embed": 16, "groups": 4}).eval()
    out = sweep(model, [0.5, 2.0], seeds=(0,), per_kind=1, heldout=2)
    assert model.amplitude == 1.5 and sorted(out) == [0.5, 2.0]
    model.amplitude = 2.0
    held = sum(float(pino.heldout_errors(model, n=2, seed=s, normalise=2, symmetrise=True, physics=p,
                                         family=f).mean()) for p, f in HELDOUT_SETS for s in (0, 1))
    assert np.isclose(out[2.0][1], held, rtol=1e-6)
    assert all(np.isfinite(v).all() for v in out.values()) and out[0.5] != out[2.0]
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("| 0.5 ", "| 2 "))]
    assert len(rows) == 2


@pytest.mark.parametrize("argv", [["--targets", "1.2", "-1"], ["--targets", "inf"]])
def test_normalisation_sweep_refuses_a_bad_target(argv, capsys):
    """--targets takes positive numbers; anything else is a one-line usage error before any work."""
    from hypino_normalise import main

    with pytest.raises(SystemExit):
        main(argv)
    assert "--targets: amplitude must be a positive number" in capsys.readouterr().err


def test_model_spec_sets_the_amplitude_and_refuses_a_bad_one(tmp_path):
    """``MODEL@A`` loads the model with its normalisation target set to A; a bad A is a
    one-line error that names the spec."""
    from hypino_kinds import load_spec

    import pino

    (m,) = load_spec("hypino@0.9")
    assert m.amplitude == 0.9 and pino.load_hypino("hypino").amplitude != 0.9
    a, b = load_spec("hypino+hypino")
    assert a.amplitude == b.amplitude == pino.load_hypino("hypino").amplitude
    for bad in ("hypino@-1", "hypino@x", "hypino@inf"):
        with pytest.raises(SystemExit, match=f"--models {bad}: the amplitude after '@' must be a positive number"):
            load_spec(bad)
    with pytest.raises(SystemExit, match="--models nowhere@1.2: no hypernetwork 'nowhere'"):
        load_spec("nowhere@1.2")


def test_smooth_score_is_the_mean_upper_quartile_of_the_smooth_kinds():
    from hypino_kinds import SMOOTH, smooth_score

    errs = {k: np.arange(5.0) * (i + 1) for i, k in enumerate(KINDS)}   # 75th percentile: 3 (i + 1)
    assert SMOOTH == ("holes", "notch", "gauss", "heat")
    assert smooth_score(errs) == pytest.approx(np.mean([3.0, 6.0, 9.0, 12.0]))    # helm (15) left out


def test_shift_bench_compares_the_same_problems_off_and_on(capsys):
    """bench/hypino_shift.py: the held-out sums off and on are those pino.heldout_errors gives
    without and with ``shift``, and the holes rows score the same problems both ways."""
    import torch

    import pino
    from hypino_normalise import HELDOUT_SETS
    from hypino_shift import compare
    from pino._hypino import HyperNetwork

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = HyperNetwork({"channels": [8, 8, 8, 8], "latent": 16, "embed": 16, "groups": 4}).eval()
    out = compare(model, seeds=(0,), per_kind=2, heldout=2)
    off, on = out[0]
    assert off.shape == on.shape == (2,) and not np.allclose(off, on)   # holes problems move
    for i, shift in enumerate((False, True)):
        held = sum(float(pino.heldout_errors(model, n=2, seed=s, normalise=2, symmetrise=True, physics=p,
                                             family=f, shift=shift).mean()) for p, f in HELDOUT_SETS for s in (0, 1))
        assert np.isclose(out["held-out"][i], held, rtol=1e-6)
    assert "| holes, seed 0 (2) |" in capsys.readouterr().out


def test_errors_by_number_of_holes_read_from_saved_runs(tmp_path, capsys):
    """``--by-holes``: the disk counts are those of the drawn domains, and each model's median
    over the saved files is taken per count (a model missing from a file is left out)."""
    from hypino_kinds import by_holes, hole_counts, main
    counts = hole_counts(5, 12)
    rng = np.random.default_rng([5, KINDS.index("holes")])
    for k in counts:
        text = repr(draw("holes", rng)[0].domain)
        assert 1 <= k <= 4 and text.count("Disk(") == k
    errs = counts * 0.01 + 0.001                  # error = 0.01 x disks: medians are known
    np.savez(tmp_path / "a.npz", **{"m@1.2|holes": errs, "m@1.2|gauss": errs * 0, "only@1|holes": errs})
    np.savez(tmp_path / "b.npz", **{"m@1.2|holes": errs + 1})
    got = by_holes([(str(tmp_path / "a.npz"), 5), (str(tmp_path / "b.npz"), 5)], 12)
    assert set(got) == {"m@1.2"}
    for k, med in got["m@1.2"].items():
        both = np.concatenate([errs[counts == k], errs[counts == k] + 1])
        assert med == pytest.approx(np.median(both))
    main(["--by-holes", str(tmp_path / "a.npz"), "5", "--per-kind", "12"])
    out = capsys.readouterr().out
    assert "| only@1 |" in out and "| m@1.2 |" in out
    with pytest.raises(SystemExit, match="per-kind"):
        by_holes([(str(tmp_path / "a.npz"), 5)], 10)
    with pytest.raises(SystemExit, match="cannot read"):
        by_holes([(str(tmp_path / "missing.npz"), 5)], 12)
    with pytest.raises(SystemExit, match="seed must be an integer"):
        by_holes([(str(tmp_path / "a.npz"), "two")], 12)


def test_lift_bench_uses_the_held_out_problems_and_the_harmonic_extension_is_the_solution():
    """bench/hypino_lift.py: its held-out problems are those of ``pino._hypino._validation``
    (same points), it compares the same problems without and with the lift, and the harmonic
    extension of the boundary error of the zero function is the Laplace problem's solution."""
    import torch

    from hypino_kinds import load_spec, solve_options, suite
    from hypino_lift import compare, harmonic_fix, heldout_problems
    from pino._hypino import HyperNetwork, _validation

    items = heldout_problems(0, 3, False, None)
    val = _validation(0, 3, 32)
    assert len(items) == 3
    for (problem, pts, ref), X, lab in zip(items, val["interior"], val["derivatives"][..., 0]):
        assert np.allclose(pts, X.numpy()) and np.allclose(ref, lab.numpy())
    torch.manual_seed(0)
    model = HyperNetwork({"resolution": 32, "channels": [8, 8, 8, 8], "latent": 16, "embed": 16,
                          "groups": 4}).eval()
    off, on, lifted = compare(model, items)
    assert off.shape == on.shape == (3,) and lifted >= 1
    assert int(np.sum(off != on)) == lifted          # the lift changes exactly the lifted answers
    (problem, pts, ref), = suite(5, 1, ("holes",))["holes"]
    fix = harmonic_fix(problem, lambda p: np.zeros(len(p)), pts)
    assert np.linalg.norm(fix - ref) / np.linalg.norm(ref) < 1e-2
    assert solve_options("hypino:nolift") == {"lift": False} and solve_options("hypino") == {}
    (m,) = load_spec("hypino@1.1:nolift")
    assert m.amplitude == 1.1
