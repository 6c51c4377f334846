"""SPON: structure-preserving operator networks on the P1 DOF graph of a mesh.

Encode -> process -> decode.  The encoder takes the parameter fields at the P1 DOFs (the
mesh vertices) as given, plus fixed node features (coordinates normalised to the bounding
box, a Dirichlet flag, one flag per boundary tag); the processor is a message-passing
network on :func:`fem.dof_graph` (optionally a two-level V-cycle with the FE restriction
and prolongation between a mesh and its refinement); the decoder predicts the free DOFs
only and :class:`fem.DirichletDecoder` puts the Dirichlet values in place, so boundary data
hold exactly, trained or not.

Example::

    >>> from pino import holes_dataset, holes_problem                    # doctest: +SKIP
    >>> holes_dataset("data/holes", n=200, h=0.1, refine=1)              # doctest: +SKIP
    >>> model, hist = train_spon("data/holes", "runs/spon", h=0.1, refine=1,
    ...                          epochs=30, batch=8, lr=2e-3)            # doctest: +SKIP
    >>> sol = solve_spon(holes_problem().substitute(a=3 + x * y), model)  # doctest: +SKIP
"""

import os
import time

import numpy as np
import skfem
import sympy as sp
import torch
from sympy.core.function import AppliedUndef
from torch import nn

import fem

from ._checkpoint import load_checkpoint, read_meta
from ._data import holes_problem, load_dataset
from ._fit import fit
from ._operator import _device, relative_l2

__all__ = ["SPON", "train_spon", "load_spon", "solve_spon", "evaluate_spon"]

#: Problem families a SPON checkpoint can rebuild its mesh from.
FAMILIES = {"holes": holes_problem}


def _mlp(n_in, hidden, n_out, layers=2):
    mods, d = [], n_in
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden), nn.GELU()]
        d = hidden
    mods.append(nn.Linear(d, n_out))
    return nn.Sequential(*mods)


def _sparse_apply(M, h):
    """Sparse (m, n) applied to node features h (B, n, H) -> (B, m, H)."""
    B, n, H = h.shape
    X = h.permute(1, 0, 2).reshape(n, B * H)
    return torch.sparse.mm(M, X).reshape(M.shape[0], B, H).permute(1, 0, 2)


class _Graph(nn.Module):
    """A DOF graph: edge index and fixed edge features (relative position, distance)."""

    def __init__(self, basis, dtype):
        super().__init__()
        ei = fem.dof_graph(basis)
        X = np.asarray(basis.doflocs.T, dtype=float)
        rel = X[ei[1].numpy()] - X[ei[0].numpy()]
        dist = np.linalg.norm(rel, axis=1, keepdims=True)
        scale = float(dist.mean())
        feats = np.hstack([rel / scale, dist / scale])
        self.n = basis.N
        self.register_buffer("src", ei[0].clone(), persistent=False)
        self.register_buffer("dst", ei[1].clone(), persistent=False)
        self.register_buffer("edge_attr", torch.as_tensor(feats, dtype=dtype), persistent=False)


class _MessagePassing(nn.Module):
    """One round: m_ij = MLP(h_i, h_j, e_ij), summed at i; h_i <- LN(h_i + MLP(h_i, sum))."""

    def __init__(self, hidden, edge_dim):
        super().__init__()
        self.message = _mlp(2 * hidden + edge_dim, hidden, hidden)
        self.update = _mlp(2 * hidden, hidden, hidden)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h, g):
        B = h.shape[0]
        hi, hj = h[:, g.dst], h[:, g.src]
        e = g.edge_attr.expand(B, -1, -1)
        m = self.message(torch.cat([hi, hj, e], -1))
        agg = torch.zeros_like(h).index_add_(1, g.dst, m)
        return self.norm(h + self.update(torch.cat([h, agg], -1)))


