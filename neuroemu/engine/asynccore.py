"""The async (clockless) window loop for every network written into core arrays.

Generated networks (``random_recurrent``, ``random_recurrent_weighted``), mapped files (NIR, edge
lists) and ``classify`` workloads all become :class:`neuroemu.hardware.cores.CoreArrays`; this
loop runs them with no clock, on every neuron model of the tick kernels read in continuous time
(:mod:`neuroemu.engine.asyncmodels`; docs/async.md says exactly how).

Time and windows. A spike fired at t reaches its target axon at t + delay x T + the route's
latency (analytic: the router tables' zero-load path latency; ``--network packet``: the packet's
own hop-by-hop delivery, then the axonal delay). The lookahead L is the smallest of these over
every route (at least one tick, as delays are >= 1 tick). The queue is popped in windows
[t, t + W), t the next event, W = min(L, T): nothing fired inside a window reaches anything inside
it, and a neuron fires at most once per T, so at most once per window. Inside a window each
neuron's own events (the synaptic inputs reaching it, its stochastic leak steps, its predicted
threshold crossing) are applied in time order; events of one neuron at one instant are summed
first (an axon hit twice at one instant activates once, as in a tick). The work is vectorised
over neurons: round r applies every neuron's r-th distinct event instant at once.

Crossings. After each update a neuron's next threshold crossing with no further input is
computed in closed form (:meth:`predict`), kept per neuron and queued as a check event; an input
moves it (a new check is queued; the old one is stale: the neuron's crossing no longer matches).

Counters, as the tick loop names them: ``axon_event`` per spike reaching an axon, ``synaptic_op``
per synapse of each (instant, axon) activation, ``neuron_update_active`` per update with synaptic
input or a spike, ``neuron_update`` per update by a stochastic leak step alone (a neuron with no
event is never updated nor charged), ``spike``, and ``hop:<class>``/``wire_nm`` per route.
"""
from __future__ import annotations

import time

import numpy as np

from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.engine.asyncblock import KIND_ARRIVAL, KIND_CHECK, KIND_INPUT, KIND_MARK, check_runaway, window_runner
from neuroemu.engine.asynccuba import continuous_model
from neuroemu.engine.asyncmodels import NEVER, TrueNorthCT, group_events
from neuroemu.engine.asyncroutes import ClocklessRoutes
from neuroemu.engine.energy import Ledger
from neuroemu.engine.options import MAX_TIME_PS, STREAM_NEURON_RNG, Progress, RunOptions
from neuroemu.engine.record import RunResult, build_record, with_network_reports
from neuroemu.errors import ConfigError
from neuroemu.hardware.asynckernel import choose_async_backend
from neuroemu.hardware.asynctn import TrueNorthWindowC
from neuroemu.hardware.chip import latency_summary, tick_ps
from neuroemu.hardware.cores import gather_synapse_index
from neuroemu.hardware.csr import row_positions
from neuroemu.hardware.devices import clockless_reads
from neuroemu.hardware.learning import STDPContinuous, learning_rule
from neuroemu.kernel.queue import make_queue
from neuroemu.models.rng import stream_key
from neuroemu.networks.workloads import build_inputs, build_network

__all__ = ["KIND_ARRIVAL", "KIND_CHECK", "KIND_INPUT", "KIND_MARK", "AsyncCoreLoop", "check_learning", "run_async_cores"]
_EMPTY = np.empty(0, np.int64)


def check_learning(workload: WorkloadSpec, name: str) -> None:
    """Check a learning rule's name and parameters (one line if bad); STDP runs clockless, read in
    continuous time (:class:`~neuroemu.hardware.learning.STDPContinuous`)."""
    if workload.learning is not None:
        learning_rule(workload.learning.rule, workload.learning.params(), f"{name}: learning")


