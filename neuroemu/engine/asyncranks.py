"""The async (clockless) loop split over MPI ranks (issue 17): ``mpiexec -n N neuroemu run ...`` on an async chip.

:class:`AsyncRankLoop` is the :class:`neuroemu.engine.asynccore.AsyncCoreLoop` of one rank.
The chip's array cores are cut into N contiguous core blocks; rank r owns its block's neurons
and axons (the record does not depend on the cut):

- a generated network on a system is drawn by blocks of cores (networks/blocks.py): ranks own
  whole blocks (:func:`neuroemu.networks.blocks.block_owner`, as the tick split), and a rank
  builds and holds only its own cores' arrays
  (:func:`neuroemu.networks.workloads.build_network_part`), its clockless model and its C window
  kernel: the loop runs on local ids (neuron g is g - n0, axon x is x - x0; the queue, inputs
  and exchange translate at the edge) and the model and kernel take the block's first global
  neuron as an offset, so every draw stays keyed on the global neuron id. A mapped network
  (read and placed whole, its share of the cores used written alone) and a single chip's
  generated one (its whole-chip streams drawn in order, its cores kept) are cut by cores
  (:func:`neuroemu.engine.mpi.partition_cores`) and built likewise, every route on the shell;
- it queues only its own neurons' threshold checks and stochastic leak steps (every draw keyed
  on the global neuron id and the step or update count, so a neuron draws what it draws in one
  process), the input spikes bound for its own axons (a system's Poisson inputs: drawn only for
  the blocks of cores that hold its cores, each block's from its own stream), and the spikes
  arriving at its own axons;
- it binds, counts and prices only its own neurons' routes (:func:`neuroemu.engine.rankshare.own_routes`:
  copied from the part it built, or out of the whole network; sources numbered from its first
  neuron, ``neuron_base``); the one-process lookahead L and the span's L_x are the smallest over
  the ranks of each rank's own (one ``allreduce`` each, before the first span);
- the spikes its neurons fire towards other ranks' axons are packed as int64 rows (arrival ps,
  global axon) and sent with one ``Alltoall`` + one ``Alltoallv``
  (:func:`neuroemu.engine.mpi.exchange`) at the end of each **span**;
- a span is [S, S + L_x): S the earliest next event of any rank (one ``allreduce``), L_x the
  conservative lookahead between ranks, the smallest delay of any route whose ends sit on
  different ranks (axonal delay x tick + the route's latency; :func:`cross_rank_lookahead`,
  never below the one-process lookahead L). A spike fired at t >= S reaches another rank at
  t + L_x >= S + L_x or later, so every event inside the span is known to its rank at the
  span's start and each rank runs its own windows (the one-process window rule, min(L, tick),
  clipped at the span's end) through the span alone. A lookahead of 0 ps is refused in one
  line (no span could ever end); no route across ranks: the whole run is one span.

Why the record does not depend on the rank count: the one-process loop is exact for any window
of at most min(L, tick) (a neuron's events are applied in time order; events of one instant
are summed first and never split by a window edge; ties at one instant are ordered by axon,
never by arrival in the queue), and each neuron's events are the same whoever holds the
others. At the end each rank prices its own routes at the sender in integers (hops per class,
routed spikes, wire in nm, packets per link, a latency histogram:
:meth:`neuroemu.hardware.chip.Router.prices`), and the counters, these prices
(:func:`neuroemu.engine.rankshare.reduce_prices`: the histograms merged), the spikes in flight
and the spike trains (sorted by (time, neuron), as one process emits them) are summed or
gathered onto rank 0, which alone builds the record with the one-process code: every float is
computed once there from integer sums, as the tick split does.

Two figures count how the loop cut time, not what the chip did: ``windows`` and
``threshold_checks`` (a neuron's crossing is queued again after each window that moved it, so
finer windows queue more checks, and a stale check can open a window of its own). A split run
cuts windows at span ends too, so both change with the rank count, and neither can be made
independent of it short of replaying the one-process loop's windows: the stale checks that open
them depend on the windows themselves. So every clockless run, one process included, keeps them
out of the chip's record, in ``RunResult.loop_stats`` beside the wall time and the backends
(:data:`neuroemu.engine.record.NONDETERMINISTIC_FIELDS`; summed over the ranks here). The rest
of the record, ``timing_report`` included, is identical for 1, 2 and 4 ranks
(tests/test_asyncranks.py). ``timing_report.mpi`` gives the ranks, the lookahead, the spans,
the exchange volume, the memory estimate and the routes each rank bound.

Memory: a rank that builds by blocks holds its share of the network's state (the largest
rank's whole blocks, ``by_block`` 1), its own neurons' routes and their closed forms, and its
own neurons' clockless state and C window kernel: about total / N plus the router graph and the
enabled flags (1 byte a neuron), estimated and checked per machine before building by the tick
split's estimate with the clockless state added
(:func:`neuroemu.engine.rankshare.check_rank_memory`, ``clockless=True``). Mapped
networks, presentations included, are laid out by part as the tick split lays them out; a rank
binds its own neurons' routes only. Refused in one line, as the tick
split refuses them: the packet network, learning, NVM synapse devices, the runaway limits, and
Neurogrid's diffuser network (its own engine). Presentations (``classify``) run split: spans end at
every sample's end, where the ranks have exchanged; then each rank reads its own outputs, resets
and predicts its own neurons again and drops its own queued spikes, and rank 0 merges the readouts
(``Presentation.merge``), as the tick split does.

Inputs on cores (``network.inputs: on_cores``): every rank binds every input's route (for the
latency of the packets reaching its own axons, which may leave any core) and queues the packets
bound for its own axons, known in advance, so none is exchanged; it prices the input routes
leaving its own cores (:meth:`AsyncRankLoop._own_inputs`), and rank 0 lists every input packet
in the spike flow (``inputs_routed``), as one process does.
"""
from __future__ import annotations

