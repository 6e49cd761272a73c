"""The one conservation check every path's tests use: every spike, event and joule accounted for.

``assert_conserved(record)`` checks what any record shows on its own (tick engines and async,
both network fidelities, generated and mapped networks, learning on or off):

- spike flow: spikes sent + inputs + inputs routed (inputs on cores: one packet per input spike and
  destination axon) = delivered + dropped as late + in flight at the run's end;
  delivered = the record's axon events; late delivered + dropped = the timing violations (none
  under sync or async);
- routed spikes (the neurons' sent and the inputs' routed): one latency sample and one packet each
  (per multicast packet under async), and the hops per class add up to the record's hops;
- energy: each term of the breakdown is its count times its constant from the chip (static =
  power x chip time), no term is unexplained, and the terms sum to the total.

``run_traced(chip, workload, **options)`` runs a tick engine (sync, gals, barrier) while keeping
each tick's delivered axons; ``assert_conserved(record, trace)`` then also checks, from the
recorded spike trains and the route tables walked link by link (not the router's compiled
per-route tables): synaptic events = the sum over ticks of the delivered rows' synapse counts (an
axon hit twice in a tick activates once), spikes sent = the routes of the spikes fired, inputs
routed = the input spikes of the run times their axons, hops per class and wire = sum over routes
(the inputs' too) of spikes x the route's links, and, under sync, the delivered
axons tick by tick = the inputs plus every routed spike at its delay.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from neuroemu.config import chip_from_data
from neuroemu.config.schema import ChipSpec
from neuroemu.engine.run import TickLoop, simulate
from neuroemu.engine.options import RunOptions, resolve, with_timing
from neuroemu.engine.record import RunResult
from neuroemu.hardware.chip import build_chip_topology

PJ = 1e-12
REL = 1e-12  # float products of exact integer counts: equal to the last bits


@dataclass
class Trace:
    """What a traced tick run delivered: each tick's axons, the inputs queued, and the loop itself."""

    loop: TickLoop
    delivered: list[np.ndarray] = field(default_factory=list)
    inputs: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


class _TracedLoop(TickLoop):
    """The real window loop, keeping a copy of what each tick delivers (nothing else changes)."""

    def deliver(self, t, now, start):
        due = super().deliver(t, now, start)
        self.trace.delivered.append(np.array(due, np.int64))
        return due


def run_traced(chip, workload, *, ticks=None, seed=None, timing=None, network="analytic", queue=None,
               tick_backend=None, buffer_packets=4) -> tuple[RunResult, Trace]:
    """Run a tick engine with spike trains on; return the record and the trace of its deliveries."""
    chip, workload = resolve(chip, workload)
    if timing is not None:
        chip = with_timing(chip, timing)
    opt = RunOptions(ticks=workload.ticks if ticks is None else int(ticks),
                     seed=workload.seed if seed is None else int(seed), queue=queue, record_spikes=True,
                     tick_backend=tick_backend, network=network, buffer_packets=buffer_packets)
    loop = _TracedLoop(chip, workload, opt)
    loop.trace = Trace(loop)
    for stream in loop.inputs:  # the inputs, read once more from the same seeded streams
        loop.trace.inputs.append(stream.events(0, opt.ticks))
    return loop.run(None), loop.trace


def _chip_of(record: RunResult, chip: ChipSpec | None) -> ChipSpec:
    return chip if chip is not None else chip_from_data(record.config["chip"], f"{record.chip} (record)")


def expected_energy_terms(record: RunResult, chip: ChipSpec | None = None) -> dict[str, float]:
    """Each energy term from the record's counts and the chip's constants, written out term by term."""
    e = _chip_of(record, chip).energy
    n = record.counts.get
    active_pj = e.neuron_update_pj.value if e.neuron_update_active_pj is None else e.neuron_update_active_pj.value
    terms = {
        "synaptic": n("synaptic_op", 0) * e.synaptic_op_pj.value * PJ,
        "neuron_update": (n("neuron_update", 0) * e.neuron_update_pj.value
                          + n("neuron_update_active", 0) * active_pj) * PJ,
        "spike": n("spike", 0) * e.spike_pj.value * PJ,
        "static": e.static_mw.value * 1e-3 * record.sim_time_s,
    }
    if n("potentiation", 0) or n("depression", 0):
        pot = e.potentiation_pj if e.potentiation_pj is not None else e.learning_update_pj
        dep = e.depression_pj if e.depression_pj is not None else e.learning_update_pj
        terms["potentiation"] = n("potentiation", 0) * pot.value * PJ
        terms["depression"] = n("depression", 0) * dep.value * PJ
    for cls, hops in record.hops_by_class.items():
        if hops or f"hop:{cls}" in record.counts:
            per_hop = e.hop_class_pj[cls].value if e.hop_class_pj and cls in e.hop_class_pj else e.hop_pj.value
            terms[f"hop_{cls}"] = hops * per_hop * PJ
    if e.wire_pj_per_mm.value:
        terms["wire"] = n("wire_nm", 0) / 1e6 * e.wire_pj_per_mm.value * PJ  # nm -> mm
    # the terms later issues add (packet, clocking), read only where the chip schema has them
    packet_pj = getattr(e, "packet_pj", None)
    if packet_pj is not None and packet_pj.value:
        terms["packet"] = n("packet", 0) * packet_pj.value * PJ
    dev = _chip_of(record, chip).synapse_device  # NVM periphery: ADC conversions, word-line drives
    if dev is not None and dev.adc_bits is not None and dev.adc_fom_pj.value:
        terms["adc"] = n("adc_conversion", 0) * dev.adc_fom_pj.value * 2 ** dev.adc_bits * PJ  # FOM x 2^bits
    if dev is not None and dev.dac_pj_per_row.value:
        terms["dac"] = n("dac_drive", 0) * dev.dac_pj_per_row.value * PJ
    for counter, term, constant in (("clock_core_tick", "clock", "clock_pj_per_core_tick"),
                                    ("handshake", "handshake", "handshake_pj"),
                                    ("barrier_sync", "barrier_sync", "handshake_pj")):
        if n(counter, 0):
            terms[term] = n(counter) * getattr(e, constant).value * PJ
    return terms


