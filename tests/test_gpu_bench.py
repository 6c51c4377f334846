"""bench/gpu_hypino.py's compact label files: what travels to the GPU machine must give back
the labels that were solved, and must refuse samples drawn differently there."""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from gpu_hypino import compact, from_cache, read_labels, runs_of, variants_of  # noqa: E402

from pino._hypino import AMPLITUDE, read_fem_labels, training_samples, write_fem_labels  # noqa: E402

ARGS = SimpleNamespace(seed=99, samples=12, family={"max_holes": 4})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("labels")
    src, dst = d / "labels.npz", d / "small.npz"
    write_fem_labels(src, ARGS.seed, ARGS.samples, family={"max_holes": 4})
    compact(ARGS, src, dst)
    return src, dst


def assert_float16_copy(full, small):
    assert full.keys() == small.keys() and len(full) > 0
    for k, u in full.items():
        if u is None:
            assert small[k] is None
            continue
        v = small[k]
        assert v.dtype == np.float32
        assert np.array_equal(np.isfinite(u), np.isfinite(v))
        ok = np.isfinite(u)
        # float16 keeps 11 bits: within 2^-11 of the row's peak
        assert np.max(np.abs(u[ok] - v[ok])) <= 2.0**-11 * np.max(np.abs(u[ok])) + 1e-12
        assert np.max(np.abs(u[ok] - v[ok])) > 0   # really stored in float16


def test_compact_labels_give_back_the_solved_ones(files):
    src, dst = files
    assert_float16_copy(read_fem_labels(src, ARGS.seed, ARGS.samples, family={"max_holes": 4}),
                        read_labels(ARGS, dst))
    with np.load(dst) as z:
        assert z["u"].dtype == np.float16 and np.all(np.abs(z["u"][np.isfinite(z["u"])]) <= 1)


def test_compact_labels_refuse_other_points(files, tmp_path):
    _, dst = files
    with np.load(dst) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["check_interior"] = arrays["check_interior"] + 1e-3
    bad = tmp_path / "bad.npz"
    np.savez_compressed(bad, **arrays)
    with pytest.raises(SystemExit, match="other interior points"):
        read_labels(ARGS, bad)


def test_labels_read_from_a_sample_cache_are_the_solved_ones(files, tmp_path):
    # the cache holds each physics-only sample scaled by its own factor; from_cache undoes it
    src, _ = files
    cache, dst = tmp_path / "cache", tmp_path / "from_cache.npz"
    training_samples(ARGS.seed, ARGS.samples, fem_labels=True, family=ARGS.family, cache=cache)
    from_cache(ARGS, cache, dst)
    full = read_fem_labels(src, ARGS.seed, ARGS.samples, family=ARGS.family)
    peaks = [np.nanmax(np.abs(u)) for u in full.values() if u is not None]
    assert any(not AMPLITUDE / 2 <= p <= 2 * AMPLITUDE for p in peaks)   # some were scaled
    assert_float16_copy(full, read_labels(ARGS, dst))


def test_runs_and_variants_are_checked():
    args = SimpleNamespace(seed=1, samples=10, labels="a.npz", family={"max_holes": 4}, lr=1e-3,
                           loss_weights="{}", balance=0.0, extra='[{"seed": 2, "samples": 5, "labels": "b.npz"}]',
                           variants='[{"name": "A", "loss_weights": {"lifted": 10}}]')
    assert [(r.seed, r.samples, r.labels) for r in runs_of(args)] == [(1, 10, "a.npz"), (2, 5, "b.npz")]
    assert variants_of(args) == [{"name": "A", "lr": 1e-3, "loss_weights": {"lifted": 10}, "balance": 0.0}]
    with pytest.raises(SystemExit, match="--extra"):
        runs_of(SimpleNamespace(**{**vars(args), "extra": '[{"seed": 2}]'}))
    with pytest.raises(SystemExit, match="--variants"):
        variants_of(SimpleNamespace(**{**vars(args), "variants": '[{"lr": 1e-3}]'}))
