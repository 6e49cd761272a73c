"""The SimPy reference: the same chip model written the straightforward way.

One SimPy process per core wakes at every tick, integrates each spike of its
inbox synapse by synapse, updates each neuron one at a time with the plain-Python
twin of the neuron model (TrueNorth LIF or the current-based LIF), applies the
learning rule synapse by synapse when one is given, and sends each spike as its
own SimPy process that sleeps for the axonal delay. Nothing is vectorised and no event queue of ours is
used: it exists so tests can check that the fast window loop gives the same
spikes, event counts and energy. Use it on small chips only.

NVM synapses (a chip's ``synapse_device``, docs/devices.md) as the fast loop has them: the
programmed weights (programming noise, drift, stuck cells: built with the network), read noise
drawn synapse by synapse with the same counter-based keys (cell, the row's read count) and table,
the column ADC, the periphery counters, the learning rule's non-linear steps and endurance.
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
from neuroemu.hardware.devices import NORMAL_TABLE_BITS, Endurance, adc_for, normal_table, read_noise_for
from neuroemu.hardware.learning import STDP, STDPReference
from neuroemu.models.loihi import cuba_step_one
from neuroemu.models.neuron import neuron_model, require_clocked, truenorth_step_one
from neuroemu.models.rng import MASK64, mix64_int, stream_key
from neuroemu.engine.record import RunResult, with_network_reports
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
    dev = chip.synapse_device
    noise = read_noise_for(a, chip, opt.seed)
    if noise is not None:  # read per cell: the weights per synapse, as the fast loop's kernels read them
        a.materialize_row_weights()
    rule = STDPReference(learning, a, device=dev) if learning is not None else None
    # one weight per synapse when the chip (or the learning rule) keeps them per synapse
    syn_weights = rule.weights if rule is not None else (
        [int(x) for x in a.row_weights] if a.row_weights is not None else None)
    nvm = _Nvm(chip, network, noise, rule)

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
            syn = [0.0 if noise is not None else 0] * N
            touched = [False] * N
            active_axons = sorted(inbox.pop((t, c), ()))
            for i in active_axons:
                axon = c * A + i
                g_type = int(a.axon_type[axon])
                for p in range(int(a.row_ptr[axon]), int(a.row_ptr[axon + 1])):
                    j = int(a.row_neurons[p])
                    w = syn_weights[p] if syn_weights is not None else int(a.weights[c * N + j, g_type])
                    syn[j] += w if noise is None else nvm.noisy(w, p, axon)
                    touched[j] = True
                    ledger.add("synaptic_op", 1)
                if noise is not None:
                    nvm.reads[axon] += 1
            nvm.periphery(ledger, c, active_axons)
            syn = nvm.column_sums(syn)
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
    record = build_record(chip, workload, opt, ledger, tuple(topo.class_names), hops, state["routed"],
                          state["latency"], network.n_enabled, wall, "simpy", spike_ticks, spike_ids, "python",
                          extra=report, workload_report=network.report() if hasattr(network, "report") else None)
    return with_network_reports(record, network, None, np.zeros(0, np.int64), nvm.endurance_report())


class _Nvm:
    """The NVM device effects of the reference, synapse by synapse in plain Python (the fast loop's
    twins: devices.ReadNoise.input, adc_quantise, TickLoop._count_periphery; endurance is counted and
    applied by the rule's twin, STDPReference, cell by cell)."""

    def __init__(self, chip: ChipSpec, network, noise, rule):
        a, dev = network.arrays, chip.synapse_device
        self.a, self.rule, self.noise = a, rule, noise
        self.adc = adc_for(chip)
        # the periphery is counted only when it is priced, as in the fast loop
        self.counted = dev is not None and (self.adc is not None or bool(dev.dac_pj_per_row.value))
        self.columns = [int(x) for x in network.enabled.reshape(a.n_cores, -1).sum(axis=1)]
        if noise is not None:
            self.base = [int(x) for x in noise.base]
            self.reads = [0] * a.n_axons
            self.table = [float(x) for x in normal_table()]
            self.shift = 64 - NORMAL_TABLE_BITS

    def noisy(self, w: int, p: int, axon: int) -> float:
        """One read of synapse p: its weight plus sigma x the table normal of (cell, the row's read count)."""
        n = self.noise
        z = self.table[mix64_int((self.base[p] + self.reads[axon] + n.key) & MASK64) >> self.shift]
        return float(w) + n.sigma_lsb * z

    def column_sums(self, syn: list) -> list:
        """Noisy sums rounded half to even; then the column ADC (round half up to its step, clip)."""
        if self.noise is not None:
            syn = [round(x) for x in syn]
        if self.adc is not None:
            q, half = self.adc, (1 << self.adc.shift) >> 1
            syn = [min(max((x + half) >> q.shift, q.lo), q.hi) << q.shift for x in syn]
        return syn

    def periphery(self, ledger: Ledger, core: int, rows: list) -> None:
        """A driven word line per active row; with an ADC, every used column of a core with one."""
        if self.counted and rows:
            ledger.add("dac_drive", len(rows))
            if self.adc is not None:
                ledger.add("adc_conversion", self.columns[core])

    def endurance_report(self):
        """The wear for the record, in the fast loop's form (an Endurance holding the rule twin's counts per cell)."""
        if self.rule is None or self.rule.writes is None:
            return None
        from_lists = Endurance(self.a, self.rule.limit)
        from_lists.writes[:] = self.rule.writes
        return from_lists