import dataclasses
import resource
import time

import numpy as np

from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.engine.asynccore import KIND_ARRIVAL, KIND_INPUT, AsyncCoreLoop
from neuroemu.engine.asyncmodels import NEVER
from neuroemu.engine.asyncnet import ASYNC_NETWORKS
from neuroemu.engine.energy import Ledger
from neuroemu.engine.mpi import abort_on_error, agree_on_setup, exchange, local_size, partition_cores, reduce_counts
from neuroemu.engine.rankshare import check_rank_memory, own_routes, reduce_prices
from neuroemu.engine.options import MAX_TIME_PS, Progress, RunOptions
from neuroemu.engine.record import RunResult
from neuroemu.errors import ConfigError, NeuroEmuError
from neuroemu.networks.blocks import block_cores, block_owner
from neuroemu.networks.workloads import (build_mapped_part, build_network_part, builds_alone, builds_by_block,
                                         maps_by_part)

#: int64 fields of one exchanged spike: arrival ps, global axon
ROW_FIELDS = 2


def cross_rank_lookahead(route_ps: np.ndarray, src_rank: np.ndarray, dst_rank: np.ndarray, where: str) -> int | None:
    """The smallest delay (ps) of a route from a neuron on one rank to an axon on another (the
    span of the split run), None if no route crosses ranks; 0 ps or less is refused in one line.
    ``src_rank`` may be one rank for every route (a rank's own routes: its span, the run's being
    the smallest over the ranks)."""
    cross = np.asarray(route_ps)[np.asarray(src_rank) != np.asarray(dst_rank)]
    if not len(cross):
        return None
    span = int(cross.min())
    if span <= 0:
        raise ConfigError(f"{where}: latency: split over MPI ranks, the async lookahead (the smallest delay of a "
                          f"spike between cores of different ranks: delay x tick + the route's latency) must be "
                          f"> 0 ps, or no rank could run ahead of the others (got {span} ps)")
    return span


