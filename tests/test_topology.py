"""Router graphs and compiled routing, checked exactly against reference/topology-closed-forms.md.

Means are taken by enumerating every (source, destination) pair of the compiled tables and kept
as exact fractions, so a closed form either matches to the last bit or the test fails.
"""

import re
import time
from fractions import Fraction

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroemu.errors import ConfigError, NeuroEmuError
from neuroemu.hardware import routing as rt
from neuroemu.hardware import topology as topo_mod
from neuroemu.hardware.topology import TOPOLOGIES, LinkParams, Topology, build_topology, list_topologies


def mean_over(table, include_self: bool) -> Fraction:
    """Exact mean of an integer [n, n] table over all pairs (optionally without r == d)."""
    n = table.shape[0]
    total = int(table.sum(dtype=np.int64))  # the diagonal is 0 for every route table
    return Fraction(total, n * n if include_self else n * (n - 1))


def walk(t: Topology, s: int, d: int) -> list[int]:
    """Follow next_link in plain Python, checking the links chain from s to d."""
    links, r = [], s
    while r != d:
        lid = int(t.next_link[r, d])
        assert lid >= 0 and t.link_src[lid] == r
        links.append(lid)
        r = int(t.link_dst[lid])
        assert len(links) <= t.n_routers
    assert t.next_link[d, d] == -1
    return links


# --- 2D mesh -------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 4, 5, 8, 16])
def test_mesh_mean_hops_and_diameter(k):
    t = build_topology("mesh", n_cores=k * k)
    assert mean_over(t.hops, include_self=False) == Fraction(2 * k, 3)
    assert mean_over(t.hops, include_self=True) == Fraction(2 * (k * k - 1), 3 * k)
    assert t.diameter == 2 * (k - 1) == t.hops.max()


def xy(k):
    ids = np.arange(k * k)
    return ids % k, ids // k


@pytest.mark.parametrize("k", [2, 3, 4, 6, 7, 8])
def test_mesh_permutation_patterns(k):
    t = build_topology("mesh", n_cores=k * k)
    x, y = xy(k)
    src = np.arange(k * k)
    transpose = t.core_hops(src, x * k + y)
    assert Fraction(int(transpose.sum()), k * k) == Fraction(2 * (k * k - 1), 3 * k)
    assert (transpose[x == y] == 0).all()
    neighbour = t.core_hops(src, ((y + 1) % k) * k + (x + 1) % k)
    assert Fraction(int(neighbour.sum()), k * k) == Fraction(4 * (k - 1), k)
    if k % 2 == 0:
        complement = t.core_hops(src, (k - 1 - y) * k + (k - 1 - x))
        assert Fraction(int(complement.sum()), k * k) == k


def test_mesh_routes_are_xy_and_minimal():
    t = build_topology("mesh", n_cores=20, width=5, height=4)
    assert t.params["width"] == 5 and t.params["height"] == 4
    g = nx.DiGraph(zip(t.link_src.tolist(), t.link_dst.tolist()))
    dist = dict(nx.all_pairs_shortest_path_length(g))
    for s in range(20):
        for d in range(20):
            cls = t.link_class[walk(t, s, d)]
            assert list(cls) == sorted(cls)  # every x link (0) before any y link (1)
            assert t.hops[s, d] == dist[s][d]
    assert t.class_names == ("x", "y")
    assert np.all(t.link_length_mm == 1.0)


def test_truenorth_64x64():
    start = time.perf_counter()
    t = build_topology("mesh", n_cores=4096)
    built = time.perf_counter() - start
    assert built < 5.0  # about 0.2-0.5 s on a quiet 2-core machine
    assert t.next_link.dtype == np.int32 and t.hops.dtype == np.int16
    k = 64
    # uniformly random targets (self included): 21.33 hops in x and in y, 42.67 in all
    for c in range(2):
        assert mean_over(t.class_hops[c], include_self=True) == Fraction(k * k - 1, 3 * k)
        assert mean_over(t.class_hops[c], include_self=False) == Fraction(k, 3)
        assert round(float(mean_over(t.class_hops[c], True)), 2) == 21.33
    assert mean_over(t.hops, include_self=False) == Fraction(128, 3)
    assert round(128 / 3, 2) == 42.67
    # spot-check full routes against the tables
    rng = np.random.default_rng(1)
    for s, d in rng.integers(0, 4096, size=(20, 2)):
        links = walk(t, int(s), int(d))
        assert len(links) == t.hops[s, d]
        assert np.bincount(t.link_class[links], minlength=2).tolist() == t.class_hops[:, s, d].tolist()
        assert t.wire_mm[s, d] == len(links)


@pytest.mark.parametrize("k", [2, 4, 6, 8])
def test_mesh_uniform_link_load_is_lambda_k_over_4(k):
    """All-pairs traffic (self included) is uniform traffic at lambda = N packets per node: the
    busiest directed link then carries lambda k / 4 = k^3 / 4 packets, in x and in y."""
    t = build_topology("mesh", n_cores=k * k)
    n = k * k
    src, dst = np.divmod(np.arange(n * n), n)
    loads = t.link_loads(src, dst)
    assert loads.dtype == np.int64
    lam = n
    for c in range(2):
        assert loads[t.link_class == c].max() == Fraction(lam * k, 4)
    assert loads.sum() == t.hops.sum()
    if k >= 4:  # saturation with unit-bandwidth links: min(1, 4/k)
        assert min(1, Fraction(4, k)) == Fraction(lam, int(loads.max()))


# --- torus ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("w,h", [(4, 4), (5, 3), (2, 3), (6, 6), (1, 4)])
def test_torus_shortest_way_round(w, h):
    t = build_topology("torus", n_cores=w * h, width=w, height=h)
    ids = np.arange(w * h)
    x, y = ids % w, ids // w
    ring = lambda a, b, k: np.minimum((b - a) % k, (a - b) % k)
    expect = ring(x[:, None], x[None, :], w) + ring(y[:, None], y[None, :], h)
    assert (t.hops == expect).all()
    g = nx.DiGraph(zip(t.link_src.tolist(), t.link_dst.tolist()))
    dist = dict(nx.all_pairs_shortest_path_length(g))
    assert all(t.hops[s, d] == dist[s][d] for s in range(w * h) for d in range(w * h))


def test_torus_ties_go_plus_and_wrap_links_are_long():
    t = build_topology("torus", n_cores=16, pitch_mm=0.5)
    first = walk(t, 0, 2)[0]  # x distance 2 either way round a ring of 4: go +x
    assert (t.link_src[first], t.link_dst[first]) == (0, 1)
    wrap = walk(t, 0, 3)  # one hop, the -x wrap link
    assert len(wrap) == 1 and t.link_length_mm[wrap[0]] == 1.5
    # k = 4 mean per dimension: ring distances 0,1,2,1 -> 1
    assert mean_over(t.class_hops[0], include_self=True) == 1
    # a ring of 2 has one link each way, not a duplicate wrap link
    t2 = build_topology("torus", n_cores=2, width=2, height=1)
    assert t2.n_links == 2


# --- r-ary trees and the H-tree -------------------------------------------------------------------


