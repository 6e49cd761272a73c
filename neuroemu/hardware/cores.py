"""Neurosynaptic cores as struct-of-arrays state, and ``Core`` views onto one core's slice.

Index conventions: global neuron ``g = core * neurons_per_core + j``; global axon
``a = core * axons_per_core + i``. The binary crossbar is stored row-wise (one
row per global axon) in CSR form: ``row_ptr[a]:row_ptr[a+1]`` indexes
``row_neurons``, the local neuron columns where w_ij = 1. No Python object
exists per neuron or per synapse.

Weights come in two forms. TrueNorth-style: a 0/1 crossbar plus one signed weight per neuron per
axon type (``weights``). Per synapse (Loihi's 1-9-bit weights, RRAM conductances, learned
weights): ``row_weights`` int16, parallel to ``row_neurons``; when present it is used instead of
``weights``, and a dense crossbar then has a dense int16 copy ``dense_weights`` beside it.

State beyond ``v`` depends on the neuron model (``neuron_model``, a name in
:data:`neuroemu.models.neuron.NEURON_MODELS`): the current-based LIF adds the current ``u`` and
the refractory countdown ``refractory_left``, and ``params`` is then a
:class:`neuroemu.models.loihi.CubaArrays` instead of a :class:`NeuronArrays`.

Routes. A TrueNorth neuron sends its spike to one axon (``target_axon``, after ``delay`` ticks).
A mapped network may send one neuron's spike to axons on several cores (Loihi's fan-out, one
packet per destination core): ``fanout_ptr`` [G + 1] then indexes ``fanout_axon`` and
``fanout_delay`` per neuron, and ``target_axon``/``delay`` are unused. :meth:`CoreArrays.routes`
gives both forms as one list of routes (source neuron, target axon, delay). ``chip_core`` maps
the arrays' cores to the chip's cores when the arrays hold only the cores a mapped network uses
(a small network on a big chip); ``None`` means core c is chip core c.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroemu.hardware.csr import row_positions
from neuroemu.models.loihi import CubaArrays
from neuroemu.models.neuron import NeuronArrays


@dataclass
class CoreArrays:
    """The state and wiring of all cores of a chip."""

    n_cores: int
    axons_per_core: int
    neurons_per_core: int
    v: np.ndarray            # int32 [G] membrane potentials
    weights: np.ndarray      # int16 [G, axon_types] signed weight per neuron per axon type
    params: NeuronArrays | CubaArrays  # per-neuron model parameters (the neuron_model's kind)
    axon_type: np.ndarray    # int8 [A]
    row_ptr: np.ndarray      # int64 [A + 1]
    row_neurons: np.ndarray  # uint8 or uint16 [synapses]: local neuron index of each synapse
    target_axon: np.ndarray  # int64 [G] global axon a neuron's spike goes to, -1 for none
    delay: np.ndarray        # int8 [G] axonal delay in ticks (1..max)
    dense: np.ndarray | None = None  # optional uint8 [A, neurons_per_core] 0/1 copy of the crossbar,
    #                                  kept when rows are dense: the C kernel then reads whole rows
    row_weights: np.ndarray | None = None    # int16 [synapses]: per-synapse weights, used instead of weights
    dense_weights: np.ndarray | None = None  # int16 [A, neurons_per_core]: dense copy of row_weights
    neuron_model: str = "truenorth_lif"      # the registry name of the model params/state belong to
    u: np.ndarray | None = None              # int32 [G] synaptic current (current-based models)
    refractory_left: np.ndarray | None = None  # int32 [G] timesteps still held after a spike
    fanout_ptr: np.ndarray | None = None     # int64 [G + 1]: a neuron's routes (multi-target fan-out)
    fanout_axon: np.ndarray | None = None    # int64 [routes]: global target axon of each route
    fanout_delay: np.ndarray | None = None   # int8 [routes]: delay of each route in ticks
    chip_core: np.ndarray | None = None      # int64 [n_cores]: the chip core each array core is

    DENSE_MIN_DENSITY = 1 / 8
    DENSE_MAX_BYTES = 1 << 29

    @property
    def n_neurons(self) -> int:
        """Neurons on all cores."""
        return self.n_cores * self.neurons_per_core

    @property
    def n_axons(self) -> int:
        """Axons on all cores."""
        return self.n_cores * self.axons_per_core

    @property
    def n_synapses(self) -> int:
        """Crossbar ones on all cores."""
        return int(self.row_ptr[-1])

    def row_lengths(self, axons: np.ndarray) -> np.ndarray:
        """Active synapses in each of the given axon rows."""
        return self.row_ptr[axons + 1] - self.row_ptr[axons]

    def core(self, index: int) -> "Core":
        """A view onto one core."""
        if not 0 <= index < self.n_cores:
            raise IndexError(f"core {index} out of range 0..{self.n_cores - 1}")
        return Core(self, index)

    def nbytes(self) -> int:
        """Memory held by the arrays."""
        arrays = [self.v, self.weights, self.axon_type, self.row_ptr, self.row_neurons,
                  self.target_axon, self.delay, self.dense, self.row_weights, self.dense_weights, self.u,
                  self.refractory_left, self.fanout_ptr, self.fanout_axon, self.fanout_delay,
                  self.chip_core] + [getattr(self.params, f) for f in self.params.__dataclass_fields__]
        return int(sum(a.nbytes for a in arrays if a is not None))

    def routes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every route as (source neuron, target axon, delay), int64 arrays.

        Single-target arrays have one route per neuron (target -1: the neuron sends nowhere), so
        route r is neuron r; fan-out arrays list each neuron's routes in neuron order.
        """
        if self.fanout_ptr is None:
            return (np.arange(self.n_neurons, dtype=np.int64), self.target_axon.astype(np.int64),
                    self.delay.astype(np.int64))
        src = np.repeat(np.arange(self.n_neurons, dtype=np.int64), np.diff(self.fanout_ptr))
        return src, self.fanout_axon.astype(np.int64), self.fanout_delay.astype(np.int64)

    def routes_of(self, fired: np.ndarray) -> np.ndarray:
        """The route indices of the neurons that fired, in order (each neuron's routes together)."""
        if self.fanout_ptr is None:
            return fired
        starts = self.fanout_ptr[fired]
        lengths = self.fanout_ptr[fired + 1] - starts
        return row_positions(starts, lengths)

    def route_counts(self, fired: np.ndarray) -> np.ndarray:
        """How many routes each fired neuron has (1 each for single-target arrays)."""
        if self.fanout_ptr is None:
            return np.ones(len(fired), np.int64)
        return self.fanout_ptr[fired + 1] - self.fanout_ptr[fired]

    def chip_cores(self, array_cores: np.ndarray) -> np.ndarray:
        """The chip core of each array core index (identity unless ``chip_core`` is set)."""
        return array_cores if self.chip_core is None else self.chip_core[array_cores]

    def synapse_axons(self) -> np.ndarray:
        """The global axon (row) of every synapse, int64 [synapses]."""
        return np.repeat(np.arange(self.n_axons, dtype=np.int64), np.diff(self.row_ptr))

    def synapse_neurons(self) -> np.ndarray:
        """The global neuron (column) of every synapse, int64 [synapses]."""
        core = self.synapse_axons() // self.axons_per_core
        return core * self.neurons_per_core + self.row_neurons.astype(np.int64)

    def type_weights(self) -> np.ndarray:
        """Each synapse's weight as the per-type form gives it: weights[neuron, type of its axon]."""
        axons = self.synapse_axons()
        return self.weights[self.synapse_neurons(), self.axon_type[axons].astype(np.int64)]

    def set_row_weights(self, row_weights: np.ndarray) -> None:
        """Switch to per-synapse weights (int16, one per synapse), keeping the dense copy in step.

        A dense crossbar gets a dense int16 copy of the weights; when that copy would be too big
        the dense crossbar is dropped instead (the CSR kernel then runs).
        """
        row_weights = np.ascontiguousarray(row_weights, np.int16)
        if row_weights.shape != self.row_neurons.shape:
            raise ValueError(f"row_weights needs one weight per synapse ({len(self.row_neurons)}), "
                             f"got shape {row_weights.shape}")
        self.row_weights = row_weights
        self.dense_weights = None
        if self.dense is not None:
            if 3 * self.dense.size > self.DENSE_MAX_BYTES:
                self.dense = None
            else:
                self.dense_weights = np.zeros(self.dense.shape, np.int16)
                self.dense_weights[self.synapse_axons(), self.row_neurons] = row_weights

    def materialize_row_weights(self) -> np.ndarray:
        """The per-synapse weights, created from the per-type ones if the chip has none yet.

        Learning rules change synapses one by one, so they need this form; the spikes do not
        change (each synapse keeps the weight its neuron and axon type gave it).
        """
        if self.row_weights is None:
            self.set_row_weights(self.type_weights())
        return self.row_weights


