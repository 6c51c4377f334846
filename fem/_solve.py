"""Reference finite-element solves: steady problems, Crank-Nicolson, Newmark."""

import math
import time as _time

import numpy as np
import scipy.sparse.linalg as spla
import skfem
import sympy as sp

from manufactured._symbols import t as tsym

from ._forms import Compiled, Operator, facet_bases
from ._solution import Solution

_ELEMENTS = {
    (1, 1): skfem.ElementLineP1, (1, 2): skfem.ElementLineP2,
    (2, 1): skfem.ElementTriP1, (2, 2): skfem.ElementTriP2, (2, 3): skfem.ElementTriP3,
    (3, 1): skfem.ElementTetP1, (3, 2): skfem.ElementTetP2,
}

#: Above this many unknowns the default solver is algebraic multigrid (pyamg).
DIRECT_LIMIT = {1: 10**7, 2: 200_000, 3: 40_000}


def element_for(dim, order):
    """The Lagrange element of ``order`` on simplices of dimension ``dim``."""
    try:
        return _ELEMENTS[(dim, order)]()
    except KeyError:
        orders = sorted(o for d, o in _ELEMENTS if d == dim)
        raise ValueError(f"order={order!r} is not available in {dim}D; choose one of {orders}") from None


class LinearSolver:
    """Solve ``A x = b`` restricted to free DOFs: direct (SuperLU, factor reused) or pyamg."""

    def __init__(self, A, free, method, symmetric, tol=1e-10):
        self.free, self.method, self.tol = free, method, tol
        Aff = A[free][:, free].tocsr()
        if method == "direct":
            self._lu = spla.splu(Aff.tocsc())
        else:
            import pyamg

            self._ml = pyamg.smoothed_aggregation_solver(
                Aff, symmetry="hermitian" if symmetric else "nonsymmetric")
            self._accel = "cg" if symmetric else "gmres"
        self.iterations = []

    def __call__(self, rhs, x0=None):
        if self.method == "direct":
            return self._lu.solve(rhs)
        res = []
        x = self._ml.solve(rhs, x0=x0, tol=self.tol, accel=self._accel, residuals=res,
                           maxiter=min(500, len(rhs)))
        self.iterations.append(len(res))
        rel = res[-1] / max(res[0], 1e-300) if res else 0.0
        if rel > 1e3 * self.tol and np.linalg.norm(rhs) > 0:
            raise RuntimeError(
                f"pyamg did not converge (relative residual {rel:.1e}); try solver='direct'"
            )
        return x


class Discretization:
    """What one mesh and element make of a Problem, built once: basis, compiled operator,
    facet bases of the Neumann/Robin tags, Dirichlet and free DOFs, solver choice."""

    def __init__(self, problem, mesh, order=1, solver="auto"):
        self.problem, self.mesh = problem, mesh
        self.op = Operator(problem)
        elem = element_for(problem.dim, order)
        straight = isinstance(mesh, skfem.MeshTri1 | skfem.MeshTet1 | skfem.MeshLine1)
        intorder = 2 * order + (0 if straight else 2)
        self.basis = skfem.CellBasis(mesh, elem, intorder=intorder)
        tags = [tg for tg in self.op.natural if len(mesh.boundaries[tg])]
        self.facet_bases = facet_bases(mesh, elem, tags, intorder)
        self.D, self.per_tag = self.op.dirichlet_dofs(self.basis, mesh)
        self.free = np.setdiff1d(np.arange(self.basis.N), self.D)
        limit = DIRECT_LIMIT[problem.dim]
        self.method = solver if solver != "auto" else ("direct" if len(self.free) <= limit else "amg")

    def check_fields(self, fields):
        for name, v in (fields or {}).items():
            if np.shape(v) != (self.basis.N,):
                raise ValueError(f"fields[{name!r}] must hold one value per DOF, shape "
                                 f"({self.basis.N},), got {np.shape(v)}")

    def system(self, fields=None, time=0.0):
        """Matrix, load and Dirichlet lift ``(A, b, x)`` of the steady problem."""
        A = self.op.stiffness(self.basis, self.facet_bases, time, fields=fields)
        b = self.op.load(self.basis, self.facet_bases, time, fields=fields)
        return A, b, self.op.dirichlet_values(self.basis, self.per_tag, time)

    def solve_steady(self, fields=None, tol=1e-10, x0=None):
        A, b, x = self.system(fields)
        solver = LinearSolver(A, self.free, self.method, self.op.symmetric, tol)
        x[self.free] = solver((b - A @ x)[self.free], x0=x0)
        return x