@pytest.mark.parametrize("r,L", [(2, 1), (2, 3), (2, 6), (3, 1), (3, 2), (3, 4), (4, 1), (4, 2), (4, 4)])
def test_tree_mean_links(r, L):
    N = r**L
    t = build_topology("tree", n_cores=N, radix=r)
    leaf_hops = t.hops[np.ix_(t.core_router, t.core_router)]
    assert mean_over(leaf_hops, include_self=False) == 2 * (Fraction(L * N, N - 1) - Fraction(1, r - 1))
    assert mean_over(leaf_hops, include_self=True) == 2 * (L - Fraction(N - 1, N * (r - 1)))
    assert leaf_hops.max() == 2 * L == t.diameter
    assert t.n_routers == (r ** (L + 1) - 1) // (r - 1)
    assert t.class_names == tuple(f"level{i}" for i in range(1, L + 1))
    degree = np.bincount(t.link_src, minlength=t.n_routers)
    level = t.router_level
    assert (degree[(level > 0) & (level < L)] == r + 1).all() and degree[level == L].tolist() == [r]
    # an NCA at level l means 2l links
    lo = np.arange(N)[:, None] // r ** np.arange(L + 1)[None, :]
    nca = (lo[:, None, :] != lo[None, :, :]).sum(axis=2)
    assert (leaf_hops == 2 * nca).all()


@pytest.mark.parametrize("r,L", [(2, 4), (3, 3), (4, 3)])
def test_tree_top_uplink_load(r, L):
    N = r**L
    t = build_topology("tree", n_cores=N, radix=r)
    src, dst = np.divmod(np.arange(N * N), N)
    loads = t.link_loads(t.core_router[src], t.core_router[dst])
    top = t.link_class == L - 1
    up = top & (t.router_level[t.link_dst] == L)
    lam = N  # all pairs, self included
    assert (loads[up] == Fraction(lam * N * (r - 1), r * r)).all()
    assert loads.max() == loads[up].max()


@pytest.mark.parametrize("j", [1, 2, 3, 4])
@pytest.mark.parametrize("p", [1.0, 0.25])
def test_htree_wire_lengths(j, p):
    N = 4**j
    t = build_topology("htree", n_cores=N, pitch_mm=p)
    assert t.params["levels"] == j
    # every child link of a level-i router is 2^(i-1) p long
    for i in range(1, j + 1):
        assert np.all(t.link_length_mm[t.link_class == i - 1] == 2 ** (i - 1) * p)
    undirected_total = Fraction(t.link_length_mm.sum() / 2) / Fraction(p)
    assert undirected_total == 2 * (N - 2**j)
    leaf_wire = t.wire_mm[np.ix_(t.core_router, t.core_router)] / p
    assert np.all(leaf_wire == np.round(leaf_wire))
    mean = Fraction(int(leaf_wire.sum()), N * (N - 1))
    assert mean == Fraction(12, 7) * Fraction(8**j - 1, N - 1) - 2
    # a level-i router sits at the centre of its 2^i x 2^i block of cores
    pos = t.router_pos_mm / p
    for i in range(j + 1):
        routers = np.flatnonzero(t.router_level == i)
        leaves = t.core_router.reshape(-1, 4**i)  # Morton order: consecutive leaves form blocks
        assert leaves.shape[0] == routers.size
        lo, hi = pos[leaves].min(axis=1), pos[leaves].max(axis=1)
        assert np.all(hi - lo == 2**i - 1) and np.allclose(pos[routers], (lo + hi) / 2)


def test_htree_against_tree_and_mesh():
    """N = 256: mesh mean 10.67 hops against 7.36 links for the 4-ary tree (closed-forms file)."""
    h = build_topology("htree", n_cores=256)
    m = build_topology("mesh", n_cores=256)
    leaf = np.ix_(h.core_router, h.core_router)
    assert round(float(mean_over(h.hops[leaf], False)), 2) == 7.36
    assert round(float(mean_over(m.hops, False)), 2) == 10.67
    tree = build_topology("tree", n_cores=256, radix=4)
    assert (tree.hops == h.hops).all() and (tree.next_link == h.next_link).all()


# --- every table agrees with the routes ----------------------------------------------------------


def small_topologies(tmp_path):
    csv = tmp_path / "g.csv"
    csv.write_text("src,dst,latency_ps,cls\n0,1,,a\n1,2,500,b\n2,3,,a\n3,0,3000,b\n1,3,,c\n")
    energetic = LinkParams(latency_ps=700, energy_pj=0.3, energy_pj_per_mm=0.7)
    return [
        build_topology("mesh", n_cores=12, width=4, height=3, link=energetic,
                       class_links={"y": LinkParams(latency_ps=1300, energy_pj=0.1)}),
        build_topology("torus", n_cores=15, width=5, height=3, link=energetic, pitch_mm=0.3),
        build_topology("htree", n_cores=16, link=energetic),
        build_topology("tree", n_cores=27, radix=3, link=energetic, class_links={"level2": LinkParams(latency_ps=9)}),
        build_topology("tree", n_cores=16, radix=2, concentration=2, link=energetic),
        build_topology("custom", n_cores=4, custom_path=str(csv), link=energetic),
        build_topology("mesh", n_cores=1),
    ]


def test_routes_reproduce_every_table(tmp_path):
    for t in small_topologies(tmp_path):
        n = t.n_routers
        assert t.class_hops.shape == (t.n_classes, n, n) and t.class_hops.dtype == np.int16
        assert t.path_latency_ps.dtype == np.int64 and t.path_energy_pj.dtype == np.float64
        for s in range(n):
            for d in range(n):
                links = walk(t, s, d)
                assert (t.route_links(s, d) == links).all()
                assert t.hops[s, d] == len(links)
                assert np.bincount(t.link_class[links], minlength=t.n_classes).tolist() == t.class_hops[:, s, d].tolist()
                assert t.path_latency_ps[s, d] == t.link_latency_ps[links].sum()
                assert t.path_energy_pj[s, d] == pytest.approx(t.link_energy_pj[links].sum(), rel=1e-12, abs=1e-12)
                assert t.wire_mm[s, d] == pytest.approx(t.link_length_mm[links].sum(), rel=1e-12, abs=1e-12)
        # the generic route recurrence agrees with each closed form
        for values, table in ((t.link_latency_ps, t.path_latency_ps), (t.link_length_mm, t.wire_mm)):
            generic = rt.accumulate(values, t.next_link, t.hops, t.link_dst, table.dtype)
            assert np.allclose(generic, table, rtol=1e-12, atol=1e-12)
        base = rt.Routing.class_hops(t._routing, t.link_class, t.n_classes, t.link_dst)
        assert (base == t.class_hops).all()


def test_link_parameters_and_graph(tmp_path):
    t = build_topology("mesh", n_cores=9, pitch_mm=2.0,
                       link=LinkParams(latency_ps=800, energy_pj=1.5, energy_pj_per_mm=0.25, bandwidth_pkts_per_ns=2),
                       class_links={"y": LinkParams(latency_ps=2000)})
    x = t.link_class == 0
    assert (t.link_latency_ps[x] == 800).all() and (t.link_latency_ps[~x] == 2000).all()
    assert np.allclose(t.link_energy_pj[x], 1.5 + 0.25 * 2.0) and (t.link_energy_pj[~x] == 0).all()
    assert (t.link_bandwidth[x] == 2.0).all() and (t.link_bandwidth[~x] == 1.0).all()
    assert (t.path_latency_ps == 800 * t.class_hops[0] + 2000 * t.class_hops[1]).all()
    assert t.graph.number_of_nodes() == 9 and t.graph.number_of_edges() == t.n_links == 24
    a = t.graph.edges[int(t.link_src[0]), int(t.link_dst[0])]
    assert a == {"id": 0, "length_mm": 2.0, "latency_ps": 800, "energy_pj": 2.0, "bandwidth": 2.0, "cls": "x"}
    assert t.graph.nodes[4]["pos"] == (2.0, 2.0) and t.graph.nodes[4]["level"] == 0
    for arr in (t.next_link, t.hops, t.core_router, t.link_src, t.wire_mm, t.class_hops):
        assert not arr.flags.writeable
    assert t.link_src.dtype == np.int32 and t.link_class.dtype == np.int16
    assert t.router_pos_mm.shape == (9, 2) and t.link_latency_ps.dtype == np.int64


