"""The placement code before issue 13 (main at 569a753), kept verbatim as bench_mapping.py's baseline:
pack with five unique_rows sorts per call, locality by networkx Kernighan-Lin. Not part of the package."""
# flake8: noqa
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
from networkx.algorithms.community import kernighan_lin_bisection

from neuroemu.hardware.csr import row_positions
from neuroemu.hardware.step import pack_greedy_c
from neuroemu.errors import CapacityError, ConfigError
from neuroemu.networks.graph import Network

__all__ = ["STRATEGIES", "Mapping", "MappingReport", "ChipLayout", "place", "layout", "evaluate"]

#: above this many neurons locality skips Kernighan-Lin (its passes grow faster than linearly)
#: and lays out pack's id-order parts only
KL_MAX_NODES = 4000


@dataclass(frozen=True)
class MappingReport:
    """What a placement costs on the router graph.

    ``mean_hops``: hops per neuron-to-neuron synapse, weighted by source activity.
    ``packets``: packets per tick (one per (source spike, destination core)); ``packet_hops``:
    link traversals per tick, the routed-traffic estimate; ``mean_packet_hops`` their ratio.
    With no activity given, "per tick" means "if every neuron spiked once".
    """

    strategy: str
    cores_used: int
    max_neurons_per_core: int
    max_axons_per_core: int
    synapses: int
    mean_hops: float
    packets: float
    packet_hops: float
    mean_packet_hops: float

    def routing_energy_pj(self, pj_per_hop: float) -> float:
        """Routing energy per tick: link traversals x energy per hop."""
        return self.packet_hops * pj_per_hop

    def as_dict(self) -> dict:
        """Plain numbers for records and JSON."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Mapping:
    """Where every neuron sits: ``core_of_neuron`` and ``slot_of_neuron`` (its column in the
    core), int64 [N]; on a chip with ``neurons_per_core`` columns its global neuron index is
    ``core * neurons_per_core + slot``. ``report``: a :class:`MappingReport`."""

    strategy: str
    core_of_neuron: np.ndarray
    slot_of_neuron: np.ndarray
    neurons_per_core: int
    axons_per_core: int | None
    report: MappingReport

    def global_neuron(self) -> np.ndarray:
        """int64 [N]: the chip-wide neuron index of every network neuron."""
        return self.core_of_neuron * self.neurons_per_core + self.slot_of_neuron


def unique_rows(*columns: np.ndarray, return_inverse: bool = False):
    """The distinct rows of non-negative integer columns, sorted; ``np.unique(axis=1)``'s result.

    Rows are packed into one int64 key (mixed radix) when the key fits, which sorts an order of
    magnitude faster than numpy's row-wise unique; otherwise that is the fallback.
    Returns int64 [k, rows] (and the inverse when asked for).
    """
    cols = [np.asarray(c, np.int64) for c in columns]
    n = len(cols[0])
    if n == 0:
        empty = np.empty((len(cols), 0), np.int64)
        return (empty, np.empty(0, np.int64)) if return_inverse else empty
    radix = [int(c.max()) + 1 for c in cols]
    if min(int(c.min()) for c in cols) < 0 or np.prod(np.array(radix, dtype=np.float64)) >= 2.0 ** 62:
        out = np.unique(np.stack(cols), axis=1, return_inverse=return_inverse)
        return (out[0], out[1].ravel()) if return_inverse else out
    key = np.zeros(n, np.int64)
    for c, r in zip(cols, radix):
        key = key * r + c
    # by sorting: numpy 2's hash-based unique is far slower on millions of distinct keys
    order = np.argsort(key, kind="stable") if return_inverse else None
    ordered = key[order] if return_inverse else np.sort(key)
    first = np.empty(n, bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    keys = ordered[first]
    inv = None
    if return_inverse:
        inv = np.empty(n, np.int64)
        inv[order] = np.cumsum(first) - 1
    rows = np.empty((len(cols), len(keys)), np.int64)
    for i in range(len(cols) - 1, -1, -1):
        rows[i] = keys % radix[i]
        keys = keys // radix[i]
    return (rows, inv.ravel()) if return_inverse else rows


def _combined_src(network: Network) -> np.ndarray:
    return np.where(network.src_input, network.src + network.n_neurons, network.src)


def _axon_keys(network: Network) -> np.ndarray:
    """One integer per (source, delay, class): the axon an edge needs on its destination core."""
    keys = _combined_src(network) * (int(network.delay.max(initial=0)) + 1) + network.delay
    if network.edge_class is not None:
        keys = keys * 256 + network.edge_class
    return keys


def _axons_per_core(network: Network, core: np.ndarray, n_cores: int) -> np.ndarray:
    keys = _axon_keys(network)
    pairs = unique_rows(core[network.dst], keys)
    return np.bincount(pairs[0], minlength=n_cores)


def _group_of(network: Network, neuron: int) -> str:
    return network.groups[int(network.group_index()[neuron])].name


def _check_limits(network, strategy, n_cores, npc, apc) -> None:
    for name, v in (("n_cores", n_cores), ("neurons_per_core", npc)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{strategy}: {name}: must be an integer >= 1 (got {v!r})")
    if apc is not None and (not isinstance(apc, (int, np.integer)) or apc < 1):
        raise ConfigError(f"{strategy}: axons_per_core: must be an integer >= 1 or None (got {apc!r})")
    if network.n_neurons > n_cores * npc:
        # name the first group that crosses the chip's capacity
        g = network.groups[int(network.group_index()[n_cores * npc])]
        raise CapacityError(f"{strategy}: group {g.name!r} does not fit: the network has {network.n_neurons} neurons "
                            f"but the chip holds {n_cores} cores x {npc} neurons = {n_cores * npc}")


def fan_in(network: Network) -> np.ndarray:
    """int64 [N]: the axons each neuron needs on its core, its distinct (source, delay, class) inputs."""
    return np.bincount(unique_rows(network.dst, _axon_keys(network))[0], minlength=network.n_neurons)


def _fan_in_check(network, apc, strategy) -> None:
    if apc is None or not network.n_edges:
        return
    per = fan_in(network)
    j = int(np.argmax(per))
    if per[j] > apc:
        raise CapacityError(f"{strategy}: group {_group_of(network, j)!r}: neuron {j} has synapses from {per[j]} "
                            f"distinct (source, delay) pairs, more than a core's {apc} axons")


def _pack(network: Network, n_cores: int, npc: int, apc: int | None, name: str = "pack") -> np.ndarray:
    n = network.n_neurons
    simple = np.arange(n, dtype=np.int64) // npc
    if apc is None or (_axons_per_core(network, simple, n_cores) <= apc).all():
        return simple
    keys = _axon_keys(network)
    _, compact = np.unique(keys, return_inverse=True)
    # each neuron's distinct axons (source, delay, class), found once for all neurons
    pairs = unique_rows(network.dst, compact.ravel())
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(pairs[0], minlength=n), out=ptr[1:])
    by_dst = pairs[1]
    n_keys = int(compact.max(initial=-1)) + 1
    core_of, full_at = pack_greedy_c(ptr, by_dst, n_keys, npc, apc, n_cores)
    if core_of is None and full_at < 0:
        core_of, full_at = _pack_loop(ptr, by_dst, n_keys, npc, apc, n_cores)
    if core_of is None:
        raise CapacityError(
            f"{name}: group {_group_of(network, full_at)!r} does not fit: all {n_cores} cores are full at neuron "
            f"{full_at} of {n} (limits: {npc} neurons and {apc} axons per core)")
    return core_of


def _pack_loop(ptr: np.ndarray, by_dst: np.ndarray, n_keys: int, npc: int, apc: int, n_cores: int):
    """The greedy fill in Python, where the C kernels are not built (the same result as
    ``ne_pack_greedy``): (core of each neuron, -1), or (None, j) when neuron j finds all full."""
    n = len(ptr) - 1
    seen = np.full(n_keys, -1, np.int64)
    core_of = np.empty(n, np.int64)
    core, used_n, used_a = 0, 0, 0
    for j in range(n):
        k = by_dst[ptr[j]:ptr[j + 1]]
        new = k[seen[k] != core]
        if used_n + 1 > npc or used_a + len(new) > apc:
            core += 1
            if core >= n_cores:
                return None, j
            used_n, used_a, new = 0, 0, k
        seen[new] = core
        used_a += len(new)
        used_n += 1
        core_of[j] = core
    return core_of, -1


def _spread(network: Network, n_cores: int, npc: int, apc: int | None) -> np.ndarray:
    return np.arange(network.n_neurons, dtype=np.int64) % n_cores


def _core_split(cores: np.ndarray, hops: np.ndarray, n_a: int) -> tuple[np.ndarray, np.ndarray]:
    """A core set cut into ``n_a`` and the rest, each compact: ordered by (hops to a) - (hops to b),
    a and b two far-apart cores of the set."""
    sub = hops[np.ix_(cores, cores)].astype(np.int64)
    a = int(np.argmax(sub[0]))
    b = int(np.argmax(sub[a]))
    order = np.lexsort((cores, sub[a] - sub[b]))
    return cores[order[:n_a]], cores[order[n_a:]]


def _bisect(graph: nx.Graph | None, nodes: np.ndarray, n_a: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = nodes[:n_a], nodes[n_a:]
    if graph is None or len(nodes) > KL_MAX_NODES or n_a == 0 or n_a == len(nodes):
        return a, b
    sub = graph.subgraph(nodes.tolist())
    if sub.number_of_edges() == 0:
        return a, b
    # Kernighan-Lin swaps pairs, so the sizes of the start split are kept
    pa, pb = kernighan_lin_bisection(sub, partition=(set(a.tolist()), set(b.tolist())), weight="weight", seed=seed)
    return np.sort(np.fromiter(pa, np.int64)), np.sort(np.fromiter(pb, np.int64))


class _FanIn:
    """Axons a set of neurons needs on one core: distinct (source, delay) keys of their synapses."""

    def __init__(self, network: Network):
        n = network.n_neurons
        _, keys = np.unique(_axon_keys(network), return_inverse=True)
        order = np.argsort(network.dst, kind="stable")
        self.keys = keys.ravel()[order]
        self.ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(network.dst, minlength=n), out=self.ptr[1:])

    def count(self, nodes: np.ndarray) -> int:
        starts, stops = self.ptr[nodes], self.ptr[nodes + 1]
        lengths = stops - starts
        k = self.keys[row_positions(starts, lengths)]
        return len(np.unique(k))


def _split_tree(graph, nodes: np.ndarray, npc: int, apc: int | None, fan_in: _FanIn, seed: int):
    """Bisect until every part fits one core; a leaf is an array of neurons, a branch a pair."""
    k = -(-len(nodes) // npc)
    if k == 1 and (apc is None or fan_in.count(nodes) <= apc):
        return nodes
    if len(nodes) == 1:
        return nodes  # a lone neuron's fan-in was checked before placing
    # the left part takes the capacity of half the cores the neuron count needs
    n_a = len(nodes) // 2 if k == 1 else min((k // 2) * npc, round(len(nodes) * (k // 2) / k))
    a, b = _bisect(graph, nodes, n_a, seed)
    return (_split_tree(graph, a, npc, apc, fan_in, seed), _split_tree(graph, b, npc, apc, fan_in, seed))


def _leaves(tree) -> int:
    return 1 if isinstance(tree, np.ndarray) else _leaves(tree[0]) + _leaves(tree[1])


def _assign(tree, cores: np.ndarray, hops_c: np.ndarray, core_of: np.ndarray) -> None:
    """Lay the split tree onto cores: each branch gets a compact set of as many cores as leaves."""
    if isinstance(tree, np.ndarray):
        core_of[tree] = cores[0]
        return
    ca, cb = _core_split(cores, hops_c, _leaves(tree[0]))
    _assign(tree[0], ca, hops_c, core_of)
    _assign(tree[1], cb, hops_c, core_of)


def _synapse_graph(network: Network, activity: np.ndarray) -> nx.Graph:
    """Undirected neuron graph; an edge's weight is the activity crossing it (both ways added)."""
    n = network.n_neurons
    m = ~network.src_input
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    src, dst = network.src[m], network.dst[m]
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    keep = lo != hi
    pairs, inv = unique_rows(lo[keep], hi[keep], return_inverse=True)
    weights = np.bincount(inv.ravel(), weights=activity[src][keep], minlength=pairs.shape[1])
    graph.add_weighted_edges_from(zip(pairs[0].tolist(), pairs[1].tolist(), weights.tolist()))
    return graph


