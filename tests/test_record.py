"""The record's two times: chip time (sim_time_s) and model time (model_time_s), and what is per which."""
from __future__ import annotations

from neuroemu import simulate
from neuroemu.engine.record import summary_table


def test_barrier_rates_per_model_second_power_per_chip_second():
    r = simulate("loihi", "workloads/loihi_small.yaml", ticks=20)
    assert r.timing == "barrier"
    assert r.model_time_s == 20 * 1e-3
    assert r.sim_time_s < r.model_time_s  # Loihi's timesteps are far shorter than the 1 ms they stand for
    assert r.spikes > 0
    assert r.mean_rate_hz == r.spikes / r.neurons / r.model_time_s
    assert r.power_w == r.energy_j / r.sim_time_s
    text = summary_table(r)
    assert "model time / chip time" in text and "mean rate per model s" in text
    assert "power (energy / chip time)" in text


def test_sync_times_agree():
    r = simulate(None, None, ticks=10)
    assert r.timing == "sync" and r.model_time_s == r.sim_time_s == 10 * 1e-3
