"""Barrier timing against sync on the same run: Loihi's default workload, both semantics.

Loihi's native timing is ``barrier``: a timestep ends when the busiest core's counted work is done,
the network has drained and the barrier has synchronised. Pricing every core's work each tick must
not cost much more than the sync path, which ignores it. This runs the embedded default workload
on chips/loihi.yaml for ``--ticks`` timesteps under ``--timing sync`` and under ``barrier``
(alternating, ``--repeat`` times each, best of each), the network built once per run, and prints
one JSON line: loop wall seconds of each and ``"ratio_barrier_vs_sync"`` (goal: <= 1.3).
Both runs must count the same spikes and SOPs (``"same_activity"``).

    .venv/bin/python benchmarks/bench_barrier.py              # 100 ticks, best of 2
    .venv/bin/python benchmarks/bench_barrier.py --ticks 50 --repeat 1
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import machine, today  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from neuroemu.engine.options import RunOptions, resolve, with_timing
    from neuroemu.engine.run import TickLoop

    chip, workload = resolve("loihi", None)
    best = {"sync": float("inf"), "barrier": float("inf")}
    setup = {}
    records = {}
    for _ in range(args.repeat):
        for mode in ("sync", "barrier"):
            start = time.perf_counter()
            loop = TickLoop(with_timing(chip, mode), workload, RunOptions(ticks=args.ticks, seed=workload.seed))
            setup[mode] = time.perf_counter() - start
            record = loop.run(None)
            best[mode] = min(best[mode], record.wall_s)
            records[mode] = record
    s, b = records["sync"], records["barrier"]
    print(json.dumps({
        "bench": "barrier_vs_sync", "chip": "loihi", "workload": "default", "ticks": args.ticks,
        "cores": chip.cores, "sops": b.synaptic_events, "spikes": b.spikes,
        "same_activity": s.spikes == b.spikes and s.synaptic_events == b.synaptic_events,
        "sync_wall_s": round(best["sync"], 4), "barrier_wall_s": round(best["barrier"], 4),
        "barrier_ms_per_tick": round(best["barrier"] / args.ticks * 1e3, 3),
        "setup_s": round(setup["barrier"], 3),
        "timestep_mean_s": b.timing_report["timestep_mean_s"],
        "ratio_barrier_vs_sync": round(best["barrier"] / best["sync"], 3),
        "machine": machine(), "date": today(),
    }), flush=True)


if __name__ == "__main__":
    main()
