"""neuroemu.engine.asyncroutes: the clockless loop's routes, bound at the sender, and their prices.

A hand-built fan-out network on the tiny 2 x 2 mesh (CUBA neurons: fan-out tables, one route per
(neuron, target core)): 64 neurons packed on cores 0 and 1; neuron 0 (core 0) targets neuron 1
(core 0, no hop) and neuron 33 (core 1, one x hop); neuron 63, the last neuron of the table, targets
neuron 2 (core 0, one x hop back) and never fires. Every priced figure is counted by hand.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from neuroemu.config.loader import chip_from_data, workload_from_data
from neuroemu.engine.asynccore import AsyncCoreLoop
from neuroemu.engine.options import RunOptions, with_timing
from neuroemu.engine.run import simulate
from neuroemu.networks.edgelist import save_network
from neuroemu.networks.graph import NetworkBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import SMALL_CHIP  # noqa: E402
from conservation import assert_conserved  # noqa: E402

T = 10**9          # the tiny chip's 1 ms tick in ps
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
