"""Each tick semantics shows its defining behaviour on a tiny chip."""
from __future__ import annotations

import copy

import pytest

from neuroemu import simulate
from neuroemu.config import chip_from_data, workload_from_data
from neuroemu.engine.energy import CLOCKING_COUNTERS


def _run(chip_data, workload_data, **kw):
    return simulate(chip_from_data(chip_data, "tiny.yaml"), workload_from_data(workload_data, "w.yaml"),
                    record_spikes=True, **kw)


def test_gals_with_fast_links_equals_sync(small_chip, small_workload):
    sync = _run(small_chip, small_workload)
    small_chip["timing"]["mode"] = "gals"
    gals = _run(small_chip, small_workload)
    assert gals.timing_report["timing_violations"] == 0
    events = lambda r: {k: v for k, v in r.counts.items() if k not in CLOCKING_COUNTERS}  # noqa: E731
    assert gals.spikes == sync.spikes and events(gals) == events(sync)  # the same events, clocked differently
    assert (gals.spike_trains.neurons == sync.spike_trains.neurons).all()


@pytest.mark.parametrize("policy", ["drop", "late"])
def test_gals_slow_link_misses_deadlines(small_chip, small_workload, policy):
    small_workload["inputs"] = []
    small_workload["network"]["delay_ticks"] = [1, 1]
    small_chip["timing"].update({"mode": "gals", "late_spikes": policy})
    small_chip["latency"]["hop_ns"] = 1.5e6  # one hop takes 1.5 ticks: every routed spike is late
    r = _run(small_chip, small_workload)
    fast = copy.deepcopy(small_chip)
    fast["latency"]["hop_ns"] = 2.0
    on_time = _run(fast, small_workload)
    assert r.timing_report["timing_violations"] > 0
    assert on_time.timing_report["timing_violations"] == 0
    # spikes between cores (>= 1 hop) are late; spikes to the own core (0 hops) are not
    if policy == "drop":
        assert r.synaptic_events < on_time.synaptic_events
    else:
        assert r.timing_report["timing_violations"] <= r.axon_events


def _barrier_chip(small_chip):
    small_chip["timing"].update({"mode": "barrier", "barrier_ns": 100.0, "barrier_per_router_ns": 10.0})
    small_chip["latency"].update({"synaptic_op_ns": 3.5, "neuron_update_ns": 5.3,
                                  "neuron_update_active_ns": 8.4, "spike_ns": 2.1})
    return small_chip


def test_barrier_timestep_grows_with_activity(small_chip, small_workload):
    chip = _barrier_chip(small_chip)
    small_workload["inputs"] = []
    quiet = copy.deepcopy(small_workload)
    quiet["network"]["rate_hz"] = 5.0
    busy = copy.deepcopy(small_workload)
    busy["network"]["rate_hz"] = 200.0
    rq, rb = _run(chip, quiet), _run(chip, busy)
    assert rb.synaptic_events > rq.synaptic_events
    assert rb.timing_report["timestep_mean_s"] > rq.timing_report["timestep_mean_s"]
    assert rb.sim_time_s == pytest.approx(rb.timing_report["timestep_mean_s"] * rb.ticks)
    # chip time is the sum of timesteps, and static energy follows it
    assert rb.energy_breakdown_j["static"] == pytest.approx(1e-3 * rb.sim_time_s)
    assert rb.timing_report["realtime_factor"] == pytest.approx(rb.ticks * 1e-3 / rb.sim_time_s)


def test_barrier_idle_timestep_is_work_plus_barrier(small_chip, small_workload):
    chip = _barrier_chip(small_chip)
    small_workload["inputs"] = []
    small_workload["network"]["rate_hz"] = 0.0
    small_workload["network"]["stochastic"] = False
    r = _run(chip, small_workload, ticks=10)
    assert r.spikes == 0
    # 32 inactive neurons per core x 5.3 ns, plus 100 ns + 3 extra routers x 10 ns
    expected = (32 * 5.3 + 100.0 + 3 * 10.0) * 1e-9
    assert r.timing_report["timestep_min_s"] == pytest.approx(expected)
    assert r.timing_report["timestep_max_s"] == pytest.approx(expected)


def test_sync_reports_latency_percentiles(small_chip, small_workload):
    r = _run(small_chip, small_workload)
    rep = r.timing_report
    assert rep["timing_violations"] == 0
    # a 2 x 2 mesh at 2 ns per hop: 0, 1 or 2 hops
    assert rep["latency_p50_s"] in (0.0, 2e-9, 4e-9) and rep["latency_max_s"] <= 4e-9
    assert rep["latency_p50_s"] <= rep["latency_p99_s"] <= rep["latency_max_s"]


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_barrier_active_timestep_is_its_counted_work(small_chip, small_workload, backend):
    """Every timestep of an active barrier run, recomputed from the work delivered to each core:
    max over cores of (SOPs x 3.5 ns + inactive x 5.3 ns + active x 8.4 ns + spikes x 2.1 ns),
    or the last spike's arrival if later, plus the barrier (100 ns + 3 extra routers x 10 ns)."""
    import numpy as np

    from neuroemu.engine.options import RunOptions
    from neuroemu.engine.run import TickLoop
    from neuroemu.hardware.cores import gather_synapses

    chip = chip_from_data(_barrier_chip(small_chip), "tiny.yaml")
    loop = TickLoop(chip, workload_from_data(small_workload, "w.yaml"),
                    RunOptions(ticks=40, seed=3, record_spikes=True, tick_backend=backend))
    delivered = {}
    deliver = loop.deliver

    def spy(t, now, start):
        due = deliver(t, now, start)
        delivered[t] = due.copy()
        return due

    loop.deliver = spy
    record = loop.run(None)
    a, enabled = loop.arrays, loop.network.enabled
    N, A, cores = a.neurons_per_core, a.axons_per_core, a.n_cores
    trains = record.spike_trains
    busy_ticks = 0
    for t in range(40):
        axons = np.unique(delivered[t])
        sops = np.bincount(axons // A, weights=np.diff(a.row_ptr)[axons], minlength=cores)
        fired = np.asarray(trains.neurons)[np.asarray(trains.ticks) == t]
        hit = np.zeros(a.n_neurons, bool)
        hit[gather_synapses(a, axons)[0]] = True
        hit[fired] = True
        active = (hit & enabled).reshape(cores, N).sum(axis=1)
        spikes = np.bincount(fired // N, minlength=cores)
        work = np.rint(sops * 3500 + (enabled.reshape(cores, N).sum(axis=1) - active) * 5300
                       + active * 8400 + spikes * 2100).astype(np.int64)
        sent = fired[loop.route_axon[fired] >= 0]
        arrival = np.maximum(work[sent // N] + loop.router.neuron_latency(sent), 1)
        expected = max(int(work.max()), int(arrival.max(initial=0))) + (100 + 3 * 10) * 1000
        assert loop.tick_starts[t + 1] - loop.tick_starts[t] == expected, t
        busy_ticks += bool(sops.any() and len(fired))
    assert busy_ticks > 10  # the run is active: most timesteps integrate and fire
