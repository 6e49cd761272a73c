"""The async (clockless) loop split over MPI ranks (issue 17, engine/asyncranks.py): 1 against 2 ranks.

The system and workload of ``bench_mpi.py`` (2 TrueNorth chips cut to 16 x 16 cores, 131,072
neurons, TrueNorth's recurrent benchmark: 20 Hz, 128 synapses per axon, uniformly random
targets, delay 1 tick) under ``timing: async``: each rank runs its own neurons' clockless
windows through spans of the lookahead between ranks (here one tick + the path latency) and
exchanges once per span. Each run is its own ``mpiexec -n N`` process group (N = 1 included, so
both sides pay the same MPI start); the time is the record's ``wall_s`` (the loop, setup
excluded). The JSON line's ratio is ``speedup`` = T1 / T2 (``efficiency`` = speedup / 2), with
the load average, and ``verified``: the records agree on every field but wall time, backends,
memory peak, the loop statistics (``loop_stats``: ``RunResult.comparable`` leaves them out) and
``timing_report.mpi``.

    .venv/bin/python benchmarks/bench_asyncmpi.py            # 20 ticks per run (~30 s at load 11)
    .venv/bin/python benchmarks/bench_asyncmpi.py --ticks 50
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mpi import WORKLOAD, write_system  # noqa: E402
from benchutil import machine, today  # noqa: E402


def worker(system: str, workload: str, ticks: int) -> None:
    """One rank of a run (``--worker``): rank 0 prints the record's figures as one JSON line."""
    from neuroemu.engine.mpi import world
    from neuroemu.engine.ranks import simulate_ranks
    r = simulate_ranks(system, workload, ticks=ticks, timing="async", comm=world())
    if r is None:
        return
    d = r.comparable()
    mpi = d["timing_report"].pop("mpi")
    print(json.dumps({"wall_s": r.wall_s, "spikes": r.spikes, "mpi": mpi, "record": json.dumps(d, sort_keys=True)}))


def launch(ranks: int, system: str, workload: str, ticks: int) -> dict:
    """Run ``--worker`` under ``mpiexec -n ranks``; rank 0's JSON line."""
    from neuroemu.engine.mpi import mpiexec_path
    exe = mpiexec_path()
    if exe is None:
        sys.exit("bench_asyncmpi: mpiexec not found: pip install 'neuroemu[mpi]'")
    out = subprocess.run([exe, "-n", str(ranks), sys.executable, __file__, "--worker", system, workload, str(ticks)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode:
        sys.exit(f"bench_asyncmpi: {ranks} ranks failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ticks", type=int, default=20)
    ap.add_argument("--worker", nargs=3, metavar=("SYSTEM", "WORKLOAD", "TICKS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        system = write_system(folder, (2, 1))
        workload = folder / "workload.yaml"
        workload.write_text(yaml.safe_dump(dict(WORKLOAD, ticks=args.ticks)))
        load_before = round(os.getloadavg()[0], 2)
        one = launch(1, system, str(workload), args.ticks)
        two = launch(2, system, str(workload), args.ticks)
    mpi = two["mpi"]
    speedup = one["wall_s"] / two["wall_s"]
    print(json.dumps({
        "benchmark": "asyncmpi", "ticks": args.ticks, "system_chips": 2, "wall_s_1_rank": round(one["wall_s"], 3),
        "wall_s_2_ranks": round(two["wall_s"], 3), "speedup": round(speedup, 3), "efficiency": round(speedup / 2, 3),
        "spans": mpi["spans"], "lookahead_s": mpi["lookahead_s"], "spikes": one["spikes"],
        "spikes_sent_per_span_per_rank": round(max(mpi["exchanged_spikes_per_rank"]) / max(1, mpi["spans"]), 1),
        # each rank's peak RSS (setup included): a rank builds and holds only its own blocks of cores
        "peak_rss_mb_per_rank_1": one["mpi"]["peak_rss_mb_per_rank"], "peak_rss_mb_per_rank_2": mpi["peak_rss_mb_per_rank"],
        "held_bytes_estimate_1": one["mpi"]["memory_estimate_bytes_per_rank"]["held"],
        "held_bytes_estimate_2": mpi["memory_estimate_bytes_per_rank"]["held"],
        "verified": one["record"] == two["record"],
        "machine": dict(machine(), load_avg_1min_before=load_before), "date": today()}))


if __name__ == "__main__":
    main()
