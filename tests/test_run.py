"""End to end runs of the fast window loop: records, determinism, counting identities."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neuroemu import simulate
from neuroemu.config import chip_from_data, load_chip, workload_from_data
from neuroemu.kernel.queue import available_backends

REQUIRED_KEYS = ["schema_version", "chip", "workload", "seed", "queue_backend", "ticks", "sim_time_s",
                 "wall_s", "cores", "neurons", "spikes", "synaptic_events", "hops", "energy_j",
                 "energy_breakdown_j", "pj_per_sop", "pj_per_sop_synaptic", "power_w", "gsops_per_w"]


def _tiny(small_chip, small_workload, **net):
    small_workload["network"].update(net)
    return chip_from_data(small_chip, "tiny.yaml"), workload_from_data(small_workload, "w.yaml")


def test_default_run_record_has_every_field():
    r = simulate(ticks=50)
    d = json.loads(r.to_json())
    for key in REQUIRED_KEYS:
        assert key in d, key
    assert d["chip"] == "default" and d["ticks"] == 50 and d["queue_backend"] in available_backends()
    assert d["spikes"] > 0 and d["synaptic_events"] > 0 and d["hops"] > 0
    total = sum(d["energy_breakdown_j"].values())
    assert abs(total - d["energy_j"]) / d["energy_j"] < 1e-12


def test_same_seed_same_record_other_seed_other(small_chip, small_workload):
    chip, wl = _tiny(small_chip, small_workload)
    a, b = simulate(chip, wl), simulate(chip, wl)
    assert a.comparable() == b.comparable()
    c = simulate(chip, wl, seed=wl.seed + 1)
    assert c.comparable() != a.comparable()


@pytest.mark.parametrize("other", ["python"])
def test_queues_give_identical_records(small_chip, small_workload, other):
    chip, wl = _tiny(small_chip, small_workload)
    records = [simulate(chip, wl, queue=q, record_spikes=True) for q in ("c", other)]
    assert records[0].queue_backend == "c" and records[1].queue_backend == other
    assert records[0].comparable() == records[1].comparable()


def test_tick_backends_give_identical_records(small_chip, small_workload):
    chip, wl = _tiny(small_chip, small_workload)
    c = simulate(chip, wl, tick_backend="c", record_spikes=True)
    n = simulate(chip, wl, tick_backend="numpy", record_spikes=True)
    assert c.comparable() == n.comparable()
    # the kernel asked for is the one that ran (C ticks in blocks where the run allows: "c+block")
    assert (c.tick_backend.split("+")[0], n.tick_backend) == ("c", "numpy")


def test_sops_equal_delivered_spikes_times_row_synapses(small_chip, small_workload):
    small_workload["inputs"] = []
    chip, wl = _tiny(small_chip, small_workload)
    r = simulate(chip, wl)
    # a permutation network: every axon has one source, so no two spikes merge on an axon
    assert r.axon_events > 0
    assert r.synaptic_events == r.axon_events * wl.network.synapses_per_axon


def test_mean_rate_within_5_percent_of_target():
    wl = workload_from_data({"name": "rate", "ticks": 400, "seed": 2,
                             "network": {"rate_hz": 20.0, "synapses_per_axon": 128}}, "rate.yaml")
    r = simulate(load_chip(None), wl)
    assert abs(r.mean_rate_hz - 20.0) / 20.0 < 0.05, r.mean_rate_hz


def test_uniform_targets_give_the_closed_form_hop_count():
    # 4 x 4 mesh, targets uniform over all cores (self included): 2 (k^2 - 1) / (3 k) = 2.5 hops
    wl = workload_from_data({"name": "hops", "ticks": 200, "seed": 5,
                             "network": {"rate_hz": 50.0, "synapses_per_axon": 16}}, "hops.yaml")
    r = simulate(load_chip(None), wl)
    assert abs(r.hops_per_spike - 2.5) < 0.05, r.hops_per_spike
    assert r.hops_by_class["x"] + r.hops_by_class["y"] == r.hops


def test_energy_terms_follow_counts(small_chip, small_workload):
    chip, wl = _tiny(small_chip, small_workload)
    r = simulate(chip, wl)
    b = r.energy_breakdown_j
    assert b["synaptic"] == pytest.approx(r.synaptic_events * 1.5e-12, rel=1e-12, abs=0)
    assert b["spike"] == pytest.approx(r.spikes * 3.0e-12, rel=1e-12, abs=0)
    assert b["hop_x"] + b["hop_y"] == pytest.approx(r.hops * 2.3e-12, rel=1e-12, abs=0)
    assert b["static"] == pytest.approx(1e-3 * r.sim_time_s, rel=1e-12, abs=0)
    updates = r.counts["neuron_update"] + r.counts["neuron_update_active"]
    assert updates == r.neurons * r.ticks
    assert r.pj_per_sop == pytest.approx(r.energy_j / r.synaptic_events * 1e12)
    assert r.pj_per_sop_synaptic == pytest.approx(1.5)


def test_spike_trains_are_sparse_and_sorted(small_chip, small_workload):
    chip, wl = _tiny(small_chip, small_workload)
    r = simulate(chip, wl, record_spikes=True)
    t, ids = r.spike_trains.ticks, r.spike_trains.neurons
    assert len(t) == r.spikes
    assert np.all(np.diff(t) >= 0)
    assert np.all((ids >= 0) & (ids < r.neurons))


# --- the window loop's own decisions, pinned -----------------------------------------------------------


def test_a_classifying_workload_runs_the_ticks_asked_and_resets_at_each_presentation():
    """digits shows a sample every 34 ticks (32 + 2 settling): with ticks given, exactly those ticks run,
    and the state is back at rest at the start of each presentation, and only then."""
    from neuroemu.engine.options import RunOptions, resolve
    from neuroemu.engine.run import TickLoop

    class Watch(TickLoop):
        def deliver(self, t, now, start):
            due = super().deliver(t, now, start)
            a = self.arrays
            self.at_rest.append(not a.v.any() and (a.u is None or not a.u.any()))
            return due

    assert simulate(None, "digits", ticks=5).ticks == 5
    chip, wl = resolve(None, "digits")
    loop = Watch(chip, wl, RunOptions(ticks=70, seed=wl.seed))
    loop.at_rest = []
    record = loop.run(None)
    assert record.ticks == 70 and record.spikes > 0
    assert np.flatnonzero(loop.at_rest).tolist() == [0, 34, 68]


def test_wall_time_is_the_time_the_run_took():
    import time
    start = time.perf_counter()
    r = simulate(ticks=5)
    assert 0 < r.wall_s <= time.perf_counter() - start


def test_the_picosecond_clock_limit_counts_the_delay_ticks_and_one_more(small_chip, small_workload):
    """A run's events reach (ticks + max delay + 1) ticks; at exactly 2^62 ps it is refused."""
    from neuroemu.errors import ConfigError
    small_chip["timing"]["tick_s"] = 2**30 * 1e-12  # a tick of exactly 2^30 ps
    chip, wl = _tiny(small_chip, small_workload)
    with pytest.raises(ConfigError, match="int64 picosecond clock"):
        simulate(chip, wl, ticks=2**32 - 15 - 1)


