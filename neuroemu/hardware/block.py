"""Many ticks per C call: the block kernel (``ne_block_run``, hardware/blockrun.c) over a C tick stepper.

:class:`BlockKernel` owns what the per-tick loop keeps in Python or in the event queue: the spikes
in flight (a ring of ``max delay + 1`` slots, slot ``d % slots`` holding the axons due in tick d),
the tick's counters and the spike record. It reuses the :class:`~neuroemu.hardware.step.TickStepper`'s
prepared arrays and parameter tables, and its C kernels run every tick, so a block of ticks gives
the same state, spikes and counts as the same ticks stepped one by one. The engine decides when
a run may take this path and turns the counters into the record (:mod:`neuroemu.engine.blockrun`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from neuroemu.errors import NeuroEmuError
from neuroemu.hardware.step import TickStepper, _tick

def sort_due_mode() -> bool:
    """$NEUROEMU_SORT_DUE: "on" (default) sorts each tick's due axons by core before integrating;
    "off" integrates them in arrival order (the same record; for measuring the difference)."""
    value = os.environ.get("NEUROEMU_SORT_DUE", "on")
    if value not in ("on", "off"):
        raise NeuroEmuError(f"NEUROEMU_SORT_DUE: unknown value {value!r}; valid: on, off")
    return value == "on"


#: counters the kernel keeps, in the ledger's names
COUNTERS = ("axon_event", "synaptic_op", "neuron_update_active", "neuron_update", "spike")


@dataclass(frozen=True)
class GalsClocking:
    """Gals clocking (engine/energy.py's GalsWork for truenorth): the cores always busy (a neuron that
    can change with no input) and each core's enabled neurons."""

    always: np.ndarray            # bool per core
    enabled_per_core: np.ndarray  # int64 per core


@dataclass(frozen=True)
class BarrierCosts:
    """Barrier timing's prices (engine/timing.py's BarrierPolicy): ps per operation and the barrier."""

    barrier_ps: int
    sop_ps: float
    update_ps: float
    active_ps: float
    spike_ps: float
    no_latency: bool
    enabled_per_core: np.ndarray
    route_latency: np.ndarray   # ps per route


