"""Placing a network's neurons on a chip's cores: ``pack``, ``spread``, ``locality`` and ``given``.

The chip model here: a core holds up to ``neurons_per_core`` neurons and ``axons_per_core``
axons (its fan-in); every distinct (source, delay) pair with a synapse onto a core's neurons
takes one axon there (a source is a neuron or an input; the delay is per axon as on Loihi, and
TrueNorth, whose delay is per neuron, is the case of one delay per source). A spike travels as
one packet per destination core, over ``hops[router of source core, router of destination
core]`` router-to-router links (:func:`neuroemu.hardware.topology.build_topology` gives
``hops`` and ``core_router``). Inputs enter at their destination cores and cost no hops.

Strategies (registry :data:`STRATEGIES`):

- ``pack``: neurons in id order fill core 0, then core 1, ...; a core is closed when the next
  neuron would exceed either limit (one C call, ``ne_pack_greedy``, or one numpy step per core
  where the C kernels are not built; the axon keys come from one sort of the synapses).
- ``given``: each neuron on the core its ``core`` field names (a file's own placement, e.g. a
  peer simulator's blocks); cores beyond the chip and cores over their limits are errors.
- ``spread``: round-robin, neuron j on core j mod n_cores (balances load, ignores locality:
  the baseline).
- ``locality``: bisect the neurons recursively into two parts sized for half the cores each,
  cutting as few synapses as possible (:func:`neuroemu.networks.partition.bisect`: batched
  balanced swaps from the id-order split and from a breadth-first order, vectorised over the
  edges; deterministic), until every part fits one core (neurons and axons). The k parts then
  go onto the k cores nearest (in hops) to the most central router, the split tree laid onto
  the cores: each branch gets a compact set of cores (ordered by distance to two far-apart
  cores of its set), so parts that were split late -- the most heavily connected -- sit on
  nearby cores. Bisection minimises cut synapses, while a spike costs a packet per destination
  core, so pack's id-order parts are laid out the same way as a second candidate and the
  placement with less routed traffic is kept (so locality never needs more cores than pack);
  pack's own placement is a third candidate, so locality never routes more traffic than pack.
  (Kernighan-Lin in networkx did the bisection before; it took 26-70 s on a 4,000-neuron,
  320,000-synapse network and was skipped above 4,000 neurons.)

The report (:class:`MappingReport`) gives mean hops per synaptic edge and the routed traffic,
weighted by the sources' activity when given (spikes per tick, e.g. from
:func:`neuroemu.networks.graph.simulate_reference`), else every source counts 1. Capacity errors
(:class:`~neuroemu.errors.CapacityError`) name the group that did not fit and the limit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroemu.hardware.step import pack_greedy_c
from neuroemu.errors import CapacityError, ConfigError
from neuroemu.networks import axons as axon_table
from neuroemu.networks.axons import _AxonTable, _combined_src, _pack_numpy, unique_rows
from neuroemu.networks.graph import Network
from neuroemu.networks.partition import Part, bisect_split, synapse_part

__all__ = ["STRATEGIES", "Mapping", "MappingReport", "ChipLayout", "place", "layout", "evaluate", "fan_in",
           "unique_rows"]



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
    return _AxonTable(network).fan_in()


def _fan_in_check(network, apc, strategy, table: _AxonTable) -> None:
    if apc is None or not network.n_edges:
        return
    per = table.fan_in()
    j = int(np.argmax(per))
    if per[j] > apc:
        raise CapacityError(f"{strategy}: group {_group_of(network, j)!r}: neuron {j} has synapses from {per[j]} "
                            f"distinct (source, delay) pairs, more than a core's {apc} axons")


def _pack(network: Network, n_cores: int, npc: int, apc: int | None, name: str = "pack",
          table: _AxonTable | None = None) -> np.ndarray:
    """Greedy fill in id order. When every run of ``npc`` neurons fits the axons, the greedy fill
    is exactly ``id // npc`` (a core's prefix never needs more axons than the whole core), so the
    fill itself is the only check needed."""
    n = network.n_neurons
    if apc is None or not network.n_edges:
        return np.arange(n, dtype=np.int64) // npc
    table = table or _AxonTable(network)
    keys, n_keys = table.dense_keys()
    core_of, full_at = pack_greedy_c(table.ptr, keys, n_keys, npc, apc, n_cores)
    if core_of is None and full_at < 0:
        core_of, full_at = _pack_numpy(table.ptr, keys, n_keys, npc, apc, n_cores)
    if core_of is None:
        raise CapacityError(
            f"{name}: group {_group_of(network, full_at)!r} does not fit: all {n_cores} cores are full at neuron "
            f"{full_at} of {n} (limits: {npc} neurons and {apc} axons per core)")
    return core_of


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


def _split_tree(box: list, npc: int, apc: int | None, table: _AxonTable):
    """Bisect until every part fits one core; a leaf is an array of neurons, a branch a pair.

    ``box`` holds the :class:`~neuroemu.networks.partition.Part` to split (taken out, so a
    part's edges are freed once its halves are built)."""
    part = box.pop()
    nodes = part.nodes
    k = -(-len(nodes) // npc)
    if k == 1 and (apc is None or table.count(nodes) <= apc):
        return nodes
    if len(nodes) == 1:
        return nodes  # a lone neuron's fan-in was checked before placing
    # the left part takes the capacity of half the cores the neuron count needs
    n_a = len(nodes) // 2 if k == 1 else min((k // 2) * npc, round(len(nodes) * (k // 2) / k))
    a, b = bisect_split(part, n_a)
    del part
    return _split_tree([a], npc, apc, table), _split_tree([b], npc, apc, table)


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


def _synapse_part(network: Network, activity: np.ndarray) -> Part:
    """The undirected neuron graph; an edge's weight is the activity crossing it (both ways added)."""
    m = ~network.src_input
    return synapse_part(network.src[m], network.dst[m], activity, network.n_neurons)


def _locality(network: Network, n_cores: int, npc: int, apc: int | None, hops_c: np.ndarray,
              activity: np.ndarray, seed: int = 0, table: _AxonTable | None = None):
    """The placement with the least routed traffic (packet hops, then mean hops) of the module
    docstring's three candidates, and its (mean hops, packets, packet hops) under ``hops_c``."""
    n = network.n_neurons
    table = table or _AxonTable(network)
    # the most central core first, then its nearest neighbours (ties by core id)
    centre = int(np.lexsort((np.arange(n_cores), hops_c.sum(axis=1)))[0])
    by_distance = np.lexsort((np.arange(n_cores), hops_c[centre]))
    best = None
    # bisection minimises cut synapses, but a spike costs one packet per destination core:
    # when a source's targets are dense (a fully connected layer) the id-order parts keep them
    # on fewer cores. Both are laid out and the one with less routed traffic stays. The
    # id-order parts are pack's (greedy, so never more cores than pack).
    packed = _pack(network, n_cores, npc, apc, "locality", table)
    cuts = np.flatnonzero(np.diff(packed)) + 1
    candidates = [_sequence_tree(np.split(np.arange(n, dtype=np.int64), cuts))]
    candidates.append(_split_tree([_synapse_part(network, activity)], npc, apc, table))
    placements = [packed]  # a chain of layers may sit best in pack's row; it is a candidate too
    for tree in candidates:
        k = _leaves(tree)
        if k <= n_cores:
            core_of = np.empty(n, np.int64)
            _assign(tree, by_distance[:k], hops_c, core_of)
            placements.append(core_of)
    routes = _Routes(network, activity)
    for core_of in placements:
        cost = routes.cost(core_of, hops_c, n_cores)
        if best is None or (cost[2], cost[0]) < best[0]:
            best = ((cost[2], cost[0]), core_of, cost)
    return best[1], best[2]


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
"""Registry: strategy name -> placer ``(network, n_cores, npc, apc) -> core_of``; locality's also takes
``(hops, activity, seed, table)`` and returns ``(core_of, its routes)``."""


class _PairCost:
    """Core-to-core costs given per pair, for a topology whose [cores, cores] matrix would not fit
    (a system's joined mesh: :meth:`neuroemu.hardware.system.SystemTopology.core_cost`). It answers
    the few questions placement asks of the matrix -- row sums, one row, a block, pairs -- with
    the same integers the matrix would hold."""

    def __init__(self, topology, n_cores: int, placement: bool):
        self._topo, self._n, self._placement = topology, n_cores, placement

    def sum(self, axis: int) -> np.ndarray:
        """Each core's cost summed over the first ``n_cores`` cores (``axis`` 1: the matrix is
        symmetric): in closed form over all of them, else a block of rows at a time."""
        if self._n == self._topo.n_cores:
            return self._topo.core_cost_sums(self._placement)
        cols, rows = np.arange(self._n), max(1, (1 << 22) // max(self._n, 1))
        return np.concatenate([self[np.ix_(np.arange(i, min(i + rows, self._n)), cols)].sum(axis=1)
                               for i in range(0, self._n, rows)] or [np.zeros(0, np.int64)])

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, tuple):  # pairs, or an np.ix_ block
            a, b = np.broadcast_arrays(*(np.asarray(k, np.int64) for k in key))
            return self._topo.core_cost(a.ravel(), b.ravel(), self._placement).reshape(a.shape)
        return self._topo.core_cost(np.full(self._n, int(key)), np.arange(self._n), self._placement)


def _core_hops(n_cores: int, hops, core_router, topology, placement: bool = False):
    if topology is not None and hasattr(topology, "core_cost"):
        return _PairCost(topology, n_cores, placement)  # a system: per pair, never [cores, cores]
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
    if len(hops) == n_cores and np.array_equal(r, np.arange(n_cores)):
        return hops  # a router per core, in order (TrueNorth's 4,096): no [cores, cores] copy
    return hops[np.ix_(r, r)]


class _Routes:
    """The neuron-to-neuron synapses and their sources' activity, gathered once, so that each
    placement's traffic costs a few passes over the synapses."""

    def __init__(self, network: Network, act: np.ndarray):
        m = ~network.src_input
        self.s, self.d = network.src[m], network.dst[m]
        self.w = act[self.s]
        self.total = float(self.w.sum())
        self.act = act
        # edges listed by destination (the usual order of a file): a placement's destination
        # cores are a repeat, far faster than a gather
        d = self.d
        self.d_runs = np.bincount(d, minlength=network.n_neurons) if (d[1:] >= d[:-1]).all() else None

    def _dst_core(self, core_of: np.ndarray) -> np.ndarray:
        if self.d_runs is None:
            return core_of[self.d]
        return np.repeat(core_of, self.d_runs)

    def cost(self, core_of: np.ndarray, hops_c: np.ndarray, n_cores: int) -> tuple[float, float, float]:
        """(mean hops per synapse, packets, packet hops): one packet per (source, destination core)."""
        s, dc = self.s, self._dst_core(core_of)
        total = self.total
        mean_hops = float((self.w * hops_c[core_of[s], dc]).sum() / total) if total > 0 else 0.0
        space = (int(s.max(initial=0)) + 1) * n_cores
        if space <= max(axon_table.DENSE_KEYS_PER_EDGE * len(s), axon_table.DENSE_KEYS_MIN):
            # distinct (source, core) pairs by marking a table: no sort, and already in key order
            seen = np.zeros(space, bool)
            seen[s * n_cores + dc] = True
            key = np.flatnonzero(seen)
            ps = key // n_cores
            pd = key - ps * n_cores
        elif space < 2 ** 62:
            key = s * n_cores + dc
            key.sort()
            first = np.empty(len(key), bool)
            first[:1] = True
            np.not_equal(key[1:], key[:-1], out=first[1:])
            key = key[first]
            ps = key // n_cores
            pd = key - ps * n_cores
        else:
            ps, pd = unique_rows(s, dc)
        pw = self.act[ps]
        return mean_hops, float(pw.sum()), float((pw * hops_c[core_of[ps], pd]).sum())


def evaluate(network: Network, core_of: np.ndarray, hops_c: np.ndarray | None, *, strategy: str = "given",
             activity=None, n_cores: int | None = None, axons: np.ndarray | None = None,
             routes: tuple | None = None) -> MappingReport:
    """The :class:`MappingReport` of any placement ``core_of`` (int [N]). ``axons`` and ``routes``
    (mean hops, packets, packet hops): this placement's, when already counted (else counted here)."""
    core_of = np.asarray(core_of, np.int64)
    n_cores = n_cores or int(core_of.max(initial=0)) + 1
    act = np.ones(network.n_neurons) if activity is None else np.asarray(activity, np.float64)
    if hops_c is None:
        mean_hops = packets = packet_hops = mean_packet = float("nan")
    else:
        mean_hops, packets, packet_hops = routes or _Routes(network, act).cost(core_of, hops_c, n_cores)
        mean_packet = packet_hops / packets if packets > 0 else 0.0
    if axons is None:
        axons = _AxonTable(network).per_core(core_of, n_cores)
    per_core = np.bincount(core_of)
    return MappingReport(strategy=strategy, cores_used=int(np.count_nonzero(per_core)),
                         max_neurons_per_core=int(per_core.max(initial=0)),
                         max_axons_per_core=int(axons.max(initial=0)),
                         synapses=int(network.n_edges), mean_hops=mean_hops, packets=packets,
                         packet_hops=packet_hops, mean_packet_hops=mean_packet)


def place(network: Network, *, strategy: str = "pack", n_cores: int, neurons_per_core: int,
          axons_per_core: int | None = None, topology=None, hops=None, core_router=None,
          activity=None, seed: int = 0) -> Mapping:
    """Place every neuron of ``network`` on a core (module docstring) and report the cost.

    ``topology``: a :class:`~neuroemu.hardware.topology.Topology` (its ``hops`` and
    ``core_router`` are used), or pass ``hops`` [routers, routers] and ``core_router``
    [cores] directly (``locality`` needs one of them). ``activity``: spikes per tick of each
    neuron, weighting the partition and the report. ``seed`` is accepted for compatibility:
    every strategy is deterministic (the same network gives the same placement on every run).
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy: unknown mapping strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    _check_limits(network, strategy, n_cores, neurons_per_core, axons_per_core)
    table = _AxonTable(network)  # every neuron's distinct axons, sorted once for all the checks below
    _fan_in_check(network, axons_per_core, strategy, table)
    hops_c = _core_hops(n_cores, hops, core_router, topology)
    act = np.ones(network.n_neurons) if activity is None else np.asarray(activity, np.float64)
    if act.shape != (network.n_neurons,) or not np.isfinite(act).all() or (act < 0).any():
        raise ConfigError(f"activity: needs one rate >= 0 per neuron ({network.n_neurons}) (got shape {act.shape})")
    routes = None
    if strategy == "locality":
        if hops_c is None:
            raise ConfigError("locality: needs the router distances: pass topology= or hops= and core_router=")
        # a system of chips lays parts out by a cost in which leaving a chip costs more than any
        # route inside one (neuroemu.hardware.system); the report below still counts plain hops
        system = topology is not None and hasattr(topology, "core_cost")
        cost_c = _core_hops(n_cores, None, None, topology, placement=True) if system else hops_c
        core_of, routes = _locality(network, n_cores, neurons_per_core, axons_per_core, cost_c, act, seed, table)
        if system:
            routes = None  # costed by the system's placement cost: the report counts plain hops
    elif strategy == "pack":
        core_of = _pack(network, n_cores, neurons_per_core, axons_per_core, table=table)
    else:
        core_of = STRATEGIES[strategy](network, n_cores, neurons_per_core, axons_per_core)
    per_core = np.bincount(core_of, minlength=n_cores)
    if per_core.max(initial=0) > neurons_per_core:
        c = int(np.argmax(per_core))
        raise CapacityError(f"{strategy}: group {_group_of(network, int(np.flatnonzero(core_of == c)[-1]))!r} does not "
                            f"fit: core {c} gets {per_core[c]} neurons, more than {neurons_per_core} per core")
    axons = table.per_core(core_of, n_cores)
    if axons_per_core is not None:
        if axons.max(initial=0) > axons_per_core:
            c = int(np.argmax(axons))
            names = sorted({_group_of(network, int(j)) for j in np.flatnonzero(core_of == c)})
            raise CapacityError(f"{strategy}: group {names[0]!r} does not fit: core {c} (neurons of "
                                f"{', '.join(map(repr, names))}) needs {axons[c]} axons, more than {axons_per_core} "
                                "per core; try pack or locality")
    # columns in id order within each core
    order = np.argsort(core_of, kind="stable")
    start = np.zeros(n_cores + 1, np.int64)
    np.cumsum(per_core, out=start[1:])
    slot = np.empty(network.n_neurons, np.int64)
    slot[order] = np.arange(network.n_neurons) - start[core_of[order]]
    report = evaluate(network, core_of, hops_c, strategy=strategy, activity=act, n_cores=n_cores, axons=axons,
                      routes=routes)
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
    fan-out routes). ``input_axons``/``input_ptr`` likewise per input; ``target_delay`` and
    ``input_delay`` give each listed axon's delay.

    Laid out for the cores ``cores`` = (c0, c1) alone (an MPI rank's: :func:`layout`), the axon
    arrays and crossbar rows are those cores' (axon ``a`` at ``a - c0 * axons_per_core``), while
    axon numbers, fan-out and inputs stay global. ``synapses_per_core`` (int64 [cores]) and
    ``clipped`` (crossbar points whose summed weight, rounded, passes ``clip_at``) count every
    core either way.
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
    target_delay: np.ndarray | None = None
    input_delay: np.ndarray | None = None
    cores: tuple[int, int] | None = None
    synapses_per_core: np.ndarray | None = None
    clipped: int = 0


def layout(network: Network, mapping: Mapping, n_cores: int, axons_per_core: int,
           cores: tuple[int, int] | None = None, clip_at: float | None = None) -> ChipLayout:
    """Assign axons on every core and build the crossbar rows for a placement (vectorised).

    ``cores`` = (c0, c1): the axon arrays and crossbar rows of those cores alone (an MPI rank's
    share; :class:`ChipLayout`). Every core's axons are still numbered (a route's target axon on
    another core is its rank among that core's distinct keys), so the axon keys are sorted whole;
    only the edges into the cores are laid out as crossbar points. ``clip_at``: count the points
    (of every core) whose rounded summed weight passes it in magnitude."""
    if mapping.axons_per_core is not None and axons_per_core < mapping.axons_per_core:
        raise ConfigError(f"axons_per_core: {axons_per_core} is below the {mapping.axons_per_core} the mapping used")
    n, n_in = network.n_neurons, network.n_inputs
    c0, c1 = cores or (0, n_cores)
    whole = (c0, c1) == (0, n_cores)
    dcore = mapping.core_of_neuron[network.dst]
    src = _combined_src(network)
    # axon key per edge: (destination core, source, delay, class), numbered in order within each core
    cls = network.edge_class if network.edge_class is not None else np.zeros(len(src), np.int64)
    keys = np.stack([dcore, src, network.delay, cls])
    uniq, inv = unique_rows(*keys, return_inverse=True)
    del keys
    first = np.searchsorted(uniq[0], np.arange(n_cores))
    local = np.arange(uniq.shape[1]) - first[uniq[0]]
    if local.size and local.max() >= axons_per_core:
        c = int(uniq[0][np.argmax(local)])
        raise CapacityError(f"layout: core {c} needs {int((uniq[0] == c).sum())} axons, more than {axons_per_core}")
    gaxon = uniq[0] * axons_per_core + local
    x0, n_axons = c0 * axons_per_core, (c1 - c0) * axons_per_core
    own = slice(first[c0] if c0 < n_cores else len(gaxon), first[c1] if c1 < n_cores else len(gaxon))
    ax = gaxon[own] - x0  # the cores' axons (keys sorted by core: a contiguous run)
    axon_source = np.full(n_axons, -1, np.int64)
    axon_source[ax] = np.where(uniq[1][own] >= n, uniq[1][own] - n, uniq[1][own])
    axon_input = np.zeros(n_axons, bool)
    axon_input[ax] = uniq[1][own] >= n
    axon_delay = np.zeros(n_axons, np.int64)
    axon_delay[ax] = uniq[2][own]
    axon_class = np.zeros(n_axons, np.int64)
    axon_class[ax] = uniq[3][own]
    # crossbar points: (axon, local neuron), duplicate edges summed; the edges into the cores alone
    into = None if whole else np.flatnonzero((dcore >= c0) & (dcore < c1))
    pick = (lambda x: x) if whole else (lambda x: x[into])
    edge_axon = gaxon[pick(inv)] - x0
    col = mapping.slot_of_neuron[pick(network.dst)]
    pts, pinv = unique_rows(edge_axon, col, return_inverse=True)
    weight = np.bincount(pinv.ravel(), weights=pick(network.weight), minlength=pts.shape[1])
    row_ptr = np.zeros(n_axons + 1, np.int64)
    np.cumsum(np.bincount(pts[0], minlength=n_axons), out=row_ptr[1:])
    if whole:
        per_core = np.bincount(pts[0] // axons_per_core, minlength=n_cores)
        clipped = int((np.abs(np.rint(weight)) > clip_at).sum()) if clip_at is not None else 0
    else:  # every core's points (a limit checked alike on every rank, the record's count): (axon key, neuron)
        per_core, clipped = _every_core_points(network, uniq[0], inv, n_cores, clip_at)
    # fan-out per source in combined order (neurons by network id, then inputs)
    order = np.argsort(uniq[1], kind="stable")
    counts = np.bincount(uniq[1], minlength=n + n_in)
    ptr = np.zeros(n + n_in + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    targets = gaxon[order]
    delays = uniq[2][order]
    return ChipLayout(row_ptr=row_ptr, row_neurons=pts[1], row_weight=weight, axon_source=axon_source,
                      axon_input=axon_input, axon_delay=axon_delay, axon_class=axon_class, target_ptr=ptr[:n + 1],
                      target_axons=targets[:ptr[n]], input_ptr=ptr[n:] - ptr[n], input_axons=targets[ptr[n]:],
                      target_delay=delays[:ptr[n]], input_delay=delays[ptr[n]:], cores=(c0, c1),
                      synapses_per_core=per_core, clipped=clipped)


def _every_core_points(network: Network, key_core: np.ndarray, inv: np.ndarray, n_cores: int,
                       clip_at: float | None) -> tuple[np.ndarray, int]:
    """Crossbar points per core over every core, and how many pass ``clip_at`` rounded: a point
    is a distinct (axon key, destination neuron), as (axon, column) is within a core."""
    if clip_at is None:
        pts = unique_rows(inv, network.dst)
        return np.bincount(key_core[pts[0]], minlength=n_cores), 0
    pts, pinv = unique_rows(inv, network.dst, return_inverse=True)
    weight = np.bincount(pinv, weights=network.weight, minlength=pts.shape[1])
    return np.bincount(key_core[pts[0]], minlength=n_cores), int((np.abs(np.rint(weight)) > clip_at).sum())
