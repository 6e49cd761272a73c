"""The fused TrueNorth tick: bit-packed crossbar rows, integration and neuron update core by core.

A full TrueNorth tick (4,096 cores, ~21,000 active axon rows, 1,048,576 neurons) run as two
passes (``ne_integrate_dense`` over the active rows, then ``ne_truenorth_step`` over every
neuron) is memory-bound: each active row reads 256 bytes of a 256 MiB dense crossbar and every
membrane is read and written twice. ``ne_truenorth_fused`` (hardware/tick.c) instead

- keeps the crossbar as bits (32 bytes per 256-neuron row, 32 MiB for the chip, packed here from
  the CSR rows once), and counts each row into per-axon-type byte counters eight columns per
  add, so the per-type weights are multiplied in once per type and core, not once per row;
- groups the tick's active axons by core (a counting sort in C, which also drops repeats) and
  updates each core's neurons right after integrating its rows, while its membranes and the
  core-local accumulator are in cache (one pass over the membranes per tick);
- splits the cores into ``threads`` contiguous ranges, one POSIX thread each. Every neuron's
  random leak and threshold bits are keyed on its global id and tick, and every count is an
  integer sum, so the record is bit-identical for any number of threads (tests/test_fused.py).

It is the same arithmetic as the two-pass kernels and their numpy twins, bit for bit: the
membrane gets the same int32 sum of weights, then the same leak, saturation, threshold, reset
and floor. It applies to per-type weights (TrueNorth-style); per-synapse weights, a column ADC,
read noise and rows that repeat a column keep the other kernels.

:class:`RoutePass` is the window loop's routing of the fired neurons in one C pass
(``ne_route_fired``; engine/run.py uses it with the C kernels): target, due tick and arrival time
of every spike and the spike counts, from one 16-byte record per route.
"""
from __future__ import annotations

import numpy as np

from neuroemu.errors import ConfigError, NeuroEmuError
from neuroemu.hardware.cores import CoreArrays

try:  # built by `pip install -e .`
    from neuroemu.hardware import _tick
except ImportError:  # pragma: no cover - the stepper then never asks for this path
    _tick = None

#: the most threads the kernel splits a tick over (its fixed table of ranges)
MAX_THREADS = 256


def check_threads(threads: int, where: str = "--threads") -> int:
    """``threads`` as an int >= 1 (and at most :data:`MAX_THREADS`), else a one-line error."""
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= MAX_THREADS:
        raise ConfigError(f"{where}: the number of threads must be an integer from 1 to {MAX_THREADS}, "
                            f"got {threads!r}")
    return int(threads)


