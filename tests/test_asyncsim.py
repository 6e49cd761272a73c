"""The async engine (neuroemu.engine.asyncsim): exact LIF, lookahead windows, the diffuser, Neurogrid's benchmark."""
from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest

from neuroemu.hardware.asynckernel import ASYNC_BACKENDS, KIND_ARRIVAL, weight_bits
from neuroemu.engine.asyncsim import (ASYNC_NEURON_MODELS, build_engine, check_async, diffuser_rows, neurogrid_params,
                               run_async)
from neuroemu.config.loader import chip_from_data, load_chip, load_workload, workload_from_data
from neuroemu.errors import ConfigError, RunawayError
from neuroemu.engine.options import RunOptions
from conftest import changed

MS = 10**9  # ps

ASYNC_CHIP = {
    "name": "async_tiny", "cores": 4,
    "core": {"axons": 1, "neurons": 256, "neuron_model": "neurogrid_lif"},
    "topology": {"kind": "tree", "radix": 4},
    "timing": {"mode": "async", "tick_s": 1.0e-3},
    "energy": {"synaptic_op_pj": 1.0, "neuron_update_pj": 0.5, "spike_pj": 2.0, "hop_pj": 3.0, "static_mw": 1.0},
    "latency": {"hop_ns": 40.0, "spike_ns": 1000.0},
}

NET = {"kind": "neurogrid_diffuser",
       "neuron": {"tau_ms": 10.0, "bias": 1.1, "bias_spread": 0.3, "weight": -0.01, "diffuser_radius": 3.0,
                  "targets": 2, "refractory_ms": 1.0}}


def chip(**changes):
    data = copy.deepcopy(ASYNC_CHIP)
    changed(data, **changes)
    return chip_from_data(data, "async_tiny.yaml")


def workload(ticks=50, seed=3, **neuron):
    net = copy.deepcopy(NET)
    net["neuron"].update(neuron)
    return workload_from_data({"name": "async_wl", "ticks": ticks, "seed": seed, "network": net}, "async_wl.yaml")


def one_neuron(**neuron):
    """A chip of one neuron (its spikes diffuse onto itself with weight 0 by default)."""
    c = chip(cores=1, core__neurons=1, topology={"kind": "mesh", "width": 1, "height": 1})
    params = {"tau_ms": 10.0, "threshold": 1.0, "reset": 0.0, "refractory_ms": 2.0, "weight": 0.0,
              "diffuser_radius": 0.0, "init_mean_field": 0.0}
    params.update(neuron)
    w = workload_from_data({"name": "one", "network": {"kind": "neurogrid_diffuser", "neuron": params}}, "one.yaml")
    return c, w


def relax(v0, bias, dt_ms, tau_ms=10.0):
    return bias + (v0 - bias) * math.exp(-dt_ms / tau_ms)


# --- exact neuron -----------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_exact_decay_with_inputs_below_threshold(backend):
    c, w = one_neuron(bias=0.5)
    eng = build_engine(c, w, 1, backend=backend, record_spikes=True)
    eng.inject([1 * MS, 3 * MS, 4 * MS, 10 * MS], [0, 0, 0, 0], [0.6, 0.7, 5.0, -0.3])
    v1 = relax(0.0, 0.5, 1.0) + 0.6
    eng.run(int(2.5 * MS))
    assert eng.potential()[0] == pytest.approx(relax(v1, 0.5, 1.5), rel=1e-12)
    eng.run(8 * MS)   # the 3 ms input crosses threshold; the 4 ms one falls in the refractory period
    assert relax(v1, 0.5, 2.0) + 0.7 >= 1.0
    assert eng.potential()[0] == pytest.approx(relax(0.0, 0.5, 3.0), rel=1e-12)
    eng.run(25 * MS)
    v10 = relax(0.0, 0.5, 5.0) - 0.3
    assert eng.potential()[0] == pytest.approx(relax(v10, 0.5, 15.0), rel=1e-12)
    times, ids = eng.spikes()
    assert times.tolist() == [3 * MS] and ids.tolist() == [0]
    counts = eng.kernel.counters()
    assert counts["inputs"] == 4 and counts["spikes"] == 1


@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_spike_times_follow_inputs_exactly(backend):
    """Bias above threshold: an excitatory input brings the crossing forward, an inhibitory one delays it."""
    c, w = one_neuron(bias=1.2)
    eng = build_engine(c, w, 1, backend=backend, record_spikes=True)
    eng.inject([5 * MS, 20 * MS], [0, 0], [0.3, -0.5])
    eng.run(60 * MS)
    tau = 10.0
    v5 = relax(0.0, 1.2, 5.0) + 0.3
    t1 = 5.0 + tau * math.log((1.2 - v5) / 0.2)
    v20 = relax(0.0, 1.2, 20.0 - (t1 + 2.0)) - 0.5
    t2 = 20.0 + tau * math.log((1.2 - v20) / 0.2)
    t3 = t2 + 2.0 + tau * math.log(1.2 / 0.2)
    times, _ = eng.spikes()
    expected = [t1, t2, t3]
    assert len(times) == 3
    for got, want in zip(times.tolist(), expected):
        assert got == pytest.approx(want * MS, rel=1e-9)
        assert 0 <= got - want * MS <= 2  # rounded up to the next ps


