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
from neuroemu.engine.energy import Ledger
from neuroemu.errors import ConfigError, RunawayError
from neuroemu.hardware.chip import Router, build_chip_topology, tick_ps
from neuroemu.hardware.step import TickStepper
from neuroemu.engine.timing import TimingPolicy, timing_policy
from neuroemu.kernel.queue import make_queue
from neuroemu.models.neuron import neuron_model
from neuroemu.models.rng import stream_key
from neuroemu.engine.options import (MAX_TIME_PS, STREAM_NEURON_RNG, Progress, RunOptions, resolve,
                                     with_timing)
from neuroemu.engine.record import RunResult, build_record
from neuroemu.networks.workloads import build_inputs, build_network

#: event kinds in the queue
AXON_SPIKE = 1

def simulate(chip: ChipSpec | str | Path | None = None, workload: WorkloadSpec | str | Path | None = None, *,
             ticks: int | None = None, seed: int | None = None, queue: str | None = None,
             record_spikes: bool | None = None, tick_backend: str | None = None,
             timing: str | None = None, max_events: int | None = None, max_window_events: int | None = None,
             link_stats: bool = False,
             network: str = "analytic", buffer_packets: int = 4,
             progress: Progress | None = None) -> RunResult:
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
    as ticks complete.
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
                         network=network, buffer_packets=buffer_packets)
    if options.network not in ("analytic", "packet"):
        raise ConfigError(f"--network: unknown network fidelity {options.network!r}; valid: analytic, packet")
    if chip.timing.mode == "async":
        from neuroemu.engine.asyncsim import run_async  # the continuous-time engine
        return run_async(chip, workload, options, progress)
    return _run_ticks(chip, workload, options, progress)


