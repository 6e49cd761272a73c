"""`neuroemu compare`: one workload, one mapping, several router graphs."""
from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from neuroemu.cli.app import main
from neuroemu.studies.compare import compare, table
from neuroemu.config import load_chip, workload_from_data
from neuroemu.errors import ConfigError

KEYS = ["topology", "hops_mean", "wire_mm_mean", "latency_p50_s", "latency_p99_s", "energy_j", "pj_per_sop",
        "max_link_utilization", "timing_violations"]


def _workload():
    return workload_from_data({"name": "uniform", "ticks": 60, "seed": 4,
                               "network": {"rate_hz": 40.0, "synapses_per_axon": 16}}, "u.yaml")


def test_same_spikes_different_networks():
    rows = compare(load_chip(None), _workload(), ["mesh", "torus", "htree", "tree"])
    by = {r["topology"]: r for r in rows}
    for r in rows:
        for k in KEYS:
            assert k in r
    # the neurons and their inputs are the same: only the routing differs
    assert len({r["spikes"] for r in rows}) == 1 and len({r["synaptic_events"] for r in rows}) == 1
    # 4 x 4 uniform traffic (self included): mesh 2(k^2-1)/(3k) = 2.5; torus fewer; 4-ary tree of 16
    # leaves 2[L - (N-1)/(N(r-1))] = 2(2 - 15/48) = 3.375 links
    assert by["mesh"]["hops_mean"] == pytest.approx(2.5, abs=0.08)
    assert by["torus"]["hops_mean"] < by["mesh"]["hops_mean"]
    assert by["tree"]["hops_mean"] == pytest.approx(3.375, abs=0.08)
    assert by["htree"]["hops_mean"] == pytest.approx(by["tree"]["hops_mean"])
    # the H-tree crosses as many links as the tree but lays longer wires than the mesh
    assert by["htree"]["wire_mm_mean"] > by["mesh"]["wire_mm_mean"]
    # hop energy follows hop counts (TrueNorth: energy per hop, none per mm)
    hop_j = {k: sum(v for t, v in r["energy_breakdown_j"].items() if t.startswith("hop_")) for k, r in by.items()}
    assert hop_j["tree"] > hop_j["mesh"] > hop_j["torus"]


def test_unknown_topology_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="hypercube.*valid: mesh, torus, htree, tree"):
        compare(load_chip(None), _workload(), ["mesh", "hypercube"])


