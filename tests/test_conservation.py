"""Conservation on every path: every spike sent is delivered, dropped as late or still in flight;
synaptic events, hops, wire, latency samples and each energy term follow from the counted events
(one shared check, :func:`tests.conservation.assert_conserved`)."""
from __future__ import annotations


import pytest

from conservation import assert_conserved, run_conserved, run_traced
from neuroemu.config import chip_from_data, workload_from_data

QUEUES = ["c", "python"]


def _specs(chip_data, workload_data):
    return chip_from_data(chip_data, "tiny.yaml"), workload_from_data(workload_data, "w.yaml")


def _gals_late(chip_data, policy):
    """A gals chip whose inter-core hops take 0.6 ticks: spikes emitted late in a tick miss their deadline."""
    chip_data["timing"].update({"mode": "gals", "late_spikes": policy})
    chip_data["latency"].update({"hop_ns": 6.0e5, "synaptic_op_ns": 900.0, "neuron_update_ns": 9000.0,
                                 "spike_ns": 50.0})
    return chip_data


@pytest.mark.parametrize("queue", QUEUES)
@pytest.mark.parametrize("network", ["analytic", "packet"])
@pytest.mark.parametrize("timing", ["sync", "gals", "barrier"])
def test_every_spike_accounted_for_on_every_tick_path(small_chip, small_workload, timing, network, queue):
    chip, wl = _specs(small_chip, small_workload)
    record, trace = run_traced(chip, wl, timing=timing, network=network, queue=queue)
    flow = record.timing_report["spike_flow"]
    assert record.spikes > 50 and flow["inputs"] > 0
    assert flow["in_flight_end"] > 0  # the run ends with spikes on the way
    assert_conserved(record, trace)
    if network == "packet":  # the network's own counts, under "packet" (its latencies and links are above)
        packet = record.timing_report["packet"]
        assert packet["packets"]["injected"] == flow["sent"] and packet["hops"]["total"] == record.hops
        assert not {"latency_s", "latency_samples", "busiest_links", "max_link_utilization"} & set(packet)


@pytest.mark.parametrize("network", ["analytic", "packet"])
@pytest.mark.parametrize("policy", ["drop", "late"])
def test_late_gals_spikes_are_dropped_or_delivered_never_lost(small_chip, small_workload, policy, network):
    chip, wl = _specs(_gals_late(small_chip, policy), small_workload)
    record, trace = run_traced(chip, wl, network=network)
    flow = record.timing_report["spike_flow"]
    assert record.timing_report["timing_violations"] > 0
    assert flow["dropped_late" if policy == "drop" else "delivered_late"] == record.timing_report["timing_violations"]
    assert_conserved(record, trace)


@pytest.mark.parametrize("queue", QUEUES)
def test_learning_on_conserves(small_chip, small_workload, queue):
    small_chip["energy"].update({"potentiation_pj": {"value": 7.25, "source": "test"},
                                 "depression_pj": {"value": 3.5, "source": "test"},
                                 "wire_pj_per_mm": {"value": 0.75, "source": "test"}})
    small_workload["learning"] = {"rule": "stdp", "a_plus": 1.5, "a_minus": 1.0, "tau_plus_ticks": 5.0,
                                  "tau_minus_ticks": 5.0, "w_min": -8, "w_max": 8}
    chip, wl = _specs(small_chip, small_workload)
    for timing in ("sync", "gals", "barrier"):
        record, trace = run_traced(chip, wl, timing=timing, queue=queue)
        assert record.counts["potentiation"] > 0 and record.counts["depression"] > 0
        assert record.energy_breakdown_j["wire"] > 0
        assert_conserved(record, trace)


@pytest.mark.parametrize("name,ticks", [("pcm_small", 30), ("loihi_small", 20), ("spinnaker_small", 20),
                                        ("rram_small", 20)])
def test_shipped_workloads_conserve(name, ticks):
    record, trace = run_traced(None, name, ticks=ticks)
    assert record.spikes > 0
    assert_conserved(record, trace)


@pytest.mark.parametrize("network", ["analytic", "packet"])
def test_a_priced_packet_is_its_count_x_its_constant(small_chip, small_workload, network):
    """A chip that prices each routed packet (1.75 pJ) besides its hops: the packet term is one
    packet per routed spike x 1.75 pJ, on both network fidelities."""
    small_chip["energy"]["packet_pj"] = {"value": 1.75, "source": "test"}
    chip, wl = _specs(small_chip, small_workload)
    record, trace = run_traced(chip, wl, network=network)
    sent = record.timing_report["spike_flow"]["sent"]
    assert record.counts["packet"] == sent > 0
    assert record.energy_breakdown_j["packet"] == pytest.approx(sent * 1.75e-12, rel=1e-12, abs=0)
    assert_conserved(record, trace)


