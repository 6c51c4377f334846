"""Manufactured solutions: make a chosen expression the exact solution of a Problem.

>>> m = manufacture(poisson, sympy.sin(x) * y)     # doctest: +SKIP
>>> m.exact, m.canonical.f                         # doctest: +SKIP
(y*sin(x), y*sin(x))
"""

from __future__ import annotations

import sympy as sp
from sympy.core.function import AppliedUndef

from ._conditions import Dirichlet, Neumann, Robin
from ._helpers import u
from ._problem import Problem, _check_symbols
from ._symbols import NORMAL, t


def manufacture(problem, u_exact) -> Problem:
    """A Problem with the same operator, tags and condition types whose solution is ``u_exact``.

    Source ``f = operator(u_exact)``; Dirichlet ``g = u_exact``; Neumann ``g = grad u_exact . n``;
    Robin ``g = grad u_exact . n + alpha*u_exact``; initial data ``u_exact`` (and its t-derivative) at t0.

    >>> manufacture(poisson, x * (1 - x)).canonical.f   # doctest: +SKIP
    2
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"manufacture(problem, u_exact): problem must be a Problem, got {type(problem).__name__}")
    where = f"manufacture({problem.name!r})" if problem.name else "manufacture"
    if isinstance(u_exact, (str, bytes, bool)) or not isinstance(u_exact, (int, float, sp.Expr)):
        raise TypeError(f"{where}: u_exact must be a sympy expression of the coordinates, got "
                        f"{type(u_exact).__name__} {u_exact!r}; e.g. sympy.sin(x) * y")
    ue = sp.sympify(u_exact)
    if ue.atoms(AppliedUndef) or ue.has(sp.Derivative):
        raise ValueError(f"{where}: u_exact = {ue} contains unknown functions (u or parameters); "
                         "give an explicit expression of the coordinates" + (" and t" if problem.is_time_dependent else ""))
    _check_symbols(ue, problem.coords, False, problem.is_time_dependent, "u_exact", where)

    cf = problem.canonical
    coords = problem.coords
    f = cf.operator(ue)
    equation = cf.operator(u) - f
    flux = sp.Add(*[sp.diff(ue, c) * n for c, n in zip(coords, NORMAL)])
    bcs = {}
    for tag, cond in problem.bcs.items():
        if isinstance(cond, Dirichlet):
            bcs[tag] = Dirichlet(ue)
        elif isinstance(cond, Neumann):
            bcs[tag] = Neumann(flux)
        else:
            bcs[tag] = Robin(cond.alpha, flux + cond.alpha * ue)
    initial = None
    if problem.is_time_dependent:
        t0 = problem._time[0]
        initial = {"u": ue.subs(t, t0)}
        if problem.time_order == 2:
            initial["u_t"] = sp.diff(ue, t).subs(t, t0)
    new = Problem(problem.domain, equation, bcs, time=problem._time, initial=initial, name=problem.name)
    new._exact = ue
    return new
