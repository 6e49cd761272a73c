"""NVM device cost: wall time of a run with device noise against the same run without, same process.

One JSON line per case on workloads/rram_small.yaml (rram_htree): the run with the chip's device
section replaced by the case, and its ratio against the digital crossbar (no device) on the same
tick kernel -- programming noise, drift and stuck cells cost once, at build; a column ADC (12 bits:
lossless here, so the same spikes) runs in both kernels; read noise draws a number per cell read, in
both kernels (the same draws): each is compared with the digital run on its own kernel and with the
C digital run (the issue's budget: at most 2x).

    .venv/bin/python benchmarks/bench_devices.py
    .venv/bin/python benchmarks/bench_devices.py --ticks 100

Each ratio is the median of the per-turn ratios of runs made in turns with their baseline.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD = ROOT / "workloads" / "rram_small.yaml"


def wall(chip, ticks: int, tick_backend: str | None) -> float:
    """The wall time of one run (the record's wall_s: the event loop alone)."""
    from neuroemu import simulate
    return simulate(chip, WORKLOAD, ticks=ticks, tick_backend=tick_backend).wall_s


def paired(case, base, ticks: int, case_kernel: str, base_kernel: str, repeats: int) -> tuple[float, float, float]:
    """The case and its baseline run in turns, so a load change on a shared machine hits both
    alike: (best case time, best baseline time, median of the per-turn ratios)."""
    t_case, t_base = [], []
    for _ in range(repeats):
        t_base.append(wall(base, ticks, base_kernel))
        t_case.append(wall(case, ticks, case_kernel))
    return min(t_case), min(t_base), statistics.median(c / b for c, b in zip(t_case, t_base))


def main(argv: list[str] | None = None) -> None:
    """Print one JSON line per device case."""
    from neuroemu import load_chip
    from neuroemu.config.schema import Sourced, SynapseDeviceSpec
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    chip = load_chip("rram_htree")
    digital = dataclasses.replace(chip, synapse_device=None)
    cases = {
        "programming_drift_stuck": SynapseDeviceSpec(programming_noise=Sourced(0.05), drift_nu=Sourced(0.05),
                                                     drift_nu_std=Sourced(0.01), stuck_off_fraction=Sourced(0.01)),
        "adc_12bit_lossless": SynapseDeviceSpec(adc_bits=12, adc_fom_pj=Sourced(0.01)),  # same spikes: overhead only
        "read_noise": SynapseDeviceSpec(read_noise=Sourced(0.02)),
    }
    runs = [(name, dev, "c") for name, dev in cases.items()] + [("read_noise", cases["read_noise"], "numpy")]
    for name, dev, kernel in runs:
        case = dataclasses.replace(chip, synapse_device=dev)
        t, same, ratio = paired(case, digital, args.ticks, kernel, kernel, args.repeats)
        ratio_c = paired(case, digital, args.ticks, kernel, "c", args.repeats)[2] if kernel != "c" else ratio
        print(json.dumps({"bench": "devices", "case": name, "ticks": args.ticks, "tick_backend": kernel,
                          "wall_s": round(t, 4), "baseline_wall_s": round(same, 4),
                          "ratio_vs_same_kernel": round(ratio, 2), "ratio_vs_c_digital": round(ratio_c, 2)}),
              flush=True)

if __name__ == "__main__":
    main()
