"""Workloads from network files: the digit classifier on three chips (accuracy, latency and energy
per classification), presentation and reset, errors, sweeps and reruns from a record's config."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from neuroemu import simulate
from neuroemu.cli.app import main
from neuroemu.config.loader import load_chip, load_workload
from neuroemu.networks.edgelist import save_npz
from neuroemu.networks.graph import NetworkBuilder
from neuroemu.networks.workloads import build_network

WORKLOADS = Path(__file__).resolve().parent.parent / "workloads"


@pytest.mark.parametrize("chip,floor", [("loihi", 0.90), ("truenorth", 0.90), ("rram_htree", 0.90)])
def test_digit_classifier_accuracy_latency_and_energy_per_classification(chip, floor):
    r = simulate(chip, WORKLOADS / "digits.yaml")
    c = r.workload_report["classification"]
    # measured: Loihi 96.3 %, TrueNorth 95.5 %, RRAM (4-bit weights) 95.9 % of the 539 held-out digits
    assert c["samples"] == 539 and c["unanswered"] == 0
    assert c["accuracy"] >= floor
    assert r.ticks == 539 * 34
    assert c["energy_per_classification_j"] == pytest.approx(r.energy_j / 539, rel=1e-12)
    dynamic = r.energy_j - r.energy_breakdown_j["static"]
    assert c["dynamic_energy_per_classification_j"] == pytest.approx(dynamic / 539, rel=1e-12)
    assert c["latency_per_classification_s"] == pytest.approx(r.sim_time_s / 539, rel=1e-9)
    assert 0 < c["first_output_spike_s"] < c["latency_per_classification_s"]


def digits_subset(tmp_path, samples: int) -> Path:
    text = (WORKLOADS / "digits.yaml").read_text()
    text = text.replace("file: digits.npz", f"file: {WORKLOADS / 'digits.npz'}")
    text = text.replace("dataset: digits_test.npz", f"dataset: {WORKLOADS / 'digits_test.npz'}\n  samples: {samples}")
    path = tmp_path / "digits_subset.yaml"
    path.write_text(text)
    return path


def test_digits_are_bit_identical_across_tick_kernels_and_reruns(tmp_path):
    wl = load_workload(digits_subset(tmp_path, 25))
    a = simulate("truenorth", wl, tick_backend="c")
    b = simulate("truenorth", wl, tick_backend="numpy")
    c = simulate("truenorth", wl, tick_backend="c")
    assert a.ticks == 25 * 34
    assert a.comparable() == b.comparable() == c.comparable()


def test_a_sample_draws_its_own_input_spikes_whatever_runs_before(tmp_path):
    """The first sample's spikes are the same run alone or followed by others (a stream per sample)."""
    wl = load_workload(digits_subset(tmp_path, 6))
    mapped = build_network(load_chip("loihi"), wl, wl.seed, wl.where)
    later = simulate("loihi", wl, record_spikes=True)
    single = dataclasses.replace(wl, classify=dataclasses.replace(wl.classify, samples=1))
    first = simulate("loihi", single, record_spikes=True)
    t0 = later.spike_trains.ticks < 34
    assert np.array_equal(first.spike_trains.ticks, later.spike_trains.ticks[t0])
    assert np.array_equal(first.spike_trains.neurons, later.spike_trains.neurons[t0])
    assert mapped.hooks.reset_period == 34


@pytest.mark.parametrize("chip", ["loihi", "truenorth"])
def test_every_sample_starts_from_rest(tmp_path, chip):
    """A neuron driven by its bias alone reaches its threshold in 5 ticks: never, if reset every 4."""
    b = NetworkBuilder("bias")
    b.add_inputs("in", 1)
    b.add_neurons("out", 1, model="IF", threshold=4.5, bias=1.0)  # v = 1, 2, 3, 4, 5: fires in tick 4
    b.connect("in", "out", np.zeros((1, 1)))
    save_npz(b.build(outputs="out"), tmp_path / "bias.npz")
    np.savez(tmp_path / "data.npz", rates=np.zeros((5, 1)), labels=np.zeros(5, np.int64))
    spikes = {}
    for present in (3, 4):  # periods of 4 and 5 ticks
        (tmp_path / "w.yaml").write_text(
            f"name: bias\nnetwork: {{kind: edgelist, file: bias.npz, neuron_reset: zero, mapping: pack}}\n"
            f"classify: {{dataset: data.npz, present_ticks: {present}, settle_ticks: 1}}\n")
        r = simulate(chip, tmp_path / "w.yaml", record_spikes=True)
        spikes[present] = r.spike_trains.ticks.tolist()
        assert r.workload_report["classification"]["samples"] == 5
    assert spikes[3] == []                      # reset at ticks 4, 8, ...: v never passes 4
    assert spikes[4] == [4, 9, 14, 19, 24]      # the last tick of every 5-tick sample


def test_a_shortened_run_reports_only_the_samples_it_showed_in_full(tmp_path):
    wl = load_workload(digits_subset(tmp_path, 10))
    r = simulate("loihi", wl, ticks=3 * 34 + 5)
    c = r.workload_report["classification"]
    assert c["samples"] == 3 and 0 <= c["correct"] <= 3


