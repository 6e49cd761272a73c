"""Config loading: specs are frozen, and every broken rule names the file, the key path and the rule."""
from __future__ import annotations

import dataclasses

import pytest

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