class Core:
    """One core, seen through the chip's arrays (for inspection and the API, never the hot path)."""

    def __init__(self, arrays: CoreArrays, index: int):
        self._a = arrays
        self.index = index

    @property
    def neuron_slice(self) -> slice:
        """This core's range of global neuron indices."""
        n = self._a.neurons_per_core
        return slice(self.index * n, (self.index + 1) * n)

    @property
    def axon_slice(self) -> slice:
        """This core's range of global axon indices."""
        n = self._a.axons_per_core
        return slice(self.index * n, (self.index + 1) * n)

    @property
    def potentials(self) -> np.ndarray:
        """Membrane potentials (a view: writes change the chip)."""
        return self._a.v[self.neuron_slice]

    @property
    def weights(self) -> np.ndarray:
        """Weights [neurons, axon types] (a view; unused when the chip has per-synapse weights)."""
        return self._a.weights[self.neuron_slice]

    def weight_matrix(self) -> np.ndarray:
        """The effective signed weight of every crossbar point as a dense int32 [axons, neurons] copy."""
        a = self._a
        first = self.index * a.axons_per_core
        lo, hi = int(a.row_ptr[first]), int(a.row_ptr[first + a.axons_per_core])
        rows = np.repeat(np.arange(a.axons_per_core), np.diff(a.row_ptr[first:first + a.axons_per_core + 1]))
        cols = a.row_neurons[lo:hi].astype(np.int64)
        if a.row_weights is not None:
            w = a.row_weights[lo:hi]
        else:
            w = a.weights[self.index * a.neurons_per_core + cols, a.axon_type[first + rows].astype(np.int64)]
        out = np.zeros((a.axons_per_core, a.neurons_per_core), np.int32)
        out[rows, cols] = w
        return out

    @property
    def axon_types(self) -> np.ndarray:
        """Type of each axon (a view)."""
        return self._a.axon_type[self.axon_slice]

    def crossbar(self) -> np.ndarray:
        """The binary crossbar as a dense bool [axons, neurons] copy."""
        a = self._a
        dense = np.zeros((a.axons_per_core, a.neurons_per_core), dtype=bool)
        first = self.index * a.axons_per_core
        for i in range(a.axons_per_core):
            lo, hi = a.row_ptr[first + i], a.row_ptr[first + i + 1]
            dense[i, a.row_neurons[lo:hi]] = True
        return dense

    def __repr__(self) -> str:
        return f"Core({self.index}, axons={self._a.axons_per_core}, neurons={self._a.neurons_per_core})"


