"""The SimPy reference: the same chip model written the straightforward way.

One SimPy process per core wakes at every tick, integrates each spike of its
inbox synapse by synapse, updates each neuron one at a time with the plain-Python
twin of the neuron model (TrueNorth LIF or the current-based LIF), applies the
learning rule synapse by synapse when one is given, and sends each spike as its
own SimPy process that sleeps for the axonal delay. Nothing is vectorised and no event queue of ours is
used: it exists so tests can check that the fast window loop gives the same
spikes, event counts and energy. Use it on small chips only.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict

import numpy as np
import simpy

from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.engine.energy import Ledger
from neuroemu.hardware.chip import build_chip_topology, tick_ps
from neuroemu.hardware.learning import STDP, STDPReference
from neuroemu.models.loihi import cuba_step_one
from neuroemu.models.neuron import neuron_model, require_clocked, truenorth_step_one
from neuroemu.models.rng import stream_key
from neuroemu.engine.record import RunResult
from neuroemu.engine.options import STREAM_NEURON_RNG, RunOptions, resolve
from neuroemu.engine.record import build_record
from neuroemu.networks.workloads import build_inputs, build_network


def simulate_reference(chip: ChipSpec | str | None = None, workload: WorkloadSpec | str | None = None, *,
                       ticks: int | None = None, seed: int | None = None,
                       learning: STDP | None = None) -> RunResult:
    """Run the SimPy reference and return a record comparable with :func:`neuroemu.engine.run`.

    ``learning``: a rule (its parameters only: the reference keeps its own plain-Python state) to
    apply after every core's neuron update; its updates are counted as potentiation/depression.
    """
    chip, workload = resolve(chip, workload)
    opt = RunOptions(ticks=workload.ticks if ticks is None else ticks,
                     seed=workload.seed if seed is None else seed, record_spikes=True)
    kernel = neuron_model(chip.core.neuron_model).kernel
    if chip.timing.mode != "sync":
        raise NotImplementedError("the reference implements sync timing only")
    require_clocked(chip, "sync")  # a model with no tick kernel (Neurogrid's analog neurons) is refused
    network = build_network(chip, workload, opt.seed, workload.name)
    inputs = build_inputs(chip, workload, network, opt.seed, workload.name)
    topo = build_chip_topology(chip)
    a = network.arrays
    A, N = a.axons_per_core, a.neurons_per_core
    hooks = getattr(network, "hooks", None)
    if hooks is not None and hooks.reset_period:
        raise NotImplementedError("the reference does not reset state between presentations")
    route_src, route_axon, route_delay = a.routes()
    route_ptr = np.searchsorted(route_src, np.arange(a.n_neurons + 1))  # routes are in neuron order
    chip_core = [int(x) for x in a.chip_cores(np.arange(a.n_cores))]
    tick = tick_ps(chip)
    key = stream_key(opt.seed, STREAM_NEURON_RNG)
    env = simpy.Environment()
    ledger = Ledger()
    inbox: dict[tuple[int, int], set[int]] = defaultdict(set)   # (tick, core) -> active local axons
    hops = np.zeros(len(topo.class_names), np.int64)
    state = {"routed": 0, "latency": 0, "inputs": 0, "in_flight": 0}
    latencies: list[int] = []
    link_packets = np.zeros(len(topo.link_src), np.int64)
    spike_ticks: list[np.ndarray] = []
    spike_ids: list[np.ndarray] = []
    v = [int(x) for x in a.v]
    u = [int(x) for x in a.u] if kernel == "cuba" else None
    refractory = [int(x) for x in a.refractory_left] if kernel == "cuba" else None
    enabled = [bool(x) for x in network.enabled]
    rule = STDPReference(learning, a) if learning is not None else None
    # one weight per synapse when the chip (or the learning rule) keeps them per synapse
    syn_weights = rule.weights if rule is not None else (
        [int(x) for x in a.row_weights] if a.row_weights is not None else None)

    def deliver(axon: int, delay_ticks: int):
        state["in_flight"] += 1
        yield env.timeout(delay_ticks * tick)
        state["in_flight"] -= 1
        ledger.add("axon_event", 1)
        inbox[(int(env.now // tick), axon // A)].add(axon % A)

    def core_process(c: int):
        for t in range(opt.ticks):
            if env.now < t * tick:
                yield env.timeout(t * tick - env.now)
            yield env.timeout(0)  # let deliveries due at this instant land first
            syn = [0] * N
            touched = [False] * N
            active_axons = sorted(inbox.pop((t, c), ()))
            for i in active_axons:
                axon = c * A + i
                g_type = int(a.axon_type[axon])
                for p in range(int(a.row_ptr[axon]), int(a.row_ptr[axon + 1])):
                    j = int(a.row_neurons[p])
                    syn[j] += syn_weights[p] if syn_weights is not None else int(a.weights[c * N + j, g_type])
                    touched[j] = True
                    ledger.add("synaptic_op", 1)
            fired_here = []
            for j in range(N):
                g = c * N + j
                if not enabled[g]:
                    continue
                if kernel == "cuba":
                    v[g], u[g], refractory[g], fired = cuba_step_one(
                        v[g], u[g], refractory[g], syn[j], a.params, g, membrane_bits=chip.core.membrane_bits)
                else:
                    v[g], fired = truenorth_step_one(v[g], syn[j], a.params, g, tick=t, key=key,
                                                     membrane_bits=chip.core.membrane_bits)
                ledger.add("neuron_update_active" if (touched[j] or fired) else "neuron_update", 1)
                if fired:
                    fired_here.append(g)
                    ledger.add("spike", 1)
                    for r in range(int(route_ptr[g]), int(route_ptr[g + 1])):
                        target = int(route_axon[r])
                        if target < 0:
                            continue
                        src_r, dst_r = topo.core_router[chip_core[c]], topo.core_router[chip_core[target // A]]
                        for k in range(len(hops)):
                            hops[k] += int(topo.class_hops[k][src_r, dst_r])
                        state["routed"] += 1
                        state["latency"] += int(topo.path_latency_ps[src_r, dst_r])
                        latencies.append(int(topo.path_latency_ps[src_r, dst_r]))
                        route = topo.route_links(int(src_r), int(dst_r))  # walk the route link by link
                        link_packets[route] += 1
                        ledger.add("wire_nm", int(round(float(topo.link_length_mm[route].sum()) * 1e6)))
                        env.process(deliver(target, int(route_delay[r])))
            if rule is not None:  # a core's synapses are its own: learning per core is learning per chip
                n_pot, n_dep = rule.apply(t, [c * A + i for i in active_axons], fired_here)
                ledger.add("potentiation", n_pot)
                ledger.add("depression", n_dep)
            if fired_here:
                spike_ticks.append(np.full(len(fired_here), t, np.int64))
                spike_ids.append(np.array(fired_here, np.int64))

    # inputs are exogenous and known in advance: they go straight into the inboxes
    for stream in inputs:
        in_ticks, in_axons = stream.events(0, opt.ticks)
        for t_in, axon in zip(in_ticks.tolist(), in_axons.tolist()):
            ledger.add("axon_event", 1)
            state["inputs"] += 1
            inbox[(t_in, axon // A)].add(axon % A)
    for c in range(a.n_cores):
        env.process(core_process(c))
    start = time.perf_counter()
    env.run(until=opt.ticks * tick)
    wall = time.perf_counter() - start
    # the fast loop reports spikes in (tick, neuron id) order; so does this, after a stable sort
    if spike_ticks:
        t_all, g_all = np.concatenate(spike_ticks), np.concatenate(spike_ids)
        order = np.lexsort((g_all, t_all))
        spike_ticks, spike_ids = [t_all[order]], [g_all[order]]
    latencies.sort()

    def pct(q: float):
        return latencies[max(0, math.ceil(q * len(latencies)) - 1)] * 1e-12 if latencies else None

    sim_time = opt.ticks * chip.timing.tick_s
    util = link_packets * (1e-9 / topo.link_bandwidth) / sim_time
    order = np.argsort(-util, kind="stable")[:5]
    report = {"timing_violations": 0, "latency_p50_s": pct(0.5), "latency_p99_s": pct(0.99),
              "latency_max_s": latencies[-1] * 1e-12 if latencies else None,
              "spike_flow": {"sent": state["routed"], "inputs": state["inputs"], "delivered": ledger.get("axon_event"),
                             "delivered_late": 0, "dropped_late": 0, "dropped_at_reset": 0,
                             "in_flight_end": state["in_flight"]},
              "latency_samples": len(latencies),
              "wire_mm_per_spike": ledger.get("wire_nm") * 1e-6 / state["routed"] if state["routed"] else 0.0,
              "max_link_utilization": float(util.max(initial=0.0)), "mean_link_utilization": float(util.mean()),
              "busiest_links": [{"link": int(i), "src": int(topo.link_src[i]), "dst": int(topo.link_dst[i]),
                                 "packets": int(link_packets[i]), "utilization": float(util[i])} for i in order]}
    return build_record(chip, workload, opt, ledger, tuple(topo.class_names), hops, state["routed"],
                        state["latency"], network.n_enabled, wall, "simpy", spike_ticks, spike_ids, "python",
                        extra=report, workload_report=network.report() if hasattr(network, "report") else None)