def _nested(coarse_mesh, mesh):
    """True when ``mesh`` looks like ``coarse_mesh`` refined once (vertices kept, one per edge)."""
    from scipy.spatial import cKDTree

    if coarse_mesh.p.shape[0] != mesh.p.shape[0]:
        return False
    edges = coarse_mesh.facets if coarse_mesh.dim() == 2 else coarse_mesh.edges
    if edges is not None and mesh.p.shape[1] != coarse_mesh.p.shape[1] + edges.shape[1]:
        return False
    d, _ = cKDTree(mesh.p.T).query(coarse_mesh.p.T)
    size = np.ptp(mesh.p, axis=1).max()
    return bool(np.all(d < 1e-9 * size))


class SPON(nn.Module):
    """Structure-preserving operator network: parameter fields at the P1 DOFs in, P1 solution out.

    ``problem`` a steady family (a :class:`manufactured.Problem` with parameter functions),
    ``mesh`` a tagged P1 mesh of its domain.  ``model(a)``: ``a`` (batch, n_dofs) (or
    (batch, n_params, n_dofs) for several parameters) -> u (batch, n_dofs) whose Dirichlet
    DOFs are the problem's values exactly.  ``coarse_mesh`` (``mesh`` must be it refined
    once) makes the processor a two-level V-cycle: fine rounds, restrict, coarse rounds,
    prolong, fine rounds.

    >>> p = holes_problem(); mesh = p.domain.mesh(h=0.2)                  # doctest: +SKIP
    >>> model = SPON(p, mesh, hidden=16, layers=2)                        # doctest: +SKIP
    >>> model(torch.full((4, mesh.p.shape[1]), 3.0)).shape                # doctest: +SKIP
    torch.Size([4, 55])
    """

    def __init__(self, problem, mesh, hidden=64, layers=6, coarse_mesh=None, device=None,
                 dtype=torch.float32, a_shift=7.5, a_scale=4.5, u_scale=1.0):
        super().__init__()
        if not isinstance(mesh, skfem.MeshTri1 | skfem.MeshTet1 | skfem.MeshLine1):
            raise TypeError(f"SPON needs a linear (P1) scikit-fem mesh, got {type(mesh).__name__}; "
                            "use problem.domain.mesh(h=..., order=1)")
        if not problem.parameters:
            raise ValueError("SPON learns a family: the problem has no parameter functions "
                             "(build it with sympy.Function('a')(x, y) in the equation)")
        if not (isinstance(hidden, int) and hidden > 0 and isinstance(layers, int) and layers > 0):
            raise ValueError(f"hidden and layers must be positive integers, got {hidden!r}, {layers!r}")
        if coarse_mesh is not None:
            if layers < 3:
                raise ValueError(f"the multigrid SPON needs layers >= 3 (fine, coarse, fine rounds), got {layers}")
            if not _nested(coarse_mesh, mesh):
                raise ValueError("mesh must be coarse_mesh refined once (e.g. domain.mesh(h, refine=1) "
                                 "and domain.mesh(h, refine=0)); the vertices do not match")
        self.problem, self.mesh, self.coarse_mesh = problem, mesh, coarse_mesh
        self.params = tuple(problem.parameters)
        res = fem.WeakResidual(problem, mesh, dtype=torch.float64)
        self.basis = res.basis
        self.n_dofs, self.n_free = res.n_dofs, res.n_free
        self.decoder = fem.DirichletDecoder(res)
        self.register_buffer("norm_a", torch.tensor([a_shift, a_scale], dtype=torch.float64))
        self.register_buffer("u_scale", torch.tensor(float(u_scale), dtype=torch.float64))

        # fixed node features
        X = np.asarray(self.basis.doflocs.T, dtype=float)
        lo, hi = X.min(0), X.max(0)
        feats = [2 * (X - lo) / np.where(hi > lo, hi - lo, 1.0) - 1]
        flag = np.zeros((self.n_dofs, 1))
        flag[res.dirichlet.numpy()] = 1.0
        feats.append(flag)
        self.tags = sorted(mesh.boundaries or {})
        for tag in self.tags:
            f = np.zeros((self.n_dofs, 1))
            f[np.unique(mesh.facets[:, mesh.boundaries[tag]])] = 1.0
            feats.append(f)
        node = np.hstack(feats)
        self.register_buffer("node_features", torch.as_tensor(node, dtype=torch.float64), persistent=False)

        n_in = len(self.params) + node.shape[1]
        self.encoder = _mlp(n_in, hidden, hidden)
        self.fine = _Graph(self.basis, torch.float64)
        edge_dim = self.fine.edge_attr.shape[1]
        if coarse_mesh is None:
            self.pre = nn.ModuleList(_MessagePassing(hidden, edge_dim) for _ in range(layers))
            self.down = self.post = nn.ModuleList()
            self.coarse = None
        else:
            k = layers // 3
            cbasis = skfem.CellBasis(coarse_mesh, skfem.ElementTriP1() if mesh.dim() == 2
                                     else skfem.ElementTetP1())
            self.coarse = _Graph(cbasis, torch.float64)
            self.pre = nn.ModuleList(_MessagePassing(hidden, edge_dim) for _ in range(k))
            self.down = nn.ModuleList(_MessagePassing(hidden, edge_dim) for _ in range(layers - 2 * k))
            self.post = nn.ModuleList(_MessagePassing(hidden, edge_dim) for _ in range(k))
            P = fem.prolongation(cbasis, self.basis)
            R = P.t().coalesce()
            rows = R.indices()[0]
            s = torch.zeros(R.shape[0], dtype=R.dtype).index_add_(0, rows, R.values())
            R = torch.sparse_coo_tensor(R.indices(), R.values() / s[rows], R.shape,
                                        check_invariants=False).coalesce()
            self.register_buffer("prolong", P, persistent=False)
            self.register_buffer("restrict", R, persistent=False)
        self.head = _mlp(hidden, hidden, 1)
        self.config = {"hidden": hidden, "layers": layers, "multigrid": coarse_mesh is not None,
                       "n_dofs": self.n_dofs, "params": list(self.params),
                       "dtype": str(dtype).replace("torch.", "")}
        self.to(device=_device(device), dtype=dtype)

    def __repr__(self):
        kind = "two-level" if self.coarse is not None else "single-level"
        return (f"SPON({self.problem.name or 'problem'}, n_dofs={self.n_dofs}, n_free={self.n_free}, "
                f"hidden={self.config['hidden']}, layers={self.config['layers']}, {kind})")

    def _fields(self, a):
        k, N = len(self.params), self.n_dofs
        if not isinstance(a, torch.Tensor):
            a = torch.as_tensor(np.asarray(a, dtype=float))
        ok = (a.ndim == 2 and a.shape[-1] == N) if k == 1 else (a.ndim == 3 and a.shape[1:] == (k, N))
        if not ok:
            want = f"(batch, {N})" if k == 1 else f"(batch, {k}, {N})"
            raise ValueError(f"SPON: the parameter field(s) {list(self.params)} must have shape {want} "
                             f"(values at the mesh vertices), got {tuple(a.shape)}")
        if not a.is_floating_point():
            raise TypeError(f"SPON: the fields must be floating point, got {a.dtype}")
        return a.reshape(a.shape[0], k, N).transpose(1, 2)

    def forward(self, a):
        """``a`` (batch, n_dofs) -> u (batch, n_dofs), Dirichlet DOFs exact."""
        p = self.norm_a
        z = (self._fields(a).to(p.device, p.dtype) - p[0]) / p[1]
        B = z.shape[0]
        h = torch.cat([z, self.node_features.expand(B, -1, -1)], -1)
        h = self.encoder(h)
        for mp in self.pre:
            h = mp(h, self.fine)
        if self.coarse is not None:
            hc = _sparse_apply(self.restrict, h)
            for mp in self.down:
                hc = mp(hc, self.coarse)
            h = h + _sparse_apply(self.prolong, hc)
            for mp in self.post:
                h = mp(h, self.fine)
        out = self.head(h)[..., 0][:, self.decoder.free] * self.u_scale
        return self.decoder(out)

    @torch.no_grad()
    def predict(self, a, batch=64):
        """u (numpy) from fields at the vertices: (n_dofs,) -> (n_dofs,), (batch, n_dofs) -> (batch, n_dofs)."""
        arr = np.asarray(a, dtype=float)
        single = arr.ndim == (1 if len(self.params) == 1 else 2)
        if not np.all(np.isfinite(arr)):
            raise ValueError("SPON.predict: the fields contain NaN or infinite values")
        x = torch.as_tensor(arr[None] if single else arr)
        self.eval()
        out = torch.cat([self(x[i:i + batch]).cpu() for i in range(0, len(x), batch)]).double().numpy()
        return out[0] if single else out


