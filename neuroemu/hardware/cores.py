"""Neurosynaptic cores as struct-of-arrays state, and ``Core`` views onto one core's slice.

Index conventions: global neuron ``g = core * neurons_per_core + j``; global axon
``a = core * axons_per_core + i``. The binary crossbar is stored row-wise (one
row per global axon) in CSR form: ``row_ptr[a]:row_ptr[a+1]`` indexes
``row_neurons``, the local neuron columns where w_ij = 1. No Python object
exists per neuron or per synapse.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.neuron import NeuronArrays


@dataclass
class CoreArrays:
    """The state and wiring of all cores of a chip."""

    n_cores: int
    axons_per_core: int
    neurons_per_core: int
    v: np.ndarray            # int32 [G] membrane potentials
    weights: np.ndarray      # int16 [G, axon_types] signed weight per neuron per axon type
    params: NeuronArrays     # per-neuron model parameters
    axon_type: np.ndarray    # int8 [A]
    row_ptr: np.ndarray      # int64 [A + 1]
    row_neurons: np.ndarray  # uint8 or uint16 [synapses]: local neuron index of each synapse
    target_axon: np.ndarray  # int64 [G] global axon a neuron's spike goes to, -1 for none
    delay: np.ndarray        # int8 [G] axonal delay in ticks (1..max)
    dense: np.ndarray | None = None  # optional uint8 [A, neurons_per_core] 0/1 copy of the crossbar,
    #                                  kept when rows are dense: the C kernel then reads whole rows

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
                  self.target_axon, self.delay] + ([self.dense] if self.dense is not None else []) + [getattr(self.params, f) for f in self.params.__dataclass_fields__]
        return int(sum(a.nbytes for a in arrays))


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
        """Weights [neurons, axon types] (a view)."""
        return self._a.weights[self.neuron_slice]

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


def gather_synapses(arrays: CoreArrays, active_axons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global neuron index and axon type of every synapse in the active rows (vectorised)."""
    starts = arrays.row_ptr[active_axons]
    lengths = arrays.row_ptr[active_axons + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # index of each synapse in row_neurons: the row start plus the position inside the row
    offsets = np.cumsum(lengths) - lengths
    idx = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, lengths)
    core = active_axons // arrays.axons_per_core
    neuron = np.repeat(core * arrays.neurons_per_core, lengths) + arrays.row_neurons[idx]
    types = np.repeat(arrays.axon_type[active_axons].astype(np.int64), lengths)
    return neuron, types


def synaptic_input(arrays: CoreArrays, active_axons: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Summed input per neuron from the active axons; also which neurons got any, and the SOP count."""
    neuron, types = gather_synapses(arrays, active_axons)
    n = arrays.n_neurons
    if len(neuron) == 0:
        return np.zeros(n, np.int64), np.zeros(n, bool), 0
    w = arrays.weights[neuron, types].astype(np.float64)
    # bincount sums in float64: exact for these integer sums (|sum| < 2**53)
    syn = np.bincount(neuron, weights=w, minlength=n).astype(np.int64)
    touched = np.bincount(neuron, minlength=n) > 0
    return syn, touched, len(neuron)
