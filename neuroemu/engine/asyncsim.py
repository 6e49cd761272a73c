"""The ``async`` timing mode: a continuous-time engine, and Neurogrid's diffuser network.

Time. There is no clock: time is an integer count of picoseconds and every event -- a spike
reaching a chip, an input, a neuron's predicted threshold crossing -- goes through the one event
queue (:func:`neuroemu.kernel.queue.make_queue`). The queue is popped in **lookahead windows**
[t, t + L), t the next event's time and L the smallest latency any event can add before it
causes an event at another neuron: the smallest chip-to-chip spike latency of the network
(``latency.spike_ns`` + the route's hops x ``latency.hop_ns``, at least 1 ps). A spike fired
inside a window reaches its targets at or after the window's end, so nothing inside a window
can affect another neuron inside it, and each window is processed in bulk and exactly; any
window of at most L gives identical spikes (a test runs L and L/4). A neuron's own events in a
window (its inputs, its threshold checks, its spike and reset) are handled in time order by the
window kernel (:mod:`neuroemu.hardware.asynckernel`, C with a Python twin). At equal times inputs come
first (priority -1), then arriving spikes ordered by source neuron (priority = source id), then
threshold checks (the largest priority), so the order never depends on the window size.

Neurons (``core.neuron_model: neurogrid_lif``): continuous-time leaky integrate-and-fire, the
survey's eq. (8) with the bias as a constant input: tau dV/dt = -(V - b_i), so V relaxes
exactly exponentially towards the bias-driven rest b_i between events,
V(t) = b_i + (V(t0) - b_i) exp(-(t - t0)/tau). An input (a synaptic event of weight w) adds w
to V at once (eq. 4 with delta synapses); V >= threshold fires a spike, V is set to ``reset``
and held there for ``refractory_ms``, during which inputs are ignored (they still count as
synaptic events: the diffuser delivered them). State is float64 and kept scaled,
u_i = (V_i - b_i) exp((t - E)/tau) for an epoch E, which is constant between events, so one
diffused spike adds the same w exp((t - E)/tau) to every neuron it reaches (one exp per spike,
one add per SOP); E moves forward every 200 tau (all u rescaled) at fixed times, so float64
never overflows and results do not depend on the windows.

Spontaneous firing is exact: with b_i > threshold a neuron reaches threshold at
t* = E + tau ln(-u_i / (b_i - threshold)), rounded up to the next ps (from reset:
period = refractory + tau ln((b_i - reset)/(b_i - threshold))). That time is scheduled as a
self event (a threshold check) carrying the neuron's version number; a spike or a new
prediction bumps the version, so stale checks are recognised and dropped. Inhibitory input only
delays a crossing, so the pending check stays a valid lower bound and is not replaced: when it
comes due the neuron either fires (its fresh prediction is not later than now) or schedules a
new check. Excitatory input can fire the neuron at once or bring its check forward.

Neurogrid's synapses (``network.kind: neurogrid_diffuser``) are not stored: each chip is a
side x side array (256 x 256 = 65,536 neurons on Neurogrid), and a spike reaching a chip is
spread by the analog diffuser over a neighbourhood of neurons around a target position; each
neuron reached is one synaptic event (SOP) of weight ``weight``. The neighbourhood is a disc
of radius ``diffuser_radius`` (lattice points with dx^2 + dy^2 <= radius^2) or a
``diffuser_width`` x ``diffuser_height`` rectangle. With ``diffuser_wrap: 1`` (the default) the
array wraps at its edges (a torus), so every spike reaches exactly the neighbourhood's size --
the real diffuser is a resistive grid cut at the chip edge, which ``diffuser_wrap: 0`` models by
clipping (fewer SOPs near the edges). Memory is O(neurons): per neuron its state, its bias and
its ``targets`` diffuser centres. Each neuron's spike is one packet multicast to ``targets``
distinct chips chosen uniformly at random (its own chip included), landing at the neuron's own
(row, column) there (a topographic projection); the packet crosses the union of the tree
router's paths once per link (``Topology.multicast_links``), counted per link class.

Counters for the ledger: ``synaptic_op`` (neurons reached by the diffuser, plus direct inputs),
``spike``, ``axon_event`` (spike packets reaching a chip's diffuser), ``hop:<class>`` and
``wire_nm`` (the multicast tree's links, once per spike), and ``neuron_update``: one per neuron
per ``tick_s`` of chip time. The analog somas integrate continuously, whatever the traffic, so
their cost is time-proportional like a clocked chip's per-tick update and never depends on the
event count or the window size. Spikes in the record's trains carry their time in ps.

Start. With ``init_mean_field: 1`` (the default) the network starts in its mean-field
stationary state: the rate r solving r = mean_i f(b_i + w tau K r) (f the LIF rate at a
constant drive, K the SOPs per spike; inhibition only, w <= 0) gives each neuron an effective
drive, and each starts at a uniformly random phase of its period under it, so a short run
measures the steady state. With ``init_mean_field: 0`` every neuron starts at ``reset`` at t = 0.

Modules: this one holds the window loop (:class:`AsyncEngine`) and :func:`run_async`, the entry
point ``simulate()`` calls for async chips; :mod:`neuroemu.engine.asyncnet` the parameters, checks and
build of the diffuser network; :mod:`neuroemu.hardware.asynckernel` the window kernel (C and Python twin).
"""
from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Callable

