"""The one entry point: ``simulate(chip, workload, ...) -> RunResult``.

The loop is the DESIGN's window loop: one event queue (C, or the heapq fallback)
holds every spike in flight as (time in ps, priority, seq, kind, target axon);
each iteration pops a whole window of events as numpy arrays, processes it in
bulk, and pushes the spikes it produced back as arrays. Under ``sync`` timing the
window is one tick: spikes fired in tick t are delivered at the start of tick
t + delay, and every neuron updates once per tick.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.engine.blockrun import block_runner
from neuroemu.engine.energy import GalsWork, Ledger
from neuroemu.errors import ConfigError, RunawayError
from neuroemu.hardware.chip import Router, build_chip_topology, latency_summary, tick_ps
from neuroemu.hardware.devices import adc_for, read_noise_for
from neuroemu.hardware.fused import check_threads
from neuroemu.hardware.step import TickStepper
from neuroemu.engine.timing import TimingPolicy, route_pass, timing_policy
from neuroemu.kernel.queue import make_queue
from neuroemu.models.neuron import neuron_model, require_clocked
from neuroemu.models.rng import stream_key
from neuroemu.engine.options import (MAX_TIME_PS, STREAM_NEURON_RNG, Progress, RunOptions, resolve,
                                     with_timing)
from neuroemu.engine.record import RunResult, build_record, with_network_reports
from neuroemu.networks.workloads import build_inputs, build_network

#: event kinds in the queue
AXON_SPIKE = 1
RESET_MARK = 2   # a presentation's reset: spikes queued before it are from the sample before

def simulate(chip: ChipSpec | str | Path | None = None, workload: WorkloadSpec | str | Path | None = None, *,
             ticks: int | None = None, seed: int | None = None, queue: str | None = None,
             record_spikes: bool | None = None, tick_backend: str | None = None,
             timing: str | None = None, max_events: int | None = None, max_window_events: int | None = None,
             link_stats: bool = False,
             network: str = "analytic", buffer_packets: int = 4,
             progress: Progress | None = None, loop: type | None = None, threads: int = 1) -> RunResult:
    """Run ``workload`` on ``chip`` and return the frozen record.

    ``chip`` and ``workload`` are specs, file paths, shipped names, or None for the
    embedded defaults (with a workload and no chip, the workload's own ``chip`` key
    decides). ``ticks`` and ``seed`` default to the workload's. ``queue`` picks the
    event queue backend ("c" or "python"; default: $NEUROEMU_QUEUE or "c").
    ``tick_backend`` picks the per-tick kernels ("c" or "numpy"; default: $NEUROEMU_TICK
    or "c"). ``timing`` overrides the chip's tick semantics (sync, gals, barrier, async).
    ``network`` picks the network fidelity: "analytic" (hops, energy and zero-load latency from
    the route tables, in bulk) or "packet" (every spike a packet moving hop by hop with latency,
    serialisation and ``buffer_packets``-deep input buffers, so congestion delays it; under any
    tick semantics a packet must then arrive before its delivery tick starts, or it is a timing
    violation). ``max_events`` stops a runaway run: past that many delivered spikes it raises
    :class:`RunawayError` carrying the partial record. ``progress(done, total)`` is called
    as ticks complete. ``loop``: the :class:`TickLoop` subclass to run (under ``mpiexec``,
    :func:`neuroemu.engine.ranks.simulate_ranks` passes its rank loop; default TickLoop).
    ``threads`` splits the cores of the fused TrueNorth tick kernel over that many
    threads (1 to 256); the record is the same for any number.
    """
    chip, workload = resolve(chip, workload)
    if timing is not None:
        chip = with_timing(chip, timing)
    if ticks is None and workload.classify is not None:
        from neuroemu.networks.presentation import classify_ticks
        ticks = classify_ticks(workload, workload.where)  # every sample, shown and settled
    options = RunOptions(ticks=workload.ticks if ticks is None else int(ticks),
                         seed=workload.seed if seed is None else int(seed), queue=queue,
                         record_spikes=workload.record_spikes if record_spikes is None else record_spikes,
                         tick_backend=tick_backend, max_events=max_events,
                         max_window_events=max_window_events, link_stats=link_stats,
                         network=network, buffer_packets=buffer_packets, threads=check_threads(threads))
    if options.network not in ("analytic", "packet"):
        raise ConfigError(f"--network: unknown network fidelity {options.network!r}; valid: analytic, packet")
    if chip.timing.mode == "async":
        if loop is not None:  # split over MPI ranks: the rank loop names its async twin (engine/asyncranks.py)
            if getattr(loop, "async_loop", None) is None:
                raise ConfigError(f"{chip.source or chip.name}: timing.mode: async does not run split over MPI ranks by "
                                  "this loop (simulate_ranks runs it): run it in one process, or use sync or gals")
            return loop.async_loop(chip, workload, options).run(progress)
        from neuroemu.engine.asyncsim import run_async  # the continuous-time engine
        return run_async(chip, workload, options, progress)
    return (loop or TickLoop)(chip, workload, options).run(progress)


class TickLoop:
    """The window loop for the tick-based semantics: sync, gals and barrier.

    Every spike in flight is one queue event: time = its arrival at the target core (ps),
    target = the axon, payload = the tick it must be delivered in. Tick t's window ends at
    its start S_t (inclusive): the events popped are due now, early (held until their tick)
    or late (a gals timing violation). Under ``sync`` arrival is the delivery tick's start.
    Each tick is the design's five steps: :meth:`deliver`, :meth:`step_cores`, :meth:`learn`,
    :meth:`route_and_emit`, :meth:`advance_time`; :meth:`finish` turns the counters into the record.
    """

    def __init__(self, chip: ChipSpec, workload: WorkloadSpec, opt: RunOptions):
        self.chip, self.workload, self.opt = chip, workload, opt
        self.name = name = workload.where
        require_clocked(chip, chip.timing.mode)  # an unknown model fails here, listing the valid ones
        self.network = network = self._build_network()
        self.inputs = build_inputs(chip, workload, network, opt.seed, name)
        self.arrays = network.arrays
        end_ps = (opt.ticks + chip.core.max_delay_ticks + 1) * tick_ps(chip)
        if end_ps >= MAX_TIME_PS:
            raise ConfigError(f"{name}: ticks: {opt.ticks} ticks of {chip.timing.tick_s:g} s reach "
                              f"{end_ps} ps, past the int64 picosecond clock's limit of {MAX_TIME_PS} ps")
        self._bind_routes()
        self.n_enabled = network.n_enabled  # the neurons this process updates (an MPI rank: its own)
        self.hooks = getattr(network, "hooks", None)  # a mapped network's state resets and readout
        self.reset_period = self.hooks.reset_period if self.hooks is not None else 0
        self.drop_seq = -1  # spikes queued with a sequence number up to this are from a sample already over
        self.queue = make_queue(opt.queue)
        self.policy = timing_policy(chip, self.topology, self.arrays, network.enabled)
        self._build_cores()
        # single-target routes on the analytic network with the C kernels: route in one C pass
        self.fast_routes = (route_pass(self.policy, self.route_axon, self.route_delay, self.router)
                            if not self.fanout and opt.network == "analytic" and self.stepper.backend == "c" else None)
        self.packets = None
        if opt.network == "packet":
            from neuroemu.hardware.packet import PacketNetwork
            self.packets = PacketNetwork(self.topology, buffer_packets=opt.buffer_packets, queue_backend=opt.queue)
        self.ledger = Ledger()
        self.spikes_per_neuron = np.zeros(self.neuron_count, np.int64)  # of the neurons whose routes are bound
        self.spike_ticks: list[np.ndarray] = []
        self.spike_ids: list[np.ndarray] = []
        self.pending: dict[int, list[np.ndarray]] = {}     # tick -> axons that arrived early
        self.tick_starts = np.zeros(opt.ticks + 1, np.int64)  # S_t in ps; the last entry is the run's end
        self.wall = 0.0
        self.inputs_sent = 0   # input spikes queued (the spike flow's other source)
        self.spikes_sent = 0   # routed spike copies sent, counted as they leave (not from spike counts)
        self.held_outside = 0  # spikes in flight kept out of the queue (the block path's ring)
        self.tick_backend = self.stepper.backend

    def _bind_routes(self) -> None:
        """The router graph and every route's tables: one per neuron, or several per neuron when a
        mapped network fans out to many cores, then the inputs' when they sit on cores."""
        arrays, network = self.arrays, self.network
        self.topology = build_chip_topology(self.chip)
        self.router = Router(self.topology)
        self.fanout = arrays.fanout_ptr is not None
        # the neurons whose routes this process binds, counts and prices (an MPI rank: its own);
        # route_src numbers them from neuron_base
        self.neuron_base, self.neuron_count = self._route_neurons()
        self.route_src, self.route_axon, self.route_delay = self._bound_routes()
        self.sends = self.route_axon >= 0
        A, N = arrays.axons_per_core, arrays.neurons_per_core
        src_cores = arrays.chip_cores((self.route_src + self.neuron_base) // N)
        dst_cores = np.where(self.sends, arrays.chip_cores(np.maximum(self.route_axon, 0) // A), -1)
        # inputs placed on cores (network.inputs: on_cores) send packets like neurons: their routes
        # follow the neurons' in the router's tables, counted from the input spikes of the run
        self.input_route_ids = None
        if getattr(network, "inputs_on_cores", False):
            if self.opt.network == "packet":
                raise ConfigError(f"{self.name}: network.inputs: on_cores is counted with the analytic network "
                                  "(its packets' hops and energy), not moved hop by hop: run with --network analytic")
            in_src, in_dst, self.input_route_ids = self._bound_input_routes()
            src_cores = np.concatenate([src_cores, arrays.chip_cores(in_src)])
            dst_cores = np.concatenate([dst_cores, arrays.chip_cores(in_dst)])
        self.router.bind(src_cores, dst_cores)

    def _route_neurons(self) -> tuple[int, int]:
        """(first neuron, neurons) whose routes this process binds: every neuron."""
        return 0, self.arrays.n_neurons

    def _bound_routes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source neuron from neuron_base, target axon, delay) of every bound route."""
        return self.arrays.routes()

    def _bound_input_routes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source core, target core, input id) of the input routes bound here (inputs on cores)."""
        return self.network.input_routes()

    def _routes_of(self, fired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bound route ids, routes per neuron) of fired neurons (numbered from neuron_base), fan-out arrays."""
        return self.arrays.routes_of(fired), self.arrays.route_counts(fired)

    def _build_network(self):
        """The workload's network (an MPI rank builds only its own cores where it can: engine/ranks.py)."""
        return build_network(self.chip, self.workload, self.opt.seed, self.name)

    def _build_cores(self) -> None:
        """The tick stepper with the chip's synapse devices, the learning rule if one is on, and
        under gals which cores have work each tick."""
        chip, opt, arrays = self.chip, self.opt, self.arrays
        self.gals_work = (GalsWork(arrays, self.network.enabled, neuron_model(arrays.neuron_model).kernel)
                          if self.policy.mode == "gals" else None)
        self.learning = None
        if self.workload.learning is not None:
            from neuroemu.hardware.learning import learning_rule
            rule = self.workload.learning
            self.learning = learning_rule(rule.rule, rule.params(), f"{self.name}: learning")
            self.learning.bind(arrays, weight_bits=chip.core.weight_bits, device=chip.synapse_device)
        dev = chip.synapse_device
        # NVM endurance: the rule wears each cell as it writes it (hardware/devices.Endurance)
        self.endurance = None if self.learning is None else self.learning.endurance
        read_noise = read_noise_for(arrays, chip, opt.seed)
        # NVM read noise is drawn per read, with the same draws in both tick kernels
        self.stepper = TickStepper(arrays, self.network.enabled, chip.core.membrane_bits,
                                   stream_key(opt.seed, STREAM_NEURON_RNG), opt.tick_backend,
                                   core_counts=self.policy.needs_core_counts, threads=opt.threads)
        self.stepper.read_noise = read_noise
        # NVM synapses: the column ADC quantises each tick's column sums; its conversions and the
        # word-line drives are counted (docs/devices.md)
        self.stepper.adc = adc_for(chip)
        self._columns_per_core: np.ndarray | None = None
        # an ideal periphery (no ADC, free drivers) counts nothing: records stay as they were
        self.device = dev if dev is not None and (self.stepper.adc is not None or dev.dac_pj_per_row.value) else None

    #: the per-tick steps: a run that replaces one of them (a subclass, or a spy on the instance) runs tick by tick
    PER_TICK_STEPS = ("deliver", "step_cores", "count_clocking", "learn", "route_and_emit", "advance_time")

    def run(self, progress: Progress | None) -> RunResult:
        """Every tick, then the record. Where nothing in Python needs every tick, the ticks run in
        blocks in C (engine/blockrun.py) with the same record."""
        hooked = any(getattr(getattr(self, step), "__func__", None) is not getattr(TickLoop, step)
                     for step in self.PER_TICK_STEPS)
        blocks = None if hooked else block_runner(self)  # (its arrays are set-up, as the stepper's are)
        start = time.perf_counter()
        if blocks is not None:
            blocks.run(progress)
            self.wall = time.perf_counter() - start
            return self.finish()
        for t in range(self.opt.ticks):
            now = int(self.tick_starts[t])
            due_axons = self.deliver(t, now, start)
            fired = self.step_cores(t, due_axons)
            self.count_clocking(due_axons, fired)
            self.learn(t, due_axons, fired)
            emit = self.policy.emission_ps(now, fired, self.stepper.core_sops, self.stepper.core_active)
            arrival = self.route_and_emit(t, now, emit, fired)
            self.advance_time(t, now, arrival)
            if progress is not None:
                progress(t + 1, self.opt.ticks)
        self.wall = time.perf_counter() - start
        return self.finish()

    def deliver(self, t: int, now: int, start: float) -> np.ndarray:
        """The axons that receive a spike in tick t: inputs, arrivals due now, early ones held till now."""
        period = self.reset_period
        if period and t and t % period == 0:
            self._reset_state()  # a new presentation starts from rest
            self._drop_in_flight(now)
        # presentations queue one sample's inputs at its start, so what is queued at a reset is in flight
        chunk = period or (self.inputs[0].CHUNK if self.inputs else 0)
        if chunk and t % chunk == 0:
            for stream in self.inputs:
                in_ticks, in_axons = stream.events(t, min(self.opt.ticks, t + chunk))
                self.inputs_sent += len(in_axons)
                # inputs arrive at the start of their tick (only possible now for this tick)
                self.queue.push_batch(self.policy.input_ps(in_ticks, now), AXON_SPIKE, in_axons, payload=in_ticks)
        batch = self.queue.pop_before(now + 1)
        axons, due = batch.target, batch.payload
        if period:
            keep = (batch.seq > self.drop_seq) & (batch.kind == AXON_SPIKE)
            if not keep.all():
                self.ledger.add("in_flight_dropped_at_reset", int((batch.kind == AXON_SPIKE).sum() - keep.sum()))
                axons, due = axons[keep], due[keep]
        if self.packets is not None:
            # packets delivered by now; the tag carries the axon and the tick it is due in
            arrived = self.packets.advance(now + 1)
            n_axons = self.arrays.n_axons
            axons = np.concatenate([axons, arrived.tag % n_axons])
            due = np.concatenate([due, arrived.tag // n_axons])
        due_axons = _sort_arrivals(axons, due, t, self.pending, self.policy, self.ledger)
        self.ledger.add("axon_event", len(due_axons))  # spikes delivered to an axon in this tick
        self._check_runaway(t, now, due_axons, start)
        return due_axons

    def _reset_state(self) -> None:
        """Every neuron this process steps back to rest (an MPI rank: its own cores')."""
        self.hooks.reset_state(self.arrays)

    def _drop_in_flight(self, now: int) -> None:
        """Between presentations: drop the previous sample's spikes still in flight, so they cannot
        restart a recurrent network's activity in the next sample (the chip's reset of its axon
        buffers). A marker event's sequence number divides the samples: every spike queued before
        it is dropped when it pops. Dropped spikes paid for their routes when sent (hops are
        charged per emitted spike) and cause no synaptic event; the classification report counts
        them. Under ``--network packet`` packets already in the network still arrive (their tags
        do not say which sample sent them)."""
        self.drop_seq = int(self.queue.push(now, RESET_MARK, 0))
        dropped = sum(len(a) for parts in self.pending.values() for a in parts)
        self.pending.clear()
        self.ledger.add("in_flight_dropped_at_reset", dropped)

    def _check_runaway(self, t: int, now: int, due_axons: np.ndarray, start: float) -> None:
        opt, ledger = self.opt, self.ledger
        storm = opt.max_window_events is not None and len(due_axons) > opt.max_window_events
        if not (storm or (opt.max_events is not None and ledger.get("axon_event") > opt.max_events)):
            return
        partial = dataclasses.replace(opt, ticks=t)
        # the spikes routed so far, with their hops, wire and latencies, as a finished run counts them
        per_route, sends = self._route_spikes(t)
        latencies = self.router.latency_distribution(per_route)
        ledger.add("wire_nm", self.router.wire_nm(per_route))
        routed = int(per_route[sends].sum())
        extra = {"timing_violations": ledger.get("timing_violation"), "spike_flow": self._spike_flow(t),
                 "latency_samples": int(latencies["_latency_samples"]),
                 "wire_mm_per_spike": ledger.get("wire_nm") * 1e-6 / routed if routed else 0.0}
        record = build_record(self.chip, self.workload, partial, ledger, self.router.class_names,
                              self.router.class_hops_of(per_route), routed,
                              int(latencies["_latency_ps_sum"]), self.network.n_enabled,
                              time.perf_counter() - start, self.queue.backend, self.spike_ticks, self.spike_ids,
                              self.stepper.backend, sim_time_s=now * 1e-12, extra=extra)
        limit = (f"limit {opt.max_window_events:,} per window" if storm else f"limit {opt.max_events:,}")
        busiest = int(np.bincount(due_axons // self.arrays.axons_per_core).argmax()) if len(due_axons) else 0
        raise RunawayError(
            f"{self.name}: runaway activity: {ledger.get('axon_event'):,} spikes delivered by tick {t} "
            f"({limit}; {len(due_axons):,} in this tick alone, most to core {busiest}); the partial record "
            "covers the ticks before", partial_record=record)

    def step_cores(self, t: int, due_axons: np.ndarray) -> np.ndarray:
        """Integrate, leak and fire every core; count the work and the spikes; the fired neurons.
        (The stepper keeps each core's share of the work when the timing policy prices it.)"""
        if self.gals_work is not None:
            self.gals_work.start()  # on the state at the tick's start
        fired, sops, n_active = self.stepper.step(t, due_axons)
        ledger = self.ledger
        ledger.add("synaptic_op", sops)
        ledger.add("neuron_update_active", n_active)
        updated = self.n_enabled
        if self.gals_work is not None:  # gals: only cores with work are clocked and update their neurons
            self._gals_cores, updated = self.gals_work.finish(due_axons, fired)
        ledger.add("neuron_update", updated - n_active)
        ledger.add("spike", len(fired))
        if self.device is not None and len(due_axons):
            self._count_periphery(due_axons)
        if len(fired) and self.fast_routes is None:  # (else counted in route_and_emit's C pass)
            # (faster than fancy += for small index sets)
            np.add.at(self.spikes_per_neuron, fired - self.neuron_base if self.neuron_base else fired, 1)
        if self.hooks is not None:
            self.hooks.observe(t, fired)
        if self.opt.record_spikes and len(fired):
            self.spike_ticks.append(np.full(len(fired), t, np.int64))
            self.spike_ids.append(fired.astype(np.int64))
        return fired

    def _count_periphery(self, due_axons: np.ndarray) -> None:
        """One word-line drive per distinct active row; with an ADC, every used column (one holding a
        neuron of the workload; unused ones are gated) of a crossbar that had a row driven this tick is
        converted once (``dac_drive``, ``adc_conversion``)."""
        rows = np.unique(due_axons)
        self.ledger.add("dac_drive", len(rows))
        if self.stepper.adc is not None:
            a = self.arrays
            if self._columns_per_core is None:
                self._columns_per_core = self.network.enabled.reshape(a.n_cores, a.neurons_per_core).sum(axis=1)
            self.ledger.add("adc_conversion", int(self._columns_per_core[np.unique(rows // a.axons_per_core)].sum()))

    def count_clocking(self, due_axons: np.ndarray, fired: np.ndarray) -> None:
        """The clocking that depends on the tick's activity (engine/energy.py prices it): under gals
        a core's clock runs only in a tick where it has work; under barrier every router joins the
        timestep's sync wave. (Sync clocks every core every tick: counted once, in the record.)"""
        mode = self.policy.mode
        if mode == "gals":
            self.ledger.add("clock_core_tick", self._gals_cores)  # counted with the updates (step_cores)
        elif mode == "barrier":
            self.ledger.add("barrier_sync", self.topology.n_routers)

    def learn(self, t: int, due_axons: np.ndarray, fired: np.ndarray) -> None:
        """The learning rule's weight updates for this tick's deliveries and spikes (if one is on)."""
        if self.learning is not None:
            n_pot, n_dep = self.learning.apply(t, due_axons, fired)
            self.ledger.add("potentiation", n_pot)
            self.ledger.add("depression", n_dep)

    def route_and_emit(self, t: int, now: int, emit: np.ndarray, fired: np.ndarray) -> np.ndarray | None:
        """Send each spike along its routes: into the queue at its arrival (analytic) or into the
        packet network; returns the arrival times the timestep must wait for, if any."""
        if not len(fired) and self.packets is None:
            return None  # nothing to send (the packet network may still hold a timestep's packets)
        if self.fast_routes is not None:  # the same arrays as below, in one C pass (hardware/fused.py)
            arrival, targets, due_tick = self.fast_routes(fired, emit, t, now, self.spikes_per_neuron)
            if not len(targets):
                return None
            self.spikes_sent += len(targets)
            self.push_spikes(arrival, targets, due_tick)
            return arrival
        routes = fired
        if self.fanout:
            routes, per_neuron = self._routes_of(fired)
            emit = np.repeat(emit, per_neuron)
        targets = self.route_axon[routes]
        sent = targets >= 0
        src = routes[sent]  # route ids: the router's tables are per route
        self.spikes_sent += len(src)
        arrival = None
        if len(src):
            due_tick = t + self.route_delay[src]
            if self.packets is None:
                # a spike needs at least 1 ps: the window up to now is popped already
                latency = None if self.policy.mode == "sync" else self.router.neuron_latency(src)  # sync ignores it
                arrival = np.maximum(self.policy.arrival_ps(emit[sent], latency, due_tick), now + 1)
                self.push_spikes(arrival, targets[sent], due_tick)
            else:
                self.packets.inject(np.maximum(emit[sent], now + 1), self.router.src_router(src),
                                    self.router.dst_router(src), due_tick * self.arrays.n_axons + targets[sent])
        if self.packets is not None and self.policy.mode == "barrier":
            # the timestep ends once the network has drained: every packet of it is delivered
            arrival = _drain(self.packets, self.pending, self.arrays.n_axons)
        return arrival

    def push_spikes(self, arrival: np.ndarray, axons: np.ndarray, due_tick: np.ndarray) -> None:
        """Queue routed spikes at their arrival (an MPI rank keeps its own cores' and sends the rest)."""
        self.queue.push_batch(arrival, AXON_SPIKE, axons, payload=due_tick)

    def advance_time(self, t: int, now: int, arrival: np.ndarray | None) -> None:
        """The next tick's start: one tick later, or when the timing policy says (barrier)."""
        self.tick_starts[t + 1] = self.policy.next_start(now, arrival)

    def finish(self) -> RunResult:
        """The record: hops, wire and latency from the routes' spike counts, timing and link reports."""
        opt, router = self.opt, self.router
        priced = self._route_prices(opt.ticks)
        hops, routed = priced["class_hops"], priced["routed"]
        self.ledger.add("wire_nm", priced["wire_nm"])
        latencies = latency_summary(*priced["latency"])
        latency_ps_sum = int(latencies.pop("_latency_ps_sum"))
        latency_samples = int(latencies.pop("_latency_samples"))
        timing = self.policy.report(self.tick_starts, opt.ticks)
        timing["timing_violations"] = self.ledger.get("timing_violation")
        timing["spike_flow"] = self._spike_flow()
        timing["latency_samples"] = latency_samples  # packet fidelity: the packets' own count, below
        timing.update(latencies)
        links = router.link_stats_of(priced["link_loads"], timing["_sim_time_s"])
        timing["wire_mm_per_spike"] = self.ledger.get("wire_nm") * 1e-6 / routed if routed else 0.0
        timing.update({k: v for k, v in links.items() if not k.startswith("_")})
        if self.packets is not None:
            timing.update(self.packets.record_report(int(self.tick_starts[self.opt.ticks])))
        if opt.link_stats:
            topo = self.topology
            timing["link_stats"] = {"src": topo.link_src.tolist(), "dst": topo.link_dst.tolist(),
                                    "packets": links["_loads"].tolist(),
                                    "utilization": links["_utilization"].tolist(),
                                    "router_pos_mm": topo.router_pos_mm.tolist()}
        sim_time_s = timing.pop("_sim_time_s")
        network = self.network
        record = build_record(self.chip, self.workload, opt, self.ledger, router.class_names, hops, routed,
                              latency_ps_sum, network.n_enabled, self.wall, self.queue.backend, self.spike_ticks,
                              self.spike_ids, self.tick_backend, sim_time_s=sim_time_s, extra=timing,
                              workload_report=network.report() if hasattr(network, "report") else None)
        return with_network_reports(record, network, self.hooks, self.tick_starts, self.endurance)

    def _route_prices(self, ticks: int) -> dict:
        """The bound routes' traffic in integers: hops per class, spikes routed, wire (nm), the
        latency histogram (ps, spikes) and packets per link. Routes are fixed: the hops of the run
        are each route's spike count times its hops, and a route carries every spike of its
        source neuron. (An MPI rank prices its own routes; rank 0 sums them: engine/rankshare.py.)"""
        return self.router.prices(*self._route_spikes(ticks))

    def _route_spikes(self, ticks: int) -> tuple[np.ndarray, np.ndarray]:
        """Spikes per bound route (neurons' routes, then inputs' when on cores) and which routes send."""
        spikes = self.spikes_per_neuron[self.route_src] if self.fanout else self.spikes_per_neuron
        if self.input_route_ids is None:
            return spikes, self.sends
        per_input = self.network.input_spike_counts(ticks)[self.input_route_ids]
        return (np.concatenate([spikes, per_input]),
                np.concatenate([self.sends, np.ones(len(per_input), bool)]))

    def _spike_flow(self, ticks: int | None = None) -> dict[str, int]:
        """Where every spike sent to an axon went (in the first ``ticks`` ticks, default all):
        sent + inputs + inputs_routed = delivered + dropped_late + dropped_at_reset + in_flight_end.

        ``in_flight_end`` is what the run's end left undelivered: spikes still queued, held early
        for a tick past the end, or packets still in the network (counted before the report drains it).
        Inputs placed on cores (``network.inputs: on_cores``) are packets: ``inputs_routed`` (a key
        only their runs have) counts one per input spike and destination axon, as the record
        charges them, and ``inputs`` (fed straight to axons) is 0; a packet sent but due at or past
        the end is in flight there, and one queued ahead of its sending tick (a partial record's) is
        not yet sent.
        """
        violations = self.ledger.get("timing_violation")
        dropped = violations if self.policy.late_spikes != "late" else 0
        flow = {"sent": self.spikes_sent, "inputs": self.inputs_sent, "delivered": self.ledger.get("axon_event"),
                "delivered_late": violations - dropped, "dropped_late": dropped,
                "dropped_at_reset": self.ledger.get("in_flight_dropped_at_reset"),  # classify: between samples
                "in_flight_end": self._in_flight_end()}
        if self.input_route_ids is not None:
            # every input route of the network (an MPI rank binds its own; rank 0 reports them all)
            ids = self.network.input_routes()[2]
            routed = int(self.network.input_spike_counts(self.opt.ticks if ticks is None else ticks)[ids].sum())
            # the queued ones (inputs) are in flight or accounted for; the rest were sent and not queued
            flow["in_flight_end"] += routed - flow["inputs"]
            flow["inputs"], flow["inputs_routed"] = 0, routed
        return flow

    def _in_flight_end(self) -> int:
        """Spikes sent and neither delivered nor dropped: queued, held early, or in the network or ring."""
        held = sum(len(part) for parts in self.pending.values() for part in parts)
        in_network = self.packets.in_flight if self.packets is not None else 0
        return len(self.queue) + held + in_network + self.held_outside


def _drain(packets, pending: dict[int, list[np.ndarray]], n_axons: int) -> np.ndarray | None:
    """Run the packet network until it is empty; file the deliveries under their due tick.

    It advances one event time at a time, so it never runs ahead of the last delivery (the next
    timestep injects from there). Returns the delivery times, or None if nothing was in flight.
    """
    times = []
    while not packets.idle():
        got = packets.advance(packets.next_event_time() + 1)
        if len(got.time_ps):
            times.append(got.time_ps)
            due = got.tag // n_axons
            for d in np.unique(due):
                pending.setdefault(int(d), []).append(got.tag[due == d] % n_axons)
    return np.concatenate(times) if times else None


def _sort_arrivals(axons: np.ndarray, due_tick: np.ndarray, t: int, pending: dict[int, list[np.ndarray]],
                   policy: "TimingPolicy", ledger: Ledger) -> np.ndarray:
    """The axons to deliver in tick t: due arrivals, earlier early ones, and late ones if kept."""
    parts = pending.pop(t, [])
    if len(due_tick) and (due_tick == t).all():  # the usual case (always so under sync)
        parts.append(axons)
    elif len(due_tick):
        parts.append(axons[due_tick == t])
        early = due_tick > t
        if early.any():
            # the due ticks present, by counting (delays are small) rather than np.unique's sort
            ahead = np.bincount(due_tick[early] - t)
            for d in np.flatnonzero(ahead) + t:
                pending.setdefault(int(d), []).append(axons[due_tick == d])
        late = due_tick < t
        n_late = int(np.count_nonzero(late))
        if n_late:
            ledger.add("timing_violation", n_late)
            if policy.late_spikes == "late":
                parts.append(axons[late])
    if not parts:
        return np.empty(0, np.int64)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
