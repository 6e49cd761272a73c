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
