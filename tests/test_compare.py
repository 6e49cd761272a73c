"""`neuroemu compare`: one workload, one mapping, several router graphs."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from neuroemu.cli.app import main
from neuroemu.studies.compare import compare
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
