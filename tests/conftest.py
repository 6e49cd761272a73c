"""Shared fixtures: small chips and workloads as plain data, written to temp files on demand."""
from __future__ import annotations

import copy

import pytest
import yaml

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
