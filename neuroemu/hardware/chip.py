"""Chip assembly: the engine built from a ChipSpec and a workload (spec apart from behaviour)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroemu.config.schema import ChipSpec
from neuroemu.hardware.system import build_system_topology
from neuroemu.hardware.topology import LinkParams, Topology, build_topology

PS_PER_S = 10 ** 12


def tick_ps(chip: ChipSpec) -> int:
    """The tick length as an integer number of picoseconds."""
    return int(round(chip.timing.tick_s * PS_PER_S))


def build_chip_topology(chip: ChipSpec) -> Topology:
    """The chip's router graph and compiled routing tables."""
    t = chip.topology

    def link_of(latency_ns: float, energy_pj: float, bandwidth: float = t.bandwidth_pkts_per_ns) -> LinkParams:
        return LinkParams(latency_ps=max(1, int(round(latency_ns * 1000))), energy_pj=energy_pj,
                          energy_pj_per_mm=chip.energy.wire_pj_per_mm.value, bandwidth_pkts_per_ns=bandwidth)

    if chip.system is not None:  # a system of chips: the joined mesh, chip-to-chip links in class "chip"
        return build_system_topology(chip, link_of)

    link = link_of(chip.latency.hop_ns.value, chip.energy.hop_pj.value)
    # per link class latencies and energies (e.g. Loihi's E-W and N-S hops)
    classes = set(chip.latency.hop_class_ns or {}) | set(chip.energy.hop_class_pj or {})
    class_links = {cls: link_of((chip.latency.hop_class_ns or {}).get(cls, chip.latency.hop_ns).value,
                                chip.energy.hop_energy(cls)) for cls in sorted(classes)} or None
    grid = t.kind in ("mesh", "torus")  # width and height describe grids only
    return build_topology(t.kind, n_cores=chip.cores, width=t.width if grid else None,
                          height=t.height if grid else None, radix=t.radix,
                          concentration=t.concentration, pitch_mm=t.pitch_mm, link=link,
                          class_links=class_links, custom_path=t.custom_path)


def latency_counts(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, int64 summed weight of each): a latency histogram, exact in
    integers, from samples or from several ranks' histograms concatenated."""
    distinct, at = np.unique(np.asarray(values, np.int64), return_inverse=True)
    total = np.zeros(len(distinct), np.int64)
    np.add.at(total, at.ravel(), np.asarray(weights, np.int64))
    return distinct, total


def latency_summary(values: np.ndarray, weights: np.ndarray) -> dict[str, float | None]:
    """The ps sum, the samples, p50, p99 and max (s) of a latency histogram (:func:`latency_counts`)."""
    total = int(weights.sum())
    if total == 0:
        return {"_latency_ps_sum": 0, "_latency_samples": 0, "latency_p50_s": None, "latency_p99_s": None,
                "latency_max_s": None}
    cum = np.cumsum(weights)  # values ascend: the distribution's running count

    def pct(q: float) -> float:
        # the smallest latency with at least q of the spikes at or below it
        return float(values[np.searchsorted(cum, q * total)]) * 1e-12

    return {"_latency_ps_sum": int((values * weights).sum()), "_latency_samples": total, "latency_p50_s": pct(0.5),
            "latency_p99_s": pct(0.99), "latency_max_s": float(values.max()) * 1e-12}


