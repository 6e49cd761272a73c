"""One tick of every core, in bulk: synaptic integration, then the neuron update.

Two interchangeable implementations (tests check they agree bit for bit, and both
agree with the SimPy reference):

- ``c``: fused C kernels (hardware/tick.c through cffi): one pass over the active
  axon rows, one pass over the neurons with the random bits drawn inline;
- ``numpy``: the vectorised numpy twins in :mod:`neuroemu.hardware.cores`,
  :mod:`neuroemu.models.neuron` and :mod:`neuroemu.models.loihi`.

The neuron update is the kernel family of the arrays' ``neuron_model`` (the registry in
:mod:`neuroemu.models.neuron`): "truenorth" or "cuba". The synaptic integration reads per-type
weights, or per-synapse weights when the arrays have them (``row_weights``); a learning rule may
switch the arrays to per-synapse weights after the stepper was built, which it notices.

Current-based arrays with several synaptic currents or a voltage floor (``params.du_syn`` or
``params.v_min`` set) run the separate multi-current kernels (:func:`neuroemu.models.loihi.cuba_step_multi`
and ``ne_integrate_w_typed`` / ``ne_cuba_step_multi``); the one-current kernels are untouched.

``NEUROEMU_TICK=numpy`` (or ``tick=`` in simulate) picks the numpy one.
"""
from __future__ import annotations


import numpy as np

from neuroemu.errors import NeuroEmuError
from neuroemu.backends import choose_backend
from neuroemu.models.loihi import cuba_range, cuba_step, cuba_step_multi, n_currents
from neuroemu.models.neuron import membrane_range, neuron_model, truenorth_step
from neuroemu.models.rng import threshold_key
from neuroemu.hardware.cores import CoreArrays, gather_synapse_index, synaptic_input
from neuroemu.hardware.devices import NORMAL_TABLE_BITS, AdcSpec, ReadNoise, adc_quantise, normal_table
from neuroemu.hardware.fused import FusedTrueNorth, check_threads, pack_rows

try:  # built by `pip install -e .`
    from neuroemu.hardware import _tick
except ImportError:  # pragma: no cover - reported when asked for
    _tick = None

TICK_BACKENDS = ("c", "numpy")


def choose_tick_backend(name: str | None = None) -> str:
    """The tick implementation to use: ``name``, else $NEUROEMU_TICK, else "c"."""
    return choose_backend(name, "NEUROEMU_TICK", TICK_BACKENDS, _tick is not None, "tick kernels", "numpy")



