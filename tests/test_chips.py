"""The shipped chip library: every constant sourced, every chip runs its small workload, the Loihi
figures come out of counted events, and changing one constant moves its figure by the expected amount."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from click.testing import CliRunner

from conservation import assert_conserved
from neuroemu import simulate
from neuroemu.cli.app import main
from neuroemu.config import chip_from_data, load_workload
from neuroemu.config.loader import CHIPS_DIR, REPO_ROOT, read_yaml
from neuroemu.errors import CapacityError
from neuroemu.hardware.chip import build_chip_topology

MINE = {"loihi": "loihi_small", "spinnaker": "spinnaker_small", "rram_htree": "rram_small", "pcm_htree": "pcm_small"}


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    # the tests name workload files relative to the repository root
    monkeypatch.chdir(REPO_ROOT)


def chip_data(name: str, sync: bool = True) -> dict:
    """A shipped chip's parsed data; ``sync`` swaps barrier/gals timing for sync (what these tests need)."""
    data = copy.deepcopy(read_yaml(CHIPS_DIR / f"{name}.yaml"))
    if sync:
        data["timing"]["mode"] = "sync"
    return data


def run(name: str, data: dict | None = None, ticks: int = 60):
    chip = chip_from_data(data or chip_data(name), str(CHIPS_DIR / f"{name}.yaml"))
    return simulate(chip, load_workload(f"workloads/{MINE[name]}.yaml"), ticks=ticks)


def test_every_shipped_chip_validates_with_sources_and_is_listed():
    files = sorted(str(p) for p in CHIPS_DIR.glob("*.yaml"))
    result = CliRunner().invoke(main, ["validate", "--require-sources", *files])
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(main, ["chips"])
    assert listed.exit_code == 0
    for name in MINE:
        line = next(row for row in listed.output.splitlines() if row.startswith(name + " "))
        assert "INVALID" not in line and len(line.split()) > 3
    workloads = [f"workloads/{w}.yaml" for w in MINE.values()]
    assert CliRunner().invoke(main, ["validate", *workloads]).exit_code == 0


@pytest.mark.parametrize("name", sorted(MINE))
def test_each_chip_runs_its_small_workload(name):
    r = run(name)
    assert r.spikes > 0 and r.synaptic_events > 0
    assert math.fsum(r.energy_breakdown_j.values()) == r.energy_j
    # SOPs counted equal the spikes delivered times the synapses in their rows (no learning here)
    assert r.counts["synaptic_op"] == r.synaptic_events
    assert_conserved(r)  # every spike accounted for, every energy term its count x the chip's constant


def test_loihi_synaptic_figure_is_23_6_pj_and_the_all_in_one_is_higher():
    r = run("loihi")
    assert math.isclose(r.pj_per_sop_synaptic, 23.6, rel_tol=1e-12)
    assert math.isclose(r.energy_breakdown_j["synaptic"], r.synaptic_events * 23.6e-12, rel_tol=1e-12)
    assert r.pj_per_sop > 23.6 * 1.5
    # the other Table 2 terms, from their counts
    b, c = r.energy_breakdown_j, r.counts
    assert math.isclose(b["neuron_update"], (c["neuron_update_active"] * 81 + c["neuron_update"] * 52) * 1e-12,
                        rel_tol=1e-12)
    assert math.isclose(b["spike"], c["spike"] * 1.7e-12, rel_tol=1e-12)
    assert math.isclose(b["hop_x"], r.hops_by_class["x"] * 3.0e-12, rel_tol=1e-12)
    assert math.isclose(b["hop_y"], r.hops_by_class["y"] * 4.0e-12, rel_tol=1e-12)
    assert r.hops_by_class["x"] > 0 and r.hops_by_class["y"] > 0