def _gather(arrays: CoreArrays, active_axons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index (into row_neurons), global neuron and row length of the synapses in the active rows."""
    active_axons = np.asarray(active_axons, np.int64)
    starts = arrays.row_ptr[active_axons]
    lengths = arrays.row_ptr[active_axons + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), lengths
    # index of each synapse in row_neurons: the row start plus the position inside the row
    idx = row_positions(starts, lengths)
    core = active_axons // arrays.axons_per_core
    neuron = np.repeat(core * arrays.neurons_per_core, lengths) + arrays.row_neurons[idx]
    return idx, neuron, lengths


def gather_synapse_index(arrays: CoreArrays, active_axons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index (into row_neurons) and global neuron of every synapse in the active rows (vectorised)."""
    idx, neuron, _ = _gather(arrays, active_axons)
    return idx, neuron


def gather_synapses(arrays: CoreArrays, active_axons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global neuron index and axon type of every synapse in the active rows (vectorised)."""
    idx, neuron, lengths = _gather(arrays, active_axons)
    if len(idx) == 0:
        return neuron, idx
    types = np.repeat(arrays.axon_type[np.asarray(active_axons, np.int64)].astype(np.int64), lengths)
    return neuron, types


def synaptic_input(arrays: CoreArrays, active_axons: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Summed input per neuron from the active axons; also which neurons got any, and the SOP count.

    Each synapse contributes its per-synapse weight when the chip has them, else the weight of its
    neuron for its axon's type.
    """
    n = arrays.n_neurons
    if arrays.row_weights is not None:
        idx, neuron = gather_synapse_index(arrays, active_axons)
        if len(idx) == 0:
            return np.zeros(n, np.int64), np.zeros(n, bool), 0
        w = arrays.row_weights[idx].astype(np.float64)
    else:
        neuron, types = gather_synapses(arrays, active_axons)
        if len(neuron) == 0:
            return np.zeros(n, np.int64), np.zeros(n, bool), 0
        w = arrays.weights[neuron, types].astype(np.float64)
    # bincount sums in float64: exact for these integer sums (|sum| < 2**53)
    syn = np.bincount(neuron, weights=w, minlength=n).astype(np.int64)
    touched = np.bincount(neuron, minlength=n) > 0
    return syn, touched, len(neuron)