@pytest.mark.parametrize("backend, network, one_pass", [("c", "analytic", True), ("numpy", "analytic", False),
                                                        ("c", "packet", False)])
def test_the_one_pass_c_routing_is_taken_with_the_c_kernels_on_the_analytic_network(small_chip, small_workload,
                                                                                      backend, network, one_pass):
    """Single-target routes are routed in one C pass (hardware/fused.RoutePass) only with the C tick
    kernels on the analytic network: the numpy kernels route in numpy, so the C/numpy twin tests
    compare two implementations of the routing too; packets are injected into the packet network."""
    from neuroemu.engine.options import RunOptions
    from neuroemu.engine.run import TickLoop
    chip, wl = _tiny(small_chip, small_workload)
    loop = TickLoop(chip, wl, RunOptions(ticks=5, seed=3, tick_backend=backend, network=network))
    assert not loop.fanout and loop.stepper.backend == backend
    assert (loop.fast_routes is not None) == one_pass


@pytest.mark.parametrize("late_spikes", ["late", "drop"])
def test_sort_arrivals_by_hand(late_spikes):
    """Tick 5 delivers what was held for it, then the arrivals due now; early ones are held under
    their own tick (7 and 9), a late one (due 4) is a violation, delivered only when kept."""
    from types import SimpleNamespace

    from neuroemu.engine.energy import Ledger
    from neuroemu.engine.run import _sort_arrivals
    policy, ledger = SimpleNamespace(late_spikes=late_spikes), Ledger()
    pending = {5: [np.array([1, 2])], 6: [np.array([3])]}
    got = _sort_arrivals(np.array([10, 11, 12, 13, 14, 15]), np.array([5, 7, 5, 4, 9, 7]), 5, pending, policy, ledger)
    assert got.tolist() == ([1, 2, 10, 12, 13] if late_spikes == "late" else [1, 2, 10, 12])
    assert {k: [a.tolist() for a in v] for k, v in pending.items()} == {6: [[3]], 7: [[11, 15]], 9: [[14]]}
    assert ledger.get("timing_violation") == 1
    # all due now (the usual case): held ones first; nothing at all: an empty int64 array
    got = _sort_arrivals(np.array([20, 21]), np.array([6, 6]), 6, pending, policy, ledger)
    assert got.tolist() == [3, 20, 21]
    empty = _sort_arrivals(np.zeros(0, np.int64), np.zeros(0, np.int64), 8, pending, policy, ledger)
    assert empty.tolist() == [] and empty.dtype == np.int64
    assert _sort_arrivals(np.zeros(0, np.int64), np.zeros(0, np.int64), 9, pending, policy, ledger).tolist() == [14]
    assert ledger.get("timing_violation") == 1 and list(pending) == [7]


