"""The tick loop split over MPI ranks (issue 17): ``mpiexec -n N neuroemu run SYSTEM WORKLOAD``.

:class:`RankLoop` is the :class:`neuroemu.engine.run.TickLoop` of one rank. The chip's array cores
are cut into N contiguous blocks: whole generation blocks for a generated network on a system
(:func:`neuroemu.networks.blocks.block_owner`), else core blocks
(:func:`neuroemu.engine.mpi.partition_cores`); on a system whose chip rows divide among the
ranks a block is whole chips. Rank r:

- builds and steps only its block: a generated network on a system is drawn by generation
  blocks (one chip's share of cores, each from its own streams: neuroemu.networks.blocks), ranks
  own whole blocks, and rank r builds its own alone (``build_network_part``); a mapped network
  is read and placed whole and rank r writes its share of the cores used alone
  (``build_mapped_part``: networks/compile.py, "Built by ranks"); a generated one on a single
  chip is drawn from the whole-chip streams in order, rank r keeping its cores
  (networks/chippart.py); only networks with NVM devices or a diffuser are built whole and
  sliced (:func:`slice_arrays`); the stepper's random bits are keyed on global neuron
  ids (``TickStepper(neuron_offset=...)``), so a rank draws what a one-process run draws for its
  neurons;
- takes only the input spikes bound for its own axons (on a system, draws only its blocks'
  Poisson streams);
- binds, counts and prices only its own neurons' routes (sources on its cores: copied from the
  part it built, or from the whole network before that is dropped; inputs on cores: those
  sitting on its cores); route ids and spike counts are local (numbered from its first neuron);
- routes the spikes its neurons fire: those bound for its own cores go into its queue, the rest
  are packed as int64 rows (arrival ps, global axon, due tick) and sent with one ``Alltoall`` +
  one ``Alltoallv`` (:func:`neuroemu.engine.mpi.exchange`) once per window of W ticks, W the
  smallest delay of any route that crosses ranks (conservative: a spike sent in tick t is due
  in t + W at the earliest, and the exchange before tick t + W's delivery brings it in time);
- at the end, prices its own routes at the sender in integers (hops per class, routed spikes,
  wire in nm, packets per link, a latency histogram of distinct ps values and spike counts:
  ``TickLoop._route_prices``) and sums them with its counters, spikes in flight and spike
  trains onto rank 0 (:func:`neuroemu.engine.mpi.reduce_counts`,
  :func:`neuroemu.engine.rankshare.reduce_prices`; the histograms merged), which alone builds
  the record with the same code as the one-process run.
  Every sum is of integers and every float (energies, wire per spike, latency percentiles,
  link utilisation) is computed once from them on rank 0, and the merged histogram is the
  one-process distribution exactly; spike trains are sorted by (tick, neuron) as the kernels
  fire them. So records of 1, 2 or 4 ranks agree on every field but wall time, backends, the
  memory peak and the ``timing_report.mpi`` section (ranks, window, exchange volume, memory
  estimate, routes bound per rank).

A rank holds its own share of the network and of the routes; only the router graph (closed forms
on meshes, no [n, n] tables) and the enabled flags (1 byte a neuron) are whole on every rank.
Memory per rank (:func:`neuroemu.engine.rankshare.rank_bytes`: about total / N plus the graph) is
estimated and checked before anything is built (:func:`neuroemu.engine.rankshare.check_rank_memory`,
one estimate for this split and the clockless one).

Presentations (``classify``) are mapped by part like any file network; at each sample's end every rank exchanges
(inside a window too, so spikes bound for other ranks are queued before the reset's marker), resets
its own cores' neurons (:meth:`RankLoop._reset_state`) and drops its own queued spikes; it reads the
outputs on its own cores (``Presentation.restrict``) and rank 0 merges the readouts
(``Presentation.merge``) before building the classification report.

Barrier timing takes one more collective per timestep: the timestep ends at the maximum over the
ranks of their busiest core's end and their spikes' arrivals (``Allreduce``), so every rank starts
the next one at the same time. Async chips run split by :mod:`neuroemu.engine.asyncranks` (spans of
the lookahead between ranks). Refused in one line (they need more than a per-window exchange):
the packet network, learning, NVM synapse devices, several synaptic currents, and the runaway limits
(``--max-events``), which would need a global count every tick.
"""
from __future__ import annotations

