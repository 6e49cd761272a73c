"""Generated and mapped networks on Neurogrid's shared synapses and diffuser (neuroemu.networks.diffuser)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from conservation import assert_conserved
from neuroemu.config.loader import chip_from_data, load_workload, workload_for_network_file, workload_from_data
from neuroemu.engine.run import simulate
from neuroemu.errors import ConfigError
from neuroemu.hardware.cores import CoreArrays
from neuroemu.networks.diffuser import diffuse, shared_gains

ROOT = Path(__file__).resolve().parent.parent


def small_neurogrid(**core) -> object:
    """Neurogrid's chip file on 4 chips of 32 x 32 neurons (the full 65,536 per chip take seconds to wire)."""
    data = yaml.safe_load((ROOT / "chips/neurogrid.yaml").read_text())
    data["cores"] = 4
    data["core"].update(neurons=1024, axons=1024, **core)
    return chip_from_data(data, "ng_small.yaml")


def generated(ticks=20, neuron=None, **net):
    network = {"kind": "random_recurrent", "cores": 4, "synapses_per_axon": 24, "rate_hz": 30.0,
               "weights": [2, 1, -1, -2], "delay_ticks": [1, 3], **net}
    if neuron:
        network["neuron"] = neuron
    return workload_from_data({"name": "gen", "ticks": ticks, "seed": 3, "network": network,
                               "inputs": [{"kind": "poisson", "rate_hz": 40.0, "axons_per_core": 16}]}, "gen.yaml")


def one_core(rows: list[list[tuple[int, int]]], n=16) -> CoreArrays:
    """A core of n neurons whose axon rows hold (neuron, weight) synapses, per synapse weights."""
    ptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    neurons = np.array([j for r in rows for j, _ in r], np.uint16)
    w = np.array([x for r in rows for _, x in r], np.int16)
    A = len(rows)
    return CoreArrays(n_cores=1, axons_per_core=A, neurons_per_core=n, v=np.zeros(n, np.int32),
                      weights=np.zeros((n, 1), np.int16), params=None, axon_type=np.zeros(A, np.int8),
                      row_ptr=ptr, row_neurons=neurons, target_axon=np.full(n, -1, np.int64),
                      delay=np.ones(n, np.int8), row_weights=w)


def rows_of(a: CoreArrays) -> list[dict[int, float]]:
    return [dict(zip(a.row_neurons[a.row_ptr[i]:a.row_ptr[i + 1]].tolist(),
                     a.row_weights[a.row_ptr[i]:a.row_ptr[i + 1]].tolist())) for i in range(a.n_axons)]


def test_each_synapse_takes_its_types_mean_magnitude_on_its_core():
    core = np.array([0, 0, 0, 1, 1, 0])
    w = np.array([4.0, 2.0, -3.0, 5.0, -1.0, 0.0])
    # core 0: excitatory mean (4 + 2) / 2 = 3, inhibitory 3; core 1: 5 and 1; a zero weight drives nothing
    assert shared_gains(core, w, 2).tolist() == [3.0, 3.0, -3.0, 5.0, -1.0, 0.0]


def test_radius_zero_keeps_every_target_and_shares_the_gain():
    a = one_core([[(0, 6), (5, 2), (9, -4)], [(5, 0), (3, -2)]])
    report = diffuse(a, None, "w.yaml: network")
    assert rows_of(a) == [{0: 4.0, 5: 4.0, 9: -3.0}, {3: -3.0}]
    assert report["zero_weights_dropped"] == 1 and report["diffuser_neurons"] == 1
    assert a.row_weights.dtype == np.float64 and a.dense is None


def test_the_diffuser_spreads_an_input_evenly_and_never_creates_it():
    # 4 x 4 array; neuron 5 is (row 1, column 1); a radius-1 disc is the centre and its 4 neighbours
    a = one_core([[(5, 10)]])
    diffuse(a, {"diffuser_radius": 1}, "w")
    assert rows_of(a) == [{1: 2.0, 4: 2.0, 5: 2.0, 6: 2.0, 9: 2.0}]
    # at the corner (0, 0): wrapping reaches (3, 0) and (0, 3); clipping keeps 3 neurons, each a third
    a = one_core([[(0, 9)]])
    diffuse(a, {"diffuser_radius": 1}, "w")
    assert rows_of(a) == [{0: 1.8, 1: 1.8, 3: 1.8, 4: 1.8, 12: 1.8}]
    a = one_core([[(0, 9)]])
    diffuse(a, {"diffuser_radius": 1, "diffuser_wrap": 0}, "w")
    assert rows_of(a) == [{0: 3.0, 1: 3.0, 4: 3.0}]
    # two targets of one packet whose neighbourhoods overlap: one synaptic event per neuron, shares summed
    a = one_core([[(5, 5), (6, 5)]])
    diffuse(a, {"diffuser_width": 2, "diffuser_height": 1}, "w")
    assert rows_of(a) == [{5: 2.5, 6: 5.0, 7: 2.5}]
    assert a.row_weights.sum() == pytest.approx(10.0)


