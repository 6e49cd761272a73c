"""Brian2's CUBA benchmark network on neuroemu's Loihi model, and (where importable) in Brian2.

The network is Brian2's documented example ``examples/CUBA.py`` (Vogels & Abbott 2005 as a
benchmark, Brette et al. 2007): 4,000 leaky integrate-and-fire neurons, 3,200 excitatory and
800 inhibitory, every pair connected with probability 2 %; taum 20 ms, taue 5 ms, taui 10 ms,
Vt -50 mV, Vr -60 mV, El -49 mV (so every neuron is driven above threshold by its leak), we =
60 x 0.27 / 10 mV, wi = -20 x 4.5 / 10 mV, refractory 5 ms, initial v uniform in [Vr, Vt];
1 s of model time at dt = 0.1 ms (10,000 steps).

Here the connectivity is drawn with numpy from ``--seed`` and written as an edge list (.npz,
:mod:`neuroemu.networks.edgelist`), mapped with ``pack`` onto chips/loihi.yaml run with a
0.1 ms tick (``timing.tick_s``; Loihi's barrier timing otherwise as shipped) and simulated
with every event counted. Brian2, where importable, runs the *same* edges (``connect(i=, j=)``)
in its cython runtime and in cpp_standalone, in this process. Printed: one JSON line with the
wall seconds of each (neuroemu: the simulation loop, setup apart, and ``run_call_s``: the loop
with its one-off preparation and the record's assembly; Brian2 cython: ``run()``;
cpp_standalone: the network time its binary reports), the spike counts side by side, and
``"ratio_vs_brian2_cython"`` (goal >= 3) and ``"ratio_vs_cpp_standalone"``.

How the model is put on Loihi's compartment (u = current, v = voltage; neuroemu.networks.graph):
v is measured from Vr, so the reset is 0 and the threshold 10 mV; the leak towards El is the
bias (El - Vr) dt / taum per step with decay 1 - dt / taum; a spike adds w dt / taum to the
current, which decays with taue. Loihi's compartment has one current, so the inhibitory
current's 10 ms is not kept: its weight is doubled (taui / taue) to keep the charge per spike.
The edge-list network has no refractory field (the chip's compartments do; neuroemu maps 0
here) and no initial voltages: they are written into the mapped arrays before the run (v0 in
chip units). Weights are quantised to Loihi's 8-bit + sign per-synapse weights. So the spike
counts are close, not equal: this is a speed benchmark on the same network and load.

    .venv/bin/python benchmarks/bench_cuba.py                       # 1 s of model time
    .venv/bin/python benchmarks/bench_cuba.py --ms 200 --no-brian   # 200 ms, neuroemu only
    BRIAN_PYTHON=/work/brian-venv/bin/python ... (default) runs Brian2 in that interpreter
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import machine, peak_rss_mib, today  # noqa: E402

N, N_EXC, P_CONNECT = 4000, 3200, 0.02
TAUM, TAUE, TAUI = 20.0, 5.0, 10.0            # ms
VT, VR, EL = -50.0, -60.0, -49.0              # mV
WE, WI = 60 * 0.27 / 10, -20 * 4.5 / 10       # mV
DT = 0.1                                      # ms
REFRACTORY = 5.0                              # ms


def connectivity(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src, dst, initial v in mV) drawn with numpy: each pair with probability 2 %, self-pairs
    included as in Brian2's ``connect(p=0.02)``; v0 uniform in [Vr, Vt]."""
    rng = np.random.default_rng(seed)
    hit = rng.random((N, N)) < P_CONNECT
    src, dst = np.nonzero(hit)
    v0 = VR + rng.random(N) * (VT - VR)
    return src.astype(np.int64), dst.astype(np.int64), v0


