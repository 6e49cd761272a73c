"""Seeded workload generators: networks written into core arrays, and input spike trains.

Registry: :data:`NETWORKS` maps a ``network.kind`` to its generator. Every random
choice draws from a numpy Generator seeded by (master seed, purpose), so the same
seed gives the same network whatever else changes. On a system of chips the streams are
per block of cores (master seed, purpose, block) and the routes counter-based, so that any
block can be built alone, by an MPI rank (:func:`build_network_part`, networks/blocks.py).

``random_recurrent`` is TrueNorth's probabilistic recurrent benchmark: every
neuron's output goes to one axon on a uniformly random core (a random
permutation of all axons, so each axon has one source), every axon row has
exactly ``synapses_per_axon`` ones at random columns, axon types are balanced
(+w and -w types in equal numbers, so input averages to zero), and the firing
rate is set by a leak. With the stochastic leak (as on the chip) a neuron gains
|lambda|/256 per tick on average and fires when V reaches the threshold T, so with
linear (subtractive) reset its long-run rate is lambda / (256 T) per tick: the
generator picks integers lambda <= 255 and T nearest the asked rate.

``random_recurrent_weighted`` is the same network (the same crossbar, types, targets and delays
for the same seed) with a weight *per synapse*, as Loihi (1-9-bit weights) and RRAM crossbars
(multi-level conductances) store them: ``network.weights`` is then the set of values each
synapse draws from, uniformly and independently (a stream of its own), instead of one weight
per axon type.

The neuron parameters follow the chip's ``core.neuron_model`` (the registry in
:mod:`neuroemu.models.neuron`). For the current-based LIF (``loihi_cuba``, ``cuba_lif``)
``network.neuron`` may set ``du``, ``dv``, ``bias`` and ``refractory``; a spontaneous
``rate_hz`` is then set by a constant bias (which needs ``dv`` = 0): see
:func:`neuroemu.models.loihi.bias_for_rate`. Every model's per-core limits are checked before
anything is allocated.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from neuroemu.networks.blocks import block_cores, fill_blocks, input_hits, route_arrays
from neuroemu.networks.crossbars import balanced_crossbar, empty_rows, fill_random
from neuroemu.config.schema import FILE_KINDS, ChipSpec, InputSpec, NetworkSpec, WorkloadSpec
from neuroemu.errors import CapacityError, ConfigError
from neuroemu.hardware.cores import CoreArrays
from neuroemu.hardware.devices import check_device, program_weights
from neuroemu.models.loihi import CubaArrays, bias_for_rate
from neuroemu.models.neuron import NEURON_MODELS, NeuronArrays, neuron_model
from neuroemu.models.rng import generator
from neuroemu.hardware.system import check_system_size
from neuroemu.networks.sizes import available_memory_bytes

#: seed purposes (stream ids) so that each random choice has its own stream
STREAM_CROSSBAR, STREAM_TYPES, STREAM_TARGETS, STREAM_DELAYS, STREAM_INIT, STREAM_LEAK = range(1, 7)
#: per-synapse weights (7 is simulate's neuron RNG stream)
STREAM_WEIGHTS = 8
#: the purposes' stream ids as networks/blocks.py draws them per block
BLOCK_STREAMS = {"types": STREAM_TYPES, "crossbar": STREAM_CROSSBAR, "init": STREAM_INIT, "weights": STREAM_WEIGHTS}
STREAM_INPUT_BASE = 100


@dataclass
class Network:
    """A network written into a chip's core arrays."""

    arrays: CoreArrays
    cores_used: int
    neurons_per_core: int
    enabled: np.ndarray   # bool [G]: neurons that exist in the workload (updated every tick)
    leak: int             # TrueNorth: the leak lambda; current-based LIF: the bias
    threshold: int
    #: built for some cores only (:func:`build_network_part`): their arrays (local ids from 0) and
    #: their range (c0, c1); ``arrays`` then holds the whole system's routes only
    part: CoreArrays | None = None
    part_cores: tuple[int, int] | None = None

    @property
    def n_enabled(self) -> int:
        """Neurons the workload uses (counted once per ``enabled`` array: the run asks every tick,
        and summing a million flags each time cost the full chip ~0.3 ms a tick)."""
        cached = self.__dict__.get("_n_enabled")
        if cached is None or cached[0] is not self.enabled:
            cached = self.__dict__["_n_enabled"] = (self.enabled, int(self.enabled.sum()))
        return cached[1]


