"""FEM speed at about 1M DOFs: our pipeline against plain scikit-fem + pyamg, same process.

    python bench/fem_scaling.py [--n 1000] [--repeat 3]

Problem: -Δu = 1 on the unit square, u = 0 on the boundary, P1 on an n x n-cell mesh
((n+1)^2 DOFs; n = 1000 gives 1.0M). "ours" is `fem.solve(problem, mesh=mesh)` (canonical
form -> scikit-fem forms -> pyamg smoothed aggregation CG, tol 1e-10); "baseline" does the
same by hand with scikit-fem's `laplace`/`unit_load`, `condense` and pyamg. Times are the
median of the repeats, alternated so that machine noise hits both. Also: the time to mesh a
CSG domain (square minus two disks) with gmsh to about 200k triangles.
"""

import argparse
import statistics
import time

import numpy as np
import pyamg
import skfem
from skfem.models.poisson import laplace, unit_load

import fem
from geometries import Disk, Rectangle
from manufactured import Dirichlet, Problem, laplacian, u


def baseline(mesh):
    basis = skfem.CellBasis(mesh, skfem.ElementTriP1())
    A = laplace.assemble(basis)
    b = unit_load.assemble(basis)
    D = basis.get_dofs().flatten()
    x = np.zeros(basis.N)
    Af, bf, _, I = skfem.condense(A, b, x=x, D=D)
    ml = pyamg.smoothed_aggregation_solver(Af, symmetry="hermitian")
    x[I] = ml.solve(bf, tol=1e-10, accel="cg", maxiter=500)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mesh-h", type=float, default=0.0066)
    args = ap.parse_args()

    mesh = skfem.MeshTri.init_tensor(np.linspace(0, 1, args.n + 1), np.linspace(0, 1, args.n + 1))
    mesh = mesh.with_boundaries({"wall": mesh.boundary_facets()})
    problem = Problem(Rectangle((0, 0), (1, 1), name="wall"), -laplacian(u) - 1,
                      {"wall": Dirichlet(0)})
    ours, base = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        sol = fem.solve(problem, mesh=mesh, solver="amg")
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        xb = baseline(mesh)
        base.append(time.perf_counter() - t0)
    diff = np.abs(sol.dofs - xb).max() / np.abs(xb).max()
    to, tb = statistics.median(ours), statistics.median(base)
    print(f"P1 Poisson, {sol.n_dofs} DOFs ({args.n}x{args.n} cells), median of {args.repeat}")
    print(f"{'':12s}{'assemble+solve [s]':>20s}")
    print(f"{'ours':12s}{to:20.2f}   (assemble {sol.info['timings']['assemble']:.2f}, "
          f"solve {sol.info['timings']['solve']:.2f})")
    print(f"{'baseline':12s}{tb:20.2f}")
    print(f"ratio ours/baseline: {to / tb:.2f}   max relative difference of solutions: {diff:.1e}")

    domain = Rectangle((-1, -1), (1, 1)) - Disk((-0.4, 0), 0.25) - Disk((0.45, 0.3), 0.2)
    t0 = time.perf_counter()
    m = domain.mesh(h=args.mesh_h)
    tm = time.perf_counter() - t0
    print(f"meshing the CSG domain (square minus two disks) at h={args.mesh_h}: "
          f"{m.nelements} triangles in {tm:.2f} s (gmsh + tagging)")


if __name__ == "__main__":
    main()
