"""Runaway activity, clock overflow and reruns from a record's own config."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from neuroemu import simulate
from neuroemu.cli.app import main
from neuroemu.config import chip_from_data, workload_from_data
from conservation import assert_conserved
from neuroemu.errors import ConfigError, RunawayError


def _specs(small_chip, small_workload):
    return chip_from_data(small_chip, "tiny.yaml"), workload_from_data(small_workload, "w.yaml")


def test_runaway_stops_with_a_partial_record(small_chip, small_workload):
    chip, wl = _specs(small_chip, small_workload)
    with pytest.raises(RunawayError) as info:
        simulate(chip, wl, max_events=100)
    message = str(info.value)
    assert "runaway" in message and "limit 100" in message and "core" in message
    partial = info.value.partial_record
    assert partial is not None and 0 < partial.ticks < wl.ticks
    assert partial.axon_events <= 100 + 200  # the limit plus at most one tick's deliveries
    # the partial record accounts for what ran: spikes routed (hops per spike, latency), wire, spike flow
    assert partial.hops > 0 and partial.hops_per_spike > 0 and partial.latency_mean_s is not None
    assert_conserved(partial)


def test_runaway_partial_record_conserves_with_wire_and_gals(small_chip, small_workload):
    small_chip["energy"]["wire_pj_per_mm"] = {"value": 0.5, "source": "test"}
    small_chip["timing"]["mode"] = "gals"
    chip, wl = _specs(small_chip, small_workload)
    with pytest.raises(RunawayError) as info:
        simulate(chip, wl, max_events=150, network="packet")
    partial = info.value.partial_record
    assert partial.energy_breakdown_j["wire"] > 0 and partial.timing_report["spike_flow"]["in_flight_end"] > 0
    assert_conserved(partial)


def test_runaway_cli_writes_the_partial_record(tiny_files, tmp_path):
    chip, workload = tiny_files
    out = tmp_path / "partial.json"
    r = CliRunner().invoke(main, ["run", chip, workload, "--max-events", "50", "--json", str(out)])
    assert r.exit_code == 1 and "runaway" in r.output and "Traceback" not in r.output
    assert json.loads(out.read_text())["ticks"] > 0


def test_clock_overflow_is_refused(small_chip, small_workload):
    small_chip["timing"]["tick_s"] = 10.0
    small_workload["network"]["rate_hz"] = 0.01
    small_workload["inputs"] = []
    chip, wl = _specs(small_chip, small_workload)
    with pytest.raises(ConfigError, match="w.yaml: ticks: .*int64 picosecond clock"):
        simulate(chip, wl, ticks=500_000_000)


def test_rerun_from_the_records_own_config_is_bit_identical(small_chip, small_workload):
    chip, wl = _specs(small_chip, small_workload)
    first = simulate(chip, wl, seed=11, record_spikes=True)
    d = json.loads(first.to_json())
    again = simulate(chip_from_data(d["config"]["chip"], "record"), workload_from_data(d["config"]["workload"], "record"),
                     ticks=d["config"]["run"]["ticks"], seed=d["seeds"]["master"], record_spikes=True)
    assert again.comparable() == first.comparable()
    assert d["neuroemu_version"] and d["queue_backend"] in ("c", "python")


def test_a_network_too_big_for_memory_is_refused_before_allocating(monkeypatch):
    import neuroemu.networks.workloads as wl_mod
    from neuroemu.config import load_chip, load_workload
    from neuroemu.errors import CapacityError
    monkeypatch.setattr(wl_mod, "available_memory_bytes", lambda: 64 * 2 ** 20)  # a 64 MiB machine
    with pytest.raises(CapacityError) as info:
        simulate(load_chip("truenorth"), load_workload("workloads/truenorth_typical.yaml"), ticks=1)
    message = str(info.value)
    assert "truenorth_typical.yaml" in message and "GiB" in message and "available" in message


def test_an_event_storm_stops_at_the_window_limit(small_chip, small_workload):
    chip, wl = _specs(small_chip, small_workload)
    with pytest.raises(RunawayError) as info:
        simulate(chip, wl, max_window_events=3)
    assert "per window" in str(info.value) and info.value.partial_record is not None


def test_a_runaway_in_the_first_tick_gives_an_empty_partial_record(small_chip, small_workload):
    """No chip time has passed: no rate, power or speed to divide by zero, and still every spike accounted for."""
    small_chip["timing"].update({"mode": "barrier", "barrier_ns": 100.0})
    chip, wl = _specs(small_chip, small_workload)
    with pytest.raises(RunawayError) as info:
        simulate(chip, wl, max_window_events=0)
    partial = info.value.partial_record
    assert partial.ticks == 0 and partial.sim_time_s == 0 and partial.axon_events > 0
    assert partial.mean_rate_hz == 0.0 and partial.power_w is None
    assert_conserved(partial)


def test_zero_ticks_give_an_empty_record(small_chip, small_workload):
    small_chip["timing"].update({"mode": "barrier", "barrier_ns": 100.0})
    r = simulate(*_specs(small_chip, small_workload), ticks=0)
    assert r.sim_time_s == 0 and r.spikes == 0 and r.mean_rate_hz == 0.0
    assert r.timing_report["realtime_factor"] is None and r.timing_report["timestep_mean_s"] is None
    assert_conserved(r)
