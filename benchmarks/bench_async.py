"""Benchmark of the clockless engine: the default workload under async against sync, same process.

Workload: the embedded default (TrueNorth cores, 16 x 256 neurons, random recurrent network at
20 Hz with stochastic leak, 128 synapses per axon row, 10 Hz Poisson input). Both runs use the
same network and seed; each is timed from ``simulate()`` call to record (building included), best
of ``--repeat``. The figure of merit is synaptic events (SOPs) per wall second; the ratio
``async_vs_sync`` must be at least 1/3 (issue 12). Prints ONE JSON line.

    .venv/bin/python benchmarks/bench_async.py            # 1000 ticks
    .venv/bin/python benchmarks/bench_async.py --ticks 300
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuroemu.engine.run import simulate  # noqa: E402


def best(timing: str, ticks: int, repeat: int):
    """(best wall seconds, record) of ``repeat`` runs."""
    out = None
    for _ in range(repeat):
        start = time.perf_counter()
        record = simulate(ticks=ticks, timing=timing)
        wall = time.perf_counter() - start
        if out is None or wall < out[0]:
            out = (wall, record)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sync_s, sync = best("sync", args.ticks, args.repeat)
    async_s, asy = best("async", args.ticks, args.repeat)
    sync_rate = sync.synaptic_events / sync_s
    async_rate = asy.synaptic_events / async_s
    print(json.dumps({
        "bench": "async", "workload": "default", "ticks": args.ticks,
        "sync_wall_s": round(sync_s, 3), "sync_sops": sync.synaptic_events, "sync_sops_per_wall_s": round(sync_rate),
        "async_wall_s": round(async_s, 3), "async_sops": asy.synaptic_events,
        "async_sops_per_wall_s": round(async_rate), "async_spikes": asy.spikes, "sync_spikes": sync.spikes,
        "async_windows": asy.timing_report.get("windows"),
        "baseline": "sync, same process", "async_vs_sync": round(async_rate / sync_rate, 3),
        "machine": platform.machine(), "python": platform.python_version(),
        "date": datetime.date.today().isoformat()}))


if __name__ == "__main__":
    main()