class FamilySolver:
    """Solve many members of a Problem family on one mesh: ``solver(a=values) -> DOFs``.

    The basis, the compiled forms and the Dirichlet DOFs are built once; with
    ``solver="amg"`` each solve starts from the previous solution.

    >>> import numpy as np, sympy as sp                       # doctest: +SKIP
    >>> s = FamilySolver(family, mesh); u1 = s(a=np.ones(mesh.nvertices))  # doctest: +SKIP
    """

    def __init__(self, problem, mesh, order=1, solver="direct", tol=1e-10):
        _check_problem(problem, {p: None for p in problem.parameters})
        self.d = Discretization(problem, mesh, order, solver)
        self.tol, self._last = tol, None

    @property
    def basis(self):
        return self.d.basis

    def __call__(self, **fields):
        _check_problem(self.d.problem, fields)
        self.d.check_fields(fields)
        x0 = None if self._last is None else self._last[self.d.free]
        self._last = self.d.solve_steady(fields, self.tol, x0=x0)
        return self._last.copy()


def _check_problem(problem, fields=None):
    if not hasattr(problem, "canonical") or not hasattr(problem, "domain"):
        raise TypeError(
            f"solve needs a manufactured.Problem, got {type(problem).__name__}; build one with "
            "Problem(domain, equation, bcs)"
        )
    fields = fields or {}
    extra = sorted(set(fields) - set(problem.parameters))
    if extra:
        raise ValueError(f"fields names {extra}, which are not parameters of the problem "
                         f"(parameters: {list(problem.parameters) or 'none'})")
    missing = [p for p in problem.parameters if p not in fields]
    if missing:
        names = ", ".join(missing)
        raise ValueError(
            f"the problem is a family with parameter function(s) {names}; pick a member with "
            f"problem.substitute({missing[0]}=...), or give its values at the DOFs with "
            f"fields={{{missing[0]!r}: values}} and mesh=..."
        )


def solve(problem, h=None, order=1, dt=None, solver="auto", mesh=None, tol=1e-10, fields=None):
    """Solve a Problem with Lagrange finite elements; returns a :class:`Solution`.

    ``h`` element size (default: a twentieth of the bounding box's smallest side),
    ``order`` 1, 2 or 3 (3 in 2D), ``dt`` time step for time problems (default: ``h``, or ``h / c`` for waves of speed c),
    ``solver`` "auto" | "direct" | "amg", ``mesh`` a prebuilt tagged scikit-fem mesh,
    ``fields`` values of a family's parameter functions at the DOFs (needs ``mesh``).

    >>> from geometries import Rectangle
    >>> from manufactured import Problem, Dirichlet, laplacian, u
    >>> square = Rectangle((0, 0), (1, 1), name="wall")
    >>> sol = solve(Problem(square, -laplacian(u) - 1, {"wall": Dirichlet(0)}), h=0.1)
    >>> round(float(sol([[0.5, 0.5]])[0]), 2)
    0.07
    """
    _check_problem(problem, fields)
    if fields and mesh is None:
        raise ValueError("fields= holds values at the DOFs of a mesh: pass that mesh= too")
    if solver not in ("auto", "direct", "amg"):
        raise ValueError(f"solver must be 'auto', 'direct' or 'amg', got {solver!r}")
    element_for(problem.dim, order)
    timings = {}
    t0 = _time.perf_counter()
    if mesh is None:
        lo, hi = problem.domain.bounds
        h = float(np.min(hi - lo)) / 20 if h is None else h
        mesh = problem.domain.mesh(h=h, order=min(order, 2))
    missing = set(problem.bcs) - set(mesh.boundaries or {})
    if missing:
        raise ValueError(f"the mesh has no boundary tagged {sorted(missing)}; tag it or pass "
                         "no mesh= so the domain meshes itself")
    timings["mesh"] = _time.perf_counter() - t0

    t0 = _time.perf_counter()
    d = Discretization(problem, mesh, order, solver)
    d.check_fields(fields)
    op, basis, fb, D, per_tag, free, method = (d.op, d.basis, d.facet_bases, d.D, d.per_tag,
                                               d.free, d.method)
    info = {"method": "fem", "order": order, "h": h, "n_dofs": int(basis.N),
            "n_free": int(len(free)), "n_elements": int(mesh.nelements), "solver": method,
            "mesh_type": type(mesh).__name__}
    if problem.time_order == 0:
        A, b, x = d.system(fields)
        timings["assemble"] = _time.perf_counter() - t0
        t0 = _time.perf_counter()
        x[free] = LinearSolver(A, free, method, op.symmetric, tol)((b - A @ x)[free])
        timings["solve"] = _time.perf_counter() - t0
        info["timings"] = timings
        return Solution(basis, x, info=info)
    if fields:
        raise ValueError("fields= is for steady problems; substitute the parameters of a "
                         "time problem with problem.substitute(...)")
    return _solve_time(problem, op, basis, fb, D, per_tag, free, method, dt, h, info, timings, t0, tol)