@pytest.mark.parametrize("name, path, new, term, counter", [
    ("loihi", ("energy", "synaptic_op_pj"), 30.0, "synaptic", lambda r: r.synaptic_events),
    ("loihi", ("energy", "hop_class_pj", "y"), 5.0, "hop_y", lambda r: r.hops_by_class["y"]),
    ("loihi", ("energy", "neuron_update_active_pj"), 90.0, "neuron_update", lambda r: r.counts["neuron_update_active"]),
    ("spinnaker", ("energy", "neuron_update_pj"), 50000.0, "neuron_update",
     lambda r: r.counts["neuron_update"] + r.counts.get("neuron_update_active", 0)),
    ("rram_htree", ("energy", "synaptic_op_pj"), 0.5, "synaptic", lambda r: r.synaptic_events),
])
def test_changing_one_constant_moves_its_figure_by_the_expected_amount(name, path, new, term, counter):
    base_data = chip_data(name)
    data = copy.deepcopy(base_data)
    node = data
    for key in path[:-1]:
        node = node[key]
    old = node[path[-1]]["value"]
    node[path[-1]]["value"] = new
    base, moved = run(name, base_data, ticks=40), run(name, data, ticks=40)
    assert moved.counts == base.counts                         # the same events ...
    expected = counter(base) * (new - old) * 1e-12             # ... charged differently
    assert math.isclose(moved.energy_j - base.energy_j, expected, rel_tol=1e-9)
    assert math.isclose(moved.energy_breakdown_j[term] - base.energy_breakdown_j[term], expected, rel_tol=1e-9)
    if path[-1] == "synaptic_op_pj":
        assert math.isclose(moved.pj_per_sop_synaptic, new, rel_tol=1e-12)


def test_spinnaker_figures_are_sharps_per_neuron_and_per_event_energies():
    r = run("spinnaker", ticks=30)
    updates = r.counts["neuron_update"] + r.counts.get("neuron_update_active", 0)
    assert updates == r.neurons * 30                           # one update per neuron per 1 ms tick
    assert math.isclose(r.energy_breakdown_j["neuron_update"], updates * 100e-9, rel_tol=1e-12)
    assert math.isclose(r.pj_per_sop_synaptic, 43000.0, rel_tol=1e-12)


def test_spinnaker_is_a_six_link_torus_of_18_core_chips():
    topo = build_chip_topology(chip_from_data(chip_data("spinnaker"), str(CHIPS_DIR / "spinnaker.yaml")))
    assert topo.n_routers == 48 and topo.n_links == 48 * 6
    assert np.bincount(topo.link_src).tolist() == [6] * 48
    assert np.bincount(topo.core_router).tolist() == [18] * 48


def test_rram_reads_below_a_picojoule_and_pcm_learns_at_kuzums_energies():
    r = run("rram_htree", ticks=30)
    assert r.pj_per_sop_synaptic < 1.0
    pcm = chip_from_data(chip_data("pcm_htree"), "pcm_htree.yaml")
    assert (pcm.energy.potentiation_pj.value, pcm.energy.depression_pj.value) == (0.675, 50.0)


def test_loihi_barrier_spans_the_published_range():
    chip = chip_from_data(chip_data("loihi", sync=False), "loihi.yaml")
    t = chip.timing
    assert t.mode == "barrier"
    routers = build_chip_topology(chip).n_routers
    assert routers == 32
    assert t.barrier_ns.value == 113.0
    assert math.isclose(t.barrier_ns.value + t.barrier_per_router_ns.value * (routers - 1), 465.0, rel_tol=1e-12)


@pytest.mark.parametrize("key, value, limit", [("neurons", 2048, "1024"), ("membrane_bits", 28, "24")])
def test_a_chip_beyond_its_model_fails_naming_the_limit(write_yaml, key, value, limit):
    data = chip_data("loihi")
    data["core"][key] = value
    path = write_yaml("big_loihi.yaml", data)
    result = CliRunner().invoke(main, ["run", path, "workloads/loihi_small.yaml"])
    assert result.exit_code == 1
    assert f"core.{key}: {value}" in result.output and f"loihi_cuba model allows ({limit};" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(CapacityError, match=f"core.{key}"):
        run("loihi", data)


def test_a_workload_beyond_loihis_synaptic_memory_fails_naming_the_limit(write_yaml):
    wl = read_yaml("workloads/loihi_small.yaml")
    wl["network"]["synapses_per_axon"] = 64  # 4096 x 64 x 9 bits > 1,048,576
    wl["chip"] = str(CHIPS_DIR / "loihi.yaml")
    path = write_yaml("too_many.yaml", wl)
    result = CliRunner().invoke(main, ["validate", path])
    assert result.exit_code == 1
    assert "network.synapses_per_axon" in result.output and "1,048,576 bits" in result.output
