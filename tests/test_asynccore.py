"""The clockless window loop over core arrays (neuroemu.engine.asynccore), counted by hand.

Small networks whose every event is worked out in the docstrings: the spikes and their picosecond,
the counters, the windows, the spike flow, the routes' hops and latency. The expected values are
hand counts, never a second run of the code under test.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from neuroemu.config.loader import chip_from_data, workload_from_data
from neuroemu.engine.asynccore import AsyncCoreLoop
from neuroemu.engine.options import MAX_TIME_PS, RunOptions
from neuroemu.engine.run import simulate
from neuroemu.errors import ConfigError, RunawayError
from neuroemu.networks.edgelist import save_network
from neuroemu.networks.graph import NetworkBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import changed  # noqa: E402
from conservation import assert_conserved  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
T = 10**9          # one 1 ms tick in ps
HOP = 3000         # 3 ns a hop


def chip(cores=1, **changes):
    """A current-based LIF chip of 8-neuron cores in a row (1 x cores mesh, 0.24 mm pitch, 3 ns hops)."""
    data = yaml.safe_load((ROOT / "neuroemu/data/default_chip.yaml").read_text())
    data.update(cores=cores)
    data["topology"] = {"kind": "mesh", "width": cores, "height": 1, "pitch_mm": 0.24}
    data["core"].update(neuron_model="cuba_lif", membrane_bits=24, neurons=8, axons=8)
    data["latency"]["hop_ns"] = {"value": 3.0, "source": "test"}
    data["timing"]["mode"] = "async"
    changed(data, **changes)
    return chip_from_data(data, "hand.yaml")


def fan_in(tmp_path, ticks):
    """One core. Inputs in0 -> a0 (3), in1 -> a0 (2) and a1 (1); a0, a1 -> b (1 each, 2 ticks).
    IF neurons, thresholds a 4, b 2, reset to 0. Input spikes: in0 at ticks 0 and 1, in1 at 1 and 3;
    an input reaches its axon one tick later, so the arrivals are at T, 2T, 2T, 4T.

    By hand: a0 = 3 at T, 3 + 3 + 2 = 8 >= 4 at 2T: it fires at 2T, reaching b at 4T. a1 = 1 at 2T,
    2 at 4T; b = 1 at 4T: neither fires."""
    b = NetworkBuilder("fan_in")
    b.add_inputs("in", 2)
    b.add_neurons("a", 2, model="IF", threshold=4.0, reset="zero")
    b.add_neurons("b", 1, model="IF", threshold=2.0, reset="zero")
    b.connect("in", "a", np.array([[3, 0], [2, 1]]))
    b.connect("a", "b", np.array([[1], [1]]), delay=2)
    b.set_input_spikes(np.array([0, 1, 1, 3]), np.array([0, 0, 1, 1]))
    save_network(b.build(outputs="b"), tmp_path / "fan_in.npz")
    return workload_from_data({"name": "fan_in", "ticks": ticks,
                               "network": {"kind": "edgelist", "file": str(tmp_path / "fan_in.npz")}}, "fan_in.yaml")


def relay(tmp_path, ticks):
    """Two cores, one hop apart. in0 -> a0 and in1 -> a1 (weight 2, threshold 2: each input fires its
    neuron at once); a0, a1 on core 0 -> b on core 1 (weight 1, 2 ticks); b's threshold 2.
    Input spikes: in0 at tick 0, in1 at tick 1 (arrivals at T and 2T).

    By hand: a0 fires at T, a1 at 2T; their spikes reach b after 2 ticks and one 3 ns hop, at 3T + 3 ns
    and 4T + 3 ns, where b reaches 2 and fires (at 4T + 3 ns; it has no route onward)."""
    b = NetworkBuilder("relay")
    b.add_inputs("in", 2)
    b.add_neurons("a", 2, model="IF", threshold=2.0, reset="zero", core=0)
    b.add_neurons("b", 1, model="IF", threshold=2.0, reset="zero", core=1)
    b.connect("in", "a", np.array([[2, 0], [0, 2]]))
    b.connect("a", "b", np.array([[1], [1]]), delay=2)
    b.set_input_spikes(np.array([0, 1]), np.array([0, 1]))
    save_network(b.build(outputs="b"), tmp_path / "relay.npz")
    return workload_from_data({"name": "relay", "ticks": ticks, "network": {
        "kind": "edgelist", "file": str(tmp_path / "relay.npz"), "mapping": "given"}}, "relay.yaml")


def flow(r):
    return {k: v for k, v in r.timing_report["spike_flow"].items() if k in ("sent", "inputs", "delivered", "in_flight_end")}


@pytest.mark.parametrize("queue", ["c", "python"])
def test_the_window_loop_counts_a_three_neuron_network_by_hand(tmp_path, queue):
    """fan_in over 5 ticks: arrivals T, 2T, 2T, 4T (inputs) and 4T (a0's spike) are 5 axon events; SOPs are
    the rows' synapses: in0 (1) twice, in1 (2) twice, a0 (1) once = 7; active updates one per neuron and
    instant with input: a0 at T; a0, a1 at 2T (in0 and in1 reach a0 together: one update); a0, a1, b at
    4T = 6. Windows of one tick start at T, 2T and 4T: 3. Nothing is in flight at the end."""
    r = simulate(chip(), fan_in(tmp_path, 5), record_spikes=True, queue=queue)
    assert r.timing == "async"
    assert {k: r.counts.get(k, 0) for k in ("axon_event", "synaptic_op", "neuron_update_active", "neuron_update",
                                           "spike")} == {"axon_event": 5, "synaptic_op": 7,
                                                         "neuron_update_active": 6, "neuron_update": 0, "spike": 1}
    assert r.spike_trains.ticks.tolist() == [2 * T] and r.spike_trains.neurons.tolist() == [0]
    rep = r.timing_report
    assert r.loop_stats == {"windows": 3, "threshold_checks": 0}  # the loop's own figures
    assert rep["lookahead_s"] == 2 * T * 1e-12 and rep["window_s"] == T * 1e-12  # the 2-tick route; W <= T
    assert flow(r) == {"sent": 1, "inputs": 4, "delivered": 5, "in_flight_end": 0}
    assert r.hops == 0 and rep["latency_samples"] == 1 and r.sim_time_s == 5e-3
    assert_conserved(r)


def test_an_event_on_the_runs_last_picosecond_is_left_in_flight(tmp_path):
    """fan_in over 4 ticks ends at 4T: the input spike of tick 3 (arriving at 4T) is not sent, and a0's
    spike reaching b at 4T = the end stays in flight: 3 delivered, 2 windows, 4 SOPs (1 + 1 + 2), 3 updates."""
    r = simulate(chip(), fan_in(tmp_path, 4), record_spikes=True)
    assert flow(r) == {"sent": 1, "inputs": 3, "delivered": 3, "in_flight_end": 1}
    assert (r.counts["axon_event"], r.counts["synaptic_op"], r.counts["neuron_update_active"]) == (3, 4, 3)
    assert r.loop_stats["windows"] == 2 and r.spikes == 1
    assert_conserved(r)


def test_two_cores_a_hop_apart_by_hand(tmp_path):
    """relay over 5 ticks, analytic: spikes at T, 2T and 4T + 3 ns; the lookahead is 2T + 3 ns, the window
    T; windows start at T, 2T, 3T + 3 ns and 4T + 3 ns. Two spikes routed over one 0.24 mm hop each: 2
    hops, 480,000 nm of wire, 2 latency samples of 3 ns. Progress is reported once per tick reached."""
    seen = []
    r = simulate(chip(cores=2), relay(tmp_path, 5), record_spikes=True, progress=lambda d, n: seen.append((d, n)))
    assert r.spike_trains.ticks.tolist() == [T, 2 * T, 4 * T + HOP]
    assert r.spike_trains.neurons.tolist() == [0, 1, 8]            # b is core 1's first neuron
    assert {k: r.counts.get(k, 0) for k in ("axon_event", "synaptic_op", "neuron_update_active", "spike")} == {
        "axon_event": 4, "synaptic_op": 4, "neuron_update_active": 4, "spike": 3}
    rep = r.timing_report
    assert rep["lookahead_s"] == (2 * T + HOP) * 1e-12 and rep["window_s"] == T * 1e-12
    assert r.loop_stats["windows"] == 4
    assert r.hops == 2 and r.counts["wire_nm"] == 2 * 240_000 and rep["wire_mm_per_spike"] == 0.24
    assert rep["latency_samples"] == 2 and rep["latency_p50_s"] == HOP * 1e-12
    assert flow(r) == {"sent": 2, "inputs": 2, "delivered": 4, "in_flight_end": 0}
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert_conserved(r)


def test_two_cores_link_stats_by_hand(tmp_path):
    """relay's two spikes cross link 0 -> 1 (0.24 mm apart), none the way back: at 1 packet per ns over 5 ms
    of chip time each link is busy packets x 1 ns / 5 ms."""
    r = simulate(chip(cores=2), relay(tmp_path, 5), link_stats=True)
    stats = r.timing_report["link_stats"]
    assert (stats["src"], stats["dst"], stats["packets"]) == ([0, 1], [1, 0], [2, 0])
    assert stats["utilization"] == pytest.approx([2e-9 / 5e-3, 0.0], rel=1e-12, abs=0)
    assert stats["router_pos_mm"] == [[0.0, 0.0], [0.24, 0.0]]
    assert r.timing_report["max_link_utilization"] == pytest.approx(4e-7, rel=1e-12, abs=0)
    assert "link_stats" not in simulate(chip(cores=2), relay(tmp_path, 5)).timing_report


def test_two_cores_hop_by_hop_add_the_serialisation(tmp_path):
    """The same over the packet network: each packet takes the 3 ns link plus 1 ns to serialise (1
    packet per ns), so b fires at 4T + 4 ns; the lookahead is the route's 2 ticks alone."""
    r = simulate(chip(cores=2), relay(tmp_path, 5), record_spikes=True, network="packet")
    assert r.spike_trains.ticks.tolist() == [T, 2 * T, 4 * T + HOP + 1000]
    assert r.timing_report["lookahead_s"] == 2 * T * 1e-12
    assert r.hops == 2 and flow(r) == {"sent": 2, "inputs": 2, "delivered": 4, "in_flight_end": 0}
    assert_conserved(r)


def test_a_runaway_inside_a_tick_keeps_the_whole_ticks_before_it(tmp_path):
    """relay, packet, max_events 2: the third delivery comes in the window starting at 3T + 4 ns, so the
    partial record covers 3 whole ticks; its link carried 2 packets of 1 ns over those 3T exactly."""
    with pytest.raises(RunawayError, match=r"relay.yaml: runaway activity: 3 spikes delivered by 0.003 s "
                                           r"\(limit 2\)") as exc:
        simulate(chip(cores=2), relay(tmp_path, 5), network="packet", max_events=2)
    part = exc.value.partial_record
    assert part.ticks == 3 and part.sim_time_s == 3e-3 and part.axon_events == 3
    assert part.timing_report["max_link_utilization"] == pytest.approx(2 * 1000 / (3 * T), rel=1e-12, abs=0)
    assert simulate(chip(cores=2), relay(tmp_path, 5), network="packet", max_events=4).axon_events == 4
    with pytest.raises(RunawayError, match=r"limit 0 per window") as exc:
        simulate(chip(cores=2), relay(tmp_path, 5), max_window_events=0)
    assert exc.value.partial_record.ticks == 1            # the first window, at T
    assert simulate(chip(cores=2), relay(tmp_path, 5), max_window_events=1).spikes == 3  # never more than 1


def test_fan_in_two_arrivals_in_one_window_stop_a_one_per_window_limit(tmp_path):
    with pytest.raises(RunawayError, match=r"limit 1 per window") as exc:
        simulate(chip(), fan_in(tmp_path, 5), max_window_events=1)
    assert exc.value.partial_record.ticks == 2            # the window at 2T holds two arrivals
    assert simulate(chip(), fan_in(tmp_path, 5), max_window_events=2).axon_events == 5


def test_the_clock_limit_counts_the_longest_delay_past_the_end(tmp_path):
    """end + (max delay + 1) ticks must stay below 2^62 ps: the largest run allowed is one tick short."""
    c = chip()
    md = c.core.max_delay_ticks
    k = MAX_TIME_PS // T - (md + 1)
    if k * T + (md + 1) * T >= MAX_TIME_PS:
        k -= 1
    w = fan_in(tmp_path, 5)
    AsyncCoreLoop(c, w, RunOptions(ticks=k, seed=1))
    with pytest.raises(ConfigError, match=r"fan_in.yaml: ticks: .* past the int64 picosecond clock's limit") as exc:
        AsyncCoreLoop(c, w, RunOptions(ticks=k + 1, seed=1))
    assert "\n" not in str(exc.value)


# --- TrueNorth: crossings and leak steps, neuron by neuron, on both window kernels ---------------------

def truenorth_chip(tick_s=1e-3):
    """One TrueNorth core of 256 neurons (no hop: spikes take their whole-tick delay only)."""
    data = yaml.safe_load((ROOT / "neuroemu/data/default_chip.yaml").read_text())
    data.update(cores=1)
    data["timing"]["tick_s"] = tick_s
    data["topology"] = {"kind": "mesh", "width": 1, "height": 1, "pitch_mm": 0.24}
    data["timing"]["mode"] = "async"
    return chip_from_data(data, "tn1.yaml")


def silent_network(ticks, **net):
    """Neurons without synapses: each fires on its own (its leak), its spikes routed to empty axons."""
    return workload_from_data({"name": "silent", "ticks": ticks, "seed": 3, "network": {
        "kind": "random_recurrent", "synapses_per_axon": 0, "delay_ticks": [1, 1], "weights": [1, 1, 1, 1],
        **net}}, "silent.yaml")


@pytest.mark.parametrize("tick_backend", ["c", "numpy"])
def test_leak_driven_crossings_by_hand(tick_backend):
    """A leak of 1 per tick and threshold 10, reset to 0: from its initial potential v a neuron crosses at
    (10 - v) T, then every 10 T (no input ever). Each crossing is a popped check, an active update and a
    spike routed to an axon one tick later; the windows are the distinct crossing and arrival instants."""
    from neuroemu.networks.workloads import build_network
    c, w = truenorth_chip(), silent_network(100, rate_hz=100.0, threshold=10, stochastic=False, reset="zero")
    a = build_network(c, w, 3, "silent").arrays
    assert a.params.leak.tolist() == [1] * 256 and a.params.threshold.tolist() == [10] * 256
    end = 100 * T
    spikes = []
    for g, v in enumerate(a.v.tolist()):
        t = max(10 - v, 0) * T
        while t < end:
            spikes.append((t, g))
            t += 10 * T
    spikes.sort()
    arrivals = [t + T for t, _ in spikes if t + T < end]
    r = simulate(c, w, record_spikes=True, tick_backend=tick_backend)
    assert r.tick_backend.split("+")[0] == tick_backend    # the window kernel asked for is the one that ran
    assert list(zip(r.spike_trains.ticks.tolist(), r.spike_trains.neurons.tolist())) == spikes
    assert r.counts["spike"] == r.counts["neuron_update_active"] == r.loop_stats["threshold_checks"] == len(spikes)
    assert r.counts["axon_event"] == len(arrivals) and r.counts.get("neuron_update", 0) == 0
    assert r.loop_stats["windows"] == len(set(t for t, _ in spikes) | set(arrivals))
    assert flow(r) == {"sent": len(spikes), "inputs": 0, "delivered": len(arrivals),
                       "in_flight_end": len(spikes) - len(arrivals)}


@pytest.mark.parametrize("tick_s", [1e-3, 1e-9])
@pytest.mark.parametrize("tick_backend", ["c", "numpy"])
def test_stochastic_leak_steps_by_hand(tick_backend, tick_s):
    """A stochastic leak: neuron g steps +1 in tick k when its leak byte is below its leak, at k T + its
    keyed offset; each step is a plain update unless it fires the neuron (then active, as a firing tick);
    V >= threshold fires (no sooner than T after the last spike) and resets. Windows follow one another,
    one per tick (of 1 ms, or of 1 ns, the shortest a chip may have)."""
    from neuroemu.engine.options import STREAM_NEURON_RNG
    from neuroemu.models import rng
    from neuroemu.networks.workloads import build_network
    c, w = truenorth_chip(tick_s), silent_network(50, rate_hz=50.0 * 1e-3 / tick_s, stochastic=True)
    T = round(tick_s * 1e12)
    a = build_network(c, w, 3, "silent").arrays
    p = a.params
    key = rng.stream_key(3, STREAM_NEURON_RNG)
    okey0 = rng.mix64_int(key ^ 0x2545F491)
    M = (1 << 64) - 1
    assert p.leak_stochastic.all() and (p.leak > 0).all() and not p.threshold_mask.any()
    spikes, plain = [], 0
    for g in range(256):
        steps = []
        okey = rng.mix64_int((g + okey0) & M)
        for k in range(50):
            if rng.leak_byte_int(key, k, g) < int(p.leak[g]):
                steps.append(k * T + (((rng.mix64_int((okey + k) & M) >> 34) * T) >> 30))
        v, th, ref = int(a.v[g]), int(p.threshold[g]), 0
        mode, rv, floor = int(p.reset_mode[g]), int(p.reset_value[g]), -int(p.floor[g])
        assert v < th
        for t in steps:
            v += 1
            if v >= th and t >= ref:
                spikes.append((t, g))
                v = max(v - th if mode == 0 else rv if mode == 1 else v, floor)
                ref = t + T
            else:
                plain += 1
    spikes.sort()
    r = simulate(c, w, record_spikes=True, tick_backend=tick_backend)
    assert r.tick_backend.split("+")[0] == tick_backend
    assert len(spikes) > 100 and plain > 1000
    assert list(zip(r.spike_trains.ticks.tolist(), r.spike_trains.neurons.tolist())) == spikes
    assert r.counts["neuron_update"] == plain and r.counts["neuron_update_active"] == len(spikes)
    assert r.loop_stats["windows"] == 50 and r.loop_stats["threshold_checks"] == 0
    assert r.counts["axon_event"] == sum(1 for t, _ in spikes if t + T < 50 * T)


@pytest.mark.parametrize("ticks, arrivals", [(64, [63]), (129, [63, 64, 65, 128]), (130, [63, 64, 65, 128, 129])])
def test_inputs_fed_chunk_by_chunk_across_chunk_boundaries(tmp_path, ticks, arrivals):
    """Input streams are queued 64 ticks at a time. Input spikes at ticks 62, 63, 64, 127 and 128 reach their
    axon a tick later; those before the end are each delivered once, one window each, whatever chunk
    they fall in: in0 -> a0 (weight 1, threshold 100: no spike), so SOPs = updates = arrivals."""
    b = NetworkBuilder("chunks")
    b.add_inputs("in", 1)
    b.add_neurons("a", 1, model="IF", threshold=100.0, reset="zero")
    b.connect("in", "a", np.array([[1]]))
    b.set_input_spikes(np.array([62, 63, 64, 127, 128]), np.zeros(5, np.int64))
    save_network(b.build(outputs="a"), tmp_path / "chunks.npz")
    w = workload_from_data({"name": "chunks", "ticks": ticks,
                            "network": {"kind": "edgelist", "file": str(tmp_path / "chunks.npz")}}, "chunks.yaml")
    seen = []
    r = simulate(chip(), w, progress=lambda d, n: seen.append(d))
    n = len(arrivals)
    assert (r.counts.get("axon_event", 0), r.counts.get("synaptic_op", 0), r.counts.get("neuron_update_active", 0)) == (
        n, n, n)
    assert flow(r) == {"sent": 0, "inputs": n, "delivered": n, "in_flight_end": 0}
    assert r.loop_stats["windows"] == n and r.spikes == 0
    assert seen == arrivals + [ticks]     # progress at each tick a window starts in, then the end


def tiny_classifier(tmp_path, name: str, threshold: float, rates: list[list[float]]):
    """A classify workload: in0 -> out0 and in1 -> out1 (IF, weight 1, reset to 0), samples of the
    given input rates labelled 0, 1, 1, each presented 3 ticks and settled 1."""
    b = NetworkBuilder(name)
    b.add_inputs("in", 2)
    b.add_neurons("out", 2, model="IF", threshold=threshold, reset="zero")
    b.connect("in", "out", np.eye(2))
    save_network(b.build(outputs="out"), tmp_path / f"{name}.npz")
    np.savez(tmp_path / "set.npz", rates=np.array(rates), labels=np.array([0, 1, 1]))
    return workload_from_data({"name": name, "network": {"kind": "edgelist", "file": str(tmp_path / f"{name}.npz")},
                               "classify": {"dataset": str(tmp_path / "set.npz"), "present_ticks": 3,
                                            "settle_ticks": 1, "output_group": "out"}}, f"{name}.yaml")


def test_a_tiny_classifier_counted_sample_by_sample(tmp_path):
    """in0 -> out0 and in1 -> out1 (weight 1, threshold 2, reset 0), shown 3 samples of 3 + 1 ticks with
    rates (1, 0), (0, 1), (1, 1): an input spikes every presented tick, reaching its output a tick later.
    Sample 0: out0 at T, 2T (fires), 3T; reset at 4T. Sample 1: out1 at 5T, 6T (fires), 7T. Sample 2:
    both at 9T, 10T (both fire), 11T. So 12 arrivals, SOPs and updates, 4 spikes, and 11 windows: one per
    arrival instant and one at each reset's marker (4T, 8T)."""
    w = tiny_classifier(tmp_path, "tiny", 2.0, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    r = simulate(chip(), w, record_spikes=True)
    assert r.ticks == 12
    assert list(zip(r.spike_trains.ticks.tolist(), r.spike_trains.neurons.tolist())) == [
        (2 * T, 0), (6 * T, 1), (10 * T, 0), (10 * T, 1)]
    assert (r.counts["axon_event"], r.counts["synaptic_op"], r.counts["neuron_update_active"]) == (12, 12, 12)
    assert r.loop_stats["windows"] == 11 and r.loop_stats["threshold_checks"] == 0  # markers are no checks
    assert flow(r) == {"sent": 0, "inputs": 12, "delivered": 12, "in_flight_end": 0}
    cls = r.workload_report["classification"]
    assert cls["samples"] == 3 and cls["correct"] >= 2
    assert_conserved(r)


def test_a_learning_rule_that_does_not_fit_the_chips_weights_is_refused_in_one_line(tmp_path):
    """STDP bounds past the chip's signed 8-bit weights: refused while binding, named by the workload file."""
    data = {"name": "learn", "ticks": 5, "network": {"kind": "edgelist", "file": str(fan_in(tmp_path, 5).network.file)},
            "learning": {"rule": "stdp", "w_min": -200, "w_max": 200}}
    w = workload_from_data(data, "learn.yaml")
    with pytest.raises(ConfigError, match=r"^learn.yaml: learning.w_min: must fit the chip's signed 8-bit weights "
                                          r"\(-128..127\) \(got -200") as exc:
        simulate(chip(core__weight_bits=8), w)
    assert "\n" not in str(exc.value)


def test_check_learning_refuses_a_bad_rule_without_building_anything():
    from neuroemu.engine.asynccore import check_learning
    data = {"name": "l", "ticks": 5, "network": {"kind": "random_recurrent", "synapses_per_axon": 2, "rate_hz": 1.0},
            "learning": {"rule": "stdp", "tau_minus_ticks": -1}}
    with pytest.raises(ConfigError, match=r"^where: learning.tau_minus_ticks: must be a finite number > 0") as exc:
        check_learning(workload_from_data(data, "l.yaml"), "where")
    assert "\n" not in str(exc.value)
    check_learning(workload_from_data({**data, "learning": {"rule": "stdp"}}, "l.yaml"), "where")
    check_learning(workload_from_data({k: v for k, v in data.items() if k != "learning"}, "l.yaml"), "where")


def test_a_tiny_classifier_answers_every_sample_from_its_end_potentials(tmp_path):
    """Threshold 4 over 3 presented ticks: no output ever fires, so every answer is the output with the
    higher potential at its sample's end (3 against 0), the last sample's read at the run's end."""
    w = tiny_classifier(tmp_path, "quiet", 4.0, [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    r = simulate(chip(), w)
    cls = r.workload_report["classification"]
    assert r.spikes == 0 and (cls["samples"], cls["correct"]) == (3, 3)


def test_arrivals_sharing_an_instant_make_one_update_at_each_instant(tmp_path):
    """Neuron c (core 1) takes in2 and in3 directly and the spikes of a0 and a1 (core 0, one 3 ns hop).
    in0, in1 fire a0, a1 at T; in2, in3 reach c at 2T and a0's and a1's spikes at 2T + 3 ns: one window
    holds two instants of c, each hit by two arrivals -- two updates of c, not one and not four."""
    b = NetworkBuilder("shared")
    b.add_inputs("in", 4)
    b.add_neurons("a", 2, model="IF", threshold=2.0, reset="zero", core=0)
    b.add_neurons("c", 1, model="IF", threshold=100.0, reset="zero", core=1)
    b.connect("in", "a", np.array([[2, 0], [0, 2], [0, 0], [0, 0]]))
    b.connect("in", "c", np.array([[0], [0], [1], [1]]))
    b.connect("a", "c", np.array([[1], [1]]))
    b.set_input_spikes(np.array([0, 0, 1, 1]), np.array([0, 1, 2, 3]))
    save_network(b.build(outputs="c"), tmp_path / "shared.npz")
    w = workload_from_data({"name": "shared", "ticks": 4, "network": {
        "kind": "edgelist", "file": str(tmp_path / "shared.npz"), "mapping": "given"}}, "shared.yaml")
    r = simulate(chip(cores=2), w, record_spikes=True)
    assert r.spike_trains.ticks.tolist() == [T, T] and r.spike_trains.neurons.tolist() == [0, 1]
    assert (r.counts["axon_event"], r.counts["synaptic_op"], r.counts["neuron_update_active"]) == (6, 6, 4)
    assert r.loop_stats["windows"] == 2     # [T, 2T) and [2T, 3T)


def test_a_truenorth_synapse_weighs_its_neurons_weight_for_its_axons_type():
    """TrueNorth stores a weight per (neuron, axon type): an arrival at axon x gives each neuron g of its row
    weights[g, type(x)], in units of 1/T, at the arrival's instant (numpy window path; every neuron's
    table made different here, so a wrong index shows)."""
    from neuroemu.engine.asynccore import AsyncCoreLoop
    c = truenorth_chip()
    w = workload_from_data({"name": "w", "ticks": 3, "seed": 1, "network": {
        "kind": "random_recurrent", "synapses_per_axon": 16, "rate_hz": 0.0, "weights": [3, 2, -1, -2],
        "threshold": 10**4}}, "w.yaml")
    loop = AsyncCoreLoop(c, w, RunOptions(ticks=3, seed=1, tick_backend="numpy"))
    a = loop.arrays
    table = np.arange(a.n_neurons * 4, dtype=np.int64).reshape(a.n_neurons, 4) % 97 - 48
    loop._flat_weights = table.ravel() * T
    axons = [x for x in range(a.axons_per_core) if a.row_ptr[x + 1] > a.row_ptr[x]][:3]
    loop._w0 = 0
    nid, tt, ww, syn = loop._contributions(np.array([500, 500, 700]), np.array(axons), 1000)
    want = sorted((t, int(g), int(table[g, a.axon_type[x]]) * T) for t, x in zip([500, 500, 700], axons)
                  for g in a.row_neurons[a.row_ptr[x]:a.row_ptr[x + 1]].tolist())
    assert sorted(zip(tt.tolist(), nid.tolist(), ww.tolist())) == want and syn.all()
    assert len(want) > 10 and len(set(a.axon_type[axons].tolist())) > 1   # several rows and types


def test_a_run_cut_inside_a_sample_reports_only_the_whole_samples(tmp_path):
    """The tiny classifier run for 11 ticks: its third sample (ticks 8-11) misses its last tick, so the
    report covers the two whole samples, as the tick loop's does."""
    b = NetworkBuilder("tiny")
    b.add_inputs("in", 2)
    b.add_neurons("out", 2, model="IF", threshold=2.0, reset="zero")
    b.connect("in", "out", np.eye(2))
    save_network(b.build(outputs="out"), tmp_path / "tiny.npz")
    np.savez(tmp_path / "set.npz", rates=np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), labels=np.array([0, 1, 1]))
    w = workload_from_data({"name": "tiny", "network": {"kind": "edgelist", "file": str(tmp_path / "tiny.npz")},
                            "classify": {"dataset": str(tmp_path / "set.npz"), "present_ticks": 3, "settle_ticks": 1,
                                         "output_group": "out"}}, "tiny.yaml")
    for timing in ("async", "sync"):
        cls = simulate(chip(), w, ticks=11, timing=timing).workload_report["classification"]
        assert (cls["samples"], cls["correct"]) == (2, 2), timing


def test_packets_in_flight_across_windows_are_delivered_in_order(tmp_path):
    """relay over packets with a 2 ns tick: windows (one tick) are shorter than a packet's trip. a0 fires at
    2 ns and a1 at 4 ns; each packet takes the 3 ns link plus 1 ns to serialise, arriving at 6 and 8 ns, due 2
    ticks later at 10 and 12 ns, where b reaches 2 and fires. While a packet is on its way the next window
    starts (the input at 4 ns) with the packet left in the network until it is due."""
    r = simulate(chip(cores=2, timing__tick_s=2e-9), relay(tmp_path, 12), record_spikes=True, network="packet")
    assert r.spike_trains.ticks.tolist() == [2000, 4000, 12000] and r.spike_trains.neurons.tolist() == [0, 1, 8]
    assert r.timing_report["lookahead_s"] == 4000 * 1e-12 and r.timing_report["window_s"] == 2000 * 1e-12
    assert flow(r) == {"sent": 2, "inputs": 2, "delivered": 4, "in_flight_end": 0}
    assert_conserved(r)


def test_the_wall_time_is_the_runs_own(tmp_path):
    import time
    start = time.perf_counter()
    r = simulate(chip(), fan_in(tmp_path, 5))
    assert 0 < r.wall_s <= time.perf_counter() - start


def test_two_currents_take_each_synapse_by_its_type_and_sign(tmp_path):
    """One neuron with two one-step currents (i_decay 0: each input a jump of v alone) and no v leak; in0 -> a
    (4, current 0), in1 -> a (-3, current 1), in2 -> a (4, current 1). Input spikes in0 at ticks 0 and 3, in1
    at 1, in2 at 2 (arrivals T later): v = 4 at T, 1 at 2T, 5 at 3T (under the threshold 6), 9 at 4T: one
    spike, at 4T (with either sign of current 1 it would come at 2T or never)."""
    b = NetworkBuilder("two")
    b.add_inputs("in", 3)
    b.add_neurons("a", 1, model="CubaLIF", decay=1.0, threshold=6.0, refractory=1)
    b.connect("in", "a", np.array([[4], [0], [0]]), syn_type=0)
    b.connect("in", "a", np.array([[0], [-3], [4]]), syn_type=1)
    b.set_syn_decays([0.0, 0.0])
    b.set_input_spikes(np.array([0, 1, 2, 3]), np.array([0, 1, 2, 0]))
    save_network(b.build(outputs="a"), tmp_path / "two.npz")
    w = workload_from_data({"name": "two", "ticks": 6, "network": {
        "kind": "edgelist", "file": str(tmp_path / "two.npz"), "weight_scale": "keep"}}, "two.yaml")
    r = simulate(chip(), w, record_spikes=True)
    assert r.spike_trains.ticks.tolist() == [4 * T] and r.spike_trains.neurons.tolist() == [0]
    assert r.counts["synaptic_op"] == 4


def test_a_classifier_whose_run_ends_on_a_samples_end_reads_that_sample(tmp_path):
    """No output fires (threshold 4); rates (1, 0), (1, 0), (0, 1) against labels 0, 1, 1: answers 0, 0, 1 from
    the end potentials (3 against 0), so 2 correct. The run ends exactly at the third sample's end, whose
    potentials are read there (the second sample's would answer 0). The per-sample answers are the tick
    loop's."""
    w = tiny_classifier(tmp_path, "quiet", 4.0, [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    for timing in ("async", "sync"):
        r = simulate(chip(), w, timing=timing)
        cls = r.workload_report["classification"]
        assert r.ticks == 12 and r.spikes == 0 and (cls["samples"], cls["correct"]) == (3, 2), timing