def _steps(problem, op, dt, h):
    t0, t1 = (float(v) for v in problem.time)
    if dt is None:
        dt = h if h is not None else (t1 - t0) / 20
        if problem.time_order == 2:  # resolve the wave speed: dt = h / c
            X = problem.domain.sample_interior(1, seed=0).T
            c2 = abs(np.trace([[k(X, t0) for k in row] for row in op.K]) / op.dim / op.m2(X, t0))
            dt = dt / max(float(np.sqrt(np.max(c2))), 1e-12)
        dt = min(dt, (t1 - t0) / 10)
    if not (isinstance(dt, int | float) and dt > 0):
        raise ValueError(f"dt must be a positive number, got {dt!r}")
    n = max(int(math.ceil((t1 - t0) / dt - 1e-9)), 1)
    return np.linspace(t0, t1, n + 1)


def _solve_time(problem, op, basis, fb, D, per_tag, free, method, dt, h, info, timings, tstart, tol):
    times = _steps(problem, op, dt, h)
    k = times[1] - times[0]
    interp = lambda expr: Compiled(expr)(basis.doflocs, times[0]) * np.ones(basis.N)  # noqa: E731
    U = np.zeros((len(times), basis.N))
    U[0] = interp(problem.initial["u"])
    A = op.stiffness(basis, fb, times[0])
    F = op.load(basis, fb, times[0])
    second = problem.time_order == 2
    M1 = op.mass(basis, op.m1, times[0]) if not op.m1.is_zero else None
    M2 = op.mass(basis, op.m2, times[0]) if second else None

    def lhs(A, M1, M2):
        if second:
            L = 4 / k**2 * M2 + A
            return L + 2 / k * M1 if M1 is not None else L
        return M1 / k + A / 2

    L = lhs(A, M1, M2)
    lin = LinearSolver(L, free, method, op.symmetric, tol)
    if second:
        V = interp(problem.initial["u_t"])
        # initial acceleration from the equation at the free DOFs; Dirichlet rows from g_tt
        acc = np.zeros(basis.N)
        for tag, dofs in per_tag.items():
            acc[dofs] = Compiled(sp.diff(op.dirichlet[tag].expr, tsym, 2))(basis.doflocs[:, dofs], times[0])
        r = F - A @ U[0] - (M1 @ V if M1 is not None else 0) - M2 @ acc
        acc[free] = spla.splu(M2[free][:, free].tocsc()).solve(r[free])
    timings["assemble"] = _time.perf_counter() - tstart
    tsolve = _time.perf_counter()
    for n in range(len(times) - 1):
        tn1 = times[n + 1]
        if op.time_dependent_matrix:
            An1 = op.stiffness(basis, fb, tn1)
            M1n1 = op.mass(basis, op.m1, tn1) if M1 is not None else None
            M2n1 = op.mass(basis, op.m2, tn1) if second else None
            L = lhs(An1, M1n1, M2n1)
            lin = LinearSolver(L, free, method, op.symmetric, tol)
        else:
            An1, M1n1, M2n1 = A, M1, M2
        Fn1 = op.load(basis, fb, tn1) if op.time_dependent_load else F
        x = op.dirichlet_values(basis, per_tag, tn1)
        if second:
            rhs = Fn1 + M2n1 @ (4 / k**2 * (U[n] + k * V) + acc)
            if M1n1 is not None:
                rhs = rhs + M1n1 @ (2 / k * U[n] + V)
        else:
            rhs = M1 @ U[n] / k - A @ U[n] / 2 + (F + Fn1) / 2
        x[free] = lin((rhs - L @ x)[free], x0=U[n][free])
        if second:
            acc = 4 / k**2 * (x - U[n] - k * V) - acc
            V = 2 / k * (x - U[n]) - V
        U[n + 1] = x
        A, M1, F = An1, M1n1, Fn1
    timings["solve"] = _time.perf_counter() - tsolve
    info.update(dt=float(k), steps=len(times) - 1,
                scheme="newmark" if second else "crank-nicolson", timings=timings)
    return Solution(basis, U, times=times, info=info)