import dataclasses
import resource
import time

import numpy as np

from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.engine.energy import GalsWork, Ledger
from neuroemu.engine.mpi import abort_on_error, agree_on_setup, exchange, local_size, partition_cores, reduce_counts, world
from neuroemu.engine.options import STREAM_NEURON_RNG, RunOptions
# the memory estimate lives with what both split loops share; named here too, as the tick split's
from neuroemu.engine.rankshare import (ROUTE_BYTES_PER_NEURON, WHOLE_BYTES_PER_NEURON, check_rank_memory,  # noqa: F401
                                       own_routes, rank_bytes, reduce_prices)
from neuroemu.engine.record import RunResult
from neuroemu.engine.run import TickLoop, simulate
from neuroemu.errors import ConfigError
from neuroemu.hardware.cores import CoreArrays
from neuroemu.hardware.csr import row_positions
from neuroemu.hardware.step import TickStepper
from neuroemu.models.neuron import neuron_model
from neuroemu.models.rng import stream_key
from neuroemu.networks.blocks import block_cores, block_owner
from neuroemu.networks.workloads import (build_mapped_part, build_network_part, builds_alone, builds_by_block,
                                         maps_by_part)

#: int64 fields of one exchanged spike: arrival ps, global axon, due tick
ROW_FIELDS = 3
#: a rank's smallest cross-rank delay when none of its routes crosses ranks
NO_CROSSING = 1 << 62


def simulate_ranks(*args, comm=None, **kwargs) -> RunResult | None:
    """:func:`neuroemu.engine.run.simulate` split over the ranks of ``comm`` (default: the world):
    the record on rank 0, None on the others. Every rank must call it with the same arguments."""
    comm = comm or world()
    from neuroemu.engine.asyncranks import AsyncRankLoop  # async chips: the clockless loop split likewise
    loop = type("BoundRankLoop", (RankLoop,), {
        "comm": comm, "async_loop": type("BoundAsyncRankLoop", (AsyncRankLoop,), {"comm": comm})})
    return simulate(*args, loop=loop, **kwargs)


def slice_arrays(a: CoreArrays, c0: int, c1: int) -> CoreArrays:
    """The cores ``c0 .. c1 - 1`` of ``a`` as arrays of their own (local ids from 0); routes stay
    global. Per-neuron parameter arrays are cut at the block's neurons."""
    N, A = a.neurons_per_core, a.axons_per_core
    g0, g1, a0, a1 = c0 * N, c1 * N, c0 * A, c1 * A
    s0, s1 = int(a.row_ptr[a0]), int(a.row_ptr[a1])

    def cut(x, lo, hi):  # a copy, never a view: the whole arrays are freed after the slice
        return None if x is None else x[lo:hi].copy()

    params = dataclasses.replace(a.params, **{
        f.name: cut(getattr(a.params, f.name), g0, g1) for f in dataclasses.fields(a.params)
        if getattr(a.params, f.name) is not None})
    return CoreArrays(
        n_cores=c1 - c0, axons_per_core=A, neurons_per_core=N, v=cut(a.v, g0, g1), weights=cut(a.weights, g0, g1),
        params=params, axon_type=cut(a.axon_type, a0, a1), row_ptr=a.row_ptr[a0:a1 + 1] - s0,
        row_neurons=cut(a.row_neurons, s0, s1), target_axon=cut(a.target_axon, g0, g1), delay=cut(a.delay, g0, g1),
        dense=cut(a.dense, a0, a1), row_weights=cut(a.row_weights, s0, s1),
        dense_weights=cut(a.dense_weights, a0, a1), neuron_model=a.neuron_model, u=cut(a.u, g0, g1),
        refractory_left=cut(a.refractory_left, g0, g1), chip_core=cut(a.chip_core, c0, c1))


