"""The tick loop split over MPI ranks (issue 17): strong and weak scaling, exchange volume, a projection.

Systems of TrueNorth chips cut down to 16 x 16 cores (256 cores of 256 neurons a chip; the core
and every constant are chips/truenorth.yaml's), joined by a system file, running TrueNorth's
recurrent benchmark (20 Hz, 128 synapses per axon, uniformly random targets, delay 1 tick: the
ranks exchange every tick, the worst case). Each run is its own ``mpiexec -n N`` process group
(N = 1 is the plain one-process loop); rank 0 prints the record. Measured:

- strong scaling: the same 2-chip system on 1 and 2 ranks: efficiency = T1 / (2 T2), T the tick
  loop's wall time (the record's ``wall_s``, setup excluded);
- weak scaling: 1 chip per rank: 1 chip on 1 rank, 2 chips on 2 ranks: efficiency = T1 / T2;
- spikes and bytes each rank sends per tick, and the exchange's wall time per tick;
- that the records agree (``verified``: every field but wall time, backends, memory peak and the
  split's own ``mpi`` report, the same on 1 and 2 ranks);
- memory: the peak RSS of every rank on 1 and 2 ranks of a 2-chip Loihi system, whose network
  dominates the process (each rank builds only its own cores: networks/blocks.py), beside the
  per-rank estimate checked before building (``memory``; ``--memory-ticks 0`` skips it).

The JSON line's ratio is ``strong_efficiency`` (1.0: perfect). The machine has 2 cores shared
with other jobs: two ranks compete with them, so efficiencies here are a floor; the load is in
the line. From the measured per-neuron-tick compute and per-rank exchange volume it projects (on
paper, labelled so) ranks, memory and wall time per chip second for NS16e, Pohoiki Beach and
Pohoiki Springs (768 Loihi chips); benchmarks/README.md explains the model.

    .venv/bin/python benchmarks/bench_mpi.py            # 60 ticks per run
    .venv/bin/python benchmarks/bench_mpi.py --ticks 200
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import machine, today  # noqa: E402

CHIP_SIDE = 16  # cores per chip side in the benchmark's systems
WORKLOAD = {"name": "tn_recurrent", "ticks": 60, "seed": 1, "record_spikes": False,
            "network": {"kind": "random_recurrent", "synapses_per_axon": 128, "rate_hz": 20.0, "stochastic": True,
                        "weights": [1, 1, -1, -1], "delay_ticks": [1, 1]}}
#: the projection's assumed interconnect between machines (no measurement of it here)
ALPHA_S = 5e-6        # per Alltoall/Alltoallv round: latency x log2(ranks), a typical InfiniBand figure
BETA_BYTES_S = 5e9    # per-rank injection bandwidth
NODE_BYTES = 24 * 2**30  # one machine like this one


def write_system(folder: Path, grid: tuple[int, int]) -> str:
    """A system of ``grid`` TrueNorth chips cut to CHIP_SIDE x CHIP_SIDE cores; its file's path."""
    chip = yaml.safe_load((ROOT / "chips" / "truenorth.yaml").read_text())
    chip.update(name=f"truenorth_{CHIP_SIDE}x{CHIP_SIDE}", cores=CHIP_SIDE * CHIP_SIDE,
                description="TrueNorth cut to a small mesh for the MPI benchmark")
    chip["topology"].update(width=CHIP_SIDE, height=CHIP_SIDE)
    (folder / "tn_small.yaml").write_text(yaml.safe_dump(chip, sort_keys=False))
    ns16e = yaml.safe_load((ROOT / "chips" / "ns16e.yaml").read_text())
    system = {"name": f"tn_{grid[0]}x{grid[1]}", "system": dict(ns16e["system"], chip="tn_small.yaml", grid=list(grid))}
    path = folder / f"system_{grid[0]}x{grid[1]}.yaml"
    path.write_text(yaml.safe_dump(system, sort_keys=False))
    return str(path)


def worker(system: str, workload: str, ticks: int, split: bool = False) -> None:
    """One rank of a run (``--worker``): rank 0 prints the record's figures as one JSON line
    (``split``: through the rank loop even on one rank, as the memory runs compare like with like)."""
    from neuroemu.engine.mpi import launched_size
    from neuroemu.engine.run import simulate
    if launched_size() > 1 or split:
        from neuroemu.engine.ranks import simulate_ranks as simulate
    r = simulate(system, workload, ticks=ticks, timing="sync")
    if r is None:
        return
    d = r.comparable()
    mpi = d["timing_report"].pop("mpi", None)
    print(json.dumps({"wall_s": r.wall_s, "cores": r.cores, "neurons": r.neurons, "spikes": r.spikes,
                      "sops": r.synaptic_events, "peak_rss_mb": r.peak_rss_mb, "mpi": mpi,
                      "record": json.dumps(d, sort_keys=True)}))


