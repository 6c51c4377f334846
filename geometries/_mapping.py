"""A sturdier inverse for scikit-fem's isoparametric mapping of curved simplex meshes.

scikit-fem starts Newton's method at X = 0.5 (outside the reference simplex in 3D) and clips
each iterate to the unit cube, which fails to converge on some curved tetrahedra. Starting
from the inverse of the straight simplex through the corner vertices converges in a few
steps.
"""

import numpy as np
from skfem import MeshTet2, MeshTri2
from skfem.mapping import MappingIsoparametric

from ._locate import _locator, _newton


class SimplexIsoparametric(MappingIsoparametric):
    def invF(self, x, tind=None):
        """Reference points of ``x`` (dim, nel, nq) in the elements ``tind`` (nel,)."""
        dim, nel, nq = x.shape
        cells = np.arange(self.mesh.t.shape[1]) if tind is None else np.asarray(tind)
        loc = _locator(self.mesh)  # the straight simplices' affine inverses
        X0 = np.einsum("eij,jeq->ieq", loc.Ainv[cells], x - loc.b[cells].T[:, :, None])
        flat = x.reshape(dim, -1)
        X = _newton(self, flat, np.repeat(cells, nq), X0.reshape(dim, -1))
        F = self.F(X[:, :, None], tind=np.repeat(cells, nq))[:, :, 0]
        if np.abs(flat - F).max(initial=0.0) > 1e-9 * (np.abs(x).max() + 1.0):
            raise ValueError("inverse isoparametric map did not converge: is a curved "
                             "element inverted?")
        return X.reshape(dim, nel, nq)


def robust(mesh):
    """Attach :class:`SimplexIsoparametric` to a quadratic simplex mesh; returns the mesh."""
    if isinstance(mesh, MeshTri2 | MeshTet2):
        if not isinstance(getattr(mesh, "_cached_mapping", None), SimplexIsoparametric):
            object.__setattr__(mesh, "_cached_mapping",
                               SimplexIsoparametric(mesh, mesh.elem(), mesh.bndelem))
    return mesh
