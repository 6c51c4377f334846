"""The ``pino`` command: ``pino solve FILE.py`` and ``pino plot FILE.vtu``."""

import argparse
import importlib.util
import os
import sys
import time
import traceback


class UserError(Exception):
    """A mistake in the user's input: printed as one paragraph, exit status 2."""


def load_problem_file(path):
    """Import a problem file; returns its module (with ``problem`` and maybe ``exact``)."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file. Give the path of a Python file that defines "
                        "`problem`, e.g. examples/poisson_L.py")
    name = "_pino_problem_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise UserError(f"{path}:{exc.lineno}: syntax error: {exc.msg}. Fix the file and "
                        "run again.") from None
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path}: the problem is invalid: {exc}") from None
    except Exception as exc:  # the user's code raised: show where, briefly
        tb = traceback.extract_tb(exc.__traceback__)
        line = next((f.lineno for f in reversed(tb) if f.filename == os.path.abspath(path)
                     or f.filename == path), "?")
        raise UserError(f"{path}:{line}: running the file raised {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.pop(0)
    if not hasattr(module, "problem"):
        raise UserError(f"{path} defines no `problem`. Add a module-level variable, e.g. "
                        "`problem = Problem(domain, -laplacian(u) - 1, bcs)`.")
    return module


def _cmd_solve(args):
    import pino

    module = load_problem_file(args.file)
    options = {}
    if args.h is not None:
        options["h"] = args.h
    if args.order is not None:
        options["order"] = args.order
    if args.dt is not None:
        options["dt"] = args.dt
    for name in ("model", "refine", "finetune", "normalise", "n", "dtype"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.lstsq:
        options["lstsq"] = True
    if args.symmetrise is not None:
        options["symmetrise"] = args.symmetrise
    if args.lift is not None:
        options["lift"] = args.lift
    if args.shift:
        options["shift"] = True
    start = time.perf_counter()
    try:
        sol = pino.solve(module.problem, method=args.method, **options)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{args.file}: cannot solve: {exc}") from None
    elapsed = time.perf_counter() - start
    os.makedirs(args.output, exist_ok=True)
    vtu = os.path.join(args.output, "solution.vtu")
    png = os.path.join(args.output, "solution.png")
    sol.save(vtu)
    if sol.is_time_dependent:
        sol.save(os.path.join(args.output, "solution.xdmf"))
    sol.plot(png)
    info = sol.info
    print(f"{args.file}: {args.method}, order {info.get('order')}, {sol.n_dofs} DOFs, "
          f"{info.get('n_elements')} elements, solved in {elapsed:.2f} s")
    exact = getattr(module, "exact", None)
    if exact is None:
        exact = getattr(module.problem, "exact", None)
    if exact is not None:
        l2 = sol.error(exact, norm="L2", relative=True)
        h1 = sol.error(exact, norm="H1", relative=True)
        print(f"relative error against `exact`: L2 {l2:.3e}, H1 {h1:.3e}")
    print(f"wrote {vtu} and {png}")
    return 0


def _cmd_plot(args):
    import fem

    out = args.output or os.path.splitext(args.file)[0] + ".png"
    try:
        fem.plot_file(args.file, out, field=args.field)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"wrote {out}")
    return 0


def _cmd_data(args):
    import pino

    make = {"darcy": lambda: pino.darcy_dataset(args.out, n=args.n, resolutions=args.resolutions,
                                                seed=args.seed, workers=args.workers),
            "holes": lambda: pino.holes_dataset(args.out, n=args.n, h=args.h, refine=args.refine,
                                                seed=args.seed, workers=args.workers)}
    try:
        make[args.family]()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"wrote {args.out}")
    return 0


def _padding(text):
    """'8' is a number of grid points, '0.25' a fraction of the grid."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _json_option(text, flag="--config", example='{"channels": [32, 64, 96, 128], "latent": 256}'):
    """A JSON file, or JSON text, given to ``flag`` (--config: HyperNetwork options)."""
    import json

    if text is None:
        return None
    try:
        if os.path.isfile(text):
            with open(text) as fh:
                return json.load(fh)
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{flag} {text}: not a JSON file or JSON text ({exc}); give e.g. "
                        f"'{example}'") from None