def _locality(network: Network, n_cores: int, npc: int, apc: int | None, hops_c: np.ndarray,
              activity: np.ndarray, seed: int) -> np.ndarray:
    n = network.n_neurons
    # the most central core first, then its nearest neighbours (ties by core id)
    centre = int(np.lexsort((np.arange(n_cores), hops_c.sum(axis=1)))[0])
    by_distance = np.lexsort((np.arange(n_cores), hops_c[centre]))
    best = None
    # Kernighan-Lin minimises cut synapses, but a spike costs one packet per destination core:
    # when a source's targets are dense (a fully connected layer) the id-order parts keep them
    # on fewer cores. Both are laid out and the one with less routed traffic stays. The
    # id-order parts are pack's (greedy, so never more cores than pack).
    packed = _pack(network, n_cores, npc, apc, "locality")
    cuts = np.flatnonzero(np.diff(packed)) + 1
    candidates = [_sequence_tree(np.split(np.arange(n, dtype=np.int64), cuts))]
    if n <= KL_MAX_NODES:
        graph = _synapse_graph(network, activity)
        candidates.append(_split_tree(graph, np.arange(n, dtype=np.int64), npc, apc, _FanIn(network), seed))
    placements = [packed]  # a chain of layers may sit best in pack's row; it is a candidate too
    for tree in candidates:
        k = _leaves(tree)
        if k <= n_cores:
            core_of = np.empty(n, np.int64)
            _assign(tree, by_distance[:k], hops_c, core_of)
            placements.append(core_of)
    for core_of in placements:
        cost = evaluate(network, core_of, hops_c, activity=activity, n_cores=n_cores)
        if best is None or (cost.packet_hops, cost.mean_hops) < best[0]:
            best = ((cost.packet_hops, cost.mean_hops), core_of)
    return best[1]


