"""Router graphs: mesh, torus, H-tree, r-ary tree and user graphs, with routing compiled to tables.

Conventions (as in reference/topology-closed-forms.md):

- a **hop** is one router-to-router link; a route through h hops crosses h + 1 routers;
  injection (core -> router) and ejection (router -> core) links are not hops and not links here.
- cores attach to routers: one core per router by default; ``concentration`` c > 1 puts c
  consecutive cores on one router (core i sits on router i // c), so n_routers = n_cores / c.
  On trees the cores sit on the leaf routers only.
- links are directed; every built-in topology has both directions of each physical link, with
  the same parameters. A link's length is the Manhattan distance between its routers' positions
  (on-chip wires are rectilinear), and its energy per packet is
  ``energy_pj + energy_pj_per_mm * length_mm`` from its class's :class:`LinkParams`.

Layouts and numbering (``pitch_mm`` p is the spacing of neighbouring mesh / leaf routers):

- ``mesh`` / ``torus``: router ``y * width + x`` at (x p, y p). Torus wrap links run the length
  of the row or column, (k - 1) p: this is the plain layout, not a folded one.
  Classes ("x", "y") = (E-W, N-S). Routing XY: x first, then y; on the torus each dimension goes
  the shortest way round its ring, ties towards +.
- ``htree``: 4^j leaf routers on a 2^j x 2^j grid in Morton (Z) order, so leaf i's parent is
  router i // 4 of the next level; a level-i router sits at the centre of its 2^i x 2^i block and
  each of its child links is 2^(i-1) p long. ``tree``: r^L leaves row-major on an r^ceil(L/2) x
  r^floor(L/2) grid (each subtree covers a contiguous strip or block), every router at the mean
  position of the leaves below it. Router ids: leaves first, then level 1, ..., root last. Classes
  ("level1", ..., "levelL"): class "leveli" joins levels i - 1 and i. Routing up/down through the
  nearest common ancestor.
- ``custom``: read by :func:`neuroemu.hardware.customgraph.load_custom_graph`; least-latency
  routing (fewest hops on ties).

Tables and memory. ``next_link`` (int32) and ``hops`` (int16) are built by broadcasting
(mesh, torus) or from ancestor tables (trees), never per pair in Python: a 64 x 64 mesh takes
64 MB + 32 MB and about 0.2-0.5 s. Meshes and tori build them only when asked for: every
per-pair question a run asks (hops, links per class, path sums, per-link loads, next links,
multicast unions, the diameter) has a closed form there, so a mesh far beyond any [n, n] table
(a system's joined mesh, :mod:`neuroemu.hardware.system`) runs without one. ``class_hops`` (int16), ``path_latency_ps`` (int64),
``path_energy_pj`` and ``wire_mm`` (float64) are computed on first access and cached, since a
64 x 64 mesh would otherwise hold another 64 + 3 x 128 MB that many runs never read. Path tables
use closed forms that need no per-pair walk -- on a mesh / torus the x leg along the source row
plus the y leg along the destination column; on a tree the up-sum to the NCA plus the down-sum
from it -- so they are exact sums of the actual links even where links of a class differ (torus
wrap links); custom graphs use the route recurrence of :func:`routing.accumulate`.
:meth:`Topology.path_sum` does the same for any per-link values. All tables are read-only.
Trees hold ~N r/(r-1) routers, so their tables are larger than a mesh's for the same N. The
networkx graph (:attr:`Topology.graph`) is built only when read (exports, drawings), never by a run.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Mapping

import networkx as nx
import numpy as np

from neuroemu.errors import ConfigError, NeuroEmuError
from neuroemu.hardware import routing as rt
# custom graphs are read there; the limits and checks on numbers are shared with it
from neuroemu.hardware.customgraph import CSV_COLUMNS, is_int, is_real, load_custom_graph

# hops are int16 and next_link is n^2 int32; beyond this the tables would not fit anyway
MAX_ROUTERS = 32767

__all__ = ["LinkParams", "Topology", "build_topology", "TOPOLOGIES", "list_topologies", "load_custom_graph"]

@dataclass(frozen=True)
class LinkParams:
    """Physical parameters of one router-to-router link (one hop); validated on construction.

    ``latency_ps`` is the fixed per-hop latency (router pipeline + wire), an integer >= 1 ps.
    The energy of one packet crossing the link is ``energy_pj + energy_pj_per_mm * length_mm``.
    ``bandwidth_pkts_per_ns`` (> 0) is the link's service rate, used by the packet network.
    """

    latency_ps: int = 1000
    energy_pj: float = 0.0
    energy_pj_per_mm: float = 0.0
    bandwidth_pkts_per_ns: float = 1.0

    def __post_init__(self):
        if not is_int(self.latency_ps) or self.latency_ps < 1:
            raise ConfigError(f"link.latency_ps: must be an integer >= 1 (picoseconds); got {self.latency_ps!r}")
        object.__setattr__(self, "latency_ps", int(self.latency_ps))
        for name in ("energy_pj", "energy_pj_per_mm"):
            v = getattr(self, name)
            if not is_real(v) or v < 0:
                raise ConfigError(f"link.{name}: must be a finite number >= 0; got {v!r}")
            object.__setattr__(self, name, float(v))
        bw = self.bandwidth_pkts_per_ns
        if not is_real(bw) or bw <= 0:
            raise ConfigError(f"link.bandwidth_pkts_per_ns: must be a finite number > 0; got {bw!r}")
        object.__setattr__(self, "bandwidth_pkts_per_ns", float(bw))

    def energy_for(self, length_mm):
        """Energy (pJ) of one packet over a link of ``length_mm`` (scalar or array)."""
        return self.energy_pj + self.energy_pj_per_mm * length_mm


@dataclass
class _Links:
    """What a builder hands to :class:`Topology`: per-link arrays (before parameters)."""

    src: np.ndarray
    dst: np.ndarray
    cls: np.ndarray
    length_mm: np.ndarray
    latency_ps: np.ndarray | None = None  # per-link overrides (custom graphs); -1 / nan = absent
    energy_pj: np.ndarray | None = None
    bandwidth: np.ndarray | None = None


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class Topology:
    """A router graph with its routing compiled to numpy tables (see the module docstring).

    Attributes: ``kind``, ``n_cores``, ``n_routers``, ``n_links``, ``core_router`` (int32
    [n_cores]), ``router_pos_mm`` (float64 [n_routers, 2]), ``router_level`` (int16), ``graph``
    (networkx.DiGraph, built on first access only -- exports and drawings: nodes have ``pos``, ``level``, ``cores``, ``label``; edges ``id``,
    ``length_mm``, ``latency_ps``, ``energy_pj``, ``bandwidth``, ``cls``), per-link arrays
    ``link_src``, ``link_dst``, ``link_length_mm``, ``link_latency_ps``, ``link_energy_pj``,
    ``link_bandwidth``, ``link_class``, ``class_names``, the tables ``next_link``, ``hops``,
    ``class_hops``, ``path_latency_ps``, ``path_energy_pj``, ``wire_mm`` ([src router, dst
    router]) and ``params`` (the builder's dimensions, e.g. width and height).
    """

    def __init__(self, kind: str, *, core_router, router_pos_mm, router_level, links: _Links,
                 class_names, class_params, routing_fn: Callable[..., rt.Routing], params=None,
                 labels=None):
        self.kind = kind
        self.params = dict(params or {})
        self.core_router = _frozen(np.asarray(core_router, dtype=np.int32))
        self.n_cores = int(self.core_router.size)
        self.router_pos_mm = _frozen(np.asarray(router_pos_mm, dtype=np.float64).reshape(-1, 2))
        self.n_routers = int(self.router_pos_mm.shape[0])
        self.router_level = _frozen(np.asarray(router_level, dtype=np.int16))
        self.class_names = tuple(class_names)
        self.link_src = _frozen(np.asarray(links.src, dtype=np.int32))
        self.link_dst = _frozen(np.asarray(links.dst, dtype=np.int32))
        self.n_links = int(self.link_src.size)
        self.link_class = _frozen(np.asarray(links.cls, dtype=np.int16))
        self.link_length_mm = _frozen(np.asarray(links.length_mm, dtype=np.float64))
        per_class = lambda f, dt: np.array([f(p) for p in class_params], dt)[self.link_class]
        lat = per_class(lambda p: p.latency_ps, np.int64)
        energy = per_class(lambda p: p.energy_pj, np.float64) + per_class(
            lambda p: p.energy_pj_per_mm, np.float64) * self.link_length_mm
        bw = per_class(lambda p: p.bandwidth_pkts_per_ns, np.float64)
        if links.latency_ps is not None:
            lat = np.where(links.latency_ps >= 0, links.latency_ps, lat)
        if links.energy_pj is not None:
            energy = np.where(np.isnan(links.energy_pj), energy, links.energy_pj)
        if links.bandwidth is not None:
            bw = np.where(np.isnan(links.bandwidth), bw, links.bandwidth)
        self.link_latency_ps = _frozen(lat.astype(np.int64))
        self.link_energy_pj = _frozen(energy.astype(np.float64))
        self.link_bandwidth = _frozen(bw.astype(np.float64))
        self._labels = None if labels is None else tuple(str(v) for v in labels)
        self._routing = routing_fn(self)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """networkx.DiGraph of the routers and links (attributes in the class docstring), built
        from the arrays on first access: only exports and drawings read it; runs, sweeps and MPI
        ranks route from arrays and closed forms (NS16e's graph would take ~190 MB and seconds)."""
        return self._make_graph()

    def _make_graph(self) -> nx.DiGraph:
        g, labels = nx.DiGraph(kind=self.kind), self._labels
        cores = np.bincount(self.core_router, minlength=self.n_routers)
        for r in range(self.n_routers):
            g.add_node(r, pos=tuple(self.router_pos_mm[r].tolist()), level=int(self.router_level[r]),
                       cores=int(cores[r]), label=labels[r] if labels is not None else str(r))
        for lid in range(self.n_links):
            g.add_edge(int(self.link_src[lid]), int(self.link_dst[lid]), id=lid,
                       length_mm=float(self.link_length_mm[lid]), latency_ps=int(self.link_latency_ps[lid]),
                       energy_pj=float(self.link_energy_pj[lid]), bandwidth=float(self.link_bandwidth[lid]),
                       cls=self.class_names[self.link_class[lid]])
        return g

    def __repr__(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return (f"Topology({self.kind!r}, n_cores={self.n_cores}, n_routers={self.n_routers}, "
                f"n_links={self.n_links}{', ' + dims if dims else ''})")

    # --- tables computed on first use -------------------------------------------------------

    @property
    def n_classes(self) -> int:
        """Number of link classes (``len(class_names)``)."""
        return len(self.class_names)

    @cached_property
    def next_link(self) -> np.ndarray:
        """int32 [n_routers, n_routers]: the link taken next from router r towards router d (-1
        when r == d). Built on first use (meshes and tori answer every per-pair question in
        closed form without it)."""
        return _frozen(self._routing.next_link)

    @cached_property
    def hops(self) -> np.ndarray:
        """int16 [n_routers, n_routers]: hops of every route (built on first use, as next_link)."""
        return _frozen(self._routing.hops)

    @cached_property
    def diameter(self) -> int:
        """Largest hop count of any route."""
        return self._routing.diameter() if self.n_routers else 0

    def mesh_ports(self) -> np.ndarray | None:
        """int32 [4, n_routers]: each router's +x, -x, +y, -y link id (-1: none) on a mesh without
        wrap links, where XY routing is a closed form of them (the packet network's next hop);
        None on other graphs."""
        if self.kind != "mesh" or not isinstance(self._routing, rt.GridRouting):
            return None
        return np.stack([p.ravel() for p in self._routing._ports]).astype(np.int32)

    def next_links(self, at: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """int32: the link a packet at router ``at[i]`` bound for ``dst[i]`` takes next (-1 there):
        in closed form on meshes and tori, else read from :attr:`next_link`."""
        if self._routing.pairwise:
            return self._routing.next_links(at, dst)
        return self.next_link[at, dst]

    @cached_property
    def class_hops(self) -> np.ndarray:
        """int16 [n_classes, n_routers, n_routers]: links of each class on each route."""
        return _frozen(self._routing.class_hops(self.link_class, self.n_classes, self.link_dst))

    def path_sum(self, values, dtype=np.float64) -> np.ndarray:
        """[n_routers, n_routers] array of ``dtype``: per-link ``values`` ([n_links]) summed over
        every route. Closed forms on meshes, tori and trees; the route recurrence otherwise."""
        values = np.asarray(values)
        if values.shape != (self.n_links,):
            raise NeuroEmuError(f"path_sum: values must have shape ({self.n_links},); got {values.shape}")
        return self._routing.path_sum(values, dtype, self.link_dst)

    def pair_class_hops(self, src_routers: np.ndarray, dst_routers: np.ndarray) -> np.ndarray:
        """int16 [n_classes, m]: ``class_hops[:, src, dst]`` per pair, in closed form on meshes and
        tori (no [n, n] table is built), else gathered from the cached table."""
        if self._routing.pairwise:
            return self._routing.pair_class_hops(src_routers, dst_routers).astype(np.int16)
        return self.class_hops[:, src_routers, dst_routers]

    def pair_path_sum(self, values, dtype, src_routers: np.ndarray, dst_routers: np.ndarray,
                      table: str | None = None) -> np.ndarray:
        """``path_sum(values, dtype)[src, dst]`` per pair: in closed form on meshes and tori, else
        gathered from the cached property ``table`` (e.g. "path_latency_ps") or a fresh table."""
        if self._routing.pairwise:
            return self._routing.pair_path_sum(np.asarray(values), dtype, src_routers, dst_routers)
        full = getattr(self, table) if table is not None else self.path_sum(values, dtype)
        return full[src_routers, dst_routers]

    def _path_table(self, values, dtype) -> np.ndarray:
        return _frozen(self.path_sum(values, dtype))

    @cached_property
    def path_latency_ps(self) -> np.ndarray:
        """int64 [n_routers, n_routers]: zero-load latency of each route (sum of link latencies)."""
        return self._path_table(self.link_latency_ps, np.int64)

    @cached_property
    def path_energy_pj(self) -> np.ndarray:
        """float64 [n_routers, n_routers]: energy of one packet over each route (sum of links)."""
        return self._path_table(self.link_energy_pj, np.float64)

    @cached_property
    def wire_mm(self) -> np.ndarray:
        """float64 [n_routers, n_routers]: wire length of each route (sum of link lengths)."""
        return self._path_table(self.link_length_mm, np.float64)

    # --- queries ------------------------------------------------------------------------------

    def _router_ids(self, a, name: str, n: int | None = None) -> np.ndarray:
        a = np.asarray(a)
        n = self.n_routers if n is None else n
        if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= n):
            raise NeuroEmuError(f"{name}: must be integer ids in [0, {n}); got values in "
                                f"[{a.min()}, {a.max()}] of dtype {a.dtype}")
        return a.astype(np.int64, copy=False)

    def route_links(self, src_router: int, dst_router: int) -> np.ndarray:
        """int32 link ids from ``src_router`` to ``dst_router``, in order (empty if equal)."""
        r = int(self._router_ids(src_router, "src_router"))
        d = int(self._router_ids(dst_router, "dst_router"))
        out = []
        while r != d:
            lid = int(self.next_links(np.array([r]), np.array([d]))[0])
            out.append(lid)
            r = int(self.link_dst[lid])
        return np.array(out, dtype=np.int32)

    def link_loads(self, src_routers, dst_routers, counts=None) -> np.ndarray:
        """int64 [n_links]: packets crossing each link when ``src_routers[i]`` sends
        ``counts[i]`` (default 1) packets to ``dst_routers[i]`` by unicast. Vectorised: pairs are
        merged, then all routes advance together one hop per step (at most ``diameter`` steps)."""
        src = self._router_ids(src_routers, "src_routers").ravel()
        dst = self._router_ids(dst_routers, "dst_routers").ravel()
        if src.shape != dst.shape:
            raise NeuroEmuError(f"link_loads: src_routers and dst_routers must have the same length; "
                                f"got {src.size} and {dst.size}")
        if counts is not None:
            counts = np.asarray(counts).ravel()
            if counts.shape != src.shape or (counts.size and (not np.issubdtype(counts.dtype, np.integer)
                                                                 or counts.min() < 0)):
                raise NeuroEmuError(f"link_loads: counts must be {src.size} integers >= 0; "
                                    f"got shape {counts.shape}, dtype {counts.dtype}")
        if self._routing.pairwise:  # meshes and tori: running sums along rows and columns
            return self._routing.pair_loads(src, dst, counts, self.n_links)
        return rt.walk_loads(self.next_link, self.link_dst, self.n_links, src, dst, counts)

    def multicast_links(self, src_router: int, dst_routers) -> np.ndarray:
        """Sorted int32 link ids of a multicast from ``src_router`` to ``dst_routers``: the union
        of the unicast routes, each shared link once (a tree on meshes and trees; on custom graphs
        the union of least-latency routes, which may merge)."""
        s = int(self._router_ids(src_router, "src_router"))
        d = self._router_ids(dst_routers, "dst_routers").ravel()
        return rt.walk_union(self.next_links, self.link_dst, s, d)

    def core_hops(self, src_cores, dst_cores) -> np.ndarray:
        """int16 hops between the routers of ``src_cores`` and ``dst_cores`` (broadcast gather)."""
        s = self._router_ids(src_cores, "src_cores", self.n_cores)
        d = self._router_ids(dst_cores, "dst_cores", self.n_cores)
        if self._routing.pairwise:
            return self._routing.pair_hops(self.core_router[s].astype(np.int64), self.core_router[d].astype(np.int64))
        return self.hops[self.core_router[s], self.core_router[d]]

    # --- export (round-trips through kind "custom") ------------------------------------------

    def to_graphml(self, path) -> None:
        """Write the graph as directed GraphML that :func:`build_topology` ``("custom")`` reads
        back with the same links, link ids, positions, levels and cores."""
        g = nx.DiGraph()
        for r, a in self.graph.nodes(data=True):
            g.add_node(a["label"], x=a["pos"][0], y=a["pos"][1], level=a["level"], cores=a["cores"])
        for s, d, a in sorted(self.graph.edges(data=True), key=lambda e: e[2]["id"]):
            g.add_edge(self.graph.nodes[s]["label"], self.graph.nodes[d]["label"], **a)
        nx.write_graphml(g, str(path))

    def to_csv(self, path) -> None:
        """Write an undirected edge-list CSV (one row per link pair); needs symmetric links.
        CSV cannot carry node attributes: read back, every router holds ``concentration`` cores."""
        rows = []
        for s, d, a in sorted(self.graph.edges(data=True), key=lambda e: e[2]["id"]):
            back = self.graph.get_edge_data(d, s)
            if back is None or {k: v for k, v in back.items() if k != "id"} != {k: v for k, v in a.items() if k != "id"}:
                raise ConfigError(f"to_csv: CSV rows are bidirectional links, but link {s}->{d} has no identical "
                                  f"reverse link; use to_graphml")
            if s < d:
                lab = self.graph.nodes
                rows.append([lab[s]["label"], lab[d]["label"], repr(a["length_mm"]), a["latency_ps"],
                             repr(a["energy_pj"]), repr(a["bandwidth"]), a["cls"]])
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(CSV_COLUMNS)
            w.writerows(rows)


# --- builders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    n_cores: int
    width: int | None
    height: int | None
    radix: int
    concentration: int
    pitch_mm: float
    link: LinkParams
    class_links: Mapping[str, LinkParams]
    custom_path: str | None

    @property
    def n_routers(self) -> int:
        return self.n_cores // self.concentration


def _class_params(kind: str, class_names, req: _Request) -> list[LinkParams]:
    unknown = sorted(set(req.class_links) - set(class_names))
    if unknown:
        raise ConfigError(f"topology.class_links: unknown link class {unknown[0]!r} for {kind}; "
                          f"valid: {', '.join(class_names)}")
    return [req.class_links.get(name, req.link) for name in class_names]


def _grid_dims(kind: str, req: _Request) -> tuple[int, int]:
    w, h, n = req.width, req.height, req.n_routers
    for name, v in (("width", w), ("height", h)):
        if v is not None and (not is_int(v) or v < 1):
            raise ConfigError(f"topology.{name}: must be an integer >= 1; got {v!r}")
    if w is None and h is None:
        k = math.isqrt(n)
        if k * k != n:
            raise ConfigError(f"topology.width: {kind} needs width and height unless n_cores/concentration "
                              f"is a perfect square; got {req.n_cores}/{req.concentration} = {n}")
        w = h = k
    elif w is None or h is None:
        given = w if w is not None else h
        if n % given:
            raise ConfigError(f"topology.width: {kind} needs width*height*concentration == n_cores; "
                              f"{given} does not divide {n} routers (n_cores={req.n_cores})")
        w, h = (given, n // given) if w is not None else (n // given, given)
    if w * h * req.concentration != req.n_cores:
        raise ConfigError(f"topology.width: {kind} needs width*height*concentration == n_cores; got "
                          f"{w}*{h}*{req.concentration} = {w * h * req.concentration} != {req.n_cores}")
    return int(w), int(h)


def _build_grid(kind: str, req: _Request) -> Topology:
    w, h = _grid_dims(kind, req)
    routing = rt.GridRouting(w, h, wrap=kind == "torus")
    ids = np.arange(w * h)
    pos = np.stack([ids % w, ids // w], axis=1) * req.pitch_mm
    src, dst = routing.link_src, routing.link_dst
    names = ("x", "y")
    return Topology(
        kind, core_router=ids.repeat(req.concentration), router_pos_mm=pos, router_level=np.zeros(w * h),
        links=_Links(src, dst, routing.link_class, np.abs(pos[src] - pos[dst]).sum(axis=1)),
        class_names=names, class_params=_class_params(kind, names, req), routing_fn=lambda t: routing,
        params={"width": w, "height": h, "concentration": req.concentration},
    )


def _tree_levels(kind: str, r: int, n_leaves: int) -> int:
    levels, size = 0, 1
    while size < n_leaves:
        size *= r
        levels += 1
    if size != n_leaves:
        need = "4^j cores per router grid" if kind == "htree" else f"{r}^L leaf routers for radix {r}"
        raise ConfigError(f"topology.n_cores: {kind} needs {need} (n_cores/concentration); got {n_leaves}")
    return levels


def _morton_xy(i: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros_like(i)
    y = np.zeros_like(i)
    for b in range(levels):
        digit = (i >> (2 * b)) & 3
        x |= (digit & 1) << b
        y |= (digit >> 1) << b
    return x, y


def _build_tree(kind: str, req: _Request) -> Topology:
    r = req.radix
    if kind == "htree" and r != 4:
        raise ConfigError(f"topology.radix: htree is 4-ary (use kind 'tree' for other radices); got {r!r}")
    n_leaves = req.n_routers
    L = _tree_levels(kind, r, n_leaves)
    if (r ** (L + 1) - 1) // (r - 1) > MAX_ROUTERS:
        raise ConfigError(f"topology.n_cores: at most {MAX_ROUTERS} routers (tables are n_routers^2); a {r}-ary "
                          f"tree over {n_leaves} leaves has {(r ** (L + 1) - 1) // (r - 1)}")
    routing = rt.TreeRouting(r, L)
    leaf = np.arange(n_leaves)
    lx, ly = _morton_xy(leaf, L) if kind == "htree" else (leaf % r ** ((L + 1) // 2), leaf // r ** ((L + 1) // 2))
    leaf_pos = np.stack([lx, ly], axis=1).astype(np.float64)
    # every router at the mean of its leaves (for the H-tree: the centre of its block)
    pos = np.concatenate([leaf_pos.reshape(n_leaves // r**lv, r**lv, 2).mean(axis=1) for lv in range(L + 1)])
    pos *= req.pitch_mm
    src, dst = routing.link_src, routing.link_dst
    names = tuple(f"level{i}" for i in range(1, L + 1))
    return Topology(
        kind, core_router=leaf.repeat(req.concentration), router_pos_mm=pos, router_level=routing.level,
        links=_Links(src, dst, routing.link_class, np.abs(pos[src] - pos[dst]).sum(axis=1)),
        class_names=names, class_params=_class_params(kind, names, req), routing_fn=lambda t: routing,
        params={"radix": r, "levels": L, "concentration": req.concentration},
    )


def _build_custom(kind: str, req: _Request) -> Topology:
    path = req.custom_path
    g = load_custom_graph(path)
    n = g.number_of_nodes()
    if n > MAX_ROUTERS:
        raise ConfigError(f"{path}: at most {MAX_ROUTERS} routers (tables are n_routers^2); got {n}")
    label = nx.get_node_attributes(g, "label")
    if not nx.is_strongly_connected(g):
        comps = sorted((sorted(c) for c in nx.strongly_connected_components(g)), key=lambda c: c[0])
        shown = "; ".join("{" + ", ".join(label[v] for v in c[:6]) + (", ..." if len(c) > 6 else "") + "}"
                          for c in comps[:4])
        raise ConfigError(f"{path}: graph is not connected (every router must reach every other); "
                          f"{len(comps)} components: {shown}{'; ...' if len(comps) > 4 else ''}")
    for v in range(n):
        a = g.nodes[v]
        if not is_int(a.get("level", 0)) or a.get("level", 0) < 0:
            raise ConfigError(f"{path} node {label[v]}: level must be an integer >= 0; got {a['level']!r}")
        if any(k in a and not is_real(a[k]) for k in ("x", "y")):
            raise ConfigError(f"{path} node {label[v]}: x and y must be finite numbers (mm); got {a.get('x')!r}, {a.get('y')!r}")
    given = [g.nodes[v].get("cores") for v in range(n)]
    if any(c is not None for c in given):
        counts = []
        for v, c in enumerate(given):
            if c is not None and (not is_int(c) or c < 0):
                raise ConfigError(f"{path} node {label[v]}: cores must be an integer >= 0; got {c!r}")
            counts.append(int(c or 0))
        if req.concentration != 1:
            raise ConfigError(f"topology.concentration: must be 1 when {path} gives per-router 'cores'; "
                              f"got {req.concentration}")
        rule = "node attribute 'cores'"
    else:
        counts = [req.concentration] * n
        rule = f"{n} routers x concentration {req.concentration}"
    if sum(counts) != req.n_cores:
        raise ConfigError(f"topology.n_cores: {path} holds {sum(counts)} cores ({rule}); got n_cores={req.n_cores}")
    if all("x" in g.nodes[v] and "y" in g.nodes[v] for v in range(n)):
        pos = np.array([[g.nodes[v]["x"], g.nodes[v]["y"]] for v in range(n)], dtype=np.float64)
        has_pos = True
    else:  # drawing only: a circle with neighbours one pitch apart
        ang = 2 * np.pi * np.arange(n) / n
        radius = req.pitch_mm / (2 * math.sin(math.pi / n)) if n > 1 else 0.0
        pos, has_pos = radius * np.stack([np.cos(ang), np.sin(ang)], axis=1), False
    edges = sorted(g.edges(data=True), key=lambda e: e[2]["id"])
    names = tuple(dict.fromkeys(a.get("cls", "link") for _, _, a in edges)) or ("link",)
    src = np.array([s for s, _, _ in edges], np.int64)
    dst = np.array([d for _, d, _ in edges], np.int64)
    length = np.array([a["length_mm"] if "length_mm" in a
                       else (abs(pos[s] - pos[d]).sum() if has_pos else req.pitch_mm)
                       for s, d, a in edges], np.float64)
    links = _Links(src, dst, np.array([names.index(a.get("cls", "link")) for _, _, a in edges]), length,
                   latency_ps=np.array([a.get("latency_ps", -1) for _, _, a in edges], np.int64),
                   energy_pj=np.array([a.get("energy_pj", np.nan) for _, _, a in edges], np.float64),
                   bandwidth=np.array([a.get("bandwidth", np.nan) for _, _, a in edges], np.float64))
    level = [g.nodes[v].get("level", 0) for v in range(n)]
    return Topology(
        "custom", core_router=np.repeat(np.arange(n), counts), router_pos_mm=pos, router_level=level,
        links=links, class_names=names, class_params=_class_params("custom", names, req),
        routing_fn=lambda t: rt.ShortestPathRouting(n, t.link_src, t.link_dst, t.link_latency_ps),
        params={"path": str(path)}, labels=[label[v] for v in range(n)],
    )


TOPOLOGIES: dict[str, Callable[[str, _Request], Topology]] = {
    "custom": _build_custom,
    "htree": _build_tree,
    "mesh": _build_grid,
    "torus": _build_grid,
    "tree": _build_tree,
}
"""Registry: topology kind -> builder ``(kind, request) -> Topology``; used to look up and list."""


def list_topologies() -> list[str]:
    """Sorted names of the registered topology kinds."""
    return sorted(TOPOLOGIES)


def build_topology(kind: str, *, n_cores: int, width: int | None = None, height: int | None = None,
                   radix: int = 4, concentration: int = 1, pitch_mm: float = 1.0,
                   link: LinkParams = LinkParams(), class_links: dict[str, LinkParams] | None = None,
                   custom_path: str | None = None) -> Topology:
    """Build and compile a router graph; every bad parameter raises :class:`ConfigError`.

    ``kind``: one of :func:`list_topologies`. ``n_cores``: cores on the chip; with
    ``concentration`` c cores per router, n_routers (leaf routers for trees) = n_cores / c.
    ``width``/``height``: mesh and torus only (default: square). ``radix``: tree arity (htree: 4).
    ``pitch_mm``: spacing of neighbouring routers. ``link``: default :class:`LinkParams`;
    ``class_links``: per-class overrides keyed by class name (e.g. ``{"y": ...}``, ``{"level3": ...}``).
    ``custom_path``: CSV edge list or GraphML file for kind ``custom`` (see :func:`load_custom_graph`).
    """
    if kind not in TOPOLOGIES:
        raise ConfigError(f"topology.kind: unknown topology {kind!r}; valid: {', '.join(list_topologies())}")
    if not is_int(n_cores) or n_cores < 1:
        raise ConfigError(f"topology.n_cores: must be an integer >= 1; got {n_cores!r}")
    if not is_int(concentration) or concentration < 1:
        raise ConfigError(f"topology.concentration: must be an integer >= 1; got {concentration!r}")
    if n_cores % concentration:
        raise ConfigError(f"topology.concentration: must divide n_cores; got n_cores={n_cores}, "
                          f"concentration={concentration}")
    if not is_int(radix) or radix < 2:
        raise ConfigError(f"topology.radix: must be an integer >= 2; got {radix!r}")
    if not is_real(pitch_mm) or pitch_mm <= 0:
        raise ConfigError(f"topology.pitch_mm: must be a finite number > 0; got {pitch_mm!r}")
    if not isinstance(link, LinkParams):
        raise ConfigError(f"topology.link: must be a LinkParams; got {type(link).__name__}")
    class_links = dict(class_links or {})
    for name, p in class_links.items():
        if not isinstance(p, LinkParams):
            raise ConfigError(f"topology.class_links.{name}: must be a LinkParams; got {type(p).__name__}")
    for name, v in (("width", width), ("height", height)):
        if v is not None and kind not in ("mesh", "torus"):
            raise ConfigError(f"topology.{name}: applies only to mesh and torus; got {name}={v!r} for {kind}")
    if kind == "custom":
        if custom_path is None:
            raise ConfigError("topology.custom_path: kind 'custom' needs a CSV edge list or GraphML file; got None")
    elif custom_path is not None:
        raise ConfigError(f"topology.custom_path: applies only to kind 'custom'; got {custom_path!r} for {kind}")
    if n_cores // concentration > MAX_ROUTERS:
        raise ConfigError(f"topology.n_cores: at most {MAX_ROUTERS} routers (tables are n_routers^2); "
                          f"got {n_cores // concentration}")
    req = _Request(int(n_cores), width, height, int(radix), int(concentration), float(pitch_mm), link,
                   class_links, custom_path)
    return TOPOLOGIES[kind](kind, req)