def pack_rows(arrays: CoreArrays) -> np.ndarray | None:
    """The crossbar as bits, uint64 [axons, words] (column j: word j // 64, bit j % 64), or None
    when a row repeats a column (the bit form cannot count that synapse twice)."""
    words = -(-arrays.neurons_per_core // 64)
    bits = np.zeros((arrays.n_axons, words), np.uint64)
    ffi = _tick.ffi
    repeats = _tick.lib.ne_pack_rows(arrays.n_axons, ffi.cast("int64_t *", ffi.from_buffer(arrays.row_ptr)),
                                     ffi.cast("void *", ffi.from_buffer(arrays.row_neurons)),
                                     arrays.row_neurons.dtype.itemsize, words, arrays.neurons_per_core,
                                     ffi.cast("uint64_t *", ffi.from_buffer(bits)))
    if repeats < 0:
        raise NeuroEmuError("internal: ne_pack_rows rejected the crossbar")
    return bits if repeats == 0 else None


def weight_blocks(weights_ctn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct per-core weight blocks [blocks, types, neurons] and each core's block (int32):
    cores of one neuron type share one block, so a tick reads it from cache instead of reading
    every core's copy (8 MiB on the full chip)."""
    flat = np.ascontiguousarray(weights_ctn).reshape(len(weights_ctn), -1)
    if len(flat) and (flat == flat[0]).all():  # the common case: one block for every core
        return np.ascontiguousarray(weights_ctn[:1]), np.zeros(len(flat), np.int32)
    index: dict[bytes, int] = {}
    core_block = np.array([index.setdefault(row.tobytes(), len(index)) for row in flat], np.int32)
    firsts = np.unique(core_block, return_index=True)[1]
    return np.ascontiguousarray(weights_ctn[firsts]), core_block


class FusedTrueNorth:
    """The fused kernel bound to one chip's arrays (built by :meth:`TickStepper._prepare_c`)."""

    def __init__(self, arrays: CoreArrays, weights_ctn: np.ndarray, bits: np.ndarray, table: dict[str, np.ndarray],
                 profile: np.ndarray, live_neurons: int, key: int, threshold_key: int, vmin: int, vmax: int,
                 threads: int):
        ffi = _tick.ffi
        a = arrays
        N = a.neurons_per_core
        self.live_cores = live_neurons // N
        # 32-bit lanes for the neuron update when no intermediate can leave int32 (the kernel's
        # 64-bit lanes give the same numbers otherwise)
        wmax = int(np.abs(weights_ctn).max(initial=0))
        bound = (max(abs(vmin), abs(vmax)) + a.axons_per_core * wmax + int(np.abs(table["leak"]).max(initial=0))
                 + int(np.abs(table["theta"]).max(initial=0)) + int(np.abs(table["floor"]).max(initial=0)))
        blocks, core_block = weight_blocks(weights_ctn)
        self._keep = {
            "bits": bits, "blocks": blocks, "core_block": core_block,
            "bucket": np.empty(max(1, a.n_axons), np.int64), "core_start": np.zeros(self.live_cores + 1, np.int64),
            "seen": np.zeros(a.n_axons, np.uint8), "profile": profile, **table,
        }
        k = self._keep

        def ptr(name: str, ctype: str):
            return ffi.cast(ctype, ffi.from_buffer(k[name]))

        cfg = ffi.new("ne_tn_fused_t *")
        cfg.row_bits, cfg.words = ptr("bits", "uint64_t *"), bits.shape[1]
        cfg.axon_type = ffi.cast("int8_t *", ffi.from_buffer(a.axon_type))
        cfg.weight_blocks, cfg.core_block = ptr("blocks", "int16_t *"), ptr("core_block", "int32_t *")
        cfg.n_types = weights_ctn.shape[1]
        cfg.axons_per_core, cfg.neurons_per_core, cfg.live_cores = a.axons_per_core, N, self.live_cores
        cfg.v = ffi.cast("int32_t *", ffi.from_buffer(a.v))
        cfg.profile, cfg.n_profiles = ptr("profile", "int32_t *"), len(table["leak"])
        cfg.p_leak, cfg.p_leak_stochastic = ptr("leak", "int32_t *"), ptr("leak_st", "uint8_t *")
        cfg.p_threshold, cfg.p_threshold_mask = ptr("theta", "int32_t *"), ptr("mask", "int32_t *")
        cfg.p_reset_mode, cfg.p_reset_value = ptr("reset", "int8_t *"), ptr("reset_v", "int32_t *")
        cfg.p_floor, cfg.p_enabled = ptr("floor", "int32_t *"), ptr("enabled", "uint8_t *")
        cfg.leak_key, cfg.threshold_key, cfg.vmin, cfg.vmax = key, threshold_key, vmin, vmax
        cfg.narrow = int(bound < (1 << 31) - 1)
        cfg.threads = check_threads(threads)
        cfg.bucket, cfg.core_start = ptr("bucket", "int64_t *"), ptr("core_start", "int64_t *")
        cfg.seen = ptr("seen", "uint8_t *")
        self.cfg = cfg
        self.v = a.v  # the kernel writes through cfg.v: the stepper checks the arrays still hold it
        self._out = ffi.new("int64_t[2]")

    @property
    def threads(self) -> int:
        """The threads a tick is split over."""
        return int(self.cfg.threads)

    def step(self, tick: int, spiking_axons: np.ndarray, fired_out: np.ndarray, core_sops: np.ndarray | None,
             core_active: np.ndarray | None) -> tuple[int, int, int]:
        """One tick: (fired count, written to ``fired_out``; SOPs; active neuron updates)."""
        ffi, lib = _tick.ffi, _tick.lib
        active = np.ascontiguousarray(spiking_axons, np.int64)
        null = ffi.NULL
        n_fired = lib.ne_truenorth_fused(
            self.cfg, ffi.cast("int64_t *", ffi.from_buffer(active)), len(active), tick,
            ffi.cast("int64_t *", ffi.from_buffer(fired_out)), self._out, self._out + 1,
            null if core_sops is None else ffi.cast("int64_t *", ffi.from_buffer(core_sops)),
            null if core_active is None else ffi.cast("int64_t *", ffi.from_buffer(core_active)))
        if n_fired < 0:
            raise NeuroEmuError("internal: the fused TrueNorth kernel rejected its arguments"
                                if n_fired == lib.NE_TICK_EBADARG else "internal: the fused TrueNorth kernel ran out of memory")
        return int(n_fired), int(self._out[0]), int(self._out[1])


class RoutePass:
    """The routing of one tick's fired neurons in one C pass (``ne_route_fired``): what
    ``TickLoop.route_and_emit`` computes with five gathers and the arrival arithmetic in numpy,
    for single-target routes on the analytic network. ``tick_ps`` > 0: a spike arrives at its due
    tick's start (sync); else at its emission plus its route's ``latency`` (gals, barrier).

    Each route's target, delay and latency sit in one 16-byte record, so a fired neuron costs one
    cache line instead of three 8-byte gathers from three 8 MiB tables (the full chip). Build it
    with :meth:`build`, which says None when a value does not fit the record's int32.
    """

    def __init__(self, records: np.ndarray, tick_ps: int):
        if _tick is None:
            raise NeuroEmuError("internal: the C tick kernels are not built")
        self._records = np.ascontiguousarray(records, np.int32)
        self.tick_ps = int(tick_ps)
        self._ptr = _tick.ffi.cast("int32_t *", _tick.ffi.from_buffer(self._records))

    @classmethod
    def build(cls, route_axon: np.ndarray, route_delay: np.ndarray, latency: np.ndarray | None,
              tick_ps: int) -> "RoutePass | None":
        """The pass over these routes (latency: one per route, or None under ``tick_ps`` > 0)."""
        if _tick is None or (tick_ps <= 0 and latency is None):
            return None
        columns = [route_axon, route_delay, np.zeros(len(route_axon), np.int64) if latency is None else latency]
        lim = np.iinfo(np.int32)
        if any(len(c) and (int(c.min()) < lim.min or int(c.max()) > lim.max) for c in columns):
            return None
        records = np.zeros((len(route_axon), 4), np.int32)
        for i, column in enumerate(columns):
            records[:, i] = column[:len(route_axon)]
        return cls(records, tick_ps)

    def __call__(self, fired: np.ndarray, emit: np.ndarray, t: int, now: int, spikes: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(arrival ps, target axon, due tick) of the fired routes that send, in order; arrivals
        at least ``now + 1`` (the window up to now is popped already). ``spikes`` (int64, one per
        route): 1 is added for each fired route, in the same pass (ids must not repeat)."""
        ffi = _tick.ffi
        fired = np.ascontiguousarray(fired, np.int64)
        n = len(fired)
        out = np.empty((3, n), np.int64)
        if self.tick_ps <= 0:
            emit = np.ascontiguousarray(emit, np.int64)
            if len(emit) != n:
                raise NeuroEmuError("internal: one emission time per fired neuron is needed")
            emit_ptr = ffi.cast("int64_t *", ffi.from_buffer(emit))
        else:
            emit_ptr = ffi.NULL
        if spikes is not None and (spikes.dtype != np.int64 or not spikes.flags.c_contiguous
                                   or len(spikes) < len(self._records)):
            raise NeuroEmuError("internal: spike counts must be contiguous int64, one per route")
        m = _tick.lib.ne_route_fired(ffi.cast("int64_t *", ffi.from_buffer(fired)), n, self._ptr, emit_ptr, t,
                                     self.tick_ps, now + 1,
                                     *(ffi.cast("int64_t *", ffi.from_buffer(row)) for row in out),
                                     ffi.NULL if spikes is None else ffi.cast("int64_t *", ffi.from_buffer(spikes)))
        if m < 0:
            raise NeuroEmuError("internal: ne_route_fired rejected its arguments")
        return out[0, :m], out[1, :m], out[2, :m]