import numpy as np

from neuroemu.hardware.asynckernel import INPUT_PRIO, KIND_ARRIVAL, KIND_INPUT, make_kernel
from neuroemu.engine.asyncnet import (ASYNC_NETWORKS, ASYNC_NEURON_MODELS, DiffuserNetwork, DiffuserPlan, NeurogridParams,
                       _workload_file, diffuser_rows, lif_rate_hz, mean_field_rate, neurogrid_params,
                       plan_diffuser)
from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.engine.energy import Ledger
from neuroemu.errors import ConfigError, RunawayError
from neuroemu.hardware.chip import tick_ps
from neuroemu.kernel.queue import make_queue
from neuroemu.engine.options import MAX_TIME_PS, Progress, RunOptions
from neuroemu.engine.record import build_record

if TYPE_CHECKING:
    from neuroemu.engine.record import RunResult

__all__ = ["ASYNC_NETWORKS", "ASYNC_NEURON_MODELS", "AsyncEngine", "DiffuserNetwork", "DiffuserPlan",
           "NeurogridParams", "build_engine", "check_async", "diffuser_rows", "lif_rate_hz", "mean_field_rate",
           "neurogrid_params", "plan_diffuser", "run_async"]

#: the epoch moves every this many membrane time constants
EPOCH_TAUS = 200