class BlockKernel:
    """The C block runner bound to one stepper, its routes and the run's tick starts."""

    def __init__(self, stepper: TickStepper, route_axon: np.ndarray, route_delay: np.ndarray,
                 fanout_ptr: np.ndarray | None, tick_starts: np.ndarray, spikes_per_neuron: np.ndarray,
                 n_enabled: int, run_ticks: int, *, tick_ps: int, record: bool, reset_period: int = 0,
                 probe_ids: np.ndarray | None = None, barrier: BarrierCosts | None = None,
                 gals: GalsClocking | None = None):
        if stepper.backend != "c" or stepper.multi or stepper.kernel not in ("cuba", "truenorth"):
            raise NeuroEmuError("internal: the block kernel runs the one-current C kernels only")
        ffi = _tick.ffi
        a, p = stepper.arrays, stepper._ptr
        self.stepper, self.run_ticks, self.reset_period = stepper, run_ticks, reset_period
        self.fast = False
        keep = self._keep = []   # every array a pointer in the struct refers to

        def ptr(arr, ctype="int64_t *"):
            if arr is None:
                return ffi.NULL
            arr = np.ascontiguousarray(arr)
            keep.append(arr)
            return ffi.cast(ctype, ffi.from_buffer(arr))

        b = self.b = ffi.new("ne_block_t *")
        b.kernel = 0 if stepper.kernel == "cuba" else 1
        b.n_neurons, b.n_live, b.n_enabled, b.n_cores = a.n_neurons, stepper._hi, n_enabled, a.n_cores
        b.axons_per_core, b.neurons_per_core = a.axons_per_core, a.neurons_per_core
        b.row_ptr, b.row_neurons, b.neuron_bytes = p["row_ptr"], p["row_neurons"], stepper._neuron_bytes
        b.axon_type = p["axon_type"]
        if stepper._per_synapse:
            b.row_weights = p["row_weights"]
        else:
            b.weights_ctn, b.n_types = p["weights"], stepper._n_types
        if stepper._dense:
            b.use_dense, b.dense, b.row_length = 1, p["dense"], p["row_length"]
            if stepper._per_synapse:
                b.dense_weights = p["dense_weights"]
        b.acc, b.touched, b.seen, b.fired = p["acc"], p["touched"], p["seen"], p["fired"]
        b.v, b.profile, b.n_profiles, b.p_enabled = p["v"], p["profile"], len(stepper._table["enabled"]), p["enabled"]
        if b.kernel == 0:
            b.u, b.refractory_left = p["u"], p["refractory_left"]
            b.p_du, b.p_dv, b.p_bias = p["du"], p["dv"], p["bias"]
            b.p_threshold, b.p_refractory, b.lim = p["cuba_threshold"], p["refractory"], stepper._lim
            self._prepare_fast_cuba(ptr)
        else:
            b.tn_acc = ffi.NULL if stepper._direct else p["acc"]
            b.p_leak, b.p_leak_st, b.p_threshold, b.p_mask = p["leak"], p["leak_st"], p["theta"], p["mask"]
            b.p_reset, b.p_reset_v, b.p_floor = p["reset"], p["reset_v"], p["floor"]
            b.leak_key, b.threshold_key = stepper.key, stepper._threshold_key
            b.vmin, b.vmax = stepper._vmin, stepper._vmax
            # the fused kernel where the stepper would take it (its config points at the same arrays)
            fused = stepper._fused
            if fused is not None and stepper.adc is None and a.v is fused.v:
                b.fused = fused.cfg
                self._keep.append(fused)
        # routes and the ring of spikes in flight: a slot receives each route at most once (a route
        # has one delay), so the sending routes bound a slot's size
        route_axon = np.ascontiguousarray(route_axon, np.int64)
        route_delay = np.ascontiguousarray(route_delay, np.int64)
        sends = route_axon >= 0
        self.slots = int(route_delay[sends].max(initial=1)) + 1
        self.cap = max(int(sends.sum()), 1)
        self.ring = np.zeros((self.slots, self.cap), np.int64)
        self.ring_n = np.zeros(self.slots, np.int64)
        b.fanout_ptr = ptr(fanout_ptr)
        b.routes = ptr(np.stack([route_axon, route_delay], axis=1))
        b.ring_slots, b.ring_cap, b.ring, b.ring_n = self.slots, self.cap, ptr(self.ring), ptr(self.ring_n)
        self._due = np.zeros(0, np.int64)
        # the due axons sorted by core before integrating ($NEUROEMU_SORT_DUE=off: as they came,
        # for measuring; the record is the same either way)
        self.core_count = np.zeros(a.n_cores + 1, np.int64)
        b.core_count, b.sort_due = ptr(self.core_count), int(sort_due_mode())
        # timing
        b.tick_ps, b.tick_starts, b.run_ticks = tick_ps, ptr(tick_starts), run_ticks
        if barrier is not None:
            b.barrier, b.barrier_ps, b.no_latency = 1, barrier.barrier_ps, int(barrier.no_latency)
            b.split_active = int(barrier.active_ps != barrier.update_ps)
            b.sop_ps, b.update_ps, b.active_ps, b.spike_ps = (barrier.sop_ps, barrier.update_ps,
                                                              barrier.active_ps, barrier.spike_ps)
            b.enabled_per_core = ptr(np.asarray(barrier.enabled_per_core, np.int64))
            b.route_latency = ptr(np.asarray(barrier.route_latency, np.int64))
            b.core_sops, b.core_active, b.core_spikes, b.core_busy = (ptr(np.zeros(a.n_cores, np.int64))
                                                                    for _ in range(4))
        if gals is not None:
            if barrier is not None:
                raise NeuroEmuError("internal: a block run is gals or barrier, not both")
            b.gals = 1
            b.gals_always = ptr(np.asarray(gals.always, np.uint8), "uint8_t *")
            b.gals_busy = ptr(np.zeros(a.n_cores, np.uint8), "uint8_t *")
            b.enabled_per_core = ptr(np.asarray(gals.enabled_per_core, np.int64))
        # presentations: resets and the probe neurons' v at each period's end
        b.reset_period = reset_period
        self.probe_ids = None if probe_ids is None else np.ascontiguousarray(probe_ids, np.int64)
        if self.probe_ids is not None:
            b.probe_ids, b.n_probe = ptr(self.probe_ids), len(self.probe_ids)
        # outputs
        b.record = int(record)
        # room for many ticks' spikes between flushes (a tick can fire every live neuron once)
        self.rec_cap = max(2 * stepper._hi, 1 << 18) if record else 1
        self.rec_ticks = np.zeros(self.rec_cap, np.int64)
        self.rec_ids = np.zeros(self.rec_cap, np.int64)
        b.rec_ticks, b.rec_ids, b.rec_cap = ptr(self.rec_ticks), ptr(self.rec_ids), self.rec_cap
        if not spikes_per_neuron.flags.c_contiguous or spikes_per_neuron.dtype != np.int64:
            raise NeuroEmuError("internal: spikes per neuron must be contiguous int64")
        b.spikes_per_neuron = ptr(spikes_per_neuron)

    def _prepare_fast_cuba(self, ptr) -> None:
        """The branch-free int32 form of the cuba update (blockrun.c's cuba_fast), where no sum can
        leave int32: decays 0..4096, |bias| and the limit small, every neuron's input bounded."""
        st, a = self.stepper, self.stepper.arrays
        tab, lim = st._table, int(st._lim)
        weights = a.row_weights if st._per_synapse else a.weights
        wmax = int(np.abs(weights.astype(np.int64)).max(initial=0))
        inputs = synapses_into_each_neuron(a)
        fan_in = int(inputs.max(initial=0))
        self.fast_state_lim = lim
        self.fast = bool(
            all(((tab[k] >= 0) & (tab[k] <= 4096)).all() for k in ("du", "dv"))
            and lim < (1 << 29) and int(np.abs(tab["bias"].astype(np.int64)).max(initial=0)) < (1 << 29)
            and fan_in * wmax + lim < (1 << 31) - 1)
        if not self.fast:
            return
        # segments: runs of one profile and one kind (with or without synapses in), cut at core
        # boundaries (the per-core active counts)
        hi, npc = st._hi, a.neurons_per_core
        prof = st._profile[:hi]
        fed = inputs[:hi] > 0
        cuts = np.flatnonzero((np.diff(prof) != 0) | (np.diff(fed) != 0)) + 1
        starts = np.unique(np.concatenate([[0, hi], cuts, np.arange(0, hi, npc)])).astype(np.int64)
        self.seg_start = starts
        self.seg_profile = np.ascontiguousarray(prof[starts[:-1]], np.int32)
        # a segment without synapses in, bias 0 and a threshold >= 0 stays at rest once at rest (no
        # input, no drift, never above threshold): skipped while every such neuron is at rest
        q = self.seg_profile
        quiet = (~fed[starts[:-1]]) & (tab["bias"][q] == 0) & (tab["cuba_threshold"][q] >= 0)
        self.seg_skip = quiet.astype(np.uint8)
        self.quiet_neurons = np.repeat(quiet, np.diff(starts))
        self.flags = np.zeros(max(hi, 1), np.uint8)
        b = self.b
        b.n_seg = len(starts) - 1
        b.seg_start, b.seg_profile = ptr(self.seg_start), ptr(self.seg_profile, "int32_t *")
        b.seg_skip = ptr(self.seg_skip, "uint8_t *")
        b.flags = ptr(self.flags, "uint8_t *")

    def _quiet_at_rest(self) -> bool:
        """Whether the skippable segments' neurons are all at rest now (their spike flags then cleared)."""
        a, hi, quiet = self.stepper.arrays, self.stepper._hi, self.quiet_neurons
        if not quiet.any():
            return False
        if any(x[:hi][quiet].any() for x in (a.v, a.u, a.refractory_left)):
            return False
        self.flags[:hi][quiet] = 0
        return True

    def _state_in_range(self) -> bool:
        """The fast cuba form assumes every stored v and u within the limit (the kernels keep them so;
        a caller may have written others, e.g. initial voltages)."""
        a, hi, lim = self.stepper.arrays, self.stepper._hi, self.fast_state_lim
        return all(int(np.abs(x[:hi]).max(initial=0)) <= lim for x in (a.v, a.u))

    def counters(self) -> dict[str, int]:
        """The counts so far, in the ledger's names (plus ``sent``, ``dropped_at_reset``, ``past_end``;
        ``clock_core_tick`` under gals)."""
        b = self.b
        out = {name: int(getattr(b, name)) for name in COUNTERS}
        out.update(sent=int(b.sent), clock_core_tick=int(b.clock_core_tick),
                   dropped_at_reset=int(b.dropped_at_reset), past_end=int(b.past_end))
        return out

    @property
    def in_flight(self) -> int:
        """Spikes sent and not delivered: the ring's, and those a reset dropped that were due past the end."""
        return int(self.ring_n.sum()) + int(self.b.past_end)

    def run(self, t0: int, t1: int, in_ticks: np.ndarray, in_axons: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Ticks [t0, t1) with these input spikes (their ticks in the range): the fired (tick, neuron)
        pairs in tick order (empty unless recording) and, with probes, their v at each period's end."""
        ffi, lib, b = _tick.ffi, _tick.lib, self.b
        n = t1 - t0
        order = np.argsort(in_ticks, kind="stable") if len(in_ticks) > 1 and (np.diff(in_ticks) < 0).any() else None
        if order is not None:
            in_ticks, in_axons = in_ticks[order], in_axons[order]
        in_axons = np.ascontiguousarray(in_axons, np.int64)
        per_tick = np.bincount(np.asarray(in_ticks, np.int64) - t0, minlength=n) if len(in_ticks) else np.zeros(n, np.int64)
        in_ptr = np.zeros(n + 1, np.int64)
        np.cumsum(per_tick, out=in_ptr[1:])
        need = self.cap + int(per_tick.max(initial=0))
        if len(self._due) < need:
            self._due = np.zeros(need, np.int64)
            self._due_tmp = np.zeros(need, np.int64)
            b.due, b.due_cap = ffi.cast("int64_t *", ffi.from_buffer(self._due)), need
            b.due_tmp = ffi.cast("int64_t *", ffi.from_buffer(self._due_tmp))
        b.block_t0 = t0
        b.fast_cuba = int(b.kernel == 0 and self.fast and self._state_in_range())
        b.skip_quiet = int(bool(b.fast_cuba) and self._quiet_at_rest())
        b.in_ptr = ffi.cast("int64_t *", ffi.from_buffer(in_ptr))
        b.in_axons = ffi.cast("int64_t *", ffi.from_buffer(in_axons)) if len(in_axons) else ffi.NULL
        probes = None
        if self.probe_ids is not None and self.reset_period:
            P = self.reset_period
            probes = np.zeros(((t1 - 1) // P - t0 // P + 1, len(self.probe_ids)), np.int64)
            b.probe_out = ffi.cast("int64_t *", ffi.from_buffer(probes))
        ticks, ids = [], []
        t = t0
        while True:
            stop = lib.ne_block_run(b, t, t1)
            if stop < 0:
                raise NeuroEmuError("internal: ne_block_run rejected its arguments")
            if b.rec_n:
                ticks.append(self.rec_ticks[:b.rec_n].copy())
                ids.append(self.rec_ids[:b.rec_n].copy())
                b.rec_n = 0
            if stop == t1:
                break
            t = stop
        # the staged arrays go out of scope here: no pointer to them may outlive the call
        b.in_ptr = b.in_axons = b.probe_out = ffi.NULL
        if not ticks:
            return np.empty(0, np.int64), np.empty(0, np.int64), probes
        return np.concatenate(ticks), np.concatenate(ids), probes


#: synapses per chunk when counting a chip's fan-in (bounds the temporary int64 arrays: 256 MiB)
FAN_IN_CHUNK = 1 << 25


def synapses_into_each_neuron(a, use_c: bool = True) -> np.ndarray:
    """The number of synapses into each neuron (int64, one per neuron): in C (``ne_fan_in``, one pass
    over the columns), or with numpy (``use_c=False``, or no C build) a block of cores at a time so a
    board of billions of synapses (pohoiki_beach: 4.3 G) needs no per-synapse int64 copy."""
    npc, apc, n_cores = a.neurons_per_core, a.axons_per_core, a.n_cores
    if use_c and _tick is not None and a.row_neurons.dtype in (np.uint8, np.uint16):
        ffi = _tick.ffi
        inputs = np.zeros(n_cores * npc, np.int64)
        row_ptr = np.ascontiguousarray(a.row_ptr, np.int64)
        cols = np.ascontiguousarray(a.row_neurons)
        got = _tick.lib.ne_fan_in(n_cores, apc, npc, ffi.cast("int64_t *", ffi.from_buffer(row_ptr)),
                                  ffi.from_buffer(cols), cols.dtype.itemsize,
                                  ffi.cast("int64_t *", ffi.from_buffer(inputs)))
        if got < 0:
            raise NeuroEmuError("internal: ne_fan_in found a synapse past its core's neurons")
        return inputs
    core_syn = a.row_ptr[np.arange(n_cores + 1, dtype=np.int64) * apc]  # each core's first synapse
    inputs = np.zeros(n_cores * npc, np.int64)
    c = 0
    while c < n_cores:
        end = int(np.searchsorted(core_syn, core_syn[c] + FAN_IN_CHUNK, side="right")) - 1
        end = min(max(end, c + 1), n_cores)
        lo, hi = int(core_syn[c]), int(core_syn[end])
        local = np.repeat(np.arange(end - c, dtype=np.int64) * npc, np.diff(core_syn[c:end + 1]))
        inputs[c * npc:end * npc] = np.bincount(local + a.row_neurons[lo:hi], minlength=(end - c) * npc)
        c = end
    return inputs

