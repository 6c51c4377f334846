"""Physics-informed PDE solving: one ``solve`` for every method, and the ``pino`` command.

>>> import pino
>>> sorted(pino.METHODS)
['fem']
"""

from ._solve import METHODS, solve

__all__ = ["solve", "METHODS"]
