"""Physics-informed PDE solving: one ``solve`` for every method, datasets of FE solutions,
and the ``pino`` command.

>>> import pino
>>> sorted(pino.METHODS)
['fem', 'hypino', 'pino', 'spon']
"""

from ._data import (darcy_dataset, darcy_problem, gaussian_random_field, grid_mesh,
                    holes_dataset, holes_problem, load_dataset)
from ._checkpoint import load_checkpoint, save_checkpoint
from ._encoding import Encoding, encode
from ._fno import FNO, SpectralConv
from ._hypino import (GeneratedPINNs, HyperNetwork, TargetPINN, load_hypino, rasterise_sample,
                      heldout_errors, train_hypino)
from ._lstsq import lstsq_solve, random_features
from ._operator import GridOperator, PhysicsLoss, finetune, load_model, solve_operator, train
from ._solve import METHODS, solve
from ._zeroshot import solve_hypino
from ._spon import SPON, evaluate_spon, load_spon, solve_spon, train_spon

__all__ = ["solve", "METHODS", "darcy_dataset", "holes_dataset", "load_dataset",
           "darcy_problem", "holes_problem", "gaussian_random_field", "grid_mesh",
           "FNO", "SpectralConv", "GridOperator", "PhysicsLoss", "train", "finetune",
           "load_model", "solve_operator", "SPON", "train_spon", "load_spon", "solve_spon",
           "evaluate_spon", "save_checkpoint", "load_checkpoint", "encode", "Encoding",
           "lstsq_solve", "random_features", "HyperNetwork", "TargetPINN", "GeneratedPINNs",
           "rasterise_sample", "train_hypino", "load_hypino", "heldout_errors", "solve_hypino"]