def dense_cell_bytes(chip: ChipSpec, net: NetworkSpec, learning: bool = False) -> int:
    """Bytes per crossbar point of the dense copy a generated network keeps beside its rows (0: none):
    1 for the 0/1 copy, 3 with the int16 weights per synapse beside it."""
    core, k = chip.core, net.synapses_per_axon
    per_synapse = net.kind in PER_SYNAPSE_KINDS
    cell = 3 if per_synapse else 1
    # when rows are dense enough for the C kernel to prefer it and the whole chip's copy fits
    # (decided on the whole chip, so a part has one exactly when the whole does)
    if k < core.neurons * CoreArrays.DENSE_MIN_DENSITY or chip.cores * core.axons * core.neurons * cell > \
            CoreArrays.DENSE_MAX_BYTES:
        return 0
    # a balanced crossbar: every neuron gets equal inputs of each type, expected input exactly zero
    # (crossbars.py); the TrueNorth tick with per-type weights reads it as bits (hardware/fused.py):
    # no dense copy, which on the full chip saves 256 MiB and its writing; a learning rule makes
    # the weights per synapse, which the dense kernels read, so it keeps the copy
    model = NEURON_MODELS.get(core.neuron_model)
    if net.crossbar == "balanced" and k > 0 and not (per_synapse or learning or model is None
                                                      or model.kernel != "truenorth"):
        return 0
    return cell


def estimate_bytes(chip: ChipSpec, net: NetworkSpec) -> int:
    """Bytes the chip's arrays will take for this network (checked before allocating), the dense
    crossbar copy included where the network keeps one (:func:`dense_cell_bytes`, without learning)."""
    cores = chip.cores
    g = cores * chip.core.neurons
    a = cores * chip.core.axons
    syn_item = 1 if chip.core.neurons <= 256 else 2
    if net.kind in PER_SYNAPSE_KINDS:
        syn_item += 2  # the int16 weight of each synapse
    synapses = (net.cores or cores) * chip.core.axons * net.synapses_per_axon
    per_neuron = 4 + 2 * chip.core.axon_types + 2 + 1 + 4 * 3 + 1 + 4 + 8 + 1 + 1 + 8  # + u, refractory
    per_axon = 1 + 8
    # generation works in chunks; the simulation loop holds a few [G] int64 temporaries
    cell = dense_cell_bytes(chip, net)
    dense = a * chip.core.neurons * cell
    if cell == 3:  # the weights are scattered into their dense copy by one int64 row index per synapse
        dense += synapses * 8
    return synapses * syn_item + g * per_neuron + a * per_axon + g * 8 * 4 + dense


def check_memory(chip: ChipSpec, net: NetworkSpec, workload_name: str) -> None:
    """Raise CapacityError naming the size needed when the network would not fit in memory."""
    need = estimate_bytes(chip, net)
    check_system_size(chip, need)  # a system: its network and routing together, in one line
    have = available_memory_bytes()
    if need > 0.8 * have:
        raise CapacityError(
            f"{workload_name}: the network needs about {need / 2**30:.1f} GiB "
            f"({chip.cores} cores x {chip.core.axons} axons x {net.synapses_per_axon} synapses) "
            f"but only {have / 2**30:.1f} GiB of memory is available")


