"""One tick of every core, in bulk: synaptic integration, then the neuron update.

Two interchangeable implementations (tests check they agree bit for bit, and both
agree with the SimPy reference):

- ``c``: fused C kernels (hardware/tick.c through cffi): one pass over the active
  axon rows, one pass over the neurons with the random bits drawn inline;
- ``numpy``: the vectorised numpy twins in :mod:`neuroemu.hardware.cores` and
  :mod:`neuroemu.models.neuron`.

``NEUROEMU_TICK=numpy`` (or ``tick=`` in simulate) picks the numpy one.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import NeuroEmuError
from ..models.neuron import membrane_range, truenorth_step
from ..models.rng import threshold_key
from .cores import CoreArrays, synaptic_input

try:  # built by `pip install -e .`
    from . import _tick
except ImportError:  # pragma: no cover - reported when asked for
    _tick = None

TICK_BACKENDS = ("c", "numpy")


def choose_tick_backend(name: str | None = None) -> str:
    """The tick implementation to use: ``name``, else $NEUROEMU_TICK, else "c"."""
    name = name or os.environ.get("NEUROEMU_TICK", "c")
    if name not in TICK_BACKENDS:
        raise NeuroEmuError(f"NEUROEMU_TICK: unknown tick backend {name!r}; valid: {', '.join(TICK_BACKENDS)}")
    if name == "c" and _tick is None:
        raise NeuroEmuError("the C tick kernels are not built; run `pip install -e .` (or make run) first")
    return name


def parameter_profiles(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct parameter rows (int64 [profiles, columns]) and each neuron's row index (int32)."""
    n = len(columns[0])
    codes = np.zeros(n, np.int64)
    radix = 1
    values = []
    for col in columns:
        # each column's distinct values get small codes; the codes combine in mixed radix
        uniq, inverse = np.unique(col, return_inverse=True)
        values.append(uniq)
        if radix * len(uniq) >= 1 << 62:
            rows = np.stack(columns).astype(np.int64).T
            table, profile = np.unique(rows, axis=0, return_inverse=True)
            return table, np.ascontiguousarray(profile.ravel(), np.int32)
        codes += inverse.ravel().astype(np.int64) * radix
        radix *= len(uniq)
    keys, profile = np.unique(codes, return_inverse=True)
    table = np.empty((len(keys), len(columns)), np.int64)
    rest = keys.copy()
    for i, uniq in enumerate(values):
        table[:, i] = uniq[rest % len(uniq)]
        rest //= len(uniq)
    return table, np.ascontiguousarray(profile.ravel(), np.int32)