def _meshes(family, h, refine, coarse):
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; SPON knows {sorted(FAMILIES)}")
    problem = FAMILIES[family]()
    mesh = problem.domain.mesh(h=h, refine=refine)
    cmesh = None
    if coarse:
        if refine < 1:
            raise ValueError(f"the multigrid SPON (coarse=True) needs refine >= 1 (the coarse mesh "
                             f"is refine - 1), got refine={refine}")
        cmesh = problem.domain.mesh(h=h, refine=refine - 1)
    return problem, mesh, cmesh


def _check_data(data, h, refine, n_dofs, what):
    cfg = data.get("config", {})
    if cfg and cfg.get("family") != "holes":
        raise ValueError(f"{what} is a {cfg.get('family')!r} dataset; SPON trains on a holes dataset")
    for k in ("a", "u"):
        if k not in data:
            raise ValueError(f"{what} has no {k!r} array; make it with holes_dataset(...)")
    if cfg and (cfg.get("h"), cfg.get("refine")) != (h, refine):
        raise ValueError(f"{what} was made with h={cfg.get('h')}, refine={cfg.get('refine')}, "
                         f"not h={h}, refine={refine}; pass the dataset's mesh parameters")
    if data["a"].shape[-1] != n_dofs or data["u"].shape[-1] != n_dofs:
        raise ValueError(f"{what} has fields with {data['a'].shape[-1]} values but the mesh "
                         f"(h={h}, refine={refine}) has {n_dofs} vertices; pass the h and refine "
                         f"the dataset was made with (its config: h={cfg.get('h')}, refine={cfg.get('refine')})")


