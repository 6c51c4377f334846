"""The command line and the examples: every example solves on a coarse mesh."""

import os
import subprocess
import sys

os.environ["PYVISTA_OFF_SCREEN"] = "true"

import meshio  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from pino.cli import load_problem_file, main  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".py"))
COARSE = {"poisson_3d.py": ["--h", "0.5"], "heat.py": ["--h", "0.1"],
          "wave.py": ["--h", "0.02", "--order", "2", "--dt", "0.004"]}
# relative L2 error each example must reach on its coarse mesh (where it defines `exact`)
ACCURACY = {"holes_mixed.py": 2e-2, "adr_polygon.py": 1e-2, "robin.py": 2e-2,
            "poisson_3d.py": 5e-2, "heat.py": 2e-2, "wave.py": 2e-2}


def test_examples_are_all_covered():
    assert len(EXAMPLES) >= 8
    assert set(ACCURACY) <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_solves(name, tmp_path, capsys):
    path = os.path.join(ROOT, "examples", name)
    options = COARSE.get(name, ["--h", "0.15"])
    assert main(["solve", path, *options, "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "DOFs" in out and "wrote" in out
    png, vtu = tmp_path / "solution.png", tmp_path / "solution.vtu"
    assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"
    data = meshio.read(vtu)
    assert "u" in data.point_data and np.all(np.isfinite(data.point_data["u"]))
    module = load_problem_file(path)
    exact = getattr(module, "exact", None) or getattr(module.problem, "exact", None)
    if exact is not None:
        rel = float(out.split("L2 ")[1].split(",")[0])
        assert rel < ACCURACY[name]


def test_vtu_holds_the_same_field(tmp_path):
    import fem

    module = load_problem_file(os.path.join(ROOT, "examples", "poisson_L.py"))
    sol = fem.solve(module.problem, h=0.2)
    sol.save(tmp_path / "s.vtu")
    back = meshio.read(tmp_path / "s.vtu")
    assert np.allclose(back.points[:, :2], sol.mesh.p.T)
    assert np.allclose(back.point_data["u"], sol.dofs, atol=0, rtol=1e-12)
    assert main(["plot", str(tmp_path / "s.vtu"), "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 5000


@pytest.mark.parametrize("content,message", [
    ("x = 1\n", "defines no `problem`"),
    ("def f(:\n", "syntax error"),
    ("from geometries import Rectangle\nfrom manufactured import *\n"
     "problem = Problem(Rectangle(), -laplacian(u), {'left': Dirichlet(0)})\n",
     "the problem is invalid"),
    ("raise RuntimeError('boom')\n", "raised RuntimeError: boom"),
])
def test_bad_problem_files_get_one_paragraph(tmp_path, capsys, content, message):
    path = tmp_path / "bad.py"
    path.write_text(content)
    assert main(["solve", str(path), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_hypino_training_options_are_refused_for_an_operator(tmp_path, capsys):
    assert main(["train", "operator", "--train", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--notch", "0.5", "--rescale", "--sample-cache", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "--rescale, --notch, --sample-cache belong to `pino train hypino`" in err and "Traceback" not in err


def test_missing_file_and_bad_plot_input(tmp_path, capsys):
    assert main(["solve", str(tmp_path / "nope.py")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nope.vtu")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_console_script_runs_off_screen(tmp_path):
    env = {**os.environ, "PYVISTA_OFF_SCREEN": "true"}
    r = subprocess.run([sys.executable, "-m", "pino.cli", "solve",
                        os.path.join(ROOT, "examples", "robin.py"), "--h", "0.3", "--order", "2",
                        "-o", str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "relative error against `exact`" in r.stdout
    assert (tmp_path / "solution.png").exists()


def test_shipped_pino_from_the_command_line(tmp_path, capsys):
    import fem
    import pino

    path = os.path.join(ROOT, "examples", "darcy.py")
    assert main(["solve", path, "--method", "pino", "-o", str(tmp_path)]) == 0
    assert "pino, order 1, 4225 DOFs" in capsys.readouterr().out
    problem = load_problem_file(path).problem
    learned = pino.solve(problem, method="pino", n=64)
    reference = fem.solve(problem, h=0.02, order=2)
    assert learned.error(reference, relative=True) < 0.1  # out of the training distribution
    assert main(["solve", path, "--method", "pino", "--h", "0.1"]) == 2
    assert "does not take h" in capsys.readouterr().err


def test_shipped_hypernetwork_from_the_command_line(tmp_path, capsys):
    """`pino solve FILE --method hypino` with the shipped model: zero-shot, then with the
    least-squares head (robin.py: a Robin condition on a disk, exact u = 2 - x^2 - y^2)."""
    path = os.path.join(ROOT, "examples", "robin.py")
    errors = {}
    for extra in ([], ["--lstsq"], ["--dtype", "float64"], ["--shift"], ["--no-lift"]):
        args = ["--h", "0.1", "--order", "2"]        # P2 holds the exact quadratic
        assert main(["solve", path, "--method", "hypino", *extra, *args, "-o", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert "hypino" in out and (tmp_path / "solution.vtu").exists()
        errors[" ".join(extra)] = float(out.split("L2 ")[1].split(",")[0])
    # the CPU-trained model is rough zero-shot (0.44 when shipped); the least-squares head
    # reaches 3e-6; float64 networks give the float32 answer
    assert errors[""] < 0.6 and errors["--lstsq"] < 1e-4, errors
    assert errors["--dtype float64"] == pytest.approx(errors[""], rel=1e-4)
    assert errors["--shift"] == errors[""]           # no Dirichlet boundary: nothing to shift
    assert errors["--no-lift"] == errors[""]         # nor to lift; asking for the lift is an error
    assert main(["solve", path, "--method", "hypino", "--lift", "-o", str(tmp_path)]) == 2
    assert "lift=True needs a steady problem with an elliptic operator and Dirichlet data" in capsys.readouterr().err
    assert main(["solve", path, "--method", "hypino", "--shift", "--lstsq", "-o", str(tmp_path)]) == 2
    assert "shift=True cannot be combined with lstsq" in capsys.readouterr().err
