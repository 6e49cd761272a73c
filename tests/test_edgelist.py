"""Edge-list files (.npz and CSV) and spike-train files: round trips and precise errors."""
from __future__ import annotations

import re

import numpy as np
import pytest

from neuroemu.networks.edgelist import (load_csv, load_network, load_npz, load_spikes, save_csv, save_network, save_npz,
                               save_spikes)
from neuroemu.errors import ConfigError
from neuroemu.networks.graph import NetworkBuilder, simulate_reference


def sample():
    rng = np.random.default_rng(2)
    b = NetworkBuilder("sample")
    b.add_inputs("pixels", 4)
    b.add_neurons("hidden", 5, model="LIF", decay=0.9, bias=rng.normal(size=5) / 10, reset="subtract")
    b.add_neurons("out", 2, model="CubaLIF", decay=0.8, i_decay=0.5, threshold=0.7, v_reset=-0.1)
    b.connect("pixels", "hidden", rng.normal(size=(4, 5)) * (rng.random((4, 5)) < 0.7), delay=2)
    b.connect("hidden", "out", rng.normal(size=(5, 2)), delay=rng.integers(1, 4, (5, 2)))
    b.set_input_spikes([0, 1, 1, 5], [0, 3, 2, 1])
    return b.build(outputs="out")


