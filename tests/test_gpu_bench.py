"""bench/gpu_hypino.py's compact label files: what travels to the GPU machine must give back
the labels that were solved, and must refuse samples drawn differently there."""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from gpu_hypino import compact, read_labels  # noqa: E402

from pino._hypino import read_fem_labels, write_fem_labels  # noqa: E402

ARGS = SimpleNamespace(seed=99, samples=12, max_holes=4, notch=0.0, zero_source=0.0)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("labels")
    src, dst = d / "labels.npz", d / "small.npz"
    write_fem_labels(src, ARGS.seed, ARGS.samples, family={"max_holes": 4})
    compact(ARGS, src, dst)
    return src, dst


def test_compact_labels_give_back_the_solved_ones(files):
    src, dst = files
    full = read_fem_labels(src, ARGS.seed, ARGS.samples, family={"max_holes": 4})
    small = read_labels(ARGS, dst)
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
