"""A board of Loihi chips (pohoiki_beach, or the same system on a smaller grid): where the time goes.

Builds the chip's default workload once (``neuroemu run CHIP``: the random recurrent network on every
core, barrier timing, the block path) and measures, in this one process:

- **the loop**: the same run's ticks in alternating sub-blocks with the block kernel's due axons
  sorted by core before integrating (``sort_due``, the default) and in arrival order (the code
  before it): loop CPU and wall seconds, SOPs, and the ratio per SOP. The two orders give the same
  record (tests/test_blockrun.py); here they share one network, one state and one load.
- **setup**: the whole build's wall and CPU seconds, then two of its parts against the code they
  replaced, on the first ``--setup-cores`` cores: the balanced crossbar rows (C sliding window
  against the numpy generator, ``use_c=False``, same rows) and each neuron's fan-in (``ne_fan_in``
  against the numpy chunked bincount, same counts).

    .venv/bin/python benchmarks/bench_board.py --grid 2x2              # 4 chips, 512 cores (~1.3 GiB)
    .venv/bin/python benchmarks/bench_board.py --grid 8x8 --ticks 20   # pohoiki_beach itself (~10 GiB)
    .venv/bin/python benchmarks/bench_board.py --chip loihi --ticks 104  # one chip: the sort's effect there

Prints one JSON line (machine, load average, date). CPU seconds are given beside wall seconds:
on a shared machine the wall time stretches with the load, the CPU time far less.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import machine, peak_rss_mib, today  # noqa: E402


def board(grid: tuple[int, int]):
    """chips/pohoiki_beach.yaml with its grid of Loihi chips set to ``grid``."""
    from neuroemu.config import chip_from_data
    from neuroemu.config.loader import read_yaml
    data = read_yaml(ROOT / "chips" / "pohoiki_beach.yaml")
    data["system"]["grid"] = list(grid)
    data["name"] = f"pohoiki_beach_{grid[0]}x{grid[1]}"
    return chip_from_data(data, str(ROOT / "chips" / "pohoiki_beach.yaml"))


def timed(fn, *args, **kw):
    """(result, wall s, CPU s) of one call."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, time.perf_counter() - w, time.process_time() - c


def loop_ab(kernel, ticks: int, per: int, in_ticks: np.ndarray, in_axons: np.ndarray) -> dict:
    """Sub-blocks of ``per`` ticks alternating sort_due on and off on one kernel (after one to warm
up, sorted): CPU, wall, SOPs each."""
    out = {mode: {"cpu_s": 0.0, "wall_s": 0.0, "sops": 0, "ticks": 0} for mode in ("sorted", "arrival", "warm-up")}
    for i, t0 in enumerate(range(0, ticks, per)):
        t1 = min(ticks, t0 + per)
        # the first sub-block warms up (first touches of the ring and scratch); then alternate
        mode = "warm-up" if i == 0 else ("sorted" if i % 2 else "arrival")
        kernel.b.sort_due = int(mode != "arrival")
        sel = (in_ticks >= t0) & (in_ticks < t1)
        before = int(kernel.b.synaptic_op)
        _, wall, cpu = timed(kernel.run, t0, t1, in_ticks[sel], in_axons[sel])
        row = out[mode]
        row["cpu_s"] += cpu
        row["wall_s"] += wall
        row["sops"] += int(kernel.b.synaptic_op) - before
        row["ticks"] += t1 - t0
    for row in out.values():
        row["ns_per_sop_cpu"] = round(row["cpu_s"] / max(row["sops"], 1) * 1e9, 3)
        row["m_sops_per_cpu_s"] = round(row["sops"] / max(row["cpu_s"], 1e-9) / 1e6, 1)
        row["m_sops_per_wall_s"] = round(row["sops"] / max(row["wall_s"], 1e-9) / 1e6, 1)
        row["cpu_s"], row["wall_s"] = round(row["cpu_s"], 4), round(row["wall_s"], 4)
    return out