class AsyncEngine:
    """The window loop: one queue, lookahead windows, one kernel call per window.

    ``window_ps`` (default: the lookahead) may be any size from 1 ps up to the lookahead; the
    spikes do not depend on it. Spike trains are kept when ``record_spikes``.
    """

    def __init__(self, network: DiffuserNetwork, *, queue: str | None = None, backend: str | None = None,
                 window_ps: int | None = None, record_spikes: bool = False):
        L = network.lookahead_ps
        w = L if window_ps is None else int(window_ps)
        if not 1 <= w <= L:
            raise ConfigError(f"async window: must be 1 to {L} ps (the lookahead: the smallest spike latency); "
                              f"a larger window could miss a spike's effect (got {w})")
        self.network = network
        self.arrays = network.arrays
        # a fixed wheel of window-sized buckets: windows start at the next event, so their ends
        # jump irregularly and the adaptive retuning would rebuild the wheel over and over
        self.queue = make_queue(queue, bucket_width=1 << min(40, w.bit_length() - 1), buckets=1 << 16,
                                adaptive=False)
        self.kernel = make_kernel(network.arrays, backend)
        self.window_ps = w
        self.epoch_ps = max(1, int(min(EPOCH_TAUS * network.arrays.tau_ps, 2**61)))
        self.record_spikes = record_spikes
        self.spike_times: list[np.ndarray] = []
        self.spike_ids: list[np.ndarray] = []
        self.windows = 0
        self.rebases = 0
        self.now = 0
        self._push(self.kernel.predict_all())

    def _push(self, out) -> None:
        if len(out.time):
            self.queue.push_batch(out.time, out.kind, out.target, out.payload, out.prio)

    def inject(self, times_ps, neurons, weights) -> None:
        """Queue direct inputs: neuron ``neurons[j]`` gets ``weights[j]`` at ``times_ps[j]``."""
        times = np.asarray(times_ps, np.int64)
        w = np.broadcast_to(np.asarray(weights, np.float64), times.shape)
        self.queue.push_batch(times, KIND_INPUT, np.asarray(neurons, np.int64),
                              np.ascontiguousarray(w).view(np.int64), INPUT_PRIO)

    def run(self, end_ps: int, *, tick_ps: int | None = None, progress: Progress | None = None,
            stop: Callable[[], str | None] | None = None) -> None:
        """Process every event before ``end_ps``. ``progress(done, total)`` in ticks of ``tick_ps``;
        ``stop()`` is asked after each window and ends the run by raising RunawayError with its text."""
        q, kernel, W, P = self.queue, self.kernel, self.window_ps, self.epoch_ps
        total = end_ps // tick_ps if tick_ps else 0
        done = -1
        while True:
            t0 = q.next_time()
            if t0 is None or t0 >= end_ps:
                break
            if t0 >= kernel.epoch + P:
                kernel.rebase(t0 - t0 % P)
                self.rebases += 1
            w_end = min(t0 + W, end_ps, kernel.epoch + P)
            out = kernel.process(q.pop_before(w_end), w_end)
            self._push(out)
            self.windows += 1
            self.now = w_end
            if self.record_spikes and len(out.spike_time):
                order = np.lexsort((out.spike_neuron, out.spike_time))
                self.spike_times.append(out.spike_time[order])
                self.spike_ids.append(out.spike_neuron[order])
            if progress is not None and tick_ps and t0 // tick_ps != done:
                done = t0 // tick_ps
                progress(int(done), int(total))
            if stop is not None:
                why = stop()
                if why:
                    raise RunawayError(why)
        self.now = end_ps
        if progress is not None and tick_ps:
            progress(int(total), int(total))

    def spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """Recorded spikes (time in ps, neuron), in (time, neuron) order."""
        if not self.spike_times:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(self.spike_times), np.concatenate(self.spike_ids)

    def potential(self, t: int | None = None) -> np.ndarray:
        """Every neuron's V at ``t`` ps (default: where the run stopped), assuming no input after."""
        return self.arrays.potential(self.now if t is None else t)


def check_async(chip: ChipSpec, workload: WorkloadSpec, file: str | None = None):
    """Check ``workload`` on the async ``chip`` without running it (for ``neuroemu validate``).

    Which networks a chip runs clockless is decided by its neuron model: Neurogrid's analog
    ``neurogrid_lif`` runs its own diffuser network (``neurogrid_diffuser``) and every generated
    or mapped network, written onto its shared synapse types and diffuser
    (:mod:`neuroemu.networks.diffuser`; no learning: it stores no per-synapse weight); every
    tick-kernel model (``truenorth_lif``, ``loihi_cuba``, ``cuba_lif``) runs every core-array
    network read in continuous time (:mod:`neuroemu.engine.asynccore`). Returns the diffuser's
    plan, or the core network's plan.
    """
    file = _workload_file(workload, file)
    if chip.timing.mode != "async":
        raise ConfigError(f"{chip.name}: timing.mode: the async engine runs async chips (got {chip.timing.mode!r})")
    kind = workload.network.kind
    model = chip.core.neuron_model
    if model in ASYNC_NEURON_MODELS and kind not in ASYNC_NETWORKS:
        _check_shared_synapses(chip, workload, file)  # then planned as every core-array network
    elif model in ASYNC_NEURON_MODELS:
        if workload.learning is not None:
            raise ConfigError(f"{file}: learning: the diffuser network stores no synapses for a rule to change "
                              "(a spike is spread by the analog diffuser); remove it")
        if workload.inputs:
            raise ConfigError(f"{file}: inputs: the diffuser network takes no input streams (it is driven by its "
                              "bias); remove them")
        return ASYNC_NETWORKS[kind].plan(chip, workload, file)
    if kind in ASYNC_NETWORKS:
        raise ConfigError(f"{file}: network.kind: {kind} is Neurogrid's analog diffuser network and needs "
                          f"core.neuron_model neurogrid_lif (chip {chip.name!r} has {model!r})")
    from neuroemu.engine.asynccore import check_learning
    from neuroemu.networks.workloads import plan_network
    check_learning(workload, file)
    return plan_network(chip, workload, file)


