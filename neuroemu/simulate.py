"""The one entry point: ``simulate(chip, workload, ...) -> RunResult``.

The loop is the DESIGN's window loop: one event queue (C, or the heapq fallback)
holds every spike in flight as (time in ps, priority, seq, kind, target axon);
each iteration pops a whole window of events as numpy arrays, processes it in
bulk, and pushes the spikes it produced back as arrays. Under ``sync`` timing the
window is one tick: spikes fired in tick t are delivered at the start of tick
t + delay, and every neuron updates once per tick.
"""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import __version__
from .config.fields import to_plain
from .config.loader import load_chip, load_workload, workload_chip
from .config.schema import ChipSpec, WorkloadSpec
from .energy import Ledger, figures, total_j
from .hardware.chip import Router, build_chip_topology, tick_ps
from .hardware.step import TickStepper
from .kernel.queue import make_queue
from .models.neuron import neuron_model
from .models.rng import stream_key
from .record import SCHEMA_VERSION, RunResult, SpikeTrains
from .workloads import build_inputs, build_network

#: event kinds in the queue
AXON_SPIKE = 1

#: seed stream of the neuron model's counter-based random numbers
STREAM_NEURON_RNG = 7

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RunOptions:
    """Options of one run that are not part of the chip or the workload."""

    ticks: int
    seed: int
    queue: str | None = None
    record_spikes: bool = False
    tick_backend: str | None = None


def _resolve(chip: ChipSpec | str | Path | None, workload: WorkloadSpec | str | Path | None
             ) -> tuple[ChipSpec, WorkloadSpec]:
    if not isinstance(workload, WorkloadSpec):
        workload_file = None if workload is None else str(workload)
        workload = load_workload(workload)
        if chip is None:
            return workload_chip(workload, workload_file), workload
    if not isinstance(chip, ChipSpec):
        chip = load_chip(chip)
    return chip, workload


def simulate(chip: ChipSpec | str | Path | None = None, workload: WorkloadSpec | str | Path | None = None, *,
             ticks: int | None = None, seed: int | None = None, queue: str | None = None,
             record_spikes: bool | None = None, tick_backend: str | None = None,
             progress: Progress | None = None) -> RunResult:
    """Run ``workload`` on ``chip`` and return the frozen record.

    ``chip`` and ``workload`` are specs, file paths, shipped names, or None for the
    embedded defaults (with a workload and no chip, the workload's own ``chip`` key
    decides). ``ticks`` and ``seed`` default to the workload's. ``queue`` picks the
    event queue backend ("c" or "python"; default: $NEUROEMU_QUEUE or "c").
    ``tick_backend`` picks the per-tick kernels ("c" or "numpy"; default: $NEUROEMU_TICK
    or "c"). ``progress(done, total)`` is called as ticks complete.
    """
    chip, workload = _resolve(chip, workload)
    options = RunOptions(ticks=workload.ticks if ticks is None else int(ticks),
                         seed=workload.seed if seed is None else int(seed), queue=queue,
                         record_spikes=workload.record_spikes if record_spikes is None else record_spikes,
                         tick_backend=tick_backend)
    return _run_sync(chip, workload, options, progress)