@pytest.mark.parametrize("edit,message", [
    (("dataset: digits_test.npz", "dataset: missing.npz"), r"classify.dataset: missing.npz: no such file"),
    (("dataset: digits_test.npz", "dataset: w.yaml"), r"classify.dataset: \S*w.yaml: not a readable .npz file"),
    (("dataset: digits_test.npz", "dataset: digits.npz"), r"classify.dataset: \S*digits.npz: rates: missing"),
    (("file: digits.npz", "file: nowhere.npz"), r"nowhere.npz: no such file"),
    (("chip: loihi", "chip: neurogrid\nlearning: {rule: stdp}"), r"learning: neurogrid_lif synapses are shared by type"),
    (("  settle_ticks: 2", "  settle_ticks: 2\n  output_group: nope"), r"no group 'nope'; valid: hidden, out"),
    (("mapping: locality", "mapping: locality\n  input_spikes: x.npz"), r"classify: the data set drives the inputs"),
    (("kind: edgelist", "kind: random_recurrent"), r"w.yaml: classify: presents a data set to a network read from a file"),
])


def test_bad_classifier_workloads_get_one_line_errors(tmp_path, edit, message):
    text = (WORKLOADS / "digits.yaml").read_text().replace(*edit)
    for name in ("digits.npz", "digits_test.npz"):
        (tmp_path / name).write_bytes((WORKLOADS / name).read_bytes())
    (tmp_path / "w.yaml").write_text(text)
    res = CliRunner().invoke(main, ["run", str(tmp_path / "w.yaml")])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert re.search(message, res.output), res.output
    assert len(res.output.strip().splitlines()) == 1


def test_shipped_digits_mapping_sweep_shows_placement_cost_at_equal_accuracy(tmp_path, monkeypatch):
    from neuroemu.studies.sweep import sweep
    monkeypatch.chdir(tmp_path)  # the workload's files resolve beside it, from any directory
    table = sweep(WORKLOADS / "sweeps" / "digits_mapping.yaml", out=tmp_path / "out", workers=1)
    rows = {r["workload.network.mapping"]: r for r in table.to_dict("records")}
    assert set(rows) == {"pack", "spread", "locality"}
    # measured on the first 100 digits: 99 % each, 26,052 spikes; spread 986,427 hops on 74 cores
    assert len({r["spikes"] for r in rows.values()}) == 1
    assert len({r["classification_accuracy"] for r in rows.values()}) == 1 and rows["pack"]["classification_accuracy"] >= 0.9
    assert rows["pack"]["hops"] == rows["locality"]["hops"] == 0 < rows["spread"]["hops"]
    assert rows["spread"]["mapping_cores_used"] == 74
    assert (rows["spread"]["classification_energy_per_classification_j"]
            > rows["locality"]["classification_energy_per_classification_j"])


def test_a_records_own_config_reruns_a_file_workload_from_anywhere(tmp_path, monkeypatch):
    from neuroemu.config.loader import chip_from_data, workload_from_data
    for name in ("digits.npz", "digits_test.npz"):  # a copy of the workload with relative paths
        (tmp_path / name).write_bytes((WORKLOADS / name).read_bytes())
    text = (WORKLOADS / "digits.yaml").read_text().replace("  settle_ticks: 2", "  settle_ticks: 2\n  samples: 5")
    (tmp_path / "digits.yaml").write_text(text)
    first = simulate("rram_htree", tmp_path / "digits.yaml")
    assert first.config["workload"]["network"]["file"] == str((tmp_path / "digits.npz").resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = simulate(chip_from_data(first.config["chip"], "chip"), workload_from_data(first.config["workload"], "w"))
    assert again.comparable() == first.comparable()


def test_readouts_restricted_to_ranks_and_merged_are_the_whole_readout():
    """Two ranks (neurons 0-3 and 4-7) each count their own outputs' spikes and read their own
    potentials; merged, counts, end potentials and first output ticks are the whole chip's."""
    from types import SimpleNamespace
    from neuroemu.networks.presentation import Presentation
    spec = SimpleNamespace(period=4, present_ticks=3, settle_ticks=1)
    rates, labels, outputs = np.zeros((3, 2)), np.zeros(3, np.int64), np.array([1, 5, 6])
    whole_v = np.zeros(8, np.int32)
    whole = Presentation(spec, rates, labels, outputs, SimpleNamespace(n_neurons=8, v=whole_v))
    parts = []
    for g0 in (0, 4):
        p = Presentation(spec, rates, labels, outputs, SimpleNamespace(n_neurons=8, v=None))
        p.restrict(SimpleNamespace(n_neurons=4, v=np.zeros(4, np.int32)), g0, g0 + 4, g0)
        parts.append((p, g0))
    rng = np.random.default_rng(7)
    # sample 0: neuron 5 (rank 1) fires first; sample 1: no output fires; sample 2: both ranks' outputs
    fired_by_tick = {1: [5], 2: [1, 5, 6], 3: [0], 9: [6], 10: [1], 11: [1, 6]}
    for t in range(12):
        fired = np.array(fired_by_tick.get(t, []), np.int64)
        whole_v[:] = rng.integers(1, 100, 8)  # never 0: an output read on the wrong rank shows
        whole.observe(t, fired)
        for p, g0 in parts:
            p.arrays.v[:] = whole_v[g0:g0 + 4]
            p.observe(t, fired[(fired >= g0) & (fired < g0 + 4)])
    merged = Presentation(spec, rates, labels, outputs, SimpleNamespace(n_neurons=8, v=None))
    merged.merge([p.readout() for p, _ in parts])
    assert merged.counts.tolist() == whole.counts.tolist() == [[1, 2, 1], [0, 0, 0], [2, 0, 2]]
    assert merged.first_tick.tolist() == whole.first_tick.tolist() == [1, -1, 1]
    assert merged.v_end.tolist() == whole.v_end.tolist() and (whole.v_end != 0).all()
    assert (parts[0][0].v_end[:, 1:] == 0).all() and (parts[1][0].v_end[:, 0] == 0).all()  # read only on its rank