def launch(ranks: int, system: str, workload: str, ticks: int, split: bool = False) -> dict:
    """Run ``--worker`` under ``mpiexec -n ranks``; rank 0's JSON line."""
    from neuroemu.engine.mpi import mpiexec_path
    exe = mpiexec_path()
    if exe is None:
        sys.exit("bench_mpi: mpiexec not found: pip install 'neuroemu[mpi]'")
    out = subprocess.run([exe, "-n", str(ranks), sys.executable, __file__, "--worker", system, workload, str(ticks),
                          *(["--split"] if split else [])], capture_output=True, text=True, timeout=600)
    if out.returncode:
        sys.exit(f"bench_mpi: {ranks} ranks failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_loihi_pair(folder: Path) -> str:
    """Two Loihi chips (2 x 1) joined as Pohoiki Beach joins its 64: the memory runs' system."""
    board = yaml.safe_load((ROOT / "chips" / "pohoiki_beach.yaml").read_text())
    path = folder / "loihi_2x1.yaml"
    path.write_text(yaml.safe_dump({"name": "loihi_2x1", "system": dict(board["system"], chip="loihi", grid=[2, 1])}))
    return str(path)


def memory_runs(system: str, workload: str, ticks: int) -> dict:
    """Peak RSS of every rank on 1 and 2 ranks (both through the rank loop), beside the estimate.

    The network (2 x 128 Loihi cores of 4,096 axons x 128 synapses, ~300 MB) dominates the process
    here, unlike the TrueNorth systems above, so a rank's share shows in its RSS."""
    one, two = launch(1, system, workload, ticks, split=True), launch(2, system, workload, ticks, split=True)
    out = {"system": "2 Loihi chips (2 x 1), 256 cores, 262,144 compartments", "ticks": ticks,
           "verified": one["record"] == two["record"]}
    for name, run in (("1_rank", one), ("2_ranks", two)):
        est = run["mpi"]["memory_estimate_bytes_per_rank"]
        out[name] = {"peak_rss_mb_per_rank": run["mpi"]["peak_rss_mb_per_rank"],
                     "estimate_mb_per_rank": {k: round(v / 2**20, 1) for k, v in est.items()
                                              if k not in ("by_block", "cores")},
                     "routes_bound_per_rank": run["mpi"]["routes_bound_per_rank"]}
    return out


def per_tick(run: dict, ticks: int) -> dict:
    """Spikes, bytes and exchange seconds per tick per rank (the busiest rank)."""
    mpi = run["mpi"]
    return {"spikes_sent_per_tick_per_rank": max(mpi["exchanged_spikes_per_rank"]) / ticks,
            "bytes_sent_per_tick_per_rank": max(mpi["exchanged_bytes_per_rank"]) / ticks,
            "exchange_s_per_tick": max(mpi["exchange_wall_s_per_rank"]) / ticks}


def project(neuron_tick_s: float, bytes_per_spike: int, rate_hz: float) -> list[dict]:
    """On paper: ranks, memory per rank and wall time per chip second of three boards.

    A rank holds whole chips and fits one 24 GiB machine (80 %); compute per tick = neurons per rank
    x the measured seconds per neuron-tick of the TrueNorth benchmark (Loihi's compartments are
    priced at that cost too: an assumption, no Loihi system was measured); with uniformly random targets, (N - 1) / N of a rank's
    spikes leave it, each a ``bytes_per_spike`` row, sent in one Alltoallv per tick priced at the
    assumed ALPHA_S x log2(N) + bytes / BETA_BYTES_S. Memory: the network's estimate / N (the held
    state) plus per-route tables (route ids, hops per class, latency, wire: 40 B a route), which
    assumes closed-form routes on the joined mesh; ``routing_tables_now_gib`` is what every rank
    holds today (the joined mesh's [n_routers, n_routers] tables, whole on every rank: the step
    still to take, docs/systems.md).
    """
    import math
    from neuroemu.config.loader import load_chip
    from neuroemu.config.schema import NetworkSpec
    from neuroemu.hardware.system import system_table_bytes
    from neuroemu.networks.workloads import estimate_bytes
    boards = [("ns16e", "chips/ns16e.yaml", 16), ("pohoiki_beach", "chips/pohoiki_beach.yaml", 64),
              ("pohoiki_springs (768 Loihi chips, on paper)", "chips/pohoiki_beach.yaml", 768)]
    net = NetworkSpec(kind="random_recurrent", synapses_per_axon=128, rate_hz=rate_hz)
    rows = []
    for name, path, chips in boards:
        chip = load_chip(str(ROOT / path))
        per_chip = chip.system.grid[0] * chip.system.grid[1]
        per_chip_cores = chip.cores // per_chip
        routers = chip.topology.width * chip.topology.height // per_chip * chips
        cores = per_chip_cores * chips
        neurons = cores * chip.core.neurons
        state = estimate_bytes(chip, net) / chip.cores * cores  # the held network, all chips
        routes = 40 * neurons
        fewest = 1
        while (state / fewest + routes) > 0.8 * NODE_BYTES or chips % fewest:
            fewest += 1
        for ranks in sorted({fewest, chips}):  # the fewest machines that hold it, and one chip per rank
            spikes = neurons / ranks * rate_hz * 1e-3 * (ranks - 1) / ranks
            exchange = (ALPHA_S * max(1.0, math.log2(ranks)) + spikes * bytes_per_spike / BETA_BYTES_S
                        if ranks > 1 else 0.0)
            compute = neurons / ranks * neuron_tick_s
            rows.append({"system": name, "chips": chips, "cores": cores, "neurons": neurons, "ranks": ranks,
                         "memory_per_rank_gib": round((state / ranks + routes) / 2**30, 2),
                         "routing_tables_now_gib": round(system_table_bytes(routers) / 2**30, 1),
                         "spikes_sent_per_tick_per_rank": round(spikes),
                         "compute_s_per_tick": round(compute, 5), "exchange_s_per_tick": round(exchange, 6),
                         "wall_s_per_chip_second": round(1000 * (compute + exchange), 1)})
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ticks", type=int, default=60)
    ap.add_argument("--memory-ticks", type=int, default=10, help="ticks of the memory runs (0: skip them)")
    ap.add_argument("--worker", nargs=3, metavar=("SYSTEM", "WORKLOAD", "TICKS"), help=argparse.SUPPRESS)
    ap.add_argument("--split", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]), args.split)
        return
    ticks = args.ticks
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one_chip, two_chips = write_system(folder, (1, 1)), write_system(folder, (2, 1))
        workload = folder / "workload.yaml"
        workload.write_text(yaml.safe_dump(dict(WORKLOAD, ticks=ticks)))
        load_before = round(os.getloadavg()[0], 2)
        strong1 = launch(1, two_chips, str(workload), ticks)
        strong2 = launch(2, two_chips, str(workload), ticks)
        weak1 = launch(1, one_chip, str(workload), ticks)
        memory = (memory_runs(write_loihi_pair(folder), str(workload), args.memory_ticks)
                  if args.memory_ticks else None)
    verified = strong1["record"] == strong2["record"]
    strong_eff = strong1["wall_s"] / (2 * strong2["wall_s"])
    weak_eff = weak1["wall_s"] / strong2["wall_s"]
    neuron_tick_s = strong1["wall_s"] / (ticks * strong1["neurons"])
    volume = per_tick(strong2, ticks)
    line = {"benchmark": "mpi", "ticks": ticks, "chip_cores": CHIP_SIDE * CHIP_SIDE,
            "strong": {"system_chips": 2, "cores": strong1["cores"], "wall_s_1_rank": round(strong1["wall_s"], 3),
                       "wall_s_2_ranks": round(strong2["wall_s"], 3), "speedup": round(strong1["wall_s"] / strong2["wall_s"], 3),
                       "efficiency": round(strong_eff, 3)},
            "weak": {"chips_per_rank": 1, "wall_s_1_rank_1_chip": round(weak1["wall_s"], 3),
                     "wall_s_2_ranks_2_chips": round(strong2["wall_s"], 3), "efficiency": round(weak_eff, 3)},
            "exchange_2_ranks": {k: round(v, 6) for k, v in volume.items()},
            "window_ticks": strong2["mpi"]["window_ticks"], "spikes": strong1["spikes"],
            "neuron_tick_s_1_rank": neuron_tick_s, "verified": verified,
            "strong_efficiency": round(strong_eff, 3),
            "memory": memory,
            "projection_on_paper": project(neuron_tick_s, 24, WORKLOAD["network"]["rate_hz"]),
            "machine": dict(machine(), load_avg_1min_before=load_before), "date": today()}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