@pytest.mark.parametrize("timing, dac_pj", [("sync", 0.3), ("barrier", 0.3), ("sync", 0.0)])
def test_nvm_periphery_energy_is_its_conversions_and_drives(timing, dac_pj):
    """An RRAM crossbar read through a 5-bit column ADC (10 fJ x 2^5 = 0.32 pJ a conversion) and
    driven at 0.3 pJ a word line (or for free): the adc and dac terms are their counts x those
    constants, and free drivers have no dac term."""
    import dataclasses

    from neuroemu.config.loader import load_chip
    from neuroemu.config.schema import Sourced, SynapseDeviceSpec
    dev = SynapseDeviceSpec(adc_bits=5, adc_fom_pj=Sourced(0.01), dac_pj_per_row=Sourced(dac_pj))
    chip = dataclasses.replace(load_chip("rram_htree"), synapse_device=dev)
    record, trace = run_traced(chip, "rram_small", ticks=20, timing=timing)
    n = record.counts
    assert n["adc_conversion"] > 0 and n["dac_drive"] > 0
    assert record.energy_breakdown_j["adc"] == pytest.approx(n["adc_conversion"] * 0.32e-12, rel=1e-12, abs=0)
    if dac_pj:
        assert record.energy_breakdown_j["dac"] == pytest.approx(n["dac_drive"] * dac_pj * 1e-12, rel=1e-12, abs=0)
    else:
        assert "dac" not in record.energy_breakdown_j
    assert_conserved(record, trace, chip=chip)


@pytest.mark.parametrize("timing", ["sync", "gals", "barrier"])
def test_mapped_network_conserves(timing):
    """The digits edge list mapped onto Loihi (several routes per neuron, state resets)."""
    record, trace = run_traced(None, "digits", ticks=70, timing=timing)
    assert record.spikes > 0 and record.timing_report["spike_flow"]["inputs"] > 0
    assert_conserved(record, trace)


@pytest.mark.parametrize("queue", QUEUES)
def test_async_conserves(queue):
    record = run_conserved(None, "neurogrid_small", ticks=3, queue=queue)
    flow = record.timing_report["spike_flow"]
    assert record.spikes > 0 and flow["sent"] > 0 and flow["in_flight_end"] >= 0


def test_conservation_check_fails_on_a_lost_spike(small_chip, small_workload):
    """The check is not vacuous: a record with one spike unaccounted for fails it."""
    import dataclasses
    chip, wl = _specs(small_chip, small_workload)
    record, _ = run_traced(chip, wl)
    flow = dict(record.timing_report["spike_flow"])
    flow["in_flight_end"] -= 1
    broken = dataclasses.replace(record, timing_report={**record.timing_report, "spike_flow": flow})
    with pytest.raises(AssertionError):
        assert_conserved(broken)
    energy = dict(record.energy_breakdown_j)
    energy["synaptic"] *= 1.001
    with pytest.raises(AssertionError):
        assert_conserved(dataclasses.replace(record, energy_breakdown_j=energy))


@pytest.mark.parametrize("network", ["analytic", "packet"])
@pytest.mark.parametrize("chip, workload", [("loihi", "loihi_small"), ("default", "default"), ("loihi", "digits")])
def test_async_core_engine_conserves(chip, workload, network):
    """The clockless engine of the core-array models: every spike sent reaches an axon or is in flight."""
    record = run_conserved(chip, workload, ticks=40, timing="async", network=network)
    flow = record.timing_report["spike_flow"]
    assert record.spikes > 0 and flow["sent"] > 0 and flow["delivered"] == record.axon_events


