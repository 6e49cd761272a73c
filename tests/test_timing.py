"""Each tick semantics shows its defining behaviour on a tiny chip."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from neuroemu import simulate
from neuroemu.config import chip_from_data, workload_from_data
from neuroemu.engine.energy import CLOCKING_COUNTERS


@pytest.fixture(params=["on", "off"])
def block(request, monkeypatch):
    """Both paths of a run: the block path (blockrun.c re-implements the sync/gals/barrier rules in C)
    and the per-tick loop, which alone calls engine/timing.py's policies."""
    monkeypatch.setenv("NEUROEMU_BLOCK", request.param)
    return request.param


def _run(chip_data, workload_data, **kw):
    return simulate(chip_from_data(chip_data, "tiny.yaml"), workload_from_data(workload_data, "w.yaml"),
                    record_spikes=True, **kw)


def test_gals_with_fast_links_equals_sync(small_chip, small_workload, block):
    sync = _run(small_chip, small_workload)
    small_chip["timing"]["mode"] = "gals"
    gals = _run(small_chip, small_workload)
    assert gals.timing_report["timing_violations"] == 0
    events = lambda r: {k: v for k, v in r.counts.items() if k not in CLOCKING_COUNTERS}  # noqa: E731
    assert gals.spikes == sync.spikes and events(gals) == events(sync)  # the same events, clocked differently
    assert ("block" in gals.tick_backend) == ("block" in sync.tick_backend) == (block == "on"
                                                                               and sync.tick_backend != "numpy")
    # sync clocks every core every tick; gals only cores with work, and hands spikes over by handshakes
    assert sync.counts["clock_core_tick"] == 4 * sync.ticks and "barrier_sync" not in sync.counts
    assert 0 < gals.counts["clock_core_tick"] <= 4 * gals.ticks and "barrier_sync" not in gals.counts
    assert gals.counts["handshake"] == gals.counts["axon_event"] + gals.hops and "handshake" not in sync.counts
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


def test_barrier_timestep_grows_with_activity(small_chip, small_workload, block):
    chip = _barrier_chip(small_chip)
    small_workload["inputs"] = []
    quiet = copy.deepcopy(small_workload)
    quiet["network"]["rate_hz"] = 5.0
    busy = copy.deepcopy(small_workload)
    busy["network"]["rate_hz"] = 200.0
    rq, rb = _run(chip, quiet), _run(chip, busy)
    assert rb.synaptic_events > rq.synaptic_events
    assert rb.timing_report["timestep_mean_s"] > rq.timing_report["timestep_mean_s"]
    assert rb.sim_time_s == pytest.approx(rb.timing_report["timestep_mean_s"] * rb.ticks, rel=1e-12, abs=0)
    # chip time is the sum of timesteps, and static energy follows it
    assert rb.energy_breakdown_j["static"] == pytest.approx(1e-3 * rb.sim_time_s, rel=1e-12, abs=0)
    assert rb.timing_report["realtime_factor"] == pytest.approx(rb.ticks * 1e-3 / rb.sim_time_s, rel=1e-12, abs=0)


def test_barrier_idle_timestep_is_work_plus_barrier(small_chip, small_workload, block):
    chip = _barrier_chip(small_chip)
    small_workload["inputs"] = []
    small_workload["network"]["rate_hz"] = 0.0
    small_workload["network"]["stochastic"] = False
    r = _run(chip, small_workload, ticks=10)
    assert r.spikes == 0
    # 32 inactive neurons per core x 5.3 ns, plus 100 ns + 3 extra routers x 10 ns
    expected = (32 * 5.3 + 100.0 + 3 * 10.0) * 1e-9
    # each path ran (the block path needs the C tick kernels: NEUROEMU_TICK=numpy steps tick by tick)
    assert ("block" in r.tick_backend) == (block == "on" and r.tick_backend != "numpy")
    # every router joins each timestep's sync wave; no core clock, one handshake per delivered spike
    assert r.counts["barrier_sync"] == 4 * 10 and "clock_core_tick" not in r.counts
    assert r.counts.get("handshake", 0) == r.counts.get("axon_event", 0) + r.hops == 0
    assert r.timing_report["timestep_min_s"] == pytest.approx(expected, rel=1e-12, abs=0)
    assert r.timing_report["timestep_max_s"] == pytest.approx(expected, rel=1e-12, abs=0)