def _sequence_tree(parts: list[np.ndarray]):
    """A balanced split tree over consecutive parts (halving the list)."""
    if len(parts) == 1:
        return parts[0]
    mid = len(parts) // 2
    return _sequence_tree(parts[:mid]), _sequence_tree(parts[mid:])


def _given(network: Network, n_cores: int, npc: int, apc: int | None) -> np.ndarray:
    """``given``: every neuron on the core its ``core`` field names (checked against the chip)."""
    where = network.where or network.name
    core = network.core
    if core.size and core.min() < 0:
        k = int(np.flatnonzero(core < 0)[0])
        raise ConfigError(f"{where}: core: mapping given needs a core for every neuron (neuron {k} of group "
                          f"{_group_of(network, k)!r} has none: -1)")
    if core.size and core.max() >= n_cores:
        k = int(np.argmax(core))
        raise ConfigError(f"{where}: core: must be a core of the chip, 0..{n_cores - 1} "
                          f"(neuron {k}: got {int(core[k])})")
    return core.astype(np.int64)


STRATEGIES = {"pack": _pack, "spread": _spread, "locality": _locality, "given": _given}
"""Registry: strategy name -> placer ``(network, n_cores, npc, apc[, hops, activity, seed]) -> core_of``."""


def _core_hops(n_cores: int, hops, core_router, topology) -> np.ndarray | None:
    if topology is not None:
        hops, core_router = topology.hops, topology.core_router
    if hops is None:
        return None
    hops = np.asarray(hops)
    core_router = np.arange(len(hops)) if core_router is None else np.asarray(core_router, np.int64)
    if len(core_router) < n_cores:
        raise ConfigError(f"core_router: needs a router for each of the {n_cores} cores (got {len(core_router)})")
    if hops.ndim != 2 or hops.shape[0] != hops.shape[1] or core_router.max(initial=0) >= len(hops):
        raise ConfigError(f"hops: must be a square [routers, routers] matrix covering core_router (got {hops.shape})")
    r = core_router[:n_cores]
    return hops[np.ix_(r, r)]


