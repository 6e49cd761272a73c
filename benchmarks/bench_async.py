"""Benchmark of the clockless engine: the default workload under async against sync, same process.

Workload: the embedded default (TrueNorth cores, 16 x 256 neurons, random recurrent network at
20 Hz with stochastic leak, 128 synapses per axon row, 10 Hz Poisson input). Both runs use the
same network and seed; each is timed from ``simulate()`` call to record (building included), best
of ``--repeat``, the sync and async runs alternating so that a change of the machine's load
falls on both. A third run, ``async_window``, is the async run forced through the per-window
Python loop (``NEUROEMU_BLOCK=off`` during that run only); ``async_path`` names the path the async
run took (``c+loop``: many windows per C call, engine/asyncblock.py). The figure of merit is synaptic events (SOPs) per wall second; the ratio
``async_vs_sync`` must be at least 1/3 (issue 12). ``async_vs_sync_cpu`` is the same ratio from
the process's CPU time (time.process_time), which waiting for a shared core does not inflate.
Prints ONE JSON line.

    .venv/bin/python benchmarks/bench_async.py            # 1000 ticks
    .venv/bin/python benchmarks/bench_async.py --ticks 300
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuroemu.engine.run import simulate  # noqa: E402


#: the runs timed, alternating: name -> (timing, $NEUROEMU_BLOCK during the run); "async_window" is
#: the async run forced through the per-window Python loop (the reference the fast path must equal)
RUNS = {"sync": ("sync", "on"), "async": ("async", "on"), "async_window": ("async", "off")}


def best(ticks: int, repeat: int) -> dict:
    """run name -> (best wall seconds, best CPU seconds, record) over ``repeat`` alternating runs."""
    out = {}
    for timing in ("sync", "async"):  # warm up: imports and first-call costs are not the loop's
        simulate(ticks=10, timing=timing)
    before = os.environ.get("NEUROEMU_BLOCK")
    try:
        for _ in range(repeat):
            for name, (timing, block) in RUNS.items():
                os.environ["NEUROEMU_BLOCK"] = block
                start, cpu = time.perf_counter(), time.process_time()
                record = simulate(ticks=ticks, timing=timing)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                w0, c0, _ = out.get(name, (wall, cpu, record))
                out[name] = (min(wall, w0), min(cpu, c0), record)
    finally:
        if before is None:
            os.environ.pop("NEUROEMU_BLOCK", None)
        else:
            os.environ["NEUROEMU_BLOCK"] = before
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = best(args.ticks, args.repeat)
    sync_s, sync_cpu, sync = runs["sync"]
    async_s, async_cpu, asy = runs["async"]
    window_s, window_cpu, win = runs["async_window"]
    sync_rate = sync.synaptic_events / sync_s
    async_rate = asy.synaptic_events / async_s
    cpu_ratio = (asy.synaptic_events / async_cpu) / (sync.synaptic_events / sync_cpu)
    print(json.dumps({
        "bench": "async", "workload": "default", "ticks": args.ticks,
        "sync_wall_s": round(sync_s, 3), "sync_sops": sync.synaptic_events, "sync_sops_per_wall_s": round(sync_rate),
        "async_wall_s": round(async_s, 3), "async_sops": asy.synaptic_events,
        "async_sops_per_wall_s": round(async_rate), "async_spikes": asy.spikes, "sync_spikes": sync.spikes,
        "async_windows": asy.loop_stats.get("windows"), "async_path": asy.tick_backend,
        "async_window_path": win.tick_backend, "async_window_wall_s": round(window_s, 3),
        "async_window_cpu_s": round(window_cpu, 3), "fast_vs_window_cpu": round(window_cpu / async_cpu, 3),
        "baseline": "sync, same process", "async_vs_sync": round(async_rate / sync_rate, 3),
        "sync_cpu_s": round(sync_cpu, 3), "async_cpu_s": round(async_cpu, 3), "async_vs_sync_cpu": round(cpu_ratio, 3),
        "load_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "machine": platform.machine(), "python": platform.python_version(),
        "date": datetime.date.today().isoformat()}))


if __name__ == "__main__":
    main()
