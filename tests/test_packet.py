"""The packet network: zero-load latency formula, contention, back-pressure, determinism
(C vs Python kernel, C vs Python queue, any window or advance cut), deadlock, errors, stats."""
from __future__ import annotations

import numpy as np
import pytest

from neuroemu.errors import NeuroEmuError
from neuroemu.hardware.packet import PacketNetwork, serialisation_ps, zero_load_latency_ps
from neuroemu.hardware.topology import LinkParams, build_topology

FAST = LinkParams(latency_ps=700, bandwidth_pkts_per_ns=3.0)   # ser 333 ps < latency
SLOW = LinkParams(latency_ps=1500, bandwidth_pkts_per_ns=0.4)  # ser 2500 ps > latency

TOPOLOGIES = {
    "mesh": lambda: build_topology("mesh", n_cores=16),
    "mesh-rect": lambda: build_topology("mesh", n_cores=12, width=4, class_links={"y": SLOW}),
    "torus": lambda: build_topology("torus", n_cores=25, link=FAST),
    "tree": lambda: build_topology("tree", n_cores=8, radix=2, class_links={"level3": SLOW}),
    "htree": lambda: build_topology("htree", n_cores=16, link=FAST, pitch_mm=0.5),
}


def _walkable(t) -> None:
    """next_link must lead every packet to its destination in hops[s, d] steps."""
    for s in range(t.n_routers):
        for d in range(t.n_routers):
            r, h = s, 0
            while r != d and h <= t.n_routers:
                link = t.next_link[r, d]
                assert link >= 0 and t.link_src[link] == r, f"next_link[{r}, {d}] = {link} on a route {s}->{d}"
                r, h = int(t.link_dst[link]), h + 1
            assert h == t.hops[s, d], f"route {s}->{d}: {h} steps, hops table says {t.hops[s, d]}"


def _random_traffic(t, n, span_ps, seed):
    rng = np.random.default_rng(seed)
    time = np.sort(rng.integers(0, span_ps, n))
    return time, rng.integers(0, t.n_routers, n), rng.integers(0, t.n_routers, n)


def _run(t, packets, cuts=(2**62,), **kw):
    net = PacketNetwork(t, **kw)
    time, src, dst = packets
    net.inject(time, src, dst, np.arange(time.size) * 7 + 3)
    parts = [net.advance(c) for c in cuts]
    out = [np.concatenate([getattr(p, f) for p in parts]) for f in ("time_ps", "tag", "src_router", "dst_router",
                                                                    "hops")]
    return net, out


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_routes_walkable(name):
    _walkable(TOPOLOGIES[name]())


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_zero_load_latency_formula(name):
    t = TOPOLOGIES[name]()
    n = t.n_routers
    src, dst = np.divmod(np.arange(n * n), n)
    gap = 10 * int(zero_load_latency_ps(t).max()) + 1  # packets far apart: no contention
    time = np.arange(src.size, dtype=np.int64) * gap
    net = PacketNetwork(t)
    net.inject(time, src, dst, np.arange(src.size))
    out = net.advance(2**62)
    assert net.idle() and np.array_equal(out.tag, np.arange(src.size))
    ser = serialisation_ps(t.link_bandwidth)
    expect = np.array([t.path_latency_ps[s, d] + ser[t.route_links(s, d)].sum() for s, d in zip(src, dst)])
    assert np.array_equal(out.time_ps - time, expect)
    assert np.array_equal(out.time_ps - time, zero_load_latency_ps(t)[src, dst])
    assert np.array_equal(out.hops, t.hops[src, dst])
    if np.unique(ser).size == 1:  # one bandwidth: the documented short form
        assert np.array_equal(out.time_ps - time, t.path_latency_ps[src, dst] + t.hops[src, dst] * ser[0])
    st = net.stats
    assert st["hops"]["total"] == int(t.hops[src, dst].sum()) and st["stalls"] == 0
    by_class = t.class_hops[:, src, dst].sum(axis=1)
    assert [st["hops"]["by_class"][c] for c in t.class_names] == by_class.tolist()


