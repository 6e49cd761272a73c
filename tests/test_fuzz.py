"""Fuzzed chip and workload files: every case ends in a result or one NeuroEmuError line.

Cases start from the valid tiny chip and workload and mutate them: a value replaced by junk
(wrong types, huge and negative numbers, NaN and inf, deep nesting, long strings), a key added or
removed, or the YAML text itself broken (non-UTF-8 bytes, exponential anchors, Python tags).
Valid small results are also run for a few ticks. 200 cases per target here, 2,000 in the slow
suite (`make test-slow`).
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuroemu import simulate
from neuroemu.config.loader import chip_from_data, load_chip, parse_yaml, workload_from_data
from neuroemu.errors import NeuroEmuError
from neuroemu.networks.workloads import plan_network

from conftest import SMALL_CHIP, SMALL_WORKLOAD

JUNK = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([0, -1, 1, 2 ** 31, 2 ** 62, 2 ** 63, -(2 ** 63), 10 ** 9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.text(min_size=1000, max_size=2000),
    st.lists(st.integers(-5, 5), max_size=5),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=2), max_leaves=40),
)


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw, base):
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(JUNK)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(JUNK)
    return data


RAW_BREAKS = st.sampled_from([
    b"\xff\xfe\x00bad", b"a: !!python/object/apply:os.system ['true']\n", b"a: [1, 2\n", b"{{{{",
    b"a: &x [*x]\n", b"- - - - -\n" * 50, b"\t\tname: x\n", b"name: x\nname: y\n",
    b"\n".join(b"l%d: &l%d [%s]" % (i, i, b", ".join([b"*l%d" % (i - 1)] * 9) if i else b"1") for i in range(10)),
    b"[" * 3000,
])


def _check(load, data_or_text, name):
    try:
        if isinstance(data_or_text, (bytes, str)):
            data = parse_yaml(data_or_text, name)
        else:
            # through real YAML text, as a user's file would be
            try:
                text = yaml.safe_dump(data_or_text, allow_unicode=True)
            except (yaml.YAMLError, RecursionError):
                return None
            data = parse_yaml(text, name)
        return load(data, name)
    except NeuroEmuError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        assert name in message, message
        return None


def _maybe_run(chip, workload):
    """Run small valid cases for a few ticks: they must end in a record or a NeuroEmuError."""
    try:
        plan_network(chip, workload, "w.yaml")
        if chip.cores * chip.core.neurons > 20_000 or chip.cores > 64:
            return
        r = simulate(chip, workload, ticks=min(workload.ticks, 5))
        assert r.energy_j >= 0 and math.isfinite(r.energy_j)
    except NeuroEmuError as exc:
        assert "\n" not in str(exc)


FAST = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
TINY_CHIP = chip_from_data(SMALL_CHIP, "tiny.yaml")


def _fuzz_chip(data):
    chip = _check(chip_from_data, data, "fuzz_chip.yaml")
    if chip is not None:
        _maybe_run(chip, workload_from_data(dict(SMALL_WORKLOAD, chip=None), "w.yaml"))


def _fuzz_workload(data):
    wl = _check(workload_from_data, data, "fuzz_workload.yaml")
    if wl is not None:
        _maybe_run(TINY_CHIP, wl)


@FAST
@given(mutated(SMALL_CHIP))
def test_fuzzed_chip_files(data):
    _fuzz_chip(data)


@FAST
@given(mutated(SMALL_WORKLOAD))
def test_fuzzed_workload_files(data):
    _fuzz_workload(data)


@FAST
@given(RAW_BREAKS, st.binary(max_size=64))
def test_broken_yaml_text(raw, noise):
    _check(chip_from_data, raw + noise, "raw.yaml")


@pytest.mark.slow
@SLOW
@given(mutated(SMALL_CHIP))
def test_fuzzed_chip_files_long(data):
    _fuzz_chip(data)


@pytest.mark.slow
@SLOW
@given(mutated(SMALL_WORKLOAD))
def test_fuzzed_workload_files_long(data):
    _fuzz_workload(data)


# --- sweep files: loading, expanding and checking every point, never running -------------------

SMALL_SWEEP = {
    "name": "fuzz_sweep",
    "base": {"chip": SMALL_CHIP, "workload": dict(SMALL_WORKLOAD, chip=None, ticks=5)},
    "axes": [{"key": "workload.network.rate_hz", "values": [20.0, 60.0]},
             {"key": "chip.energy.hop_pj", "range": [1.0, 3.0, 2]}],
    "mode": "grid", "repetitions": 1, "seed": 3,
}


def _fuzz_sweep(data):
    import importlib
    sweep_mod = importlib.import_module("neuroemu.studies.sweep")
    from neuroemu.studies.sweepspec import load_sweep_spec
    try:
        spec = load_sweep_spec(data)
        points = sweep_mod.plan(spec)
        assert points is not None
    except NeuroEmuError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)


@FAST
@given(mutated(SMALL_SWEEP))
def test_fuzzed_sweep_files(data):
    _fuzz_sweep(data)


@pytest.mark.slow
@SLOW
@given(mutated(SMALL_SWEEP))
def test_fuzzed_sweep_files_long(data):
    _fuzz_sweep(data)


WORKLOADS = Path(__file__).resolve().parent.parent / "workloads"
#: the digit classifier with absolute paths, cut to 3 samples: a file workload to mutate
FILE_WORKLOAD = {
    "name": "digits", "chip": "rram_htree", "seed": 3,
    "network": {"kind": "edgelist", "file": str(WORKLOADS / "digits.npz"), "neuron_reset": "zero",
                "mapping": "locality", "axon_copies": 2},
    "classify": {"dataset": str(WORKLOADS / "digits_test.npz"), "present_ticks": 8, "settle_ticks": 2,
                 "samples": 3, "output_group": "out"},
}
RRAM = None


def _fuzz_file_workload(data):
    global RRAM
    wl = _check(workload_from_data, data, "fuzz_file_workload.yaml")
    if wl is None:
        return
    RRAM = RRAM or load_chip("rram_htree")
    try:
        r = simulate(RRAM, wl, ticks=40)
        assert r.energy_j >= 0 and math.isfinite(r.energy_j)
    except NeuroEmuError as exc:
        assert "\n" not in str(exc) and str(exc)


@FAST
@given(mutated(FILE_WORKLOAD))
def test_fuzzed_file_workloads(data):
    _fuzz_file_workload(data)


@pytest.mark.slow
@SLOW
@given(mutated(FILE_WORKLOAD))
def test_fuzzed_file_workloads_long(data):
    _fuzz_file_workload(data)