def test_cli_json(tmp_path, write_yaml):
    path = write_yaml("u.yaml", {"name": "uniform", "chip": "default", "ticks": 30, "seed": 4,
                                 "network": {"rate_hz": 40.0, "synapses_per_axon": 16}})
    r = CliRunner().invoke(main, ["compare", "default", path, "--topologies", "mesh,htree", "--json", "-"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert [row["topology"] for row in d["rows"]] == ["mesh", "htree"]
    r = CliRunner().invoke(main, ["compare", "default", path, "--topologies", "mesh,ring"])
    assert r.exit_code == 1 and "ring" in r.output and "Traceback" not in r.output


def test_cli_plot(tmp_path, write_yaml):
    path = write_yaml("u.yaml", {"name": "uniform", "chip": "default", "ticks": 20, "seed": 4,
                                 "network": {"rate_hz": 40.0, "synapses_per_axon": 16}})
    png = tmp_path / "cmp.png"
    r = CliRunner().invoke(main, ["compare", "default", path, "--topologies", "mesh,tree", "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


# --- tick semantics side by side ------------------------------------------------------------------

def test_one_row_per_timing_with_clocking_terms():
    rows = compare(load_chip(None), _workload(), None, timings=["sync", "gals", "barrier"], ticks=30)
    assert [r["timing"] for r in rows] == ["sync", "gals", "barrier"]
    by = {r["timing"]: r for r in rows}
    # the same network, mapping and seed: the same spikes under every semantics (no op latencies here)
    assert len({r["spikes"] for r in rows}) == 1 and len({r["synaptic_events"] for r in rows}) == 1
    for r in rows:
        assert r["error"] is None and math.fsum(r["energy_breakdown_j"].values()) == pytest.approx(r["energy_j"],
                                                                                                   rel=1e-15)
        assert r["model_time_s"] == pytest.approx(30e-3)
    chip = load_chip(None)
    clock_j = chip.energy.clock_pj_per_core_tick.value * 1e-12
    assert by["sync"]["energy_breakdown_j"]["clock"] == pytest.approx(chip.cores * 30 * clock_j, rel=1e-12)
    assert by["gals"]["energy_breakdown_j"]["clock"] <= by["sync"]["energy_breakdown_j"]["clock"]
    assert "clock" not in by["barrier"]["energy_breakdown_j"] and "handshake" in by["barrier"]["energy_breakdown_j"]
    assert by["sync"]["realtime_factor"] == pytest.approx(1.0) and by["barrier"]["realtime_factor"] > 1.0


def test_a_refused_timing_is_a_row_with_its_reason():
    def simulate(chip, workload, **kw):
        if chip.timing.mode == "async":
            raise ConfigError("tiny.yaml: core.neuron_model: the async engine has no model 'x'")
        from neuroemu import simulate as real
        return real(chip, workload, **kw)
    rows = compare(load_chip(None), _workload(), ["mesh", "tree"], timings=["sync", "async"], simulate=simulate,
                   ticks=10)
    assert [(r["topology"], r["timing"]) for r in rows] == [("mesh", "sync"), ("mesh", "async"),
                                                            ("tree", "sync"), ("tree", "async")]
    refused = [r for r in rows if r["error"]]
    assert [r["timing"] for r in refused] == ["async", "async"]
    assert refused[0]["error"] == "tiny.yaml: core.neuron_model: the async engine has no model 'x'"
    assert "refused: tiny.yaml" in table(rows)


def test_unknown_timing_is_bad_input():
    with pytest.raises(ConfigError, match="'clockless'; valid: sync, gals, barrier, async"):
        compare(load_chip(None), _workload(), None, timings=["sync", "clockless"])


def test_cli_timings_json_and_grid(write_yaml):
    path = write_yaml("u.yaml", {"name": "uniform", "chip": "default", "ticks": 20, "seed": 4,
                                 "network": {"rate_hz": 40.0, "synapses_per_axon": 16}})
    r = CliRunner().invoke(main, ["compare", "default", path, "--timings", "sync,gals,barrier,async", "--json", "-"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["rows"]
    assert [row["timing"] for row in rows] == ["sync", "gals", "barrier", "async"]
    assert all(row["error"] is None or "\n" not in row["error"] for row in rows)
    r = CliRunner().invoke(main, ["compare", "default", path, "--timings", "sync,gals", "--topologies", "mesh,tree"])
    assert r.exit_code == 0, r.output
    body = [line.split()[:2] for line in r.output.splitlines()[2:6]]
    assert body == [["mesh", "sync"], ["mesh", "gals"], ["tree", "sync"], ["tree", "gals"]]
    r = CliRunner().invoke(main, ["compare", "default", path, "--timings", "sync,warp"])
    assert r.exit_code == 1 and "warp" in r.output and "Traceback" not in r.output


def test_classify_rows_carry_accuracy_latency_and_energy_per_classification():
    from neuroemu.config import load_workload
    wl = load_workload("workloads/digits.yaml")
    rows = compare(load_chip("loihi"), wl, None, timings=["sync", "barrier"], ticks=60)
    for r in rows:
        assert r["error"] is None
        assert 0.0 <= r["accuracy"] <= 1.0
        assert r["energy_per_classification_j"] > 0 and r["latency_per_classification_s"] > 0
    assert "accuracy" in table(rows)


def test_cli_plot_timings_leaves_refused_rows_out(tmp_path, write_yaml):
    path = write_yaml("u.yaml", {"name": "uniform", "chip": "default", "ticks": 10, "seed": 4,
                                 "network": {"rate_hz": 40.0, "synapses_per_axon": 16}})
    png = tmp_path / "t.png"
    r = CliRunner().invoke(main, ["compare", "default", path, "--timings", "sync,gals,barrier,async",
                                  "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert [line.split()[1] for line in r.output.splitlines()[2:5]] == ["sync", "gals", "barrier"]


def test_cli_network_file(tmp_path):
    import numpy as np
    np.savez(tmp_path / "chain.npz", src=np.array([0, 0]), dst=np.array([0, 1]), weight=np.array([1.0, 1.0]),
             delay=np.array([1, 3]), src_input=np.array([1, 0]), threshold=np.array([1.0, 1.0]),
             input_times=np.array([2, 10]), input_ids=np.array([0, 0]))
    r = CliRunner().invoke(main, ["compare", "loihi", str(tmp_path / "chain.npz"), "--timings", "sync,gals",
                                  "--ticks", "20", "--json", "-"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["rows"]
    assert [row["spikes"] for row in rows] == [4, 4]  # two inputs, each firing neuron 0 and then neuron 1
    r = CliRunner().invoke(main, ["compare", "loihi", str(tmp_path / "g.nir"), "--timings", "sync"])
    assert r.exit_code == 1 and "Traceback" not in r.output
