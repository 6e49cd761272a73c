"""Mapping speed: pack and locality on Brian2's CUBA network (benchmarks/bench_cuba.py).

- ``pack`` of the CUBA network (4,000 neurons, ~320,000 synapses) onto chips/loihi.yaml;
- ``pack`` of a large sparse network on TrueNorth-sized cores (``--neurons``, default 200,000,
  each with 8 random sources; 256 neurons and 256 axons per core), where the axon limit binds,
  so the greedy fill runs over every neuron (the CUBA network fits Loihi's 4,096 axons per core
  without it). The issue's case, ~800,000 TrueNorth neuron copies, is ``--neurons 800000``;
- ``locality`` of the CUBA network onto Loihi (Kernighan-Lin bisection of the synapse graph,
  laid out on the mesh; ``--no-locality`` skips it, it is the slow one).

Each pack runs twice in this process: with the greedy fill in C (``ne_pack_greedy``) and, as
the baseline, with the Python loop it replaced (``place._pack_loop``); the placements must be
identical (``"identical"``). One JSON line per case; ``"speedup"`` = baseline / new.

    .venv/bin/python benchmarks/bench_mapping.py
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
from benchutil import machine, today  # noqa: E402


def sparse_network(n: int, fan_in: int, seed: int):
    """n integrate-and-fire neurons, each with ``fan_in`` random sources (delay 1)."""
    from neuroemu.networks.graph import Group, Network
    rng = np.random.default_rng(seed)
    dst = np.repeat(np.arange(n, dtype=np.int64), fan_in)
    src = rng.integers(0, n, n * fan_in)
    return Network(groups=(Group("all", 0, n, "IF"),), src_input=np.zeros(len(src), bool), src=src, dst=dst,
                   weight=np.ones(len(src)), delay=np.ones(len(src), np.int64), decay=np.ones(n),
                   i_decay=np.zeros(n), threshold=np.full(n, 4.0), v_reset=np.zeros(n), bias=np.zeros(n),
                   i_bias=np.zeros(n), reset_subtract=np.zeros(n, bool), name="sparse")


def bench_place_pack(n: int) -> dict:
    """place(strategy="pack") with the C greedy fill against the Python loop."""
    from neuroemu.networks import place
    net = sparse_network(n, 8, 1)
    kw = dict(strategy="pack", n_cores=n, neurons_per_core=256, axons_per_core=256)
    start = time.perf_counter()
    new = place.place(net, **kw)
    t_new = time.perf_counter() - start
    fast = place.pack_greedy_c
    place.pack_greedy_c = lambda *a: (None, -1)  # as if the C kernels were not built: the Python loop
    try:
        start = time.perf_counter()
        ref = place.place(net, **kw)
        t_ref = time.perf_counter() - start
    finally:
        place.pack_greedy_c = fast
    return {"bench": "mapping_pack", "case": f"sparse {n} x 8 (256 neurons, 256 axons per core)",
            "neurons": n, "synapses": int(net.n_edges), "cores_used": int(new.core_of_neuron.max()) + 1,
            "new_s": round(t_new, 3), "baseline_s": round(t_ref, 3), "baseline": "Python loop per neuron",
            "identical": bool(np.array_equal(new.core_of_neuron, ref.core_of_neuron)), "speedup": round(t_ref / t_new, 2)}


def timed_map(net, chip, strategy: str):
    from neuroemu.networks.compile import map_network
    start = time.perf_counter()
    mapped = map_network(net, chip, strategy=strategy, seed=1)
    return time.perf_counter() - start, mapped


def bench_pack(net, chip_name: str, label: str) -> dict:
    from neuroemu.config import load_chip
    from neuroemu.networks import place
    chip = load_chip(chip_name)
    t_new, new = timed_map(net, chip, "pack")
    fast = place.pack_greedy_c
    place.pack_greedy_c = lambda *a: (None, -1)  # as if the C kernels were not built: the Python loop
    try:
        t_ref, ref = timed_map(net, chip, "pack")
    finally:
        place.pack_greedy_c = fast
    return {"bench": "mapping_pack", "case": label, "chip": chip_name, "neurons": net.n_neurons,
            "synapses": int(net.n_edges), "cores_used": new.cores_used, "neuron_copies": new.neuron_copies,
            "new_s": round(t_new, 3), "baseline_s": round(t_ref, 3), "baseline": "Python loop per neuron",
            "identical": bool(np.array_equal(new.global_id, ref.global_id) and new.cores_used == ref.cores_used),
            "speedup": round(t_ref / t_new, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-locality", action="store_true")
    parser.add_argument("--neurons", type=int, default=200_000)
    args = parser.parse_args()
    from neuroemu.config import load_chip
    from neuroemu.networks.edgelist import load_network
    extra = {"machine": machine(), "date": today()}
    src, dst, _ = bench_cuba.connectivity(1)
    with tempfile.TemporaryDirectory() as tmp:
        cuba = Path(tmp) / "cuba.npz"
        bench_cuba.write_network(cuba, src, dst)
        net = load_network(cuba)
    print(json.dumps({**bench_pack(net, "loihi", "cuba"), **extra}), flush=True)
    print(json.dumps({**bench_place_pack(args.neurons), **extra}), flush=True)
    if not args.no_locality:
        t, mapped = timed_map(net, load_chip("loihi"), "locality")
        print(json.dumps({"bench": "mapping_locality", "case": "cuba", "chip": "loihi", "neurons": net.n_neurons,
                          "synapses": int(net.n_edges), "cores_used": mapped.cores_used, "seconds": round(t, 3),
                          "goal_s": 2.0, **extra}), flush=True)


if __name__ == "__main__":
    main()
