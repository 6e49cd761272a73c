"""Shared fixtures: small chips and workloads as plain data, written to temp files on demand."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

WORKLOADS = Path(__file__).resolve().parents[1] / "workloads"

SMALL_CHIP = {
    "name": "tiny",
    "description": "2 x 2 mesh of small TrueNorth-style cores",
    "cores": 4,
    "core": {"axons": 32, "neurons": 32, "axon_types": 4, "membrane_bits": 20, "weight_bits": 9,
             "max_delay_ticks": 15},
    "topology": {"kind": "mesh", "width": 2, "height": 2, "pitch_mm": 0.24},
    "timing": {"mode": "sync", "tick_s": 1.0e-3},
    "energy": {
        "synaptic_op_pj": {"value": 1.5, "source": "test"},
        "neuron_update_pj": {"value": 0.25, "source": "test"},
        "neuron_update_active_pj": {"value": 0.5, "source": "test"},
        "spike_pj": {"value": 3.0, "source": "test"},
        "hop_pj": {"value": 2.3, "source": "test"},
        "static_mw": {"value": 1.0, "source": "test"},
    },
    "latency": {"hop_ns": {"value": 2.0, "source": "test"}},
}

SMALL_WORKLOAD = {
    "name": "tiny_recurrent",
    "chip": "tiny.yaml",
    "ticks": 60,
    "seed": 3,
    "network": {"kind": "random_recurrent", "synapses_per_axon": 8, "rate_hz": 50.0,
                "stochastic": True, "weights": [2, 1, -1, -2], "delay_ticks": [1, 4]},
    "inputs": [{"kind": "poisson", "rate_hz": 100.0, "axons_per_core": 4}],
}


def changed(data: dict, **changes) -> dict:
    """``data`` with nested keys set in place: ``core__axons=8`` sets data["core"]["axons"] (missing
    levels are made); returns ``data``."""
    for key, value in changes.items():
        node = data
        *path, last = key.split("__")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return data


@pytest.fixture
def small_chip() -> dict:
    """A fresh copy of the tiny chip's data."""
    return copy.deepcopy(SMALL_CHIP)


@pytest.fixture
def small_workload() -> dict:
    """A fresh copy of the tiny workload's data (names tiny.yaml as its chip)."""
    return copy.deepcopy(SMALL_WORKLOAD)


@pytest.fixture
def write_yaml(tmp_path):
    """write_yaml(name, data) -> path of a YAML file in a temp dir."""
    def write(name: str, data) -> str:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return str(path)
    return write


@pytest.fixture
def tiny_files(write_yaml, small_chip, small_workload):
    """(chip path, workload path) of the tiny chip and workload, side by side."""
    return write_yaml("tiny.yaml", small_chip), write_yaml("tiny_workload.yaml", small_workload)


@pytest.fixture
def digits_files(write_yaml, small_chip, tmp_path):
    """(8-core chip, 2-chip system of it, the digits classifier on 6 samples with 3-tick hidden-to-output
    delays, spread over every core): for the split runs of a presentation (tests/test_ranks.py,
    tests/test_asyncranks.py); a sample's end (34 ticks) falls inside the tick split's window of 3."""
    chip = dict(small_chip, name="tiny8", cores=8, core=dict(small_chip["core"], axons=256, neurons=32),
                topology=dict(small_chip["topology"], width=4, height=2))
    chip_path = write_yaml("tiny8.yaml", chip)
    link = {"hop_pj": 40.0, "hop_ns": 25.0, "bandwidth_pkts_per_ns": 0.5}
    system = write_yaml("sys8.yaml", {"name": "sys8", "system": {"chip": "tiny8.yaml", "grid": [2, 1], "link": link}})
    net = dict(np.load(WORKLOADS / "digits.npz"))
    net["delay"] = np.where(net["src_input"].astype(bool), 1, 3).astype(np.int64)
    np.savez(tmp_path / "digits3.npz", **net)
    workload = write_yaml("digits3.yaml", {
        "name": "digits3", "chip": "tiny8.yaml", "seed": 2024,
        "network": {"kind": "edgelist", "file": "digits3.npz", "neuron_reset": "zero", "mapping": "spread",
                    "axon_copies": 1},
        "classify": {"dataset": str(WORKLOADS / "digits_test.npz"), "present_ticks": 32, "settle_ticks": 2,
                     "samples": 6}})
    return chip_path, system, workload
