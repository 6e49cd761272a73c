"""Every shipped chip on its default workload under its native timing: one table.

For each chip in chips/*.yaml: the embedded default workload (TrueNorth's random recurrent
benchmark on every core, 20 Hz, 128 synapses per axon, 10 Hz Poisson input; ``neuroemu run
CHIP``; Neurogrid, whose async engine runs its own network kind, its diffuser workload
workloads/neurogrid_small.yaml, with --full workloads/neurogrid_benchmark.yaml) under the chip's own ``timing.mode`` (sync, gals, barrier or async), each chip in its own
process so peak RSS is its own. Per chip: synaptic events (SOPs) per wall second of the
simulation loop, ms per tick, setup seconds (network generation, routes, everything before the
loop) and peak RSS; also the loop's CPU seconds and SOPs per CPU second, which a shared, loaded
machine stretches far less than wall time (the load average is in the summary): ticks 2 to the
last on the per-tick loop, every tick on the block path (which reports progress per block, so its
CPU time is taken around its run). ``--threads N``
runs every chip with the fused TrueNorth kernel on N threads (TrueNorth-model chips only).
Prints one JSON line per chip, then a Markdown table, then a summary line
whose ``"ratio_min_vs_target"`` is the slowest chip's SOPs per wall second over the 100 M/s
target (the baseline: the TrueNorth run's rate in the same process pool is given beside it).

    .venv/bin/python benchmarks/bench_chips.py              # 20 ticks per chip (short)
    .venv/bin/python benchmarks/bench_chips.py --full       # the workload's 1000 ticks
    .venv/bin/python benchmarks/bench_chips.py --chips loihi,truenorth --ticks 50
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import machine, peak_rss_mib, today  # noqa: E402

TARGET_SOPS_PER_S = 100e6
#: chips whose engine cannot run the embedded default (random recurrent) network: their own
#: workload (short run, --full run)
OWN_WORKLOAD = {"neurogrid": ("workloads/neurogrid_small.yaml", "workloads/neurogrid_benchmark.yaml")}


def run_chip(name: str, ticks: int | None, full: bool, threads: int, queue) -> None:
    """One chip's run (in a child process); its JSON-ready row goes on ``queue``."""
    try:
        from neuroemu import simulate
        from neuroemu.config import load_chip
        chip = load_chip(name)
        start = time.perf_counter()
        own = OWN_WORKLOAD.get(name)
        workload = None if own is None else str(ROOT / own[1 if full else 0])
        cpu = []

        def progress(done, total):  # the loop's CPU time: from the end of its first tick to its last
            if done == 1 or done == total:
                cpu.append((done, time.process_time()))

        # the block path reports progress per block (often one): its CPU time is taken around its run
        import neuroemu.engine.blockrun as blockrun
        block_cpu = []
        block_run = blockrun.BlockRun.run

        def timed_block_run(self, progress_fn):
            c0 = time.process_time()
            block_run(self, progress_fn)
            block_cpu.append(time.process_time() - c0)

        blockrun.BlockRun.run = timed_block_run
        r = simulate(chip, workload, ticks=ticks, progress=progress, threads=threads)
        total = time.perf_counter() - start
        if block_cpu:   # every tick's CPU time, the first one's included
            loop_cpu = block_cpu[0]
            per_cpu = round(r.synaptic_events / loop_cpu) if loop_cpu else None
        else:
            loop_cpu = cpu[-1][1] - cpu[0][1] if len(cpu) == 2 and cpu[0][0] == 1 else None
            per_cpu = (round(r.synaptic_events * (r.ticks - 1) / r.ticks / loop_cpu)
                       if loop_cpu and r.ticks > 1 else None)
        queue.put({"bench": "chips", "chip": name, "workload": r.workload, "timing": chip.timing.mode, "cores": chip.cores,
                   "neurons": r.neurons, "ticks": r.ticks, "sops": r.synaptic_events, "spikes": r.spikes,
                   "wall_s": round(r.wall_s, 4), "setup_s": round(total - r.wall_s, 3),
                   "sops_per_wall_s": round(r.synaptic_events / r.wall_s) if r.wall_s > 0 else None,
                   "ms_per_tick": round(r.wall_s / r.ticks * 1e3, 3), "peak_rss_mib": peak_rss_mib(),
                   "loop_cpu_s": None if loop_cpu is None else round(loop_cpu, 4), "sops_per_cpu_s": per_cpu,
                   "threads": threads})
    except Exception as exc:  # a chip that cannot run the default workload is reported, not fatal
        queue.put({"bench": "chips", "chip": name, "error": f"{type(exc).__name__}: {exc}"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", default=",".join(sorted(p.stem for p in (ROOT / "chips").glob("*.yaml"))))
    parser.add_argument("--ticks", type=int, default=20, help="ticks per chip (default 20)")
    parser.add_argument("--full", action="store_true", help="the workload's own ticks (1000)")
    parser.add_argument("--threads", type=int, default=1, help="threads of the fused TrueNorth kernel")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    rows = []
    for name in args.chips.split(","):
        queue = ctx.Queue()
        proc = ctx.Process(target=run_chip, args=(name, None if args.full else args.ticks, args.full, args.threads, queue))
        proc.start()
        row = queue.get()
        proc.join()
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("| chip | workload | timing | cores | ticks | SOPs | M SOPs / wall s | M SOPs / CPU s | ms / tick | setup s "
          "| peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['chip']} | error: {r['error']} |")
            continue
        rate = r["sops_per_wall_s"] or 0
        per_cpu = "-" if r["sops_per_cpu_s"] is None else f"{r['sops_per_cpu_s'] / 1e6:.1f}"
        print(f"| {r['chip']} | {r['workload']} | {r['timing']} | {r['cores']} | {r['ticks']} | {r['sops']:,} | {rate / 1e6:.1f} "
              f"| {per_cpu} | {r['ms_per_tick']} | {r['setup_s']} | {r['peak_rss_mib']} |")
    ok = [r for r in rows if "error" not in r and r["sops_per_wall_s"]]
    slowest = min(ok, key=lambda r: r["sops_per_wall_s"]) if ok else None
    print(json.dumps({"bench": "chips_summary", "chips": len(rows), "errors": len(rows) - len(ok),
                      "slowest": slowest["chip"] if slowest else None,
                      "ratio_min_vs_target": round(slowest["sops_per_wall_s"] / TARGET_SOPS_PER_S, 3) if slowest else None,
                      "target_sops_per_wall_s": TARGET_SOPS_PER_S, "machine": machine(), "date": today()}), flush=True)


if __name__ == "__main__":
    main()