def write_network(path: Path, src: np.ndarray, dst: np.ndarray) -> None:
    """The network as an edge list for neuroemu (see the module docstring for the mapping)."""
    from neuroemu.networks.edgelist import save_npz
    from neuroemu.networks.graph import Group, Network
    k = DT / TAUM
    weight = np.where(src < N_EXC, WE * k, WI * k * (TAUI / TAUE))
    net = Network(groups=(Group("exc", 0, N_EXC, "LIF"), Group("inh", N_EXC, N - N_EXC, "LIF")),
                  src_input=np.zeros(len(src), bool), src=src, dst=dst, weight=weight, delay=np.ones(len(src), np.int64),
                  decay=np.full(N, 1 - k), i_decay=np.full(N, np.exp(-DT / TAUE)),
                  threshold=np.full(N, VT - VR), v_reset=np.zeros(N), bias=np.full(N, (EL - VR) * k),
                  i_bias=np.zeros(N), reset_subtract=np.zeros(N, bool), name="brian2_cuba")
    save_npz(net, path)


def run_neuroemu(npz: Path, v0: np.ndarray, ticks: int, seed: int) -> dict:
    """Map with pack on Loihi at a 0.1 ms tick, set the initial voltages, run; loop wall time."""
    import dataclasses
    from neuroemu.config import load_chip, workload_from_data
    from neuroemu.engine.options import RunOptions
    from neuroemu.engine.run import TickLoop
    chip = load_chip("loihi")
    chip = dataclasses.replace(chip, timing=dataclasses.replace(chip.timing, tick_s=DT * 1e-3))
    wl = workload_from_data({"name": "brian2_cuba", "chip": "loihi", "ticks": ticks, "seed": seed,
                             "network": {"kind": "edgelist", "file": str(npz), "mapping": "pack"},
                             "inputs": []}, str(npz.parent / "cuba.yaml"))
    start = time.perf_counter()
    loop = TickLoop(chip, wl, RunOptions(ticks=ticks, seed=seed))
    net = loop.network
    scale = net.quant.scale  # model units (mV) per chip unit, per neuron
    loop.arrays.v[net.global_id] = np.rint((v0 - VR) / scale).astype(np.int32)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    record = loop.run(None)
    run_call = time.perf_counter() - start  # the loop plus its one-off preparation and the record
    return {"setup_s": round(setup, 3), "wall_s": round(record.wall_s, 4), "run_call_s": round(run_call, 4),
            "tick_backend": record.tick_backend, "spikes": record.spikes,
            "sops": record.synaptic_events, "cores": net.cores_used,
            "rate_hz": round(record.spikes / N / (ticks * DT * 1e-3), 2),
            "chip_time_s": record.sim_time_s, "energy_j": record.energy_j}


BRIAN_SCRIPT = r'''
import json, sys, time
import numpy as np
from brian2 import *
data = np.load(sys.argv[1])
mode, ms_run = sys.argv[2], float(sys.argv[3])
if mode == "cpp_standalone":
    set_device("cpp_standalone", directory=sys.argv[4], build_on_run=False)
else:
    prefs.codegen.target = "cython"
defaultclock.dt = 0.1*ms
taum, taue, taui = 20*ms, 5*ms, 10*ms
Vt, Vr, El = -50*mV, -60*mV, -49*mV
eqs = """
dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
dge/dt = -ge/taue : volt
dgi/dt = -gi/taui : volt
"""
P = NeuronGroup(4000, eqs, threshold="v>Vt", reset="v = Vr", refractory=5*ms, method="exact")
P.v = data["v0"]*mV
P.ge = 0*mV
P.gi = 0*mV
we = (60*0.27/10)*mV
wi = (-20*4.5/10)*mV
Ce = Synapses(P, P, on_pre="ge += we")
Ci = Synapses(P, P, on_pre="gi += wi")
src, dst = data["src"], data["dst"]
exc = src < 3200
Ce.connect(i=src[exc], j=dst[exc])
Ci.connect(i=src[~exc], j=dst[~exc])
s_mon = SpikeMonitor(P)
if mode == "cython":
    run(1*ms)  # compile and warm the code objects: not timed
    n0 = s_mon.num_spikes
    start = time.perf_counter()
    run(ms_run*ms)
    wall = time.perf_counter() - start
    spikes = s_mon.num_spikes - n0
else:
    run(ms_run*ms)
    start = time.perf_counter()
    device.build(directory=sys.argv[4], compile=True, run=True)
    wall = time.perf_counter() - start  # compile + run
    spikes = s_mon.num_spikes
    # the network time the binary itself measured (brian2's "last_run_time")
    wall_net = float(device._last_run_time) if getattr(device, "_last_run_time", None) is not None else None
print(json.dumps({"mode": mode, "wall_s": wall, "spikes": int(spikes),
                  "network_s": wall_net if mode != "cython" else wall}))
'''