def _loop_grid_links(w: int, h: int, wrap: bool):
    """By hand, router by router: each router's + then - neighbour per dimension (x first), a
    link once per (source, destination) pair; returns the links and the four port tables."""
    index, links, ports = {}, [], {p: [-1] * (w * h) for p in ("xp", "xm", "yp", "ym")}
    for c, (k, stride, plus, minus) in enumerate(((w, 1, "xp", "xm"), (h, w, "yp", "ym"))):
        for r in range(w * h):
            coord = r % w if c == 0 else r // w
            for step, port in ((1, plus), (-1, minus)):
                nc = coord + step
                if (not wrap and not 0 <= nc < k) or nc % k == coord:
                    continue
                key = (r, r + (nc % k - coord) * stride)
                if key not in index:
                    index[key] = len(links)
                    links.append((*key, c))
                ports[port][r] = index[key]
    return links, [ports[p] for p in ("xp", "xm", "yp", "ym")]


@pytest.mark.parametrize("wrap", [False, True])
def test_grid_links_and_ports_are_those_of_a_router_by_router_walk(wrap):
    """The mesh / torus links are made by array operations; ids, classes and ports are the ones a
    router-by-router walk gives (rings of 1 and 2 included), so every record keeps its link ids."""
    for w in range(1, 6):
        for h in range(1, 6):
            g = rt.GridRouting(w, h, wrap)
            links, ports = _loop_grid_links(w, h, wrap)
            assert list(zip(g.link_src.tolist(), g.link_dst.tolist(), g.link_class.tolist())) == links, (w, h)
            assert [p.ravel().tolist() for p in g._ports] == ports, (w, h)
            assert g.link_src.dtype == g.link_dst.dtype == np.int64 and g.link_class.dtype == np.int16


def test_the_networkx_graph_is_built_on_first_access_only(monkeypatch):
    """Building a topology builds no networkx graph; the first access builds it once from the arrays."""
    calls = []
    make = Topology._make_graph
    monkeypatch.setattr(Topology, "_make_graph", lambda self: calls.append(self) or make(self))
    for kind in ("mesh", "torus", "tree", "htree"):
        t = build_topology(kind, n_cores=16)
        assert calls == [] and "graph" not in vars(t)
        g = t.graph
        assert t.graph is g and len(calls) == 1 and g.number_of_edges() == t.n_links
        assert sorted((s, d, a["id"]) for s, d, a in g.edges(data=True)) == sorted(
            zip(t.link_src.tolist(), t.link_dst.tolist(), range(t.n_links)))
        calls.clear()


# --- traffic queries -----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 19), st.integers(0, 19), st.integers(0, 5)), max_size=60),
       st.sampled_from(["mesh", "torus"]))
def test_link_loads_match_per_packet_walk(traffic, kind):
    t = build_topology(kind, n_cores=20, width=5, height=4)
    src = np.array([a for a, _, _ in traffic], dtype=np.int64)
    dst = np.array([b for _, b, _ in traffic], dtype=np.int64)
    counts = np.array([c for _, _, c in traffic], dtype=np.int64)
    expect = np.zeros(t.n_links, dtype=np.int64)
    for s, d, c in traffic:
        for lid in walk(t, s, d):
            expect[lid] += c
    assert (t.link_loads(src, dst, counts) == expect).all()
    ones = np.zeros(t.n_links, dtype=np.int64)
    for s, d, _ in traffic:
        ones[walk(t, s, d)] += 1
    assert (t.link_loads(src, dst) == ones).all()


def test_multicast_counts_shared_links_once():
    t = build_topology("mesh", n_cores=25)
    dsts = np.array([4, 9, 24, 20, 12, 12, 0])
    union = t.multicast_links(0, dsts)
    expect = sorted({lid for d in dsts for lid in walk(t, 0, int(d))})
    assert union.tolist() == expect and union.dtype == np.int32
    assert len(union) < sum(len(walk(t, 0, int(d))) for d in dsts)
    # from a corner to every router: the XY multicast tree reaches each router by exactly one link
    assert len(t.multicast_links(0, np.arange(25))) == 24
    # tree: from one leaf to all leaves, every non-root router is entered once (up or down)
    for r, L in ((2, 4), (4, 2), (3, 3)):
        tr = build_topology("tree", n_cores=r**L, radix=r)
        assert len(tr.multicast_links(0, tr.core_router)) == tr.n_routers - 1
        # to its siblings only: up one level, down r - 1 times
        assert len(tr.multicast_links(0, np.arange(r))) == r