def _check_shared_synapses(chip: ChipSpec, workload: WorkloadSpec, file: str | None = None) -> None:
    """A generated or mapped network on Neurogrid's shared synapses (networks/diffuser.py) cannot learn."""
    if chip.core.neuron_model in ASYNC_NEURON_MODELS and workload.learning is not None:
        raise ConfigError(f"{_workload_file(workload, file)}: learning: {chip.core.neuron_model} synapses are shared "
                          "by type, one analog gain per chip (Neurogrid stores no per-synapse weight for a rule to "
                          "change); remove it")


def build_engine(chip: ChipSpec, workload: WorkloadSpec, seed: int | None = None, **options) -> AsyncEngine:
    """Check ``chip`` and ``workload`` for the async engine and build it (``options``: see AsyncEngine)."""
    check_async(chip, workload)
    if workload.network.kind not in ASYNC_NETWORKS:
        raise ConfigError(f"{_workload_file(workload)}: network.kind: this engine builds "
                          f"{', '.join(sorted(ASYNC_NETWORKS))} networks; a {workload.network.kind!r} network runs "
                          "on the core-array loop (simulate, engine/asynccore.py)")
    network = ASYNC_NETWORKS[workload.network.kind].build(chip, workload, workload.seed if seed is None else seed)
    return AsyncEngine(network, **options)


def run_async(chip: ChipSpec, workload: WorkloadSpec, opt: "RunOptions", progress: Progress | None) -> "RunResult":
    """Run ``workload`` on an async chip for ``opt.ticks`` x ``tick_s`` of chip time; the record has
    the same fields as every other run."""
    if workload.network.kind not in ASYNC_NETWORKS:
        # the tick models read in continuous time; Neurogrid's neurons on a generated or mapped network
        _check_shared_synapses(chip, workload)
        from neuroemu.engine.asynccore import run_async_cores
        return run_async_cores(chip, workload, opt, progress)
    file = _workload_file(workload)
    tick = tick_ps(chip)
    end_ps = opt.ticks * tick
    if end_ps >= MAX_TIME_PS:
        raise ConfigError(f"{file}: ticks: {opt.ticks} ticks of {chip.timing.tick_s:g} s reach {end_ps} ps, past "
                          f"the int64 picosecond clock's limit of {MAX_TIME_PS} ps")
    engine = build_engine(chip, workload, opt.seed, queue=opt.queue, backend=opt.tick_backend,
                          record_spikes=opt.record_spikes)
    max_events = getattr(opt, "max_events", None)

    def stop() -> str | None:
        arrivals = engine.kernel.counters()["arrivals"]
        if max_events is not None and arrivals > max_events:
            return (f"{file}: runaway activity: {arrivals:,} spikes delivered by {engine.now * 1e-12:.6g} s "
                    f"(limit {max_events:,}); the partial record covers the time before")
        return None

    start = time.perf_counter()
    try:
        engine.run(end_ps, tick_ps=tick, progress=progress, stop=stop if max_events is not None else None)
    except RunawayError as exc:
        done = engine.now // tick
        record = _record(engine, chip, workload, opt, build_record, time.perf_counter() - start, done,
                         engine.now * 1e-12)
        raise RunawayError(str(exc), partial_record=record) from None
    return _record(engine, chip, workload, opt, build_record, time.perf_counter() - start, opt.ticks,
                   end_ps * 1e-12)