@pytest.mark.parametrize("timing", ["sync", "gals", "barrier"])
def test_inputs_on_cores_route_as_neurons_do(tmp_path, timing):
    """Inputs placed on cores send packets like neurons (``network.inputs: on_cores``): each input
    spike of the first ``ticks`` ticks is one packet per destination axon, from the core of its first
    axon, and one latency sample each; the record's packets, hops and latency samples are the
    neurons' plus these. The spikes are the same as with inputs fed to the axons, and both runs
    conserve: the spike flow lists the packets as ``inputs_routed`` (none fed straight to axons),
    and those of the last tick, which reach their axons one tick later, past the run's end, as in
    flight at the end. The traced (tick by tick) and the plain run (the block path where it applies)
    give the same record."""
    import numpy as np

    from neuroemu import simulate
    from neuroemu.config.loader import load_chip, workload_for_network_file
    from neuroemu.hardware.chip import build_chip_topology
    from neuroemu.networks.edgelist import save_npz
    from neuroemu.networks.graph import NetworkBuilder
    from neuroemu.networks.workloads import build_network
    rng = np.random.default_rng(14)
    b = NetworkBuilder("oncores")
    b.add_inputs("in", 6)
    b.add_neurons("g", 30, model="IF", threshold=9.0)
    w = rng.integers(-8, 8, (6, 30)).astype(float)
    w[0] = 7.0
    b.connect("in", "g", w)
    b.connect("g", "g", np.where(rng.random((30, 30)) < 0.1, 2.0, 0.0))  # recurrence: neurons send too
    ticks = 25
    b.set_input_spikes(*np.nonzero(rng.random((ticks, 6)) < 0.4))
    net = b.build()
    save_npz(net, tmp_path / "in.npz")
    chip = load_chip("loihi")
    runs = {}
    for inputs in ("axons", "on_cores"):
        wl = workload_for_network_file(tmp_path / "in.npz", ticks=ticks, mapping="spread", inputs=inputs)
        record, trace = run_traced(chip, wl, ticks=ticks, timing=timing)
        runs[inputs] = (record, trace, build_network(chip, wl, wl.seed, wl.where))
    (axons, trace, _), (cores, cores_trace, mapped) = runs["axons"], runs["on_cores"]
    assert_conserved(axons, trace)
    assert_conserved(cores, cores_trace)
    topo, A = build_chip_topology(chip), mapped.arrays.axons_per_core
    sent = np.bincount(net.input_ids[net.input_times < ticks], minlength=net.n_inputs)
    late = np.bincount(net.input_ids[net.input_times == ticks - 1], minlength=net.n_inputs)
    packets = hops = past_end = 0
    for i in range(net.n_inputs):
        dst = mapped.arrays.chip_cores(mapped.input_axons[mapped.input_ptr[i]:mapped.input_ptr[i + 1]] // A)
        r = topo.core_router
        packets += int(sent[i]) * len(dst)
        past_end += int(late[i]) * len(dst)
        hops += int(sent[i]) * int(sum(len(topo.route_links(int(r[dst[0]]), int(r[d]))) for d in dst))
    assert packets > 20 and hops > 20 and past_end > 0
    assert np.array_equal(cores.spike_trains.neurons, axons.spike_trains.neurons) and cores.spikes > 0
    assert axons.timing_report["spike_flow"]["sent"] > 0
    assert cores.counts["packet"] - axons.counts["packet"] == packets
    assert cores.hops - axons.hops == hops
    assert cores.timing_report["latency_samples"] - axons.timing_report["latency_samples"] == packets
    flow, twin = cores.timing_report["spike_flow"], axons.timing_report["spike_flow"]
    assert "inputs_routed" not in twin and twin["inputs"] == packets - past_end
    assert flow == {**twin, "inputs": 0, "inputs_routed": packets, "in_flight_end": twin["in_flight_end"] + past_end}
    # the same record off the traced loop (sync and barrier: the block path)
    plain = simulate(chip, workload_for_network_file(tmp_path / "in.npz", ticks=ticks, mapping="spread",
                                                     inputs="on_cores"), ticks=ticks, timing=timing)
    assert_conserved(plain)
    assert plain.timing_report["spike_flow"] == flow and plain.counts == cores.counts
    # a runaway guard's partial record: the inputs queued ahead (all 25 ticks' at tick 0) are not yet
    # sent, those sent and not arrived are in flight
    from neuroemu.errors import RunawayError
    with pytest.raises(RunawayError) as info:
        simulate(chip, workload_for_network_file(tmp_path / "in.npz", ticks=ticks, mapping="spread",
                                                 inputs="on_cores"), ticks=ticks, timing=timing, max_events=1000)
    partial = info.value.partial_record
    assert 0 < partial.ticks < ticks and partial.timing_report["spike_flow"]["inputs_routed"] > 0
    assert_conserved(partial)
    # their packets are counted, not moved hop by hop: the packet network refuses them in one line
    from neuroemu.errors import ConfigError
    wl = workload_for_network_file(tmp_path / "in.npz", ticks=5, mapping="spread", inputs="on_cores")
    with pytest.raises(ConfigError) as err:
        simulate(chip, wl, network="packet", timing=timing)
    assert str(err.value).endswith("network.inputs: on_cores is counted with the analytic network (its packets' "
                                   "hops and energy), not moved hop by hop: run with --network analytic")
    # the clockless core loop routes them too (after their route latency): the same input packets, conserved
    asy = simulate(chip, workload_for_network_file(tmp_path / "in.npz", ticks=ticks, mapping="spread",
                                                   inputs="on_cores"), ticks=ticks, timing="async")
    assert_conserved(asy)
    assert asy.timing_report["spike_flow"]["inputs_routed"] == packets
    assert asy.counts["packet"] == asy.timing_report["spike_flow"]["sent"] + packets