def setup_parts(chip, workload, cores: int) -> dict:
    """The crossbar rows and the fan-in count of the first ``cores`` cores: new code against old."""
    from neuroemu.hardware.block import synapses_into_each_neuron
    from neuroemu.models.rng import generator
    from neuroemu.networks.crossbars import balanced_crossbar
    core = chip.core
    A, N, k, T = core.axons, core.neurons, workload.network.synapses_per_axon, core.axon_types
    axon_type = np.tile(np.arange(T, dtype=np.int8), cores * A // T)
    view = axon_type.reshape(cores, A)
    view[:] = generator(1, 2).permuted(view, axis=1)
    rows = {}
    for name, use_c in (("c", True), ("numpy", False)):
        rows[name] = timed(balanced_crossbar, cores, cores, A, N, N, k, axon_type, T, generator(1, 1), False,
                           use_c=use_c)
    same_rows = bool(np.array_equal(rows["c"][0][1], rows["numpy"][0][1]))

    class Arrays:  # the fields the fan-in count reads
        n_cores, axons_per_core, neurons_per_core = cores, A, N
        row_ptr, row_neurons = rows["c"][0][0], rows["c"][0][1]

    fan = {name: timed(synapses_into_each_neuron, Arrays, use_c=use_c) for name, use_c in (("c", True), ("numpy", False))}
    return {"cores": cores, "synapses": int(len(Arrays.row_neurons)),
            "crossbar": {"c_cpu_s": round(rows["c"][2], 3), "numpy_cpu_s": round(rows["numpy"][2], 3),
                         "c_wall_s": round(rows["c"][1], 3), "numpy_wall_s": round(rows["numpy"][1], 3),
                         "speedup_cpu": round(rows["numpy"][2] / max(rows["c"][2], 1e-9), 2), "identical": same_rows},
            "fan_in": {"c_cpu_s": round(fan["c"][2], 3), "numpy_cpu_s": round(fan["numpy"][2], 3),
                       "speedup_cpu": round(fan["numpy"][2] / max(fan["c"][2], 1e-9), 2),
                       "identical": bool(np.array_equal(fan["c"][0], fan["numpy"][0]))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="2x2", help="chips of the board, WxH (pohoiki_beach: 8x8)")
    parser.add_argument("--chip", default=None, help="another chip's default workload instead (e.g. loihi)")
    parser.add_argument("--ticks", type=int, default=44, help="ticks of the loop, the warm-up's included (default 44)")
    parser.add_argument("--per", type=int, default=4, help="ticks per alternating sub-block (default 4)")
    parser.add_argument("--setup-cores", type=int, default=64, help="cores for the setup parts (0: skip)")
    args = parser.parse_args()
    from neuroemu.engine.blockrun import BlockRun, ineligible
    from neuroemu.engine.options import RunOptions, resolve
    from neuroemu.engine.run import TickLoop
    w, h = (int(x) for x in args.grid.lower().split("x"))
    chip, workload = resolve(board((w, h)) if args.chip is None else args.chip, None)
    (loop, build_wall, build_cpu) = timed(TickLoop, chip, workload, RunOptions(ticks=args.ticks, seed=workload.seed))
    why = ineligible(loop)
    if why is not None:
        raise SystemExit(f"bench_board: the run does not take the block path ({why})")
    blocks, kernel_wall, kernel_cpu = timed(BlockRun, loop)
    in_ticks, in_axons = blocks._inputs(0, args.ticks, loop.inputs[0].CHUNK if loop.inputs else 0)
    loop_rows = loop_ab(blocks.kernel, args.ticks, args.per, in_ticks, in_axons)
    rss = peak_rss_mib()
    del blocks, loop
    parts = setup_parts(chip, workload, args.setup_cores) if args.setup_cores else None
    s, a = loop_rows["sorted"], loop_rows["arrival"]
    print(json.dumps({"bench": "board", "chip": chip.name, "cores": chip.cores, "timing": chip.timing.mode,
                      "ticks": args.ticks, "setup_wall_s": round(build_wall + kernel_wall, 2),
                      "setup_cpu_s": round(build_cpu + kernel_cpu, 2), "loop": loop_rows,
                      "ratio_arrival_vs_sorted_per_sop_cpu": round(a["ns_per_sop_cpu"] / max(s["ns_per_sop_cpu"], 1e-9), 2),
                      "peak_rss_mib": rss, "setup_parts": parts, "machine": machine(), "date": today(),
                      "command": "benchmarks/bench_board.py " + " ".join(sys.argv[1:])}), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("NEUROEMU_BLOCK", "on")
    main()