def _family(args):
    """The --max-holes / --notch / --zero-source / --heat / --decay / --bumps / --plain / --reaction options as
    train_hypino's ``family`` (None: HyPINO's)."""
    got = {k: v for k, v in (("max_holes", args.max_holes), ("notch", args.notch),
                             ("zero_source", args.zero_source), ("heat", args.heat),
                             ("decay", args.decay), ("bumps", args.bumps), ("plain", args.plain),
                             ("reaction", args.reaction))
           if v is not None}
    return got or None


EXTRA_EXAMPLE = '{"seed": 16, "samples": 20000, "family": {"max_holes": 4, "zero_source": 0.3}}'


def _cmd_train_hypino(args):
    from pino._hypino import train_hypino

    try:
        train_hypino(args.out, n_samples=args.samples, epochs=args.epochs, batch=args.batch,
                     lr=args.lr, seed=args.seed, workers=args.workers or 2, device=args.device,
                     max_seconds=args.max_seconds, model_config=_json_option(args.config),
                     n_val=args.val, stop_after=args.stop_after, init=args.init,
                     fem_labels=args.fem_labels_file or args.fem_labels, augment=args.augment,
                     rescale=args.rescale, rescale_spread=args.rescale_spread,
                     family=_family(args), sample_cache=args.sample_cache,
                     balance=args.balance or 0.0,
                     extra_samples=[_json_option(t, "--extra-samples", EXTRA_EXAMPLE)
                                    for t in args.extra_samples or []],
                     loss_weights=_json_option(args.loss_weights, "--loss-weights", '{"u": 5}'),
                     log=lambda line: print(line, flush=True))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"checkpoint in {args.out}")
    return 0


def _cmd_train(args):
    from pino._operator import train

    if args.model == "hypino":
        return _cmd_train_hypino(args)
    given = [flag for flag, value in (("--config", args.config), ("--stop-after", args.stop_after),
                                      ("--fem-labels", args.fem_labels),
                                      ("--fem-labels-file", args.fem_labels_file),
                                      ("--augment", args.augment), ("--rescale", args.rescale),
                                      ("--rescale-spread", args.rescale_spread),
                                      ("--max-holes", args.max_holes), ("--notch", args.notch),
                                      ("--zero-source", args.zero_source), ("--heat", args.heat),
                                      ("--decay", args.decay), ("--bumps", args.bumps),
                                      ("--plain", args.plain), ("--reaction", args.reaction),
                                      ("--sample-cache", args.sample_cache),
                                      ("--loss-weights", args.loss_weights),
                                      ("--balance", args.balance),
                                      ("--extra-samples", args.extra_samples))
             if value not in (None, False)]
    if given:
        raise UserError(f"pino train operator: {', '.join(given)} belong to `pino train hypino`; "
                        "leave them out to train an operator")
    if args.train is None:
        raise UserError("pino train operator needs --train DATASET_FOLDER (make one with `pino data`)")
    try:
        train(args.train, args.out, args.test, data_res=args.data_res,
              physics_res=args.physics_res, physics_weight=args.physics_weight,
              data_weight=args.data_weight, epochs=args.epochs, batch=args.batch, lr=args.lr,
              n_train=args.n_train, modes=(args.modes, args.modes), width=args.width,
              layers=args.layers, padding=_padding(args.padding), device=args.device, seed=args.seed,
              max_seconds=args.max_seconds, init=args.init,
              log=lambda line: print(line, flush=True))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"checkpoint in {args.out}")
    return 0