@pytest.mark.parametrize("update_ns, work_ps", [(5.30002, 169601), (5.30001, 169600)])
def test_barrier_idle_timestep_rounds_its_work_to_the_nearest_ps(small_chip, small_workload, update_ns, work_ps):
    """32 idle neurons x 5300.02 ps = 169600.64 ps rounds up to 169601 (x 5300.01 = 169600.32 down):
    the same nearest-ps rounding as an active tick's work, plus the barrier's 130000 ps."""
    from conservation import run_traced
    chip = _barrier_chip(small_chip)
    chip["latency"]["neuron_update_ns"] = update_ns
    small_workload["inputs"] = []
    small_workload["network"].update(rate_hz=0.0, stochastic=False)
    record, trace = run_traced(chip_from_data(chip, "tiny.yaml"), workload_from_data(small_workload, "w.yaml"),
                               ticks=5)
    assert record.spikes == 0
    assert np.diff(trace.loop.tick_starts[:6]).tolist() == [work_ps + 130000] * 5


def test_sync_reports_latency_percentiles(small_chip, small_workload, block):
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


# --- active ticks timed exactly from their counted work ---------------------------------------------


def _work_by_hand(loop, record, t, delivered):
    """Each core's work in tick t (ps), written out from the run's counted events: SOPs x synaptic_op +
    inactive x neuron_update + active x neuron_update_active + spikes x spike (then rounded to a ps)."""
    import numpy as np
    a, lat = loop.arrays, loop.chip.latency
    A, N, cores = a.axons_per_core, a.neurons_per_core, a.n_cores
    axons = np.unique(delivered)
    touched, sops = set(), np.zeros(cores)
    for ax in axons.tolist():
        row = a.row_neurons[a.row_ptr[ax]:a.row_ptr[ax + 1]]
        sops[ax // A] += len(row)
        touched.update((ax // A) * N + int(j) for j in row)
    fired = record.spike_trains.neurons[record.spike_trains.ticks == t]
    touched.update(fired.tolist())
    active = np.bincount(np.array(sorted(touched), np.int64) // N, minlength=cores)
    spikes = np.bincount(fired // N, minlength=cores)
    enabled = loop.network.enabled.reshape(cores, N).sum(axis=1)
    ps = {k: getattr(lat, k).value * 1000 for k in ("synaptic_op_ns", "neuron_update_ns", "spike_ns")}
    act_ps = (lat.neuron_update_active_ns or lat.neuron_update_ns).value * 1000
    work_ps = (sops * ps["synaptic_op_ns"] + (enabled - active) * ps["neuron_update_ns"]
               + active * act_ps + spikes * ps["spike_ns"])
    return np.rint(work_ps).astype(np.int64), fired


def _arrivals_by_hand(loop, t, now, work, fired):
    """(arrival ps, due tick) of every routed spike fired in tick t: emitted when its core's work is
    done, arriving after the route's link latencies (walked link by link), at least 1 ps after now."""
    import numpy as np
    a, topo = loop.arrays, loop.topology
    src, axon, delay = a.routes()
    out = []
    for n in fired.tolist():
        for r in np.flatnonzero((src == n) & (axon >= 0)).tolist():
            s = topo.core_router[a.chip_cores(np.array([n // a.neurons_per_core]))[0]]
            d = topo.core_router[a.chip_cores(np.array([axon[r] // a.axons_per_core]))[0]]
            latency = int(topo.link_latency_ps[topo.route_links(int(s), int(d))].sum())
            out.append((max(now + int(work[n // a.neurons_per_core]) + latency, now + 1), t + int(delay[r])))
    return out


def test_barrier_active_timesteps_are_their_counted_work(small_chip, small_workload):
    """Every timestep of an active barrier run = max(busiest core's work, last arrival) + barrier."""
    from conservation import run_traced
    data = _barrier_chip(small_chip)
    # sub-picosecond parts (0.7 ps per SOP, 0.3 ps per spike): a core's work is rounded to the nearest ps
    data["latency"].update({"synaptic_op_ns": 3.5007, "spike_ns": 2.1003})
    chip = chip_from_data(data, "tiny.yaml")
    record, trace = run_traced(chip, workload_from_data(small_workload, "w.yaml"), ticks=30)
    loop = trace.loop
    barrier_ps = round((100.0 + 3 * 10.0) * 1000)
    assert record.timing_report["barrier_s"] == barrier_ps * 1e-12
    busy_ticks = 0
    for t in range(record.ticks):
        now = int(loop.tick_starts[t])
        work, fired = _work_by_hand(loop, record, t, trace.delivered[t])
        end = int(work.max())
        arrivals = _arrivals_by_hand(loop, t, now, work, fired)
        if arrivals:
            end = max(end, max(at for at, _ in arrivals) - now)
        busy_ticks += len(fired) > 0
        assert int(loop.tick_starts[t + 1]) - now == end + barrier_ps, f"timestep {t}"
    assert busy_ticks > 10
    assert record.sim_time_s == int(loop.tick_starts[record.ticks]) * 1e-12
    steps = np.diff(np.asarray(loop.tick_starts[: record.ticks + 1], np.int64))
    rep = record.timing_report
    assert steps.min() < steps.max()  # activity varies, so the figures below are three different ones
    assert rep["timestep_min_s"] == float(steps.min() * 1e-12)
    assert rep["timestep_max_s"] == float(steps.max() * 1e-12)
    assert rep["timestep_mean_s"] == pytest.approx(steps.mean() * 1e-12, rel=1e-12, abs=0)


@pytest.mark.parametrize("policy", ["drop", "late"])
def test_gals_violations_are_the_spikes_arriving_after_their_tick_began(small_chip, small_workload, policy):
    """Each spike leaves when its core's work is done; those arriving after their delivery tick's start
    (and popped before the run ends) are exactly the violations counted."""
    from conservation import run_traced
    small_chip["timing"].update({"mode": "gals", "late_spikes": policy})
    small_chip["latency"].update({"hop_ns": 6.0e5, "synaptic_op_ns": 900.0, "neuron_update_ns": 9000.0,
                                  "neuron_update_active_ns": 9500.0, "spike_ns": 50.0})
    chip = chip_from_data(small_chip, "tiny.yaml")
    record, trace = run_traced(chip, workload_from_data(small_workload, "w.yaml"), ticks=40)
    loop = trace.loop
    tick = int(loop.tick_starts[1])
    last_pop = int(loop.tick_starts[record.ticks - 1])
    late = on_time = 0
    for t in range(record.ticks):
        now = int(loop.tick_starts[t])
        work, fired = _work_by_hand(loop, record, t, trace.delivered[t])
        for at, due in _arrivals_by_hand(loop, t, now, work, fired):
            if at > due * tick and at <= last_pop:
                late += 1
            elif at <= due * tick and due < record.ticks:
                on_time += 1
    assert late > 0 and on_time > 0
    assert record.timing_report["timing_violations"] == late


def test_barrier_on_a_chip_that_prices_no_work_still_moves_on():
    """TrueNorth's file has no per-operation latency and no barrier: under barrier an idle timestep
    would last 0 ps and the next tick would start inside the window already popped (found by the
    matrix: the digits classifier's reset between samples then failed). Each timestep lasts >= 1 ps."""
    from neuroemu import simulate
    r = simulate("truenorth", "workloads/digits.yaml", ticks=70, timing="barrier")
    assert r.workload_report["classification"]["samples"] == 2
    assert r.timing_report["timestep_min_s"] >= 1e-12


@pytest.mark.parametrize("block", ["on", "off"])
def test_barrier_idle_timesteps_that_price_nothing_last_one_ps_each(small_chip, small_workload, block, monkeypatch):
    """No per-operation latency, no barrier latency, no spike: every timestep ends where it began, so
    each lasts the 1 ps floor, and chip time is ticks x 1 ps (not one ps in all), on the block path
    (blockrun.c) and on the per-tick loop (BarrierPolicy.next_start)."""
    monkeypatch.setenv("NEUROEMU_BLOCK", block)
    small_chip["timing"]["mode"] = "barrier"
    small_workload["inputs"] = []
    small_workload["network"].update(rate_hz=0.0, stochastic=False)
    r = _run(small_chip, small_workload, ticks=12)
    assert r.spikes == 0 and r.timing_report["barrier_s"] == 0.0
    assert r.timing_report["timestep_min_s"] == r.timing_report["timestep_max_s"] == 1e-12
    assert r.sim_time_s == 12e-12
    assert block == "on" or "block" not in r.tick_backend  # off: the per-tick loop ran


# --- the policies' rules, called directly with hand-made counts ---------------------------------------
# (runs of the tick loop take the block path where it applies, and blockrun.c re-implements these rules
# in C: a rule pinned only through a default run is not a test of engine/timing.py)


def _policy(small_chip, mode, n_routers=4, enabled=None, **latency):
    """The policy of ``mode`` on the tiny chip over a stub of 2 cores x 4 neurons (neuron 2 of core 0
    and neurons 1, 3 of core 1 disabled unless ``enabled`` says otherwise)."""
    from types import SimpleNamespace

    from neuroemu.engine.timing import timing_policy
    small_chip["timing"]["mode"] = mode
    small_chip["latency"].update(latency)
    chip = chip_from_data(small_chip, "tiny.yaml")
    arrays = SimpleNamespace(n_cores=2, neurons_per_core=4)
    if enabled is None:
        enabled = np.array([1, 1, 0, 1, 1, 0, 1, 0], bool)
    return timing_policy(chip, SimpleNamespace(n_routers=n_routers), arrays, enabled)


def test_sync_policy_rules_by_hand(small_chip):
    """sync: spikes leave at the tick start, arrive at their due tick's start, inputs are queued at
    their tick's start (never before now), the next tick starts one tick later, chip time = ticks x tick."""
    p = _policy(small_chip, "sync")
    assert p.mode == "sync" and not p.needs_core_counts and p.nominal_tick_ps == 10**9
    assert p.emission_ps(7, np.array([0, 5]), None, None).tolist() == [7, 7]
    assert p.arrival_ps(np.array([7, 7]), None, np.array([3, 1])).tolist() == [3 * 10**9, 10**9]
    assert p.input_ps(np.array([0, 2, 5]), 2 * 10**9).tolist() == [2 * 10**9, 2 * 10**9, 5 * 10**9]
    assert p.next_start(5 * 10**9, np.array([9 * 10**9])) == 6 * 10**9
    assert p.report(np.zeros(4, np.int64), 3) == {"_sim_time_s": 3 * 1e-3}


def test_gals_emission_is_each_cores_counted_work(small_chip):
    """Core 0 holds 3 enabled neurons, core 1 holds 2. With 2.5007 ns per SOP, 5.3 ns per inactive and
    8.4 ns per active update and 2.1003 ns per spike, a core's work is rounded to the nearest ps."""
    p = _policy(small_chip, "gals", synaptic_op_ns=2.5007, neuron_update_ns=5.3, neuron_update_active_ns=8.4,
                spike_ns=2.1003)
    assert p.needs_core_counts and not p.no_latency
    assert p.enabled_per_core.tolist() == [3, 2]
    # core 0: 3 SOPs, 2 active, fires neurons 0 and 1; core 1: 1 SOP, 1 active, fires neuron 4
    fired = np.array([0, 1, 4])
    emit = p.emission_ps(1000, fired, np.array([3, 1]), np.array([2, 1]))
    # core 0: 3 x 2500.7 + 1 x 5300 + 2 x 8400 + 2 x 2100.3 = 33802.7 -> 33803
    # core 1: 1 x 2500.7 + 1 x 5300 + 1 x 8400 + 1 x 2100.3 = 18301.0
    assert p.core_busy_ps.tolist() == [33803, 18301]
    assert emit.tolist() == [1000 + 33803, 1000 + 33803, 1000 + 18301]
    # a spike arrives a route latency after it leaves
    assert p.arrival_ps(emit, np.array([5, 0, 7]), np.array([9, 9, 9])).tolist() == [34808, 34803, 19308]
    # a core with SOPs but no spike: 2 SOPs on core 1 (1 active), nothing on core 0 (idle: 3 x 5.3 ns)
    emit = p.emission_ps(0, np.empty(0, np.int64), np.array([0, 2]), np.array([0, 1]))
    # core 1: 2 x 2500.7 + 1 x 5300 + 1 x 8400 = 18701.4 -> 18701
    assert len(emit) == 0 and p.core_busy_ps.tolist() == [15900, 18701]
    # an idle tick: every enabled neuron inactive (3 x 5.3 ns, 2 x 5.3 ns)
    p.emission_ps(0, np.empty(0, np.int64), np.zeros(2, np.int64), np.zeros(2, np.int64))
    assert p.core_busy_ps.tolist() == [15900, 10600]


@pytest.mark.parametrize("key", ["synaptic_op_ns", "neuron_update_ns", "neuron_update_active_ns", "spike_ns"])
def test_gals_any_one_latency_makes_cores_take_time(small_chip, key):
    """One per-operation latency alone (0.0007 ns = 0.7 ps: rounded to 1 ps) is enough for cores to
    take time; with none at all every spike leaves at the tick start."""
    plain = copy.deepcopy(small_chip)
    p = _policy(small_chip, "gals", **{key: 0.0007})
    assert not p.no_latency and p.needs_core_counts
    # 1 SOP and 1 active update on each core, one spike from each: 0.7 ps -> 1 ps per core
    emit = p.emission_ps(50, np.array([0, 4]), np.array([1, 1]), np.array([1, 1]))
    if key == "neuron_update_ns":  # the active latency defaults to it: every enabled neuron, 3 x 0.7, 2 x 0.7
        expected = [2, 1]
    else:
        expected = [1, 1]
    assert p.core_busy_ps.tolist() == expected and emit.tolist() == [50 + expected[0], 50 + expected[1]]
    none = _policy(plain, "gals")
    assert none.no_latency and not none.needs_core_counts
    assert none.emission_ps(50, np.array([0, 4]), None, None).tolist() == [50, 50]
    assert none.core_busy_ps.tolist() == [0, 0]


def test_gals_one_update_latency_leaves_the_active_split_out(small_chip):
    """Without ``neuron_update_active_ns`` an active update costs an inactive one: the work is
    enabled neurons x update whatever is active."""
    p = _policy(small_chip, "gals", neuron_update_ns=5.3)
    assert p.active_ps == p.update_ps == 5300
    p.emission_ps(0, np.array([0]), np.array([4, 0]), np.array([3, 2]))
    assert p.core_busy_ps.tolist() == [3 * 5300, 2 * 5300]


@pytest.mark.parametrize("barrier_ns, per_router_ns, routers, barrier_ps", [
    (100.0, 10.0, 4, 130000), (0.0017, 0.0, 1, 2), (0.0013, 0.0, 9, 1), (0.0, 0.0003, 4, 1), (0.0, 0.0003, 5, 1),
    (0.0, 0.0004, 6, 2)])
def test_barrier_latency_rounds_to_the_nearest_ps(small_chip, barrier_ns, per_router_ns, routers, barrier_ps):
    """barrier = barrier_ns + barrier_per_router_ns x (routers - 1), rounded to the nearest ps."""
    small_chip["timing"].update({"barrier_ns": barrier_ns, "barrier_per_router_ns": per_router_ns})
    p = _policy(small_chip, "barrier", n_routers=routers)
    assert p.barrier_ps == barrier_ps


def test_barrier_next_start_by_hand(small_chip):
    """The timestep ends at the busiest core's end or the last arrival, whichever is later, plus
    the barrier; inputs are queued now (future starts are unknown)."""
    small_chip["timing"].update({"barrier_ns": 100.0, "barrier_per_router_ns": 10.0})
    p = _policy(small_chip, "barrier", neuron_update_ns=5.3, spike_ns=2.0)
    assert p.barrier_ps == 130000
    assert p.input_ps(np.array([0, 3, 8]), 777).tolist() == [777, 777, 777]
    p.emission_ps(1000, np.array([1, 4, 5]), np.array([0, 0]), np.array([1, 2]))
    assert p.core_busy_ps.tolist() == [3 * 5300 + 2000, 2 * 5300 + 2 * 2000]
    assert p.next_start(1000, None) == 1000 + 17900 + 130000
    assert p.next_start(1000, np.empty(0, np.int64)) == 1000 + 17900 + 130000
    assert p.next_start(1000, np.array([5000, 18899])) == 1000 + 17900 + 130000
    assert p.next_start(1000, np.array([18901, 5000])) == 18901 + 130000
    # nothing priced at all: the 1 ps floor (later ticks still move on)
    free = _policy(small_chip, "barrier", enabled=np.zeros(8, bool))
    free.barrier_ps = 0
    assert free.next_start(40, None) == 41 and free.next_start(41, np.array([41])) == 42


def test_barrier_report_by_hand(small_chip):
    """Timesteps 10, 20 and 30 ps (the array's last entry is beyond the run): chip time 60 ps."""
    small_chip["timing"].update({"barrier_ns": 0.005})
    p = _policy(small_chip, "barrier")
    rep = p.report(np.array([0, 10, 30, 60, 999], np.int64), 3)
    assert rep == {"_sim_time_s": 60e-12, "barrier_s": 5e-12, "timestep_mean_s": 20e-12,
                   "timestep_min_s": 10e-12, "timestep_max_s": 30e-12, "realtime_factor": 3 * 1e-3 / 60e-12}
    rep = p.report(np.array([0, 10], np.int64), 0)
    assert rep == {"_sim_time_s": 0.0, "barrier_s": 5e-12, "timestep_mean_s": None, "timestep_min_s": None,
                   "timestep_max_s": None, "realtime_factor": None}


def test_route_pass_follows_the_policys_arrival_rule(small_chip):
    """The one-pass C routing knows the sync and gals arrival rules (barrier inherits gals'); a policy
    with a rule of its own routes in numpy."""
    from types import SimpleNamespace

    from neuroemu.engine.timing import BarrierPolicy, GalsPolicy, TimingPolicy, route_pass
    assert {k: v.mode for k, v in __import__("neuroemu.engine.timing", fromlist=["POLICIES"]).POLICIES.items()} == \
        {"sync": "sync", "gals": "gals", "barrier": "barrier"}
    assert BarrierPolicy.arrival_ps is GalsPolicy.arrival_ps

    class Own(TimingPolicy):
        def arrival_ps(self, emit, latency, due_tick):
            return emit

    router = SimpleNamespace(neuron_latency=lambda ids: 10 * ids + 5)  # route i: 10 i + 5 ps
    own = Own.__new__(Own)
    own.nominal_tick_ps = 10
    assert route_pass(own, np.array([0, 1]), np.array([1, 1]), router) is None
    axon, delay = np.array([4, -1, 9]), np.array([1, 2, 3])
    for mode in ("sync", "gals", "barrier"):
        rp = route_pass(_policy(copy.deepcopy(small_chip), mode), axon, delay, router)
        # neurons 0 and 2 fire in tick 2 (neuron 1 sends nowhere), emitted at 100 and 300 ps
        arrival, target, due = rp(np.array([0, 1, 2]), np.array([100, 200, 300]), 2, 50)
        assert target.tolist() == [4, 9] and due.tolist() == [3, 5]
        if mode == "sync":  # at the due tick's start
            assert rp.tick_ps == 10**9 and arrival.tolist() == [3 * 10**9, 5 * 10**9]
        else:               # emission + the route's latency
            assert rp.tick_ps == 0 and arrival.tolist() == [100 + 5, 300 + 25]