def test_drain_files_each_delivery_under_its_due_tick():
    """The packet network run dry one event time at a time: tags are due tick x axons + axon."""
    from types import SimpleNamespace

    from neuroemu.engine.run import _drain

    class Net:
        def __init__(self, events):
            self.events, self.asked = list(events), []

        def idle(self):
            return not self.events

        def next_event_time(self):
            return self.events[0][0]

        def advance(self, until):
            self.asked.append(until)
            t, tags = self.events.pop(0)
            got = np.array(tags if t < until else [], np.int64)
            return SimpleNamespace(time_ps=np.full(len(got), t, np.int64), tag=got)

    net, pending = Net([(5, [23, 31]), (7, []), (9, [27, 21])]), {3: [np.array([0])]}
    assert _drain(net, pending, 10).tolist() == [5, 5, 9, 9]
    assert net.asked == [6, 8, 10]
    assert {k: [a.tolist() for a in v] for k, v in pending.items()} == {2: [[3], [7, 1]], 3: [[0], [1]]}
    assert _drain(Net([]), pending, 10) is None


def test_simulate_refuses_an_unknown_network_fidelity_in_one_line(small_chip, small_workload):
    from neuroemu.errors import ConfigError
    chip, wl = _tiny(small_chip, small_workload)
    with pytest.raises(ConfigError) as err:
        simulate(chip, wl, ticks=2, network="wormhole")
    assert str(err.value) == "--network: unknown network fidelity 'wormhole'; valid: analytic, packet"


def test_simulate_hands_the_run_to_the_loop_asked_for(small_chip, small_workload):
    """``loop``: the tick loop class runs clocked semantics, its ``async_loop`` the clockless one; a loop
    without an async twin refuses async in one line naming the chip."""
    from neuroemu.errors import ConfigError
    chip, wl = _tiny(small_chip, small_workload)
    seen = []

    class Stub:
        def __init__(self, chip, workload, options):
            seen.append((type(self).__name__, chip.timing.mode, options.ticks, options.seed))

        def run(self, progress):
            return "ran"

    class Clockless(Stub):
        pass

    loop = type("Loop", (Stub,), {"async_loop": Clockless})
    assert simulate(chip, wl, ticks=3, loop=loop) == "ran"
    assert simulate(chip, wl, ticks=4, seed=9, loop=loop, timing="async") == "ran"
    assert seen == [("Loop", "sync", 3, 3), ("Clockless", "async", 4, 9)]
    with pytest.raises(ConfigError) as err:
        simulate(chip, wl, ticks=2, loop=Stub, timing="async")
    assert str(err.value).startswith("tiny: timing.mode: async does not run split over MPI ranks by this loop")