def evaluate_spon(model, data, batch=50):
    """Test metrics: mean relative L2 of u over the members, and max |u - g| at Dirichlet DOFs."""
    dev, dt = model.u_scale.device, model.u_scale.dtype
    a, u = torch.as_tensor(data["a"]), torch.as_tensor(data["u"])
    model.eval()
    err, bd = 0.0, 0.0
    dvals = model.decoder.values
    with torch.no_grad():
        for i in range(0, len(a), batch):
            pred = model(a[i:i + batch].to(dev, dt))
            err += float(relative_l2(pred, u[i:i + batch].to(dev, dt))) * len(pred)
            D = model.decoder.dirichlet
            diff = pred[:, D] - dvals[D].to(pred.dtype)
            bd = max(bd, float(diff.abs().max()) if diff.numel() else 0.0)
    return {"relative_l2": err / len(a), "dirichlet_max": bd}


def train_spon(train_data, out, test_data=None, *, h, refine, coarse=False, epochs, batch, lr,
               physics_weight=0.0, data_weight=1.0, hidden=64, layers=6, device=None,
               dtype=torch.float32, seed=0, resume=True, stop_after=None, log=print):
    """Train a SPON on a holes dataset folder (or ``load_dataset`` dict); checkpoints in ``out``.

    The mesh is ``holes_problem().domain.mesh(h=h, refine=refine)`` (``coarse=True`` adds
    the ``refine - 1`` mesh for the V-cycle).  Loss: ``data_weight`` * relative L2 +
    ``physics_weight`` * relative dual-norm FE residual.  Resumes from ``out`` with the same
    batches as an uninterrupted run; ``stop_after=k`` stops after k epochs of this call.
    Returns ``(model, history)``.

    >>> model, hist = train_spon("data/holes", "runs/spon", h=0.1, refine=1, epochs=30,
    ...                          batch=8, lr=2e-3)                        # doctest: +SKIP
    """
    device = _device(device)
    data = load_dataset(train_data) if isinstance(train_data, str) else train_data
    test = (load_dataset(test_data) if isinstance(test_data, str) else test_data) if test_data is not None else None
    if not (data_weight or physics_weight):
        raise ValueError("data_weight and physics_weight are both 0: nothing to train")
    problem, mesh, cmesh = _meshes("holes", h, refine, coarse)
    n_dofs = mesh.p.shape[1]
    _check_data(data, h, refine, n_dofs, "the training data")
    if test is not None:
        _check_data(test, h, refine, n_dofs, "the test data")
    a_all = torch.as_tensor(np.asarray(data["a"], dtype=np.float64))
    u_all = torch.as_tensor(np.asarray(data["u"], dtype=np.float64))
    a_np = np.asarray(data["a"], dtype=float)
    norm = dict(a_shift=float(a_np.mean()), a_scale=float(a_np.std()) or 1.0,
                u_scale=float(np.std(data["u"])) or 1.0)
    torch.manual_seed(seed)
    model = SPON(problem, mesh, hidden=hidden, layers=layers, coarse_mesh=cmesh, device=device,
                 dtype=dtype, **norm)
    res = fem.WeakResidual(problem, mesh, device=device, dtype=dtype) if physics_weight else None
    config = {"kind": "spon", "family": "holes", "h": h, "refine": refine, "coarse": bool(coarse),
              "physics_weight": physics_weight, "data_weight": data_weight, "epochs": epochs,
              "batch": batch, "lr": lr, "n_train": len(a_all), "seed": seed, "norm": norm,
              "model": model.config}

    def step(idx):
        a = a_all[idx].to(device, dtype)
        pred = model(a)
        loss, parts = torch.zeros((), device=device, dtype=dtype), {"data": 0.0, "physics": 0.0}
        if data_weight:
            dl = relative_l2(pred, u_all[idx].to(device, dtype))
            loss, parts["data"] = loss + data_weight * dl, float(dl.detach())
        if res is not None:
            r = res.norm(res(pred, a=a), "dual")
            r0 = res.norm(res(torch.zeros_like(pred), a=a), "dual")
            pl = (r / r0).mean()
            loss, parts["physics"] = loss + physics_weight * pl, float(pl.detach())
        return loss, parts

    def evaluate_test(m):
        ev = evaluate_spon(m, test)
        return {"test": ev["relative_l2"], "dirichlet_max": ev["dirichlet_max"]}

    history = fit(model, out, config, len(a_all), step, batch=batch, epochs=epochs, lr=lr,
                  seed=seed, evaluate=evaluate_test if test is not None else None,
                  device=device, resume=resume, stop_after=stop_after, log=log)
    return model.eval(), history


