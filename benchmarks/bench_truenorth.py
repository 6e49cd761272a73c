"""Full-chip scale: TrueNorth's recurrent benchmark at 64, 256, 1024 and 4096 cores.

Each size runs in its own process (so peak RSS is per size) with the same per-core activity
(20 Hz, 128 synapses per axon row, uniformly random targets). Prints one JSON line per size:
wall seconds of the simulation loop, SOPs per wall second, peak RSS, and the ratio against a
baseline run of the same size in the same process: the vectorised numpy tick kernels
(``tick_backend="numpy"``) over ``--baseline-ticks`` ticks, compared per tick. A last line
gives the exponent of wall time against SOPs fitted over the sizes (1.0 = linear).

Per size also: ``process_s``, the child's whole run (imports, network, routes, loop, record) up to
the record; ``loop_cpu_s`` beside ``wall_s`` (on a loaded machine wall time stretches, CPU time
much less; None when the ticks ran in one block, ``tick_backend`` ``c+block``); and with ``--threads N`` (N > 1) the same run again with the fused TrueNorth kernel
split over N threads, in the same process, as ``threads_speedup`` (loop wall, 1 thread over N)
with the real-time goal's ratio ``realtime_ratio`` (loop wall per chip second; 1.0 = real time).
The machine's load average is in every line: thread scaling needs idle cores.

    .venv/bin/python benchmarks/bench_truenorth.py                # 1000 ticks per size
    .venv/bin/python benchmarks/bench_truenorth.py --ticks 200 --sizes 64,256
    .venv/bin/python benchmarks/bench_truenorth.py --sizes 4096 --threads 2 --baseline-ticks 10
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing as mp
import os
import resource
import time

SIDES = {64: 8, 256: 16, 1024: 32, 4096: 64}


def chip_of(cores: int):
    """chips/truenorth.yaml cut to a square mesh of ``cores`` cores."""
    from neuroemu.config import load_chip
    chip = load_chip("truenorth")
    side = SIDES[cores]
    topo = dataclasses.replace(chip.topology, width=side, height=side)
    return dataclasses.replace(chip, name=f"truenorth-{cores}", cores=cores, topology=topo)


def kernel_ratios(chip, workload, ticks: int, threads: int) -> dict:
    """The tick kernels alone on the chip's network, in this process, on the same ``ticks`` sets of
    active axons (the run's ~5 per core per tick): the fused kernel on 1 and ``threads`` threads
    against the two-pass C kernels it replaced (dense 0/1 rows, then the neuron pass), CPU and wall
    ms per tick. The states are checked equal after the ticks."""
    import numpy as np
    from neuroemu.hardware.step import TickStepper
    from neuroemu.networks.workloads import build_network
    net = build_network(chip, workload, 1, "bench")
    a = net.arrays
    v0 = a.v.copy()
    draws = np.random.default_rng(0)
    per_tick = round(a.n_axons * 0.02)  # 20 Hz: ~2 % of the axons receive a spike in a tick
    active = [draws.integers(0, a.n_axons, per_tick) for _ in range(ticks + 1)]
    dense = np.zeros((a.n_axons, a.neurons_per_core), np.uint8)
    dense[a.synapse_axons(), a.row_neurons] = 1
    out, states = {}, []
    for name, n in (("two_pass", 1), ("fused", 1), ("fused_threads", threads)):
        a.v[:] = v0
        a.dense = dense if name == "two_pass" else None
        stepper = TickStepper(a, net.enabled, chip.core.membrane_bits, 7, "c", threads=n)
        if name == "two_pass":
            stepper._fused = None
        stepper.step(0, active[0])
        wall, cpu = time.perf_counter(), time.process_time()
        for t in range(1, ticks + 1):
            stepper.step(t, active[t])
        out[name] = {"threads": n, "wall_ms_per_tick": round((time.perf_counter() - wall) / ticks * 1e3, 3),
                     "cpu_ms_per_tick": round((time.process_time() - cpu) / ticks * 1e3, 3)}
        states.append(a.v.copy())
    a.dense = None
    if not all(np.array_equal(states[0], s) for s in states[1:]):
        raise SystemExit("the kernels disagree")
    return {"kernel_ticks": ticks, "kernels": out,
            "fused_speedup_vs_two_pass": round(out["two_pass"]["wall_ms_per_tick"] / out["fused"]["wall_ms_per_tick"], 2),
            "fused_thread_speedup": round(out["fused"]["wall_ms_per_tick"] / out["fused_threads"]["wall_ms_per_tick"], 3)}


def run_size(cores: int, ticks: int, baseline_ticks: int, threads: int, queue) -> None:
    """Run one size (in a child process) and put its JSON-ready result on ``queue``."""
    start = time.perf_counter()
    from neuroemu import simulate
    from neuroemu.config import load_workload
    workload = load_workload("workloads/truenorth_typical.yaml")
    chip = chip_of(cores)
    cpu = [0.0]

    def progress(done, total):  # CPU time of the loop alone: from its first tick to its last
        if done == 1 or done == total:
            cpu.append(time.process_time())

    fast = simulate(chip, workload, ticks=ticks, progress=progress)
    process_s = time.perf_counter() - start
    # (None on the block path, whose progress comes once per block: a 1,000-tick run is one block)
    loop_cpu = round(cpu[-1] - cpu[1], 4) if len(cpu) > 2 else None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    extra = {}
    if threads > 1:
        multi = simulate(chip, workload, ticks=ticks, threads=threads)
        if multi.comparable() != fast.comparable():
            raise SystemExit(f"{threads} threads changed the record")
        extra = {"threads": threads, "threads_wall_s": round(multi.wall_s, 4),
                 "threads_speedup": round(fast.wall_s / multi.wall_s, 3), "threads_same_record": True}
    if threads > 1:
        extra.update(kernel_ratios(chip, workload, 20, threads))
    chip_s = ticks * chip.timing.tick_s
    best = min(fast.wall_s, extra.get("threads_wall_s", fast.wall_s))
    base = simulate(chip, workload, ticks=baseline_ticks, tick_backend="numpy")
    queue.put({
        "bench": "truenorth", "cores": cores, "neurons": fast.neurons, "ticks": ticks,
        "tick_backend": fast.tick_backend,
        "wall_s": round(fast.wall_s, 4), "sops": fast.synaptic_events,
        "sops_per_wall_s": round(fast.synaptic_events / fast.wall_s),
        "ms_per_tick": round(fast.wall_s / ticks * 1e3, 3),
        "peak_rss_mib": round(rss, 1), "mean_rate_hz": round(fast.mean_rate_hz, 3),
        "pj_per_sop": round(fast.pj_per_sop, 3),
        "baseline": "numpy tick kernels", "baseline_ms_per_tick": round(base.wall_s / baseline_ticks * 1e3, 3),
        "speedup_vs_baseline": round((base.wall_s / baseline_ticks) / (fast.wall_s / ticks), 2),
        "process_s": round(process_s, 3), "loop_cpu_s": loop_cpu,
        "realtime_ratio": round(best / chip_s, 3), **extra, "load_avg_1min": round(os.getloadavg()[0], 2),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1000)
    parser.add_argument("--baseline-ticks", type=int, default=50)
    parser.add_argument("--sizes", default="64,256,1024,4096")
    parser.add_argument("--threads", type=int, default=1, help="also run with the kernel on N threads (N > 1)")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    results = []
    for cores in [int(s) for s in args.sizes.split(",")]:
        queue = ctx.Queue()
        proc = ctx.Process(target=run_size, args=(cores, args.ticks, args.baseline_ticks, args.threads, queue))
        proc.start()
        result = queue.get()
        proc.join()
        results.append(result)
        print(json.dumps(result), flush=True)
    if len(results) >= 2:
        xs = [math.log(r["sops"]) for r in results]
        ys = [math.log(r["wall_s"]) for r in results]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        print(json.dumps({"bench": "truenorth_scaling", "fitted_exponent_wall_vs_sops": round(slope, 3)}))


if __name__ == "__main__":
    main()
