"""Classification throughput: the digits workload (workloads/digits.yaml) on TrueNorth, Loihi and RRAM.

Per chip, one JSON line: the time to map the network onto the chip, then digits classified per
wall second by the full run (C tick kernels; every event counted, energy ledger and readout
included) and the ratio against a baseline run in the same process on the same digits: the
vectorised numpy tick kernels (``tick_backend="numpy"``). A last line times the chip-free numpy
reference of the network (:func:`neuroemu.networks.graph.simulate_reference`, float weights, one call
per digit) on the same number of digits, for scale.

    .venv/bin/python benchmarks/bench_digits.py                 # all 539 test digits
    .venv/bin/python benchmarks/bench_digits.py --samples 100 --chips loihi
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD = ROOT / "workloads" / "digits.yaml"


def workload_of(samples: int | None):
    """The digits workload, cut to its first ``samples`` digits."""
    from neuroemu import load_workload
    wl = load_workload(WORKLOAD)
    return dataclasses.replace(wl, classify=dataclasses.replace(wl.classify, samples=samples))


def bench_chip(chip_name: str, samples: int | None, baseline_samples: int) -> dict:
    """Map once (timed), run the digits with the C kernels and, on fewer digits, the numpy ones."""
    from neuroemu import load_chip, simulate
    from neuroemu.networks.presentation import load_file_network
    from neuroemu.networks.compile import map_network
    chip, wl = load_chip(chip_name), workload_of(samples)
    start = time.perf_counter()
    map_network(load_file_network(wl, wl.where), chip, strategy=wl.network.mapping, seed=wl.seed)
    map_s = time.perf_counter() - start
    fast, cpu_s = _timed_run(chip, wl)
    base = simulate(chip, workload_of(baseline_samples), tick_backend="numpy")
    os.environ["NEUROEMU_BLOCK"] = "off"
    try:
        per_tick = simulate(chip, workload_of(baseline_samples))
    finally:
        os.environ.pop("NEUROEMU_BLOCK")
    c = fast.workload_report["classification"]
    n_fast, n_base = c["samples"], base.workload_report["classification"]["samples"]
    return {
        "bench": "digits", "chip": chip_name, "samples": n_fast, "accuracy": round(c["accuracy"], 4),
        "map_s": round(map_s, 3), "wall_s": round(fast.wall_s, 3),
        "digits_per_wall_s": round(n_fast / fast.wall_s, 1),
        "ticks_per_wall_s": round(fast.ticks / fast.wall_s), "sops": fast.synaptic_events,
        "energy_per_digit_j": c["energy_per_classification_j"],
        "baseline": "numpy tick kernels", "baseline_digits_per_wall_s": round(n_base / base.wall_s, 1),
        "speedup_vs_baseline": round((base.wall_s / n_base) / (fast.wall_s / n_fast), 2),
        "tick_backend": fast.tick_backend, "us_per_tick": round(fast.wall_s / fast.ticks * 1e6, 2),
        "cpu_us_per_tick": round(cpu_s / fast.ticks * 1e6, 2), "cpu_ticks_per_s": round(fast.ticks / cpu_s),
        "per_tick_loop_ticks_per_wall_s": round(per_tick.ticks / per_tick.wall_s),
        "speedup_vs_per_tick_loop": round((per_tick.wall_s / per_tick.ticks) / (fast.wall_s / fast.ticks), 2),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def _timed_run(chip, wl):
    """simulate's run, with the CPU seconds of its loop beside the record's wall seconds: on a
    shared machine the wall clock also counts the time other processes hold the CPU."""
    from neuroemu.engine.options import RunOptions
    from neuroemu.engine.run import TickLoop
    from neuroemu.networks.presentation import classify_ticks
    loop = TickLoop(chip, wl, RunOptions(ticks=classify_ticks(wl, wl.where), seed=wl.seed))
    start = time.process_time()
    record = loop.run(None)
    return record, time.process_time() - start


def bench_reference(samples: int) -> dict:
    """The chip-free float reference of the same network, one simulate_reference call per digit."""
    import numpy as np

    from neuroemu.networks.graph import simulate_reference
    from neuroemu.networks.presentation import load_dataset, load_file_network
    wl = workload_of(samples)
    net = load_file_network(wl, wl.where)
    rates, _ = load_dataset(wl, net.n_inputs, wl.where)
    present = wl.classify.present_ticks
    start = time.perf_counter()
    for rate in rates:
        hit = np.random.default_rng(0).random((present, len(rate))) < rate
        simulate_reference(net.with_inputs(*np.nonzero(hit)), wl.classify.period)
    wall = time.perf_counter() - start
    return {"bench": "digits_reference", "samples": len(rates), "wall_s": round(wall, 3),
            "digits_per_wall_s": round(len(rates) / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=None, help="digits per chip (default: all 539)")
    parser.add_argument("--baseline-samples", type=int, default=60)
    parser.add_argument("--chips", default="truenorth,loihi,rram_htree")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    for chip in args.chips.split(","):
        print(json.dumps(bench_chip(chip, args.samples, args.baseline_samples)), flush=True)
    print(json.dumps(bench_reference(args.samples or 539)), flush=True)


if __name__ == "__main__":
    main()
