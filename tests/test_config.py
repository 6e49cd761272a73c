"""Config loading: specs are frozen, and every broken rule names the file, the key path and the rule."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from neuroemu.config import load_chip, load_workload, shipped_chips, workload_chip
from neuroemu.config.loader import parse_yaml, read_yaml
from neuroemu.errors import ConfigError


def test_shipped_and_default_chips_load():
    assert "truenorth" in shipped_chips()
    tn = load_chip("truenorth")
    assert tn.cores == 4096 and tn.core.axons == 256 and tn.core.neurons == 256
    assert tn.topology.width == 64 and tn.topology.height == 64
    assert tn.energy.hop_pj.value == 2.3 and tn.energy.hop_pj.source
    default = load_chip(None)
    assert default.cores == 16


def test_specs_are_frozen():
    chip = load_chip(None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        chip.cores = 3


def test_workload_resolves_its_chip(tiny_files):
    chip_path, workload_path = tiny_files
    wl = load_workload(workload_path)
    assert workload_chip(wl, workload_path).name == "tiny"


def _error(write_yaml, name, data, loader=load_chip) -> str:
    path = write_yaml(name, data)
    with pytest.raises(ConfigError) as info:
        loader(path)
    message = str(info.value)
    assert path in message, message
    assert "\n" not in message
    return message


def test_malformed_yaml(write_yaml):
    message = _error(write_yaml, "bad.yaml", "name: x\ncores: [1, 2\n")
    assert "malformed YAML" in message and "line" in message


def test_unknown_key(write_yaml, small_chip):
    small_chip["core"]["axon_count"] = 3
    message = _error(write_yaml, "c.yaml", small_chip)
    assert "core.axon_count" in message and "unknown key" in message and "axons" in message


def test_wrong_type(write_yaml, small_chip):
    small_chip["cores"] = "four"
    message = _error(write_yaml, "c.yaml", small_chip)
    assert "cores" in message and "integer" in message and "'four'" in message


def test_negative_energy(write_yaml, small_chip):
    small_chip["energy"]["hop_pj"] = {"value": -2.3, "source": "x"}
    message = _error(write_yaml, "c.yaml", small_chip)
    assert "energy.hop_pj" in message and ">= 0" in message and "-2.3" in message


def test_missing_energy(write_yaml, small_chip):
    del small_chip["energy"]["synaptic_op_pj"]
    message = _error(write_yaml, "c.yaml", small_chip)
    assert "energy.synaptic_op_pj" in message and "required" in message


def test_nan_energy(write_yaml, small_chip):
    small_chip["energy"]["spike_pj"] = float("nan")
    message = _error(write_yaml, "c.yaml", small_chip)
    assert "energy.spike_pj" in message and "finite" in message


def test_mesh_must_hold_the_cores(write_yaml, small_chip):
    small_chip["topology"]["width"] = 3
    message = _error(write_yaml, "c.yaml", small_chip)
    assert "topology" in message and "must equal cores" in message


def test_bool_is_not_an_integer(write_yaml, small_chip):
    small_chip["cores"] = True
    assert "integer" in _error(write_yaml, "c.yaml", small_chip)


def test_workload_bad_delay_range(write_yaml, small_workload):
    small_workload["network"]["delay_ticks"] = [3, 1]
    message = _error(write_yaml, "w.yaml", small_workload, load_workload)
    assert "network.delay_ticks" in message and "lo <= hi" in message


def test_inputs_on_cores_of_a_generated_network_is_refused_not_ignored(write_yaml, small_workload):
    small_workload["network"]["inputs"] = "on_cores"
    message = _error(write_yaml, "w.yaml", small_workload, load_workload)
    kind = small_workload["network"]["kind"]
    assert message.endswith(f"w.yaml: network.inputs: on_cores places a network file's inputs on cores; a {kind} network's "
                       "inputs arrive as axon events: remove inputs (got 'on_cores')")


def test_python_object_tags_are_refused():
    with pytest.raises(ConfigError) as info:
        parse_yaml("a: !!python/object/apply:os.system ['echo hi']\n", "evil.yaml")
    assert "evil.yaml" in str(info.value)


def test_billion_laughs_is_refused():
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(ConfigError) as info:
        parse_yaml("\n".join(lines), "laughs.yaml")
    assert "aliases" in str(info.value) and "laughs.yaml" in str(info.value)


def test_non_utf8(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert "UTF-8" in str(info.value)


def test_missing_file():
    with pytest.raises(ConfigError) as info:
        load_chip("/nonexistent/chip.yaml")
    assert "no such file" in str(info.value)


def test_unknown_chip_or_workload_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match=r"^nochip: no such file, and no shipped chip of that name "
                                          r"\(shipped chips: .*loihi.*truenorth\)$"):
        load_chip("nochip")
    with pytest.raises(ConfigError, match=r"^nowl: no such file, and no shipped workload .*digits"):
        load_workload("nowl")
    for name in ("0" * 5000, "a\0b"):  # names no file can have: the same line, not an OSError
        with pytest.raises(ConfigError, match="no such file, and no shipped chip"):
            load_chip(name)
        with pytest.raises(ConfigError, match="no such file, and no shipped workload"):
            load_workload(name)


def test_recursive_alias_is_refused():
    with pytest.raises(ConfigError, match="rec.yaml.*itself"):
        parse_yaml("a: &a [1, *a]\n", "rec.yaml")


def test_deep_nesting_is_refused_cleanly():
    with pytest.raises(ConfigError, match="deep.yaml"):
        parse_yaml("[" * 5000 + "]" * 5000, "deep.yaml")


def test_absurd_latency_is_refused(write_yaml, small_chip):
    small_chip["latency"]["hop_ns"] = 9.2e15
    message = _error(write_yaml, "c.yaml", small_chip)
    assert "latency.hop_ns" in message and "<= 1e+09" in message


def test_absurd_class_energy_is_refused(write_yaml, small_chip):
    small_chip["energy"]["hop_class_pj"] = {"x": 1.0, "y": 1e20}
    message = _error(write_yaml, "c.yaml", small_chip)
    assert "energy.hop_class_pj" in message and "<= 1e+12" in message


# --- YAML as people write it: 1e-3 is a float (YAML 1.1 would read a string) -----------------------

def test_exponent_numbers_are_floats_and_the_rest_is_unchanged():
    data = parse_yaml("[1e-3, 1E-3, -2.5e+4, 1.5e3, +1e2, .5, -.5, 1.0, 12, 0x1F, 1_000, .inf, 1e, e3, 1.2.3, '1e-3', "
                      "1e-3x]", "n.yaml")
    assert data[:8] == [0.001, 0.001, -25000.0, 1500.0, 100.0, 0.5, -0.5, 1.0]
    assert all(type(v) is float for v in data[:8])
    assert data[8:11] == [12, 31, 1000] and all(type(v) is int for v in data[8:11])  # integers stay integers
    assert data[11] == float("inf")
    assert data[12:] == ["1e", "e3", "1.2.3", "1e-3", "1e-3x"]  # not numbers, or quoted: strings


def _with_numbers(data: dict, **texts: str) -> str:
    """YAML of ``data`` with each placeholder value replaced by the number as a person types it."""
    text = yaml.safe_dump(data, sort_keys=False)
    for placeholder, written in texts.items():
        assert placeholder in text
        text = text.replace(placeholder, written)
    return text


def test_a_chip_file_takes_exponent_numbers(write_yaml, small_chip):
    small_chip["timing"]["tick_s"] = "TICK"
    small_chip["energy"]["hop_pj"]["value"] = "HOP"
    small_chip["latency"]["hop_ns"] = "LATENCY"
    chip = load_chip(write_yaml("c.yaml", _with_numbers(small_chip, TICK="1e-3", HOP="2.3E0", LATENCY="2e+0")))
    assert chip.timing.tick_s == 0.001 and chip.energy.hop_pj.value == 2.3 and chip.latency.hop_ns.value == 2.0


def test_a_workload_file_takes_exponent_numbers(tiny_files, write_yaml, small_workload):
    small_workload["network"]["rate_hz"] = "RATE"
    small_workload["ticks"] = "TICKS"
    small_workload["inputs"][0]["rate_hz"] = "INPUT"
    wl = load_workload(write_yaml("w.yaml", _with_numbers(small_workload, RATE="5E+1", TICKS="6e1", INPUT="1e2")))
    assert wl.network.rate_hz == 50.0 and wl.ticks == 60 and type(wl.ticks) is int and wl.inputs[0].rate_hz == 100.0


def test_a_nir_workloads_dt_takes_an_exponent(write_yaml):
    wl = load_workload(write_yaml("n.yaml", "name: n\nnetwork: {kind: nir, file: g.nir, dt: 1e-6}\n"))
    assert wl.network.dt == 1e-6


def test_a_sweep_file_takes_exponent_numbers(write_yaml):
    from neuroemu.studies.sweepspec import load_sweep_spec
    path = write_yaml("s.yaml", "name: s\nbase: {chip: default, workload: default}\n"
                                "axes:\n  - key: chip.timing.tick_s\n    values: [1e-3, 2E-3, 5.0e-4]\n"
                                "  - key: workload.network.rate_hz\n    range: [1e0, -2.5e+4, 3]\n")
    spec = load_sweep_spec(path)
    assert spec.axes[0].values == (0.001, 0.002, 0.0005) and spec.axes[1].range == (1.0, -25000.0, 3)


# --- shipped files found through the one lookup; files a chip or workload names, relative to it ----

def test_shipped_chips_and_workloads_come_from_the_one_lookup():
    from neuroemu.config.loader import CHIPS_DIR, WORKLOADS_DIR, shipped_dir, shipped_workloads
    assert CHIPS_DIR == shipped_dir("chips") and WORKLOADS_DIR == shipped_dir("workloads")
    assert set(shipped_chips()) == {p.stem for p in CHIPS_DIR.glob("*.yaml")} and len(shipped_chips()) >= 6
    assert "digits" in shipped_workloads() and load_workload("digits").name == "digits"


def test_a_monkeypatched_chips_dir_is_what_shipped_chips_lists(monkeypatch, tmp_path, small_chip):
    import neuroemu.config.loader as loader
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(small_chip))
    monkeypatch.setattr(loader, "CHIPS_DIR", tmp_path)
    assert list(shipped_chips()) == ["mine"] and load_chip("mine").name == "tiny"


def test_files_a_chip_or_workload_names_resolve_beside_it_from_any_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no chips/ or workloads/ here
    spinnaker = load_chip("spinnaker")
    graph = spinnaker.topology.custom_path
    assert graph == str(shipped_chips()["spinnaker"].parent.resolve() / "spinnaker_hex_torus.graphml")
    digits = load_workload("digits")
    from neuroemu.config.loader import WORKLOADS_DIR
    here = WORKLOADS_DIR.resolve()
    assert digits.network.file == str(here / "digits.npz") and digits.classify.dataset == str(here / "digits_test.npz")
    assert workload_chip(digits, digits.source).name == "loihi"


def test_a_chip_in_another_folder_finds_its_graph_file_beside_it(monkeypatch, tmp_path, small_chip):
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "ring.csv").write_text("0,1\n1,2\n2,3\n3,0\n")
    small_chip["topology"] = {"kind": "custom", "custom_path": "ring.csv"}
    (folder / "ring.yaml").write_text(yaml.safe_dump(small_chip))
    monkeypatch.chdir(tmp_path)
    chip = load_chip("lab/ring.yaml")
    assert chip.topology.custom_path == str(folder / "ring.csv")
    from neuroemu.hardware.chip import build_chip_topology
    assert build_chip_topology(chip).n_cores == 4