@dataclass
class Router:
    """Bulk routing of spikes between cores through the compiled tables (analytic fidelity).

    Unicast routes are fixed, so :meth:`bind` looks each route up once; per tick only a gather
    over the routes of the neurons that fired remains. A route is a source neuron and one target
    core (:meth:`neuroemu.hardware.cores.CoreArrays.routes`): one per neuron on TrueNorth-style
    arrays, so route r is neuron r, several per neuron when a mapped network fans out. The
    methods below take route indices and spike counts per route.
    """

    topology: Topology

    def __post_init__(self):
        topo = self.topology
        self.core_router = topo.core_router.astype(np.int64)
        self.class_names = tuple(topo.class_names)
        self._n = topo.n_routers
        self._neuron_class_hops: np.ndarray | None = None
        self._neuron_latency: np.ndarray | None = None

    def bind(self, src_cores: np.ndarray, dst_cores: np.ndarray) -> None:
        """Precompute every route from its source and target cores (dst < 0: the route sends nowhere)."""
        sends = dst_cores >= 0
        self._sends = sends
        src, dst = self.core_router[src_cores[sends]], self.core_router[dst_cores[sends]]
        topo = self.topology
        n = len(src_cores)
        # per route, not per router pair: meshes and tori give these in closed form per pair, so
        # a 64 x 64 mesh builds none of its [n, n] tables here
        self._neuron_class_hops = np.zeros((len(self.class_names), n), np.int16)
        self._neuron_class_hops[:, sends] = topo.pair_class_hops(src, dst)
        self._neuron_latency = np.zeros(n, np.int64)
        self._neuron_latency[sends] = topo.pair_path_sum(topo.link_latency_ps, np.int64, src, dst,
                                                         "path_latency_ps")
        # wire travelled per spike, in integer nanometres so the ledger counts stay exact
        self._neuron_wire_nm = np.zeros(n, np.int64)
        wire = topo.pair_path_sum(topo.link_length_mm, np.float64, src, dst, "wire_mm")
        self._neuron_wire_nm[sends] = np.rint(wire * 1e6).astype(np.int64)
        self._src_router = self.core_router[src_cores]
        self._dst_router = np.where(sends, self.core_router[np.maximum(dst_cores, 0)], -1)

    def wire_nm(self, spikes_per_neuron: np.ndarray) -> int:
        """Packet-nanometres of wire travelled by all the spikes counted per source neuron."""
        return int((self._neuron_wire_nm * spikes_per_neuron).sum())

    def link_loads(self, spikes_per_neuron: np.ndarray) -> np.ndarray:
        """int64 [links]: the packets crossing each link."""
        senders = np.flatnonzero((spikes_per_neuron > 0) & self._sends)
        return self.topology.link_loads(self._src_router[senders], self._dst_router[senders],
                                        spikes_per_neuron[senders].astype(np.int64))

    def link_stats(self, spikes_per_neuron: np.ndarray, sim_time_s: float, top: int = 5) -> dict:
        """Per-link packets and utilisation (busy time / chip time) of the run's traffic."""
        return self.link_stats_of(self.link_loads(spikes_per_neuron), sim_time_s, top)

    def link_stats_of(self, loads: np.ndarray, sim_time_s: float, top: int = 5) -> dict:
        """:meth:`link_stats` from the packets per link (int64 [links], e.g. summed over MPI ranks)."""
        topo = self.topology
        busy_s = loads * (1e-9 / topo.link_bandwidth)  # one packet occupies a link 1/bandwidth ns
        util = busy_s / sim_time_s if sim_time_s > 0 else np.zeros_like(busy_s)
        order = np.argsort(-util, kind="stable")[:top]
        return {
            "max_link_utilization": float(util.max(initial=0.0)),
            "mean_link_utilization": float(util.mean()) if len(util) else 0.0,
            "busiest_links": [{"link": int(i), "src": int(topo.link_src[i]), "dst": int(topo.link_dst[i]),
                               "packets": int(loads[i]), "utilization": float(util[i])} for i in order],
            "_loads": loads,
            "_utilization": util,
        }

    def src_router(self, neurons: np.ndarray) -> np.ndarray:
        """The router of each bound source neuron's core."""
        return self._src_router[neurons]

    def dst_router(self, neurons: np.ndarray) -> np.ndarray:
        """The router of each bound source neuron's target core."""
        return self._dst_router[neurons]

    def neuron_latency(self, neurons: np.ndarray) -> np.ndarray:
        """Zero-load network latency (ps) of each bound source neuron's route."""
        return self._neuron_latency[neurons]

    def latency_distribution(self, spikes_per_neuron: np.ndarray) -> dict[str, float | None]:
        """Mean, p50, p99 and max zero-load latency (s) over all routed spikes, the ps sum and the
        number of samples (``_latency_samples``: spikes weighed, one per routed spike)."""
        return latency_summary(*self.latency_histogram(spikes_per_neuron))

    def latency_histogram(self, spikes_per_neuron: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(latencies in ps, ascending and distinct; routed spikes at each, > 0): the exact
        distribution :func:`latency_summary` reads, small enough to gather from MPI ranks."""
        senders = np.flatnonzero((spikes_per_neuron > 0) & (self._neuron_latency >= 0) & self._sends)
        return latency_counts(self._neuron_latency[senders], spikes_per_neuron[senders])

    def prices(self, spikes_per_route: np.ndarray, sends: np.ndarray) -> dict:
        """The bound routes' traffic in integers, from each route's spike count (routes are fixed:
        the run's hops are each route's spikes times its hops): hops per class, spikes routed, wire
        (nm), the latency histogram (ps, spikes) and packets per link. Integers only, so the
        prices of several MPI ranks' routes sum to the one-process run's exactly
        (neuroemu.engine.rankshare)."""
        return {"class_hops": self.class_hops_of(spikes_per_route), "routed": int(spikes_per_route[sends].sum()),
                "wire_nm": self.wire_nm(spikes_per_route), "latency": self.latency_histogram(spikes_per_route),
                "link_loads": self.link_loads(spikes_per_route)}

    def class_hops_of(self, spikes_per_neuron: np.ndarray) -> np.ndarray:
        """Hops per link class of all the spikes counted per bound source neuron."""
        return np.array([int(np.dot(row.astype(np.int64), spikes_per_neuron)) for row in self._neuron_class_hops],
                        np.int64)


class MulticastRouter(Router):
    """Neurogrid's multicast tree router (Merolla 2014): a neuron's spike is one packet whose
    router tables branch it towards every chip it targets, so it crosses each link of the tree
    spanning those chips once (:meth:`Topology.multicast_links`) instead of once per target chip.

    Routes stay one per (neuron, target core) for delivery and latency (each chip receives at its
    own path's latency); only hops, wire and link loads are counted per tree: a neuron with
    several target chips carries its tree's hops and wire on its first route and none on the
    others, which is exact because every route of a neuron carries that neuron's spikes.
    """

    def __init__(self, topology: Topology, route_src: np.ndarray):
        super().__init__(topology)
        self._route_src = np.asarray(route_src, np.int64)
        self._tree_links: list[np.ndarray] = []
        self._tree_route = np.empty(0, np.int64)   # the first route of each neuron sent as a tree
        self._tree_of = np.empty(0, np.int64)      # ... and its tree
        self._in_tree = np.zeros(len(self._route_src), bool)

    def bind(self, src_cores: np.ndarray, dst_cores: np.ndarray) -> None:
        """As :meth:`Router.bind`, then one multicast tree per neuron with several target chips."""
        super().bind(src_cores, dst_cores)
        src, sends = self._route_src, dst_cores >= 0
        live = np.flatnonzero(sends)
        per = np.bincount(src[live], minlength=int(src.max(initial=-1)) + 1)
        multi = np.flatnonzero(per > 1)
        if not len(multi):
            return  # every neuron reaches one chip: its tree is its unicast path
        topo, n_r = self.topology, self.topology.n_routers
        routes = live[np.isin(src[live], multi)]
        row = np.searchsorted(multi, src[routes])
        mask = np.zeros((len(multi), n_r), bool)
        mask[row, self._dst_router[routes]] = True
        first = routes[np.unique(row, return_index=True)[1]]  # routes are in neuron order
        key = np.column_stack([self._src_router[first], np.packbits(mask, axis=1)])
        combos, tree = np.unique(key, axis=0, return_inverse=True)
        self._tree_links = [topo.multicast_links(int(c[0]), np.flatnonzero(m)) for c, m in
                            zip(combos, mask[np.unique(tree.ravel(), return_index=True)[1]])]
        self._in_tree[routes] = True
        self._neuron_class_hops[:, routes] = 0
        self._neuron_wire_nm[routes] = 0
        for j, links in enumerate(self._tree_links):
            at = first[tree.ravel() == j]
            self._neuron_class_hops[:, at] = np.bincount(topo.link_class[links], minlength=len(self.class_names))[:, None]
            self._neuron_wire_nm[at] = int(np.rint(topo.link_length_mm[links].sum() * 1e6))
        self._tree_route, self._tree_of = first, tree.ravel()

    def link_loads(self, spikes_per_neuron: np.ndarray) -> np.ndarray:
        """int64 [links]: unicast routes' packets, plus each tree's packets once per link."""
        loads = super().link_loads(np.where(self._in_tree, 0, spikes_per_neuron))
        if self._tree_links:
            per_tree = np.bincount(self._tree_of, spikes_per_neuron[self._tree_route], len(self._tree_links))
            for j in np.flatnonzero(per_tree):
                loads[self._tree_links[j]] += int(per_tree[j])
        return loads


def router_for(chip: ChipSpec, topology: Topology, arrays, route_src: np.ndarray | None = None) -> Router:
    """The chip's router over ``arrays``' routes (or those whose source neurons are ``route_src``:
    an MPI rank's own): Neurogrid's multicast tree router where the neuron model is its
    (``diffuser``) and neurons fan out to several chips; unicast per target otherwise."""
    from neuroemu.models.neuron import NEURON_MODELS
    model = NEURON_MODELS.get(chip.core.neuron_model)
    if model is not None and model.diffuser and arrays.fanout_ptr is not None:
        return MulticastRouter(topology, arrays.routes()[0] if route_src is None else route_src)
    return Router(topology)
