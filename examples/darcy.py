"""A member of the Darcy family (-div(a grad u) = 1 on the unit square, u = 0): solve it with
finite elements, or with the shipped PINO: `pino solve examples/darcy.py --method pino`."""

import sympy as sp

from manufactured import x, y
from pino import darcy_problem

# a two-phase coefficient like the training data: 12 inside a blob, 3 outside, smoothed
blob = (x - 0.4) ** 2 + (y - 0.6) ** 2 - 0.09
problem = darcy_problem().substitute(a=7.5 - 4.5 * sp.tanh(40 * blob))