def rate_to_leak(p: float, stochastic: bool, threshold: int | None, where: str) -> tuple[int, int]:
    """Integers (leak, threshold) whose firing probability per tick is nearest ``p``."""
    if p >= 1.0:
        raise ConfigError(f"{where}.rate_hz: the rate times the tick is {p:g} spikes per tick; "
                          "a neuron fires at most once per tick (must be < 1)")
    if p == 0:
        return 0, threshold or 1
    scale = 256 if stochastic else 1
    target = Fraction(p) * scale        # lambda / T must equal this
    if threshold is not None:
        leak = round(target * threshold)
        if not 1 <= leak <= 255:
            raise ConfigError(f"{where}.threshold: with threshold {threshold} the rate needs a leak of "
                              f"{float(target * threshold):.3g}, outside 1..255")
        return int(leak), threshold
    best = None
    # the nearest fraction; among equally near ones the largest threshold, as a high threshold
    # makes the rate least sensitive to the +-w synaptic noise
    for leak in range(255, 0, -1):
        t = max(1, round(leak / target))
        if t >= 1 << 18:
            continue
        err = abs(Fraction(leak, t) - target)
        if best is None or err < best[0]:
            best = (err, leak, t)
    if best is None:
        raise ConfigError(f"{where}.rate_hz: rate {p:g} per tick is too low to set with a leak")
    return best[1], best[2]


@dataclass(frozen=True)
class NetworkPlan:
    """The checked sizes and derived constants of a network, before anything is allocated.

    ``leak`` is TrueNorth's leak lambda, or the bias of the current-based LIF; ``neuron`` the
    model's resolved ``network.neuron`` parameters.
    """

    cores_used: int
    neurons_per_core: int
    leak: int
    threshold: int
    neuron: dict | None = None


def plan_network(chip: ChipSpec, workload: WorkloadSpec, name: str) -> NetworkPlan:
    """Check that the workload's network fits the chip; every broken rule names the file and key."""
    net = workload.network
    if net.kind in FILE_KINDS:
        return _plan_file_network(chip, workload, name)
    if net.kind not in NETWORKS:
        valid = ", ".join(sorted([*NETWORKS, *FILE_KINDS]))
        raise ConfigError(f"{name}: network.kind: unknown network {net.kind!r}; valid: {valid}")
    where = f"{name}: network"
    core = chip.core
    try:
        model = neuron_model(core.neuron_model)
    except ConfigError as exc:
        raise ConfigError(f"{chip.name}: {exc}") from None
    model.check_chip(chip, f"chip {chip.name!r}")
    cores_used = net.cores or chip.cores
    if cores_used > chip.cores:
        raise CapacityError(f"{where}.cores: the workload uses {cores_used} cores but chip "
                            f"{chip.name!r} has {chip.cores}")
    n_per = net.neurons_per_core or core.neurons
    if n_per > core.neurons:
        raise CapacityError(f"{where}.neurons_per_core: {n_per} neurons per core, more than a core of "
                            f"chip {chip.name!r} holds ({core.neurons})")
    if net.synapses_per_axon > n_per:
        raise CapacityError(f"{where}.synapses_per_axon: {net.synapses_per_axon} synapses per axon row, "
                            f"more than the {n_per} neurons in a row")
    per_synapse = net.kind in PER_SYNAPSE_KINDS
    model.check_synapses(core.axons * net.synapses_per_axon, core.weight_bits if per_synapse else 1, where)
    lo, hi = net.delay_ticks
    if hi > core.max_delay_ticks:
        raise ConfigError(f"{where}.delay_ticks: delays must be within 1..{core.max_delay_ticks} ticks "
                          f"(the chip's core.max_delay_ticks) (got {list(net.delay_ticks)})")
    if per_synapse:
        if not net.weights:
            raise ConfigError(f"{where}.weights: {net.kind} needs at least one weight value to draw from")
    elif len(net.weights) != core.axon_types:
        raise ConfigError(f"{where}.weights: needs one weight per axon type ({core.axon_types}) "
                          f"(got {len(net.weights)})")
    wmax = (1 << (core.weight_bits - 1)) - 1
    for i, w in enumerate(net.weights):
        if not -wmax - 1 <= w <= wmax:
            raise ConfigError(f"{where}.weights[{i}]: must fit a signed {core.weight_bits}-bit weight "
                              f"({-wmax - 1}..{wmax}) (got {w})")
    params = model.resolve_parameters(net.neuron, where)
    p = net.rate_hz * chip.timing.tick_s
    if model.kernel == "cuba":
        leak, threshold = _plan_cuba(params, p, net, where)
    else:
        leak, threshold = rate_to_leak(p, net.stochastic, net.threshold, where)
    vmax = (1 << (core.membrane_bits - 1)) - 1
    if threshold > vmax:
        raise ConfigError(f"{where}.threshold: {threshold} does not fit the {core.membrane_bits}-bit membrane")
    for i, spec in enumerate(workload.inputs):
        if (spec.cores or cores_used) > cores_used:
            raise CapacityError(f"{name}: inputs[{i}].cores: {spec.cores} input cores but the network "
                                f"uses {cores_used}")
        if spec.axons_per_core > core.axons:
            raise CapacityError(f"{name}: inputs[{i}].axons_per_core: {spec.axons_per_core} input axons per "
                                f"core, more than a core has ({core.axons})")
    return NetworkPlan(cores_used, n_per, leak, threshold, params)