def _record(engine: AsyncEngine, chip: ChipSpec, workload: WorkloadSpec, opt: "RunOptions", build_record,
            wall: float, ticks: int, sim_time: float) -> "RunResult":
    """The run's record from the engine's counters (same fields as the tick engines')."""
    net = engine.network
    c = engine.kernel.counters()
    per_route = net.arrays.route_spikes
    ledger = Ledger()
    ledger.add("synaptic_op", c["sops"])
    ledger.add("spike", c["spikes"])
    ledger.add("axon_event", c["arrivals"])
    ledger.add("neuron_update", net.n * ticks)
    ledger.add("wire_nm", int(per_route @ net.route_wire_nm))
    hops = per_route @ net.route_class_hops if len(per_route) else np.zeros(len(net.class_names), np.int64)
    routed = int(per_route.sum())
    report = {"timing_violations": 0, **_latency_report(per_route, net.route_latency_ps)}
    report["spike_flow"] = _spike_flow(engine, c)
    report["latency_samples"] = routed  # one zero-load latency per multicast packet
    report["wire_mm_per_spike"] = int(per_route @ net.route_wire_nm) * 1e-6 / routed if routed else 0.0
    report.update(_link_report(engine, per_route, sim_time, opt))
    report.update({
        "lookahead_s": net.lookahead_ps * 1e-12, "window_s": engine.window_ps * 1e-12,
        "direct_inputs": c["inputs"], "sops_per_spike": net.sops_per_spike,
        "mean_field_rate_hz": net.mean_field_hz, "spike_time_unit": "ps",
    })
    spike_times, spike_ids = engine.spikes()
    run_opt = dataclasses.replace(opt, ticks=ticks)
    return build_record(chip, workload, run_opt, ledger, net.class_names, np.asarray(hops, np.int64), routed,
                        int(per_route @ net.route_latency_ps), net.n, wall, engine.queue.backend,
                        [spike_times], [spike_ids], engine.kernel.backend, sim_time_s=sim_time, extra=report,
                        # how the loop cut time and checked crossings: the engine's figures, as the wall time
                        loop_stats={"windows": engine.windows, "epoch_rebases": engine.rebases,
                                    "threshold_checks": c["checks"], "stale_checks": c["stale"],
                                    "early_checks": c["failed"]})


def _spike_flow(engine: AsyncEngine, c: dict[str, int]) -> dict[str, int]:
    """Where every spike copy sent to a chip went: sent = delivered + in flight at the end (no tick, so
    nothing is late; direct inputs reach neurons, not chips). Drains the finished engine's queue."""
    rest = engine.queue.pop_before(MAX_TIME_PS)
    return {"sent": c["spikes"] * engine.network.arrays.k_targets, "inputs": 0, "delivered": c["arrivals"],
            "delivered_late": 0, "dropped_late": 0, "dropped_at_reset": 0,
            "in_flight_end": int(np.count_nonzero(rest.kind == KIND_ARRIVAL))}


def _latency_report(per_route: np.ndarray, latency_ps: np.ndarray) -> dict:
    """p50, p99 and max of the spikes' network latency (to their last target), in s."""
    total = int(per_route.sum())
    if total == 0:
        return {"latency_p50_s": None, "latency_p99_s": None, "latency_max_s": None}
    order = np.argsort(latency_ps, kind="stable")
    cum = np.cumsum(per_route[order])
    values = latency_ps[order]

    def pct(q: float) -> float:
        return float(values[np.searchsorted(cum, q * total)]) * 1e-12

    used = per_route > 0
    return {"latency_p50_s": pct(0.5), "latency_p99_s": pct(0.99),
            "latency_max_s": float(latency_ps[used].max()) * 1e-12}


def _link_report(engine: AsyncEngine, per_route: np.ndarray, sim_time: float, opt) -> dict:
    """Packets and utilisation per link (each multicast crosses each link of its tree once)."""
    net = engine.network
    topo = net.topology
    loads = np.zeros(topo.n_links, np.int64)
    for j in np.flatnonzero(per_route):
        loads[net.route_links[j]] += per_route[j]
    util = loads * (1e-9 / topo.link_bandwidth) / sim_time if sim_time > 0 else np.zeros(topo.n_links)
    order = np.argsort(-util, kind="stable")[:5]
    out = {"max_link_utilization": float(util.max(initial=0.0)),
           "mean_link_utilization": float(util.mean()) if len(util) else 0.0,
           "busiest_links": [{"link": int(i), "src": int(topo.link_src[i]), "dst": int(topo.link_dst[i]),
                              "packets": int(loads[i]), "utilization": float(util[i])} for i in order]}
    if getattr(opt, "link_stats", False):
        out["link_stats"] = {"src": topo.link_src.tolist(), "dst": topo.link_dst.tolist(),
                             "packets": loads.tolist(), "utilization": util.tolist(),
                             "router_pos_mm": topo.router_pos_mm.tolist()}
    return out
