"""A network from a file (NIR, edge list) compiled onto a chip: quantise, place, lay out, write arrays.

:func:`map_network` takes a chip-independent :class:`~neuroemu.networks.graph.Network` to the chip's
:class:`~neuroemu.hardware.cores.CoreArrays`:

1. **Neuron model.** Each group's equation (netgraph's module docstring) must be one the chip's
   neuron model runs, else a ConfigError names the group and the rule. Current-based chips
   (``loihi_cuba``, ``cuba_lif``): ``du = 4096 (1 - i_decay)``, ``dv = 4096 (1 - decay)`` rounded
   to the 12-bit decay, chip threshold = T - 1 (the chip fires on v > threshold, the network on
   v >= T, and both are integers after quantisation), reset to zero only, no current bias.
   TrueNorth (``truenorth_lif``): no decay (its leak is linear: leak = bias, at most 255 in
   magnitude), no current, reset to v_reset ("zero") or by subtraction ("linear").
2. **Quantisation** (:func:`neuroemu.networks.quantise.quantise`, rule documented there): per-synapse
   chips get ``weight_bits``-bit weights with one scale per target group; TrueNorth gets its 4 axon
   types: with ``c`` axon copies per source (``network.axon_copies``, default the most a core's
   256 axons hold, up to 4) every synapse weight is a c-bit two's-complement integer written as
   its bits on c crossbar points, the neuron weighing the c axon types 1, 2, ..., -2^(c-1); with
   one copy the sources are clustered into 4 types. The run reports the relative weight error.
3. **Placement** (:func:`neuroemu.networks.place.place`: pack, spread or locality) on the chip's cores
   and router graph, then the axons and crossbar rows (:func:`neuroemu.networks.place.layout`).
4. **Routes.** A neuron sends one packet per destination axon (one per destination core, delay and
   axon class). Loihi-style chips fan out natively: the arrays keep a list of routes per neuron.
   A TrueNorth neuron has exactly one target, so a neuron with k destinations becomes k copies
   with the same inputs (the corelet practice: each copy costs its neuron updates and synaptic
   operations, as on the chip); copies sit next to their original and placement is redone until
   every neuron has one target.

Only the cores the network uses are kept in the arrays (``CoreArrays.chip_core`` maps them to
chip cores), so a 2-core network on a 4,096-core chip runs at the speed of 2 cores while hops,
latencies and energies come from the full chip's router graph.

**Built by ranks.** Split over MPI ranks (engine/ranks.py, engine/asyncranks.py), every rank
reads the graph, quantises its edges and places it -- each step needs the whole graph (a
group's weight scale, TrueNorth's copies, the partition), is deterministic and gives every rank
the same placement -- and sorts every edge's axon key, since a route's target axon on another
rank's core is its rank among that core's keys. It then lays out and writes the crossbar rows,
axon tables, neuron parameters, state and routes of its own cores alone (``cores_of``:
:func:`neuroemu.networks.place.layout` with ``cores``), bit for bit the whole build's slice
(tests/test_compile.py). The checks and the record's counts (synapses per core, clipped
points, routes) are of every core, so each rank fails with the one-process run's line.

Inputs arrive as axon events (:class:`SpikeListInput`); :mod:`neuroemu.networks.presentation` builds
them from the network's spike trains or a data set, and runs the readout.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroemu.config.schema import ChipSpec
from neuroemu.hardware.csr import row_positions
from neuroemu.errors import CapacityError, ConfigError
from neuroemu.hardware.cores import CoreArrays
from neuroemu.networks.place import ChipLayout, Mapping, fan_in, layout, place, unique_rows
from neuroemu.models.loihi import CubaArrays, DECAY_SHIFT, DECAY_UNITY, cuba_range
from neuroemu.models.neuron import RESET_MODES, NeuronArrays, membrane_range, neuron_model
from neuroemu.networks.fields import NEURON_FIELDS, NEURON_STATE_FIELDS
from neuroemu.networks.graph import Group, Network
from neuroemu.networks.quantise import QuantReport, quantise

__all__ = ["MappedNetwork", "SpikeListInput", "map_network"]

#: TrueNorth's leak is a signed 9-bit value
TRUENORTH_MAX_LEAK = 255
#: placement passes allowed to give every TrueNorth neuron one target
MAX_SPLIT_PASSES = 4


# --- inputs ----------------------------------------------------------------------------------------


class SpikeListInput:
    """Input spikes known in advance, as (arrival tick, global axon) events in tick order."""

    CHUNK = 64

    def __init__(self, ticks: np.ndarray, axons: np.ndarray):
        order = np.argsort(ticks, kind="stable")
        self.ticks = np.asarray(ticks, np.int64)[order]
        self.axons = np.asarray(axons, np.int64)[order]

    @classmethod
    def from_spikes(cls, times: np.ndarray, ids: np.ndarray, input_ptr: np.ndarray, input_axons: np.ndarray,
                    input_delay: np.ndarray) -> "SpikeListInput":
        """Input id spikes at ``times`` reach every axon of that input (``input_axons``, CSR by
        ``input_ptr``) its ``input_delay`` ticks later."""
        times, ids = np.asarray(times, np.int64), np.asarray(ids, np.int64)
        starts, lengths = input_ptr[ids], input_ptr[ids + 1] - input_ptr[ids]
        at = row_positions(starts, lengths)
        return cls(np.repeat(times, lengths) + input_delay[at], input_axons[at])

    def events(self, tick_lo: int, tick_hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Input spikes (ticks, global axons) due in [tick_lo, tick_hi)."""
        lo, hi = np.searchsorted(self.ticks, [tick_lo, tick_hi])
        return self.ticks[lo:hi], self.axons[lo:hi]