def _plan_file_network(chip: ChipSpec, workload: WorkloadSpec, name: str) -> NetworkPlan:
    """Check a file network by mapping it (reading, quantising and placing are the checks)."""
    from neuroemu.networks.presentation import build_mapped
    mapped = build_mapped(chip, workload, workload.seed, name)
    return NetworkPlan(mapped.cores_used, mapped.neurons_per_core, 0, 0, None)


def _plan_cuba(params: dict[str, int], p: float, net: NetworkSpec, where: str) -> tuple[int, int]:
    """(bias, threshold) of the current-based LIF: from network.neuron, or set by the rate."""
    params.setdefault("du", 4096)
    params.setdefault("dv", 0)
    params.setdefault("refractory", 0)
    if p > 0:
        if "bias" in params:
            raise ConfigError(f"{where}.neuron.bias: the bias is set by rate_hz ({net.rate_hz:g}); "
                              "give one or the other")
        if params["dv"] != 0:
            raise ConfigError(f"{where}.neuron.dv: a spontaneous rate_hz is set by a constant bias, which "
                              f"needs no voltage decay (dv 0) (got {params['dv']})")
        bias, threshold = bias_for_rate(p, net.threshold, params["refractory"], where)
        params["bias"] = bias
        return bias, threshold
    params.setdefault("bias", 0)
    return params["bias"], net.threshold or 1


def random_recurrent(chip: ChipSpec, workload: WorkloadSpec, seed: int, name: str) -> Network:
    """TrueNorth's probabilistic recurrent network (see the module docstring)."""
    return _recurrent(chip, workload, seed, name, per_synapse=False)


def random_recurrent_weighted(chip: ChipSpec, workload: WorkloadSpec, seed: int, name: str) -> Network:
    """The same network with a weight per synapse drawn from ``network.weights`` (module docstring)."""
    return _recurrent(chip, workload, seed, name, per_synapse=True)