def parameter_profiles(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct parameter rows (int64 [profiles, columns]) and each neuron's row index (int32)."""
    n = len(columns[0])
    codes = np.zeros(n, np.int64)
    radix = 1
    values = []
    for col in columns:
        # each column's distinct values get small codes; the codes combine in mixed radix
        if len(col) and col.min() == col.max():  # one value (most columns on a uniform chip): no sort
            uniq, inverse = np.asarray(col[:1]), np.zeros(len(col), np.int64)
        else:
            uniq, inverse = np.unique(col, return_inverse=True)
        values.append(uniq)
        if radix * len(uniq) >= 1 << 62:
            rows = np.stack(columns).astype(np.int64).T
            table, profile = np.unique(rows, axis=0, return_inverse=True)
            return table, np.ascontiguousarray(profile.ravel(), np.int32)
        codes += inverse.ravel().astype(np.int64) * radix
        radix *= len(uniq)
    if radix == 1 and n:  # every column is one value: one profile
        keys, profile = np.zeros(1, np.int64), np.zeros(n, np.int64)
    else:
        keys, profile = np.unique(codes, return_inverse=True)
    table = np.empty((len(keys), len(columns)), np.int64)
    rest = keys.copy()
    for i, uniq in enumerate(values):
        table[:, i] = uniq[rest % len(uniq)]
        rest //= len(uniq)
    return table, np.ascontiguousarray(profile.ravel(), np.int32)


class TickStepper:
    """Advances a chip's core arrays one tick at a time; returns what happened.

    With ``core_counts`` every step also leaves each core's share of the tick's work in
    ``core_sops`` and ``core_active`` (int64 per core: SOPs, active neuron updates), counted by the
    kernels as they go, so a timing policy prices every core's work in O(cores) per tick.
    ``adc`` (set by the run for NVM synapses, :func:`neuroemu.hardware.devices.adc_for`): a column
    ADC that quantises every tick's column sums before the neuron update (both backends).
    ``threads``: the fused TrueNorth kernel (:mod:`neuroemu.hardware.fused`) splits the cores
    over that many threads; the record is the same for any number.
    """

    adc: AdcSpec | None = None
    #: NVM read noise (:class:`neuroemu.hardware.devices.ReadNoise`): both kernels, the same draws
    read_noise: ReadNoise | None = None
    _noise_ready: ReadNoise | None = None

    def __init__(self, arrays: CoreArrays, enabled: np.ndarray, membrane_bits: int, key: int,
                 backend: str | None = None, core_counts: bool = False, neuron_offset: int = 0, threads: int = 1):
        self.arrays = arrays
        # the global id of the arrays' first neuron (an MPI rank's block of cores): random bits are
        # keyed on global ids, so a rank draws what the whole chip's run draws for its neurons
        if neuron_offset % 8:
            raise NeuroEmuError(f"internal: neuron_offset {neuron_offset} must be a multiple of 8")
        self.neuron_offset = neuron_offset
        self.threads = check_threads(threads)
        self._fused: FusedTrueNorth | None = None
        self.enabled = enabled
        self.membrane_bits = membrane_bits
        self.key = key
        self.kernel = neuron_model(arrays.neuron_model).kernel
        self.backend = choose_tick_backend(backend)
        self.core_counts = core_counts
        self.core_sops = np.zeros(arrays.n_cores, np.int64) if core_counts else None
        self.core_active = np.zeros(arrays.n_cores, np.int64) if core_counts else None
        if self.kernel == "cuba" and (arrays.u is None or arrays.refractory_left is None):
            raise NeuroEmuError(f"internal: model {arrays.neuron_model!r} needs the arrays' u and refractory_left")
        p = arrays.params
        self.multi = self.kernel == "cuba" and (p.du_syn is not None or p.v_min is not None)
        self.n_types = n_currents(p) if self.kernel == "cuba" else 1
        if self.multi and (len(arrays.u) != self.n_types * arrays.n_neurons or
                           (self.n_types > 1 and arrays.row_weights is None)):
            raise NeuroEmuError("internal: several currents need u [types x neurons] and per-synapse weights")
        if self.backend == "c":
            self._prepare_c()

    def _prepare_c(self) -> None:
        a = self.arrays
        n = a.n_neurons
        self._touched = np.zeros(n, np.uint8)
        self._seen = np.zeros(a.n_axons, np.uint8)
        self._fired = np.empty(n, np.int64)
        self._ptr = {}
        if self.kernel == "truenorth":
            self._prepare_truenorth()
        elif self.multi:
            self._prepare_cuba_multi()
        else:
            self._prepare_cuba()
        self._prepare_synapses()
        null = _tick.ffi.NULL
        self._ptr.update(core_sops=self._c_ptr(self.core_sops) if self.core_counts else null,
                         core_active=self._c_ptr(self.core_active) if self.core_counts else null)
        self._ptr.update(touched=self._c_ptr(self._touched), seen=self._c_ptr(self._seen),
                         fired=self._c_ptr(self._fired), acc=self._c_ptr(self._acc),
                         profile=self._c_ptr(self._profile))
        self._ptr.update({name: self._c_ptr(arr) for name, arr in self._table.items()})
        self._n_active_out = _tick.ffi.new("int64_t *")
        self._hi = self._live_end()
        self._bind_fused()

    def _bind_fused(self) -> None:
        """The fused TrueNorth kernel when it applies: per-type weights, no ADC or read noise, and
        a crossbar without repeated columns. Checked again when the weights change form."""
        self._fused = None
        if (self.kernel != "truenorth" or self._per_synapse or self.adc is not None
                or self.read_noise is not None):
            return
        bits = pack_rows(self.arrays) if getattr(self, "_bits", None) is None else self._bits
        self._bits = bits
        if bits is not None:
            self._fused = FusedTrueNorth(self.arrays, self._weights_ctn, bits, self._table, self._profile, self._hi,
                                         self._leak_key, self._threshold_key, self._vmin, self._vmax, self.threads)

    def _live_end(self) -> int:
        """The neurons [0, end) the neuron kernel must visit: up to the last core that has a
        synapse or a neuron off rest. A neuron at rest (v, u, refractory count 0) with no bias or
        leak, a threshold above 0 and no synapse into its core stays at rest and never fires or
        counts as active, so a network on part of a chip (loihi_small: 64 of Loihi's 128 cores)
        updates only the cores up to its last. Fixed when the stepper is built: resets back to
        rest keep it valid, and learning changes weights, never which neurons have synapses."""
        a, p = self.arrays, self.arrays.params
        C, N, A = a.n_cores, a.neurons_per_core, a.axons_per_core
        if self.multi:  # several currents or a floor: the multi-current kernel visits every neuron
            return a.n_neurons
        if self.kernel == "truenorth":
            live = (a.v != 0) | (p.leak != 0) | (p.threshold <= 0) | (p.floor < 0)
        else:
            live = ((a.v != 0) | (a.u != 0) | (a.refractory_left != 0) | (p.bias != 0)
                    | (p.threshold < 0))
        core_live = live.reshape(C, N).any(axis=1)
        core_live |= a.row_ptr[A::A] > a.row_ptr[:-1:A]  # the core's axons have synapses
        cores = np.flatnonzero(core_live)
        return (int(cores[-1]) + 1) * N if len(cores) else 0

    @staticmethod
    def _c_ptr(arr: np.ndarray):
        ffi = _tick.ffi
        ctype = {np.dtype(np.int32): "int32_t *", np.dtype(np.uint8): "uint8_t *",
                 np.dtype(np.int8): "int8_t *", np.dtype(np.int64): "int64_t *",
                 np.dtype(np.int16): "int16_t *"}
        if not arr.flags.c_contiguous:
            raise NeuroEmuError("internal: core arrays must be contiguous")
        return ffi.cast(ctype.get(arr.dtype, "void *"), ffi.from_buffer(arr))

    def _prepare_synapses(self) -> None:
        """Pointers to the crossbar and weights; redone when the arrays switch weight form."""
        a, ffi = self.arrays, _tick.ffi
        self._synapse_form = (a.row_weights, a.dense, a.dense_weights)
        self._per_synapse = a.row_weights is not None
        self._ptr.update(row_ptr=self._c_ptr(a.row_ptr),
                         row_neurons=ffi.cast("void *", ffi.from_buffer(a.row_neurons)),
                         axon_type=self._c_ptr(a.axon_type))
        if self._per_synapse:
            self._ptr["row_weights"] = self._c_ptr(a.row_weights)
        else:
            # weights as [core][axon type][neuron]: one axon row reads one contiguous run
            self._weights_ctn = np.ascontiguousarray(
                a.weights.reshape(a.n_cores, a.neurons_per_core, -1).transpose(0, 2, 1), np.int16)
            self._n_types = a.weights.shape[1]
            self._ptr["weights"] = self._c_ptr(self._weights_ctn)
        self._neuron_bytes = a.row_neurons.dtype.itemsize
        self._ids_fit_int32 = a.n_axons < 2 ** 31
        self._dense = a.dense is not None and (not self._per_synapse or a.dense_weights is not None)
        if self._dense:
            self._row_length = np.diff(a.row_ptr)
            self._ptr.update(dense=self._c_ptr(a.dense), row_length=self._c_ptr(self._row_length))
            if self._per_synapse:
                self._ptr["dense_weights"] = self._c_ptr(a.dense_weights)

    def _prepare_truenorth(self) -> None:
        a, p = self.arrays, self.arrays.params
        # the input can go straight into v when no sum can overflow int32 before saturation,
        # which saves a pass over an accumulator array every tick; per-synapse weights (which
        # learning may change) are bounded by their int16 range
        wmax = 1 << 15 if a.row_weights is not None else int(np.abs(a.weights).max(initial=0))
        self._direct = (1 << (self.membrane_bits - 1)) + a.axons_per_core * wmax < (1 << 31) - 1
        self._acc = a.v if self._direct else np.zeros(a.n_neurons, np.int32)
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
        self._ptr["v"] = self._c_ptr(a.v)
        self._vmin, self._vmax = membrane_range(self.membrane_bits)
        # word g // 8 of the leak stream and bit set g of the threshold stream are keyed additively
        self._leak_key = (self.key + (self.neuron_offset >> 3)) & ((1 << 64) - 1)
        self._threshold_key = (threshold_key(self.key) + self.neuron_offset) & ((1 << 64) - 1)

    def _prepare_cuba(self) -> None:
        a, p = self.arrays, self.arrays.params
        # the current decays before the input is added, so the input needs its own accumulator
        self._acc = np.zeros(a.n_neurons, np.int32)
        self._direct = False
        table, profile = parameter_profiles([p.du, p.dv, p.bias, p.threshold, p.refractory, self.enabled])
        self._profile = profile
        names = ("du", "dv", "bias", "cuba_threshold", "refractory")
        self._table = {name: np.ascontiguousarray(table[:, i], np.int32) for i, name in enumerate(names)}
        self._table["enabled"] = np.ascontiguousarray(table[:, 5], np.uint8)
        self._ptr.update(v=self._c_ptr(a.v), u=self._c_ptr(a.u), refractory_left=self._c_ptr(a.refractory_left))
        self._lim = cuba_range(self.membrane_bits)[1]

    def _prepare_cuba_multi(self) -> None:
        a, p = self.arrays, self.arrays.params
        T, n = self.n_types, a.n_neurons
        self._acc = np.zeros(T * n, np.int32)  # one plane per current type
        self._direct = False
        du = p.du_syn if p.du_syn is not None else p.du[None, :]
        lim = cuba_range(self.membrane_bits)[1]
        v_min = p.v_min if p.v_min is not None else np.full(n, -lim, np.int32)
        columns = [*du, p.dv, p.bias, p.threshold, p.refractory, v_min, self.enabled]
        table, profile = parameter_profiles(columns)
        self._profile = profile
        self._table = {"du": np.ascontiguousarray(table[:, :T].ravel(), np.int32)}  # [profiles][types]
        for i, name in enumerate(("dv", "bias", "cuba_threshold", "refractory", "vmin")):
            self._table[name] = np.ascontiguousarray(table[:, T + i], np.int32)
        self._table["enabled"] = np.ascontiguousarray(table[:, T + 5], np.uint8)
        self._n_profiles = len(table)
        self._ptr.update(v=self._c_ptr(a.v), u=self._c_ptr(a.u), refractory_left=self._c_ptr(a.refractory_left))
        self._lim = lim

    def _typed_input(self, axons: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """numpy: the summed input of every current type [T * n] (type-major), touched, SOPs."""
        a, T = self.arrays, self.n_types
        if T == 1:
            return synaptic_input(a, axons)
        n = a.n_neurons
        idx, neuron = gather_synapse_index(a, axons)
        if not len(idx):
            return np.zeros(T * n, np.int64), np.zeros(n, bool), 0
        lengths = a.row_ptr[axons + 1] - a.row_ptr[axons]
        types = np.repeat(a.axon_type[axons].astype(np.int64), lengths)
        syn = np.bincount(types * n + neuron, weights=a.row_weights[idx].astype(np.float64), minlength=T * n)
        return syn.astype(np.int64), np.bincount(neuron, minlength=n) > 0, len(idx)

    def step(self, tick: int, spiking_axons: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Deliver this tick's axon spikes (global ids, repeats allowed) and update every neuron.

        An axon hit twice in one tick activates once (a TrueNorth axon buffer holds one bit per
        tick). Returns (fired global neuron ids, SOPs, active neuron updates).
        """
        if self.backend == "c":
            return self._step_c(tick, spiking_axons)
        a = self.arrays
        if self.multi:
            rows = np.unique(np.asarray(spiking_axons, np.int64))
            if self.read_noise is not None:
                syn, touched, sops = self.read_noise.input(a, rows, self.n_types)
            else:
                syn, touched, sops = self._typed_input(rows)
            if self.adc is not None:
                syn = adc_quantise(syn, self.adc)
            fired = cuba_step_multi(a.v, a.u, a.refractory_left, syn, a.params, membrane_bits=self.membrane_bits)
        else:
            if self.read_noise is not None:
                syn, touched, sops = self.read_noise.input(a, np.unique(np.asarray(spiking_axons, np.int64)))
            else:
                syn, touched, sops = synaptic_input(a, np.unique(spiking_axons))
            if self.adc is not None:
                syn = adc_quantise(syn, self.adc)
            if self.kernel == "truenorth":
                fired = truenorth_step(a.v, syn, a.params, tick=tick, key=self.key, membrane_bits=self.membrane_bits,
                                       offset=self.neuron_offset)
            else:
                fired = cuba_step(a.v, a.u, a.refractory_left, syn, a.params, membrane_bits=self.membrane_bits)
        if self.core_counts:
            self._count_cores_numpy(spiking_axons, touched, fired)
        return fired, sops, self._count_active(touched, fired, sops)

    def _count_active(self, touched: np.ndarray, fired: np.ndarray, sops: int) -> int:
        """Enabled neurons that integrated input or fired."""
        n_active = int(np.count_nonzero(touched & self.enabled)) if sops else 0
        if len(fired):
            was = touched[fired] if sops else np.zeros(len(fired), bool)
            n_active += int(np.count_nonzero(~was & self.enabled[fired]))
        return n_active

    def _count_cores_numpy(self, spiking_axons: np.ndarray, touched: np.ndarray, fired: np.ndarray) -> None:
        """Each core's SOPs and active updates, the numpy twin of the kernels' per-core counts."""
        a = self.arrays
        axons = np.unique(spiking_axons).astype(np.int64)
        lengths = a.row_ptr[axons + 1] - a.row_ptr[axons]
        self.core_sops[:] = np.bincount(axons // a.axons_per_core, weights=lengths, minlength=a.n_cores)
        active = touched & self.enabled
        active[fired] |= self.enabled[fired]
        self.core_active[:] = active.reshape(a.n_cores, -1).sum(axis=1)

    def _integrate_c(self, active_ptr, n: int) -> int:
        lib, p, a = _tick.lib, self._ptr, self.arrays
        if self.read_noise is not None:
            return self._integrate_noisy_c(active_ptr, n)
        if self._per_synapse:
            if self._dense:
                return lib.ne_integrate_dense_w(active_ptr, n, p["dense"], p["dense_weights"], p["row_length"],
                                                a.axons_per_core, a.neurons_per_core, p["acc"], p["touched"],
                                                p["seen"], p["core_sops"])
            return lib.ne_integrate_w(active_ptr, n, p["row_ptr"], p["row_neurons"], self._neuron_bytes,
                                      p["row_weights"], a.axons_per_core, a.neurons_per_core, p["acc"],
                                      p["touched"], p["seen"], p["core_sops"])
        if self._dense:
            return lib.ne_integrate_dense(active_ptr, n, p["dense"], p["row_length"], p["axon_type"],
                                          p["weights"], self._n_types, a.axons_per_core, a.neurons_per_core,
                                          p["acc"], p["touched"], p["seen"], p["core_sops"])
        return lib.ne_integrate(active_ptr, n, p["row_ptr"], p["row_neurons"], self._neuron_bytes,
                                p["axon_type"], p["weights"], self._n_types, a.axons_per_core,
                                a.neurons_per_core, p["acc"], p["touched"], p["seen"], p["core_sops"])

    def _integrate_noisy_c(self, active_ptr, n: int) -> int:
        """NVM read noise in C (``ne_integrate_noisy``): the same draws and sums as ReadNoise.input."""
        lib, ffi, p, a, rn = _tick.lib, _tick.ffi, self._ptr, self.arrays, self.read_noise
        if self._noise_ready is not rn:  # set by the run after the stepper was built
            self._noise_tables = (rn.base, normal_table(), np.zeros(self.n_types * a.n_neurons))
            base, table, accf = self._noise_tables
            self._ptr.update(noise_base=ffi.cast("uint64_t *", ffi.from_buffer(base)),
                             noise_reads=self._c_ptr(rn.reads),
                             noise_table=ffi.cast("double *", ffi.from_buffer(table)),
                             noise_acc=ffi.cast("double *", ffi.from_buffer(accf)))
            self._noise_ready = rn
        return lib.ne_integrate_noisy(active_ptr, n, p["row_ptr"], p["row_neurons"], self._neuron_bytes,
                                      p["row_weights"], p["axon_type"], self.n_types, a.n_neurons,
                                      a.axons_per_core, a.neurons_per_core, p["noise_base"], p["noise_reads"],
                                      rn.key, p["noise_table"], NORMAL_TABLE_BITS, rn.sigma_lsb, p["noise_acc"],
                                      p["acc"], p["touched"], p["seen"], p["core_sops"])

    def _step_c(self, tick: int, spiking_axons: np.ndarray) -> tuple[np.ndarray, int, int]:
        lib, ffi, p, a = _tick.lib, _tick.ffi, self._ptr, self.arrays
        if self.read_noise is not None and a.row_weights is None:
            a.materialize_row_weights()  # noise is read per cell: the weights per synapse, as numpy does
        form = self._synapse_form
        if a.row_weights is not form[0] or a.dense is not form[1] or a.dense_weights is not form[2]:
            self._refresh_synapses()
        if self._fused is not None and self.adc is None and a.v is self._fused.v:
            if self.core_counts:
                self.core_sops.fill(0)
            n_fired, sops, n_active = self._fused.step(tick, spiking_axons, self._fired, self.core_sops,
                                                       self.core_active)
            return self._fired[:n_fired].copy(), sops, n_active
        # sorted rows visit each core's accumulators once, which halves the cache misses
        # (sorting int32 is twice as fast as int64; global axon ids fit easily)
        ids = np.asarray(spiking_axons)
        active = np.sort(ids.astype(np.int32)).astype(np.int64) if self._ids_fit_int32 else np.sort(ids.astype(np.int64))
        active_ptr = ffi.cast("int64_t *", ffi.from_buffer(active))
        if self.core_counts:
            self.core_sops.fill(0)  # the integrate kernels add to it
        n_active, end = self._n_active_out, self._hi  # the neurons past end stay at rest
        if self.multi:
            n_fired, sops = self._step_c_multi(active, active_ptr, n_active)
        else:
            sops = self._integrate_c(active_ptr, len(active))
            if self.adc is not None:
                self._adc_c()
            if self.kernel == "truenorth":
                n_fired = lib.ne_truenorth_step(end, p["v"], ffi.NULL if self._direct else p["acc"], p["touched"],
                                                p["profile"], len(self._table["leak"]), p["leak"], p["leak_st"],
                                                p["theta"], p["mask"], p["reset"], p["reset_v"], p["floor"],
                                                p["enabled"], self._leak_key, self._threshold_key, tick, self._vmin,
                                                self._vmax, p["fired"], n_active, a.neurons_per_core,
                                                p["core_active"])
            else:
                n_fired = lib.ne_cuba_step(end, p["v"], p["u"], p["refractory_left"], p["acc"], p["touched"],
                                           p["profile"], len(self._table["du"]), p["du"], p["dv"], p["bias"],
                                           p["cuba_threshold"], p["refractory"], p["enabled"], self._lim,
                                           p["fired"], n_active, a.neurons_per_core, p["core_active"])
        if sops < 0 or n_fired < 0:
            raise NeuroEmuError("internal: tick kernel rejected its arguments")
        return self._fired[:n_fired].copy(), int(sops), int(n_active[0])

    def _step_c_multi(self, active: np.ndarray, active_ptr, n_active) -> tuple[int, int]:
        """Several currents (or a voltage floor) in C; the per-core counts from the same rows in numpy,
        as the multi-current kernels do not count per core."""
        lib, p, a = _tick.lib, self._ptr, self.arrays
        touched = None
        if self.core_counts:
            _, neuron = gather_synapse_index(a, np.unique(active))
            touched = np.zeros(a.n_neurons, bool)
            touched[neuron] = True
        if self.n_types > 1 and self.read_noise is None:
            sops = lib.ne_integrate_w_typed(active_ptr, len(active), p["row_ptr"], p["row_neurons"], self._neuron_bytes,
                                            p["row_weights"], p["axon_type"], self.n_types, a.n_neurons,
                                            a.axons_per_core, a.neurons_per_core, p["acc"], p["touched"], p["seen"])
        else:
            sops = self._integrate_c(active_ptr, len(active))
        if self.adc is not None:
            self._adc_c()
        n_fired = lib.ne_cuba_step_multi(a.n_neurons, self.n_types, p["v"], p["u"], p["refractory_left"], p["acc"],
                                         p["touched"], p["profile"], self._n_profiles, p["du"], p["dv"], p["bias"],
                                         p["cuba_threshold"], p["refractory"], p["vmin"], p["enabled"], self._lim,
                                         p["fired"], n_active)
        if self.core_counts and n_fired >= 0:
            self._count_cores_numpy(active, touched, self._fired[:n_fired])
        return n_fired, sops

    def _adc_c(self) -> None:
        """The column ADC on the C accumulators (``ne_adc_quantise``, the twin of adc_quantise)."""
        adc = self.adc
        if _tick.lib.ne_adc_quantise(self._ptr["acc"], len(self._acc), adc.shift, adc.lo, adc.hi) != 0:
            raise NeuroEmuError(f"internal: ADC step 2**{adc.shift} out of the kernel's range")

    def _refresh_synapses(self) -> None:
        """The arrays changed weight form (e.g. a learning rule made them per synapse)."""
        if self.kernel == "truenorth" and self._direct and self.arrays.row_weights is not None:
            # the overflow bound was computed for per-type weights: recheck with the int16 range
            a = self.arrays
            if (1 << (self.membrane_bits - 1)) + a.axons_per_core * (1 << 15) >= (1 << 31) - 1:
                self._direct = False
                self._acc = np.zeros(a.n_neurons, np.int32)
                self._ptr["acc"] = self._c_ptr(self._acc)
        self._prepare_synapses()
        self._bind_fused()


def balanced_rows_c(cores: int, R: int, k: int, n_per: int, axons_per_core: int, band_start: np.ndarray,
                    col_perm: np.ndarray, row_perm: np.ndarray, axon_idx: np.ndarray, cols_out: np.ndarray,
                    dense: np.ndarray | None) -> bool:
    """One axon type of a chunk of balanced crossbars in C (``ne_balanced_rows``, see tick.h):
    sorted uint16 columns into ``cols_out`` and ones into ``dense``. False if the C kernels are
    not built or the sizes are outside theirs (the caller then does it with numpy)."""
    if _tick is None or k > n_per or n_per > 65536:
        return False
    ffi = _tick.ffi
    arrays = [np.ascontiguousarray(x, np.int64) for x in (band_start, col_perm, row_perm, axon_idx)]
    ptrs = [ffi.cast("int64_t *", ffi.from_buffer(x)) for x in arrays]
    if cols_out.dtype != np.uint16 or not cols_out.flags.c_contiguous:
        raise NeuroEmuError("internal: balanced rows need a contiguous uint16 output")
    width = dense.shape[1] if dense is not None else n_per
    done = _tick.lib.ne_balanced_rows(cores, R, k, n_per, axons_per_core, width, *ptrs,
                                      ffi.cast("uint16_t *", ffi.from_buffer(cols_out)),
                                      ffi.NULL if dense is None else ffi.cast("uint8_t *", ffi.from_buffer(dense)))
    if done < 0:
        raise NeuroEmuError("internal: ne_balanced_rows rejected its arguments")
    return True


def pack_greedy_c(ptr: np.ndarray, keys: np.ndarray, n_keys: int, npc: int, apc: int, n_cores: int
                  ) -> tuple[np.ndarray | None, int]:
    """Pack's greedy placement in C (``ne_pack_greedy``, see tick.h): (core of each neuron, -1),
    or (None, j) when neuron j finds every core full; (None, -1) when the C kernels are not built."""
    if _tick is None:
        return None, -1
    ffi = _tick.ffi
    n = len(ptr) - 1
    ptr = np.ascontiguousarray(ptr, np.int64)
    keys = np.ascontiguousarray(keys, np.int64)
    seen = np.full(max(n_keys, 1), -1, np.int64)
    core_of = np.empty(n, np.int64)
    p = [ffi.cast("int64_t *", ffi.from_buffer(x)) for x in (ptr, keys, seen, core_of)]
    rc = _tick.lib.ne_pack_greedy(n, p[0], p[1], p[2], npc, apc, n_cores, p[3])
    if rc == -1:
        raise NeuroEmuError("internal: ne_pack_greedy rejected its arguments")
    if rc < -1:
        return None, int(-2 - rc)
    return core_of, -1
