"""Workload generators: exact structure, seeded, and every fit rule names file and key."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from neuroemu.config import chip_from_data, load_workload, workload_from_data
from neuroemu.errors import CapacityError, ConfigError
from neuroemu.networks.workloads import PoissonInput, build_network, rate_to_leak


def _build(small_chip, small_workload, seed=3):
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    return chip, wl, build_network(chip, wl, seed, "w.yaml")


def test_every_row_has_exactly_the_asked_synapses(small_chip, small_workload):
    chip, wl, net = _build(small_chip, small_workload)
    a = net.arrays
    assert np.all(np.diff(a.row_ptr) == wl.network.synapses_per_axon)
    core0 = a.core(0).crossbar()
    assert core0.sum(axis=1).tolist() == [8] * 32


def test_targets_are_a_permutation_of_axons(small_chip, small_workload):
    _, _, net = _build(small_chip, small_workload)
    t = net.arrays.target_axon
    assert sorted(t.tolist()) == list(range(4 * 32))


def test_axon_types_are_balanced(small_chip, small_workload):
    _, _, net = _build(small_chip, small_workload)
    types = net.arrays.axon_type.reshape(4, 32)
    for row in types:
        assert np.bincount(row, minlength=4).tolist() == [8, 8, 8, 8]


def test_same_seed_same_network_other_seed_other(small_chip, small_workload):
    _, _, a = _build(small_chip, small_workload, 3)
    _, _, b = _build(small_chip, small_workload, 3)
    _, _, c = _build(small_chip, small_workload, 4)
    assert np.array_equal(a.arrays.row_neurons, b.arrays.row_neurons)
    assert np.array_equal(a.arrays.target_axon, b.arrays.target_axon)
    assert not np.array_equal(a.arrays.row_neurons, c.arrays.row_neurons)


@pytest.mark.parametrize("rate_hz", [0.5, 11.58, 20.0, 20.07, 95.93, 400.0])
def test_rate_to_leak_is_close(rate_hz):
    p = rate_hz * 1e-3
    leak, threshold = rate_to_leak(p, True, None, "w")
    assert 1 <= leak <= 255 and threshold >= 1
    assert abs(float(Fraction(leak, 256 * threshold)) - p) / p < 1e-3


def test_rate_of_one_spike_per_tick_is_refused():
    with pytest.raises(ConfigError, match="at most once per tick"):
        rate_to_leak(1.0, True, None, "w: network")


def test_more_neurons_than_a_core_holds(small_chip, small_workload):
    small_workload["network"]["neurons_per_core"] = 33
    with pytest.raises(CapacityError) as info:
        _build(small_chip, small_workload)
    assert "w.yaml: network.neurons_per_core" in str(info.value) and "(32)" in str(info.value)


def test_delay_outside_chip_range(small_chip, small_workload):
    small_workload["network"]["delay_ticks"] = [1, 16]
    with pytest.raises(ConfigError) as info:
        _build(small_chip, small_workload)
    assert "network.delay_ticks" in str(info.value) and "1..15" in str(info.value)


def test_weight_must_fit_bits(small_chip, small_workload):
    small_workload["network"]["weights"] = [1, 1, -1, 300]
    with pytest.raises(ConfigError, match=r"network.weights\[3\].*9-bit"):
        _build(small_chip, small_workload)


def test_poisson_input_rate(small_chip, small_workload):
    chip, wl, net = _build(small_chip, small_workload)
    stream = PoissonInput(wl.inputs[0], 0, chip, net, 3, "w")
    ticks, axons = stream.events(0, 2048)
    expected = (1 - np.exp(-0.1)) * 2048 * len(stream.axons)
    assert abs(len(ticks) - expected) < 5 * np.sqrt(expected)
    assert set(np.unique(axons // 32)) <= {0, 1, 2, 3}
    # chunked generation gives the same events as one call
    t2, a2 = zip(*(stream.events(lo, lo + 64) for lo in range(0, 2048, 64)))
    assert np.array_equal(np.concatenate(t2), ticks) and np.array_equal(np.concatenate(a2), axons)


def test_shipped_workload_loads():
    wl = load_workload("workloads/truenorth_typical.yaml")
    assert wl.network.synapses_per_axon == 128 and wl.chip == "truenorth"