class _InputsOf:
    """An input stream restricted to the axons ``a0 .. a1 - 1`` (one rank's cores)."""

    def __init__(self, stream, a0: int, a1: int, own: object | None = None):
        # ``own``: the stream drawing this rank's axons alone (a system's Poisson inputs, drawn block
        # by block); else the whole stream is drawn and filtered
        self.stream, self.a0, self.a1 = own or stream, a0, a1
        self.CHUNK = stream.CHUNK

    def events(self, tick_lo: int, tick_hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The stream's spikes in [tick_lo, tick_hi) bound for this rank's axons."""
        ticks, axons = self.stream.events(tick_lo, tick_hi)
        mine = (axons >= self.a0) & (axons < self.a1)
        return ticks[mine], axons[mine]


class _BlockStepper:
    """A :class:`TickStepper` over one block of cores, spoken to in global ids."""

    adc = None
    read_noise = None

    def __init__(self, local: CoreArrays, enabled: np.ndarray, c0: int, n_cores: int, membrane_bits: int,
                 key: int, backend: str | None, core_counts: bool):
        N, A = local.neurons_per_core, local.axons_per_core
        self.g0, self.a0, self.c0 = c0 * N, c0 * A, c0
        self.inner = TickStepper(local, enabled, membrane_bits, key, backend, core_counts=core_counts,
                                 neuron_offset=self.g0)
        self.backend = self.inner.backend
        # the timing policy reads each core's work by global core id: this block's slots are filled
        self.core_sops = np.zeros(n_cores, np.int64) if core_counts else None
        self.core_active = np.zeros(n_cores, np.int64) if core_counts else None

    def step(self, tick: int, axons: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Step the block with this tick's (global) axon spikes; the fired global neuron ids."""
        fired, sops, n_active = self.inner.step(tick, np.asarray(axons, np.int64) - self.a0)
        if self.core_sops is not None:
            c1 = self.c0 + len(self.inner.core_sops)
            self.core_sops[self.c0:c1] = self.inner.core_sops
            self.core_active[self.c0:c1] = self.inner.core_active
        return fired + self.g0, sops, n_active


class RankLoop(TickLoop):
    """One rank's tick loop (module docstring); ``comm`` is set by :func:`simulate_ranks`."""

    comm = None

    def __init__(self, chip: ChipSpec, workload: WorkloadSpec, opt: RunOptions):
        comm = self.comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.exchange_s = 0.0
        self.sent_rows = self.exchanges = 0
        self.outbox: list[np.ndarray] = []
        # no collective until every rank has built (or failed to): a rank that fails here must not
        # leave the others waiting; run() agrees on the outcome first
        self.setup_error: BaseException | None = None
        try:
            _refuse_unsupported(chip, workload, opt)
            self.memory = check_rank_memory(chip, workload, self.size, local_size(self.size))
            super().__init__(chip, workload, opt)
        except Exception as exc:  # noqa: BLE001 - reported by run() on every rank, see there
            self.setup_error = exc

    def _build_network(self):
        """Only this rank's cores where the network is drawn by blocks (a generated network on a
        system: neuroemu.networks.blocks), ranks owning whole blocks, or mapped from a file (read
        and placed whole, its arrays written for this rank's share of the cores used:
        networks/compile.py, "Built by ranks"), or generated on a single chip (its whole-chip
        streams drawn in order, this rank's cores kept: networks/chippart.py); else (NVM devices,
        a diffuser) the whole network, of which _build_cores keeps the rank's slice."""
        chip = self.chip
        self.owner = None
        if builds_by_block(chip, self.workload):
            self.owner = block_owner(chip.cores, block_cores(chip), self.size, chip.source or chip.name)
            c0, c1 = _own_range(self.owner, self.rank)
            return build_network_part(chip, self.workload, self.opt.seed, self.name, c0, c1)
        if maps_by_part(chip, self.workload):
            size, rank = self.size, self.rank  # the share _route_neurons cuts from the cores used
            return build_mapped_part(chip, self.workload, self.opt.seed, self.name,
                                     lambda k: _own_range(partition_cores(k, size), rank))
        if builds_alone(chip, self.workload):  # a single chip: its whole-chip streams drawn, its cores kept
            c0, c1 = _own_range(partition_cores(chip.cores, self.size), self.rank)
            return build_network_part(chip, self.workload, self.opt.seed, self.name, c0, c1)
        return super()._build_network()

    def _route_neurons(self) -> tuple[int, int]:
        """This rank's cores (whole blocks, or a contiguous share of the cores) and so the neurons
        whose routes it binds: its own."""
        a = self.arrays
        self.owner_of = self.owner if self.owner is not None else partition_cores(a.n_cores, self.size)
        self.c0, self.c1 = _own_range(self.owner_of, self.rank)
        return self.c0 * a.neurons_per_core, (self.c1 - self.c0) * a.neurons_per_core

    def _bound_routes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Its own neurons' routes (sources numbered from its first neuron), copied out of the
        part built alone or of the whole network, whose routes then go (_build_cores)."""
        src, target, delay, self._route_ptr = own_routes(self.arrays, getattr(self.network, "part", None),
                                                         self.neuron_base, self.neuron_count)
        self.fanout = self._route_ptr is not None  # (a mapped part's fan-out is its own: the shell has none)
        return src, target, delay

    def _bound_input_routes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The routes of the inputs that sit on its own cores (inputs on cores)."""
        src, dst, ids = self.network.input_routes()
        mine = (src >= self.c0) & (src < self.c1)
        return src[mine], dst[mine], ids[mine]

    def _routes_of(self, fired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Its own routes of its fired neurons (numbered from its first neuron), fan-out arrays."""
        starts = self._route_ptr[fired]
        lengths = self._route_ptr[fired + 1] - starts
        return row_positions(starts, lengths), lengths

    def _build_cores(self) -> None:
        """This rank's cores: built alone (by blocks), or sliced out of the whole network; the
        whole network's state arrays and routes are dropped (its own routes are bound)."""
        self.learning = self.endurance = self.device = None
        self._columns_per_core = None
        a, chip, opt = self.arrays, self.chip, self.opt
        owner = self.owner_of  # contiguous
        if a.neurons_per_core % 8:
            raise ConfigError(f"{chip.source or chip.name}: core.neurons: {a.neurons_per_core} neurons per core; "
                              "split over ranks needs a multiple of 8 (random bits come 8 neurons a word)")
        if getattr(a.params, "du_syn", None) is not None:
            raise ConfigError(f"{self.name}: network.neuron: several synaptic currents do not run split over "
                              "MPI ranks yet")
        self.a0, self.a1 = self.c0 * a.axons_per_core, self.c1 * a.axons_per_core
        # each rank's first axon: a spike's rank is the last start at or below its target axon
        self.axon_starts = np.searchsorted(owner, np.arange(self.size)).astype(np.int64) * a.axons_per_core
        g0, g1 = self.c0 * a.neurons_per_core, self.c1 * a.neurons_per_core
        enabled = np.ascontiguousarray(self.network.enabled[g0:g1])
        self.n_enabled = int(enabled.sum())
        self.cross_delay_min = self._cross_delay_min(owner)  # the window, once the ranks agree (run)
        part = getattr(self.network, "part", None)  # built alone (by blocks), for exactly these cores
        local = part if part is not None else slice_arrays(a, self.c0, self.c1)
        if part is not None:
            self.network.part = None  # the stepper holds it from here
        self._local = local  # its cores' state: a presentation resets it and reads its outputs from it
        if self.hooks is not None:
            self.hooks.restrict(local, g0, g1, g0)
        self.stepper = _BlockStepper(local, enabled, self.c0, a.n_cores, chip.core.membrane_bits,
                                     stream_key(opt.seed, STREAM_NEURON_RNG), opt.tick_backend,
                                     self.policy.needs_core_counts)
        self.gals_work = None
        if self.policy.mode == "gals":  # gals clocks this rank's cores with work, judged on their own state
            self.gals_work = GalsWork(local, enabled, neuron_model(local.neuron_model).kernel, self.a0, g0)
        self.inputs = [_InputsOf(s, self.a0, self.a1, s.only(self.c0, self.c1) if hasattr(s, "only") else None)
                       for s in self.inputs]
        # the whole network's state and routes go: the rank bound its own routes (_bind_routes)
        report = self.network.report() if hasattr(self.network, "report") else None
        if report is not None:
            self.network.report = lambda: report
        for name in ("v", "weights", "params", "axon_type", "row_ptr", "row_neurons", "target_axon", "delay", "dense",
                     "row_weights", "dense_weights", "u", "refractory_left", "fanout_ptr", "fanout_axon",
                     "fanout_delay"):
            if getattr(a, name) is not None:
                setattr(a, name, None)

    def _cross_delay_min(self, owner: np.ndarray) -> int:
        """The smallest delay of its own routes that end on another rank (:data:`NO_CROSSING` if
        none); the window (ticks between exchanges) is the smallest over the ranks (run)."""
        sends = self.route_axon >= 0
        cross = self.route_delay[sends][owner[self.route_axon[sends] // self.arrays.axons_per_core] != self.rank]
        return int(cross.min()) if len(cross) else NO_CROSSING

    def route_and_emit(self, t: int, now: int, emit: np.ndarray, fired: np.ndarray) -> np.ndarray | None:
        """Route as one process does, over its own routes; at a window's end every rank exchanges
        what it packed."""
        arrival = super().route_and_emit(t, now, emit, fired - self.neuron_base)
        if (t + 1) % self.window == 0 or t + 1 == self.opt.ticks or (
                self.reset_period and (t + 1) % self.reset_period == 0):
            # (at a sample's end too: its spikes bound for other ranks are queued there before the
            # reset's marker, so each rank drops them as one process does)
            self._exchange(now)
        return arrival

    def push_spikes(self, arrival: np.ndarray, axons: np.ndarray, due_tick: np.ndarray) -> None:
        """Queue the spikes bound for this rank's cores; pack the others for the next exchange."""
        mine = (axons >= self.a0) & (axons < self.a1)
        if mine.all():
            super().push_spikes(arrival, axons, due_tick)
            return
        super().push_spikes(arrival[mine], axons[mine], due_tick[mine])
        away = ~mine
        self.outbox.append(np.stack([arrival[away], axons[away], due_tick[away]], axis=1).astype(np.int64))

    def _reset_state(self) -> None:
        """A presentation's reset: its own cores' neurons back to rest (each rank resets its own)."""
        self.hooks.reset_state(self._local)

    def _exchange(self, now: int) -> None:
        start = time.perf_counter()
        rows = np.concatenate(self.outbox) if self.outbox else np.empty((0, ROW_FIELDS), np.int64)
        self.outbox = []
        dest = np.searchsorted(self.axon_starts, rows[:, 1], side="right") - 1
        got = exchange(self.comm, dest, rows)
        self.sent_rows += len(rows)
        self.exchanges += 1
        if len(got):
            # popped windows end at now + 1: a spike that arrived earlier is taken at the next tick
            # start, before its due tick, as the one-process run holds it early till then
            super().push_spikes(np.maximum(got[:, 0], now + 1), got[:, 1], got[:, 2])
        self.exchange_s += time.perf_counter() - start

    def run(self, progress):
        """Every tick (progress on rank 0 only), then the record on rank 0 (None elsewhere).

        First the ranks agree on their setup: if any failed, every rank raises the error of the
        lowest failing rank (the same line everywhere; the CLI prints it on rank 0 only). After
        that, an error on one rank aborts them all (:func:`neuroemu.engine.mpi.abort_on_error`)."""
        agree_on_setup(self.comm, self.setup_error)
        with abort_on_error(self.comm):
            from mpi4py import MPI
            # W ticks: the smallest delay of any route whose ends sit on different ranks
            least = self.comm.allreduce(self.cross_delay_min, op=MPI.MIN)
            self.window = max(1, self.opt.ticks if least == NO_CROSSING else least)
            return super().run(progress if self.rank == 0 else None)

    def count_clocking(self, due_axons: np.ndarray, fired: np.ndarray) -> None:
        """As one process counts it: a rank's own cores' clocks (gals); the barrier's sync wave
        through every router once per timestep, counted by rank 0 alone."""
        if self.policy.mode != "barrier" or self.rank == 0:
            super().count_clocking(due_axons, fired)

    def advance_time(self, t: int, now: int, arrival: np.ndarray | None) -> None:
        """The next tick's start; under barrier the timestep ends when the busiest core of every
        rank is done and every spike has arrived (BarrierPolicy.next_start, with the max taken
        over the ranks: one Allreduce per timestep)."""
        policy = self.policy
        if policy.mode != "barrier":
            super().advance_time(t, now, arrival)
            return
        from mpi4py import MPI
        end = now + int(policy.core_busy_ps[self.c0:self.c1].max(initial=0))  # this rank's cores only
        if arrival is not None and len(arrival):
            end = max(end, int(arrival.max()))
        end = self.comm.allreduce(end, op=MPI.MAX)
        self.tick_starts[t + 1] = max(end + policy.barrier_ps, now + 1)

    def _in_flight_end(self) -> int:
        return self._in_flight_total  # every rank's, summed on rank 0 (finish)

    def finish(self) -> RunResult | None:
        """Counters, priced routes, spike trains and spikes in flight onto rank 0; its record.

        Each rank prices its own routes at the sender (:meth:`TickLoop._route_prices`: integers
        only) and rank 0 sums them (:func:`neuroemu.engine.rankshare.reduce_prices`): the
        one-process run's exact distribution, so its percentiles and every float of the record
        come out bit for bit."""
        comm, ledger = self.comm, self.ledger
        held = sum(len(p) for parts in self.pending.values() for p in parts)
        counts = dict(ledger.counts)
        counts.update({"~inputs_sent": self.inputs_sent, "~spikes_sent": self.spikes_sent,
                       "~in_flight": len(self.queue) + held})
        total = reduce_counts(comm, counts)
        priced = reduce_prices(comm, TickLoop._route_prices(self, self.opt.ticks))  # its own routes, summed
        ticks, ids = self._gather_trains()
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this rank's peak so far
        volume = comm.gather((self.sent_rows, self.exchange_s, self.c1 - self.c0, rss_mb, len(self.route_axon)), root=0)
        readouts = comm.gather(self.hooks.readout(), root=0) if self.hooks is not None else None
        if self.rank != 0:
            return None
        if readouts is not None:  # each output read on its own rank: the whole readout on rank 0
            self.hooks.merge(readouts)
        self._in_flight_total = total.pop("~in_flight")
        self.inputs_sent, self.spikes_sent = total.pop("~inputs_sent"), total.pop("~spikes_sent")
        self._priced = priced
        self.ledger = Ledger()
        for k, v in total.items():
            self.ledger.add(k, v)
        self.spike_ticks, self.spike_ids = ([ticks], [ids]) if ticks is not None else ([], [])
        record = super().finish()
        mpi = {"ranks": self.size, "window_ticks": self.window, "cores_per_rank": [v[2] for v in volume],
               "exchanged_spikes_per_rank": [v[0] for v in volume],
               "exchanged_bytes_per_rank": [v[0] * ROW_FIELDS * 8 for v in volume],
               "exchanges": self.exchanges, "exchange_wall_s_per_rank": [v[1] for v in volume],
               "memory_estimate_bytes_per_rank": self.memory,
               "peak_rss_mb_per_rank": [round(v[3], 1) for v in volume],
               "routes_bound_per_rank": [v[4] for v in volume]}
        return dataclasses.replace(record, timing_report={**record.timing_report, "mpi": mpi})

    def _route_prices(self, ticks: int) -> dict:
        """On rank 0 at the end: every rank's priced routes summed (finish)."""
        return self._priced

    def _gather_trains(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Every rank's recorded spikes on rank 0, sorted by (tick, neuron) as one process fires them."""
        if not self.opt.record_spikes:
            return None, None
        ticks = np.concatenate(self.spike_ticks) if self.spike_ticks else np.empty(0, np.int64)
        ids = np.concatenate(self.spike_ids) if self.spike_ids else np.empty(0, np.int64)
        parts = self.comm.gather((ticks, ids), root=0)
        if self.rank != 0:
            return None, None
        ticks = np.concatenate([p[0] for p in parts])
        ids = np.concatenate([p[1] for p in parts])
        order = np.lexsort((ids, ticks))
        return ticks[order], ids[order]


def _own_range(owner: np.ndarray, rank: int) -> tuple[int, int]:
    """(c0, c1): the contiguous cores ``owner`` gives ``rank``."""
    return int(np.searchsorted(owner, rank)), int(np.searchsorted(owner, rank, "right"))


def _refuse_unsupported(chip: ChipSpec, workload: WorkloadSpec, opt: RunOptions) -> None:
    """One line for what does not run split over ranks yet (module docstring)."""
    where = chip.source or chip.name
    if opt.network != "analytic":
        raise ConfigError("--network: packet does not run split over MPI ranks yet: use --network analytic")
    if opt.max_events is not None or opt.max_window_events is not None:
        raise ConfigError("--max-events/--max-window-events: not checked across MPI ranks yet: leave them out")
    if workload.learning is not None:
        raise ConfigError(f"{workload.where}: learning: does not run split over MPI ranks yet")
    if chip.synapse_device is not None:
        raise ConfigError(f"{where}: synapse_device: NVM synapses do not run split over MPI ranks yet")