def test_self_traffic_is_delivered_at_once():
    net = PacketNetwork(TOPOLOGIES["mesh"]())
    net.inject(np.array([5, 9]), np.array([3, 3]), np.array([3, 3]), np.array([1, 2]))
    out = net.advance(10)
    assert out.time_ps.tolist() == [5, 9] and out.hops.tolist() == [0, 0] and net.idle()


def test_serialisation_queues_packets_on_a_link():
    t = build_topology("mesh", n_cores=4, link=LinkParams(latency_ps=1000, bandwidth_pkts_per_ns=0.5))
    net = PacketNetwork(t)
    net.inject(np.zeros(3, np.int64), np.zeros(3, np.int64), np.ones(3, np.int64), np.arange(3))
    out = net.advance(10**6)
    # one hop of 2000 ps serialisation + 1000 ps latency; each waits for the one before
    assert out.time_ps.tolist() == [3000, 5000, 7000] and out.tag.tolist() == [0, 1, 2]
    st = net.stats
    # the first leaves at once (events are handled one by one), two wait
    assert st["link_peak_queue"].max() == 2 and st["busiest_links"][0]["packets"] == 3
    # latencies 3000, 5000, 7000 ps: median 5000, p99 6960 (linear between the order statistics)
    lat = net.summary()["latency_s"]
    assert (lat["p50"], lat["max"]) == (5000e-12, 7000e-12)
    assert lat["p99"] == pytest.approx(6960e-12, rel=1e-12, abs=0) and lat["mean"] == pytest.approx(5000e-12, rel=1e-12, abs=0)


def test_back_pressure_stalls_and_buffers_stay_bounded():
    # a fast x link into a slow y link: the x link's buffer fills and it must stall
    t = build_topology("mesh", n_cores=4, class_links={"y": LinkParams(latency_ps=100, bandwidth_pkts_per_ns=0.05)})
    n = 20
    net = PacketNetwork(t, buffer_packets=2)
    net.inject(np.zeros(n, np.int64), np.zeros(n, np.int64), np.full(n, 3), np.arange(n))
    out = net.advance(2**62)
    st = net.stats
    assert out.tag.tolist() == list(range(n))  # one FIFO per link: order kept
    assert st["stalls"] > 0 and st["stall_s"] > 0
    # stall time is in seconds, within the run, and the per-link times add up to it
    assert st["stall_s"] <= out.time_ps[-1] * 1e-12
    assert st["link_stall_s"].sum() == pytest.approx(st["stall_s"], rel=1e-12, abs=0)
    assert st["link_peak_buffer"].max() == 2
    x_link = int(t.route_links(0, 3)[0])
    assert st["link_stalls"][x_link] > 0
    # the slow link sends back to back: 20 x 20 ns, plus the first packet's way to it
    assert out.time_ps[-1] == 1000 + 1000 + n * 20000 + 100