def _run_sync(chip: ChipSpec, workload: WorkloadSpec, opt: RunOptions, progress: Progress | None) -> RunResult:
    name = workload.name
    network = build_network(chip, workload, opt.seed, name)
    inputs = build_inputs(chip, workload, network, opt.seed, name)
    router = Router(build_chip_topology(chip))
    router.bind(np.arange(network.arrays.n_neurons) // network.arrays.neurons_per_core,
                np.where(network.arrays.target_axon >= 0, network.arrays.target_axon // network.arrays.axons_per_core, -1))
    neuron_model(chip.core.neuron_model)  # an unknown model fails here, listing the valid ones
    arrays = network.arrays
    queue = make_queue(opt.queue)
    tick = tick_ps(chip)
    stepper = TickStepper(arrays, network.enabled, chip.core.membrane_bits,
                          stream_key(opt.seed, STREAM_NEURON_RNG), opt.tick_backend)
    ledger = Ledger()
    n_classes = len(router.class_names)
    hops = np.zeros(n_classes, np.int64)
    latency_ps_sum = 0
    routed = 0
    spike_ticks: list[np.ndarray] = []
    spike_ids: list[np.ndarray] = []
    n_enabled = network.n_enabled
    input_chunk = inputs[0].CHUNK if inputs else 0

    start = time.perf_counter()
    for t in range(opt.ticks):
        if inputs and t % input_chunk == 0:
            for stream in inputs:
                in_ticks, in_axons = stream.events(t, min(opt.ticks, t + input_chunk))
                queue.push_batch(in_ticks * tick, AXON_SPIKE, in_axons)
        batch = queue.pop_before((t + 1) * tick)
        ledger.add("axon_event", len(batch.time))
        fired, sops, n_active = stepper.step(t, batch.target)
        ledger.add("synaptic_op", sops)
        ledger.add("neuron_update_active", n_active)
        ledger.add("neuron_update", n_enabled - n_active)
        ledger.add("spike", len(fired))
        if opt.record_spikes and len(fired):
            spike_ticks.append(np.full(len(fired), t, np.int64))
            spike_ids.append(fired.astype(np.int64))
        targets = arrays.target_axon[fired]
        sent = targets >= 0
        if sent.any():
            src = fired[sent]
            dst_axon = targets[sent]
            per_class, lat = router.route_neurons(src)
            hops += per_class
            latency_ps_sum += lat
            routed += len(src)
            queue.push_batch((t + arrays.delay[src].astype(np.int64)) * tick, AXON_SPIKE, dst_axon)
        if progress is not None:
            progress(t + 1, opt.ticks)
    wall = time.perf_counter() - start

    return build_record(chip, workload, opt, ledger, router.class_names, hops, routed, latency_ps_sum,
                        n_enabled, wall, queue.backend, spike_ticks, spike_ids, stepper.backend)


def build_record(chip: ChipSpec, workload: WorkloadSpec, opt: RunOptions, ledger: Ledger,
                 class_names: tuple[str, ...], hops: np.ndarray, routed: int, latency_ps_sum: int,
                 n_enabled: int, wall: float, backend: str, spike_ticks: list[np.ndarray],
                 spike_ids: list[np.ndarray], tick_backend: str) -> RunResult:
    """The frozen record of a finished run, from its counters (shared with the SimPy reference)."""
    for cls, n in zip(class_names, hops):
        ledger.add(f"hop:{cls}", int(n))
    sim_time = opt.ticks * chip.timing.tick_s
    breakdown = ledger.breakdown_j(chip.energy, sim_time)
    total = total_j(breakdown)
    sops = ledger.get("synaptic_op")
    spikes = ledger.get("spike")
    trains = None
    if opt.record_spikes:
        trains = SpikeTrains(np.concatenate(spike_ticks) if spike_ticks else np.empty(0, np.int64),
                             np.concatenate(spike_ids) if spike_ids else np.empty(0, np.int64))
    n_hops = ledger.hops()
    return RunResult(
        schema_version=SCHEMA_VERSION, neuroemu_version=__version__, chip=chip.name, workload=workload.name,
        seed=opt.seed, queue_backend=backend, tick_backend=tick_backend, timing=chip.timing.mode, network="analytic",
        ticks=opt.ticks, sim_time_s=sim_time, wall_s=wall, cores=chip.cores, neurons=n_enabled,
        spikes=spikes, mean_rate_hz=spikes / n_enabled / sim_time if n_enabled else 0.0,
        axon_events=ledger.get("axon_event"), synaptic_events=sops, hops=n_hops,
        hops_per_spike=n_hops / routed if routed else 0.0,
        hops_by_class={cls: int(n) for cls, n in zip(class_names, hops)},
        counts=dict(sorted((k, int(v)) for k, v in ledger.counts.items())),
        energy_j=total, energy_breakdown_j=breakdown, **figures(breakdown, sops, sim_time),
        latency_mean_s=latency_ps_sum / routed * 1e-12 if routed else None,
        config={"chip": to_plain(chip), "workload": to_plain(workload),
                "run": {"ticks": opt.ticks, "seed": opt.seed}},
        seeds={"master": opt.seed}, peak_rss_mb=_peak_rss_mb(), spike_trains=trains)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
