"""Mapping speed and quality: pack and locality, new against the code they replaced, in one process.

The baseline is the placement module as it was before issue 13 (``benchmarks/place_baseline.py``,
kept verbatim outside the package: pack with five sorts of every synapse per call, locality by
networkx Kernighan-Lin bisection). Every case runs both in this process and prints one JSON line:
seconds new and baseline, ``"speedup"`` = baseline / new, and for locality the quality side by
side: routed packet hops per tick (what locality minimises, every neuron spiking once) and mean
hops per synapse, old and new (lower is better).

Cases:

- ``pack`` of a sparse network on TrueNorth-sized cores (``--neurons``, default 800,000 -- the
  issue's ~800 k TrueNorth neuron copies -- each with 8 random sources; 256 neurons and 256 axons
  per core, so the axon limit binds and the greedy fill runs over every neuron); the placements
  must be identical (``"identical"``);
- ``locality`` of Brian2's CUBA network (benchmarks/bench_cuba.py: 4,000 neurons, ~320,000
  synapses) compiled onto chips/loihi.yaml (``map_network``, the placement timed inside it; new
  only), then placed on a 16 x 8 mesh with one core per router (Loihi puts 4 cores on a router,
  so there every placement of CUBA's 4 cores costs 0 hops), new against Kernighan-Lin;
  ``--no-kl`` skips that baseline (26-70 s) and reports the new side only;
- ``locality`` of the layered networks of tests/test_place.py (dense and band-connected) on an
  8 x 8 mesh, and of the shipped digits workload on TrueNorth, Loihi and the RRAM H-tree;
- ``locality`` of a 100,000-neuron grid network, 100 synapses each from its 13 x 13
  neighbourhood, on a 16 x 16 mesh of Loihi-sized cores (1,024 neurons, 4,096 axons). The baseline
  lays out pack's parts only (Kernighan-Lin stopped at 4,000 neurons).

    .venv/bin/python benchmarks/bench_mapping.py [--no-kl] [--neurons N]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cuba  # noqa: E402
import place_baseline  # noqa: E402
from benchutil import machine, today  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _network(src, dst, n, name):
    from neuroemu.networks.graph import Group, Network
    return Network(groups=(Group("all", 0, n, "IF"),), src_input=np.zeros(len(src), bool), src=src, dst=dst,
                   weight=np.ones(len(src)), delay=np.ones(len(src), np.int64), decay=np.ones(n),
                   i_decay=np.zeros(n), threshold=np.full(n, 4.0), v_reset=np.zeros(n), bias=np.zeros(n),
                   i_bias=np.zeros(n), reset_subtract=np.zeros(n, bool), name=name)


def sparse_network(n: int, fan_in: int, seed: int):
    """n integrate-and-fire neurons, each with ``fan_in`` random sources (delay 1)."""
    rng = np.random.default_rng(seed)
    return _network(rng.integers(0, n, n * fan_in), np.repeat(np.arange(n, dtype=np.int64), fan_in), n, "sparse")


def grid_network(height: int, width: int, fan_in: int, radius: int, seed: int):
    """Neurons on a height x width torus (row-major ids), each with ``fan_in`` sources drawn from
    the (2 radius + 1)^2 square around it."""
    rng = np.random.default_rng(seed)
    n = height * width
    dst = np.repeat(np.arange(n, dtype=np.int64), fan_in)
    dy, dx = rng.integers(-radius, radius + 1, (2, n * fan_in))
    src = ((dst // width + dy) % height) * width + (dst % width + dx) % width
    return _network(src, dst, n, "grid")


def _timed(fn, *a, **kw):
    start = time.perf_counter()
    out = fn(*a, **kw)
    return time.perf_counter() - start, out


def _quality(report) -> dict:
    return {"packet_hops": round(report.packet_hops, 3), "mean_hops": round(report.mean_hops, 4),
            "cores_used": report.cores_used}


def compare_place(case: str, net, strategy: str, baseline: bool = True, **kw) -> dict:
    """place() new and (when asked) baseline on one network; times, quality and identity."""
    from neuroemu.networks.place import place
    t_new, new = _timed(place, net, strategy=strategy, **kw)
    out = {"bench": f"mapping_{strategy}", "case": case, "neurons": net.n_neurons, "synapses": int(net.n_edges),
           "new_s": round(t_new, 3), "new": _quality(new.report)}
    if baseline:
        t_old, old = _timed(place_baseline.place, net, strategy=strategy, **kw)
        out.update(baseline_s=round(t_old, 3), old=_quality(old.report), speedup=round(t_old / t_new, 2),
                   identical=bool(np.array_equal(new.core_of_neuron, old.core_of_neuron)))
    return out


class _PlaceTimer:
    """Stands in for compile.place and times every call (placement passes of map_network)."""

    def __init__(self, fn):
        self.fn, self.seconds, self.last = fn, 0.0, None

    def __call__(self, *a, **kw):
        t, self.last = _timed(self.fn, *a, **kw)
        self.seconds += t
        return self.last


def compare_map(case: str, net, chip_name: str, baseline: bool = True) -> dict:
    """map_network(locality) with the new and the baseline placement; the placement's seconds."""
    from neuroemu.config import load_chip
    from neuroemu.networks import compile as comp
    chip = load_chip(chip_name)
    out = {"bench": "mapping_locality", "case": case, "chip": chip_name, "neurons": net.n_neurons,
           "synapses": int(net.n_edges)}
    sides = [("new", comp.place)] + ([("old", place_baseline.place)] if baseline else [])
    for label, fn in sides:
        timer = _PlaceTimer(fn)
        comp.place = timer
        try:
            t, mapped = _timed(comp.map_network, net, chip, strategy="locality", seed=1)
        finally:
            comp.place = sides[0][1]
        r = mapped.mapping.report
        out[label] = {**_quality(r), "place_s": round(timer.seconds, 3), "map_network_s": round(t, 3),
                      "neuron_copies": mapped.neuron_copies}
    if baseline:
        out["speedup"] = round(out["old"]["place_s"] / out["new"]["place_s"], 2)
    return out