def assert_conserved(record: RunResult, trace: Trace | None = None, *, chip: ChipSpec | None = None) -> None:
    """Every spike, event and joule of ``record`` accounted for (see the module docstring)."""
    rep = record.timing_report
    flow = rep["spike_flow"]
    # --- spikes: sent + inputs (+ inputs routed, on cores) = delivered + dropped late + in flight at the end
    routed = flow["sent"] + flow.get("inputs_routed", 0)  # every spike copy that left a core
    assert routed + flow["inputs"] == (flow["delivered"] + flow["dropped_late"] + flow.get("dropped_at_reset", 0)
                                             + flow["in_flight_end"]), flow
    assert flow["delivered"] == record.axon_events, (flow, record.axon_events)
    assert flow["delivered_late"] + flow["dropped_late"] == rep["timing_violations"], (flow, rep["timing_violations"])
    assert min(flow.values()) >= 0, flow
    if record.timing in ("sync", "async"):
        assert rep["timing_violations"] == 0
    # --- routed spikes: one latency sample each; hops by class add up
    if record.timing == "async" and record.config["workload"]["network"]["kind"] == "neurogrid_diffuser":
        assert rep["latency_samples"] == record.spikes  # the diffuser: every spike is one multicast packet
    else:
        assert rep["latency_samples"] == routed, (rep["latency_samples"], flow)
    routed = rep["latency_samples"]
    assert sum(record.hops_by_class.values()) == record.hops
    assert record.hops_per_spike == (record.hops / routed if routed else 0.0)
    assert math.isclose(rep["wire_mm_per_spike"], record.counts.get("wire_nm", 0) * 1e-6 / routed if routed else 0.0,
                        rel_tol=REL)
    assert (record.latency_mean_s is None) == (routed == 0)
    if record.network == "analytic" and record.sim_time_s > 0:  # a link is busy 1/bandwidth per packet
        bandwidth = build_chip_topology(_chip_of(record, chip)).link_bandwidth
        busiest = rep.get("busiest_links", ())  # (a partial record has none)
        if busiest:
            assert rep["max_link_utilization"] == busiest[0]["utilization"]
        for link in busiest:
            assert math.isclose(link["utilization"], link["packets"] * 1e-9 / bandwidth[link["link"]]
                                / record.sim_time_s, rel_tol=1e-9), link
    for cls, hops in record.hops_by_class.items():
        assert record.counts.get(f"hop:{cls}", 0) == hops, cls
    assert record.counts.get("spike", 0) == record.spikes
    counts = record.counts
    if "packet" in counts and record.timing != "async":  # one packet per routed spike per route
        assert counts["packet"] == routed
    if "handshake" in counts:  # clockless networks: one handshake per delivered spike and per hop
        assert counts["handshake"] == record.axon_events + record.hops
    if "clock_core_tick" in counts and record.timing == "sync":  # a global clock: every core, every tick
        assert counts["clock_core_tick"] == record.cores * record.ticks
    assert record.counts.get("synaptic_op", 0) == record.synaptic_events
    # --- energy: each term its count x its constant, nothing else, summing to the total
    expected = expected_energy_terms(record, chip)
    assert set(record.energy_breakdown_j) == set(expected), (sorted(record.energy_breakdown_j), sorted(expected))
    for term, joules in expected.items():
        assert math.isclose(record.energy_breakdown_j[term], joules, rel_tol=REL, abs_tol=1e-30), \
            (term, record.energy_breakdown_j[term], joules)
    assert record.energy_j == math.fsum(record.energy_breakdown_j.values())
    # chip time: ticks x tick, except under barrier, where it is the timesteps' sum (checked with a trace)
    tick_s = _chip_of(record, chip).timing.tick_s
    if record.timing == "async":  # a partial async record stops inside a tick: ticks counts whole ones
        assert record.ticks * tick_s * (1 - REL) <= record.sim_time_s < (record.ticks + 1) * tick_s
    elif record.timing != "barrier":
        assert math.isclose(record.sim_time_s, record.ticks * tick_s, rel_tol=REL)
    elif trace is not None:
        assert record.sim_time_s == int(trace.loop.tick_starts[record.ticks]) * 1e-12
    if trace is not None:
        _assert_traced(record, trace)


