"""NVM device cost: wall time of a run with device noise against the same run without, same process.

One JSON line per case on workloads/rram_small.yaml (rram_htree): the run with the chip's device
section replaced by the case, and its ratio against the digital crossbar (no device) on the same
tick kernel -- programming noise, drift and stuck cells cost once, at build; a column ADC (12 bits: lossless here, so the same spikes) runs in
both kernels; read noise draws a number per cell read and runs on the numpy kernel, so it is
compared with the numpy digital run as well as with the default (C) one.

    .venv/bin/python benchmarks/bench_devices.py
    .venv/bin/python benchmarks/bench_devices.py --ticks 100
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD = ROOT / "workloads" / "rram_small.yaml"


def wall(chip, ticks: int, tick_backend: str | None, repeats: int = 3) -> float:
    """The best wall time of ``repeats`` runs (the record's wall_s: the event loop alone)."""
    from neuroemu import simulate
    return min(simulate(chip, WORKLOAD, ticks=ticks, tick_backend=tick_backend).wall_s for _ in range(repeats))


def main(argv: list[str] | None = None) -> None:
    """Print one JSON line per device case."""
    from neuroemu import load_chip
    from neuroemu.config.schema import Sourced, SynapseDeviceSpec
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=200)
    args = ap.parse_args(argv)
    chip = load_chip("rram_htree")
    digital = dataclasses.replace(chip, synapse_device=None)
    base = {k: wall(digital, args.ticks, k) for k in ("c", "numpy")}
    cases = {
        "programming_drift_stuck": SynapseDeviceSpec(programming_noise=Sourced(0.05), drift_nu=Sourced(0.05),
                                                     drift_nu_std=Sourced(0.01), stuck_off_fraction=Sourced(0.01)),
        "adc_12bit_lossless": SynapseDeviceSpec(adc_bits=12, adc_fom_pj=Sourced(0.01)),  # same spikes: overhead only
        "read_noise": SynapseDeviceSpec(read_noise=Sourced(0.02)),
    }
    for name, dev in cases.items():
        kernel = "numpy" if name == "read_noise" else "c"
        t = wall(dataclasses.replace(chip, synapse_device=dev), args.ticks, kernel)
        print(json.dumps({"bench": "devices", "case": name, "ticks": args.ticks, "tick_backend": kernel,
                          "wall_s": round(t, 4), "baseline_wall_s": round(base[kernel], 4),
                          "ratio_vs_same_kernel": round(t / base[kernel], 2),
                          "ratio_vs_c_digital": round(t / base["c"], 2)}), flush=True)


if __name__ == "__main__":
    main()