@pytest.mark.parametrize("neuron, rule", [
    ({"diffuser_radius": 1, "diffuser_width": 2, "diffuser_height": 2}, "not both"),
    ({"diffuser_wrap": 2}, "must be 0 .* or 1"),
    ({"diffuser_width": 3}, "needs both diffuser_width and diffuser_height"),
    ({"diffuser_radius": -1}, "must be a finite number >= 0"),
])
def test_bad_diffuser_settings_are_one_line_errors(neuron, rule):
    with pytest.raises(ConfigError, match=rf"^w.yaml: network.neuron.diffuser_\w+: .*{rule}"):
        diffuse(one_core([[(5, 1)]]), neuron, "w.yaml: network")


def test_a_neighbourhood_wider_than_the_array_is_refused_when_it_wraps():
    with pytest.raises(ConfigError, match=r"must fit in the 4 x 4 array"):
        diffuse(one_core([[(5, 1)]]), {"diffuser_width": 5, "diffuser_height": 1}, "w: network")


def test_with_one_weight_per_type_neurogrid_spikes_as_the_current_based_lif():
    """Radius 0 and weights already equal within each sign: the mapping changes nothing, so Neurogrid's
    neurons give the same spikes as the current-based LIF they are read as, on the same chip."""
    ng = small_neurogrid()
    cuba = dataclasses.replace(ng, core=dataclasses.replace(ng.core, neuron_model="cuba_lif"))
    wl = generated(weights=[2, 2, -2, -2])
    a = simulate(ng, wl, timing="async", record_spikes=True)
    b = simulate(cuba, wl, timing="async", record_spikes=True)
    assert a.spikes > 50
    assert np.array_equal(a.spike_trains.ticks, b.spike_trains.ticks)
    assert np.array_equal(a.spike_trains.neurons, b.spike_trains.neurons)
    assert a.counts == b.counts


def test_the_shared_gain_changes_which_neurons_fire_but_not_the_total_drive():
    ng = small_neurogrid()
    cuba = dataclasses.replace(ng, core=dataclasses.replace(ng.core, neuron_model="cuba_lif"))
    wl = generated(weights=[3, 1, -1, -3])  # means 2 and 2: unequal weights inside each type
    a = simulate(ng, wl, timing="async", record_spikes=True)
    b = simulate(cuba, wl, timing="async", record_spikes=True)
    assert a.spikes > 50 and not np.array_equal(a.spike_trains.neurons, b.spike_trains.neurons)


def _nir(tmp_path):
    from neuroemu.studies.matrix import _nir_workload
    pytest.importorskip("nir")
    return _nir_workload(tmp_path), 20


def _edgelist(tmp_path):
    rng = np.random.default_rng(4)
    t, i = np.nonzero(rng.random((30, 64)) < 0.3)
    np.savez(tmp_path / "in.npz", times=t, ids=i)
    return workload_for_network_file(ROOT / "workloads/digits.npz", ticks=30, neuron_reset="zero",
                                     input_spikes=str(tmp_path / "in.npz")), 30


def _digits(tmp_path):
    wl = load_workload(ROOT / "workloads/digits.yaml")
    return dataclasses.replace(wl, classify=dataclasses.replace(wl.classify, samples=3)), 3 * 34


def _generated(tmp_path):
    return generated(ticks=10, neuron={"diffuser_radius": 1}, cores=2), 10


@pytest.mark.parametrize("make", [_generated, _nir, _edgelist, _digits])
@pytest.mark.parametrize("network", ["analytic", "packet"])
def test_every_workload_runs_on_neurogrid_repeatably_on_both_queues_and_conserved(tmp_path, make, network):
    wl, ticks = make(tmp_path)
    chip = small_neurogrid() if make is _generated else "neurogrid"
    runs = [simulate(chip, wl, ticks=ticks, timing="async", network=network, record_spikes=True, queue=q)
            for q in ("c", "c", "python")]
    first = runs[0]
    assert first.synaptic_events > 0 and first.spikes > 0
    mapped = first.workload_report["diffuser"]
    assert mapped["synapses_mapped"] > 0 and mapped["diffuser_neurons"] == (5 if make is _generated else 1)
    for other in runs[1:]:
        assert np.array_equal(other.spike_trains.ticks, first.spike_trains.ticks)
        assert np.array_equal(other.spike_trains.neurons, first.spike_trains.neurons)
        assert other.counts == first.counts and other.energy_breakdown_j == first.energy_breakdown_j
    for r in runs:
        assert_conserved(r)
    if make is _digits:
        c = first.workload_report["classification"]
        assert c["samples"] == 3 and c["accuracy"] == c["correct"] / 3