class AsyncCoreLoop(ClocklessRoutes):
    """The clockless window loop over core arrays (see the module docstring)."""

    def __init__(self, chip: ChipSpec, workload: WorkloadSpec, opt: RunOptions):
        self.chip, self.workload, self.opt = chip, workload, opt
        self.name = name = workload.where
        check_learning(workload, name)
        self.network = network = self._build_network()
        self.inputs = build_inputs(chip, workload, network, opt.seed, name)
        # routes: the whole network's; state (arrays): a split rank's own cores if it built them alone
        # (local ids: neuron g is g - n0, axon x is x - x0)
        whole, part = network.arrays, getattr(network, "part", None)
        self.arrays = a = part if part is not None else whole
        self.n_all = whole.n_neurons
        c0 = network.part_cores[0] if part is not None else 0
        self.n0, self.x0 = c0 * whole.neurons_per_core, c0 * whole.axons_per_core
        self.T = T = tick_ps(chip)
        self._bind_learning(chip, workload, name)
        self.end_ps = opt.ticks * T
        if self.end_ps + (chip.core.max_delay_ticks + 1) * T >= MAX_TIME_PS:
            raise ConfigError(f"{name}: ticks: {opt.ticks} ticks of {chip.timing.tick_s:g} s reach {self.end_ps} ps, "
                              f"past the int64 picosecond clock's limit of {MAX_TIME_PS} ps")
        # the routes this loop binds, counts and prices (a loop split over MPI ranks: its own
        # neurons', sources numbered from neuron_base), their delays and the lookahead (asyncroutes.py)
        self._bind_routes(whole)
        self.hooks = getattr(network, "hooks", None)
        self.period_ps = self.hooks.reset_period * T if self.hooks is not None else 0
        self.enabled = network.enabled[self.n0:self.n0 + a.n_neurons]
        self.model = self._own_model(continuous_model(a, self.enabled, chip.core.membrane_bits, T,
                                                      stream_key(opt.seed, STREAM_NEURON_RNG), f"{name}: ", self.n0))
        self.queue = make_queue(opt.queue)
        self.packets = None
        if opt.network == "packet":
            from neuroemu.hardware.packet import PacketNetwork
            self.packets = PacketNetwork(self.topology, buffer_packets=opt.buffer_packets, queue_backend=opt.queue)
        self.row_length = np.diff(a.row_ptr)
        self._wscale = self.model.input_scale
        self._wdtype = np.int64 if self._wscale > 1 else np.float64
        self._flat_weights = a.weights.astype(self._wdtype).ravel() * self._wscale
        self._n_types = a.weights.shape[1]
        # NVM synapses: read noise and a priced word-line drive per activation; no ADC (docs/devices.md)
        self.read_noise, self._dac = clockless_reads(a, chip, opt.seed, name)
        self.all_enabled = bool(self.enabled.all())
        self._shared = None
        self._w0 = 0
        self.ledger = Ledger()
        self.spike_times: list[np.ndarray] = []
        self.spike_ids: list[np.ndarray] = []
        self.windows = 0
        self.checks = 0
        self.inputs_sent = 0   # input spikes queued (the spike flow's other source)
        self.spikes_sent = 0   # routed spike copies sent
        self.next_chunk = 0
        self.drop_seq = -1     # spikes queued with a sequence number up to this are from a sample already over
        n = a.n_neurons
        self.pend = np.full(n, NEVER, np.int64)
        self.queued = np.full(n, NEVER, np.int64)
        self._mark = np.zeros(n, bool)
        self._last_w1 = 0
        # the C window kernel where the model has one (TrueNorth; exact, so the numpy paths agree)
        self.ckernel = None
        self.backend = "numpy"
        if isinstance(self.model, TrueNorthCT) and choose_async_backend(opt.tick_backend) == "c":
            self.ckernel = TrueNorthWindowC(self.model, self.pend)
            self._kernel_row_w = None if a.row_weights is None else a.row_weights.astype(np.int64) * self._wscale
            self.ckernel.bind_network(a, self.model, None if a.row_weights is not None else self._flat_weights,
                                      self._kernel_row_w, self.queued, self.end_ps)
            if not self.fanout and self.packets is None:  # one route per neuron: the kernel sends the spikes
                self.ckernel.bind_routes(*self._kernel_routes(n))
            self.backend = "c"
        self._any_handled = False
        self.wall = 0.0

    def _build_network(self):
        """The whole network (a loop split over MPI ranks may build its own cores alone)."""
        return build_network(self.chip, self.workload, self.opt.seed, self.name)

    def _own_model(self, model):
        """The model as this loop steps it: every neuron (a loop split over MPI ranks keeps its own)."""
        return model

    def _bind_learning(self, chip: ChipSpec, workload: WorkloadSpec, name: str) -> None:
        """The learning rule (if one is on), read in continuous time; NVM endurance as the tick loop."""
        self.learning = self.endurance = None
        self._kernel_row_w = None
        if workload.learning is None:
            return
        rule = learning_rule(workload.learning.rule, workload.learning.params(), f"{name}: learning")
        try:
            rule.bind(self.arrays, weight_bits=chip.core.weight_bits, device=chip.synapse_device)
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        self.learning = STDPContinuous(rule, self.T)
        self.endurance = rule.endurance  # the rule wears each cell as it writes it

    def _learn(self, a_t, a_ax, sn, st) -> None:
        """The window's weight updates (they take effect from the next window); counted as the tick loop."""
        n_pot, n_dep, written = self.learning.apply_window(a_t, a_ax, sn, st)
        self.ledger.add("potentiation", n_pot)
        self.ledger.add("depression", n_dep)
        if self._kernel_row_w is not None and len(written):  # the C kernel's copy of the weights
            self._kernel_row_w[written] = self.arrays.row_weights[written].astype(np.int64) * self._wscale

    # --- the loop ---
    def run(self, progress: Progress | None) -> RunResult:
        """Every window up to the run's end, then the record (many windows per C call where
        :func:`~neuroemu.engine.asyncblock.window_runner` applies)."""
        start = time.perf_counter()
        self._repredict(np.flatnonzero(self.enabled), 0)
        end, W = self.end_ps, self.window_ps
        boundary = self.period_ps if self.period_ps else NEVER
        done_tick = -1
        fast = window_runner(self, subclass=type(self) is not AsyncCoreLoop)
        if fast is not None:
            boundary = fast.run(progress)
        while fast is None:
            t0 = self._feed_inputs(self._next_time())
            if boundary <= min(t0, end):
                self._new_sample(boundary, end)
                boundary = boundary + self.period_ps if boundary < end else NEVER
                continue
            if t0 >= end:
                break
            # inputs not yet queued start at next_chunk's tick: no window may pass it
            feed = self.next_chunk * self.T if self.inputs and self.next_chunk < self.opt.ticks else NEVER
            w1 = min(t0 + W, end, boundary, feed)
            self._window(t0, w1, start)
            self._last_w1 = w1
            self.windows += 1
            if progress is not None and t0 // self.T != done_tick:
                done_tick = t0 // self.T
                progress(int(done_tick), self.opt.ticks)
        if self.hooks is not None and boundary == end:
            self._new_sample(end, end)
        if progress is not None:
            progress(self.opt.ticks, self.opt.ticks)
        self.wall = time.perf_counter() - start
        return self.finish()

    def _next_time(self) -> int:
        """The next event: a queued one, a leak step, or a packet that will be due."""
        q = self.queue
        t = q.next_time()
        t = NEVER if t is None else t
        if self.model.has_steps:
            # stochastic leak steps come every tick somewhere: windows follow one another
            t = min(t, self._last_w1)
        if self.packets is not None:
            # spikes due in [t, t + W) left their packets' last router before t + W - dmin (due =
            # delivery + delay >= delivery + dmin): deliver those, which may bring t forward
            dmin = int(self.route_ps[self.sends].min(initial=self.T))
            while not self.packets.idle():
                until = t + self.window_ps - dmin if t < NEVER else NEVER
                nxt = self.packets.next_event_time()
                if nxt is None or nxt >= until:
                    break
                got = self.packets.advance(max(self.packets.now, min(until, MAX_TIME_PS)))
                if len(got.time_ps):
                    r = got.tag
                    due = got.time_ps + self.route_ps[r]
                    q.push_batch(due, KIND_ARRIVAL, self.route_axon[r])
                    t = min(t, int(due.min()))
        return t

    def _feed_inputs(self, t0: int) -> int:
        """Queue the input streams chunk by chunk, up to the next event (inputs at tick starts);
        returns the next event's time."""
        while self.inputs and self.next_chunk < self.opt.ticks and self.next_chunk * self.T <= t0:
            self._feed_chunk()
            t0 = self._next_time()
        return t0

    def _feed_chunk(self) -> None:
        """Queue the input streams' next chunk of ticks."""
        lo = self.next_chunk
        hi = min(self.opt.ticks, lo + self.inputs[0].CHUNK)
        for stream in self.inputs:
            at, axons = self._stream_chunk(stream, lo, hi)
            if len(at):
                self.queue.push_batch(at, KIND_INPUT, axons)
                self.inputs_sent += len(axons)
        self.next_chunk = hi

    def _stream_chunk(self, stream, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """One input stream's spikes of ticks [lo, hi) as (arrival ps, axons): at their tick's start, or
        for inputs on cores after their route's latency (asyncroutes.py)."""
        if hasattr(stream, "arrivals"):
            return stream.arrivals(lo, hi)
        ticks, axons = stream.events(lo, hi)
        return ticks * self.T, axons

    def _window(self, w0: int, w1: int, start: float) -> None:
        """Every event in [w0, w1): deliveries, leak steps, crossings, in time order per neuron."""
        batch = self.queue.pop_before(w1)
        kind = batch.kind
        if self.drop_seq >= 0:  # a classify reset: spikes sent before it are dropped, and counted
            old = (batch.seq <= self.drop_seq) & (kind == KIND_ARRIVAL)
            self.ledger.add("in_flight_dropped_at_reset", int(np.count_nonzero(old)))
            kind = np.where(old, KIND_MARK, kind)
        if kind.max(initial=0) <= KIND_INPUT:  # most windows: arrivals only (kinds 1, 2), no check due
            a_t, a_ax, checked = batch.time, batch.target, _EMPTY
        else:
            arrive = (kind == KIND_ARRIVAL) | (kind == KIND_INPUT)
            a_t, a_ax, checked = batch.time[arrive], batch.target[arrive], batch.target[kind == KIND_CHECK]
        self.checks += len(checked)
        ledger = self.ledger
        ledger.add("axon_event", len(a_t))
        if self.opt.max_events is not None or self.opt.max_window_events is not None:
            check_runaway(self, w0, len(a_t))
        self._w0 = w0
        if self.ckernel is not None:
            # the queue pops in time order: the kernel drops repeats of an (instant, axon) itself
            sn, st, moved, active, plain, sops, sent = self.ckernel.run(a_t, a_ax, checked, w0, w1)
            counts = ledger.counts  # (Ledger.add inlined: this runs once per window)
            for key, n in (("synaptic_op", sops), ("neuron_update_active", active), ("neuron_update", plain)):
                if n:
                    counts[key] += n
            if len(moved):
                self.queue.push_batch(self.pend[moved], KIND_CHECK, moved)
            if len(sn):
                self._emit(sn, st, sent)
            if self.learning is not None:
                self._learn(a_t, a_ax, sn, st)
            return
        nid, tt, ww, syn = self._contributions(a_t, a_ax, w1)
        spikes_n, spikes_t = [], []
        mark = self._mark
        mark[checked] = True
        self._any_handled = False
        if len(nid):
            self._count_updates(nid, tt, syn)
            nid, tt, ww, syn, handled = self._bulk(nid, tt, ww, syn, w0, w1)
            mark[handled] = True
            self._any_handled = len(handled) > 0
        if len(nid):
            g_n, g_t, g_s, g_syn, rank = group_events(nid, tt, ww, syn, w0, w1)
            if hasattr(self.model, "scan"):
                g_n, g_t, g_s, g_syn, rank = self._scan(g_n, g_t, g_s, g_syn, rank, w0, w1, spikes_n, spikes_t)
        if len(nid) and len(g_n):
            order = np.argsort(rank, kind="stable")
            bounds = np.searchsorted(rank[order], np.arange(int(rank.max()) + 2))
            for r in range(len(bounds) - 1):
                sel = order[bounds[r]:bounds[r + 1]]
                idx, t = g_n[sel], g_t[sel]
                self._crossings(idx, t, spikes_n, spikes_t)
                fired = self.model.integrate(idx, t, g_s[sel])
                if fired.any():
                    spikes_n.append(idx[fired])
                    spikes_t.append(t[fired])
                    # a leak step that fires the neuron is an active update, as a firing tick is
                    stepped = int(np.count_nonzero(fired & ~g_syn[sel]))
                    ledger.add("neuron_update_active", stepped)
                    ledger.add("neuron_update", -stepped)
                self.pend[idx] = self.model.predict(idx)
            mark[g_n] = True
        touched = np.flatnonzero(mark) if len(checked) or len(nid) or self._any_handled else np.empty(0, np.int64)
        mark[touched] = False
        if len(touched):
            self._crossings(touched, np.full(len(touched), w1, np.int64), spikes_n, spikes_t)
            self._queue_checks(touched)
        sn = np.concatenate(spikes_n) if spikes_n else np.empty(0, np.int64)
        st = np.concatenate(spikes_t) if spikes_n else np.empty(0, np.int64)
        if spikes_n:
            self._emit(sn, st)
        if self.learning is not None:
            self._learn(a_t, a_ax, sn, st)

    def _scan(self, g_n, g_t, g_s, g_syn, rank, w0, w1, spikes_n, spikes_t):
        """The model's all-intervals-at-once path; returns the groups it left for one-by-one."""
        seg = np.flatnonzero(rank == 0)
        ok, sn, st, at = self.model.scan(g_n, g_t, g_s, seg, w0, w1)
        if sn is None:
            return g_n, g_t, g_s, g_syn, rank
        done = g_n[seg][ok]
        self.pend[done] = self.model.predict(done)
        self._mark[done] = True
        if len(sn):
            spikes_n.append(sn)
            spikes_t.append(st)
            between = at < 0
            stepped = int(np.count_nonzero(~between & ~g_syn[np.maximum(at, 0)]))
            self.ledger.add("neuron_update_active", int(np.count_nonzero(between)) + stepped)
            self.ledger.add("neuron_update", -stepped)
        keep = np.repeat(~ok, np.diff(np.append(seg, len(g_n))))
        return g_n[keep], g_t[keep], g_s[keep], g_syn[keep], rank[keep]

    def _count_updates(self, nid, tt, syn) -> None:
        """One neuron update per (enabled neuron, instant) with input: active with synaptic input,
        plain (``neuron_update``) for a stochastic leak step alone.

        An arrival's row holds distinct neurons, so two synaptic inputs share (neuron, instant) only
        when two arrivals share the instant: only those are deduplicated (``self._shared`` marks
        their contributions)."""
        en = self.enabled[nid] if not self.all_enabled else np.ones(len(nid), bool)
        s = syn & en
        active = int(np.count_nonzero(s))
        shared = self._shared
        keys = np.empty(0, np.int64)
        if shared is not None:
            m = shared & s
            if m.any():
                keys = np.unique(nid[m] * (self.window_ps + 1) + (tt[m] - self._w0))
                active -= int(np.count_nonzero(m)) - len(keys)
        self.ledger.add("neuron_update_active", active)
        step = ~syn & en
        if step.any():
            st_n, st_t = nid[step], tt[step]
            coincide = np.isin(st_t, self._instants)
            if coincide.any():
                # a step at an instant the neuron also gets a spike is one update (the active one)
                syn_keys = nid[s] * (self.window_ps + 1) + (tt[s] - self._w0)
                k = st_n[coincide] * (self.window_ps + 1) + (st_t[coincide] - self._w0)
                coincide[np.flatnonzero(coincide)[~np.isin(k, syn_keys)]] = False
            self.ledger.add("neuron_update", int(np.count_nonzero(~coincide)))

    def _bulk(self, nid, tt, ww, syn, w0, w1):
        """Hand the model every neuron whose window needs no ordering; the rest's events come back."""
        model = self.model
        if not hasattr(model, "bulk"):
            return nid, tt, ww, syn, np.empty(0, np.int64)
        n = self.arrays.n_neurons
        # float64 sums of integers below 2^53 are exact
        pos = np.bincount(nid, np.maximum(ww, 0), minlength=n)
        neg = np.bincount(nid, np.minimum(ww, 0), minlength=n)
        idx = np.flatnonzero((pos != 0) | (neg != 0))  # all-zero inputs change nothing
        safe = model.bulk(idx, w0, w1, pos[idx].astype(ww.dtype), neg[idx].astype(ww.dtype))
        done = idx[safe]
        if len(done):
            self.pend[done] = model.predict(done)
        rest = np.zeros(n, bool)
        rest[idx[~safe]] = True
        keep = rest[nid]
        return nid[keep], tt[keep], ww[keep], syn[keep], done

    def _dedupe(self, a_t, a_ax):
        """Arrivals sorted by time, one per (instant, axon); their SOPs counted."""
        if not len(a_t):
            return a_t, a_ax
        order = np.lexsort((a_ax, a_t))
        a_t, a_ax = a_t[order], a_ax[order]
        keep = np.ones(len(a_t), bool)
        keep[1:] = (a_t[1:] != a_t[:-1]) | (a_ax[1:] != a_ax[:-1])
        a_t, a_ax = a_t[keep], a_ax[keep]
        self.ledger.add("synaptic_op", int(self.row_length[a_ax].sum()))
        return a_t, a_ax

    def _contributions(self, a_t, a_ax, w1):
        """(neuron, time, weight, is synaptic) of every input reaching a neuron in the window."""
        parts = []
        self._instants = np.empty(0, np.int64)
        self._shared = None
        if len(a_t):
            a_t, a_ax = self._dedupe(a_t, a_ax)
            if self._dac:
                self.ledger.add("dac_drive", len(a_ax))
            arrays = self.arrays
            syn_idx, neuron = gather_synapse_index(arrays, a_ax)
            if len(neuron):
                times = np.repeat(a_t, self.row_length[a_ax])
                if self.read_noise is not None:
                    w = self.read_noise.per_read(arrays, a_ax, syn_idx).astype(self._wdtype) * self._wscale
                elif arrays.row_weights is not None:
                    w = arrays.row_weights[syn_idx].astype(self._wdtype) * self._wscale
                else:
                    types = np.repeat(arrays.axon_type[a_ax].astype(np.int64), self.row_length[a_ax])
                    w = self._flat_weights[neuron * self._n_types + types]
                K = getattr(self.model, "n_currents", 1)
                if K > 1:  # several currents: one column per current, the synapse's type (its axon's)
                    kind = np.repeat(arrays.axon_type[a_ax].astype(np.int64), self.row_length[a_ax])
                    w = np.zeros((len(w), K)) + (np.arange(K) == kind[:, None]) * w[:, None]
                parts.append((neuron, times, w, np.ones(len(neuron), bool)))
            if len(neuron) and self.ckernel is None:  # the numpy path's update count needs the instants
                self._instants = np.unique(a_t)
                # arrivals sharing their instant with another (a_t is sorted)
                same = np.zeros(len(a_t), bool)
                same[1:] = a_t[1:] == a_t[:-1]
                same[:-1] |= same[1:]
                self._shared = np.repeat(same, self.row_length[a_ax]) if same.any() else None
        if self.model.has_steps:
            ids, times, signs = self.model.leak_steps(self._w0, w1)
            if len(ids):
                parts.append((ids, times, signs.astype(self._wdtype), np.zeros(len(ids), bool)))
        if not parts:
            return (np.empty(0, np.int64),) * 2 + (np.empty(0, self._wdtype), np.empty(0, bool))
        if len(parts) == 1:
            return parts[0]
        out = tuple(np.concatenate(x) for x in zip(*parts))
        if self._shared is not None:
            self._shared = np.concatenate([self._shared, np.zeros(len(out[0]) - len(self._shared), bool)])
        return out

    def _crossings(self, idx, t, spikes_n, spikes_t) -> None:
        """Neurons whose predicted crossing comes before ``t`` fire there first."""
        c = self.pend[idx]
        m = c < t
        if not m.any():
            return
        who, when = idx[m], c[m]
        self.model.fire(who, when)
        self.ledger.add("neuron_update_active", len(who))
        spikes_n.append(who)
        spikes_t.append(when)
        self.pend[who] = self.model.predict(who)

    def _queue_checks(self, idx) -> None:
        """Queue a check at each neuron's crossing if it moved (the old check goes stale)."""
        p = self.pend[idx]
        new = (p != self.queued[idx]) & (p < NEVER) & (p < self.end_ps)
        if new.any():
            self.queue.push_batch(p[new], KIND_CHECK, idx[new])
            self.queued[idx[new]] = p[new]

    def _repredict(self, idx, t: int) -> None:
        self.pend[idx] = self.model.predict(idx)
        self.queued[idx] = NEVER
        self._queue_checks(idx)

    def _emit(self, fired: np.ndarray, when: np.ndarray, routed=None) -> None:
        """Count the spikes, record them, send each along its routes (``routed``: the arrivals, as
        (times, axons), of spikes the C kernel sorted by (time, neuron) and routed itself)."""
        if routed is None:
            order = np.lexsort((fired, when))
            fired, when = fired[order], when[order]
        if self.n0:  # the global ids
            fired = fired + self.n0
        self.ledger.add("spike", len(fired))
        self._keep_spikes(fired, when)
        if routed is not None:
            self.spikes_sent += len(routed[0])
            return self.queue.push_batch(routed[0], KIND_ARRIVAL, routed[1])
        routes, emit = fired - self.neuron_base, when  # the bound routes' ids
        if self.fanout:
            starts = self._route_ptr[routes]
            counts = self._route_ptr[routes + 1] - starts
            routes, emit = row_positions(starts, counts), np.repeat(when, counts)
        target = self.route_axon[routes]
        sent = target >= 0
        r, e = routes, emit
        if not sent.all():
            r, e, target = routes[sent], emit[sent], target[sent]
        if not len(r):
            return
        self.spikes_sent += len(r)
        if self.packets is None:
            self.queue.push_batch(e + self.route_ps[r], KIND_ARRIVAL, target)
        else:
            self.packets.inject(np.maximum(e, self.packets.now), self.router.src_router(r),
                                self.router.dst_router(r), r)

    def _keep_spikes(self, fired: np.ndarray, when: np.ndarray, view: bool = False) -> None:
        """Spikes fired (global ids) at ``when``: counted per neuron for the prices (asyncroutes.py), kept
        for the record's trains and the presentation's readout (``view``: the C loop's buffers, reused
        after the call: copied where kept)."""
        self._count_spikes(fired, now=view)
        if self.opt.record_spikes:
            self.spike_times.append(when.copy() if view else when)
            self.spike_ids.append(fired.copy() if view else fired)
        if self.hooks is not None:
            ticks = when // self.T
            for tk in np.unique(ticks):
                self.hooks.observe(int(tk), fired[ticks == tk])

    def _spike_flow(self) -> dict[str, int]:
        """Where every spike sent to an axon went: sent + inputs = delivered + in flight at the end
        (no tick, so nothing is late). Drains the finished run's queue to count what it left."""
        rest = self.queue.pop_before(MAX_TIME_PS)
        in_network = self.packets.in_flight if self.packets is not None else 0
        return self._inputs_routed({
            "sent": self.spikes_sent, "inputs": self.inputs_sent, "delivered": self.ledger.get("axon_event"),
            "delivered_late": 0, "dropped_late": 0, "dropped_at_reset": self.ledger.get("in_flight_dropped_at_reset"),
            "in_flight_end": int(np.count_nonzero((rest.kind == KIND_ARRIVAL) | (rest.kind == KIND_INPUT))) + in_network})

    def _new_sample(self, boundary: int, end: int) -> None:
        """A classify workload's sample ends at ``boundary``: read the outputs, reset every neuron (to 0,
        as the tick loop's reset), drop the sample's spikes still in flight (counted, as the tick loop
        does; packets already in a ``--network packet`` network still arrive there too)."""
        hooks, a = self.hooks, self.arrays
        a.v[:] = np.floor(self.model.potentials(boundary)).astype(np.int64).clip(-2**31, 2**31 - 1)
        hooks.observe(boundary // self.T - 1, np.empty(0, np.int64))
        if boundary >= end:
            return
        hooks.reset_state(a)
        self.drop_seq = int(self.queue.push(boundary, KIND_MARK, 0))  # (the next sample's inputs are kept)
        self.model.reset_all(boundary)
        self._repredict(self._stepped(), boundary)

    def _stepped(self) -> np.ndarray:
        """The enabled neurons this loop steps (a loop split over MPI ranks: its own)."""
        return np.flatnonzero(self.enabled)

    def finish(self) -> RunResult:
        """The record: hops, wire and latency from the spikes per route, as the tick loop makes it."""
        opt, router = self.opt, self.router
        priced = self._route_prices()
        hops, routed = priced["class_hops"], priced["routed"]
        self.ledger.add("wire_nm", priced["wire_nm"])
        timing = {"timing_violations": 0, "spike_flow": self._spike_flow()}
        latencies = latency_summary(*priced["latency"])
        latency_ps_sum = int(latencies.pop("_latency_ps_sum"))
        timing["latency_samples"] = int(latencies.pop("_latency_samples"))
        timing.update(latencies)
        sim_time_s = opt.ticks * self.chip.timing.tick_s
        links = router.link_stats_of(priced["link_loads"], sim_time_s)
        timing["wire_mm_per_spike"] = self.ledger.get("wire_nm") * 1e-6 / routed if routed else 0.0
        timing.update({k: v for k, v in links.items() if not k.startswith("_")})
        timing.update({"lookahead_s": self.lookahead_ps * 1e-12, "window_s": self.window_ps * 1e-12,
                       "spike_time_unit": "ps"})
        if self.packets is not None:
            timing.update(self.packets.record_report(self.end_ps))
        if opt.link_stats:
            topo = self.topology
            timing["link_stats"] = {"src": topo.link_src.tolist(), "dst": topo.link_dst.tolist(),
                                    "packets": links["_loads"].tolist(), "utilization": links["_utilization"].tolist(),
                                    "router_pos_mm": topo.router_pos_mm.tolist()}
        network = self.network
        record = build_record(self.chip, self.workload, opt, self.ledger, router.class_names, hops, routed,
                              latency_ps_sum, network.n_enabled, self.wall, self.queue.backend, self.spike_times,
                              self.spike_ids, self.backend, sim_time_s=sim_time_s, extra=timing,
                              workload_report=network.report() if hasattr(network, "report") else None,
                              loop_stats={"windows": self.windows, "threshold_checks": self.checks})
        starts = np.arange(opt.ticks + 1, dtype=np.int64) * self.T  # tick starts: model time
        return with_network_reports(record, network, self.hooks, starts, self.endurance)


def run_async_cores(chip: ChipSpec, workload: WorkloadSpec, opt: RunOptions, progress: Progress | None) -> RunResult:
    """Run a core-array workload with no clock (the entry ``simulate`` takes for async chips)."""
    return AsyncCoreLoop(chip, workload, opt).run(progress)