def _run_ticks(chip: ChipSpec, workload: WorkloadSpec, opt: RunOptions, progress: Progress | None) -> RunResult:
    """The window loop for the tick-based semantics: sync, gals and barrier.

    Every spike in flight is one queue event: time = its arrival at the target core (ps),
    target = the axon, payload = the tick it must be delivered in. Tick t's window ends at
    its start S_t (inclusive): the events popped are due now, early (held until their tick)
    or late (a gals timing violation). Under ``sync`` arrival is the delivery tick's start.
    """
    name = workload.where
    network = build_network(chip, workload, opt.seed, name)
    inputs = build_inputs(chip, workload, network, opt.seed, name)
    arrays = network.arrays
    A, N = arrays.axons_per_core, arrays.neurons_per_core
    topology = build_chip_topology(chip)
    router = Router(topology)
    # routes: one per neuron, or several per neuron when a mapped network fans out to many cores
    route_src, route_axon, route_delay = arrays.routes()
    sends = route_axon >= 0
    router.bind(arrays.chip_cores(route_src // N),
                np.where(sends, arrays.chip_cores(np.maximum(route_axon, 0) // A), -1))
    fanout = arrays.fanout_ptr is not None
    hooks = getattr(network, "hooks", None)  # a mapped network's state resets and readout
    reset_period = hooks.reset_period if hooks is not None else 0
    neuron_model(chip.core.neuron_model)  # an unknown model fails here, listing the valid ones
    end_ps = (opt.ticks + chip.core.max_delay_ticks + 1) * tick_ps(chip)
    if end_ps >= MAX_TIME_PS:
        raise ConfigError(f"{name}: ticks: {opt.ticks} ticks of {chip.timing.tick_s:g} s reach "
                          f"{end_ps} ps, past the int64 picosecond clock's limit of {MAX_TIME_PS} ps")
    queue = make_queue(opt.queue)
    policy = timing_policy(chip, topology, arrays, network.enabled)
    learning = None
    if workload.learning is not None:
        from neuroemu.hardware.learning import learning_rule
        learning = learning_rule(workload.learning.rule, workload.learning.params(), f"{name}: learning")
        learning.bind(arrays, weight_bits=chip.core.weight_bits)
    stepper = TickStepper(arrays, network.enabled, chip.core.membrane_bits,
                          stream_key(opt.seed, STREAM_NEURON_RNG), opt.tick_backend)
    packets = None
    if opt.network == "packet":
        from neuroemu.hardware.packet import PacketNetwork
        packets = PacketNetwork(topology, buffer_packets=opt.buffer_packets, queue_backend=opt.queue)
    n_axons = arrays.n_axons
    ledger = Ledger()
    spikes_per_neuron = np.zeros(arrays.n_neurons, np.int64)
    spike_ticks: list[np.ndarray] = []
    spike_ids: list[np.ndarray] = []
    pending: dict[int, list[np.ndarray]] = {}     # tick -> axons that arrived early
    n_enabled = network.n_enabled
    input_chunk = inputs[0].CHUNK if inputs else 0
    tick_starts = np.zeros(opt.ticks + 1, np.int64)  # S_t in ps; the last entry is the run's end

    start = time.perf_counter()
    for t in range(opt.ticks):
        now = int(tick_starts[t])
        if reset_period and t and t % reset_period == 0:
            hooks.reset_state(arrays)  # a new presentation starts from rest
        if inputs and t % input_chunk == 0:
            for stream in inputs:
                in_ticks, in_axons = stream.events(t, min(opt.ticks, t + input_chunk))
                # inputs arrive at the start of their tick (only possible now for this tick)
                queue.push_batch(policy.input_ps(in_ticks, now), AXON_SPIKE, in_axons, payload=in_ticks)
        batch = queue.pop_before(now + 1)
        axons, due = batch.target, batch.payload
        if packets is not None:
            # packets delivered by now; the tag carries the axon and the tick it is due in
            arrived = packets.advance(now + 1)
            axons = np.concatenate([axons, arrived.tag % n_axons])
            due = np.concatenate([due, arrived.tag // n_axons])
        due_axons = _sort_arrivals(axons, due, t, pending, policy, ledger)
        ledger.add("axon_event", len(due_axons))  # spikes delivered to an axon in this tick
        storm = opt.max_window_events is not None and len(due_axons) > opt.max_window_events
        if storm or (opt.max_events is not None and ledger.get("axon_event") > opt.max_events):
            partial = dataclasses.replace(opt, ticks=t)
            record = build_record(chip, workload, partial, ledger, router.class_names,
                                  router.class_hops_of(spikes_per_neuron[route_src]), 0, 0, n_enabled,
                                  time.perf_counter() - start, queue.backend, spike_ticks, spike_ids,
                                  stepper.backend, sim_time_s=now * 1e-12)
            limit = (f"limit {opt.max_window_events:,} per window" if storm else f"limit {opt.max_events:,}")
            raise RunawayError(
                f"{name}: runaway activity: {ledger.get('axon_event'):,} spikes delivered by tick {t} "
                f"({limit}; {len(due_axons):,} in this tick alone, most to core "
                f"{int(np.bincount(due_axons // A).argmax()) if len(due_axons) else 0}); the partial record "
                "covers the ticks before", partial_record=record)
        fired, sops, n_active = stepper.step(t, due_axons)
        if learning is not None:
            n_pot, n_dep = learning.apply(t, due_axons, fired)
            ledger.add("potentiation", n_pot)
            ledger.add("depression", n_dep)
        ledger.add("synaptic_op", sops)
        ledger.add("neuron_update_active", n_active)
        ledger.add("neuron_update", n_enabled - n_active)
        ledger.add("spike", len(fired))
        np.add.at(spikes_per_neuron, fired, 1)  # (faster than fancy += for small index sets)
        if hooks is not None:
            hooks.observe(t, fired)
        if opt.record_spikes and len(fired):
            spike_ticks.append(np.full(len(fired), t, np.int64))
            spike_ids.append(fired.astype(np.int64))
        emit = policy.emission_ps(now, due_axons, fired, sops, n_active)
        routes = fired
        if fanout:
            routes = arrays.routes_of(fired)
            emit = np.repeat(emit, arrays.route_counts(fired))
        targets = route_axon[routes]
        sent = targets >= 0
        src = routes[sent]  # route ids: the router's tables are per route
        arrival = None
        if len(src):
            due_tick = t + route_delay[src]
            if packets is None:
                # a spike needs at least 1 ps: the window up to now is popped already
                latency = None if policy.mode == "sync" else router.neuron_latency(src)  # sync ignores it
                arrival = np.maximum(policy.arrival_ps(emit[sent], latency, due_tick), now + 1)
                queue.push_batch(arrival, AXON_SPIKE, targets[sent], payload=due_tick)
            else:
                packets.inject(np.maximum(emit[sent], now + 1), router.src_router(src), router.dst_router(src),
                               due_tick * n_axons + targets[sent])
        if packets is not None and policy.mode == "barrier":
            # the timestep ends once the network has drained: every packet of it is delivered
            arrival = _drain(packets, pending, n_axons)
        tick_starts[t + 1] = policy.next_start(now, arrival)
        if progress is not None:
            progress(t + 1, opt.ticks)
    wall = time.perf_counter() - start

    # routes are fixed: the hops of the run are each route's spike count times its hops, and a
    # route carries every spike of its source neuron
    spikes_per_route = spikes_per_neuron[route_src] if fanout else spikes_per_neuron
    hops = router.class_hops_of(spikes_per_route)
    routed = int(spikes_per_route[sends].sum())
    ledger.add("wire_nm", router.wire_nm(spikes_per_route))
    latencies = router.latency_distribution(spikes_per_route)
    latency_ps_sum = int(latencies.pop("_latency_ps_sum"))
    timing = policy.report(tick_starts, opt.ticks)
    timing["timing_violations"] = ledger.get("timing_violation")
    timing.update(latencies)
    links = router.link_stats(spikes_per_route, timing["_sim_time_s"])
    timing["wire_mm_per_spike"] = ledger.get("wire_nm") * 1e-6 / routed if routed else 0.0
    timing.update({k: v for k, v in links.items() if not k.startswith("_")})
    if packets is not None:
        end = int(tick_starts[opt.ticks])
        if not packets.idle():
            # packets still in flight finish their routes (their hops were counted at emission,
            # as in the analytic fidelity); they arrive after the run and are not delivered
            packets.advance(np.iinfo(np.int64).max // 2)
        summary = packets.summary(end)
        lat = summary["latency_s"]
        timing.update({"latency_mean_s": lat["mean"], "latency_p50_s": lat["p50"], "latency_p99_s": lat["p99"],
                       "latency_max_s": lat["max"], "max_link_utilization": summary["max_link_utilization"],
                       "busiest_links": summary["busiest_links"],
                       "packet": {k: v for k, v in summary.items() if not k.startswith("link_")
                                  and k not in ("latency_s", "busiest_links", "max_link_utilization")}})
    if opt.link_stats:
        timing["link_stats"] = {"src": topology.link_src.tolist(), "dst": topology.link_dst.tolist(),
                                "packets": links["_loads"].tolist(), "utilization": links["_utilization"].tolist(),
                                "router_pos_mm": topology.router_pos_mm.tolist()}
    sim_time_s = timing.pop("_sim_time_s")
    record = build_record(chip, workload, opt, ledger, router.class_names, hops, routed,
                          latency_ps_sum, n_enabled, wall, queue.backend, spike_ticks,
                          spike_ids, stepper.backend, sim_time_s=sim_time_s, extra=timing,
                          workload_report=network.report() if hasattr(network, "report") else None)
    if hooks is not None:
        record = dataclasses.replace(record, workload_report={**record.workload_report,
                                                              **hooks.report(record, tick_starts)})
    return record


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
            for d in np.unique(due_tick[early]):
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