def test_concentration():
    t = build_topology("mesh", n_cores=64, concentration=4)
    assert (t.n_routers, t.params["width"]) == (16, 4)
    assert (t.core_router == np.arange(64) // 4).all()
    hops = t.core_hops(np.arange(64)[:, None], np.arange(64)[None, :])
    assert hops.shape == (64, 64) and (hops[:4, :4] == 0).all() and hops[0, 63] == 6
    tr = build_topology("htree", n_cores=32, concentration=2)
    assert tr.n_routers == 16 + 4 + 1 and np.bincount(tr.core_router).tolist()[:16] == [2] * 16
    assert tr.graph.nodes[0]["cores"] == 2 and tr.graph.nodes[20]["cores"] == 0
    m = build_topology("mesh", n_cores=24, width=3, concentration=2)
    assert (m.params["width"], m.params["height"]) == (3, 4)


# --- custom graphs -------------------------------------------------------------------------------


def test_custom_csv_round_trip(tmp_path):
    # odd torus rings: on an even ring the half-way tie (XY: go +) and the custom tie (lowest
    # link id) may pick different ways round, which differ in wire when the wrap link is long
    for kind, n, w in (("mesh", 12, 4), ("torus", 15, 5)):
        t = build_topology(kind, n_cores=n, width=w, pitch_mm=0.5,
                           link=LinkParams(latency_ps=900, energy_pj=0.1, energy_pj_per_mm=1 / 3))
        path = tmp_path / f"{kind}.csv"
        t.to_csv(path)
        c = build_topology("custom", n_cores=n, custom_path=str(path))
        assert c.class_names == ("x", "y")
        edges = lambda g: {(s, d): tuple(sorted((k, v) for k, v in a.items() if k != "id"))
                           for s, d, a in g.edges(data=True)}
        assert edges(c.graph) == edges(t.graph)
        assert (c.hops == t.hops).all() and (c.class_hops == t.class_hops).all()
        assert (c.path_latency_ps == t.path_latency_ps).all()
        assert np.allclose(c.wire_mm, t.wire_mm) and np.allclose(c.path_energy_pj, t.path_energy_pj)
        assert (c.core_router == t.core_router).all()


def test_custom_graphml_round_trip(tmp_path):
    for t in (build_topology("htree", n_cores=32, concentration=2, pitch_mm=0.5, link=LinkParams(energy_pj_per_mm=2.0)),
              build_topology("tree", n_cores=27, radix=3),
              build_topology("mesh", n_cores=9)):
        path = tmp_path / f"{t.kind}.graphml"
        t.to_graphml(path)
        c = build_topology("custom", n_cores=t.n_cores, custom_path=str(path))
        assert c.kind == "custom" and c.class_names == t.class_names
        for name in ("next_link", "hops", "core_router", "router_pos_mm", "router_level", "link_src",
                     "link_dst", "link_class", "link_length_mm", "link_latency_ps", "link_energy_pj",
                     "class_hops", "path_latency_ps", "wire_mm", "path_energy_pj"):
            assert np.array_equal(getattr(c, name), getattr(t, name)), name


def test_custom_csv_routing_and_defaults(tmp_path):
    path = tmp_path / "ring.csv"
    # a ring 0-1-2-3-0 where the direct 0-3 link is slow, plus a chord 1-3
    path.write_text("# comment\n0,1\n1,2\n2,3\n3,0,,5000\n1,3,2.5,,7,2,fast\n\n")
    t = build_topology("custom", n_cores=8, concentration=2, custom_path=str(path), pitch_mm=0.4)
    assert t.n_routers == 4 and (t.core_router == np.arange(8) // 2).all()
    assert t.class_names == ("link", "fast")
    assert walk(t, 0, 3) == [0, 8]  # 0->1->3 (2000 ps) beats the 5000 ps direct link
    assert t.hops[0, 3] == 2 and t.path_latency_ps[0, 3] == 2000
    assert t.link_length_mm[0] == 0.4 and t.link_length_mm[8] == 2.5  # default: one pitch
    assert t.link_energy_pj[8] == 7 and t.link_bandwidth[8] == 2
    assert t.graph.nodes[3]["label"] == "3"
    # equal latency: fewest hops wins, then the lowest link id
    path2 = tmp_path / "tie.csv"
    path2.write_text("a,b\nb,c\na,d\nd,c\na,c,,2000\nc,e\n")
    t2 = build_topology("custom", n_cores=5, custom_path=str(path2))
    label = [t2.graph.nodes[r]["label"] for r in range(5)]
    assert label == ["a", "b", "c", "d", "e"]  # order of appearance when labels are not integers
    assert walk(t2, 0, 2) == [8]  # direct a->c (2000 ps, 1 hop) beats a->b->c and a->d->c
    assert walk(t2, 1, 3) == [1, 4]  # b->a->d and b->c->d tie: b->a is link 1, b->c link 2


def test_custom_graphml_cores_and_direction(tmp_path):
    g = nx.DiGraph()
    g.add_node("hub", cores=0)
    for i in range(3):
        g.add_node(f"n{i}", cores=2, x=float(i), y=1.0)
    g.nodes["hub"].update(x=1.0, y=0.0)
    for i in range(3):
        g.add_edge("hub", f"n{i}", latency_ps=100)
        g.add_edge(f"n{i}", "hub", latency_ps=300)
    path = tmp_path / "star.graphml"
    nx.write_graphml(g, str(path))
    t = build_topology("custom", n_cores=6, custom_path=str(path))
    assert np.bincount(t.core_router).tolist() == [0, 2, 2, 2]
    assert t.path_latency_ps[1, 2] == 400 and t.hops[1, 2] == 2
    assert t.link_length_mm[0] == 2.0  # Manhattan distance from (1, 0) to (0, 1)
    u = nx.Graph([(1, 2), (2, 3)])
    upath = tmp_path / "line.graphml"
    nx.write_graphml(u, str(upath))
    tu = build_topology("custom", n_cores=3, custom_path=str(upath))
    assert tu.n_links == 4 and tu.hops[0, 2] == 2 and tu.hops[2, 0] == 2


# --- errors --------------------------------------------------------------------------------------


def raises(words, **kwargs):
    kind = kwargs.pop("kind", "mesh")
    with pytest.raises(ConfigError) as exc:
        build_topology(kind, **kwargs)
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)
    return msg


def test_bad_parameters_raise_config_error():
    assert issubclass(ConfigError, NeuroEmuError)
    raises(["unknown topology 'hypercube'", "valid: custom, htree, mesh, torus, tree"], kind="hypercube", n_cores=4)
    raises(["width*height*concentration == n_cores", "4*4*1 = 16 != 20"], n_cores=20, width=4, height=4)
    raises(["perfect square", "12"], n_cores=12)
    raises(["5 does not divide 12"], n_cores=12, width=5, kind="torus")
    raises(["htree needs 4^j", "got 48"], kind="htree", n_cores=48)
    raises(["tree needs 3^L", "got 10"], kind="tree", n_cores=10, radix=3)
    raises(["concentration", "must divide n_cores", "n_cores=10", "concentration=3"], n_cores=10, concentration=3)
    raises(["n_cores", ">= 1", "0"], n_cores=0)
    raises(["radix", ">= 2", "1"], kind="tree", n_cores=4, radix=1)
    raises(["htree is 4-ary", "2"], kind="htree", n_cores=16, radix=2)
    raises(["width", "only to mesh and torus"], kind="tree", n_cores=8, radix=2, width=4)
    raises(["pitch_mm", "> 0"], n_cores=4, pitch_mm=0.0)
    raises(["pitch_mm"], n_cores=4, pitch_mm=float("nan"))
    raises(["width", ">= 1", "0"], n_cores=4, width=0, height=4)
    raises(["unknown link class 'z'", "valid: x, y"], n_cores=4, class_links={"z": LinkParams()})
    raises(["class_links.y", "LinkParams"], n_cores=4, class_links={"y": {"latency_ps": 5}})
    raises(["custom_path", "needs a CSV edge list or GraphML"], kind="custom", n_cores=4)
    raises(["custom_path", "only to kind 'custom'"], n_cores=4, custom_path="x.csv")


@pytest.mark.parametrize("kwargs,words", [
    ({"latency_ps": 0}, ["latency_ps", "integer >= 1", "0"]),
    ({"latency_ps": -5}, ["latency_ps", "-5"]),
    ({"latency_ps": 2.5}, ["latency_ps", "2.5"]),
    ({"latency_ps": True}, ["latency_ps", "True"]),
    ({"bandwidth_pkts_per_ns": 0}, ["bandwidth_pkts_per_ns", "> 0", "0"]),
    ({"bandwidth_pkts_per_ns": float("inf")}, ["bandwidth_pkts_per_ns", "inf"]),
    ({"energy_pj": -1.0}, ["energy_pj", ">= 0", "-1.0"]),
    ({"energy_pj_per_mm": float("nan")}, ["energy_pj_per_mm", "nan"]),
])
def test_bad_link_params(kwargs, words):
    with pytest.raises(ConfigError) as exc:
        LinkParams(**kwargs)
    for w in words:
        assert w in str(exc.value)


def test_bad_custom_files(tmp_path):
    def write(name, text):
        p = tmp_path / name
        p.write_text(text)
        return str(p)

    raises(["not connected", "2 components", "{0, 1, 2}", "{3, 4}"], kind="custom", n_cores=5,
           custom_path=write("split.csv", "0,1\n1,2\n3,4\n"))
    raises(["holds 3 cores", "n_cores=4"], kind="custom", n_cores=4, custom_path=write("line.csv", "0,1\n1,2\n"))
    raises(["line 2", "latency_ps must be an integer >= 1", "0"], kind="custom", n_cores=2,
           custom_path=write("lat.csv", "src,dst,latency_ps\n0,1,0\n"))
    raises(["line 1", "bandwidth must be a finite number > 0", "-2"], kind="custom", n_cores=2,
           custom_path=write("bw.csv", "0,1,,,,-2\n"))
    raises(["line 1", "length_mm must be a finite number >= 0", "abc"], kind="custom", n_cores=2,
           custom_path=write("len.csv", "0,1,abc\n"))
    raises(["header column 'latency'", "valid: src, dst"], kind="custom", n_cores=2,
           custom_path=write("hdr.csv", "src,dst,latency\n0,1,5\n"))
    raises(["self-loop"], kind="custom", n_cores=2, custom_path=write("loop.csv", "0,1\n1,1\n"))
    raises(["duplicate link 1->0"], kind="custom", n_cores=2, custom_path=write("dup.csv", "0,1\n1,0\n"))
    raises(["expected src,dst and at most 7 fields"], kind="custom", n_cores=2,
           custom_path=write("wide.csv", "0,1,1,1,1,1,a,extra\n"))
    raises(["cannot read", "missing.csv"], kind="custom", n_cores=2, custom_path=str(tmp_path / "missing.csv"))
    raises(["must end in .csv or .graphml", "g.txt"], kind="custom", n_cores=2, custom_path=write("g.txt", "0,1\n"))
    raises(["not a readable GraphML"], kind="custom", n_cores=2, custom_path=write("bad.graphml", "<graphml"))
    raises(["no routers"], kind="custom", n_cores=2, custom_path=write("empty.csv", "# nothing\n"))
    g = nx.DiGraph()
    g.add_edge(0, 1)
    g.add_node(0, cores=1)
    g.add_node(1, cores=2)
    g.add_node(2, cores=0)
    p = tmp_path / "oneway.graphml"
    nx.write_graphml(g, str(p))
    raises(["not connected", "3 components"], kind="custom", n_cores=3, custom_path=str(p))
    g.add_edge(1, 0)
    g.add_edge(0, 2)
    g.add_edge(2, 0)
    nx.write_graphml(g, str(p))
    raises(["holds 3 cores", "node attribute 'cores'", "n_cores=4"], kind="custom", n_cores=4, custom_path=str(p))
    raises(["concentration", "must be 1"], kind="custom", n_cores=6, concentration=2, custom_path=str(p))
    g.nodes[2]["colour"] = "red"
    nx.write_graphml(g, str(p))
    raises(["unknown attribute 'colour'"], kind="custom", n_cores=3, custom_path=str(p))


def test_query_misuse_raises(tmp_path):
    t = build_topology("mesh", n_cores=4)
    with pytest.raises(NeuroEmuError, match=r"\[0, 4\)"):
        t.link_loads(np.array([0, 4]), np.array([1, 1]))
    with pytest.raises(NeuroEmuError, match="same length"):
        t.link_loads(np.array([0, 1]), np.array([1]))
    with pytest.raises(NeuroEmuError, match="counts"):
        t.link_loads(np.array([0]), np.array([1]), counts=np.array([-1]))
    with pytest.raises(NeuroEmuError, match="counts"):  # one negative among positives is enough
        t.link_loads(np.array([0, 1, 2]), np.array([1, 2, 3]), counts=np.array([2, -1, 5]))
    with pytest.raises(NeuroEmuError, match="counts"):
        t.link_loads(np.array([0]), np.array([1]), counts=np.array([1.0]))
    assert t.link_loads(np.array([0, 0]), np.array([1, 1]), counts=np.array([0, 3])).sum() == 3  # 0 is allowed
    with pytest.raises(NeuroEmuError):
        t.core_hops(np.array([5]), np.array([0]))
    g = nx.DiGraph([(0, 1), (1, 2), (2, 0)])  # a one-way ring has no CSV form
    nx.write_graphml(g, str(tmp_path / "ring.graphml"))
    ring = build_topology("custom", n_cores=3, custom_path=str(tmp_path / "ring.graphml"))
    assert ring.hops[0, 2] == 2 and ring.hops[2, 0] == 1
    with pytest.raises(ConfigError, match="no identical reverse link; use to_graphml"):
        ring.to_csv(tmp_path / "ring.csv")
    assert t.link_loads(np.array([], int), np.array([], int)).tolist() == [0] * t.n_links
    # path_sum takes one value per link: one more would be read as the value of link -1 (none)
    for bad in (np.ones(t.n_links + 1), np.ones(t.n_links - 1), np.ones((1, t.n_links))):
        want = f"path_sum: values must have shape ({t.n_links},); got {bad.shape}"
        with pytest.raises(NeuroEmuError, match=re.escape(want)):
            t.path_sum(bad)
    assert np.array_equal(t.path_sum(np.ones(t.n_links), np.int64), t.hops)


def test_registry_and_docstrings():
    assert list_topologies() == sorted(TOPOLOGIES) == ["custom", "htree", "mesh", "torus", "tree"]
    public = [LinkParams, LinkParams.energy_for, Topology, build_topology, list_topologies,
              topo_mod.load_custom_graph, rt.accumulate, rt.class_sum, rt.walk_loads, rt.walk_union]
    public += [getattr(Topology, name) for name in dir(Topology) if not name.startswith("_")]
    for cls in (rt.Routing, rt.GridRouting, rt.TreeRouting, rt.ShortestPathRouting):
        public += [cls, cls.class_hops, cls.path_sum]
    for obj in public:
        doc = obj.__doc__ if not isinstance(obj, property) else obj.fget.__doc__
        assert doc and doc.strip(), obj
    for word in ("hop", "concentration", "injection"):
        assert word in topo_mod.__doc__


@pytest.mark.parametrize("kind,kw", [("mesh", {"width": 6, "height": 4}), ("torus", {"width": 5, "height": 5}),
                                     ("htree", {})])
def test_pair_queries_equal_the_tables(kind, kw):
    """Per-pair class hops and path sums (what Router.bind asks) equal the [n, n] tables' entries:
    closed forms on meshes and tori (the same floats added in the same order), gathers elsewhere."""
    link = LinkParams(latency_ps=1234, energy_pj=0.7, energy_pj_per_mm=0.3)
    n_cores = 16 if kind == "htree" else kw["width"] * kw["height"]
    t = build_topology(kind, n_cores=n_cores, pitch_mm=0.37, link=link, **kw)
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, t.n_routers, 500), rng.integers(0, t.n_routers, 500)
    assert np.array_equal(t.pair_class_hops(src, dst), t.class_hops[:, src, dst])
    assert np.array_equal(t.pair_path_sum(t.link_latency_ps, np.int64, src, dst, "path_latency_ps"),
                          t.path_latency_ps[src, dst])
    wire = t.pair_path_sum(t.link_length_mm, np.float64, src, dst, "wire_mm")
    assert np.array_equal(wire, t.wire_mm[src, dst]) and wire.max() > 0
    values = rng.random(t.n_links)
    assert np.array_equal(t.pair_path_sum(values, np.float64, src, dst), t.path_sum(values)[src, dst])
    # lines that repeat (shared running sums) beside lines that differ: even rows and columns as the wire
    line = np.where(t.link_class == 0, t.link_src // t.params.get("width", 1), t.link_src % t.params.get("width", 1))
    values = np.where(line % 2 == 0, t.link_length_mm, 0.1 + line * t.link_length_mm)
    assert np.array_equal(t.pair_path_sum(values, np.float64, src, dst), t.path_sum(values)[src, dst])


@pytest.mark.parametrize("kind,w,h", [("mesh", 7, 3), ("torus", 6, 5), ("torus", 2, 3), ("torus", 1, 4)])
def test_grid_loads_in_closed_form_equal_the_route_walk(kind, w, h):
    """Meshes and tori sum their loads along rows and columns; the hop-by-hop walk of every
    route (routing.walk_loads) gives the same counts, rings of 2 and 1 included."""
    t = build_topology(kind, n_cores=w * h, width=w, height=h)
    rng = np.random.default_rng(3)
    src, dst = rng.integers(0, w * h, 3000), rng.integers(0, w * h, 3000)
    counts = rng.integers(0, 50, 3000)
    for c in (counts, None):
        expect = rt.walk_loads(t.next_link, t.link_dst, t.n_links, src, dst, c)
        assert np.array_equal(t.link_loads(src, dst, c), expect) and expect.sum() > 0


@pytest.mark.parametrize("kind,w,h", [("mesh", 7, 3), ("mesh", 1, 5), ("torus", 6, 5), ("torus", 2, 3), ("torus", 1, 4)])
def test_grid_walks_in_closed_form_build_no_table_and_equal_the_tables(kind, w, h):
    """Meshes and tori build their [n, n] tables only when asked: next links, hops, the diameter,
    route walks and multicast unions come in closed form first, and equal the tables after."""
    t = build_topology(kind, n_cores=w * h, width=w, height=h)
    n = w * h
    s, d = np.divmod(np.arange(n * n), n)
    closed = (t.next_links(s, d), t.core_hops(s, d), t.diameter,
              [t.route_links(a, b).tolist() for a, b in zip(s, d)],
              [t.multicast_links(a, np.arange(0, n, 2)).tolist() for a in range(n)])
    assert "next_link" not in vars(t) and "hops" not in vars(t) and "next_link" not in vars(t._routing)
    assert np.array_equal(closed[0], t.next_link[s, d]) and np.array_equal(closed[1], t.hops[s, d])
    assert closed[2] == t.hops.max()
    assert closed[3] == [walk(t, int(a), int(b)) for a, b in zip(s, d)]
    assert closed[4] == [rt.walk_union(t.next_link, t.link_dst, a, np.arange(0, n, 2)).tolist() for a in range(n)]


@pytest.mark.parametrize("r,L", [(2, 1), (2, 2), (2, 3), (2, 5), (3, 1), (3, 2), (3, 3), (4, 3)])
def test_tree_leaf_grid_for_odd_and_even_depths(r, L):
    """An r-ary tree of depth L lays its r^L leaves row by row on an r^ceil(L/2) x r^floor(L/2) grid
    (square for even L, r times wider than tall for odd L), each router at the mean of its leaves."""
    N, p = r**L, 0.5
    t = build_topology("tree", n_cores=N, radix=r, pitch_mm=p)
    W, H = r ** ((L + 1) // 2), r ** (L // 2)
    assert W * H == N and W in (H, r * H)
    leaf = t.router_pos_mm[t.core_router] / p
    assert leaf.tolist() == [[i % W, i // W] for i in range(N)]
    for lv in range(L + 1):
        routers = np.flatnonzero(t.router_level == lv)
        blocks = leaf.reshape(N // r**lv, r**lv, 2).mean(axis=1)
        assert np.allclose(t.router_pos_mm[routers] / p, blocks)
    # each link's length is the Manhattan distance of its ends
    ends = np.abs(t.router_pos_mm[t.link_src] - t.router_pos_mm[t.link_dst]).sum(axis=1)
    assert np.allclose(t.link_length_mm, ends)


def test_link_energy_for_a_length_and_a_one_ps_link_kept(tmp_path):
    """A link's energy is its fixed part plus its per-mm part times the length; a custom link that states
    the smallest latency, 1 ps, keeps it (a missing one takes the class default; 0 is refused)."""
    link = LinkParams(latency_ps=700, energy_pj=0.3, energy_pj_per_mm=0.7)
    assert link.energy_for(2.0) == 0.3 + 0.7 * 2.0
    assert np.array_equal(link.energy_for(np.array([0.0, 0.5])), np.array([0.3, 0.3 + 0.35]))
    path = tmp_path / "zero.csv"
    path.write_text("src,dst,latency_ps\n0,1,1\n1,2,\n2,0,1\n")
    t = build_topology("custom", n_cores=3, custom_path=str(path), link=link)
    assert t.link_latency_ps.tolist() == [1, 1, 700, 700, 1, 1]  # CSV links run both ways


def test_a_tree_over_the_router_limit_fails_naming_its_router_count():
    """(r^(L+1) - 1) / (r - 1) routers: 181^2 = 32,761 leaves fit the 32,767 limit, their tree's 32,943
    routers do not."""
    with pytest.raises(ConfigError, match="has 32943"):
        build_topology("tree", n_cores=181**2, radix=181)


def test_router_limits_at_their_boundary(tmp_path, monkeypatch):
    """With the limit lowered to 16 routers: a binary tree of 8 leaves (15 routers) builds, one of 16 leaves
    (31 routers) is refused; a custom graph of 16 routers builds, one of 17 is refused."""
    from neuroemu.hardware import topology as topo_mod
    monkeypatch.setattr(topo_mod, "MAX_ROUTERS", 16)
    assert build_topology("tree", n_cores=8, radix=2).n_routers == 15
    with pytest.raises(ConfigError, match="has 31"):
        build_topology("tree", n_cores=16, radix=2)
    # exactly at the limit and one over: 15 leaves + a root, 16 leaves + a root
    assert build_topology("tree", n_cores=15, radix=15).n_routers == 16
    with pytest.raises(ConfigError, match="has 17"):
        build_topology("tree", n_cores=16, radix=16)
    for n, ok in ((16, True), (17, False)):
        path = tmp_path / f"ring{n}.csv"
        path.write_text("".join(f"{i},{(i + 1) % n}\n" for i in range(n)))
        if ok:
            assert build_topology("custom", n_cores=n, custom_path=str(path)).n_routers == n
        else:  # 16 cores pass the core count's check; the file's 17 routers do not
            with pytest.raises(ConfigError, match="ring17.csv: at most 16 routers"):
                build_topology("custom", n_cores=16, custom_path=str(path))


@pytest.mark.parametrize("n", [3, 4, 7])
def test_custom_graph_without_positions_is_drawn_on_a_circle_one_pitch_apart(tmp_path, n):
    path = tmp_path / "ring.csv"
    path.write_text("".join(f"{i},{(i + 1) % n}\n" for i in range(n)))
    t = build_topology("custom", n_cores=n, custom_path=str(path), pitch_mm=0.3)
    pos = t.router_pos_mm
    steps = np.hypot(*(np.roll(pos, -1, axis=0) - pos).T)
    assert np.allclose(steps, 0.3, rtol=1e-12)
    assert np.allclose(np.hypot(*pos.T), 0.3 / (2 * np.sin(np.pi / n)), rtol=1e-12)  # centred on the origin


def test_custom_graphml_partial_coordinates_and_negative_cores(tmp_path):
    """Coordinates count only when every router has both x and y (else the drawing circle and pitch-long
    links); a router's 'cores' must be an integer >= 0."""
    g = nx.DiGraph()
    for i in range(3):
        g.add_node(f"n{i}", x=float(5 * i))  # x without y
    g.add_edges_from([("n0", "n1"), ("n1", "n2"), ("n2", "n0")])
    path = tmp_path / "partial.graphml"
    nx.write_graphml(g, str(path))
    t = build_topology("custom", n_cores=3, custom_path=str(path), pitch_mm=0.3)
    assert t.link_length_mm.tolist() == [0.3] * 3
    g.nodes["n0"]["cores"] = -1
    g.nodes["n1"]["cores"] = 2
    g.nodes["n2"]["cores"] = 2
    bad = tmp_path / "negative.graphml"
    nx.write_graphml(g, str(bad))
    with pytest.raises(ConfigError, match="node n0: cores must be an integer >= 0; got -1"):
        build_topology("custom", n_cores=3, custom_path=str(bad))


def test_routes_of_one_hop_are_summed_on_a_graph_whose_diameter_is_one(tmp_path):
    """A triangle, every route one direct link (any detour takes >= 2500 ps > 1700 ps): each path
    table is the direct link's own value, the diagonal 0 (the route recurrence with one hop count)."""
    path = tmp_path / "triangle.csv"
    path.write_text("a,b,0.5,1000,3,1,p\nb,c,0.25,1500,5,1,q\na,c,2.0,1700,11,1,p\n")
    t = build_topology("custom", n_cores=3, custom_path=str(path))
    assert t.diameter == 1
    lat, wire, energy, cls = (np.zeros((3, 3), dt) for dt in (np.int64, np.float64, np.float64, np.int16))
    per_class = np.zeros((2, 3, 3), np.int16)
    for s, d, a in t.graph.edges(data=True):
        lat[s, d], wire[s, d], energy[s, d] = a["latency_ps"], a["length_mm"], a["energy_pj"]
        per_class[t.class_names.index(a["cls"]), s, d] = 1
    assert lat[0, 1] == 1000 and lat[2, 1] == 1500 and wire[2, 0] == 2.0 and energy[1, 0] == 3
    assert np.array_equal(t.hops, (lat > 0).astype(np.int16))
    assert np.array_equal(t.path_latency_ps, lat) and np.array_equal(t.wire_mm, wire)
    assert np.array_equal(t.path_energy_pj, energy) and np.array_equal(t.class_hops, per_class)
    assert np.array_equal(rt.accumulate(t.link_latency_ps, t.next_link, t.hops, t.link_dst, np.int64), lat)


@pytest.mark.parametrize("kind,w,h", [("mesh", 4, 3), ("torus", 5, 4), ("torus", 2, 3)])
@pytest.mark.parametrize("leg_block", [5, 40, 1 << 22])
def test_grid_pair_sums_of_link_values_in_blocks_of_lines_equal_the_route_walk(kind, w, h, leg_block, monkeypatch):
    """A path sum per pair of values that differ link by link (whole numbers, so every sum is exact)
    equals the sum over the route walked hop by hop, whether the running sums are built one line at
    a time, a few lines at a time or all at once, with pairs in small chunks."""
    monkeypatch.setattr(rt, "_LEG_BLOCK", leg_block)
    monkeypatch.setattr(rt, "PAIR_CHUNK", 7)
    t = build_topology(kind, n_cores=w * h, width=w, height=h)
    n = w * h
    values = np.random.default_rng(8).integers(1, 1000, t.n_links).astype(np.float64)
    s, d = (a.astype(np.int64) for a in np.divmod(np.arange(n * n), n))
    want = [float(values[walk(t, a, b)].sum()) for a, b in zip(s.tolist(), d.tolist())]
    assert t.pair_path_sum(values, np.float64, s, d).tolist() == want
    assert t.pair_path_sum(values.astype(np.int64) * 3, np.int64, s, d).tolist() == [3 * v for v in want]


# --- routing's helpers at their corners, by hand --------------------------------------------------


def test_class_sum_by_hand():
    """sum_c class_hops[c] x v_c when each class has one value (a class without links adds nothing),
    None as soon as one class's links differ."""
    class_hops = np.array([[[0, 1], [2, 0]], [[0, 3], [1, 0]], [[0, 0], [0, 0]]], np.int16)
    link_class = np.array([0, 1, 0, 1])
    got = rt.class_sum(np.array([5, 7, 5, 7]), link_class, 3, lambda: class_hops, np.int64)
    assert got.tolist() == [[0, 5 + 21], [10 + 7, 0]] and got.dtype == np.int64
    assert rt.class_sum(np.array([5, 0, 5, 0]), link_class, 3, lambda: class_hops, np.int64).tolist() == \
        [[0, 5], [10, 0]]
    assert rt.class_sum(np.array([5, 7, 6, 7]), link_class, 3, lambda: class_hops, np.int64) is None
    assert rt.class_sum(np.array([5, 7, 5, 8]), link_class, 3, lambda: class_hops, np.int64) is None


def _line():
    """Routers 0 - 1 - 2 in a line: links 0: 0->1, 1: 1->2, 2: 1->0, 3: 2->1."""
    next_link = np.array([[-1, 0, 0], [2, -1, 1], [3, 3, -1]], np.int32)
    return next_link, np.array([1, 2, 0, 1])


def test_walk_loads_and_unions_by_hand():
    """Packets per link over the line: repeated pairs add up, counts weigh them (0 counts nothing),
    self routes cross nothing; no traffic gives zeros. The union of a multicast's routes."""
    next_link, link_dst = _line()
    src, dst = np.array([0, 0, 2, 1, 0]), np.array([2, 2, 0, 1, 1])
    assert rt.walk_loads(next_link, link_dst, 4, src, dst, None).tolist() == [3, 2, 1, 1]
    assert rt.walk_loads(next_link, link_dst, 4, src, dst, np.array([1, 4, 2, 9, 0])).tolist() == [5, 5, 2, 2]
    assert rt.walk_loads(next_link, link_dst, 4, np.array([2]), np.array([0]), np.array([3])).tolist() == [0, 0, 3, 3]
    empty = np.zeros(0, np.int64)
    assert rt.walk_loads(next_link, link_dst, 4, empty, empty, empty).tolist() == [0, 0, 0, 0]
    assert rt.walk_loads(next_link, link_dst, 4, empty, empty, None).tolist() == [0, 0, 0, 0]
    assert rt.walk_union(next_link, link_dst, 1, np.array([0, 2, 2])).tolist() == [1, 2]
    assert rt.walk_union(next_link, link_dst, 0, np.array([2])).tolist() == [0, 1]
    assert rt.walk_union(lambda at, d: next_link[at, d], link_dst, 2, np.array([1, 0])).tolist() == [2, 3]
    none = rt.walk_union(next_link, link_dst, 1, np.array([1]))
    assert none.tolist() == [] and none.dtype == np.int32
    assert rt.walk_union(next_link, link_dst, 1, np.zeros(0, np.int64)).tolist() == []


def test_rings_by_hand():
    """Steps and direction along one dimension: on a ring of 4 the halfway tie goes +, a ring of 2
    goes + both ways round; without wrap the direction is the sign of the difference."""
    steps, way = rt._ring(4, True)
    assert steps.tolist() == [[0, 1, 2, 1], [1, 0, 1, 2], [2, 1, 0, 1], [1, 2, 1, 0]]
    assert way.tolist() == [[0, 1, 1, -1], [-1, 0, 1, 1], [1, -1, 0, 1], [1, 1, -1, 0]]
    steps, way = rt._ring(5, True)
    assert steps[0].tolist() == [0, 1, 2, 2, 1] and way[0].tolist() == [0, 1, 1, -1, -1]
    assert [t.tolist() for t in rt._ring(2, True)] == [[[0, 1], [1, 0]], [[0, 1], [1, 0]]]
    steps, way = rt._ring(3, False)
    assert steps.tolist() == [[0, 1, 2], [1, 0, 1], [2, 1, 0]] and way.tolist() == [[0, 1, 1], [-1, 0, 1], [-1, -1, 0]]
    assert [t.tolist() for t in rt._ring(1, True)] == [[[0]], [[0]]]


def test_pair_coords_in_chunks(monkeypatch):
    monkeypatch.setattr(rt, "PAIR_CHUNK", 2)
    y, x = rt.pair_coords(np.array([0, 4, 5, 9, 14]), 5)
    assert y.tolist() == [0, 0, 1, 1, 2] and x.tolist() == [0, 4, 0, 4, 4] and y.dtype == x.dtype == np.int64


def test_shortest_paths_prefer_fewer_hops_then_the_lowest_link_id():
    """Four routers; from 0 to 3 three routes take 4 ps: 0->1->3, 0->3 and 0->2->3. The direct link
    (one hop) wins; without it the two 2-hop routes tie and the lower link id (0->1) wins. A route
    of less latency wins over fewer hops (3 -> 0: 3->2->0 at 2 ps, not 3->0 at 3 ps)."""
    links = [(0, 1, 2), (1, 3, 2), (0, 3, 4), (0, 2, 2), (2, 3, 2), (3, 0, 3), (3, 2, 1), (2, 0, 1), (1, 0, 1)]
    src, dst, lat = (np.array(c) for c in zip(*links))
    r = rt.ShortestPathRouting(4, src, dst, lat)
    assert r.next_link[0, 3] == 2 and r.hops[0, 3] == 1
    assert r.next_link[3, 0] == 6 and r.hops[3, 0] == 2
    assert r.next_link[3, 3] == -1 and r.hops[3, 3] == 0
    # 1 -> 2: 1->3->2 and 1->0->2 both take 3 ps in 2 hops: the lower first link id (1->3 is 1, 1->0 is 8)
    assert r.next_link[1, 2] == 1 and r.hops[1, 2] == 2
    keep = np.arange(len(links)) != 2
    r = rt.ShortestPathRouting(4, src[keep], dst[keep], lat[keep])  # ids shift: 0->1 is 0, 0->2 is 2
    assert r.next_link[0, 3] == 0 and r.hops[0, 3] == 2
    # 3 -> 1: 3->2->0->1 (4 ps, 3 hops) beats 3->0->1 (5 ps, 2 hops)
    assert r.hops[3, 1] == 3 and r.next_link[3, 1] == 5 and r.diameter() == 3


def test_an_empty_table_has_diameter_zero():
    r = rt.Routing()
    r.hops = np.zeros((0, 0), np.int16)
    assert r.diameter() == 0


def test_parameters_accepted_at_their_edges(monkeypatch):
    """Each limit's edge builds: one core, width 1, one router holding every core, a height alone
    (6 cores, height 3 -> width 2), a width alone, a tree of one leaf (one router, no link); the
    router limit counts routers (cores / concentration), at it and one over."""
    assert build_topology("mesh", n_cores=1).n_routers == 1
    t = build_topology("mesh", n_cores=4, width=1)
    assert (t.params["width"], t.params["height"]) == (1, 4) and t.diameter == 3
    t = build_topology("mesh", n_cores=6, concentration=6)
    assert t.n_routers == 1 and t.core_router.tolist() == [0] * 6 and t.n_links == 0
    t = build_topology("torus", n_cores=6, height=3)
    assert (t.params["width"], t.params["height"]) == (2, 3)
    t = build_topology("mesh", n_cores=6, width=3)
    assert (t.params["width"], t.params["height"]) == (3, 2)
    t = build_topology("tree", n_cores=3, radix=2, concentration=3)
    assert t.n_routers == 1 and t.n_links == 0 and t.params["levels"] == 0 and t.diameter == 0
    assert build_topology("tree", n_cores=2, radix=2).n_routers == 3
    monkeypatch.setattr(topo_mod, "MAX_ROUTERS", 16)
    assert build_topology("mesh", n_cores=32, concentration=2).n_routers == 16
    with pytest.raises(ConfigError, match="at most 16 routers .*got 17"):
        build_topology("mesh", n_cores=34, concentration=2)


def test_link_params_at_their_edges():
    """1 ps (an integer, numpy's too) is the shortest link; energies of 0 and any bandwidth above 0
    are valid; values are stored as int and floats."""
    p = LinkParams(latency_ps=np.int64(1), energy_pj=0, energy_pj_per_mm=0, bandwidth_pkts_per_ns=1e-300)
    assert p.latency_ps == 1 and type(p.latency_ps) is int
    assert (p.energy_pj, p.energy_pj_per_mm, p.bandwidth_pkts_per_ns) == (0.0, 0.0, 1e-300)
    assert type(p.energy_pj) is float and type(p.bandwidth_pkts_per_ns) is float
    assert p.energy_for(np.array([0.0, 2.0])).tolist() == [0.0, 0.0]
    assert LinkParams(energy_pj=1.5, energy_pj_per_mm=0.25).energy_for(2.0) == 2.0
    t = build_topology("mesh", n_cores=4, link=p)
    assert t.link_latency_ps.tolist() == [1] * 8 and t.path_latency_ps[0, 3] == 2


def test_mesh_ports_by_hand():
    """A 3 x 2 mesh's +x, -x, +y, -y link of every router (links: x first, each router's + link then
    its - link; then y likewise); -1 where the mesh ends. Tori (wrap links) and trees have none."""
    t = build_topology("mesh", n_cores=6, width=3)
    ports = t.mesh_ports()
    assert ports.dtype == np.int32 and ports.shape == (4, 6)
    link = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(t.link_src, t.link_dst))}
    want = [[link.get((r, r + 1), -1) if r % 3 < 2 else -1 for r in range(6)],
            [link.get((r, r - 1), -1) if r % 3 > 0 else -1 for r in range(6)],
            [link.get((r, r + 3), -1) for r in range(6)],
            [link.get((r, r - 3), -1) for r in range(6)]]
    assert ports.tolist() == want
    assert ports[0].tolist() == [0, 1, -1, 4, 5, -1] and ports[2].tolist() == [8, 9, 10, -1, -1, -1]
    assert build_topology("torus", n_cores=9).mesh_ports() is None
    assert build_topology("tree", n_cores=4, radix=2).mesh_ports() is None
    assert repr(t) == "Topology('mesh', n_cores=6, n_routers=6, n_links=14, width=3, height=2, concentration=1)"