def _same(a, b):
    for f in ("src", "dst", "weight", "delay", "src_input", "decay", "i_decay", "threshold", "v_reset", "bias",
              "i_bias", "reset_subtract", "input_times", "input_ids"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert [(g.name, g.size, g.model) for g in a.groups] == [(g.name, g.size, g.model) for g in b.groups]


def test_npz_round_trip_is_lossless(tmp_path):
    net = sample()
    save_npz(net, tmp_path / "net.npz")
    back = load_network(tmp_path / "net.npz")
    _same(net, back)
    assert back.outputs.tolist() == net.outputs.tolist() and back.name == "sample"
    assert [g.name for g in back.input_groups] == ["pixels"]
    run_a, run_b = simulate_reference(net, 20), simulate_reference(back, 20)
    assert np.array_equal(run_a.times, run_b.times) and np.array_equal(run_a.ids, run_b.ids)


def test_csv_round_trip_keeps_weights_exactly(tmp_path):
    net = sample()
    written = save_csv(net, tmp_path / "net.csv")
    assert [p.name for p in written] == ["net.csv", "net.neurons.csv", "net.inputs.csv"]
    back = load_network(tmp_path / "net.csv")
    _same(net, back)


def test_minimal_npz_takes_defaults(tmp_path):
    np.savez(tmp_path / "m.npz", src=[0, 1], dst=[1, 2], weight=[1.0, 1.0])
    net = load_npz(tmp_path / "m.npz")
    assert net.n_neurons == 3 and net.n_inputs == 0 and net.delay.tolist() == [1, 1]
    assert net.threshold.tolist() == [1, 1, 1] and net.decay.tolist() == [1, 1, 1]
    assert net.groups[0].name == "neurons" and net.name == "m"


def test_edges_only_csv(tmp_path):
    (tmp_path / "e.csv").write_text("src,dst,weight,src_input\n0,0,0.5,1\n0,1,2,0\n")
    net = load_csv(tmp_path / "e.csv")
    assert net.n_neurons == 2 and net.n_inputs == 1 and net.src_input.tolist() == [True, False]


def test_error_names_file_array_rule_and_value(tmp_path):
    path = tmp_path / "net.npz"
    np.savez(path, src=[0, 1], dst=[5, 412], weight=[1.0, 1.0], threshold=np.ones(300))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: dst: ids must be < 300 neurons (got 412)")):
        load_npz(path)


@pytest.mark.parametrize("arrays, message", [
    (dict(src=[0], dst=[0]), "weight: missing (required arrays: src, dst, weight)"),
    (dict(src=[0], dst=[0], weight=[1.0], wieght=[1.0]), "wieght: unknown array; valid: src, dst"),
    (dict(src=[0], dst=[0], weight=[[1.0]]), "weight: must be a 1-d array"),
    (dict(src=[0], dst=[0], weight=["a"]), "weight: must be real numbers"),
    (dict(src=[0], dst=[0], weight=[1.0], delay=[0]), "delay: must be whole ticks in 1..65536 (edge 0) (got 0)"),
    (dict(src=[0], dst=[0], weight=[1.0], n_neurons=[2, 3]), "n_neurons: must be a single value"),
    (dict(src=[0], dst=[0], weight=[1.0], group_names=["a"]), "group_names: needs group_sizes beside it"),
    (dict(src=[0], dst=[0], weight=[1.0], group_names=["a"], group_sizes=[2]), "groups: group sizes must add up to the 1 neurons (got 2)"),
    (dict(src=[0], dst=[0], weight=[1.0], input_times=[0], input_ids=[0], n_inputs=0),
     "input_ids: ids must be < 0 inputs (got 0)"),
    (dict(src=[0], dst=[0], weight=[1.0], format="other-9"), "format: this reader knows"),
])
def test_npz_errors(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {message}")):
        load_npz(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_npz(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ConfigError, match="junk.npz: not a readable .npz file"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(ConfigError, match=r"unknown network file type '.txt'; valid: .npz, .csv"):
        load_network(tmp_path / "x.txt")
    with pytest.raises(ConfigError, match="unknown network file type"):
        save_network(sample(), tmp_path / "x.json")


@pytest.mark.parametrize("text, message", [
    ("", "empty file; needs a header line"),
    ("src,dst\n0,1\n", "line 1: weight: missing column (required: src, dst, weight)"),
    ("src,dst,weight,colour\n", "line 1: 'colour': unknown column; valid: src, dst, weight, delay, src_input"),
    ("src,dst,weight\n0,1,0.5\n0,x,0.5\n", "line 3: dst: must be an integer (got 'x')"),
    ("src,dst,weight\n0,1\n", "line 2: needs 3 values (the header's columns) (got 2)"),
    ("src,dst,weight,src_input\n0,1,1,maybe\n", "line 2: src_input: must be 0/1 or true/false (got 'maybe')"),
])
def test_csv_errors_name_line_and_column(tmp_path, text, message):
    path = tmp_path / "e.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {message}")):
        load_csv(path)


def test_csv_neuron_sidecar_rules(tmp_path):
    (tmp_path / "e.csv").write_text("src,dst,weight\n0,1,0.5\n")
    side = tmp_path / "e.neurons.csv"
    side.write_text("group,threshold\na,1\nb,1\na,1\n")
    with pytest.raises(ConfigError, match="line 4: group: the neurons of group 'a' must be in consecutive rows"):
        load_csv(tmp_path / "e.csv")
    side.write_text("group,model,threshold\na,LIF,1\na,IF,1\n")
    with pytest.raises(ConfigError, match="line 3: model: one model per group"):
        load_csv(tmp_path / "e.csv")
    side.write_text("group,model,decay\na,LIF,0.5\nb,IF,1\nb,IF,1\n")
    net = load_csv(tmp_path / "e.csv")
    assert [(g.name, g.size, g.model) for g in net.groups] == [("a", 1, "LIF"), ("b", 2, "IF")]
    side.write_text("threshold\n1\n")
    with pytest.raises(ConfigError, match=re.escape("dst: ids must be < 1 neurons (got 1)")):
        load_csv(tmp_path / "e.csv")


def test_spike_files(tmp_path):
    run = simulate_reference(sample(), 30)
    save_spikes(tmp_path / "s.npz", run, ticks=30)
    times, ids = load_spikes(tmp_path / "s.npz")
    assert np.array_equal(times, run.times) and np.array_equal(ids, run.ids)
    with np.load(tmp_path / "s.npz") as z:
        assert int(z["ticks"]) == 30
    np.savez(tmp_path / "bad.npz", times=[0, 1], ids=[0])
    with pytest.raises(ConfigError, match="bad.npz: ids: needs one id per time"):
        load_spikes(tmp_path / "bad.npz")
    np.savez(tmp_path / "bad2.npz", times=[0.5])
    with pytest.raises(ConfigError, match="bad2.npz: times: must be a 1-d integer array"):
        load_spikes(tmp_path / "bad2.npz")
    with pytest.raises(ConfigError, match="need equal 1-d lengths"):
        save_spikes(tmp_path / "x.npz", [0, 1], [0])