# --- the mapped network -----------------------------------------------------------------------------


@dataclass
class MappedNetwork:
    """A network written into a chip's core arrays (the shape simulate runs, as workloads.Network).

    ``source``: the quantised, expanded network actually placed (TrueNorth: with its bit
    edges and neuron copies); ``global_id`` int64 [N of the file's network]: the array neuron of
    each network neuron (its first copy); ``network_id`` int64 [G]: the file's neuron id of each
    array neuron, -1 for unused columns.

    Built for some cores alone (an MPI rank's, :func:`map_network` ``cores_of``): ``part`` holds
    their arrays (local ids from 0) and ``part_cores`` their range; ``arrays`` is then a shell of
    the whole network's shape (its cores' chip cores, and every route when asked), ``network_id``
    and ``axon_delay`` cover the part's neurons and axons, and ``source`` is not kept. ``counted``:
    the whole network's synapses and routes, for the report whichever cores were built.
    """

    arrays: CoreArrays
    enabled: np.ndarray
    cores_used: int
    neurons_per_core: int
    source: Network
    mapping: Mapping
    quant: QuantReport
    global_id: np.ndarray
    network_id: np.ndarray
    input_ptr: np.ndarray
    input_axons: np.ndarray
    axon_delay: np.ndarray
    input_delay: np.ndarray
    copies: int = 1
    neuron_copies: int = 0
    notes: tuple[str, ...] = ()
    hooks: Any = None  # a networks.presentation.Presentation: resets and readout
    inputs: list = dataclasses.field(default_factory=list)  # SpikeListInput streams
    leak: int = 0       # (workloads.Network has these for generated networks; a mapped one has none)
    threshold: int = 0
    inputs_on_cores: bool = False  # network.inputs on_cores: inputs are sources on cores (packets, hops)
    input_spikes: tuple = (np.empty(0, np.int64), np.empty(0, np.int64))  # (times, input ids) of the run
    extra_report: dict = dataclasses.field(default_factory=dict)  # e.g. a NIR import's figures per group
    part: CoreArrays | None = None
    part_cores: tuple[int, int] | None = None
    counted: dict = dataclasses.field(default_factory=dict)  # {"synapses", "routes"} of the whole network

    @property
    def n_enabled(self) -> int:
        """Neurons placed (copies included)."""
        return int(self.enabled.sum())

    def input_stream(self, times: np.ndarray, ids: np.ndarray) -> SpikeListInput:
        """Input spikes (tick, input id) as axon events on the chip."""
        return SpikeListInput.from_spikes(times, ids, self.input_ptr, self.input_axons, self.input_delay)

    def input_routes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs as sources on cores: (source core, destination core, input id) per input route.

        An input sends one packet per destination axon, as a neuron does, from the core of its
        first destination axon (array core numbers; an input whose targets share one core costs
        packets but no hops).
        """
        counts = np.diff(self.input_ptr)
        ids = np.repeat(np.arange(len(counts)), counts)
        A = self.arrays.axons_per_core
        dst = self.input_axons // A
        first = self.input_axons[self.input_ptr[:-1][counts > 0]] // A
        return np.repeat(first, counts[counts > 0]), dst, ids

    def input_spike_counts(self, ticks: int) -> np.ndarray:
        """Spikes each input sends in the first ``ticks`` ticks (int64 [inputs])."""
        times, ids = self.input_spikes
        return np.bincount(ids[times < ticks], minlength=len(self.input_ptr) - 1).astype(np.int64)

    def report(self) -> dict:
        """Placement and quantisation, for the run record."""
        q, m = self.quant, self.mapping.report
        # the arrays as run (a diffuser may rewrite them); as counted when built by part (engine/ranks.py)
        whole = self.arrays if self.arrays.row_ptr is not None else None
        return {
            "mapping": {"strategy": m.strategy, "cores_used": self.cores_used, "neurons": self.n_enabled,
                        "neuron_copies": self.neuron_copies, "synapses": self.counted["synapses"] if whole is None else int(whole.n_synapses),
                        "routes": self.counted["routes"] if whole is None else int((whole.routes()[1] >= 0).sum()),
                        "mean_hops_per_synapse": m.mean_hops, "mean_hops_per_packet": m.mean_packet_hops},
            "quantisation": {"scheme": q.scheme, "bits": q.bits, "axon_copies": self.copies,
                             "max_rel_error": q.max_rel_error, "mean_rel_error": q.mean_rel_error,
                             "dropped_synapses": int((~q.kept).sum()), "weight_scale": q.weight_scale,
                             "keep_zero_weights": q.keep_zero_weights, "zero_weights_kept": q.zero_weights_kept,
                             "errors": q.errors, "summary": q.summary()},
            "notes": list(self.notes + q.notes),
            **self.extra_report,
        }


def _fail_group(where: str, network: Network, mask: np.ndarray, rule: str) -> ConfigError:
    j = int(np.flatnonzero(mask)[0])
    g = network.groups[int(network.group_index()[j])]
    return ConfigError(f"{where}: group {g.name!r} ({g.model}): {rule}")


def _check_model(network: Network, chip: ChipSpec, kernel: str, where: str) -> None:
    """Refuse groups the chip's neuron model cannot run (module docstring, step 1)."""
    model = chip.core.neuron_model
    if network.n_syn_types > 1 and kernel != "cuba":
        raise ConfigError(f"{where}: syn_i_decay: {network.n_syn_types} synaptic current types, but {model} holds one "
                          "current per neuron (use a current-based chip: loihi_cuba or cuba_lif)")
    counter = {name: hi for name, _lo, hi in neuron_model(model).parameters}.get("refractory")
    if network.refractory.any() and counter is None:
        raise _fail_group(where, network, network.refractory > 0,
                          f"refractory: {model} has no refractory period (refractory must be 0)")
    if counter is not None and (network.refractory > counter).any():
        raise _fail_group(where, network, network.refractory > counter,
                          f"refractory: {int(network.refractory.max())} ticks, more than {model}'s refractory "
                          f"counter holds (0..{counter})")
    if kernel == "cuba":
        if (network.reset_subtract & np.isfinite(network.threshold)).any():
            raise _fail_group(where, network, network.reset_subtract & np.isfinite(network.threshold),
                              f"resets by subtraction, but {model} resets to zero after a spike "
                              "(set network.neuron_reset: zero, --reset zero, or import with reset='zero')")
        if (network.v_reset != 0).any():
            raise _fail_group(where, network, network.v_reset != 0, f"v_reset must be 0 on {model} (it resets to 0)")
        if (network.i_bias != 0).any():
            raise _fail_group(where, network, network.i_bias != 0, f"{model} has no current bias (i_bias must be 0)")
    else:
        if (network.decay != 1).any():
            raise _fail_group(where, network, network.decay != 1,
                              f"decays (decay {network.decay[network.decay != 1][0]:g}), but {model}'s leak is "
                              "linear: use IF / I neurons (decay 1) with a bias, or a chip with a decaying model")
        if (network.i_decay != 0).any() or (network.i_bias != 0).any() or (network.u_init != 0).any():
            raise _fail_group(where, network, (network.i_decay != 0) | (network.i_bias != 0) | (network.u_init != 0),
                              f"has a synaptic current (i_decay, i_bias or u_init), which {model} does not model")