def test_a_generated_network_with_a_diffuser_reaches_more_neurons_per_spike():
    ng = small_neurogrid()
    point = simulate(ng, generated(), timing="async")
    disc = simulate(ng, generated(neuron={"diffuser_radius": 1}), timing="async")
    # 24 targets per row, each spread over 5 neurons: up to 5x the synaptic events per delivered spike
    per = [r.synaptic_events / r.axon_events for r in (point, disc)]
    assert per[0] == 24 and 24 < per[1] <= 5 * 24


def test_sync_gals_and_barrier_refuse_neurogrid_saying_why():
    for timing in ("sync", "gals", "barrier"):
        with pytest.raises(ConfigError) as exc:
            simulate("neurogrid", generated(), ticks=2, timing=timing)
        assert str(exc.value) == (f"neurogrid: core.neuron_model: neurogrid_lif cannot run under {timing} timing: "
                                  "Neurogrid's neurons are analog circuits integrating in continuous time, with no "
                                  "clock and no tick kernel; run it with --timing async")


# --- the multicast tree router ---------------------------------------------------------------------

def test_a_spike_to_several_chips_crosses_each_link_of_its_tree_once():
    from neuroemu.config.loader import load_chip
    from neuroemu.hardware.chip import MulticastRouter, Router, build_chip_topology
    topo = build_chip_topology(load_chip("neurogrid"))
    route_src = np.array([0, 0, 0, 1, 2, 2])            # neuron 0 reaches chips 1, 2, 5; 2 reaches 9, 12
    src, dst = np.array([0, 0, 0, 4, 9, 9]), np.array([1, 2, 5, 3, 9, 12])
    multi, uni = MulticastRouter(topo, route_src), Router(topo)
    multi.bind(src, dst)
    uni.bind(src, dst)
    spikes = np.array([3, 3, 3, 2, 1, 1])                 # per route: each neuron's spikes on each of its routes
    r = topo.core_router
    tree0 = topo.multicast_links(int(r[0]), r[[1, 2, 5]])
    tree2 = topo.multicast_links(int(r[9]), r[[9, 12]])
    assert len(tree0) == 6 < int(topo.hops[r[0], r[[1, 2, 5]]].sum()) == 8  # shared links counted once
    expect = 3 * len(tree0) + 2 * int(topo.hops[r[4], r[3]]) + 1 * len(tree2)
    assert int(multi.class_hops_of(spikes).sum()) == expect == int(multi.link_loads(spikes).sum())
    loads = np.zeros(topo.n_links, np.int64)
    for links, n in ((tree0, 3), (tree2, 1), (topo.route_links(int(r[4]), int(r[3])), 2)):
        loads[links] += n
    assert np.array_equal(multi.link_loads(spikes), loads)
    assert np.array_equal(multi.neuron_latency(np.arange(6)), uni.neuron_latency(np.arange(6)))  # per target chip
    assert int(uni.class_hops_of(spikes).sum()) == 3 * 8 + 2 * int(topo.hops[r[4], r[3]]) + len(tree2)


def test_a_mapped_neuron_reaching_three_chips_sends_one_multicast(tmp_path):
    """Neuron 0 on chip 0 drives one neuron on each of chips 1, 2 and 3 (mapping given)."""
    np.savez(tmp_path / "fan.npz", src=np.array([0, 0, 0, 0]), dst=np.array([0, 1, 2, 3]),
             weight=np.array([2.0, 2.0, 2.0, 2.0]), delay=np.array([1, 1, 1, 1]),
             src_input=np.array([1, 0, 0, 0]), threshold=np.full(4, 1.0), core=np.array([0, 1, 2, 3]),
             input_times=np.arange(0, 20, 2), input_ids=np.zeros(10, np.int64))
    wl = workload_for_network_file(tmp_path / "fan.npz", ticks=24, mapping="given", neuron_reset="zero")
    r = simulate(small_neurogrid(), wl, ticks=24, timing="async", record_spikes=True)
    fired0 = int(np.count_nonzero(r.spike_trains.neurons == 0))
    assert fired0 == 10 and r.spikes == 40
    from neuroemu.hardware.chip import build_chip_topology
    topo = build_chip_topology(small_neurogrid())
    tree = topo.multicast_links(int(topo.core_router[0]), topo.core_router[[1, 2, 3]])
    assert r.hops == fired0 * len(tree)  # not once per target chip (3 x 2 hops)
    assert len(tree) == 4 and r.timing_report["spike_flow"]["sent"] == 3 * fired0
    assert_conserved(r)