class _LocalInputs:
    """An input stream restricted to the axons of cores ``c0 .. c1 - 1`` (one rank's).

    A system's Poisson inputs are drawn block by block, each block from its own streams
    (networks/blocks.py): the rank draws only the blocks that hold its cores (the cut may fall
    inside a block, so the first and last are drawn whole and filtered). Other streams (a
    single chip's one draw, a mapped network's spike list) are drawn whole and filtered."""

    def __init__(self, stream, c0: int, c1: int, axons_per_core: int, shift: int):
        # ``shift``: the loop's first axon id (its state holds its own cores alone: local ids)
        self.a0, self.a1, self.shift = c0 * axons_per_core, c1 * axons_per_core, shift
        self.CHUNK = stream.CHUNK
        block = getattr(stream, "block", None)
        own = stream.only(c0 // block * block, -(-c1 // block) * block) if block and hasattr(stream, "only") else None
        self.stream = own or stream
        if hasattr(self.stream, "arrivals"):  # (the loop queues a stream with arrivals at them)
            self.arrivals = self._arrivals

    def events(self, tick_lo: int, tick_hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The stream's spikes in [tick_lo, tick_hi) bound for this rank's axons."""
        ticks, axons = self.stream.events(tick_lo, tick_hi)
        mine = (axons >= self.a0) & (axons < self.a1)
        return ticks[mine], axons[mine] - self.shift

    def _arrivals(self, tick_lo: int, tick_hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs on cores: the packets due in [tick_lo, tick_hi) bound for this rank's axons, at their
        arrival (ps, the route's latency included: engine/asyncroutes.RoutedInputs)."""
        at, axons = self.stream.arrivals(tick_lo, tick_hi)
        mine = (axons >= self.a0) & (axons < self.a1)
        return at[mine], axons[mine] - self.shift


class _SplitQueue:
    """The loop's queue, keeping the spikes bound for this rank's axons (as the loop's axon ids:
    global less ``shift``) and packing the others (rows of arrival ps and global axon) for the
    span's exchange; everything else is the queue's."""

    def __init__(self, inner, a0: int, a1: int, shift: int):
        self.inner, self.a0, self.a1, self.shift = inner, a0, a1, shift
        self.outbox: list[np.ndarray] = []

    def push_batch(self, times, kind, target, *rest):
        """Push as the queue does; arrivals at other ranks' axons go to the outbox instead."""
        if isinstance(kind, (int, np.integer)) and kind == KIND_ARRIVAL and len(target):
            times, target = np.asarray(times, np.int64), np.asarray(target, np.int64)
            mine = (target >= self.a0) & (target < self.a1)
            if not mine.all():
                away = ~mine
                self.outbox.append(np.stack([times[away], target[away]], axis=1))
                times, target = times[mine], target[mine]
            if self.shift:
                target = target - self.shift
        return self.inner.push_batch(times, kind, target, *rest)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class AsyncRankLoop(AsyncCoreLoop):
    """One rank's clockless loop (module docstring); ``comm`` is set by
    :func:`neuroemu.engine.ranks.simulate_ranks`."""

    comm = None

    def __init__(self, chip: ChipSpec, workload: WorkloadSpec, opt: RunOptions):
        comm = self.comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.sent_rows = self.exchanges = self.spans = 0
        self.exchange_s = 0.0
        # no collective until every rank has built (or failed to): run() agrees on the outcome first
        self.setup_error: BaseException | None = None
        try:
            _refuse_unsupported(chip, workload, opt)
            self.memory = check_rank_memory(chip, workload, self.size, local_size(self.size), clockless=True)
            super().__init__(chip, workload, opt)
            self._split()
        except Exception as exc:  # noqa: BLE001 - reported by run() on every rank
            self.setup_error = exc

    def _build_network(self):
        """Only this rank's cores where the network is drawn by blocks (a generated network on a
        system: neuroemu.networks.blocks), ranks owning whole blocks, mapped from a file (its
        arrays written for this rank's cores alone, every route on the shell) or generated on a
        single chip (its whole-chip streams drawn in order, its cores kept); else the whole network."""
        chip = self.chip
        self.owner = None
        if builds_by_block(chip, self.workload):
            self.owner = owner = block_owner(chip.cores, block_cores(chip), self.size, chip.source or chip.name)
            c0, c1 = int(np.searchsorted(owner, self.rank)), int(np.searchsorted(owner, self.rank, "right"))
            return build_network_part(chip, self.workload, self.opt.seed, self.name, c0, c1)
        if maps_by_part(chip, self.workload):  # read and placed whole, its share of the cores used written alone
            def cores_of(k: int) -> tuple[int, int]:
                self.owner = owner = partition_cores(k, self.size)
                return int(np.searchsorted(owner, self.rank)), int(np.searchsorted(owner, self.rank, "right"))
            return build_mapped_part(chip, self.workload, self.opt.seed, self.name, cores_of)
        if builds_alone(chip, self.workload):  # a single chip: its whole-chip streams drawn, its cores kept
            self.owner = owner = partition_cores(chip.cores, self.size)
            c0, c1 = int(np.searchsorted(owner, self.rank)), int(np.searchsorted(owner, self.rank, "right"))
            return build_network_part(chip, self.workload, self.opt.seed, self.name, c0, c1)
        return super()._build_network()

    def _own_routes(self, whole):
        """This rank's block of cores, and the routes of its own neurons alone (sources numbered from
        its first neuron): copied from the part it built, or out of the whole network
        (:func:`neuroemu.engine.rankshare.own_routes`)."""
        if self.owner is None:
            self.owner = partition_cores(whole.n_cores, self.size)
        owner = self.owner
        c0, c1 = int(np.searchsorted(owner, self.rank)), int(np.searchsorted(owner, self.rank, "right"))
        N, A = whole.neurons_per_core, whole.axons_per_core
        self.c0, self.c1 = c0, c1
        self.g0, self.g1, self.a0, self.a1 = c0 * N, c1 * N, c0 * A, c1 * A
        # each rank's first axon: a spike's rank is the last start at or below its target axon
        self.axon_starts = np.searchsorted(owner, np.arange(self.size)).astype(np.int64) * A
        return (self.g0, *own_routes(whole, getattr(self.network, "part", None), self.g0, self.g1 - self.g0))

    def _kernel_routes(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Its own neurons' routes, for the C kernel, which runs on the loop's ``n`` neurons: its own
        (built by blocks), or every neuron of a network held whole (the others never fire here:
        no route, never reached)."""
        if self.n0 == self.g0 and n == len(self.route_axon):
            return self.route_axon, self.route_ps
        axon, ps = np.full(n, -1, np.int64), np.zeros(n, np.int64)
        lo = self.g0 - self.n0
        axon[lo:lo + len(self.route_axon)], ps[lo:lo + len(self.route_ps)] = self.route_axon, self.route_ps
        return axon, ps

    def _lookahead(self, chip: ChipSpec, name: str) -> int:
        """The smallest delay of its own routes (:data:`NEVER` if none sends); the run's is the
        smallest over the ranks (run)."""
        return super()._lookahead(chip, name) if self.sends.any() else NEVER

    def _own_model(self, model):
        """The model keeps this rank's own stochastic neurons (built for them alone when the network
        was built by blocks)."""
        if getattr(model, "has_steps", False) and self.network.part is None:  # this block's leak steps alone
            keep = (model.stochastic >= self.g0) & (model.stochastic < self.g1)
            model.stochastic, model.offset_keys = model.stochastic[keep], model.offset_keys[keep]
            model.has_steps = bool(keep.any())
        return model

    def _split(self) -> None:
        """Its span (the smallest delay of its own routes to other ranks; the run's is the smallest over
        the ranks: run); the queue and inputs cut to this rank's axons."""
        A, sends = self.arrays.axons_per_core, self.sends
        dst = self.owner[self.route_axon[sends] // A]
        span = cross_rank_lookahead(self.route_ps[sends], self.rank, dst, self.chip.source or self.chip.name)
        self.span_ps = NEVER if span is None else span
        self.queue = _SplitQueue(self.queue, self.a0, self.a1, self.x0)
        self.inputs = [_LocalInputs(s, self.c0, self.c1, A, self.x0) for s in self.inputs]
        lo = self.g0 - self.n0  # the loop's own ids
        self.local_enabled = np.flatnonzero(self.enabled[lo:self.g1 - self.n0]) + lo
        if self.hooks is not None:  # a presentation: it reads (and rank 0 merges) its own outputs
            self.hooks.restrict(self.arrays, self.g0, self.g1, self.n0)

    def _stepped(self) -> np.ndarray:
        """Its own enabled neurons (a presentation's reset predicts them alone again)."""
        return self.local_enabled

    def run(self, progress: Progress | None) -> RunResult | None:
        """Every span up to the run's end (progress on rank 0 only), then the record on rank 0 (None
        elsewhere). The ranks first agree on their setup (:func:`neuroemu.engine.mpi.agree_on_setup`);
        after that an error on one rank aborts them all (:func:`neuroemu.engine.mpi.abort_on_error`)."""
        agree_on_setup(self.comm, self.setup_error)
        with abort_on_error(self.comm):
            from mpi4py import MPI
            # each rank knows its own routes: the lookahead and the span are the smallest over the ranks
            L, span = (self.comm.allreduce(x, op=MPI.MIN) for x in (self.lookahead_ps, self.span_ps))
            self.lookahead_ps = self.T if L == NEVER else L  # no route sends: as one process, one tick
            self.window_ps, self.span_ps = min(self.lookahead_ps, self.T), span
            return self._run(progress if self.rank == 0 else None)

    def _run(self, progress: Progress | None) -> RunResult | None:
        from mpi4py import MPI
        start = time.perf_counter()
        self._repredict(self.local_enabled, 0)
        end, W, T = self.end_ps, self.window_ps, self.T
        done_tick = -1
        boundary = self.period_ps if self.period_ps else NEVER
        while True:
            t0 = self._feed_inputs(self._next_time())
            s = self.comm.allreduce(min(t0, end), op=MPI.MIN)
            if boundary <= s:
                # a presentation's sample ends: spans end there, so the spikes its span sent to
                # other ranks came in (exchanged) before each rank resets and drops its own
                self._new_sample(boundary, end)
                boundary = boundary + self.period_ps if boundary < end else NEVER
                continue
            if s >= end:
                break
            span_end = min(s + self.span_ps, end, boundary)
            self.spans += 1
            while t0 < span_end:
                feed = self.next_chunk * T if self.inputs and self.next_chunk < self.opt.ticks else NEVER
                w1 = min(t0 + W, span_end, feed)
                self._window(t0, w1, start)
                self._last_w1 = w1
                self.windows += 1
                if progress is not None and t0 // T != done_tick:
                    done_tick = t0 // T
                    progress(int(done_tick), self.opt.ticks)
                t0 = self._feed_inputs(self._next_time())
            self._exchange(span_end)
        if progress is not None:
            progress(self.opt.ticks, self.opt.ticks)
        self.wall = time.perf_counter() - start
        return self.finish()

    def _exchange(self, span_end: int) -> None:
        """Send the span's spikes bound for other ranks; queue those that came (all due at or after
        the span's end: the lookahead's promise, checked)."""
        start = time.perf_counter()
        box = self.queue.outbox
        rows = np.concatenate(box) if box else np.empty((0, ROW_FIELDS), np.int64)
        box.clear()
        dest = np.searchsorted(self.axon_starts, rows[:, 1], side="right") - 1
        got = exchange(self.comm, dest, rows)
        self.sent_rows += len(rows)
        self.exchanges += 1
        if len(got):
            if int(got[:, 0].min()) < span_end:
                raise NeuroEmuError(f"internal: a spike from another rank arrives at {int(got[:, 0].min())} ps, "
                                    f"inside the span that ended at {span_end} ps (the lookahead was broken)")
            self.queue.inner.push_batch(got[:, 0], KIND_ARRIVAL, got[:, 1] - self.x0)
        self.exchange_s += time.perf_counter() - start

    def _spike_flow(self) -> dict[str, int]:
        # every rank's queue was drained in finish (rank 0's is empty here): its in-flight count is
        # the ranks' sum, plus the input packets never queued (inputs on cores: asyncroutes.py)
        flow = super()._spike_flow()
        flow["in_flight_end"] += self._in_flight_total
        return flow

    def _own_inputs(self) -> np.ndarray:
        """The input routes leaving its own cores (each rank binds every input's route, for its latency)."""
        src = self.network.input_routes()[0]
        return ((src >= self.c0) & (src < self.c1)).astype(np.int64)

    def finish(self) -> RunResult | None:
        """Counters, priced routes, spikes in flight and spike trains onto rank 0; its record. Each
        rank prices its own routes at the sender (integers only) and rank 0 sums them
        (:func:`neuroemu.engine.rankshare.reduce_prices`), as the tick split does."""
        comm = self.comm
        rest = self.queue.pop_before(MAX_TIME_PS)  # what this rank leaves in flight (its own axons)
        counts = dict(self.ledger.counts)
        counts.update({"~inputs_sent": self.inputs_sent, "~spikes_sent": self.spikes_sent, "~checks": self.checks,
                       "~windows": self.windows,
                       "~in_flight": int(np.isin(rest.kind, (KIND_ARRIVAL, KIND_INPUT)).sum())})
        total = reduce_counts(comm, counts)
        priced = reduce_prices(comm, AsyncCoreLoop._route_prices(self))  # its own routes, summed
        trains = self._gather_trains()
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this rank's peak so far
        volume = comm.gather((self.sent_rows, self.exchange_s, self.c1 - self.c0, rss_mb, len(self.route_axon)), root=0)
        readouts = comm.gather(self.hooks.readout(), root=0) if self.hooks is not None else None
        if self.rank != 0:
            return None
        if readouts is not None:  # each output read on its own rank: the whole readout on rank 0
            self.hooks.merge(readouts)
        self._in_flight_total = total.pop("~in_flight")
        self.inputs_sent, self.spikes_sent = total.pop("~inputs_sent"), total.pop("~spikes_sent")
        self.checks, self.windows = total.pop("~checks"), total.pop("~windows")
        self.ledger = Ledger()
        for k, v in total.items():
            self.ledger.add(k, v)
        self._priced = priced
        if trains is not None:
            self.spike_times, self.spike_ids = [trains[0]], [trains[1]]
        record = super().finish()
        mpi = {"ranks": self.size, "lookahead_s": None if self.span_ps == NEVER else self.span_ps * 1e-12,
               "spans": self.spans, "cores_per_rank": [v[2] for v in volume],
               "exchanged_spikes_per_rank": [v[0] for v in volume],
               "exchanged_bytes_per_rank": [v[0] * ROW_FIELDS * 8 for v in volume],
               "exchanges": self.exchanges, "exchange_wall_s_per_rank": [v[1] for v in volume],
               "memory_estimate_bytes_per_rank": self.memory,
               "peak_rss_mb_per_rank": [round(v[3], 1) for v in volume],
               "routes_bound_per_rank": [v[4] for v in volume]}
        return dataclasses.replace(record, timing_report={**record.timing_report, "mpi": mpi})

    def _route_prices(self) -> dict:
        """On rank 0 at the end: every rank's priced routes summed (finish)."""
        return self._priced

    def _gather_trains(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Every rank's recorded spikes on rank 0, sorted by (time, neuron) as one process emits them."""
        if not self.opt.record_spikes:
            return None
        times = np.concatenate(self.spike_times) if self.spike_times else np.empty(0, np.int64)
        ids = np.concatenate(self.spike_ids) if self.spike_ids else np.empty(0, np.int64)
        parts = self.comm.gather((times, ids), root=0)
        if self.rank != 0:
            return None
        times = np.concatenate([p[0] for p in parts])
        ids = np.concatenate([p[1] for p in parts])
        order = np.lexsort((ids, times))
        return times[order], ids[order]


def _refuse_unsupported(chip: ChipSpec, workload: WorkloadSpec, opt: RunOptions) -> None:
    """One line for what the clockless loop does not run split over ranks yet (module docstring)."""
    where = chip.source or chip.name
    if workload.network.kind in ASYNC_NETWORKS:
        raise ConfigError(f"{workload.where}: network.kind: {workload.network.kind} runs on Neurogrid's diffuser "
                          "engine, which does not run split over MPI ranks yet: run it in one process")
    if opt.network != "analytic":
        raise ConfigError("--network: packet does not run split over MPI ranks yet: use --network analytic")
    if opt.max_events is not None or opt.max_window_events is not None:
        raise ConfigError("--max-events/--max-window-events: not checked across MPI ranks yet: leave them out")
    if workload.learning is not None:
        raise ConfigError(f"{workload.where}: learning: does not run split over MPI ranks yet (a rule changes "
                          "weights each window, and the ranks would have to agree on them)")
    if chip.synapse_device is not None:
        raise ConfigError(f"{where}: synapse_device: NVM synapses do not run split over MPI ranks yet")