def evaluate(network: Network, core_of: np.ndarray, hops_c: np.ndarray | None, *, strategy: str = "given",
             activity=None, n_cores: int | None = None) -> MappingReport:
    """The :class:`MappingReport` of any placement ``core_of`` (int [N])."""
    core_of = np.asarray(core_of, np.int64)
    n_cores = n_cores or int(core_of.max(initial=0)) + 1
    act = np.ones(network.n_neurons) if activity is None else np.asarray(activity, np.float64)
    m = ~network.src_input
    s, d = network.src[m], network.dst[m]
    sc, dc = core_of[s], core_of[d]
    if hops_c is None:
        mean_hops = packets = packet_hops = mean_packet = float("nan")
    else:
        h = hops_c[sc, dc].astype(np.float64)
        w = act[s]
        mean_hops = float((w * h).sum() / w.sum()) if w.sum() > 0 else 0.0
        pairs = unique_rows(s, dc)
        pw = act[pairs[0]]
        packets = float(pw.sum())
        packet_hops = float((pw * hops_c[core_of[pairs[0]], pairs[1]]).sum())
        mean_packet = packet_hops / packets if packets > 0 else 0.0
    return MappingReport(strategy=strategy, cores_used=int(len(np.unique(core_of))),
                         max_neurons_per_core=int(np.bincount(core_of).max(initial=0)),
                         max_axons_per_core=int(_axons_per_core(network, core_of, n_cores).max(initial=0)),
                         synapses=int(network.n_edges), mean_hops=mean_hops, packets=packets,
                         packet_hops=packet_hops, mean_packet_hops=mean_packet)