def layered(band):
    """tests/test_place.py's layered network (inputs, then 4 layers of 64 IF neurons)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_place import layered as make
    return make(band=band)


def digits_network():
    """workloads/digits.npz with the workload's ``neuron_reset: zero``."""
    import dataclasses

    from neuroemu.networks.edgelist import load_network
    net = load_network(ROOT / "workloads" / "digits.npz")
    return dataclasses.replace(net, reset_subtract=np.zeros(net.n_neurons, bool))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-kl", action="store_true", help="skip Kernighan-Lin on CUBA (the slow baseline)")
    parser.add_argument("--neurons", type=int, default=800_000, help="neurons of the sparse pack case")
    parser.add_argument("--grid", type=int, nargs=2, default=(400, 250), help="height width of the grid case")
    args = parser.parse_args()
    from neuroemu.hardware.topology import build_topology
    from neuroemu.networks.edgelist import load_network
    extra = {"machine": machine(), "date": today()}

    def emit(d):
        print(json.dumps({**d, **extra}), flush=True)

    emit(compare_place(f"sparse {args.neurons} x 8 (256 neurons, 256 axons per core)",
                       sparse_network(args.neurons, 8, 1), "pack", n_cores=args.neurons, neurons_per_core=256,
                       axons_per_core=256))
    mesh = build_topology("mesh", n_cores=64)
    for band in (None, 6):
        emit(compare_place(f"layered {'dense 20 %' if band is None else 'band +-6'} (8 x 8 mesh, cores of 32)",
                           layered(band), "locality", n_cores=64, neurons_per_core=32, axons_per_core=256,
                           topology=mesh))
    digits = digits_network()
    for chip in ("truenorth", "loihi", "rram_htree"):
        emit(compare_map("digits", digits, chip))
    src, dst, _ = bench_cuba.connectivity(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cuba.npz"
        bench_cuba.write_network(path, src, dst)
        cuba = load_network(path)
    emit({**compare_map("cuba", cuba, "loihi", baseline=False), "goal_s": 2.0})
    # Loihi's 4 cores per router put CUBA's 4 cores on one router (0 hops whatever the placement):
    # the same cores on a mesh with a router each show the traffic the bisection saves
    emit({**compare_place("cuba (16 x 8 mesh, a router per core, 1,024 neurons and 4,096 axons per core)", cuba,
                          "locality", baseline=not args.no_kl, n_cores=128, neurons_per_core=1024,
                          axons_per_core=4096, topology=build_topology("mesh", n_cores=128, width=16, height=8)),
          "goal_s": 2.0})
    h, w = args.grid
    emit({**compare_place(f"grid {h} x {w} x 100 (16 x 16 mesh, 1,024 neurons and 4,096 axons per core)",
                          grid_network(h, w, 100, 6, 1), "locality", n_cores=256, neurons_per_core=1024,
                          axons_per_core=4096, topology=build_topology("mesh", n_cores=256)), "goal_s": 30.0})


if __name__ == "__main__":
    main()