@pytest.mark.parametrize("buffer", [1, 2, 4, None])
def test_congested_buffers_never_overflow_and_all_arrive(buffer):
    t = TOPOLOGIES["mesh"]()
    packets = _random_traffic(t, 3000, 200_000, seed=buffer or 0)
    net, (time, tag, src, dst, hops) = _run(t, packets, buffer_packets=buffer)
    assert net.idle() and np.array_equal(np.sort(tag), np.arange(3000) * 7 + 3)
    if buffer is not None:
        assert net.stats["link_peak_buffer"].max() <= buffer
    assert np.array_equal(hops, t.hops[src, dst])
    st = net.stats
    assert st["packets"] == {"injected": 3000, "delivered": 3000, "in_flight": 0}
    assert st["latency_s"]["p50"] <= st["latency_s"]["p99"] <= st["latency_s"]["max"]
    # the latencies are each packet's arrival - injection, reported in seconds
    lat = time - packets[0][(tag - 3) // 7]
    assert st["latency_s"]["max"] == float(lat.max()) * 1e-12
    assert st["latency_s"]["mean"] == pytest.approx(float(lat.mean()) * 1e-12, rel=1e-12, abs=0)


@pytest.mark.parametrize("name", ["mesh", "tree", "torus", "mesh-rect"])
def test_kernels_and_queues_agree_bit_for_bit(name):
    t = TOPOLOGIES[name]()
    packets = _random_traffic(t, 600, 60_000, seed=7)
    runs = [_run(t, packets, buffer_packets=2, kernel=k, queue_backend=q) for k, q in
            (("c", "c"), ("python", "c"), ("c", "python"), ("python", "python"))]
    ref_net, ref = runs[0]
    assert ref_net.stats["stalls"] > 0  # congested enough to exercise back-pressure
    for net, out in runs[1:]:
        for a, b in zip(ref, out):
            assert np.array_equal(a, b)
        for key in ("link_packets", "link_peak_queue", "link_peak_buffer", "link_stalls", "link_stall_s"):
            assert np.array_equal(ref_net.stats[key], net.stats[key]), key
        assert ref_net.stats["events"] == net.stats["events"]


def test_results_do_not_depend_on_windows_or_advance_cuts():
    t = TOPOLOGIES["torus"]()
    packets = _random_traffic(t, 2000, 100_000, seed=3)
    net0, ref = _run(t, packets, buffer_packets=2)
    rng = np.random.default_rng(0)
    cuts = tuple(np.sort(rng.integers(0, 150_000, 40)).tolist()) + (2**62,)
    for kw in ({"window_ps": 1}, {"window_ps": 97}, {"window_ps": 50_000}, {}):
        net, out = _run(t, packets, cuts=cuts, buffer_packets=2, **kw)
        for a, b in zip(ref, out):
            assert np.array_equal(a, b)
        assert np.array_equal(net.stats["link_stalls"], net0.stats["link_stalls"])


def test_injecting_in_steps_reuses_slots():
    t = TOPOLOGIES["tree"]()
    net = PacketNetwork(t)
    rng = np.random.default_rng(5)
    delivered = 0
    for step in range(6):  # more packets in all than the initial 1024 slots, fewer at a time
        n = 700
        base = step * 10**7  # each step drains before the next
        net.inject(base + np.sort(rng.integers(0, 50_000, n)), rng.integers(0, 8, n), rng.integers(0, 8, n),
                   np.arange(n) + step * n)
        out = net.advance(base + 10**7)
        assert np.array_equal(np.sort(out.tag), np.arange(n) + step * n)
        delivered += out.time_ps.size
    assert delivered == 4200 and net.idle() and net.stats["packets"]["delivered"] == 4200


def test_torus_under_overload_does_not_deadlock():
    t = build_topology("torus", n_cores=16)
    rng = np.random.default_rng(2)
    n = 6000
    net = PacketNetwork(t, buffer_packets=2)
    net.inject(np.sort(rng.integers(0, 20_000, n)), rng.integers(0, 16, n), rng.integers(0, 16, n), np.arange(n))
    assert net.advance(2**62).time_ps.size == n and net.stats["stalls"] > 0


def test_deadlock_is_reported(tmp_path):
    # a one-way ring: every route goes round it, so full buffers can wait on each other forever
    path = tmp_path / "ring.graphml"
    path.write_text(
        '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
        '<graph edgedefault="directed">' + "".join(f'<node id="{i}"/>' for i in range(4))
        + "".join(f'<edge source="{i}" target="{(i + 1) % 4}"/>' for i in range(4)) + "</graph></graphml>")
    t = build_topology("custom", n_cores=4, custom_path=str(path))
    n = 400
    src = np.arange(n) % 4
    net = PacketNetwork(t, buffer_packets=1)
    net.inject(np.zeros(n, np.int64), src, (src + 3) % 4, np.arange(n))
    with pytest.raises(NeuroEmuError, match="deadlocked"):
        net.advance(2**62)
    # nothing is pending any more, but packets are still in the network: not idle
    assert net.next_event_time() is None and net.in_flight > 0 and not net.idle()
    unbounded = PacketNetwork(t, buffer_packets=None)
    unbounded.inject(np.zeros(n, np.int64), src, (src + 3) % 4, np.arange(n))
    assert unbounded.advance(2**62).time_ps.size == n


def test_stats_summary():
    t = TOPOLOGIES["mesh"]()
    net, _ = _run(t, _random_traffic(t, 500, 50_000, seed=1))
    st = net.summary(elapsed_ps=100_000)
    assert st["kernel"] in ("c", "python") and st["queue"] in ("c", "python")
    assert st["elapsed_s"] == pytest.approx(1e-7, rel=1e-12, abs=0)
    util = st["link_utilization"]
    assert util.shape == (t.n_links,) and 0 < util.max() <= 1 and st["max_link_utilization"] == util.max()
    busiest = st["busiest_links"]
    assert len(busiest) == 5 and busiest[0]["utilization"] == util.max()
    assert [b["utilization"] for b in busiest] == sorted((b["utilization"] for b in busiest), reverse=True)
    for b in busiest:
        assert (t.link_src[b["link"]], t.link_dst[b["link"]]) == (b["src"], b["dst"])
    assert st["events"]["arrive"] == st["hops"]["total"] == int(st["link_packets"].sum())
    assert net.busy_ps.sum() == st["hops"]["total"] * 1000
    assert st["link_bits_per_s"][0] == pytest.approx(32e9)


def test_idle_and_next_event_time():
    net = PacketNetwork(TOPOLOGIES["mesh"]())
    assert net.idle() and net.next_event_time() is None
    net.inject(np.array([500]), np.array([0]), np.array([1]), np.array([0]))
    assert not net.idle() and net.next_event_time() == 500
    assert net.advance(500).time_ps.size == 0 and net.in_flight == 1
    assert net.advance(2500).time_ps.size == 0
    assert net.advance(2501).time_ps.tolist() == [2500] and net.idle()


@pytest.mark.parametrize("kwargs, match", [
    ({"buffer_packets": 0}, "buffer_packets"),
    ({"buffer_packets": 2.5}, "buffer_packets"),
    ({"packet_bits": 0}, "packet_bits"),
    ({"window_ps": 0}, "window_ps"),
    ({"kernel": "fortran"}, "unknown packet kernel"),
])
def test_bad_construction(kwargs, match):
    with pytest.raises(NeuroEmuError, match=match):
        PacketNetwork(TOPOLOGIES["mesh"](), **kwargs)


def test_torus_needs_two_slots():
    with pytest.raises(NeuroEmuError, match="at least 2"):
        PacketNetwork(TOPOLOGIES["torus"](), buffer_packets=1)


def test_bad_inject_and_advance():
    net = PacketNetwork(TOPOLOGIES["mesh"]())
    with pytest.raises(NeuroEmuError, match="router ids in \\[0, 16\\)"):
        net.inject(np.array([0]), np.array([0]), np.array([16]), np.array([0]))
    with pytest.raises(NeuroEmuError, match="integers"):
        net.inject(np.array([0.5]), np.array([0]), np.array([1]), np.array([0]))
    with pytest.raises(NeuroEmuError, match="one length"):
        net.inject(np.array([0, 1]), np.array([0, 1, 2]), np.array([1]), np.array([0]))
    net.advance(1000)
    with pytest.raises(NeuroEmuError, match=">= 1000 ps"):
        net.inject(np.array([999]), np.array([0]), np.array([1]), np.array([0]))
    with pytest.raises(NeuroEmuError, match="already advanced"):
        net.advance(999)
    assert net.idle()  # nothing was queued by the failed calls


@pytest.mark.parametrize("bw,ps", [(16.0, 63), (80.0, 13), (400.0, 3), (2000.0, 1), (0.4, 2500), (4000.0, 1)])
def test_serialisation_rounds_half_up_to_whole_ps(bw, ps):
    """1000 / bandwidth ps, halves rounded up (62.5 -> 63, 12.5 -> 13, 2.5 -> 3, 0.5 -> 1), at least 1 ps."""
    assert serialisation_ps(bw).tolist() == ps
    t = build_topology("mesh", n_cores=4, link=LinkParams(latency_ps=1000, bandwidth_pkts_per_ns=bw))
    net = PacketNetwork(t)
    net.inject(np.array([0]), np.array([0]), np.array([3]), np.array([7]))  # 2 hops, corner to corner
    assert net.advance(10**9).time_ps.tolist() == [2 * (1000 + ps)] == [zero_load_latency_ps(t)[0, 3]]


def test_an_idle_network_reports_no_latency_and_no_samples():
    net = PacketNetwork(TOPOLOGIES["mesh"]())
    net.advance(10**6)
    summary = net.summary()
    assert summary["latency_samples"] == 0 and summary["latency_s"]["mean"] is None
    assert summary["packets"] == {"injected": 0, "delivered": 0, "in_flight": 0}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kernels_agree_on_a_saturated_torus_with_bursts(seed):
    """Twins fed ties and bursts, not only spread-out traffic: many packets injected on the same
    picoseconds into a saturated torus, so bubble flow control has entering packets (slot 0 among them)
    wait at the head of full queues while continuing ones pass."""
    t = TOPOLOGIES["torus"]()
    rng = np.random.default_rng(seed)
    n = 1500
    time = np.sort(rng.integers(0, 40, n)) * 1000  # 40 distinct injection times: heavy ties
    packets = (time, rng.integers(0, t.n_routers, n), rng.integers(0, t.n_routers, n))
    (c_net, c_out), (p_net, p_out) = (_run(t, packets, buffer_packets=2, kernel=k) for k in ("c", "python"))
    assert c_net.stats["stalls"] > 0
    for a, b in zip(c_out, p_out):
        assert np.array_equal(a, b)
    for key in ("link_packets", "link_peak_queue", "link_peak_buffer", "link_stalls", "link_stall_s"):
        assert np.array_equal(c_net.stats[key], p_net.stats[key]), key



@pytest.mark.parametrize("kernel", ["c", "python"])
def test_the_slot_pool_grows_while_packets_are_in_flight(kernel):
    """Slots grow when an injection needs more than are free: growing while 10 packets still hold
    slots (of the first 1024) puts only the new slots on the free stack, and all 10 + 2000 packets arrive
    with their tags."""
    t = TOPOLOGIES["mesh"]()
    net = PacketNetwork(t, kernel=kernel)
    first = _random_traffic(t, 10, 1000, seed=1)
    net.inject(first[0], first[1], first[2], np.arange(10))
    out = [net.advance(1)]
    assert net.stats["packets"]["in_flight"] == 10 - len(out[0].tag)
    more = _random_traffic(t, 2000, 1000, seed=2)
    net.inject(more[0] + 1, more[1], more[2], np.arange(10, 2010))
    out.append(net.advance(2**62))
    tags = np.sort(np.concatenate([o.tag for o in out]))
    assert np.array_equal(tags, np.arange(2010)) and net.idle()


def test_a_one_router_network_has_no_links_to_report():
    """One router, no link: packets to itself arrive at their injection time with 0 hops, and the
    link figures are empty, the busiest utilisation 0 (not the max of nothing)."""
    t = build_topology("mesh", n_cores=1)
    assert t.n_links == 0
    net, (time, tag, src, dst, hops) = _run(t, (np.array([5, 5, 40]), np.zeros(3, int), np.zeros(3, int)))
    assert time.tolist() == [5, 5, 40] and tag.tolist() == [3, 10, 17] and hops.tolist() == [0, 0, 0]
    st = net.summary(elapsed_ps=100)
    assert st["max_link_utilization"] == 0.0 and st["busiest_links"] == [] and st["link_utilization"].size == 0
    assert st["hops"]["total"] == 0 and st["stalls"] == 0 and st["stall_s"] == 0.0
    assert st["packets"] == {"injected": 3, "delivered": 3, "in_flight": 0}
    assert st["latency_s"] == {"mean": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0} and st["latency_samples"] == 3
    assert st["elapsed_s"] == 100e-12


def test_lookahead_is_the_quickest_link_start_to_reception():
    """lookahead_ps = min over links of latency + serialisation, and it is the default window: on the
    4 x 3 mesh x links take 1000 + 1000 ps, the SLOW y links 1500 + 2500 ps; with FAST links
    everywhere 700 + 333 ps; a network without links gets 1 ps."""
    net = PacketNetwork(TOPOLOGIES["mesh-rect"]())
    assert net.lookahead_ps == net.window_ps == 2000
    assert sorted(set(net.link_ser_ps.tolist())) == [1000, 2500]
    slow_x = build_topology("mesh", n_cores=12, width=4, class_links={"x": SLOW, "y": FAST})
    assert PacketNetwork(slow_x).lookahead_ps == 1033  # the y links are the quicker class here
    assert PacketNetwork(slow_x, window_ps=5).window_ps == 5
    assert PacketNetwork(build_topology("mesh", n_cores=1)).lookahead_ps == 1


@pytest.mark.parametrize("kernel", ["c", "python"])
def test_a_line_of_four_routers_by_hand(kernel):
    """A 4 x 1 mesh, links 1000 ps + 1000 ps serialisation (links 0: 0->1, 1: 1->2, 5: 3->2). Three
    packets 0->2 at 0 ps queue on link 0 (sent at 0, 1000, 2000; received at 2000, 3000, 4000), go on
    over link 1 at once (delivered 4000, 5000, 6000); one 3->2 at 0 ps arrives at 2000; one 1->1 at
    10 ps is delivered at once. Link 0 waits with two packets and frees twice for them; its buffer at
    router 1 holds two; link 1's holds three for an instant at 4000 (packet 2 arrives over link 0
    before packet 0 is delivered over link 1: lower link id first); router 0 queues two injections."""
    t = build_topology("mesh", n_cores=4, width=4, link=LinkParams(latency_ps=1000, bandwidth_pkts_per_ns=1.0))
    assert list(zip(t.link_src.tolist(), t.link_dst.tolist()))[:2] == [(0, 1), (1, 2)]
    assert (int(t.link_src[5]), int(t.link_dst[5])) == (3, 2)
    net = PacketNetwork(t, kernel=kernel)
    net.inject(np.array([0, 0, 0, 0, 10]), np.array([0, 0, 0, 3, 1]), np.array([2, 2, 2, 2, 1]), np.arange(5))
    first = net.advance(5500)
    assert first.time_ps.tolist() == [10, 2000, 4000, 5000] and first.tag.tolist() == [4, 3, 0, 1]
    assert first.hops.tolist() == [0, 1, 2, 2] and first.src_router.tolist() == [1, 3, 0, 0]
    assert net.in_flight == 1 and net.summary()["elapsed_s"] == 5500e-12  # not idle: the time advanced to
    rest = net.advance(10**6)
    assert rest.time_ps.tolist() == [6000] and rest.tag.tolist() == [2] and net.idle()
    st = net.summary()
    assert st["elapsed_s"] == 6000e-12  # idle: the last event's time, not the far advance
    assert st["packets"] == {"injected": 5, "delivered": 5, "in_flight": 0}
    assert st["hops"] == {"total": 7, "by_class": {"x": 7, "y": 0}}
    assert st["events"] == {"arrive": 7, "link_free": 2, "inject": 5}
    # latencies 4000, 5000, 6000, 2000 and 0 ps: mean 3400, median 4000, p99 5000 + 0.96 x 1000
    assert st["latency_s"] == {"mean": 3400e-12, "p50": 4000e-12, "p99": pytest.approx(5960e-12, rel=1e-12, abs=0),
                               "max": 6000e-12} and st["latency_samples"] == 5
    assert st["link_packets"].tolist() == [3, 3, 0, 0, 0, 1]
    assert st["link_utilization"].tolist() == [3000 / 6000, 3000 / 6000, 0, 0, 0, 1000 / 6000]
    assert st["link_peak_queue"].tolist() == [2, 1, 0, 0, 0, 1]
    assert st["link_peak_buffer"].tolist() == [2, 3, 0, 0, 0, 1]
    assert st["injection_peak_queue"] == 2 and st["stalls"] == 0 and st["max_link_utilization"] == 0.5
    # ties on busy time in link order; links that sent nothing are not listed
    assert st["busiest_links"] == [
        {"link": 0, "src": 0, "dst": 1, "class": "x", "utilization": 0.5, "packets": 3, "peak_queue": 2,
         "peak_buffer": 2},
        {"link": 1, "src": 1, "dst": 2, "class": "x", "utilization": 0.5, "packets": 3, "peak_queue": 1,
         "peak_buffer": 3},
        {"link": 5, "src": 3, "dst": 2, "class": "x", "utilization": 1000 / 6000, "packets": 1, "peak_queue": 1,
         "peak_buffer": 1}]
    assert st["link_bits_per_s"].tolist() == [32e9] * 6
    assert net.busy_ps.tolist() == [3000, 3000, 0, 0, 0, 1000]


def test_zero_load_latency_with_bandwidths_that_differ_within_a_class(tmp_path):
    """A custom line a - b - c, one link class: a - b 100 ps at 1 packet/ns (1000 ps to serialise),
    b - c 200 ps at 0.4 (2500 ps). Serialisation is summed link by link along the route (not class
    hops x one value): a -> c takes 100 + 200 + 1000 + 2500 = 3800 ps, a packet delivered exactly then."""
    path = tmp_path / "line.csv"
    path.write_text("a,b,1.0,100,0,1.0,w\nb,c,1.0,200,0,0.4,w\n")
    t = build_topology("custom", n_cores=3, custom_path=str(path))
    assert t.n_classes == 1
    assert zero_load_latency_ps(t).tolist() == [[0, 1100, 3800], [1100, 0, 2700], [3800, 2700, 0]]
    net = PacketNetwork(t)
    net.inject(np.array([0, 10_000]), np.array([0, 2]), np.array([2, 1]), np.array([7, 8]))
    out = net.advance(2**62)
    assert out.time_ps.tolist() == [3800, 12_700] and out.tag.tolist() == [7, 8] and out.hops.tolist() == [2, 1]


def test_the_record_report_drains_the_network_and_divides_by_the_run():
    """At the run's end (3000 ps) two packets of the line above are still in flight: the report
    finishes their routes (all five latencies count), and utilisation is over the run's 3000 ps."""
    t = build_topology("mesh", n_cores=4, width=4, link=LinkParams(latency_ps=1000, bandwidth_pkts_per_ns=1.0))
    net = PacketNetwork(t)
    net.inject(np.array([0, 0, 0, 0, 10]), np.array([0, 0, 0, 3, 1]), np.array([2, 2, 2, 2, 1]), np.arange(5))
    assert net.advance(3000).time_ps.tolist() == [10, 2000] and net.in_flight == 3
    rep = net.record_report(3000)
    assert net.idle() and net.in_flight == 0
    assert (rep["latency_mean_s"], rep["latency_p50_s"], rep["latency_max_s"]) == (3400e-12, 4000e-12, 6000e-12)
    assert rep["latency_p99_s"] == pytest.approx(5960e-12, rel=1e-12, abs=0) and rep["latency_samples"] == 5
    assert rep["max_link_utilization"] == 1.0  # link 0 serialised 3 x 1000 ps in the run's 3000 ps
    assert [(b["link"], b["utilization"]) for b in rep["busiest_links"]] == [(0, 1.0), (1, 1.0), (5, 1000 / 3000)]
    packet = rep["packet"]
    assert packet["elapsed_s"] == 3000e-12 and packet["packets"] == {"injected": 5, "delivered": 5, "in_flight": 0}
    assert set(packet) == {"kernel", "queue", "elapsed_s", "packets", "hops", "events", "stalls", "stall_s",
                           "injection_peak_queue"}
