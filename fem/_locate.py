"""Point evaluation of finite-element fields: sparse probe matrices for values and gradients.

Points are in scikit-fem's layout ``(dim, N)``; location is ``geometries.locate``.
"""

import numpy as np
from scipy.sparse import csr_matrix

from geometries._locate import locate

__all__ = ["locate", "probes", "probes_grad"]


def _matrices(basis, points, grad, extrapolate):
    points = np.asarray(points, dtype=float)
    cells, X = locate(basis.mesh, points, mapping=basis.mapping, extrapolate=extrapolate)
    inside = cells >= 0
    rows = np.nonzero(inside)[0]
    c, Xc = cells[inside], X[:, inside][:, :, None]
    N, dim = points.shape[1], basis.mesh.p.shape[0]
    vals = [[] for _ in range(dim if grad else 1)]
    if rows.size:
        for i in range(basis.Nbfun):
            field = basis.elem.gbasis(basis.mapping, Xc, i, tind=c)[0]
            if grad:
                for d in range(dim):
                    vals[d].append(np.asarray(field.grad[d])[:, 0])
            else:
                vals[0].append(np.asarray(field)[:, 0])
    cols = basis.element_dofs[:, c]                       # (Nbfun, n)
    r = np.tile(rows, basis.Nbfun)
    mats = [csr_matrix((np.concatenate(v) if v else np.zeros(0), (r, cols.ravel())),
                       shape=(N, basis.N)) for v in vals]
    return mats, inside


def probes(basis, points, *, extrapolate=False):
    """Point-evaluation matrix ``P`` (N, n_dofs) and mask ``inside`` (N,) for points (dim, N).

    ``P @ dofs`` are the field values; rows of points outside the mesh are empty.
    Example: ``P, inside = probes(basis, np.array([[0.2, 0.5], [0.1, 0.3]]))``
    """
    mats, inside = _matrices(basis, points, False, extrapolate)
    return mats[0], inside


def probes_grad(basis, points, *, extrapolate=False):
    """Gradient-evaluation matrices ``[P_x, P_y, ...]`` (each (N, n_dofs)) and ``inside``.

    Example: ``(Px, Py), inside = probes_grad(basis, pts); dudx = Px @ dofs``
    """
    return _matrices(basis, points, True, extrapolate)