def run_brian(python: str, data: Path, mode: str, ms_run: float) -> dict:
    """One Brian2 run in its own interpreter (brian2 needs numpy < 2.4; a benchmark-only venv)."""
    with tempfile.TemporaryDirectory() as build:
        out = subprocess.run([python, "-c", BRIAN_SCRIPT, str(data), mode, str(ms_run), build],
                             capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        return {"mode": mode, "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def brian_python() -> str | None:
    """The interpreter with brian2: $BRIAN_PYTHON, /work/brian-venv, or this one."""
    for cand in (os.environ.get("BRIAN_PYTHON"), "/work/brian-venv/bin/python", sys.executable):
        if cand and Path(cand).exists():
            ok = subprocess.run([cand, "-c", "import brian2"], capture_output=True).returncode == 0
            if ok:
                return cand
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ms", type=float, default=1000.0, help="model time (ms), default 1 s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-brian", action="store_true")
    parser.add_argument("--no-standalone", action="store_true", help="skip cpp_standalone (it compiles C++)")
    args = parser.parse_args()
    ticks = int(round(args.ms / DT))
    src, dst, v0 = connectivity(args.seed)
    out = {"bench": "brian2_cuba", "neurons": N, "synapses": int(len(src)), "model_ms": args.ms,
           "ticks": ticks, "seed": args.seed}
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "cuba.npz"
        write_network(npz, src, dst)
        out["neuroemu"] = run_neuroemu(npz, v0, ticks, args.seed)
        out["neuroemu"]["peak_rss_mib"] = peak_rss_mib()
        python = None if args.no_brian else brian_python()
        if python is None:
            out["brian2"] = ("skipped: --no-brian" if args.no_brian else
                             "skipped: brian2 is not importable (a benchmark-only dependency: "
                             "python -m venv /work/brian-venv && /work/brian-venv/bin/pip install 'numpy<2.4' brian2)")
            print(f"bench_cuba: {out['brian2']}", file=sys.stderr)
        else:
            data = Path(tmp) / "cuba_brian.npz"
            np.savez(data, src=src, dst=dst, v0=v0)
            out["brian2_python"] = python
            out["brian2_cython"] = run_brian(python, data, "cython", args.ms)
            if not args.no_standalone:
                out["brian2_cpp_standalone"] = run_brian(python, data, "cpp_standalone", args.ms)
    ne = out["neuroemu"]["wall_s"]
    cy = out.get("brian2_cython", {})
    if "wall_s" in cy:
        out["ratio_vs_brian2_cython"] = round(cy["wall_s"] / ne, 3)  # > 1: neuroemu is faster
    sa = out.get("brian2_cpp_standalone", {})
    if sa.get("network_s"):
        out["ratio_vs_cpp_standalone"] = round(sa["network_s"] / ne, 3)
    out["spike_counts"] = {"neuroemu": out["neuroemu"]["spikes"], "brian2_cython": cy.get("spikes"),
                           "brian2_cpp_standalone": sa.get("spikes")}
    out.update(machine=machine(), date=today())
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
