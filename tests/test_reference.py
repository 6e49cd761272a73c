"""The fast window loop and the SimPy reference give the same spikes, counts and energy."""
from __future__ import annotations

import numpy as np

from neuroemu import simulate
from neuroemu.config import chip_from_data, workload_from_data
from neuroemu.engine.reference import simulate_reference


def test_fast_loop_matches_simpy_reference_on_a_2x2_mesh(small_chip, small_workload):
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    fast = simulate(chip, wl, record_spikes=True)
    ref = simulate_reference(chip, wl)
    assert fast.spikes > 50  # a run with real activity, inputs and recurrence
    assert np.array_equal(fast.spike_trains.ticks, ref.spike_trains.ticks)
    assert np.array_equal(fast.spike_trains.neurons, ref.spike_trains.neurons)
    assert fast.counts == ref.counts
    assert fast.hops_by_class == ref.hops_by_class
    assert fast.energy_breakdown_j == ref.energy_breakdown_j
    assert fast.comparable() == ref.comparable()


def test_reference_matches_with_long_delays_and_zero_reset(small_chip, small_workload):
    # 3 of 32 synapses per row: sparse enough for the CSR kernel instead of the dense one
    small_workload["network"].update({"delay_ticks": [5, 15], "reset": "zero", "stochastic": False,
                                      "rate_hz": 30.0, "synapses_per_axon": 3})
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    fast = simulate(chip, wl, record_spikes=True, ticks=80)
    ref = simulate_reference(chip, wl, ticks=80)
    assert fast.comparable() == ref.comparable()


def _device_run(workload: str, device_changes: dict, ticks: int, learning: bool):
    """The fast loop and the reference on a 2-core cut of a shipped NVM workload, with the chip's
    device section changed as given."""
    import dataclasses

    import yaml

    from neuroemu.config import load_chip
    from neuroemu.config.loader import REPO_ROOT
    from neuroemu.config.schema import SynapseDeviceSpec
    from neuroemu.hardware.learning import learning_rule
    data = yaml.safe_load((REPO_ROOT / "workloads" / f"{workload}.yaml").read_text())
    data["network"]["cores"] = 2
    wl = workload_from_data(data, "w.yaml")
    chip = load_chip(data["chip"])
    dev = dataclasses.replace(chip.synapse_device or SynapseDeviceSpec(), **device_changes)
    chip = dataclasses.replace(chip, synapse_device=dev)
    fast = simulate(chip, wl, ticks=ticks, record_spikes=True)
    rule = learning_rule(wl.learning.rule, wl.learning.params()) if learning else None
    return fast, simulate_reference(chip, wl, ticks=ticks, learning=rule)


def test_reference_matches_on_a_device_chip_with_read_noise_and_an_adc():
    """Programming noise, read noise keyed by cell and read count, the column ADC and its counters."""
    from neuroemu.config.schema import Sourced
    fast, ref = _device_run("rram_small", dict(programming_noise=Sourced(0.05), read_noise=Sourced(0.05),
                                               on_off_ratio=Sourced(10.0), adc_bits=9), 30, False)
    assert fast.spikes > 50 and fast.counts["adc_conversion"] > 0 and fast.counts["dac_drive"] > 0
    assert fast.workload_report["synapse_device"]["weights_changed"] > 0
    assert fast.comparable() == ref.comparable()


def test_reference_matches_a_learning_device_chip_with_nonlinear_steps_and_wear():
    """pcm_htree's non-linear steps, read noise, and an endurance of 3 writes that sticks cells."""
    from neuroemu.config.schema import Sourced
    fast, ref = _device_run("pcm_small", dict(endurance_writes=Sourced(3.0), read_noise=Sourced(0.03)), 30, True)
    rep = fast.workload_report["synapse_device"]
    assert rep["fraction_past_endurance"] > 0 and fast.counts["potentiation"] > 0
    assert fast.comparable() == ref.comparable()