@pytest.mark.parametrize("timing", ["sync", "barrier"])
def test_link_stats_are_the_routes_walked_link_by_link(small_chip, small_workload, timing):
    """``link_stats``: every link's source, destination and position, its packets = the spikes fired
    on each route crossing it (routes walked link by link through the topology), its utilisation
    packets x 1 ns (1 packet/ns) over the chip time; the busiest five in order, and the wire per
    spike from the same walk (0.24 mm a hop)."""
    from neuroemu.engine.options import RunOptions, with_timing
    from neuroemu.engine.run import TickLoop
    chip, wl = _tiny(small_chip, small_workload)
    loop = TickLoop(with_timing(chip, timing), wl, RunOptions(ticks=30, seed=3, record_spikes=True, link_stats=True))
    record = loop.run(None)
    topo, a = loop.topology, loop.arrays
    loads, hops, routed = np.zeros(topo.n_links, np.int64), 0, 0
    for n in record.spike_trains.neurons.tolist():
        axon = int(loop.route_axon[n])
        if axon < 0:
            continue
        s = topo.core_router[a.chip_cores(np.array([n // a.neurons_per_core]))[0]]
        d = topo.core_router[a.chip_cores(np.array([axon // a.axons_per_core]))[0]]
        links = topo.route_links(int(s), int(d))
        loads[links] += 1
        hops += len(links)
        routed += 1
    assert routed > 20 and hops > 0
    rep = record.timing_report
    stats = rep["link_stats"]
    assert stats["src"] == topo.link_src.tolist() and stats["dst"] == topo.link_dst.tolist()
    assert stats["router_pos_mm"] == topo.router_pos_mm.tolist()
    assert stats["packets"] == loads.tolist() and record.hops == hops
    assert stats["utilization"] == pytest.approx((loads * 1e-9 / record.sim_time_s).tolist(), rel=1e-12, abs=0)
    order = sorted(range(topo.n_links), key=lambda i: (-loads[i], i))[:5]
    assert [b["link"] for b in rep["busiest_links"]] == order
    assert [b["packets"] for b in rep["busiest_links"]] == [int(loads[i]) for i in order]
    assert rep["max_link_utilization"] == pytest.approx(loads.max() * 1e-9 / record.sim_time_s, rel=1e-12, abs=0)
    assert rep["wire_mm_per_spike"] == pytest.approx(hops * 0.24 / routed, rel=1e-12, abs=0)


@pytest.mark.parametrize("block", ["on", "off"])
def test_a_run_cut_one_tick_short_of_a_samples_end_reports_only_the_whole_samples(block, monkeypatch):
    """digits shows a sample every 34 ticks: 67 ticks hold one whole sample (the second misses its
    last tick), 68 hold two; the chip time per classification (sync) is each whole sample's 34 ticks."""
    monkeypatch.setenv("NEUROEMU_BLOCK", block)
    for ticks, samples in ((67, 1), (68, 2)):
        record = simulate(None, "digits", ticks=ticks, timing="sync")
        report = record.workload_report["classification"]
        assert report["samples"] == samples, ticks
        tick_s = record.sim_time_s / ticks
        assert report["latency_per_classification_s"] == pytest.approx(34 * tick_s, rel=1e-12, abs=0)


def test_a_loop_binding_a_share_of_the_neurons_routes_and_counts_them_from_its_first():
    """A loop that owns cores 2 and 3 only (an MPI rank's share, as engine/ranks.py binds it:
    neuron_base = 2 N, its route sources numbered from there, its fired neurons handed to routing
    shifted): each route leaves from its own neuron's core, each spike is counted under its own
    number, and the hops are those of its neurons' routes walked link by link."""
    from neuroemu.engine.options import RunOptions, resolve
    from neuroemu.engine.run import TickLoop

    class Share(TickLoop):
        def _route_neurons(self):
            N = self.arrays.neurons_per_core
            return 2 * N, 2 * N

        def _bound_routes(self):
            a, g0, n = self.arrays, self.neuron_base, self.neuron_count
            return np.arange(n), a.target_axon[g0:g0 + n].astype(np.int64), a.delay[g0:g0 + n].astype(np.int64)

        def _build_cores(self):
            super()._build_cores()
            step, g0, n = self.stepper.step, self.neuron_base, self.neuron_count

            def own(t, due):  # only its own cores' neurons fire here
                fired, sops, active = step(t, due)
                return fired[(fired >= g0) & (fired < g0 + n)], sops, active
            self.stepper.step = own

        def route_and_emit(self, t, now, emit, fired):
            return super().route_and_emit(t, now, emit, fired - self.neuron_base)

    chip, wl = resolve(None, None)
    share = Share(chip, wl, RunOptions(ticks=30, seed=wl.seed, record_spikes=True, tick_backend="numpy"))
    record = share.run(None)
    a, topo = share.arrays, share.topology
    N, A = a.neurons_per_core, a.axons_per_core
    g0, n = share.neuron_base, share.neuron_count
    assert g0 == 2 * N and n == 2 * N and share.fast_routes is None  # (numpy: spike counts in step_cores)
    neurons = np.arange(g0, g0 + n)
    sends = a.target_axon[neurons] >= 0
    src = topo.core_router[a.chip_cores(neurons[sends] // N)]
    dst = topo.core_router[a.chip_cores(a.target_axon[neurons[sends]] // A)]
    ids = np.flatnonzero(sends)
    assert share.router.src_router(ids).tolist() == src.tolist()
    assert share.router.dst_router(ids).tolist() == dst.tolist()
    fired = record.spike_trains.neurons
    assert fired.min() >= g0 and fired.max() < g0 + n and len(fired) > 10
    assert np.array_equal(share.spikes_per_neuron, np.bincount(fired - g0, minlength=n))
    hops = 0
    for f in fired.tolist():
        axon = int(a.target_axon[f])
        if axon >= 0:
            s_r = topo.core_router[a.chip_cores(np.array([f // N]))[0]]
            d_r = topo.core_router[a.chip_cores(np.array([axon // A]))[0]]
            hops += len(topo.route_links(int(s_r), int(d_r)))
    assert record.hops == hops > 0