def load_spon(folder, device=None):
    """The SPON of a ``train_spon`` checkpoint folder, mesh rebuilt from its metadata.

    >>> model = load_spon("runs/spon"); u = model.predict(a_at_vertices)   # doctest: +SKIP
    """
    if not os.path.exists(os.path.join(folder, "meta.json")):
        raise ValueError(f"{folder} holds no SPON checkpoint (no meta.json); train one with train_spon")
    cfg = read_meta(folder)["config"]
    if cfg.get("kind") != "spon":
        raise ValueError(f"{folder} holds a {cfg.get('kind')!r} checkpoint, not a SPON one")
    problem, mesh, cmesh = _meshes(cfg["family"], cfg["h"], cfg["refine"], cfg["coarse"])
    m = cfg["model"]
    model = SPON(problem, mesh, hidden=m["hidden"], layers=m["layers"], coarse_mesh=cmesh,
                 device="cpu", dtype=getattr(torch, m["dtype"]), **cfg["norm"])
    if model.n_dofs != m["n_dofs"]:
        raise ValueError(f"the rebuilt mesh has {model.n_dofs} vertices, the checkpoint "
                         f"{m['n_dofs']}: the mesher changed since it was trained")
    load_checkpoint(folder, model)
    return model.to(_device(device)).eval()