def parser():
    p = argparse.ArgumentParser(prog="pino", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("solve", help="solve the `problem` defined in a Python file")
    s.add_argument("file", help="Python file defining `problem` (and optionally `exact`)")
    s.add_argument("--method", default="fem", help="solution method (default: fem)")
    s.add_argument("--h", type=float, default=None, help="element size")
    s.add_argument("--order", type=int, default=None, help="polynomial order (1, 2, 3)")
    s.add_argument("--dt", type=float, default=None, help="time step for time problems")
    s.add_argument("--model", default=None, help="trained model (methods pino, spon, hypino)")
    s.add_argument("--n", type=int, default=None, help="method pino: grid cells per side")
    s.add_argument("--refine", type=int, default=None, help="method hypino: refinement steps")
    s.add_argument("--lstsq", action="store_true", help="method hypino: least-squares head")
    s.add_argument("--symmetrise", action=argparse.BooleanOptionalAction, default=None,
                   help="method hypino: average over the symmetries of the square "
                        "(default: on unless --lstsq, --refine or --finetune)")
    s.add_argument("--lift", action=argparse.BooleanOptionalAction, default=None,
                   help="method hypino: add the Dirichlet lift (the network's mismatch with the "
                        "Dirichlet data extended inside by the Poisson kernel; default: on for the "
                        "plain zero-shot answer of a steady elliptic problem with Dirichlet data)")
    s.add_argument("--shift", action="store_true",
                   help="method hypino: also average over the constant shifts of u to the smallest and "
                        "largest Dirichlet value (steady equations without a u term)")
    s.add_argument("--finetune", type=int, default=None, help="method hypino: fine-tuning steps")
    s.add_argument("--dtype", choices=("float32", "float64"), default=None,
                   help="method hypino: precision of the networks (default: float64 with --lstsq "
                        "or --finetune, else float32)")
    s.add_argument("--normalise", type=int, default=None,
                   help="method hypino: amplitude-normalisation passes (default 2; 0: off)")
    s.add_argument("-o", "--output", default="out", help="output folder (default: out)")
    s.set_defaults(run=_cmd_solve)
    q = sub.add_parser("plot", help="render a .vtu file to a PNG picture")
    q.add_argument("file", help="a .vtu (or any meshio) file")
    q.add_argument("-o", "--output", default=None, help="PNG path (default: FILE.png)")
    q.add_argument("--field", default=None, help="point-data field to show (default: first)")
    q.set_defaults(run=_cmd_plot)
    d = sub.add_parser("data", help="generate a dataset of FE solutions of a family")
    d.add_argument("family", choices=["darcy", "holes"])
    d.add_argument("--out", required=True, help="dataset folder (resumes if it exists)")
    d.add_argument("--n", type=int, default=1000, help="number of members")
    d.add_argument("--resolutions", type=int, nargs="+", default=[32, 64],
                   help="darcy: grid resolutions (cells per side)")
    d.add_argument("--h", type=float, default=0.1, help="holes: element size")
    d.add_argument("--refine", type=int, default=1, help="holes: uniform refinements")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--workers", type=int, default=None)
    d.set_defaults(run=_cmd_data)
    tr = sub.add_parser("train", help="train a model (checkpoints, resumes)")
    tr.add_argument("model", choices=["operator", "hypino"],
                    help="operator: FNO/PINO on a grid family; hypino: the zero-shot hypernetwork")
    tr.add_argument("--train", default=None, help="operator: training dataset folder")
    tr.add_argument("--test", default=None, help="test dataset folder")
    tr.add_argument("--out", required=True, help="checkpoint folder")
    tr.add_argument("--data-res", type=int, default=32)
    tr.add_argument("--physics-res", type=int, default=None,
                    help="add the FE residual at this resolution (PINO)")
    tr.add_argument("--physics-weight", type=float, default=1.0)
    tr.add_argument("--data-weight", type=float, default=1.0)
    tr.add_argument("--epochs", type=int, default=100)
    tr.add_argument("--batch", type=int, default=20)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--n-train", type=int, default=None)
    tr.add_argument("--modes", type=int, default=12)
    tr.add_argument("--width", type=int, default=32)
    tr.add_argument("--layers", type=int, default=4)
    tr.add_argument("--padding", default="0.25",
                    help="FNO zero padding: a fraction of the grid (0.25), or grid points (8)")
    tr.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--init", default=None,
                    help="start from this checkpoint's weights (hypino: also a shipped model's name)")
    tr.add_argument("--max-seconds", type=float, default=None,
                    help="stop (with a checkpoint) after this long")
    tr.add_argument("--samples", type=int, default=1000,
                    help="hypino: number of random training problems")
    tr.add_argument("--val", type=int, default=32,
                    help="hypino: number of validation problems (manufactured)")
    tr.add_argument("--workers", type=int, default=None,
                    help="hypino: processes generating the samples (default 2)")
    tr.add_argument("--config", default=None,
                    help="hypino: HyperNetwork options, a JSON file or JSON text")
    tr.add_argument("--stop-after", type=int, default=None,
                    help="hypino: stop after this many epochs of this call (resume later)")
    tr.add_argument("--fem-labels", action="store_true",
                    help="hypino: label the physics-only samples with u from a FEM solve")
    tr.add_argument("--fem-labels-file", default=None,
                    help="hypino: as --fem-labels, the labels read from this file "
                         "(pino._hypino.write_fem_labels) instead of solved")
    tr.add_argument("--augment", action="store_true",
                    help="hypino: move each training sample by a random symmetry of the square")
    tr.add_argument("--rescale", action="store_true",
                    help="hypino: scale each labelled sample to max |u| near 1.5, where amplitude "
                         "normalisation asks the model")
    tr.add_argument("--rescale-spread", type=float, default=None,
                    help="hypino, with --rescale: the sizes drawn are 1.5 / S .. 1.5 * S (default 1.25)")
    tr.add_argument("--max-holes", type=int, default=None,
                    help="hypino: steady domains have 0 to this many holes (default 3, HyPINO's)")
    for flag, text in (
            ("--notch", "the probability that a steady domain also has a rectangle cut from a corner "
                        "or a side (L-shapes, slots; default 0)"),
            ("--zero-source", "the probability that a physics-only sample has no source (Laplace-type "
                              "problems driven by boundary data alone; default 0)"),
            ("--heat", "the share of heat problems among the samples (default 0.05; elliptic and "
                       "physics-only samples share the rest)"),
            ("--decay", "the probability that a heat sample is free decay without a source (sums of "
                        "decaying modes) instead of a random composition (default 0)"),
            ("--bumps", "the probability that a physics-only sample with a source gets 1-4 Gaussian "
                        "bumps instead of a polynomial (localised sources; default 0)"),
            ("--plain", "the probability that a physics-only sample is a plain Poisson problem, k times "
                        "the Laplacian with Dirichlet data on every boundary (default 0)"),
            ("--reaction", "the probability that a plain problem (--plain) also has a u term of the "
                           "coercive sign, k Δu - sign(k) c u (default 0)")):
        tr.add_argument(flag, type=float, default=None, help="hypino: " + text)
    tr.add_argument("--sample-cache", default=None,
                    help="hypino: keep the training samples in this folder as they are made; "
                         "an interrupted run resumes there and later runs reuse them")
    tr.add_argument("--extra-samples", action="append", default=None, metavar="JSON",
                    help="hypino: also train on another run's samples (repeatable), JSON text or "
                         f"file, e.g. '{EXTRA_EXAMPLE}' (family as the options above; made with the "
                         "run's labels, or read from --sample-cache)")
    tr.add_argument("--loss-weights", default=None,
                    help="hypino: weights of the loss parts that differ from HyPINO's, JSON text "
                         "or file, e.g. '{\"u\": 5}' (parts: residual, derivatives, u, "
                         "dirichlet, neumann, robin)")
    tr.add_argument("--balance", type=float, default=None,
                    help="hypino: 0-1, how far the boundary losses weight each boundary component "
                         "(the box, each hole) the same whatever its length (default 0: by points)")
    tr.set_defaults(run=_cmd_train)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as exc:
        print(f"pino: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