def place(network: Network, *, strategy: str = "pack", n_cores: int, neurons_per_core: int,
          axons_per_core: int | None = None, topology=None, hops=None, core_router=None,
          activity=None, seed: int = 0) -> Mapping:
    """Place every neuron of ``network`` on a core (module docstring) and report the cost.

    ``topology``: a :class:`~neuroemu.hardware.topology.Topology` (its ``hops`` and
    ``core_router`` are used), or pass ``hops`` [routers, routers] and ``core_router``
    [cores] directly (``locality`` needs one of them). ``activity``: spikes per tick of each
    neuron, weighting the partition and the report. ``seed`` makes Kernighan-Lin repeatable.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy: unknown mapping strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    _check_limits(network, strategy, n_cores, neurons_per_core, axons_per_core)
    _fan_in_check(network, axons_per_core, strategy)
    hops_c = _core_hops(n_cores, hops, core_router, topology)
    act = np.ones(network.n_neurons) if activity is None else np.asarray(activity, np.float64)
    if act.shape != (network.n_neurons,) or not np.isfinite(act).all() or (act < 0).any():
        raise ConfigError(f"activity: needs one rate >= 0 per neuron ({network.n_neurons}) (got shape {act.shape})")
    if strategy == "locality":
        if hops_c is None:
            raise ConfigError("locality: needs the router distances: pass topology= or hops= and core_router=")
        # a system of chips lays parts out by a cost in which leaving a chip costs more than any
        # route inside one (neuroemu.hardware.system); the report below still counts plain hops
        cost = getattr(topology, "placement_cost", None)
        cost_c = hops_c if cost is None else _core_hops(n_cores, cost, topology.core_router, None)
        core_of = _locality(network, n_cores, neurons_per_core, axons_per_core, cost_c, act, seed)
    else:
        core_of = STRATEGIES[strategy](network, n_cores, neurons_per_core, axons_per_core)
    per_core = np.bincount(core_of, minlength=n_cores)
    if per_core.max(initial=0) > neurons_per_core:
        c = int(np.argmax(per_core))
        raise CapacityError(f"{strategy}: group {_group_of(network, int(np.flatnonzero(core_of == c)[-1]))!r} does not "
                            f"fit: core {c} gets {per_core[c]} neurons, more than {neurons_per_core} per core")
    if axons_per_core is not None:
        axons = _axons_per_core(network, core_of, n_cores)
        if axons.max(initial=0) > axons_per_core:
            c = int(np.argmax(axons))
            names = sorted({_group_of(network, int(j)) for j in np.flatnonzero(core_of == c)})
            raise CapacityError(f"{strategy}: group {names[0]!r} does not fit: core {c} (neurons of "
                                f"{', '.join(map(repr, names))}) needs {axons[c]} axons, more than {axons_per_core} "
                                "per core; try pack or locality")
    # columns in id order within each core
    order = np.lexsort((np.arange(network.n_neurons), core_of))
    start = np.zeros(n_cores + 1, np.int64)
    np.cumsum(per_core, out=start[1:])
    slot = np.empty(network.n_neurons, np.int64)
    slot[order] = np.arange(network.n_neurons) - start[core_of[order]]
    report = evaluate(network, core_of, hops_c, strategy=strategy, activity=act, n_cores=n_cores)
    return Mapping(strategy, core_of, slot, int(neurons_per_core), axons_per_core, report)


@dataclass(frozen=True)
class ChipLayout:
    """A placed network in the shapes of :class:`neuroemu.hardware.cores.CoreArrays`.

    Axons: global axon ``a = core * axons_per_core + i``; ``axon_source`` (int64 [A], -1 when
    unused; neuron id, or input id when ``axon_input``), ``axon_delay`` and ``axon_class`` (the
    edges' ``edge_class``, 0 when none; int64 [A]). Crossbar
    rows as CSR: ``row_ptr`` [A + 1], ``row_neurons`` (local column, int64) and ``row_weight``
    (float64, duplicate edges summed). Fan-out: a neuron's spike goes to the global axons
    ``target_axons[target_ptr[j]:target_ptr[j + 1]]`` (j the network neuron id); one
    per destination core, delay and class (:mod:`neuroemu.networks.compile` writes them as the arrays'
    fan-out routes). ``input_axons``/``input_ptr`` likewise per input.
    """

    row_ptr: np.ndarray
    row_neurons: np.ndarray
    row_weight: np.ndarray
    axon_source: np.ndarray
    axon_input: np.ndarray
    axon_delay: np.ndarray
    axon_class: np.ndarray
    target_ptr: np.ndarray
    target_axons: np.ndarray
    input_ptr: np.ndarray
    input_axons: np.ndarray


def layout(network: Network, mapping: Mapping, n_cores: int, axons_per_core: int) -> ChipLayout:
    """Assign axons on every core and build the crossbar rows for a placement (vectorised)."""
    if mapping.axons_per_core is not None and axons_per_core < mapping.axons_per_core:
        raise ConfigError(f"axons_per_core: {axons_per_core} is below the {mapping.axons_per_core} the mapping used")
    n, n_in = network.n_neurons, network.n_inputs
    dcore = mapping.core_of_neuron[network.dst]
    src = _combined_src(network)
    # axon key per edge: (destination core, source, delay, class), numbered in order within each core
    cls = network.edge_class if network.edge_class is not None else np.zeros(len(src), np.int64)
    keys = np.stack([dcore, src, network.delay, cls])
    uniq, inv = unique_rows(*keys, return_inverse=True)
    first = np.searchsorted(uniq[0], np.arange(n_cores))
    local = np.arange(uniq.shape[1]) - first[uniq[0]]
    if local.size and local.max() >= axons_per_core:
        c = int(uniq[0][np.argmax(local)])
        raise CapacityError(f"layout: core {c} needs {int((uniq[0] == c).sum())} axons, more than {axons_per_core}")
    gaxon = uniq[0] * axons_per_core + local
    n_axons = n_cores * axons_per_core
    axon_source = np.full(n_axons, -1, np.int64)
    axon_source[gaxon] = np.where(uniq[1] >= n, uniq[1] - n, uniq[1])
    axon_input = np.zeros(n_axons, bool)
    axon_input[gaxon] = uniq[1] >= n
    axon_delay = np.zeros(n_axons, np.int64)
    axon_delay[gaxon] = uniq[2]
    axon_class = np.zeros(n_axons, np.int64)
    axon_class[gaxon] = uniq[3]
    # crossbar points: (axon, local neuron), duplicate edges summed
    edge_axon = gaxon[inv]
    col = mapping.slot_of_neuron[network.dst]
    pts, pinv = unique_rows(edge_axon, col, return_inverse=True)
    weight = np.bincount(pinv.ravel(), weights=network.weight, minlength=pts.shape[1])
    row_ptr = np.zeros(n_axons + 1, np.int64)
    np.cumsum(np.bincount(pts[0], minlength=n_axons), out=row_ptr[1:])
    # fan-out per source in combined order (neurons by network id, then inputs)
    order = np.argsort(uniq[1], kind="stable")
    counts = np.bincount(uniq[1], minlength=n + n_in)
    ptr = np.zeros(n + n_in + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    targets = gaxon[order]
    return ChipLayout(row_ptr=row_ptr, row_neurons=pts[1], row_weight=weight, axon_source=axon_source,
                      axon_input=axon_input, axon_delay=axon_delay, axon_class=axon_class, target_ptr=ptr[:n + 1],
                      target_axons=targets[:ptr[n]], input_ptr=ptr[n:] - ptr[n], input_axons=targets[ptr[n]:])