def _member_fields(family, member, fields):
    """Parameter expressions of ``member``: given, or read off the canonical form where the
    family's coefficient is the bare parameter (e.g. K = a I)."""
    found = {}
    fc, mc = family.canonical, member.canonical
    pairs = [(fc.K[i, j], mc.K[i, j]) for i in range(fc.K.rows) for j in range(fc.K.cols)]
    pairs += list(zip(fc.beta, mc.beta)) + [(fc.c, mc.c), (fc.f, mc.f)]
    for name in family.parameters:
        if name in fields:
            found[name] = sp.sympify(fields[name])
            continue
        for fe, me in pairs:
            fe = sp.sympify(fe)
            if isinstance(fe, AppliedUndef) and fe.func.__name__ == name:
                found[name] = sp.sympify(me)
                break
        else:
            raise ValueError(f"solve_spon: cannot read parameter {name!r} off the problem; pass it, "
                             f"e.g. solve_spon(member, model, {name}=expr)")
    return found


def solve_spon(problem_member, model, **fields):
    """Evaluate a member of the model's family (``family.substitute(a=expr)``) with the SPON.

    The parameter expressions are interpolated at the mesh vertices; returns a
    :class:`fem.Solution` with ``info["method"] == "spon"``.

    >>> sol = solve_spon(holes_problem().substitute(a=3 + x * y), model)    # doctest: +SKIP
    >>> sol([[0.1, 0.1]])                                                   # doctest: +SKIP
    """
    if isinstance(model, str):
        model = load_spon(model)
    if not isinstance(model, SPON):
        raise TypeError(f"solve_spon needs a SPON model or a checkpoint folder, got "
                        f"{type(model).__name__}")
    if not hasattr(problem_member, "canonical"):
        raise TypeError(f"solve_spon needs a manufactured.Problem, got {type(problem_member).__name__}")
    if problem_member.parameters:
        raise ValueError(f"solve_spon: the problem still has parameter(s) {list(problem_member.parameters)}; "
                         "substitute them, e.g. family.substitute(a=3 + x*y)")
    family = model.problem
    exprs = _member_fields(family, problem_member, fields)
    ref = family.substitute(**exprs)
    same = (set(ref.bcs) == set(problem_member.bcs)
            and all(repr(ref.bcs[t]) == repr(problem_member.bcs[t]) for t in ref.bcs)
            and sp.simplify(ref.canonical.K - problem_member.canonical.K) == sp.zeros(*ref.canonical.K.shape)
            and all(sp.simplify(p - q) == 0 for p, q in zip(ref.canonical.beta, problem_member.canonical.beta))
            and sp.simplify(ref.canonical.c - problem_member.canonical.c) == 0
            and sp.simplify(ref.canonical.f - problem_member.canonical.f) == 0)
    if not same:
        raise ValueError("solve_spon: the problem is not a member of the model's family "
                         f"({family.name}); build it with family.substitute(...)")
    t0 = time.perf_counter()
    vals = np.stack([fem.interpolate(model.basis, exprs[n]) for n in model.params])
    a = vals[0] if len(model.params) == 1 else vals
    dofs = model.predict(a)
    info = {"method": "spon", "n_dofs": model.n_dofs, "fields": {k: str(v) for k, v in exprs.items()},
            "multigrid": model.config["multigrid"], "seconds": time.perf_counter() - t0}
    return fem.Solution(model.basis, dofs, info=info)
