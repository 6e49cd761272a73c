"""Analytic and packet fidelity: identical on an uncongested workload, apart under congestion."""
from __future__ import annotations

import json

from click.testing import CliRunner

from conservation import assert_conserved
from neuroemu import simulate
from neuroemu.cli.app import main
from neuroemu.config import chip_from_data, workload_from_data


def _run(chip_data, workload_data, **kw):
    return simulate(chip_from_data(chip_data, "tiny.yaml"), workload_from_data(workload_data, "w.yaml"),
                    record_spikes=True, **kw)


def test_uncongested_packet_mode_matches_analytic(small_chip, small_workload):
    small_chip["timing"]["mode"] = "gals"
    analytic = _run(small_chip, small_workload)
    packet = _run(small_chip, small_workload, network="packet")
    assert packet.network == "packet" and analytic.network == "analytic"
    assert packet.timing_report["timing_violations"] == analytic.timing_report["timing_violations"] == 0
    assert (packet.spike_trains.neurons == analytic.spike_trains.neurons).all()
    assert (packet.spike_trains.ticks == analytic.spike_trains.ticks).all()
    assert packet.counts == analytic.counts
    assert packet.energy_breakdown_j == analytic.energy_breakdown_j
    # every packet moved hop by hop: as many hops as the tables say
    assert packet.timing_report["packet"]["hops"]["total"] == analytic.hops
    # packet latency adds serialisation (1 ns per hop at 1 packet/ns) to the zero-load path latency
    assert packet.timing_report["latency_max_s"] >= analytic.timing_report["latency_max_s"]
    assert packet.timing_report["spike_flow"] == analytic.timing_report["spike_flow"]
    assert packet.timing_report["packet"]["packets"]["injected"] == packet.timing_report["spike_flow"]["sent"]
    assert_conserved(analytic)
    assert_conserved(packet)


def test_congested_links_delay_packets_past_their_tick(small_chip, small_workload):
    small_chip["timing"]["mode"] = "gals"
    small_chip["topology"]["bandwidth_pkts_per_ns"] = 2e-6  # 0.5 ms per packet: a few per tick per link
    small_workload["network"]["rate_hz"] = 200.0
    analytic = _run(small_chip, small_workload)
    packet = _run(small_chip, small_workload, network="packet")
    assert analytic.timing_report["timing_violations"] == 0
    assert packet.timing_report["timing_violations"] > 0
    assert packet.timing_report["latency_p99_s"] > 1e-3
    assert packet.timing_report["max_link_utilization"] > 0.5
    # congestion drops late spikes and leaves packets in the network at the end, but loses none
    flow = packet.timing_report["spike_flow"]
    assert flow["dropped_late"] == packet.timing_report["timing_violations"] and flow["in_flight_end"] > 0
    assert_conserved(analytic)
    assert_conserved(packet)


def test_barrier_with_packets_drains_each_timestep(small_chip, small_workload):
    small_chip["timing"].update({"mode": "barrier", "barrier_ns": 100.0})
    analytic = _run(small_chip, small_workload)
    packet = _run(small_chip, small_workload, network="packet")
    assert packet.spikes == analytic.spikes and packet.counts == analytic.counts
    # draining with serialisation takes at least as long as the zero-load analytic drain
    assert packet.sim_time_s >= analytic.sim_time_s
    assert_conserved(analytic)
    assert_conserved(packet)


def test_cli_network_packet(tiny_files):
    chip, workload = tiny_files
    r = CliRunner().invoke(main, ["run", chip, workload, "--ticks", "20", "--network", "packet", "--timing", "gals",
                                  "--json", "-"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["network"] == "packet" and d["timing_report"]["packet"]["packets"]["delivered"] > 0