@pytest.mark.parametrize("tau_ms, run_ms", [(20.0, 500), (0.05, 30)])
def test_spontaneous_period_is_the_closed_form(tau_ms, run_ms):
    """Period = refractory + tau ln((bias - reset)/(bias - threshold)); the short tau crosses epochs."""
    ref = 2.0 if tau_ms > 1 else 0.01
    c, w = one_neuron(bias=1.5, tau_ms=tau_ms, refractory_ms=ref)
    eng = build_engine(c, w, 1, record_spikes=True)
    eng.run(run_ms * MS)
    times, _ = eng.spikes()
    first = tau_ms * math.log(1.5 / 0.5)   # from reset at t = 0, no refractory period first
    period = ref + first
    k = np.arange(len(times))
    exact = (first + k * period) * MS
    assert len(times) == int((run_ms - first) // period) + 1
    assert np.all(np.abs(times - exact) <= k + 2)  # each spike rounds up by < 1 ps
    assert 0 <= np.diff(times).mean() - period * MS <= 1  # whole ps: up to 1 ps late per period
    if tau_ms > 1:
        assert np.diff(times).mean() == pytest.approx(period * MS, rel=1e-9)
    if tau_ms < 1:
        assert eng.rebases >= 2


# --- windows, determinism, backends ----------------------------------------------------------

def _run_engine(c, w, **options):
    eng = build_engine(c, w, w.seed, record_spikes=True, **options)
    eng.run(w.ticks * MS)
    return eng


@pytest.mark.parametrize("weight, ticks", [(-0.02, 15), (0.03, 3)])
def test_window_size_does_not_change_results(weight, ticks):
    """The lookahead argument: windows of L, L/4 and L/7 give identical spikes and state."""
    c = chip(latency__spike_ns=100_000.0)  # a long lookahead: many events share each window
    w = workload(ticks=ticks, weight=weight, bias=1.0, bias_spread=0.4, tau_ms=5.0, refractory_ms=0.2)
    base = _run_engine(c, w)
    L = base.network.lookahead_ps
    assert L == 100_000_000
    assert base.kernel.counters()["spikes"] > 200
    for window in (L // 4, L // 7):
        other = _run_engine(c, w, window_ps=window)
        assert other.windows > base.windows
        for a, b in zip(base.spikes(), other.spikes()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(base.arrays.u, other.arrays.u)
        assert base.kernel.counters() == other.kernel.counters()


def test_window_larger_than_lookahead_is_refused():
    c, w = chip(), workload()
    with pytest.raises(ConfigError, match="lookahead"):
        build_engine(c, w, 1, window_ps=2_000_000)


def test_same_seed_same_record_and_queues_and_kernels_agree():
    c, w = chip(), workload(ticks=40)
    opt = RunOptions(ticks=40, seed=3, record_spikes=True)
    first = run_async(c, w, dataclasses.replace(opt, queue="c", tick_backend="c"), None)
    assert first.spikes > 100
    for queue, backend in (("c", "c"), ("python", "c"), ("c", "numpy")):
        again = run_async(c, w, dataclasses.replace(opt, queue=queue, tick_backend=backend), None)
        assert again.comparable() == first.comparable()
    other_seed = run_async(c, w, dataclasses.replace(opt, seed=4), None)
    assert other_seed.spikes != first.spikes


def test_record_fields_and_counts():
    c, w = chip(), workload(ticks=30)
    seen = []
    r = run_async(c, w, RunOptions(ticks=30, seed=3, record_spikes=True), lambda d, t: seen.append((d, t)))
    assert r.timing == "async" and seen[-1] == (30, 30)
    assert r.sim_time_s == pytest.approx(0.03)
    assert r.counts["neuron_update"] == r.neurons * 30  # per neuron per tick_s of chip time
    assert r.synaptic_events == r.axon_events * 29  # a disc of radius 3 (29 neurons) per packet, wrapping
    assert 0 <= 2 * r.spikes - r.axon_events <= 20  # each spike reaches 2 chips; a few still in flight
    assert r.counts["spike"] == r.spikes == len(r.spike_trains)
    t = r.spike_trains.ticks
    assert np.all(np.diff(t) >= 0) and t.max() < 30 * MS  # times in ps, in order
    e = r.energy_breakdown_j
    assert e["synaptic"] == pytest.approx(r.synaptic_events * 1e-12)
    assert e["spike"] == pytest.approx(r.spikes * 2e-12)
    assert r.timing_report["lookahead_s"] == pytest.approx(1e-6)
    assert r.timing_report["window_s"] == r.timing_report["lookahead_s"]  # the default window
    assert r.timing_report["timing_violations"] == 0
    rep = r.timing_report  # zero-load latencies: 1 us to the own chip, + 2 x 40 ns hops to a sibling
    assert rep["latency_p50_s"] <= rep["latency_p99_s"] <= rep["latency_max_s"] == pytest.approx(1.08e-6)
    flow = rep["spike_flow"]
    assert flow["sent"] == 2 * r.spikes and flow["in_flight_end"] == flow["sent"] - r.axon_events
    from conservation import assert_conserved
    assert_conserved(r)


def test_max_events_stops_with_a_partial_record():
    c, w = chip(), workload(ticks=40)
    import time
    start = time.perf_counter()
    with pytest.raises(RunawayError, match="runaway") as info:
        run_async(c, w, RunOptions(ticks=40, seed=3, max_events=50), None)
    partial = info.value.partial_record
    assert partial is not None and 50 < partial.axon_events and partial.ticks < 40
    assert 0 < partial.wall_s <= time.perf_counter() - start
    from conservation import assert_conserved
    assert_conserved(partial)  # what ran is accounted for, spikes still on their way included


# --- the diffuser and the router --------------------------------------------------------------

def _brute_neighbourhood(side, r0, c0, dy, lo, hi, wrap):
    cells = set()
    for y, a, b in zip(dy.tolist(), lo.tolist(), hi.tolist()):
        for x in range(a, b + 1):
            rr, cc = r0 + y, c0 + x
            if wrap:
                cells.add((rr % side) * side + cc % side)
            elif 0 <= rr < side and 0 <= cc < side:
                cells.add(rr * side + cc)
    return cells


@pytest.mark.parametrize("shape", [{"diffuser_radius": 4.5}, {"diffuser_width": 6.0, "diffuser_height": 5.0}])
@pytest.mark.parametrize("wrap", [1.0, 0.0])
@pytest.mark.parametrize("centre", [(0, 0), (0, 7), (8, 15), (15, 15)])
@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_diffuser_reaches_its_neighbourhood_once(shape, wrap, centre, backend):
    c = chip(cores=1, topology={"kind": "mesh", "width": 1, "height": 1})
    w = workload(**{"bias": 0.5, "bias_spread": 0.0, "init_mean_field": 0.0, "diffuser_wrap": wrap,
                    "targets": 1, "diffuser_radius": 0.0, **shape})
    eng = build_engine(c, w, 1, backend=backend)
    side = 16
    r0, c0 = centre
    eng.queue.push(5 * MS, KIND_ARRIVAL, r0 * side + c0, weight_bits(-0.25), 0)
    eng.run(5 * MS + 1)
    dy, lo, hi = diffuser_rows(neurogrid_params(w))
    cells = _brute_neighbourhood(side, r0, c0, dy, lo, hi, bool(wrap))
    assert eng.kernel.counters()["sops"] == len(cells)
    if wrap:
        assert len(cells) == int((hi - lo + 1).sum())  # every spike reaches the full neighbourhood
    expected = np.full(side * side, relax(0.0, 0.5, 5.0))
    expected[sorted(cells)] -= 0.25
    np.testing.assert_allclose(eng.potential(5 * MS), expected, rtol=1e-12)


def test_disc_sizes():
    def size(radius):
        dy, lo, hi = diffuser_rows(neurogrid_params(workload(diffuser_radius=radius)))
        return int((hi - lo + 1).sum())
    assert [size(r) for r in (0.0, 1.0, 1.5, 2.0)] == [1, 5, 9, 13]
    assert size(50.33) == 7981  # the benchmark's ~7,980 neurons per spike


def test_memory_is_per_neuron_not_per_synapse():
    def state_bytes(radius, neurons):
        c = chip(core__neurons=neurons)
        eng = build_engine(c, workload(diffuser_radius=radius), 1)
        arrays = eng.arrays
        rows = arrays.row_dy.nbytes + arrays.row_lo.nbytes + arrays.row_hi.nbytes
        assert rows == 12 * (2 * math.floor(radius) + 1)  # the neighbourhood: 3 numbers per row
        return sum(v.nbytes for v in vars(arrays).values() if isinstance(v, np.ndarray)) - rows
    small, large = state_bytes(1.0, 256), state_bytes(7.0, 256)
    assert small == large                          # 5 or 149 synaptic events per spike: same memory
    assert state_bytes(1.0, 1024) - small == pytest.approx(3 * small, rel=0.05)  # linear in neurons
    assert small / (4 * 256) < 80                  # bytes per neuron


def test_multicast_counts_each_tree_link_once():
    c = chip(cores=16, core__neurons=64)
    w = workload(ticks=30, targets=16, diffuser_radius=1.0, bias=1.3)
    eng = build_engine(c, w, 1, record_spikes=True)
    net = eng.network
    # leaf 0 to all 16 leaves: 1 + 3 + 12 links of level 1, 1 + 3 of level 2 (unicast would be 54)
    np.testing.assert_array_equal(net.route_class_hops, [[16, 4]] * len(net.route_class_hops))
    r = run_async(c, w, RunOptions(ticks=30, seed=1), None)
    assert r.hops_by_class == {"level1": 16 * r.spikes, "level2": 4 * r.spikes}


def test_hops_match_the_topology_route_by_route():
    c = chip(cores=16, core__neurons=64)
    w = workload(ticks=30, targets=3, diffuser_radius=1.0, bias=1.3)
    eng = build_engine(c, w, 1, record_spikes=True)
    eng.run(30 * MS)
    _, ids = eng.spikes()
    topo, a = eng.network.topology, eng.arrays
    expected = 0
    for neuron, count in zip(*np.unique(ids, return_counts=True)):
        chips = a.tgt[neuron * 3:(neuron + 1) * 3] // a.nc
        links = topo.multicast_links(int(topo.core_router[neuron // a.nc]), topo.core_router[chips])
        expected += count * len(links)
    r = run_async(c, w, RunOptions(ticks=30, seed=1), None)
    assert r.hops == expected > 0
    assert r.spikes == len(ids)


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value, words", [
    ("tau", 3.0, ["network.neuron.tau", "unknown", "tau_ms"]),
    ("reset", 2.0, ["network.neuron.reset", "below the threshold"]),
    ("tau_ms", 0.0, ["network.neuron.tau_ms", "> 0"]),
    ("targets", 9.0, ["targets", "at most the 4 chips"]),
    ("diffuser_radius", 40.0, ["must fit in the 16 x 16 array"]),
    ("diffuser_wrap", 0.5, ["network.neuron.diffuser_wrap"]),
])
def test_bad_neuron_parameters_name_the_key_and_file(key, value, words):
    with pytest.raises(ConfigError) as info:
        build_engine(chip(), workload(**{key: value}), 1)
    message = str(info.value)
    assert "async_wl" in message
    for word in words:
        assert word in message


def test_wrong_model_kind_or_inputs_are_errors():
    with pytest.raises(ConfigError, match="neurogrid_lif"):
        build_engine(chip(core__neuron_model="truenorth_lif"), workload(), 1)
    bad_kind = workload_from_data({"name": "k", "network": {"kind": "random_recurrent"}}, "k.yaml")
    with pytest.raises(ConfigError, match="neurogrid_diffuser"):
        build_engine(chip(), bad_kind, 1)
    with_inputs = dataclasses.replace(workload(), inputs=load_workload("poisson_small").inputs)
    with pytest.raises(ConfigError, match="inputs"):
        build_engine(chip(), with_inputs, 1)
    assert "neurogrid_lif" in ASYNC_NEURON_MODELS


def test_a_learning_rule_on_the_diffuser_network_is_refused():
    """The diffuser stores no synapses, so a learning rule has nothing to change: one line naming it."""
    rule = {"rule": "stdp", "a_plus": 1.0, "a_minus": 1.0, "tau_plus_ticks": 4, "tau_minus_ticks": 4,
            "w_min": -8, "w_max": 8}
    wl = load_workload("neurogrid_small")
    learning = workload_from_data({"name": wl.name, "network": {"kind": wl.network.kind}, "learning": rule},
                                  "learn.yaml")
    with pytest.raises(ConfigError, match="learn.yaml: learning: the diffuser network stores no synapses"):
        check_async(neurogrid_chip(), learning)


# --- Neurogrid ------------------------------------------------------------------------------

def neurogrid_chip():
    return load_chip("neurogrid")


def test_neurogrid_chip_file():
    spec = neurogrid_chip()
    assert spec.cores == 16 and spec.core.neurons == 65536 and spec.timing.mode == "async"
    assert spec.core.neuron_model in ASYNC_NEURON_MODELS and spec.topology.kind == "tree"
    assert spec.energy.static_mw.value == 3100.0 and "derived" in spec.energy.static_mw.source
    assert all(getattr(spec.energy, k).value == 0 for k in ("synaptic_op_pj", "neuron_update_pj", "spike_pj", "hop_pj"))


def test_shipped_async_workloads_check_without_building():
    for name in ("neurogrid_small", "neurogrid_benchmark"):
        plan = check_async(neurogrid_chip(), load_workload(name))
        assert plan.side * plan.side == plan.nc
    assert check_async(neurogrid_chip(), load_workload("neurogrid_benchmark")).n == 983_040


def test_neurogrid_small_workload():
    w = load_workload("neurogrid_small")
    r = run_async(neurogrid_chip(), w, RunOptions(ticks=30, seed=w.seed), None)
    assert r.spikes > 1000 and r.hops_by_class["level2"] > 0
    assert r.synaptic_events == r.axon_events * 113


def _benchmark(ticks):
    # the numbers, not the backends, are under test here: C queue and kernel (the fast pair)
    w = load_workload("neurogrid_benchmark")
    r = run_async(neurogrid_chip(), w, RunOptions(ticks=ticks, seed=w.seed, queue="c", tick_backend="c"), None)
    assert r.neurons == 983_040
    assert r.synaptic_events == r.axon_events * 7981
    assert r.pj_per_sop == pytest.approx(941, rel=0.05)
    assert r.mean_rate_hz == pytest.approx(0.42, rel=0.03)
    # nothing but board power: the figure is board power over the counted SOP rate
    assert r.pj_per_sop == pytest.approx(3.1 / (r.synaptic_events / r.sim_time_s) * 1e12, rel=1e-9)
    return r


def test_neurogrid_benchmark_short_run():
    """50 ms of the benchmark (about 1.5 s)."""
    _benchmark(50)


@pytest.mark.slow
def test_neurogrid_benchmark_reproduces_941_pj():
    """The shipped run, 0.2 s of chip time (about 5 s)."""
    r = _benchmark(load_workload("neurogrid_benchmark").ticks)
    assert r.pj_per_sop == pytest.approx(941, rel=0.02)
    assert r.mean_rate_hz == pytest.approx(0.42, rel=0.015)


def test_kernels_agree_under_excitation():
    """The excitatory path (immediate spikes, checks brought forward) in C and in the Python twin."""
    c = chip(latency__spike_ns=20_000.0)
    w = workload(ticks=10, weight=0.02, bias=0.9, bias_spread=0.3, tau_ms=5.0, refractory_ms=0.5)
    runs = [_run_engine(c, w, backend=b) for b in ASYNC_BACKENDS]
    assert runs[0].kernel.counters()["spikes"] > 100
    assert runs[0].kernel.counters() == runs[1].kernel.counters()
    for a, b in zip(runs[0].spikes(), runs[1].spikes()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runs[0].arrays.u, runs[1].arrays.u)


# --- boundaries and ties; runs long enough to cross epochs ------------------------------------------

@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
@pytest.mark.parametrize("kind", ["input", "arrival"])
@pytest.mark.parametrize("offset, applied", [(-1, False), (0, True), (1, True)])
def test_inhibition_on_the_picosecond_the_refractory_period_ends(backend, kind, offset, applied):
    """Refractory is [spike, spike + refractory): an inhibitory input or diffused arrival 1 ps before its end
    is ignored, one on its very picosecond (or after) counts and delays the next spike by the closed form."""
    c, w = one_neuron(bias=1.5)
    eng = build_engine(c, w, 1, backend=backend, record_spikes=True)
    eng.run(12 * MS)  # the first spike (at 10 ln 3 = 10.99 ms) and part of its 2 ms refractory period
    (t1,), _ = eng.spikes()
    assert t1 == math.ceil(10.0 * math.log(3.0) * MS)  # rounded up to the next ps
    at = t1 + 2 * MS + offset
    if kind == "input":
        eng.inject([at], [0], [-0.5])
    else:  # a spike packet from neuron 0 reaching its chip's diffuser, centred on neuron 0
        eng.queue.push_batch(np.array([at]), KIND_ARRIVAL, np.array([0]), np.array([weight_bits(-0.5)]), 0)
    eng.run(40 * MS)
    times, _ = eng.spikes()
    v_at = relax(0.0, 1.5, offset * 1e-9) - (0.5 if applied else 0.0) if offset >= 0 else 0.0
    if applied:
        t2 = at + 10.0 * math.log((1.5 - v_at) / 0.5) * MS
    else:
        t2 = t1 + 2 * MS + 10.0 * math.log(3.0) * MS
    assert times[1] == pytest.approx(t2, abs=2)
    assert 0 <= times[1] - t2 < 2  # rounded up to the next ps (and float error below it)


@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_windows_do_not_change_results_across_epoch_changes(backend):
    """A network run for 3 epochs (tau 0.02 ms: an epoch is 200 tau = 4 ms) with windows L, L/4, L/7:
    identical spikes, state and counters, the rebases included."""
    c = chip(latency__spike_ns=100_000.0, core__neurons=64)  # 4 chips of 8 x 8 neurons
    w = workload(ticks=13, weight=-0.02, bias=1.0, bias_spread=0.4, tau_ms=0.02, refractory_ms=0.2)
    base = _run_engine(c, w, backend=backend)
    assert base.rebases >= 3 and base.kernel.counters()["spikes"] > 1000
    L = base.network.lookahead_ps
    for window in (L // 4, L // 7):
        other = _run_engine(c, w, window_ps=window, backend=backend)
        assert other.rebases == base.rebases and other.windows > base.windows
        for a, b in zip(base.spikes(), other.spikes()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(base.arrays.u, other.arrays.u)
        assert base.kernel.counters() == other.kernel.counters()


def test_async_record_conserves_across_epochs():
    """The shared conservation check on an async record long enough to rebase its epoch."""
    from conservation import assert_conserved
    c = chip(latency__spike_ns=100_000.0)
    w = workload(ticks=9, weight=-0.02, bias=1.0, bias_spread=0.4, tau_ms=0.02, refractory_ms=0.2)
    r = run_async(c, w, RunOptions(ticks=9, seed=3), None)
    assert r.loop_stats["epoch_rebases"] >= 2 and r.timing_report["spike_flow"]["in_flight_end"] > 0
    assert_conserved(r)


@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_a_window_never_straddles_an_epoch_change(backend):
    """Inputs 100 ps either side of an epoch change (tau 0.05 ms: every 10 ms) fall in one lookahead
    window unless windows stop at the change; the state is bit for bit the same with 1 ps windows, where
    each input is handled under the epoch of its own time."""
    c, w = one_neuron(bias=0.5, tau_ms=0.05)
    results = []
    for window in (None, 1):
        eng = build_engine(c, w, 1, backend=backend, record_spikes=True, window_ps=window)
        P = eng.epoch_ps
        assert P == 10 * MS
        eng.inject([P - 100, P + 100, P + 300], [0, 0, 0], [0.3, 0.3, 0.2])
        eng.run(P + 500)
        results.append((eng.arrays.u.copy(), eng.kernel.epoch, eng.rebases, eng.spikes()[0].tolist()))
    (u1, e1, r1, s1), (u2, e2, r2, s2) = results
    assert e1 == e2 == 10 * MS and r1 == r2 == 1 and s1 == s2
    assert u1.tobytes() == u2.tobytes()


def test_async_progress_wall_time_and_clock_limit():
    """Progress is reported once per tick reached, in order, ending at the total; wall time is the
    run's; a run reaching the int64 picosecond clock's end is refused."""
    import time
    c, w = chip(), workload(ticks=6)
    calls = []
    start = time.perf_counter()
    r = run_async(c, w, RunOptions(ticks=6, seed=3), lambda done, total: calls.append((done, total)))
    assert 0 < r.wall_s <= time.perf_counter() - start
    assert calls == [(k, 6) for k in range(6)] + [(6, 6)]
    with pytest.raises(ConfigError, match="int64 picosecond clock"):
        run_async(c, w, RunOptions(ticks=2**62 // 10**9 + 1, seed=3), None)


def test_async_link_stats_and_a_chip_without_links():
    """With link_stats every link's packets are listed (they add up to the hops); a one-chip network has
    no links, so no utilisation at all."""
    c, w = chip(), workload(ticks=5)
    r = run_async(c, w, RunOptions(ticks=5, seed=3, link_stats=True), None)
    stats = r.timing_report["link_stats"]
    assert sum(stats["packets"]) == r.hops > 0 and len(stats["src"]) == len(stats["utilization"])
    assert max(stats["utilization"]) == r.timing_report["max_link_utilization"]
    c1, w1 = one_neuron(bias=1.5)
    r1 = run_async(c1, w1, RunOptions(ticks=30, seed=1), None)
    assert r1.spikes > 0 and r1.hops == 0
    assert r1.timing_report["max_link_utilization"] == r1.timing_report["mean_link_utilization"] == 0.0


def test_latency_max_is_the_slowest_route_used():
    """One target chip per spike: spikes to the own chip take 1 us, to a sibling chip 1.08 us (2 hops of
    40 ns), so the percentiles and the maximum tell the routes apart."""
    c, w = chip(), workload(ticks=5, targets=1)
    rep = run_async(c, w, RunOptions(ticks=5, seed=3), None).timing_report
    assert rep["latency_p50_s"] == pytest.approx(1.08e-6) and rep["latency_max_s"] == pytest.approx(1.08e-6)
    c1 = chip(cores=1, topology={"kind": "mesh", "width": 1, "height": 1})
    rep1 = run_async(c1, workload(ticks=5, targets=1), RunOptions(ticks=5, seed=3), None).timing_report
    assert rep1["latency_max_s"] == pytest.approx(1.0e-6)


def test_a_new_engine_stands_at_time_zero():
    c, w = one_neuron(bias=1.5)  # from reset (0) at t = 0, relaxing towards 1.5
    eng = build_engine(c, w, 1)
    assert eng.now == 0 and eng.potential().tolist() == [0.0]
    assert eng.potential(10**9)[0] == pytest.approx(relax(0.0, 1.5, 1.0), rel=1e-12)


@pytest.mark.parametrize("backend", ASYNC_BACKENDS)
def test_an_input_exactly_on_an_epoch_change_moves_the_epoch_first(backend):
    """An input at exactly the epoch's end P (tau 0.05 ms: P = 10 ms) starts a window in the new epoch:
    one rebase, then the input is handled, in a few windows (a window ending at P itself would be
    empty and repeat forever; stop() bounds the test if it does)."""
    c, w = one_neuron(bias=0.5, tau_ms=0.05)
    eng = build_engine(c, w, 1, backend=backend, record_spikes=True)
    P = eng.epoch_ps
    assert P == 10 * MS
    eng.inject([P], [0], [0.3])
    eng.run(P + 500, stop=lambda: "no progress" if eng.windows > 1000 else None)
    assert eng.kernel.epoch == P and eng.rebases == 1 and eng.kernel.counters()["inputs"] == 1


def test_a_zero_tick_run_has_no_chip_time_and_idle_links():
    """ticks=0: no chip time, so no utilisation to divide out -- every link reports exactly 0, not 0 / 0."""
    from neuroemu import simulate
    r = simulate(None, "neurogrid_small", ticks=0, link_stats=True)
    rep = r.timing_report
    assert r.timing == "async" and r.sim_time_s == 0.0 and r.spikes == 0
    assert rep["max_link_utilization"] == 0.0 and rep["mean_link_utilization"] == 0.0
    assert all(link["utilization"] == 0.0 and link["packets"] == 0 for link in rep["busiest_links"])
    assert set(rep["link_stats"]["utilization"]) == {0.0}


# --- function by function, against hand values ------------------------------------------------------

def test_latency_percentiles_are_weighted_by_the_spikes_per_route():
    """Routes used 3, 1 and 6 times at 10, 30 and 20 ps (two routes unused, one of them the slowest):
    sorted by latency the cumulative counts are 3 (10 ps), 9 (20 ps), 10 (30 ps). p50 is the 5th spike:
    20 ps; p99 the 9.9th: 30 ps; the max is the slowest route used, 30 ps, not the unused 99 ps."""
    from neuroemu.engine.asyncsim import _latency_report
    rep = _latency_report(np.array([0, 3, 1, 0, 6]), np.array([50, 10, 30, 99, 20]))
    assert rep == {"latency_p50_s": 20e-12, "latency_p99_s": 30e-12, "latency_max_s": 30e-12}
    # the 3rd of 6 spikes is the last of the 10 ps route: a quantile on a boundary takes the lower one
    rep = _latency_report(np.array([3, 3]), np.array([10, 40]))
    assert rep == {"latency_p50_s": 10e-12, "latency_p99_s": 40e-12, "latency_max_s": 40e-12}
    assert _latency_report(np.zeros(2, np.int64), np.array([1, 2])) == dict.fromkeys(
        ("latency_p50_s", "latency_p99_s", "latency_max_s"))


def _fake_engine(bandwidth=2.0):
    from types import SimpleNamespace
    topo = SimpleNamespace(n_links=3, link_bandwidth=np.full(3, bandwidth), link_src=np.array([0, 1, 2]),
                           link_dst=np.array([1, 2, 0]), router_pos_mm=np.zeros((3, 2)))
    net = SimpleNamespace(topology=topo, route_links=[np.array([0, 1]), np.array([2]), np.array([1])])
    return SimpleNamespace(network=net)


def test_link_report_counts_each_multicast_once_per_link_of_its_tree():
    """Routes over links {0, 1}, {2}, {1} used 2, 0 and 1 times: link 0 carries 2 packets, link 1 3, link 2
    none; at 2 packets per ns over 1 us a packet is 0.5 ns / 1 us = 5e-4 of a link's time."""
    from neuroemu.engine.asyncsim import _link_report
    opt = RunOptions(ticks=1, seed=1, link_stats=True)
    rep = _link_report(_fake_engine(), np.array([2, 0, 1]), 1e-6, opt)
    assert [(x["link"], x["src"], x["dst"], x["packets"]) for x in rep["busiest_links"]] == [
        (1, 1, 2, 3), (0, 0, 1, 2), (2, 2, 0, 0)]
    assert [x["utilization"] for x in rep["busiest_links"]] == pytest.approx([1.5e-3, 1e-3, 0.0], rel=1e-12, abs=0)
    assert rep["max_link_utilization"] == pytest.approx(1.5e-3, rel=1e-12, abs=0)
    assert rep["mean_link_utilization"] == pytest.approx(2.5e-3 / 3, rel=1e-12, abs=0)
    assert rep["link_stats"]["packets"] == [2, 3, 0] and rep["link_stats"]["src"] == [0, 1, 2]
    idle = _link_report(_fake_engine(), np.array([2, 0, 1]), 0.0, RunOptions(ticks=1, seed=1))
    assert idle["max_link_utilization"] == idle["mean_link_utilization"] == 0.0 and "link_stats" not in idle


def test_a_window_is_one_ps_to_the_lookahead_and_the_epoch_is_200_taus():
    c, w = one_neuron(bias=0.5, tau_ms=0.05)
    eng = build_engine(c, w, 1)
    L = eng.network.lookahead_ps
    assert eng.window_ps == L and eng.epoch_ps == 200 * 50_000_000 and eng.windows == eng.rebases == 0
    assert build_engine(c, w, 1, window_ps=1).window_ps == 1
    for bad in (0, L + 1):
        with pytest.raises(ConfigError, match=rf"async window: must be 1 to {L} ps .*\(got {bad}\)") as exc:
            build_engine(c, w, 1, window_ps=bad)
        assert "\n" not in str(exc.value)


def test_windows_and_rebases_counted_by_hand():
    """Inputs (below threshold: no spike, no check) at 0.5 P, 2.5 P, 2.5 P + L - 1, 2.5 P + L and 7 P + 5
    with P the 10 ms epoch and L the lookahead: windows start at 0.5 P, 2.5 P (the next input falls in
    it), 2.5 P + L and 7 P + 5: 4. The epoch moves at 2.5 P (to 2 P) and at 7 P + 5 (to 7 P): 2 rebases.
    An input at the run's very end is not processed; the next run takes it."""
    c, w = one_neuron(bias=0.2, tau_ms=0.05)
    eng = build_engine(c, w, 1)
    P, L = eng.epoch_ps, eng.network.lookahead_ps
    assert P == 10 * MS and L < P // 10
    times = [P // 2, 5 * P // 2, 5 * P // 2 + L - 1, 5 * P // 2 + L, 7 * P + 5]
    eng.inject(times, [0] * 5, [0.01] * 5)
    eng.inject([8 * P], [0], [0.01])
    eng.run(8 * P)
    assert eng.windows == 4 and eng.rebases == 2 and eng.kernel.epoch == 7 * P and eng.now == 8 * P
    assert eng.kernel.counters()["inputs"] == 5
    eng.run(9 * P)
    assert eng.kernel.counters()["inputs"] == 6 and eng.windows == 5 and eng.kernel.epoch == 8 * P


def test_spikes_of_one_window_are_recorded_in_time_then_neuron_order():
    """Four neurons (a 2 x 2 array), inputs of 2 over a threshold of 1 to neurons 3, 1 at t and 2 at t - 1,
    in one window: spikes (t - 1, 2), (t, 1), (t, 3). Nothing is recorded without record_spikes."""
    c = chip(cores=1, core__neurons=4, topology={"kind": "mesh", "width": 1, "height": 1})
    w = workload_from_data({"name": "four", "network": {"kind": "neurogrid_diffuser", "neuron": {
        "tau_ms": 10.0, "threshold": 1.0, "reset": 0.0, "refractory_ms": 2.0, "weight": 0.0, "bias": 0.0,
        "bias_spread": 0.0, "diffuser_radius": 0.0, "init_mean_field": 0.0}}}, "four.yaml")
    t = 5 * MS
    for record in (True, False):
        eng = build_engine(c, w, 1, record_spikes=record)
        e0, i0 = eng.spikes()
        assert e0.dtype == i0.dtype == np.int64 and len(e0) == len(i0) == 0
        eng.inject([t, t, t - 1], [3, 1, 2], [2.0, 2.0, 2.0])
        eng.run(6 * MS)
        times, ids = eng.spikes()
        assert eng.kernel.counters()["spikes"] == 3
        if record:
            assert times.tolist() == [t - 1, t, t] and ids.tolist() == [2, 1, 3]
        else:
            assert len(times) == 0


def test_stop_is_asked_after_each_window_and_ends_the_run_with_its_text():
    c, w = one_neuron(bias=0.2)
    eng = build_engine(c, w, 1)
    eng.inject([MS, 2 * MS, 3 * MS], [0, 0, 0], [0.01] * 3)
    asked = []

    def stop():
        asked.append(eng.windows)
        return "enough" if eng.windows == 2 else None

    with pytest.raises(RunawayError, match="^enough$"):
        eng.run(10 * MS, stop=stop)
    assert asked == [1, 2] and eng.now == 2 * MS + eng.window_ps


def test_the_async_refusals_each_in_one_line():
    from neuroemu.engine.asyncsim import build_engine as build
    sync_chip = chip(timing__mode="sync")
    with pytest.raises(ConfigError, match=r"async_tiny: timing.mode: the async engine runs async chips \(got 'sync'\)"):
        check_async(sync_chip, workload())
    data = {"name": "d", "network": copy.deepcopy(NET), "inputs": [{"kind": "poisson", "rate_hz": 1.0}]}
    with pytest.raises(ConfigError, match=r"d.yaml: inputs: the diffuser network takes no input streams"):
        check_async(chip(), workload_from_data(data, "d.yaml"))
    tn = chip_from_data({**copy.deepcopy(ASYNC_CHIP), "core": {"axons": 256, "neurons": 256,
                                                                "neuron_model": "truenorth_lif"}}, "tn.yaml")
    with pytest.raises(ConfigError, match=r"async_wl.yaml: network.kind: neurogrid_diffuser is Neurogrid's analog "
                                          r"diffuser network and needs core.neuron_model neurogrid_lif"):
        check_async(tn, workload())
    rr = workload_from_data({"name": "rr", "network": {"kind": "random_recurrent", "synapses_per_axon": 2,
                                                       "rate_hz": 1.0}}, "rr.yaml")
    with pytest.raises(ConfigError, match=r"rr.yaml: network.kind: this engine builds neurogrid_diffuser networks; "
                                          r"a 'random_recurrent' network runs on the core-array loop"):
        build(chip(), rr)
    learn = workload_from_data({"name": "l", "ticks": 5, "learning": {"rule": "stdp"}, "network": {
        "kind": "random_recurrent", "cores": 1, "synapses_per_axon": 4, "rate_hz": 10.0, "weights": [1, 1, -1, -1]}},
        "l.yaml")
    ng = load_chip("neurogrid")
    with pytest.raises(ConfigError, match=r"^l.yaml: learning: neurogrid_lif synapses are shared by type"):
        check_async(ng, learn)
    with pytest.raises(ConfigError, match=r"^l.yaml: learning: neurogrid_lif synapses are shared by type"):
        run_async(ng, learn, RunOptions(ticks=5, seed=1), None)
    # without learning, Neurogrid plans a generated network as every core-array network; so does a tick model
    plain = workload_from_data({"name": "p", "ticks": 5, "network": {
        "kind": "random_recurrent", "cores": 1, "synapses_per_axon": 4, "rate_hz": 10.0, "weights": [1, 1, -1, -1]}},
        "p.yaml")
    from neuroemu.networks.workloads import plan_network
    assert check_async(ng, plain) == plan_network(ng, plain, "p.yaml")
    assert check_async(tn, plain) == plan_network(tn, plain, "p.yaml")


def test_the_clock_limit_is_reached_at_exactly_2_to_the_62_ps():
    """A tick of 2^30 ps: 2^32 ticks end exactly at 2^62 ps, the clock's limit, refused; a tick fewer runs
    (a neuron below threshold has no event, so it ends at once)."""
    c, w = one_neuron(bias=0.2)
    c = dataclasses.replace(c, timing=dataclasses.replace(c.timing, tick_s=2**30 * 1e-12))
    from neuroemu.hardware.chip import tick_ps
    assert tick_ps(c) == 2**30
    with pytest.raises(ConfigError, match=r"one.yaml: ticks: 4294967296 ticks of .* reach 4611686018427387904 ps"):
        run_async(c, w, RunOptions(ticks=2**32, seed=1), None)
    r = run_async(c, w, RunOptions(ticks=2**32 - 1, seed=1), None)
    assert r.spikes == 0 and r.ticks == 2**32 - 1


def test_max_events_is_more_than_the_limit():
    """The run stops after the first window that brings the deliveries past max_events, not at it."""
    c, w = chip(), workload(ticks=10)
    full = run_async(c, w, RunOptions(ticks=10, seed=3), None)
    n = full.axon_events
    assert n > 20
    assert run_async(c, w, RunOptions(ticks=10, seed=3, max_events=n), None).axon_events == n
    with pytest.raises(RunawayError, match=rf"runaway activity: \d+ spikes delivered by .* \(limit {n - 1:,}\)"):
        run_async(c, w, RunOptions(ticks=10, seed=3, max_events=n - 1), None)


def test_the_record_is_the_engines_counters_priced_by_the_chip():
    """Every counter of a short run, from the kernel's own counts and the routes' spikes: one update per
    neuron per tick, wire and hops per route, the spike flow's copies (spikes x targets)."""
    c, w = chip(), workload(ticks=8)
    eng = build_engine(c, w, 3, record_spikes=True)
    eng.run(8 * MS, tick_ps=MS)
    counts = eng.kernel.counters()
    net = eng.network
    per_route = net.arrays.route_spikes
    r = run_async(c, w, RunOptions(ticks=8, seed=3, record_spikes=True), None)
    assert r.counts["neuron_update"] == 1024 * 8 and r.neurons == 1024
    assert (r.spikes, r.axon_events, r.synaptic_events) == (counts["spikes"], counts["arrivals"], counts["sops"])
    assert r.counts["wire_nm"] == int(per_route @ net.route_wire_nm) > 0
    assert r.hops == int((per_route @ net.route_class_hops).sum()) > 0
    rep = r.timing_report
    assert rep["spike_flow"]["sent"] == 2 * r.spikes and rep["latency_samples"] == int(per_route.sum())
    assert rep["window_s"] == eng.window_ps * 1e-12 and rep["lookahead_s"] == net.lookahead_ps * 1e-12
    assert r.loop_stats == {"windows": eng.windows, "epoch_rebases": 0, "threshold_checks": counts["checks"],
                            "stale_checks": counts["stale"], "early_checks": counts["failed"]}
    assert eng.rebases == 0 and rep["direct_inputs"] == 0
    assert r.sim_time_s == 8e-3 and r.energy_breakdown_j["neuron_update"] == pytest.approx(1024 * 8 * 0.5e-12,
                                                                                          rel=1e-12, abs=0)