def _route_links(topo, cache: dict, src: int, dst: int) -> np.ndarray:
    key = (src, dst)
    if key not in cache:
        cache[key] = topo.route_links(src, dst)
    return cache[key]


def _assert_traced(record: RunResult, trace: Trace) -> None:
    """The checks that need the network: SOPs from delivered rows, sent and hops from the spike trains."""
    loop = trace.loop
    a, topo = loop.arrays, loop.topology
    row_length = np.diff(a.row_ptr)
    # synaptic events: each tick's distinct delivered rows, their synapses counted
    assert sum(len(d) for d in trace.delivered) == record.axon_events
    sops = sum(int(row_length[np.unique(d)].sum()) for d in trace.delivered)
    assert record.synaptic_events == sops, (record.synaptic_events, sops)
    # routes of the spikes fired, from the spike trains
    trains = record.spike_trains
    spikes_per_neuron = np.bincount(trains.neurons, minlength=a.n_neurons)
    route_src, route_axon, route_delay = a.routes()
    per_route = spikes_per_neuron[route_src]
    sends = route_axon >= 0
    assert record.timing_report["spike_flow"]["sent"] == int(per_route[sends].sum())
    # hops and wire: every route walked link by link through the topology
    src_core = a.chip_cores(route_src // a.neurons_per_core)
    dst_core = a.chip_cores(np.maximum(route_axon, 0) // a.axons_per_core)
    hops = np.zeros(topo.n_classes, np.int64)
    wire_nm = 0
    cache: dict = {}
    for r in np.flatnonzero(sends & (per_route > 0)):
        links = _route_links(topo, cache, int(topo.core_router[src_core[r]]), int(topo.core_router[dst_core[r]]))
        hops += np.bincount(topo.link_class[links], minlength=topo.n_classes) * int(per_route[r])
        wire_nm += int(np.rint(topo.link_length_mm[links].sum() * 1e6)) * int(per_route[r])
    flow = record.timing_report["spike_flow"]
    if getattr(loop.network, "inputs_on_cores", False):  # inputs on cores: routes from their first axon's core
        net = loop.network
        times, ids = net.input_spikes
        per_input = np.bincount(ids[times < record.ticks], minlength=len(net.input_ptr) - 1)
        packets = 0
        for i in np.flatnonzero(per_input):
            cores = a.chip_cores(net.input_axons[net.input_ptr[i]:net.input_ptr[i + 1]] // a.axons_per_core)
            packets += int(per_input[i]) * len(cores)
            for c in cores:
                links = _route_links(topo, cache, int(topo.core_router[cores[0]]), int(topo.core_router[c]))
                hops += np.bincount(topo.link_class[links], minlength=topo.n_classes) * int(per_input[i])
                wire_nm += int(np.rint(topo.link_length_mm[links].sum() * 1e6)) * int(per_input[i])
        assert flow["inputs_routed"] == packets and flow["inputs"] == 0, (flow, packets)
    else:
        assert "inputs_routed" not in flow, flow
    assert record.hops_by_class == {c: int(h) for c, h in zip(topo.class_names, hops)}, (record.hops_by_class, hops)
    assert record.counts.get("wire_nm", 0) == wire_nm
    if record.timing == "sync":
        _assert_sync_deliveries(record, trace, route_src, route_axon, route_delay, sends)


def _assert_sync_deliveries(record, trace, route_src, route_axon, route_delay, sends) -> None:
    """Under sync, tick t delivers exactly its inputs and every routed spike due at t."""
    ticks = record.ticks
    trains = record.spike_trains
    expected: list[list[np.ndarray]] = [[] for _ in range(ticks)]
    for in_ticks, in_axons in trace.inputs:
        for t in np.unique(in_ticks):
            expected[int(t)].append(in_axons[in_ticks == t])
    order = np.argsort(route_src, kind="stable")
    starts = np.searchsorted(route_src[order], np.arange(len(trace.loop.spikes_per_neuron) + 1))
    period = trace.loop.reset_period  # classify: a new sample drops the spikes the last one left in flight
    for t, neuron in zip(trains.ticks.tolist(), trains.neurons.tolist()):
        for r in order[starts[neuron]:starts[neuron + 1]]:
            due = t + int(route_delay[r])
            if sends[r] and due < ticks and not (period and due // period > t // period):
                expected[due].append(np.array([route_axon[r]]))
    for t in range(ticks):
        want = np.sort(np.concatenate(expected[t])) if expected[t] else np.empty(0, np.int64)
        assert np.array_equal(np.sort(trace.delivered[t]), want), f"tick {t}"


def run_conserved(chip, workload, **options) -> RunResult:
    """simulate(...) and assert_conserved on its record (for paths the trace does not cover)."""
    record = simulate(chip, workload, **options)
    assert_conserved(record)
    return record
