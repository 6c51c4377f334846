"""One entry point for every method: ``pino.solve(problem, method=...)``."""

import fem

from ._operator import solve_operator
from ._spon import solve_spon
from ._zeroshot import solve_hypino

#: Methods by name; each takes (problem, **options) and returns a fem.Solution.
METHODS = {"fem": fem.solve, "pino": solve_operator, "spon": solve_spon, "hypino": solve_hypino}


def solve(problem, method="fem", **options):
    """Solve ``problem`` with the named method; returns a :class:`fem.Solution`.

    >>> from geometries import Interval
    >>> from manufactured import Problem, Dirichlet, laplacian, u
    >>> p = Problem(Interval(0, 1), -laplacian(u) - 2, {"left": Dirichlet(0), "right": Dirichlet(0)})
    >>> float(solve(p, method="fem", h=0.25)([[0.5]])[0])
    0.25
    """
    try:
        run = METHODS[method]
    except KeyError:
        raise ValueError(
            f"unknown method {method!r}; available: {', '.join(sorted(METHODS))}"
        ) from None
    import inspect

    allowed = inspect.signature(run).parameters
    unknown = [k for k in options if k not in allowed]
    if unknown:
        names = ", ".join(k for k in allowed if k != "problem")
        raise TypeError(f"method {method!r} does not take {', '.join(unknown)}; it takes {names}")
    return run(problem, **options)
