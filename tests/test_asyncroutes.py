"""The clockless loop's routes (neuroemu.engine.asyncroutes): bound at the sender and priced, and
inputs placed on cores (``network.inputs: on_cores``) routed as neurons' spikes are under async.

Inputs on cores: an input spike given at tick t is a packet from its input's core (the core of its
first destination axon) that reaches each axon at (t + delay) x T + its route's latency; its hops,
wire, packet energy and latency sample are counted as a neuron's, and the spike flow lists it as
``inputs_routed`` (in flight at the end if it has not arrived).

Routes and prices: a hand-built fan-out network on the tiny 2 x 2 mesh (CUBA neurons: fan-out
tables, one route per (neuron, target core)): 64 neurons packed on cores 0 and 1; neuron 0 (core 0)
targets neuron 1 (core 0, no hop) and neuron 33 (core 1, one x hop); neuron 63, the last neuron of
the table, targets neuron 2 (core 0, one x hop back) and never fires. Every priced figure is
counted by hand.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from neuroemu.config.loader import chip_from_data, load_chip, workload_for_network_file, workload_from_data
from neuroemu.engine.asynccore import AsyncCoreLoop
from neuroemu.engine.options import RunOptions, with_timing
from neuroemu.engine.run import simulate
from neuroemu.errors import ConfigError
from neuroemu.hardware.chip import build_chip_topology
from neuroemu.networks.edgelist import save_network, save_npz
from neuroemu.networks.graph import NetworkBuilder
from neuroemu.networks.workloads import build_network

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conservation import assert_conserved  # noqa: E402
from test_async_cores import spikes_in_ticks, zero_latency_chip  # noqa: E402
from test_asynccore import HOP, T, chip  # noqa: E402
from conftest import SMALL_CHIP  # noqa: E402

#: the counters of routing: packets, hops per class, wire
ROUTING = ("packet", "wire_nm")


def split_input(tmp_path, ticks):
    """Two cores a hop apart. One input feeds a (core 0) and c (core 1), weight 2 = both thresholds:
    each input spike fires both where it arrives. Input spikes at ticks 0 and 2, delay 1 tick."""
    b = NetworkBuilder("split_input")
    b.add_inputs("in", 1)
    b.add_neurons("a", 1, model="IF", threshold=2.0, reset="zero", core=0)
    b.add_neurons("c", 1, model="IF", threshold=2.0, reset="zero", core=1)
    b.connect("in", "a", np.array([[2.0]]))
    b.connect("in", "c", np.array([[2.0]]))
    b.set_input_spikes(np.array([0, 2]), np.array([0, 0]))
    save_npz(b.build(), tmp_path / "split.npz")

    def workload(inputs):
        return workload_from_data({"name": "split_input", "ticks": ticks, "network": {
            "kind": "edgelist", "file": str(tmp_path / "split.npz"), "mapping": "given", "inputs": inputs}},
            "split_input.yaml")
    return workload


@pytest.mark.parametrize("queue", ["c", "python"])
def test_an_input_on_a_core_reaches_the_other_core_a_hop_later_by_hand(tmp_path, queue):
    """The input sits on core 0 (its first axon's): its spikes reach a at T and 3T (no hop) and c one
    3 ns hop later, at T + 3 ns and 3T + 3 ns, where each fires. 4 packets, 2 hops, 2 x 0.24 mm of wire,
    4 latency samples (0 and 3 ns); nothing neurons send. Fed straight to the axons, c fires at T and 3T
    and nothing is routed. Over 3 ticks, the tick-2 spike (arriving at 3T, the end, and later) is in flight."""
    wl = split_input(tmp_path, 5)
    r = simulate(chip(cores=2), wl("on_cores"), record_spikes=True, queue=queue)
    assert r.spike_trains.ticks.tolist() == [T, T + HOP, 3 * T, 3 * T + HOP]
    assert r.spike_trains.neurons.tolist() == [0, 8, 0, 8]  # c is core 1's first neuron
    rep = r.timing_report
    assert r.hops == 2 and r.counts["packet"] == 4 and r.counts["wire_nm"] == 2 * 240_000
    assert rep["latency_samples"] == 4 and rep["latency_max_s"] == HOP * 1e-12 and rep["latency_p50_s"] == 0.0
    assert rep["spike_flow"] == {"sent": 0, "inputs": 0, "delivered": 4, "delivered_late": 0, "dropped_late": 0,
                                 "dropped_at_reset": 0, "in_flight_end": 0, "inputs_routed": 4}
    assert r.energy_breakdown_j["hop_x"] == 2 * chip(cores=2).energy.hop_energy("x") * 1e-12  # the link's class
    assert r.counts["handshake"] == 4 + 2  # async: one per delivered spike and per hop
    assert_conserved(r)
    axons = simulate(chip(cores=2), wl("axons"), record_spikes=True, queue=queue)
    assert axons.spike_trains.ticks.tolist() == [T, T, 3 * T, 3 * T] and axons.hops == 0
    assert "inputs_routed" not in axons.timing_report["spike_flow"]
    short = simulate(chip(cores=2), split_input(tmp_path, 3)("on_cores"), record_spikes=True, queue=queue)
    assert short.spike_trains.ticks.tolist() == [T, T + HOP]
    flow = short.timing_report["spike_flow"]
    assert (flow["inputs_routed"], flow["delivered"], flow["in_flight_end"]) == (4, 2, 2)
    assert short.hops == 2 and short.timing_report["latency_samples"] == 4  # charged when sent, as the tick loops
    assert_conserved(short)


def spiking_file(tmp_path, threshold=9.0, ticks=25):
    """test_conservation's on_cores network: 6 inputs into 30 recurrent IF neurons, spread over cores."""
    rng = np.random.default_rng(14)
    b = NetworkBuilder("oncores")
    b.add_inputs("in", 6)
    b.add_neurons("g", 30, model="IF", threshold=threshold)
    w = rng.integers(-8, 8, (6, 30)).astype(float)
    w[0] = 7.0
    b.connect("in", "g", w)
    b.connect("g", "g", np.where(rng.random((30, 30)) < 0.1, 2.0, 0.0))
    b.set_input_spikes(*np.nonzero(rng.random((ticks, 6)) < 0.4))
    net = b.build()
    save_npz(net, tmp_path / "in.npz")
    return net


def input_packets_and_hops(chip, wl, net, ticks):
    """(packets, hops) of the input spikes of the first ``ticks`` ticks, every route walked link by link."""
    mapped = build_network(chip, wl, wl.seed, wl.where)
    topo, A, r = build_chip_topology(chip), mapped.arrays.axons_per_core, build_chip_topology(chip).core_router
    sent = np.bincount(net.input_ids[net.input_times < ticks], minlength=net.n_inputs)
    packets = hops = 0
    for i in range(net.n_inputs):
        dst = mapped.arrays.chip_cores(mapped.input_axons[mapped.input_ptr[i]:mapped.input_ptr[i + 1]] // A)
        packets += int(sent[i]) * len(dst)
        hops += int(sent[i]) * sum(len(topo.route_links(int(r[dst[0]]), int(r[d]))) for d in dst)
    return packets, hops


@pytest.mark.parametrize("queue", ["c", "python"])
def test_silent_neurons_inputs_on_cores_price_as_the_tick_run(tmp_path, queue):
    """Neurons that never fire: every packet is an input's. Async charges the same packets, hops per
    class, wire, latency samples and routing energy as the sync run for the same input spikes (the
    walked routes' count), and the spike flow is the tick run's: the inputs given in the last tick
    reach their axons past the end, in flight."""
    ticks = 25
    net = spiking_file(tmp_path, threshold=1e5, ticks=ticks)
    loihi = load_chip("loihi")
    wl = workload_for_network_file(tmp_path / "in.npz", ticks=ticks, mapping="spread", inputs="on_cores")
    sync = simulate(loihi, wl, ticks=ticks, timing="sync", queue=queue)
    asy = simulate(loihi, wl, ticks=ticks, timing="async", queue=queue)
    packets, hops = input_packets_and_hops(loihi, wl, net, ticks)
    assert asy.spikes == sync.spikes == 0 and hops > 20
    assert asy.counts["packet"] == sync.counts["packet"] == packets and asy.hops == sync.hops == hops
    assert asy.hops_by_class == sync.hops_by_class
    assert {k: asy.counts[k] for k in ROUTING} == {k: sync.counts[k] for k in ROUTING}
    assert asy.timing_report["latency_samples"] == sync.timing_report["latency_samples"] == packets
    assert asy.latency_mean_s == sync.latency_mean_s
    assert asy.timing_report["latency_max_s"] == sync.timing_report["latency_max_s"]
    routing = [k for k in sync.energy_breakdown_j if k.startswith(("hop_", "packet", "wire"))]
    assert routing and all(asy.energy_breakdown_j[k] == sync.energy_breakdown_j[k] for k in routing), routing
    assert asy.timing_report["spike_flow"] == sync.timing_report["spike_flow"]
    assert asy.timing_report["spike_flow"]["in_flight_end"] > 0
    assert_conserved(asy)


@pytest.mark.parametrize("queue", ["c", "python"])
def test_spiking_inputs_on_cores_conserve_under_async(tmp_path, queue):
    """Neurons and inputs both send: sent + inputs_routed = delivered + in flight at the end, one latency
    sample per packet; the inputs' packets are the walked count, the neurons' the spikes' routes.
    Fed straight to the axons the inputs charge nothing and arrive earlier (no latency)."""
    ticks = 25
    net = spiking_file(tmp_path, ticks=ticks)
    loihi = load_chip("loihi")
    wl = workload_for_network_file(tmp_path / "in.npz", ticks=ticks, mapping="spread", inputs="on_cores")
    r = simulate(loihi, wl, ticks=ticks, timing="async", queue=queue)
    assert_conserved(r)
    packets, _ = input_packets_and_hops(loihi, wl, net, ticks)
    flow = r.timing_report["spike_flow"]
    assert r.spikes > 50 and flow["inputs_routed"] == packets and flow["inputs"] == 0
    assert r.counts["packet"] == flow["sent"] + packets == r.timing_report["latency_samples"]
    axons = simulate(loihi, workload_for_network_file(tmp_path / "in.npz", ticks=ticks, mapping="spread"),
                     ticks=ticks, timing="async", queue=queue)
    assert_conserved(axons)
    assert axons.counts["packet"] == axons.timing_report["spike_flow"]["sent"]
    # the same bits again, and on the other queue
    again = simulate(loihi, wl, ticks=ticks, timing="async", queue="python" if queue == "c" else "c")
    assert again.counts == r.counts and again.timing_report["spike_flow"] == flow


@pytest.mark.parametrize("model, bits", [("truenorth_lif", 20), ("cuba_lif", 24)])
def test_async_equals_sync_with_inputs_on_cores_whole_tick_delays_no_latency_no_leak(tmp_path, model, bits):
    """One core (no hop, no latency), whole-tick delays, integrate-and-fire neurons: async gives sync's
    spikes tick by tick, its counters, its packets and latency samples, and its spike flow."""
    ticks = 25
    spiking_file(tmp_path, ticks=ticks)
    c = zero_latency_chip(core__neuron_model=model, core__membrane_bits=bits)
    wl = workload_for_network_file(tmp_path / "in.npz", ticks=ticks, mapping="spread", inputs="on_cores")
    sync = simulate(c, wl, ticks=ticks, timing="sync", record_spikes=True)
    asy = simulate(c, wl, ticks=ticks, timing="async", record_spikes=True)
    assert sync.spikes > 50 and np.array_equal(spikes_in_ticks(sync), spikes_in_ticks(asy))
    for key in ("axon_event", "synaptic_op", "spike", "neuron_update_active", "packet"):
        assert asy.counts.get(key, 0) == sync.counts.get(key, 0), key
    assert asy.timing_report["spike_flow"] == sync.timing_report["spike_flow"]
    assert asy.timing_report["spike_flow"]["inputs_routed"] > 0
    assert asy.timing_report["latency_samples"] == sync.timing_report["latency_samples"]
    assert_conserved(asy)


def test_the_fast_path_routes_inputs_on_cores_as_the_window_loop(tmp_path, monkeypatch):
    """TrueNorth on four cores with hops: the C window loop (inputs queued by Python with their latency,
    popped in C) gives the per-window loop's record bit for bit."""
    ticks = 25
    spiking_file(tmp_path, ticks=ticks)
    c = load_chip(str(Path(__file__).resolve().parent.parent / "neuroemu/data/default_chip.yaml"))
    wl = workload_for_network_file(tmp_path / "in.npz", ticks=ticks, mapping="locality", inputs="on_cores")
    fast = simulate(c, wl, ticks=ticks, timing="async", record_spikes=True, queue="c",
                    tick_backend="c")  # (the C loop runs on the C queue and kernel)
    monkeypatch.setenv("NEUROEMU_BLOCK", "off")
    slow = simulate(c, wl, ticks=ticks, timing="async", record_spikes=True, queue="c", tick_backend="c")
    assert fast.tick_backend == "c+loop" and slow.tick_backend == "c"
    assert fast.spikes > 20 and fast.timing_report["spike_flow"]["inputs_routed"] > 0
    assert fast.counts == slow.counts and fast.timing_report == slow.timing_report
    assert np.array_equal(spikes_in_ticks(fast), spikes_in_ticks(slow))
    assert_conserved(fast)


def test_what_cannot_route_inputs_on_cores_refuses_in_one_line(tmp_path):
    """Hop by hop they are not moved (as under the tick semantics); a generated network has no file inputs."""
    spiking_file(tmp_path, ticks=5)
    wl = workload_for_network_file(tmp_path / "in.npz", ticks=5, mapping="spread", inputs="on_cores")
    with pytest.raises(ConfigError) as err:
        simulate(load_chip("loihi"), wl, timing="async", network="packet")
    assert str(err.value).endswith("network.inputs: on_cores is counted with the analytic network (its packets' "
                                   "hops and energy), not moved hop by hop: run with --network analytic")
    # a generated network (the diffuser's too) has no file inputs to place: refused when loaded
    with pytest.raises(ConfigError) as err:
        workload_from_data({"name": "d", "ticks": 5, "network": {"kind": "neurogrid_diffuser", "inputs": "on_cores"}},
                           "d.yaml")
    assert "\n" not in str(err.value)
    assert str(err.value) == ("d.yaml: network.inputs: on_cores places a network file's inputs on cores; a "
                              "neurogrid_diffuser network's inputs arrive as axon events: remove inputs (got 'on_cores')")


def test_partial_neurogrid_and_classify_runs_with_inputs_on_cores_conserve(tmp_path):
    """A runaway guard's partial record (input packets given before its end charged, those queued
    ahead not yet sent), Neurogrid's multicast router (an input a tree source of its own) and a
    presentation's samples (the digits classifier: resets between samples) all conserve."""
    from neuroemu.config.loader import load_workload
    from neuroemu.errors import RunawayError
    import dataclasses
    ticks = 25
    spiking_file(tmp_path, ticks=ticks)
    wl = workload_for_network_file(tmp_path / "in.npz", ticks=ticks, mapping="spread", inputs="on_cores")
    with pytest.raises(RunawayError) as info:
        simulate(load_chip("loihi"), wl, ticks=ticks, timing="async", max_events=1000)
    partial = info.value.partial_record
    flow = partial.timing_report["spike_flow"]
    assert 0 < partial.ticks < ticks and flow["inputs_routed"] > 0
    assert partial.timing_report["latency_samples"] == flow["sent"] + flow["inputs_routed"]
    assert_conserved(partial)
    grid = simulate("neurogrid", wl, ticks=ticks)
    axons = simulate("neurogrid", workload_for_network_file(tmp_path / "in.npz", ticks=ticks, mapping="spread"),
                     ticks=ticks)
    assert grid.timing == "async" and grid.timing_report["spike_flow"]["inputs_routed"] > 0
    assert grid.hops > axons.hops
    assert_conserved(grid)
    digits = load_workload(str(Path(__file__).resolve().parent.parent / "workloads/digits.yaml"))
    digits = dataclasses.replace(digits, network=dataclasses.replace(digits.network, inputs="on_cores"))
    c = zero_latency_chip(core__neuron_model="cuba_lif", core__membrane_bits=24, core__neurons=512, core__axons=512)
    r = simulate(c, digits, ticks=34 * 4, timing="async")
    assert r.workload_report["classification"]["samples"] == 4 and r.timing_report["spike_flow"]["inputs_routed"] > 0
    assert_conserved(r)


# --- routes bound at the sender and their prices (a fan-out network by hand) ---

HOP_PS = 2000      # its hop latency, 2 ns
PITCH_NM = 240000  # its core pitch, 0.24 mm


def cuba_chip():
    """The tiny chip with CUBA neurons (mapped networks get fan-out tables, not one route per neuron)."""
    core = dict(SMALL_CHIP["core"], neuron_model="cuba_lif", membrane_bits=24)
    return chip_from_data(dict(SMALL_CHIP, name="tiny_cuba", core=core), "tiny_cuba.yaml")


@pytest.fixture
def fan(tmp_path):
    """The module docstring's network: one input spike at tick 0 makes neuron 0 fire once."""
    return fan_workload(tmp_path)


def fan_workload(tmp_path, recurrent=True):
    """The fan-out network (``recurrent=False``: its input synapse alone, no neuron routes anywhere)."""
    b = NetworkBuilder("fan")
    b.add_inputs("in", 1)
    b.add_neurons("a", 64, model="IF", threshold=2.0, reset="zero")
    w_in = np.zeros((1, 64))
    w_in[0, 0] = 2.0
    b.connect("in", "a", w_in)
    w = np.zeros((64, 64))
    w[0, 1] = w[0, 33] = w[63, 2] = 1.0  # below threshold: the targets never fire
    if recurrent:
        b.connect("a", "a", w, delay=1)
    b.set_input_spikes(np.array([0]), np.array([0]))
    save_network(b.build(outputs="a"), tmp_path / "fan.npz")
    return workload_from_data({"name": "fan", "ticks": 10, "network": {
        "kind": "edgelist", "file": str(tmp_path / "fan.npz"), "mapping": "pack", "axon_copies": 1}}, "fan.yaml")


def fan_loop(workload) -> AsyncCoreLoop:
    return AsyncCoreLoop(with_timing(cuba_chip(), "async"), workload, RunOptions(ticks=10, seed=1))


def test_the_fan_out_routes_are_bound_per_target_core_with_their_delays(fan):
    """Three routes (sources 0, 0, 63), a fan-out table one longer than the 64 neurons, each route's
    delay its axonal tick plus its hops' latency; the lookahead is the smallest of them."""
    loop = fan_loop(fan)
    assert loop.fanout and loop.arrays.n_neurons == 64 and len(loop._route_ptr) == 65
    assert loop._route_ptr[0] == 0 and loop._route_ptr[1] == 2 and loop._route_ptr[63] == 2 and loop._route_ptr[64] == 3
    np.testing.assert_array_equal(loop.route_src, [0, 0, 63])
    np.testing.assert_array_equal(loop.route_axon, [0, 32, 1])
    np.testing.assert_array_equal(loop.route_ps, [T, T + HOP_PS, T + HOP_PS])
    assert loop.lookahead_ps == T and loop.window_ps == T


@pytest.mark.parametrize("fired, per_route", [
    ([], [0, 0, 0]),            # nothing fired: nothing priced (the last neuron's route read as 0)
    ([0], [1, 1, 0]),           # the run's spike: the last neuron, silent, still has its route priced at 0
    ([63, 0, 63], [1, 1, 2]),
])
def test_prices_count_each_route_by_its_neurons_spikes(fan, fired, per_route):
    """Routed spikes, hops per class, wire and per-link packets: each route's spikes x its hops,
    summed by hand (routes: 0 -> core 0, no hop; 0 -> core 1, link 0; 63 -> core 0, link 1)."""
    loop = fan_loop(fan)
    loop._fired = [np.array(fired, np.int64)] if fired else []
    p = loop._route_prices()
    s0, s1, s63 = per_route
    assert p["routed"] == s0 + s1 + s63
    np.testing.assert_array_equal(p["class_hops"], [s1 + s63, 0])   # x hops, y hops
    assert p["wire_nm"] == (s1 + s63) * PITCH_NM
    assert [int(v) for v in p["link_loads"][:2]] == [s1, s63] and int(np.sum(p["link_loads"])) == s1 + s63


def test_spikes_are_counted_per_neuron_as_they_come_in_any_batches(fan):
    """Spikes are kept (copied when their buffer is reused after the call: ``now``) and counted
    together once they add up to KEEP x the neurons (4 x 64; the floor KEEP_MIN lowered to 0 here), a
    batch as large at once: the counts and the prices are those of every spike counted at the end."""
    loop = fan_loop(fan)
    assert loop.KEEP_MIN >= 1 << 18  # a run keeps at least this many (2 MB) before counting
    loop.KEEP_MIN = 0
    rng = np.random.default_rng(7)
    batches = [rng.integers(0, 64, k) for k in (3, 0, 20, 300, 70, 5, 200, 64, 2)]
    buffer = np.zeros(40, np.int64)
    kept = []
    for i, b in enumerate(batches):
        if i % 3 == 2:  # as the C loop hands them: a view of a buffer written over after the call
            buffer[:len(b)] = b
            loop._count_spikes(buffer[:len(b)], now=True)
            buffer[:] = -1
        else:
            loop._count_spikes(b)
        assert loop._n_fired < 256 and loop._n_fired == sum(len(x) for x in loop._fired)
        kept.append(loop._n_fired)
    assert loop.KEEP == 4 and kept == [3, 3, 23, 23, 93, 98, 0, 64, 66]  # 98 + 200 reach 256: counted
    every = np.concatenate(batches)
    counted = loop._route_prices()
    np.testing.assert_array_equal(loop.spikes_per_neuron, np.bincount(every, minlength=64))
    assert loop._fired == [] and loop._n_fired == 0
    per_route = np.bincount(every, minlength=64)[loop.route_src]
    assert counted["routed"] == int(per_route.sum())  # every route sends (the three of the fan)
    assert int(counted["class_hops"].sum()) == int(per_route[1:].sum())  # routes 1 and 2: one hop each


@pytest.mark.parametrize("queue", ["c", "python"])
def test_a_fan_out_run_whose_last_neuron_never_fires_is_priced_exactly(fan, queue):
    """One spike of neuron 0 routed twice (one copy one hop away); neuron 63's route carries nothing."""
    r = simulate(cuba_chip(), fan, timing="async", queue=queue, record_spikes=True)
    assert_conserved(r)
    assert r.spikes == 1 and r.spike_trains.to_plain() == {"ticks": [T], "neurons": [0]}
    flow = r.timing_report["spike_flow"]
    assert (flow["sent"], flow["inputs"], flow["delivered"], flow["in_flight_end"]) == (2, 1, 3, 0)
    assert r.hops == 1 and r.hops_by_class == {"x": 1, "y": 0} and r.counts["wire_nm"] == PITCH_NM
    assert r.axon_events == 3 and r.synaptic_events == 3
    assert r.timing_report["latency_samples"] == 2 and r.timing_report["latency_max_s"] == HOP_PS * 1e-12
    loads = {(b["src"], b["dst"]): b["packets"] for b in r.timing_report["busiest_links"]}
    assert loads[(0, 1)] == 1 and loads[(1, 0)] == 0


def test_with_no_route_that_sends_the_lookahead_is_one_tick(tmp_path):
    """No neuron targets an axon: nothing bounds the lookahead but the tick; the run sends nothing."""
    wl = fan_workload(tmp_path, recurrent=False)
    loop = fan_loop(wl)
    assert not loop.sends.any() and loop.lookahead_ps == loop.window_ps == T
    r = simulate(cuba_chip(), wl, timing="async")
    assert_conserved(r)
    assert r.spikes == 1 and r.timing_report["spike_flow"]["sent"] == 0 and r.hops == 0
    assert r.timing_report["lookahead_s"] == r.timing_report["window_s"] == T * 1e-12
