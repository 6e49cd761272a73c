"""Benchmark of the packet network: hop events per second, against a SimPy model of the same network.

Workload: a 16 x 16 mesh (XY routing, every link 1 ns latency and 1 packet/ns, input buffers of
4 packets), uniform random traffic (no self-traffic) with Bernoulli injection at 0.15 packets
per node per cycle -- 60 % of the mesh's saturation, 4/k = 0.25 -- for 1000 cycles of 1 ns, then
drained. Both implementations get the same packets.

- ``engine``: :class:`neuroemu.hardware.packet.PacketNetwork` (C window loop, C event queue):
  ``inject`` everything, ``advance`` until idle; best of ``--repeat`` runs. Also reported with
  the pure-Python event queue (``engine_python_queue``).
- ``simpy``: the same model written the way SimPy models usually are: a process per router
  (routing, ejection), and per link a sender process (a Store as the FIFO of waiting packets, a
  Container of credits for the downstream buffer, a timeout for serialisation); the wire is a
  timeout whose callback puts the packet in the next router's inbox (cheaper than a process).

A hop event is one packet crossing one link. Checks (``"verified"``): both deliver every packet,
with the same total of hops (routes are fixed, so this must be exact) and each packet's hops
equal to the route length; mean latencies are printed side by side (tie-breaking between
simultaneous events differs between the two, so they agree closely, not bit for bit).
Prints ONE JSON line.

    .venv/bin/python benchmarks/bench_packet.py            # 1000 cycles
    .venv/bin/python benchmarks/bench_packet.py --quick    # 500 cycles
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import simpy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from neuroemu.hardware.packet import PacketNetwork, serialisation_ps  # noqa: E402
from benchutil import machine  # noqa: E402
from neuroemu.hardware.topology import build_topology  # noqa: E402

CYCLE_PS = 1000


def make_packets(n_nodes: int, rate: float, cycles: int, seed: int):
    """(time_ps, src, dst) of Bernoulli uniform traffic, sorted by time then source."""
    rng = np.random.default_rng(seed)
    cyc, src = np.nonzero(rng.random((cycles, n_nodes)) < rate)
    dst = rng.integers(0, n_nodes - 1, src.size)
    dst += dst >= src
    return cyc.astype(np.int64) * CYCLE_PS, src.astype(np.int64), dst.astype(np.int64)


def run_engine(topology, packets, buffer_packets: int, queue: str):
    """(seconds, delivered time, hops, stats) of one run of the packet engine."""
    t, src, dst = packets
    start = time.perf_counter()
    net = PacketNetwork(topology, buffer_packets=buffer_packets, queue_backend=queue)
    net.inject(t, src, dst, np.arange(t.size))
    out = net.advance(2**62)
    seconds = time.perf_counter() - start
    order = np.argsort(out.tag)
    return seconds, out.time_ps[order], out.hops[order], net.stats


def run_simpy(topology, packets, buffer_packets: int):
    """(seconds, delivered time, hops) of the SimPy model (see the module docstring)."""
    t_inj, src, dst = (a.tolist() for a in packets)
    n = len(t_inj)
    start = time.perf_counter()
    env = simpy.Environment()
    nl = topology.n_links
    next_link = topology.next_link.tolist()
    link_dst = topology.link_dst.tolist()
    lat = topology.link_latency_ps.tolist()
    ser = serialisation_ps(topology.link_bandwidth).tolist()
    inbox = [simpy.Store(env) for _ in range(topology.n_routers)]
    waiting = [simpy.Store(env) for _ in range(nl)]
    credits = [simpy.Container(env, capacity=buffer_packets, init=buffer_packets) for _ in range(nl)]
    buf = [nl + s for s in src]  # the buffer each packet holds: a link, or nl + router (injection)
    hops = [0] * n
    delivered = [-1] * n

    def router(r):
        while True:
            p = yield inbox[r].get()
            if dst[p] == r:
                delivered[p] = env.now
                if buf[p] < nl:
                    credits[buf[p]].put(1)
            else:
                waiting[next_link[r][dst[p]]].put(p)

    def sender(o):
        while True:
            p = yield waiting[o].get()
            yield credits[o].get(1)  # a slot downstream; the FIFO behind p waits meanwhile
            if buf[p] < nl:
                credits[buf[p]].put(1)
            buf[p] = o
            hops[p] += 1
            yield env.timeout(ser[o])
            # the wire: no process of its own, a timeout whose callback hands p to the router
            env.timeout(lat[o], p).callbacks.append(arrive[o])

    def arriver(o):
        box = inbox[link_dst[o]]
        return lambda event: box.put(event.value)

    def injector():
        for p in range(n):
            if t_inj[p] > env.now:
                yield env.timeout(t_inj[p] - env.now)
            inbox[src[p]].put(p)

    for r in range(topology.n_routers):
        env.process(router(r))
    arrive = [arriver(o) for o in range(nl)]
    for o in range(nl):
        env.process(sender(o))
    env.process(injector())
    env.run()
    seconds = time.perf_counter() - start
    return seconds, np.array(delivered, np.int64), np.array(hops, np.int64)


def main() -> None:
    """Run both implementations on the same packets and print one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=16, help="mesh side (k x k)")
    ap.add_argument("--rate", type=float, default=0.15, help="offered load, packets/node/cycle")
    ap.add_argument("--cycles", type=int, default=1000, help="injection cycles of 1 ns")
    ap.add_argument("--buffer", type=int, default=4, help="input buffer per link, packets")
    ap.add_argument("--repeat", type=int, default=5, help="engine runs (the best counts)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="500 cycles")
    args = ap.parse_args()
    cycles = 500 if args.quick else args.cycles
    topology = build_topology("mesh", n_cores=args.k * args.k)
    packets = make_packets(topology.n_cores, args.rate, cycles, args.seed)
    runs = [run_engine(topology, packets, args.buffer, "c") for _ in range(args.repeat)]
    seconds, e_time, e_hops, stats = min(runs, key=lambda r: r[0])
    pq_seconds = min(run_engine(topology, packets, args.buffer, "python")[0] for _ in range(max(1, args.repeat // 2)))
    s_seconds, s_time, s_hops = run_simpy(topology, packets, args.buffer)
    t, src, dst = packets
    total_hops = int(e_hops.sum())
    route = topology.hops[src, dst].astype(np.int64)
    lat_e = (e_time - t).mean() * 1e-12
    lat_s = (s_time - t).mean() * 1e-12
    identical = all(np.array_equal(runs[0][1], r[1]) for r in runs)
    verified = bool(identical and (s_time >= 0).all() and np.array_equal(e_hops, route)
                    and np.array_equal(s_hops, route))
    engine_rate = total_hops / seconds
    simpy_rate = int(s_hops.sum()) / s_seconds
    print(json.dumps({
        "benchmark": "packet_network",
        "topology": f"mesh {args.k}x{args.k}", "pattern": "uniform", "offered_load": args.rate,
        "cycles": cycles, "buffer_packets": args.buffer, "packets": int(t.size), "hop_events": total_hops,
        "events_all": stats["events"],
        "engine": {"seconds": round(seconds, 4), "hop_events_per_s": round(engine_rate),
                   "latency_mean_s": lat_e, "stalls": stats["stalls"],
                   "max_link_utilization": round(stats["max_link_utilization"], 4)},
        "engine_python_queue": {"seconds": round(pq_seconds, 4), "hop_events_per_s": round(total_hops / pq_seconds)},
        "simpy": {"seconds": round(s_seconds, 4), "hop_events_per_s": round(simpy_rate), "latency_mean_s": lat_s},
        "speedup_vs_simpy": round(engine_rate / simpy_rate, 1),
        "verified": verified,
        "machine": {**machine(), "simpy": simpy.__version__},
        "date": datetime.date.today().isoformat(),
    }))


if __name__ == "__main__":
    main()
