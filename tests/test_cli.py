"""The CLI: summaries, JSON records, listings, validation; bad input is one line and exit 1."""
from __future__ import annotations

import json

from click.testing import CliRunner

from neuroemu.cli.app import main


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_run_default_prints_a_summary():
    r = invoke("run", "--ticks", "20")
    assert r.exit_code == 0, r.output
    assert "all-in pJ/SOP" in r.output and "synaptic pJ/SOP" in r.output and "default" in r.output


def test_run_json_to_stdout(tiny_files):
    chip, workload = tiny_files
    r = invoke("run", chip, workload, "--ticks", "10", "--seed", "4", "--json", "-", "--queue", "python")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["queue_backend"] == "python" and d["seed"] == 4 and d["ticks"] == 10 and d["chip"] == "tiny"


def test_run_workload_alone_uses_its_chip(tiny_files, tmp_path):
    _, workload = tiny_files
    out = tmp_path / "r.json"
    r = invoke("run", workload, "--ticks", "5", "--json", str(out))
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["chip"] == "tiny"


def test_chips_lists_truenorth():
    r = invoke("chips")
    assert r.exit_code == 0
    assert "truenorth" in r.output and "64 x 64" in r.output


def test_validate_good_and_shipped(tiny_files):
    chip, workload = tiny_files
    r = invoke("validate", chip, workload, "chips/truenorth.yaml", "workloads/truenorth_typical.yaml",
               "--require-sources")
    assert r.exit_code == 0, r.output
    assert r.output.count("ok") == 4


def test_validate_requires_sources_when_asked(write_yaml, small_chip):
    small_chip["energy"]["spike_pj"] = 3.0
    path = write_yaml("nosrc.yaml", small_chip)
    assert invoke("validate", path).exit_code == 0
    r = invoke("validate", path, "--require-sources")
    assert r.exit_code == 1 and "energy.spike_pj: --require-sources: every constant needs a source" in r.output


def _bad(r, *words):
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in r.output, (w, r.output)


def test_bad_inputs_exit_1_with_one_message(write_yaml, small_chip, small_workload):
    _bad(invoke("run", write_yaml("m.yaml", "cores: [\n")), "m.yaml", "malformed YAML")
    chip = dict(small_chip, color="red")
    _bad(invoke("run", write_yaml("u.yaml", chip), "--ticks", "2"), "u.yaml", "color", "unknown key")
    small_workload["chip"] = "no_such_chip"
    path = write_yaml("w.yaml", small_workload)
    _bad(invoke("run", path), "w.yaml", "chip", "no_such_chip")
    _bad(invoke("validate", path), "no_such_chip")


def test_bad_fit_exits_1(tiny_files, write_yaml, small_workload):
    small_workload["network"]["neurons_per_core"] = 999
    path = write_yaml("big.yaml", small_workload)
    chip, _ = tiny_files
    _bad(invoke("run", chip, path), "big.yaml", "network.neurons_per_core", "999")
    small_workload["network"]["neurons_per_core"] = 8
    small_workload["network"]["delay_ticks"] = [1, 20]
    _bad(invoke("run", chip, write_yaml("d.yaml", small_workload)), "d.yaml", "network.delay_ticks", "1..15")


def test_bad_queue_name_from_the_environment(monkeypatch):
    monkeypatch.setenv("NEUROEMU_QUEUE", "fortran")
    _bad(invoke("run", "--ticks", "2"), "NEUROEMU_QUEUE", "fortran", "python")


def test_run_timing_override_reports_timesteps():
    r = invoke("run", "--ticks", "5", "--timing", "barrier")
    assert r.exit_code == 0, r.output
    assert "barrier" in r.output and "timestep mean" in r.output and "speed vs real time" in r.output


def test_run_unknown_timing_is_refused():
    r = invoke("run", "--ticks", "5", "--timing", "warp")
    assert r.exit_code == 2 and "warp" in r.output


def test_run_out_dir_writes_record_and_spikes(tiny_files, tmp_path):
    chip, workload = tiny_files
    out = tmp_path / "run1"
    r = invoke("run", chip, workload, "--ticks", "10", "--spikes", "--out", str(out))
    assert r.exit_code == 0, r.output
    record = json.loads((out / "record.json").read_text())
    assert record["ticks"] == 10 and (out / "spikes.npz").stat().st_size > 0


def test_a_shipped_chip_without_a_source_fails_validate(monkeypatch, tmp_path, small_chip):
    import yaml

    import neuroemu.cli.app as cli_mod
    monkeypatch.setattr(cli_mod, "CHIPS_DIR", tmp_path)
    small_chip["energy"]["hop_pj"] = 2.3  # no source
    path = tmp_path / "mychip.yaml"
    path.write_text(yaml.safe_dump(small_chip))
    r = invoke("validate", str(path))
    assert r.exit_code == 1 and "energy.hop_pj" in r.output and "source" in r.output