def _auto_copies(network: Network, chip: ChipSpec) -> int:
    """The most axon copies per source that every neuron's fan-in leaves room for (1..types)."""
    if not network.n_edges:
        return 1
    return int(max(1, min(chip.core.axon_types, chip.core.axons // int(fan_in(network).max()))))


def _bit_edges(q: Network, report: QuantReport, copies: int) -> Network:
    """TrueNorth: each synapse as crossbar points on its source's axons, with the axon type as class."""
    if copies == 1:
        cls = report.edge_type.astype(np.int64)
        return dataclasses.replace(q, weight=np.ones(q.n_edges), edge_class=cls)
    code = np.mod(q.weight.astype(np.int64), 1 << copies)  # c-bit two's complement
    parts = [np.flatnonzero((code >> b) & 1) for b in range(copies)]
    idx = np.concatenate(parts)
    cls = np.concatenate([np.full(len(p), b, np.int64) for b, p in enumerate(parts)])
    order = np.argsort(idx, kind="stable")
    idx, cls = idx[order], cls[order]
    return dataclasses.replace(q, src=q.src[idx], dst=q.dst[idx], weight=np.ones(len(idx)), delay=q.delay[idx],
                               src_input=q.src_input[idx], syn_type=q.syn_type[idx], edge_class=cls)


def _edge_route_keys(net: Network, core_of: np.ndarray) -> np.ndarray:
    """Per edge from a neuron: the destination axon it needs, as one integer (core, delay, class)."""
    cls = net.edge_class if net.edge_class is not None else np.zeros(net.n_edges, np.int64)
    return (core_of[net.dst] * (int(net.delay.max(initial=0)) + 1) + net.delay) * 256 + cls


def _split_by_route(net: Network, core_of: np.ndarray) -> tuple[Network, np.ndarray] | None:
    """Each neuron with k destination axons as k copies, one destination each (None: none has two).

    Returns the new network and, per new neuron, the original's id.
    """
    from_neuron = ~net.src_input
    key = _edge_route_keys(net, core_of)
    pairs, inv = unique_rows(net.src[from_neuron], key[from_neuron], return_inverse=True)
    routes = np.bincount(pairs[0], minlength=net.n_neurons)
    if routes.max(initial=0) <= 1:
        return None
    copies = np.maximum(routes, 1)
    first = np.zeros(net.n_neurons + 1, np.int64)
    np.cumsum(copies, out=first[1:])
    original = np.repeat(np.arange(net.n_neurons), copies)
    # the copy an out-edge leaves from: its route's rank among its source's routes
    pair_first = np.searchsorted(pairs[0], pairs[0])
    rank = np.arange(pairs.shape[1]) - pair_first
    src = net.src.copy()
    src[from_neuron] = first[net.src[from_neuron]] + rank[inv.ravel()]
    # every copy receives all of its original's in-edges
    n_copies_of_dst = copies[net.dst]
    e_idx = np.repeat(np.arange(net.n_edges), n_copies_of_dst)
    offset = np.arange(len(e_idx)) - np.repeat(np.cumsum(n_copies_of_dst) - n_copies_of_dst, n_copies_of_dst)
    new_dst = first[net.dst[e_idx]] + offset
    groups, start = [], 0
    for g in net.groups:
        size = int(copies[g.start:g.stop].sum())
        groups.append(Group(g.name, start, size, g.model))
        start += size
    per_neuron = {f: getattr(net, f)[original] for f in NEURON_FIELDS + NEURON_STATE_FIELDS}
    split = dataclasses.replace(
        net, groups=tuple(groups), **per_neuron, src=src[e_idx], dst=new_dst, weight=net.weight[e_idx],
        delay=net.delay[e_idx], src_input=net.src_input[e_idx], syn_type=net.syn_type[e_idx],
        edge_class=None if net.edge_class is None else net.edge_class[e_idx], outputs=first[net.outputs])
    return split, original


def map_network(network: Network, chip: ChipSpec, *, strategy: str = "locality", seed: int = 0,
                axon_copies: int | None = None, topology=None, where: str | None = None,
                weight_scale: str = "auto", keep_zero_weights: bool = False, cores_of=None,
                whole_routes: bool = False) -> MappedNetwork:
    """Compile ``network`` onto ``chip`` (module docstring); errors name ``where`` and the group.

    ``cores_of``: a function of the number k of cores used, giving the (c0, c1) whose arrays to
    build, alone (an MPI rank's share: module docstring, "Built by ranks"); ``whole_routes``:
    the whole network's routes too, on its shell.

    ``weight_scale`` ("auto" or "keep") and ``keep_zero_weights``: see
    :func:`neuroemu.networks.quantise.quantise`. ``strategy`` ``given`` places every neuron on
    the core its ``core`` field names (those core numbers are the chip's).
    """
    from neuroemu.hardware.chip import build_chip_topology
    where = where or network.where or network.name
    model = neuron_model(chip.core.neuron_model)
    # the model's per-core limits, as validate and generated networks apply them
    model.check_chip(chip, f"{where}: chip {chip.name!r}")
    kernel = model.kernel
    core = chip.core
    A, N = core.axons, core.neurons
    fold_note = None
    if kernel == "cuba" and (network.i_bias != 0).any():
        from neuroemu.networks.nir_conventions import fold_current_bias
        network, fold_note = fold_current_bias(network, chip.core.neuron_model, where)
    _check_model(network, chip, kernel, where)
    if kernel == "truenorth":
        copies = axon_copies or _auto_copies(network, chip)
        if copies > core.axon_types:
            raise ConfigError(f"{where}: network.axon_copies: {copies} copies need as many axon types; chip "
                              f"{chip.name!r} has {core.axon_types}")
        q, rep = quantise(network, bits=core.weight_bits, scheme="axon_types", types=core.axon_types, copies=copies,
                          weight_scale=weight_scale, keep_zero_weights=keep_zero_weights)
        placed = _bit_edges(q, rep, copies)
    else:
        copies = 1
        q, rep = quantise(network, bits=core.weight_bits, scheme="per_synapse", decay_bits=DECAY_SHIFT,
                          weight_scale=weight_scale, keep_zero_weights=keep_zero_weights)
        # each synapse type arrives on axons of its own (the axon's type picks the current it feeds)
        placed = dataclasses.replace(q, edge_class=q.syn_type) if q.n_syn_types > 1 else q
    if placed.delay.size and placed.delay.max() > core.max_delay_ticks:
        raise ConfigError(f"{where}: delay: synaptic delays up to {int(placed.delay.max())} ticks, more than chip "
                          f"{chip.name!r} allows (core.max_delay_ticks {core.max_delay_ticks})")
    topo = topology if topology is not None else build_chip_topology(chip)
    original = np.arange(placed.n_neurons)
    for _ in range(MAX_SPLIT_PASSES + 1):
        mapping = place(placed, strategy=strategy, n_cores=chip.cores, neurons_per_core=N, axons_per_core=A,
                        topology=topo, seed=seed)
        split = _split_by_route(placed, mapping.core_of_neuron) if kernel == "truenorth" else None
        if split is None:
            break
        placed, orig = split
        original = original[orig]
        if placed.n_neurons > chip.cores * N:  # fail now, not after placing what cannot fit
            raise CapacityError(
                f"{where}: a TrueNorth neuron has one target, so a neuron whose synapses reach k cores (or k "
                f"axon types) is k copies: the network needs {placed.n_neurons:,} neurons with its copies "
                f"({placed.n_neurons / network.n_neurons:.1f} per neuron), more than chip {chip.name!r} holds "
                f"({chip.cores} cores x {N} = {chip.cores * N:,})")
    else:
        raise CapacityError(f"{where}: {strategy}: could not give every TrueNorth neuron a single target in "
                            f"{MAX_SPLIT_PASSES} placement passes (its fan-out keeps spanning cores)")
    mapped = _write_arrays(network, placed, original, mapping, rep, chip, kernel, copies, where, cores_of, whole_routes)
    if strategy != "given" and (network.core >= 0).any():
        mapped.notes += (f"the file's core array is read by mapping given only; mapping {strategy} placed the "
                         "neurons",)
    if fold_note:
        mapped.notes += (fold_note,)
    return mapped


def _write_arrays(network: Network, placed: Network, original: np.ndarray, mapping: Mapping, rep: QuantReport,
                  chip: ChipSpec, kernel: str, copies: int, where: str, cores_of=None,
                  whole_routes: bool = False) -> MappedNetwork:
    """The arrays of every used core, or (``cores_of``: the used-core count k -> (c0, c1)) of the
    cores c0 .. c1 - 1 alone as ``part`` (an MPI rank's share; module docstring, "Built by ranks")."""
    core = chip.core
    A, N = core.axons, core.neurons
    used = np.unique(mapping.core_of_neuron)
    k = len(used)
    c0, c1 = cores_of(k) if cores_of is not None else (0, k)
    compact = dataclasses.replace(mapping, core_of_neuron=np.searchsorted(used, mapping.core_of_neuron))
    wmax = (1 << (core.weight_bits - 1)) - 1
    lay = layout(placed, compact, k, A, cores=(c0, c1), clip_at=None if kernel == "truenorth" else wmax)
    G = k * N
    g0, g1 = c0 * N, c1 * N
    gid = compact.core_of_neuron * N + compact.slot_of_neuron
    enabled = np.zeros(G, bool)
    enabled[gid] = True
    mine = None if (c0, c1) == (0, k) else np.flatnonzero((gid >= g0) & (gid < g1))  # the placed neurons here
    pick = (lambda x: x) if mine is None else (lambda x: x[mine])
    lg = pick(gid) - g0  # their ids in the arrays
    Gp = g1 - g0
    network_id = np.full(Gp, -1, np.int64)
    network_id[lg] = pick(original)
    global_id = np.full(network.n_neurons, -1, np.int64)
    kept, first_copy = np.unique(original, return_index=True)
    global_id[kept] = gid[first_copy]
    notes: list[str] = []

    # crossbar and weights
    row_neurons = lay.row_neurons.astype(np.uint8 if N <= 256 else np.uint16)
    weights = np.zeros((Gp, core.axon_types), np.int16)
    axon_type = np.zeros((c1 - c0) * A, np.int8)
    row_weights = None
    if kernel == "truenorth" or placed.n_syn_types > 1:
        axon_type[:] = lay.axon_class  # TrueNorth: the axon type; CUBA: the synapse type (its current)
    if kernel == "truenorth":
        weights[lg] = rep.type_weights[pick(original)]
    else:
        if lay.clipped:
            notes.append(f"{lay.clipped} crossbar points summed parallel synapses past +-{wmax} and were clipped")
        row_weights = np.clip(np.rint(lay.row_weight), -wmax, wmax).astype(np.int16)
    synapses_per_core = lay.synapses_per_core  # every core's: the same check on every rank
    limit = neuron_model(core.neuron_model).limits.max_synapse_bits_per_core
    bits = core.weight_bits if kernel != "truenorth" else 1
    if limit is not None and synapses_per_core.max(initial=0) * bits > limit:
        c = int(np.argmax(synapses_per_core))
        raise CapacityError(f"{where}: core {int(used[c])} holds {int(synapses_per_core[c]):,} synapses at {bits} bits, "
                            f"more than {core.neuron_model} allows per core ({limit:,} bits)")

    params, v_extra = _neuron_params(placed, lg, Gp, chip, kernel, where, mine)
    routes = _routes(lay, gid, g0, g1, kernel)  # its own neurons' (all of them when whole)
    v0 = np.zeros(Gp, np.int32)
    v0[lg] = v_extra.pop("v_init")
    arrays = CoreArrays(n_cores=c1 - c0, axons_per_core=A, neurons_per_core=N, v=v0, weights=weights,
                        params=params, axon_type=axon_type, row_ptr=lay.row_ptr.astype(np.int64),
                        row_neurons=row_neurons, neuron_model=core.neuron_model, chip_core=used[c0:c1].astype(np.int64),
                        **routes, **v_extra)
    if row_weights is not None:
        arrays.set_row_weights(row_weights)
    counts = np.diff(lay.target_ptr)
    # the whole network's figures for the record, counted here as every rank sees them
    n_routes = int((counts == 1).sum()) if kernel == "truenorth" else int(counts.sum())
    part = None
    if mine is not None:  # the arrays hold these cores; a shell the whole network's shape (and routes)
        part = arrays
        routes = _routes(lay, gid, 0, G, kernel) if whole_routes else dict(target_axon=None, delay=None)
        arrays = CoreArrays(n_cores=k, axons_per_core=A, neurons_per_core=N, v=None, weights=None, params=None,
                            axon_type=None, row_ptr=None, row_neurons=None, neuron_model=core.neuron_model,
                            chip_core=used.astype(np.int64), **routes)
    return MappedNetwork(arrays=arrays, enabled=enabled, cores_used=k, neurons_per_core=N,
                         source=placed if part is None else None, mapping=mapping, quant=rep, global_id=global_id,
                         network_id=network_id, input_ptr=lay.input_ptr, input_axons=lay.input_axons,
                         axon_delay=lay.axon_delay, input_delay=lay.input_delay, copies=copies,
                         neuron_copies=int(placed.n_neurons - network.n_neurons), notes=tuple(notes), part=part,
                         part_cores=None if part is None else (c0, c1),
                         counted={"synapses": int(synapses_per_core.sum()), "routes": n_routes})


def _routes(lay: ChipLayout, gid: np.ndarray, lo: int, hi: int, kernel: str) -> dict[str, np.ndarray]:
    """The routes of the array neurons ``lo .. hi - 1`` (numbered from ``lo``): one target each on
    TrueNorth (``target_axon``, ``delay``), else fan-out lists, one per destination axon."""
    counts = np.diff(lay.target_ptr)
    here = np.flatnonzero((gid >= lo) & (gid < hi))  # placed neurons (network ids) in the range
    if kernel == "truenorth":
        target_axon = np.full(hi - lo, -1, np.int64)
        delay = np.ones(hi - lo, np.int8)
        one = here[counts[here] == 1]
        target_axon[gid[one] - lo] = lay.target_axons[lay.target_ptr[one]]
        delay[gid[one] - lo] = lay.target_delay[lay.target_ptr[one]]
        return dict(target_axon=target_axon, delay=delay)
    per_g = np.zeros(hi - lo, np.int64)
    per_g[gid[here] - lo] = counts[here]
    ptr = np.zeros(hi - lo + 1, np.int64)
    np.cumsum(per_g, out=ptr[1:])
    # each neuron's targets, gathered in array-neuron order
    order = here[np.argsort(gid[here], kind="stable")]
    at = row_positions(lay.target_ptr[order], counts[order])
    return dict(target_axon=np.full(hi - lo, -1, np.int64), delay=np.ones(hi - lo, np.int8), fanout_ptr=ptr,
                fanout_axon=lay.target_axons[at].astype(np.int64), fanout_delay=lay.target_delay[at].astype(np.int8))


def _int_param(where: str, net: Network, values: np.ndarray, lo: int, hi: int, what: str) -> np.ndarray:
    bad = (values < lo) | (values > hi)
    if bad.any():
        raise _fail_group(where, net, bad, f"{what} {values[bad][0]:g} after quantisation is outside the chip's "
                                           f"{lo}..{hi}")
    return values.astype(np.int64)


def _neuron_params(net: Network, gid: np.ndarray, G: int, chip: ChipSpec, kernel: str, where: str,
                   sel: np.ndarray | None = None):
    """The chip model's per-neuron parameters for the placed (quantised) network: written for the
    neurons ``sel`` (all when None) at the array ids ``gid``, every neuron's values checked (the
    same error whichever cores are built)."""
    at = (lambda x: x) if sel is None else (lambda x: np.asarray(x)[sel])
    bits = chip.core.membrane_bits
    finite = np.isfinite(net.threshold)
    if kernel == "cuba":
        lim = cuba_range(bits)[1]
        params = CubaArrays.uniform(G, threshold=lim)  # unused columns never fire
        du = np.rint(DECAY_UNITY * (1 - net.i_decay))
        dv = np.rint(DECAY_UNITY * (1 - net.decay))
        thr = np.where(finite, net.threshold - 1, lim)  # v >= T on integers is v > T - 1
        params.du[gid] = at(du)
        params.dv[gid] = at(dv)
        params.bias[gid] = at(_int_param(where, net, net.bias, -lim, lim, "bias"))
        params.threshold[gid] = at(_int_param(where, net, thr, -lim, lim, "threshold"))
        params.refractory[gid] = at(net.refractory)
        T = net.n_syn_types
        if T > 1:  # one current per synapse type, each with its own decay
            params.du_syn = np.full((T, G), DECAY_UNITY, np.int32)
            params.du_syn[:, gid] = np.rint(DECAY_UNITY * (1 - net.syn_i_decay))[:, None]
        if np.isfinite(net.v_min).any():
            params.v_min = np.full(G, -lim, np.int32)
            params.v_min[gid] = at(np.maximum(np.where(np.isfinite(net.v_min), net.v_min, -lim), -lim))
        u = np.zeros((T, G), np.int32)
        u[0, gid] = at(_int_param(where, net, net.u_init, -lim, lim, "u_init"))
        return params, dict(u=u.ravel(), refractory_left=np.zeros(G, np.int32),
                            v_init=at(_int_param(where, net, net.v_init, -lim, lim, "v_init")))
    vmin, vmax = membrane_range(bits)
    params = NeuronArrays.uniform(G, threshold=vmax, reset="linear", floor=-vmin)
    thr = np.where(finite, net.threshold, vmax + 1)  # v saturates at vmax: never reached
    params.leak[gid] = at(_int_param(where, net, net.bias, -TRUENORTH_MAX_LEAK, TRUENORTH_MAX_LEAK, "bias (the leak)"))
    params.threshold[gid] = at(_int_param(where, net, thr, 1, vmax + 1, "threshold"))
    params.reset_mode[gid] = at(np.where(net.reset_subtract, RESET_MODES["linear"], RESET_MODES["zero"]))
    params.reset_value[gid] = at(_int_param(where, net, net.v_reset, vmin, vmax, "v_reset"))
    # v_min is TrueNorth's saturating negative threshold: V never goes below -beta
    params.floor[gid] = at(-np.maximum(np.where(np.isfinite(net.v_min), net.v_min, vmin), vmin).astype(np.int64))
    return params, dict(v_init=at(_int_param(where, net, net.v_init, vmin, vmax, "v_init")))