class TickStepper:
    """Advances a chip's core arrays one tick at a time; returns what happened."""

    def __init__(self, arrays: CoreArrays, enabled: np.ndarray, membrane_bits: int, key: int,
                 backend: str | None = None):
        self.arrays = arrays
        self.enabled = enabled
        self.membrane_bits = membrane_bits
        self.key = key
        self.backend = choose_tick_backend(backend)
        if self.backend == "c":
            self._prepare_c()

    def _prepare_c(self) -> None:
        a, p = self.arrays, self.arrays.params
        ffi = _tick.ffi
        n = a.n_neurons
        # the input can go straight into v when no sum can overflow int32 before saturation,
        # which saves a pass over an accumulator array every tick
        max_input = a.axons_per_core * int(np.abs(a.weights).max(initial=0))
        self._direct = (1 << (self.membrane_bits - 1)) + max_input < (1 << 31) - 1
        self._acc = a.v if self._direct else np.zeros(n, np.int32)
        self._touched = np.zeros(n, np.uint8)
        self._seen = np.zeros(a.n_axons, np.uint8)
        self._fired = np.empty(n, np.int64)
        # weights as [core][axon type][neuron]: one axon row reads one contiguous run
        self._weights_ctn = np.ascontiguousarray(
            a.weights.reshape(a.n_cores, a.neurons_per_core, -1).transpose(0, 2, 1), np.int16)
        self._n_types = a.weights.shape[1]
        # neurons share parameter profiles (as cores do in silicon): per neuron only an index
        columns = [p.leak, p.leak_stochastic, p.threshold, p.threshold_mask, p.reset_mode, p.reset_value,
                   p.floor, self.enabled]
        table, profile = parameter_profiles(columns)
        self._profile = profile
        self._table = {
            "leak": np.ascontiguousarray(table[:, 0], np.int32),
            "leak_st": np.ascontiguousarray(table[:, 1], np.uint8),
            "theta": np.ascontiguousarray(table[:, 2], np.int32),
            "mask": np.ascontiguousarray(table[:, 3], np.int32),
            "reset": np.ascontiguousarray(table[:, 4], np.int8),
            "reset_v": np.ascontiguousarray(table[:, 5], np.int32),
            "floor": np.ascontiguousarray(table[:, 6], np.int32),
            "enabled": np.ascontiguousarray(table[:, 7], np.uint8),
        }
        ctype = {np.dtype(np.int32): "int32_t *", np.dtype(np.uint8): "uint8_t *",
                 np.dtype(np.int8): "int8_t *", np.dtype(np.int64): "int64_t *",
                 np.dtype(np.int16): "int16_t *"}

        def ptr(arr: np.ndarray):
            if not arr.flags.c_contiguous:
                raise NeuroEmuError("internal: core arrays must be contiguous")
            return ffi.cast(ctype.get(arr.dtype, "void *"), ffi.from_buffer(arr))

        self._ptr = {name: ptr(arr) for name, arr in self._table.items()}
        self._ptr.update(v=ptr(a.v), acc=ptr(self._acc), touched=ptr(self._touched), seen=ptr(self._seen), profile=ptr(self._profile),
                         fired=ptr(self._fired), row_ptr=ptr(a.row_ptr),
                         row_neurons=ffi.cast("void *", ffi.from_buffer(a.row_neurons)),
                         axon_type=ptr(a.axon_type), weights=ptr(self._weights_ctn))
        self._neuron_bytes = a.row_neurons.dtype.itemsize
        self._dense = a.dense is not None
        if self._dense:
            self._row_length = np.diff(a.row_ptr)
            self._ptr.update(dense=ptr(a.dense), row_length=ptr(self._row_length))
        self._vmin, self._vmax = membrane_range(self.membrane_bits)
        self._threshold_key = threshold_key(self.key)

    def step(self, tick: int, spiking_axons: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Deliver this tick's axon spikes (global ids, repeats allowed) and update every neuron.

        An axon hit twice in one tick activates once (a TrueNorth axon buffer holds one bit per
        tick). Returns (fired global neuron ids, SOPs, active neuron updates).
        """
        if self.backend == "c":
            return self._step_c(tick, spiking_axons)
        a = self.arrays
        syn, touched, sops = synaptic_input(a, np.unique(spiking_axons))
        fired = truenorth_step(a.v, syn, a.params, tick=tick, key=self.key, membrane_bits=self.membrane_bits)
        n_active = int(np.count_nonzero(touched & self.enabled)) if sops else 0
        if len(fired):
            was = touched[fired] if sops else np.zeros(len(fired), bool)
            n_active += int(np.count_nonzero(~was & self.enabled[fired]))
        return fired, sops, n_active

    def _step_c(self, tick: int, spiking_axons: np.ndarray) -> tuple[np.ndarray, int, int]:
        lib, ffi, p, a = _tick.lib, _tick.ffi, self._ptr, self.arrays
        # sorted rows visit each core's accumulators once, which halves the cache misses
        active = np.sort(np.asarray(spiking_axons, np.int64))
        active_ptr = ffi.cast("int64_t *", ffi.from_buffer(active))
        if self._dense:
            sops = lib.ne_integrate_dense(active_ptr, len(active), p["dense"], p["row_length"], p["axon_type"],
                                          p["weights"], self._n_types, a.axons_per_core, a.neurons_per_core,
                                          p["acc"], p["touched"], p["seen"])
        else:
            sops = lib.ne_integrate(active_ptr, len(active), p["row_ptr"], p["row_neurons"], self._neuron_bytes,
                                    p["axon_type"], p["weights"], self._n_types, a.axons_per_core,
                                    a.neurons_per_core, p["acc"], p["touched"], p["seen"])
        n_active = ffi.new("int64_t *")
        n_fired = lib.ne_truenorth_step(a.n_neurons, p["v"], ffi.NULL if self._direct else p["acc"], p["touched"], p["profile"],
                                        len(self._table["leak"]), p["leak"], p["leak_st"], p["theta"], p["mask"],
                                        p["reset"], p["reset_v"], p["floor"], p["enabled"], self.key,
                                        self._threshold_key, tick, self._vmin, self._vmax, p["fired"], n_active)
        if sops < 0 or n_fired < 0:
            raise NeuroEmuError("internal: tick kernel rejected its arguments")
        return self._fired[:n_fired].copy(), int(sops), int(n_active[0])