def _recurrent(chip: ChipSpec, workload: WorkloadSpec, seed: int, name: str, per_synapse: bool,
               cores: tuple[int, int] | None = None) -> Network:
    """The network on every core, or (``cores`` = (c0, c1), a system's whole blocks) on those only."""
    net = workload.network
    core = chip.core
    plan = plan_network(chip, workload, name)
    cores_used, n_per, leak, threshold = plan.cores_used, plan.neurons_per_core, plan.leak, plan.threshold
    lo, hi = net.delay_ticks
    vmax = (1 << (core.membrane_bits - 1)) - 1
    if cores is None:
        check_memory(chip, net, name)
    else:
        check_system_size(chip)  # the part's own memory was checked by its caller (engine/ranks.py)
    model = neuron_model(core.neuron_model)
    block = block_cores(chip)

    n_all, A, N = chip.cores, core.axons, core.neurons
    c0, c1 = cores or (0, n_all)
    n_cores = c1 - c0
    G = n_cores * N
    here_used = max(0, min(c1, cores_used) - c0)  # used cores among c0 .. c1 - 1 (a prefix)

    enabled = np.zeros((n_cores, N), bool)
    enabled[:here_used, :n_per] = True
    enabled = enabled.ravel()

    u = refractory_left = None
    if model.kernel == "cuba":
        q = plan.neuron
        params = CubaArrays.uniform(G, du=q["du"], dv=q["dv"], bias=leak, threshold=threshold,
                                    refractory=q["refractory"])
        params.bias[~enabled] = 0
        params.threshold[~enabled] = vmax  # v > vmax never holds: disabled neurons never fire
        u = np.zeros(G, np.int32)
        refractory_left = np.zeros(G, np.int32)
    else:
        params = NeuronArrays.uniform(G, leak=leak, leak_stochastic=net.stochastic, threshold=threshold,
                                      reset=net.reset, floor=vmax + 1)
        params.leak[~enabled] = 0
        params.threshold[~enabled] = vmax  # disabled neurons never fire

    weights = np.zeros((G, core.axon_types), np.int16)
    if not per_synapse:
        weights[enabled] = np.asarray(net.weights, np.int16)
    # balanced axon types: each core has its axons' types in equal shares, shuffled
    types = np.tile(np.arange(core.axon_types, dtype=np.int8), -(-A // core.axon_types))[:A]
    axon_type = np.tile(types, n_cores)

    k = net.synapses_per_axon
    cell_bytes = 3 if per_synapse else 1
    balanced = net.crossbar == "balanced" and k > 0
    dense_ok = dense_cell_bytes(chip, net, workload.learning is not None) > 0
    values = np.asarray(net.weights, np.int16)
    v = np.zeros(G, np.int32)
    row_weights = None
    if block is not None:  # a system: block by block from the blocks' streams (networks/blocks.py)
        row_ptr, row_neurons = empty_rows(n_cores * A, here_used * A, k, N)
        dense = np.zeros((n_cores * A, N), np.uint8) if dense_ok else None
        row_weights = np.zeros(len(row_neurons), np.int16) if per_synapse else None
        fill_blocks(seed, BLOCK_STREAMS, block, c0, c1, cores_used, A, N, n_per, k, core.axon_types, balanced,
                    axon_type, row_neurons, dense, v, enabled, threshold if leak > 0 else 0, values, row_weights)
        # these cores' routes alone (counter-based: the whole system's values for them)
        target_axon, delay = route_arrays(n_all, A, N, cores_used, n_per, net.recurrent_fraction, (lo, hi), seed,
                                          neurons=(c0 * N, c1 * N))
    elif cores is not None:  # some cores of a single chip: its whole-chip streams, drawn in order (networks/chippart.py)
        from neuroemu.networks.chippart import whole_chip_part
        whole_on = np.zeros((n_all, N), bool)
        whole_on[:cores_used, :n_per] = True
        drawn = whole_chip_part(seed, BLOCK_STREAMS, c0, c1, n_all, cores_used, A, N, n_per, k, core.axon_types,
                                balanced, dense_ok, cell_bytes, axon_type,
                                lambda: _whole_chip_routes(n_all, A, whole_on.ravel(), cores_used, net, seed), v,
                                enabled, threshold if leak > 0 else 0, values if per_synapse else None)
        row_ptr, row_neurons, dense, row_weights = (drawn[f] for f in ("row_ptr", "row_neurons", "dense", "row_weights"))
        target_axon, delay = drawn["target_axon"], drawn["delay"]
    else:
        rng = generator(seed, STREAM_TYPES)
        view = axon_type.reshape(n_cores, A)
        view[:cores_used] = rng.permuted(view[:cores_used], axis=1)
        if balanced:
            row_ptr, row_neurons, dense = balanced_crossbar(n_cores, cores_used, A, n_per, N, k, axon_type,
                                                            core.axon_types, generator(seed, STREAM_CROSSBAR),
                                                            dense_ok)
        else:
            row_ptr, row_neurons, dense = _random_crossbar(n_cores, cores_used, A, n_per, N, k,
                                                           generator(seed, STREAM_CROSSBAR),
                                                           dense_cell_bytes=cell_bytes)
        target_axon, delay = _whole_chip_routes(n_cores, A, enabled, cores_used, net, seed)
        if leak > 0:
            v[enabled] = generator(seed, STREAM_INIT).integers(0, threshold, int(enabled.sum()), dtype=np.int32)
        if per_synapse:
            row_weights = values[generator(seed, STREAM_WEIGHTS).integers(0, len(values), len(row_neurons))]

    arrays = CoreArrays(n_cores=n_cores, axons_per_core=A, neurons_per_core=N, v=v, weights=weights,
                        params=params, axon_type=axon_type, row_ptr=row_ptr, row_neurons=row_neurons,
                        target_axon=target_axon, delay=delay, dense=dense, neuron_model=core.neuron_model,
                        u=u, refractory_left=refractory_left)
    if per_synapse:
        arrays.set_row_weights(row_weights)
    if cores is None:
        return Network(arrays=arrays, cores_used=cores_used, neurons_per_core=n_per, enabled=enabled,
                       leak=leak, threshold=threshold)
    # a part: the whole system's shape and enabled flags, its own cores' state and routes (a rank
    # binds only its own neurons' routes: engine/ranks.py)
    whole_enabled = np.zeros((n_all, N), bool)
    whole_enabled[:cores_used, :n_per] = True
    shell = CoreArrays(n_cores=n_all, axons_per_core=A, neurons_per_core=N, v=None, weights=None, params=None,
                       axon_type=None, row_ptr=None, row_neurons=None, target_axon=None, delay=None,
                       neuron_model=core.neuron_model)
    return Network(arrays=shell, cores_used=cores_used, neurons_per_core=n_per, enabled=whole_enabled.ravel(),
                   leak=leak, threshold=threshold, part=arrays, part_cores=(c0, c1))


def _whole_chip_routes(n_cores: int, A: int, enabled: np.ndarray, cores_used: int, net: NetworkSpec,
                       seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(target_axon, delay) of a single chip from its whole-chip streams: the sources a random
    share of the used neurons, each to its own axon of a random permutation of the used axons."""
    target_axon = np.full(len(enabled), -1, np.int64)
    used_neurons = np.flatnonzero(enabled)
    n_sources = int(round(len(used_neurons) * net.recurrent_fraction))
    rng = generator(seed, STREAM_TARGETS)
    sources = np.sort(rng.permutation(used_neurons)[:n_sources]) if n_sources < len(used_neurons) else used_neurons
    used_axons = cores_used * A
    if n_sources <= used_axons:
        targets = rng.permutation(used_axons)[:n_sources]
    else:  # more neurons than axons: some axons merge several sources
        targets = rng.integers(0, used_axons, n_sources)
    target_axon[sources] = targets
    lo, hi = net.delay_ticks
    delay = np.full(len(enabled), lo, np.int8)
    if hi > lo:
        delay[:] = generator(seed, STREAM_DELAYS).integers(lo, hi + 1, len(enabled)).astype(np.int8)
    return target_axon, delay


def _random_crossbar(n_cores: int, cores_used: int, A: int, n_per: int, N: int, k: int,
                     rng: np.random.Generator, dense_cell_bytes: int = 1
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """CSR rows with exactly k ones among the first n_per columns, for the used cores' axons.

    Also the dense 0/1 copy when rows are dense enough for the C kernel to prefer it and its
    ``dense_cell_bytes`` per crossbar point (3 with a dense int16 weight copy beside it) fit.
    """
    rows = cores_used * A
    row_ptr, row_neurons = empty_rows(n_cores * A, rows, k, N)
    dense = None
    if k >= N * CoreArrays.DENSE_MIN_DENSITY and n_cores * A * N * dense_cell_bytes <= CoreArrays.DENSE_MAX_BYTES:
        dense = np.zeros((n_cores * A, N), np.uint8)
    fill_random(n_per, k, rng, row_neurons, dense)
    return row_ptr, row_neurons, dense


NETWORKS = {"random_recurrent": random_recurrent, "random_recurrent_weighted": random_recurrent_weighted}
"""Registry: ``network.kind`` -> generator ``(chip, workload, seed, name) -> Network``."""

#: kinds whose synapses carry their own weight (``CoreArrays.row_weights``)
PER_SYNAPSE_KINDS = frozenset({"random_recurrent_weighted"})


def build_network(chip: ChipSpec, workload: WorkloadSpec, seed: int, name: str) -> Network:
    """Generate the workload's network for the chip; an unknown kind lists the valid ones.

    File kinds (``nir``, ``edgelist``) are read and mapped onto the chip instead
    (:func:`neuroemu.networks.presentation.build_mapped`).
    """
    check_device(chip, name)  # before building: a device the neuron model cannot use fails at once
    if workload.network.kind in FILE_KINDS:
        from neuroemu.networks.presentation import build_mapped
        net = build_mapped(chip, workload, seed, name)
    else:
        plan_network(chip, workload, name)
        net = NETWORKS[workload.network.kind](chip, workload, seed, name)
    model = NEURON_MODELS.get(chip.core.neuron_model)
    if model is not None and model.diffuser:  # Neurogrid: shared synapse types and the diffuser
        from neuroemu.networks.diffuser import diffuse
        net.diffuser_report = diffuse(net.arrays, workload.network.neuron, f"{name}: network")
    # NVM synapses: the weights the devices read, not the ones programmed (an ideal device: no change)
    net.device_report = program_weights(net.arrays, chip, seed, workload.time_after_programming_s, name)
    return net


def builds_alone(chip: ChipSpec, workload: WorkloadSpec) -> bool:
    """Whether some cores of this network can be built alone (:func:`build_network_part`): a
    generated network without NVM devices or a diffuser (both program or share synapses across
    the whole chip); on a system drawn by blocks (:func:`builds_by_block`), on a single chip from
    its whole-chip streams drawn in order and kept for those cores (networks/chippart.py)."""
    model = NEURON_MODELS.get(chip.core.neuron_model)
    return (workload.network.kind in NETWORKS and chip.synapse_device is None
            and not (model is not None and model.diffuser))


def builds_by_block(chip: ChipSpec, workload: WorkloadSpec) -> bool:
    """Whether this network is built alone by blocks of cores, each from streams of its own (a
    generated network on a system: networks/blocks.py), so a part draws only its own blocks."""
    return builds_alone(chip, workload) and block_cores(chip) is not None


def build_network_part(chip: ChipSpec, workload: WorkloadSpec, seed: int, name: str, c0: int, c1: int) -> Network:
    """The cores ``c0 .. c1 - 1`` (whole blocks on a system) of the network :func:`build_network`
    builds, built alone (an MPI rank's share): ``part`` holds their arrays and routes, ``arrays``
    the whole chip's shape alone (no routes: a rank binds only its own neurons'). Their state is
    bit for bit the whole network's (tests/test_blocks.py); a single chip's is drawn from its
    whole-chip streams in order (networks/chippart.py)."""
    if not builds_alone(chip, workload):
        raise ConfigError(f"{name}: network.kind: {workload.network.kind} on {chip.name} is built whole, not by parts")
    check_device(chip, name)
    plan_network(chip, workload, name)
    return _recurrent(chip, workload, seed, name, workload.network.kind in PER_SYNAPSE_KINDS, cores=(c0, c1))


def maps_by_part(chip: ChipSpec, workload: WorkloadSpec) -> bool:
    """Whether some cores of this file network can be built alone (:func:`build_mapped_part`): a
    mapped network (a presentation's too: each rank resets and reads out its own cores) without NVM
    devices or a diffuser (both program or share synapses across the chip)."""
    model = NEURON_MODELS.get(chip.core.neuron_model)
    return (workload.network.kind in FILE_KINDS and chip.synapse_device is None
            and not (model is not None and model.diffuser))


def build_mapped_part(chip: ChipSpec, workload: WorkloadSpec, seed: int, name: str, cores_of,
                      whole_routes: bool = False):
    """The file network mapped as :func:`build_network` maps it, with the arrays of the used cores
    ``cores_of(k)`` = (c0, c1) alone (k the cores the placement uses; an MPI rank's share): ``part``
    holds them, ``arrays`` the whole network's shape (and, ``whole_routes``, every route). The graph
    is read and placed whole (networks/compile.py, "Built by ranks")."""
    if not maps_by_part(chip, workload):
        raise ConfigError(f"{name}: network.kind: {workload.network.kind} on {chip.name} is built whole, not by part")
    check_device(chip, name)
    from neuroemu.networks.presentation import build_mapped
    return build_mapped(chip, workload, seed, name, cores_of=cores_of, whole_routes=whole_routes)


class PoissonInput:
    """Rate-coded input: each input axon spikes in a tick with probability 1 - exp(-rate * tick).

    On a single chip a chunk of ticks is one draw over every input axon; on a system each block
    of cores draws its own axons' chunk from its own stream (networks/blocks.py), so a rank can
    draw its own axons alone (:meth:`only`)."""

    CHUNK = 64

    def __init__(self, spec: InputSpec, index: int, chip: ChipSpec, network: Network, seed: int, name: str):
        cores = spec.cores or network.cores_used
        A = chip.core.axons
        self.axons = (np.arange(cores, dtype=np.int64)[:, None] * A
                      + np.arange(spec.axons_per_core, dtype=np.int64)[None, :]).ravel()
        self.p = float(-np.expm1(-spec.rate_hz * chip.timing.tick_s))
        self.start, self.stop = spec.start_tick, spec.stop_tick
        self.seed, self.stream = seed, STREAM_INPUT_BASE + index
        self.per_core = spec.axons_per_core
        self.block = block_cores(chip)
        #: (block, its input axons) in axon order, when drawn block by block
        self.block_axons = None if self.block is None else [
            (b, (min(cores, (b + 1) * self.block) - b * self.block) * spec.axons_per_core)
            for b in range(-(-cores // self.block))]

    def only(self, c0: int, c1: int) -> "PoissonInput | None":
        """This stream on the cores ``c0 .. c1 - 1`` (whole blocks) alone, drawing only their blocks'
        streams; None when the stream is one draw over the whole chip (a single chip)."""
        if self.block is None:
            return None
        if c0 % self.block:
            raise ValueError(f"PoissonInput.only: core {c0} does not start a block of {self.block} cores")
        mine = object.__new__(PoissonInput)
        mine.__dict__.update(self.__dict__)
        per_core, cores = self.per_core, len(self.axons) // max(1, self.per_core)
        mine.axons = self.axons[min(c0, cores) * per_core:min(c1, cores) * per_core]
        b0, b1 = c0 // self.block, -(-c1 // self.block)
        mine.block_axons = [(b, n) for b, n in self.block_axons if b0 <= b < b1]
        return mine

    def events(self, tick_lo: int, tick_hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Input spikes (ticks, global axons) in [tick_lo, tick_hi), tick_lo a multiple of CHUNK."""
        ticks, axons = [], []
        for chunk_lo in range(tick_lo, tick_hi, self.CHUNK):
            n = min(self.CHUNK, tick_hi - chunk_lo)
            if self.block_axons is None:
                rng = generator(self.seed, self.stream, chunk_lo // self.CHUNK)
                t, i = np.nonzero(rng.random((n, len(self.axons))) < self.p)
            else:
                t, i = input_hits(self.seed, self.stream, chunk_lo // self.CHUNK, n, self.p, self.block_axons)
            t = t + chunk_lo
            keep = (t >= self.start) & ((t < self.stop) if self.stop is not None else True)
            ticks.append(t[keep].astype(np.int64))
            axons.append(self.axons[i[keep]])
        if not ticks:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(ticks), np.concatenate(axons)


def build_inputs(chip: ChipSpec, workload: WorkloadSpec, network: Network, seed: int, name: str) -> list[PoissonInput]:
    """The workload's input streams (a mapped file network brings its own)."""
    if hasattr(network, "inputs"):
        return list(network.inputs)
    return [PoissonInput(spec, i, chip, network, seed, name) for i, spec in enumerate(workload.inputs)]
